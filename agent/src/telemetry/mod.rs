//! The agent's own telemetry as named events: each logs (rate-limited) and counts.
//!
//! Producers (event sources, housekeeping, the scrape handler) update lock-free atomics through
//! [`global()`]; `/metrics` encodes them as `bpfadvisor_*` families after cAdvisor's own families.
//! Nothing here allocates or locks on the update path. Producers emit the named events of
//! [`events`] (`EventsDropped { .. }.emit()`), which count here and log rate-limited.

pub mod events;

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::events::SourceKind;

/// Upper bounds (seconds) of the duration histograms: 100 µs .. 10 s, roughly ×2.5 per step.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

/// A fixed-bucket histogram of durations; updates are a few relaxed atomic adds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per-bucket (non-cumulative) counts; the last slot is `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Cumulative counts per bucket (the last is `+Inf`), the count and the sum in seconds.
    pub fn read(&self) -> ([u64; DURATION_BUCKETS.len() + 1], u64, f64) {
        let mut cum = [0u64; DURATION_BUCKETS.len() + 1];
        let mut acc = 0;
        for (c, b) in cum.iter_mut().zip(&self.buckets) {
            acc += b.load(Ordering::Relaxed);
            *c = acc;
        }
        // Report the bucket total as the count so `_count` always equals the `+Inf` bucket even
        // when an observation lands between the loads.
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (cum, acc, sum)
    }
}

/// Counters and gauges describing the agent itself.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// 0 = unknown, 1 = eBPF, 2 = inotify.
    event_source: AtomicU64,
    containers: AtomicI64,
    events_dropped: AtomicU64,
    housekeeping: Histogram,
    scrape: Histogram,
    creation_delay: Histogram,
    stream_delay: Histogram,
    http_auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    http_refused: [AtomicU64; Refusal::ALL.len()],
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

/// The process-wide telemetry instance.
pub fn global() -> &'static Telemetry {
    static T: OnceLock<Telemetry> = OnceLock::new();
    T.get_or_init(Telemetry::default)
}

impl Telemetry {
    pub fn set_event_source(&self, s: SourceKind) {
        let v = match s {
            SourceKind::Ebpf => 1,
            SourceKind::Inotify => 2,
        };
        self.event_source.store(v, Ordering::Relaxed);
    }

    pub fn event_source(&self) -> Option<SourceKind> {
        match self.event_source.load(Ordering::Relaxed) {
            1 => Some(SourceKind::Ebpf),
            2 => Some(SourceKind::Inotify),
            _ => None,
        }
    }

    /// Number of containers the registry currently tracks.
    pub fn set_containers(&self, n: usize) {
        self.containers
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Lifecycle/OOM events lost (ring buffer full, channel closed, inotify queue overflow).
    pub fn events_dropped(&self, n: u64) {
        self.events_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// One housekeeping pass over a container took `d`.
    pub fn housekeeping_done(&self, d: Duration) {
        self.housekeeping.observe(d);
    }

    /// A container creation was recorded `d` after the kernel (or the watcher) saw its cgroup made.
    pub fn creation_recorded(&self, d: Duration) {
        self.creation_delay.observe(d);
    }

    /// A watch handed an event to its client's connection `d` after it was recorded.
    pub fn event_streamed(&self, d: Duration) {
        self.stream_delay.observe(d);
    }

    /// A request failed authentication.
    pub fn http_auth_failed(&self, why: AuthFailure) {
        self.http_auth_failures[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A request or connection was refused by a limit.
    pub fn http_refused(&self, why: Refusal) {
        self.http_refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests that failed authentication for `why` since start.
    pub fn http_auth_failures(&self, why: AuthFailure) -> u64 {
        self.http_auth_failures[why as usize].load(Ordering::Relaxed)
    }

    /// One `/metrics` render took `d`.
    pub fn scrape_done(&self, d: Duration) {
        self.scrape.observe(d);
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
        let source = source.or_else(|| self.event_source());
        let containers = containers.map_or_else(
            || self.containers.load(Ordering::Relaxed),
            |n| i64::try_from(n).unwrap_or(i64::MAX),
        );
        // Writes into a Vec cannot fail.
        let _ = self.encode_inner(source, containers, out);
    }

    fn encode_inner(
        &self,
        source: Option<SourceKind>,
        containers: i64,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        writeln!(
            out,
            "# HELP bpfadvisor_containers Number of containers the agent tracks.\n\
             # TYPE bpfadvisor_containers gauge\n\
             bpfadvisor_containers {containers}"
        )?;
        writeln!(
            out,
            "# HELP bpfadvisor_event_source Which producer feeds container lifecycle and OOM events (1 for the active one).\n\
             # TYPE bpfadvisor_event_source gauge"
        )?;
        for s in [SourceKind::Ebpf, SourceKind::Inotify] {
            let v = u8::from(source == Some(s));
            writeln!(
                out,
                "bpfadvisor_event_source{{source=\"{}\"}} {v}",
                s.as_str()
            )?;
        }
        writeln!(
            out,
            "# HELP bpfadvisor_events_dropped_total Lifecycle and OOM events lost before reaching the registry.\n\
             # TYPE bpfadvisor_events_dropped_total counter\n\
             bpfadvisor_events_dropped_total {}",
            self.events_dropped.load(Ordering::Relaxed)
        )?;
        encode_histogram(
            out,
            "bpfadvisor_housekeeping_duration_seconds",
            "Duration of one container housekeeping pass.",
            &self.housekeeping,
        )?;
        encode_histogram(
            out,
            "bpfadvisor_scrape_duration_seconds",
            "Duration of rendering one /metrics response.",
            &self.scrape,
        )?;
        encode_histogram(
            out,
            "bpfadvisor_creation_event_delay_seconds",
            "Time from the kernel (eBPF) or the watcher (inotify) seeing a container's cgroup made to its containerCreation event being recorded and handed to event streams.",
            &self.creation_delay,
        )?;
        encode_histogram(
            out,
            "bpfadvisor_event_stream_delay_seconds",
            "Time from an event being recorded to its line being handed to a streaming client's connection.",
            &self.stream_delay,
        )?;
        writeln!(
            out,
            "# HELP bpfadvisor_http_auth_failures_total HTTP requests refused for missing or invalid credentials.\n\
             # TYPE bpfadvisor_http_auth_failures_total counter"
        )?;
        for r in AuthFailure::ALL {
            writeln!(
                out,
                "bpfadvisor_http_auth_failures_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.http_auth_failures[r as usize].load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP bpfadvisor_http_requests_refused_total HTTP requests and connections refused by a request limit.\n\
             # TYPE bpfadvisor_http_requests_refused_total counter"
        )?;
        for r in Refusal::ALL {
            writeln!(
                out,
                "bpfadvisor_http_requests_refused_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.http_refused[r as usize].load(Ordering::Relaxed)
            )?;
        }
        Ok(())
    }
}

fn encode_histogram(
    out: &mut Vec<u8>,
    name: &str,
    help: &str,
    h: &Histogram,
) -> std::io::Result<()> {
    writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram")?;
    let (cum, count, sum) = h.read();
    for (b, c) in DURATION_BUCKETS.iter().zip(&cum) {
        writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}")?;
    }
    writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}")?;
    writeln!(out, "{name}_sum {sum}\n{name}_count {count}")
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
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(s.contains("bpfadvisor_housekeeping_duration_seconds_count 3\n"));
        assert!(s.contains("bpfadvisor_events_dropped_total 2\n"));
        assert!(s.contains("bpfadvisor_containers 7\n"));
        assert!(s.contains("bpfadvisor_event_source{source=\"inotify\"} 1\n"));
        assert!(s.contains("bpfadvisor_event_source{source=\"ebpf\"} 0\n"));
        assert!(s.contains("bpfadvisor_scrape_duration_seconds_count 0\n"));
        assert!(s.contains("bpfadvisor_creation_event_delay_seconds_count 0\n"));
        assert!(s.contains("bpfadvisor_event_stream_delay_seconds_count 0\n"));
        assert!(s.contains("bpfadvisor_http_auth_failures_total{reason=\"missing\"} 0\n"));
        assert!(s.contains("bpfadvisor_http_requests_refused_total{reason=\"auth_busy\"} 0\n"));
    }
}
