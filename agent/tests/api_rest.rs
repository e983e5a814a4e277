//! End-to-end tests of the REST API against a hand-built snapshot: every row of cAdvisor's status
//! table, each endpoint's quirks, and garbage input that must never panic.

#[path = "support/fake_query.rs"]
mod fake_query;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bpfadvisor::api::{ApiContext, router};
use bpfadvisor::events::SourceKind;
use bpfadvisor::events::store::{EventStore, StoragePolicy};
use bpfadvisor::host::HostPaths;
use bpfadvisor::model::Sparse;
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::model::machine::{MachineInfo, VersionInfo};
use bpfadvisor::model::v1::{ContainerSpec, ContainerStats, Event, EventData, EventType, FsStats};
use fake_query::{ContainerBuilder, FakeQuery, SnapshotBuilder, container};
use serde_json::Value;
use tower::ServiceExt;

const ID1: &str = "abc1111111111111111111111111111111111111111111111111111111111111";
const ID2: &str = "abd2222222222222222222222222222222222222222222222222222222222222";
/// 2026-11-22T18:16:29Z
const BASE: i64 = 1_795_371_389_000_000_000;

fn sample(i: i64, fs: bool) -> Arc<ContainerStats> {
    let mut s = ContainerStats {
        timestamp: Timestamp::from_unix_nanos(BASE + i * 1_000_000_000),
        ..Default::default()
    };
    s.cpu.usage.total = (i as u64) * 500_000_000;
    s.memory.usage = 1000 + i as u64;
    s.memory.working_set = 900 + i as u64;
    if fs {
        s.filesystem = Sparse::new(vec![FsStats {
            device: "/dev/vda".into(),
            fs_type: "vfs".into(),
            capacity: 1000,
            usage: 400,
            available: 500,
            has_inodes: true,
            inodes: 10,
            inodes_free: 4,
            ..Default::default()
        }]);
    }
    Arc::new(s)
}

fn entry(
    name: &str,
    id: &str,
    aliases: &[&str],
    ns: &str,
    tracked: bool,
    n: i64,
) -> ContainerBuilder {
    let mut spec = ContainerSpec {
        has_cpu: tracked,
        has_memory: tracked,
        has_filesystem: name == "/",
        ..Default::default()
    };
    spec.memory.limit = if name == "/docker" { 1 << 30 } else { 0 };
    container(name)
        .id(id)
        .aliases(aliases)
        .namespace(ns)
        .spec(spec)
        .retention(Duration::from_secs(3600))
        .samples((0..n).map(|i| sample(i, name == "/")))
}

fn fake() -> Arc<FakeQuery> {
    fake_builder().build()
}

fn fake_builder() -> SnapshotBuilder {
    FakeQuery::builder()
        .machine(MachineInfo {
            memory_capacity: 8 << 30,
            num_cores: 2,
            ..Default::default()
        })
        .version(VersionInfo {
            kernel_version: "6.18.44".into(),
            cadvisor_version: "v0.60.5".into(),
            ..Default::default()
        })
        .event_source(SourceKind::Ebpf)
        .container(entry("/", "", &[], "", true, 70))
        .container(entry("/docker", "", &[], "", true, 2))
        .container(entry(
            &format!("/docker/{ID1}"),
            ID1,
            &["web", ID1],
            "docker",
            true,
            70,
        ))
        .container(entry(
            &format!("/docker/{ID2}"),
            ID2,
            &["db", ID2],
            "docker",
            true,
            1,
        ))
        .container(entry("/dockerx", "", &[], "", true, 1))
        .container(entry("/user.slice", "", &[], "", false, 0))
}

fn app_with(f: Arc<FakeQuery>, prefix: &str) -> Router {
    router(ApiContext {
        query: f,
        url_base_prefix: prefix.into(),
    })
}

fn app() -> Router {
    // A host root with nothing in it: storage/ps read files below it and find none.
    app_with(fake(), "")
}

struct Resp {
    status: StatusCode,
    ctype: String,
    nosniff: bool,
    location: String,
    body: String,
}

async fn send(app: &Router, method: Method, uri: &str, body: &str) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let h = |k| {
        res.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (status, ctype, location) = (res.status(), h(header::CONTENT_TYPE), h(header::LOCATION));
    let nosniff = h(header::X_CONTENT_TYPE_OPTIONS) == "nosniff";
    let b = axum::body::to_bytes(res.into_body(), 1 << 26)
        .await
        .expect("body");
    Resp {
        status,
        ctype,
        nosniff,
        location,
        body: String::from_utf8_lossy(&b).into_owned(),
    }
}

async fn get(app: &Router, uri: &str) -> Resp {
    send(app, Method::GET, uri, "").await
}

/// A 200 JSON answer, parsed.
async fn ok_json(app: &Router, uri: &str) -> Value {
    let r = get(app, uri).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
    assert_eq!(r.ctype, "application/json", "{uri}");
    assert!(!r.body.ends_with('\n'), "{uri}: no trailing newline");
    serde_json::from_str(&r.body).expect("json")
}

/// A Go `http.Error` answer: status, text/plain, nosniff, message plus newline.
async fn assert_error(app: &Router, uri: &str, status: StatusCode, msg: &str) {
    let r = get(app, uri).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (status, format!("{msg}\n").as_str()),
        "{uri}"
    );
    assert_eq!(r.ctype, "text/plain; charset=utf-8", "{uri}");
    assert!(r.nosniff, "{uri}");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

#[tokio::test]
async fn status_table() {
    let app = app();
    let r = get(&app, "/api").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.location, "/api/");
    let e500 = StatusCode::INTERNAL_SERVER_ERROR;
    let e400 = StatusCode::BAD_REQUEST;
    assert_error(
        &app,
        "/api/",
        e400,
        "Supported API versions: v1.0,v1.1,v1.2,v1.3,v2.0,v2.1",
    )
    .await;
    let v13 = r#"Supported request types: "containers,docker,events,machine,subcontainers""#;
    assert_error(&app, "/api/v1.3", e400, v13).await;
    assert_error(&app, "/api/v1.3/", e400, v13).await;
    assert_error(
        &app,
        "/api/v1.0/",
        e400,
        r#"Supported request types: "containers,machine""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v9.9/machine",
        e500,
        r#"unsupported API version "v9.9""#,
    )
    .await;
    assert_error(&app, "/api/v1.3/foo", e500, r#"unknown request type "foo""#).await;
    assert_error(
        &app,
        "/api/v1.0/docker",
        e500,
        r#"unknown request type "docker""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v1.3/containers/nonexistent",
        e500,
        r#"failed to get container "/nonexistent" with error: unknown container "/nonexistent""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/stats/?type=foo",
        e500,
        r#"unknown 'type' "foo""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/stats/?count=-2",
        e500,
        "invalid 'count' option: only -1 and larger values allowed, not -2",
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/stats/?count=x",
        e500,
        "failed to parse 'count' option: x",
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/stats/?max_age=zz",
        e500,
        r#"failed to parse 'max_age' option: time: invalid duration "zz""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/stats/nonexistent",
        e500,
        r#"unknown container "/nonexistent""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/",
        e400,
        r#"Supported request types: "appmetrics,attributes,events,machine,ps,spec,stats,storage,summary,version""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.1",
        e400,
        r#"Supported request types: "appmetrics,attributes,events,machine,machinestats,ps,spec,stats,storage,summary,version""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/machinestats",
        e500,
        r#"unknown request type "machinestats""#,
    )
    .await;
    // Options are parsed before the request type is looked at, as in cAdvisor.
    assert_error(&app, "/api/v2.0/nope?type=x", e500, r#"unknown 'type' "x""#).await;
}

#[tokio::test]
async fn v1_containers_and_request_bodies() {
    let app = app();
    let v = ok_json(&app, "/api/v1.3/containers/").await;
    assert_eq!(v["name"], "/");
    assert_eq!(
        v["stats"].as_array().expect("stats").len(),
        60,
        "num_stats defaults to 60"
    );
    assert_eq!(
        v["stats"][59]["timestamp"], "2026-11-22T18:17:38Z",
        "newest kept, oldest first"
    );
    assert_eq!(
        v["spec"]["memory"]["limit"],
        8u64 << 30,
        "no limit reads as machine memory"
    );
    let subs: Vec<&str> = v["subcontainers"]
        .as_array()
        .expect("subs")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        subs,
        ["/docker", "/dockerx", "/user.slice"],
        "direct children, sorted"
    );
    // Every method works; the v1 Go client POSTs a ContainerInfoRequest.
    let body = r#"{"num_stats":3,"start":"2026-11-22T18:16:30Z","end":"2026-11-22T18:16:40Z"}"#;
    let r = send(&app, Method::POST, "/api/v1.0/containers/docker", body).await;
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["spec"]["memory"]["limit"], 1u64 << 30);
    let ts: Vec<&str> = v["stats"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["timestamp"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ts,
        ["2026-11-22T18:16:30Z"],
        "/docker's second sample is the first at start"
    );
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1.1/containers/docker/{ID1}"),
        body,
    )
    .await;
    let v: Value = serde_json::from_str(&r.body).expect("json");
    let ts: Vec<&str> = v["stats"]
        .as_array()
        .expect("stats")
        .iter()
        .filter_map(|s| s["timestamp"].as_str())
        .collect();
    assert_eq!(
        ts,
        [
            "2026-11-22T18:16:38Z",
            "2026-11-22T18:16:39Z",
            "2026-11-22T18:16:40Z"
        ]
    );
    assert_eq!(v["aliases"][0], "web");
    assert_eq!(v["namespace"], "docker");
    let r = send(
        &app,
        Method::POST,
        "/api/v1.3/containers/",
        r#"{"num_stats":0}"#,
    )
    .await;
    assert!(!r.body.contains("\"stats\""), "num_stats 0 → key omitted");
    let r = send(
        &app,
        Method::POST,
        "/api/v1.3/containers/",
        r#"{"num_stats":-1}"#,
    )
    .await;
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["stats"].as_array().expect("stats").len(), 70);
    let r = send(
        &app,
        Method::POST,
        "/api/v1.3/containers/",
        r#"{"num_stats":9223372036854775807}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    for bad in [
        "{",
        "[]",
        r#"{"num_stats":"x"}"#,
        r#"{"start":"yesterday"}"#,
        "\u{0}",
    ] {
        let r = send(&app, Method::POST, "/api/v1.3/containers/", bad).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
        assert!(
            r.body.starts_with("unable to decode the json value: "),
            "{bad}: {}",
            r.body
        );
    }
    let m = ok_json(&app, "/api/v1.0/machine").await;
    assert_eq!(m["memory_capacity"], 8u64 << 30);
}

#[tokio::test]
async fn v1_subcontainers_and_docker() {
    let app = app();
    let r = send(&app, Method::GET, "/api/v1.1/subcontainers/docker", "").await;
    let v: Value = serde_json::from_str(&r.body).expect("json");
    let mut names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    let full1 = format!("/docker/{ID1}");
    let full2 = format!("/docker/{ID2}");
    // cAdvisor matches on a plain string prefix, so `/dockerx` comes along.
    assert_eq!(
        names,
        ["/docker", full1.as_str(), full2.as_str(), "/dockerx"]
    );
    let all = ok_json(&app, "/api/v1.1/subcontainers/").await;
    assert_eq!(all.as_array().expect("array").len(), 6);
    assert_error(
        &app,
        "/api/v1.1/subcontainers/nope",
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"failed to get subcontainers for container "/nope" with error: no containers found"#,
    )
    .await;

    // `docker/` is a map keyed by the full container name.
    for uri in ["/api/v1.2/docker/", "/api/v1.3/docker"] {
        let v = ok_json(&app, uri).await;
        assert_eq!(keys(&v), [full1.clone(), full2.clone()], "{uri}");
    }
    for key in ["web", ID1, "abc", "db"] {
        let v = ok_json(&app, &format!("/api/v1.2/docker/{key}")).await;
        assert_eq!(keys(&v).len(), 1, "{key}");
        assert!(keys(&v)[0].starts_with("/docker/ab"), "{key}");
    }
    let e500 = StatusCode::INTERNAL_SERVER_ERROR;
    assert_error(
        &app,
        "/api/v1.2/docker/zzz",
        e500,
        r#"failed to get Docker container "zzz" with error: unable to find container "zzz" in "docker" namespace"#,
    )
    .await;
    assert_error(
        &app,
        "/api/v1.2/docker/ab",
        e500,
        r#"failed to get Docker container "ab" with error: unable to find container in "docker" namespace. Container "ab" is not unique"#,
    )
    .await;
    assert_error(
        &app,
        "/api/v1.2/docker/a/b",
        e500,
        "unknown request for Docker container [a b]",
    )
    .await;
}

#[tokio::test]
async fn v2_stats_spec_and_lookups() {
    let f = fake();
    let app = app_with(f.clone(), "");
    let v = ok_json(&app, "/api/v2.0/stats/").await;
    assert_eq!(keys(&v), ["/"]);
    assert_eq!(
        v["/"].as_array().expect("array").len(),
        64,
        "count defaults to 64"
    );
    assert_eq!(v["/"][0]["has_cpu"], true);
    let v = ok_json(&app, "/api/v2.0/stats/?count=0").await;
    assert_eq!(v["/"], serde_json::json!([]));
    let v = ok_json(&app, "/api/v2.0/stats/?count=-1").await;
    assert_eq!(v["/"].as_array().expect("array").len(), 70);

    // v2.1 drops the root from the map.
    let v = ok_json(&app, "/api/v2.1/stats/?recursive=true&count=2").await;
    assert!(!keys(&v).contains(&"/".to_owned()));
    assert_eq!(keys(&v).len(), 5);
    let web = &v[format!("/docker/{ID1}").as_str()];
    assert_eq!(web["spec"]["aliases"][0], "web");
    assert_eq!(web["stats"].as_array().expect("stats").len(), 2);
    assert!(
        web["stats"][1]["cpu_inst"].is_object(),
        "rate from the previous sample"
    );
    assert_eq!(
        ok_json(&app, "/api/v2.1/stats/").await,
        serde_json::json!({})
    );

    // recursive: itself plus descendants; unknown names differ from the non-recursive text.
    let v = ok_json(&app, "/api/v2.0/spec/docker?recursive=true").await;
    assert_eq!(keys(&v).len(), 4);
    assert_eq!(v["/docker"]["memory"]["limit"], 1u64 << 30);
    assert!(v["/docker"]["cpu"].get("quota").is_none());
    let v = ok_json(&app, "/api/v2.0/spec/docker?recursive=TRUE").await;
    assert_eq!(
        keys(&v),
        ["/docker"],
        "only the exact string `true` enables recursion"
    );
    let e500 = StatusCode::INTERNAL_SERVER_ERROR;
    assert_error(
        &app,
        "/api/v2.0/spec/nope?recursive=true",
        e500,
        r#"unknown container: "/nope""#,
    )
    .await;

    // type=docker: alias, id, unique prefix; recursive only for `/`.
    for key in ["web", ID1, "abc"] {
        let v = ok_json(&app, &format!("/api/v2.0/spec/{key}?type=docker")).await;
        assert_eq!(keys(&v), [format!("/docker/{ID1}")], "{key}");
    }
    assert_error(
        &app,
        "/api/v2.0/spec/zzz?type=docker",
        e500,
        r#"unable to find container "zzz" in "docker" namespace"#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/spec/ab?type=podman",
        e500,
        r#"unable to find container "ab" in "podman" namespace"#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/spec/web?type=docker&recursive=true",
        e500,
        r#"invalid request for docker container "/web" with subcontainers"#,
    )
    .await;
    let v = ok_json(&app, "/api/v2.0/spec/?type=docker&recursive=true").await;
    assert_eq!(keys(&v).len(), 2);

    // max_age asks for an on-demand refresh of exactly the requested containers.
    ok_json(&app, "/api/v2.0/stats/docker?max_age=10s&recursive=true").await;
    let calls = f.refreshed();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, Duration::from_secs(10));
    assert_eq!(calls[0].0.len(), 4);
}

#[tokio::test]
async fn v2_simple_endpoints() {
    let app = app();
    for v in ["v2.0", "v2.1"] {
        let r = get(&app, &format!("/api/{v}/version")).await;
        assert_eq!(r.body, r#""v0.60.5""#);
        let a = ok_json(&app, &format!("/api/{v}/attributes")).await;
        assert_eq!(a["kernel_version"], "6.18.44");
        assert_eq!(a["num_cores"], 2);
        let m = ok_json(&app, &format!("/api/{v}/machine")).await;
        assert_eq!(m["num_cores"], 2);
        let s = ok_json(&app, &format!("/api/{v}/summary/")).await;
        assert_eq!(
            s["/"]["latest_usage"]["cpu"], 500,
            "0.5 s of CPU per second = 500 milli-cores"
        );
        assert!(
            s["/"]["minute_usage"]["cpu"]["present"]
                .as_bool()
                .expect("bool")
        );
        assert_eq!(
            ok_json(&app, &format!("/api/{v}/appmetrics/")).await,
            serde_json::json!({"/": {}})
        );
    }
    assert_error(
        &app,
        "/api/v2.0/summary/user.slice",
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"partial failures: ["/user.slice": DerivedStats: derived stats not enabled for container "/user.slice"]"#,
    )
    .await;
    let ms = ok_json(&app, "/api/v2.1/machinestats?count=3").await;
    let ms = ms.as_array().expect("array");
    assert_eq!(ms.len(), 3);
    assert!(ms[0].get("cpu_inst").is_none() && ms[1]["cpu_inst"].is_object());
    assert_eq!(ms[2]["filesystem"][0]["device"], "/dev/vda");
    assert_eq!(
        ok_json(&app, "/api/v1.3/events/docker?all_events=true").await,
        serde_json::json!([])
    );
    assert_error(
        &app,
        "/api/v2.0/ps/nope",
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"process listing failed: unknown container "/nope""#,
    )
    .await;
    let r = get(&app, "/api/v2.0/ps/").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        r.body
            .starts_with("process listing failed: read /nonexistent-bpfadvisor-root/"),
        "{}",
        r.body
    );
}

/// A host root with one ext4 root filesystem on /dev/vda and its by-uuid link.
fn storage_root(dir: &Path) {
    let w = |p: &str, text: &str| {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    // mountinfo line of this machine's root filesystem (proc(5) format).
    w(
        "proc/1/mountinfo",
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n",
    );
    w("proc/diskstats", "");
    std::fs::create_dir_all(dir.join("dev/disk/by-uuid")).expect("mkdir");
    std::os::unix::fs::symlink("../../vda", dir.join("dev/disk/by-uuid/1234-abcd")).expect("link");
}

#[tokio::test]
async fn v2_storage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    storage_root(tmp.path());
    let app = app_with(
        fake_builder().host(HostPaths::under(tmp.path())).build(),
        "",
    );
    let all = ok_json(&app, "/api/v2.0/storage").await;
    let want = serde_json::json!([{
        "timestamp": "2026-11-22T18:17:38Z", "device": "/dev/vda", "mountpoint": "/",
        "capacity": 1000, "available": 500, "usage": 400, "labels": ["root"],
        "inodes": 10, "inodes_free": 4
    }]);
    assert_eq!(all, want);
    assert_eq!(ok_json(&app, "/api/v2.1/storage?label=root").await, want);
    assert_eq!(
        ok_json(&app, "/api/v2.0/storage?uuid=1234-abcd").await,
        want[0],
        "uuid → object"
    );
    let e500 = StatusCode::INTERNAL_SERVER_ERROR;
    assert_error(
        &app,
        "/api/v2.0/storage?label=bogus",
        e500,
        r#"non-existent label "bogus""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/storage?uuid=nope",
        e500,
        "cadvisor: no such device",
    )
    .await;
    assert_error(
        &app,
        "/api/v2.0/storage?uuid=../../etc",
        e500,
        "cadvisor: no such device",
    )
    .await;
}

#[tokio::test]
async fn healthz_validate_and_redirects() {
    let app = app_with(fake(), "/cadvisor");
    let r = get(&app, "/healthz").await;
    assert_eq!(
        (r.status, r.body.as_str(), r.ctype.as_str()),
        (StatusCode::OK, "ok", "text/plain; charset=utf-8")
    );
    let r = get(&app, "/").await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (StatusCode::TEMPORARY_REDIRECT, "/cadvisor/containers/")
    );
    assert_eq!(
        r.body,
        "<a href=\"/cadvisor/containers/\">Temporary Redirect</a>.\n\n"
    );
    let r = get(&app, "/validate").await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (StatusCode::MOVED_PERMANENTLY, "/cadvisor/validate/")
    );
    let r = get(&app, "/api?x=1").await;
    assert_eq!(r.location, "/cadvisor/api/?x=1");
    let r = send(&app, Method::POST, "/api", "").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::MOVED_PERMANENTLY, "")
    );
    let r = get(&app, "/validate/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with("cAdvisor version: v0.60.5\n\nOS version: \n\nKernel version: [Supported and recommended]\n\tKernel version is 6.18.44."), "{}", r.body);
    assert!(r.body.contains("Event source: ebpf\n"), "{}", r.body);
    assert!(
        r.body.contains(&format!("Managed containers: \n\t/\n\t/docker\n\t/docker/{ID1}\n\t\tNamespace: docker\n\t\tAliases:\n\t\t\tweb\n\t\t\t{ID1}\n")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn garbage_never_panics() {
    let app = app();
    let huge = "9".repeat(400);
    let long = "a/".repeat(5000);
    let paths = [
        "/api/v1.3/containers/%zz".to_owned(),
        "/api/v1.3/containers/%".to_owned(),
        "/api/v1.3/containers/%2e%2e/%2e%2e/".to_owned(),
        "/api/v1.3/containers/%2Fdocker%2F".to_owned(),
        "/api/v1.3/containers/%00%ff%fe".to_owned(),
        "/api/%76%31%2e%33/machine".to_owned(),
        "/api/v1.3//containers".to_owned(),
        "/api//".to_owned(),
        "/api///v1.3".to_owned(),
        format!("/api/v2.0/stats/?count={huge}"),
        format!("/api/v2.0/stats/?max_age={huge}h"),
        "/api/v2.0/stats/?count=9223372036854775807&max_age=-1s".to_owned(),
        "/api/v2.0/stats/?type=%zz&count=%&recursive=%".to_owned(),
        "/api/v2.1/machinestats?count=-1&type=docker&recursive=true".to_owned(),
        format!("/api/v1.3/containers/{long}"),
        format!("/api/v2.0/spec/{long}?type=docker"),
        "/api/v1.2/docker/%2F%2F".to_owned(),
        "/api/v2.0/ps/?type=docker".to_owned(),
        "/api/v2.0/storage?uuid=%00&label=%00".to_owned(),
        "/api/v1.3/events/?stream=maybe&max_events=-99999999999999999999".to_owned(),
    ];
    for p in &paths {
        let r = get(&app, p).await;
        assert!(
            [
                StatusCode::OK,
                StatusCode::MOVED_PERMANENTLY,
                StatusCode::BAD_REQUEST,
                StatusCode::INTERNAL_SERVER_ERROR
            ]
            .contains(&r.status),
            "{p}: {}",
            r.status
        );
    }
    // Escapes decode before anything else; a bad escape is the server's 400.
    assert_eq!(
        get(&app, "/api/v1.3/containers/%zz").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ok_json(&app, "/api/%76%31%2e%33/containers/dock%65r").await["name"],
        "/docker"
    );
    // Non-canonical (decoded) paths are redirected to their clean form, as Go's ServeMux does;
    // `..` cannot climb above `/`.
    for (from, to) in [
        ("/api//", "/api/"),
        ("/api/v1.3//containers", "/api/v1.3/containers"),
        (
            "/api/v1.3/containers/docker/../x?a=1",
            "/api/v1.3/containers/x?a=1",
        ),
        (
            "/api/v1.3/containers/a%20b/./",
            "/api/v1.3/containers/a%20b/",
        ),
        ("/api/v1.3/containers/%2e%2e/%2e%2e/", "/api/"),
        (
            "/api/v1.3/containers/%2Fdocker%2F",
            "/api/v1.3/containers/docker/",
        ),
    ] {
        let r = get(&app, from).await;
        assert_eq!(
            (r.status, r.location.as_str()),
            (StatusCode::MOVED_PERMANENTLY, to),
            "{from}"
        );
    }
    for body in [
        "\u{feff}{}",
        "{\"num_stats\":1}{{{{",
        "nul",
        "{\"end\":null}",
        &"[".repeat(10_000),
    ] {
        let r = send(&app, Method::POST, "/api/v1.3/subcontainers/docker", body).await;
        assert!(
            [StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR].contains(&r.status),
            "{body}"
        );
    }
}

#[tokio::test]
async fn events_are_routed_for_v13_and_v2() {
    let store = Arc::new(EventStore::new(StoragePolicy::default()));
    store.add(Event {
        container_name: format!("/docker/{ID1}"),
        timestamp: Timestamp::from_unix_nanos(BASE),
        event_type: EventType::ContainerCreation,
        event_data: EventData::default(),
    });
    let app = app_with(fake_builder().events(store).build(), "");
    let want = format!(
        r#"[{{"container_name":"/docker/{ID1}","timestamp":"2026-11-22T18:16:29Z","event_type":"containerCreation","event_data":{{}}}}]"#
    );
    for v in ["v1.3", "v2.0", "v2.1"] {
        let r = get(
            &app,
            &format!("/api/{v}/events/docker?subcontainers=true&all_events=true"),
        )
        .await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (StatusCode::OK, want.as_str()),
            "{v}"
        );
        assert_eq!(
            ok_json(&app, &format!("/api/{v}/events/docker")).await,
            serde_json::json!([])
        );
    }
    assert_error(
        &app,
        "/api/v1.2/events/",
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"unknown request type "events""#,
    )
    .await;
    assert_error(
        &app,
        "/api/v1.3/events/?stream=true&start_time=2026-11-22T18:16:29Z",
        StatusCode::INTERNAL_SERVER_ERROR,
        "for a call to watch, request.StartTime and request.EndTime must be uninitialized",
    )
    .await;
}

#[tokio::test]
async fn exact_bytes() {
    let app = app();
    let r = get(&app, "/api/v2.0/spec/user.slice").await;
    assert_eq!(
        r.body,
        r#"{"/user.slice":{"creation_time":"0001-01-01T00:00:00Z","start_time":"0001-01-01T00:00:00Z","has_cpu":false,"cpu":{"limit":0,"max_limit":0},"has_memory":false,"memory":{},"has_hugetlb":false,"has_custom_metrics":false,"has_processes":false,"processes":{},"has_network":false,"has_filesystem":false,"has_diskio":false}}"#
    );
    let r = get(&app, "/api/v1.3/containers/user.slice").await;
    assert_eq!(
        r.body,
        r#"{"name":"/user.slice","spec":{"creation_time":"0001-01-01T00:00:00Z","start_time":"0001-01-01T00:00:00Z","has_cpu":false,"cpu":{"limit":0,"max_limit":0},"has_memory":false,"memory":{},"has_hugetlb":false,"has_network":false,"has_processes":false,"processes":{},"has_filesystem":false,"has_diskio":false,"has_custom_metrics":false}}"#
    );
}

#[tokio::test]
async fn nested_under_url_base_prefix() {
    let app = Router::new().nest("/cadvisor", app_with(fake(), "/cadvisor"));
    let m = ok_json(&app, "/cadvisor/api/v1.3/machine").await;
    assert_eq!(m["num_cores"], 2);
    let r = get(&app, "/cadvisor/api").await;
    assert_eq!(r.location, "/cadvisor/api/");
    let r = get(&app, "/cadvisor/api/v1.3//machine").await;
    assert_eq!(r.location, "/cadvisor/api/v1.3/machine");
    let r = get(&app, "/cadvisor/healthz").await;
    assert_eq!(r.body, "ok");
    let r = get(&app, "/cadvisor/validate").await;
    assert_eq!(r.location, "/cadvisor/validate/");
    let r = get(&app, "/cadvisor").await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (StatusCode::TEMPORARY_REDIRECT, "/cadvisor/containers/")
    );
}
