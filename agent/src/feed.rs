//! The subscriber seam: one bounded broadcast of every new sample and every recorded event.
//!
//! Housekeeping publishes each sample as it stores it, the event store each event as it records it;
//! consumers that want the stream rather than snapshots (storage drivers, a UI's live view) take a
//! [`Subscription`] from `app.rs` through [`crate::query::Query::subscribe`]. Publishing never
//! waits: it clones two `Arc`s into a ring of [`FEED_CAPACITY`] items shared by all subscribers. A
//! subscriber that falls more than that behind loses the oldest items it has not read, counted in
//! `bpfadvisor_subscriber_dropped_total{subscriber}` when it next receives; collection and the
//! other subscribers never notice it.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::broadcast;

use crate::model::v1::{ContainerStats, Event};
use crate::telemetry::events::SubscriberLagged;

/// Items a subscriber may be behind by before it loses some: a few seconds of a thousand containers
/// sampled every second. Without subscribers nothing is kept.
pub const FEED_CAPACITY: usize = 4096;

/// One item of the feed.
#[derive(Debug, Clone)]
pub enum Update {
    /// A container's new sample, as stored in the cache.
    Sample {
        container: Arc<str>,
        stats: Arc<ContainerStats>,
    },
    /// A lifecycle or OOM event, as recorded.
    Event(Arc<Event>),
}

/// The sending side; cheap to clone. Every clone sends into the same ring.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<Update>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(FEED_CAPACITY)
    }
}

impl Feed {
    /// A feed keeping up to `capacity` unread items per subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::Sender::new(capacity.max(1)),
        }
    }

    /// Hands `update` to every subscriber without waiting; dropped at once when there is none.
    /// Only publishers hold a `Feed` (consumers get a [`Subscription`]).
    pub fn publish(&self, update: Update) {
        let _ = self.tx.send(update);
    }

    /// Items published from now on, for the consumer named `subscriber` (the metric's label).
    pub fn subscribe(&self, subscriber: &'static str) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
            name: subscriber,
            dropped: crate::telemetry::global().subscriber_dropped(subscriber),
        }
    }
}

/// The receiving side of one subscriber.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Update>,
    name: &'static str,
    dropped: Counter,
}

impl Subscription {
    /// The next item; `None` once every sender is gone. Items lost to falling behind are counted
    /// and skipped.
    pub async fn recv(&mut self) -> Option<Update> {
        loop {
            match self.rx.recv().await {
                Ok(u) => return Some(u),
                Err(broadcast::error::RecvError::Lagged(n)) => self.lagged(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// [`Self::recv`] for a consumer on its own thread (never on an async worker).
    pub fn blocking_recv(&mut self) -> Option<Update> {
        loop {
            match self.rx.blocking_recv() {
                Ok(u) => return Some(u),
                Err(broadcast::error::RecvError::Lagged(n)) => self.lagged(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next item if one is waiting (lost ones counted and skipped).
    pub fn try_recv(&mut self) -> Option<Update> {
        loop {
            match self.rx.try_recv() {
                Ok(u) => return Some(u),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.lagged(n),
                Err(_) => return None,
            }
        }
    }

    /// Items this subscriber lost since it subscribed (and any other of the same name).
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    fn lagged(&self, n: u64) {
        SubscriberLagged {
            subscriber: self.name,
            lost: n,
            counter: &self.dropped,
        }
        .emit();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::json::Timestamp;

    fn sample(i: i64) -> Update {
        Update::Sample {
            container: Arc::from("/c"),
            stats: Arc::new(ContainerStats {
                timestamp: Timestamp::from_unix_nanos(i),
                ..Default::default()
            }),
        }
    }

    fn nanos(u: &Update) -> i64 {
        match u {
            Update::Sample { stats, .. } => stats.timestamp.as_unix_nanos(),
            Update::Event(e) => e.timestamp.as_unix_nanos(),
        }
    }

    /// One sample a millisecond for a second; a subscriber taking 10 ms per item loses most of them,
    /// counted, while the publisher keeps its pace and a prompt subscriber gets every one.
    #[tokio::test(start_paused = true)]
    async fn a_slow_subscriber_loses_samples_counted_and_slows_nobody() {
        const N: i64 = 1000;
        let feed = Feed::new(64);
        let mut prompt = feed.subscribe("test_prompt");
        let mut slow = feed.subscribe("test_slow");
        let publisher = {
            let feed = feed.clone();
            tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                for i in 0..N {
                    feed.publish(sample(i));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                start.elapsed()
            })
        };
        let prompt = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(u) = prompt.recv().await {
                got.push(nanos(&u));
            }
            (got, prompt.dropped())
        });
        let slow = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(u) = slow.recv().await {
                got.push(nanos(&u));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (got, slow.dropped())
        });
        let took = publisher.await.expect("publisher");
        drop(feed);
        // The publisher's 1000 sleeps of 1 ms, and no waiting on anyone.
        assert!(took < Duration::from_millis(1100), "{took:?}");
        let (prompt_got, prompt_lost) = prompt.await.expect("prompt");
        assert_eq!(prompt_got, (0..N).collect::<Vec<_>>());
        assert_eq!(prompt_lost, 0);
        let (slow_got, slow_lost) = slow.await.expect("slow");
        assert!(slow_got.len() < N as usize / 5, "{}", slow_got.len());
        assert_eq!(
            slow_got.len() as u64 + slow_lost,
            N as u64,
            "every item read or counted"
        );
        assert!(slow_got.windows(2).all(|w| w[0] < w[1]), "in order");
        assert_eq!(slow_got.last(), Some(&(N - 1)), "catches up to the newest");
    }

    #[test]
    fn publishing_without_subscribers_keeps_nothing() {
        let feed = Feed::new(4);
        let stats = Arc::new(ContainerStats::default());
        for _ in 0..10 {
            feed.publish(Update::Sample {
                container: Arc::from("/"),
                stats: stats.clone(),
            });
        }
        assert_eq!(Arc::strong_count(&stats), 1);
        let mut late = feed.subscribe("test_late");
        assert!(late.try_recv().is_none(), "no history");
        feed.publish(sample(7));
        assert_eq!(late.try_recv().as_ref().map(nanos), Some(7));
    }
}
