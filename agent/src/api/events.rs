//! `/api/{v1.3,v2.0,v2.1}/events/<name>`: cAdvisor's event query and stream, byte-compatible.
//!
//! Self-contained: the API module either calls [`events_response`] with the container name and raw
//! query string it already split off, or merges [`routes`].

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::StreamExt;

use crate::events::store::{EventRequest, EventWatch};
use crate::model::json::{Timestamp, to_go_json};
use crate::model::v1::{Event, EventType};
use crate::query::Query;

/// The query-string flags that select event types, as cAdvisor names them.
const TYPE_PARAMS: [(&str, EventType); 4] = [
    ("oom_events", EventType::Oom),
    ("oom_kill_events", EventType::OomKill),
    ("creation_events", EventType::ContainerCreation),
    ("deletion_events", EventType::ContainerDeletion),
];

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; a bad escape fails.
fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                // Two hex digits exactly (`from_str_radix` alone would take a sign).
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The first value of each key, as Go's `url.ParseQuery` + `urlMap[key][0]` sees it: pairs split on
/// `&`, pairs holding `;` or a bad escape dropped.
fn first_values(query: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query
        .split('&')
        .filter(|p| !p.is_empty() && !p.contains(';'))
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (query_unescape(k), query_unescape(v)) else {
            continue;
        };
        if !out.iter().any(|(seen, _)| *seen == k) {
            out.push((k, v));
        }
    }
    out
}

/// Parses the query like cAdvisor's `getEventRequest`: first occurrence of a key wins, unparsable
/// values are ignored (default kept). Returns the request and whether to stream.
pub fn parse_event_request(name: &str, query: &str) -> (EventRequest, bool) {
    let q = first_values(query);
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let flag = |k: &str| get(k).and_then(go_bool);
    let time = |k: &str| get(k).and_then(|v| Timestamp::parse_rfc3339(v).ok());
    let all = flag("all_events").unwrap_or(false);
    let types = TYPE_PARAMS
        .iter()
        .filter(|(param, _)| all || flag(param).unwrap_or(false))
        .map(|(_, t)| *t)
        .collect();
    let req = EventRequest {
        name: name.to_string(),
        types,
        start_time: time("start_time").unwrap_or(Timestamp::ZERO),
        end_time: time("end_time").unwrap_or(Timestamp::ZERO),
        max_events: get("max_events").and_then(|v| v.parse().ok()).unwrap_or(10),
        include_subcontainers: flag("subcontainers").unwrap_or(false),
    };
    (req, flag("stream").unwrap_or(false))
}

/// Go's `http.Error(w, msg, 500)`.
fn go_error(msg: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
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

/// Answers an events request for container `name` (absolute, already cleaned) and the raw query
/// string (without `?`).
pub fn events_response(source: &dyn Query, name: &str, query: &str) -> Response {
    respond(
        name,
        query,
        |req| source.events(req),
        |req| source.watch_events(req),
    )
}

/// [`events_response`] over the two ways of reading events: `history` (stored) and `watch` (live).
fn respond(
    name: &str,
    query: &str,
    history: impl FnOnce(&EventRequest) -> Vec<Event>,
    watch: impl FnOnce(EventRequest) -> EventWatch,
) -> Response {
    let (req, stream) = parse_event_request(name, query);
    if !stream {
        let body = to_go_json(&history(&req));
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
    }
    if !req.start_time.is_zero() || !req.end_time.is_zero() {
        return go_error(
            "for a call to watch, request.StartTime and request.EndTime must be uninitialized",
        );
    }
    // One compact object and a newline per event, each its own chunk; no Content-Type, as cAdvisor.
    let lines = watch(req).map(|e| {
        let mut line = to_go_json(&e);
        line.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(line))
    });
    Response::new(Body::from_stream(lines))
}

/// Go's `path.Join("/", rest)`.
fn container_name(rest: &str) -> String {
    crate::model::clean_container_name(rest)
}

async fn with_name(
    State(source): State<Arc<dyn Query>>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    events_response(&*source, &container_name(&rest), q.as_deref().unwrap_or(""))
}

async fn root(State(source): State<Arc<dyn Query>>, RawQuery(q): RawQuery) -> Response {
    events_response(&*source, "/", q.as_deref().unwrap_or(""))
}

/// API versions that serve events.
pub const VERSIONS: [&str; 3] = ["v1.3", "v2.0", "v2.1"];

/// `/api/<version>/events[/<name>]` for every version that has events (any method, as cAdvisor);
/// merge into the API router (or nest the result under `--url_base_prefix`).
pub fn routes<S>(source: Arc<dyn Query>) -> Router<S> {
    let mut r = Router::new();
    for v in VERSIONS {
        r = r
            .route(&format!("/api/{v}/events"), any(root))
            .route(&format!("/api/{v}/events/"), any(root))
            .route(&format!("/api/{v}/events/{{*rest}}"), any(with_name));
    }
    r.with_state(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::store::{EventStore, StoragePolicy};
    use crate::model::v1::{ContainerDeletionEventData, EventData};

    const C: EventType = EventType::ContainerCreation;

    #[test]
    fn defaults_and_first_occurrence_wins() {
        let (r, stream) = parse_event_request("/a", "");
        assert_eq!(
            r,
            EventRequest {
                name: "/a".into(),
                ..Default::default()
            }
        );
        assert!(r.types.is_empty() && r.max_events == 10 && !stream);
        let (r, stream) = parse_event_request(
            "/",
            "stream=T&stream=false&creation_events=1&creation_events=0&max_events=x&max_events=3\
             &subcontainers=yes&deletion_events=False&oom_events=TRUE",
        );
        assert!(stream);
        assert_eq!(r.types, [EventType::Oom, C]);
        assert_eq!(
            r.max_events, 10,
            "first value unparsable → default, later ones ignored"
        );
        assert!(!r.include_subcontainers, "`yes` is no Go bool");
        let (r, _) =
            parse_event_request("/", "all_events=true&creation_events=false&max_events=-1");
        assert_eq!(r.types.len(), 4, "all_events overrides");
        assert_eq!(r.max_events, -1);
    }

    #[test]
    fn times_are_rfc3339_and_bad_pairs_dropped() {
        let (r, _) = parse_event_request(
            "/",
            "start_time=2026-11-22T18:16:46.141868649Z&end_time=1700000000\
             &subcontainers=%zz&oom_kill_events=t;x",
        );
        assert_eq!(
            r.start_time,
            Timestamp::parse_rfc3339("2026-11-22T18:16:46.141868649Z").expect("ts")
        );
        assert!(r.end_time.is_zero(), "unix seconds are not accepted");
        assert!(!r.include_subcontainers && r.types.is_empty());
        let (r, _) = parse_event_request("/", "start_time=2026-11-22T19%3A16%3A46%2B01%3A00");
        assert_eq!(
            r.start_time,
            Timestamp::parse_rfc3339("2026-11-22T18:16:46Z").expect("ts")
        );
        assert_eq!(container_name("docker/../a//b/"), "/a/b");
        assert_eq!(container_name(""), "/");
        assert_eq!(query_unescape("a%2Fb+c"), Some("a/b c".into()));
        assert_eq!(query_unescape("%+f"), None);
    }

    /// [`events_response`] over a store.
    fn from_store(s: &EventStore, name: &str, query: &str) -> Response {
        respond(name, query, |r| s.query(r), |r| s.watch(r))
    }

    fn store_with_events() -> EventStore {
        let s = EventStore::new(StoragePolicy::default());
        s.add(Event {
            container_name: "/docker/<x>".into(),
            // The deletion line of cAdvisor v0.36's stream example (HEAD adds the exit code).
            timestamp: Timestamp::parse_rfc3339("2026-11-22T18:16:48.359873517Z")
                .unwrap_or_default(),
            event_type: EventType::ContainerDeletion,
            event_data: EventData {
                container_deletion: Some(ContainerDeletionEventData { exit_code: 0 }),
                ..Default::default()
            },
        });
        s
    }

    async fn body(r: Response) -> String {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(b.to_vec()).expect("utf8")
    }

    #[tokio::test]
    async fn non_stream_is_a_go_json_array() {
        let s = store_with_events();
        let r = from_store(&s, "/", "deletion_events=true&subcontainers=true");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            body(r).await,
            r#"[{"container_name":"/docker/\u003cx\u003e","timestamp":"2026-11-22T18:16:48.359873517Z","event_type":"containerDeletion","event_data":{"container_deletion":{"exit_code":0}}}]"#
        );
        assert_eq!(body(from_store(&s, "/", "")).await, "[]");
    }

    #[tokio::test]
    async fn stream_with_times_is_a_500() {
        let s = store_with_events();
        let r = from_store(&s, "/", "stream=true&start_time=2026-11-22T18:16:46Z");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            body(r).await,
            "for a call to watch, request.StartTime and request.EndTime must be uninitialized\n"
        );
    }

    #[tokio::test]
    async fn stream_sends_future_events_as_ndjson_without_content_type() {
        let s = Arc::new(store_with_events());
        let r = from_store(&s, "/a", "stream=1&all_events=1");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
        let mut chunks = r.into_body().into_data_stream();
        for i in 0..2 {
            s.add(Event {
                container_name: "/a".into(),
                timestamp: Timestamp::from_unix_nanos(i),
                event_type: C,
                event_data: EventData::default(),
            });
        }
        let first = chunks.next().await.expect("chunk").expect("ok");
        assert_eq!(
            &first[..],
            b"{\"container_name\":\"/a\",\"timestamp\":\"1970-01-01T00:00:00Z\",\"event_type\":\"containerCreation\",\"event_data\":{}}\n"
        );
        let second = chunks.next().await.expect("chunk").expect("ok");
        assert!(
            second.ends_with(b"\"event_data\":{}}\n")
                && second.starts_with(b"{\"container_name\":\"/a\"")
        );
        drop(chunks);
        s.add(Event::default());
        assert_eq!(s.watch_count(), 0, "a disconnected client's watch is gone");
    }
}
