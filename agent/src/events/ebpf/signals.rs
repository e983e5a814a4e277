//! Opt-in eBPF signal kinds (`process_lifecycle`, `runqueue`, `tcp_retrans`, `reclaim`): loads the
//! programs of `agent-ebpf/src/sig_*.rs` for the enabled kinds only and reads what they aggregated
//! per cgroup, at sampling time, from one per-CPU map (no per-event traffic to userspace).
//!
//! Independent of the lifecycle/OOM source (its own load of the object, its own failures): a kind
//! that cannot attach is reported, the others work.
//!
//! Keys: the cgroup2 id (unified hierarchy directory inode) of the task or socket, see
//! `agent-ebpf/src/sig_common.rs`. A container is looked up by the inode of its directory in the
//! unified hierarchy; one without such a directory (a v1-only cgroup) has no signals.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use agent_common::signals::{
    CgroupSignals, RUNQ_BUCKETS, RUNQ_FIRST_SHIFT, SIGNAL_OFFSETS_GLOBAL, SIGNALS_MAP,
    SignalOffsets,
};
use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuHashMap},
    programs::BtfTracePoint,
};

use super::{OBJECT, attach, attach_to, btf::Btf};
use crate::config::{MetricKind, MetricKinds};
use crate::host::HostPaths;
use crate::model::signals::{EbpfSignals, ProcessCounts, RunqueueWait};

/// Each opt-in kind and the programs (= tracepoints) it attaches.
pub const KIND_PROGRAMS: [(MetricKind, &[&str]); 4] = [
    (
        MetricKind::ProcessLifecycle,
        &["sched_process_fork", "sched_process_exit"],
    ),
    (MetricKind::Runqueue, &["sched_switch"]),
    (
        MetricKind::TcpRetrans,
        &["tcp_retransmit_skb", "tcp_retransmit_synack"],
    ),
    (
        MetricKind::Reclaim,
        &[
            "mm_vmscan_direct_reclaim_begin",
            "mm_vmscan_direct_reclaim_end",
            "mm_vmscan_memcg_reclaim_begin",
            "mm_vmscan_memcg_reclaim_end",
        ],
    ),
];

/// Programs with a slower twin for kernels that reject them (program, twin): the twin is attached
/// to the same tracepoint when the program does not load.
const COMPAT_PROGRAMS: [(&str, &str); 1] = [("sched_switch", "sched_switch_compat")];

/// Attaches program `name` to the tracepoint of that name, or else its twin in [`COMPAT_PROGRAMS`].
fn attach_or_compat(ebpf: &mut Ebpf, name: &str, btf: &aya::Btf) -> Result<(), String> {
    let first = attach(ebpf, name, btf).map_err(|e| format!("{name}: {e}"));
    match (first, COMPAT_PROGRAMS.iter().find(|(p, _)| *p == name)) {
        (Err(why), Some((_, twin))) => {
            attach_to(ebpf, twin, name, btf).map_err(|e| format!("{why}; {twin}: {e}"))
        }
        (res, _) => res,
    }
}

/// Which kinds are attached and why the others are not, for the start-up log and `/validate/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalStatus {
    pub attached: Vec<MetricKind>,
    /// Kind and reason.
    pub failed: Vec<(MetricKind, String)>,
}

impl SignalStatus {
    /// One line per requested kind, as `/validate/` shows it.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .attached
            .iter()
            .map(|k| format!("{}: attached", k.name()))
            .collect();
        out.extend(
            self.failed
                .iter()
                .map(|(k, why)| format!("{}: not attached: {why}", k.name())),
        );
        out
    }
}

static PUBLISHED: std::sync::OnceLock<SignalStatus> = std::sync::OnceLock::new();

/// Makes the status of the opt-in kinds readable by `/validate/` (the first call wins).
pub fn publish(status: SignalStatus) {
    let _ = PUBLISHED.set(status);
}

/// The status [`publish`]ed at start-up; `None` when no opt-in kind was asked for.
pub fn published() -> Option<&'static SignalStatus> {
    PUBLISHED.get()
}

/// Reads the per-cgroup signals; owns the loaded object, so the programs stay attached while it lives.
pub struct SignalReader {
    map: PerCpuHashMap<MapData, u64, CgroupSignals>,
    unified: PathBuf,
    kinds: Vec<MetricKind>,
    _ebpf: Ebpf,
}

impl std::fmt::Debug for SignalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalReader")
            .field("unified", &self.unified)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl SignalReader {
    /// The key of container `name` (`/` or `/docker/<id>`): its unified directory's inode.
    pub fn key_of(&self, name: &str) -> Option<u64> {
        key_of(&self.unified, name)
    }

    /// What the kernel counted for cgroup `key` (zeros when nothing happened there yet).
    pub fn read(&self, key: u64) -> EbpfSignals {
        let total = match self.map.get(&key, 0) {
            Ok(per_cpu) => sum(per_cpu.iter()),
            Err(_) => CgroupSignals::default(),
        };
        to_model(&total, &self.kinds)
    }
}

/// Inode of `<unified>/<name>`.
pub fn key_of(unified: &Path, name: &str) -> Option<u64> {
    let rel = name.trim_start_matches('/');
    let dir = if rel.is_empty() {
        unified.to_path_buf()
    } else {
        unified.join(rel)
    };
    std::fs::metadata(dir).ok().map(|m| m.ino())
}

fn sum<'a>(values: impl Iterator<Item = &'a CgroupSignals>) -> CgroupSignals {
    let mut t = CgroupSignals::default();
    for v in values {
        t.processes_started += v.processes_started;
        t.processes_exited += v.processes_exited;
        t.runq_wait_ns += v.runq_wait_ns;
        t.runq_waits += v.runq_waits;
        for (a, b) in t.runq_buckets.iter_mut().zip(v.runq_buckets) {
            *a += b;
        }
        t.tcp_retransmits += v.tcp_retransmits;
        t.reclaim_ns += v.reclaim_ns;
    }
    t
}

/// The model of the kinds that are attached.
fn to_model(t: &CgroupSignals, kinds: &[MetricKind]) -> EbpfSignals {
    let has = |k| kinds.contains(&k);
    EbpfSignals {
        processes: has(MetricKind::ProcessLifecycle).then_some(ProcessCounts {
            started: t.processes_started,
            exited: t.processes_exited,
        }),
        runqueue: has(MetricKind::Runqueue).then_some(RunqueueWait {
            sum_ns: t.runq_wait_ns,
            count: t.runq_waits,
            buckets: t.runq_buckets,
        }),
        tcp_retransmits: has(MetricKind::TcpRetrans).then_some(t.tcp_retransmits),
        reclaim_stall_ns: has(MetricKind::Reclaim).then_some(t.reclaim_ns),
    }
}

/// Upper bound (nanoseconds) of run-queue bucket `i`; `None` for the last (`+Inf`).
pub fn runq_bucket_le_ns(i: usize) -> Option<u64> {
    (i + 1 < RUNQ_BUCKETS).then(|| 1u64 << (RUNQ_FIRST_SHIFT as usize + i))
}

/// CLOCK_MONOTONIC now, in ns (what `bpf_ktime_get_ns` and `task_struct::start_time` count).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Offsets the signal programs need; a kind whose fields are missing is failed with the reason.
fn offsets(btf: &Btf) -> (SignalOffsets, Vec<(MetricKind, String)>) {
    let mut failed = Vec::new();
    let mut o = SignalOffsets {
        valid: 1,
        ..Default::default()
    };
    let all = [
        MetricKind::ProcessLifecycle,
        MetricKind::Runqueue,
        MetricKind::TcpRetrans,
        MetricKind::Reclaim,
    ];
    let common = (|| -> Result<(), super::btf::BtfError> {
        o.task_pid = btf.member_offset("task_struct", "pid")?;
        o.task_tgid = btf.member_offset("task_struct", "tgid")?;
        o.task_cgroups = btf.member_offset("task_struct", "cgroups")?;
        o.css_set_dfl_cgrp = btf.member_offset("css_set", "dfl_cgrp")?;
        o.cgroup_kn = btf.member_offset("cgroup", "kn")?;
        o.kernfs_node_id = btf.member_offset("kernfs_node", "id")?;
        Ok(())
    })();
    if let Err(e) = common {
        failed.extend(all.iter().map(|k| (*k, e.to_string())));
        return (o, failed);
    }
    match (|| -> Result<(), super::btf::BtfError> {
        o.task_signal = btf.member_offset("task_struct", "signal")?;
        o.signal_live = btf.member_offset("signal_struct", "live")?;
        Ok(())
    })() {
        Ok(()) => {}
        Err(e) => failed.push((MetricKind::ProcessLifecycle, e.to_string())),
    }
    match (|| -> Result<(), super::btf::BtfError> {
        o.sock_cgroup = btf.member_offset("sock", "sk_cgrp_data")?
            + btf.member_offset("sock_cgroup_data", "cgroup")?;
        o.skb_tcp_gso_segs = btf.member_offset("sk_buff", "cb")?
            + btf.member_offset("tcp_skb_cb", "tcp_gso_segs")?;
        Ok(())
    })() {
        Ok(()) => {}
        Err(e) => failed.push((MetricKind::TcpRetrans, e.to_string())),
    }
    match (|| -> Result<bool, super::btf::BtfError> {
        let pcount = btf.member_offset("sched_info", "pcount")?;
        let run_delay = btf.member_offset("sched_info", "run_delay")?;
        o.task_sched_counts = btf.member_offset("task_struct", "sched_info")? + pcount;
        o.task_start_time = btf.member_offset("task_struct", "start_time")?;
        Ok(run_delay == pcount + 8)
    })() {
        Ok(true) => {}
        Ok(false) => failed.push((
            MetricKind::Runqueue,
            "sched_info::run_delay does not follow sched_info::pcount".into(),
        )),
        Err(e) => failed.push((MetricKind::Runqueue, e.to_string())),
    }
    o.tcp_retransmit_has_err = u32::from(
        btf.tracepoint_params("tcp_retransmit_skb")
            .is_some_and(|n| n >= 3),
    );
    (o, failed)
}

/// Loads and attaches the programs of the enabled opt-in kinds. `None` when no such kind is
/// enabled; otherwise the reader (when at least one kind attached) and the status of each kind.
pub fn start(
    host: &HostPaths,
    unified: Option<&Path>,
    kinds: &MetricKinds,
) -> Option<(Option<SignalReader>, SignalStatus)> {
    let wanted: Vec<MetricKind> = KIND_PROGRAMS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| kinds.has(*k))
        .collect();
    if wanted.is_empty() {
        return None;
    }
    let mut status = SignalStatus::default();
    let fail_all = |status: &mut SignalStatus, why: String| {
        status.failed = wanted.iter().map(|k| (*k, why.clone())).collect();
    };
    if !super::EMBEDDED {
        fail_all(&mut status, super::EbpfError::NotEmbedded.to_string());
        return Some((None, status));
    }
    let Some(unified) = unified else {
        fail_all(
            &mut status,
            "no cgroup2 (unified) hierarchy mounted: the signals are keyed by cgroup2 id".into(),
        );
        return Some((None, status));
    };
    let btf_path = host.sys.join("kernel/btf/vmlinux");
    let kernel = match Btf::read(&btf_path) {
        Ok(b) => b,
        Err(e) => {
            fail_all(&mut status, format!("kernel BTF unusable: {e}"));
            return Some((None, status));
        }
    };
    let (mut offs, mut off_failures) = offsets(&kernel);
    offs.since_ns = monotonic_ns();
    if kinds.has(MetricKind::Runqueue) && !host.proc.join("self/schedstat").exists() {
        off_failures.push((
            MetricKind::Runqueue,
            "the kernel keeps no run delays (no /proc/<pid>/schedstat: CONFIG_SCHED_INFO is off)"
                .into(),
        ));
    }
    drop(kernel);
    let aya_btf = match aya::Btf::parse_file(&btf_path, aya::Endianness::default()) {
        Ok(b) => b,
        Err(e) => {
            fail_all(&mut status, format!("load kernel BTF for aya: {e}"));
            return Some((None, status));
        }
    };
    // The lifecycle source's ring buffer is not used here: the smallest size keeps this load cheap.
    let mut ebpf = match EbpfLoader::new()
        .btf(Some(&aya_btf))
        .map_max_entries(agent_common::EVENTS_MAP, 4096)
        .override_global(SIGNAL_OFFSETS_GLOBAL, &offs, true)
        .load(OBJECT)
    {
        Ok(e) => e,
        Err(e) => {
            fail_all(
                &mut status,
                format!("load the eBPF object (needs root or CAP_BPF+CAP_PERFMON): {e}"),
            );
            return Some((None, status));
        }
    };
    for kind in wanted {
        if let Some((_, why)) = off_failures.iter().find(|(k, _)| *k == kind) {
            status.failed.push((kind, why.clone()));
            continue;
        }
        let programs = KIND_PROGRAMS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&[][..], |(_, p)| *p);
        let res = programs
            .iter()
            .try_for_each(|name| attach_or_compat(&mut ebpf, name, &aya_btf));
        match res {
            Ok(()) => status.attached.push(kind),
            Err(why) => {
                // Detach what this kind did attach: half a kind counts wrong.
                let twins = COMPAT_PROGRAMS
                    .iter()
                    .filter(|(p, _)| programs.contains(p))
                    .map(|(_, twin)| twin);
                for name in programs.iter().chain(twins) {
                    if let Some(p) = ebpf.program_mut(name)
                        && let Ok(p) = <&mut BtfTracePoint>::try_from(p)
                    {
                        let _ = p.unload();
                    }
                }
                status.failed.push((kind, why));
            }
        }
    }
    if status.attached.is_empty() {
        return Some((None, status));
    }
    let map = match ebpf
        .take_map(SIGNALS_MAP)
        .ok_or_else(|| format!("eBPF object has no map {SIGNALS_MAP}"))
        .and_then(|m| PerCpuHashMap::try_from(m).map_err(|e| format!("open {SIGNALS_MAP}: {e}")))
    {
        Ok(m) => m,
        Err(why) => {
            let attached = std::mem::take(&mut status.attached);
            status
                .failed
                .extend(attached.into_iter().map(|k| (k, why.clone())));
            return Some((None, status));
        }
    };
    let reader = SignalReader {
        map,
        unified: unified.to_path_buf(),
        kinds: status.attached.clone(),
        _ebpf: ebpf,
    };
    Some((Some(reader), status))
}

#[cfg(test)]
mod tests {
    use super::super::EMBEDDED;
    use super::*;

    #[test]
    fn sums_cpus_and_keeps_only_attached_kinds() {
        let mut a = CgroupSignals {
            processes_started: 3,
            runq_wait_ns: 10,
            runq_waits: 1,
            tcp_retransmits: 2,
            ..Default::default()
        };
        a.runq_buckets[1] = 1;
        let mut b = a;
        b.reclaim_ns = 7;
        let t = sum([a, b].iter());
        let m = to_model(&t, &[MetricKind::ProcessLifecycle, MetricKind::Runqueue]);
        assert_eq!(m.processes.map(|p| p.started), Some(6));
        let rq = m.runqueue.expect("runqueue attached");
        assert_eq!((rq.sum_ns, rq.count, rq.buckets[1]), (20, 2, 2));
        assert_eq!(m.tcp_retransmits, None);
        assert_eq!(m.reclaim_stall_ns, None);
    }

    #[test]
    fn every_compat_twin_stands_in_for_a_kind_program() {
        for (program, twin) in COMPAT_PROGRAMS {
            assert!(
                KIND_PROGRAMS.iter().any(|(_, ps)| ps.contains(&program)),
                "{program}"
            );
            assert_ne!(program, twin);
        }
    }

    #[test]
    fn bucket_bounds_are_powers_of_two_from_one_microsecond() {
        assert_eq!(runq_bucket_le_ns(0), Some(1024));
        assert_eq!(runq_bucket_le_ns(1), Some(2048));
        assert_eq!(runq_bucket_le_ns(RUNQ_BUCKETS - 2), Some(1 << 32));
        assert_eq!(runq_bucket_le_ns(RUNQ_BUCKETS - 1), None);
    }

    #[test]
    fn container_key_is_its_unified_directory_inode() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("docker/abc")).expect("mkdir");
        let ino = std::fs::metadata(root.path().join("docker/abc"))
            .expect("stat")
            .ino();
        assert_eq!(key_of(root.path(), "/docker/abc"), Some(ino));
        assert!(key_of(root.path(), "/").is_some());
        assert_eq!(key_of(root.path(), "/gone"), None);
    }

    #[test]
    fn nothing_is_loaded_unless_a_kind_is_on_and_each_failure_names_its_kind() {
        let host = HostPaths::local();
        assert!(start(&host, None, &MetricKinds::default()).is_none());
        let kinds = MetricKinds::from_flags("cpu,runqueue,reclaim", "").expect("valid");
        let (reader, status) = start(&host, None, &kinds).expect("kinds asked for");
        assert!(reader.is_none() && status.attached.is_empty());
        let failed: Vec<MetricKind> = status.failed.iter().map(|(k, _)| *k).collect();
        assert_eq!(failed, [MetricKind::Runqueue, MetricKind::Reclaim]);
        let lines = status.lines();
        assert!(
            lines[0].starts_with("runqueue: not attached: "),
            "{lines:?}"
        );
        let why = if EMBEDDED {
            "no cgroup2"
        } else {
            "no eBPF object"
        };
        assert!(lines[1].contains(why), "{lines:?}");
    }

    #[test]
    fn the_running_kernel_has_every_offset() {
        let Some(btf) = crate::events::ebpf::tests::running_kernel_btf() else {
            return;
        };
        let (o, failed) = offsets(&btf);
        assert!(failed.is_empty(), "{failed:?}");
        assert!(
            o.sock_cgroup > 0 && o.signal_live > 0 && o.skb_tcp_gso_segs > 0,
            "{o:?}"
        );
    }
}
