//! The narrow read-only view consumers (API, metrics, UI, storage) have of the registry.
//!
//! The registry publishes an immutable [`Snapshot`] whenever the container set or a spec changes; the
//! per-container sample rings inside it are appended to in place by housekeeping, under a short lock
//! that no consumer holds while rendering (they clone `Arc`s out and let go).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::events::SourceKind;
use crate::model::compact;
use crate::model::json::Timestamp;
use crate::model::machine::{MachineInfo, VersionInfo};
use crate::model::summary::SummaryTracker;
use crate::model::v1::{ContainerReference, ContainerSpec, ContainerStats};
use crate::model::v2::DerivedStats;

/// What consumers may ask of the agent.
pub trait Query: Send + Sync + 'static {
    /// The current container set, machine info and event source.
    fn snapshot(&self) -> Arc<Snapshot>;
    /// Re-reads the stats of `names` whose newest sample is older than `max_age` (cAdvisor's `max_age`
    /// query option); resolves when done. Unknown names are ignored.
    fn refresh(&self, names: Vec<String>, max_age: Duration) -> BoxFuture<'static, ()>;
}

/// Everything the agent knows at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub machine: Arc<MachineInfo>,
    pub version: Arc<VersionInfo>,
    /// Live containers by name (`/`, `/docker/<id>`, ...), sorted.
    pub containers: BTreeMap<Arc<str>, Arc<ContainerEntry>>,
    /// Containers deleted within the retention window: not served by the REST API (as in cAdvisor),
    /// but their last samples (e.g. the OOM count) stay scrapable for a while.
    pub recently_removed: Vec<Arc<ContainerEntry>>,
    /// Which producer feeds lifecycle and OOM events.
    pub event_source: Option<SourceKind>,
}

/// One container.
#[derive(Debug)]
pub struct ContainerEntry {
    /// Name, id, aliases, namespace.
    pub reference: ContainerReference,
    /// Spec with runtime metadata (labels, envs, image) merged in.
    pub spec: ContainerSpec,
    /// Samples, appended by housekeeping; shared by successive snapshots of this container.
    pub samples: Arc<Samples>,
}

impl ContainerEntry {
    pub fn name(&self) -> &str {
        &self.reference.name
    }
}

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<&Arc<ContainerEntry>> {
        self.containers.get(name)
    }

    /// Direct children of `name`, sorted by name.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Arc<ContainerEntry>> {
        self.subtree(name)
            .filter(move |c| c.name() != name && parent_of(c.name()) == name)
    }

    /// `name` itself (if known) and all its descendants, sorted by name.
    pub fn subtree<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Arc<ContainerEntry>> {
        self.containers
            .values()
            .filter(move |c| is_same_or_descendant(c.name(), name))
    }

    /// Containers of a runtime namespace (`docker`, `podman`, ...).
    pub fn in_namespace<'a>(
        &'a self,
        ns: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ContainerEntry>> {
        self.containers
            .values()
            .filter(move |c| c.reference.namespace == ns)
    }

    /// Finds a container of namespace `ns` by exact alias, else by unique alias prefix (cAdvisor's
    /// docker/podman lookup).
    pub fn find_by_alias<'a>(
        &'a self,
        ns: &'a str,
        key: &str,
    ) -> Result<&'a Arc<ContainerEntry>, AliasLookup> {
        if let Some(c) = self
            .in_namespace(ns)
            .find(|c| c.reference.aliases.iter().any(|a| a == key))
        {
            return Ok(c);
        }
        let mut found = self
            .in_namespace(ns)
            .filter(|c| c.reference.aliases.iter().any(|a| a.starts_with(key)));
        match (found.next(), found.next()) {
            (Some(c), None) if !key.is_empty() => Ok(c),
            (Some(_), Some(_)) => Err(AliasLookup::NotUnique),
            _ => Err(AliasLookup::NotFound),
        }
    }
}

/// Why an alias lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasLookup {
    NotFound,
    NotUnique,
}

/// `true` when `name` is `ancestor` or below it (`/` is the ancestor of everything).
pub fn is_same_or_descendant(name: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return true;
    }
    name == ancestor
        || (name.len() > ancestor.len()
            && name.starts_with(ancestor)
            && name.as_bytes()[ancestor.len()] == b'/')
}

/// Parent container name (`/a/b` → `/a`, `/a` → `/`, `/` → `/`).
pub fn parent_of(name: &str) -> &str {
    match name.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &name[..i],
    }
}

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
    pub fn new(max_age: Duration, spec: &ContainerSpec) -> Self {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Every mutation below leaves the ring consistent between statements, so a lock poisoned
        // by a panicking holder is still usable.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a sample and drops samples older than the retention window (relative to the newest).
    pub fn push(&self, stats: Arc<ContainerStats>) {
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

    /// The runtime's current health status, stamped onto each new sample.
    pub fn health(&self) -> String {
        self.lock().health.clone()
    }

    pub fn set_health(&self, status: &str) {
        let mut r = self.lock();
        if r.health != status {
            r.health = status.to_string();
        }
    }

    pub fn oom_kills(&self) -> u64 {
        self.oom_kills.load(Ordering::Relaxed)
    }

    pub fn record_oom_kill(&self) {
        self.oom_kills.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ancestry() {
        assert_eq!(parent_of("/docker/abc"), "/docker");
        assert_eq!(parent_of("/docker"), "/");
        assert_eq!(parent_of("/"), "/");
        assert!(is_same_or_descendant("/docker/abc", "/docker"));
        assert!(is_same_or_descendant("/docker", "/docker"));
        assert!(!is_same_or_descendant("/dockerx", "/docker"));
        assert!(is_same_or_descendant("/anything", "/"));
    }

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
}
