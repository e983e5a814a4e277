//! What every program shares: the output ring buffer, the lost-record counter, the BTF-derived field
//! offsets, and reads of kernel memory at those offsets.

use agent_common::{EVENTS_BYTES, Offsets};
use aya_ebpf::{
    EbpfContext,
    helpers::bpf_probe_read_kernel,
    macros::map,
    maps::{Array, RingBuf},
};

/// All records, read by the loader.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

/// Records dropped because `EVENTS` was full (index 0); the loader asks for a rescan when it grows.
#[map]
pub static LOST: Array<u64> = Array::with_max_entries(1, 0);

/// Field offsets, written by the loader (`EbpfLoader::set_global`) before load. Read-only data, so
/// the verifier sees the values as constants.
#[unsafe(no_mangle)]
static OFFSETS: Offsets = Offsets {
    valid: 0,
    task_pid: 0,
    task_comm: 0,
    task_cgroups: 0,
    css_set_memory: 0,
    css_set_dfl_cgrp: 0,
    css_cgroup: 0,
    cgroup_kn: 0,
    cgroup_level: 0,
    cgroup_root: 0,
    cgroup_root_hierarchy_id: 0,
    kernfs_node_id: 0,
};

/// The offsets, or `None` when the loader did not set them.
#[inline(always)]
pub fn offsets() -> Option<Offsets> {
    // SAFETY: reading our own static; volatile so the compiler does not fold the zero initialiser.
    let o = unsafe { core::ptr::read_volatile(&OFFSETS) };
    (o.valid != 0).then_some(o)
}

/// Argument `n` of a `tp_btf` or `fentry` program (both get the arguments as an array of u64) as a
/// plain number. Read through the helper rather than `ctx.arg(n)`: the latter is a typed BTF
/// pointer and the verifier rejects arithmetic on it with offsets that are not compile-time
/// constants.
#[inline(always)]
pub fn arg(ctx: &impl EbpfContext, n: usize) -> Result<u64, i32> {
    let slot = ctx.as_ptr().cast::<u64>().wrapping_add(n);
    // SAFETY: the helper checks the address; a fault is returned as an error.
    unsafe { bpf_probe_read_kernel(slot) }
}

/// Reads a `T` at `base + off` in kernel memory.
#[inline(always)]
pub fn read<T>(base: u64, off: u32) -> Result<T, i32> {
    if base == 0 {
        return Err(-1);
    }
    // SAFETY: the helper checks the address; a fault is returned as an error.
    unsafe { bpf_probe_read_kernel((base + u64::from(off)) as *const T) }
}

/// Counts one record that did not fit in `EVENTS`. Not atomic (the BPF target has no portable
/// fetch-add here): concurrent losses may count once, which is enough for "something was lost".
#[inline(always)]
pub fn count_lost() {
    if let Some(p) = LOST.get_ptr_mut(0) {
        // SAFETY: array values are 8-byte aligned and live as long as the map.
        unsafe { p.write_volatile(p.read_volatile().wrapping_add(1)) };
    }
}
