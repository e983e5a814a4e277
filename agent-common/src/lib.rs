//! Event records shared by the eBPF programs (`agent-ebpf`) and the userspace loader
//! (`agent/src/events/ebpf.rs`). Layouts are `#[repr(C)]` and size-checked at compile time: both sides
//! must agree byte for byte. The committed prebuilt object (`agent-ebpf/prebuilt/`) is hashed over this
//! crate too, so changing a layout here makes that object stale.
#![no_std]

use core::mem::size_of;

pub mod counters;
pub mod signals;

/// Name of the ring buffer map every program writes to.
pub const EVENTS_MAP: &str = "EVENTS";
/// Name of the read-only global holding [`Offsets`], set by the loader before the programs load.
pub const OFFSETS_GLOBAL: &str = "OFFSETS";
/// Ring buffer size in bytes (a power of two, multiple of the page size): room for ~3600 cgroup
/// records, enough for a burst of container starts between two wake-ups of the reader.
pub const EVENTS_BYTES: u32 = 1 << 20;

/// Record kinds; the first `u32` of every record, so the reader can tell them apart.
pub const KIND_CGROUP_MKDIR: u32 = 1;
pub const KIND_CGROUP_RMDIR: u32 = 2;
pub const KIND_OOM_VICTIM: u32 = 3;

/// Longest cgroup path (relative to its hierarchy root) a record carries; longer paths are truncated
/// and flagged with `path_len == CGROUP_PATH_MAX`.
pub const CGROUP_PATH_MAX: usize = 256;
/// Length of `task_struct::comm` (`TASK_COMM_LEN`).
pub const TASK_COMM_LEN: usize = 16;

/// A cgroup directory was created or removed (tracepoints `cgroup:cgroup_mkdir`/`cgroup_rmdir`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupRecord {
    /// [`KIND_CGROUP_MKDIR`] or [`KIND_CGROUP_RMDIR`].
    pub kind: u32,
    /// `cgroup_root::hierarchy_id`: 0 for the unified hierarchy, else the v1 hierarchy id
    /// (first column of `/proc/<pid>/cgroup`).
    pub hierarchy_id: u32,
    /// `cgroup::kn->id`: the cgroup directory's inode number (and cgroup2 id).
    pub cgroup_id: u64,
    /// `bpf_ktime_get_boot_ns()` (CLOCK_BOOTTIME) when the probe fired.
    pub ktime_ns: u64,
    /// `cgroup::level`: depth below the hierarchy root (root = 0).
    pub level: u32,
    /// Bytes of `path` used, without the trailing NUL.
    pub path_len: u32,
    /// The tracepoint's path argument, relative to the hierarchy root (`/docker/<id>`).
    pub path: [u8; CGROUP_PATH_MAX],
}
const _: () = assert!(size_of::<CgroupRecord>() == 288);

/// The OOM killer chose a victim (`tp_btf/mark_victim`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OomRecord {
    /// [`KIND_OOM_VICTIM`].
    pub kind: u32,
    /// Victim's `task_struct::pid` (thread id of the victim task, which is what the kernel logs).
    pub pid: u32,
    /// Victim's memory cgroup (v1 memory hierarchy or the unified one on pure v2): `kn->id`.
    pub memcg_ino: u64,
    /// Victim's cgroup2 (default hierarchy) cgroup: `kn->id`.
    pub cgroup2_id: u64,
    /// `bpf_ktime_get_boot_ns()` when the probe fired.
    pub ktime_ns: u64,
    /// Depth of the victim's memory cgroup (0 = root memcg, i.e. not a memcg-constrained kill).
    pub memcg_level: u32,
    pub _pad: u32,
    /// Victim's `task_struct::comm`, NUL-padded.
    pub comm: [u8; TASK_COMM_LEN],
}
const _: () = assert!(size_of::<OomRecord>() == 56);

/// Kernel struct field offsets, computed by the loader from `/sys/kernel/btf/vmlinux` (Rust eBPF has no
/// CO-RE relocations). All in bytes. `valid == 0` means "not set": the programs then do nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    pub valid: u32,
    /// `task_struct::pid`.
    pub task_pid: u32,
    /// `task_struct::comm`.
    pub task_comm: u32,
    /// `task_struct::cgroups` (`struct css_set *`).
    pub task_cgroups: u32,
    /// `css_set::subsys[memory_cgrp_id]` (`struct cgroup_subsys_state *`); already includes the index.
    pub css_set_memory: u32,
    /// `css_set::dfl_cgrp` (`struct cgroup *`).
    pub css_set_dfl_cgrp: u32,
    /// `cgroup_subsys_state::cgroup` (`struct cgroup *`).
    pub css_cgroup: u32,
    /// `cgroup::kn` (`struct kernfs_node *`).
    pub cgroup_kn: u32,
    /// `cgroup::level` (`int`).
    pub cgroup_level: u32,
    /// `cgroup::root` (`struct cgroup_root *`).
    pub cgroup_root: u32,
    /// `cgroup_root::hierarchy_id` (`int`).
    pub cgroup_root_hierarchy_id: u32,
    /// `kernfs_node::id` (`u64`).
    pub kernfs_node_id: u32,
}
const _: () = assert!(size_of::<Offsets>() == 48);

/// Name of the per-CPU array in which every program counts what it could not do: one `u64` per
/// (program, error) slot, index `program * ERROR_KINDS + error`. Read by the loader, which exports
/// the sums as metrics and rescans when records were lost.
pub const ERRORS_MAP: &str = "ERRORS";
/// A record did not fit in the ring buffer (the reader is behind): the record is lost.
pub const ERROR_RING_FULL: u32 = 0;
/// A read of kernel memory failed (a kernel layout other than the offsets describe): no record.
pub const ERROR_READ_FAILED: u32 = 1;
/// Error kinds per program.
pub const ERROR_KINDS: u32 = 2;
/// Program indexes of the `ERRORS` slots; the loader names them (`agent/src/events/ebpf/errors.rs`).
pub const PROG_CGROUP_MKDIR: u32 = 0;
pub const PROG_CGROUP_RMDIR: u32 = 1;
pub const PROG_OOM_VICTIM: u32 = 2;
/// Room for program indexes; a new program takes the next free one.
pub const ERROR_PROGRAMS: u32 = 16;
/// Entries of the `ERRORS` map.
pub const ERROR_SLOTS: u32 = ERROR_PROGRAMS * ERROR_KINDS;

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `#[repr(C)]` integers and byte arrays with no padding and no invalid bit patterns.
    unsafe impl aya::Pod for super::CgroupRecord {}
    // SAFETY: as above; `_pad` makes the padding explicit.
    unsafe impl aya::Pod for super::OomRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::counters::CounterOffsets {}
}
