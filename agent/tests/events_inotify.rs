//! Privileged end-to-end tests of the fallback event producers against the real kernel: cgroup v1
//! hierarchies, inotify, memory cgroup OOM counters and the kernel log. They skip themselves when not
//! root or when the v1 hierarchy they need is missing, and remove every cgroup they create.

#[path = "support/prereq.rs"]
mod prereq;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bpfadvisor::cgroup::layout::Layout;
use bpfadvisor::events::kmsg::{self, KmsgSinks, OomInstance};
use bpfadvisor::events::oom_counters::OomCounters;
use bpfadvisor::events::{CgroupRef, Hierarchy, SourceEvent, inotify};
use bpfadvisor::host::HostPaths;
use tokio::sync::mpsc;

/// The v1 hierarchy directory `name`, or why the test cannot run.
fn v1_hierarchy(name: &str) -> Result<PathBuf, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root".into());
    }
    let dir = HostPaths::local().cgroup.join(name);
    if !dir.join("cgroup.procs").exists() {
        return Err(format!(
            "no cgroup v1 {name} hierarchy at {}",
            dir.display()
        ));
    }
    Ok(dir)
}

/// A cgroup directory removed (children first) on drop.
struct CgroupGuard(PathBuf);

impl CgroupGuard {
    fn new(path: PathBuf) -> Self {
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).expect("create test cgroup");
        Self(path)
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.0) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn thousand_cgroups_created_and_removed_back_to_back_give_exactly_one_event_each() {
    let root = match v1_hierarchy("pids") {
        Ok(r) => r,
        Err(why) => return prereq::missing(prereq::Need::Root, &why),
    };
    let parent_name = format!("bpfadvisor-test-inotify-{}", std::process::id());
    let parent = CgroupGuard::new(root.join(&parent_name));
    let (tx, mut rx) = mpsc::channel(16 * 1024);
    // Every hierarchy the agent would watch in fallback mode, not just the one we write to.
    let mounts = Layout::detect(&HostPaths::local())
        .expect("cgroup layout")
        .hierarchy_mounts();
    assert!(
        mounts.iter().any(|(_, d)| *d == root),
        "pids is among {mounts:?}"
    );
    let watcher = inotify::start(mounts, tx).expect("start inotify watcher");

    const N: usize = 1000;
    for i in 0..N {
        let dir = parent.0.join(format!("c{i}"));
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::remove_dir(&dir).expect("rmdir");
    }

    let prefix = format!("/{parent_name}/");
    let (mut created, mut removed) = (vec![0u32; N], vec![0u32; N]);
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Collect until all arrived, then linger to catch duplicates.
    let mut quiet_until = None;
    loop {
        let now = Instant::now();
        if now > deadline || quiet_until.is_some_and(|q| now > q) {
            break;
        }
        let ev = match rx.try_recv() {
            Ok(ev) => ev,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let (counts, name, hierarchy) = match ev {
            SourceEvent::CgroupCreated {
                name, hierarchy, ..
            } => (&mut created, name, hierarchy),
            SourceEvent::CgroupRemoved {
                name, hierarchy, ..
            } => (&mut removed, name, hierarchy),
            SourceEvent::RescanNeeded { reason } => panic!("watcher lost events: {reason}"),
            SourceEvent::OomKill { .. } => continue,
        };
        let Some(idx) = name.strip_prefix(&prefix).and_then(|c| c.strip_prefix('c')) else {
            continue;
        };
        assert_eq!(hierarchy, Hierarchy::V1("pids".into()));
        let idx: usize = idx.parse().expect("our child name");
        counts[idx] += 1;
        seen += 1;
        if seen == 2 * N {
            quiet_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    watcher.stop();
    let bad: Vec<_> = (0..N)
        .filter(|&i| created[i] != 1 || removed[i] != 1)
        .map(|i| (i, created[i], removed[i]))
        .collect();
    assert!(
        bad.is_empty(),
        "cgroups without exactly one create and one remove: {bad:?}"
    );
    assert_eq!(seen, 2 * N);
}

/// Runs `dd` (100 MB buffer) inside `cgroup` and returns its pid and whether the kernel killed it.
fn run_oom_victim(cgroup: &Path) -> (u32, bool) {
    use std::os::unix::process::ExitStatusExt;
    let procs = cgroup.join("cgroup.procs");
    // The shell moves itself into the cgroup, then becomes dd: same pid, no allocation outside.
    let script = format!(
        "echo $$ > '{}' && exec dd if=/dev/zero of=/dev/null bs=100M count=1",
        procs.display()
    );
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sh");
    let pid = child.id();
    let status = child.wait().expect("wait dd");
    (pid, status.signal() == Some(libc::SIGKILL))
}

#[test]
fn real_oom_kill_is_seen_by_the_counters_and_the_kernel_log() {
    let root = match v1_hierarchy("memory") {
        Ok(r) => r,
        Err(why) => return prereq::missing(prereq::Need::Root, &why),
    };
    let has_dd = std::process::Command::new("dd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_dd {
        return prereq::missing(prereq::Need::Tool, "no dd");
    }
    let name = format!("/bpfadvisor-test-oom-{}", std::process::id());
    let cg = CgroupGuard::new(root.join(name.trim_start_matches('/')));
    std::fs::write(cg.0.join("memory.limit_in_bytes"), "33554432").expect("set limit");
    // Without a swap limit the kernel would swap instead of killing.
    let memsw = cg.0.join("memory.memsw.limit_in_bytes");
    if memsw.exists() {
        std::fs::write(&memsw, "33554432").expect("set memsw limit");
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ktx, mut krx) = mpsc::channel::<OomInstance>(64);
    let sinks = KmsgSinks {
        past: None,
        past_until: None,
        live: Some(ktx),
    };
    let kmsg_reader = match kmsg::start(&HostPaths::local().dev, sinks) {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("kernel log not readable ({e}); checking the counters only");
            None
        }
    };
    let mut counters = OomCounters::new(None);
    counters.observe(&name, &cg.0).expect("baseline");

    let (pid, killed) = run_oom_victim(&cg.0);
    assert!(killed, "dd was not OOM-killed in a 32M cgroup");

    counters.observe(&name, &cg.0).expect("after kill");
    let evs = counters.drain();
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(
        matches!(&evs[0], SourceEvent::OomKill { target: CgroupRef::Name(n), pid: 0, .. } if *n == name),
        "{evs:?}"
    );

    if kmsg_reader.is_none() {
        return;
    }
    let inst = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, krx.recv()).await {
                Ok(Some(i)) if i.container_name == name => return Some(i),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    });
    let inst = inst.expect("the kernel log reports the kill");
    assert_eq!(inst.pid, pid);
    assert_eq!(inst.process_name, "dd");
    assert_eq!(inst.victim_container_name, name);
    assert_eq!(inst.constraint, "CONSTRAINT_MEMCG");

    // Paired with the counter the event carries the log's details, as the eBPF source's does.
    let mut paired = OomCounters::new(Some(Duration::from_secs(5)));
    paired.observe_count(&name, 0, std::time::SystemTime::now(), Instant::now());
    paired.observe_count(&name, 1, std::time::SystemTime::now(), Instant::now());
    paired.record_kmsg(inst.clone());
    assert_eq!(paired.drain(), vec![inst.to_source_event()]);
    drop(kmsg_reader);
}
