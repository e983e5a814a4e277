//! `--storage_driver=remote_write` (bpfadvisor's own; cAdvisor has no such driver): every sample
//! pushed as Prometheus remote write 1.0 to `--storage_driver_remote_write_url`, so a node can feed
//! Prometheus (`--web.enable-remote-write-receiver`), Thanos Receive, Mimir, Cortex or
//! VictoriaMetrics without being scraped.
//!
//! The series are `/metrics`' container series, by the same table (`metrics::container_series`):
//! the same family names and labels (`id`, `name`, `image`, `container_label_*`, ... and each
//! family's own), one sample per container sample at the sample's own time (milliseconds). Labels
//! with an empty value are left out (Prometheus treats them as absent), and so are application
//! metrics and the machine families (they do not change per sample). Every series also gets the
//! labels of `--storage_driver_remote_write_labels` (default `job=cadvisor`) and
//! `instance=<hostname>`, unless it has a label of that name already: a scrape would add those, and
//! without them the series of two nodes would be one.
//!
//! A request is a snappy-compressed protobuf `WriteRequest` (with each family's type and help as
//! metadata), POSTed with `Content-Encoding: snappy` and `X-Prometheus-Remote-Write-Version: 0.1.0`,
//! with basic auth or a bearer token, over TLS for an `https` URL. Samples of one series within a
//! request are in time order; a batch goes as requests of at most [`SAMPLES_PER_REQUEST`]
//! container samples. A 2xx answer is success; 5xx, 429 and network errors are retried (with
//! backoff, from the first request not accepted yet); any other 4xx means the receiver will never
//! take the request (out-of-order or malformed samples), so the batch is dropped and counted rather
//! than retried forever.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use prost::Message;

use super::driver::{Batching, Driver, DriverError, Record};
use super::http::{Endpoint, HttpError, TlsOptions};
use crate::metrics::{self, MetricsConfig, families::MetricType as FamilyType};
use crate::model::v1::ContainerStats;
use crate::query::ContainerEntry;

/// The remote-write 1.0 protocol version header's value.
pub const PROTOCOL_VERSION: &str = "0.1.0";

/// `prometheus.WriteRequest` (remote write 1.0); field 2 is reserved.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples in time order.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetadataType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType` (the values used here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum MetadataType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
}

/// Collects samples into one request, grouping the samples of a series.
#[derive(Debug, Default)]
pub struct RequestBuilder {
    request: WriteRequest,
    /// Series key (labels joined) → index in `request.timeseries`.
    index: HashMap<String, usize>,
    /// Families with metadata already added.
    described: HashSet<&'static str>,
    key: String,
}

impl RequestBuilder {
    /// Adds every series of one sample of `entry`; `extra` labels (sorted by name) go on every
    /// series that lacks a label of their name.
    pub fn add_sample(
        &mut self,
        entry: &ContainerEntry,
        stats: &ContainerStats,
        cfg: &MetricsConfig,
        extra: &[(String, String)],
    ) {
        let base = metrics::container_labels(entry, cfg);
        let ts = stats.timestamp.as_unix_nanos().div_euclid(1_000_000);
        metrics::container_series(entry, stats, cfg, &mut |fam, values, v| {
            // Family labels win over base labels of the same name, both over the extra ones.
            let mut labels: Vec<(&str, &str)> = Vec::with_capacity(base.len() + values.len() + 3);
            labels.push(("__name__", fam.name));
            for (name, value) in fam.labels.iter().zip(values) {
                labels.push((name, value));
            }
            for (name, value) in &base {
                if !fam.labels.contains(&name.as_str()) {
                    labels.push((name, value));
                }
            }
            for (name, value) in extra {
                if !labels.iter().any(|(n, _)| n == name) {
                    labels.push((name, value));
                }
            }
            labels.retain(|(_, v)| !v.is_empty());
            labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
            self.key.clear();
            for (n, v) in &labels {
                self.key.push_str(n);
                self.key.push('\u{ff}');
                self.key.push_str(v);
                self.key.push('\u{ff}');
            }
            let sample = Sample {
                value: v,
                timestamp: ts,
            };
            match self.index.get(self.key.as_str()) {
                Some(&i) => self.request.timeseries[i].samples.push(sample),
                None => {
                    self.index
                        .insert(self.key.clone(), self.request.timeseries.len());
                    self.request.timeseries.push(TimeSeries {
                        labels: labels
                            .iter()
                            .map(|(n, v)| Label {
                                name: n.to_string(),
                                value: v.to_string(),
                            })
                            .collect(),
                        samples: vec![sample],
                    });
                }
            }
            if self.described.insert(fam.name) {
                self.request.metadata.push(MetricMetadata {
                    r#type: match fam.ty {
                        FamilyType::Counter => MetadataType::Counter,
                        FamilyType::Gauge => MetadataType::Gauge,
                        // Not reached: a histogram's series are not pushed (see `Sink::put`).
                        FamilyType::Histogram => MetadataType::Histogram,
                    } as i32,
                    metric_family_name: fam.name.to_string(),
                    help: fam.help.to_string(),
                    unit: String::new(),
                });
            }
        });
    }

    /// Samples added so far.
    pub fn samples(&self) -> usize {
        self.request
            .timeseries
            .iter()
            .map(|t| t.samples.len())
            .sum()
    }

    /// The request body: the protobuf, snappy-compressed (block format, as the protocol says).
    pub fn finish(self) -> Bytes {
        compress(&self.request.encode_to_vec())
    }
}

/// Snappy block format (not the framed stream format).
pub fn compress(raw: &[u8]) -> Bytes {
    match snap::raw::Encoder::new().compress_vec(raw) {
        Ok(v) => Bytes::from(v),
        // Only an input beyond snappy's 4 GiB limit fails; a batch is a few MB.
        Err(_) => Bytes::new(),
    }
}

/// Parses `--storage_driver_remote_write_labels` (`a=b,c=d`); names must be valid label names.
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not name=value"))?;
        let valid = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid || name.starts_with("__") {
            return Err(format!("{name:?} is not a label name"));
        }
        out.retain(|(n, _)| n != name);
        out.push((name.to_string(), value.to_string()));
    }
    out.sort();
    Ok(out)
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl Auth {
    /// The `Authorization` header value.
    pub fn header(&self) -> Option<HeaderValue> {
        use base64::Engine as _;
        let text = match self {
            Auth::None => return None,
            Auth::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            Auth::Bearer(token) => format!("Bearer {}", token.trim()),
        };
        let mut v = HeaderValue::from_str(&text).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

/// What a push came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Worth retrying: a 5xx or 429 (status, body excerpt).
    Retry(u16, String),
    /// Never accepted as it is: another 4xx (status, body excerpt).
    Rejected(u16, String),
}

/// Classifies an answer by its status as the remote-write spec says.
pub fn outcome(status: u16, body: String) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        429 | 500..=599 => Outcome::Retry(status, body),
        _ => Outcome::Rejected(status, body),
    }
}

/// A receiver: its URL and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    endpoint: Endpoint,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

impl Target {
    pub fn new(url: &str, tls: &TlsOptions, timeout: Duration) -> Result<Self, HttpError> {
        let endpoint = Endpoint::new(url, tls)?;
        let headers = vec![
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            ),
            (header::CONTENT_ENCODING, HeaderValue::from_static("snappy")),
            (
                HeaderName::from_static("x-prometheus-remote-write-version"),
                HeaderValue::from_static(PROTOCOL_VERSION),
            ),
            (
                header::USER_AGENT,
                HeaderValue::from_static(concat!("bpfadvisor/", env!("CARGO_PKG_VERSION"))),
            ),
        ];
        Ok(Self {
            endpoint,
            headers,
            timeout,
        })
    }

    /// POSTs one compressed request.
    pub async fn push(&self, body: Bytes, auth: &Auth) -> Result<Outcome, HttpError> {
        let mut headers = self.headers.clone();
        headers.extend(auth.header().map(|v| (header::AUTHORIZATION, v)));
        let resp = self
            .endpoint
            .request(
                hyper::Method::POST,
                self.endpoint.path(),
                &headers,
                body,
                self.timeout,
            )
            .await?;
        Ok(outcome(resp.status, resp.body_excerpt()))
    }

    /// The URL without credentials, for messages.
    pub fn url(&self) -> String {
        format!("{}{}", self.endpoint.base(), self.endpoint.path())
    }
}

/// `--storage_driver_remote_write_*`.
#[derive(Debug, Clone)]
pub struct RemoteWriteOptions {
    /// `_url`: the receiver's push URL (`http://prometheus:9090/api/v1/write`).
    pub url: String,
    /// `_username` and `_password_file`: basic auth (the password read from the file).
    pub username: String,
    pub password_file: Option<PathBuf>,
    /// `_bearer_token_file`: `Authorization: Bearer <the file's content>`.
    pub bearer_token_file: Option<PathBuf>,
    /// `_ca_file`, `_cert_file`, `_key_file`, `_insecure_skip_verify`.
    pub tls: TlsOptions,
    /// `_labels`, parsed: added to every series lacking a label of the name.
    pub labels: Vec<(String, String)>,
    /// `_interval`: how long samples gather into one request.
    pub interval: Duration,
    /// Which families and container labels, as for `/metrics` (`--enable_metrics`, ...).
    pub metrics: MetricsConfig,
}

/// `--storage_driver_remote_write_labels`' default.
pub const DEFAULT_LABELS: &str = "job=cadvisor";

impl Default for RemoteWriteOptions {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: String::new(),
            password_file: None,
            bearer_token_file: None,
            tls: TlsOptions::default(),
            labels: vec![("job".into(), "cadvisor".into())],
            interval: Duration::from_secs(5),
            metrics: MetricsConfig {
                telemetry: false,
                ..MetricsConfig::default()
            },
        }
    }
}

impl RemoteWriteOptions {
    /// `name=value` of each `--storage_driver_remote_write_*` flag not at its default.
    pub fn changed_flags(&self) -> Vec<String> {
        let d = Self::default();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let mut out = Vec::new();
        let mut note = |name: &str, changed: bool, value: String| {
            if changed {
                out.push(format!("storage_driver_remote_write_{name}={value}"));
            }
        };
        note("url", self.url != d.url, self.url.clone());
        note(
            "username",
            self.username != d.username,
            self.username.clone(),
        );
        for (name, v) in [
            ("password_file", &self.password_file),
            ("bearer_token_file", &self.bearer_token_file),
            ("ca_file", &self.tls.ca_file),
            ("cert_file", &self.tls.cert_file),
            ("key_file", &self.tls.key_file),
        ] {
            note(name, v.is_some(), path(v).unwrap_or_default());
        }
        note(
            "insecure_skip_verify",
            self.tls.insecure_skip_verify,
            "true".into(),
        );
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        note("labels", self.labels != d.labels, labels.join(","));
        note(
            "interval",
            self.interval != d.interval,
            format!("{:?}", self.interval),
        );
        out
    }

    /// The credentials, read now from their files (a rotated token is picked up by the next
    /// request).
    pub fn auth(&self) -> Result<Auth, String> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("reading {}: {e}", p.display()))
        };
        match (&self.bearer_token_file, self.username.is_empty()) {
            (Some(_), false) => Err("basic auth and a bearer token exclude each other".into()),
            (Some(token), true) => Ok(Auth::Bearer(read(token)?)),
            (None, false) => Ok(Auth::Basic {
                user: self.username.clone(),
                password: self
                    .password_file
                    .as_ref()
                    .map(read)
                    .transpose()?
                    .unwrap_or_default(),
            }),
            (None, true) => Ok(Auth::None),
        }
    }
}

/// A batch: its requests not accepted yet (each a compressed body), in time order.
#[derive(Debug)]
pub struct Payload {
    pub requests: Mutex<Vec<Bytes>>,
    /// Container samples in the batch.
    pub samples: usize,
}

/// Container samples per request: a few thousand series samples, the size Prometheus' own
/// remote write sends, so a receiver never gets one huge request for a big backlog.
pub const SAMPLES_PER_REQUEST: usize = 40;

/// The `remote_write` driver.
pub struct RemoteWriteDriver {
    opts: RemoteWriteOptions,
    target: Target,
    /// `opts.labels` plus `instance`.
    extra: Vec<(String, String)>,
}

/// One request's bound (within the pipeline's send timeout).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(8);

impl RemoteWriteDriver {
    /// Checks the options (URL, TLS files, credentials readable); `machine_name` is the default
    /// `instance`.
    pub fn new(opts: RemoteWriteOptions, machine_name: &str) -> Result<Self, String> {
        if opts.url.is_empty() {
            return Err("--storage_driver_remote_write_url is required".into());
        }
        let target = Target::new(&opts.url, &opts.tls, HTTP_TIMEOUT).map_err(|e| e.to_string())?;
        opts.auth()?;
        let mut extra = opts.labels.clone();
        if !extra.iter().any(|(n, _)| n == "instance") && !machine_name.is_empty() {
            extra.push(("instance".into(), machine_name.to_string()));
            extra.sort();
        }
        Ok(Self {
            opts,
            target,
            extra,
        })
    }
}

impl Driver for RemoteWriteDriver {
    type Payload = Payload;

    fn name(&self) -> &'static str {
        "remote_write"
    }

    fn batching(&self) -> Batching {
        Batching::Buffered(self.opts.interval)
    }

    /// Samples of containers not listed yet (their first second or so) are left out, so that
    /// every series has its full label set from its first sample.
    fn encode(&mut self, batch: &[Record]) -> Payload {
        let listed: Vec<&Record> = batch.iter().filter(|r| r.container.is_some()).collect();
        let requests = listed
            .chunks(SAMPLES_PER_REQUEST)
            .map(|chunk| {
                let mut b = RequestBuilder::default();
                for r in chunk {
                    if let Some(entry) = &r.container {
                        b.add_sample(entry, &r.stats, &self.opts.metrics, &self.extra);
                    }
                }
                b.finish()
            })
            .collect();
        Payload {
            requests: Mutex::new(requests),
            samples: listed.len(),
        }
    }

    /// Sends the requests in order; an accepted one is taken out, so a retry resumes where this
    /// attempt stopped. A rejected request drops the rest of the batch with it (the pipeline
    /// counts the batch dropped; with out-of-order samples the rest would be rejected too).
    async fn send(&mut self, payload: &Payload) -> Result<(), DriverError> {
        let backend = || format!("remote write {}", self.target.url());
        let auth = self.opts.auth().map_err(|reason| DriverError::Refused {
            backend: backend(),
            reason,
        })?;
        loop {
            let Some(body) = lock(&payload.requests).first().cloned() else {
                return Ok(());
            };
            match self.target.push(body, &auth).await {
                Ok(Outcome::Accepted) => {
                    lock(&payload.requests).remove(0);
                }
                Ok(Outcome::Retry(status, body)) => {
                    return Err(DriverError::Refused {
                        backend: backend(),
                        reason: format!("{status}: {body}"),
                    });
                }
                Ok(Outcome::Rejected(status, body)) => {
                    return Err(DriverError::Rejected {
                        backend: backend(),
                        reason: format!("{status}: {body}"),
                    });
                }
                Err(e) => {
                    return Err(DriverError::Unreachable {
                        backend: backend(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::model::json::Timestamp;
    use crate::model::v1::{ContainerReference, ContainerSpec};
    use crate::query::Samples;

    fn entry() -> ContainerEntry {
        let spec = ContainerSpec {
            image: "nginx:1".into(),
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            has_memory: true,
            has_cpu: true,
            ..Default::default()
        };
        ContainerEntry {
            reference: ContainerReference {
                id: "abc".into(),
                name: "/docker/abc".into(),
                aliases: vec!["web-1".into(), "abc".into()],
                namespace: "docker".into(),
            },
            samples: Arc::new(Samples::fixed(Duration::from_secs(60), &spec, [], 0)),
            spec,
        }
    }

    fn stats(ms: i64, cpu: u64) -> ContainerStats {
        let mut s = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(ms * 1_000_000),
            ..Default::default()
        };
        s.cpu.usage.total = cpu;
        s.cpu.usage.user = cpu;
        s.memory.usage = 4096;
        s
    }

    fn decode(body: &Bytes) -> WriteRequest {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(body)
            .expect("snappy");
        WriteRequest::decode(raw.as_slice()).expect("protobuf")
    }

    fn labels(t: &TimeSeries) -> Vec<(&str, &str)> {
        t.labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn series_carry_metrics_names_and_labels_sorted_with_the_sample_time() {
        let cfg = MetricsConfig::default();
        let extra = parse_labels("job=cadvisor,instance=node-1").expect("labels");
        let mut b = RequestBuilder::default();
        b.add_sample(
            &entry(),
            &stats(1_700_000_000_000, 2_000_000_000),
            &cfg,
            &extra,
        );
        b.add_sample(
            &entry(),
            &stats(1_700_000_001_000, 3_000_000_000),
            &cfg,
            &extra,
        );
        let req = decode(&b.finish());
        let cpu: Vec<&TimeSeries> = req
            .timeseries
            .iter()
            .filter(|t| t.labels[0].value == "container_cpu_usage_seconds_total")
            .collect();
        assert_eq!(cpu.len(), 1, "one series, both samples");
        assert_eq!(
            labels(cpu[0]),
            [
                ("__name__", "container_cpu_usage_seconds_total"),
                ("container_label_app", "web"),
                ("cpu", "total"),
                ("id", "/docker/abc"),
                ("image", "nginx:1"),
                ("instance", "node-1"),
                ("job", "cadvisor"),
                ("name", "web-1"),
            ]
        );
        assert_eq!(
            cpu[0].samples,
            [
                Sample {
                    value: 2.0,
                    timestamp: 1_700_000_000_000
                },
                Sample {
                    value: 3.0,
                    timestamp: 1_700_000_001_000
                }
            ]
        );
        for t in &req.timeseries {
            let names: Vec<&str> = t.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted, "sorted, unique");
            assert!(t.labels.iter().all(|l| !l.value.is_empty()));
        }
        // Spec families come with every sample too; metadata once per family.
        assert!(
            req.timeseries
                .iter()
                .any(|t| t.labels[0].value == "container_memory_usage_bytes")
        );
        assert!(
            req.timeseries
                .iter()
                .any(|t| t.labels[0].value == "container_start_time_seconds")
        );
        let meta: Vec<&MetricMetadata> = req
            .metadata
            .iter()
            .filter(|m| m.metric_family_name == "container_cpu_usage_seconds_total")
            .collect();
        assert_eq!(meta.len(), 1);
        assert_eq!(meta[0].r#type, MetadataType::Counter as i32);
    }

    #[test]
    fn disabled_kinds_are_not_pushed() {
        let cfg = MetricsConfig {
            kinds: crate::config::MetricKinds::from_flags("", "cpu").expect("kinds"),
            ..Default::default()
        };
        let mut b = RequestBuilder::default();
        b.add_sample(&entry(), &stats(1, 1), &cfg, &[]);
        let req = decode(&b.finish());
        assert!(!req.timeseries.is_empty());
        let names: Vec<&str> = req
            .timeseries
            .iter()
            .map(|t| t.labels[0].value.as_str())
            .collect();
        assert!(
            !names.contains(&"container_cpu_usage_seconds_total"),
            "{names:?}"
        );
        assert!(names.contains(&"container_memory_usage_bytes"), "{names:?}");
    }

    #[test]
    fn the_wire_format_is_the_protocols() {
        // Hand-encoded: WriteRequest{timeseries:[{labels:[{__name__,up}], samples:[{1,2}]}]}.
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
            }],
            metadata: vec![],
        };
        let mut want = vec![0x0a, 0x1d, 0x0a, 0x0e, 0x0a, 0x08];
        want.extend_from_slice(b"__name__");
        want.extend_from_slice(&[0x12, 0x02]);
        want.extend_from_slice(b"up");
        want.extend_from_slice(&[0x12, 0x0b, 0x09]);
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 0x02]);
        assert_eq!(req.encode_to_vec(), want);
        let body = compress(&want);
        assert_eq!(
            snap::raw::Decoder::new()
                .decompress_vec(&body)
                .expect("snappy"),
            want
        );
    }

    #[test]
    fn labels_flag_and_auth_header() {
        assert_eq!(
            parse_labels(" job=cadvisor, cluster=eu-1,job=x").expect("ok"),
            [
                ("cluster".to_string(), "eu-1".to_string()),
                ("job".to_string(), "x".to_string())
            ]
        );
        assert_eq!(parse_labels("").expect("ok"), []);
        for bad in ["job", "1a=b", "__name__=x", "a-b=c", "=x"] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
        let basic = Auth::Basic {
            user: "u".into(),
            password: "p".into(),
        };
        assert_eq!(basic.header().expect("set"), "Basic dTpw");
        assert_eq!(
            Auth::Bearer("tok\n".into()).header().expect("set"),
            "Bearer tok"
        );
        assert!(Auth::None.header().is_none());
        assert_eq!(outcome(204, String::new()), Outcome::Accepted);
        assert!(matches!(
            outcome(503, String::new()),
            Outcome::Retry(503, _)
        ));
        assert!(matches!(
            outcome(429, String::new()),
            Outcome::Retry(429, _)
        ));
        assert!(matches!(
            outcome(400, String::new()),
            Outcome::Rejected(400, _)
        ));
    }

    /// A loopback receiver answering each request with the next status of `statuses`, keeping
    /// the requests' head (lowercased) and body.
    async fn receiver(
        statuses: Vec<u16>,
    ) -> (
        String,
        Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>,
        tokio::task::JoinHandle<()>,
    ) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/api/v1/write",
            listener.local_addr().expect("addr")
        );
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = got.clone();
        let task = tokio::spawn(async move {
            for status in statuses {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let mut r = BufReader::new(stream);
                let mut head = String::new();
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&lower);
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body).await;
                log.lock().expect("lock").push((head, body));
                let _ = r
                    .into_inner()
                    .write_all(
                        format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nno").as_bytes(),
                    )
                    .await;
            }
        });
        (url, got, task)
    }

    #[tokio::test]
    async fn the_driver_pushes_with_the_protocols_headers_and_sorts_out_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").expect("token");
        let (url, got, task) = receiver(vec![204, 503, 400]).await;
        let opts = RemoteWriteOptions {
            url,
            bearer_token_file: Some(token),
            ..Default::default()
        };
        let mut d = RemoteWriteDriver::new(opts, "node-1").expect("driver");
        let listed = Record {
            name: Arc::from("/docker/abc"),
            container: Some(Arc::new(entry())),
            stats: Arc::new(stats(1_700_000_000_000, 5)),
        };
        let unlisted = Record {
            name: Arc::from("/new"),
            container: None,
            stats: Arc::new(stats(1_700_000_000_000, 5)),
        };
        let payload = d.encode(&[listed.clone(), unlisted.clone()]);
        assert_eq!(
            payload.samples, 1,
            "the unlisted container's sample is left out"
        );
        d.send(&payload).await.expect("204 accepted");
        assert!(lock(&payload.requests).is_empty());
        let payload = d.encode(std::slice::from_ref(&listed));
        assert!(matches!(
            d.send(&payload).await,
            Err(DriverError::Refused { .. })
        ));
        assert_eq!(lock(&payload.requests).len(), 1, "kept for the retry");
        assert!(matches!(
            d.send(&payload).await,
            Err(DriverError::Rejected { .. })
        ));
        // A big batch goes in several requests.
        let big = d.encode(&vec![listed; SAMPLES_PER_REQUEST * 2 + 1]);
        assert_eq!(lock(&big.requests).len(), 3);
        // Nothing to push: no request.
        let empty = d.encode(&[unlisted]);
        d.send(&empty).await.expect("nothing sent");
        task.await.expect("receiver");
        let got = got.lock().expect("lock").clone();
        assert_eq!(got.len(), 3);
        let (head, body) = &got[0];
        assert!(
            head.starts_with("post /api/v1/write http/1.1\r\n"),
            "{head}"
        );
        for h in [
            "content-encoding: snappy",
            "content-type: application/x-protobuf",
            "x-prometheus-remote-write-version: 0.1.0",
            "authorization: bearer s3cret\r\n",
        ] {
            assert!(head.contains(h), "{h} in {head}");
        }
        let req = decode(&Bytes::from(body.clone()));
        let t = req
            .timeseries
            .iter()
            .find(|t| t.labels[0].value == "container_memory_usage_bytes")
            .expect("memory series");
        assert!(labels(t).contains(&("instance", "node-1")));
        assert!(labels(t).contains(&("job", "cadvisor")));
    }

    #[test]
    fn changed_flags_are_named() {
        assert!(RemoteWriteOptions::default().changed_flags().is_empty());
        let o = RemoteWriteOptions {
            url: "http://p:9090/api/v1/write".into(),
            bearer_token_file: Some("/t".into()),
            ..Default::default()
        };
        assert_eq!(
            o.changed_flags(),
            [
                "storage_driver_remote_write_url=http://p:9090/api/v1/write",
                "storage_driver_remote_write_bearer_token_file=/t"
            ]
        );
    }

    #[test]
    fn options_need_a_url_and_one_kind_of_credentials() {
        assert!(RemoteWriteDriver::new(RemoteWriteOptions::default(), "n").is_err());
        let both = RemoteWriteOptions {
            url: "http://127.0.0.1:9/api/v1/write".into(),
            username: "u".into(),
            bearer_token_file: Some("/nonexistent".into()),
            ..Default::default()
        };
        assert!(both.auth().is_err());
        let missing = RemoteWriteOptions {
            username: String::new(),
            ..both.clone()
        };
        assert!(
            RemoteWriteDriver::new(missing, "n").is_err(),
            "unreadable token file"
        );
        let basic = RemoteWriteOptions {
            bearer_token_file: None,
            ..both
        };
        assert_eq!(
            basic.auth().expect("basic"),
            Auth::Basic {
                user: "u".into(),
                password: String::new()
            }
        );
    }
}
