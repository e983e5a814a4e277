//! cAdvisor `info/v2` types and the v1 → v2 conversions, quirks included (they are what v2
//! clients see): quota/period and process limits are dropped from the spec, network keeps only
//! interfaces/tcp/tcp6, filesystem only for exactly one device, `/api/v2.0/stats` never sets
//! `has_processes`.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::json::{Timestamp, finite_f32, is_zero_u64};
use super::v1;

pub use super::v1::{CpuInstStats, CpuInstUsage};

/// `/api/v2.1/stats` value: `{spec, stats}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerInfo {
    pub spec: ContainerSpec,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<ContainerStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    pub creation_time: Timestamp,
    pub start_time: Timestamp,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    pub has_cpu: bool,
    pub cpu: v1::CpuSpec,
    pub has_memory: bool,
    pub memory: v1::MemorySpec,
    pub has_hugetlb: bool,
    pub has_custom_metrics: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_metrics: Vec<v1::MetricSpec>,
    pub has_processes: bool,
    pub processes: v1::ProcessSpec,
    pub has_network: bool,
    pub has_filesystem: bool,
    pub has_diskio: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
}

impl ContainerSpec {
    /// cAdvisor's `ContainerSpecFromV1`: only cpu limit/max_limit/mask are copied (never
    /// quota/period), and the process limit is never copied.
    pub fn from_v1(spec: &v1::ContainerSpec, aliases: &[String], namespace: &str) -> Self {
        let mut out = ContainerSpec {
            creation_time: spec.creation_time,
            start_time: spec.start_time,
            aliases: aliases.to_vec(),
            namespace: namespace.to_owned(),
            labels: spec.labels.clone(),
            envs: spec.envs.clone(),
            has_cpu: spec.has_cpu,
            has_memory: spec.has_memory,
            has_hugetlb: spec.has_hugetlb,
            has_custom_metrics: spec.has_custom_metrics,
            has_processes: spec.has_processes,
            has_network: spec.has_network,
            has_filesystem: spec.has_filesystem,
            has_diskio: spec.has_diskio,
            image: spec.image.clone(),
            ..Default::default()
        };
        if spec.has_cpu {
            out.cpu = v1::CpuSpec {
                limit: spec.cpu.limit,
                max_limit: spec.cpu.max_limit,
                mask: spec.cpu.mask.clone(),
                quota: 0,
                period: 0,
            };
        }
        if spec.has_memory {
            out.memory = spec.memory.clone();
        }
        if spec.has_custom_metrics {
            out.custom_metrics = spec.custom_metrics.clone();
        }
        out
    }
}

/// One v2.1 sample: each section present only when the spec's `has_*` flag is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerStats {
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<v1::CpuStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<CpuInstStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diskio: Option<v1::DiskIoStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<v1::MemoryStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hugetlb: Option<BTreeMap<String, v1::HugetlbStats>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<v1::ProcessStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemStats>,
    /// Never filled by cAdvisor.
    #[serde(rename = "load_stats", skip_serializing_if = "Option::is_none")]
    pub load: Option<v1::LoadStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<v1::AcceleratorStats>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_metrics: BTreeMap<String, Vec<v1::MetricVal>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub perf_stats: Vec<v1::PerfStat>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub perf_uncore_stats: Vec<v1::PerfUncoreStat>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub referenced_memory: u64,
    pub resctrl: v1::ResctrlStats,
    /// The opt-in eBPF signal kinds (bpfadvisor's own; absent unless one is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebpf: Option<Box<super::signals::EbpfSignals>>,
}

impl ContainerStats {
    /// cAdvisor's `ContainerStatsFromV1` for one sample; `prev` is the previous sample of the same
    /// response (for `cpu_inst`), `None` for the first.
    pub fn from_v1(
        stats: &v1::ContainerStats,
        spec: &v1::ContainerSpec,
        prev: Option<&v1::ContainerStats>,
    ) -> Self {
        let mut out = ContainerStats {
            timestamp: stats.timestamp,
            referenced_memory: stats.referenced_memory,
            accelerators: stats.accelerators.to_vec(),
            perf_stats: stats.perf_stats.to_vec(),
            perf_uncore_stats: stats.perf_uncore_stats.to_vec(),
            resctrl: (*stats.resctrl).clone(),
            ebpf: stats.ebpf.clone(),
            ..Default::default()
        };
        if spec.has_cpu {
            out.cpu = Some(stats.cpu.clone());
            out.cpu_inst = prev.and_then(|p| inst_cpu_stats(p, stats).ok());
        }
        if spec.has_memory {
            out.memory = Some(stats.memory.clone());
        }
        if spec.has_hugetlb {
            out.hugetlb = Some((*stats.hugetlb).clone());
        }
        if spec.has_network {
            out.network = Some(NetworkStats::interfaces_and_tcp(&stats.network));
        }
        if spec.has_processes {
            out.processes = Some((*stats.processes).clone());
        }
        if spec.has_filesystem
            && let [fs] = stats.filesystem.as_slice()
        {
            out.filesystem = Some(FilesystemStats {
                total_usage_bytes: Some(fs.usage),
                base_usage_bytes: Some(fs.base_usage),
                inode_usage: Some(fs.inodes),
            });
        }
        if spec.has_diskio {
            out.diskio = Some((*stats.diskio).clone());
        }
        if spec.has_custom_metrics {
            out.custom_metrics = (*stats.custom_metrics).clone();
        }
        out
    }

    /// Converts a whole oldest → newest series; the previous sample for `cpu_inst` is only
    /// tracked when the spec has cpu, as in cAdvisor.
    pub fn from_v1_series<S: Borrow<v1::ContainerStats>>(
        spec: &v1::ContainerSpec,
        stats: &[S],
    ) -> Vec<Self> {
        convert_series(spec, stats, |s, prev| Self::from_v1(s, spec, prev))
    }
}

/// Why `cpu_inst` cannot be computed between two samples (the field is then omitted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstCpuError {
    #[error("container stats move backwards in time")]
    TimeBackwards,
    #[error("different number of cpus")]
    CpuCountChanged,
    #[error("cumulative stats decrease")]
    CounterDecreased,
}

/// Per-second CPU rates (nanocores) between `last` and `cur`, as cAdvisor's `InstCpuStats`.
pub fn inst_cpu_stats(
    last: &v1::ContainerStats,
    cur: &v1::ContainerStats,
) -> Result<CpuInstStats, InstCpuError> {
    let dt = cur.timestamp.nanos_since(last.timestamp);
    if dt <= 0 || last.timestamp.is_zero() {
        return Err(InstCpuError::TimeBackwards);
    }
    let (l, c) = (&last.cpu.usage, &cur.cpu.usage);
    if l.per_cpu.len() != c.per_cpu.len() {
        return Err(InstCpuError::CpuCountChanged);
    }
    let rate = |a: u64, b: u64| -> Result<u64, InstCpuError> {
        let delta = b.checked_sub(a).ok_or(InstCpuError::CounterDecreased)?;
        // Same float arithmetic as Go: uint64(float64(delta) / float64(dt) * 1e9).
        Ok((delta as f64 / dt as f64 * 1e9) as u64)
    };
    let total = rate(l.total, c.total)?;
    let per_cpu = l
        .per_cpu
        .iter()
        .zip(&c.per_cpu)
        .map(|(a, b)| rate(*a, *b))
        .collect::<Result<Vec<_>, _>>()?;
    let user = rate(l.user, c.user)?;
    let system = rate(l.system, c.system)?;
    Ok(CpuInstStats {
        usage: CpuInstUsage {
            total,
            per_cpu,
            user,
            system,
        },
    })
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<v1::InterfaceStats>,
    pub tcp: v1::TcpStat,
    pub tcp6: v1::TcpStat,
    pub udp: v1::UdpStat,
    pub udp6: v1::UdpStat,
    pub tcp_advanced: v1::TcpAdvancedStat,
}

impl NetworkStats {
    /// The v2 converters copy only interfaces, tcp and tcp6; udp, udp6, tcp_advanced stay zero.
    fn interfaces_and_tcp(n: &v1::NetworkStats) -> Self {
        Self {
            interfaces: n.interfaces.clone(),
            tcp: n.tcp.clone(),
            tcp6: n.tcp6.clone(),
            ..Default::default()
        }
    }
}

/// Filesystem usage when the container has exactly one filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilesystemStats {
    #[serde(rename = "totalUsageBytes", skip_serializing_if = "Option::is_none")]
    pub total_usage_bytes: Option<u64>,
    #[serde(rename = "baseUsageBytes", skip_serializing_if = "Option::is_none")]
    pub base_usage_bytes: Option<u64>,
    /// The tag is misspelled upstream; clients expect it so.
    #[serde(
        rename = "containter_inode_usage",
        skip_serializing_if = "Option::is_none"
    )]
    pub inode_usage: Option<u64>,
}

/// `/api/v2.0/stats` sample: value sections with `has_*` flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeprecatedContainerStats {
    pub timestamp: Timestamp,
    pub has_cpu: bool,
    pub cpu: v1::CpuStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<CpuInstStats>,
    pub has_diskio: bool,
    pub diskio: v1::DiskIoStats,
    pub has_memory: bool,
    pub memory: v1::MemoryStats,
    pub has_hugetlb: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hugetlb: BTreeMap<String, v1::HugetlbStats>,
    pub has_network: bool,
    pub network: NetworkStats,
    /// Never set by cAdvisor (always false; `processes` stays zero).
    pub has_processes: bool,
    pub processes: v1::ProcessStats,
    pub has_filesystem: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<v1::FsStats>,
    /// Never set (always false).
    pub has_load: bool,
    #[serde(rename = "load_stats")]
    pub load: v1::LoadStats,
    pub has_custom_metrics: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_metrics: BTreeMap<String, Vec<v1::MetricVal>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub perf_stats: Vec<v1::PerfStat>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub perf_uncore_stats: Vec<v1::PerfUncoreStat>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub referenced_memory: u64,
    pub resctrl: v1::ResctrlStats,
    /// The opt-in eBPF signal kinds (bpfadvisor's own; absent unless one is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebpf: Option<Box<super::signals::EbpfSignals>>,
}

impl DeprecatedContainerStats {
    /// cAdvisor's `DeprecatedStatsFromV1` for one sample (network keeps only interfaces).
    pub fn from_v1(
        stats: &v1::ContainerStats,
        spec: &v1::ContainerSpec,
        prev: Option<&v1::ContainerStats>,
    ) -> Self {
        let mut out = DeprecatedContainerStats {
            timestamp: stats.timestamp,
            has_cpu: spec.has_cpu,
            has_memory: spec.has_memory,
            has_hugetlb: spec.has_hugetlb,
            has_network: spec.has_network,
            has_filesystem: spec.has_filesystem,
            has_diskio: spec.has_diskio,
            has_custom_metrics: spec.has_custom_metrics,
            referenced_memory: stats.referenced_memory,
            perf_stats: stats.perf_stats.to_vec(),
            perf_uncore_stats: stats.perf_uncore_stats.to_vec(),
            resctrl: (*stats.resctrl).clone(),
            ebpf: stats.ebpf.clone(),
            ..Default::default()
        };
        if spec.has_cpu {
            out.cpu = stats.cpu.clone();
            out.cpu_inst = prev.and_then(|p| inst_cpu_stats(p, stats).ok());
        }
        if spec.has_memory {
            out.memory = stats.memory.clone();
        }
        if spec.has_hugetlb {
            out.hugetlb = (*stats.hugetlb).clone();
        }
        if spec.has_network {
            out.network.interfaces = stats.network.interfaces.clone();
        }
        if spec.has_filesystem {
            out.filesystem = stats.filesystem.to_vec();
        }
        if spec.has_diskio {
            out.diskio = (*stats.diskio).clone();
        }
        if spec.has_custom_metrics {
            out.custom_metrics = (*stats.custom_metrics).clone();
        }
        out
    }

    /// Converts an oldest → newest series (previous sample tracked only with cpu).
    pub fn from_v1_series<S: Borrow<v1::ContainerStats>>(
        spec: &v1::ContainerSpec,
        stats: &[S],
    ) -> Vec<Self> {
        convert_series(spec, stats, |s, prev| Self::from_v1(s, spec, prev))
    }
}

/// `/api/v2.1/machinestats` entry, built from the root container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineStats {
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<v1::CpuStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<CpuInstStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<v1::MemoryStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<MachineFsStats>,
    /// Never filled by cAdvisor.
    #[serde(rename = "load_stats", skip_serializing_if = "Option::is_none")]
    pub load: Option<v1::LoadStats>,
}

impl MachineStats {
    /// cAdvisor's `MachineStatsFromV1` for one root-container sample.
    pub fn from_v1(
        stats: &v1::ContainerStats,
        spec: &v1::ContainerSpec,
        prev: Option<&v1::ContainerStats>,
    ) -> Self {
        let mut out = MachineStats {
            timestamp: stats.timestamp,
            ..Default::default()
        };
        if spec.has_cpu {
            out.cpu = Some(stats.cpu.clone());
            out.cpu_inst = prev.and_then(|p| inst_cpu_stats(p, stats).ok());
        }
        if spec.has_memory {
            out.memory = Some(stats.memory.clone());
        }
        if spec.has_network {
            out.network = Some(NetworkStats::interfaces_and_tcp(&stats.network));
        }
        if spec.has_filesystem {
            out.filesystem = stats
                .filesystem
                .iter()
                .map(MachineFsStats::from_v1)
                .collect();
        }
        out
    }

    /// Converts the root container's oldest → newest series.
    pub fn from_v1_series<S: Borrow<v1::ContainerStats>>(
        spec: &v1::ContainerSpec,
        stats: &[S],
    ) -> Vec<Self> {
        convert_series(spec, stats, |s, prev| Self::from_v1(s, spec, prev))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineFsStats {
    pub device: String,
    #[serde(rename = "type")]
    pub fs_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<u64>,
    /// Only when the filesystem has inodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<u64>,
    /// Go embeds `DiskStats` with tag `json:"inline"`, which nests it under the key `inline`.
    pub inline: DiskStats,
}

impl MachineFsStats {
    pub fn from_v1(fs: &v1::FsStats) -> Self {
        // Go: time.Millisecond * time.Duration(ms), an int64 that wraps on overflow.
        let ms = |v: u64| Some((v as i64).wrapping_mul(1_000_000));
        Self {
            device: fs.device.clone(),
            fs_type: fs.fs_type.clone(),
            capacity: Some(fs.capacity),
            usage: Some(fs.usage),
            available: Some(fs.available),
            inodes_free: fs.has_inodes.then_some(fs.inodes_free),
            inline: DiskStats {
                reads_completed: Some(fs.reads_completed),
                reads_merged: Some(fs.reads_merged),
                sectors_read: Some(fs.sectors_read),
                read_duration: ms(fs.read_time),
                writes_completed: Some(fs.writes_completed),
                writes_merged: Some(fs.writes_merged),
                sectors_written: Some(fs.sectors_written),
                write_duration: ms(fs.write_time),
                io_in_progress: Some(fs.io_in_progress),
                io_duration: ms(fs.io_time),
                weighted_io_duration: ms(fs.weighted_io_time),
            },
        }
    }
}

/// Block-device counters of a machine filesystem; durations are integer nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads_completed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads_merged: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sectors_read: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_completed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_merged: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sectors_written: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_in_progress: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_io_duration: Option<i64>,
}

/// `/api/v2.x/storage` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FsInfo {
    pub timestamp: Timestamp,
    pub device: String,
    pub mountpoint: String,
    pub capacity: u64,
    pub available: u64,
    pub usage: u64,
    /// e.g. `root`, `docker-images`. cAdvisor builds this list from an empty (non-nil) slice, so
    /// an unlabelled filesystem is written as `[]`.
    #[serde(deserialize_with = "vec_or_null")]
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<u64>,
}

fn vec_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `/api/v2.x/ps` entry (one `ps` line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessInfo {
    pub user: String,
    pub pid: i64,
    #[serde(rename = "parent_pid")]
    pub ppid: i64,
    /// ps STIME text.
    pub start_time: String,
    #[serde(serialize_with = "finite_f32")]
    pub percent_cpu: f32,
    #[serde(rename = "percent_mem", serialize_with = "finite_f32")]
    pub percent_memory: f32,
    /// Bytes.
    pub rss: u64,
    /// Bytes.
    pub virtual_size: u64,
    pub status: String,
    /// ps TIME text.
    pub running_time: String,
    pub cgroup_path: String,
    pub cmd: String,
    pub fd_count: i64,
    pub psr: i64,
}

/// `/api/v2.x/summary` value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DerivedStats {
    /// Time of the latest sample.
    pub timestamp: Timestamp,
    pub latest_usage: InstantUsage,
    pub minute_usage: Usage,
    pub hour_usage: Usage,
    pub day_usage: Usage,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstantUsage {
    /// Milli-cores.
    pub cpu: u64,
    /// Working set bytes.
    pub memory: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub percent_complete: i32,
    pub cpu: Percentiles,
    pub memory: Percentiles,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    pub present: bool,
    pub mean: u64,
    pub std: u64,
    pub max: u64,
    pub fifty: u64,
    pub ninety: u64,
    #[serde(rename = "ninetyfive")]
    pub ninety_five: u64,
    pub count: u64,
}

/// Converts an oldest → newest series with `convert(sample, previous)`; the previous sample (for
/// `cpu_inst`) is only tracked when the spec has cpu, as in cAdvisor.
fn convert_series<'a, S, T>(
    spec: &v1::ContainerSpec,
    stats: &'a [S],
    convert: impl Fn(&'a v1::ContainerStats, Option<&'a v1::ContainerStats>) -> T,
) -> Vec<T>
where
    S: Borrow<v1::ContainerStats>,
{
    let mut prev = None;
    stats
        .iter()
        .map(|s| {
            let s = s.borrow();
            let out = convert(s, prev);
            if spec.has_cpu {
                prev = Some(s);
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::json::to_go_json;

    fn s<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_go_json(v)).expect("utf-8")
    }

    const SEC: i64 = 1_000_000_000;
    const T0: i64 = 1_795_371_389 * SEC;

    fn v1_spec() -> v1::ContainerSpec {
        v1::ContainerSpec {
            has_cpu: true,
            cpu: v1::CpuSpec {
                limit: 1024,
                max_limit: 0,
                mask: "0-1".into(),
                quota: 50_000,
                period: 100_000,
            },
            has_memory: true,
            memory: v1::MemorySpec {
                limit: 1 << 25,
                ..Default::default()
            },
            has_processes: true,
            processes: v1::ProcessSpec { limit: 100 },
            has_network: true,
            has_filesystem: true,
            ..Default::default()
        }
    }

    fn sample(t: i64, total: u64, per_cpu: Vec<u64>) -> v1::ContainerStats {
        let mut st = v1::ContainerStats {
            timestamp: Timestamp::from_unix_nanos(t),
            ..Default::default()
        };
        st.cpu.usage = v1::CpuUsage {
            total,
            per_cpu,
            user: total / 2,
            system: total / 4,
        };
        st.memory.usage = 4096;
        st.network.interfaces = vec![v1::InterfaceStats {
            name: "eth0".into(),
            rx_bytes: 7,
            ..Default::default()
        }];
        st.network.tcp.listen = 2;
        st.network.udp.listen = 3;
        st.filesystem.push(v1::FsStats {
            usage: 10,
            base_usage: 4,
            inodes: 5,
            ..Default::default()
        });
        st.processes.process_count = 9;
        st
    }

    #[test]
    fn spec_drops_quota_period_and_process_limit() {
        let spec = ContainerSpec::from_v1(&v1_spec(), &["web".into()], "docker");
        assert_eq!(
            s(&spec),
            concat!(
                r#"{"creation_time":"0001-01-01T00:00:00Z","start_time":"0001-01-01T00:00:00Z","#,
                r#""aliases":["web"],"namespace":"docker","has_cpu":true,"#,
                r#""cpu":{"limit":1024,"max_limit":0,"mask":"0-1"},"has_memory":true,"#,
                r#""memory":{"limit":33554432},"has_hugetlb":false,"has_custom_metrics":false,"#,
                r#""has_processes":true,"processes":{},"has_network":true,"has_filesystem":true,"#,
                r#""has_diskio":false}"#
            )
        );
    }

    #[test]
    fn stats_series_has_cpu_inst_from_previous_sample() {
        let spec = v1_spec();
        let series = [
            sample(T0, 1_000, vec![400, 600]),
            // 2 s later: +1e9 ns total → 0.5 cores = 500_000_000 nanocores/s.
            sample(T0 + 2 * SEC, 1_000_001_000, vec![500_000_400, 500_000_600]),
            // Time goes backwards → cpu_inst omitted.
            sample(T0 + SEC, 1_000_001_000, vec![500_000_400, 500_000_600]),
        ];
        let out = ContainerStats::from_v1_series(&spec, &series);
        // The cache hands out Arc'd samples; the converters take those too.
        let shared: Vec<_> = series.iter().cloned().map(std::sync::Arc::new).collect();
        assert_eq!(ContainerStats::from_v1_series(&spec, &shared), out);
        assert_eq!(out[0].cpu_inst, None);
        let inst = out[1].cpu_inst.as_ref().expect("cpu_inst");
        assert_eq!(inst.usage.total, 500_000_000);
        assert_eq!(inst.usage.per_cpu, vec![250_000_000, 250_000_000]);
        assert_eq!(inst.usage.user, 250_000_000);
        assert_eq!(inst.usage.system, 125_000_000);
        assert_eq!(out[2].cpu_inst, None);
    }

    #[test]
    fn inst_cpu_rejects_bad_pairs() {
        let a = sample(T0, 100, vec![1, 2]);
        assert_eq!(
            inst_cpu_stats(&a, &sample(T0 + SEC, 200, vec![1])),
            Err(InstCpuError::CpuCountChanged)
        );
        assert_eq!(
            inst_cpu_stats(&a, &sample(T0 + SEC, 50, vec![1, 2])),
            Err(InstCpuError::CounterDecreased)
        );
        assert_eq!(inst_cpu_stats(&a, &a), Err(InstCpuError::TimeBackwards));
    }

    #[test]
    fn stats_sections_follow_spec_and_network_keeps_tcp_only() {
        let mut spec = v1_spec();
        spec.has_memory = false;
        spec.has_cpu = false;
        let out = ContainerStats::from_v1(&sample(T0, 1, vec![]), &spec, None);
        let j = s(&out);
        assert!(j.starts_with(concat!(
            r#"{"timestamp":"2026-11-22T18:16:29Z","network":{"interfaces":[{"name":"eth0","rx_bytes":7,"#,
            r#""rx_packets":0,"rx_errors":0,"rx_dropped":0,"tx_bytes":0,"tx_packets":0,"tx_errors":0,"tx_dropped":0}],"#,
            r#""tcp":{"Established":0,"SynSent":0,"SynRecv":0,"FinWait1":0,"FinWait2":0,"TimeWait":0,"Close":0,"CloseWait":0,"LastAck":0,"Listen":2,"Closing":0},"#,
            r#""tcp6":{"Established":0,"SynSent":0,"SynRecv":0,"FinWait1":0,"FinWait2":0,"TimeWait":0,"Close":0,"CloseWait":0,"LastAck":0,"Listen":0,"Closing":0},"#,
            r#""udp":{"Listen":0,"Dropped":0,"RxQueued":0,"TxQueued":0},"udp6":{"Listen":0,"Dropped":0,"RxQueued":0,"TxQueued":0},"#,
            r#""tcp_advanced":{"RtoAlgorithm":0,"#
        )));
        assert!(j.ends_with(concat!(
            r#""PAWSEstab":0}},"processes":{"process_count":9,"fd_count":0,"socket_count":0},"#,
            r#""filesystem":{"totalUsageBytes":10,"baseUsageBytes":4,"containter_inode_usage":5},"resctrl":{}}"#
        )));
        assert_eq!(out.processes.as_ref().map(|p| p.process_count), Some(9));
        // Two filesystems → no filesystem section.
        let mut two = sample(T0, 1, vec![]);
        two.filesystem.push(v1::FsStats::default());
        assert_eq!(ContainerStats::from_v1(&two, &spec, None).filesystem, None);
    }

    #[test]
    fn deprecated_stats_never_report_processes() {
        let spec = v1_spec();
        let out = DeprecatedContainerStats::from_v1(&sample(T0, 1, vec![]), &spec, None);
        assert!(!out.has_processes && !out.has_load);
        assert_eq!(out.processes, v1::ProcessStats::default());
        assert_eq!(out.network.tcp, v1::TcpStat::default());
        assert_eq!(out.network.interfaces.len(), 1);
        let j = s(&out);
        assert!(j.starts_with(r#"{"timestamp":"2026-11-22T18:16:29Z","has_cpu":true,"cpu":{"usage":{"total":1,"user":0,"system":0}"#));
        assert!(j.contains(r#""has_diskio":false,"diskio":{"psi":"#));
        assert!(j.contains(r#""has_hugetlb":false,"has_network":true,"network":{"interfaces":"#));
        assert!(j.contains(
            r#""has_processes":false,"processes":{"process_count":0,"fd_count":0,"socket_count":0},"has_filesystem":true,"filesystem":[{"type":"","capacity":0,"usage":10,"base_usage":4,"#
        ));
        assert!(j.contains(
            r#""has_load":false,"load_stats":{"nr_sleeping":0,"nr_running":0,"nr_stopped":0,"nr_uninterruptible":0,"nr_io_wait":0},"has_custom_metrics":false,"resctrl":{}}"#
        ));
    }

    #[test]
    fn machine_fs_stats_nest_under_inline() {
        let fs = v1::FsStats {
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            capacity: 100,
            read_time: 3,
            weighted_io_time: 1,
            ..Default::default()
        };
        assert_eq!(
            s(&MachineFsStats::from_v1(&fs)),
            concat!(
                r#"{"device":"/dev/sda1","type":"ext4","capacity":100,"usage":0,"available":0,"#,
                r#""inline":{"reads_completed":0,"reads_merged":0,"sectors_read":0,"read_duration":3000000,"#,
                r#""writes_completed":0,"writes_merged":0,"sectors_written":0,"write_duration":0,"#,
                r#""io_in_progress":0,"io_duration":0,"weighted_io_duration":1000000}}"#
            )
        );
        let with_inodes = v1::FsStats {
            has_inodes: true,
            inodes_free: 7,
            ..fs
        };
        assert!(
            s(&MachineFsStats::from_v1(&with_inodes))
                .contains(r#""available":0,"inodes_free":7,"inline""#)
        );
        let mut root = sample(T0, 1, vec![]);
        *root.filesystem = vec![with_inodes];
        let ms = MachineStats::from_v1_series(&v1_spec(), &[root]);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].filesystem.len(), 1);
        assert!(ms[0].network.as_ref().is_some_and(|n| n.udp.listen == 0));
    }

    #[test]
    fn fs_info_labels_empty_list_when_unlabelled() {
        let fi = FsInfo {
            device: "/dev/sda1".into(),
            inodes: Some(5),
            ..Default::default()
        };
        assert_eq!(
            s(&fi),
            r#"{"timestamp":"0001-01-01T00:00:00Z","device":"/dev/sda1","mountpoint":"","capacity":0,"available":0,"usage":0,"labels":[],"inodes":5}"#
        );
        let back: FsInfo = serde_json::from_str(&s(&fi)).expect("decode");
        assert_eq!(back, fi);
    }

    #[test]
    fn derived_stats_zero_shape() {
        let p = r#"{"present":false,"mean":0,"std":0,"max":0,"fifty":0,"ninety":0,"ninetyfive":0,"count":0}"#;
        let u = format!(r#"{{"percent_complete":0,"cpu":{p},"memory":{p}}}"#);
        assert_eq!(
            s(&DerivedStats::default()),
            format!(
                r#"{{"timestamp":"0001-01-01T00:00:00Z","latest_usage":{{"cpu":0,"memory":0}},"minute_usage":{u},"hour_usage":{u},"day_usage":{u}}}"#
            )
        );
    }

    #[test]
    fn process_info_names() {
        let p = ProcessInfo {
            pid: 1,
            percent_cpu: 0.5,
            percent_memory: f32::NAN,
            ..Default::default()
        };
        assert_eq!(
            s(&p),
            r#"{"user":"","pid":1,"parent_pid":0,"start_time":"","percent_cpu":0.5,"percent_mem":0,"rss":0,"virtual_size":0,"status":"","running_time":"","cgroup_path":"","cmd":"","fd_count":0,"psr":0}"#
        );
    }
}
