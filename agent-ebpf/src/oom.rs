//! OOM kills: `tp_btf/mark_victim` `(struct task_struct *task, uid_t uid)`, fired once per victim
//! whatever the constraint. The victim is often not the task that was allocating, so its cgroups are
//! read from the victim's `task_struct` (`task->cgroups`), never from `current`.
//!
//! Minimum kernel: 6.9, where `mark_victim` gained the `task_struct` argument (up to 6.8 it passed only
//! the pid). The loader checks the prototype in the kernel's BTF and leaves this probe off otherwise.

use agent_common::{KIND_OOM_VICTIM, OomRecord, TASK_COMM_LEN};
use aya_ebpf::{
    helpers::bpf_ktime_get_boot_ns, macros::btf_tracepoint, programs::BtfTracePointContext,
};

use crate::kernel::{EVENTS, arg, count_lost, offsets, read};

#[btf_tracepoint(function = "mark_victim")]
pub fn mark_victim(ctx: BtfTracePointContext) -> i32 {
    let _ = emit(&ctx);
    0
}

#[inline(always)]
fn emit(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = offsets() else { return Ok(()) };
    let task = arg(ctx, 0)?;
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
        count_lost();
        return Err(-1);
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
