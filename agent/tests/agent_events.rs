//! End-to-end, as root: 1000 cgroups created and removed back to back under a dedicated parent give
//! exactly one `containerCreation` and one `containerDeletion` event each in the agent's event stream,
//! with the inotify fallback and with eBPF (skipped when the agent says eBPF is unavailable).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::collections::BTreeMap;
use std::time::Duration;

use agent::{Agent, CgroupTree, cgroup_skip_reason};
use bpfadvisor::host::HostPaths;

const N: usize = 1000;

fn thousand_cgroups(mode: &str) {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let parent = format!("/bpfa-e2e-ev-{mode}-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&parent).unwrap();
    let Some(agent) = Agent::start_with_source(mode, &[]) else {
        return;
    };
    agent.wait_listed(&parent, Duration::from_secs(10));
    let stream = agent.lifecycle_events(&parent);

    // What a runtime does: the cgroup in every hierarchy, then gone from every hierarchy.
    for i in 0..N {
        let name = format!("{parent}/c{i}");
        tree.mkdir(&name).unwrap();
        tree.rmdir(&name).unwrap();
    }

    let mut all = stream
        .collect_until(Duration::from_secs(60), |evs| evs.len() >= 2 * N)
        .unwrap();
    // Linger: a duplicate would arrive now.
    all.extend(
        stream
            .collect_until(Duration::from_secs(2), |_| false)
            .unwrap(),
    );
    let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut foreign = Vec::new();
    for ev in &all {
        let name = ev["container_name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let slot = counts.entry(name.clone()).or_default();
        match ev["event_type"].as_str() {
            Some("containerCreation") => slot.0 += 1,
            Some("containerDeletion") => slot.1 += 1,
            _ => foreign.push(ev.clone()),
        }
    }
    assert!(foreign.is_empty(), "unrequested event types: {foreign:?}");
    let bad: Vec<_> = (0..N)
        .map(|i| format!("{parent}/c{i}"))
        .map(|n| {
            let c = counts.get(&n).copied().unwrap_or_default();
            (n, c)
        })
        .filter(|(_, c)| *c != (1, 1))
        .collect();
    let creations: u32 = counts.values().map(|c| c.0).sum();
    let deletions: u32 = counts.values().map(|c| c.1).sum();
    assert!(
        bad.is_empty(),
        "{mode}: {creations} creations, {deletions} deletions; {} cgroups without exactly one of \
         each (name, (creations, deletions)), first: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    assert_eq!((creations, deletions), (N as u32, N as u32), "{counts:?}");
    // The agent times each creation from the kernel (or the watcher) to being recorded, and each
    // line from being recorded to the stream's connection.
    let (status, metrics) = agent.get("/metrics");
    assert_eq!(status, 200);
    let count = |family: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{family}_count ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    };
    let recorded = count("bpfadvisor_creation_event_delay_seconds");
    assert!(recorded >= N as u64, "{mode}: {recorded} creations timed");
    let streamed = count("bpfadvisor_event_stream_delay_seconds");
    assert!(streamed >= 2 * N as u64, "{mode}: {streamed} lines timed");
    agent.assert_healthy();
}

#[test]
fn thousand_cgroups_inotify() {
    thousand_cgroups("inotify");
}

#[test]
fn thousand_cgroups_ebpf() {
    thousand_cgroups("ebpf");
}

/// The smallest case of the above: cgroups that live for one mkdir/rmdir each, 50 times.
#[test]
fn short_lived_cgroups_get_both_events_inotify() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let parent = format!("/bpfa-e2e-short-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&parent).unwrap();
    let Some(agent) = Agent::launch(&["--event_source=inotify"]) else {
        return;
    };
    let q = "subcontainers=true&creation_events=true&deletion_events=true";
    let stream = agent.events(&parent, q).unwrap();
    for i in 0..50 {
        let name = format!("{parent}/s{i}");
        tree.mkdir(&name).unwrap();
        tree.rmdir(&name).unwrap();
    }
    let evs = stream
        .collect_until(Duration::from_secs(10), |evs| evs.len() >= 100)
        .unwrap();
    let lost: Vec<String> = (0..50)
        .map(|i| format!("{parent}/s{i}"))
        .filter(|n| {
            evs.iter()
                .filter(|e| e["container_name"] == n.as_str())
                .count()
                != 2
        })
        .collect();
    assert!(
        lost.is_empty(),
        "GET /api/v1.3/events{parent}?stream=true&{q}: expected a creation and a deletion event \
         for each of 50 cgroups, got {} events; missing for {lost:?}",
        evs.len()
    );
}

/// A runtime creates a container's directories one hierarchy after another; the creation event for
/// the first can be handled before the rest exist. The container must still get the stats of every
/// hierarchy (here: memory, created a while after cpu) once its directory appears.
#[test]
fn hierarchies_created_one_by_one_all_report() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let parent = format!("/bpfa-e2e-late-{}", std::process::id());
    let name = format!("{parent}/c");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&parent).unwrap();
    let Some(agent) = Agent::launch(&[]) else {
        return;
    };
    let stream = agent
        .events(&parent, "subcontainers=true&creation_events=true")
        .unwrap();
    tree.mkdir_in("cpu", &name).unwrap();
    let evs = stream
        .collect_until(Duration::from_secs(10), |evs| !evs.is_empty())
        .unwrap();
    assert_eq!(evs[0]["container_name"], name.as_str(), "{evs:?}");
    // The agent has read the container with only its cpu directory; now the rest appear.
    std::thread::sleep(Duration::from_millis(300));
    for c in ["cpuacct", "memory", "pids"] {
        tree.mkdir_in(c, &name).unwrap();
    }
    tree.write("memory", &name, "memory.limit_in_bytes", "67108864")
        .unwrap();
    let spec_ok = |v: &serde_json::Value| {
        v[&name]["has_memory"] == true && v[&name]["memory"]["limit"] == 67108864
    };
    let spec = agent
        .wait_json(
            &format!("/api/v2.0/spec{name}"),
            Duration::from_secs(10),
            spec_ok,
        )
        .unwrap();
    assert!(
        spec_ok(&spec) && spec[&name]["has_cpu"] == true,
        "GET /api/v2.0/spec{name}: the memory hierarchy never appeared: {spec}"
    );
    let stats = agent
        .wait_json(
            &format!("/api/v2.0/stats{name}?count=1&max_age=0s"),
            Duration::from_secs(5),
            |v| v[&name][0]["has_memory"] == true,
        )
        .unwrap();
    assert_eq!(
        stats[&name][0]["has_memory"], true,
        "GET /api/v2.0/stats{name}: no memory stats: {stats}"
    );
    // max_events=-1: as in cAdvisor, the default 10 newest are taken before filtering by name, and
    // other tests create cgroups meanwhile.
    let creations = agent
        .get_json(&format!(
            "/api/v1.3/events{name}?creation_events=true&max_events=-1"
        ))
        .unwrap();
    assert_eq!(
        creations.as_array().map(Vec::len),
        Some(1),
        "exactly one creation event for {name}: {creations} (stats {stats})"
    );
}

/// An open event stream never ends by itself; SIGTERM must still stop the agent promptly (a
/// DaemonSet rollout waits for it).
#[test]
fn sigterm_stops_the_agent_with_a_stream_open() {
    let Some(mut agent) = Agent::launch(&[]) else {
        return;
    };
    let _stream = agent.events("/", "creation_events=true").unwrap();
    let took = agent
        .terminate(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("agent with an open /api/v1.3/events stream: {e}"));
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
}
