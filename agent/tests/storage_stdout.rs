//! End-to-end, as root: `--storage_driver=stdout` writes a line per sample of a real cgroup on the
//! agent's standard output, in cAdvisor's stdout-driver format, and counts no loss.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agent::{Agent, CgroupTree, cgroup_skip_reason};
use bpfadvisor::host::HostPaths;

/// The keys every line has, whatever the container collects.
const FIXED_KEYS: [&str; 23] = [
    "timestamp",
    "cpu_usage_total",
    "cpu_cumulative_usage",
    "cpu_usage_system",
    "cpu_usage_user",
    "load_average",
    "rx_bytes",
    "rx_errors",
    "tx_bytes",
    "tx_errors",
    "referenced_memory",
    "memory_usage",
    "memory_max_usage",
    "memory_cache",
    "memory_rss",
    "memory_swap",
    "memory_mapped_file",
    "memory_working_set",
    "memory_failcnt",
    "memory_failure.container.pgfault",
    "memory_failure.container.pgmajfault",
    "memory_failure.hierarchical.pgfault",
    "memory_failure.hierarchical.pgmajfault",
];

/// The `key=value` pairs of one line, or `None` when it is not a driver line.
fn pairs(line: &str) -> Option<BTreeMap<&str, &str>> {
    let map: BTreeMap<&str, &str> = line
        .split(' ')
        .map(|p| p.split_once('='))
        .collect::<Option<_>>()?;
    map.contains_key("cName").then_some(map)
}

/// The driver lines for container `name` written so far.
fn lines_of(agent: &Agent, name: &str) -> Vec<String> {
    agent
        .stdout()
        .lines()
        .filter(|l| pairs(l).is_some_and(|p| p["cName"] == name))
        .map(str::to_owned)
        .collect()
}

#[test]
fn stdout_driver_writes_cadvisor_lines_for_a_real_cgroup() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let name = format!("/bpfa-e2e-stdout-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    // A process that touches some memory, so the cgroup's usage is not zero.
    tree.spawn(&name, "x=$(seq 1 20000); exec sleep 600")
        .unwrap();

    let Some(agent) = Agent::launch(&[
        "--storage_driver=stdout",
        "--storage_driver_host=db.test:8086",
        "--allow_dynamic_housekeeping=false",
        // The root and the test's cgroup only: on a machine with thousands of cgroups `/metrics`
        // outgrows what the test client reads.
        "--docker_only=true",
        &format!("--raw_cgroup_prefix_whitelist={name}"),
    ]) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while lines_of(&agent, &name).len() < 3 && Instant::now() < deadline {
        sleep(Duration::from_millis(200));
    }
    let lines = lines_of(&agent, &name);
    assert!(
        lines.len() >= 3,
        "lines for {name}: {lines:?}\nstdout:\n{}\nlog:\n{}",
        agent
            .stdout()
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n"),
        agent.log()
    );
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut last_ts = 0u128;
    let mut last_cpu = 0u64;
    for line in &lines {
        let p = pairs(line).unwrap();
        assert!(
            line.starts_with(&format!("cName={name} host=db.test:8086 timestamp=")),
            "{line}"
        );
        for k in FIXED_KEYS {
            let v = p.get(k).unwrap_or_else(|| panic!("{k} missing: {line}"));
            assert!(v.parse::<u64>().is_ok(), "{k}={v} is no unsigned integer");
        }
        let ts: u128 = p["timestamp"].parse().unwrap();
        assert!(ts > last_ts, "timestamps increase: {line}");
        assert!(now_ns - ts < 60_000_000_000, "a recent sample: {line}");
        last_ts = ts;
        let cpu: u64 = p["cpu_usage_total"].parse().unwrap();
        assert!(cpu >= last_cpu, "cumulative cpu: {line}");
        assert_eq!(p["cpu_cumulative_usage"], p["cpu_usage_total"]);
        last_cpu = cpu;
        assert!(
            p.keys().any(|k| k.starts_with("cpu_usage_per_cpu.")),
            "{line}"
        );
    }
    let last = pairs(lines.last().unwrap()).unwrap();
    assert!(
        last["memory_usage"].parse::<u64>().unwrap() > 0,
        "{}",
        lines.last().unwrap()
    );
    // The root container is written too.
    assert!(!lines_of(&agent, "/").is_empty(), "no line for /");

    let (status, metrics) = agent.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metrics
            .lines()
            .find(|l| l.starts_with("bpfadvisor_subscriber_dropped_total{subscriber=\"stdout\"}")),
        Some("bpfadvisor_subscriber_dropped_total{subscriber=\"stdout\"} 0"),
        "no sample lost"
    );
    agent.assert_healthy();
    assert!(
        !agent.log().contains("stdout storage driver stopped"),
        "{}",
        agent.log()
    );
}
