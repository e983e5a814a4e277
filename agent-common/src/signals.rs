//! Per-cgroup signals that only eBPF sees (`agent-ebpf/src/sig_*.rs`), aggregated in the kernel
//! and read by the agent at sampling time (`agent/src/events/ebpf/signals.rs`). No ring buffer: each
//! program adds to the [`CgroupSignals`] of its cgroup in the per-CPU map [`SIGNALS_MAP`].

use core::mem::size_of;

/// Per-CPU LRU hash map: cgroup2 id (`kn->id` of the task's default-hierarchy cgroup) → [`CgroupSignals`].
pub const SIGNALS_MAP: &str = "SIGNALS";
/// Read-only global holding [`SignalOffsets`], set by the loader before load.
pub const SIGNAL_OFFSETS_GLOBAL: &str = "SIGNAL_OFFSETS";
/// Cgroups tracked at once; the least recently updated is evicted past that (its counters restart).
pub const SIGNALS_MAX_CGROUPS: u32 = 16384;
/// Threads tracked at once by the reclaim per-thread map.
pub const SIGNAL_TASKS_MAX: u32 = 65536;
/// Slots of the run-queue program's per-thread array (a power of two), indexed by thread id modulo
/// its size: no collisions while thread ids stay below it (`kernel.pid_max` is 32768 by default
/// on small hosts, up to 4194304 elsewhere).
pub const RUNQ_TASK_SLOTS: u32 = 1 << 18;

/// Run-queue wait histogram buckets (log2 of nanoseconds). Bucket 0 counts waits under
/// 2^[`RUNQ_FIRST_SHIFT`] ns; bucket `i` (1..N-1) waits in `[2^(FIRST+i-1), 2^(FIRST+i))` ns; the last
/// bucket also takes everything longer.
pub const RUNQ_BUCKETS: usize = 24;
/// 2^10 ns ≈ 1 µs: upper bound of the first bucket; the last finite bound is 2^32 ns ≈ 4.3 s.
pub const RUNQ_FIRST_SHIFT: u32 = 10;

/// What one CPU counted for one cgroup; the agent sums the CPUs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupSignals {
    /// New processes (fork/clone of a new thread group; threads are not counted).
    pub processes_started: u64,
    /// Processes whose last thread exited.
    pub processes_exited: u64,
    /// Sum of run-queue waits, nanoseconds.
    pub runq_wait_ns: u64,
    /// Number of run-queue waits.
    pub runq_waits: u64,
    /// Run-queue waits by log2 bucket (see [`RUNQ_BUCKETS`]); not cumulative.
    pub runq_buckets: [u64; RUNQ_BUCKETS],
    /// TCP segments retransmitted by sockets of this cgroup.
    pub tcp_retransmits: u64,
    /// Time tasks spent in direct or memcg reclaim, nanoseconds.
    pub reclaim_ns: u64,
}
const _: () = assert!(size_of::<CgroupSignals>() == 8 * (6 + RUNQ_BUCKETS));

/// Field offsets the signal programs read (bytes, from the kernel's BTF). `valid == 0`: unset.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalOffsets {
    pub valid: u32,
    /// `task_struct::pid`.
    pub task_pid: u32,
    /// `task_struct::tgid`.
    pub task_tgid: u32,
    /// `task_struct::cgroups` (`struct css_set *`).
    pub task_cgroups: u32,
    /// `task_struct::signal` (`struct signal_struct *`).
    pub task_signal: u32,
    /// `signal_struct::live` (`atomic_t`: threads not yet exited).
    pub signal_live: u32,
    /// `css_set::dfl_cgrp` (`struct cgroup *`).
    pub css_set_dfl_cgrp: u32,
    /// `cgroup::kn` (`struct kernfs_node *`).
    pub cgroup_kn: u32,
    /// `kernfs_node::id` (`u64`).
    pub kernfs_node_id: u32,
    /// `sock::sk_cgrp_data` + `sock_cgroup_data::cgroup` (`struct cgroup *`).
    pub sock_cgroup: u32,
    /// `sk_buff::cb` + `tcp_skb_cb::tcp_gso_segs` (`u16`: segments in the skb).
    pub skb_tcp_gso_segs: u32,
    /// 1 when `tcp_retransmit_skb` passes `int err` as its third argument (6.x kernels that do also
    /// fire it for failed retransmits, which `RetransSegs` does not always count).
    pub tcp_retransmit_has_err: u32,
    /// `task_struct::sched_info` + `sched_info::pcount` (`unsigned long`: times the task arrived on
    /// a CPU, the 3rd field of `/proc/<pid>/schedstat`), immediately followed by
    /// `sched_info::run_delay` (`u64`: ns the task waited runnable, the 2nd field); the loader checks
    /// that they are adjacent, so one read gets both.
    pub task_sched_counts: u32,
    /// `task_struct::start_time` (`u64`, CLOCK_MONOTONIC ns).
    pub task_start_time: u32,
    /// CLOCK_MONOTONIC ns when the loader loaded the programs: a task started after it has all its
    /// run delay counted, one started before only what comes after its first switch seen.
    pub since_ns: u64,
}
const _: () = assert!(size_of::<SignalOffsets>() == 64);

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `#[repr(C)]` u64s and u32s, no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::CgroupSignals {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SignalOffsets {}
}
