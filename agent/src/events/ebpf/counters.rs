//! Loads the `iter/cgroup` program of `agent-ebpf/src/counters.rs` once per v1 hierarchy it serves
//! (memory, cpu, cpuacct) and reads each iterator once per housekeeping pass into a
//! [`CounterSnapshot`]: one read for all containers instead of seven file reads per container.
//!
//! Only on v1/hybrid hosts: the same fields as the v1 files, so the numbers are the files' numbers
//! (`cgroup_counters_match_the_files` in `agent/tests/ebpf_counters.rs`). On v2 the files stay:
//! `cpu.stat` there is flushed from per-CPU state by the read itself (rstat), which a plain
//! iterator program cannot do. Any failure leaves the files as the source, logged once.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use agent_common::counters::{
    COUNTER_OFFSETS_GLOBAL, COUNTERS_MAX_CGROUPS, COUNTERS_MAX_CPUS, CPUSTAT_READ, CounterOffsets,
    CounterRecord, NO_SUBSYS, PERCPU_MAP, RECORDS_MAP,
};
use aya::{Ebpf, EbpfLoader, maps::Map, programs::Iter};

use super::{OBJECT, btf::Btf, btf::BtfError};
use crate::cgroup::counters::{CounterSnapshot, Subsystem};
use crate::cgroup::{CgroupMode, Layout};
use crate::host::HostPaths;

const PROGRAM: &str = "cgroup_counters";

/// `bpf(2)` commands and constants of the uapi (`linux/bpf.h`) that aya does not expose.
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_TRACE_ITER: u32 = 28;
const BPF_CGROUP_ITER_DESCENDANTS_PRE: u32 = 2;

/// One v1 hierarchy's iterator.
struct HierarchyIter {
    /// What the hierarchy's records are read for (one hierarchy may serve cpu and cpuacct).
    subsystems: Vec<Subsystem>,
    link: OwnedFd,
}

/// A memory-mapped array map, unmapped on drop.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is owned by this value and only read through `&self`.
unsafe impl Send for Mapped {}

impl Mapped {
    fn new(map: &Map, bytes: usize) -> Result<Self, String> {
        let data = match map {
            Map::Array(d) => d,
            _ => return Err("counter map is not an array".into()),
        };
        let len = bytes.div_ceil(4096) * 4096;
        // SAFETY: a shared read-only mapping of an mmapable BPF array of at least `bytes` bytes.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                data.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(Self { ptr, len })
    }

    /// The first `n` elements. The program writes them only while the iterator is read, which
    /// this thread does itself, so nothing changes under the slice.
    fn slice<T>(&self, n: usize) -> &[T] {
        let n = n.min(self.len / size_of::<T>());
        // SAFETY: inside the mapping, which is page-aligned (so aligned for `T`), and `T` is a
        // plain integer type or `CounterRecord` (any bit pattern valid).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), n) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// The loaded program and one iterator link per hierarchy.
pub struct CounterSource {
    iters: Vec<HierarchyIter>,
    records: Mapped,
    percpu: Mapped,
    ncpus: usize,
    max_cgroups: usize,
    buf: Vec<u8>,
    _ebpf: Ebpf,
}

impl std::fmt::Debug for CounterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterSource")
            .field("hierarchies", &self.iters.len())
            .finish()
    }
}

impl CounterSource {
    /// Runs every iterator into `snap`. A failed run leaves that subsystem to the files.
    pub fn read(&mut self, snap: &mut CounterSnapshot) {
        for it in &self.iters {
            let run = read_iter(&it.link, &mut self.buf);
            for s in &it.subsystems {
                match &run {
                    Ok((n, session)) => {
                        let n = (*n).min(self.max_cgroups);
                        let records: &[CounterRecord] = self.records.slice(n);
                        let percpu: &[u64] = self.percpu.slice(n * self.ncpus);
                        // A decoding error leaves the table empty: those containers read files.
                        let _ = snap.fill(*s, records, percpu, self.ncpus, *session);
                    }
                    Err(_) => snap.clear(*s),
                }
            }
        }
    }

    pub fn subsystems(&self) -> Vec<Subsystem> {
        self.iters
            .iter()
            .flat_map(|i| i.subsystems.iter().copied())
            .collect()
    }
}

/// Creates an iterator instance of `link` and runs it; the number of cgroups it visited and the
/// run's session id (what its records carry).
fn read_iter(link: &OwnedFd, buf: &mut Vec<u8>) -> std::io::Result<(usize, u64)> {
    let mut attr = [0u64; 16];
    attr[0] = link.as_raw_fd() as u64;
    // SAFETY: BPF_ITER_CREATE reads `link_fd` and `flags` (zero) from `attr`, which outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_ITER_CREATE,
            attr.as_ptr(),
            size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor the kernel just returned, owned by nobody else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    buf.clear();
    file.read_to_end(buf)?;
    let word = |at: usize| {
        buf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| std::io::Error::other("the iterator wrote no count and session"))
    };
    Ok((word(0)? as usize, word(8)?))
}

/// Creates an iterator link of `prog` over the cgroup hierarchy whose root is `root`.
fn link_hierarchy(prog: &Iter, root: &Path) -> Result<OwnedFd, String> {
    let dir = std::fs::File::open(root).map_err(|e| format!("open {}: {e}", root.display()))?;
    // union bpf_iter_link_info, cgroup member: order, cgroup_fd, cgroup_id.
    let mut info = [0u32; 4];
    info[0] = BPF_CGROUP_ITER_DESCENDANTS_PRE;
    info[1] = dir.as_raw_fd() as u32;
    let prog_fd = prog.fd().map_err(|e| format!("program fd: {e}"))?;
    // link_create: prog_fd, target_fd, attach_type, flags, then iter_info (u64), iter_info_len.
    let mut attr = [0u32; 32];
    attr[0] = prog_fd.as_fd().as_raw_fd() as u32;
    attr[2] = BPF_TRACE_ITER;
    let ptr = info.as_ptr() as u64;
    attr[4] = ptr as u32;
    attr[5] = (ptr >> 32) as u32;
    attr[6] = size_of_val(&info) as u32;
    // SAFETY: BPF_LINK_CREATE reads `attr` and the `info` it points to, both outliving the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_CREATE,
            attr.as_ptr(),
            size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(format!(
            "attach to {}: {}",
            root.display(),
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as in `read_iter`.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The kernel offsets the program reads, from BTF.
fn offsets(btf: &Btf, ncpus: u32) -> Result<CounterOffsets, BtfError> {
    let id = |name| {
        btf.enum_value("cgroup_subsys_id", name)
            .map_or(NO_SUBSYS, |v| v as u32)
    };
    let stat = |name: &'static str| -> Result<u32, BtfError> {
        let i = btf.enum_value("cpu_usage_stat", name)?;
        u32::try_from(i)
            .ok()
            .filter(|i| *i < CPUSTAT_READ)
            .ok_or(BtfError::MissingMember {
                ty: "cpu_usage_stat (within the entries read)",
                member: name,
            })
    };
    Ok(CounterOffsets {
        valid: 1,
        ncpus,
        cgroup_subsys: btf.member_offset("cgroup", "subsys")?,
        cgroup_kn: btf.member_offset("cgroup", "kn")?,
        kernfs_node_id: btf.member_offset("kernfs_node", "id")?,
        memory_id: id("memory_cgrp_id"),
        cpu_id: id("cpu_cgrp_id"),
        cpuacct_id: id("cpuacct_cgrp_id"),
        memcg_css: btf.member_offset("mem_cgroup", "css")?,
        memcg_memory: btf.member_offset("mem_cgroup", "memory")?,
        memcg_kmem: btf.member_offset("mem_cgroup", "kmem").unwrap_or(NO_SUBSYS),
        pc_usage: btf.member_offset("page_counter", "usage")?,
        pc_watermark: btf.member_offset("page_counter", "watermark")?,
        pc_failcnt: btf.member_offset("page_counter", "failcnt")?,
        tg_css: btf.member_offset("task_group", "css")?,
        tg_parent: btf.member_offset("task_group", "parent")?,
        tg_cfs_rq: btf.member_offset("task_group", "cfs_rq")?,
        tg_cfs_bandwidth: btf.member_offset("task_group", "cfs_bandwidth")?,
        cfsb_nr_periods: btf.member_offset("cfs_bandwidth", "nr_periods")?,
        cfsb_nr_throttled: btf.member_offset("cfs_bandwidth", "nr_throttled")?,
        cfsb_throttled_time: btf.member_offset("cfs_bandwidth", "throttled_time")?,
        cfsb_nr_burst: btf.member_offset("cfs_bandwidth", "nr_burst")?,
        cfsb_burst_time: btf.member_offset("cfs_bandwidth", "burst_time")?,
        ca_css: btf.member_offset("cpuacct", "css")?,
        ca_cpuusage: btf.member_offset("cpuacct", "cpuusage")?,
        ca_cpustat: btf.member_offset("cpuacct", "cpustat")?,
        cpustat: btf.member_offset("kernel_cpustat", "cpustat")?,
        cpustat_user: stat("CPUTIME_USER")?,
        cpustat_nice: stat("CPUTIME_NICE")?,
        cpustat_system: stat("CPUTIME_SYSTEM")?,
        cpustat_irq: stat("CPUTIME_IRQ")?,
        cpustat_softirq: stat("CPUTIME_SOFTIRQ")?,
        cgroup_prev_utime: btf.member_offset("cgroup", "prev_cputime")?
            + btf.member_offset("prev_cputime", "utime")?,
        cgroup_prev_stime: btf.member_offset("cgroup", "prev_cputime")?
            + btf.member_offset("prev_cputime", "stime")?,
        task_sched_task_group: btf.member_offset("task_struct", "sched_task_group")?,
        task_cgroups: btf.member_offset("task_struct", "cgroups")?,
        css_set_subsys: btf.member_offset("css_set", "subsys")?,
        css_parent: btf.member_offset("cgroup_subsys_state", "parent")?,
        rq_cfs: btf.member_offset("rq", "cfs")?,
        pcpu_runqueues: btf.percpu_var_offset("runqueues")?,
        pcpu_root_cpuacct_cpuusage: btf.percpu_var_offset("root_cpuacct_cpuusage")?,
    })
}

static PUBLISHED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes where the v1 counters come from readable by `/validate/` (the first call wins).
pub fn publish(source: String) {
    let _ = PUBLISHED.set(source);
}

/// What [`publish`] was given; `None` before start-up decided.
pub fn published() -> Option<&'static str> {
    PUBLISHED.get().map(String::as_str)
}

/// Possible CPUs when they are `0-(n-1)` (the program indexes CPUs densely), else 0.
fn possible_cpus(sys: &Path) -> u32 {
    let Ok(text) = std::fs::read_to_string(sys.join("devices/system/cpu/possible")) else {
        return 0;
    };
    let text = text.trim();
    let last = match text.split_once('-') {
        Some(("0", last)) => last.parse::<u32>().ok(),
        None if text == "0" => Some(0),
        _ => None,
    };
    // More than the program covers: summing a part would be wrong, so cpuacct stays with the files.
    last.map(|l| l + 1)
        .filter(|n| *n <= COUNTERS_MAX_CPUS)
        .unwrap_or(0)
}

/// Loads the program and links it to the v1 memory, cpu and cpuacct hierarchies. `Err` says why
/// the files stay the source.
pub fn start(host: &HostPaths, layout: &Layout) -> Result<CounterSource, String> {
    if !super::EMBEDDED {
        return Err(super::EbpfError::NotEmbedded.to_string());
    }
    if layout.mode() == CgroupMode::V2 {
        return Err("cgroup v2: the files are read (cpu.stat is flushed by its read)".into());
    }
    let btf_path = host.sys.join("kernel/btf/vmlinux");
    let kernel = Btf::read(&btf_path).map_err(|e| format!("kernel BTF unusable: {e}"))?;
    let ncpus = possible_cpus(&host.sys);
    let offs = offsets(&kernel, ncpus).map_err(|e| format!("kernel BTF: {e}"))?;
    drop(kernel);
    let aya_btf = aya::Btf::parse_file(&btf_path, aya::Endianness::default())
        .map_err(|e| format!("load kernel BTF for aya: {e}"))?;
    let max_cgroups = COUNTERS_MAX_CGROUPS as usize;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&aya_btf))
        .map_max_entries(agent_common::EVENTS_MAP, 4096)
        .map_max_entries(PERCPU_MAP, COUNTERS_MAX_CGROUPS * ncpus.max(1))
        .override_global(COUNTER_OFFSETS_GLOBAL, &offs, true)
        .load(OBJECT)
        .map_err(|e| format!("load the eBPF object (needs root or CAP_BPF+CAP_PERFMON): {e}"))?;
    let prog: &mut Iter = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| format!("eBPF object has no program {PROGRAM}"))?
        .try_into()
        .map_err(|e| format!("{PROGRAM}: {e}"))?;
    prog.load("cgroup", &aya_btf)
        .map_err(|e| format!("load {PROGRAM}: {e:#}"))?;
    let mut wanted: Vec<(PathBuf, Vec<Subsystem>)> = Vec::new();
    for subsystem in Subsystem::ALL {
        if subsystem == Subsystem::Cpuacct && ncpus == 0 {
            continue;
        }
        let Some(dir) = layout.v1_dir(subsystem.controller()) else {
            continue;
        };
        // `cpu,cpuacct` mounted together: one hierarchy, one iterator.
        let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        match wanted.iter_mut().find(|(r, _)| *r == root) {
            Some((_, subs)) => subs.push(subsystem),
            None => wanted.push((root, vec![subsystem])),
        }
    }
    let mut iters = Vec::new();
    for (root, subsystems) in wanted {
        let link = link_hierarchy(prog, &root)?;
        iters.push(HierarchyIter { subsystems, link });
    }
    if iters.is_empty() {
        return Err("no v1 memory, cpu or cpuacct hierarchy mounted".into());
    }
    let map = |name: &str| {
        ebpf.map(name)
            .ok_or(format!("eBPF object has no map {name}"))
    };
    let records = Mapped::new(map(RECORDS_MAP)?, max_cgroups * size_of::<CounterRecord>())
        .map_err(|e| format!("{RECORDS_MAP}: {e}"))?;
    let percpu = Mapped::new(map(PERCPU_MAP)?, max_cgroups * ncpus.max(1) as usize * 8)
        .map_err(|e| format!("{PERCPU_MAP}: {e}"))?;
    let mut source = CounterSource {
        iters,
        records,
        percpu,
        ncpus: ncpus as usize,
        max_cgroups,
        buf: Vec::new(),
        _ebpf: ebpf,
    };
    // One run now: a kernel that loads the program but cannot run it fails here, not mid-pass.
    for it in &source.iters {
        read_iter(&it.link, &mut source.buf)
            .map_err(|e| format!("run the cgroup iterator: {e}"))?;
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possible_cpus_must_be_a_dense_range() {
        let dir = tempfile::tempdir().expect("test value");
        let cpu = dir.path().join("devices/system/cpu");
        std::fs::create_dir_all(&cpu).expect("test value");
        for (text, want) in [
            ("0-7\n", 8),
            ("0\n", 1),
            ("0,2-3\n", 0),
            ("1-3", 0),
            ("0-9999", 0),
            ("0-255", 256),
        ] {
            std::fs::write(cpu.join("possible"), text).expect("test value");
            assert_eq!(possible_cpus(dir.path()), want, "{text:?}");
        }
    }

    #[test]
    fn the_running_kernel_has_every_offset() {
        let Some(btf) = super::super::tests::running_kernel_btf() else {
            return;
        };
        let o = offsets(&btf, 2).expect("offsets found");
        assert_eq!(o.valid, 1);
        assert_ne!(o.cpuacct_id, NO_SUBSYS);
        assert!(o.pcpu_runqueues != o.pcpu_root_cpuacct_cpuusage, "{o:?}");
    }
}
