//! One container's reader: opens its controllers' files once and turns them into the model's
//! `ContainerStats` each tick and `ContainerSpec` on demand. On v1 and hybrid hosts the v1
//! controllers are the source (as in cAdvisor); the unified hierarchy of a hybrid host only adds PSI.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::blkio::Blkio;
use super::counters::{CounterSnapshot, Prefetched};
use super::cpu::Cpu;
use super::error::CgroupError;
use super::files::{Buf, CgroupFile, read_once};
use super::hugetlb::{Hugetlb, page_sizes};
use super::layout::{CgroupMode, Layout};
use super::memory::Memory;
use super::parse::{
    ParseError, parse_cpu_max, parse_i64, parse_u64, parse_u64_or_max, weight_to_shares,
};
use super::pids::Pids;
use super::procs::{NetKinds, Procs};
use super::psi::Pressure;
use super::referenced::Referenced;
use super::taskstats::LoadReader;
use crate::config::{MetricKind, MetricKinds};
use crate::host::HostPaths;
use crate::model::json::Timestamp;
use crate::model::v1::{
    ContainerSpec, ContainerStats, CpuSpec, CpuStats, DiskIoStats, MemorySpec, MemoryStats,
    ProcessSpec, ProcessStats,
};

/// The directories of one container, per controller; `None` where the container has none.
#[derive(Debug, Default, Clone)]
struct Dirs {
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    cpuset: Option<PathBuf>,
    memory: Option<PathBuf>,
    blkio: Option<PathBuf>,
    pids: Option<PathBuf>,
    hugetlb: Option<PathBuf>,
    unified: Option<PathBuf>,
}

impl Dirs {
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [
            &self.cpu,
            &self.cpuacct,
            &self.cpuset,
            &self.memory,
            &self.blkio,
            &self.pids,
            &self.hugetlb,
            &self.unified,
        ]
        .into_iter()
        .flatten()
    }
}

/// The parts of a container's spec a runtime settles after making the cgroup: the limits it writes
/// (and `docker update` or an in-place pod resize changes later), and whether the container has a
/// network namespace of its own (its first process joins it after entering the cgroup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LateSpec {
    pub cpu: CpuSpec,
    pub memory: MemorySpec,
    pub processes: ProcessSpec,
    pub has_network: bool,
}

impl LateSpec {
    pub fn of(spec: &ContainerSpec) -> Self {
        Self {
            cpu: spec.cpu.clone(),
            memory: spec.memory.clone(),
            processes: spec.processes.clone(),
            has_network: spec.has_network,
        }
    }

    /// `spec` with these values.
    pub fn apply_to(self, spec: &mut ContainerSpec) {
        spec.cpu = self.cpu;
        spec.memory = self.memory;
        spec.processes = self.processes;
        spec.has_network = self.has_network;
    }
}

#[derive(Debug)]
pub struct ContainerReader {
    name: String,
    v2: bool,
    dirs: Dirs,
    /// The unified hierarchy's root on a v2 host: its `cpuset.cpus.effective` stands for the
    /// machine's CPUs when the container's own is missing (see `cpu_mask_fallback`).
    v2_root: Option<PathBuf>,
    proc_root: PathBuf,
    buf: Buf,
    cpu: Option<Cpu>,
    memory: Option<Memory>,
    blkio: Option<Blkio>,
    pids: Option<Pids>,
    hugetlb: Option<Hugetlb>,
    pressure: Option<Pressure>,
    memory_migrate: Option<CgroupFile>,
    procs: Option<Procs>,
    /// Taskstats of the v1 `cpu` directory, made on the first sample with `--enable_load_reader`.
    load: Option<LoadReader>,
    referenced: Referenced,
    /// The runtime's pid for this container (e.g. docker's init pid), else the first member.
    pid: Option<u32>,
    /// Set for the root container only: it reports the host's filesystems, as cAdvisor does.
    fs_host: Option<HostPaths>,
    /// Inodes of the v1 memory, cpu and cpuacct directories: the keys of a pass's
    /// [`CounterSnapshot`]. `None` for the root (its `memory.usage_in_bytes` is computed, not a
    /// counter) and on v2.
    counter_ids: [Option<u64>; 3],
}

impl ContainerReader {
    pub fn new(layout: &Layout, host: &HostPaths, name: &str) -> Result<Self, CgroupError> {
        let v2 = layout.mode() == CgroupMode::V2;
        let mut dirs = Self::wanted_dirs(layout, name)?;
        for d in [
            &mut dirs.cpu,
            &mut dirs.cpuacct,
            &mut dirs.cpuset,
            &mut dirs.memory,
            &mut dirs.blkio,
            &mut dirs.pids,
            &mut dirs.hugetlb,
            &mut dirs.unified,
        ] {
            *d = d.take().filter(|d| d.is_dir());
        }
        let gone = || CgroupError::Gone {
            name: name.to_string(),
            path: layout
                .unified_dir()
                .unwrap_or(&host.cgroup)
                .join(name.trim_start_matches('/')),
        };
        if dirs.all().next().is_none() {
            return Err(gone());
        }
        let sizes = page_sizes(&host.sys);
        let mut r = Self {
            name: name.to_string(),
            v2,
            v2_root: layout.unified_dir().filter(|_| v2).map(Path::to_path_buf),
            proc_root: host.proc.clone(),
            buf: Buf::default(),
            cpu: None,
            memory: None,
            blkio: None,
            pids: None,
            hugetlb: None,
            // As cAdvisor: PSI on cgroup v2 hosts only. A hybrid host's unified hierarchy has the
            // files too, but three more kernel-formatted reads per sample (~13 µs) for values
            // cAdvisor reports as 0 there.
            pressure: dirs.unified.as_deref().filter(|_| v2).map(Pressure::v2),
            memory_migrate: None,
            procs: None,
            load: None,
            referenced: Referenced::default(),
            pid: None,
            fs_host: (name == "/").then(|| host.clone()),
            dirs: Dirs::default(),
            counter_ids: [None; 3],
        };
        if let Some(u) = dirs.unified.as_deref().filter(|_| v2) {
            r.cpu = Some(Cpu::v2(u));
            r.memory = Some(Memory::v2(u));
            r.blkio = Some(Blkio::v2(u, &host.sys));
            r.pids = Some(Pids::v2(u));
            r.hugetlb = Some(Hugetlb::v2(u, &sizes));
            r.procs = Some(Procs::new(u, &host.proc));
        } else {
            if dirs.cpu.is_some() || dirs.cpuacct.is_some() {
                r.cpu = Some(Cpu::v1(dirs.cpu.as_deref(), dirs.cpuacct.as_deref()));
            }
            r.memory = dirs
                .memory
                .as_deref()
                .map(Memory::v1)
                .transpose()
                .map_err(|e| named(e, name))?;
            r.blkio = dirs.blkio.as_deref().map(|d| Blkio::v1(d, &host.sys));
            r.pids = dirs.pids.as_deref().map(Pids::v1);
            // A hybrid host may enable hugetlb only in the unified hierarchy.
            r.hugetlb = match (&dirs.hugetlb, &dirs.unified) {
                (Some(d), _) => Some(Hugetlb::v1(d, &sizes)),
                (None, Some(u)) => Some(Hugetlb::v2(u, &sizes)),
                _ => None,
            };
            r.memory_migrate = dirs
                .cpuset
                .as_deref()
                .map(|d| CgroupFile::at(d, "cpuset.memory_migrate"));
            let procs_dir = dirs
                .cpu
                .as_deref()
                .or_else(|| dirs.all().next().map(PathBuf::as_path));
            r.procs = procs_dir.map(|d| Procs::new(d, &host.proc));
        }
        if !v2 && name != "/" {
            use std::os::unix::fs::MetadataExt;
            let ino = |d: &Option<PathBuf>| {
                d.as_ref()
                    .and_then(|d| fs::metadata(d).ok())
                    .map(|m| m.ino())
            };
            r.counter_ids = [ino(&dirs.memory), ino(&dirs.cpu), ino(&dirs.cpuacct)];
        }
        r.dirs = dirs;
        Ok(r)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's directory in every hierarchy a reader reads from, existing or not.
    fn wanted_dirs(layout: &Layout, name: &str) -> Result<Dirs, CgroupError> {
        let at = |mount: Option<&Path>| mount.map(|m| Layout::dir_in(m, name)).transpose();
        let unified = at(layout.unified_dir())?;
        if layout.mode() == CgroupMode::V2 {
            return Ok(Dirs {
                unified,
                ..Dirs::default()
            });
        }
        Ok(Dirs {
            cpu: at(layout.v1_dir("cpu"))?,
            cpuacct: at(layout.v1_dir("cpuacct"))?,
            cpuset: at(layout.v1_dir("cpuset"))?,
            memory: at(layout.v1_dir("memory"))?,
            blkio: at(layout.v1_dir("blkio"))?,
            pids: at(layout.v1_dir("pids"))?,
            hugetlb: at(layout.v1_dir("hugetlb"))?,
            unified,
        })
    }

    /// Directories this reader would read that did not exist when it was built. A runtime creates a
    /// container's directories one hierarchy at a time, and an event for the first can arrive before
    /// the others exist; the registry rebuilds the reader once they appear.
    pub fn missing_dirs(&self, layout: &Layout) -> Vec<PathBuf> {
        let Ok(wanted) = Self::wanted_dirs(layout, &self.name) else {
            return Vec::new();
        };
        let have: Vec<&PathBuf> = self.dirs.all().collect();
        wanted
            .all()
            .filter(|d| !have.contains(d))
            .cloned()
            .collect()
    }

    /// Uses the runtime's pid for network and ulimits instead of the first member of `cgroup.procs`.
    pub fn set_pid(&mut self, pid: Option<u32>) {
        self.pid = pid;
    }

    /// One sample, timestamped now. `cpu` and `memory` are always read; the rest per `kinds`.
    pub fn read_stats(&mut self, kinds: &MetricKinds) -> Result<ContainerStats, CgroupError> {
        self.read_stats_with(kinds, None)
    }

    /// [`Self::read_stats`], taking what `counters` (this pass's iterator run) has for this
    /// container instead of reading those files.
    pub fn read_stats_with(
        &mut self,
        kinds: &MetricKinds,
        counters: Option<&CounterSnapshot>,
    ) -> Result<ContainerStats, CgroupError> {
        let [m, c, a] = self.counter_ids;
        let pre = counters.map_or_else(Prefetched::default, |s| s.prefetched(m, c, a));
        self.read_stats_inner(kinds, pre)
            .map_err(|e| named(e, &self.name))
    }

    fn read_stats_inner(
        &mut self,
        kinds: &MetricKinds,
        pre: Prefetched<'_>,
    ) -> Result<ContainerStats, CgroupError> {
        let mut st = ContainerStats {
            timestamp: Timestamp::now(),
            ..ContainerStats::default()
        };
        let buf = &mut self.buf;
        let mut cpu = CpuStats::default();
        if let Some(c) = &mut self.cpu {
            c.read(
                buf,
                kinds.has(MetricKind::PerCpu),
                &mut cpu,
                pre.cfs,
                pre.cpuacct,
            )?;
        }
        let mut mem = MemoryStats::default();
        if let Some(m) = &mut self.memory {
            m.read(buf, kinds.has(MetricKind::MemoryNuma), &mut mem, pre.memory)?;
        }
        let mut io = DiskIoStats::default();
        if kinds.has(MetricKind::DiskIo)
            && let Some(b) = &mut self.blkio
        {
            b.read(buf, &mut io)?;
        }
        if kinds.has(MetricKind::Pressure)
            && let Some(p) = &mut self.pressure
        {
            [cpu.psi, mem.psi, io.psi] = p.read(buf)?;
        }
        if kinds.has(MetricKind::Hugetlb)
            && let Some(h) = &mut self.hugetlb
        {
            st.hugetlb.set(h.read(buf)?);
        }
        if kinds.has(MetricKind::CpuSet)
            && let Some(f) = &mut self.memory_migrate
        {
            st.cpuset.memory_migrate = f.read(buf, parse_u64)?.unwrap_or(0);
        }
        let net_kinds = NetKinds {
            interfaces: kinds.has(MetricKind::Network),
            tcp: kinds.has(MetricKind::Tcp),
            udp: kinds.has(MetricKind::Udp),
            advanced: kinds.has(MetricKind::AdvTcp),
        };
        let refs = kinds.has(MetricKind::ReferencedMemory);
        let want_procs = kinds.has(MetricKind::Process) || kinds.has(MetricKind::Sched) || refs;
        let want_net = net_kinds.interfaces || net_kinds.tcp || net_kinds.udp || net_kinds.advanced;
        let root = self.name == "/";
        if let Some(p) = &mut self.procs
            && (want_procs || (want_net && self.pid.is_none()))
        {
            let first = p.refresh(buf)?;
            let pid = self.pid.or(first);
            if want_net
                && let Some(pid) = pid
                && (root || p.own_netns(pid))
                && let Some(net) = p.network(buf, pid, net_kinds)
            {
                st.network.set(net);
            }
            if kinds.has(MetricKind::Sched) {
                cpu.schedstat = p.schedstat(buf);
            }
            if refs {
                let reset = kinds.readers().referenced_reset_interval;
                st.referenced_memory = self.referenced.read(buf, &self.proc_root, p.pids(), reset);
            }
            if kinds.has(MetricKind::Process) {
                let mut ps = ProcessStats::default();
                if let Some(pids) = &mut self.pids {
                    pids.read(buf, &mut ps)?;
                }
                p.processes(buf, &mut ps);
                st.processes.set(ps);
            }
        } else if want_net
            && let (Some(p), Some(pid)) = (&mut self.procs, self.pid)
            && (root || p.own_netns(pid))
            && let Some(net) = p.network(buf, pid, net_kinds)
        {
            st.network.set(net);
        }
        // statvfs of a handful of mounts: cheap enough per tick, and no directory walk.
        if kinds.has(MetricKind::Disk)
            && let Some(host) = &self.fs_host
        {
            let fs = crate::fs::filesystems(host);
            st.filesystem
                .set(fs.iter().map(crate::fs::FsUsage::to_fs_stats).collect());
        }
        // cAdvisor fills these whenever the load reader runs, whatever the kinds; a failed request
        // leaves zeros, as there (logged, rate-limited).
        if let (true, Some(dir)) = (kinds.readers().load_reader, &self.dirs.cpu) {
            let interval = kinds.readers().housekeeping_interval;
            let load = self
                .load
                .get_or_insert_with(|| LoadReader::new(dir, interval));
            match load.read() {
                Ok((tasks, avg, avg_d)) => {
                    st.task_stats.set(tasks);
                    (cpu.load_average, cpu.load_d_average) = (avg, avg_d);
                }
                Err(e) => e.log(),
            }
        }
        st.cpu = cpu;
        st.memory = mem;
        st.diskio.set(io);
        Ok(st)
    }

    /// The container's limits and capabilities; a memory limit of 0 (no `memory.max` on a v2 root)
    /// becomes `machine_memory`, as cAdvisor reports it.
    pub fn read_spec(&mut self, machine_memory: u64) -> Result<ContainerSpec, CgroupError> {
        self.read_spec_inner(machine_memory)
            .map_err(|e| named(e, &self.name))
    }

    /// The [`LateSpec`] part of the spec only.
    pub fn read_late_spec(&mut self, machine_memory: u64) -> Result<LateSpec, CgroupError> {
        let mut spec = ContainerSpec::default();
        self.read_limits_into(&mut spec, machine_memory)?;
        spec.has_network = self.has_network()?;
        Ok(LateSpec::of(&spec))
    }

    /// The `has_*` flags and limits of the hierarchies this reader has.
    fn read_limits_into(
        &mut self,
        spec: &mut ContainerSpec,
        machine_memory: u64,
    ) -> Result<(), CgroupError> {
        let buf = &mut self.buf;
        let d = &self.dirs;
        let rd = |buf: &mut Buf, dir: &Path, f: &str, p: fn(&str) -> Result<u64, ParseError>| {
            read_once(dir.join(f), buf, p).map(Option::unwrap_or_default)
        };
        if self.v2 {
            let Some(u) = d.unified.as_deref() else {
                return Ok(());
            };
            spec.has_cpu = true;
            spec.cpu.limit = weight_to_shares(rd(buf, u, "cpu.weight", parse_u64)?);
            if let Some((quota, period)) = read_once(u.join("cpu.max"), buf, parse_cpu_max)? {
                spec.cpu.quota = quota.unwrap_or(0);
                spec.cpu.period = period;
            }
            spec.cpu.mask = read_once(u.join("cpuset.cpus.effective"), buf, |t| {
                Ok(t.trim().to_string())
            })?
            .unwrap_or_default();
            if spec.cpu.mask.is_empty()
                && let Some(root) = self.v2_root.as_deref()
            {
                spec.cpu.mask = cpu_mask_fallback(root, buf)?;
            }
            spec.has_memory = true;
            spec.memory.limit = rd(buf, u, "memory.max", parse_u64_or_max)?;
            spec.memory.reservation = rd(buf, u, "memory.min", parse_u64_or_max)?;
            spec.memory.swap_limit = rd(buf, u, "memory.swap.max", parse_u64_or_max)?;
            spec.has_processes = u.join("pids.max").exists();
            spec.processes.limit = rd(buf, u, "pids.max", parse_u64_or_max)?;
            spec.has_hugetlb = self.hugetlb.is_some() && has_file_prefix(u, "hugetlb.");
            spec.has_diskio = true;
        } else {
            if let Some(c) = d.cpu.as_deref() {
                spec.has_cpu = true;
                spec.cpu.limit = rd(buf, c, "cpu.shares", parse_u64)?;
                spec.cpu.period = rd(buf, c, "cpu.cfs_period_us", parse_u64)?;
                let quota = read_once(c.join("cpu.cfs_quota_us"), buf, parse_i64)?.unwrap_or(-1);
                spec.cpu.quota = u64::try_from(quota).unwrap_or(0);
            }
            if let Some(c) = d.cpuset.as_deref() {
                spec.cpu.mask =
                    read_once(c.join("cpuset.cpus"), buf, |t| Ok(t.trim().to_string()))?
                        .unwrap_or_default();
            }
            if let Some(m) = d.memory.as_deref() {
                spec.has_memory = true;
                spec.memory.limit = rd(buf, m, "memory.limit_in_bytes", parse_u64)?;
                spec.memory.reservation = rd(buf, m, "memory.soft_limit_in_bytes", parse_u64)?;
                spec.memory.swap_limit = rd(buf, m, "memory.memsw.limit_in_bytes", parse_u64)?;
            }
            if let Some(p) = d.pids.as_deref() {
                spec.has_processes = true;
                spec.processes.limit = rd(buf, p, "pids.max", parse_u64_or_max)?;
            }
            spec.has_hugetlb = d.hugetlb.is_some();
            spec.has_diskio = d.blkio.is_some();
        }
        if spec.memory.limit == 0 {
            spec.memory.limit = machine_memory;
        }
        Ok(())
    }

    fn read_spec_inner(&mut self, machine_memory: u64) -> Result<ContainerSpec, CgroupError> {
        let mut spec = ContainerSpec {
            creation_time: self.creation_time()?,
            ..ContainerSpec::default()
        };
        self.read_limits_into(&mut spec, machine_memory)?;
        spec.has_filesystem = self.fs_host.is_some();
        spec.has_network = self.has_network()?;
        Ok(spec)
    }

    /// The root reports the host's interfaces; any other container only its own namespace's.
    fn has_network(&mut self) -> Result<bool, CgroupError> {
        let root = self.name == "/";
        Ok(match (self.pid, &mut self.procs) {
            (Some(_), _) if root => true,
            (Some(pid), Some(p)) => p.own_netns(pid),
            (Some(_), None) | (None, None) => false,
            (None, Some(p)) => match p.refresh(&mut self.buf)? {
                Some(pid) => root || p.own_netns(pid),
                None => false,
            },
        })
    }

    /// Oldest mtime of the container's directories (and their `cgroup.clone_children` /
    /// `cgroup.events`), never before boot.
    fn creation_time(&self) -> Result<Timestamp, CgroupError> {
        let mut oldest: Option<SystemTime> = None;
        let mut found = false;
        for dir in self.dirs.all() {
            for p in [
                dir.clone(),
                dir.join("cgroup.clone_children"),
                dir.join("cgroup.events"),
            ] {
                if let Ok(t) = fs::metadata(&p).and_then(|m| m.modified()) {
                    found |= p == *dir;
                    oldest = Some(oldest.map_or(t, |o| o.min(t)));
                }
            }
        }
        if !found {
            return Err(CgroupError::Gone {
                name: self.name.clone(),
                path: self.dirs.all().next().cloned().unwrap_or_default(),
            });
        }
        let boot = boot_time(&self.proc_root);
        Ok(match (oldest, boot) {
            (Some(t), Some(b)) => Timestamp::from(t.max(b)),
            (Some(t), None) => Timestamp::from(t),
            (None, _) => Timestamp::ZERO,
        })
    }
}

fn named(e: CgroupError, name: &str) -> CgroupError {
    match e {
        CgroupError::Gone { path, .. } => CgroupError::Gone {
            name: name.to_string(),
            path,
        },
        e => e,
    }
}

/// The mask of a v2 container without `cpuset.cpus.effective` (the cpuset controller is not
/// enabled down to it, as under systemd unless a unit sets `AllowedCPUs`): every CPU, written as
/// cAdvisor's `FixCpuMask` writes it, `0-<n-1>` for n CPUs (`0` for one). n is the count in the
/// v2 root's `cpuset.cpus.effective` (all online CPUs), cAdvisor's `NumCores`. Empty when the root
/// has no such file either (no cpuset controller at all).
fn cpu_mask_fallback(root: &Path, buf: &mut Buf) -> Result<String, CgroupError> {
    let cpus = read_once(root.join("cpuset.cpus.effective"), buf, |t| {
        Ok(crate::machine::topology::parse_cpu_list(t).map_or(0, |c| c.len()))
    })?
    .unwrap_or(0);
    Ok(match cpus {
        0 => String::new(),
        1 => "0".to_string(),
        n => format!("0-{}", n - 1),
    })
}

fn has_file_prefix(dir: &Path, prefix: &str) -> bool {
    fs::read_dir(dir).is_ok_and(|es| {
        es.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
    })
}

/// `btime` of `<proc>/stat`.
fn boot_time(proc_root: &Path) -> Option<SystemTime> {
    let text = fs::read_to_string(proc_root.join("stat")).ok()?;
    let secs: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_mask_is_every_cpu_of_the_root_as_cadvisor_writes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buf = Buf::default();
        let mask = |text: Option<&str>, buf: &mut Buf| {
            let f = dir.path().join("cpuset.cpus.effective");
            match text {
                Some(t) => fs::write(&f, t).expect("write"),
                None => {
                    let _ = fs::remove_file(&f);
                }
            }
            cpu_mask_fallback(dir.path(), buf).expect("read")
        };
        assert_eq!(mask(Some("0-3\n"), &mut buf), "0-3");
        // cAdvisor counts CPUs (`NumCores`) and writes 0..n-1, holes or not.
        assert_eq!(mask(Some("0-1,4\n"), &mut buf), "0-2");
        assert_eq!(mask(Some("2\n"), &mut buf), "0");
        assert_eq!(mask(None, &mut buf), "");
    }
}
