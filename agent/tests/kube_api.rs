//! The Kubernetes routes over a fake snapshot, served on loopback: `/stats/summary` decodes into
//! kubelet's own field set (strictly, see `support/kubelet_stats.rs`), `?only_cpu_and_memory=true`
//! leaves the rest out, `/metrics/resource` passes `promtool check metrics` and agrees with the
//! summary, `/metrics/cadvisor` serves `/metrics`. No root needed; the live counterpart with real
//! Docker containers is `kube_node.rs`.

#[path = "support/fake_query.rs"]
mod fake_query;
#[path = "support/kubelet_stats.rs"]
mod kubelet_stats;
#[path = "support/prereq.rs"]
mod prereq;
#[path = "support/promtool.rs"]
mod promtool;

use std::sync::Arc;

use bpfadvisor::host::HostPaths;
use bpfadvisor::kube::{self, KubeContext};
use bpfadvisor::metrics::{self, MetricsConfig};
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::model::v1::{ContainerSpec, ContainerStats, FsStats, InterfaceStats};
use fake_query::{FakeQuery, container};

const UID: &str = "3c1d1f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const SEC: i64 = 1_000_000_000;

fn two_samples(cpu: u64, ws: u64, f: impl Fn(&mut ContainerStats)) -> Vec<Arc<ContainerStats>> {
    let now = Timestamp::now().as_unix_nanos();
    (0..2i64)
        .map(|i| {
            let mut s = ContainerStats {
                timestamp: Timestamp::from_unix_nanos(now - SEC + i * SEC + 123_456_789),
                ..ContainerStats::default()
            };
            s.cpu.usage.total = cpu + i as u64 * 200_000_000;
            s.memory.usage = ws * 2;
            s.memory.working_set = ws;
            s.memory.rss = ws / 2;
            f(&mut s);
            Arc::new(s)
        })
        .collect()
}

fn spec(labels: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        creation_time: Timestamp::from_unix_nanos(1_700_000_000 * SEC + 5),
        has_cpu: true,
        has_memory: true,
        has_network: true,
        has_filesystem: true,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ContainerSpec::default()
    }
}

fn pod_labels(container: &str) -> Vec<(&str, &str)> {
    vec![
        ("io.kubernetes.pod.name", "web-0"),
        ("io.kubernetes.pod.namespace", "shop"),
        ("io.kubernetes.pod.uid", UID),
        ("io.kubernetes.container.name", container),
    ]
}

/// A node with `/` (one filesystem, eth0), the kubepods tree and one pod of two containers.
fn query() -> Arc<FakeQuery> {
    let pod = format!("/kubepods/burstable/pod{UID}");
    let fs = |s: &mut ContainerStats| {
        s.filesystem = vec![FsStats {
            device: "/dev/vda1".into(),
            capacity: 10 << 30,
            available: 4 << 30,
            usage: 6 << 30,
            base_usage: 1 << 20,
            has_inodes: true,
            inodes: 1000,
            inodes_free: 10,
            ..FsStats::default()
        }]
        .into();
        s.network.interfaces = vec![InterfaceStats {
            name: "eth0".into(),
            rx_bytes: 10,
            tx_bytes: 20,
            ..InterfaceStats::default()
        }];
    };
    let mut sandbox = pod_labels("POD");
    sandbox.push(("io.kubernetes.docker.type", "podsandbox"));
    FakeQuery::builder()
        .container(container("/").spec(spec(&[])).samples(two_samples(
            50 * SEC as u64,
            1 << 30,
            fs,
        )))
        .container(
            container("/kubepods")
                .spec(spec(&[]))
                .samples(two_samples(9, 9, |_| {})),
        )
        .container(container(&pod).spec(spec(&[])).samples(two_samples(
            7 * SEC as u64,
            30 << 20,
            |_| {},
        )))
        .container(
            container(&format!("{pod}/{}", "a".repeat(64)))
                .namespace("docker")
                .spec(spec(&sandbox))
                .samples(two_samples(1000, 1 << 20, fs)),
        )
        .container(
            container(&format!("{pod}/{}", "b".repeat(64)))
                .namespace("docker")
                .spec(spec(&pod_labels("app")))
                .samples(two_samples(3 * SEC as u64, 20 << 20, fs)),
        )
        .container(
            container(&format!("{pod}/{}", "c".repeat(64)))
                .namespace("docker")
                .spec(spec(&pod_labels("log-shipper")))
                .samples(two_samples(SEC as u64, 5 << 20, fs)),
        )
        .build()
}

async fn serve(q: Arc<FakeQuery>, cfg: MetricsConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ctx = KubeContext {
        query: q.clone(),
        host: HostPaths::local(),
    };
    let app = kube::router(ctx, &cfg).merge(metrics::router(q, cfg));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// (status, content type, body)
async fn get(url: String) -> (u16, String, String) {
    tokio::task::spawn_blocking(move || {
        let r = match ureq::get(&url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {url}: {e}"),
        };
        let status = r.status();
        let ct = r.header("content-type").unwrap_or_default().to_string();
        (status, ct, r.into_string().expect("body"))
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_decodes_into_kubelets_types() {
    let addr = serve(query(), MetricsConfig::default()).await;
    let (status, ct, body) = get(format!("http://{addr}/stats/summary")).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    kubelet_stats::times_are_metav1(&value).expect("metav1 times");
    let s = kubelet_stats::decode(&body).expect("kubelet Summary");
    let node = &s.node;
    assert!(!node.node_name.is_empty());
    assert!(node.fs.is_some() || node.runtime.is_some(), "{body}");
    assert!(node.rlimit.as_ref().is_some_and(|r| r.maxpid.is_some()));
    let sys: Vec<&str> = node
        .system_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(sys, vec!["pods"]);
    let pods = s.pods.expect("pods");
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(
        (
            p.pod_ref.name.as_str(),
            p.pod_ref.namespace.as_str(),
            p.pod_ref.uid.as_str()
        ),
        ("web-0", "shop", UID)
    );
    let names: Vec<&str> = p
        .containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, vec!["app", "log-shipper"]);
    let app = &p.containers.as_ref().expect("containers")[0];
    let cpu = app.cpu.as_ref().expect("cpu");
    assert_eq!(cpu.usage_nano_cores, Some(200_000_000));
    assert_eq!(
        cpu.usage_core_nano_seconds,
        Some(3 * SEC as u64 + 200_000_000)
    );
    assert_eq!(app.start_time.as_deref(), Some("2023-11-14T22:13:20Z"));
    let net = p.network.as_ref().expect("pod network from the sandbox");
    assert_eq!((net.name.as_str(), net.rx_bytes), ("eth0", Some(10)));
    assert_eq!(
        p.memory.as_ref().and_then(|m| m.working_set_bytes),
        Some(30 << 20)
    );

    let (status, _, body) = get(format!(
        "http://{addr}/stats/summary?only_cpu_and_memory=true"
    ))
    .await;
    assert_eq!(status, 200);
    let s = kubelet_stats::decode(&body).expect("kubelet Summary");
    assert!(s.node.fs.is_none() && s.node.network.is_none() && s.node.rlimit.is_none());
    let pods = s.pods.expect("pods");
    assert!(pods[0].network.is_none() && pods[0].ephemeral_storage.is_none());
    assert!(
        pods[0]
            .containers
            .iter()
            .flatten()
            .all(|c| c.rootfs.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_root_sample_is_kubelets_500_and_a_scrape_error() {
    let q = FakeQuery::builder().containers(["/"]).build();
    let addr = serve(q, MetricsConfig::default()).await;
    let (status, _, body) = get(format!("http://{addr}/stats/summary")).await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("Internal Error: failed to get root cgroup stats"),
        "{body}"
    );
    let (status, _, body) = get(format!("http://{addr}/metrics/resource")).await;
    assert_eq!(status, 200);
    assert!(body.contains("\nresource_scrape_error 1\n"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_metrics_pass_promtool_and_agree_with_the_summary() {
    let addr = serve(query(), MetricsConfig::default()).await;
    let (status, ct, text) = get(format!("http://{addr}/metrics/resource")).await;
    assert_eq!(status, 200);
    assert_eq!(ct, kube::resource::CONTENT_TYPE);
    assert!(
        text.contains(
            "container_cpu_usage_seconds_total{container=\"app\",namespace=\"shop\",pod=\"web-0\"} 3.2 "
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "pod_memory_working_set_bytes{namespace=\"shop\",pod=\"web-0\"} 3.145728e+07 "
        )
    );
    assert!(text.contains("container_start_time_seconds{container=\"log-shipper\",namespace=\"shop\",pod=\"web-0\"} 1.7e+09\n"));
    assert!(
        !text.contains("container=\"POD\""),
        "the sandbox is no container"
    );
    for fam in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = fam.split(' ').next().unwrap_or_default();
        assert!(kube::resource::FAMILY_NAMES.contains(&name), "{name}");
    }
    promtool::assert_clean(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cadvisor_serves_the_exposition_and_yields_to_the_endpoint_flag() {
    let addr = serve(query(), MetricsConfig::default()).await;
    let (status, ct, body) = get(format!("http://{addr}/metrics/cadvisor")).await;
    assert_eq!((status, ct.as_str()), (200, metrics::CONTENT_TYPE));
    assert!(body.contains("# TYPE container_cpu_usage_seconds_total counter\n"));
    assert!(body.contains("pod=\"web-0\""), "kubelet's pod label");

    // `--prometheus_endpoint=/metrics/resource` keeps its path; the rest is still served.
    let addr = serve(
        query(),
        MetricsConfig {
            endpoint: "/metrics/resource".into(),
            ..MetricsConfig::default()
        },
    )
    .await;
    let (status, ct, _) = get(format!("http://{addr}/metrics/resource")).await;
    assert_eq!((status, ct.as_str()), (200, metrics::CONTENT_TYPE));
    let (status, _, _) = get(format!("http://{addr}/metrics/cadvisor")).await;
    assert_eq!(status, 200);
    let (status, _, _) = get(format!("http://{addr}/stats/summary")).await;
    assert_eq!(status, 200);
}
