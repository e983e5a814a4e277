//! `info/v1` MachineInfo & co., VersionInfo, and `info/v2` Attributes. Field order is Go's declaration
//! order; slices Go leaves nil when empty serialize as `null`, as cAdvisor's do.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::json::Timestamp;

/// Go's `json:"x"` on a slice that cAdvisor leaves nil when there is nothing: empty → `null`.
fn nil_if_empty<T: Serialize, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// Accepts `null` where a list is expected (Go's nil slice).
fn null_as_empty<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// `v1.MachineInfo` (`/api/v*/machine`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    pub timestamp: Timestamp,
    pub vendor_id: String,
    pub num_cores: usize,
    pub num_physical_cores: usize,
    pub num_sockets: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_books: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_drawers: usize,
    pub cpu_frequency_khz: u64,
    pub memory_capacity: u64,
    pub swap_capacity: u64,
    pub memory_by_type: BTreeMap<String, MemoryInfo>,
    pub nvm: NvmInfo,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub hugepages: Vec<HugePagesInfo>,
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub filesystems: Vec<FsInfo>,
    /// Keyed by `"major:minor"`.
    pub disk_map: BTreeMap<String, DiskInfo>,
    pub network_devices: Vec<NetInfo>,
    pub topology: Vec<Node>,
    pub cloud_provider: String,
    pub instance_type: String,
    pub instance_id: String,
}

/// `v1.MemoryInfo`: memory of one DIMM type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    pub capacity: u64,
    pub dimm_count: u64,
}

/// `v1.NVMInfo`. Note the space in the Go tag of `app direct_mode_capacity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmInfo {
    pub memory_mode_capacity: u64,
    #[serde(rename = "app direct_mode_capacity")]
    pub app_direct_mode_capacity: u64,
    pub avg_power_budget: u64,
}

/// `v1.HugePagesInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugePagesInfo {
    /// Page size in kB.
    pub page_size: u64,
    pub num_pages: u64,
}

/// `v1.FsInfo` (machine level; major/minor are not serialized).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsInfo {
    pub device: String,
    #[serde(skip)]
    pub device_major: u64,
    #[serde(skip)]
    pub device_minor: u64,
    pub capacity: u64,
    #[serde(rename = "type")]
    pub fs_type: String,
    pub inodes: u64,
    pub has_inodes: bool,
}

/// `v1.Node`: a NUMA node (or a socket when the kernel exposes no nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub node_id: i32,
    pub memory: u64,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub hugepages: Vec<HugePagesInfo>,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub cores: Vec<Core>,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub caches: Vec<Cache>,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub distances: Vec<u64>,
}

/// `v1.Core`: one physical core and its hardware threads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Core {
    pub core_id: i32,
    pub thread_ids: Vec<i32>,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub caches: Vec<Cache>,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub uncore_caches: Vec<Cache>,
    pub socket_id: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub book_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub drawer_id: String,
}

/// `v1.Cache`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    pub id: i32,
    /// Bytes.
    pub size: u64,
    /// `Data`, `Instruction` or `Unified`.
    #[serde(rename = "type")]
    pub cache_type: String,
    pub level: u32,
}

/// `v1.DiskInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    pub name: String,
    pub major: u64,
    pub minor: u64,
    /// Bytes.
    pub size: u64,
    pub scheduler: String,
}

/// `v1.NetInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInfo {
    pub name: String,
    pub mac_address: String,
    /// Mbit/s; -1 when the kernel does not know it, 0 when the device has no link settings.
    pub speed: i64,
    pub mtu: i64,
}

/// `v1.VersionInfo`: feeds `/api/v2.x/attributes`, `cadvisor_version_info` and `/validate/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub kernel_version: String,
    pub container_os_version: String,
    /// The connected Docker daemon's version (`20.10.24+dfsg1`), empty while none is connected.
    /// cAdvisor v0.43 and later leave it empty; earlier ones asked the daemon, as we do.
    pub docker_version: String,
    /// Its API version (`1.41`), under the same rule.
    pub docker_api_version: String,
    pub cadvisor_version: String,
    pub cadvisor_revision: String,
}

/// `v2.Attributes` (`/api/v2.x/attributes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    pub kernel_version: String,
    pub container_os_version: String,
    pub docker_version: String,
    pub docker_api_version: String,
    pub cadvisor_version: String,
    pub num_cores: usize,
    pub cpu_frequency_khz: u64,
    pub memory_capacity: u64,
    pub machine_id: String,
    pub system_uuid: String,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub hugepages: Vec<HugePagesInfo>,
    #[serde(serialize_with = "nil_if_empty", deserialize_with = "null_as_empty")]
    pub filesystems: Vec<FsInfo>,
    pub disk_map: BTreeMap<String, DiskInfo>,
    pub network_devices: Vec<NetInfo>,
    pub topology: Vec<Node>,
    pub cloud_provider: String,
    pub instance_type: String,
}

impl Attributes {
    pub fn new(m: &MachineInfo, v: &VersionInfo) -> Self {
        Self {
            kernel_version: v.kernel_version.clone(),
            container_os_version: v.container_os_version.clone(),
            docker_version: v.docker_version.clone(),
            docker_api_version: v.docker_api_version.clone(),
            cadvisor_version: v.cadvisor_version.clone(),
            num_cores: m.num_cores,
            cpu_frequency_khz: m.cpu_frequency_khz,
            memory_capacity: m.memory_capacity,
            machine_id: m.machine_id.clone(),
            system_uuid: m.system_uuid.clone(),
            hugepages: m.hugepages.clone(),
            filesystems: m.filesystems.clone(),
            disk_map: m.disk_map.clone(),
            network_devices: m.network_devices.clone(),
            topology: m.topology.clone(),
            cloud_provider: m.cloud_provider.clone(),
            instance_type: m.instance_type.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_info_keys_in_go_order_with_nil_slices() {
        let m = MachineInfo {
            topology: vec![Node {
                cores: vec![Core {
                    thread_ids: vec![0, 1],
                    ..Core::default()
                }],
                ..Node::default()
            }],
            ..MachineInfo::default()
        };
        let json = serde_json::to_string(&m).expect("serializes");
        assert_eq!(
            json,
            concat!(
                r#"{"timestamp":"0001-01-01T00:00:00Z","vendor_id":"","num_cores":0,"num_physical_cores":0,"#,
                r#""num_sockets":0,"cpu_frequency_khz":0,"memory_capacity":0,"swap_capacity":0,"#,
                r#""memory_by_type":{},"nvm":{"memory_mode_capacity":0,"app direct_mode_capacity":0,"#,
                r#""avg_power_budget":0},"hugepages":null,"machine_id":"","system_uuid":"","boot_id":"","#,
                r#""filesystems":null,"disk_map":{},"network_devices":[],"topology":[{"node_id":0,"memory":0,"#,
                r#""hugepages":null,"cores":[{"core_id":0,"thread_ids":[0,1],"caches":null,"uncore_caches":null,"#,
                r#""socket_id":0}],"caches":null,"distances":null}],"cloud_provider":"","instance_type":"","#,
                r#""instance_id":""}"#
            )
        );
        let back: MachineInfo = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, m);
    }

    #[test]
    fn attributes_copy_machine_and_version_fields() {
        let m = MachineInfo {
            num_cores: 2,
            machine_id: "abc".into(),
            ..MachineInfo::default()
        };
        let v = VersionInfo {
            kernel_version: "6.18".into(),
            ..VersionInfo::default()
        };
        let a = Attributes::new(&m, &v);
        let json = serde_json::to_string(&a).expect("serializes");
        assert!(
            json.starts_with(r#"{"kernel_version":"6.18","container_os_version":"","#),
            "{json}"
        );
        assert!(json.contains(
            r#""num_cores":2,"cpu_frequency_khz":0,"memory_capacity":0,"machine_id":"abc""#
        ));
        assert!(
            json.ends_with(r#""cloud_provider":"","instance_type":""}"#),
            "{json}"
        );
    }
}
