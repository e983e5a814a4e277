//! cAdvisor `info/v1` types (v0.49–v0.57 shape plus fields added up to v0.60), except
//! `MachineInfo` (see `model::machine`). Field order is Go's declaration order; JSON names and
//! `omitempty` are Go's tags. Serialise with [`to_go_json`](super::json::to_go_json).
//!
//! Memory: `ContainerStats` is held ~120k times in the stats cache, so parts that are zero for
//! nearly every container are [`Sparse`] (one pointer while zero, read as `&T` through `Deref`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::json::{Timestamp, finite_f64, is_zero_f64, is_zero_i64, is_zero_u64};
use super::sparse::{Sparse, impl_zero, is_empty};

/// Container identity; flattened into [`ContainerInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerReference {
    /// Runtime id (full docker id); empty for raw cgroups.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Absolute container name = cgroup path (`/`, `/docker/<id>`).
    pub name: String,
    /// Docker: `[<name without "/">, <full id>]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// e.g. `docker`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// `/api/v1.x/containers/<name>` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerInfo {
    #[serde(flatten)]
    pub reference: ContainerReference,
    /// Direct children, sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subcontainers: Vec<ContainerReference>,
    pub spec: ContainerSpec,
    /// Oldest → newest; shared with the stats cache, so answering does not copy samples.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "arc_vec")]
    pub stats: Vec<Arc<ContainerStats>>,
}

/// (De)serialises `Vec<Arc<T>>` as a plain JSON array (serde's `rc` feature is not enabled).
pub(crate) mod arc_vec {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &[Arc<T>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|a| &**a))
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Arc<T>>, D::Error> {
        let v = Option::<Vec<T>>::deserialize(d)?.unwrap_or_default();
        Ok(v.into_iter().map(Arc::new).collect())
    }
}

/// Body of a v1 `containers`/`subcontainers`/`docker` request (`ContainerInfoRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerInfoRequest {
    /// Max samples, newest kept; -1 = all. Defaults to 60 when absent.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub num_stats: i64,
    pub start: Timestamp,
    /// Zero = now.
    pub end: Timestamp,
}

impl Default for ContainerInfoRequest {
    fn default() -> Self {
        Self {
            num_stats: 60,
            start: Timestamp::ZERO,
            end: Timestamp::ZERO,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    /// Oldest mtime of the container's cgroup dirs (clamped to boot time), or the runtime's.
    pub creation_time: Timestamp,
    /// Since v0.57; always emitted (zero time when unknown).
    pub start_time: Timestamp,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    pub has_cpu: bool,
    pub cpu: CpuSpec,
    pub has_memory: bool,
    pub memory: MemorySpec,
    pub has_hugetlb: bool,
    pub has_network: bool,
    pub has_processes: bool,
    pub processes: ProcessSpec,
    pub has_filesystem: bool,
    pub has_diskio: bool,
    pub has_custom_metrics: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_metrics: Vec<MetricSpec>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSpec {
    /// v1 `cpu.shares`; v2 `2 + ((weight - 1) * 262142) / 9999`.
    pub limit: u64,
    /// Never set by cAdvisor; always 0.
    pub max_limit: u64,
    /// cpuset.cpus(.effective), e.g. `0-3`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mask: String,
    /// CFS quota in µs; 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub quota: u64,
    /// CFS period in µs.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub period: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemorySpec {
    /// Bytes; the API replaces 0 with the machine's memory capacity.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub reservation: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub swap_limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessSpec {
    /// pids.max.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// Application-metric description (`type`: `gauge`|`cumulative`, `format`: `int`|`float`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub metric_type: String,
    pub format: String,
    pub units: String,
}

/// One application-metric sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricVal {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub int_value: i64,
    #[serde(skip_serializing_if = "is_zero_f64", serialize_with = "finite_f64")]
    pub float_value: f64,
}

/// `appmetrics` value (`MetricValBasic`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricValBasic {
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub int_value: i64,
    #[serde(skip_serializing_if = "is_zero_f64", serialize_with = "finite_f64")]
    pub float_value: f64,
}

/// One housekeeping sample of a container.
///
/// `cpu`, `diskio`, `memory`, `network`, `processes`, `task_stats`, `resctrl`, `cpuset` and
/// `health` are always emitted (zeros when not collected), as cAdvisor v0.49–v0.57 did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerStats {
    pub timestamp: Timestamp,
    pub cpu: CpuStats,
    /// Rates from the previous sample (v0.60, only on v2 paths); `None` in the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_inst: Option<Box<CpuInstStats>>,
    pub diskio: Sparse<DiskIoStats>,
    pub memory: MemoryStats,
    /// Keyed by page size string, e.g. `2MB`.
    #[serde(skip_serializing_if = "is_empty")]
    pub hugetlb: Sparse<BTreeMap<String, HugetlbStats>>,
    pub network: Sparse<NetworkStats>,
    #[serde(skip_serializing_if = "is_empty")]
    pub filesystem: Sparse<Vec<FsStats>>,
    pub task_stats: Sparse<LoadStats>,
    #[serde(skip_serializing_if = "is_empty")]
    pub accelerators: Sparse<Vec<AcceleratorStats>>,
    pub processes: Sparse<ProcessStats>,
    #[serde(skip_serializing_if = "is_empty")]
    pub custom_metrics: Sparse<BTreeMap<String, Vec<MetricVal>>>,
    #[serde(skip_serializing_if = "is_empty")]
    pub perf_stats: Sparse<Vec<PerfStat>>,
    #[serde(skip_serializing_if = "is_empty")]
    pub perf_uncore_stats: Sparse<Vec<PerfUncoreStat>>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub referenced_memory: u64,
    pub resctrl: Sparse<ResctrlStats>,
    pub cpuset: CPUSetStats,
    /// OOM kills seen for this container since start-up.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub oom_events: u64,
    pub health: Sparse<Health>,
    /// The opt-in eBPF signal kinds (bpfadvisor's own; absent unless one is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebpf: Option<Box<super::signals::EbpfSignals>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub cfs: CpuCFS,
    pub schedstat: CpuSchedstat,
    /// Smoothed load × 1000.
    pub load_average: i32,
    pub load_d_average: i32,
    pub psi: PSIStats,
}

/// Cumulative CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    pub total: u64,
    /// Per-CPU totals (cgroup v1 cpuacct with the `percpu` kind only).
    #[serde(rename = "per_cpu_usage", skip_serializing_if = "Vec::is_empty")]
    pub per_cpu: Vec<u64>,
    pub user: u64,
    pub system: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuCFS {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
    pub bursts_periods: u64,
    /// Nanoseconds.
    pub burst_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSchedstat {
    pub run_time: u64,
    pub runqueue_time: u64,
    pub run_periods: u64,
}

/// Pressure stall information (`cpu.pressure`, `memory.pressure`, `io.pressure`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PSIStats {
    pub full: PSIData,
    pub some: PSIData,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PSIData {
    /// Microseconds, as the kernel reports.
    pub total: u64,
    #[serde(serialize_with = "finite_f64")]
    pub avg10: f64,
    #[serde(serialize_with = "finite_f64")]
    pub avg60: f64,
    #[serde(serialize_with = "finite_f64")]
    pub avg300: f64,
}

/// Instantaneous CPU rates (nanocores per second) between two samples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuInstStats {
    pub usage: CpuInstUsage,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuInstUsage {
    pub total: u64,
    #[serde(rename = "per_cpu_usage", skip_serializing_if = "Vec::is_empty")]
    pub per_cpu: Vec<u64>,
    pub user: u64,
    pub system: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskIoStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_queued: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_cost_usage: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_cost_wait: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_cost_indebt: Vec<PerDiskStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_cost_indelay: Vec<PerDiskStats>,
    pub psi: PSIStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerDiskStats {
    /// Device name (`/dev/sda`), empty when unknown.
    pub device: String,
    pub major: u64,
    pub minor: u64,
    /// Keys `Read Write Sync Async Discard Total` (blkio), `Count` (io cost).
    pub stats: StatMap,
}

/// Per-device counters by operation, serialised like Go's `map[string]uint64` (keys sorted).
///
/// The kernel's operation names (`Read Write Sync Async Discard Total`, and `Count` for io cost)
/// are stored in a fixed array: no per-key allocation in every cached sample. Other keys still work
/// and go to a rarely used side list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatMap {
    known: [u64; KNOWN_KEYS.len()],
    /// Bit i set when `KNOWN_KEYS[i]` is present.
    present: u8,
    #[expect(
        clippy::box_collection,
        reason = "one pointer instead of three in every cached device entry; almost never used"
    )]
    other: Option<Box<Vec<(String, u64)>>>,
}

/// In Go's (byte-wise) key order.
const KNOWN_KEYS: [&str; 7] = [
    "Async", "Count", "Discard", "Read", "Sync", "Total", "Write",
];

impl StatMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, key: impl AsRef<str>, value: u64) {
        let key = key.as_ref();
        if let Some(i) = KNOWN_KEYS.iter().position(|k| *k == key) {
            self.known[i] = value;
            self.present |= 1 << i;
            return;
        }
        let other = self.other.get_or_insert_with(Default::default);
        match other.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => other.push((key.to_owned(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        match KNOWN_KEYS.iter().position(|k| *k == key) {
            Some(i) => (self.present & (1 << i) != 0).then_some(self.known[i]),
            None => self
                .other
                .as_ref()?
                .iter()
                .find(|(k, _)| k == key)
                .map(|e| e.1),
        }
    }

    /// Entries in key (Go) order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        let mut all: Vec<(&str, u64)> = KNOWN_KEYS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.present & (1 << i) != 0)
            .map(|(i, k)| (*k, self.known[i]))
            .collect();
        if let Some(other) = &self.other {
            all.extend(other.iter().map(|(k, v)| (k.as_str(), *v)));
            all.sort_by(|a, b| a.0.cmp(b.0));
        }
        all.into_iter()
    }

    pub fn len(&self) -> usize {
        self.present.count_ones() as usize + self.other.as_ref().map_or(0, |o| o.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: AsRef<str>> FromIterator<(K, u64)> for StatMap {
    fn from_iter<I: IntoIterator<Item = (K, u64)>>(iter: I) -> Self {
        let mut m = StatMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl Serialize for StatMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for StatMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Go's null map decodes as empty.
        let m = Option::<BTreeMap<String, u64>>::deserialize(d)?.unwrap_or_default();
        Ok(m.into_iter().collect())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Bytes.
    pub usage: u64,
    pub max_usage: u64,
    pub cache: u64,
    pub rss: u64,
    pub swap: u64,
    pub mapped_file: u64,
    /// usage − inactive_file, clamped at 0.
    pub working_set: u64,
    pub total_active_file: u64,
    pub total_inactive_file: u64,
    /// The next six since v0.60, cgroup v2 only.
    pub file_dirty: u64,
    pub file_writeback: u64,
    pub pgscan: u64,
    pub pgsteal: u64,
    pub workingset_refault_file: u64,
    pub workingset_refault_anon: u64,
    pub failcnt: u64,
    /// kmem usage.
    pub kernel: u64,
    pub container_data: MemoryStatsMemoryData,
    pub hierarchical_data: MemoryStatsMemoryData,
    pub psi: PSIStats,
    pub events: MemoryEvents,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEvents {
    pub high: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStatsMemoryData {
    pub pgfault: u64,
    pub pgmajfault: u64,
    /// Only with the `memory_numa` kind.
    pub numa_stats: Sparse<MemoryNumaStats>,
}

/// Pages per NUMA node; JSON keys are the node ids as strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryNumaStats {
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "go_int_keys"
    )]
    pub file: BTreeMap<u8, u64>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "go_int_keys"
    )]
    pub anon: BTreeMap<u8, u64>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "go_int_keys"
    )]
    pub unevictable: BTreeMap<u8, u64>,
}

/// Go sorts map keys by their text, so node `10` comes before node `2`.
fn go_int_keys<S: Serializer>(m: &BTreeMap<u8, u64>, s: S) -> Result<S::Ok, S::Error> {
    let mut keys: Vec<(String, u64)> = m.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    keys.sort();
    let mut out = s.serialize_map(Some(keys.len()))?;
    for (k, v) in &keys {
        out.serialize_entry(k, v)?;
    }
    out.end()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HugetlbStats {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max_usage: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceStats {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Network section. Go embeds the first interface inline, so its fields are repeated at the top
/// level: set `interface` to `interfaces[0]` (or use [`NetworkStats::from_interfaces`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    #[serde(flatten)]
    pub interface: InterfaceStats,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceStats>,
    pub tcp: TcpStat,
    pub tcp6: TcpStat,
    pub udp: UdpStat,
    pub udp6: UdpStat,
    pub tcp_advanced: Sparse<TcpAdvancedStat>,
}

impl NetworkStats {
    /// Interfaces with the first one also inlined, as cAdvisor fills it.
    pub fn from_interfaces(interfaces: Vec<InterfaceStats>) -> Self {
        Self {
            interface: interfaces.first().cloned().unwrap_or_default(),
            interfaces,
            ..Self::default()
        }
    }
}

/// TCP socket counts per state; JSON keys are Go's untagged field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TcpStat {
    pub established: u64,
    pub syn_sent: u64,
    pub syn_recv: u64,
    #[serde(rename = "FinWait1")]
    pub fin_wait1: u64,
    #[serde(rename = "FinWait2")]
    pub fin_wait2: u64,
    pub time_wait: u64,
    pub close: u64,
    pub close_wait: u64,
    pub last_ack: u64,
    pub listen: u64,
    pub closing: u64,
}

impl TcpStat {
    /// `tcp_state` label values of `container_network_tcp{,6}_usage_total`, in field order.
    pub const LABELS: [&'static str; 11] = [
        "established",
        "synsent",
        "synrecv",
        "finwait1",
        "finwait2",
        "timewait",
        "close",
        "closewait",
        "lastack",
        "listen",
        "closing",
    ];

    /// Field values in [`Self::LABELS`] order.
    pub fn values(&self) -> [u64; 11] {
        [
            self.established,
            self.syn_sent,
            self.syn_recv,
            self.fin_wait1,
            self.fin_wait2,
            self.time_wait,
            self.close,
            self.close_wait,
            self.last_ack,
            self.listen,
            self.closing,
        ]
    }
}

/// UDP socket counters; JSON keys are Go's untagged field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UdpStat {
    pub listen: u64,
    pub dropped: u64,
    pub rx_queued: u64,
    pub tx_queued: u64,
}

impl UdpStat {
    /// `udp_state` label values of `container_network_udp{,6}_usage_total`, in field order.
    pub const LABELS: [&'static str; 4] = ["listen", "dropped", "rxqueued", "txqueued"];

    pub fn values(&self) -> [u64; 4] {
        [self.listen, self.dropped, self.rx_queued, self.tx_queued]
    }
}

/// `/proc/net/netstat` + `/proc/net/snmp` TCP counters; JSON keys are Go's untagged field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpAdvancedStat {
    #[serde(rename = "RtoAlgorithm")]
    pub rto_algorithm: u64,
    #[serde(rename = "RtoMin")]
    pub rto_min: u64,
    #[serde(rename = "RtoMax")]
    pub rto_max: u64,
    #[serde(rename = "MaxConn")]
    pub max_conn: i64,
    #[serde(rename = "ActiveOpens")]
    pub active_opens: u64,
    #[serde(rename = "PassiveOpens")]
    pub passive_opens: u64,
    #[serde(rename = "AttemptFails")]
    pub attempt_fails: u64,
    #[serde(rename = "EstabResets")]
    pub estab_resets: u64,
    #[serde(rename = "CurrEstab")]
    pub curr_estab: u64,
    #[serde(rename = "InSegs")]
    pub in_segs: u64,
    #[serde(rename = "OutSegs")]
    pub out_segs: u64,
    #[serde(rename = "RetransSegs")]
    pub retrans_segs: u64,
    #[serde(rename = "InErrs")]
    pub in_errs: u64,
    #[serde(rename = "OutRsts")]
    pub out_rsts: u64,
    #[serde(rename = "InCsumErrors")]
    pub in_csum_errors: u64,
    #[serde(rename = "EmbryonicRsts")]
    pub embryonic_rsts: u64,
    #[serde(rename = "SyncookiesSent")]
    pub syncookies_sent: u64,
    #[serde(rename = "SyncookiesRecv")]
    pub syncookies_recv: u64,
    #[serde(rename = "SyncookiesFailed")]
    pub syncookies_failed: u64,
    #[serde(rename = "PruneCalled")]
    pub prune_called: u64,
    #[serde(rename = "RcvPruned")]
    pub rcv_pruned: u64,
    #[serde(rename = "OfoPruned")]
    pub ofo_pruned: u64,
    #[serde(rename = "OutOfWindowIcmps")]
    pub out_of_window_icmps: u64,
    #[serde(rename = "LockDroppedIcmps")]
    pub lock_dropped_icmps: u64,
    #[serde(rename = "TW")]
    pub tw: u64,
    #[serde(rename = "TWRecycled")]
    pub tw_recycled: u64,
    #[serde(rename = "TWKilled")]
    pub tw_killed: u64,
    #[serde(rename = "TCPTimeWaitOverflow")]
    pub tcp_time_wait_overflow: u64,
    #[serde(rename = "TCPTimeouts")]
    pub tcp_timeouts: u64,
    #[serde(rename = "TCPSpuriousRTOs")]
    pub tcp_spurious_rt_os: u64,
    #[serde(rename = "TCPLossProbes")]
    pub tcp_loss_probes: u64,
    #[serde(rename = "TCPLossProbeRecovery")]
    pub tcp_loss_probe_recovery: u64,
    #[serde(rename = "TCPRenoRecoveryFail")]
    pub tcp_reno_recovery_fail: u64,
    #[serde(rename = "TCPSackRecoveryFail")]
    pub tcp_sack_recovery_fail: u64,
    #[serde(rename = "TCPRenoFailures")]
    pub tcp_reno_failures: u64,
    #[serde(rename = "TCPSackFailures")]
    pub tcp_sack_failures: u64,
    #[serde(rename = "TCPLossFailures")]
    pub tcp_loss_failures: u64,
    #[serde(rename = "DelayedACKs")]
    pub delayed_ac_ks: u64,
    #[serde(rename = "DelayedACKLocked")]
    pub delayed_ack_locked: u64,
    #[serde(rename = "DelayedACKLost")]
    pub delayed_ack_lost: u64,
    #[serde(rename = "ListenOverflows")]
    pub listen_overflows: u64,
    #[serde(rename = "ListenDrops")]
    pub listen_drops: u64,
    #[serde(rename = "TCPHPHits")]
    pub tcphp_hits: u64,
    #[serde(rename = "TCPPureAcks")]
    pub tcp_pure_acks: u64,
    #[serde(rename = "TCPHPAcks")]
    pub tcphp_acks: u64,
    #[serde(rename = "TCPRenoRecovery")]
    pub tcp_reno_recovery: u64,
    #[serde(rename = "TCPSackRecovery")]
    pub tcp_sack_recovery: u64,
    #[serde(rename = "TCPSACKReneging")]
    pub tcpsack_reneging: u64,
    #[serde(rename = "TCPFACKReorder")]
    pub tcpfack_reorder: u64,
    #[serde(rename = "TCPSACKReorder")]
    pub tcpsack_reorder: u64,
    #[serde(rename = "TCPRenoReorder")]
    pub tcp_reno_reorder: u64,
    #[serde(rename = "TCPTSReorder")]
    pub tcpts_reorder: u64,
    #[serde(rename = "TCPFullUndo")]
    pub tcp_full_undo: u64,
    #[serde(rename = "TCPPartialUndo")]
    pub tcp_partial_undo: u64,
    #[serde(rename = "TCPDSACKUndo")]
    pub tcpdsack_undo: u64,
    #[serde(rename = "TCPLossUndo")]
    pub tcp_loss_undo: u64,
    #[serde(rename = "TCPFastRetrans")]
    pub tcp_fast_retrans: u64,
    #[serde(rename = "TCPSlowStartRetrans")]
    pub tcp_slow_start_retrans: u64,
    #[serde(rename = "TCPLostRetransmit")]
    pub tcp_lost_retransmit: u64,
    #[serde(rename = "TCPRetransFail")]
    pub tcp_retrans_fail: u64,
    #[serde(rename = "TCPRcvCollapsed")]
    pub tcp_rcv_collapsed: u64,
    #[serde(rename = "TCPDSACKOldSent")]
    pub tcpdsack_old_sent: u64,
    #[serde(rename = "TCPDSACKOfoSent")]
    pub tcpdsack_ofo_sent: u64,
    #[serde(rename = "TCPDSACKRecv")]
    pub tcpdsack_recv: u64,
    #[serde(rename = "TCPDSACKOfoRecv")]
    pub tcpdsack_ofo_recv: u64,
    #[serde(rename = "TCPAbortOnData")]
    pub tcp_abort_on_data: u64,
    #[serde(rename = "TCPAbortOnClose")]
    pub tcp_abort_on_close: u64,
    #[serde(rename = "TCPAbortOnMemory")]
    pub tcp_abort_on_memory: u64,
    #[serde(rename = "TCPAbortOnTimeout")]
    pub tcp_abort_on_timeout: u64,
    #[serde(rename = "TCPAbortOnLinger")]
    pub tcp_abort_on_linger: u64,
    #[serde(rename = "TCPAbortFailed")]
    pub tcp_abort_failed: u64,
    #[serde(rename = "TCPMemoryPressures")]
    pub tcp_memory_pressures: u64,
    #[serde(rename = "TCPMemoryPressuresChrono")]
    pub tcp_memory_pressures_chrono: u64,
    #[serde(rename = "TCPSACKDiscard")]
    pub tcpsack_discard: u64,
    #[serde(rename = "TCPDSACKIgnoredOld")]
    pub tcpdsack_ignored_old: u64,
    #[serde(rename = "TCPDSACKIgnoredNoUndo")]
    pub tcpdsack_ignored_no_undo: u64,
    #[serde(rename = "TCPMD5NotFound")]
    pub tcpmd5_not_found: u64,
    #[serde(rename = "TCPMD5Unexpected")]
    pub tcpmd5_unexpected: u64,
    #[serde(rename = "TCPMD5Failure")]
    pub tcpmd5_failure: u64,
    #[serde(rename = "TCPSackShifted")]
    pub tcp_sack_shifted: u64,
    #[serde(rename = "TCPSackMerged")]
    pub tcp_sack_merged: u64,
    #[serde(rename = "TCPSackShiftFallback")]
    pub tcp_sack_shift_fallback: u64,
    #[serde(rename = "TCPBacklogDrop")]
    pub tcp_backlog_drop: u64,
    #[serde(rename = "PFMemallocDrop")]
    pub pf_memalloc_drop: u64,
    #[serde(rename = "TCPMinTTLDrop")]
    pub tcp_min_ttl_drop: u64,
    #[serde(rename = "TCPDeferAcceptDrop")]
    pub tcp_defer_accept_drop: u64,
    #[serde(rename = "IPReversePathFilter")]
    pub ip_reverse_path_filter: u64,
    #[serde(rename = "TCPReqQFullDoCookies")]
    pub tcp_req_q_full_do_cookies: u64,
    #[serde(rename = "TCPReqQFullDrop")]
    pub tcp_req_q_full_drop: u64,
    #[serde(rename = "TCPFastOpenActive")]
    pub tcp_fast_open_active: u64,
    #[serde(rename = "TCPFastOpenActiveFail")]
    pub tcp_fast_open_active_fail: u64,
    #[serde(rename = "TCPFastOpenPassive")]
    pub tcp_fast_open_passive: u64,
    #[serde(rename = "TCPFastOpenPassiveFail")]
    pub tcp_fast_open_passive_fail: u64,
    #[serde(rename = "TCPFastOpenListenOverflow")]
    pub tcp_fast_open_listen_overflow: u64,
    #[serde(rename = "TCPFastOpenCookieReqd")]
    pub tcp_fast_open_cookie_reqd: u64,
    #[serde(rename = "TCPSynRetrans")]
    pub tcp_syn_retrans: u64,
    #[serde(rename = "TCPOrigDataSent")]
    pub tcp_orig_data_sent: u64,
    #[serde(rename = "PAWSActive")]
    pub paws_active: u64,
    #[serde(rename = "PAWSEstab")]
    pub paws_estab: u64,
}

impl TcpAdvancedStat {
    /// `tcp_state` label values of `container_network_advance_tcp_stats_total`, in field order.
    pub const LABELS: [&'static str; 99] = [
        "rtoalgorithm",
        "rtomin",
        "rtomax",
        "maxconn",
        "activeopens",
        "passiveopens",
        "attemptfails",
        "estabresets",
        "currestab",
        "insegs",
        "outsegs",
        "retranssegs",
        "inerrs",
        "outrsts",
        "incsumerrors",
        "embryonicrsts",
        "syncookiessent",
        "syncookiesrecv",
        "syncookiesfailed",
        "prunecalled",
        "rcvpruned",
        "ofopruned",
        "outofwindowicmps",
        "lockdroppedicmps",
        "tw",
        "twrecycled",
        "twkilled",
        "tcptimewaitoverflow",
        "tcptimeouts",
        "tcpspuriousrtos",
        "tcplossprobes",
        "tcplossproberecovery",
        "tcprenorecoveryfail",
        "tcpsackrecoveryfail",
        "tcprenofailures",
        "tcpsackfailures",
        "tcplossfailures",
        "delayedacks",
        "delayedacklocked",
        "delayedacklost",
        "listenoverflows",
        "listendrops",
        "tcphphits",
        "tcppureacks",
        "tcphpacks",
        "tcprenorecovery",
        "tcpsackrecovery",
        "tcpsackreneging",
        "tcpfackreorder",
        "tcpsackreorder",
        "tcprenoreorder",
        "tcptsreorder",
        "tcpfullundo",
        "tcppartialundo",
        "tcpdsackundo",
        "tcplossundo",
        "tcpfastretrans",
        "tcpslowstartretrans",
        "tcplostretransmit",
        "tcpretransfail",
        "tcprcvcollapsed",
        "tcpdsackoldsent",
        "tcpdsackofosent",
        "tcpdsackrecv",
        "tcpdsackoforecv",
        "tcpabortondata",
        "tcpabortonclose",
        "tcpabortonmemory",
        "tcpabortontimeout",
        "tcpabortonlinger",
        "tcpabortfailed",
        "tcpmemorypressures",
        "tcpmemorypressureschrono",
        "tcpsackdiscard",
        "tcpdsackignoredold",
        "tcpdsackignorednoundo",
        "tcpmd5notfound",
        "tcpmd5unexpected",
        "tcpmd5failure",
        "tcpsackshifted",
        "tcpsackmerged",
        "tcpsackshiftfallback",
        "tcpbacklogdrop",
        "pfmemallocdrop",
        "tcpminttldrop",
        "tcpdeferacceptdrop",
        "ipreversepathfilter",
        "tcpreqqfulldocookies",
        "tcpreqqfulldrop",
        "tcpfastopenactive",
        "tcpfastopenactivefail",
        "tcpfastopenpassive",
        "tcpfastopenpassivefail",
        "tcpfastopenlistenoverflow",
        "tcpfastopencookiereqd",
        "tcpsynretrans",
        "tcporigdatasent",
        "pawsactive",
        "pawsestab",
    ];

    /// Field values in [`Self::LABELS`] order (as Prometheus sample values).
    pub fn values(&self) -> [f64; 99] {
        [
            self.rto_algorithm as f64,
            self.rto_min as f64,
            self.rto_max as f64,
            self.max_conn as f64,
            self.active_opens as f64,
            self.passive_opens as f64,
            self.attempt_fails as f64,
            self.estab_resets as f64,
            self.curr_estab as f64,
            self.in_segs as f64,
            self.out_segs as f64,
            self.retrans_segs as f64,
            self.in_errs as f64,
            self.out_rsts as f64,
            self.in_csum_errors as f64,
            self.embryonic_rsts as f64,
            self.syncookies_sent as f64,
            self.syncookies_recv as f64,
            self.syncookies_failed as f64,
            self.prune_called as f64,
            self.rcv_pruned as f64,
            self.ofo_pruned as f64,
            self.out_of_window_icmps as f64,
            self.lock_dropped_icmps as f64,
            self.tw as f64,
            self.tw_recycled as f64,
            self.tw_killed as f64,
            self.tcp_time_wait_overflow as f64,
            self.tcp_timeouts as f64,
            self.tcp_spurious_rt_os as f64,
            self.tcp_loss_probes as f64,
            self.tcp_loss_probe_recovery as f64,
            self.tcp_reno_recovery_fail as f64,
            self.tcp_sack_recovery_fail as f64,
            self.tcp_reno_failures as f64,
            self.tcp_sack_failures as f64,
            self.tcp_loss_failures as f64,
            self.delayed_ac_ks as f64,
            self.delayed_ack_locked as f64,
            self.delayed_ack_lost as f64,
            self.listen_overflows as f64,
            self.listen_drops as f64,
            self.tcphp_hits as f64,
            self.tcp_pure_acks as f64,
            self.tcphp_acks as f64,
            self.tcp_reno_recovery as f64,
            self.tcp_sack_recovery as f64,
            self.tcpsack_reneging as f64,
            self.tcpfack_reorder as f64,
            self.tcpsack_reorder as f64,
            self.tcp_reno_reorder as f64,
            self.tcpts_reorder as f64,
            self.tcp_full_undo as f64,
            self.tcp_partial_undo as f64,
            self.tcpdsack_undo as f64,
            self.tcp_loss_undo as f64,
            self.tcp_fast_retrans as f64,
            self.tcp_slow_start_retrans as f64,
            self.tcp_lost_retransmit as f64,
            self.tcp_retrans_fail as f64,
            self.tcp_rcv_collapsed as f64,
            self.tcpdsack_old_sent as f64,
            self.tcpdsack_ofo_sent as f64,
            self.tcpdsack_recv as f64,
            self.tcpdsack_ofo_recv as f64,
            self.tcp_abort_on_data as f64,
            self.tcp_abort_on_close as f64,
            self.tcp_abort_on_memory as f64,
            self.tcp_abort_on_timeout as f64,
            self.tcp_abort_on_linger as f64,
            self.tcp_abort_failed as f64,
            self.tcp_memory_pressures as f64,
            self.tcp_memory_pressures_chrono as f64,
            self.tcpsack_discard as f64,
            self.tcpdsack_ignored_old as f64,
            self.tcpdsack_ignored_no_undo as f64,
            self.tcpmd5_not_found as f64,
            self.tcpmd5_unexpected as f64,
            self.tcpmd5_failure as f64,
            self.tcp_sack_shifted as f64,
            self.tcp_sack_merged as f64,
            self.tcp_sack_shift_fallback as f64,
            self.tcp_backlog_drop as f64,
            self.pf_memalloc_drop as f64,
            self.tcp_min_ttl_drop as f64,
            self.tcp_defer_accept_drop as f64,
            self.ip_reverse_path_filter as f64,
            self.tcp_req_q_full_do_cookies as f64,
            self.tcp_req_q_full_drop as f64,
            self.tcp_fast_open_active as f64,
            self.tcp_fast_open_active_fail as f64,
            self.tcp_fast_open_passive as f64,
            self.tcp_fast_open_passive_fail as f64,
            self.tcp_fast_open_listen_overflow as f64,
            self.tcp_fast_open_cookie_reqd as f64,
            self.tcp_syn_retrans as f64,
            self.tcp_orig_data_sent as f64,
            self.paws_active as f64,
            self.paws_estab as f64,
        ]
    }

    /// The field at `index` of [`Self::LABELS`], for filling from `/proc/net/{netstat,snmp}`.
    pub fn field_mut(&mut self, index: usize) -> Option<TcpAdvancedField<'_>> {
        use TcpAdvancedField::{Signed, Unsigned};
        Some(match index {
            0 => Unsigned(&mut self.rto_algorithm),
            1 => Unsigned(&mut self.rto_min),
            2 => Unsigned(&mut self.rto_max),
            3 => Signed(&mut self.max_conn),
            4 => Unsigned(&mut self.active_opens),
            5 => Unsigned(&mut self.passive_opens),
            6 => Unsigned(&mut self.attempt_fails),
            7 => Unsigned(&mut self.estab_resets),
            8 => Unsigned(&mut self.curr_estab),
            9 => Unsigned(&mut self.in_segs),
            10 => Unsigned(&mut self.out_segs),
            11 => Unsigned(&mut self.retrans_segs),
            12 => Unsigned(&mut self.in_errs),
            13 => Unsigned(&mut self.out_rsts),
            14 => Unsigned(&mut self.in_csum_errors),
            15 => Unsigned(&mut self.embryonic_rsts),
            16 => Unsigned(&mut self.syncookies_sent),
            17 => Unsigned(&mut self.syncookies_recv),
            18 => Unsigned(&mut self.syncookies_failed),
            19 => Unsigned(&mut self.prune_called),
            20 => Unsigned(&mut self.rcv_pruned),
            21 => Unsigned(&mut self.ofo_pruned),
            22 => Unsigned(&mut self.out_of_window_icmps),
            23 => Unsigned(&mut self.lock_dropped_icmps),
            24 => Unsigned(&mut self.tw),
            25 => Unsigned(&mut self.tw_recycled),
            26 => Unsigned(&mut self.tw_killed),
            27 => Unsigned(&mut self.tcp_time_wait_overflow),
            28 => Unsigned(&mut self.tcp_timeouts),
            29 => Unsigned(&mut self.tcp_spurious_rt_os),
            30 => Unsigned(&mut self.tcp_loss_probes),
            31 => Unsigned(&mut self.tcp_loss_probe_recovery),
            32 => Unsigned(&mut self.tcp_reno_recovery_fail),
            33 => Unsigned(&mut self.tcp_sack_recovery_fail),
            34 => Unsigned(&mut self.tcp_reno_failures),
            35 => Unsigned(&mut self.tcp_sack_failures),
            36 => Unsigned(&mut self.tcp_loss_failures),
            37 => Unsigned(&mut self.delayed_ac_ks),
            38 => Unsigned(&mut self.delayed_ack_locked),
            39 => Unsigned(&mut self.delayed_ack_lost),
            40 => Unsigned(&mut self.listen_overflows),
            41 => Unsigned(&mut self.listen_drops),
            42 => Unsigned(&mut self.tcphp_hits),
            43 => Unsigned(&mut self.tcp_pure_acks),
            44 => Unsigned(&mut self.tcphp_acks),
            45 => Unsigned(&mut self.tcp_reno_recovery),
            46 => Unsigned(&mut self.tcp_sack_recovery),
            47 => Unsigned(&mut self.tcpsack_reneging),
            48 => Unsigned(&mut self.tcpfack_reorder),
            49 => Unsigned(&mut self.tcpsack_reorder),
            50 => Unsigned(&mut self.tcp_reno_reorder),
            51 => Unsigned(&mut self.tcpts_reorder),
            52 => Unsigned(&mut self.tcp_full_undo),
            53 => Unsigned(&mut self.tcp_partial_undo),
            54 => Unsigned(&mut self.tcpdsack_undo),
            55 => Unsigned(&mut self.tcp_loss_undo),
            56 => Unsigned(&mut self.tcp_fast_retrans),
            57 => Unsigned(&mut self.tcp_slow_start_retrans),
            58 => Unsigned(&mut self.tcp_lost_retransmit),
            59 => Unsigned(&mut self.tcp_retrans_fail),
            60 => Unsigned(&mut self.tcp_rcv_collapsed),
            61 => Unsigned(&mut self.tcpdsack_old_sent),
            62 => Unsigned(&mut self.tcpdsack_ofo_sent),
            63 => Unsigned(&mut self.tcpdsack_recv),
            64 => Unsigned(&mut self.tcpdsack_ofo_recv),
            65 => Unsigned(&mut self.tcp_abort_on_data),
            66 => Unsigned(&mut self.tcp_abort_on_close),
            67 => Unsigned(&mut self.tcp_abort_on_memory),
            68 => Unsigned(&mut self.tcp_abort_on_timeout),
            69 => Unsigned(&mut self.tcp_abort_on_linger),
            70 => Unsigned(&mut self.tcp_abort_failed),
            71 => Unsigned(&mut self.tcp_memory_pressures),
            72 => Unsigned(&mut self.tcp_memory_pressures_chrono),
            73 => Unsigned(&mut self.tcpsack_discard),
            74 => Unsigned(&mut self.tcpdsack_ignored_old),
            75 => Unsigned(&mut self.tcpdsack_ignored_no_undo),
            76 => Unsigned(&mut self.tcpmd5_not_found),
            77 => Unsigned(&mut self.tcpmd5_unexpected),
            78 => Unsigned(&mut self.tcpmd5_failure),
            79 => Unsigned(&mut self.tcp_sack_shifted),
            80 => Unsigned(&mut self.tcp_sack_merged),
            81 => Unsigned(&mut self.tcp_sack_shift_fallback),
            82 => Unsigned(&mut self.tcp_backlog_drop),
            83 => Unsigned(&mut self.pf_memalloc_drop),
            84 => Unsigned(&mut self.tcp_min_ttl_drop),
            85 => Unsigned(&mut self.tcp_defer_accept_drop),
            86 => Unsigned(&mut self.ip_reverse_path_filter),
            87 => Unsigned(&mut self.tcp_req_q_full_do_cookies),
            88 => Unsigned(&mut self.tcp_req_q_full_drop),
            89 => Unsigned(&mut self.tcp_fast_open_active),
            90 => Unsigned(&mut self.tcp_fast_open_active_fail),
            91 => Unsigned(&mut self.tcp_fast_open_passive),
            92 => Unsigned(&mut self.tcp_fast_open_passive_fail),
            93 => Unsigned(&mut self.tcp_fast_open_listen_overflow),
            94 => Unsigned(&mut self.tcp_fast_open_cookie_reqd),
            95 => Unsigned(&mut self.tcp_syn_retrans),
            96 => Unsigned(&mut self.tcp_orig_data_sent),
            97 => Unsigned(&mut self.paws_active),
            98 => Unsigned(&mut self.paws_estab),
            _ => return None,
        })
    }
}

/// A mutable `TcpAdvancedStat` field: `MaxConn` is signed (the kernel reports `-1`), the rest not.
#[derive(Debug)]
pub enum TcpAdvancedField<'a> {
    Unsigned(&'a mut u64),
    Signed(&'a mut i64),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FsStats {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub device: String,
    #[serde(rename = "type")]
    pub fs_type: String,
    /// Bytes the container may use on this filesystem (Go field `Limit`).
    pub capacity: u64,
    pub usage: u64,
    /// Writable-layer usage (docker).
    pub base_usage: u64,
    /// Bytes available to non-root users.
    pub available: u64,
    pub has_inodes: bool,
    pub inodes: u64,
    pub inodes_free: u64,
    pub reads_completed: u64,
    pub reads_merged: u64,
    pub sectors_read: u64,
    /// Milliseconds.
    pub read_time: u64,
    pub writes_completed: u64,
    pub writes_merged: u64,
    pub sectors_written: u64,
    /// Milliseconds.
    pub write_time: u64,
    pub io_in_progress: u64,
    /// Milliseconds.
    pub io_time: u64,
    /// Milliseconds.
    pub weighted_io_time: u64,
}

/// Task counts by state (`task_stats`; only with the load reader).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadStats {
    pub nr_sleeping: u64,
    pub nr_running: u64,
    pub nr_stopped: u64,
    pub nr_uninterruptible: u64,
    pub nr_io_wait: u64,
}

/// Never filled (NVIDIA support was removed upstream); kept for the shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcceleratorStats {
    pub make: String,
    pub model: String,
    pub id: String,
    pub memory_total: u64,
    pub memory_used: u64,
    pub duty_cycle: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessStats {
    pub process_count: u64,
    pub fd_count: u64,
    pub socket_count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub threads_current: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub threads_max: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<UlimitSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UlimitSpec {
    /// e.g. `max_open_files`.
    pub name: String,
    pub soft_limit: i64,
    pub hard_limit: i64,
}

/// One perf event value (Go `PerfValue` embedded, then `cpu`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerfStat {
    #[serde(serialize_with = "finite_f64")]
    pub scaling_ratio: f64,
    pub value: u64,
    pub name: String,
    pub cpu: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerfUncoreStat {
    #[serde(serialize_with = "finite_f64")]
    pub scaling_ratio: f64,
    pub value: u64,
    pub name: String,
    pub socket: i64,
    pub pmu: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResctrlStats {
    /// One entry per NUMA node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub memory_bandwidth: Vec<MemoryBandwidthStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache: Vec<CacheStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryBandwidthStats {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub mbm_total_bytes: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub mbm_local_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheStats {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub llc_occupancy: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CPUSetStats {
    pub memory_migrate: u64,
}

/// Runtime health check state: `healthy`, `unhealthy`, `starting`, or empty (no check).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    pub status: String,
}

/// A container lifecycle or OOM event (`/api/v1.3/events`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    pub container_name: String,
    pub timestamp: Timestamp,
    pub event_type: EventType,
    /// Always emitted; `{}` when empty.
    pub event_data: EventData,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum EventType {
    #[default]
    #[serde(rename = "oom")]
    Oom,
    #[serde(rename = "oomKill")]
    OomKill,
    #[serde(rename = "containerCreation")]
    ContainerCreation,
    #[serde(rename = "containerDeletion")]
    ContainerDeletion,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::Oom,
        EventType::OomKill,
        EventType::ContainerCreation,
        EventType::ContainerDeletion,
    ];

    /// The wire string (`oom`, `oomKill`, `containerCreation`, `containerDeletion`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Oom => "oom",
            EventType::OomKill => "oomKill",
            EventType::ContainerCreation => "containerCreation",
            EventType::ContainerDeletion => "containerDeletion",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventData {
    /// Only on `oomKill` events.
    #[serde(rename = "oom", skip_serializing_if = "Option::is_none")]
    pub oom_kill: Option<OomKillEventData>,
    /// Only on `containerDeletion` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_deletion: Option<ContainerDeletionEventData>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OomKillEventData {
    pub pid: i64,
    pub process_name: String,
    /// e.g. `CONSTRAINT_MEMCG`.
    pub constraint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerDeletionEventData {
    /// -1 when unknown.
    pub exit_code: i64,
}

impl Default for ContainerDeletionEventData {
    fn default() -> Self {
        Self { exit_code: -1 }
    }
}

impl_zero!(
    DiskIoStats,
    NetworkStats,
    TcpAdvancedStat,
    LoadStats,
    ProcessStats,
    ResctrlStats,
    Health,
    MemoryNumaStats,
    BTreeMap<String, HugetlbStats>,
    BTreeMap<String, Vec<MetricVal>>,
    Vec<FsStats>,
    Vec<AcceleratorStats>,
    Vec<PerfStat>,
    Vec<PerfUncoreStat>,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::json::to_go_json;

    fn s<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_go_json(v)).expect("utf-8")
    }

    const PSI0: &str = r#"{"full":{"total":0,"avg10":0,"avg60":0,"avg300":0},"some":{"total":0,"avg10":0,"avg60":0,"avg300":0}}"#;
    const TCP0: &str = r#"{"Established":0,"SynSent":0,"SynRecv":0,"FinWait1":0,"FinWait2":0,"TimeWait":0,"Close":0,"CloseWait":0,"LastAck":0,"Listen":0,"Closing":0}"#;
    const UDP0: &str = r#"{"Listen":0,"Dropped":0,"RxQueued":0,"TxQueued":0}"#;

    /// The zero sample as cAdvisor v0.57 prints it (value sub-objects always present) plus the
    /// v0.60 additions, built from Go's declaration order.
    fn zero_stats_json() -> String {
        let adv: Vec<String> = GO_ADV_NAMES
            .split(' ')
            .map(|n| format!("\"{n}\":0"))
            .collect();
        format!(
            concat!(
                r#"{{"timestamp":"0001-01-01T00:00:00Z","cpu":{{"usage":{{"total":0,"user":0,"system":0}},"#,
                r#""cfs":{{"periods":0,"throttled_periods":0,"throttled_time":0,"bursts_periods":0,"burst_time":0}},"#,
                r#""schedstat":{{"run_time":0,"runqueue_time":0,"run_periods":0}},"load_average":0,"load_d_average":0,"psi":{psi}}},"#,
                r#""diskio":{{"psi":{psi}}},"#,
                r#""memory":{{"usage":0,"max_usage":0,"cache":0,"rss":0,"swap":0,"mapped_file":0,"working_set":0,"#,
                r#""total_active_file":0,"total_inactive_file":0,"file_dirty":0,"file_writeback":0,"pgscan":0,"pgsteal":0,"#,
                r#""workingset_refault_file":0,"workingset_refault_anon":0,"failcnt":0,"kernel":0,"#,
                r#""container_data":{{"pgfault":0,"pgmajfault":0,"numa_stats":{{}}}},"#,
                r#""hierarchical_data":{{"pgfault":0,"pgmajfault":0,"numa_stats":{{}}}},"psi":{psi},"events":{{"high":0,"max":0}}}},"#,
                r#""network":{{"name":"","rx_bytes":0,"rx_packets":0,"rx_errors":0,"rx_dropped":0,"tx_bytes":0,"tx_packets":0,"tx_errors":0,"tx_dropped":0,"#,
                r#""tcp":{tcp},"tcp6":{tcp},"udp":{udp},"udp6":{udp},"tcp_advanced":{{{adv}}}}},"#,
                r#""task_stats":{{"nr_sleeping":0,"nr_running":0,"nr_stopped":0,"nr_uninterruptible":0,"nr_io_wait":0}},"#,
                r#""processes":{{"process_count":0,"fd_count":0,"socket_count":0}},"#,
                r#""resctrl":{{}},"cpuset":{{"memory_migrate":0}},"health":{{"status":""}}}}"#
            ),
            psi = PSI0,
            tcp = TCP0,
            udp = UDP0,
            adv = adv.join(",")
        )
    }

    /// Go field names of `TcpAdvancedStat` in declaration order (info/v1/container.go).
    const GO_ADV_NAMES: &str = "RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors EmbryonicRsts SyncookiesSent SyncookiesRecv SyncookiesFailed PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps TW TWRecycled TWKilled TCPTimeWaitOverflow TCPTimeouts TCPSpuriousRTOs TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRenoFailures TCPSackFailures TCPLossFailures DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPFACKReorder TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPFastRetrans TCPSlowStartRetrans TCPLostRetransmit TCPRetransFail TCPRcvCollapsed TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPReqQFullDoCookies TCPReqQFullDrop TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPSynRetrans TCPOrigDataSent PAWSActive PAWSEstab";

    #[test]
    fn zero_stats_has_every_value_section() {
        assert_eq!(s(&ContainerStats::default()), zero_stats_json());
    }

    #[test]
    fn zero_stats_round_trips_and_head_shape_decodes() {
        let back: ContainerStats = serde_json::from_str(&zero_stats_json()).expect("decode");
        assert_eq!(back, ContainerStats::default());
        assert!(back.network.is_unset() && back.processes.is_unset());
        // v0.60 omits unset pointer sections; that must decode to zeros too.
        let head: ContainerStats = serde_json::from_str(
            r#"{"timestamp":"2026-11-22T18:16:29.5Z","cpu":{"usage":{"total":7}}}"#,
        )
        .expect("decode head");
        assert_eq!(head.cpu.usage.total, 7);
        assert_eq!(head.memory, MemoryStats::default());
    }

    #[test]
    fn tcp_advanced_labels_follow_go_field_order() {
        let lower: Vec<String> = GO_ADV_NAMES.split(' ').map(str::to_lowercase).collect();
        assert_eq!(TcpAdvancedStat::LABELS.to_vec(), lower);
        let adv = TcpAdvancedStat {
            max_conn: -1,
            paws_estab: 9,
            ..Default::default()
        };
        let v = adv.values();
        assert_eq!((v[3], v[98]), (-1.0, 9.0));
        let j = s(&adv);
        assert!(j.contains(r#""MaxConn":-1"#) && j.ends_with(r#""PAWSEstab":9}"#));
    }

    #[test]
    fn stats_stay_compact_in_memory() {
        // 1000 containers x 120 samples must fit well under 60 MB: rare parts are Sparse.
        let size = size_of::<ContainerStats>();
        println!("size_of::<ContainerStats>() = {size}");
        assert!(size <= 600, "ContainerStats grew to {size} bytes");
        assert_eq!(size_of::<Sparse<TcpAdvancedStat>>(), 8);
    }

    #[test]
    fn container_info_flattens_reference() {
        let id = "9ad0e067".repeat(8);
        let info = ContainerInfo {
            reference: ContainerReference {
                id: id.clone(),
                name: format!("/docker/{id}"),
                aliases: vec!["web".into(), id.clone()],
                namespace: "docker".into(),
            },
            subcontainers: vec![ContainerReference {
                name: "/docker/x/y".into(),
                ..Default::default()
            }],
            spec: ContainerSpec {
                creation_time: Timestamp::from_unix_nanos(1_795_371_389_914_702_850),
                labels: BTreeMap::from([("b".into(), "<2>".into()), ("a".into(), "1".into())]),
                has_cpu: true,
                cpu: CpuSpec {
                    limit: 1024,
                    mask: "0-3".into(),
                    quota: 50_000,
                    period: 100_000,
                    ..Default::default()
                },
                has_memory: true,
                memory: MemorySpec {
                    limit: 33_554_432,
                    ..Default::default()
                },
                image: "local/busybox:1".into(),
                ..Default::default()
            },
            stats: vec![],
        };
        let want = format!(
            concat!(
                r#"{{"id":"{id}","name":"/docker/{id}","aliases":["web","{id}"],"namespace":"docker","#,
                r#""subcontainers":[{{"name":"/docker/x/y"}}],"#,
                r#""spec":{{"creation_time":"2026-11-22T18:16:29.91470285Z","start_time":"0001-01-01T00:00:00Z","#,
                r#""labels":{{"a":"1","b":"\u003c2\u003e"}},"has_cpu":true,"#,
                r#""cpu":{{"limit":1024,"max_limit":0,"mask":"0-3","quota":50000,"period":100000}},"#,
                r#""has_memory":true,"memory":{{"limit":33554432}},"has_hugetlb":false,"has_network":false,"#,
                r#""has_processes":false,"processes":{{}},"has_filesystem":false,"has_diskio":false,"#,
                r#""has_custom_metrics":false,"image":"local/busybox:1"}}}}"#
            ),
            id = id
        );
        assert_eq!(s(&info), want);
        let back: ContainerInfo = serde_json::from_str(&want).expect("decode");
        assert_eq!(back, info);
    }

    #[test]
    fn container_info_shares_cached_samples() {
        let sample = Arc::new(ContainerStats {
            timestamp: Timestamp::from_unix_nanos(1_795_371_389_000_000_000),
            ..Default::default()
        });
        let info = ContainerInfo {
            reference: ContainerReference {
                name: "/".into(),
                ..Default::default()
            },
            stats: vec![sample.clone(), sample],
            ..Default::default()
        };
        let j = s(&info);
        assert!(j.starts_with(r#"{"name":"/","spec":{"#));
        assert!(j.contains(r#""stats":[{"timestamp":"2026-11-22T18:16:29Z","cpu":"#));
        let back: ContainerInfo = serde_json::from_str(&j).expect("decode");
        assert_eq!(back, info);
    }

    #[test]
    fn network_inlines_first_interface() {
        let eth0 = InterfaceStats {
            name: "eth0".into(),
            rx_bytes: 10,
            ..Default::default()
        };
        let eth1 = InterfaceStats {
            name: "eth1".into(),
            ..Default::default()
        };
        let mut stats = ContainerStats::default();
        *stats.network = NetworkStats::from_interfaces(vec![eth0, eth1]);
        let j = s(&stats);
        assert!(j.contains(
            r#""network":{"name":"eth0","rx_bytes":10,"rx_packets":0,"rx_errors":0,"rx_dropped":0,"tx_bytes":0,"tx_packets":0,"tx_errors":0,"tx_dropped":0,"interfaces":[{"name":"eth0","#
        ));
        assert!(j.contains(r#"{"name":"eth1","rx_bytes":0"#));
    }

    #[test]
    fn events_always_carry_event_data() {
        let t = Timestamp::from_unix_nanos(1_795_371_406_141_868_649);
        let created = Event {
            container_name: "/docker/abc".into(),
            timestamp: t,
            event_type: EventType::ContainerCreation,
            event_data: EventData::default(),
        };
        // Captured from a cAdvisor v0.36 event stream (id shortened).
        assert_eq!(
            s(&created),
            r#"{"container_name":"/docker/abc","timestamp":"2026-11-22T18:16:46.141868649Z","event_type":"containerCreation","event_data":{}}"#
        );
        let oom = Event {
            container_name: "/docker/abc".into(),
            timestamp: t,
            event_type: EventType::OomKill,
            event_data: EventData {
                oom_kill: Some(OomKillEventData {
                    pid: 966,
                    process_name: "dd".into(),
                    constraint: "CONSTRAINT_MEMCG".into(),
                }),
                container_deletion: None,
            },
        };
        assert_eq!(
            s(&oom),
            r#"{"container_name":"/docker/abc","timestamp":"2026-11-22T18:16:46.141868649Z","event_type":"oomKill","event_data":{"oom":{"pid":966,"process_name":"dd","constraint":"CONSTRAINT_MEMCG"}}}"#
        );
        let deleted = Event {
            event_type: EventType::ContainerDeletion,
            event_data: EventData {
                container_deletion: Some(ContainerDeletionEventData::default()),
                oom_kill: None,
            },
            ..created.clone()
        };
        assert!(s(&deleted).ends_with(
            r#""event_type":"containerDeletion","event_data":{"container_deletion":{"exit_code":-1}}}"#
        ));
        let back: Event = serde_json::from_slice(&to_go_json(&oom)).expect("decode");
        assert_eq!(back, oom);
        assert_eq!(EventType::from_name("oomKill"), Some(EventType::OomKill));
        assert_eq!(EventType::from_name("creation"), None);
    }

    #[test]
    fn container_info_request_defaults_like_go() {
        let r: ContainerInfoRequest = serde_json::from_str("{}").expect("empty");
        assert_eq!(r, ContainerInfoRequest::default());
        assert_eq!(r.num_stats, 60);
        let r: ContainerInfoRequest =
            serde_json::from_str(r#"{"num_stats":0,"start":"2026-11-22T18:16:29Z","end":null}"#)
                .expect("body");
        assert_eq!(r.num_stats, 0);
        assert_eq!(r.start.as_unix_nanos(), 1_795_371_389_000_000_000);
        assert!(r.end.is_zero());
    }

    #[test]
    fn non_finite_floats_become_zero() {
        let psi = PSIData {
            total: 1,
            avg10: f64::NAN,
            avg60: f64::INFINITY,
            avg300: 0.25,
        };
        assert_eq!(s(&psi), r#"{"total":1,"avg10":0,"avg60":0,"avg300":0.25}"#);
    }

    #[test]
    fn maps_sort_keys_like_go() {
        let mut disk = PerDiskStats {
            major: 8,
            ..Default::default()
        };
        for (k, v) in [
            ("Write", 2),
            ("Read", 1),
            ("Total", 3),
            ("Async", 0),
            ("Sync", 3),
        ] {
            disk.stats.insert(k, v);
        }
        disk.stats.insert("Read", 5);
        assert_eq!(disk.stats.get("Read"), Some(5));
        assert_eq!(
            s(&disk),
            r#"{"device":"","major":8,"minor":0,"stats":{"Async":0,"Read":5,"Sync":3,"Total":3,"Write":2}}"#
        );
        let back: PerDiskStats = serde_json::from_slice(&to_go_json(&disk)).expect("decode");
        assert_eq!(back, disk);

        // Keys outside the kernel's operation names keep Go's byte order too.
        let odd: StatMap = [("Write", 1), ("Merged", 2), ("Async", 3)]
            .into_iter()
            .collect();
        assert_eq!(s(&odd), r#"{"Async":3,"Merged":2,"Write":1}"#);
        assert_eq!(
            (odd.len(), odd.get("Merged"), odd.get("Read")),
            (3, Some(2), None)
        );
        assert_eq!(size_of::<StatMap>(), 72);

        let numa = MemoryNumaStats {
            file: BTreeMap::from([(2, 20), (10, 100), (0, 1)]),
            ..Default::default()
        };
        assert_eq!(s(&numa), r#"{"file":{"0":1,"10":100,"2":20}}"#);
    }
}
