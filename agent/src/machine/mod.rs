//! Machine information readers (`/proc/cpuinfo`, `/proc/meminfo`, sysfs topology, ids): synchronous
//! functions of a root path. `machine_info` never fails: a missing or malformed source leaves its
//! field empty and is reported as a warning.

pub mod cloud;
pub mod cpuinfo;
pub mod disks;
pub mod hugepages;
pub mod ids;
pub mod meminfo;
pub mod net;
pub mod node;
pub mod processes;
pub mod setup;
pub mod topology;
pub mod version;

use std::io;
use std::path::{Path, PathBuf};

use crate::host::HostPaths;
use crate::model::json::Timestamp;
use crate::model::machine::{FsInfo, MachineInfo};

pub use version::version_info;

/// A machine source that could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parse {path}: unexpected {text:?}")]
    Parse { path: PathBuf, text: String },
}

impl MachineError {
    pub(crate) fn parse(path: &Path, text: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            text: text.into(),
        }
    }

    /// `true` when the file simply does not exist (an absent optional feature, not a fault).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

pub(crate) fn read_string(path: &Path) -> Result<String, MachineError> {
    std::fs::read_to_string(path).map_err(|source| MachineError::Read {
        path: path.into(),
        source,
    })
}

/// The machine-level flags (`--machine_id_file`, `--boot_id_file`): host files, already below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineOptions {
    pub machine_id_files: Vec<PathBuf>,
    pub boot_id_files: Vec<PathBuf>,
}

impl MachineOptions {
    /// cAdvisor's flag defaults, below `host`'s root.
    pub fn defaults(host: &HostPaths) -> Self {
        Self {
            machine_id_files: vec![
                host.etc.join("machine-id"),
                host.var_lib.join("dbus/machine-id"),
            ],
            boot_id_files: vec![host.proc.join("sys/kernel/random/boot_id")],
        }
    }
}

impl From<&crate::config::Config> for MachineOptions {
    fn from(c: &crate::config::Config) -> Self {
        Self {
            machine_id_files: c.machine_id_files.clone(),
            boot_id_files: c.boot_id_files.clone(),
        }
    }
}

/// Collects what went wrong while assembling `MachineInfo`, so one bad file never fails the rest.
#[derive(Debug, Default)]
pub struct Warnings(pub Vec<MachineError>);

impl Warnings {
    /// The value, or the default after recording the error.
    pub fn take<T: Default>(&mut self, r: Result<T, MachineError>) -> T {
        r.unwrap_or_else(|e| {
            self.0.push(e);
            T::default()
        })
    }
}

/// Everything `/api/v*/machine` reports, logging a warning for each source that failed.
pub fn machine_info(host: &HostPaths, opts: &MachineOptions) -> MachineInfo {
    let (info, warnings) = machine_info_with_warnings(host, opts);
    for w in &warnings.0 {
        tracing::warn!(error = %w, "machine info source unavailable");
    }
    info
}

/// As `machine_info`, returning the warnings instead of logging them.
pub fn machine_info_with_warnings(
    host: &HostPaths,
    opts: &MachineOptions,
) -> (MachineInfo, Warnings) {
    let mut w = Warnings::default();
    let cpu = w.take(cpuinfo::read_cpuinfo(host));
    let mem = w.take(meminfo::read_meminfo(host));
    let topo = topology::read_topology(host, &mut w);
    let num_cores = if topo.online_cpus > 0 {
        topo.online_cpus
    } else {
        cpu.processors
    };
    // Distinct (socket, core) pairs. cAdvisor counts distinct `core id` lines instead, which on
    // multi-socket machines gives the cores of one socket; we report the real count.
    let num_physical_cores = if cpu.cores.is_empty() {
        topo.physical_cores()
    } else {
        cpu.cores.len()
    };
    let num_sockets = if cpu.sockets.is_empty() {
        topo.sockets()
    } else {
        cpu.sockets.len()
    };
    let cpu_frequency_khz = w
        .take(cpuinfo::read_max_freq_khz(host))
        .or(cpu.max_khz())
        .unwrap_or(0);
    let filesystems = crate::fs::filesystems(host)
        .into_iter()
        .map(|f| FsInfo {
            device: f.device.clone(),
            device_major: f.major.into(),
            device_minor: f.minor.into(),
            capacity: f.capacity,
            fs_type: f.cadvisor_type().to_string(),
            inodes: f.inodes.unwrap_or(0),
            has_inodes: f.inodes.is_some(),
        })
        .collect();
    let dmi = cloud::read_dmi(host);
    let machine_id = w.take(ids::read_first(&opts.machine_id_files));
    let info = MachineInfo {
        timestamp: Timestamp::now(),
        vendor_id: cpu.vendor_id.clone(),
        num_cores,
        num_physical_cores,
        num_sockets,
        num_books: 0,
        num_drawers: 0,
        cpu_frequency_khz,
        memory_capacity: mem.mem_total,
        swap_capacity: mem.swap_total,
        memory_by_type: w.take(meminfo::read_memory_by_type(host)),
        nvm: Default::default(),
        hugepages: w.take(hugepages::read_hugepages(
            &host.sys.join("kernel/mm/hugepages"),
        )),
        system_uuid: w.take(ids::read_system_uuid(host, &machine_id)),
        machine_id,
        boot_id: w.take(ids::read_first(&opts.boot_id_files)),
        filesystems,
        disk_map: disks::read_disk_map(host, &mut w),
        network_devices: net::read_network_devices(host, &mut w),
        topology: topo.nodes,
        cloud_provider: cloud::provider(&dmi).to_string(),
        instance_type: cloud::UNKNOWN_INSTANCE_TYPE.to_string(),
        instance_id: cloud::UNKNOWN_INSTANCE_ID.to_string(),
    };
    (info, w)
}
