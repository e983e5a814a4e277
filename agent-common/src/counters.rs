//! Per-cgroup counters read in one pass by a BPF cgroup iterator (`agent-ebpf/src/counters.rs`)
//! instead of one file read per counter per container (`agent/src/events/ebpf/counters.rs`).
//! The same kernel fields the v1 files print, so the numbers are the files' numbers.

use core::mem::size_of;

/// Read-only global holding [`CounterOffsets`], set by the loader before load.
pub const COUNTER_OFFSETS_GLOBAL: &str = "COUNTER_OFFSETS";
/// Memory-mappable array: the `i`-th cgroup of an iterator run → its [`CounterRecord`]. Entries
/// set by the loader ([`COUNTERS_MAX_CGROUPS`] by default).
pub const RECORDS_MAP: &str = "COUNTER_RECORDS";
/// Memory-mappable array of `u64`: per-CPU usage of the `i`-th cgroup on CPU `c` at `i * ncpus + c`.
/// Entries set by the loader (records × CPUs).
pub const PERCPU_MAP: &str = "COUNTER_PERCPU";
/// Cgroups of one hierarchy an iterator run records; the rest keep their file reads.
pub const COUNTERS_MAX_CGROUPS: u32 = 16384;
/// CPUs the per-CPU counters cover at most.
pub const COUNTERS_MAX_CPUS: u32 = 256;
/// `cpustat` entries read per CPU in one go; the five summed must be among them.
pub const CPUSTAT_READ: u32 = 8;
/// A subsystem index that is not in the kernel.
pub const NO_SUBSYS: u32 = u32::MAX;

/// [`CounterRecord::present`]: the memory counters are set.
pub const HAS_MEMORY: u32 = 1;
/// [`CounterRecord::present`]: the CFS bandwidth counters are set.
pub const HAS_CFS: u32 = 2;
/// [`CounterRecord::present`]: the cpuacct counters are set and `ncpus` per-CPU usages follow.
pub const HAS_CPUACCT: u32 = 4;

/// Kernel struct field offsets (bytes) and subsystem indexes, from the kernel's BTF.
/// `valid == 0`: not set, the program writes nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterOffsets {
    pub valid: u32,
    /// Possible CPUs (`/sys/devices/system/cpu/possible` is `0-(ncpus-1)`), at most
    /// [`COUNTERS_MAX_CPUS`]; 0 leaves cpuacct out.
    pub ncpus: u32,
    /// `cgroup::subsys` (array of `struct cgroup_subsys_state *`).
    pub cgroup_subsys: u32,
    /// `cgroup::kn`, `kernfs_node::id`.
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
    /// `enum cgroup_subsys_id` values, or [`NO_SUBSYS`].
    pub memory_id: u32,
    pub cpu_id: u32,
    pub cpuacct_id: u32,
    /// `mem_cgroup::css`, `::memory`, `::kmem` ([`NO_SUBSYS`] when the kernel has no v1 `kmem`).
    pub memcg_css: u32,
    pub memcg_memory: u32,
    pub memcg_kmem: u32,
    /// `page_counter::usage`, `::watermark`, `::failcnt`.
    pub pc_usage: u32,
    pub pc_watermark: u32,
    pub pc_failcnt: u32,
    /// `task_group::css`, `::parent`, `::cfs_rq` (`struct cfs_rq **`), `::cfs_bandwidth`.
    pub tg_css: u32,
    pub tg_parent: u32,
    pub tg_cfs_rq: u32,
    pub tg_cfs_bandwidth: u32,
    /// `cfs_bandwidth::nr_periods`, `::nr_throttled` (int), `::throttled_time` (u64),
    /// `::nr_burst` (int), `::burst_time` (u64).
    pub cfsb_nr_periods: u32,
    pub cfsb_nr_throttled: u32,
    pub cfsb_throttled_time: u32,
    pub cfsb_nr_burst: u32,
    pub cfsb_burst_time: u32,
    /// `cpuacct::css`, `::cpuusage` (`u64 __percpu *`), `::cpustat` (`struct kernel_cpustat __percpu *`).
    pub ca_css: u32,
    pub ca_cpuusage: u32,
    pub ca_cpustat: u32,
    /// `kernel_cpustat::cpustat` (`u64[NR_STATS]`), and in it the indexes (below
    /// [`CPUSTAT_READ`]) of `CPUTIME_USER`, `NICE`, `SYSTEM`, `IRQ`, `SOFTIRQ`.
    pub cpustat: u32,
    pub cpustat_user: u32,
    pub cpustat_nice: u32,
    pub cpustat_system: u32,
    pub cpustat_irq: u32,
    pub cpustat_softirq: u32,
    /// `cgroup::prev_cputime.utime`, `.stime`: what `cpuacct.stat` last printed, in nanoseconds
    /// (the file scales its ticks to the precise runtime and never goes backwards from these).
    pub cgroup_prev_utime: u32,
    pub cgroup_prev_stime: u32,
    /// Finding `__per_cpu_offset[]` without kallsyms: `task_struct::sched_task_group`, `::cgroups`,
    /// `css_set::subsys`, `cgroup_subsys_state::parent`, `rq::cfs`, and the offsets in the
    /// `.data..percpu` section of `runqueues` and `root_cpuacct_cpuusage` (see the program).
    pub task_sched_task_group: u32,
    pub task_cgroups: u32,
    pub css_set_subsys: u32,
    pub css_parent: u32,
    pub rq_cfs: u32,
    pub pcpu_runqueues: u32,
    pub pcpu_root_cpuacct_cpuusage: u32,
}
const _: () = assert!(size_of::<CounterOffsets>() == 164);

/// One cgroup of the iterated hierarchy, as the program writes it; with [`HAS_CPUACCT`],
/// `ncpus` little-endian `u64` per-CPU usages (nanoseconds) follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterRecord {
    /// The iterator run (`bpf_iter_meta::session_id`) that wrote this record: a slot the run did not
    /// write (the kernel skips cgroups being removed, yet counts them) keeps an older run's record.
    pub session: u64,
    /// `kn->id`: the cgroup directory's inode number.
    pub id: u64,
    /// [`HAS_MEMORY`] | [`HAS_CFS`] | [`HAS_CPUACCT`].
    pub present: u32,
    pub ncpus: u32,
    /// Pages: `memory.usage`, `memory.watermark`; count `memory.failcnt`; pages `kmem.usage`.
    pub mem_usage: u64,
    pub mem_watermark: u64,
    pub mem_failcnt: u64,
    pub kmem_usage: u64,
    pub cfs_periods: u64,
    pub cfs_throttled: u64,
    pub cfs_throttled_ns: u64,
    pub cfs_bursts: u64,
    pub cfs_burst_ns: u64,
    /// Nanoseconds summed over CPUs: user (+nice) and system (+irq +softirq), as `cpuacct.stat`.
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    /// `cgroup::prev_cputime` (user, system), nanoseconds.
    pub prev_user_ns: u64,
    pub prev_system_ns: u64,
}
const _: () = assert!(size_of::<CounterRecord>() == 128);
