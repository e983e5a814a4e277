//! `reclaim`: time tasks stalled reclaiming memory themselves, per cgroup of the task.
//!
//! Direct reclaim (the page allocator found too little free memory:
//! `tp_btf/mm_vmscan_direct_reclaim_begin`/`_end`) and memcg reclaim (a charge over the cgroup's
//! limit: `tp_btf/mm_vmscan_memcg_reclaim_begin`/`_end`), both run by the allocating task, so the
//! time from begin to end is charged to `current`'s cgroup2. Background reclaim (kswapd) stalls no
//! task and is not counted.
//!
//! Minimum kernel: 5.5 (`tp_btf`).

use agent_common::signals::SIGNAL_TASKS_MAX;
use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map},
    maps::LruHashMap,
    programs::BtfTracePointContext,
};

use crate::sig_common::{sig_offsets, signals_of};

/// Thread id → when its reclaim began.
#[map]
static RECLAIM_SINCE: LruHashMap<u32, u64> = LruHashMap::with_max_entries(SIGNAL_TASKS_MAX, 0);

#[btf_tracepoint(function = "mm_vmscan_direct_reclaim_begin")]
pub fn mm_vmscan_direct_reclaim_begin(_ctx: BtfTracePointContext) -> i32 {
    begin();
    0
}

#[btf_tracepoint(function = "mm_vmscan_direct_reclaim_end")]
pub fn mm_vmscan_direct_reclaim_end(_ctx: BtfTracePointContext) -> i32 {
    end();
    0
}

#[btf_tracepoint(function = "mm_vmscan_memcg_reclaim_begin")]
pub fn mm_vmscan_memcg_reclaim_begin(_ctx: BtfTracePointContext) -> i32 {
    begin();
    0
}

#[btf_tracepoint(function = "mm_vmscan_memcg_reclaim_end")]
pub fn mm_vmscan_memcg_reclaim_end(_ctx: BtfTracePointContext) -> i32 {
    end();
    0
}

#[inline(always)]
fn tid() -> u32 {
    // The low half is the thread id.
    bpf_get_current_pid_tgid() as u32
}

#[inline(always)]
fn begin() {
    if sig_offsets().is_none() {
        return;
    }
    // SAFETY: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let _ = RECLAIM_SINCE.insert(tid(), now, 0);
}

#[inline(always)]
fn end() {
    let tid = tid();
    let Some(since) = RECLAIM_SINCE.get_ptr(tid) else {
        return;
    };
    // SAFETY: a value of our map, read before it is removed.
    let since = unsafe { *since };
    let _ = RECLAIM_SINCE.remove(tid);
    // SAFETY: helpers without preconditions.
    let (now, id) = unsafe { (bpf_ktime_get_ns(), bpf_get_current_cgroup_id()) };
    if let Some(s) = signals_of(id) {
        // SAFETY: a per-CPU map value of this CPU, valid while the program runs.
        unsafe { (*s).reclaim_ns += now.saturating_sub(since) };
    }
}
