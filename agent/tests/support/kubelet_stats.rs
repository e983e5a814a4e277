//! kubelet's Summary API types (`k8s.io/kubelet/pkg/apis/stats/v1alpha1`, Kubernetes 1.34), written
//! independently of the agent's own from the Go field tags: every JSON name, Go's type per field
//! (`*uint64` → `Option<u64>`, `*int64` → `Option<i64>`, `metav1.Time` → an RFC 3339 string or
//! null). Unknown fields are refused, so decoding an answer proves it uses kubelet's names only and
//! that every field kubelet always writes is there. Include it with
//! `#[path = "support/kubelet_stats.rs"] mod kubelet_stats;`.
#![allow(
    dead_code,
    reason = "the fields mirror kubelet's types; tests read some of them"
)]

use std::collections::BTreeMap;

use serde::Deserialize;

/// `metav1.Time`: `"2006-01-02T15:04:05Z"`, or null for the zero time.
pub type Time = Option<String>;

/// A field Go always writes that may be null: present or an error (serde would otherwise take a
/// missing `Option` field as `None`).
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub node: NodeStats,
    #[serde(deserialize_with = "nullable")]
    pub pods: Option<Vec<PodStats>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStats {
    #[serde(rename = "nodeName")]
    pub node_name: String,
    #[serde(rename = "systemContainers", default)]
    pub system_containers: Option<Vec<ContainerStats>>,
    #[serde(rename = "startTime", deserialize_with = "nullable")]
    pub start_time: Time,
    #[serde(default)]
    pub cpu: Option<CpuStats>,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
    #[serde(default)]
    pub io: Option<IoStats>,
    #[serde(default)]
    pub network: Option<NetworkStats>,
    #[serde(default)]
    pub fs: Option<FsStats>,
    #[serde(default)]
    pub runtime: Option<RuntimeStats>,
    #[serde(default)]
    pub rlimit: Option<RlimitStats>,
    #[serde(default)]
    pub swap: Option<SwapStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlimitStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(default)]
    pub maxpid: Option<i64>,
    #[serde(default)]
    pub curproc: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeStats {
    #[serde(rename = "imageFs", default)]
    pub image_fs: Option<FsStats>,
    #[serde(rename = "containerFs", default)]
    pub container_fs: Option<FsStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessStats {
    #[serde(default)]
    pub process_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodStats {
    #[serde(rename = "podRef")]
    pub pod_ref: PodReference,
    #[serde(rename = "startTime", deserialize_with = "nullable")]
    pub start_time: Time,
    /// No `omitempty` in Go: always present, null when nil.
    #[serde(deserialize_with = "nullable")]
    pub containers: Option<Vec<ContainerStats>>,
    #[serde(default)]
    pub cpu: Option<CpuStats>,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
    #[serde(default)]
    pub io: Option<IoStats>,
    #[serde(default)]
    pub network: Option<NetworkStats>,
    #[serde(default)]
    pub volume: Option<Vec<VolumeStats>>,
    #[serde(rename = "ephemeral-storage", default)]
    pub ephemeral_storage: Option<FsStats>,
    #[serde(default)]
    pub process_stats: Option<ProcessStats>,
    #[serde(default)]
    pub swap: Option<SwapStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerStats {
    pub name: String,
    #[serde(rename = "startTime", deserialize_with = "nullable")]
    pub start_time: Time,
    #[serde(default)]
    pub cpu: Option<CpuStats>,
    #[serde(default)]
    pub memory: Option<MemoryStats>,
    #[serde(default)]
    pub io: Option<IoStats>,
    #[serde(default)]
    pub accelerators: Option<Vec<AcceleratorStats>>,
    #[serde(default)]
    pub rootfs: Option<FsStats>,
    #[serde(default)]
    pub logs: Option<FsStats>,
    #[serde(rename = "userDefinedMetrics", default)]
    pub user_defined_metrics: Option<Vec<UserDefinedMetric>>,
    #[serde(default)]
    pub swap: Option<SwapStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceStats {
    pub name: String,
    #[serde(rename = "rxBytes", default)]
    pub rx_bytes: Option<u64>,
    #[serde(rename = "rxErrors", default)]
    pub rx_errors: Option<u64>,
    #[serde(rename = "txBytes", default)]
    pub tx_bytes: Option<u64>,
    #[serde(rename = "txErrors", default)]
    pub tx_errors: Option<u64>,
}

/// `InterfaceStats` is embedded (inlined) in Go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    pub name: String,
    #[serde(rename = "rxBytes", default)]
    pub rx_bytes: Option<u64>,
    #[serde(rename = "rxErrors", default)]
    pub rx_errors: Option<u64>,
    #[serde(rename = "txBytes", default)]
    pub tx_bytes: Option<u64>,
    #[serde(rename = "txErrors", default)]
    pub tx_errors: Option<u64>,
    #[serde(default)]
    pub interfaces: Option<Vec<InterfaceStats>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(rename = "usageNanoCores", default)]
    pub usage_nano_cores: Option<u64>,
    #[serde(rename = "usageCoreNanoSeconds", default)]
    pub usage_core_nano_seconds: Option<u64>,
    #[serde(default)]
    pub psi: Option<PsiStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(rename = "availableBytes", default)]
    pub available_bytes: Option<u64>,
    #[serde(rename = "usageBytes", default)]
    pub usage_bytes: Option<u64>,
    #[serde(rename = "workingSetBytes", default)]
    pub working_set_bytes: Option<u64>,
    #[serde(rename = "rssBytes", default)]
    pub rss_bytes: Option<u64>,
    #[serde(rename = "pageFaults", default)]
    pub page_faults: Option<u64>,
    #[serde(rename = "majorPageFaults", default)]
    pub major_page_faults: Option<u64>,
    #[serde(default)]
    pub psi: Option<PsiStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(default)]
    pub psi: Option<PsiStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsiStats {
    pub full: PsiData,
    pub some: PsiData,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsiData {
    pub total: u64,
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(rename = "swapAvailableBytes", default)]
    pub swap_available_bytes: Option<u64>,
    #[serde(rename = "swapUsageBytes", default)]
    pub swap_usage_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceleratorStats {
    pub make: String,
    pub model: String,
    pub id: String,
    #[serde(rename = "memoryTotal")]
    pub memory_total: u64,
    #[serde(rename = "memoryUsed")]
    pub memory_used: u64,
    #[serde(rename = "dutyCycle")]
    pub duty_cycle: u64,
}

/// `FsStats` is embedded (inlined) in Go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(rename = "availableBytes", default)]
    pub available_bytes: Option<u64>,
    #[serde(rename = "capacityBytes", default)]
    pub capacity_bytes: Option<u64>,
    #[serde(rename = "usedBytes", default)]
    pub used_bytes: Option<u64>,
    #[serde(rename = "inodesFree", default)]
    pub inodes_free: Option<u64>,
    #[serde(default)]
    pub inodes: Option<u64>,
    #[serde(rename = "inodesUsed", default)]
    pub inodes_used: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "pvcRef", default)]
    pub pvc_ref: Option<PvcReference>,
    #[serde(rename = "volumeHealthStats", default)]
    pub volume_health_stats: Option<VolumeHealthStats>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeHealthStats {
    pub abnormal: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PvcReference {
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsStats {
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    #[serde(rename = "availableBytes", default)]
    pub available_bytes: Option<u64>,
    #[serde(rename = "capacityBytes", default)]
    pub capacity_bytes: Option<u64>,
    #[serde(rename = "usedBytes", default)]
    pub used_bytes: Option<u64>,
    #[serde(rename = "inodesFree", default)]
    pub inodes_free: Option<u64>,
    #[serde(default)]
    pub inodes: Option<u64>,
    #[serde(rename = "inodesUsed", default)]
    pub inodes_used: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDefinedMetric {
    pub name: String,
    #[serde(rename = "type")]
    pub metric_type: String,
    pub units: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "nullable")]
    pub time: Time,
    pub value: f64,
}

/// Decodes `body` strictly; the error names the offending field.
pub fn decode(body: &str) -> Result<Summary, String> {
    serde_json::from_str(body).map_err(|e| format!("not kubelet's Summary: {e}\n{body}"))
}

/// Every `time` and `startTime` in `v` is a `metav1.Time` as Go writes it: null, or RFC 3339 in
/// UTC to the second (`2006-01-02T15:04:05Z`).
pub fn times_are_metav1(v: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "time" || k == "startTime" {
                    let ok = match x {
                        Value::Null => true,
                        Value::String(s) => is_metav1(s),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("{k}: {x} is not a metav1.Time"));
                    }
                } else {
                    times_are_metav1(x)?;
                }
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(times_are_metav1),
        _ => Ok(()),
    }
}

fn is_metav1(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}
