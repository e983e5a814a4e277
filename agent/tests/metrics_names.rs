//! Our family names, types, kinds and label names against cAdvisor's reference table.
//!
//! `fixtures/cadvisor-metrics.tsv` was extracted from cAdvisor HEAD's `lib/metrics/prometheus.go`
//! and `prometheus_machine.go` and cross-checked against its golden `testdata/prometheus_metrics`.

use std::collections::BTreeMap;

use bpfadvisor::config::MetricKind;
use bpfadvisor::metrics::families::{FAMILIES, Family, Source};

/// bpfadvisor's own families, of the opt-in eBPF kinds (cAdvisor has no such family): name, kind, type.
const OWN: &[&str] = &[
    "container_processes_started_total process_lifecycle counter",
    "container_processes_exited_total process_lifecycle counter",
    "container_cpu_runqueue_wait_seconds runqueue histogram",
    "container_network_tcp_retransmits_total tcp_retrans counter",
    "container_memory_reclaim_stall_seconds_total reclaim counter",
];

/// Rows of the TSV we do not reproduce as a static family, and why.
const EXCEPTIONS: &[(&str, &str)] = &[(
    "<app metric name from collector config>",
    "application metrics are dynamic families named by the collector config",
)];

const CONTAINER_BASE: &str = "id,name,image,container_label_*,container_env_*";
const MACHINE_BASE: &str = "machine_id,system_uuid,boot_id";

fn ours(f: &Family) -> (String, String, String) {
    let base = match f.source {
        Source::Stats(_) | Source::Spec(_) => Some(CONTAINER_BASE),
        Source::Machine(_) => Some(MACHINE_BASE),
        Source::Version | Source::ScrapeError => None,
    };
    let labels: Vec<&str> = base.into_iter().chain(f.labels.iter().copied()).collect();
    (
        f.ty.as_str().to_string(),
        f.kind.map_or("-", |k| k.name()).to_string(),
        labels.join(","),
    )
}

#[test]
fn families_match_cadvisor_reference() {
    let tsv = include_str!("fixtures/cadvisor-metrics.tsv");
    let mut reference = BTreeMap::new();
    for line in tsv.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 6, "malformed TSV row {line:?}");
        reference.insert(cols[0], cols);
    }
    let mut problems = Vec::new();
    let mut own = Vec::new();
    for f in FAMILIES {
        if f.kind.is_some_and(|k| MetricKind::EBPF.contains(&k)) {
            own.push(format!(
                "{} {} {}",
                f.name,
                f.kind.map_or("-", |k| k.name()),
                ours(f).0
            ));
            continue;
        }
        let Some(r) = reference.remove(f.name) else {
            problems.push(format!("{}: not a cAdvisor family", f.name));
            continue;
        };
        let (ty, kind, labels) = ours(f);
        if (ty.as_str(), kind.as_str(), labels.as_str(), f.help) != (r[1], r[2], r[4], r[5]) {
            problems.push(format!(
                "{}: ours ({ty}, {kind}, {labels}, {:?}) != cAdvisor ({}, {}, {}, {:?})",
                f.name, f.help, r[1], r[2], r[4], r[5]
            ));
        }
    }
    for (name, _) in reference {
        if !EXCEPTIONS.iter().any(|(n, _)| *n == name) {
            problems.push(format!("{name}: missing"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(own, OWN, "bpfadvisor's own (eBPF kind) families");
}

#[test]
fn no_duplicate_or_double_suffixed_names() {
    let mut seen = std::collections::BTreeSet::new();
    for f in FAMILIES {
        assert!(seen.insert(f.name), "duplicate family {}", f.name);
        assert!(!f.name.ends_with("_total_total"), "{}", f.name);
    }
}
