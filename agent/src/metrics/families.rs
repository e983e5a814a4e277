//! The table of cAdvisor's metric families: name, help, type, kind, extra labels, value extractor.
//! Names, help strings and label sets are cAdvisor's (`lib/metrics/prometheus.go`,
//! `prometheus_machine.go`); `tests/metrics_names.rs` checks them against the reference TSV.

use crate::config::MetricKind;
use crate::model::machine::MachineInfo;
use crate::model::v1::{
    ContainerSpec, ContainerStats, FsStats, PerDiskStats, TcpAdvancedStat, TcpStat, UdpStat,
};

use super::Sink;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
    /// Only bpfadvisor's own families (cAdvisor exports none); see `Sink::put_histogram`.
    Histogram,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
            Self::Histogram => "histogram",
        }
    }
}

/// What a container-stats extractor sees.
pub struct Ctx<'a> {
    pub stats: &'a ContainerStats,
    pub spec: &'a ContainerSpec,
    /// `percpu` kind enabled: per-CPU usage and perf series instead of aggregates.
    pub percpu: bool,
    /// OOM kills the registry counted for this container (kept after deletion).
    pub oom_kills: u64,
    /// Unix seconds at render time (`container_last_seen`).
    pub now_secs: i64,
}

/// Where a family's samples come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// The newest stats sample; samples carry its timestamp.
    Stats(fn(&Ctx, &mut Sink)),
    /// The container spec; no timestamp, emitted even before the first sample.
    Spec(fn(&ContainerSpec, &mut Sink)),
    /// Machine info; labelled with the machine base labels, timestamped with `MachineInfo.timestamp`.
    Machine(fn(&MachineInfo, &mut Sink)),
    /// `cadvisor_version_info`.
    Version,
    /// `container_scrape_error` / `machine_scrape_error` (always 0: reading a snapshot cannot fail).
    ScrapeError,
}

/// One metric family.
#[derive(Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub ty: MetricType,
    /// `None`: always exported.
    pub kind: Option<MetricKind>,
    /// Labels after the base labels, in declaration order (the extractor passes values in this order).
    pub labels: &'static [&'static str],
    pub source: Source,
}

impl Family {
    /// Whether this family's labels start with the container base labels (vs machine or none).
    pub fn is_container(&self) -> bool {
        matches!(self.source, Source::Stats(_) | Source::Spec(_))
    }
}

use MetricKind as K;
use MetricType::{Counter as C, Gauge as G};

const fn stats(
    name: &'static str,
    ty: MetricType,
    kind: Option<MetricKind>,
    labels: &'static [&'static str],
    help: &'static str,
    f: fn(&Ctx, &mut Sink),
) -> Family {
    Family {
        name,
        help,
        ty,
        kind,
        labels,
        source: Source::Stats(f),
    }
}

const fn spec(name: &'static str, help: &'static str, f: fn(&ContainerSpec, &mut Sink)) -> Family {
    Family {
        name,
        help,
        ty: G,
        kind: None,
        labels: &[],
        source: Source::Spec(f),
    }
}

const fn machine(
    name: &'static str,
    kind: Option<MetricKind>,
    labels: &'static [&'static str],
    help: &'static str,
    f: fn(&MachineInfo, &mut Sink),
) -> Family {
    Family {
        name,
        help,
        ty: G,
        kind,
        labels,
        source: Source::Machine(f),
    }
}

const NS: f64 = 1e9;
const DEV: &[&str] = &["device"];
const IFACE: &[&str] = &["interface"];

/// Unix seconds as Go's `time.Time.Unix()` (the zero time is year 1).
fn unix_secs(t: crate::model::json::Timestamp) -> f64 {
    if t.is_zero() {
        -62_135_596_800.0
    } else {
        t.as_unix_nanos().div_euclid(1_000_000_000) as f64
    }
}

/// cAdvisor's `specMemoryValue`: "unlimited" (anything above 2^62) is exported as 0.
fn spec_mem(v: u64) -> f64 {
    if v > 1 << 62 { 0.0 } else { v as f64 }
}

/// cAdvisor's `ioValues`: one series per blkio device (`op` entry of its stat map, scaled), then
/// one per filesystem from diskstats when `fs` is given.
fn io_values(o: &mut Sink, disks: &[PerDiskStats], op: &str, scale: f64, fs: Option<FsSeries>) {
    for d in disks {
        o.put(&[&d.device], d.stats.get(op).unwrap_or(0) as f64 * scale);
    }
    if let Some((fs, f)) = fs {
        for s in fs {
            o.put(&[&s.device], f(s));
        }
    }
}

/// Filesystems and the diskstats value to export for each.
type FsSeries<'a> = (&'a [FsStats], fn(&FsStats) -> f64);

fn fs_values(o: &mut Sink, fs: &[FsStats], f: fn(&FsStats) -> f64) {
    for s in fs {
        o.put(&[&s.device], f(s));
    }
}

fn tcp(o: &mut Sink, t: &TcpStat) {
    for (l, v) in TcpStat::LABELS.iter().zip(t.values()) {
        o.put(&[l], v as f64);
    }
}

fn udp(o: &mut Sink, u: &UdpStat) {
    for (l, v) in UdpStat::LABELS.iter().zip(u.values()) {
        o.put(&[l], v as f64);
    }
}

/// `container_perf_events_*` without `percpu`: values summed and scaling ratios minimised per event,
/// with `cpu=""`, as cAdvisor aggregates them.
fn perf_aggregated(o: &mut Sink, c: &Ctx, ratio: bool) {
    let mut agg: Vec<(&str, f64)> = Vec::new();
    for p in c.stats.perf_stats.iter() {
        let v = if ratio {
            p.scaling_ratio
        } else {
            p.value as f64
        };
        match agg.iter_mut().find(|(n, _)| *n == p.name) {
            Some((_, a)) if ratio => *a = a.min(v),
            Some((_, a)) => *a += v,
            None => agg.push((&p.name, v)),
        }
    }
    for (n, v) in agg {
        o.put(&["", n], v);
    }
}

fn perf(o: &mut Sink, c: &Ctx, ratio: bool) {
    if !c.percpu {
        return perf_aggregated(o, c, ratio);
    }
    for p in c.stats.perf_stats.iter() {
        let v = if ratio {
            p.scaling_ratio
        } else {
            p.value as f64
        };
        o.put(&[&p.cpu.to_string(), &p.name], v);
    }
}

fn perf_uncore(o: &mut Sink, c: &Ctx, ratio: bool) {
    for p in c.stats.perf_uncore_stats.iter() {
        let v = if ratio {
            p.scaling_ratio
        } else {
            p.value as f64
        };
        o.put(&[&p.socket.to_string(), &p.name, &p.pmu], v);
    }
}

fn cpu_usage(c: &Ctx, o: &mut Sink) {
    let u = &c.stats.cpu.usage;
    if !c.percpu {
        o.put(&["total"], u.total as f64 / NS);
        return;
    }
    if u.per_cpu.is_empty() {
        if u.total > 0 {
            o.put(&["total"], u.total as f64 / NS);
        }
        return;
    }
    for (i, &v) in u.per_cpu.iter().enumerate() {
        if v > 0 {
            o.put(&[&format!("cpu{i:02}")], v as f64 / NS);
        }
    }
}

fn numa(c: &Ctx, o: &mut Sink) {
    let m = &c.stats.memory;
    for (scope, data) in [
        ("container", &m.container_data),
        ("hierarchy", &m.hierarchical_data),
    ] {
        let n = &data.numa_stats;
        for (ty, map) in [
            ("file", &n.file),
            ("anon", &n.anon),
            ("unevictable", &n.unevictable),
        ] {
            for (node, v) in map {
                o.put(&[ty, scope, &node.to_string()], *v as f64);
            }
        }
    }
}

fn health(c: &Ctx, o: &mut Sink) {
    let v = match c.stats.health.status.as_str() {
        "healthy" => 1.0,
        "" => -1.0,
        _ => 0.0,
    };
    o.put(&[], v);
}

/// `machine_cpu_cache_capacity_bytes`: per-core caches, then node-level caches with `core_id=""`.
fn caches(m: &MachineInfo, o: &mut Sink) {
    for n in &m.topology {
        let node = n.node_id.to_string();
        for core in &n.cores {
            let id = core.core_id.to_string();
            for c in &core.caches {
                o.put(
                    &[&node, &id, &c.cache_type, &c.level.to_string()],
                    c.size as f64,
                );
            }
        }
        for c in &n.caches {
            o.put(
                &[&node, "", &c.cache_type, &c.level.to_string()],
                c.size as f64,
            );
        }
    }
}

/// Every family cAdvisor exports, in the TSV's order (rendering sorts by name).
pub static FAMILIES: &[Family] = &[
    Family {
        name: "cadvisor_version_info",
        help: "A metric with a constant '1' value labeled by kernel version, OS version, docker version, cadvisor version & cadvisor revision.",
        ty: G,
        kind: None,
        labels: &[
            "kernelVersion",
            "osVersion",
            "dockerVersion",
            "cadvisorVersion",
            "cadvisorRevision",
        ],
        source: Source::Version,
    },
    Family {
        name: "container_scrape_error",
        help: "1 if there was an error while getting container metrics, 0 otherwise",
        ty: G,
        kind: None,
        labels: &[],
        source: Source::ScrapeError,
    },
    Family {
        name: "machine_scrape_error",
        help: "1 if there was an error while getting machine metrics, 0 otherwise.",
        ty: G,
        kind: None,
        labels: &[],
        source: Source::ScrapeError,
    },
    spec(
        "container_creation_time_seconds",
        "Container creation time since unix epoch in seconds.",
        |s, o| o.put(&[], unix_secs(s.creation_time)),
    ),
    spec(
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        |s, o| {
            let t = if s.start_time.is_zero() {
                s.creation_time
            } else {
                s.start_time
            };
            o.put(&[], unix_secs(t))
        },
    ),
    spec(
        "container_spec_cpu_period",
        "CPU period of the container.",
        |s, o| {
            if s.has_cpu {
                o.put(&[], s.cpu.period as f64)
            }
        },
    ),
    spec(
        "container_spec_cpu_quota",
        "CPU quota of the container.",
        |s, o| {
            if s.has_cpu && s.cpu.quota != 0 {
                o.put(&[], s.cpu.quota as f64)
            }
        },
    ),
    spec(
        "container_spec_cpu_shares",
        "CPU share of the container.",
        |s, o| {
            if s.has_cpu {
                o.put(&[], s.cpu.limit as f64)
            }
        },
    ),
    spec(
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        |s, o| {
            if s.has_memory {
                o.put(&[], spec_mem(s.memory.limit))
            }
        },
    ),
    spec(
        "container_spec_memory_swap_limit_bytes",
        "Memory swap limit for the container.",
        |s, o| {
            if s.has_memory {
                o.put(&[], spec_mem(s.memory.swap_limit))
            }
        },
    ),
    spec(
        "container_spec_memory_reservation_limit_bytes",
        "Memory reservation limit for the container.",
        |s, o| {
            if s.has_memory {
                o.put(&[], spec_mem(s.memory.reservation))
            }
        },
    ),
    stats(
        "container_last_seen",
        G,
        None,
        &[],
        "Last time a container was seen by the exporter",
        |c, o| o.put(&[], c.now_secs as f64),
    ),
    stats(
        "container_health_state",
        G,
        None,
        &[],
        "The result of the container's health check",
        health,
    ),
    stats(
        "container_cpu_user_seconds_total",
        C,
        Some(K::Cpu),
        &[],
        "Cumulative user cpu time consumed in seconds.",
        |c, o| o.put(&[], c.stats.cpu.usage.user as f64 / NS),
    ),
    stats(
        "container_cpu_system_seconds_total",
        C,
        Some(K::Cpu),
        &[],
        "Cumulative system cpu time consumed in seconds.",
        |c, o| o.put(&[], c.stats.cpu.usage.system as f64 / NS),
    ),
    stats(
        "container_cpu_usage_seconds_total",
        C,
        Some(K::Cpu),
        &["cpu"],
        "Cumulative cpu time consumed in seconds.",
        cpu_usage,
    ),
    stats(
        "container_cpu_cfs_periods_total",
        C,
        Some(K::Cpu),
        &[],
        "Number of elapsed enforcement period intervals.",
        |c, o| {
            if c.spec.cpu.quota != 0 {
                o.put(&[], c.stats.cpu.cfs.periods as f64)
            }
        },
    ),
    stats(
        "container_cpu_cfs_throttled_periods_total",
        C,
        Some(K::Cpu),
        &[],
        "Number of throttled period intervals.",
        |c, o| {
            if c.spec.cpu.quota != 0 {
                o.put(&[], c.stats.cpu.cfs.throttled_periods as f64)
            }
        },
    ),
    stats(
        "container_cpu_cfs_throttled_seconds_total",
        C,
        Some(K::Cpu),
        &[],
        "Total time duration the container has been throttled.",
        |c, o| {
            if c.spec.cpu.quota != 0 {
                o.put(&[], c.stats.cpu.cfs.throttled_time as f64 / NS)
            }
        },
    ),
    stats(
        "container_cpu_cfs_burst_periods_total",
        C,
        Some(K::Cpu),
        &[],
        "Number of periods when burst occurs.",
        |c, o| {
            if c.spec.cpu.quota != 0 {
                o.put(&[], c.stats.cpu.cfs.bursts_periods as f64)
            }
        },
    ),
    stats(
        "container_cpu_cfs_burst_seconds_total",
        C,
        Some(K::Cpu),
        &[],
        "Total time duration the container has been bursted.",
        |c, o| {
            if c.spec.cpu.quota != 0 {
                o.put(&[], c.stats.cpu.cfs.burst_time as f64 / NS)
            }
        },
    ),
    stats(
        "container_cpu_schedstat_run_seconds_total",
        C,
        Some(K::Sched),
        &[],
        "Time duration the processes of the container have run on the CPU.",
        |c, o| o.put(&[], c.stats.cpu.schedstat.run_time as f64 / NS),
    ),
    stats(
        "container_cpu_schedstat_runqueue_seconds_total",
        C,
        Some(K::Sched),
        &[],
        "Time duration processes of the container have been waiting on a runqueue.",
        |c, o| o.put(&[], c.stats.cpu.schedstat.runqueue_time as f64 / NS),
    ),
    stats(
        "container_cpu_schedstat_run_periods_total",
        C,
        Some(K::Sched),
        &[],
        "Number of times processes of the cgroup have run on the cpu",
        |c, o| o.put(&[], c.stats.cpu.schedstat.run_periods as f64),
    ),
    stats(
        "container_cpu_load_average_10s",
        G,
        Some(K::CpuLoad),
        &[],
        "Value of container cpu load average over the last 10 seconds.",
        |c, o| o.put(&[], f64::from(c.stats.cpu.load_average)),
    ),
    stats(
        "container_cpu_load_d_average_10s",
        G,
        Some(K::CpuLoad),
        &[],
        "Value of container cpu load.d average over the last 10 seconds.",
        |c, o| o.put(&[], f64::from(c.stats.cpu.load_d_average)),
    ),
    stats(
        "container_tasks_state",
        G,
        Some(K::CpuLoad),
        &["state"],
        "Number of tasks in given state",
        |c, o| {
            let t = &c.stats.task_stats;
            o.put(&["sleeping"], t.nr_sleeping as f64);
            o.put(&["running"], t.nr_running as f64);
            o.put(&["stopped"], t.nr_stopped as f64);
            o.put(&["uninterruptible"], t.nr_uninterruptible as f64);
            o.put(&["iowaiting"], t.nr_io_wait as f64);
        },
    ),
    stats(
        "container_hugetlb_failcnt",
        C,
        Some(K::Hugetlb),
        &["pagesize"],
        "Number of hugepage usage hits limits",
        |c, o| {
            for (p, h) in c.stats.hugetlb.iter() {
                o.put(&[p], h.failcnt as f64)
            }
        },
    ),
    stats(
        "container_hugetlb_usage_bytes",
        G,
        Some(K::Hugetlb),
        &["pagesize"],
        "Current hugepage usage in bytes",
        |c, o| {
            for (p, h) in c.stats.hugetlb.iter() {
                o.put(&[p], h.usage as f64)
            }
        },
    ),
    stats(
        "container_hugetlb_max_usage_bytes",
        G,
        Some(K::Hugetlb),
        &["pagesize"],
        "Maximum hugepage usage recorded in bytes",
        |c, o| {
            for (p, h) in c.stats.hugetlb.iter() {
                o.put(&[p], h.max_usage as f64)
            }
        },
    ),
    stats(
        "container_memory_cache",
        G,
        Some(K::Memory),
        &[],
        "Number of bytes of page cache memory.",
        |c, o| o.put(&[], c.stats.memory.cache as f64),
    ),
    stats(
        "container_memory_rss",
        G,
        Some(K::Memory),
        &[],
        "Size of RSS in bytes.",
        |c, o| o.put(&[], c.stats.memory.rss as f64),
    ),
    stats(
        "container_memory_kernel_usage",
        G,
        Some(K::Memory),
        &[],
        "Size of kernel memory allocated in bytes.",
        |c, o| o.put(&[], c.stats.memory.kernel as f64),
    ),
    stats(
        "container_memory_mapped_file",
        G,
        Some(K::Memory),
        &[],
        "Size of memory mapped files in bytes.",
        |c, o| o.put(&[], c.stats.memory.mapped_file as f64),
    ),
    stats(
        "container_memory_swap",
        G,
        Some(K::Memory),
        &[],
        "Container swap usage in bytes.",
        |c, o| o.put(&[], c.stats.memory.swap as f64),
    ),
    stats(
        "container_memory_failcnt",
        C,
        Some(K::Memory),
        &[],
        "Number of memory usage hits limits",
        |c, o| o.put(&[], c.stats.memory.failcnt as f64),
    ),
    stats(
        "container_memory_usage_bytes",
        G,
        Some(K::Memory),
        &[],
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        |c, o| o.put(&[], c.stats.memory.usage as f64),
    ),
    stats(
        "container_memory_max_usage_bytes",
        G,
        Some(K::Memory),
        &[],
        "Maximum memory usage recorded in bytes",
        |c, o| o.put(&[], c.stats.memory.max_usage as f64),
    ),
    stats(
        "container_memory_working_set_bytes",
        G,
        Some(K::Memory),
        &[],
        "Current working set in bytes.",
        |c, o| o.put(&[], c.stats.memory.working_set as f64),
    ),
    stats(
        "container_memory_total_active_file_bytes",
        G,
        Some(K::Memory),
        &[],
        "Current total active file in bytes.",
        |c, o| o.put(&[], c.stats.memory.total_active_file as f64),
    ),
    stats(
        "container_memory_total_inactive_file_bytes",
        G,
        Some(K::Memory),
        &[],
        "Current total inactive file in bytes.",
        |c, o| o.put(&[], c.stats.memory.total_inactive_file as f64),
    ),
    stats(
        "container_memory_failures_total",
        C,
        Some(K::Memory),
        &["failure_type", "scope"],
        "Cumulative count of memory allocation failures.",
        |c, o| {
            let m = &c.stats.memory;
            o.put(&["pgfault", "container"], m.container_data.pgfault as f64);
            o.put(
                &["pgmajfault", "container"],
                m.container_data.pgmajfault as f64,
            );
            o.put(
                &["pgfault", "hierarchy"],
                m.hierarchical_data.pgfault as f64,
            );
            o.put(
                &["pgmajfault", "hierarchy"],
                m.hierarchical_data.pgmajfault as f64,
            );
        },
    ),
    stats(
        "container_memory_events_high_total",
        C,
        Some(K::Memory),
        &[],
        "Cumulative count of memory.high throttle events for the container",
        |c, o| o.put(&[], c.stats.memory.events.high as f64),
    ),
    stats(
        "container_memory_events_max_total",
        C,
        Some(K::Memory),
        &[],
        "Cumulative count of memory.max limit hit events for the container",
        |c, o| o.put(&[], c.stats.memory.events.max as f64),
    ),
    stats(
        "container_memory_file_dirty_bytes",
        G,
        Some(K::Memory),
        &[],
        "Number of bytes of file cache that has been modified but not yet written back to disk.",
        |c, o| o.put(&[], c.stats.memory.file_dirty as f64),
    ),
    stats(
        "container_memory_file_writeback_bytes",
        G,
        Some(K::Memory),
        &[],
        "Number of bytes of file cache that is currently being written back to disk.",
        |c, o| o.put(&[], c.stats.memory.file_writeback as f64),
    ),
    stats(
        "container_memory_pgscan_total",
        C,
        Some(K::Memory),
        &[],
        "Cumulative number of pages scanned by the page reclaim algorithm.",
        |c, o| o.put(&[], c.stats.memory.pgscan as f64),
    ),
    stats(
        "container_memory_pgsteal_total",
        C,
        Some(K::Memory),
        &[],
        "Cumulative number of pages reclaimed by the page reclaim algorithm.",
        |c, o| o.put(&[], c.stats.memory.pgsteal as f64),
    ),
    stats(
        "container_memory_workingset_refault_file_total",
        C,
        Some(K::Memory),
        &[],
        "Cumulative number of refaults of previously evicted file pages.",
        |c, o| o.put(&[], c.stats.memory.workingset_refault_file as f64),
    ),
    stats(
        "container_memory_workingset_refault_anon_total",
        C,
        Some(K::Memory),
        &[],
        "Cumulative number of refaults of previously evicted anonymous pages.",
        |c, o| o.put(&[], c.stats.memory.workingset_refault_anon as f64),
    ),
    stats(
        "container_memory_migrate",
        G,
        Some(K::CpuSet),
        &[],
        "Memory migrate status.",
        |c, o| o.put(&[], c.stats.cpuset.memory_migrate as f64),
    ),
    stats(
        "container_memory_numa_pages",
        G,
        Some(K::MemoryNuma),
        &["type", "scope", "node"],
        "Number of used pages per NUMA node",
        numa,
    ),
    stats(
        "container_fs_inodes_free",
        G,
        Some(K::Disk),
        DEV,
        "Number of available Inodes",
        |c, o| fs_values(o, &c.stats.filesystem, |f| f.inodes_free as f64),
    ),
    stats(
        "container_fs_inodes_total",
        G,
        Some(K::Disk),
        DEV,
        "Number of Inodes",
        |c, o| fs_values(o, &c.stats.filesystem, |f| f.inodes as f64),
    ),
    stats(
        "container_fs_limit_bytes",
        G,
        Some(K::Disk),
        DEV,
        "Number of bytes that can be consumed by the container on this filesystem.",
        |c, o| fs_values(o, &c.stats.filesystem, |f| f.capacity as f64),
    ),
    stats(
        "container_fs_usage_bytes",
        G,
        Some(K::Disk),
        DEV,
        "Number of bytes that are consumed by the container on this filesystem.",
        |c, o| fs_values(o, &c.stats.filesystem, |f| f.usage as f64),
    ),
    stats(
        "container_fs_reads_bytes_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of bytes read",
        |c, o| io_values(o, &c.stats.diskio.io_service_bytes, "Read", 1.0, None),
    ),
    stats(
        "container_fs_reads_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of reads completed",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_serviced,
                "Read",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.reads_completed as f64)),
            )
        },
    ),
    stats(
        "container_fs_sector_reads_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of sector reads completed",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.sectors,
                "Read",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.sectors_read as f64)),
            )
        },
    ),
    stats(
        "container_fs_reads_merged_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of reads merged",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_merged,
                "Read",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.reads_merged as f64)),
            )
        },
    ),
    stats(
        "container_fs_read_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of seconds spent reading",
        |c, o| {
            // diskstats times are ms, yet divided by 1e9 like cAdvisor does (upstream bug kept).
            io_values(
                o,
                &c.stats.diskio.io_service_time,
                "Read",
                1.0 / NS,
                Some((&c.stats.filesystem[..], |f| f.read_time as f64 / NS)),
            )
        },
    ),
    stats(
        "container_fs_writes_bytes_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of bytes written",
        |c, o| io_values(o, &c.stats.diskio.io_service_bytes, "Write", 1.0, None),
    ),
    stats(
        "container_fs_writes_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of writes completed",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_serviced,
                "Write",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.writes_completed as f64)),
            )
        },
    ),
    stats(
        "container_fs_sector_writes_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of sector writes completed",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.sectors,
                "Write",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.sectors_written as f64)),
            )
        },
    ),
    stats(
        "container_fs_writes_merged_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of writes merged",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_merged,
                "Write",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.writes_merged as f64)),
            )
        },
    ),
    stats(
        "container_fs_write_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of seconds spent writing",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_service_time,
                "Write",
                1.0 / NS,
                Some((&c.stats.filesystem[..], |f| f.write_time as f64 / NS)),
            )
        },
    ),
    stats(
        "container_fs_io_current",
        G,
        Some(K::DiskIo),
        DEV,
        "Number of I/Os currently in progress",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_queued,
                "Total",
                1.0,
                Some((&c.stats.filesystem[..], |f| f.io_in_progress as f64)),
            )
        },
    ),
    stats(
        "container_fs_io_time_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative count of seconds spent doing I/Os",
        |c, o| {
            io_values(
                o,
                &c.stats.diskio.io_time,
                "Total",
                1.0 / NS,
                Some((&c.stats.filesystem[..], |f| f.io_time as f64 / NS)),
            )
        },
    ),
    stats(
        "container_fs_io_time_weighted_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative weighted I/O time in seconds",
        |c, o| fs_values(o, &c.stats.filesystem, |f| f.weighted_io_time as f64 / NS),
    ),
    stats(
        "container_fs_io_cost_usage_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative IOCost usage in seconds",
        |c, o| io_values(o, &c.stats.diskio.io_cost_usage, "Count", 1e-6, None),
    ),
    stats(
        "container_fs_io_cost_wait_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative IOCost wait in seconds",
        |c, o| io_values(o, &c.stats.diskio.io_cost_wait, "Count", 1e-6, None),
    ),
    stats(
        "container_fs_io_cost_indebt_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative IOCost debt in seconds",
        |c, o| io_values(o, &c.stats.diskio.io_cost_indebt, "Count", 1e-6, None),
    ),
    stats(
        "container_fs_io_cost_indelay_seconds_total",
        C,
        Some(K::DiskIo),
        DEV,
        "Cumulative IOCost delay in seconds",
        |c, o| io_values(o, &c.stats.diskio.io_cost_indelay, "Count", 1e-6, None),
    ),
    stats(
        "container_blkio_device_usage_total",
        C,
        Some(K::DiskIo),
        &["device", "major", "minor", "operation"],
        "Blkio Device bytes usage",
        |c, o| {
            for d in &c.stats.diskio.io_service_bytes {
                let (maj, min) = (d.major.to_string(), d.minor.to_string());
                for (op, v) in d.stats.iter() {
                    o.put(&[&d.device, &maj, &min, op], v as f64);
                }
            }
        },
    ),
    stats(
        "container_network_receive_bytes_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of bytes received",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.rx_bytes as f64)
            }
        },
    ),
    stats(
        "container_network_receive_packets_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of packets received",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.rx_packets as f64)
            }
        },
    ),
    stats(
        "container_network_receive_packets_dropped_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of packets dropped while receiving",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.rx_dropped as f64)
            }
        },
    ),
    stats(
        "container_network_receive_errors_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of errors encountered while receiving",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.rx_errors as f64)
            }
        },
    ),
    stats(
        "container_network_transmit_bytes_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of bytes transmitted",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.tx_bytes as f64)
            }
        },
    ),
    stats(
        "container_network_transmit_packets_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of packets transmitted",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.tx_packets as f64)
            }
        },
    ),
    stats(
        "container_network_transmit_packets_dropped_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of packets dropped while transmitting",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.tx_dropped as f64)
            }
        },
    ),
    stats(
        "container_network_transmit_errors_total",
        C,
        Some(K::Network),
        IFACE,
        "Cumulative count of errors encountered while transmitting",
        |c, o| {
            for i in &c.stats.network.interfaces {
                o.put(&[&i.name], i.tx_errors as f64)
            }
        },
    ),
    stats(
        "container_network_tcp_usage_total",
        G,
        Some(K::Tcp),
        &["tcp_state"],
        "tcp connection usage statistic for container",
        |c, o| tcp(o, &c.stats.network.tcp),
    ),
    stats(
        "container_network_tcp6_usage_total",
        G,
        Some(K::Tcp),
        &["tcp_state"],
        "tcp6 connection usage statistic for container",
        |c, o| tcp(o, &c.stats.network.tcp6),
    ),
    stats(
        "container_network_advance_tcp_stats_total",
        G,
        Some(K::AdvTcp),
        &["tcp_state"],
        "advance tcp connections statistic for container",
        |c, o| {
            let t = &c.stats.network.tcp_advanced;
            for (l, v) in TcpAdvancedStat::LABELS.iter().zip(t.values()) {
                o.put(&[l], v);
            }
        },
    ),
    stats(
        "container_network_udp6_usage_total",
        G,
        Some(K::Udp),
        &["udp_state"],
        "udp6 connection usage statistic for container",
        |c, o| udp(o, &c.stats.network.udp6),
    ),
    stats(
        "container_network_udp_usage_total",
        G,
        Some(K::Udp),
        &["udp_state"],
        "udp connection usage statistic for container",
        |c, o| udp(o, &c.stats.network.udp),
    ),
    stats(
        "container_processes",
        G,
        Some(K::Process),
        &[],
        "Number of processes running inside the container.",
        |c, o| o.put(&[], c.stats.processes.process_count as f64),
    ),
    stats(
        "container_file_descriptors",
        G,
        Some(K::Process),
        &[],
        "Number of open file descriptors for the container.",
        |c, o| o.put(&[], c.stats.processes.fd_count as f64),
    ),
    stats(
        "container_sockets",
        G,
        Some(K::Process),
        &[],
        "Number of open sockets for the container.",
        |c, o| o.put(&[], c.stats.processes.socket_count as f64),
    ),
    stats(
        "container_threads_max",
        G,
        Some(K::Process),
        &[],
        "Maximum number of threads allowed inside the container, infinity if value is zero",
        |c, o| o.put(&[], c.stats.processes.threads_max as f64),
    ),
    stats(
        "container_threads",
        G,
        Some(K::Process),
        &[],
        "Number of threads running inside the container",
        |c, o| o.put(&[], c.stats.processes.threads_current as f64),
    ),
    stats(
        "container_ulimits_soft",
        G,
        Some(K::Process),
        &["ulimit"],
        "Soft ulimit values for the container root process. Unlimited if -1, except priority and nice",
        |c, o| {
            for u in &c.stats.processes.ulimits {
                o.put(&[&u.name], u.soft_limit as f64)
            }
        },
    ),
    stats(
        "container_perf_events_total",
        C,
        Some(K::PerfEvent),
        &["cpu", "event"],
        "Perf event metric.",
        |c, o| perf(o, c, false),
    ),
    stats(
        "container_perf_events_scaling_ratio",
        G,
        Some(K::PerfEvent),
        &["cpu", "event"],
        "Perf event metric scaling ratio.",
        |c, o| perf(o, c, true),
    ),
    stats(
        "container_perf_uncore_events_total",
        C,
        Some(K::PerfEvent),
        &["socket", "event", "pmu"],
        "Perf uncore event metric.",
        |c, o| perf_uncore(o, c, false),
    ),
    stats(
        "container_perf_uncore_events_scaling_ratio",
        G,
        Some(K::PerfEvent),
        &["socket", "event", "pmu"],
        "Perf uncore event metric scaling ratio.",
        |c, o| perf_uncore(o, c, true),
    ),
    stats(
        "container_referenced_bytes",
        G,
        Some(K::ReferencedMemory),
        &[],
        "Container referenced bytes during last measurements cycle",
        |c, o| o.put(&[], c.stats.referenced_memory as f64),
    ),
    stats(
        "container_memory_bandwidth_bytes",
        G,
        Some(K::Resctrl),
        &["node_id"],
        "Total memory bandwidth usage statistics for container counted with RDT Memory Bandwidth Monitoring (MBM).",
        |c, o| {
            for (i, m) in c.stats.resctrl.memory_bandwidth.iter().enumerate() {
                o.put(&[&i.to_string()], m.mbm_total_bytes as f64)
            }
        },
    ),
    stats(
        "container_memory_bandwidth_local_bytes",
        G,
        Some(K::Resctrl),
        &["node_id"],
        "Local memory bandwidth usage statistics for container counted with RDT Memory Bandwidth Monitoring (MBM).",
        |c, o| {
            for (i, m) in c.stats.resctrl.memory_bandwidth.iter().enumerate() {
                o.put(&[&i.to_string()], m.mbm_local_bytes as f64)
            }
        },
    ),
    stats(
        "container_llc_occupancy_bytes",
        G,
        Some(K::Resctrl),
        &["node_id"],
        "Last level cache usage statistics for container counted with RDT Memory Bandwidth Monitoring (MBM).",
        |c, o| {
            for (i, m) in c.stats.resctrl.cache.iter().enumerate() {
                o.put(&[&i.to_string()], m.llc_occupancy as f64)
            }
        },
    ),
    stats(
        OOM_FAMILY,
        C,
        Some(K::OomEvent),
        &[],
        "Count of out of memory events observed for the container",
        // The registry's own count survives the container's deletion; the sample's may be older
        // than the kill that ended the container.
        |c, o| o.put(&[], c.stats.oom_events.max(c.oom_kills) as f64),
    ),
    // bpfadvisor's opt-in eBPF kinds (not cAdvisor's): counted in the kernel per cgroup.
    stats(
        "container_processes_started_total",
        C,
        Some(K::ProcessLifecycle),
        &[],
        "Number of processes created in the container (forks of a new process; threads not counted).",
        |c, o| {
            if let Some(p) = c.stats.ebpf.as_ref().and_then(|e| e.processes) {
                o.put(&[], p.started as f64)
            }
        },
    ),
    stats(
        "container_processes_exited_total",
        C,
        Some(K::ProcessLifecycle),
        &[],
        "Number of processes of the container that exited (their last thread ended).",
        |c, o| {
            if let Some(p) = c.stats.ebpf.as_ref().and_then(|e| e.processes) {
                o.put(&[], p.exited as f64)
            }
        },
    ),
    stats(
        "container_cpu_runqueue_wait_seconds",
        MetricType::Histogram,
        Some(K::Runqueue),
        &["le"],
        "Time the container's tasks waited runnable on a run queue before they ran, per wait.",
        |c, o| {
            if let Some(rq) = c.stats.ebpf.as_ref().and_then(|e| e.runqueue) {
                let mut cumulative = 0;
                let mut buckets = [(0.0, 0); agent_common::signals::RUNQ_BUCKETS];
                for (i, (slot, n)) in buckets.iter_mut().zip(rq.buckets).enumerate() {
                    cumulative += n;
                    let le = crate::events::ebpf::signals::runq_bucket_le_ns(i)
                        .map_or(f64::INFINITY, |ns| ns as f64 / NS);
                    *slot = (le, cumulative);
                }
                o.put_histogram(&buckets, rq.sum_ns as f64 / NS, rq.count)
            }
        },
    ),
    stats(
        "container_network_tcp_retransmits_total",
        C,
        Some(K::TcpRetrans),
        &[],
        "Number of TCP segments retransmitted by the container's sockets.",
        |c, o| {
            if let Some(n) = c.stats.ebpf.as_ref().and_then(|e| e.tcp_retransmits) {
                o.put(&[], n as f64)
            }
        },
    ),
    stats(
        "container_memory_reclaim_stall_seconds_total",
        C,
        Some(K::Reclaim),
        &[],
        "Time the container's tasks spent reclaiming memory themselves (direct and cgroup-limit reclaim).",
        |c, o| {
            if let Some(ns) = c.stats.ebpf.as_ref().and_then(|e| e.reclaim_stall_ns) {
                o.put(&[], ns as f64 / NS)
            }
        },
    ),
    stats(
        "container_pressure_cpu_stalled_seconds_total",
        C,
        Some(K::Pressure),
        &[],
        "Total time duration no tasks in the container could make progress due to CPU congestion.",
        |c, o| o.put(&[], c.stats.cpu.psi.full.total as f64 / 1e6),
    ),
    stats(
        "container_pressure_cpu_waiting_seconds_total",
        C,
        Some(K::Pressure),
        &[],
        "Total time duration tasks in the container have waited due to CPU congestion.",
        |c, o| o.put(&[], c.stats.cpu.psi.some.total as f64 / 1e6),
    ),
    stats(
        "container_pressure_memory_stalled_seconds_total",
        C,
        Some(K::Pressure),
        &[],
        "Total time duration no tasks in the container could make progress due to memory congestion.",
        |c, o| o.put(&[], c.stats.memory.psi.full.total as f64 / 1e6),
    ),
    stats(
        "container_pressure_memory_waiting_seconds_total",
        C,
        Some(K::Pressure),
        &[],
        "Total time duration tasks in the container have waited due to memory congestion.",
        |c, o| o.put(&[], c.stats.memory.psi.some.total as f64 / 1e6),
    ),
    stats(
        "container_pressure_io_stalled_seconds_total",
        C,
        Some(K::Pressure),
        &[],
        "Total time duration no tasks in the container could make progress due to IO congestion.",
        |c, o| o.put(&[], c.stats.diskio.psi.full.total as f64 / 1e6),
    ),
    stats(
        "container_pressure_io_waiting_seconds_total",
        C,
        Some(K::Pressure),
        &[],
        "Total time duration tasks in the container have waited due to IO congestion.",
        |c, o| o.put(&[], c.stats.diskio.psi.some.total as f64 / 1e6),
    ),
    machine(
        "machine_cpu_physical_cores",
        None,
        &[],
        "Number of physical CPU cores.",
        |m, o| o.put(&[], m.num_physical_cores as f64),
    ),
    machine(
        "machine_cpu_cores",
        None,
        &[],
        "Number of logical CPU cores.",
        |m, o| o.put(&[], m.num_cores as f64),
    ),
    machine(
        "machine_cpu_sockets",
        None,
        &[],
        "Number of CPU sockets.",
        |m, o| o.put(&[], m.num_sockets as f64),
    ),
    machine(
        "machine_cpu_books",
        None,
        &[],
        "Number of CPU books.",
        |m, o| o.put(&[], m.num_books as f64),
    ),
    machine(
        "machine_cpu_drawers",
        None,
        &[],
        "Number of CPU drawers.",
        |m, o| o.put(&[], m.num_drawers as f64),
    ),
    machine(
        "machine_memory_bytes",
        None,
        &[],
        "Amount of memory installed on the machine.",
        |m, o| o.put(&[], m.memory_capacity as f64),
    ),
    machine(
        "machine_swap_bytes",
        None,
        &[],
        "Amount of swap memory available on the machine.",
        |m, o| o.put(&[], m.swap_capacity as f64),
    ),
    machine(
        "machine_dimm_count",
        None,
        &["type"],
        "Number of RAM DIMM (all types memory modules) value labeled by dimm type.",
        |m, o| {
            for (t, i) in &m.memory_by_type {
                o.put(&[t], i.dimm_count as f64)
            }
        },
    ),
    machine(
        "machine_dimm_capacity_bytes",
        None,
        &["type"],
        "Total RAM DIMM capacity (all types memory modules) value labeled by dimm type.",
        |m, o| {
            for (t, i) in &m.memory_by_type {
                o.put(&[t], i.capacity as f64)
            }
        },
    ),
    machine(
        "machine_nvm_capacity",
        None,
        &["mode"],
        "NVM capacity value labeled by NVM mode (memory mode or app direct mode).",
        |m, o| {
            o.put(&["memory_mode"], m.nvm.memory_mode_capacity as f64);
            o.put(&["app_direct_mode"], m.nvm.app_direct_mode_capacity as f64);
        },
    ),
    machine(
        "machine_nvm_avg_power_budget_watts",
        None,
        &[],
        "NVM power budget.",
        |m, o| o.put(&[], m.nvm.avg_power_budget as f64),
    ),
    machine(
        "machine_cpu_cache_capacity_bytes",
        Some(K::CpuTopology),
        &["node_id", "core_id", "type", "level"],
        "Cache size in bytes assigned to NUMA node and CPU core.",
        caches,
    ),
    machine(
        "machine_thread_siblings_count",
        Some(K::CpuTopology),
        &["node_id", "core_id", "thread_id"],
        "Number of CPU thread siblings.",
        |m, o| {
            for n in &m.topology {
                let node = n.node_id.to_string();
                for c in &n.cores {
                    let core = c.core_id.to_string();
                    for t in &c.thread_ids {
                        o.put(&[&node, &core, &t.to_string()], c.thread_ids.len() as f64);
                    }
                }
            }
        },
    ),
    machine(
        "machine_node_memory_capacity_bytes",
        Some(K::CpuTopology),
        &["node_id"],
        "Amount of memory assigned to NUMA node.",
        |m, o| {
            for n in &m.topology {
                o.put(&[&n.node_id.to_string()], n.memory as f64)
            }
        },
    ),
    machine(
        "machine_node_hugepages_count",
        Some(K::CpuTopology),
        &["node_id", "page_size"],
        "Numer of hugepages assigned to NUMA node.",
        |m, o| {
            for n in &m.topology {
                let node = n.node_id.to_string();
                for h in &n.hugepages {
                    o.put(&[&node, &h.page_size.to_string()], h.num_pages as f64)
                }
            }
        },
    ),
    machine(
        "machine_node_distance",
        Some(K::CpuTopology),
        &["node_id", "target_node_id"],
        "Distance between NUMA node and target NUMA node.",
        |m, o| {
            for n in &m.topology {
                let node = n.node_id.to_string();
                for (t, d) in n.distances.iter().enumerate() {
                    o.put(&[&node, &t.to_string()], *d as f64)
                }
            }
        },
    ),
];

/// The family that recently removed containers still export.
pub const OOM_FAMILY: &str = "container_oom_events_total";

/// Help text of application-metric families.
pub const APP_HELP: &str = "Custom application metric.";
