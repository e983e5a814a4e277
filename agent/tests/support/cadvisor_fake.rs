//! The data behind cAdvisor's golden `/metrics` files, rebuilt in our model types: the fake machine,
//! version and container (`testcontainer`, alias `testcontaineralias`) of its Prometheus collector
//! tests (`lib/metrics/prometheus_fake_test.go`, `metrics/prometheus_fake.go` in older trees).
//! Include it with `#[path = "support/cadvisor_fake.rs"] mod cadvisor_fake;`.
//!
//! Every value here is one of cAdvisor's fake values; the golden files
//! (`fixtures/cadvisor-golden/`) are what its collector renders from them.
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bpfadvisor::model::Sparse;
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::model::machine::{
    Cache, Core, HugePagesInfo, MachineInfo, MemoryInfo, Node, NvmInfo, VersionInfo,
};
use bpfadvisor::model::v1::{
    CacheStats, ContainerReference, ContainerSpec, ContainerStats, DiskIoStats, FsStats,
    HugetlbStats, InterfaceStats, MemoryBandwidthStats, MemoryNumaStats, MetricVal, NetworkStats,
    PSIData, PSIStats, PerDiskStats, PerfStat, PerfUncoreStat, ProcessStats, StatMap,
    TcpAdvancedStat, TcpStat, UlimitSpec,
};
use bpfadvisor::query::{ContainerEntry, Samples, Snapshot};

/// 2014-03-17T14:26:03Z: the fake clock, the machine info's and the sample's timestamp.
pub const NOW_NANOS: i64 = 1_395_066_363_000_000_000;

/// The machine collector's fake machine.
pub fn machine() -> MachineInfo {
    let cache = |level, t: &str, size| Cache {
        size,
        cache_type: t.into(),
        level,
        ..Cache::default()
    };
    let hp = |page_size, num_pages| HugePagesInfo {
        page_size,
        num_pages,
    };
    // Two nodes of four cores, two threads each; odd cores have slightly smaller L1/L2 sizes.
    let node = |id: i32, memory, hugepages| Node {
        node_id: id,
        memory,
        hugepages,
        cores: (id * 4..id * 4 + 4)
            .map(|c| {
                let odd = c % 2 == 1;
                let l1 = if odd { 32764 } else { 32768 };
                Core {
                    core_id: c,
                    thread_ids: vec![c * 2, c * 2 + 1],
                    caches: vec![
                        cache(1, "Data", l1),
                        cache(1, "Instruction", l1),
                        cache(2, "Unified", if odd { 262_148 } else { 262_144 }),
                    ],
                    ..Core::default()
                }
            })
            .collect(),
        caches: if id == 1 {
            vec![cache(3, "Unified", 8_388_608)]
        } else {
            vec![]
        },
        distances: if id == 0 { vec![10, 12] } else { vec![12, 10] },
    };
    MachineInfo {
        timestamp: Timestamp::from_unix_nanos(NOW_NANOS),
        num_cores: 4,
        num_physical_cores: 1,
        num_sockets: 1,
        memory_capacity: 1024,
        memory_by_type: BTreeMap::from([
            (
                "Non-volatile-RAM".to_string(),
                MemoryInfo {
                    capacity: 2_168_421_613_568,
                    dimm_count: 8,
                },
            ),
            (
                "Unbuffered-DDR4".to_string(),
                MemoryInfo {
                    capacity: 412_316_860_416,
                    dimm_count: 12,
                },
            ),
        ]),
        nvm: NvmInfo {
            memory_mode_capacity: 429_496_729_600,
            app_direct_mode_capacity: 1_735_166_787_584,
            avg_power_budget: 0,
        },
        machine_id: "machine-id-test".into(),
        system_uuid: "system-uuid-test".into(),
        boot_id: "boot-id-test".into(),
        topology: vec![
            node(0, 33_604_804_608, vec![hp(1_048_576, 0), hp(2048, 0)]),
            node(1, 33_604_804_606, vec![hp(1_048_576, 2), hp(2048, 4)]),
        ],
        ..MachineInfo::default()
    }
}

/// The fake version info (`cadvisor_version_info`).
pub fn version() -> VersionInfo {
    VersionInfo {
        kernel_version: "4.1.6-200.fc22.x86_64".into(),
        container_os_version: "Fedora 22 (Twenty Two)".into(),
        docker_version: "1.8.1".into(),
        cadvisor_version: "0.16.0".into(),
        cadvisor_revision: "abcdef".into(),
        ..VersionInfo::default()
    }
}

/// The fake container's spec. Memory limits are set but `has_memory` is not, so no
/// `container_spec_memory_*` series: the golden file has none either.
pub fn spec() -> ContainerSpec {
    let mut s = ContainerSpec {
        image: "test".into(),
        has_cpu: true,
        has_hugetlb: true,
        has_processes: true,
        creation_time: Timestamp::from_unix_nanos(1_257_894_000_000_000_000),
        start_time: Timestamp::from_unix_nanos(1_257_895_000_000_000_000),
        labels: BTreeMap::from([("foo.label".to_string(), "bar".to_string())]),
        envs: BTreeMap::from([("foo+env".to_string(), "prod".to_string())]),
        ..ContainerSpec::default()
    };
    s.cpu.limit = 1000;
    s.cpu.period = 100_000;
    s.cpu.quota = 10_000;
    s.memory.limit = 2048;
    s.memory.reservation = 1024;
    s.memory.swap_limit = 4096;
    s.processes.limit = 100;
    s
}

fn psi(full: u64, some: u64) -> PSIStats {
    let data = |total, scale: f64| PSIData {
        total,
        avg10: 0.3 * scale,
        avg60: 0.2 * scale,
        avg300: 0.1 * scale,
    };
    PSIStats {
        full: data(full, 1.0),
        some: data(some, 2.0),
    }
}

fn numa(file: [u64; 2], anon: [u64; 2], unevictable: [u64; 2]) -> Sparse<MemoryNumaStats> {
    let by_node = |v: [u64; 2]| BTreeMap::from([(0, v[0]), (1, v[1])]);
    Sparse::new(MemoryNumaStats {
        file: by_node(file),
        anon: by_node(anon),
        unevictable: by_node(unevictable),
    })
}

fn per_disk(device: &str, major: u64, minor: u64, stats: &[(&str, u64)]) -> PerDiskStats {
    PerDiskStats {
        device: device.into(),
        major,
        minor,
        stats: stats.iter().copied().collect::<StatMap>(),
    }
}

/// The counters of `/proc/net/netstat` and `/proc/net/snmp` the fake sets (all others are 0).
fn tcp_advanced() -> TcpAdvancedStat {
    TcpAdvancedStat {
        rto_algorithm: 1,
        rto_min: 200,
        rto_max: 120_000,
        max_conn: -1,
        active_opens: 11_038_621,
        passive_opens: 59,
        attempt_fails: 48_997,
        estab_resets: 37,
        curr_estab: 22,
        in_segs: 140_370_590,
        out_segs: 211_580_512,
        retrans_segs: 462_961,
        in_errs: 31,
        out_rsts: 91_699,
        tw: 10_436_427,
        tcp_timeouts: 27_422,
        tcp_loss_probes: 88_648,
        tcp_loss_probe_recovery: 401,
        tcp_reno_recovery_fail: 394,
        tcp_sack_recovery_fail: 2,
        tcp_reno_failures: 43_414,
        tcp_sack_failures: 60,
        tcp_loss_failures: 729,
        delayed_ac_ks: 503_975,
        delayed_ack_locked: 90,
        delayed_ack_lost: 18_843,
        tcphp_hits: 56_096_478,
        tcp_pure_acks: 24_251_339,
        tcphp_acks: 21_490_641,
        tcp_reno_recovery: 3519,
        tcp_sack_recovery: 159,
        tcpsack_reorder: 11,
        tcp_reno_reorder: 839,
        tcpts_reorder: 3,
        tcp_full_undo: 2361,
        tcp_partial_undo: 3,
        tcpdsack_undo: 33,
        tcp_loss_undo: 61_374,
        tcp_fast_retrans: 11_794,
        tcp_slow_start_retrans: 290_832,
        tcpdsack_old_sent: 15_633,
        tcpdsack_ofo_sent: 1,
        tcpdsack_recv: 83_680,
        tcpdsack_ofo_recv: 10,
        tcp_abort_on_data: 8,
        tcp_abort_on_close: 7,
        tcpdsack_ignored_no_undo: 71_885,
        tcp_sack_shifted: 2,
        tcp_sack_merged: 6,
        tcp_sack_shift_fallback: 298,
        tcp_syn_retrans: 988,
        tcp_orig_data_sent: 130_698_387,
        ..TcpAdvancedStat::default()
    }
}

/// One filesystem of the fake: reads and writes are (completed, merged, sectors, time), io is
/// (in progress, time, weighted time).
fn fs(
    device: &str,
    inodes_free: u64,
    limit: u64,
    usage: u64,
    reads: [u64; 4],
    writes: [u64; 4],
    io: [u64; 3],
) -> FsStats {
    FsStats {
        device: device.into(),
        has_inodes: true,
        inodes: 2_097_152,
        inodes_free,
        capacity: limit,
        usage,
        reads_completed: reads[0],
        reads_merged: reads[1],
        sectors_read: reads[2],
        read_time: reads[3],
        writes_completed: writes[0],
        writes_merged: writes[1],
        sectors_written: writes[2],
        write_time: writes[3],
        io_in_progress: io[0],
        io_time: io[1],
        weighted_io_time: io[2],
        ..FsStats::default()
    }
}

fn app_metric(value: f64, label: &str, labels: &[(&str, &str)]) -> MetricVal {
    MetricVal {
        float_value: value,
        label: label.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timestamp: Timestamp::from_unix_nanos(NOW_NANOS),
        ..MetricVal::default()
    }
}

/// The fake container's one sample.
pub fn stats() -> ContainerStats {
    let mut s = ContainerStats {
        timestamp: Timestamp::from_unix_nanos(NOW_NANOS),
        referenced_memory: 1234,
        ..ContainerStats::default()
    };

    let cpu = &mut s.cpu;
    cpu.usage.total = 1;
    cpu.usage.per_cpu = vec![2, 3, 4, 5];
    cpu.usage.user = 6;
    cpu.usage.system = 7;
    cpu.cfs.periods = 723;
    cpu.cfs.throttled_periods = 18;
    cpu.cfs.throttled_time = 1_724_314_000;
    cpu.cfs.bursts_periods = 25;
    cpu.cfs.burst_time = 500_000_000;
    cpu.schedstat.run_time = 53_643_567;
    cpu.schedstat.runqueue_time = 479_424_566_378;
    cpu.schedstat.run_periods = 984_285;
    cpu.load_average = 2;
    cpu.load_d_average = 2;
    cpu.psi = psi(100, 200);

    let m = &mut s.memory;
    m.usage = 8;
    m.max_usage = 8;
    m.working_set = 9;
    m.total_active_file = 7;
    m.total_inactive_file = 6;
    m.file_dirty = 19;
    m.file_writeback = 20;
    m.pgscan = 21;
    m.pgsteal = 22;
    m.workingset_refault_file = 23;
    m.workingset_refault_anon = 24;
    m.cache = 14;
    m.rss = 15;
    m.mapped_file = 16;
    m.kernel = 17;
    m.swap = 8192;
    m.container_data.pgfault = 10;
    m.container_data.pgmajfault = 11;
    m.container_data.numa_stats = numa([16_649, 10_000], [10_000, 7109], [8900, 10_000]);
    m.hierarchical_data.pgfault = 12;
    m.hierarchical_data.pgmajfault = 13;
    m.hierarchical_data.numa_stats = numa([36_649, 10_000], [20_000, 7109], [8900, 20_000]);
    m.psi = psi(1000, 2000);
    m.events.high = 42;
    m.events.max = 5;
    // The fake also sets anon counters (active 4, inactive 3, huge pages 2): no family exports
    // them and our model does not keep them.

    s.hugetlb = Sparse::new(BTreeMap::from([
        (
            "2Mi".to_string(),
            HugetlbStats {
                usage: 4,
                max_usage: 10,
                failcnt: 1,
            },
        ),
        ("1Gi".to_string(), HugetlbStats::default()),
    ]));

    let eth0 = InterfaceStats {
        name: "eth0".into(),
        rx_bytes: 14,
        rx_packets: 15,
        rx_errors: 16,
        rx_dropped: 17,
        tx_bytes: 18,
        tx_packets: 19,
        tx_errors: 20,
        tx_dropped: 21,
    };
    s.network = Sparse::new(NetworkStats {
        tcp: TcpStat {
            established: 13,
            listen: 3,
            ..TcpStat::default()
        },
        tcp6: TcpStat {
            established: 11,
            listen: 3,
            ..TcpStat::default()
        },
        tcp_advanced: Sparse::new(tcp_advanced()),
        ..NetworkStats::from_interfaces(vec![eth0])
    });

    let count = |v| [("Count", v)];
    s.diskio = Sparse::new(DiskIoStats {
        io_service_bytes: vec![per_disk(
            "/dev/sdb",
            8,
            0,
            &[
                ("Async", 1),
                ("Discard", 2),
                ("Read", 3),
                ("Sync", 4),
                ("Total", 5),
                ("Write", 6),
            ],
        )],
        io_cost_usage: vec![per_disk("sda1", 8, 1, &count(1_500_000))],
        io_cost_wait: vec![per_disk("sda1", 8, 1, &count(2_500_000))],
        io_cost_indebt: vec![per_disk("sda1", 8, 1, &count(500_000))],
        io_cost_indelay: vec![per_disk("sda1", 8, 1, &count(750_000))],
        psi: psi(1100, 2200),
        ..DiskIoStats::default()
    });

    s.filesystem = Sparse::new(vec![
        fs(
            "sda1",
            524_288,
            22,
            23,
            [24, 25, 26, 27],
            [28, 39, 40, 41],
            [42, 43, 44],
        ),
        fs(
            "sda2",
            262_144,
            37,
            38,
            [39, 40, 41, 42],
            [43, 44, 45, 46],
            [47, 48, 49],
        ),
    ]);

    // The fake's two GPUs (accelerator stats) are left out: cAdvisor no longer exports them and
    // its golden file has no accelerator family.

    s.processes = Sparse::new(ProcessStats {
        process_count: 1,
        fd_count: 5,
        socket_count: 3,
        threads_current: 5,
        threads_max: 100,
        ulimits: vec![UlimitSpec {
            name: "max_open_files".into(),
            soft_limit: 16384,
            hard_limit: 16384,
        }],
    });

    let t = &mut s.task_stats;
    t.nr_sleeping = 50;
    t.nr_running = 51;
    t.nr_stopped = 52;
    t.nr_uninterruptible = 53;
    t.nr_io_wait = 54;

    s.custom_metrics = Sparse::new(BTreeMap::from([
        (
            "container_custom_app_metric_1".to_string(),
            vec![
                app_metric(
                    1.1,
                    "testlabel_1_1_1",
                    &[("test_label", "1_1"), ("test_label_2", "2_1")],
                ),
                app_metric(
                    1.2,
                    "testlabel_1_1_2",
                    &[("test_label", "1_2"), ("test_label_2", "2_2")],
                ),
            ],
        ),
        (
            "container_custom_app_metric_2".to_string(),
            vec![app_metric(
                2.0,
                "testlabel2",
                &[("test_label", "test_value")],
            )],
        ),
        (
            "container_custom_app_metric_3".to_string(),
            vec![app_metric(
                3.0,
                "testlabel3",
                &[("test_label", "test_value")],
            )],
        ),
    ]));

    let perf = |cpu, name: &str, value, scaling_ratio| PerfStat {
        scaling_ratio,
        value,
        name: name.into(),
        cpu,
    };
    s.perf_stats = Sparse::new(vec![
        perf(0, "instructions", 123, 1.0),
        perf(1, "instructions", 456, 0.5),
        perf(0, "instructions_retired", 321, 0.666_666_666_66),
        perf(1, "instructions_retired", 789, 0.333_333_333_33),
    ]);
    let uncore = |socket, value| PerfUncoreStat {
        scaling_ratio: 1.0,
        value,
        name: "cas_count_read".into(),
        socket,
        pmu: "uncore_imc_0".into(),
    };
    s.perf_uncore_stats = Sparse::new(vec![uncore(0, 1_231_231_512), uncore(1, 1_111_231_331)]);

    s.resctrl.memory_bandwidth = vec![
        MemoryBandwidthStats {
            mbm_total_bytes: 4_512_312,
            mbm_local_bytes: 2_390_393,
        },
        MemoryBandwidthStats {
            mbm_total_bytes: 2_173_713,
            mbm_local_bytes: 1_231_233,
        },
    ];
    s.resctrl.cache = vec![
        CacheStats {
            llc_occupancy: 162_626,
        },
        CacheStats {
            llc_occupancy: 213_777,
        },
    ];
    s.cpuset.memory_migrate = 1;
    s.health.status = "healthy".into();
    s
}

/// The fake container: name `testcontainer` (cAdvisor's fake has no leading slash), one alias.
pub fn container() -> ContainerEntry {
    let spec = spec();
    let samples = Samples::fixed(Duration::from_secs(120), &spec, [Arc::new(stats())], 0);
    ContainerEntry {
        reference: ContainerReference {
            name: "testcontainer".into(),
            aliases: vec!["testcontaineralias".into()],
            ..ContainerReference::default()
        },
        spec,
        samples: Arc::new(samples),
    }
}

/// Machine, version and the one container, as cAdvisor's fake info provider answers.
pub fn snapshot() -> Snapshot {
    let c = container();
    Snapshot {
        machine: Arc::new(machine()),
        version: Arc::new(version()),
        containers: BTreeMap::from([(Arc::from(c.name()), Arc::new(c))]),
        ..Snapshot::default()
    }
}
