//! `runqueue`: how long tasks waited runnable before they ran, per cgroup, as a log2 histogram —
//! what `/proc/<pid>/schedstat`'s second field (`run_delay`) sums per task.
//!
//! A task becomes runnable at `tp_btf/sched_wakeup` / `sched_wakeup_new` `(struct task_struct *p)`,
//! or when it is switched out still runnable (preempted: `prev_state == TASK_RUNNING`); its wait
//! ends at `tp_btf/sched_switch` `(bool preempt, struct task_struct *prev, struct task_struct *next,
//! unsigned int prev_state)` when it is `next`. The wait is charged to `next`'s cgroup2.
//! Idle tasks (pid 0) are skipped.
//!
//! Minimum kernel: 5.18 (`sched_switch` passes `prev_state`).

use agent_common::signals::{RUNQ_BUCKETS, RUNQ_FIRST_SHIFT, SIGNAL_TASKS_MAX};
use aya_ebpf::{
    helpers::bpf_ktime_get_ns, macros::btf_tracepoint, macros::map, maps::LruHashMap,
    programs::BtfTracePointContext,
};

use crate::{
    kernel::{arg, read},
    sig_common::{sig_offsets, signals_of, task_cgroup_id},
};

/// Thread id → when it became runnable (`bpf_ktime_get_ns`).
#[map]
static RUNQ_SINCE: LruHashMap<u32, u64> = LruHashMap::with_max_entries(SIGNAL_TASKS_MAX, 0);

#[btf_tracepoint(function = "sched_wakeup")]
pub fn sched_wakeup(ctx: BtfTracePointContext) -> i32 {
    let _ = enqueued(&ctx, 0);
    0
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn sched_wakeup_new(ctx: BtfTracePointContext) -> i32 {
    let _ = enqueued(&ctx, 0);
    0
}

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    let _ = switch(&ctx);
    0
}

#[inline(always)]
fn enqueued(ctx: &BtfTracePointContext, n: usize) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let task = arg(ctx, n)?;
    let pid: u32 = read(task, off.task_pid)?;
    if pid != 0 {
        // SAFETY: helper without preconditions.
        let now = unsafe { bpf_ktime_get_ns() };
        let _ = RUNQ_SINCE.insert(pid, now, 0);
    }
    Ok(())
}

#[inline(always)]
fn switch(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let prev_state = arg(ctx, 3)? as u32;
    if prev_state == 0 {
        // Preempted: still runnable, waiting again from now.
        let _ = enqueued(ctx, 1);
    }
    let next = arg(ctx, 2)?;
    let pid: u32 = read(next, off.task_pid)?;
    if pid == 0 {
        return Ok(());
    }
    let Some(since) = RUNQ_SINCE.get_ptr(pid) else {
        return Ok(());
    };
    // SAFETY: a value of our map, read before it is removed.
    let since = unsafe { *since };
    let _ = RUNQ_SINCE.remove(pid);
    // SAFETY: helper without preconditions.
    let waited = unsafe { bpf_ktime_get_ns() }.saturating_sub(since);
    let id = task_cgroup_id(next, &off)?;
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
