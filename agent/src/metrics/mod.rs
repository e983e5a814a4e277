//! Prometheus `/metrics`, encoded at scrape time from the snapshot.
//!
//! cAdvisor's exposition is text format 0.0.4 with per-sample millisecond timestamps. Its container
//! and machine families are encoded here by hand rather than through a client library's registry:
//! the values must be byte-identical to Go's float formatting (checked against cAdvisor's golden
//! files), and a scrape streams every series straight from one immutable snapshot instead of first
//! copying thousands of containers' values into registry metrics. The agent's own `bpfadvisor_*`
//! families do go through `prometheus-client` (see `telemetry`). The text comes from the static
//! table in [`families`]:
//! families sorted by name, label pairs sorted by name, every container series labelled with the
//! union of base label names over the exported containers (`""` where a container lacks one).
//! Rendering reads only the snapshot (one `Samples::latest()` per container up front), never cgroup
//! files, and holds no lock while encoding.

pub mod families;
#[doc(hidden)]
pub mod fixture;
mod labels;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_stream::StreamExt;

use crate::config::{Config, MetricKind, MetricKinds};
use crate::model::json::Timestamp;
use crate::model::v1::ContainerStats;
use crate::query::{ContainerEntry, Query, Snapshot};

use families::{APP_HELP, Ctx, FAMILIES, Family, OOM_FAMILY, Source};
use labels::Base;

/// The content type cAdvisor's promhttp handler answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/metrics` needs from the configuration.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// `--prometheus_endpoint`.
    pub endpoint: String,
    /// `--enable_metrics` / `--disable_metrics`.
    pub kinds: MetricKinds,
    /// `--store_container_labels`.
    pub store_container_labels: bool,
    /// `--whitelisted_container_labels` (used when `store_container_labels` is false).
    pub whitelisted_container_labels: Vec<String>,
    /// Append the agent's own `bpfadvisor_*` families.
    pub telemetry: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            endpoint: "/metrics".into(),
            kinds: MetricKinds::default(),
            store_container_labels: true,
            whitelisted_container_labels: Vec::new(),
            telemetry: true,
        }
    }
}

impl MetricsConfig {
    pub fn from_config(c: &Config) -> Self {
        Self {
            endpoint: c.prometheus_endpoint.clone(),
            kinds: c.metric_kinds.clone(),
            store_container_labels: c.store_container_labels,
            whitelisted_container_labels: c.whitelisted_container_labels.clone(),
            telemetry: true,
        }
    }
}

/// Which containers a scrape exports (`?type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// `type=name` (default): every container under `/`.
    All,
    /// `type=docker` / `type=podman`: that runtime's containers only.
    Runtime(&'static str),
}

/// Renders the whole exposition for `snapshot` into `out` (cleared first).
pub fn render(snapshot: &Snapshot, cfg: &MetricsConfig, out: &mut Vec<u8>) {
    render_selected(snapshot, cfg, Selection::All, out);
}

/// Renders the exposition restricted to `sel`.
pub fn render_selected(
    snapshot: &Snapshot,
    cfg: &MetricsConfig,
    sel: Selection,
    out: &mut Vec<u8>,
) {
    out.clear();
    // Size the buffer like the previous scrape did so a large exposition is not copied while
    // doubling (and does not briefly take twice its size).
    static LAST_LEN: AtomicUsize = AtomicUsize::new(0);
    out.reserve(LAST_LEN.load(Ordering::Relaxed) + LAST_LEN.load(Ordering::Relaxed) / 8);
    render_into(snapshot, cfg, sel, out, &mut |_| {});
    LAST_LEN.store(out.len(), Ordering::Relaxed);
}

/// Renders the exposition in chunks of roughly `chunk` bytes (split between containers, never
/// inside a line), handing each to `emit`, so a scrape never holds the whole text at once.
pub fn render_chunked(
    snapshot: &Snapshot,
    cfg: &MetricsConfig,
    sel: Selection,
    chunk: usize,
    emit: &mut dyn FnMut(Vec<u8>),
) {
    let mut out = Vec::with_capacity(chunk + chunk / 4);
    render_into(snapshot, cfg, sel, &mut out, &mut |out: &mut Vec<u8>| {
        if out.len() >= chunk {
            emit(std::mem::replace(
                out,
                Vec::with_capacity(chunk + chunk / 4),
            ));
        }
    });
    if !out.is_empty() {
        emit(out);
    }
}

/// The renderer; `after_family` (called between families and between containers) may take the
/// text written so far.
fn render_into(
    snapshot: &Snapshot,
    cfg: &MetricsConfig,
    sel: Selection,
    out: &mut Vec<u8>,
    after_family: &mut dyn FnMut(&mut Vec<u8>),
) {
    let now = Timestamp::now();
    let rows = rows(snapshot, cfg, sel);
    let union: Vec<String> = rows
        .iter()
        .flat_map(|r| r.labels.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .cloned()
        .collect();
    let bases: Vec<Base> = rows.iter().map(|r| Base::new(&union, &r.labels)).collect();
    let m = &snapshot.machine;
    let machine_labels: BTreeMap<String, String> = [
        ("machine_id", &m.machine_id),
        ("system_uuid", &m.system_uuid),
        ("boot_id", &m.boot_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect();
    let machine_names: Vec<String> = machine_labels.keys().cloned().collect();
    let machine_base = Base::new(&machine_names, &machine_labels);
    let no_base = Base::new(&[], &BTreeMap::new());

    if cfg.telemetry {
        crate::telemetry::global().encode(
            snapshot.event_source,
            Some(snapshot.containers.len()),
            out,
        );
    }

    let app = app_families(&rows, cfg);
    let mut app_iter = app.iter().peekable();
    let now_ms = now.as_unix_nanos().div_euclid(1_000_000);
    let now_secs = now.as_unix_nanos().div_euclid(1_000_000_000);
    for fam in sorted_families() {
        after_family(out);
        while let Some((name, samples)) = app_iter.next_if(|(n, _)| **n < fam.name) {
            write_app_family(out, name, samples, &rows, &union);
            after_family(out);
        }
        if fam.kind.is_some_and(|k| !cfg.kinds.has(k)) {
            continue;
        }
        match fam.source {
            Source::Stats(f) => {
                let plan = labels::plan(&union, fam.labels);
                let mut sink = Sink::new(out, fam, &plan);
                for (row, base) in rows.iter().zip(&bases) {
                    if row.removed && fam.name != OOM_FAMILY {
                        continue;
                    }
                    let Some(stats) = &row.stats else { continue };
                    sink.base = base;
                    sink.ts_ms = Some(stats.timestamp.as_unix_nanos().div_euclid(1_000_000));
                    let ctx = Ctx {
                        stats,
                        spec: &row.entry.spec,
                        percpu: cfg.kinds.has(MetricKind::PerCpu),
                        oom_kills: row.entry.samples.oom_kills(),
                        now_secs,
                    };
                    f(&ctx, &mut sink);
                    if fam.name == "container_last_seen" {
                        // Its sample time is now, not the stat sample's.
                        sink.fix_last_timestamp(now_ms);
                    }
                    // One family of 1000 containers can be tens of MB: chunk within it too.
                    after_family(sink.out);
                }
            }
            Source::Spec(f) => {
                let plan = labels::plan(&union, fam.labels);
                let mut sink = Sink::new(out, fam, &plan);
                for (row, base) in rows.iter().zip(&bases) {
                    if row.removed {
                        continue;
                    }
                    sink.base = base;
                    f(&row.entry.spec, &mut sink);
                    after_family(sink.out);
                }
            }
            Source::Machine(f) => {
                let plan = labels::plan(&machine_names, fam.labels);
                let mut sink = Sink::new(out, fam, &plan);
                sink.base = &machine_base;
                sink.ts_ms = (!m.timestamp.is_zero())
                    .then(|| m.timestamp.as_unix_nanos().div_euclid(1_000_000));
                f(m, &mut sink);
            }
            Source::Version => {
                let plan = labels::plan(&[], fam.labels);
                let mut sink = Sink::new(out, fam, &plan);
                sink.base = &no_base;
                let v = &snapshot.version;
                sink.put(
                    &[
                        &v.kernel_version,
                        &v.container_os_version,
                        &v.docker_version,
                        &v.cadvisor_version,
                        &v.cadvisor_revision,
                    ],
                    1.0,
                );
            }
            Source::ScrapeError => {
                let plan = labels::plan(&[], &[]);
                let mut sink = Sink::new(out, fam, &plan);
                sink.base = &no_base;
                sink.put(&[], 0.0);
            }
        }
    }
    for (name, samples) in app_iter {
        write_app_family(out, name, samples, &rows, &union);
    }
}

/// One exported container with everything rendering needs, read once.
struct Row<'a> {
    entry: &'a ContainerEntry,
    stats: Option<Arc<ContainerStats>>,
    /// Deleted within the retention window and OOM-killed: only its OOM counter is exported.
    removed: bool,
    /// Sanitised base label name → value.
    labels: BTreeMap<String, String>,
}

fn rows<'a>(snapshot: &'a Snapshot, cfg: &MetricsConfig, sel: Selection) -> Vec<Row<'a>> {
    let wanted = |e: &ContainerEntry| match sel {
        Selection::All => true,
        Selection::Runtime(ns) => e.reference.namespace == ns,
    };
    let live = snapshot.containers.values().map(|e| (e, false));
    // A removed container whose name is live again (recreated cgroup) would duplicate series; one
    // that was never OOM-killed has nothing left to report.
    let removed = snapshot
        .recently_removed
        .iter()
        .filter(|e| !snapshot.containers.contains_key(e.name()) && e.samples.oom_kills() > 0)
        .map(|e| (e, true));
    let include_oom = cfg.kinds.has(MetricKind::OomEvent);
    live.chain(removed)
        .filter(|(e, removed)| wanted(e) && (!removed || include_oom))
        .map(|(e, removed)| Row {
            entry: e,
            stats: e.samples.latest(),
            removed,
            labels: labels::container_labels(e, cfg),
        })
        .collect()
}

/// Application-metric families by name: (row index, metric) pairs.
type AppFamilies<'a> = BTreeMap<&'a str, Vec<(usize, &'a crate::model::v1::MetricVal)>>;

fn app_families<'a>(rows: &'a [Row<'a>], cfg: &MetricsConfig) -> AppFamilies<'a> {
    let mut map: AppFamilies<'a> = BTreeMap::new();
    if !cfg.kinds.has(MetricKind::App) {
        return map;
    }
    for (i, r) in rows.iter().enumerate() {
        if r.removed {
            continue;
        }
        let Some(s) = &r.stats else { continue };
        for (name, vals) in s.custom_metrics.iter() {
            // Dynamic names must not shadow a table family.
            if FAMILIES.iter().any(|f| f.name == name) {
                continue;
            }
            map.entry(name.as_str())
                .or_default()
                .extend(vals.iter().map(|v| (i, v)));
        }
    }
    map
}

/// App families have per-sample label sets, so they take the slow generic path.
fn write_app_family(
    out: &mut Vec<u8>,
    name: &str,
    samples: &[(usize, &crate::model::v1::MetricVal)],
    rows: &[Row],
    union: &[String],
) {
    text::write_header(out, name, APP_HELP, "gauge");
    for (i, v) in samples {
        let row = &rows[*i];
        let mut pairs: Vec<(String, &str)> = union
            .iter()
            .map(|n| (n.clone(), row.labels.get(n).map_or("", String::as_str)))
            .collect();
        for (k, val) in &v.labels {
            let n = text::sanitize_label_name(&format!("app_{k}"));
            if !pairs.iter().any(|(p, _)| *p == n) {
                pairs.push((n, val));
            }
        }
        pairs.sort();
        out.extend_from_slice(name.as_bytes());
        if !pairs.is_empty() {
            out.push(b'{');
            for (j, (n, val)) in pairs.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b"=\"");
                text::write_label_value(out, val);
                out.push(b'"');
            }
            out.push(b'}');
        }
        out.push(b' ');
        text::write_f64(out, v.float_value);
        out.push(b'\n');
    }
}

/// The table sorted by name (the Go client sorts families by name).
fn sorted_families() -> &'static [&'static Family] {
    static SORTED: OnceLock<Vec<&'static Family>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut v: Vec<&Family> = FAMILIES.iter().collect();
        v.sort_by_key(|f| f.name);
        v
    })
}

/// Where [`container_series`] has a family's samples go: extra label values and value.
type Collect<'a> = dyn FnMut(&[&str], f64) + 'a;

/// Writes the samples of one family; the HELP/TYPE header appears with the first sample (the Go
/// client drops families without samples).
pub struct Sink<'a> {
    out: &'a mut Vec<u8>,
    fam: &'a Family,
    plan: &'a [labels::Slot],
    base: &'a Base,
    ts_ms: Option<i64>,
    header_done: bool,
    /// Where the last sample's timestamp starts, for `fix_last_timestamp`.
    last_ts_at: Option<usize>,
    /// Set: samples go here (extra label values, value) instead of into the text.
    collect: Option<&'a mut Collect<'a>>,
}

impl<'a> Sink<'a> {
    fn new(out: &'a mut Vec<u8>, fam: &'a Family, plan: &'a [labels::Slot]) -> Self {
        static EMPTY: OnceLock<Base> = OnceLock::new();
        Sink {
            out,
            fam,
            plan,
            base: EMPTY.get_or_init(|| Base::new(&[], &BTreeMap::new())),
            ts_ms: None,
            header_done: false,
            last_ts_at: None,
            collect: None,
        }
    }

    /// One sample; `values` are the family's extra label values in declaration order.
    pub fn put(&mut self, values: &[&str], v: f64) {
        self.put_series("", true, values, v);
    }

    /// A histogram (family labels `["le"]`): `buckets` are (upper bound, cumulative count) in
    /// increasing order, the last one `+Inf`; then `_sum` and `_count`, without `le`.
    pub fn put_histogram(&mut self, buckets: &[(f64, u64)], sum: f64, count: u64) {
        let mut le = String::new();
        for (bound, n) in buckets {
            le.clear();
            if bound.is_infinite() {
                le.push_str("+Inf");
            } else {
                let mut b = Vec::new();
                text::write_f64(&mut b, *bound);
                le.push_str(&String::from_utf8_lossy(&b));
            }
            self.put_series("_bucket", true, &[&le], *n as f64);
        }
        self.put_series("_sum", false, &[], sum);
        self.put_series("_count", false, &[], count as f64);
    }

    fn put_series(&mut self, suffix: &str, with_labels: bool, values: &[&str], v: f64) {
        if let Some(collect) = self.collect.as_mut() {
            // Pushed series carry the family's own name: a histogram's `_bucket`/`_sum`/`_count`
            // series (the opt-in `runqueue` kind) are not pushed.
            if suffix.is_empty() {
                collect(values, v);
            }
            return;
        }
        if !self.header_done {
            text::write_header(self.out, self.fam.name, self.fam.help, self.fam.ty.as_str());
            self.header_done = true;
        }
        let out = &mut *self.out;
        out.extend_from_slice(self.fam.name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        let plan = if with_labels { self.plan } else { &[] };
        self.base.write_merged(out, plan, values);
        out.push(b' ');
        text::write_f64(out, v);
        self.last_ts_at = None;
        if let Some(ts) = self.ts_ms {
            out.push(b' ');
            self.last_ts_at = Some(out.len());
            text::write_i64(out, ts);
        }
        out.push(b'\n');
    }

    /// Rewrites the timestamp of the sample just written.
    fn fix_last_timestamp(&mut self, ts_ms: i64) {
        if let Some(at) = self.last_ts_at.take() {
            self.out.truncate(at);
            text::write_i64(self.out, ts_ms);
            self.out.push(b'\n');
        }
    }
}

/// The base labels of `entry`'s series (sanitised name → value), as on `/metrics`.
pub fn container_labels(entry: &ContainerEntry, cfg: &MetricsConfig) -> BTreeMap<String, String> {
    labels::container_labels(entry, cfg)
}

/// Every container series one sample of `entry` makes, as `/metrics` names and labels them, for
/// consumers that push samples rather than serve them (a remote-write driver): `emit` gets the
/// family, the values of its extra labels (`Family::labels`, in that order) and the sample's
/// value, family by family in name order.
/// Families of kinds `cfg` leaves out are skipped; spec families (`container_spec_*`,
/// `container_start_time_seconds`) come with every sample; `container_last_seen` is the sample's
/// time. Application metrics are not included.
pub fn container_series(
    entry: &ContainerEntry,
    stats: &ContainerStats,
    cfg: &MetricsConfig,
    emit: &mut dyn FnMut(&'static Family, &[&str], f64),
) {
    let mut scratch = Vec::new();
    for fam in sorted_families() {
        if fam.kind.is_some_and(|k| !cfg.kinds.has(k)) {
            continue;
        }
        let mut collect = |values: &[&str], v: f64| emit(fam, values, v);
        let mut sink = Sink::new(&mut scratch, fam, &[]);
        sink.collect = Some(&mut collect);
        match fam.source {
            Source::Stats(f) => f(
                &Ctx {
                    stats,
                    spec: &entry.spec,
                    percpu: cfg.kinds.has(MetricKind::PerCpu),
                    oom_kills: entry.samples.oom_kills(),
                    now_secs: stats.timestamp.as_unix_nanos().div_euclid(1_000_000_000),
                },
                &mut sink,
            ),
            Source::Spec(f) => f(&entry.spec, &mut sink),
            Source::Machine(_) | Source::Version | Source::ScrapeError => {}
        }
    }
}

/// Why a scrape's query string was rejected (the text follows cAdvisor's).
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("unknown 'type' {0:?}")]
    UnknownType(String),
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    BadCount(String),
    #[error("{0}")]
    BadMaxAge(String),
    #[error("{0}")]
    BadQuery(String),
}

/// Parses the v2 `RequestOptions` parameters cAdvisor honours on `/metrics`.
pub fn parse_options(
    q: &BTreeMap<String, String>,
) -> Result<(Selection, Option<Duration>), ScrapeError> {
    let sel = match q.get("type").map(String::as_str) {
        None | Some("name") => Selection::All,
        Some("docker") => Selection::Runtime("docker"),
        Some("podman") => Selection::Runtime("podman"),
        Some(other) => return Err(ScrapeError::UnknownType(other.to_string())),
    };
    if let Some(c) = q.get("count") {
        // `count` is forced to 1 afterwards, but cAdvisor still validates it.
        c.parse::<i64>()
            .map_err(|_| ScrapeError::BadCount(c.clone()))?;
    }
    let max_age = q
        .get("max_age")
        .map(|s| crate::config::parse_go_duration(s).map_err(ScrapeError::BadMaxAge))
        .transpose()?;
    Ok((sel, max_age))
}

#[derive(Clone)]
struct AppState {
    query: Arc<dyn Query>,
    cfg: Arc<MetricsConfig>,
}

/// `GET <endpoint>` serving the exposition for `query`'s snapshots.
pub fn router(query: Arc<dyn Query>, cfg: MetricsConfig) -> Router {
    let path = if cfg.endpoint.starts_with('/') {
        cfg.endpoint.clone()
    } else {
        format!("/{}", cfg.endpoint)
    };
    Router::new()
        .route(&path, get(handler))
        .with_state(AppState {
            query,
            cfg: Arc::new(cfg),
        })
}

async fn handler(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    params: Result<QueryParams<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let opts = params
        .map_err(|e| ScrapeError::BadQuery(e.body_text()))
        .and_then(|QueryParams(q)| parse_options(&q));
    let (sel, max_age) = match opts {
        Ok(o) => o,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("No metrics gathered, last error:\n\n{e}\n"),
            )
                .into_response();
        }
    };
    let snap = st.query.snapshot();
    let snap = match max_age {
        Some(age) => {
            let names = rows(&snap, &st.cfg, sel)
                .iter()
                .filter(|r| !r.removed)
                .map(|r| r.entry.name().to_string())
                .collect();
            st.query.fresh_snapshot(names, age).await
        }
        None => snap,
    };
    let cfg = st.cfg.clone();
    let gzip = accepts_gzip(&headers);
    // Encode off the async workers and stream the text in chunks: a 1000-container exposition is
    // tens of MB, and a slow client then holds a few chunks, not the whole text.
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    tokio::task::spawn_blocking(move || {
        let _t = crate::telemetry::global().time_scrape();
        let mut out = Output::new(tx, gzip);
        render_chunked(&snap, &cfg, sel, CHUNK, &mut |c| out.send(c));
        out.finish();
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::from(c)));
    let mut resp = (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            // Either body may be served for this URL: caches must key on the request's encoding.
            (header::VARY, "Accept-Encoding"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response();
    if gzip {
        resp.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    resp
}

/// Whether the request's `Accept-Encoding` lists `gzip` with a non-zero quality (Prometheus sends
/// `gzip` by default; cAdvisor then answers gzipped).
fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !zero
        })
}

/// Where a scrape's text goes: straight to the connection's channel, or through a streaming gzip
/// encoder whose output is sent whenever a chunk's worth is ready.
struct Output {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    gzip: Option<flate2::write::GzEncoder<Vec<u8>>>,
    /// The client went away: the rest is rendered (bounded work) but neither compressed nor sent.
    closed: bool,
}

impl Output {
    fn new(tx: tokio::sync::mpsc::Sender<Vec<u8>>, gzip: bool) -> Self {
        let gzip = gzip.then(|| {
            flate2::write::GzEncoder::new(
                Vec::with_capacity(GZIP_CHUNK + GZIP_CHUNK / 4),
                flate2::Compression::new(GZIP_LEVEL),
            )
        });
        Self {
            tx,
            gzip,
            closed: false,
        }
    }

    fn send(&mut self, text: Vec<u8>) {
        if self.closed {
            return;
        }
        let Some(enc) = &mut self.gzip else {
            self.closed = self.tx.blocking_send(text).is_err();
            return;
        };
        use std::io::Write as _;
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(&text);
        if enc.get_ref().len() >= GZIP_CHUNK {
            let full = std::mem::replace(
                enc.get_mut(),
                Vec::with_capacity(GZIP_CHUNK + GZIP_CHUNK / 4),
            );
            self.closed = self.tx.blocking_send(full).is_err();
        }
    }

    fn finish(self) {
        if self.closed {
            return;
        }
        if let Some(enc) = self.gzip
            && let Ok(rest) = enc.finish()
            && !rest.is_empty()
        {
            let _ = self.tx.blocking_send(rest);
        }
    }
}

/// Compressed bytes per streamed chunk.
const GZIP_CHUNK: usize = 64 * 1024;

/// gzip level 1: the exposition's repetitive text compresses ~10x even so, for a fraction of the
/// default level's CPU (see docs/performance.md, "gzip").
const GZIP_LEVEL: u32 = 1;

/// Bytes per streamed chunk.
const CHUNK: usize = 256 * 1024;

#[cfg(test)]
mod tests;
