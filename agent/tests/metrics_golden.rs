//! Our `machine_*` exposition against cAdvisor's golden file for its fake machine.

use std::collections::BTreeMap;
use std::sync::Arc;

use bpfadvisor::config::MetricKinds;
use bpfadvisor::metrics::{self, MetricsConfig};
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::model::machine::{
    Cache, Core, HugePagesInfo, MachineInfo, MemoryInfo, Node, NvmInfo,
};
use bpfadvisor::query::Snapshot;

/// cAdvisor's `lib/metrics/prometheus_fake.go` machine info, rebuilt from the golden file.
fn fake_machine() -> MachineInfo {
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
        timestamp: Timestamp::from_unix_nanos(1_395_066_363_000_000_000),
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

/// `machine_*` families: header lines, then samples sorted (the Go client sorts them).
fn machine_families(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut fams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line)
            .split(['{', ' '])
            .next()
            .unwrap_or_default();
        if name.starts_with("machine_") {
            fams.entry(name.to_string())
                .or_default()
                .push(line.to_string());
        }
    }
    for lines in fams.values_mut() {
        lines[2..].sort();
    }
    fams
}

#[test]
fn machine_metrics_match_cadvisor_golden() {
    let snap = Snapshot {
        machine: Arc::new(fake_machine()),
        ..Snapshot::default()
    };
    let cfg = MetricsConfig {
        kinds: MetricKinds::from_flags("cpu_topology", "").expect("valid"),
        telemetry: false,
        ..MetricsConfig::default()
    };
    let mut out = Vec::new();
    metrics::render(&snap, &cfg, &mut out);
    let ours = machine_families(&String::from_utf8(out).expect("utf8"));
    let golden = machine_families(include_str!(
        "fixtures/cadvisor-golden/prometheus_machine_metrics"
    ));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        golden.keys().collect::<Vec<_>>()
    );
    for (name, lines) in &golden {
        assert_eq!(&ours[name], lines, "family {name}");
    }
}
