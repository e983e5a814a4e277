//! What the signal programs (`sig_*.rs`) share: the per-cgroup map they add to and the task →
//! cgroup walk. Opt-in metric kinds; the loader attaches a kind's programs only when it is enabled
//! (`agent/src/events/ebpf/signals.rs`).
//!
//! Every signal is keyed by the cgroup2 (default hierarchy) id of the task or socket, the
//! `kn->id` of its unified cgroup directory: the one id a socket records (`sk_cgrp_data`), what
//! `bpf_get_current_cgroup_id()` returns, and on cgroup v2 the id lifecycle events carry. On v1/hybrid
//! the agent looks containers up by the inode of their directory in the unified hierarchy
//! (runc creates it there too).

use agent_common::signals::{CgroupSignals, SIGNALS_MAX_CGROUPS, SignalOffsets};
use aya_ebpf::{macros::map, maps::LruPerCpuHashMap};

use crate::kernel::read;

/// cgroup2 id → what this CPU counted for it.
#[map]
pub static SIGNALS: LruPerCpuHashMap<u64, CgroupSignals> =
    LruPerCpuHashMap::with_max_entries(SIGNALS_MAX_CGROUPS, 0);

/// Set by the loader before load; read-only data, so the verifier sees constants.
#[unsafe(no_mangle)]
static SIGNAL_OFFSETS: SignalOffsets = SignalOffsets {
    valid: 0,
    task_pid: 0,
    task_tgid: 0,
    task_cgroups: 0,
    task_signal: 0,
    signal_live: 0,
    css_set_dfl_cgrp: 0,
    cgroup_kn: 0,
    kernfs_node_id: 0,
    sock_cgroup: 0,
    skb_tcp_gso_segs: 0,
    tcp_retransmit_has_err: 0,
    task_sched_counts: 0,
    task_start_time: 0,
    since_ns: 0,
};

/// The offsets, or `None` when the loader did not set them.
#[inline(always)]
pub fn sig_offsets() -> Option<SignalOffsets> {
    // SAFETY: reading our own static; volatile so the compiler does not fold the zero initialiser.
    let o = unsafe { core::ptr::read_volatile(&SIGNAL_OFFSETS) };
    (o.valid != 0).then_some(o)
}

/// `cgrp->kn->id` of a `struct cgroup *`.
#[inline(always)]
pub fn cgroup_id(cgrp: u64, off: &SignalOffsets) -> Result<u64, i32> {
    let kn: u64 = read(cgrp, off.cgroup_kn)?;
    read(kn, off.kernfs_node_id)
}

/// cgroup2 id of a task that is not `current`: `task->cgroups->dfl_cgrp->kn->id`.
#[inline(always)]
pub fn task_cgroup_id(task: u64, off: &SignalOffsets) -> Result<u64, i32> {
    let cset: u64 = read(task, off.task_cgroups)?;
    let cgrp: u64 = read(cset, off.css_set_dfl_cgrp)?;
    cgroup_id(cgrp, off)
}

/// This CPU's counters of cgroup `id`, created zeroed on first use.
#[inline(always)]
pub fn signals_of(id: u64) -> Option<*mut CgroupSignals> {
    if let Some(p) = SIGNALS.get_ptr_mut(id) {
        return Some(p);
    }
    // BPF_NOEXIST: another CPU may have created it meanwhile; either way look it up again.
    let _ = SIGNALS.insert(id, CgroupSignals::default(), 1);
    SIGNALS.get_ptr_mut(id)
}
