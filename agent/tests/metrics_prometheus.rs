//! `/metrics` against the real Prometheus tools: `promtool check metrics` accepts the exposition and
//! a Prometheus server scraping our router on loopback ingests every series.
//! Self-skips when the Debian `prometheus` package is not installed.

#[path = "support/fake_query.rs"]
mod fake_query;
#[path = "support/prereq.rs"]
mod prereq;
#[path = "support/promtool.rs"]
mod promtool;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bpfadvisor::metrics::{self, MetricsConfig, fixture};
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::query::Snapshot;
use fake_query::FakeQuery;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every kind on, so every family with data in the fixture is checked.
fn all_kinds() -> MetricsConfig {
    MetricsConfig {
        kinds: bpfadvisor::config::MetricKinds::all(),
        ..MetricsConfig::default()
    }
}

fn rendered(snap: &Snapshot) -> Vec<u8> {
    let mut out = Vec::new();
    metrics::render(snap, &all_kinds(), &mut out);
    out
}

#[test]
fn promtool_accepts_the_exposition() {
    let out = rendered(&fixture::snapshot(20));
    let Some((_, said)) = promtool::check_metrics(&out) else {
        return;
    };
    // promtool 2.42 cannot turn linting off and exits non-zero on lint findings. The findings
    // below are inherent to cAdvisor's names, which we must keep; anything else (a parse error
    // above all) fails the test.
    let unexpected: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !CADVISOR_LINT.iter().any(|c| l.contains(c)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool:\n{}",
        unexpected.join("\n")
    );
}

/// promtool lint findings that cAdvisor's exposition itself draws.
const CADVISOR_LINT: &[&str] = &[
    "cadvisor_version_info label names should be written in 'snake_case' not 'camelCase'",
    "container_fs_inodes_total non-counter metrics should not have \"_total\" suffix",
    "container_memory_failcnt counter metrics should have \"_total\" suffix",
    "container_hugetlb_failcnt counter metrics should have \"_total\" suffix",
    "container_network_advance_tcp_stats_total non-counter metrics should not have \"_total\" suffix",
    "container_network_tcp_usage_total non-counter metrics should not have \"_total\" suffix",
    "container_network_tcp6_usage_total non-counter metrics should not have \"_total\" suffix",
    "container_network_udp_usage_total non-counter metrics should not have \"_total\" suffix",
    "container_network_udp6_usage_total non-counter metrics should not have \"_total\" suffix",
    "container_cpu_load_d_average_10s metric names should not contain abbreviated units",
    "machine_thread_siblings_count non-histogram and non-summary metrics should not have \"_count\" suffix",
];

/// Kills and reaps the Prometheus server on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_ingests_every_series() {
    if !have("prometheus") {
        prereq::missing(
            prereq::Need::Tool,
            "prometheus not installed (apt-get install prometheus)",
        );
        return;
    }
    // Fresh timestamps: Prometheus rejects samples far in the past.
    let snap = Arc::new(fixture::snapshot_at(10, Timestamp::now()));
    let expected = String::from_utf8(rendered(&snap))
        .expect("utf8")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let agent = listener.local_addr().expect("addr");
    // Counts the scrapes answered gzipped: Prometheus asks for gzip, so it must get (and ingest) it.
    let gzipped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = gzipped.clone();
    let app = metrics::router(FakeQuery::new(snap), all_kinds()).layer(
        axum::middleware::map_response(move |resp: axum::response::Response| {
            let seen = seen.clone();
            async move {
                if resp
                    .headers()
                    .get(axum::http::header::CONTENT_ENCODING)
                    .is_some_and(|v| v == "gzip")
                {
                    seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                resp
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let web = format!("127.0.0.1:{}", free_port());
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bpfadvisor\n    \
             static_configs:\n      - targets: ['{agent}']\n  - job_name: prometheus\n    \
             static_configs:\n      - targets: ['{web}']\n"
        ),
    )
    .expect("config");
    let _prom = ChildGuard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus"),
    );

    let get = |path: String| {
        let url = format!("http://{web}{path}");
        tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .call()
                .ok()
                .and_then(|r| r.into_json::<serde_json::Value>().ok())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let query =
        "/api/v1/query?query=count(%7Bjob%3D%22bpfadvisor%22%2C__name__!~%22up%7Cscrape_.*%22%7D)";
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus never ingested the scrape"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(Some(targets)) = get("/api/v1/targets".into()).await else {
            continue;
        };
        let Some(t) = targets["data"]["activeTargets"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["labels"]["job"] == "bpfadvisor"))
        else {
            continue;
        };
        if t["health"] != "up" {
            assert_eq!(t["lastError"].as_str().unwrap_or(""), "", "scrape error");
            continue;
        }
        let Ok(Some(r)) = get(query.into()).await else {
            continue;
        };
        let n: usize = r["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if n == 0 {
            continue;
        }
        assert_eq!(n, expected, "series ingested vs exposed");
        assert!(
            gzipped.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "Prometheus's scrapes were not answered gzipped"
        );
        break;
    }
    // No sample was dropped as out of order, out of bounds or duplicate (Prometheus's own
    // counters, from its self-scrape; wait for it to have happened).
    loop {
        assert!(Instant::now() < deadline, "Prometheus never scraped itself");
        let Ok(Some(r)) = get("/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D".into()).await
        else {
            continue;
        };
        if r["data"]["result"][0]["value"][1] == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let Ok(Some(r)) = get(
        "/api/v1/query?query=sum(prometheus_target_scrapes_sample_out_of_order_total%2Bprometheus_target_scrapes_sample_out_of_bounds_total%2Bprometheus_target_scrapes_sample_duplicate_timestamp_total)".into(),
    )
    .await
    else {
        panic!("query failed");
    };
    assert_eq!(r["data"]["result"][0]["value"][1], "0", "{r}");
}
