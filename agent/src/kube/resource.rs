//! kubelet's `/metrics/resource`: the CPU and memory the Kubernetes resource pipeline reads
//! (metrics-server, `kubectl top`, the HPA), encoded from the same CPU-and-memory summary kubelet
//! encodes it from, so the two endpoints always agree.
//!
//! Text format 0.0.4 as kubelet writes it through client_golang: families sorted by name, only
//! families with samples, HELP prefixed with the stability level (`[STABLE]`, `[ALPHA]`, and the
//! deprecation note for `scrape_error`), label pairs sorted by name, series sorted by label
//! values, sample timestamps (milliseconds) from each sample's time except for
//! `container_start_time_seconds` and the scrape-error gauges.

use std::collections::BTreeMap;

use super::summary::SummaryError;
use super::types::{ContainerStats, KubeTime, PodStats, Summary};
use crate::metrics::text::{write_f64, write_header, write_i64, write_label_value};

/// The content type kubelet answers a Prometheus scrape with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One family of kubelet's resource metrics collector.
struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
    labels: &'static [&'static str],
}

const CONTAINER: &[&str] = &["container", "namespace", "pod"];
const POD: &[&str] = &["namespace", "pod"];

const NODE_CPU: Family = Family {
    name: "node_cpu_usage_seconds_total",
    help: "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
    counter: true,
    labels: &[],
};
const NODE_MEMORY: Family = Family {
    name: "node_memory_working_set_bytes",
    help: "[STABLE] Current working set of the node in bytes",
    counter: false,
    labels: &[],
};
const NODE_SWAP: Family = Family {
    name: "node_swap_usage_bytes",
    help: "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
    counter: false,
    labels: &[],
};
const CONTAINER_CPU: Family = Family {
    name: "container_cpu_usage_seconds_total",
    help: "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
    counter: true,
    labels: CONTAINER,
};
const CONTAINER_MEMORY: Family = Family {
    name: "container_memory_working_set_bytes",
    help: "[STABLE] Current working set of the container in bytes",
    counter: false,
    labels: CONTAINER,
};
const CONTAINER_SWAP: Family = Family {
    name: "container_swap_usage_bytes",
    help: "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
    counter: false,
    labels: CONTAINER,
};
const CONTAINER_SWAP_LIMIT: Family = Family {
    name: "container_swap_limit_bytes",
    help: "[ALPHA] Current amount of the container swap limit in bytes. Reported only on non-windows systems",
    counter: false,
    labels: CONTAINER,
};
const CONTAINER_START: Family = Family {
    name: "container_start_time_seconds",
    help: "[STABLE] Start time of the container since unix epoch in seconds",
    counter: false,
    labels: CONTAINER,
};
const POD_CPU: Family = Family {
    name: "pod_cpu_usage_seconds_total",
    help: "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
    counter: true,
    labels: POD,
};
const POD_MEMORY: Family = Family {
    name: "pod_memory_working_set_bytes",
    help: "[STABLE] Current working set of the pod in bytes",
    counter: false,
    labels: POD,
};
const POD_SWAP: Family = Family {
    name: "pod_swap_usage_bytes",
    help: "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
    counter: false,
    labels: POD,
};
/// Deprecated in Kubernetes 1.29 for `resource_scrape_error`; both are written, as kubelet 1.29–1.30
/// did.
const SCRAPE_ERROR: Family = Family {
    name: "scrape_error",
    help: "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise",
    counter: false,
    labels: &[],
};
const RESOURCE_SCRAPE_ERROR: Family = Family {
    name: "resource_scrape_error",
    help: "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
    counter: false,
    labels: &[],
};

/// Every family name `/metrics/resource` can write.
pub const FAMILY_NAMES: [&str; 13] = [
    NODE_CPU.name,
    NODE_MEMORY.name,
    NODE_SWAP.name,
    CONTAINER_CPU.name,
    CONTAINER_MEMORY.name,
    CONTAINER_SWAP.name,
    CONTAINER_SWAP_LIMIT.name,
    CONTAINER_START.name,
    POD_CPU.name,
    POD_MEMORY.name,
    POD_SWAP.name,
    SCRAPE_ERROR.name,
    RESOURCE_SCRAPE_ERROR.name,
];

/// One sample: label values in the family's (sorted) label order.
struct Sample {
    labels: Vec<String>,
    value: f64,
    ts_ms: Option<i64>,
}

/// Samples by family name.
#[derive(Default)]
struct Collected(BTreeMap<&'static str, (&'static Family, Vec<Sample>)>);

impl Collected {
    fn put(&mut self, fam: &'static Family, labels: Vec<String>, value: f64, at: Option<KubeTime>) {
        let ts_ms = at
            .filter(|t| !t.is_zero())
            .map(|t| t.0.as_unix_nanos().div_euclid(1_000_000));
        self.0
            .entry(fam.name)
            .or_insert((fam, Vec::new()))
            .1
            .push(Sample {
                labels,
                value,
                ts_ms,
            });
    }
}

/// Core-nanoseconds as core-seconds, the way kubelet divides.
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Renders the exposition of `summary` (a CPU-and-memory summary) into `out`; a summary that could
/// not be built gives only the scrape-error gauges at 1.
pub fn render(summary: Result<&Summary, &SummaryError>, out: &mut Vec<u8>) {
    let mut c = Collected::default();
    let failed = match summary {
        Ok(s) => {
            collect(s, &mut c);
            0.0
        }
        Err(_) => 1.0,
    };
    c.put(&SCRAPE_ERROR, Vec::new(), failed, None);
    c.put(&RESOURCE_SCRAPE_ERROR, Vec::new(), failed, None);
    for (fam, mut samples) in c.0.into_values() {
        // client_golang orders a family's series by label values; a duplicate series (two pods of
        // the same name and namespace) would fail its gather, so only the first is kept.
        samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        samples.dedup_by(|a, b| a.labels == b.labels);
        write_header(
            out,
            fam.name,
            fam.help,
            if fam.counter { "counter" } else { "gauge" },
        );
        for s in samples {
            out.extend_from_slice(fam.name.as_bytes());
            if !fam.labels.is_empty() {
                out.push(b'{');
                for (i, (n, v)) in fam.labels.iter().zip(&s.labels).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(n.as_bytes());
                    out.extend_from_slice(b"=\"");
                    write_label_value(out, v);
                    out.push(b'"');
                }
                out.push(b'}');
            }
            out.push(b' ');
            write_f64(out, s.value);
            if let Some(ts) = s.ts_ms {
                out.push(b' ');
                write_i64(out, ts);
            }
            out.push(b'\n');
        }
    }
}

fn collect(s: &Summary, c: &mut Collected) {
    let node = &s.node;
    if let Some(cpu) = &node.cpu
        && let Some(ns) = cpu.usage_core_nano_seconds
    {
        c.put(&NODE_CPU, Vec::new(), seconds(ns), Some(cpu.time));
    }
    if let Some(m) = &node.memory
        && let Some(ws) = m.working_set_bytes
    {
        c.put(&NODE_MEMORY, Vec::new(), ws as f64, Some(m.time));
    }
    // kubelet stamps the node's swap with the memory section's time.
    if let Some(sw) = &node.swap
        && let Some(used) = sw.swap_usage_bytes
    {
        let at = node.memory.as_ref().map(|m| m.time).unwrap_or(sw.time);
        c.put(&NODE_SWAP, Vec::new(), used as f64, Some(at));
    }
    for pod in &s.pods {
        for ctr in &pod.containers {
            container(pod, ctr, c);
        }
        let labels = || vec![pod.pod_ref.namespace.clone(), pod.pod_ref.name.clone()];
        if let Some(cpu) = &pod.cpu
            && let Some(ns) = cpu.usage_core_nano_seconds
        {
            c.put(&POD_CPU, labels(), seconds(ns), Some(cpu.time));
        }
        if let Some(m) = &pod.memory
            && let Some(ws) = m.working_set_bytes
        {
            c.put(&POD_MEMORY, labels(), ws as f64, Some(m.time));
        }
        if let Some(sw) = &pod.swap
            && let Some(used) = sw.swap_usage_bytes
        {
            c.put(&POD_SWAP, labels(), used as f64, Some(sw.time));
        }
    }
}

fn container(pod: &PodStats, ctr: &ContainerStats, c: &mut Collected) {
    let labels = || {
        vec![
            ctr.name.clone(),
            pod.pod_ref.namespace.clone(),
            pod.pod_ref.name.clone(),
        ]
    };
    // kubelet skips start times at or before the epoch (and the zero time).
    let start = ctr.start_time.0.as_unix_nanos();
    if !ctr.start_time.is_zero() && start.div_euclid(1_000_000_000) > 0 {
        c.put(&CONTAINER_START, labels(), start as f64 / 1e9, None);
    }
    if let Some(cpu) = &ctr.cpu
        && let Some(ns) = cpu.usage_core_nano_seconds
    {
        c.put(&CONTAINER_CPU, labels(), seconds(ns), Some(cpu.time));
    }
    if let Some(m) = &ctr.memory
        && let Some(ws) = m.working_set_bytes
    {
        c.put(&CONTAINER_MEMORY, labels(), ws as f64, Some(m.time));
    }
    if let Some(sw) = &ctr.swap {
        if let Some(used) = sw.swap_usage_bytes {
            c.put(&CONTAINER_SWAP, labels(), used as f64, Some(sw.time));
        }
        if let Some(avail) = sw.swap_available_bytes {
            let limit = avail as f64 + sw.swap_usage_bytes.unwrap_or(0) as f64;
            c.put(&CONTAINER_SWAP_LIMIT, labels(), limit, Some(sw.time));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::types::{CpuStats, MemoryStats, NodeStats, PodReference, SwapStats};
    use crate::model::json::Timestamp;

    fn at(ms: i64) -> KubeTime {
        KubeTime(Timestamp::from_unix_nanos(ms * 1_000_000))
    }

    fn text(s: Result<&Summary, &SummaryError>) -> String {
        let mut out = Vec::new();
        render(s, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn encodes_kubelets_families_exactly() {
        let cpu = |ns| {
            Some(CpuStats {
                time: at(1_700_000_000_123),
                usage_nano_cores: Some(1),
                usage_core_nano_seconds: Some(ns),
            })
        };
        let mem = |ws| {
            Some(MemoryStats {
                time: at(1_700_000_000_456),
                working_set_bytes: Some(ws),
                ..MemoryStats::default()
            })
        };
        let swap = Some(SwapStats {
            time: at(1_700_000_000_456),
            swap_available_bytes: Some(1024),
            swap_usage_bytes: Some(0),
        });
        let ctr = |name: &str| ContainerStats {
            name: name.into(),
            start_time: at(1_699_999_000_000),
            cpu: cpu(2_500_000_000),
            memory: mem(4096),
            swap: swap.clone(),
            ..ContainerStats::default()
        };
        let summary = Summary {
            node: NodeStats {
                node_name: "n".into(),
                cpu: cpu(12_345_678_901_234),
                memory: mem(2_097_152_000),
                swap: swap.clone(),
                ..NodeStats::default()
            },
            pods: vec![PodStats {
                pod_ref: PodReference {
                    name: "web-0".into(),
                    namespace: "default".into(),
                    uid: "u".into(),
                },
                // Out of order on purpose: series are sorted.
                containers: vec![ctr("sidecar"), ctr("nginx")],
                cpu: cpu(5_000_000_000),
                memory: mem(8192),
                swap: swap.clone(),
                ..PodStats::default()
            }],
        };
        let expected = "\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container=\"nginx\",namespace=\"default\",pod=\"web-0\"} 2.5 1700000000123
container_cpu_usage_seconds_total{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 2.5 1700000000123
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container=\"nginx\",namespace=\"default\",pod=\"web-0\"} 4096 1700000000456
container_memory_working_set_bytes{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 4096 1700000000456
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container=\"nginx\",namespace=\"default\",pod=\"web-0\"} 1.699999e+09
container_start_time_seconds{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 1.699999e+09
# HELP container_swap_limit_bytes [ALPHA] Current amount of the container swap limit in bytes. Reported only on non-windows systems
# TYPE container_swap_limit_bytes gauge
container_swap_limit_bytes{container=\"nginx\",namespace=\"default\",pod=\"web-0\"} 1024 1700000000456
container_swap_limit_bytes{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 1024 1700000000456
# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
# TYPE container_swap_usage_bytes gauge
container_swap_usage_bytes{container=\"nginx\",namespace=\"default\",pod=\"web-0\"} 0 1700000000456
container_swap_usage_bytes{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 0 1700000000456
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 12345.678901234 1700000000123
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 2.097152e+09 1700000000456
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
# TYPE node_swap_usage_bytes gauge
node_swap_usage_bytes 0 1700000000456
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web-0\"} 5 1700000000123
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace=\"default\",pod=\"web-0\"} 8192 1700000000456
# HELP pod_swap_usage_bytes [ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems
# TYPE pod_swap_usage_bytes gauge
pod_swap_usage_bytes{namespace=\"default\",pod=\"web-0\"} 0 1700000000456
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
# HELP scrape_error [ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
";
        assert_eq!(text(Ok(&summary)), expected);
    }

    #[test]
    fn a_failed_summary_is_a_scrape_error() {
        let t = text(Err(&SummaryError::NoRootStats));
        assert!(t.contains("\nresource_scrape_error 1\n"), "{t}");
        assert!(t.contains("\nscrape_error 1\n"), "{t}");
        assert!(!t.contains("node_cpu"), "{t}");
    }

    #[test]
    fn duplicate_pods_give_one_series() {
        let pod = PodStats {
            pod_ref: PodReference {
                name: "a".into(),
                namespace: "b".into(),
                uid: "1".into(),
            },
            cpu: Some(CpuStats {
                usage_core_nano_seconds: Some(1_000_000_000),
                ..CpuStats::default()
            }),
            ..PodStats::default()
        };
        let mut other = pod.clone();
        other.pod_ref.uid = "2".into();
        let s = Summary {
            pods: vec![pod, other],
            ..Summary::default()
        };
        let t = text(Ok(&s));
        assert_eq!(t.matches("pod_cpu_usage_seconds_total{").count(), 1, "{t}");
    }
}
