//! End-to-end, as root: real OOM kills (a 32M v1 memory cgroup and a `--memory 32m` Docker container,
//! each running `dd bs=100M`) give an `oomKill` event naming the container, with the pid of the
//! kernel's own `oom-kill:...task_memcg=...,pid=N` line, and `oom_events` >= 1 in the container's stats
//! while it exists; with the inotify fallback and with eBPF (skipped when unavailable).
//!
//! Kills of Docker containers whose only process is the victim (the container ends with it): one
//! made while the agent was stopped is an `oom` + `oomKill` pair once it starts, at the kernel log's
//! time; one made while the agent starts or runs is reported once, and once again by the next
//! agent (as cAdvisor re-reads the kernel log at each start); `container_oom_events_total` counts
//! it 1, also after `docker rm`. A deleted container never OOM-killed leaves no series behind.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::time::Duration;

use agent::{
    Agent, CgroupTree, EventStream, cgroup_skip_reason, kernel_log_time_ns, kernel_oom_kills,
    kernel_oom_pids, metric_value, ts_ns,
};
use bpfadvisor::host::HostPaths;
use serde_json::Value;

/// The victim allocates 100M against a 32M limit; the shell survives, so the container stays.
const VICTIM: &str = "dd if=/dev/zero of=/dev/null bs=100M count=1; exec sleep 600";

/// Waits for the `oomKill` event of `name` and checks it against the kernel log.
fn expect_oom_kill(agent: &Agent, stream: &EventStream, name: &str) {
    let evs = stream
        .collect_until(Duration::from_secs(30), |evs| {
            evs.iter().any(|e| e["container_name"] == name)
        })
        .unwrap();
    let ev = evs
        .iter()
        .find(|e| e["container_name"] == name)
        .unwrap_or_else(|| {
            panic!(
                "no oomKill event for {name}; got {evs:?}; agent log:\n{}",
                agent.log()
            )
        });
    assert_eq!(ev["event_type"], "oomKill", "{ev}");
    let kernel = kernel_oom_pids(name);
    let Some(&kernel_pid) = kernel.last() else {
        panic!("the kernel log has no oom-kill line for task_memcg={name}")
    };
    assert_eq!(
        ev["event_data"]["oom"]["pid"], kernel_pid,
        "event {ev} vs kernel pid {kernel_pid}"
    );
    assert_eq!(ev["event_data"]["oom"]["process_name"], "dd", "{ev}");
}

/// The newest `oom_events` of a v1 ContainerInfo, waiting for a sample that has it.
fn oom_events(info: &Value) -> u64 {
    info["stats"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(|s| s["oom_events"].as_u64())
        .unwrap_or(0)
}

fn raw_cgroup_oom(mode: &str) {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let name = format!("/bpfa-e2e-oom-{mode}-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    tree.write("memory", &name, "memory.limit_in_bytes", "33554432")
        .unwrap();
    // Without a swap limit the kernel would swap instead of killing.
    if tree
        .dir("memory", &name)
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        tree.write("memory", &name, "memory.memsw.limit_in_bytes", "33554432")
            .unwrap();
    }
    let Some(agent) = Agent::start_with_source(mode, &["--allow_dynamic_housekeeping=false"])
    else {
        return;
    };
    let path = format!("/api/v1.3/containers{name}");
    agent
        .wait_json(&path, Duration::from_secs(10), |_| true)
        .unwrap();
    let stream = agent.events(&name, "oom_kill_events=true").unwrap();

    tree.spawn(&name, VICTIM).unwrap();
    expect_oom_kill(&agent, &stream, &name);
    let info = agent
        .wait_json(&path, Duration::from_secs(10), |v| oom_events(v) >= 1)
        .unwrap();
    assert!(oom_events(&info) >= 1, "{}", info["stats"]);
    agent.assert_healthy();
}

fn docker_oom(mode: &str) {
    if !agent::require_root() {
        return;
    }
    let Some(daemon) = docker::Daemon::shared() else {
        return;
    };
    daemon.ensure_busybox().unwrap();
    let Some(agent) = Agent::start_with_source(mode, &["--allow_dynamic_housekeeping=false"])
    else {
        return;
    };
    let stream = agent
        .events("/docker", "subcontainers=true&oom_kill_events=true")
        .unwrap();
    let cname = format!("bpfa-e2e-oom-{mode}-{}", std::process::id());
    let c = daemon
        .run(&[
            "--name",
            &cname,
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            docker::BUSYBOX_IMAGE,
            "sh",
            "-c",
            VICTIM,
        ])
        .unwrap();
    expect_oom_kill(&agent, &stream, &c.cgroup_name());
    let info = agent
        .wait_json(
            &format!("/api/v1.3/docker/{cname}"),
            Duration::from_secs(10),
            |v| oom_events(&v[c.cgroup_name()]) >= 1,
        )
        .unwrap();
    assert!(
        oom_events(&info[c.cgroup_name()]) >= 1,
        "{}",
        info[c.cgroup_name()]["stats"]
    );
    agent.assert_healthy();
}

#[test]
fn oom_kill_in_raw_cgroup_inotify() {
    raw_cgroup_oom("inotify");
}

#[test]
fn oom_kill_in_raw_cgroup_ebpf() {
    raw_cgroup_oom("ebpf");
}

#[test]
fn oom_kill_in_docker_container_inotify() {
    docker_oom("inotify");
}

#[test]
fn oom_kill_in_docker_container_ebpf() {
    docker_oom("ebpf");
}

const OOM_FAMILY: &str = "container_oom_events_total";

/// Runs a Docker container whose only process is OOM-killed and waits until it has exited (Docker
/// has removed its cgroup by then).
fn run_oom_exiting(daemon: &docker::Daemon, tag: &str) -> docker::Container {
    let cname = format!("bpfa-e2e-oomx-{tag}-{}", std::process::id());
    let c = daemon
        .run(&[
            "--name",
            &cname,
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            docker::BUSYBOX_IMAGE,
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=100M",
            "count=1",
        ])
        .unwrap();
    let code = daemon.docker(&["wait", &c.id]).unwrap();
    assert_eq!(code, "137", "{cname} was not killed");
    c
}

/// The `oom` and `oomKill` events stored for `name`, once `want` of them are there (or after 20 s),
/// then again after `settle` (for any late duplicate).
fn oom_history(agent: &Agent, name: &str, want: usize, settle: Duration) -> Vec<Value> {
    let path = format!("/api/v1.3/events{name}?oom_events=true&oom_kill_events=true&max_events=-1");
    let enough = |v: &Value| v.as_array().is_some_and(|a| a.len() >= want);
    agent
        .wait_json(&path, Duration::from_secs(20), enough)
        .unwrap();
    std::thread::sleep(settle);
    let v = agent.get_json(&path).unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// Exactly one `oom` and one `oomKill` for the container, as the kernel logged its one kill; both at
/// the kernel log's time when `kernel_time` (the start-up read reports it).
fn assert_one_kill(agent: &Agent, c: &docker::Container, evs: &[Value], kernel_time: bool) {
    let name = c.cgroup_name();
    let kernel = kernel_oom_kills(&HostPaths::local(), &name);
    let [kill] = kernel.as_slice() else {
        panic!("the kernel log has {kernel:?} for task_memcg={name}")
    };
    let types: Vec<&str> = evs
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    let mut sorted = types.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["oom", "oomKill"],
        "events {evs:?}; agent log:\n{}",
        agent.log()
    );
    let oom_kill = evs.iter().find(|e| e["event_type"] == "oomKill").unwrap();
    assert_eq!(oom_kill["event_data"]["oom"]["pid"], kill.pid, "{oom_kill}");
    assert_eq!(oom_kill["event_data"]["oom"]["process_name"], "dd");
    assert_eq!(
        oom_kill["event_data"]["oom"]["constraint"],
        "CONSTRAINT_MEMCG"
    );
    if kernel_time {
        let want = kernel_log_time_ns(kill.usec);
        for e in evs {
            let got = ts_ns(&e["timestamp"]).unwrap();
            assert!(
                (got - want).abs() < 50_000_000,
                "{e} vs the kernel's {want} ns"
            );
        }
    }
}

fn oom_before_start(mode: &str) {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let c = run_oom_exiting(&daemon, &format!("before-{mode}"));
    let Some(agent) = Agent::start_with_source(mode, &[]) else {
        return;
    };
    let evs = oom_history(&agent, &c.cgroup_name(), 2, Duration::from_secs(2));
    assert_one_kill(&agent, &c, &evs, true);
    agent.assert_healthy();
}

#[test]
fn oom_kill_before_the_start_is_reported_inotify() {
    oom_before_start("inotify");
}

#[test]
fn oom_kill_before_the_start_is_reported_ebpf() {
    oom_before_start("ebpf");
}

fn oom_around_restart(mode: &str) {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let flags = ["--allow_dynamic_housekeeping=false"];
    // A kill while the agent starts: the start-up read of the kernel log and the live source may
    // both see it.
    let tag = format!("starting-{mode}");
    let racing = std::thread::spawn(move || {
        let daemon = docker::Daemon::shared().unwrap();
        run_oom_exiting(&daemon, &tag)
    });
    let Some(agent) = Agent::start_with_source(mode, &flags) else {
        let _ = racing.join();
        return;
    };
    let starting = racing.join().unwrap();
    let running = run_oom_exiting(&daemon, &format!("running-{mode}"));
    // The fallback reports a kill its counter could not read after 3 housekeeping intervals.
    let settle = Duration::from_secs(5);
    for c in [&starting, &running] {
        let evs = oom_history(&agent, &c.cgroup_name(), 2, settle);
        assert_one_kill(&agent, c, &evs, false);
    }
    agent.assert_healthy();
    drop(agent);

    // The next agent reports both again, once each, at the kernel log's time.
    let agent = Agent::start_with_source(mode, &flags).unwrap();
    for c in [&starting, &running] {
        let evs = oom_history(&agent, &c.cgroup_name(), 2, Duration::from_secs(1));
        assert_one_kill(&agent, c, &evs, true);
    }
    agent.assert_healthy();
}

#[test]
fn oom_kills_are_reported_once_around_a_restart_inotify() {
    oom_around_restart("inotify");
}

#[test]
fn oom_kills_are_reported_once_around_a_restart_ebpf() {
    oom_around_restart("ebpf");
}

/// `container_oom_events_total` of `id`, scraped.
fn oom_count(agent: &Agent, id: &str) -> Option<f64> {
    let (status, text) = agent.get("/metrics");
    assert_eq!(status, 200, "{text}");
    metric_value(&text, OOM_FAMILY, id)
}

fn oom_count_survives_removal(mode: &str) {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(agent) = Agent::start_with_source(mode, &["--allow_dynamic_housekeeping=false"])
    else {
        return;
    };
    let c = run_oom_exiting(&daemon, &format!("count-{mode}"));
    let id = c.cgroup_name();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while oom_count(&agent, &id) != Some(1.0) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        oom_count(&agent, &id),
        Some(1.0),
        "agent log:\n{}",
        agent.log()
    );
    daemon.docker(&["rm", &c.id]).unwrap();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(oom_count(&agent, &id), Some(1.0), "after docker rm");
    }
    // The kill is the container's own, not its parent's.
    assert_eq!(oom_count(&agent, "/docker").unwrap_or(0.0), 0.0);
    let evs = oom_history(&agent, &id, 2, Duration::ZERO);
    assert_one_kill(&agent, &c, &evs, false);
    agent.assert_healthy();
}

#[test]
fn oom_kill_of_a_docker_container_counts_once_after_removal_inotify() {
    oom_count_survives_removal("inotify");
}

#[test]
fn oom_kill_of_a_docker_container_counts_once_after_removal_ebpf() {
    oom_count_survives_removal("ebpf");
}

#[test]
fn a_deleted_container_without_oom_kills_leaves_no_oom_series() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(agent) = Agent::launch(&[]) else {
        return;
    };
    let cname = format!("bpfa-e2e-oomx-quiet-{}", std::process::id());
    let c = daemon
        .run(&["--name", &cname, docker::BUSYBOX_IMAGE, "sleep", "600"])
        .unwrap();
    let id = c.cgroup_name();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while oom_count(&agent, &id).is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(oom_count(&agent, &id), Some(0.0), "while it runs");
    daemon.docker(&["rm", "-f", &c.id]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while oom_count(&agent, &id).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(oom_count(&agent, &id), None, "after docker rm -f");
    agent.assert_healthy();
}
