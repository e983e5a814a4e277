//! MachineInfo assembled from fixture trees: concrete values per machine, and no panic on broken input.

use std::path::{Path, PathBuf};

use bpfadvisor::host::HostPaths;
use bpfadvisor::machine::{MachineOptions, machine_info_with_warnings};
use bpfadvisor::model::machine::{Cache, HugePagesInfo, NetInfo};

fn fixture(name: &str) -> HostPaths {
    HostPaths::under(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

fn cache(id: i32, level: u32, ty: &str, kib: u64) -> Cache {
    Cache {
        id,
        size: kib * 1024,
        cache_type: ty.into(),
        level,
    }
}

#[test]
fn this_machine_hybrid_6_18() {
    let host = fixture("this-machine-hybrid-6.18");
    let (m, w) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    assert_eq!(m.vendor_id, "AuthenticAMD");
    assert_eq!(
        (m.num_cores, m.num_physical_cores, m.num_sockets),
        (2, 2, 1)
    );
    assert_eq!(m.cpu_frequency_khz, 2_596_144);
    assert_eq!(m.memory_capacity, 24_683_584 * 1024);
    assert_eq!(m.swap_capacity, 0);
    assert!(m.memory_by_type.is_empty());
    assert_eq!(
        m.hugepages,
        vec![
            HugePagesInfo {
                page_size: 1_048_576,
                num_pages: 0
            },
            HugePagesInfo {
                page_size: 2048,
                num_pages: 0
            },
        ]
    );
    assert_eq!(m.machine_id, "3d1219c7c4c5404aaa1f6d2a48adfda4");
    assert_eq!(m.boot_id, "33a9b43b-6ad6-4085-9567-cedebeeef7a0");
    // No DMI on this VM: the machine id stands in, as cAdvisor v0.36 reported here.
    assert_eq!(m.system_uuid, m.machine_id);
    assert!(
        !w.0.iter().any(|e| e.to_string().contains("product_uuid")),
        "{:?}",
        w.0
    );

    let disks: Vec<(&str, &str, u64, &str)> = m
        .disk_map
        .iter()
        .map(|(k, d)| (k.as_str(), d.name.as_str(), d.size, d.scheduler.as_str()))
        .collect();
    assert_eq!(
        disks,
        vec![
            ("253:0", "zram0", 0, "none"),
            ("254:0", "vda", 536_870_912 * 512, "mq-deadline"),
        ]
    );
    assert_eq!(
        m.network_devices,
        vec![
            NetInfo {
                name: "eth0".into(),
                mac_address: "02:fc:00:00:00:01".into(),
                speed: -1,
                mtu: 1400
            },
            NetInfo {
                name: "ifb0".into(),
                mac_address: "fa:e3:ef:a8:1f:9e".into(),
                speed: 0,
                mtu: 1500
            },
            NetInfo {
                name: "ifb1".into(),
                mac_address: "1a:22:42:af:61:3d".into(),
                speed: 0,
                mtu: 1500
            },
        ]
    );

    assert_eq!(m.topology.len(), 1);
    let n = &m.topology[0];
    assert_eq!(
        (n.node_id, n.memory, n.distances.clone()),
        (0, 14_640_888 * 1024, vec![10])
    );
    assert_eq!(
        n.cores
            .iter()
            .map(|c| c.thread_ids.clone())
            .collect::<Vec<_>>(),
        vec![vec![0], vec![1]]
    );
    assert_eq!(
        n.cores[1].caches,
        vec![
            cache(1, 1, "Data", 48),
            cache(1, 1, "Instruction", 32),
            cache(1, 2, "Unified", 1024),
        ]
    );
    assert!(n.cores[0].uncore_caches.is_empty());
    assert_eq!(n.caches, vec![cache(0, 3, "Unified", 32768)]);

    // The root device once, although /var/lib/docker is a bind mount of it.
    let fs: Vec<(&str, &str)> = m
        .filesystems
        .iter()
        .map(|f| (f.device.as_str(), f.fs_type.as_str()))
        .collect();
    assert_eq!(fs, vec![("/dev/vda", "vfs")]);
    assert_eq!(
        (m.filesystems[0].device_major, m.filesystems[0].device_minor),
        (254, 0)
    );
    assert_eq!(
        (
            m.cloud_provider.as_str(),
            m.instance_type.as_str(),
            m.instance_id.as_str()
        ),
        ("Unknown", "Unknown", "None")
    );
}

#[test]
fn two_socket_numa() {
    let host = fixture("two-socket-numa");
    let (m, _) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    assert_eq!(m.vendor_id, "GenuineIntel");
    assert_eq!(
        (m.num_cores, m.num_physical_cores, m.num_sockets),
        (8, 4, 2)
    );
    assert_eq!(m.cpu_frequency_khz, 3_700_000, "cpufreq wins over cpu MHz");
    assert_eq!(m.memory_capacity, 131_595_472 * 1024);
    assert_eq!(m.swap_capacity, 8_388_604 * 1024);
    let ddr4 = &m.memory_by_type["Registered-DDR4"];
    assert_eq!(
        (ddr4.capacity, ddr4.dimm_count),
        (4 * 32 * 1024 * 1024 * 1024, 4)
    );
    assert_eq!(m.system_uuid, "4c4c4544-0042-3510-8052-b4c04f4e3832");
    assert_eq!(m.machine_id, "0123456789abcdef0123456789abcdef");

    assert_eq!(m.topology.len(), 2);
    for (i, n) in m.topology.iter().enumerate() {
        let socket = i as i32;
        assert_eq!(n.node_id, socket);
        assert_eq!(n.memory, 65_797_736 * 1024);
        assert_eq!(
            n.distances,
            if i == 0 { vec![10, 21] } else { vec![21, 10] }
        );
        let threads: Vec<Vec<i32>> = n.cores.iter().map(|c| c.thread_ids.clone()).collect();
        let expect = if i == 0 {
            vec![vec![0, 4], vec![2, 6]]
        } else {
            vec![vec![1, 5], vec![3, 7]]
        };
        assert_eq!(threads, expect);
        assert!(
            n.cores
                .iter()
                .all(|c| c.socket_id == socket && c.caches.len() == 3)
        );
        assert_eq!(n.caches, vec![cache(socket, 3, "Unified", 22528)]);
    }
    assert_eq!(
        m.topology[0].hugepages[1],
        HugePagesInfo {
            page_size: 2048,
            num_pages: 512
        }
    );
    // Every online CPU exactly once; offline cpu8 absent.
    let mut all: Vec<i32> = m
        .topology
        .iter()
        .flat_map(|n| &n.cores)
        .flat_map(|c| c.thread_ids.clone())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..8).collect::<Vec<_>>());

    assert_eq!(m.disk_map.keys().collect::<Vec<_>>(), vec!["259:0", "8:0"]);
    assert_eq!(m.disk_map["8:0"].scheduler, "mq-deadline");
    assert_eq!(m.disk_map["259:0"].scheduler, "none");
    let nics: Vec<(&str, i64, i64)> = m
        .network_devices
        .iter()
        .map(|n| (n.name.as_str(), n.speed, n.mtu))
        .collect();
    assert_eq!(nics, vec![("eno1", 10000, 1500), ("eno2", 0, 9000)]);
    // `/data` does not exist below the fixture root, so only `/` can be statted; nsfs never counts.
    let fs: Vec<&str> = m.filesystems.iter().map(|f| f.device.as_str()).collect();
    assert_eq!(fs, vec!["/dev/sda2"]);
    assert_eq!(m.cloud_provider, "Unknown");
}

#[test]
fn arm_cpuinfo_falls_back_to_sysfs_counts() {
    // Pi 4 cpuinfo beside a sysfs of four single-thread cores on one package.
    let t = tempfile::tempdir().expect("tempdir");
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arm-rpi4-cpuinfo/proc/cpuinfo");
    let w = |p: &str, s: &str| {
        let p: PathBuf = t.path().join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, s).expect("write");
    };
    w(
        "proc/cpuinfo",
        &std::fs::read_to_string(src).expect("fixture"),
    );
    w("sys/devices/system/cpu/online", "0-3\n");
    for cpu in 0..4 {
        w(
            &format!("sys/devices/system/cpu/cpu{cpu}/topology/core_id"),
            &format!("{cpu}\n"),
        );
        w(
            &format!("sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id"),
            "0\n",
        );
    }
    let host = HostPaths::under(t.path());
    let (m, _) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    assert_eq!(
        (m.num_cores, m.num_physical_cores, m.num_sockets),
        (4, 4, 1)
    );
    assert_eq!(m.cpu_frequency_khz, 0);
    assert_eq!(m.vendor_id, "");
    // No node directories: one pseudo-node per socket.
    assert_eq!(m.topology.len(), 1);
    assert_eq!(m.topology[0].cores.len(), 4);
}

#[test]
fn missing_and_malformed_sources_give_empty_fields_and_warnings() {
    let empty = tempfile::tempdir().expect("tempdir");
    let host = HostPaths::under(empty.path());
    let (m, w) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    assert_eq!(
        (m.num_cores, m.memory_capacity, m.machine_id.as_str()),
        (0, 0, "")
    );
    assert!(m.topology.is_empty() && m.filesystems.is_empty() && m.disk_map.is_empty());
    assert!(w.0.len() >= 4, "{:?}", w.0);

    let bad = tempfile::tempdir().expect("tempdir");
    for (p, s) in [
        ("proc/cpuinfo", "\u{0}garbage"),
        ("proc/meminfo", "MemTotal: lots\n"),
        ("proc/1/mountinfo", "not a mount\n"),
        ("sys/devices/system/cpu/online", "0-x\n"),
        ("sys/devices/system/cpu/cpu0/topology/core_id", "zero\n"),
        ("sys/devices/system/node/node0/distance", "10 x\n"),
        ("sys/block/sda/dev", "8\n"),
        ("sys/class/net/eth0/mtu", "big\n"),
        ("sys/class/net/eth0/address", "02:fc:00:00:00:01\n"),
        ("sys/class/net/eth1/mtu", "1500\n"),
        ("sys/class/net/eth1/address", "02:fc:00:00:00:02\n"),
        (
            "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
            "-\n",
        ),
    ] {
        let p = bad.path().join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, s).expect("write");
    }
    let host = HostPaths::under(bad.path());
    let (m, w) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    assert_eq!(m.memory_capacity, 0);
    assert!(m.hugepages.is_empty() && m.disk_map.is_empty());
    // One bad NIC does not hide the others.
    assert_eq!(
        m.network_devices
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        vec!["eth1"]
    );
    assert_eq!(m.topology.len(), 1, "node0 still listed");
    assert!(m.topology[0].cores.is_empty() && m.topology[0].distances.is_empty());
    for needle in [
        "meminfo",
        "online",
        "core_id",
        "distance",
        "sda/dev",
        "mtu",
        "nr_hugepages",
    ] {
        assert!(
            w.0.iter().any(|e| e.to_string().contains(needle)),
            "no warning about {needle}: {:?}",
            w.0
        );
    }
}

/// The VM test's guest (qemu TCG, 2 vCPUs, ~1 GB, a RAM disk, no NIC but `lo`), from the same
/// capture as the pure cgroup v2 tree.
#[test]
fn qemu_guest_kernel61() {
    let host = fixture("cgroup-v2-kernel61");
    let (m, w) = machine_info_with_warnings(&host, &MachineOptions::defaults(&host));
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(m.vendor_id, "AuthenticAMD"); // qemu's `-cpu max` under TCG
    assert_eq!(
        (m.num_cores, m.num_physical_cores, m.num_sockets),
        (2, 2, 1)
    );
    assert_eq!(m.cpu_frequency_khz, 2_600_017);
    assert_eq!((m.memory_capacity, m.swap_capacity), (995_368 * 1024, 0));
    assert_eq!(m.machine_id, "b7e5c0a1f2d34e6f8a9b0c1d2e3f4a5b");
    assert_eq!(m.boot_id, "4bd3c651-34ed-4ed6-b87c-d3901474eb14");
    // DMI without a readable product_uuid: the machine id stands in.
    assert_eq!(m.system_uuid, m.machine_id);
    // `ram*` block devices and `lo` are left out, as cAdvisor leaves them out.
    assert!(m.disk_map.is_empty() && m.network_devices.is_empty());
    let node = &m.topology[0];
    assert_eq!(node.cores.len(), 2);
    assert_eq!(
        node.cores[1].caches,
        [
            cache(1, 1, "Data", 64),
            cache(1, 1, "Instruction", 64),
            cache(1, 2, "Unified", 512)
        ]
    );
    // TCG gives each vCPU an L3 of its own (ids 0 and 1).
    assert_eq!(
        node.caches,
        [cache(0, 3, "Unified", 16384), cache(1, 3, "Unified", 16384)]
    );
}
