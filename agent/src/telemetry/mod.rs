//! The agent's own telemetry as named events: each logs (rate-limited) and counts.
//!
//! Producers (event sources, housekeeping, the scrape handler) update the `prometheus-client`
//! metrics of [`global()`] (atomics: no lock and no allocation on the update path); `/metrics`
//! appends them as `bpfadvisor_*` families after cAdvisor's own. Producers emit the named events of
//! [`events`] (`EventsDropped { .. }.emit()`), which count here and log rate-limited.

pub mod events;
pub mod log_writer;

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::events::SourceKind;

/// Upper bounds (seconds) of the duration histograms: 100 µs .. 10 s, roughly ×2.5 per step.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// Counters, gauges and histograms describing the agent itself, in a `prometheus-client` registry.
///
/// The registry only encodes; updates go straight to the metric handles (atomics, no lock).
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    event_source: Family<SourceLabel, Gauge>,
    containers: Gauge,
    events_dropped: Counter,
    housekeeping: Histogram,
    scrape: Histogram,
    creation_delay: Histogram,
    stream_delay: Histogram,
    http_auth_failures: Family<ReasonLabel, Counter>,
    http_refused: Family<ReasonLabel, Counter>,
    subscriber_dropped: Family<SubscriberLabel, Counter>,
    storage: StorageFamilies,
    ebpf_errors: Family<EbpfErrorLabel, Counter>,
    loss_rescans: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EbpfErrorLabel {
    program: &'static str,
    error: &'static str,
}

/// The per-driver families of the storage drivers (`bpfadvisor_storage_*{driver}`).
#[derive(Debug, Default)]
struct StorageFamilies {
    sent: Family<DriverLabel, Counter>,
    dropped: Family<DriverLabel, Counter>,
    failures: Family<DriverLabel, Counter>,
    queued: Family<DriverLabel, Gauge>,
    up: Family<DriverLabel, Gauge>,
    last_error: Family<DriverLabel, Gauge<f64, AtomicU64>>,
    last_success: Family<DriverLabel, Gauge<f64, AtomicU64>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriverLabel {
    driver: &'static str,
}

/// One storage driver's metrics: handles into the families, updated without a lock.
#[derive(Debug, Clone, Default)]
pub struct StorageMetrics {
    /// Samples written to the driver's backend.
    pub sent: Counter,
    /// Samples lost: the driver's queue was full, or shutdown's deadline passed before they went.
    pub dropped: Counter,
    /// Send attempts that failed.
    pub failures: Counter,
    /// Samples waiting to be sent.
    pub queued: Gauge,
    /// 1 while the last send succeeded (0 before the first and while failing).
    pub up: Gauge,
    /// Unix time of the last failed send (0: none yet).
    pub last_error: Gauge<f64, AtomicU64>,
    /// Unix time of the last successful send (0: none yet).
    pub last_success: Gauge<f64, AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubscriberLabel {
    subscriber: &'static str,
}

/// Why a request failed authentication (`bpfadvisor_http_auth_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No usable credentials (no `Authorization` header, another scheme, no client certificate).
    Missing,
    /// Credentials that did not verify.
    Invalid,
}

impl AuthFailure {
    pub const ALL: [Self; 2] = [Self::Missing, Self::Invalid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
        }
    }
}

/// Why a request or connection was refused by a limit (`bpfadvisor_http_requests_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A request body over the size limit (413).
    BodyTooLarge,
    /// A client too slow with its TLS handshake, headers (connection closed) or body (408).
    SlowClient,
    /// `count`, `num_stats` or `max_events` over the limit (400).
    Count,
    /// An end time before the start time (400).
    TimeRange,
    /// Too many event streams open (429).
    EventStreams,
    /// The connection limit was reached (accepting paused).
    Connections,
    /// Too many password checks waiting (503).
    AuthBusy,
}

impl Refusal {
    pub const ALL: [Self; 7] = [
        Self::BodyTooLarge,
        Self::SlowClient,
        Self::Count,
        Self::TimeRange,
        Self::EventStreams,
        Self::Connections,
        Self::AuthBusy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BodyTooLarge => "body_too_large",
            Self::SlowClient => "slow_client",
            Self::Count => "count",
            Self::TimeRange => "time_range",
            Self::EventStreams => "event_streams",
            Self::Connections => "connections",
            Self::AuthBusy => "auth_busy",
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        let histogram = || Histogram::new(DURATION_BUCKETS);
        let t = Self {
            registry: Registry::default(),
            event_source: Family::default(),
            containers: Gauge::default(),
            events_dropped: Counter::default(),
            housekeeping: histogram(),
            scrape: histogram(),
            creation_delay: histogram(),
            stream_delay: histogram(),
            http_auth_failures: Family::default(),
            http_refused: Family::default(),
            subscriber_dropped: Family::default(),
            storage: StorageFamilies::default(),
            ebpf_errors: Family::default(),
            loss_rescans: Counter::default(),
        };
        // Every series exists from the start, so a dashboard sees 0 rather than nothing.
        for s in [SourceKind::Ebpf, SourceKind::Inotify] {
            let _ = t
                .event_source
                .get_or_create(&SourceLabel { source: s.as_str() });
        }
        for r in AuthFailure::ALL {
            let _ = t
                .http_auth_failures
                .get_or_create(&ReasonLabel { reason: r.as_str() });
        }
        for p in crate::events::ebpf::errors::PROGRAMS {
            for (_, error) in crate::events::ebpf::errors::ERRORS {
                let program = p.label;
                let _ = t
                    .ebpf_errors
                    .get_or_create(&EbpfErrorLabel { program, error });
            }
        }
        for r in Refusal::ALL {
            let _ = t
                .http_refused
                .get_or_create(&ReasonLabel { reason: r.as_str() });
        }
        let mut t = t;
        t.register();
        t
    }
}

/// The process-wide telemetry instance.
pub fn global() -> &'static Telemetry {
    static T: OnceLock<Telemetry> = OnceLock::new();
    T.get_or_init(Telemetry::default)
}

impl Telemetry {
    /// Counters are registered without `_total`: prometheus-client appends it to the samples.
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "bpfadvisor_containers",
            "Number of containers the agent tracks",
            self.containers.clone(),
        );
        r.register(
            "bpfadvisor_event_source",
            "Which producer feeds container lifecycle and OOM events (1 for the active one)",
            self.event_source.clone(),
        );
        r.register(
            "bpfadvisor_events_dropped",
            "Lifecycle and OOM events lost before reaching the registry",
            self.events_dropped.clone(),
        );
        r.register(
            "bpfadvisor_housekeeping_duration_seconds",
            "Duration of one container housekeeping pass",
            self.housekeeping.clone(),
        );
        r.register(
            "bpfadvisor_scrape_duration_seconds",
            "Duration of rendering one /metrics response",
            self.scrape.clone(),
        );
        r.register(
            "bpfadvisor_creation_event_delay_seconds",
            "Time from the kernel (eBPF) or the watcher (inotify) seeing a container's cgroup made to its containerCreation event being recorded and handed to event streams",
            self.creation_delay.clone(),
        );
        r.register(
            "bpfadvisor_event_stream_delay_seconds",
            "Time from an event being recorded to its line being handed to a streaming client's connection",
            self.stream_delay.clone(),
        );
        r.register(
            "bpfadvisor_http_auth_failures",
            "HTTP requests refused for missing or invalid credentials",
            self.http_auth_failures.clone(),
        );
        r.register(
            "bpfadvisor_http_requests_refused",
            "HTTP requests and connections refused by a request limit",
            self.http_refused.clone(),
        );
        r.register(
            "bpfadvisor_subscriber_dropped",
            "Samples and events a subscriber of the feed lost by falling behind (counted when it next receives)",
            self.subscriber_dropped.clone(),
        );
        r.register(
            "bpfadvisor_ebpf_errors",
            "What the eBPF programs could not do, by program and error: ring_buffer_full (a record lost because the reader was behind), kernel_read_failed (a kernel structure not as expected; no record)",
            self.ebpf_errors.clone(),
        );
        r.register(
            "bpfadvisor_event_loss_rescans",
            "Rescans of the cgroup tree made at once because an event producer lost lifecycle events",
            self.loss_rescans.clone(),
        );
        let s = &self.storage;
        r.register(
            "bpfadvisor_storage_sent",
            "Samples a storage driver wrote to its backend",
            s.sent.clone(),
        );
        r.register(
            "bpfadvisor_storage_dropped",
            "Samples a storage driver lost: its queue was full (the oldest go) or shutdown's flush deadline passed",
            s.dropped.clone(),
        );
        r.register(
            "bpfadvisor_storage_send_failures",
            "Failed attempts of a storage driver to write a batch to its backend (each is retried)",
            s.failures.clone(),
        );
        r.register(
            "bpfadvisor_storage_queue_depth",
            "Samples waiting in a storage driver's queue",
            s.queued.clone(),
        );
        r.register(
            "bpfadvisor_storage_up",
            "Whether a storage driver's last write to its backend succeeded (0 before the first)",
            s.up.clone(),
        );
        r.register(
            "bpfadvisor_storage_last_error_timestamp_seconds",
            "Unix time of a storage driver's last failed write (0: none)",
            s.last_error.clone(),
        );
        r.register(
            "bpfadvisor_storage_last_success_timestamp_seconds",
            "Unix time of a storage driver's last successful write (0: none)",
            s.last_success.clone(),
        );
    }

    /// The metrics of the storage driver `driver`, every series created (at 0) so it is exported
    /// from the driver's start.
    pub fn storage(&self, driver: &'static str) -> StorageMetrics {
        let l = DriverLabel { driver };
        let s = &self.storage;
        StorageMetrics {
            sent: s.sent.get_or_create(&l).clone(),
            dropped: s.dropped.get_or_create(&l).clone(),
            failures: s.failures.get_or_create(&l).clone(),
            queued: s.queued.get_or_create(&l).clone(),
            up: s.up.get_or_create(&l).clone(),
            last_error: s.last_error.get_or_create(&l).clone(),
            last_success: s.last_success.get_or_create(&l).clone(),
        }
    }

    pub fn set_event_source(&self, s: SourceKind) {
        for k in [SourceKind::Ebpf, SourceKind::Inotify] {
            let v = i64::from(k == s);
            self.event_source
                .get_or_create(&SourceLabel { source: k.as_str() })
                .set(v);
        }
    }

    pub fn event_source(&self) -> Option<SourceKind> {
        [SourceKind::Ebpf, SourceKind::Inotify]
            .into_iter()
            .find(|k| {
                self.event_source
                    .get_or_create(&SourceLabel { source: k.as_str() })
                    .get()
                    == 1
            })
    }

    /// Number of containers the registry currently tracks.
    pub fn set_containers(&self, n: usize) {
        self.containers.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Lifecycle/OOM events lost (ring buffer full, channel closed, inotify queue overflow).
    pub fn events_dropped(&self, n: u64) {
        self.events_dropped.inc_by(n);
    }

    /// eBPF program `program` counted `n` more errors of kind `error`.
    pub fn ebpf_errors(&self, program: &'static str, error: &'static str, n: u64) {
        self.ebpf_errors
            .get_or_create(&EbpfErrorLabel { program, error })
            .inc_by(n);
    }

    /// The registry rescanned because a producer lost events.
    pub fn loss_rescanned(&self) {
        self.loss_rescans.inc();
    }

    /// Rescans made because a producer lost events, since start.
    pub fn loss_rescans(&self) -> u64 {
        self.loss_rescans.get()
    }

    /// One housekeeping pass over a container took `d`.
    pub fn housekeeping_done(&self, d: Duration) {
        self.housekeeping.observe(d.as_secs_f64());
    }

    /// A container creation was recorded `d` after the kernel (or the watcher) saw its cgroup made.
    pub fn creation_recorded(&self, d: Duration) {
        self.creation_delay.observe(d.as_secs_f64());
    }

    /// A watch handed an event to its client's connection `d` after it was recorded.
    pub fn event_streamed(&self, d: Duration) {
        self.stream_delay.observe(d.as_secs_f64());
    }

    /// A request failed authentication.
    pub fn http_auth_failed(&self, why: AuthFailure) {
        self.http_auth_failures
            .get_or_create(&ReasonLabel {
                reason: why.as_str(),
            })
            .inc();
    }

    /// The drop counter of the feed subscriber `name` (created at 0 so it is exported from the start).
    pub fn subscriber_dropped(&self, name: &'static str) -> Counter {
        self.subscriber_dropped
            .get_or_create(&SubscriberLabel { subscriber: name })
            .clone()
    }

    /// A request or connection was refused by a limit.
    pub fn http_refused(&self, why: Refusal) {
        self.http_refused
            .get_or_create(&ReasonLabel {
                reason: why.as_str(),
            })
            .inc();
    }

    /// Requests that failed authentication for `why` since start.
    pub fn http_auth_failures(&self, why: AuthFailure) -> u64 {
        self.http_auth_failures
            .get_or_create(&ReasonLabel {
                reason: why.as_str(),
            })
            .get()
    }

    /// One `/metrics` render took `d`.
    pub fn scrape_done(&self, d: Duration) {
        self.scrape.observe(d.as_secs_f64());
    }

    /// Times a scope and records it as a scrape when dropped.
    pub fn time_scrape(&self) -> ScrapeTimer<'_> {
        ScrapeTimer {
            t: self,
            start: Instant::now(),
        }
    }

    /// Appends the `bpfadvisor_*` families in Prometheus text format 0.0.4. `source` and
    /// `containers` override the recorded values (a snapshot knows both first-hand).
    pub fn encode(&self, source: Option<SourceKind>, containers: Option<usize>, out: &mut Vec<u8>) {
        if let Some(s) = source {
            self.set_event_source(s);
        }
        if let Some(n) = containers {
            self.set_containers(n);
        }
        let mut text = String::with_capacity(4096);
        // Writes into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry);
        out.extend_from_slice(openmetrics_as_text_004(&text).as_bytes());
    }
}

/// prometheus-client writes OpenMetrics text; the `/metrics` stream it is appended to is text
/// format 0.0.4 (cAdvisor's). The sample lines are the same in both; the metadata differs for
/// counters, whose family is named without `_total` in OpenMetrics and with it in 0.0.4, and
/// 0.0.4 has no `# UNIT` or `# EOF` lines.
fn openmetrics_as_text_004(text: &str) -> String {
    let counters: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len() + 16 * counters.len());
    for line in text.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(&name) {
                    "_total"
                } else {
                    ""
                };
                out.push_str(prefix);
                out.push_str(name);
                out.push_str(suffix);
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Records the elapsed time as a scrape duration on drop.
pub struct ScrapeTimer<'a> {
    t: &'a Telemetry,
    start: Instant,
}

impl Drop for ScrapeTimer<'_> {
    fn drop(&mut self) {
        self.t.scrape_done(self.start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_encodes() {
        let t = Telemetry::default();
        t.housekeeping_done(Duration::from_micros(50));
        t.housekeeping_done(Duration::from_millis(3));
        t.housekeeping_done(Duration::from_secs(20));
        t.events_dropped(2);
        t.set_containers(7);
        t.set_event_source(SourceKind::Inotify);
        let mut out = Vec::new();
        t.encode(None, None, &mut out);
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_bucket{le=\"10.0\"} 2\n"));
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_count 3\n"));
        assert!(s.contains("bpfadvisor_events_dropped_total 2\n"));
        assert!(s.contains("bpfadvisor_containers 7\n"));
        assert!(s.contains("bpfadvisor_event_source{source=\"inotify\"} 1\n"));
        assert!(s.contains("bpfadvisor_event_source{source=\"ebpf\"} 0\n"));
        assert!(s.contains("bpfadvisor_scrape_duration_seconds_count 0\n"));
        assert!(s.contains("bpfadvisor_creation_event_delay_seconds_count 0\n"));
        assert!(s.contains("bpfadvisor_event_stream_delay_seconds_count 0\n"));
        assert!(s.contains("# TYPE bpfadvisor_events_dropped_total counter\n"));
        assert!(s.contains("# HELP bpfadvisor_events_dropped_total Lifecycle"));
        assert!(!s.contains("_total_total"));
        assert!(!s.contains("# EOF"));
        assert!(s.contains("bpfadvisor_http_auth_failures_total{reason=\"missing\"} 0\n"));
        assert!(s.contains("bpfadvisor_http_requests_refused_total{reason=\"auth_busy\"} 0\n"));
        assert!(s.contains(
            "bpfadvisor_ebpf_errors_total{program=\"cgroup_mkdir\",error=\"ring_buffer_full\"} 0\n"
        ));
        assert!(s.contains("bpfadvisor_event_loss_rescans_total 0\n"));
        t.subscriber_dropped("stdout").inc_by(3);
        let mut out = Vec::new();
        t.encode(None, None, &mut out);
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.contains("# TYPE bpfadvisor_subscriber_dropped_total counter\n"));
        assert!(s.contains("bpfadvisor_subscriber_dropped_total{subscriber=\"stdout\"} 3\n"));
        let m = t.storage("influxdb");
        m.sent.inc_by(5);
        m.last_error.set(1.5);
        let mut out = Vec::new();
        t.encode(None, None, &mut out);
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.contains("# TYPE bpfadvisor_storage_sent_total counter\n"));
        assert!(s.contains("bpfadvisor_storage_sent_total{driver=\"influxdb\"} 5\n"));
        assert!(s.contains("bpfadvisor_storage_dropped_total{driver=\"influxdb\"} 0\n"));
        assert!(s.contains("bpfadvisor_storage_queue_depth{driver=\"influxdb\"} 0\n"));
        assert!(s.contains("bpfadvisor_storage_up{driver=\"influxdb\"} 0\n"));
        assert!(
            s.contains(
                "bpfadvisor_storage_last_error_timestamp_seconds{driver=\"influxdb\"} 1.5\n"
            ),
            "{s}"
        );
    }
}
