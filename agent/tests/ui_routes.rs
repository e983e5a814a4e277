//! The web UI's routes over a fake `Query`: cAdvisor's paths, redirects and 404 texts, the page
//! shell, and the embedded assets' cache headers, with and without `--url_base_prefix`.

#[path = "support/fake_query.rs"]
mod fake_query;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use bpfadvisor::ui::{UiContext, router, with_catch_all};
use fake_query::{FakeQuery, container};
use tower::ServiceExt;

const ID: &str = "9ad0c1e067c0e3a1f1b3d3f9c2f0c6a6d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6";
const ID2: &str = "9ad0ffee67c0e3a1f1b3d3f9c2f0c6a6d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6";

fn app(prefix: &str) -> axum::Router {
    let query = FakeQuery::builder()
        .containers(["/", "/docker", "/system.slice", "/system.slice/a b.service"])
        .container(
            container(&format!("/docker/{ID}"))
                .id(ID)
                .aliases(&["web", ID])
                .namespace("docker"),
        )
        .container(
            container(&format!("/docker/{ID2}"))
                .id(ID2)
                .aliases(&["db", ID2])
                .namespace("docker"),
        )
        .build();
    let ui = router(UiContext {
        query,
        url_base_prefix: prefix.to_string(),
        taken: Vec::new(),
    });
    if prefix.is_empty() {
        ui
    } else {
        // As the agent nests every router under the prefix.
        with_catch_all(axum::Router::new().nest(prefix, ui), prefix)
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(app: &axum::Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let b = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&b).into_owned(),
    }
}

async fn get(app: &axum::Router, uri: &str) -> Answer {
    send(app, Method::GET, uri, &[]).await
}

/// Go's `http.Error` answer.
fn assert_go_error(a: &Answer, status: StatusCode, text: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.header(header::CONTENT_TYPE), "text/plain; charset=utf-8");
    assert_eq!(a.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(a.body, format!("{text}\n"));
}

fn assert_page(a: &Answer, name: &str, title: &str) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(a.header(header::CACHE_CONTROL), "no-cache");
    assert_eq!(
        a.header(header::CONTENT_SECURITY_POLICY),
        "default-src 'self'"
    );
    assert_eq!(a.header(header::X_FRAME_OPTIONS), "DENY");
    assert!(
        a.body.contains(&format!("data-name=\"{name}\"")),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(&format!("<h1 id=\"title\">{title}</h1>")),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn container_pages_and_cadvisor_404_texts() {
    let app = app("");
    assert_page(&get(&app, "/containers/").await, "/", "/");
    assert_page(&get(&app, "/containers/docker").await, "/docker", "/docker");
    // Escaped names and a trailing slash reach the same container.
    assert_page(
        &get(&app, "/containers/system.slice/a%20b.service/").await,
        "/system.slice/a b.service",
        "/system.slice/a b.service",
    );
    assert_page(
        &get(&app, &format!("/containers/docker/{ID}")).await,
        &format!("/docker/{ID}"),
        &format!("web (/docker/{ID})"),
    );
    // Any method, as Go's mux.
    assert_eq!(
        send(&app, Method::POST, "/containers/", &[]).await.status,
        StatusCode::OK
    );
    assert_go_error(
        &get(&app, "/containers/nope/x").await,
        StatusCode::NOT_FOUND,
        "failed to get container \"/nope/x\" with error: unknown container \"/nope/x\"",
    );
}

#[tokio::test]
async fn docker_pages_find_containers_by_name_id_or_prefix() {
    let app = app("");
    let list = get(&app, "/docker/").await;
    assert_page(&list, "", "Docker Containers");
    assert!(list.body.contains("data-runtime=\"docker\""));
    assert!(list.body.contains("data-view=\"runtime\""));
    let title = format!("web (/docker/{ID})");
    for key in ["web", ID, "9ad0c"] {
        assert_page(
            &get(&app, &format!("/docker/{key}")).await,
            &format!("/docker/{ID}"),
            &title,
        );
    }
    assert_go_error(
        &get(&app, "/docker/nope").await,
        StatusCode::NOT_FOUND,
        "failed to get container \"/nope\" with error: unable to find container \"nope\" in \"docker\" namespace",
    );
    assert_go_error(
        &get(&app, "/docker/9ad0").await,
        StatusCode::NOT_FOUND,
        "failed to get container \"/9ad0\" with error: unable to find container in \"docker\" namespace. Container \"9ad0\" is not unique",
    );
    assert_page(&get(&app, "/podman/").await, "", "Podman Containers");
    assert_go_error(
        &get(&app, "/podman/web").await,
        StatusCode::NOT_FOUND,
        "failed to get container \"/web\" with error: unable to find container \"web\" in \"podman\" namespace",
    );
}

#[tokio::test]
async fn redirects_are_cadvisors() {
    for prefix in ["", "/cadvisor"] {
        let app = app(prefix);
        for (path, status, to) in [
            ("/containers", StatusCode::MOVED_PERMANENTLY, "/containers/"),
            ("/docker", StatusCode::MOVED_PERMANENTLY, "/docker/"),
            ("/podman", StatusCode::MOVED_PERMANENTLY, "/podman/"),
            ("/static", StatusCode::MOVED_PERMANENTLY, "/static/"),
            // Go's catch-all: the `/` handler redirects anything else.
            (
                "/no/such/page",
                StatusCode::TEMPORARY_REDIRECT,
                "/containers/",
            ),
        ] {
            let a = get(&app, &format!("{prefix}{path}")).await;
            assert_eq!(a.status, status, "{prefix}{path}");
            let to = format!("{prefix}{to}");
            assert_eq!(a.header(header::LOCATION), to, "{prefix}{path}");
            assert_eq!(
                a.body,
                format!(
                    "<a href=\"{to}\">{}</a>.\n\n",
                    status.canonical_reason().unwrap_or("")
                )
            );
            // No body for other methods, as Go's http.Redirect.
            let post = send(&app, Method::POST, &format!("{prefix}{path}"), &[]).await;
            assert_eq!((post.status, post.body.as_str()), (status, ""));
        }
    }
}

#[tokio::test]
async fn pages_link_assets_under_the_prefix() {
    let app = app("/cadvisor");
    let page = get(&app, "/cadvisor/containers/docker").await;
    assert_page(&page, "/docker", "/docker");
    assert!(page.body.contains("data-prefix=\"/cadvisor\""));
    for asset in ["ui.js", "ui.css", "uPlot.iife.min.js", "uPlot.min.css"] {
        assert!(
            page.body.contains(&format!("/cadvisor/static/{asset}?v=")),
            "{asset} in {}",
            page.body
        );
    }
    // Outside the prefix, cAdvisor's catch-all too.
    for path in ["/cadvisor/", "/containers/", "/elsewhere"] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::TEMPORARY_REDIRECT, "{path}");
        assert_eq!(
            a.header(header::LOCATION),
            "/cadvisor/containers/",
            "{path}"
        );
    }
}

/// The `?v=` hash the page links `asset` with.
fn linked_hash(page: &str, asset: &str) -> String {
    let at = page
        .find(&format!("/static/{asset}?v="))
        .unwrap_or_else(|| panic!("{asset} not linked in {page}"));
    page[at..]
        .split_once("?v=")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn assets_are_cached_by_hash_and_revalidated_by_etag() {
    let app = app("");
    let page = get(&app, "/containers/").await.body;
    for (asset, ctype) in [
        ("ui.js", "text/javascript; charset=utf-8"),
        ("ui.css", "text/css; charset=utf-8"),
        ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
        ("uPlot.min.css", "text/css; charset=utf-8"),
    ] {
        let hash = linked_hash(&page, asset);
        assert_eq!(hash.len(), 16, "{asset}");
        let a = get(&app, &format!("/static/{asset}?v={hash}")).await;
        assert_eq!(a.status, StatusCode::OK, "{asset}");
        assert_eq!(a.header(header::CONTENT_TYPE), ctype, "{asset}");
        assert_eq!(
            a.header(header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        let etag = format!("\"{hash}\"");
        assert_eq!(a.header(header::ETAG), etag);
        assert!(a.body.len() > 1000, "{asset} is {} bytes", a.body.len());
        // Without the current hash: revalidated every time.
        let plain = get(&app, &format!("/static/{asset}?v=stale")).await;
        assert_eq!(plain.header(header::CACHE_CONTROL), "no-cache");
        assert_eq!(plain.body, a.body);
        let again = send(
            &app,
            Method::GET,
            &format!("/static/{asset}"),
            &[("if-none-match", &format!("W/{etag}"))],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{asset}");
        assert_eq!(again.body, "");
        assert_eq!(again.header(header::ETAG), etag);
    }
    let licence = get(&app, "/static/uPlot.LICENSE.txt").await;
    assert!(licence.body.contains("MIT License"));
    assert_go_error(
        &get(&app, "/static/containers.css").await,
        StatusCode::NOT_FOUND,
        "unknown static resource \"/static/containers.css\"",
    );
    assert_go_error(
        &get(&app, "/static/").await,
        StatusCode::NOT_FOUND,
        "unknown static resource \"/static/\"",
    );
}

#[tokio::test]
async fn a_path_another_route_takes_is_left_to_it() {
    // `--prometheus_endpoint=/containers`: the metrics router serves it, and merging both routers
    // must not panic.
    let ui = router(UiContext {
        query: FakeQuery::builder().containers(["/"]).build(),
        url_base_prefix: String::new(),
        taken: vec!["containers".into()],
    });
    let app = axum::Router::new()
        .route("/containers", axum::routing::get(|| async { "metrics" }))
        .merge(ui);
    assert_eq!(get(&app, "/containers").await.body, "metrics");
    assert_eq!(get(&app, "/containers/").await.status, StatusCode::OK);
}
