//! The stats cache: each container's sample history, owned by the registry.
//!
//! Housekeeping appends samples and the owner records health and OOM counts; those writes are
//! private to `registry/`. Consumers get the same [`Samples`] through a snapshot's entries (it is
//! re-exported by `query`) and can only read it: the newest sample, a range, the derived summary,
//! the OOM count. A history is shared by successive snapshots of its container, so a new sample
//! is visible without publishing a new snapshot; readers take a short lock and clone `Arc`s out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::model::compact;
use crate::model::json::Timestamp;
use crate::model::summary::SummaryTracker;
use crate::model::v1::{ContainerSpec, ContainerStats};
use crate::model::v2::DerivedStats;

/// The sample history of one container, bounded by `--storage_duration`.
///
/// The newest sample is kept as a struct (metrics and most API calls read only it); older ones are
/// kept in the compact in-memory encoding (`model::compact`, ~400 bytes instead of ~1.6 KB) and
/// decoded when history is asked for, which is rare next to sampling.
#[derive(Debug)]
pub struct Samples {
    ring: Mutex<Ring>,
    /// OOM kills seen in this container since the agent started (survives container deletion for
    /// the retention window because the entry does).
    oom_kills: AtomicU64,
}

#[derive(Debug)]
struct Ring {
    max_age: Duration,
    /// Older samples, oldest first: (timestamp, compact encoding).
    older: VecDeque<(Timestamp, Box<[u8]>)>,
    newest: Option<Arc<ContainerStats>>,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
    /// Minute/hour/day usage percentiles; `None` when the container has neither cpu nor memory.
    summary: Option<SummaryTracker>,
    /// The runtime's health check status (`healthy`, `unhealthy`, `starting`, or empty).
    health: String,
}

impl Samples {
    /// An empty history for a container with `spec`, keeping samples for `max_age`.
    pub(in crate::registry) fn new(max_age: Duration, spec: &ContainerSpec) -> Self {
        Self {
            ring: Mutex::new(Ring {
                max_age,
                older: VecDeque::new(),
                newest: None,
                scratch: Vec::new(),
                summary: SummaryTracker::for_spec(spec),
                health: String::new(),
            }),
            oom_kills: AtomicU64::new(0),
        }
    }

    /// A finished history (`series` oldest first, `oom_kills` counted), for fixtures and fake
    /// snapshots: it is built as the registry builds one, and nothing can append to it afterwards.
    pub fn fixed(
        max_age: Duration,
        spec: &ContainerSpec,
        series: impl IntoIterator<Item = Arc<ContainerStats>>,
        oom_kills: u64,
    ) -> Self {
        let s = Self::new(max_age, spec);
        for stats in series {
            s.push(stats);
        }
        s.oom_kills.store(oom_kills, Ordering::Relaxed);
        s
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Every mutation below leaves the ring consistent between statements, so a lock poisoned
        // by a panicking holder is still usable.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a sample and drops samples older than the retention window (relative to the newest).
    pub(in crate::registry) fn push(&self, stats: Arc<ContainerStats>) {
        let mut guard = self.lock();
        let r = &mut *guard;
        let ts = stats.timestamp;
        if let Some(t) = r.summary.as_mut() {
            t.add_stats(&stats);
        }
        if let Some(prev) = r.newest.replace(stats) {
            r.scratch.clear();
            compact::encode(&*prev, &mut r.scratch);
            r.older
                .push_back((prev.timestamp, r.scratch.as_slice().into()));
        }
        let horizon = ts
            .as_unix_nanos()
            .saturating_sub(r.max_age.as_nanos() as i64);
        while r
            .older
            .front()
            .is_some_and(|(t, _)| t.as_unix_nanos() < horizon)
        {
            r.older.pop_front();
        }
    }

    /// The runtime's current health status, stamped onto each new sample.
    pub(in crate::registry) fn health(&self) -> String {
        self.lock().health.clone()
    }

    pub(in crate::registry) fn set_health(&self, status: &str) {
        let mut r = self.lock();
        if r.health != status {
            r.health = status.to_string();
        }
    }

    pub(in crate::registry) fn record_oom_kill(&self) {
        self.oom_kills.fetch_add(1, Ordering::Relaxed);
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<Arc<ContainerStats>> {
        self.lock().newest.clone()
    }

    /// Samples with `start <= timestamp <= end`, oldest first; when more than `max` match, the newest
    /// `max` (`None` = all).
    pub fn range(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        max: Option<usize>,
    ) -> Vec<Arc<ContainerStats>> {
        let r = self.lock();
        let within = |t: Timestamp| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e);
        let newest = r.newest.as_ref().filter(|n| within(n.timestamp));
        let older: Vec<&[u8]> = r
            .older
            .iter()
            .filter(|(t, _)| within(*t))
            .map(|(_, b)| &**b)
            .collect();
        let total = older.len() + usize::from(newest.is_some());
        let skip = max.map_or(0, |n| total.saturating_sub(n));
        let mut out = Vec::with_capacity(total - skip);
        for bytes in older.into_iter().skip(skip) {
            // Our own encoding of our own type: a failure would be a bug, not bad input; losing
            // one historical sample is the safe answer.
            if let Ok(s) = compact::decode::<ContainerStats>(bytes) {
                out.push(Arc::new(s));
            }
        }
        if total > skip {
            out.extend(newest.cloned());
        }
        out
    }

    /// Derived usage (`/api/v2.0/summary`); `None` when the container has neither cpu nor memory.
    pub fn summary(&self) -> Option<DerivedStats> {
        self.lock().summary.as_ref().map(|t| t.derived().clone())
    }

    /// OOM kills seen in this container since the agent started.
    pub fn oom_kills(&self) -> u64 {
        self.oom_kills.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_at(secs: i64) -> Arc<ContainerStats> {
        let mut s = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(secs * 1_000_000_000),
            ..Default::default()
        };
        s.cpu.usage.total = secs as u64 * 1_000_000;
        Arc::new(s)
    }

    #[test]
    fn samples_are_bounded_by_age_and_ranged_like_cadvisor() {
        let spec = ContainerSpec {
            has_cpu: true,
            ..Default::default()
        };
        let samples = Samples::new(Duration::from_secs(10), &spec);
        for t in 100..=130 {
            samples.push(sample_at(t));
        }
        // Only the last 10 s (plus the boundary sample) are kept.
        let all = samples.range(None, None, None);
        assert_eq!(
            all.first().map(|s| s.timestamp),
            Some(sample_at(120).timestamp)
        );
        assert_eq!(all.len(), 11);
        // Newest `max` of the matching ones, oldest first.
        let last3 = samples.range(None, None, Some(3));
        let secs: Vec<i64> = last3
            .iter()
            .map(|s| s.timestamp.as_unix_nanos() / 1_000_000_000)
            .collect();
        assert_eq!(secs, vec![128, 129, 130]);
        let window = samples.range(
            Some(sample_at(122).timestamp),
            Some(sample_at(124).timestamp),
            None,
        );
        assert_eq!(window.len(), 3);
        assert_eq!(
            samples.latest().map(|s| s.timestamp),
            Some(sample_at(130).timestamp)
        );
        assert!(samples.summary().is_some());
    }

    #[test]
    fn a_fixed_history_reads_like_a_pushed_one() {
        let spec = ContainerSpec::default();
        let fixed = Samples::fixed(
            Duration::from_secs(10),
            &spec,
            (100..=130).map(sample_at),
            2,
        );
        assert_eq!(fixed.range(None, None, None).len(), 11);
        assert_eq!(fixed.oom_kills(), 2);
        assert!(fixed.summary().is_none(), "neither cpu nor memory");
    }
}
