//! `iter/cgroup` program: the memory, CFS-bandwidth and cpuacct counters of every cgroup of one
//! hierarchy, in one read of the iterator instead of one file read per counter per container.
//! It reads the very fields the v1 files print (`memory.usage_in_bytes` is `memcg->memory.usage`,
//! `cpuacct.usage_percpu` is `*per_cpu_ptr(ca->cpuusage, cpu)`, …), so the numbers are the same.
//!
//! Per-CPU counters need `__per_cpu_offset[cpu]`, which kallsyms often hides (data symbols need
//! `CONFIG_KALLSYMS_ALL`). It is found from two pointers the kernel keeps anyway: the root task
//! group's `cfs_rq[cpu]` is `&per_cpu(runqueues, cpu).cfs` (an absolute address per CPU), and the
//! root cpuacct's `cpuusage` is `&root_cpuacct_cpuusage` (a per-CPU "address" before relocation).
//! With both variables' offsets in the `.data..percpu` section (from BTF), the section's base and so
//! every CPU's offset follow. Done once, on the first run, into [`PCPU_OFFSETS`].
//!
//! Minimum kernel: 6.1 (`iter/cgroup`); v1 hierarchies need the cgroup1 support of cgroup iterators.

use agent_common::counters::{
    COUNTERS_MAX_CGROUPS, COUNTERS_MAX_CPUS, CPUSTAT_READ, CounterOffsets, CounterRecord, HAS_CFS,
    HAS_CPUACCT, HAS_MEMORY, NO_SUBSYS,
};
use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, seq_file},
    helpers::{bpf_get_current_task, bpf_seq_write},
    macros::map,
    maps::Array,
};

use crate::kernel::read;

/// CPU → `__per_cpu_offset[cpu]`; the last entry is 1 once the others are set.
#[map]
static PCPU_OFFSETS: Array<u64> = Array::with_max_entries(COUNTERS_MAX_CPUS + 1, 0);

/// The `i`-th cgroup of a run → its counters; mapped into the agent's memory.
#[map]
static COUNTER_RECORDS: Array<CounterRecord> =
    Array::with_max_entries(COUNTERS_MAX_CGROUPS, BPF_F_MMAPABLE);

/// `i * ncpus + cpu` → per-CPU usage of the `i`-th cgroup; mapped too. Sized by the loader.
#[map]
static COUNTER_PERCPU: Array<u64> = Array::with_max_entries(COUNTERS_MAX_CGROUPS, BPF_F_MMAPABLE);

/// Cgroups visited in the current run: `[0]`, written out and reset by the run's last call.
#[map]
static COUNTER_VISITED: Array<u64> = Array::with_max_entries(1, 0);

/// Set by the loader before load; read-only data, so the verifier sees constants.
#[unsafe(no_mangle)]
static COUNTER_OFFSETS: CounterOffsets = CounterOffsets {
    valid: 0,
    ncpus: 0,
    cgroup_subsys: 0,
    cgroup_kn: 0,
    kernfs_node_id: 0,
    memory_id: 0,
    cpu_id: 0,
    cpuacct_id: 0,
    memcg_css: 0,
    memcg_memory: 0,
    memcg_kmem: 0,
    pc_usage: 0,
    pc_watermark: 0,
    pc_failcnt: 0,
    tg_css: 0,
    tg_parent: 0,
    tg_cfs_rq: 0,
    tg_cfs_bandwidth: 0,
    cfsb_nr_periods: 0,
    cfsb_nr_throttled: 0,
    cfsb_throttled_time: 0,
    cfsb_nr_burst: 0,
    cfsb_burst_time: 0,
    ca_css: 0,
    ca_cpuusage: 0,
    ca_cpustat: 0,
    cpustat: 0,
    cpustat_user: 0,
    cpustat_nice: 0,
    cpustat_system: 0,
    cpustat_irq: 0,
    cpustat_softirq: 0,
    cgroup_prev_utime: 0,
    cgroup_prev_stime: 0,
    task_sched_task_group: 0,
    task_cgroups: 0,
    css_set_subsys: 0,
    css_parent: 0,
    rq_cfs: 0,
    pcpu_runqueues: 0,
    pcpu_root_cpuacct_cpuusage: 0,
};

/// Deepest cgroup / task-group nesting walked up to the root.
const MAX_DEPTH: u32 = 64;

#[unsafe(no_mangle)]
#[unsafe(link_section = "iter/cgroup")]
pub fn cgroup_counters(ctx: *mut core::ffi::c_void) -> i32 {
    // SAFETY: an `iter/cgroup` context is `struct bpf_iter__cgroup { meta; cgroup; }` and
    // `bpf_iter_meta` is `{ seq; session_id; seq_num; }`: loads at constant offsets the verifier
    // types (`meta->seq` is the `seq_file` the helper needs). The cgroup is read as a plain number
    // through the helper.
    let (seq, session, seq_num) = unsafe {
        let meta = *(ctx as *const *const u64);
        (*meta as *mut seq_file, *meta.add(1), *meta.add(2))
    };
    let _ = one(ctx as u64, seq, session, seq_num);
    0
}

#[inline(always)]
fn one(ctx: u64, seq: *mut seq_file, session: u64, seq_num: u64) -> Result<(), i32> {
    // SAFETY: reading our own static; volatile so the compiler does not fold the zero initialiser.
    let o = unsafe { core::ptr::read_volatile(&COUNTER_OFFSETS) };
    if o.valid == 0 {
        return Ok(());
    }
    let visited = COUNTER_VISITED.get_ptr_mut(0).ok_or(-1)?;
    let cg: u64 = read(ctx, 8)?;
    if cg == 0 {
        // The run's last call: tell how many cgroups there were, and which run this was.
        // SAFETY: our array's value, valid while the program runs; `seq` typed by the verifier.
        unsafe {
            let out = [core::ptr::replace(visited, 0), session];
            bpf_seq_write(seq, (&raw const out).cast(), 16);
        }
        return Ok(());
    }
    // SAFETY: as above.
    unsafe { *visited = seq_num + 1 };
    let i = seq_num as u32;
    // Past the array's end: that cgroup keeps its file reads.
    let rec = COUNTER_RECORDS.get_ptr_mut(i).ok_or(-1)?;
    // SAFETY: our array's value, valid while the program runs; every field is written below.
    let rec = unsafe { &mut *rec };
    *rec = CounterRecord {
        session,
        ..CounterRecord::default()
    };
    let kn: u64 = read(cg, o.cgroup_kn)?;
    rec.id = read(kn, o.kernfs_node_id)?;
    if let Some(css) = subsys(cg, &o, o.memory_id) {
        let memcg = css - u64::from(o.memcg_css);
        let pc = memcg + u64::from(o.memcg_memory);
        rec.mem_usage = read(pc, o.pc_usage)?;
        rec.mem_watermark = read(pc, o.pc_watermark)?;
        rec.mem_failcnt = read(pc, o.pc_failcnt)?;
        if o.memcg_kmem != NO_SUBSYS {
            rec.kmem_usage = read(memcg + u64::from(o.memcg_kmem), o.pc_usage)?;
        }
        rec.present |= HAS_MEMORY;
    }
    if let Some(css) = subsys(cg, &o, o.cpu_id) {
        let b = css - u64::from(o.tg_css) + u64::from(o.tg_cfs_bandwidth);
        // `int` counters, printed with %d.
        rec.cfs_periods = read::<i32>(b, o.cfsb_nr_periods)? as u64;
        rec.cfs_throttled = read::<i32>(b, o.cfsb_nr_throttled)? as u64;
        rec.cfs_throttled_ns = read(b, o.cfsb_throttled_time)?;
        rec.cfs_bursts = read::<i32>(b, o.cfsb_nr_burst)? as u64;
        rec.cfs_burst_ns = read(b, o.cfsb_burst_time)?;
        rec.present |= HAS_CFS;
    }
    if o.ncpus > 0
        && let Some(css) = subsys(cg, &o, o.cpuacct_id)
        && pcpu_ready(&o)
    {
        let ca = css - u64::from(o.ca_css);
        let usage: u64 = read(ca, o.ca_cpuusage)?;
        let stat: u64 = read(ca, o.ca_cpustat)?;
        let (mut user, mut system) = (0u64, 0u64);
        let first = i * o.ncpus;
        for cpu in 0..COUNTERS_MAX_CPUS {
            if cpu >= o.ncpus {
                break;
            }
            let off = *PCPU_OFFSETS.get(cpu).ok_or(-1)?;
            // One read of the first entries rather than five.
            let t: [u64; CPUSTAT_READ as usize] = read(stat + off, o.cpustat)?;
            let at = |i: u32| t.get(i as usize).copied().unwrap_or(0);
            user += at(o.cpustat_user) + at(o.cpustat_nice);
            system += at(o.cpustat_system) + at(o.cpustat_irq) + at(o.cpustat_softirq);
            let slot = COUNTER_PERCPU.get_ptr_mut(first + cpu).ok_or(-1)?;
            // SAFETY: our array's value, valid while the program runs.
            unsafe { *slot = read(usage + off, 0)? };
        }
        rec.cpu_user_ns = user;
        rec.cpu_system_ns = system;
        rec.prev_user_ns = read(cg, o.cgroup_prev_utime)?;
        rec.prev_system_ns = read(cg, o.cgroup_prev_stime)?;
        rec.ncpus = o.ncpus;
        rec.present |= HAS_CPUACCT;
    }
    Ok(())
}

/// `cgrp->subsys[id]`, when the subsystem is in the kernel and bound to this hierarchy.
#[inline(always)]
fn subsys(cg: u64, o: &CounterOffsets, id: u32) -> Option<u64> {
    if id == NO_SUBSYS {
        return None;
    }
    let css: u64 = read(cg, o.cgroup_subsys + id * 8).ok()?;
    (css != 0).then_some(css)
}

/// Whether [`PCPU_OFFSETS`] is filled; fills it on first use.
#[inline(always)]
fn pcpu_ready(o: &CounterOffsets) -> bool {
    if PCPU_OFFSETS.get(COUNTERS_MAX_CPUS).is_some_and(|r| *r == 1) {
        return true;
    }
    fill_pcpu_offsets(o).is_ok()
}

#[inline(always)]
fn fill_pcpu_offsets(o: &CounterOffsets) -> Result<(), i32> {
    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() } as u64;
    // The root task group: walk `parent` up from the current task's group.
    let mut tg: u64 = read(task, o.task_sched_task_group)?;
    for _ in 0..MAX_DEPTH {
        let parent: u64 = read(tg, o.tg_parent)?;
        if parent == 0 {
            break;
        }
        tg = parent;
    }
    // The root cpuacct: walk `css.parent` up from the current task's cpuacct css.
    let cset: u64 = read(task, o.task_cgroups)?;
    let mut css: u64 = read(cset, o.css_set_subsys + o.cpuacct_id * 8)?;
    for _ in 0..MAX_DEPTH {
        let parent: u64 = read(css, o.css_parent)?;
        if parent == 0 {
            break;
        }
        css = parent;
    }
    let root_usage: u64 = read(css - u64::from(o.ca_css), o.ca_cpuusage)?;
    // Where `runqueues` is before relocation, from where `root_cpuacct_cpuusage` is.
    let runqueues =
        root_usage - u64::from(o.pcpu_root_cpuacct_cpuusage) + u64::from(o.pcpu_runqueues);
    let cfs_rqs: u64 = read(tg, o.tg_cfs_rq)?;
    for cpu in 0..COUNTERS_MAX_CPUS {
        if cpu >= o.ncpus {
            break;
        }
        let cfs_rq: u64 = read(cfs_rqs, cpu * 8)?;
        let off = cfs_rq - u64::from(o.rq_cfs) - runqueues;
        if let Some(slot) = PCPU_OFFSETS.get_ptr_mut(cpu) {
            // SAFETY: a value of our array, valid while the program runs.
            unsafe { *slot = off };
        }
    }
    if let Some(ready) = PCPU_OFFSETS.get_ptr_mut(COUNTERS_MAX_CPUS) {
        // SAFETY: as above.
        unsafe { *ready = 1 };
    }
    Ok(())
}
