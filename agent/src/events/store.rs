//! The event store behind `/api/*/events`: one time-ordered buffer per event type with cAdvisor's
//! storage policy (max age, max count per type), history queries, and live watches.
//!
//! Unlike cAdvisor, a watch never blocks: each client has its own bounded queue filled with
//! `try_send`; a client that falls behind loses events (counted on its watch) while producers and the
//! other clients carry on. Every event is also published to the feed (`crate::feed`) when one is set.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::warn;

use crate::config::parse_go_duration;
use crate::feed::{Feed, Update};
use crate::model::json::Timestamp;
use crate::model::v1::{Event, EventType};
use crate::telemetry::events::EventStreamed;

/// Events a watching client may be behind by before it starts losing them. A burst of thousands of
/// container creations and deletions (a node draining, a batch job fan-out) fits; a client further
/// behind loses events rather than holding memory without bound (the channel allocates lazily, so an
/// idle watch costs nothing).
pub const WATCH_BUFFER: usize = 16_384;

/// Max age and count of stored events, per type (`--event_storage_age_limit`,
/// `--event_storage_event_limit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePolicy {
    pub default_max_age: Duration,
    pub default_max_count: i64,
    pub per_type_max_age: HashMap<EventType, Duration>,
    /// Negative: unlimited; 0: the type is not stored (watchers still see it).
    pub per_type_max_count: HashMap<EventType, i64>,
}

impl Default for StoragePolicy {
    fn default() -> Self {
        Self {
            default_max_age: Duration::from_secs(24 * 3600),
            default_max_count: 100_000,
            per_type_max_age: HashMap::new(),
            per_type_max_count: HashMap::new(),
        }
    }
}

/// What the flag items name: the default or one event type.
enum Key {
    Default,
    Type(EventType),
    /// cAdvisor accepts any key; one that is no event type (e.g. the help text's `creation`) matches
    /// nothing.
    Other,
}

fn flag_items<'a>(flag: &'static str, s: &'a str) -> impl Iterator<Item = (Key, &'a str)> {
    s.split(',')
        .filter(|i| !i.is_empty())
        .filter_map(move |item| {
            let mut parts = item.split('=');
            let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
                warn!(
                    flag,
                    item, "unknown event storage policy item; expected key=value"
                );
                return None;
            };
            let key = match (k, EventType::from_name(k)) {
                ("default", _) => Key::Default,
                (_, Some(t)) => Key::Type(t),
                _ => Key::Other,
            };
            Some((key, v))
        })
}

impl StoragePolicy {
    /// Parses the two raw flag values (`default=24h,oom=1h`, `default=100000,containerCreation=0`).
    /// Malformed items are logged and skipped, as cAdvisor does.
    pub fn from_flags(age: &str, count: &str) -> Self {
        let mut p = Self::default();
        for (key, v) in flag_items("event_storage_age_limit", age) {
            let Ok(d) = parse_go_duration(v) else {
                warn!(
                    flag = "event_storage_age_limit",
                    value = v,
                    "invalid duration; item skipped"
                );
                continue;
            };
            match key {
                Key::Default => p.default_max_age = d,
                Key::Type(t) => drop(p.per_type_max_age.insert(t, d)),
                Key::Other => {}
            }
        }
        for (key, v) in flag_items("event_storage_event_limit", count) {
            let Ok(n) = v.parse::<i64>() else {
                warn!(
                    flag = "event_storage_event_limit",
                    value = v,
                    "invalid count; item skipped"
                );
                continue;
            };
            match key {
                Key::Default => p.default_max_count = n,
                Key::Type(t) => drop(p.per_type_max_count.insert(t, n)),
                Key::Other => {}
            }
        }
        p
    }

    fn max_age(&self, t: EventType) -> Duration {
        self.per_type_max_age
            .get(&t)
            .copied()
            .unwrap_or(self.default_max_age)
    }

    fn max_count(&self, t: EventType) -> i64 {
        self.per_type_max_count
            .get(&t)
            .copied()
            .unwrap_or(self.default_max_count)
    }
}

/// A query (`/api/*/events/<name>?…`), already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// Absolute container name.
    pub name: String,
    /// Requested types; empty → no events.
    pub types: Vec<EventType>,
    /// Inclusive bounds; `Timestamp::ZERO` = unbounded.
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    /// Newest n; `<= 0` = unlimited.
    pub max_events: i64,
    pub include_subcontainers: bool,
}

impl Default for EventRequest {
    fn default() -> Self {
        Self {
            name: "/".into(),
            types: Vec::new(),
            start_time: Timestamp::ZERO,
            end_time: Timestamp::ZERO,
            max_events: 10,
            include_subcontainers: false,
        }
    }
}

impl EventRequest {
    /// Whether an event of this container and type is wanted (time bounds aside).
    pub fn matches(&self, e: &Event) -> bool {
        self.types.contains(&e.event_type) && self.matches_name(&e.container_name)
    }

    fn matches_name(&self, name: &str) -> bool {
        if name == self.name {
            return true;
        }
        self.include_subcontainers
            && (self.name == "/"
                || name
                    .strip_prefix(self.name.as_str())
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

/// The newest `max` of an ascending slice (all when `max <= 0`).
fn newest(len: usize, max: i64) -> usize {
    match usize::try_from(max) {
        Ok(m) if m > 0 && len > m => len - m,
        _ => 0,
    }
}

struct Watcher {
    req: EventRequest,
    /// Each event with when it was recorded, to time its delivery.
    tx: mpsc::Sender<(Event, Instant)>,
    dropped: Arc<AtomicU64>,
}

/// Stored events and live watches. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct EventStore {
    policy: StoragePolicy,
    buffers: Mutex<HashMap<EventType, VecDeque<Event>>>,
    watchers: Mutex<Vec<Watcher>>,
    dropped_total: AtomicU64,
    /// Per-watch backlog before a client starts losing events.
    watch_buffer: usize,
    feed: Option<Feed>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventStore {
    pub fn new(policy: StoragePolicy) -> Self {
        Self::with_watch_buffer(policy, WATCH_BUFFER)
    }

    /// A store whose watching clients may fall `watch_buffer` events behind before losing events.
    pub fn with_watch_buffer(policy: StoragePolicy, watch_buffer: usize) -> Self {
        Self {
            policy,
            buffers: Mutex::new(HashMap::new()),
            watchers: Mutex::new(Vec::new()),
            dropped_total: AtomicU64::new(0),
            watch_buffer: watch_buffer.max(1),
            feed: None,
        }
    }

    /// Also publishes every event to `feed`.
    pub fn publishing_to(mut self, feed: Feed) -> Self {
        self.feed = Some(feed);
        self
    }

    /// Stores `e` (subject to the policy) and hands it to every matching watch without waiting.
    pub fn add(&self, e: Event) {
        let recorded = Instant::now();
        {
            let mut watchers = lock(&self.watchers);
            watchers.retain(|w| {
                if !w.req.matches(&e) {
                    return !w.tx.is_closed();
                }
                match w.tx.try_send((e.clone(), recorded)) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        w.dropped.fetch_add(1, Ordering::Relaxed);
                        self.dropped_total.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
        }
        if let Some(feed) = &self.feed {
            // Events are rare next to samples: one allocation each is fine.
            feed.publish(Update::Event(Arc::new(e.clone())));
        }
        let t = e.event_type;
        let max_count = self.policy.max_count(t);
        if max_count == 0 {
            return;
        }
        let age = i64::try_from(self.policy.max_age(t).as_nanos()).unwrap_or(i64::MAX);
        let mut buffers = lock(&self.buffers);
        let buf = buffers.entry(t).or_default();
        // Usually in order; creation events of existing containers carry older timestamps.
        let at = buf.partition_point(|x| x.timestamp <= e.timestamp);
        buf.insert(at, e);
        if let Some(newest) = buf.back().map(|x| x.timestamp.as_unix_nanos()) {
            let evict_before = newest.saturating_sub(age);
            while buf
                .front()
                .is_some_and(|x| x.timestamp.as_unix_nanos() < evict_before)
            {
                buf.pop_front();
            }
        }
        if let Ok(max) = usize::try_from(max_count) {
            while buf.len() > max {
                buf.pop_front();
            }
        }
    }

    /// Stored events matching `req`, ascending by timestamp, the newest `max_events`. Per type the
    /// time range and limit are applied before the container filter, as cAdvisor does.
    pub fn query(&self, req: &EventRequest) -> Vec<Event> {
        let mut out = Vec::new();
        {
            let buffers = lock(&self.buffers);
            for t in &req.types {
                let Some(buf) = buffers.get(t) else { continue };
                let lo = if req.start_time.is_zero() {
                    0
                } else {
                    buf.partition_point(|x| x.timestamp < req.start_time)
                };
                let hi = if req.end_time.is_zero() {
                    buf.len()
                } else {
                    buf.partition_point(|x| x.timestamp <= req.end_time)
                };
                if lo >= hi {
                    continue;
                }
                let lo = lo + newest(hi - lo, req.max_events);
                out.extend(
                    buf.range(lo..hi)
                        .filter(|e| req.matches_name(&e.container_name))
                        .cloned(),
                );
            }
        }
        out.sort_by_key(|e| e.timestamp);
        let skip = newest(out.len(), req.max_events);
        out.drain(..skip);
        out
    }

    /// Future events matching `req` (no history).
    pub fn watch(&self, req: EventRequest) -> EventWatch {
        let (tx, rx) = mpsc::channel(self.watch_buffer);
        let dropped = Arc::new(AtomicU64::new(0));
        lock(&self.watchers).push(Watcher {
            req,
            tx,
            dropped: dropped.clone(),
        });
        EventWatch { rx, dropped }
    }

    /// Open watches (closed ones are pruned on the next event).
    pub fn watch_count(&self) -> usize {
        lock(&self.watchers)
            .iter()
            .filter(|w| !w.tx.is_closed())
            .count()
    }

    /// Events lost by lagging watchers since start.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }
}

/// A live stream of matching events; dropping it ends the watch.
pub struct EventWatch {
    rx: mpsc::Receiver<(Event, Instant)>,
    dropped: Arc<AtomicU64>,
}

impl EventWatch {
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await.map(delivered)
    }

    /// Events this watch lost because its client fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for EventWatch {
    fn drop(&mut self) {
        let lost = self.dropped();
        if lost > 0 {
            warn!(
                lost,
                "event watch ended; its client fell behind and lost events"
            );
        }
    }
}

impl futures::Stream for EventWatch {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx).map(|e| e.map(delivered))
    }
}

/// An event leaving its watch for the client's connection.
fn delivered((e, recorded): (Event, Instant)) -> Event {
    EventStreamed {
        delay: recorded.elapsed(),
    }
    .emit();
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::v1::EventData;

    fn ev(name: &str, t: EventType, secs: i64) -> Event {
        Event {
            container_name: name.into(),
            timestamp: Timestamp::from_unix_nanos(secs * 1_000_000_000),
            event_type: t,
            event_data: EventData::default(),
        }
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_unix_nanos(secs * 1_000_000_000)
    }

    fn secs(evs: &[Event]) -> Vec<i64> {
        evs.iter()
            .map(|e| e.timestamp.as_unix_nanos() / 1_000_000_000)
            .collect()
    }

    const C: EventType = EventType::ContainerCreation;
    const D: EventType = EventType::ContainerDeletion;

    #[test]
    fn every_event_is_published_to_the_feed_even_when_not_stored() {
        let feed = Feed::new(8);
        let mut sub = feed.subscribe("test_store");
        let s = EventStore::new(StoragePolicy::from_flags("", "containerCreation=0"))
            .publishing_to(feed);
        s.add(ev("/a", C, 1));
        s.add(ev("/a", D, 2));
        let got: Vec<(EventType, String)> = std::iter::from_fn(|| sub.try_recv())
            .map(|u| match u {
                Update::Event(e) => (e.event_type, e.container_name.clone()),
                Update::Sample { .. } => panic!("a sample"),
            })
            .collect();
        assert_eq!(got, [(C, "/a".to_owned()), (D, "/a".to_owned())]);
        assert_eq!(
            s.query(&EventRequest {
                types: vec![C, D],
                name: "/a".into(),
                ..Default::default()
            })
            .len(),
            1
        );
    }

    #[test]
    fn policy_flags_follow_cadvisor() {
        let p = StoragePolicy::from_flags("default=24h", "default=100000");
        assert_eq!(p, StoragePolicy::default());
        let p = StoragePolicy::from_flags(
            "default=1h,oom=10m,creation=1s,bad,x=y=z,oomKill=zz",
            "default=5,containerCreation=0,containerDeletion=x",
        );
        assert_eq!(p.max_age(EventType::Oom), Duration::from_secs(600));
        assert_eq!(
            p.max_age(C),
            Duration::from_secs(3600),
            "`creation` is no event type"
        );
        assert_eq!(p.max_age(EventType::OomKill), Duration::from_secs(3600));
        assert_eq!((p.max_count(C), p.max_count(D)), (0, 5));
    }

    #[test]
    fn newest_n_ascending_within_inclusive_range() {
        let s = EventStore::new(StoragePolicy::default());
        for i in [5, 1, 3, 2, 4] {
            s.add(ev("/a", C, i));
        }
        let mut r = EventRequest {
            name: "/a".into(),
            types: vec![C],
            max_events: 2,
            ..Default::default()
        };
        assert_eq!(secs(&s.query(&r)), [4, 5]);
        r.start_time = ts(2);
        r.end_time = ts(4);
        r.max_events = 0;
        assert_eq!(secs(&s.query(&r)), [2, 3, 4]);
        r.max_events = -1;
        r.start_time = ts(6);
        r.end_time = Timestamp::ZERO;
        assert!(s.query(&r).is_empty());
        r.types.clear();
        r.start_time = Timestamp::ZERO;
        assert!(s.query(&r).is_empty(), "no type selected");
    }

    #[test]
    fn types_merge_sorted_and_limit_applies_before_container_filter() {
        let s = EventStore::new(StoragePolicy::default());
        s.add(ev("/a", C, 1));
        s.add(ev("/a", D, 2));
        s.add(ev("/b", C, 3));
        let r = EventRequest {
            name: "/a".into(),
            types: vec![D, C],
            max_events: 10,
            ..Default::default()
        };
        assert_eq!(secs(&s.query(&r)), [1, 2]);
        // Newest 1 creation is /b's: /a gets only its deletion (cAdvisor's quirk).
        let r = EventRequest { max_events: 1, ..r };
        assert_eq!(secs(&s.query(&r)), [2]);
    }

    #[test]
    fn subcontainer_matching() {
        let s = EventStore::new(StoragePolicy::default());
        for (i, n) in ["/", "/a", "/a/b", "/ab", "/c"].iter().enumerate() {
            s.add(ev(n, C, i as i64));
        }
        let q = |name: &str, sub: bool| {
            let r = EventRequest {
                name: name.into(),
                types: vec![C],
                max_events: 0,
                include_subcontainers: sub,
                ..Default::default()
            };
            s.query(&r)
                .into_iter()
                .map(|e| e.container_name)
                .collect::<Vec<_>>()
        };
        assert_eq!(q("/a", false), ["/a"]);
        assert_eq!(q("/a", true), ["/a", "/a/b"]);
        assert_eq!(q("/", true).len(), 5);
        assert_eq!(q("/", false), ["/"]);
    }

    #[test]
    fn age_and_count_limits_per_type() {
        let s = EventStore::new(StoragePolicy::from_flags(
            "default=10s",
            "default=3,containerDeletion=0",
        ));
        for i in 0..5 {
            s.add(ev("/a", C, i));
        }
        s.add(ev("/a", D, 1));
        let all = EventRequest {
            types: vec![C, D],
            max_events: 0,
            ..Default::default()
        };
        let all = EventRequest {
            name: "/a".into(),
            ..all
        };
        assert_eq!(
            secs(&s.query(&all)),
            [2, 3, 4],
            "count limit keeps newest; deletion not stored"
        );
        s.add(ev("/a", C, 13));
        assert_eq!(
            secs(&s.query(&all)),
            [3, 4, 13],
            "older than newest-10s evicted"
        );
        s.add(ev("/a", C, 30));
        assert_eq!(secs(&s.query(&all)), [30]);
    }

    #[tokio::test]
    async fn slow_watcher_loses_events_without_blocking_others() {
        let s = EventStore::new(StoragePolicy::default());
        let req = EventRequest {
            name: "/".into(),
            types: vec![C],
            include_subcontainers: true,
            ..Default::default()
        };
        let slow = s.watch(req.clone());
        let mut fast = s.watch(req);
        let mut other = s.watch(EventRequest {
            name: "/x".into(),
            types: vec![C],
            ..Default::default()
        });
        let n = WATCH_BUFFER + 100;
        let mut got = 0;
        for i in 0..n {
            s.add(ev("/a", C, i as i64));
            while let Ok((e, _)) = fast.rx.try_recv() {
                assert_eq!(e.timestamp, ts(got as i64));
                got += 1;
            }
        }
        assert_eq!(got, n, "the fast watcher got everything, in order");
        assert_eq!(slow.dropped(), 100);
        assert_eq!(s.dropped_total(), 100);
        assert!(other.rx.try_recv().is_err(), "filtered out");
        drop(slow);
        s.add(ev("/a", C, 0));
        assert_eq!(s.watch_count(), 2);
    }
}
