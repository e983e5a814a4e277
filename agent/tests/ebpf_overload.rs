//! Overload of the eBPF probe path, end to end as root: a burst of cgroup mkdirs (then rmdirs)
//! larger than the ring buffer. The programs count the records they could not queue, the agent
//! notices the counter move, rescans the cgroup tree at once and records the missing events: every
//! cgroup still gets exactly one `containerCreation` and one `containerDeletion`, the loss shows in
//! `bpfadvisor_ebpf_errors_total` and `bpfadvisor_event_loss_rescans_total`, and the log says it in
//! one line.
//!
//! Bounded for CI: the ring buffer is shrunk to one page (`--ebpf_events_buffer_bytes=4096`, ~13
//! records) and the agent is stopped (`SIGSTOP`) while `BPFADVISOR_OVERLOAD_CGROUPS` (default
//! 2000) names are made in 5 hierarchies each, so the buffer overflows whatever the machine's
//! speed; then the same for the rmdirs. The full-size run, 100,000 mkdirs (20,000 names × 5
//! hierarchies) into the normal 1 MiB buffer (~3,600 records) behind the stopped agent, is
//! `BPFADVISOR_OVERLOAD_FULL=1 cargo test -p agent --test ebpf_overload -- --nocapture`
//! (`BPFADVISOR_OVERLOAD_CGROUPS` sets the names). A running agent keeps up with such a burst from
//! one process (docs/performance.md): the stop stands for an agent starved of CPU.
//!
//! The periodic rescan (`--global_housekeeping_interval`) is pushed out of the test's time, so only
//! the rescan on loss can repair what was lost.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, cgroup_skip_reason, lifecycle_counts};
use bpfadvisor::host::HostPaths;

/// One warning per rescan episode, rate-limited (see `EventLossRescanned`).
const LOSS_LINE: &str = "container events lost; rescanned the cgroup tree at once";

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The events a watching client may be behind by (`events::store::WATCH_BUFFER`): a rescan that
/// recovers more than this at once outruns any client, which then loses the newest (counted and
/// logged by the agent). Streams are checked up to this size; the stored events always.
const WATCH_BUFFER: usize = 16_384;

/// Panics unless each of `names` has exactly `want` (creations, deletions) in `counts`.
fn assert_counts(
    counts: &std::collections::BTreeMap<String, (u32, u32)>,
    names: &[String],
    want: (u32, u32),
    what: &str,
) {
    let bad: Vec<_> = names
        .iter()
        .map(|n| (n, counts.get(n).copied().unwrap_or_default()))
        .filter(|(_, c)| *c != want)
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: {} of {} cgroups without exactly {want:?} (creations, deletions), first: {:?}",
        bad.len(),
        names.len(),
        &bad[..bad.len().min(10)]
    );
}

/// The agent's stored lifecycle events of `parent`'s subcontainers, counted per name.
fn stored_counts(agent: &Agent, parent: &str) -> std::collections::BTreeMap<String, (u32, u32)> {
    let q = "subcontainers=true&creation_events=true&deletion_events=true&max_events=-1";
    let evs = agent
        .get_json(&format!("/api/v1.3/events{parent}?{q}"))
        .unwrap();
    let (counts, other) = lifecycle_counts(evs.as_array().map_or(&[][..], |a| a.as_slice()));
    assert!(other.is_empty(), "unrequested event types: {other:?}");
    counts
}

/// Waits until every one of `names` has `want` (creations, deletions) in `stream`'s events so far
/// (`seen`), then a little longer (a duplicate would come now); panics naming what is off, in the
/// stream when it is checked (`names` fit in its buffer), then in the stored events.
fn expect_counts(
    agent: &Agent,
    parent: &str,
    stream: &agent::EventStream,
    seen: &mut Vec<serde_json::Value>,
    names: &[String],
    want: (u32, u32),
    what: &str,
) {
    let (counts, _) = lifecycle_counts(seen);
    let mut short: std::collections::BTreeSet<&str> = names
        .iter()
        .filter(|n| counts.get(*n).is_none_or(|c| *c < want))
        .map(String::as_str)
        .collect();
    let (mut creations, mut deletions) = (
        std::collections::BTreeMap::<String, u32>::new(),
        std::collections::BTreeMap::<String, u32>::new(),
    );
    for (n, c) in &counts {
        creations.insert(n.clone(), c.0);
        deletions.insert(n.clone(), c.1);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !short.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(ev) = stream.next(left) else { break };
        let ev = ev.unwrap();
        let name = ev["container_name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match ev["event_type"].as_str() {
            Some("containerCreation") => *creations.entry(name.clone()).or_default() += 1,
            Some("containerDeletion") => *deletions.entry(name.clone()).or_default() += 1,
            _ => {}
        }
        let c = (
            creations.get(&name).copied().unwrap_or_default(),
            deletions.get(&name).copied().unwrap_or_default(),
        );
        if c >= want {
            short.remove(name.as_str());
        }
        seen.push(ev);
    }
    // A duplicate would come now.
    seen.extend(
        stream
            .collect_until(Duration::from_secs(2), |_| false)
            .unwrap(),
    );
    let (counts, other) = lifecycle_counts(seen);
    assert!(other.is_empty(), "unrequested event types: {other:?}");
    if names.len() < WATCH_BUFFER {
        assert_counts(&counts, names, want, &format!("{what}, event stream"));
    } else {
        let short = names
            .iter()
            .filter(|n| counts.get(*n) != Some(&want))
            .count();
        eprintln!(
            "{what}: the event stream missed {short} of {} (a recovery larger than its buffer)",
            names.len()
        );
    }
    let stored = stored_counts(agent, parent);
    assert_counts(&stored, names, want, &format!("{what}, stored events"));
}

#[test]
fn burst_larger_than_the_ring_buffer_loses_no_lifecycle_event() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let full = std::env::var("BPFADVISOR_OVERLOAD_FULL").is_ok_and(|v| v == "1");
    let n = env_usize(
        "BPFADVISOR_OVERLOAD_CGROUPS",
        if full { 20_000 } else { 2000 },
    );
    let parent = format!("/bpfa-overload-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&parent).unwrap();
    let mut flags = vec!["--global_housekeeping_interval=1h"];
    if !full {
        flags.push("--ebpf_events_buffer_bytes=4096");
    }
    let Some(agent) = Agent::start_with_source("ebpf", &flags) else {
        return;
    };
    agent.wait_listed(&parent, Duration::from_secs(10));
    let stream = agent.lifecycle_events(&parent);
    let started = Instant::now();

    let names: Vec<String> = (0..n).map(|i| format!("{parent}/c{i}")).collect();
    agent.set_paused(true);
    for name in &names {
        tree.mkdir(name).unwrap();
    }
    agent.set_paused(false);
    let burst = started.elapsed();
    let mut seen = Vec::new();
    expect_counts(
        &agent,
        &parent,
        &stream,
        &mut seen,
        &names,
        (1, 0),
        "after the mkdir burst",
    );
    let t_rm = Instant::now();
    agent.set_paused(true);
    for name in names.iter().rev() {
        tree.rmdir(name).unwrap();
    }
    agent.set_paused(false);
    let rm_burst = t_rm.elapsed();
    expect_counts(
        &agent,
        &parent,
        &stream,
        &mut seen,
        &names,
        (1, 1),
        "after the rmdir burst",
    );
    // Read once the cgroups are gone: /metrics with 20,000 of them is slow in a debug build.
    let (status, metrics) = agent.get("/metrics");
    assert_eq!(status, 200, "/metrics: {metrics}");
    let counter = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    };
    let lost = |program: &str| {
        counter(&format!(
            "bpfadvisor_ebpf_errors_total{{program=\"{program}\",error=\"ring_buffer_full\"}}"
        ))
    };
    let (mkdir_lost, rmdir_lost) = (lost("cgroup_mkdir"), lost("cgroup_rmdir"));
    assert!(
        mkdir_lost > 0.0 && rmdir_lost > 0.0,
        "the bursts of {} mkdirs ({burst:?}) and rmdirs ({rm_burst:?}) did not both overflow the \
         ring buffer: the test proves nothing",
        5 * n
    );
    let rescans = counter("bpfadvisor_event_loss_rescans_total");
    assert!(rescans >= 1.0, "no rescan counted after losses");
    let dropped = counter("bpfadvisor_events_dropped_total");
    assert!(
        dropped >= mkdir_lost + rmdir_lost,
        "{dropped} events dropped"
    );
    eprintln!(
        "{n} names x 5 hierarchies: mkdir burst {burst:?} ({mkdir_lost} records lost), rmdir \
         burst {rm_burst:?} ({rmdir_lost} lost), {rescans} rescans, all events in {:?}",
        started.elapsed()
    );

    // Said once (a minute's worth of rescans per line), not once per lost record.
    let log = agent.log();
    let lines = log.lines().filter(|l| l.contains(LOSS_LINE)).count();
    let minutes = started.elapsed().as_secs() / 60;
    assert!(
        (1..=1 + minutes as usize).contains(&lines),
        "{lines} loss lines in {:?}:\n{log}",
        started.elapsed()
    );

    // Nothing stale: the parent has no subcontainers left.
    let parent_info = agent
        .wait_json(
            &format!("/api/v1.3/containers{parent}"),
            Duration::from_secs(10),
            |v| v["subcontainers"].as_array().is_none_or(|s| s.is_empty()),
        )
        .unwrap();
    let left = parent_info["subcontainers"]
        .as_array()
        .map_or(0, |s| s.len());
    assert_eq!(left, 0, "stale subcontainers of {parent}");
    agent.assert_healthy();
}
