//! A synthetic snapshot for tests and benches of `/metrics` (no registry, no cgroup files).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::events::SourceKind;
use crate::model::json::Timestamp;
use crate::model::machine::{Cache, Core, MachineInfo, Node, VersionInfo};
use crate::model::v1::{
    ContainerReference, ContainerSpec, ContainerStats, FsStats, InterfaceStats, NetworkStats,
    PerDiskStats, StatMap,
};
use crate::query::{ContainerEntry, Samples, Snapshot};

/// 2014-03-17T14:26:03Z, the instant cAdvisor's golden files use.
pub const SAMPLE_NANOS: i64 = 1_395_066_363_000_000_000;

/// A snapshot with `/`, `/docker`, `n` docker containers (every fifth a Kubernetes pod's) and one
/// recently removed container with an OOM kill.
pub fn snapshot(n: usize) -> Snapshot {
    snapshot_at(n, Timestamp::from_unix_nanos(SAMPLE_NANOS))
}

/// [`snapshot`] with every sample (and the machine info) taken at `at`.
pub fn snapshot_at(n: usize, at: Timestamp) -> Snapshot {
    let mut containers = BTreeMap::new();
    for name in ["/", "/docker"] {
        let e = entry(name, "", None, 0, at, 0);
        containers.insert(Arc::from(name), e);
    }
    for i in 0..n {
        let id = format!("{i:064x}");
        let name = format!("/docker/{id}");
        let e = entry(&name, &id, Some(format!("app-{i}")), i, at, 0);
        containers.insert(Arc::from(name), e);
    }
    let removed = entry("/docker/gone", "gone", Some("gone".into()), 1, at, 1);
    Snapshot {
        machine: Arc::new(machine(at)),
        version: Arc::new(VersionInfo {
            kernel_version: "6.18.0".into(),
            container_os_version: "Debian GNU/Linux 12 (bookworm)".into(),
            cadvisor_version: "0.1.0".into(),
            cadvisor_revision: "abcdef".into(),
            ..VersionInfo::default()
        }),
        containers,
        recently_removed: vec![removed],
        event_source: Some(SourceKind::Ebpf),
    }
}

fn entry(
    name: &str,
    id: &str,
    alias: Option<String>,
    i: usize,
    at: Timestamp,
    oom_kills: u64,
) -> Arc<ContainerEntry> {
    let docker = !id.is_empty();
    let mut spec = ContainerSpec {
        creation_time: Timestamp::from_unix_nanos(1_257_894_000_000_000_000),
        has_cpu: true,
        has_memory: true,
        ..ContainerSpec::default()
    };
    spec.cpu.limit = 1024;
    spec.cpu.period = 100_000;
    if docker {
        spec.image = "local/busybox:1".into();
        spec.labels
            .insert("maintainer".into(), "ops \"team\"".into());
        spec.envs.insert("foo_env".into(), "prod".into());
        spec.cpu.quota = 50_000;
        spec.memory.limit = 32 << 20;
        if i.is_multiple_of(5) {
            for (k, v) in [
                ("io.kubernetes.container.name", "web"),
                ("io.kubernetes.pod.name", "web-0"),
                ("io.kubernetes.pod.namespace", "default"),
            ] {
                spec.labels.insert(k.into(), format!("{v}{i}"));
            }
        }
    } else {
        spec.memory.limit = u64::MAX;
    }
    let samples = Samples::fixed(
        Duration::from_secs(120),
        &spec,
        [Arc::new(stats(i, at))],
        oom_kills,
    );
    Arc::new(ContainerEntry {
        reference: ContainerReference {
            id: id.to_string(),
            name: name.to_string(),
            aliases: alias
                .into_iter()
                .chain(docker.then(|| id.to_string()))
                .collect(),
            namespace: if docker {
                "docker".into()
            } else {
                String::new()
            },
        },
        spec,
        samples: Arc::new(samples),
    })
}

fn stats(i: usize, at: Timestamp) -> ContainerStats {
    let i = i as u64;
    let mut s = ContainerStats {
        timestamp: at,
        ..ContainerStats::default()
    };
    s.cpu.usage.per_cpu = vec![1_000_000 + i, 2_000_000, 0, 4_000_000];
    s.cpu.usage.total = s.cpu.usage.per_cpu.iter().sum();
    s.cpu.usage.user = 6;
    s.cpu.usage.system = 7;
    s.cpu.cfs.periods = 723;
    s.cpu.cfs.throttled_periods = 18;
    s.cpu.cfs.throttled_time = 1_724_314_000;
    s.cpu.psi.some.total = 1_500_000;
    s.memory.usage = 8 << 20;
    s.memory.working_set = 6 << 20;
    s.memory.cache = 14;
    s.memory.rss = 15;
    s.memory.container_data.pgfault = 10;
    s.memory.hierarchical_data.pgfault = 12;
    s.network =
        crate::model::sparse::Sparse::new(NetworkStats::from_interfaces(vec![InterfaceStats {
            name: "eth0".into(),
            rx_bytes: 14 + i,
            rx_packets: 15,
            tx_bytes: 20,
            ..InterfaceStats::default()
        }]));
    s.filesystem = crate::model::sparse::Sparse::new(vec![FsStats {
        device: "/dev/sda1".into(),
        capacity: 1 << 30,
        usage: 4096 * (i + 1),
        inodes: 2_097_152,
        inodes_free: 524_288,
        has_inodes: true,
        reads_completed: 3,
        ..FsStats::default()
    }]);
    s.diskio.io_service_bytes = vec![PerDiskStats {
        device: "/dev/sdb".into(),
        major: 8,
        minor: 16,
        stats: StatMap::from_iter([("Read", 3), ("Write", 6), ("Total", 9)]),
    }];
    s.oom_events = 0;
    s
}

fn machine(at: Timestamp) -> MachineInfo {
    let cache = |level, t: &str, size| Cache {
        id: 0,
        size,
        cache_type: t.into(),
        level,
    };
    MachineInfo {
        timestamp: at,
        num_cores: 4,
        num_physical_cores: 2,
        num_sockets: 1,
        memory_capacity: 1 << 33,
        machine_id: "machine-id-test".into(),
        system_uuid: "system-uuid-test".into(),
        boot_id: "boot-id-test".into(),
        topology: vec![Node {
            node_id: 0,
            memory: 1 << 33,
            cores: (0..2)
                .map(|c| Core {
                    core_id: c,
                    thread_ids: vec![c * 2, c * 2 + 1],
                    caches: vec![cache(1, "Data", 32768), cache(2, "Unified", 262_144)],
                    ..Core::default()
                })
                .collect(),
            caches: vec![cache(3, "Unified", 8_388_608)],
            distances: vec![10],
            ..Node::default()
        }],
        ..MachineInfo::default()
    }
}
