//! Runtime metadata from CRI-O's HTTP inspect API. CRI-O is not installable on the machines these
//! tests run on, so a small server on a unix socket answers `/info` and `/containers/<id>` with the
//! `crio-1.36` fixtures (see their SOURCE.md), as CRI-O's own server does. No root needed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use bpfadvisor::runtime::{self, MetadataUpdate, RuntimeConfig, RuntimeHandle, RuntimeKind, id};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

const ID: &str = "8e4a3c2f1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f";
const NAME: &str = "k8s_nginx_web-7d4b9c-x2k8p_default_0d2f7a4e-8c1b-4a8e-9a5f-3b2c1d0e9f8a_1";
/// The kubelet's systemd-driver cgroup for the fixture container (pod uid with `_`).
const CGROUP: &str = "/kubepods.slice/kubepods-burstable.slice/\
    kubepods-burstable-pod0d2f7a4e_8c1b_4a8e_9a5f_3b2c1d0e9f8a.slice/\
    crio-8e4a3c2f1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f.scope";

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/crio-1.36")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[derive(Clone, Default)]
struct Fake {
    containers: Arc<HashMap<String, String>>,
    hits: Arc<AtomicUsize>,
}

async fn info() -> (StatusCode, [(&'static str, &'static str); 1], String) {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        fixture("info.json"),
    )
}

async fn container(State(f): State<Fake>, UrlPath(id): UrlPath<String>) -> (StatusCode, String) {
    f.hits.fetch_add(1, Ordering::SeqCst);
    match f.containers.get(&id) {
        Some(body) => (StatusCode::OK, body.clone()),
        // CRI-O's wording for an unknown id.
        None => (
            StatusCode::NOT_FOUND,
            format!("can't find the container with id {id}\n"),
        ),
    }
}

/// Serves the fake on `sock` until the returned task is aborted.
fn serve(sock: &Path, fake: Fake) -> tokio::task::JoinHandle<()> {
    let listener = UnixListener::bind(sock).expect("bind fake CRI-O socket");
    let app = Router::new()
        .route("/info", get(info))
        .route("/containers/{id}", get(container))
        .with_state(fake);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

fn fake() -> Fake {
    Fake {
        containers: Arc::new(HashMap::from([(ID.to_string(), fixture("container.json"))])),
        hits: Arc::default(),
    }
}

fn config(sock: &Path) -> RuntimeConfig {
    RuntimeConfig {
        docker_endpoint: String::new(),
        podman_endpoint: String::new(),
        containerd_endpoint: String::new(),
        crio_endpoint: format!("unix://{}", sock.display()),
        max_backoff: Duration::from_millis(500),
        ..RuntimeConfig::default()
    }
}

async fn next_for(rx: &mut mpsc::Receiver<MetadataUpdate>, name: &str) -> MetadataUpdate {
    loop {
        let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an update within 10s")
            .expect("runtime task alive");
        if u.name == name {
            return u;
        }
    }
}

fn connected(h: &RuntimeHandle) -> bool {
    h.status()
        .get(RuntimeKind::Crio)
        .is_some_and(|s| s.connected)
}

#[tokio::test]
async fn kubernetes_container_from_crio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("crio.sock");
    let f = fake();
    let server = serve(&sock, f.clone());
    let (tx, mut rx) = mpsc::channel(16);
    let h = runtime::start(config(&sock), tx);

    // The classifier routes the kubelet's systemd-driver name to CRI-O.
    let c = id::classify(CGROUP).expect("a container name");
    assert_eq!((c.kind, c.id.as_str()), (RuntimeKind::Crio, ID));
    h.request(CGROUP);
    let u = next_for(&mut rx, CGROUP).await;
    let m = u.meta.expect("CRI-O knows the container");
    assert_eq!(m.aliases, vec![NAME.to_string(), ID.to_string()]);
    assert_eq!(m.namespace, "crio");
    assert_eq!(m.image, "docker.io/library/nginx:1.25");
    assert_eq!(m.ip, "10.85.0.12");
    assert_eq!(m.labels.get("restartcount").map(String::as_str), Some("1"));
    let k = m.kubernetes().expect("kubelet labels");
    assert_eq!(
        (k.container, k.pod, k.namespace),
        ("nginx", "web-7d4b9c-x2k8p", "default")
    );
    assert!(m.creation_time.is_some());
    assert_eq!(h.lookup(CGROUP).as_deref(), Some(&*m));
    assert!(connected(&h));

    // A second spelling of the same id (cgroupfs driver) is answered from the cache.
    let hits = f.hits.load(Ordering::SeqCst);
    let cgroupfs = format!("/kubepods/burstable/pod0d2f7a4e-8c1b-4a8e-9a5f-3b2c1d0e9f8a/crio-{ID}");
    h.request(&cgroupfs);
    let u = next_for(&mut rx, &cgroupfs).await;
    assert_eq!(u.meta.as_deref(), Some(&*m));
    assert_eq!(f.hits.load(Ordering::SeqCst), hits);

    // An id CRI-O does not know stays a raw container.
    let ghost = format!("/kubepods.slice/crio-{}.scope", "0".repeat(64));
    h.request(&ghost);
    assert_eq!(next_for(&mut rx, &ghost).await.meta, None);
    server.abort();
}

#[tokio::test]
async fn crio_down_then_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("crio.sock");
    let (tx, mut rx) = mpsc::channel(16);
    let h = runtime::start(config(&sock), tx);
    // Idle until asked: a host without CRI-O is never dialled.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = h.status();
    let s = st.get(RuntimeKind::Crio).expect("registered");
    assert!(!s.connected && s.last_error.is_empty(), "{s:?}");

    h.request(CGROUP);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h
        .status()
        .get(RuntimeKind::Crio)
        .is_some_and(|s| s.last_error.is_empty())
    {
        assert!(tokio::time::Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(h.lookup(CGROUP).is_none());

    // CRI-O comes up: the pending container gets its metadata without being asked again.
    let server = serve(&sock, fake());
    let u = next_for(&mut rx, CGROUP).await;
    assert_eq!(u.meta.map(|m| m.id.clone()).as_deref(), Some(ID));
    assert!(connected(&h));
    server.abort();
}
