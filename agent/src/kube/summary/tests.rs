use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::kube::node::Rlimit;
use crate::kube::pods::{CONTAINER_NAME_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL};
use crate::model::v1::{
    ContainerReference, ContainerSpec, FsStats as V1Fs, InterfaceStats as V1If,
};
use crate::query::Samples;

const UID: &str = "6b9f0c1e-2d3a-4f5b-8c7d-9e0f1a2b3c4d";
const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

/// Two samples one second apart: CPU `cpu0` then `cpu0 + delta` ns, memory as given.
fn samples(cpu0: u64, delta: u64, ws: u64) -> Vec<v1::ContainerStats> {
    (0..2)
        .map(|i| {
            let mut s = v1::ContainerStats {
                timestamp: Timestamp::from_unix_nanos(T0 + i * SEC),
                ..v1::ContainerStats::default()
            };
            s.cpu.usage.total = cpu0 + i as u64 * delta;
            s.memory.usage = ws + 100;
            s.memory.working_set = ws;
            s.memory.rss = ws / 2;
            s.memory.swap = 7;
            s.memory.container_data.pgfault = 11;
            s.memory.container_data.pgmajfault = 1;
            s.processes.process_count = 2;
            s
        })
        .collect()
}

fn spec(labels: &[(&str, &str)], created_s: i64) -> ContainerSpec {
    ContainerSpec {
        creation_time: Timestamp::from_unix_nanos(created_s * SEC),
        has_cpu: true,
        has_memory: true,
        has_processes: true,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ContainerSpec::default()
    }
}

fn entry(name: &str, spec: ContainerSpec, stats: Vec<v1::ContainerStats>) -> Arc<ContainerEntry> {
    let samples = Samples::new(Duration::from_secs(60), &spec);
    for s in stats {
        samples.push(Arc::new(s));
    }
    Arc::new(ContainerEntry {
        reference: ContainerReference {
            name: name.into(),
            ..ContainerReference::default()
        },
        spec,
        samples: Arc::new(samples),
    })
}

fn k8s(container: &str) -> Vec<(&str, &str)> {
    vec![
        (POD_NAME_LABEL, "web-0"),
        (POD_NAMESPACE_LABEL, "default"),
        (POD_UID_LABEL, UID),
        (CONTAINER_NAME_LABEL, container),
    ]
}

/// A node with a root cgroup (filesystems `/dev/vda1` and `/dev/vdb`), the kubepods tree, one pod
/// (sandbox with eth0, `nginx` with a writable layer) and `/system.slice/docker.service`.
fn snapshot() -> Snapshot {
    let mut root_stats = samples(1_000 * SEC as u64, 500_000_000, 1 << 30);
    for s in &mut root_stats {
        s.filesystem = vec![
            V1Fs {
                device: "/dev/vda1".into(),
                capacity: 100 << 30,
                available: 60 << 30,
                usage: 40 << 30,
                has_inodes: true,
                inodes: 1000,
                inodes_free: 400,
                ..V1Fs::default()
            },
            V1Fs {
                device: "/dev/vdb".into(),
                capacity: 50 << 30,
                available: 10 << 30,
                usage: 40 << 30,
                has_inodes: true,
                inodes: 500,
                inodes_free: 100,
                ..V1Fs::default()
            },
        ]
        .into();
        s.network.interfaces = vec![V1If {
            name: "ens3".into(),
            rx_bytes: 5,
            ..V1If::default()
        }];
    }
    let mut root_spec = spec(&[], 1_600_000_000);
    root_spec.has_network = true;
    let pod = format!("/kubepods/burstable/pod{UID}");
    let mut sandbox_spec = spec(&k8s("POD"), 1_699_999_000);
    sandbox_spec.has_network = true;
    let mut sandbox_stats = samples(10, 0, 1 << 20);
    for s in &mut sandbox_stats {
        s.network.interfaces = vec![
            V1If {
                name: "eth0".into(),
                rx_bytes: 1000,
                rx_errors: 1,
                tx_bytes: 2000,
                tx_errors: 2,
                ..V1If::default()
            },
            V1If {
                name: "lo".into(),
                ..V1If::default()
            },
        ];
    }
    let mut nginx_spec = spec(&k8s("nginx"), 1_699_999_100);
    nginx_spec.has_filesystem = true;
    nginx_spec.memory.limit = 64 << 20;
    nginx_spec.memory.swap_limit = 128 << 20;
    let mut nginx_stats = samples(3 * SEC as u64, 250_000_000, 10 << 20);
    for s in &mut nginx_stats {
        s.filesystem = vec![V1Fs {
            device: "/dev/vdb".into(),
            usage: 5000,
            base_usage: 4000,
            inodes: 30,
            ..V1Fs::default()
        }]
        .into();
    }
    let mut pod_spec = spec(&[], 1_699_998_000);
    pod_spec.memory.limit = u64::MAX - 4095;
    pod_spec.memory.swap_limit = u64::MAX - 4095;
    let entries = vec![
        entry("/", root_spec, root_stats),
        entry("/kubepods", spec(&[], 1), samples(0, 0, 0)),
        entry("/kubepods/burstable", spec(&[], 1), samples(0, 0, 0)),
        entry(
            &pod,
            pod_spec,
            samples(4 * SEC as u64, 300_000_000, 12 << 20),
        ),
        entry(&format!("{pod}/aaa"), sandbox_spec, sandbox_stats),
        entry(&format!("{pod}/bbb"), nginx_spec, nginx_stats),
        entry(
            "/system.slice/docker.service",
            spec(&[], 1_600_000_100),
            samples(9, 1, 5),
        ),
    ];
    Snapshot {
        machine: Arc::new(MachineInfo {
            memory_capacity: 4 << 30,
            ..MachineInfo::default()
        }),
        containers: entries
            .into_iter()
            .map(|e| (Arc::from(e.name()), e))
            .collect(),
        ..Snapshot::default()
    }
}

fn facts() -> NodeFacts {
    NodeFacts {
        node_name: "node-1".into(),
        rlimit: Rlimit {
            time: Timestamp::from_unix_nanos(T0),
            max_pid: Some(4_194_304),
            tasks: Some(321),
        },
        root_fs_device: Some("/dev/vda1".into()),
        image_fs_device: Some("/dev/vdb".into()),
    }
}

#[test]
fn node_figures_come_from_the_root_cgroup() {
    let s = build(&snapshot(), &facts(), Scope::Full).expect("summary");
    let n = &s.node;
    assert_eq!(n.node_name, "node-1");
    assert_eq!(
        n.start_time.0,
        Timestamp::from_unix_nanos(1_600_000_000 * SEC)
    );
    let cpu = n.cpu.as_ref().expect("cpu");
    assert_eq!(cpu.time.0, Timestamp::from_unix_nanos(T0 + SEC));
    assert_eq!(
        cpu.usage_core_nano_seconds,
        Some(1_000 * SEC as u64 + 500_000_000)
    );
    // 0.5 s of CPU over 1 s: half a core.
    assert_eq!(cpu.usage_nano_cores, Some(500_000_000));
    let mem = n.memory.as_ref().expect("memory");
    assert_eq!(mem.working_set_bytes, Some(1 << 30));
    // No limit on the root: the machine's memory.
    assert_eq!(mem.available_bytes, Some((4 << 30) - (1 << 30)));
    assert_eq!(mem.page_faults, Some(11));
    let fs = n.fs.as_ref().expect("fs");
    assert_eq!(fs.capacity_bytes, Some(100 << 30));
    assert_eq!(fs.available_bytes, Some(60 << 30));
    assert_eq!(fs.used_bytes, Some(40 << 30));
    assert_eq!(fs.inodes_used, Some(600));
    let rt = n.runtime.as_ref().expect("runtime");
    let image = rt.image_fs.as_ref().expect("imageFs");
    assert_eq!(image.capacity_bytes, Some(50 << 30));
    assert_eq!(image.used_bytes, None);
    assert_eq!(rt.container_fs, rt.image_fs);
    let rl = n.rlimit.as_ref().expect("rlimit");
    assert_eq!(
        (rl.max_pid, rl.num_of_running_processes),
        (Some(4_194_304), Some(321))
    );
    // No eth0 on the host: only the interface list.
    let net = n.network.as_ref().expect("network");
    assert_eq!(net.name, "");
    assert_eq!(net.interfaces.len(), 1);
    let sys: Vec<&str> = n
        .system_containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(sys, vec!["runtime", "pods"]);
    assert!(
        n.system_containers
            .iter()
            .all(|c| c.rootfs.is_none() && c.logs.is_none())
    );
}

#[test]
fn pods_have_containers_network_and_storage() {
    let s = build(&snapshot(), &facts(), Scope::Full).expect("summary");
    assert_eq!(s.pods.len(), 1);
    let p = &s.pods[0];
    assert_eq!(
        (
            p.pod_ref.name.as_str(),
            p.pod_ref.namespace.as_str(),
            p.pod_ref.uid.as_str()
        ),
        ("web-0", "default", UID)
    );
    // The sandbox's creation time.
    assert_eq!(
        p.start_time.0,
        Timestamp::from_unix_nanos(1_699_999_000 * SEC)
    );
    // The pod cgroup's numbers; its limit is "unlimited": no availableBytes.
    let cpu = p.cpu.as_ref().expect("pod cpu");
    assert_eq!(
        cpu.usage_core_nano_seconds,
        Some(4 * SEC as u64 + 300_000_000)
    );
    assert_eq!(cpu.usage_nano_cores, Some(300_000_000));
    assert_eq!(p.memory.as_ref().and_then(|m| m.available_bytes), None);
    assert_eq!(p.swap.as_ref().and_then(|m| m.swap_available_bytes), None);
    // Network from the sandbox, eth0 inlined.
    let net = p.network.as_ref().expect("pod network");
    assert_eq!(
        (net.name.as_str(), net.rx_bytes, net.tx_errors),
        ("eth0", Some(1000), Some(2))
    );
    assert_eq!(net.interfaces.len(), 2);
    // The sandbox is not among the containers.
    assert_eq!(p.containers.len(), 1);
    let c = &p.containers[0];
    assert_eq!(c.name, "nginx");
    assert_eq!(
        c.start_time.0,
        Timestamp::from_unix_nanos(1_699_999_100 * SEC)
    );
    assert_eq!(
        c.cpu.as_ref().and_then(|c| c.usage_nano_cores),
        Some(250_000_000)
    );
    let mem = c.memory.as_ref().expect("memory");
    assert_eq!(mem.available_bytes, Some((64 << 20) - (10 << 20)));
    assert_eq!(mem.rss_bytes, Some(5 << 20));
    let swap = c.swap.as_ref().expect("swap");
    assert_eq!(
        (swap.swap_usage_bytes, swap.swap_available_bytes),
        (Some(7), Some((128 << 20) - 7))
    );
    let rootfs = c.rootfs.as_ref().expect("rootfs");
    assert_eq!(
        (rootfs.used_bytes, rootfs.inodes_used),
        (Some(4000), Some(30))
    );
    assert_eq!(rootfs.capacity_bytes, Some(50 << 30));
    let logs = c.logs.as_ref().expect("logs");
    assert_eq!(logs.used_bytes, Some(1000));
    assert_eq!(logs.capacity_bytes, Some(100 << 30));
    let eph = p.ephemeral_storage.as_ref().expect("ephemeral-storage");
    assert_eq!((eph.used_bytes, eph.inodes_used), (Some(5000), Some(30)));
    assert_eq!(eph.capacity_bytes, Some(100 << 30));
    // Sandbox and nginx, two processes each.
    assert_eq!(
        p.process_stats.as_ref().and_then(|p| p.process_count),
        Some(4)
    );
}

#[test]
fn cpu_and_memory_only_leaves_the_rest_out() {
    let s = build(&snapshot(), &facts(), Scope::CpuAndMemory).expect("summary");
    let n = &s.node;
    assert!(n.cpu.is_some() && n.memory.is_some() && n.swap.is_some());
    assert!(n.fs.is_none() && n.runtime.is_none() && n.rlimit.is_none() && n.network.is_none());
    let p = &s.pods[0];
    assert!(p.network.is_none() && p.ephemeral_storage.is_none() && p.process_stats.is_none());
    assert!(p.containers[0].rootfs.is_none() && p.containers[0].logs.is_none());
    assert!(p.containers[0].cpu.is_some());
}

#[test]
fn one_sample_gives_zero_nano_cores_and_no_root_sample_is_an_error() {
    let mut snap = snapshot();
    let only_one = samples(5, 0, 1).into_iter().take(1).collect();
    snap.containers
        .insert(Arc::from("/"), entry("/", spec(&[], 1), only_one));
    let s = build(&snap, &facts(), Scope::CpuAndMemory).expect("summary");
    let cpu = s.node.cpu.expect("cpu");
    assert_eq!(
        (cpu.usage_nano_cores, cpu.usage_core_nano_seconds),
        (Some(0), Some(5))
    );

    snap.containers
        .insert(Arc::from("/"), entry("/", spec(&[], 1), Vec::new()));
    assert_eq!(
        build(&snap, &facts(), Scope::Full),
        Err(SummaryError::NoRootStats)
    );
}

#[test]
fn a_container_without_a_memory_controller_reports_a_zero_working_set() {
    let mut snap = snapshot();
    let mut sp = spec(&[], 1_600_000_000);
    sp.has_memory = false;
    snap.containers
        .insert(Arc::from("/"), entry("/", sp, samples(1, 1, 99)));
    let s = build(&snap, &facts(), Scope::CpuAndMemory).expect("summary");
    let m = s.node.memory.expect("memory");
    assert_eq!(m.working_set_bytes, Some(0));
    assert_eq!(m.usage_bytes, None);
    assert!(s.node.swap.is_none());
}
