//! OOM kills: the victim the OOM killer marks, whatever the constraint. The victim is often not the
//! task that was allocating (that one is `current`), so its cgroups are read from the victim's own
//! `task_struct` (`task->cgroups`), never from `current`. Two ways in, one record; the loader
//! attaches exactly one (`agent/src/events/ebpf.rs`, `OomProbe`):
//!
//! - `tp_btf/mark_victim` `(struct task_struct *task, uid_t uid)`: the `oom:mark_victim` tracepoint,
//!   fired inside `mark_oom_victim()` once per victim (after its `TIF_MEMDIE` test). It passes the
//!   task from upstream 6.9 ("mm: update mark_victim tracepoints fields"), and in stable kernels
//!   that took that change: 6.1 from 6.1.130 (Debian 12 from 6.1.133-1; the VM test's 6.1.192 has
//!   it). Before, it passed only `int pid` (Ubuntu 22.04's 5.15, 24.04's 6.8, RHEL 9's 5.14, older
//!   6.1/6.6 builds), from which a tracing program cannot get the task below 6.2
//!   (`bpf_task_from_pid`).
//! - `fentry/mark_oom_victim` `(struct task_struct *tsk)`: the kernel function that marks the
//!   victim and fires that tracepoint. Static, but not inlined on x86-64 from 4.10 to 6.x (it has
//!   three callers), and in BTF as a FUNC. Minimum kernel 5.5 (fentry) and an ftrace-enabled
//!   kernel; used where the tracepoint passes the pid. Unlike the tracepoint it also fires when the
//!   task is marked again (an already killed task that allocates while exiting), which the loader
//!   drops as a repeat of the same pid.
//!
//! Minimum kernel: 5.8 with fentry (ring buffer), 6.9 or a backport with the tracepoint.

use agent_common::{KIND_OOM_VICTIM, OomRecord, PROG_OOM_VICTIM, TASK_COMM_LEN};
use aya_ebpf::{
    EbpfContext,
    helpers::bpf_ktime_get_boot_ns,
    macros::{btf_tracepoint, fentry},
    programs::{BtfTracePointContext, FEntryContext},
};

use crate::kernel::{EVENTS, arg, offsets, read, read_failed, ring_full};

#[btf_tracepoint(function = "mark_victim")]
pub fn mark_victim(ctx: BtfTracePointContext) -> i32 {
    if let Err(e) = arg(&ctx, 0).and_then(|task| emit(&ctx, task)) {
        read_failed(&ctx, PROG_OOM_VICTIM, e);
    }
    0
}

#[fentry(function = "mark_oom_victim")]
pub fn mark_oom_victim(ctx: FEntryContext) -> i32 {
    if let Err(e) = arg(&ctx, 0).and_then(|task| emit(&ctx, task)) {
        read_failed(&ctx, PROG_OOM_VICTIM, e);
    }
    0
}

/// Writes the record; `Err` when a kernel read failed (no record then).
#[inline(always)]
fn emit(ctx: &impl EbpfContext, task: u64) -> Result<(), i32> {
    let Some(off) = offsets() else { return Ok(()) };
    let pid: i32 = read(task, off.task_pid)?;
    let comm: [u8; TASK_COMM_LEN] = read(task, off.task_comm)?;
    let cset: u64 = read(task, off.task_cgroups)?;

    // The memory controller's css; absent (0) when memcg is compiled out or disabled.
    let (memcg_ino, memcg_level) = match read::<u64>(cset, off.css_set_memory) {
        Ok(css) if css != 0 => {
            let cg: u64 = read(css, off.css_cgroup)?;
            let kn: u64 = read(cg, off.cgroup_kn)?;
            let level: i32 = read(cg, off.cgroup_level)?;
            (read::<u64>(kn, off.kernfs_node_id)?, level as u32)
        }
        _ => (0, 0),
    };
    let dfl: u64 = read(cset, off.css_set_dfl_cgrp)?;
    let dfl_kn: u64 = read(dfl, off.cgroup_kn)?;
    let cgroup2_id: u64 = read(dfl_kn, off.kernfs_node_id)?;

    let Some(mut entry) = EVENTS.reserve::<OomRecord>(0) else {
        ring_full(ctx, PROG_OOM_VICTIM);
        return Ok(());
    };
    entry.write(OomRecord {
        kind: KIND_OOM_VICTIM,
        pid: pid as u32,
        memcg_ino,
        cgroup2_id,
        // SAFETY: helper without preconditions.
        ktime_ns: unsafe { bpf_ktime_get_boot_ns() },
        memcg_level,
        _pad: 0,
        comm,
    });
    entry.submit(0);
    Ok(())
}
