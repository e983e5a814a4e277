//! eBPF cgroup lifecycle probes against the running kernel (root only; self-skipping): 1000
//! back-to-back mkdirs and rmdirs in a v1 hierarchy and in the unified one must each produce exactly
//! one matching event, and the mkdir → event latency is measured and printed.

mod ebpf_support;

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use bpfadvisor::{
    events::{Hierarchy, SourceEvent},
    host::HostPaths,
};
use ebpf_support::{CgroupGuard, start_or_skip};
use tokio::sync::mpsc::Receiver;

const N: usize = 1000;

/// (created?, hierarchy, name) → ids seen, for our test cgroups only.
type Seen = HashMap<(bool, Hierarchy, String), Vec<u64>>;

fn key(ev: SourceEvent) -> Option<(bool, Hierarchy, String, u64)> {
    let (created, hierarchy, name, id, at) = match ev {
        SourceEvent::CgroupCreated {
            hierarchy,
            name,
            id,
            at,
        } => (true, hierarchy, name, id, at),
        SourceEvent::CgroupRemoved {
            hierarchy,
            name,
            id,
            at,
        } => (false, hierarchy, name, id, at),
        SourceEvent::RescanNeeded { reason } => panic!("events lost: {reason}"),
        _ => return None,
    };
    // Kernel timestamps converted to wall-clock time must be close to now.
    let skew = SystemTime::now()
        .duration_since(at)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_secs(30),
        "event time {at:?} is {skew:?} off"
    );
    Some((created, hierarchy, name, id))
}

async fn collect(rx: &mut Receiver<SourceEvent>, prefix: &str, want: usize) -> Seen {
    let mut seen = Seen::new();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until all expected events are in, then a little longer: a duplicate would arrive right away.
    loop {
        let wait = if got < want {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(300)
        };
        let Ok(Some(ev)) = tokio::time::timeout(wait, rx.recv()).await else {
            break;
        };
        if let Some((created, hierarchy, name, id)) = key(ev)
            && name.starts_with(prefix)
        {
            seen.entry((created, hierarchy, name)).or_default().push(id);
            got += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mkdir_and_rmdir_is_reported_once() {
    let host = HostPaths::local();
    let Some((handle, mut rx)) = start_or_skip(&host, 8 * N).await else {
        return;
    };
    assert!(
        handle.live_probes().contains(&"cgroup_mkdir"),
        "{:?}",
        handle.live_probes()
    );
    assert!(
        handle.live_probes().contains(&"cgroup_rmdir"),
        "{:?}",
        handle.live_probes()
    );

    let top = format!("bpfadvisor-ebpf-lifecycle-{}", std::process::id());
    let prefix = format!("/{top}/");
    let hierarchies = [
        (Hierarchy::V1("pids".into()), host.cgroup.join("pids")),
        (Hierarchy::Unified, host.cgroup.join("unified")),
    ];
    let mut guards = Vec::new();
    let mut expected: Seen = HashMap::new();
    for (h, root) in &hierarchies {
        if !root.join("cgroup.procs").exists() {
            ebpf_support::missing(
                ebpf_support::Need::Root,
                &format!("no cgroup hierarchy at {}", root.display()),
            );
            return;
        }
        guards.push(CgroupGuard::create(root.join(&top)));
        for i in 0..N {
            let dir = root.join(&top).join(format!("c{i}"));
            std::fs::create_dir(&dir).expect("mkdir test cgroup");
            let ino = std::fs::metadata(&dir).expect("stat test cgroup").ino();
            let name = format!("{prefix}c{i}");
            expected.insert((true, h.clone(), name.clone()), vec![ino]);
            expected.insert((false, h.clone(), name), vec![ino]);
        }
    }
    for (_, root) in &hierarchies {
        for i in 0..N {
            std::fs::remove_dir(root.join(&top).join(format!("c{i}"))).expect("rmdir test cgroup");
        }
    }
    let seen = collect(&mut rx, &prefix, expected.len()).await;
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events missing, e.g. {missing:?}",
        expected.len() - seen.len(),
        expected.len()
    );
    let wrong: Vec<_> = seen
        .iter()
        .filter(|(k, v)| expected.get(*k) != Some(*v))
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "duplicate, unexpected or wrong-id events: {wrong:?}"
    );

    latency(&mut rx, &hierarchies[1].1.join(&top), &prefix).await;
    drop(guards);
}

/// mkdir → event received, one at a time, on the unified hierarchy.
async fn latency(rx: &mut Receiver<SourceEvent>, parent: &Path, prefix: &str) {
    let mut samples = Vec::with_capacity(N);
    let mut dirs: Vec<PathBuf> = Vec::with_capacity(N);
    for i in 0..N {
        let dir = parent.join(format!("l{i}"));
        let want = format!("{prefix}l{i}");
        let t0 = Instant::now();
        std::fs::create_dir(&dir).expect("mkdir test cgroup");
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
            match ev.expect("no event within 5 s").expect("source stopped") {
                SourceEvent::CgroupCreated { name, .. } if name == want => break,
                _ => continue,
            }
        }
        samples.push(t0.elapsed());
        dirs.push(dir);
    }
    for d in dirs {
        std::fs::remove_dir(d).expect("rmdir test cgroup");
    }
    samples.sort();
    let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    eprintln!(
        "mkdir -> event latency over {N}: p50 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(99),
        samples[samples.len() - 1]
    );
    assert!(
        pct(50) < Duration::from_millis(50),
        "p50 latency {:?}",
        pct(50)
    );
}
