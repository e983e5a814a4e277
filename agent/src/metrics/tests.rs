use super::*;
use crate::model::v1::ContainerReference;
use crate::query::Samples;

fn render_str(snap: &Snapshot, cfg: &MetricsConfig) -> String {
    let mut out = Vec::new();
    render(snap, cfg, &mut out);
    String::from_utf8(out).expect("utf8")
}

fn cfg() -> MetricsConfig {
    MetricsConfig {
        telemetry: false,
        ..MetricsConfig::default()
    }
}

#[test]
fn families_sorted_and_labels_merged() {
    let snap = fixture::snapshot(2);
    let s = render_str(&snap, &cfg());
    let names: Vec<&str> = s
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(!s.contains("_total_total"));
    // Base labels are the union: `/` has no image, name or k8s labels, so they are "".
    let want = "container_cpu_usage_seconds_total{container=\"\",container_env_foo_env=\"\",\
                container_label_io_kubernetes_container_name=\"\",\
                container_label_io_kubernetes_pod_name=\"\",\
                container_label_io_kubernetes_pod_namespace=\"\",\
                container_label_maintainer=\"\",cpu=\"cpu00\",id=\"/\",image=\"\",name=\"\",\
                namespace=\"\",pod=\"\"} 0.001 1395066363000\n";
    assert!(s.contains(want), "{s}");
    let k8s = "container_memory_usage_bytes{container=\"web0\",container_env_foo_env=\"prod\",\
               container_label_io_kubernetes_container_name=\"web0\",\
               container_label_io_kubernetes_pod_name=\"web-00\",\
               container_label_io_kubernetes_pod_namespace=\"default0\",\
               container_label_maintainer=\"ops \\\"team\\\"\",\
               id=\"/docker/0000000000000000000000000000000000000000000000000000000000000000\",\
               image=\"local/busybox:1\",name=\"app-0\",namespace=\"default0\",pod=\"web-00\"} \
               8.388608e+06 1395066363000\n";
    assert!(s.contains(k8s), "{s}");
    assert!(s.contains("container_scrape_error 0\n"));
    assert!(s.contains("machine_scrape_error 0\n"));
    assert!(s.contains(
        "machine_cpu_cores{boot_id=\"boot-id-test\",machine_id=\"machine-id-test\",system_uuid=\"system-uuid-test\"} 4 1395066363000\n"
    ));
}

#[test]
fn kinds_and_conditions() {
    let snap = fixture::snapshot(1);
    let s = render_str(&snap, &cfg());
    // Default kinds: no sched/tcp/process/topology families.
    for absent in [
        "container_cpu_schedstat_run_seconds_total",
        "container_network_tcp_usage_total",
        "container_processes",
        "machine_cpu_cache_capacity_bytes",
    ] {
        assert!(!s.contains(absent), "{absent} exported by default");
    }
    // cfs only for containers with a quota; unlimited memory spec exported as 0.
    assert!(!s.contains("container_cpu_cfs_periods_total{container=\"\",container_env_foo_env=\"\",container_label_io_kubernetes_container_name=\"\",container_label_io_kubernetes_pod_name=\"\",container_label_io_kubernetes_pod_namespace=\"\",container_label_maintainer=\"\",id=\"/\""));
    assert!(s.contains("container_spec_memory_limit_bytes{container=\"\",container_env_foo_env=\"\",container_label_io_kubernetes_container_name=\"\",container_label_io_kubernetes_pod_name=\"\",container_label_io_kubernetes_pod_namespace=\"\",container_label_maintainer=\"\",id=\"/\",image=\"\",name=\"\",namespace=\"\",pod=\"\"} 0\n"));
    // The removed container only has its OOM count.
    let gone: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("id=\"/docker/gone\""))
        .collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(
        gone[0].starts_with("container_oom_events_total{")
            && gone[0].ends_with("} 1 1395066363000")
    );

    // A removed container never OOM-killed leaves no series behind.
    let mut snap = fixture::snapshot(1);
    let gone = snap.recently_removed[0].clone();
    let quiet = ContainerEntry {
        reference: ContainerReference {
            name: "/docker/quiet".into(),
            id: "quiet".into(),
            ..gone.reference.clone()
        },
        spec: gone.spec.clone(),
        samples: Arc::new(Samples::fixed(
            Duration::from_secs(60),
            &gone.spec,
            gone.samples.latest(),
            0,
        )),
    };
    snap.recently_removed.push(Arc::new(quiet));
    let s = render_str(&snap, &cfg());
    assert!(s.contains("id=\"/docker/gone\""));
    assert!(!s.contains("id=\"/docker/quiet\""), "{s}");

    let only_cpu = MetricsConfig {
        kinds: MetricKinds::from_flags("cpu,cpu_topology", "").expect("valid"),
        ..cfg()
    };
    let s = render_str(&snap, &only_cpu);
    assert!(!s.contains("container_memory_usage_bytes"));
    assert!(!s.contains("container_oom_events_total"));
    assert!(s.contains(
        "machine_cpu_cache_capacity_bytes{boot_id=\"boot-id-test\",core_id=\"\",level=\"3\",machine_id=\"machine-id-test\",node_id=\"0\",system_uuid=\"system-uuid-test\",type=\"Unified\"} 8.388608e+06 1395066363000\n"
    ));
    // Without percpu: one `total` series.
    assert!(s.contains("cpu=\"total\""));
}

#[test]
fn store_container_labels_false_uses_whitelist() {
    let snap = fixture::snapshot(1);
    let c = MetricsConfig {
        store_container_labels: false,
        whitelisted_container_labels: vec!["io.kubernetes.pod.name".into()],
        ..cfg()
    };
    let s = render_str(&snap, &c);
    assert!(!s.contains("container_label_maintainer"));
    assert!(s.contains("container_label_io_kubernetes_pod_name=\"web-00\""));
}

#[test]
fn query_options() {
    let q = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
    assert_eq!(
        parse_options(&q("type", "docker")).expect("ok").0,
        Selection::Runtime("docker")
    );
    assert_eq!(
        parse_options(&q("type", "nope"))
            .expect_err("bad")
            .to_string(),
        "unknown 'type' \"nope\""
    );
    assert_eq!(
        parse_options(&q("max_age", "10s")).expect("ok").1,
        Some(Duration::from_secs(10))
    );
    assert!(parse_options(&q("count", "x")).is_err());
}

#[test]
fn docker_selection_drops_raw_cgroups() {
    let snap = fixture::snapshot(2);
    let mut out = Vec::new();
    render_selected(&snap, &cfg(), Selection::Runtime("docker"), &mut out);
    let s = String::from_utf8(out).expect("utf8");
    assert!(!s.contains("id=\"/\""));
    assert!(s.contains("id=\"/docker/gone\""));
}

#[test]
fn gzip_only_when_the_client_accepts_it() {
    let h = |v: &[&str]| {
        let mut m = axum::http::HeaderMap::new();
        for x in v {
            m.append(
                header::ACCEPT_ENCODING,
                axum::http::HeaderValue::from_str(x).expect("header"),
            );
        }
        accepts_gzip(&m)
    };
    assert!(h(&["gzip"]));
    // What Prometheus sends.
    assert!(h(&["gzip"]) && h(&["deflate, GZIP;q=0.5"]));
    assert!(h(&["identity", "br, gzip"]));
    assert!(!h(&[]));
    assert!(!h(&["identity"]));
    assert!(!h(&["gzip;q=0", "deflate"]));
    assert!(!h(&["x-gzip2"]));
}

/// The streamed gzip body decodes to the plain exposition, across several chunks of both.
#[test]
fn gzip_stream_decodes_to_the_plain_text() {
    let snap = fixture::snapshot(300);
    let collect = |gzip: bool| {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut out = Output::new(tx, gzip);
        render_chunked(&snap, &cfg(), Selection::All, 16 * 1024, &mut |c| {
            out.send(c)
        });
        out.finish();
        let mut chunks = Vec::new();
        while let Ok(c) = rx.try_recv() {
            chunks.push(c);
        }
        chunks
    };
    let plain = collect(false).concat();
    let gz = collect(true);
    assert!(gz.len() > 1, "one gzip chunk for {} bytes", plain.len());
    let gz = gz.concat();
    assert!(
        gz.len() * 5 < plain.len(),
        "{} of {}",
        gz.len(),
        plain.len()
    );
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
        .expect("gunzip");
    // Timestamps of `container_last_seen` are the render time: compare without them.
    let strip = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("container_last_seen"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&text), strip(&plain));
}

#[test]
fn ebpf_kinds_render_counters_and_a_histogram_only_when_on() {
    use crate::model::signals::{EbpfSignals, ProcessCounts, RunqueueWait};
    let at = crate::model::json::Timestamp::from_unix_nanos(fixture::SAMPLE_NANOS);
    let mut stats = crate::model::v1::ContainerStats {
        timestamp: at,
        ..Default::default()
    };
    let mut buckets = [0; agent_common::signals::RUNQ_BUCKETS];
    buckets[0] = 2;
    buckets[1] = 1;
    buckets[agent_common::signals::RUNQ_BUCKETS - 1] = 1;
    stats.ebpf = Some(Box::new(EbpfSignals {
        processes: Some(ProcessCounts {
            started: 5,
            exited: 4,
        }),
        runqueue: Some(RunqueueWait {
            sum_ns: 5_000_000_000,
            count: 4,
            buckets,
        }),
        tcp_retransmits: Some(3),
        reclaim_stall_ns: Some(1_500_000_000),
    }));
    let mut snap = fixture::snapshot(0);
    let root = snap.containers.get("/").expect("root").clone();
    let samples = Samples::fixed(
        std::time::Duration::from_secs(120),
        &root.spec,
        [std::sync::Arc::new(stats)],
        0,
    );
    snap.containers.insert(
        std::sync::Arc::from("/"),
        std::sync::Arc::new(crate::query::ContainerEntry {
            reference: root.reference.clone(),
            spec: root.spec.clone(),
            samples: std::sync::Arc::new(samples),
        }),
    );
    let off = render_str(&snap, &cfg());
    assert!(!off.contains("runqueue") && !off.contains("processes_started"));
    let on = render_str(
        &snap,
        &MetricsConfig {
            kinds: MetricKinds::from_flags("process_lifecycle,runqueue,tcp_retrans,reclaim", "")
                .expect("valid"),
            ..cfg()
        },
    );
    let root_line = |family: &str| {
        on.lines()
            .find(|l| l.starts_with(family) && l.contains("id=\"/\""))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        on.contains("# TYPE container_cpu_runqueue_wait_seconds histogram\n"),
        "{on}"
    );
    assert!(root_line("container_processes_started_total{").ends_with("} 5 1395066363000"));
    assert!(root_line("container_processes_exited_total{").ends_with("} 4 1395066363000"));
    assert!(root_line("container_network_tcp_retransmits_total{").ends_with("} 3 1395066363000"));
    assert!(
        root_line("container_memory_reclaim_stall_seconds_total{").ends_with("} 1.5 1395066363000")
    );
    let buckets: Vec<&str> = on
        .lines()
        .filter(|l| {
            l.starts_with("container_cpu_runqueue_wait_seconds_bucket{") && l.contains("id=\"/\"")
        })
        .collect();
    assert_eq!(buckets.len(), agent_common::signals::RUNQ_BUCKETS);
    assert!(buckets[0].contains("le=\"1.024e-06\"") && buckets[0].ends_with("} 2 1395066363000"));
    assert!(buckets[1].contains("le=\"2.048e-06\"") && buckets[1].ends_with("} 3 1395066363000"));
    assert!(buckets[23].contains("le=\"+Inf\"") && buckets[23].ends_with("} 4 1395066363000"));
    assert!(root_line("container_cpu_runqueue_wait_seconds_sum{").ends_with("} 5 1395066363000"));
    assert!(root_line("container_cpu_runqueue_wait_seconds_count{").ends_with("} 4 1395066363000"));
    assert!(!root_line("container_cpu_runqueue_wait_seconds_sum{").contains("le="));
}
