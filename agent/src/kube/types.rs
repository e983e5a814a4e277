//! The kubelet Summary API (`k8s.io/kubelet/pkg/apis/stats/v1alpha1`) as JSON: field names, nesting,
//! `omitempty` and units exactly as kubelet's `/stats/summary` writes them. No I/O.
//!
//! Go details a client sees: optional numbers are pointers (`omitempty`: absent, never `0` by
//! default); `metav1.Time` is RFC 3339 in UTC to the second, and `null` for the zero time; a nil
//! slice without `omitempty` (a pod's `containers` when it has only a sandbox) is `null`.
//! Kubelet's PSI and IO sections (behind its `KubeletPSI` gate), volumes, accelerators and
//! user-defined metrics are not served, so they have no fields here.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::model::json::Timestamp;

/// `metav1.Time`: full precision in memory (the `/metrics/resource` sample timestamps use it),
/// seconds on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeTime(pub Timestamp);

impl KubeTime {
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl From<Timestamp> for KubeTime {
    fn from(t: Timestamp) -> Self {
        Self(t)
    }
}

impl Serialize for KubeTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_zero() {
            return s.serialize_none();
        }
        let secs = self.0.as_unix_nanos().div_euclid(1_000_000_000);
        match OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => s.collect_str(&format_args!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )),
            Err(_) => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for KubeTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Self::default()),
            Some(s) => Timestamp::parse_rfc3339(&s)
                .map(Self)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Go's encoding of a nil slice without `omitempty`: `null` when empty.
mod null_if_empty {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        if v.is_empty() {
            s.serialize_none()
        } else {
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }
}

/// `Summary`: the node and its pods.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub node: NodeStats,
    pub pods: Vec<PodStats>,
}

/// Names of kubelet's system containers (`SystemContainerKubelet`, ...).
pub const SYSTEM_CONTAINER_KUBELET: &str = "kubelet";
pub const SYSTEM_CONTAINER_RUNTIME: &str = "runtime";
pub const SYSTEM_CONTAINER_MISC: &str = "misc";
pub const SYSTEM_CONTAINER_PODS: &str = "pods";

/// `NodeStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    #[serde(rename = "nodeName")]
    pub node_name: String,
    #[serde(
        rename = "systemContainers",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub system_containers: Vec<ContainerStats>,
    #[serde(rename = "startTime")]
    pub start_time: KubeTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rlimit: Option<RlimitStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapStats>,
}

/// `RlimitStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RlimitStats {
    pub time: KubeTime,
    #[serde(rename = "maxpid", default, skip_serializing_if = "Option::is_none")]
    pub max_pid: Option<i64>,
    #[serde(rename = "curproc", default, skip_serializing_if = "Option::is_none")]
    pub num_of_running_processes: Option<i64>,
}

/// `RuntimeStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeStats {
    #[serde(rename = "imageFs", default, skip_serializing_if = "Option::is_none")]
    pub image_fs: Option<FsStats>,
    #[serde(
        rename = "containerFs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_fs: Option<FsStats>,
}

/// `ProcessStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u64>,
}

/// `PodStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodStats {
    #[serde(rename = "podRef")]
    pub pod_ref: PodReference,
    #[serde(rename = "startTime")]
    pub start_time: KubeTime,
    #[serde(with = "null_if_empty")]
    pub containers: Vec<ContainerStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    #[serde(
        rename = "ephemeral-storage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_storage: Option<FsStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_stats: Option<ProcessStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapStats>,
}

/// `ContainerStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    pub name: String,
    #[serde(rename = "startTime")]
    pub start_time: KubeTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<FsStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<FsStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapStats>,
}

/// `PodReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// `InterfaceStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InterfaceStats {
    pub name: String,
    #[serde(rename = "rxBytes", default, skip_serializing_if = "Option::is_none")]
    pub rx_bytes: Option<u64>,
    #[serde(rename = "rxErrors", default, skip_serializing_if = "Option::is_none")]
    pub rx_errors: Option<u64>,
    #[serde(rename = "txBytes", default, skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<u64>,
    #[serde(rename = "txErrors", default, skip_serializing_if = "Option::is_none")]
    pub tx_errors: Option<u64>,
}

/// `NetworkStats`: the default interface (`eth0`) inlined, as Go's embedded struct is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub time: KubeTime,
    pub name: String,
    #[serde(rename = "rxBytes", default, skip_serializing_if = "Option::is_none")]
    pub rx_bytes: Option<u64>,
    #[serde(rename = "rxErrors", default, skip_serializing_if = "Option::is_none")]
    pub rx_errors: Option<u64>,
    #[serde(rename = "txBytes", default, skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<u64>,
    #[serde(rename = "txErrors", default, skip_serializing_if = "Option::is_none")]
    pub tx_errors: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceStats>,
}

/// `CPUStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    pub time: KubeTime,
    /// Core-nanoseconds per second over the last two samples.
    #[serde(
        rename = "usageNanoCores",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_nano_cores: Option<u64>,
    /// Cumulative core-nanoseconds.
    #[serde(
        rename = "usageCoreNanoSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_core_nano_seconds: Option<u64>,
}

/// `MemoryStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    pub time: KubeTime,
    #[serde(
        rename = "availableBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub available_bytes: Option<u64>,
    #[serde(
        rename = "usageBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_bytes: Option<u64>,
    #[serde(
        rename = "workingSetBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_set_bytes: Option<u64>,
    #[serde(rename = "rssBytes", default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    #[serde(
        rename = "pageFaults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_faults: Option<u64>,
    #[serde(
        rename = "majorPageFaults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub major_page_faults: Option<u64>,
}

/// `SwapStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwapStats {
    pub time: KubeTime,
    #[serde(
        rename = "swapAvailableBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub swap_available_bytes: Option<u64>,
    #[serde(
        rename = "swapUsageBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub swap_usage_bytes: Option<u64>,
}

/// `FsStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FsStats {
    pub time: KubeTime,
    #[serde(
        rename = "availableBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub available_bytes: Option<u64>,
    #[serde(
        rename = "capacityBytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub capacity_bytes: Option<u64>,
    #[serde(rename = "usedBytes", default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    #[serde(
        rename = "inodesFree",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inodes_free: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u64>,
    #[serde(
        rename = "inodesUsed",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inodes_used: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::json::to_go_json;

    fn json<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_go_json(v)).expect("utf-8")
    }

    #[test]
    fn times_are_seconds_in_utc_and_zero_is_null() {
        // 2014-03-17T14:26:03.123456789Z
        let t = KubeTime(Timestamp::from_unix_nanos(1_395_066_363_123_456_789));
        assert_eq!(json(&t), "\"2014-03-17T14:26:03Z\"");
        assert_eq!(json(&KubeTime::default()), "null");
        let back: KubeTime = serde_json::from_str("\"2014-03-17T14:26:03Z\"").expect("time");
        assert_eq!(back.0.as_unix_nanos(), 1_395_066_363_000_000_000);
        let zero: KubeTime = serde_json::from_str("null").expect("null");
        assert!(zero.is_zero());
    }

    #[test]
    fn optional_fields_are_omitted_and_names_are_kubelets() {
        let pod = PodStats {
            pod_ref: PodReference {
                name: "web".into(),
                namespace: "default".into(),
                uid: "u".into(),
            },
            cpu: Some(CpuStats {
                usage_nano_cores: Some(5),
                usage_core_nano_seconds: Some(7),
                ..CpuStats::default()
            }),
            ephemeral_storage: Some(FsStats {
                used_bytes: Some(1),
                ..FsStats::default()
            }),
            ..PodStats::default()
        };
        assert_eq!(
            json(&pod),
            r#"{"podRef":{"name":"web","namespace":"default","uid":"u"},"startTime":null,"containers":null,"cpu":{"time":null,"usageNanoCores":5,"usageCoreNanoSeconds":7},"ephemeral-storage":{"time":null,"usedBytes":1}}"#
        );
        let back: PodStats = serde_json::from_str(&json(&pod)).expect("round trip");
        assert_eq!(back, pod);
        let net = NetworkStats {
            name: "eth0".into(),
            rx_bytes: Some(3),
            interfaces: vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: Some(3),
                ..InterfaceStats::default()
            }],
            ..NetworkStats::default()
        };
        assert_eq!(
            json(&net),
            r#"{"time":null,"name":"eth0","rxBytes":3,"interfaces":[{"name":"eth0","rxBytes":3}]}"#
        );
        let rl = RlimitStats {
            max_pid: Some(4194304),
            num_of_running_processes: Some(300),
            ..RlimitStats::default()
        };
        assert_eq!(json(&rl), r#"{"time":null,"maxpid":4194304,"curproc":300}"#);
    }
}
