//! `--storage_driver=elasticsearch`: samples indexed into `--storage_driver_es_index` (document
//! type `--storage_driver_es_type`) at `--storage_driver_es_host`, one document per sample shaped
//! as cAdvisor's Elasticsearch driver writes them:
//!
//! ```text
//! {"timestamp":<sample time, Unix microseconds>,"machine_name":"<hostname>",
//!  "container_Name":"<first alias, else name>","container_stats":{<v1 ContainerStats>}}
//! ```
//!
//! cAdvisor indexes each sample with a request of its own; here a batch goes in one `_bulk`
//! request (NDJSON: an `index` action line, then the document). Before the first request the
//! server is asked its version (`GET /`, as cAdvisor's ping at startup): from Elasticsearch 8 on,
//! which refuses document types, the `_type` is left out of the action lines. With
//! `--storage_driver_es_enable_sniffer` the cluster's nodes are listed (`GET /_nodes/http`, their
//! `publish_address`) and requests go round them, listed again when one cannot be reached.
//!
//! A bulk answer says per document whether it was indexed: documents refused for a reason a retry
//! may cure (429, 5xx) stay for the retry; others (a mapping conflict) are dropped, counted, with
//! the first reason logged at debug; indexed ones are never sent again.
//!
//! Tested against a loopback HTTP server checking the requests' shape, not against a live cluster.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{self, HeaderValue};
use serde::{Deserialize, Serialize};

use super::ElasticsearchOptions as EsOptions;
use super::driver::{Batching, Driver, DriverError, Record};
use super::http::{Endpoint, HttpError, TlsOptions};
use crate::model::v1::ContainerStats;
use crate::query::ContainerEntry;

/// One document, field for field (and in the order of) cAdvisor's.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// The sample's time in Unix microseconds.
    pub timestamp: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub machine_name: &'a str,
    #[serde(rename = "container_Name", skip_serializing_if = "str::is_empty")]
    pub container_name: &'a str,
    pub container_stats: &'a ContainerStats,
}

/// The JSON of one sample's document (no newline).
pub fn encode_document(
    machine_name: &str,
    name: &str,
    entry: Option<&ContainerEntry>,
    stats: &ContainerStats,
) -> Vec<u8> {
    let doc = Document {
        timestamp: stats.timestamp.as_unix_nanos().div_euclid(1_000),
        machine_name,
        container_name: entry
            .and_then(|e| e.reference.aliases.first())
            .map_or(name, String::as_str),
        container_stats: stats,
    };
    crate::model::json::to_go_json(&doc)
}

/// The `_bulk` body indexing `docs` into `index` (with `doc_type` unless `None`).
pub fn bulk_body(index: &str, doc_type: Option<&str>, docs: &[Vec<u8>]) -> Bytes {
    #[derive(Serialize)]
    struct Target<'a> {
        _index: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        _type: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Action<'a> {
        index: Target<'a>,
    }
    let action = serde_json::to_vec(&Action {
        index: Target {
            _index: index,
            _type: doc_type,
        },
    })
    .unwrap_or_default();
    let mut body = Vec::with_capacity(docs.iter().map(|d| d.len() + action.len() + 2).sum());
    for doc in docs {
        body.extend_from_slice(&action);
        body.push(b'\n');
        body.extend_from_slice(doc);
        body.push(b'\n');
    }
    Bytes::from(body)
}

/// What a bulk answer says of each document, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Indexed,
    /// 429 or 5xx: worth another try.
    Retry,
    /// Refused for good (mapping conflict, bad document).
    Refused,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Reads a `_bulk` answer for `n` documents: each one's outcome, and the first error's text.
pub fn parse_bulk_answer(
    body: &[u8],
    n: usize,
) -> Result<(Vec<ItemOutcome>, Option<String>), String> {
    let answer: BulkAnswer =
        serde_json::from_slice(body).map_err(|e| format!("unreadable bulk answer: {e}"))?;
    if !answer.errors {
        return Ok((vec![ItemOutcome::Indexed; n], None));
    }
    if answer.items.len() != n {
        return Err(format!(
            "bulk answer lists {} items for {n} documents",
            answer.items.len()
        ));
    }
    let mut first = None;
    let outcomes = answer
        .items
        .iter()
        .map(|item| {
            let Some(i) = item.values().next() else {
                return ItemOutcome::Retry;
            };
            match i.status {
                200..=299 => ItemOutcome::Indexed,
                s => {
                    if first.is_none() {
                        first = Some(format!(
                            "{s}: {}",
                            i.error.as_ref().map_or(String::new(), |e| e.to_string())
                        ));
                    }
                    if s == 429 || s >= 500 {
                        ItemOutcome::Retry
                    } else {
                        ItemOutcome::Refused
                    }
                }
            }
        })
        .collect();
    Ok((outcomes, first))
}

/// The major version in a `GET /` answer (`{"version":{"number":"8.11.1"}}`).
pub fn parse_major_version(body: &[u8]) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v["version"]["number"]
        .as_str()?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The nodes' HTTP addresses in a `GET /_nodes/http` answer, as `host:port` (a
/// `hostname/ip:port` address gives `hostname:port`), sorted.
pub fn parse_nodes(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let Some(nodes) = v["nodes"].as_object() else {
        return Vec::new();
    };
    let mut out: Vec<String> = nodes
        .values()
        .filter_map(|n| n["http"]["publish_address"].as_str())
        .filter_map(|addr| match addr.split_once('/') {
            Some((host, ip_port)) if !host.is_empty() => {
                let port = ip_port.rsplit_once(':')?.1;
                Some(format!("{host}:{port}"))
            }
            Some((_, ip_port)) => Some(ip_port.to_string()),
            None => Some(addr.to_string()),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Why a bulk write failed.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Answer(String),
    #[error("{failed} of {total} documents not indexed yet ({first})")]
    Partial {
        failed: usize,
        total: usize,
        first: String,
    },
}

/// Documents given up on: refused by the server for good.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub usize);

/// The client: where to send, and what the server turned out to be.
pub struct Client {
    opts: EsOptions,
    tls: TlsOptions,
    seed: Endpoint,
    /// Sniffed nodes (empty: the seed only) and the next one to use.
    nodes: Vec<Endpoint>,
    next: usize,
    /// `None` until the server said its version.
    major: Option<u32>,
    timeout: Duration,
}

impl Client {
    pub fn new(opts: EsOptions, timeout: Duration) -> Result<Self, HttpError> {
        let tls = TlsOptions::default();
        let seed = Endpoint::new(opts.host.trim_end_matches('/'), &tls)?;
        Ok(Self {
            opts,
            tls,
            seed,
            nodes: Vec::new(),
            next: 0,
            major: None,
            timeout,
        })
    }

    fn endpoint(&mut self) -> Endpoint {
        if self.nodes.is_empty() {
            return self.seed.clone();
        }
        self.next = (self.next + 1) % self.nodes.len();
        self.nodes[self.next].clone()
    }

    async fn get(&self, at: &Endpoint, path: &str) -> Result<Bytes, EsError> {
        let resp = at
            .request(Method::GET, path, &[], Bytes::new(), self.timeout)
            .await?;
        if !resp.is_success() {
            return Err(EsError::Status {
                url: format!("{}{path}", at.base()),
                status: resp.status,
                body: resp.body_excerpt(),
            });
        }
        Ok(resp.body)
    }

    /// Lists the cluster's nodes (sniffing), keeping the seed when none can be used.
    async fn sniff(&mut self) -> Result<(), EsError> {
        let body = self.get(&self.seed, "/_nodes/http").await?;
        let scheme = if self.seed.is_https() {
            "https"
        } else {
            "http"
        };
        self.nodes = parse_nodes(&body)
            .iter()
            .filter_map(|a| Endpoint::new(&format!("{scheme}://{a}"), &self.tls).ok())
            .collect();
        Ok(())
    }

    /// Indexes the documents of `pending`; those indexed or refused for good are taken out (the
    /// refused counted in the answer), so on an error only the ones worth retrying remain.
    pub async fn index(&mut self, pending: &Mutex<Vec<Vec<u8>>>) -> Result<Refused, EsError> {
        if self.opts.enable_sniffer && self.nodes.is_empty() {
            self.sniff().await?;
        }
        if self.major.is_none() {
            let at = self.endpoint();
            let body = self.get(&at, "/").await?;
            self.major = Some(parse_major_version(&body).unwrap_or(0));
        }
        let doc_type = match self.major {
            Some(m) if m >= 8 => None,
            _ => Some(self.opts.type_name.as_str()).filter(|t| !t.is_empty()),
        };
        let docs = std::mem::take(&mut *lock(pending));
        let body = bulk_body(&self.opts.index, doc_type, &docs);
        let at = self.endpoint();
        let sent = at
            .request(
                Method::POST,
                "/_bulk",
                &[(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                )],
                body,
                self.timeout,
            )
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                *lock(pending) = docs;
                // Another node may be up: list them again before the retry.
                self.nodes.clear();
                return Err(e.into());
            }
        };
        if !resp.is_success() {
            *lock(pending) = docs;
            return Err(EsError::Status {
                url: format!("{}/_bulk", at.base()),
                status: resp.status,
                body: resp.body_excerpt(),
            });
        }
        let (outcomes, first) = match parse_bulk_answer(&resp.body, docs.len()) {
            Ok(o) => o,
            Err(e) => {
                *lock(pending) = docs;
                return Err(EsError::Answer(e));
            }
        };
        let total = docs.len();
        let mut refused = 0;
        let mut left = Vec::new();
        for (doc, outcome) in docs.into_iter().zip(outcomes) {
            match outcome {
                ItemOutcome::Indexed => {}
                ItemOutcome::Refused => refused += 1,
                ItemOutcome::Retry => left.push(doc),
            }
        }
        if let (Some(first), true) = (&first, refused > 0) {
            tracing::debug!(refused, first = %first, "elasticsearch refused documents");
        }
        let failed = left.len();
        *lock(pending) = left;
        if failed > 0 {
            return Err(EsError::Partial {
                failed,
                total,
                first: first.unwrap_or_default(),
            });
        }
        Ok(Refused(refused))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `elasticsearch` driver: a document per sample, a `_bulk` request about once a second.
pub struct EsDriver {
    client: Client,
    machine_name: String,
}

impl EsDriver {
    pub fn new(opts: &EsOptions, machine_name: &str) -> Result<Self, HttpError> {
        Ok(Self {
            client: Client::new(opts.clone(), HTTP_TIMEOUT)?,
            machine_name: machine_name.to_string(),
        })
    }
}

/// One request's bound (within the pipeline's send timeout).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(8);

impl Driver for EsDriver {
    /// The documents not indexed yet.
    type Payload = Mutex<Vec<Vec<u8>>>;

    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    /// cAdvisor indexes each sample with a request of its own; a second's samples in one bulk
    /// request cost the cluster far less.
    fn batching(&self) -> Batching {
        Batching::Buffered(super::driver::BATCH_PERIOD)
    }

    fn encode(&mut self, batch: &[Record]) -> Self::Payload {
        Mutex::new(
            batch
                .iter()
                .map(|r| {
                    encode_document(
                        &self.machine_name,
                        &r.name,
                        r.container.as_deref(),
                        &r.stats,
                    )
                })
                .collect(),
        )
    }

    async fn send(&mut self, payload: &Self::Payload) -> Result<(), DriverError> {
        let result = self.client.index(payload).await;
        let backend = || format!("elasticsearch {}", self.client.opts.host);
        match result {
            Ok(Refused(n)) => {
                // Refused for good: not retried, counted as lost (the pipeline counts the
                // batch as sent).
                if n > 0 {
                    crate::telemetry::global()
                        .storage(self.name())
                        .dropped
                        .inc_by(n as u64);
                }
                Ok(())
            }
            Err(EsError::Http(e)) => Err(DriverError::Unreachable {
                backend: backend(),
                reason: e.to_string(),
            }),
            Err(e) => Err(DriverError::Refused {
                backend: backend(),
                reason: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::json::Timestamp;

    #[test]
    fn documents_have_cadvisors_fields_and_microsecond_time() {
        let stats = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
            ..Default::default()
        };
        let text = String::from_utf8(encode_document("node-1", "/docker/abc", None, &stats))
            .expect("utf8");
        assert!(
            text.starts_with(
                "{\"timestamp\":1700000000123456,\"machine_name\":\"node-1\",\"container_Name\":\"/docker/abc\",\"container_stats\":{\"timestamp\":\"2023-11-14T22:13:20.123456789Z\""
            ),
            "{text}"
        );
    }

    #[test]
    fn bulk_bodies_are_action_and_document_lines() {
        let docs = vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
        assert_eq!(
            bulk_body("cadvisor", Some("stats"), &docs),
            "{\"index\":{\"_index\":\"cadvisor\",\"_type\":\"stats\"}}\n{\"a\":1}\n\
             {\"index\":{\"_index\":\"cadvisor\",\"_type\":\"stats\"}}\n{\"b\":2}\n"
        );
        assert_eq!(
            bulk_body("i", None, &docs[..1]),
            "{\"index\":{\"_index\":\"i\"}}\n{\"a\":1}\n"
        );
    }

    #[test]
    fn bulk_answers_versions_and_nodes() {
        // Shapes from Elasticsearch's bulk API reference.
        let ok =
            br#"{"took":30,"errors":false,"items":[{"index":{"_index":"cadvisor","status":201}}]}"#;
        assert_eq!(
            parse_bulk_answer(ok, 1).expect("ok").0,
            [ItemOutcome::Indexed]
        );
        let mixed = br#"{"took":3,"errors":true,"items":[
            {"index":{"status":201}},
            {"index":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}"#;
        let (o, first) = parse_bulk_answer(mixed, 3).expect("parsed");
        assert_eq!(
            o,
            [
                ItemOutcome::Indexed,
                ItemOutcome::Retry,
                ItemOutcome::Refused
            ]
        );
        assert!(first.expect("first").starts_with("429: "));
        assert!(parse_bulk_answer(b"<html>", 1).is_err());
        assert!(parse_bulk_answer(mixed, 2).is_err());

        assert_eq!(
            parse_major_version(br#"{"name":"n","version":{"number":"8.11.1"}}"#),
            Some(8)
        );
        assert_eq!(parse_major_version(b"{}"), None);
        let nodes = br#"{"nodes":{
            "a":{"http":{"publish_address":"10.0.0.2:9200"}},
            "b":{"http":{"publish_address":"es-1.example/10.0.0.3:9201"}},
            "c":{"name":"no http"}}}"#;
        assert_eq!(parse_nodes(nodes), ["10.0.0.2:9200", "es-1.example:9201"]);
    }

    /// A loopback stand-in for a cluster: answers `GET /` with `version`, `GET /_nodes/http` with
    /// itself, and `_bulk` with `bulk_answer(n)`; records every request.
    struct FakeEs {
        addr: std::net::SocketAddr,
        requests: std::sync::Arc<Mutex<Vec<(String, String, String)>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl FakeEs {
        async fn start(version: &'static str, bulk_answer: fn(usize, usize) -> String) -> Self {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let requests = std::sync::Arc::new(Mutex::new(Vec::new()));
            let log = requests.clone();
            let task = tokio::spawn(async move {
                let mut bulks = 0;
                while let Ok((stream, _)) = listener.accept().await {
                    let mut r = BufReader::new(stream);
                    let mut line = String::new();
                    let _ = r.read_line(&mut line).await;
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    let mut len = 0;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body).await;
                    let body = String::from_utf8_lossy(&body).to_string();
                    let answer = match path.as_str() {
                        "/" => format!("{{\"version\":{{\"number\":\"{version}\"}}}}"),
                        "/_nodes/http" => format!(
                            "{{\"nodes\":{{\"x\":{{\"http\":{{\"publish_address\":\"localhost/{addr}\"}}}}}}}}"
                        ),
                        _ => {
                            bulks += 1;
                            bulk_answer(body.lines().count() / 2, bulks)
                        }
                    };
                    lock(&log).push((method, path, body));
                    let mut s = r.into_inner();
                    let _ = s
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                                answer.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                }
            });
            Self {
                addr,
                requests,
                task,
            }
        }
    }

    fn all_indexed(n: usize, _: usize) -> String {
        let items = vec![r#"{"index":{"status":201}}"#; n].join(",");
        format!(r#"{{"errors":false,"items":[{items}]}}"#)
    }

    /// First bulk: document 0 indexed, 1 rejected for now (429), 2 refused for good; then all.
    fn second_time_lucky(n: usize, call: usize) -> String {
        if call > 1 {
            return all_indexed(n, call);
        }
        r#"{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},{"index":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#.to_string()
    }

    fn defaults() -> EsOptions {
        super::super::StorageOptions::default().elasticsearch
    }

    #[tokio::test]
    async fn bulk_requests_reach_the_server_in_its_versions_shape() {
        let stats = ContainerStats::default();
        let docs: Vec<Vec<u8>> = (0..3)
            .map(|i| encode_document("node-1", &format!("/c{i}"), None, &stats))
            .collect();

        // Elasticsearch 7: `_type` kept; a document refused for now is retried alone.
        let es = FakeEs::start("7.17.0", second_time_lucky).await;
        let mut client = Client::new(
            EsOptions {
                host: format!("http://{}/", es.addr),
                ..defaults()
            },
            Duration::from_secs(5),
        )
        .expect("client");
        let pending = Mutex::new(docs.clone());
        let err = client.index(&pending).await.expect_err("one left");
        assert!(
            matches!(
                err,
                EsError::Partial {
                    failed: 1,
                    total: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(*lock(&pending), [docs[1].clone()]);
        assert_eq!(client.index(&pending).await.expect("indexed"), Refused(0));
        assert!(lock(&pending).is_empty());
        let reqs = lock(&es.requests).clone();
        let paths: Vec<(&str, &str)> = reqs
            .iter()
            .map(|(m, p, _)| (m.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            paths,
            [("GET", "/"), ("POST", "/_bulk"), ("POST", "/_bulk")]
        );
        let lines: Vec<&str> = reqs[1].2.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            r#"{"index":{"_index":"cadvisor","_type":"stats"}}"#
        );
        assert_eq!(lines[1].as_bytes(), docs[0].as_slice());
        assert_eq!(
            reqs[2].2.lines().nth(1).map(str::as_bytes),
            Some(docs[1].as_slice())
        );
        es.task.abort();

        // Elasticsearch 8 with sniffing: the nodes are listed first, `_type` is left out.
        let es = FakeEs::start("8.11.1", all_indexed).await;
        let mut client = Client::new(
            EsOptions {
                host: format!("http://{}", es.addr),
                index: "stats-idx".into(),
                enable_sniffer: true,
                ..defaults()
            },
            Duration::from_secs(5),
        )
        .expect("client");
        let pending = Mutex::new(docs.clone());
        assert_eq!(client.index(&pending).await.expect("indexed"), Refused(0));
        let reqs = lock(&es.requests).clone();
        let paths: Vec<&str> = reqs.iter().map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/_nodes/http", "/", "/_bulk"]);
        assert_eq!(
            reqs[2].2.lines().next(),
            Some(r#"{"index":{"_index":"stats-idx"}}"#)
        );
        es.task.abort();

        // Nobody listening: the documents stay for the retry.
        let mut client = Client::new(
            EsOptions {
                host: format!("http://{}", es.addr),
                ..defaults()
            },
            Duration::from_secs(5),
        )
        .expect("client");
        let _ = es.task.await;
        let pending = Mutex::new(docs.clone());
        assert!(client.index(&pending).await.is_err());
        assert_eq!(lock(&pending).len(), 3);
    }

    #[tokio::test]
    async fn the_driver_indexes_a_document_per_record_named_by_its_alias() {
        use crate::model::v1::ContainerReference;
        use crate::query::{ContainerEntry, Samples};
        use std::sync::Arc;
        let es = FakeEs::start("7.10.2", all_indexed).await;
        let mut d = EsDriver::new(
            &EsOptions {
                host: format!("http://{}", es.addr),
                ..defaults()
            },
            "node-1",
        )
        .expect("driver");
        let spec = crate::model::v1::ContainerSpec::default();
        let entry = ContainerEntry {
            reference: ContainerReference {
                name: "/docker/abc".into(),
                aliases: vec!["web-1".into()],
                ..Default::default()
            },
            samples: Arc::new(Samples::fixed(Duration::from_secs(60), &spec, [], 0)),
            spec,
        };
        let record = |name: &str, container| Record {
            name: Arc::from(name),
            container,
            stats: Arc::new(ContainerStats {
                timestamp: Timestamp::from_unix_nanos(2_000_000_000),
                ..Default::default()
            }),
        };
        let payload = d.encode(&[
            record("/docker/abc", Some(Arc::new(entry))),
            record("/raw", None),
        ]);
        d.send(&payload).await.expect("indexed");
        assert!(lock(&payload).is_empty());
        let reqs = lock(&es.requests).clone();
        let docs: Vec<serde_json::Value> = reqs[1]
            .2
            .lines()
            .skip(1)
            .step_by(2)
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["container_Name"], "web-1");
        assert_eq!(docs[0]["machine_name"], "node-1");
        assert_eq!(docs[0]["timestamp"], 2_000_000);
        assert_eq!(docs[1]["container_Name"], "/raw");
        es.task.abort();
    }
}
