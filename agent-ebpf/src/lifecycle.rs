//! Cgroup lifecycle: `tp_btf/cgroup_mkdir` and `tp_btf/cgroup_rmdir`, both
//! `(struct cgroup *cgrp, const char *path)`, where `path` is relative to the hierarchy root.
//! Fired for every hierarchy (v1 and unified), so the record carries the hierarchy id.
//!
//! Minimum kernel: 5.8 (the tracepoints exist since 4.13, `tp_btf` since 5.5, the ring buffer 5.8).

use agent_common::{
    CGROUP_PATH_MAX, CgroupRecord, KIND_CGROUP_MKDIR, KIND_CGROUP_RMDIR, PROG_CGROUP_MKDIR,
    PROG_CGROUP_RMDIR,
};
use aya_ebpf::{
    helpers::{bpf_ktime_get_boot_ns, bpf_probe_read_kernel_str_bytes},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use core::ptr::addr_of_mut;

use crate::kernel::{EVENTS, arg, offsets, read, read_failed, ring_full};

#[btf_tracepoint(function = "cgroup_mkdir")]
pub fn cgroup_mkdir(ctx: BtfTracePointContext) -> i32 {
    if let Err(e) = emit(&ctx, KIND_CGROUP_MKDIR, PROG_CGROUP_MKDIR) {
        read_failed(&ctx, PROG_CGROUP_MKDIR, e);
    }
    0
}

#[btf_tracepoint(function = "cgroup_rmdir")]
pub fn cgroup_rmdir(ctx: BtfTracePointContext) -> i32 {
    if let Err(e) = emit(&ctx, KIND_CGROUP_RMDIR, PROG_CGROUP_RMDIR) {
        read_failed(&ctx, PROG_CGROUP_RMDIR, e);
    }
    0
}

/// Writes the record; `Err` when a kernel read failed (no record then). A full ring buffer is
/// counted here and is not an error of the kernel's layout.
#[inline(always)]
fn emit(ctx: &BtfTracePointContext, kind: u32, program: u32) -> Result<(), i32> {
    let Some(off) = offsets() else { return Ok(()) };
    let cgrp = arg(ctx, 0)?;
    let path = arg(ctx, 1)?;
    let kn: u64 = read(cgrp, off.cgroup_kn)?;
    let cgroup_id: u64 = read(kn, off.kernfs_node_id)?;
    let level: i32 = read(cgrp, off.cgroup_level)?;
    let root: u64 = read(cgrp, off.cgroup_root)?;
    let hierarchy_id: i32 = read(root, off.cgroup_root_hierarchy_id)?;

    let Some(mut entry) = EVENTS.reserve::<CgroupRecord>(0) else {
        ring_full(ctx, program);
        return Ok(());
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: `rec` points at a reserved, writable ring buffer slot of the record's size.
    unsafe {
        addr_of_mut!((*rec).kind).write(kind);
        addr_of_mut!((*rec).hierarchy_id).write(hierarchy_id as u32);
        addr_of_mut!((*rec).cgroup_id).write(cgroup_id);
        addr_of_mut!((*rec).ktime_ns).write(bpf_ktime_get_boot_ns());
        addr_of_mut!((*rec).level).write(level as u32);
        let dst = &mut *addr_of_mut!((*rec).path);
        match bpf_probe_read_kernel_str_bytes(path as *const u8, dst) {
            Ok(s) => {
                let len = s.len().min(CGROUP_PATH_MAX) as u32;
                addr_of_mut!((*rec).path_len).write(len);
            }
            Err(e) => {
                // A record without its name would be a wrong event: none, and counted.
                entry.discard(0);
                return Err(e);
            }
        }
    }
    entry.submit(0);
    Ok(())
}
