//! Churn, end to end as root with the shared Docker daemon: raw cgroups created and removed back to
//! back while real `docker run --rm` containers come and go, with a scraper polling `/metrics` and
//! three clients streaming events the whole time. Each client must see exactly one
//! `containerCreation` and one `containerDeletion` per cgroup and per container, with eBPF and with
//! the inotify fallback; afterwards none of them is still listed and the agent's RSS is back near
//! its baseline.
//!
//! Bounded for CI (about a minute per event source on 2 cores): `BPFADVISOR_CHURN_CGROUPS` cycles
//! (default 500) and `BPFADVISOR_CHURN_CONTAINERS` containers (default 20). The full-size run is
//! `BPFADVISOR_CHURN_CGROUPS=10000 BPFADVISOR_CHURN_CONTAINERS=500 cargo test -p agent --test churn
//! -- --test-threads=1 --nocapture` (see docs/performance.md).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, EventStream, cgroup_skip_reason, lifecycle_counts};
use bpfadvisor::host::HostPaths;
use docker::{BUSYBOX_IMAGE, Daemon};
use serde_json::Value;

const STREAMS: usize = 3;
/// How long the agent keeps removed containers' entries (`removed_retention` in app.rs: the
/// larger of `--storage_duration` and 5 minutes).
const REMOVED_RETENTION: Duration = Duration::from_secs(300);
const QUERY: &str = "subcontainers=true&creation_events=true&deletion_events=true";

/// Sets the flag when dropped (also while unwinding).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reads `stream` until every one of `names` has both events or `limit` passes, then 2 s more (a
/// duplicate would come now); only our names' lifecycle events are kept.
fn drain(stream: &EventStream, names: &BTreeSet<String>, limit: Duration) -> Vec<Value> {
    let mut kept = Vec::new();
    let mut both: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let mut complete = 0;
    let deadline = Instant::now() + limit;
    let mut linger: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = linger.unwrap_or(deadline);
        if now >= until {
            break;
        }
        let Some(ev) = stream.next(until - now) else {
            break;
        };
        let ev = ev.unwrap();
        let Some(name) = ev["container_name"].as_str() else {
            continue;
        };
        if !names.contains(name) {
            continue;
        }
        let slot = both.entry(name.to_string()).or_default();
        let was = slot.0 && slot.1;
        match ev["event_type"].as_str() {
            Some("containerCreation") => slot.0 = true,
            Some("containerDeletion") => slot.1 = true,
            _ => {}
        }
        if !was && slot.0 && slot.1 {
            complete += 1;
        }
        kept.push(ev);
        if complete == names.len() && linger.is_none() {
            linger = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    kept
}

fn churn(mode: &str) {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let Some(daemon) = Daemon::shared_with_busybox() else {
        return;
    };
    let cycles = env_usize("BPFADVISOR_CHURN_CGROUPS", 500);
    let containers = env_usize("BPFADVISOR_CHURN_CONTAINERS", 20);
    let tag = format!("bpfa-churn-{mode}-{}", std::process::id());
    let parent = format!("/{tag}");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&parent).unwrap();
    let Some(agent) = Agent::start_with_source(mode, &[]) else {
        return;
    };
    agent.wait_listed(&parent, Duration::from_secs(10));
    // Baseline once the agent has served a scrape and an event query.
    assert_eq!(agent.get("/metrics").0, 200);
    let _ = agent.get("/api/v1.3/events/?all_events=true");
    std::thread::sleep(Duration::from_secs(2));
    let baseline = agent.rss_kib(&host).unwrap();

    let streams: Vec<EventStream> = (0..STREAMS)
        .map(|_| agent.events("/", QUERY).unwrap())
        .collect();
    let stop = AtomicBool::new(false);
    let scrapes = AtomicU64::new(0);
    let started = Instant::now();
    let mut raw_names = BTreeSet::new();
    let mut docker_names = BTreeSet::new();
    std::thread::scope(|s| {
        // Stops the scraper however this closure ends: a panic here must not leave the scope
        // waiting for it forever.
        let _stop = StopOnDrop(&stop);
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = agent.get("/metrics");
                assert_eq!(status, 200, "/metrics during churn: {body}");
                scrapes.fetch_add(1, Ordering::Relaxed);
            }
        });
        let runs = s.spawn(|| {
            let mut ids = Vec::with_capacity(containers);
            for i in 0..containers {
                let name = format!("{tag}-{i}");
                let args = [
                    "run",
                    "--rm",
                    "-d",
                    "--name",
                    &name,
                    BUSYBOX_IMAGE,
                    "sleep",
                    "0.2",
                ];
                ids.push(daemon.docker(&args).unwrap());
            }
            ids
        });
        for i in 0..cycles {
            let name = format!("{parent}/c{i}");
            tree.mkdir(&name).unwrap();
            tree.rmdir(&name).unwrap();
            raw_names.insert(name);
        }
        let ids = runs.join().unwrap();
        // `--rm`: each is gone once it has exited and been removed.
        for id in &ids {
            let deadline = Instant::now() + Duration::from_secs(30);
            while daemon.docker(&["inspect", id]).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            docker_names.insert(format!("/docker/{id}"));
        }
    });
    let workload = started.elapsed();

    let names: BTreeSet<String> = raw_names.union(&docker_names).cloned().collect();
    let mut failures = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let evs = drain(stream, &names, Duration::from_secs(60));
        let (counts, _) = lifecycle_counts(&evs);
        let bad: Vec<_> = names
            .iter()
            .map(|n| (n, counts.get(n).copied().unwrap_or_default()))
            .filter(|(_, c)| *c != (1, 1))
            .collect();
        if !bad.is_empty() {
            failures.push(format!(
                "client {i}: {} of {} cgroups and containers without exactly one creation and \
                 one deletion event (name, (creations, deletions)), first: {:?}",
                bad.len(),
                names.len(),
                &bad[..bad.len().min(10)]
            ));
        }
    }
    if !failures.is_empty() {
        // Where they were lost: the probes (ring buffer), the registry, or a stream.
        let (_, metrics) = agent.get("/metrics");
        let counters: Vec<&str> = metrics
            .lines()
            .filter(|l| {
                l.starts_with("bpfadvisor_ebpf_errors_total")
                    || l.starts_with("bpfadvisor_event_loss_rescans_total")
                    || l.starts_with("bpfadvisor_events_dropped_total")
            })
            .collect();
        let log = agent.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("lost") || l.contains("fell behind"))
            .collect();
        panic!(
            "{mode}: {}\ncounters: {counters:#?}\nlog: {lines:#?}",
            failures.join("\n")
        );
    }

    // Nothing stale: none of them is listed any more.
    let listed = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().filter(|k| names.contains(*k)).cloned().collect())
            .unwrap_or_default()
    };
    let all = agent
        .wait_json(
            "/api/v2.0/spec/?type=name&recursive=true",
            Duration::from_secs(10),
            |v| listed(v).is_empty(),
        )
        .unwrap();
    let stale = listed(&all);
    assert!(stale.is_empty(), "{mode}: still listed: {stale:?}");

    // Memory back near the baseline once the churn is over (the allocator keeps some, the event
    // store keeps the events). Removed containers stay scrapable for REMOVED_RETENTION by design:
    // after a large churn RSS comes down only then.
    let mut rss = agent.rss_kib(&host).unwrap();
    let peak = rss;
    let bound = baseline + baseline / 2 + 16 * 1024;
    let t_rss = Instant::now();
    while rss > bound && t_rss.elapsed() < REMOVED_RETENTION + Duration::from_secs(30) {
        std::thread::sleep(Duration::from_secs(1));
        rss = agent.rss_kib(&host).unwrap();
    }
    eprintln!(
        "{mode}: {cycles} cgroup cycles + {containers} docker runs in {workload:?}, {} scrapes, \
         {STREAMS} streams complete; RSS {baseline} KiB before, {peak} KiB right after, {rss} KiB \
         {:?} later",
        scrapes.load(Ordering::Relaxed),
        t_rss.elapsed()
    );
    assert!(
        rss <= bound,
        "{mode}: RSS {rss} KiB after the churn, {baseline} KiB before (bound {bound} KiB)"
    );
    agent.assert_healthy();
}

#[test]
fn churn_ebpf() {
    churn("ebpf");
}

#[test]
fn churn_inotify() {
    churn("inotify");
}
