//! Request limits: what one client or request may ask of the agent, each refusal a clear 4xx and a
//! count in `bpfadvisor_http_requests_refused_total{reason}`.
//!
//! Applied to authenticated requests only (an unauthenticated one never gets past a 401), before
//! any handler: the body is read here, bounded in size and time, and handed on as bytes; the API's
//! sample counts and time ranges are checked with the API's own parsers so the rules match what the
//! handlers will read.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use crate::api::events::parse_event_request;
use crate::api::request::{
    container_name, decode_path, parse_info_request, query_get, request_args, split_api_path,
};
use crate::model::json::Timestamp;
use crate::telemetry::Refusal;
use crate::telemetry::events::RequestRefused;

/// The caps. Defaults are far above what a legitimate client asks for (samples are kept for
/// `--storage_duration`, 120 per container by default; a v1 request body is ~100 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open connections; past it the listener stops accepting until one closes.
    pub max_connections: usize,
    /// Time for a client to send a request's headers (also how long an idle keep-alive
    /// connection stays open); the connection is closed after it.
    pub header_read_timeout: Duration,
    /// Most header fields in one request (431 past it).
    pub max_headers: usize,
    /// Time for a client to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Largest request body (413).
    pub max_body_bytes: usize,
    /// Time for a client to send the request body once its headers arrived (408).
    pub body_read_timeout: Duration,
    /// Largest `count` (v2), `num_stats` (v1 body) and `max_events` (events); -1 ("all stored")
    /// stays allowed (400).
    pub max_count: i64,
    /// Event streams open at once (429).
    pub max_event_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(30),
            max_headers: 64,
            handshake_timeout: Duration::from_secs(10),
            max_body_bytes: 64 << 10,
            body_read_timeout: Duration::from_secs(10),
            max_count: 100_000,
            max_event_streams: 100,
        }
    }
}

/// Counts a refusal (and logs it, rate-limited).
pub fn refused(reason: Refusal) {
    RequestRefused { reason }.emit();
}

/// The state of the limits layer.
pub struct LimitState {
    limits: Limits,
    url_base_prefix: String,
    streams: Arc<Semaphore>,
}

impl LimitState {
    pub fn new(limits: Limits, url_base_prefix: &str) -> Arc<Self> {
        Arc::new(Self {
            streams: Arc::new(Semaphore::new(limits.max_event_streams)),
            limits,
            url_base_prefix: url_base_prefix.trim_end_matches('/').to_string(),
        })
    }
}

/// A refusal: status and a one-line reason, as Go's `http.Error` writes it.
fn refuse(status: StatusCode, reason: Refusal, msg: &str) -> Response {
    refused(reason);
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

/// The middleware: body bounds, then the API's count, time-range and stream caps.
pub async fn limit(State(st): State<Arc<LimitState>>, req: Request, next: Next) -> Response {
    let l = &st.limits;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyTooLarge,
            &format!(
                "request body larger than the limit of {} bytes",
                l.max_body_bytes
            ),
        )
    };
    if declared.is_some_and(|n| n > l.max_body_bytes as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, l.max_body_bytes);
    let body = match tokio::time::timeout(l.body_read_timeout, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        // The client went away mid-body: nobody reads the answer.
        Ok(Err(_)) => return StatusCode::BAD_REQUEST.into_response(),
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                Refusal::SlowClient,
                &format!(
                    "request body not received within {}s",
                    l.body_read_timeout.as_secs()
                ),
            );
        }
    };
    let path = parts.uri.path();
    let under_prefix = path
        .strip_prefix(st.url_base_prefix.as_str())
        .unwrap_or(path);
    let query = parts.uri.query().unwrap_or("");
    let mut stream_slot = None;
    if let Some(decoded) = decode_path(under_prefix)
        && let Some((version, rtype, rest)) = split_api_path(&decoded)
    {
        match check_api(l, version, rtype, rest, query, &body) {
            Ok(false) => {}
            Ok(true) => match st.streams.clone().try_acquire_owned() {
                Ok(p) => stream_slot = Some(p),
                Err(_) => {
                    return refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        Refusal::EventStreams,
                        &format!(
                            "too many event streams open (limit {}); close one and retry",
                            l.max_event_streams
                        ),
                    );
                }
            },
            Err((reason, msg)) => return refuse(StatusCode::BAD_REQUEST, reason, &msg),
        }
    }
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    match stream_slot {
        None => resp,
        // The stream holds its slot until the client goes away and the body is dropped.
        Some(slot) => {
            let (parts, body) = resp.into_parts();
            let body = body.into_data_stream().map(move |chunk| {
                let _held = &slot;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(body))
        }
    }
}

/// Checks an `/api/` request against the caps; `Ok(true)` for an event stream.
fn check_api(
    l: &Limits,
    version: &str,
    rtype: &str,
    rest: &str,
    query: &str,
    body: &[u8],
) -> Result<bool, (Refusal, String)> {
    let over = |what: &str, n: i64| {
        (
            Refusal::Count,
            format!(
                "{what} {n} is above the limit of {} (-1 asks for everything stored)",
                l.max_count
            ),
        )
    };
    let backwards = |from: &str, to: &str, start: Timestamp, end: Timestamp| {
        (
            Refusal::TimeRange,
            format!("{to} {end} is before {from} {start}"),
        )
    };
    if rtype == "events" {
        let (req, stream) = parse_event_request(&container_name(&request_args(rest)), query);
        if req.max_events > l.max_count {
            return Err(over("max_events", req.max_events));
        }
        if !req.start_time.is_zero() && !req.end_time.is_zero() && req.end_time < req.start_time {
            return Err(backwards(
                "start_time",
                "end_time",
                req.start_time,
                req.end_time,
            ));
        }
        return Ok(stream);
    }
    if version.starts_with("v2.") {
        if let Some(n) = query_get(query, "count").and_then(|c| c.parse::<i64>().ok())
            && n > l.max_count
        {
            return Err(over("count", n));
        }
    } else if matches!(rtype, "containers" | "subcontainers" | "docker")
        // A body the handler cannot parse gets the handler's own error.
        && let Ok(r) = parse_info_request(body)
    {
        if r.num_stats > l.max_count {
            return Err(over("num_stats", r.num_stats));
        }
        if !r.start.is_zero() && !r.end.is_zero() && r.end < r.start {
            return Err(backwards("start", "end", r.start, r.end));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(version: &str, rtype: &str, query: &str, body: &str) -> Result<bool, String> {
        let l = Limits {
            max_count: 1000,
            ..Limits::default()
        };
        check_api(&l, version, rtype, "/", query, body.as_bytes()).map_err(|(_, m)| m)
    }

    #[test]
    fn counts_and_ranges() {
        assert_eq!(check("v2.0", "stats", "count=1000", ""), Ok(false));
        assert_eq!(check("v2.0", "stats", "count=-1", ""), Ok(false));
        assert_eq!(
            check("v2.1", "summary", "count=1001", ""),
            Err("count 1001 is above the limit of 1000 (-1 asks for everything stored)".into())
        );
        assert_eq!(
            check("v1.3", "containers", "", r#"{"num_stats":-1}"#),
            Ok(false)
        );
        assert!(
            check("v1.3", "subcontainers", "", r#"{"num_stats":5000}"#)
                .is_err_and(|m| m.starts_with("num_stats 5000 is above"))
        );
        assert_eq!(
            check(
                "v1.0",
                "containers",
                "",
                r#"{"start":"2026-12-02T00:00:00Z","end":"2026-12-01T00:00:00Z"}"#
            ),
            Err("end 2026-12-01T00:00:00Z is before start 2026-12-02T00:00:00Z".into())
        );
        assert_eq!(check("v1.3", "containers", "", "{bad"), Ok(false));
        assert_eq!(
            check("v1.3", "machine", "", r#"{"num_stats":5000}"#),
            Ok(false)
        );
    }

    #[test]
    fn events() {
        assert_eq!(
            check("v1.3", "events", "stream=true&all_events=true", ""),
            Ok(true)
        );
        assert_eq!(check("v2.0", "events", "max_events=-1", ""), Ok(false));
        assert!(check("v2.1", "events", "max_events=1001", "").is_err());
        assert!(
            check(
                "v1.3",
                "events",
                "start_time=2026-12-02T00:00:00Z&end_time=2026-12-01T00:00:00Z",
                ""
            )
            .is_err_and(|m| m.starts_with("end_time 2026-12-01T00:00:00Z is before"))
        );
    }
}
