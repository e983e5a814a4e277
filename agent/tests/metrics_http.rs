//! The `/metrics` router served on loopback: path, content type, query handling.

#[path = "support/fake_query.rs"]
mod fake_query;
#[path = "support/prereq.rs"]
mod prereq;

use bpfadvisor::metrics::{self, CONTENT_TYPE, MetricsConfig, fixture};
use fake_query::FakeQuery;

async fn serve(cfg: MetricsConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = metrics::router(FakeQuery::new(fixture::snapshot(3)), cfg);
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
async fn serves_text_format_on_the_configured_path() {
    let addr = serve(MetricsConfig {
        endpoint: "/prom".into(),
        ..MetricsConfig::default()
    })
    .await;
    let (status, ct, body) = get(format!("http://{addr}/prom")).await;
    assert_eq!(status, 200);
    assert_eq!(ct, CONTENT_TYPE);
    assert!(body.contains("# TYPE container_memory_usage_bytes gauge\n"));
    assert!(body.contains("bpfadvisor_event_source{source=\"ebpf\"} 1\n"));
    assert!(body.contains("bpfadvisor_scrape_duration_seconds_bucket"));
    let (status, _, _) = get(format!("http://{addr}/metrics")).await;
    assert_eq!(status, 404);

    let (status, _, body) = get(format!("http://{addr}/prom?type=docker")).await;
    assert_eq!(status, 200);
    assert!(!body.contains("id=\"/\""));
    assert!(body.contains("id=\"/docker/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_is_a_500_like_cadvisor() {
    let addr = serve(MetricsConfig::default()).await;
    let (status, _, body) = get(format!("http://{addr}/metrics?type=bogus")).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "No metrics gathered, last error:\n\nunknown 'type' \"bogus\"\n"
    );
    let (status, _, body) = get(format!("http://{addr}/metrics?max_age=zz")).await;
    assert_eq!(status, 500);
    assert!(body.contains("time: invalid duration \"zz\""), "{body}");
    let (status, _, _) = get(format!("http://{addr}/metrics?max_age=0s")).await;
    assert_eq!(status, 200);
}

/// `curl -D <headers> [--compressed] <url>`: (headers, body as curl hands it over).
fn curl(url: &str, compressed: bool) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let headers = dir.path().join("headers");
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--fail", "-D"]).arg(&headers);
    if compressed {
        cmd.arg("--compressed");
    }
    let out = cmd.arg(url).output().expect("curl");
    assert!(out.status.success(), "curl: {:?}", out);
    (
        std::fs::read_to_string(&headers)
            .expect("headers")
            .to_ascii_lowercase(),
        out.stdout,
    )
}

/// What Prometheus (and `curl --compressed`) asks for: a gzip body, decoded by a real client to the
/// very text an uncompressed scrape gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_when_the_client_accepts_it() {
    let have_curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_curl {
        return prereq::missing(prereq::Need::Tool, "curl not installed");
    }
    let addr = serve(MetricsConfig {
        telemetry: false,
        ..MetricsConfig::default()
    })
    .await;
    let url = format!("http://{addr}/metrics");
    let ((gz_headers, gz_body), (plain_headers, plain_body)) =
        tokio::task::spawn_blocking(move || (curl(&url, true), curl(&url, false)))
            .await
            .expect("join");
    assert!(
        gz_headers.contains("content-encoding: gzip\r\n"),
        "{gz_headers}"
    );
    assert!(
        !plain_headers.contains("content-encoding"),
        "{plain_headers}"
    );
    for h in [&gz_headers, &plain_headers] {
        assert!(h.contains("vary: accept-encoding\r\n"), "{h}");
        assert!(h.contains(&CONTENT_TYPE.to_ascii_lowercase()), "{h}");
    }
    // `container_last_seen` carries the time of each scrape: compare the rest.
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8(b.to_vec())
            .expect("utf8")
            .lines()
            .filter(|l| !l.starts_with("container_last_seen"))
            .map(str::to_string)
            .collect()
    };
    assert!(plain_body.len() > 1000);
    assert_eq!(lines(&gz_body), lines(&plain_body));
}
