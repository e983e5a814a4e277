//! Named events: one struct per occurrence; `emit()` counts it and logs at most once per interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::events::SourceKind;

use super::global;

/// Allows one log line per `every` seconds per call site.
pub struct RateLimit {
    every_secs: u64,
    last: AtomicU64,
}

impl RateLimit {
    pub const fn new(every_secs: u64) -> Self {
        Self {
            every_secs,
            last: AtomicU64::new(0),
        }
    }

    /// `true` when the caller may log now.
    pub fn allow(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last.load(Ordering::Relaxed);
        now >= last.saturating_add(self.every_secs)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A producer lost lifecycle/OOM events (ring buffer full, inotify queue overflow, closed channel).
pub struct EventsDropped {
    pub source: SourceKind,
    pub count: u64,
}

impl EventsDropped {
    pub fn emit(self) {
        static LOG: RateLimit = RateLimit::new(10);
        global().events_dropped(self.count);
        if LOG.allow() {
            tracing::warn!(
                source = self.source.as_str(),
                count = self.count,
                "container events dropped; a rescan will catch up"
            );
        }
    }
}

/// An eBPF program counted `count` more errors (read from its counters; the program logs them
/// itself, sparsely). Lost records are also lifecycle/OOM events dropped.
pub struct EbpfErrorsCounted {
    pub program: &'static str,
    pub error: &'static str,
    pub count: u64,
}

impl EbpfErrorsCounted {
    pub fn emit(self) {
        global().ebpf_errors(self.program, self.error, self.count);
        if self.error == "ring_buffer_full" {
            global().events_dropped(self.count);
        }
    }
}

/// A producer lost lifecycle events and the registry rescanned the cgroup tree at once, recording
/// the creations and deletions the lost events would have brought. One log line per minute at most
/// (a storm makes many rescans; all are counted).
pub struct EventLossRescanned {
    pub reason: &'static str,
    pub creations: u64,
    pub deletions: u64,
}

impl EventLossRescanned {
    pub fn emit(self) {
        static LOG: RateLimit = RateLimit::new(60);
        global().loss_rescanned();
        if LOG.allow() {
            tracing::warn!(
                reason = self.reason,
                creations = self.creations,
                deletions = self.deletions,
                rescans = global().loss_rescans(),
                "container events lost; rescanned the cgroup tree at once and recorded the missing \
                 creations and deletions (further rescans counted in \
                 bpfadvisor_event_loss_rescans_total, logged at most once a minute)"
            );
        }
    }
}

/// The active event source changed (start-up, or eBPF failed and inotify took over).
pub struct EventSourceSelected {
    pub source: SourceKind,
}

impl EventSourceSelected {
    pub fn emit(self) {
        global().set_event_source(self.source);
        tracing::info!(source = self.source.as_str(), "container event source");
    }
}

/// A container's creation event was recorded (and handed to event streams).
pub struct CreationRecorded {
    /// When the kernel or the watcher saw the cgroup made.
    pub seen: SystemTime,
}

impl CreationRecorded {
    pub fn emit(self) {
        // A clock step backwards makes the delay 0 rather than failing.
        let delay = SystemTime::now()
            .duration_since(self.seen)
            .unwrap_or_default();
        global().creation_recorded(delay);
    }
}

/// A watch handed an event to its client's connection `delay` after the event was recorded.
pub struct EventStreamed {
    pub delay: Duration,
}

impl EventStreamed {
    pub fn emit(self) {
        global().event_streamed(self.delay);
    }
}

/// One housekeeping pass over one container finished.
pub struct HousekeepingDone {
    pub duration: Duration,
}

impl HousekeepingDone {
    pub fn emit(self) {
        global().housekeeping_done(self.duration);
    }
}

/// An HTTP request failed authentication. Logs the peer and path only: never a user name, password,
/// token or header.
pub struct AuthFailed<'a> {
    pub reason: super::AuthFailure,
    pub peer: Option<std::net::SocketAddr>,
    pub path: &'a str,
}

impl AuthFailed<'_> {
    pub fn emit(self) {
        static LOG: RateLimit = RateLimit::new(10);
        global().http_auth_failed(self.reason);
        if LOG.allow() {
            tracing::info!(
                reason = self.reason.as_str(),
                peer = ?self.peer,
                path = self.path,
                "HTTP request refused: authentication failed (further ones counted, not logged, for 10s)"
            );
        }
    }
}

/// A request or connection was refused by a request limit.
pub struct RequestRefused {
    pub reason: super::Refusal,
}

impl RequestRefused {
    pub fn emit(self) {
        static LOG: RateLimit = RateLimit::new(10);
        global().http_refused(self.reason);
        if LOG.allow() {
            tracing::info!(
                reason = self.reason.as_str(),
                "HTTP request refused by a limit (further ones counted, not logged, for 10s)"
            );
        }
    }
}

/// A feed subscriber fell behind and lost `lost` samples and events (already gone from the ring).
pub struct SubscriberLagged<'a> {
    pub subscriber: &'static str,
    pub lost: u64,
    /// The subscriber's own series of `bpfadvisor_subscriber_dropped_total`.
    pub counter: &'a prometheus_client::metrics::counter::Counter,
}

impl SubscriberLagged<'_> {
    pub fn emit(self) {
        static LOG: RateLimit = RateLimit::new(60);
        self.counter.inc_by(self.lost);
        if LOG.allow() {
            tracing::warn!(
                subscriber = self.subscriber,
                lost = self.lost,
                "a feed subscriber fell behind and lost samples (counted in bpfadvisor_subscriber_dropped_total, logged at most once a minute)"
            );
        }
    }
}

/// The registry's container count changed.
pub struct ContainersTracked {
    pub count: usize,
}

impl ContainersTracked {
    pub fn emit(self) {
        global().set_containers(self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_once_per_interval() {
        let r = RateLimit::new(3600);
        assert!(r.allow());
        assert!(!r.allow());
    }
}
