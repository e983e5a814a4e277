//! `process_lifecycle`: processes started and exited per cgroup.
//!
//! - started: `tp_btf/sched_process_fork` `(struct task_struct *parent, struct task_struct *child)`,
//!   counted when the child is a new process (`child->pid == child->tgid`); new threads are not.
//!   A fork followed by `execve` counts once; an `execve` alone (a shell's `exec`) is not a new process.
//!   Charged to the child's cgroup (the parent's, unless it was cloned into another one).
//! - exited: `tp_btf/sched_process_exit` `(struct task_struct *p, ...)`, fired for every exiting
//!   thread; counted when it was the process's last (`p->signal->live == 0`, decremented before the
//!   tracepoint). Charged to the exiting task's cgroup.
//!
//! Minimum kernel: 5.5 (`tp_btf`); the LRU per-CPU hash map exists since 4.10.

use aya_ebpf::{
    helpers::bpf_get_current_cgroup_id, macros::btf_tracepoint, programs::BtfTracePointContext,
};

use crate::{
    kernel::{arg, read},
    sig_common::{sig_offsets, signals_of, task_cgroup_id},
};

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    let _ = fork(&ctx);
    0
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    let _ = exit(&ctx);
    0
}

#[inline(always)]
fn fork(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let child = arg(ctx, 1)?;
    let pid: i32 = read(child, off.task_pid)?;
    let tgid: i32 = read(child, off.task_tgid)?;
    if pid != tgid {
        return Ok(());
    }
    let id = task_cgroup_id(child, &off)?;
    if let Some(s) = signals_of(id) {
        // SAFETY: a per-CPU map value of this CPU, valid while the program runs.
        unsafe { (*s).processes_started += 1 };
    }
    Ok(())
}

#[inline(always)]
fn exit(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let task = arg(ctx, 0)?;
    let signal: u64 = read(task, off.task_signal)?;
    let live: i32 = read(signal, off.signal_live)?;
    if live != 0 {
        return Ok(());
    }
    // SAFETY: helper without preconditions; the exiting task is `current`.
    let id = unsafe { bpf_get_current_cgroup_id() };
    if let Some(s) = signals_of(id) {
        // SAFETY: as above.
        unsafe { (*s).processes_exited += 1 };
    }
    Ok(())
}
