//! Producers of container lifecycle and OOM events: eBPF probes (`ebpf`), the inotify fallback
//! (`inotify`), the periodic rescan, and OOM counters. Producers only send `SourceEvent`s to the
//! registry; they never read registry state. The event store and its query/stream API live in `store`.

pub mod ebpf;
pub mod inotify;
pub mod kmsg;
pub mod oom_counters;
pub mod oom_dedup;
pub mod store;

use std::time::{Duration, SystemTime};

/// Which v1 hierarchy or the unified one an event came from; the registry deduplicates the same
/// container name seen on several hierarchies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hierarchy {
    /// cgroup v2 (unified), or the single hierarchy of a pure v2 host.
    Unified,
    /// A cgroup v1 hierarchy, named by its mount directory under the cgroup root (`memory`, `cpu`, ...).
    V1(String),
    /// Hierarchy not known to the producer (e.g. an eBPF record with a hierarchy id only).
    Id(u32),
}

/// How an OOM kill names its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupRef {
    /// Container name (cgroup path relative to the hierarchy root, e.g. `/docker/<id>`).
    Name(String),
    /// Kernel ids (cgroup directory inode numbers), resolved to a name by the registry.
    Ids {
        /// Inode of the victim's memory cgroup directory (v1 memory hierarchy), 0 if unknown.
        memcg_ino: u64,
        /// Id of the victim's cgroup2 (unified) cgroup, 0 if unknown.
        cgroup2_id: u64,
    },
}

/// What a producer saw. Timestamps are when the kernel (or the watcher) observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// A cgroup directory appeared. `name` is the container name (path relative to the hierarchy root,
    /// starting with `/`).
    CgroupCreated {
        hierarchy: Hierarchy,
        name: String,
        id: u64,
        at: SystemTime,
    },
    /// A cgroup directory was removed.
    CgroupRemoved {
        hierarchy: Hierarchy,
        name: String,
        id: u64,
        at: SystemTime,
    },
    /// The kernel's OOM killer chose a victim.
    OomKill {
        target: CgroupRef,
        pid: u32,
        process_name: String,
        /// `CONSTRAINT_MEMCG`, `CONSTRAINT_NONE`, ... when known, else empty.
        constraint: String,
        at: SystemTime,
        /// Read back from the kernel log at start-up: the kill happened before the live sources
        /// started (or while they were starting, so a live source may report it too).
        replayed: bool,
    },
    /// The producer may have missed events (ring buffer overrun, inotify queue overflow): the registry
    /// should rescan now.
    RescanNeeded { reason: &'static str },
}

/// Time since boot on CLOCK_MONOTONIC, the clock of the kernel log's record timestamps (both stop
/// while the machine is suspended).
pub fn since_boot() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Which producer is feeding the registry; shown in the log, `/validate/` and a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Ebpf,
    Inotify,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ebpf => "ebpf",
            Self::Inotify => "inotify",
        }
    }
}
