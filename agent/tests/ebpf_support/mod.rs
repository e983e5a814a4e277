//! Shared by the privileged eBPF tests: starting the source or skipping, and a cgroup directory
//! that is emptied and removed on drop.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use bpfadvisor::{
    events::{
        SourceEvent,
        ebpf::{self, EbpfError, EbpfHandle},
    },
    host::HostPaths,
};
use tokio::sync::mpsc::{Receiver, channel};

include!("../support/prereq.rs");

/// Starts the eBPF source, or `None` when a prerequisite is missing (a skip line on a developer's
/// machine, a failure in CI).
pub async fn start_or_skip(
    host: &HostPaths,
    capacity: usize,
) -> Option<(EbpfHandle, Receiver<SourceEvent>)> {
    start_or_skip_with(host, capacity, ebpf::OomProbe::Auto).await
}

/// [`start_or_skip`] with a given OOM probe.
pub async fn start_or_skip_with(
    host: &HostPaths,
    capacity: usize,
    oom: ebpf::OomProbe,
) -> Option<(EbpfHandle, Receiver<SourceEvent>)> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return missing_none(Need::Root, "needs root");
    }
    if !host.sys.join("kernel/btf/vmlinux").exists() {
        return missing_none(Need::Ebpf, "kernel has no BTF");
    }
    let (tx, rx) = channel(capacity);
    match ebpf::start_with(host, tx, oom).await {
        Ok(h) => Some((h, rx)),
        Err(EbpfError::NotEmbedded) => missing_none(Need::Ebpf, "built without the eBPF object"),
        Err(e) => panic!("eBPF source failed to start as root: {e}"),
    }
}

/// A cgroup directory created for a test. On drop, processes left in it or its children are
/// killed and the directories removed, deepest first.
pub struct CgroupGuard(pub PathBuf);

impl CgroupGuard {
    pub fn create(path: PathBuf) -> Self {
        std::fs::create_dir_all(&path).expect("create test cgroup");
        Self(path)
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        remove_tree(&self.0);
    }
}

fn remove_tree(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: plain syscall; the pids are test processes in a test cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
