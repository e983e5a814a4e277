//! cAdvisor's REST API (v1.0–v1.3, v2.0, v2.1), `/healthz`, `/validate/`.
//!
//! One handler serves everything under `/api/`, splitting the path the way cAdvisor's regexp does and
//! dispatching on (version, request type); answers are built from one `Snapshot` and serialised
//! with Go's JSON rules. Everything here is read through [`Query`]: snapshots, events and the host
//! facts of `ps`, `storage` and `/validate/`; nothing here touches the file system.

pub mod events;
mod json_error;
pub mod request;
mod stream;
mod v1;
mod v2;
mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Serialize;

use crate::model::json::to_go_json;
use crate::query::Query;
use request::{container_name, decode_path, go_quote, request_args, split_api_path};

/// What the API needs from the rest of the agent.
#[derive(Clone)]
pub struct ApiContext {
    pub query: Arc<dyn Query>,
    /// `--url_base_prefix` (e.g. `/cadvisor`, or empty): the caller nests this router under it,
    /// and redirects must name it.
    pub url_base_prefix: String,
}

/// Largest v1 request body read (a `ContainerInfoRequest` is ~100 bytes).
const MAX_BODY: usize = 1 << 20;

/// The API versions cAdvisor serves, sorted.
const VERSIONS: [&str; 6] = ["v1.0", "v1.1", "v1.2", "v1.3", "v2.0", "v2.1"];

/// Routes for `/api…`, `/healthz`, `/validate/` and `/` (any method, as Go's mux).
pub fn router(ctx: ApiContext) -> Router {
    let ctx = Arc::new(ctx);
    Router::new()
        .route("/api", any(redirect_slash))
        .route("/api/", any(api))
        .route("/api/{*rest}", any(api))
        .route("/healthz", any(healthz))
        .route("/validate", any(redirect_slash))
        .route("/validate/", any(validate))
        .route("/", any(root))
        .with_state(ctx)
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

async fn root(State(ctx): State<Arc<ApiContext>>, req: Request) -> Response {
    let loc = format!("{}/containers/", ctx.url_base_prefix.trim_end_matches('/'));
    go_redirect(req.method(), &loc, StatusCode::TEMPORARY_REDIRECT)
}

/// Go's `ServeMux` subtree redirect: `/api` → `/api/`, `/validate` → `/validate/`, query kept.
async fn redirect_slash(State(ctx): State<Arc<ApiContext>>, req: Request) -> Response {
    let mut loc = format!(
        "{}{}/",
        ctx.url_base_prefix.trim_end_matches('/'),
        req.uri().path()
    );
    if let Some(q) = req.uri().query() {
        loc.push('?');
        loc.push_str(q);
    }
    go_redirect(req.method(), &loc, StatusCode::MOVED_PERMANENTLY)
}

async fn validate(State(ctx): State<Arc<ApiContext>>) -> Response {
    let setup = match ctx.query.host().setup().await {
        Ok(s) => s,
        Err(e) => return error_500(&e.to_string()),
    };
    let snap = ctx.query.snapshot();
    let body = validate::render(&snap, &setup, crate::privileges::published());
    text(StatusCode::OK, &body)
}

async fn api(State(ctx): State<Arc<ApiContext>>, req: Request) -> Response {
    let Some(path) = decode_path(req.uri().path()) else {
        // Go's server rejects an unparsable request URI before any handler sees it.
        return text(StatusCode::BAD_REQUEST, "400 Bad Request");
    };
    let query = req.uri().query().unwrap_or("").to_owned();
    // Go's ServeMux answers a non-canonical path (`//`, `.`, `..`) with a redirect to its clean form.
    let clean = request::canonical_path(&path);
    if clean != path {
        let mut loc = format!(
            "{}{}",
            ctx.url_base_prefix.trim_end_matches('/'),
            request::escape_path(&clean)
        );
        if !query.is_empty() {
            loc.push('?');
            loc.push_str(&query);
        }
        return go_redirect(req.method(), &loc, StatusCode::MOVED_PERMANENTLY);
    }
    if path == "/api/" {
        return go_error(
            StatusCode::BAD_REQUEST,
            &format!("Supported API versions: {}", VERSIONS.join(",")),
        );
    }
    let Some((version, rtype, rest)) = split_api_path(&path) else {
        return error_500(&format!("malformed request {}", go_quote(&path)));
    };
    let Some(types) = request_types(version) else {
        return error_500(&format!("unsupported API version {}", go_quote(version)));
    };
    if rtype.is_empty() {
        let mut types = types.to_vec();
        types.sort_unstable();
        return go_error(
            StatusCode::BAD_REQUEST,
            &format!("Supported request types: {}", go_quote(&types.join(","))),
        );
    }
    let args = request_args(rest);
    let result = if version.starts_with("v1.") {
        // Only these read a ContainerInfoRequest body; the others ignore it, as cAdvisor does.
        let body = if matches!(rtype, "containers" | "subcontainers" | "docker") {
            match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
                Ok(b) => b,
                Err(e) => return error_500(&format!("unable to decode the json value: {e}")),
            }
        } else {
            Default::default()
        };
        v1::handle(&ctx, types, rtype, &args, &body, &query)
    } else {
        v2::handle(&ctx, version, rtype, &args, &query).await
    };
    result.unwrap_or_else(|e| error_500(&e.0))
}

/// Request types per version, as cAdvisor registers them.
fn request_types(version: &str) -> Option<&'static [&'static str]> {
    const V10: &[&str] = &["containers", "machine"];
    const V11: &[&str] = &["containers", "machine", "subcontainers"];
    const V12: &[&str] = &["containers", "machine", "subcontainers", "docker"];
    const V13: &[&str] = &["containers", "machine", "subcontainers", "docker", "events"];
    const V20: &[&str] = &[
        "version",
        "attributes",
        "events",
        "machine",
        "summary",
        "stats",
        "spec",
        "storage",
        "ps",
        "appmetrics",
    ];
    const V21: &[&str] = &[
        "version",
        "attributes",
        "events",
        "machine",
        "summary",
        "stats",
        "spec",
        "storage",
        "ps",
        "appmetrics",
        "machinestats",
    ];
    Some(match version {
        "v1.0" => V10,
        "v1.1" => V11,
        "v1.2" => V12,
        "v1.3" => V13,
        "v2.0" => V20,
        "v2.1" => V21,
        _ => return None,
    })
}

/// `events` for every version that has it: the container name from the path and the raw query.
fn events(ctx: &ApiContext, args: &[&str], query: &str) -> Response {
    events::events_response(&*ctx.query, &container_name(args), query)
}

/// A successful answer: Go's `json.Marshal` bytes, `application/json`, no trailing newline.
pub(crate) fn json<T: Serialize + ?Sized>(v: &T) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        to_go_json(v),
    )
        .into_response()
}

/// Go's `http.Error(w, msg, 500)`.
pub(crate) fn error_500(msg: &str) -> Response {
    go_error(StatusCode::INTERNAL_SERVER_ERROR, msg)
}

/// Go's `http.Error`: text/plain, nosniff, message plus newline (the UI's errors too).
pub(crate) fn go_error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        format!("{msg}\n"),
    )
        .into_response()
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.to_owned(),
    )
        .into_response()
}

/// Go's `http.Redirect`: a small HTML body for GET and HEAD only.
fn go_redirect(method: &Method, location: &str, status: StatusCode) -> Response {
    let loc = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    if method == Method::GET || method == Method::HEAD {
        let reason = status.canonical_reason().unwrap_or("");
        let body = format!("<a href=\"{}\">{reason}</a>.\n\n", html_escape(location));
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

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
