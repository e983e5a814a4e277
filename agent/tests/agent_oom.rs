//! End-to-end, as root: real OOM kills (a 32M v1 memory cgroup and a `--memory 32m` Docker container,
//! each running `dd bs=100M`) give an `oomKill` event naming the container, with the pid of the
//! kernel's own `oom-kill:...task_memcg=...,pid=N` line, and `oom_events` >= 1 in the container's stats
//! while it exists; with the inotify fallback and with eBPF (skipped when unavailable).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::time::Duration;

use agent::{Agent, CgroupTree, EventStream, cgroup_skip_reason, kernel_oom_pids};
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
