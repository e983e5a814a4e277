//! `runqueue`: how long tasks waited runnable before they ran, per cgroup, as a log2 histogram —
//! the kernel's own per-task count (`sched_info.run_delay`, the 2nd field of
//! `/proc/<pid>/schedstat`), split into waits and charged per cgroup.
//!
//! One program, `tp_btf/sched_switch` `(bool preempt, struct task_struct *prev, struct task_struct
//! *next, ...)`, on the way out of `prev` (= `current`): since `prev` last left the CPU it was
//! switched in exactly once, so the growth of its `run_delay` since then is one wait (the kernel
//! adds it when the task arrives on the CPU). No wake-up programs and no timestamps: a wake-up
//! tracker costs two more programs per context switch. The wait is charged to `current`'s cgroup2.
//! `sched_info.pcount` (arrivals on a CPU, read with `run_delay` in one go) tells that exactly one
//! arrival happened since the thread's slot was written; a thread on its first run has one wait in
//! all, counted if it started after the programs were loaded; any other thread's first switch seen
//! only fills its slot. Idle tasks (pid 0) are skipped.
//!
//! This runs at every context switch, so it keeps the per-thread state in an array, not a hash map
//! (see `RUN_DELAY_SEEN`), and reads `sched_info` with one plain load (`sched_switch`, 5.11+) or, where
//! the verifier refuses that, one `bpf_probe_read_kernel` (`sched_switch_compat`). Cost figures:
//! docs/performance.md, "eBPF signal kinds".
//!
//! Minimum kernel: 5.5 (`tp_btf`; 5.11 for the plain load), with `CONFIG_SCHED_INFO` (schedstats or
//! delay accounting).

use agent_common::signals::{RUNQ_BUCKETS, RUNQ_FIRST_SHIFT, RUNQ_TASK_SLOTS, SignalOffsets};
use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task,
        bpf_get_current_task_btf,
    },
    macros::{btf_tracepoint, map},
    maps::Array,
    programs::BtfTracePointContext,
};

use crate::{
    kernel::read,
    sig_common::{sig_offsets, signals_of},
};

/// What a thread's `sched_info` held when it last left the CPU.
#[repr(C)]
#[derive(Clone, Copy)]
struct Seen {
    tid: u32,
    /// Low half of `pcount` then.
    pcount: u32,
    run_delay: u64,
}

/// `sched_info::pcount` and `run_delay`, adjacent in the kernel (checked by the loader).
#[repr(C)]
#[derive(Clone, Copy)]
struct SchedCounts {
    pcount: u64,
    run_delay: u64,
}

/// Slot `tid % RUNQ_TASK_SLOTS` → that thread's [`Seen`]. An array, not a hash: the verifier inlines
/// the lookup, which is most of the saving on this per-context-switch path. Two live threads sharing a
/// slot (thread ids `RUNQ_TASK_SLOTS` apart) overwrite each other: a slot is trusted only when both
/// its thread id and its `pcount` (one less than now) match, so a collision loses waits, never
/// miscounts one.
#[map]
static RUN_DELAY_SEEN: Array<Seen> = Array::with_max_entries(RUNQ_TASK_SLOTS, 0);

/// The fast variant: `bpf_get_current_task_btf` (5.11) and a plain load at the BTF offset, which the
/// verifier checks against `task_struct`'s layout once (the offset is a known constant of read-only
/// data) instead of a `bpf_probe_read_kernel` per switch. Kernels whose verifier rejects it get
/// [`sched_switch_compat`] (the loader falls back).
#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    let _ = switch(&ctx, |off| {
        // SAFETY: helper without preconditions; it returns a trusted pointer to `current`.
        let task = unsafe { bpf_get_current_task_btf() }.cast::<u8>();
        // SAFETY: the verifier accepts the load only if `task_sched_counts` is the offset of a
        // 16-byte run of scalar members inside `task_struct`.
        let now = unsafe {
            task.add(off.task_sched_counts as usize)
                .cast::<SchedCounts>()
                .read()
        };
        Ok(now)
    });
    0
}

/// The same with `bpf_probe_read_kernel` (kernels before 5.11 or verifiers that reject the above).
#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch_compat(ctx: BtfTracePointContext) -> i32 {
    let _ = switch(&ctx, |off| {
        // SAFETY: helper without preconditions.
        let task = unsafe { bpf_get_current_task() };
        read(task, off.task_sched_counts)
    });
    0
}

/// `counts` reads `current`'s `sched_info` counts (`prev` is `current`).
#[inline(always)]
fn switch(
    _ctx: &BtfTracePointContext,
    counts: impl Fn(&SignalOffsets) -> Result<SchedCounts, i32>,
) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    if tid == 0 {
        return Ok(());
    }
    let Some(seen) = RUN_DELAY_SEEN.get_ptr_mut(tid & (RUNQ_TASK_SLOTS - 1)) else {
        return Ok(());
    };
    let now = counts(&off)?;
    // SAFETY: a value of our array, valid while the program runs; only this thread's switches
    // (one CPU at a time) write its slot, a colliding thread's are caught by the checks below.
    let before = unsafe {
        seen.replace(Seen {
            tid,
            pcount: now.pcount as u32,
            run_delay: now.run_delay,
        })
    };
    let waited = if before.tid == tid && before.pcount == (now.pcount as u32).wrapping_sub(1) {
        // One arrival since it last left: the growth is exactly that one wait.
        now.run_delay.saturating_sub(before.run_delay)
    } else if now.pcount == 1 {
        // Its first time on a CPU: everything it waited is that first wait, counted if the thread
        // started after the programs were loaded.
        // SAFETY: helper without preconditions.
        let prev = unsafe { bpf_get_current_task() };
        let started: u64 = read(prev, off.task_start_time)?;
        if started < off.since_ns {
            return Ok(());
        }
        now.run_delay
    } else {
        // First seen (or its slot was taken meanwhile): the next switch counts.
        return Ok(());
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
