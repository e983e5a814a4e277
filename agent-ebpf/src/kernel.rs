//! What every program shares: the output ring buffer, the per-CPU error counters, the BTF-derived
//! field offsets, and reads of kernel memory at those offsets.

use agent_common::{
    ERROR_KINDS, ERROR_READ_FAILED, ERROR_RING_FULL, ERROR_SLOTS, EVENTS_BYTES, Offsets,
};
use aya_ebpf::{
    EbpfContext,
    helpers::bpf_probe_read_kernel,
    macros::map,
    maps::{PerCpuArray, RingBuf},
};

/// All records, read by the loader. Its size may be changed by the loader before load.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

/// What the programs could not do, per (program, error) slot (see `agent_common::ERRORS_MAP`).
/// Per CPU, so counting needs no atomics and never contends; the loader sums the CPUs.
#[map]
pub static ERRORS: PerCpuArray<u64> = PerCpuArray::with_max_entries(ERROR_SLOTS, 0);

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

/// Counts one `error` of `program` on this CPU; returns the CPU's new count (0 if the slot is
/// missing). Programs on one CPU do not interleave, so a plain add is exact.
#[inline(always)]
fn count(program: u32, error: u32) -> u64 {
    let Some(p) = ERRORS.get_ptr_mut(program * ERROR_KINDS + error) else {
        return 0;
    };
    // SAFETY: per-CPU array values are 8-byte aligned, live as long as the map and are only
    // touched by this CPU.
    unsafe {
        let n = p.read_volatile().wrapping_add(1);
        p.write_volatile(n);
        n
    }
}

/// Whether the `n`th occurrence is logged: the 1st, 2nd, 4th, 8th, ... per CPU, so a storm of
/// failures writes a few lines (the counters have the exact numbers).
#[inline(always)]
fn log_this(n: u64) -> bool {
    n != 0 && n & (n - 1) == 0
}

/// A record of `program` did not fit in `EVENTS`: counted (the loader rescans when the count
/// moves) and logged at debug level, sparsely.
#[inline(always)]
pub fn ring_full(ctx: &impl EbpfContext, program: u32) {
    let n = count(program, ERROR_RING_FULL);
    if log_this(n) {
        aya_log_ebpf::debug!(
            ctx,
            "ring buffer full: record of program {} lost ({} on this CPU)",
            program,
            n
        );
    }
}

/// A kernel read of `program` failed (the kernel's layout is not what the offsets say): counted
/// and logged as a warning, sparsely.
#[inline(always)]
pub fn read_failed(ctx: &impl EbpfContext, program: u32, err: i32) {
    let n = count(program, ERROR_READ_FAILED);
    if log_this(n) {
        aya_log_ebpf::warn!(
            ctx,
            "kernel read failed in program {}: error {} ({} on this CPU)",
            program,
            err,
            n
        );
    }
}
