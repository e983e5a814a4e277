//! `runqueue`: how long tasks waited runnable before they ran, per cgroup, as a log2 histogram —
//! the kernel's own per-task count (`sched_info.run_delay`, the 2nd field of
//! `/proc/<pid>/schedstat`), split into waits and charged per cgroup.
//!
//! One program, `tp_btf/sched_switch` `(bool preempt, struct task_struct *prev, struct task_struct
//! *next, ...)`, on the way out of `prev` (= `current`): since `prev` last left the CPU it was
//! switched in exactly once, so the growth of its `run_delay` since then is one wait (the kernel
//! adds it when the task arrives on the CPU). No wake-up programs and no timestamps: a wake-up
//! tracker costs two more programs per context switch. The wait is charged to `current`'s cgroup2.
//! A thread seen for the first time had everything before counted only if it started after the
//! programs were loaded. Idle tasks (pid 0) are skipped.
//!
//! Minimum kernel: 5.5 (`tp_btf`), with `CONFIG_SCHED_INFO` (schedstats or delay accounting).

use agent_common::signals::{RUNQ_BUCKETS, RUNQ_FIRST_SHIFT, SIGNAL_TASKS_MAX};
use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task},
    macros::{btf_tracepoint, map},
    maps::LruHashMap,
    programs::BtfTracePointContext,
};

use crate::{
    kernel::read,
    sig_common::{sig_offsets, signals_of},
};

/// Thread id → its `run_delay` when it last left the CPU.
#[map]
static RUN_DELAY_SEEN: LruHashMap<u32, u64> = LruHashMap::with_max_entries(SIGNAL_TASKS_MAX, 0);

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    let _ = switch(&ctx);
    0
}

#[inline(always)]
fn switch(_ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    if tid == 0 {
        return Ok(());
    }
    // `prev` is `current`: the helper is cheaper than reading the argument slot.
    // SAFETY: helper without preconditions.
    let prev = unsafe { bpf_get_current_task() };
    let delay: u64 = read(prev, off.task_run_delay)?;
    let waited = match RUN_DELAY_SEEN.get_ptr_mut(tid) {
        Some(seen) => {
            // SAFETY: a value of our map, valid while the program runs.
            let before = unsafe { core::ptr::replace(seen, delay) };
            delay.saturating_sub(before)
        }
        None => {
            let _ = RUN_DELAY_SEEN.insert(tid, delay, 0);
            let started: u64 = read(prev, off.task_start_time)?;
            if started < off.since_ns {
                return Ok(());
            }
            delay
        }
    };
    if waited == 0 {
        return Ok(());
    }
    // SAFETY: helper without preconditions; `prev` is `current`.
    let id = unsafe { bpf_get_current_cgroup_id() };
    let bucket = bucket_of(waited);
    if let Some(s) = signals_of(id) {
        // SAFETY: a per-CPU map value of this CPU, valid while the program runs.
        unsafe {
            (*s).runq_wait_ns += waited;
            (*s).runq_waits += 1;
            if let Some(b) = (*s).runq_buckets.get_mut(bucket) {
                *b += 1;
            }
        }
    }
    Ok(())
}

/// Histogram bucket of a wait of `ns` nanoseconds (see `RUNQ_BUCKETS`). Branches, not a loop or
/// `leading_zeros`, so the verifier sees straight-line code.
#[inline(always)]
fn bucket_of(ns: u64) -> usize {
    if ns < 1 << RUNQ_FIRST_SHIFT {
        return 0;
    }
    let mut v = ns;
    let mut log = 0u32;
    if v >= 1 << 32 {
        v >>= 32;
        log += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        log += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        log += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        log += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        log += 2;
    }
    if v >= 1 << 1 {
        log += 1;
    }
    let b = (log - RUNQ_FIRST_SHIFT + 1) as usize;
    if b >= RUNQ_BUCKETS {
        RUNQ_BUCKETS - 1
    } else {
        b
    }
}
