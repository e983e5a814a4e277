//! End-to-end, as root: the real `bpfadvisor` binary against real cgroups (v1 cpu, cpuacct, memory,
//! pids and the unified hierarchy) holding a busy process and a memory hog, checked through the REST
//! API against what the kernel says (`<proc>/<pid>/stat`, `memory.usage_in_bytes`, the limits we set).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, cgroup_skip_reason, proc_cpu_ns, read_u64, ts_ns};
use bpfadvisor::host::HostPaths;
use serde_json::Value;

/// A tmpfs file whose pages the hog keeps charged to its cgroup; removed on drop.
struct ShmFile(PathBuf);

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The newest sample of `/api/v2.0/stats/<name>`, refreshed now (`max_age=0s`).
fn fresh_v2_sample(agent: &Agent, name: &str) -> Value {
    let v = agent
        .get_json(&format!("/api/v2.0/stats{name}?count=1&max_age=0s"))
        .unwrap();
    let samples = v[name]
        .as_array()
        .unwrap_or_else(|| panic!("{name} in {v}"));
    samples
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no sample: {v}"))
}

#[test]
fn raw_cgroups_report_kernel_usage_limits_and_tree() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let parent = format!("/bpfa-e2e-cg-{}", std::process::id());
    let (busy, hog, vanish) = (
        format!("{parent}/busy"),
        format!("{parent}/hog"),
        format!("{parent}/vanish"),
    );
    let mut tree = CgroupTree::new(&host);
    for n in [&parent, &busy, &hog, &vanish] {
        tree.mkdir(n).unwrap();
    }
    tree.write("cpu", &busy, "cpu.shares", "512").unwrap();
    tree.write("cpu", &busy, "cpu.cfs_period_us", "100000")
        .unwrap();
    tree.write("cpu", &busy, "cpu.cfs_quota_us", "50000")
        .unwrap();
    tree.write("memory", &hog, "memory.limit_in_bytes", "268435456")
        .unwrap();
    tree.write("pids", &hog, "pids.max", "100").unwrap();

    let busy_pid = tree.spawn(&busy, "while :; do :; done").unwrap();
    let vanish_pid = tree.spawn(&vanish, "exec sleep 600").unwrap();
    let shm = ShmFile(
        host.host_path("/dev/shm")
            .join(format!("bpfa-e2e-{}", std::process::id())),
    );
    tree.spawn(
        &hog,
        &format!(
            "dd if=/dev/zero of={} bs=1M count=64 2>/dev/null; exec sleep 600",
            shm.0.display()
        ),
    )
    .unwrap();

    let Some(agent) = Agent::launch(&["--allow_dynamic_housekeeping=false"]) else {
        return;
    };

    // Tree: the parent and its three children, nothing else.
    let want: BTreeSet<String> = [&parent, &busy, &hog, &vanish]
        .into_iter()
        .cloned()
        .collect();
    let sub = agent
        .wait_json(
            &format!("/api/v1.3/subcontainers{parent}"),
            Duration::from_secs(10),
            |v| names(v) == want,
        )
        .unwrap();
    assert_eq!(names(&sub), want, "subcontainers of {parent}");
    let info = agent
        .get_json(&format!("/api/v1.3/containers{parent}"))
        .unwrap();
    let direct: BTreeSet<String> = names(&info["subcontainers"]);
    let children: BTreeSet<String> = [&busy, &hog, &vanish].into_iter().cloned().collect();
    assert_eq!(direct, children, "direct children in {info}");

    // Spec: the limits we wrote.
    let b = agent
        .get_json(&format!("/api/v1.3/containers{busy}"))
        .unwrap();
    assert_eq!(b["name"], busy.as_str());
    assert_eq!(b["spec"]["has_cpu"], true, "{}", b["spec"]);
    assert_eq!(b["spec"]["cpu"]["limit"], 512, "{}", b["spec"]);
    assert_eq!(b["spec"]["cpu"]["quota"], 50000, "{}", b["spec"]);
    assert_eq!(b["spec"]["cpu"]["period"], 100000, "{}", b["spec"]);
    let h = agent
        .get_json(&format!("/api/v1.3/containers{hog}"))
        .unwrap();
    assert_eq!(h["spec"]["has_memory"], true, "{}", h["spec"]);
    assert_eq!(h["spec"]["memory"]["limit"], 268435456u64, "{}", h["spec"]);
    assert_eq!(h["spec"]["processes"]["limit"], 100, "{}", h["spec"]);

    // CPU: the cgroup's usage grows as fast as the kernel's per-process counters say (±10%).
    let a0 = fresh_v2_sample(&agent, &busy);
    let (w0, p0) = (Instant::now(), proc_cpu_ns(&host, busy_pid).unwrap());
    std::thread::sleep(Duration::from_secs(4));
    let a1 = fresh_v2_sample(&agent, &busy);
    let (w1, p1) = (Instant::now(), proc_cpu_ns(&host, busy_pid).unwrap());
    let api_ns = a1["cpu"]["usage"]["total"].as_u64().unwrap() as f64
        - a0["cpu"]["usage"]["total"].as_u64().unwrap() as f64;
    let api_secs =
        (ts_ns(&a1["timestamp"]).unwrap() - ts_ns(&a0["timestamp"]).unwrap()) as f64 / 1e9;
    let api_rate = api_ns / 1e9 / api_secs;
    let proc_rate = (p1 - p0) as f64 / 1e9 / (w1 - w0).as_secs_f64();
    eprintln!("cpu cores: api {api_rate:.3} over {api_secs:.2}s, proc stat {proc_rate:.3}");
    assert!(proc_rate > 0.05, "the busy loop ran: {proc_rate}");
    assert!(
        (api_rate - proc_rate).abs() <= 0.10 * proc_rate,
        "api {api_rate} vs proc {proc_rate} cores"
    );
    // The quota caps it at half a core.
    assert!(api_rate <= 0.55, "quota 50ms/100ms, got {api_rate} cores");
    assert_eq!(a1["has_cpu"], true);

    // v1 stats: several samples, oldest first, cpu never going backwards.
    let b = agent
        .get_json(&format!("/api/v1.3/containers{busy}"))
        .unwrap();
    let stats = b["stats"].as_array().unwrap();
    assert!(stats.len() >= 3, "{} samples", stats.len());
    let totals: Vec<u64> = stats
        .iter()
        .map(|s| s["cpu"]["usage"]["total"].as_u64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    assert!(totals.last() > totals.first(), "{totals:?}");

    // Memory: within 5% of the cgroup's own counter, in both API versions.
    let usage_file = tree.dir("memory", &hog).join("memory.usage_in_bytes");
    let kernel = read_u64(&usage_file).unwrap();
    assert!(kernel >= 60 << 20, "the hog holds its 64 MiB: {kernel}");
    let v2 = fresh_v2_sample(&agent, &hog);
    let v2_usage = v2["memory"]["usage"].as_u64().unwrap();
    let h = agent
        .get_json(&format!("/api/v1.3/containers{hog}"))
        .unwrap();
    let v1_usage = h["stats"].as_array().unwrap().last().unwrap()["memory"]["usage"]
        .as_u64()
        .unwrap();
    for (what, got) in [("v2.0", v2_usage), ("v1.3", v1_usage)] {
        let diff = (got as f64 - kernel as f64).abs() / kernel as f64;
        assert!(
            diff <= 0.05,
            "{what} memory usage {got} vs memory.usage_in_bytes {kernel}"
        );
    }

    // A container that vanishes disappears cleanly: no longer served, the rest still are.
    tree.kill(vanish_pid);
    tree.rmdir(&vanish).unwrap();
    let gone_by = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = agent.get(&format!("/api/v1.3/containers{vanish}"));
        if status != 200 || Instant::now() > gone_by {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("unknown container"), "{body}");
    let want: BTreeSet<String> = [&parent, &busy, &hog].into_iter().cloned().collect();
    let sub = agent
        .get_json(&format!("/api/v1.3/subcontainers{parent}"))
        .unwrap();
    assert_eq!(names(&sub), want);
    let deleted = agent
        .get_json(&format!(
            "/api/v1.3/events{vanish}?deletion_events=true&max_events=-1"
        ))
        .unwrap();
    assert_eq!(
        deleted.as_array().map(Vec::len),
        Some(1),
        "one deletion event: {deleted}"
    );
    agent.assert_healthy();
}

/// The spec's memory limit of `name`, as the v1.3 API shows it now.
fn memory_limit(agent: &Agent, name: &str) -> Option<u64> {
    let v = agent
        .get_json(&format!("/api/v1.3/containers{name}"))
        .ok()?;
    v["spec"]["memory"]["limit"].as_u64()
}

/// Runtimes write a container's limits after making its cgroup, and `docker update` changes them
/// later: the agent, which read the cgroup as soon as it appeared, shows both within seconds.
#[test]
fn limits_written_after_creation_show_up() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    // Fixed 1 s sampling: checks ride on samples, which dynamic housekeeping spaces out for an idle
    // cgroup like this one.
    let Some(agent) = Agent::launch(&["--allow_dynamic_housekeeping=false"]) else {
        return;
    };
    let name = format!("/bpfa-e2e-limits-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    let (controller, file) = if tree.dir("memory", &name).is_dir() {
        ("memory", "memory.limit_in_bytes")
    } else {
        ("unified", "memory.max")
    };
    let unlimited = agent
        .wait_json(
            &format!("/api/v1.3/containers{name}"),
            Duration::from_secs(10),
            |v| v["spec"]["has_memory"] == true,
        )
        .unwrap()["spec"]["memory"]["limit"]
        .as_u64()
        .unwrap();

    for limit in [64u64 << 20, 96 << 20] {
        assert_ne!(unlimited, limit);
        tree.write(controller, &name, file, &limit.to_string())
            .unwrap();
        // Checked 1 s after the container appeared, then 2 s later, then 4 s later.
        let deadline = Instant::now() + Duration::from_secs(10);
        while memory_limit(&agent, &name) != Some(limit) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(memory_limit(&agent, &name), Some(limit), "{name}");
    }
    agent.assert_healthy();
}
