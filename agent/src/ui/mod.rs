//! The web UI at cAdvisor's paths: `/containers/<name>`, `/docker/` and `/docker/<id or name>`
//! (and `/podman/…`), `/static/<file>`, and Go's catch-all redirect of any other path to
//! `/containers/`.
//!
//! The server sends one small HTML shell per page plus embedded, content-hashed assets; the page's
//! script reads everything else from the agent's own REST API (the shown container's v2 stats,
//! spec and process list, the event stream). Nothing runs for a page nobody has open: no
//! per-page state, no push, no timers here. The only snapshot reads are the container lookups
//! behind cAdvisor's 404 texts and the shell's display name.
//!
//! Consumer of [`Query`] only; `app.rs` merges [`router`] with the API's, so the access layer that
//! wraps every route guards these too.

mod assets;
mod page;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};
use tracing::warn;

use crate::api::go_error;
use crate::api::request::go_quote;
use crate::query::{AliasLookup, Query};
use page::{Shell, View};

/// What the UI needs from the rest of the agent.
#[derive(Clone)]
pub struct UiContext {
    pub query: Arc<dyn Query>,
    /// `--url_base_prefix` (e.g. `/cadvisor`, or empty): the caller nests this router under it,
    /// and links and redirects must name it.
    pub url_base_prefix: String,
    /// Paths another router serves (`--prometheus_endpoint=/containers`, say): left to it.
    pub taken: Vec<String>,
}

/// The UI's routes, any method (as Go's mux), and the fallback for every path no other router
/// serves.
pub fn router(ctx: UiContext) -> Router {
    let routes: [(&str, MethodRouter<Arc<Ui>>); 12] = [
        ("/containers", any(to_containers_permanent)),
        ("/containers/", any(root_container_page)),
        ("/containers/{*name}", any(container_page)),
        ("/docker", any(to_runtime_list)),
        ("/docker/", any(runtime_list)),
        ("/docker/{*key}", any(runtime_container_page)),
        ("/podman", any(to_runtime_list)),
        ("/podman/", any(runtime_list)),
        ("/podman/{*key}", any(runtime_container_page)),
        ("/static", any(to_static)),
        ("/static/", any(no_static_file)),
        ("/static/{*file}", any(static_file)),
    ];
    let mut router = Router::new();
    for (path, route) in routes {
        if ctx
            .taken
            .iter()
            .any(|t| t.trim_start_matches('/') == &path[1..])
        {
            warn!(
                path,
                "another route takes this path; the web UI does not serve it"
            );
            continue;
        }
        router = router.route(path, route);
    }
    router
        .fallback(to_containers_temporary)
        .with_state(Arc::new(Ui {
            query: ctx.query,
            prefix: ctx.url_base_prefix.trim_end_matches('/').to_string(),
        }))
}

/// `router` with cAdvisor's catch-all for every path it does not serve: a 307 to
/// `<prefix>/containers/`. For the router that nests everything under `--url_base_prefix`, so that
/// paths outside the prefix (the prefix itself with a slash, say) are answered as cAdvisor's `/`
/// handler answers them.
pub fn with_catch_all(router: Router, url_base_prefix: &str) -> Router {
    let to = Arc::new(format!(
        "{}/containers/",
        url_base_prefix.trim_end_matches('/')
    ));
    router.fallback(move |method: Method| {
        let to = to.clone();
        async move { go_redirect(&method, &to, StatusCode::TEMPORARY_REDIRECT) }
    })
}

struct Ui {
    query: Arc<dyn Query>,
    /// `--url_base_prefix` without a trailing slash.
    prefix: String,
}

/// The runtimes with a page of their own, by the first path segment.
const RUNTIMES: [(&str, &str); 2] = [
    ("docker", "Docker Containers"),
    ("podman", "Podman Containers"),
];

/// `/containers/`: the root container.
async fn root_container_page(State(ui): State<Arc<Ui>>) -> Response {
    container_response(&ui, "/")
}

/// `/containers/<name>`.
async fn container_page(State(ui): State<Arc<Ui>>, Path(name): Path<String>) -> Response {
    let name = crate::model::clean_container_name(&format!("/{name}"));
    container_response(&ui, &name)
}

fn container_response(ui: &Ui, name: &str) -> Response {
    let snap = ui.query.snapshot();
    let Some(entry) = snap.get(name) else {
        // cAdvisor's page handler, with its manager's error.
        return go_error(
            StatusCode::NOT_FOUND,
            &format!(
                "failed to get container {} with error: unknown container {}",
                go_quote(name),
                go_quote(name)
            ),
        );
    };
    let title = page::display_name(&entry.reference);
    html(
        Shell {
            prefix: &ui.prefix,
            view: View::Container,
            name,
            title: &title,
            runtime: "",
        }
        .render(),
    )
}

/// `/docker/`, `/podman/`: the runtime's containers.
async fn runtime_list(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let Some((runtime, title)) = runtime_of(req.uri().path()) else {
        return go_error(StatusCode::NOT_FOUND, "404 page not found");
    };
    html(
        Shell {
            prefix: &ui.prefix,
            view: View::RuntimeList,
            name: "",
            title,
            runtime,
        }
        .render(),
    )
}

/// `/docker/<key>`: the container of that runtime whose name, id or unique id prefix is `key`.
async fn runtime_container_page(
    State(ui): State<Arc<Ui>>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    let Some((runtime, _)) = runtime_of(req.uri().path()) else {
        return go_error(StatusCode::NOT_FOUND, "404 page not found");
    };
    let snap = ui.query.snapshot();
    let entry = match snap.find_by_alias(runtime, &key) {
        Ok(entry) => entry,
        Err(e) => {
            // cAdvisor's page handler, with its manager's namespace lookup error.
            let why = match e {
                AliasLookup::NotFound => format!(
                    "unable to find container {} in {} namespace",
                    go_quote(&key),
                    go_quote(runtime)
                ),
                AliasLookup::NotUnique => format!(
                    "unable to find container in {} namespace. Container {} is not unique",
                    go_quote(runtime),
                    go_quote(&key)
                ),
            };
            return go_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "failed to get container {} with error: {why}",
                    go_quote(&format!("/{key}"))
                ),
            );
        }
    };
    let title = page::display_name(&entry.reference);
    html(
        Shell {
            prefix: &ui.prefix,
            view: View::Container,
            name: entry.name(),
            title: &title,
            runtime,
        }
        .render(),
    )
}

/// The runtime a `/docker/…` or `/podman/…` path belongs to, with its list's title.
fn runtime_of(path: &str) -> Option<(&'static str, &'static str)> {
    let first = path.trim_start_matches('/').split('/').next()?;
    RUNTIMES.iter().copied().find(|(r, _)| *r == first)
}

/// `/static/<file>`: an embedded asset, cached for good when asked for by its current hash.
async fn static_file(
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = assets::find(&file) else {
        return no_such_static(&format!("/static/{file}"));
    };
    let etag = asset.etag();
    let current = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.strip_prefix("v=") == Some(asset.hash.as_str()));
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut out = if if_none_match(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = out.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    out
}

/// `/static/` itself names no file.
async fn no_static_file() -> Response {
    no_such_static("/static/")
}

fn no_such_static(path: &str) -> Response {
    go_error(
        StatusCode::NOT_FOUND,
        &format!("unknown static resource {}", go_quote(path)),
    )
}

/// Whether `If-None-Match` lists `etag` (weakly compared, as RFC 9110 asks for this header).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// `/containers` → `/containers/` (cAdvisor registers this redirect itself).
async fn to_containers_permanent(State(ui): State<Arc<Ui>>, method: Method) -> Response {
    go_redirect(
        &method,
        &format!("{}/containers/", ui.prefix),
        StatusCode::MOVED_PERMANENTLY,
    )
}

/// Any path no router serves: cAdvisor's `/` handler, a 307 to the containers page.
async fn to_containers_temporary(State(ui): State<Arc<Ui>>, method: Method) -> Response {
    go_redirect(
        &method,
        &format!("{}/containers/", ui.prefix),
        StatusCode::TEMPORARY_REDIRECT,
    )
}

/// `/docker` → `/docker/`, `/podman` → `/podman/`.
async fn to_runtime_list(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/');
    go_redirect(
        req.method(),
        &format!("{}{path}/", ui.prefix),
        StatusCode::MOVED_PERMANENTLY,
    )
}

/// `/static` → `/static/` (Go's mux subtree redirect, query kept).
async fn to_static(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let mut loc = format!("{}/static/", ui.prefix);
    if let Some(q) = req.uri().query() {
        loc.push('?');
        loc.push_str(q);
    }
    go_redirect(req.method(), &loc, StatusCode::MOVED_PERMANENTLY)
}

/// A page: HTML, never cached (it is small and names the current asset hashes), and the headers
/// cAdvisor's containers page sends (scripts and styles only from the agent, never framed).
fn html(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'self'"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Go's `http.Redirect`: a small HTML body for GET and HEAD only.
fn go_redirect(method: &Method, location: &str, status: StatusCode) -> Response {
    let loc = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    if method == Method::GET || method == Method::HEAD {
        let reason = status.canonical_reason().unwrap_or("");
        let body = format!("<a href=\"{}\">{reason}</a>.\n\n", page::escape(location));
        (
            status,
            [
                (header::LOCATION, loc),
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
            ],
            body,
        )
            .into_response()
    } else {
        (status, [(header::LOCATION, loc)]).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_pages_are_found_by_their_first_segment() {
        assert_eq!(runtime_of("/docker/abc").map(|r| r.0), Some("docker"));
        assert_eq!(runtime_of("/podman/").map(|r| r.0), Some("podman"));
        assert_eq!(runtime_of("/docker").map(|r| r.0), Some("docker"));
        assert!(runtime_of("/containers/docker").is_none());
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "\"ab\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"zz\", W/\"ab\""),
        );
        assert!(if_none_match(&h, "\"ab\""));
        assert!(!if_none_match(&h, "\"cd\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, "\"cd\""));
    }
}
