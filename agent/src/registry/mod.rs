//! The single owner of the container set and the stats cache.
//!
//! One task ([`owner::Owner`]) owns all mutable container state: producers (eBPF/inotify events,
//! rescans, runtime metadata) send it messages, it drains them in batches, updates the set, records
//! events and publishes a new immutable [`Snapshot`]. What happens to a container and when is
//! decided by a state machine without I/O ([`lifecycle`]) that the owner drives. Stats sampling
//! runs on one housekeeping thread ([`housekeeping`]) that owns the per-container readers and
//! appends to the stats cache ([`cache`]), whose writes are private to this module.

pub mod cache;
pub mod housekeeping;
mod lifecycle;
mod opener;
pub mod owner;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::events::store::{EventRequest, EventStore, EventWatch};
use crate::feed::{Feed, Subscription};
use crate::host_reads::HostReads;
use crate::model::v1::Event;
use crate::query::{Query, Snapshot};

/// Cheap, cloneable read side of the registry; what the API and metrics get (as `Arc<dyn Query>`).
#[derive(Clone)]
pub struct RegistryHandle {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    events: Arc<EventStore>,
    housekeeping: housekeeping::HousekeepingHandle,
    host: HostReads,
    feed: Feed,
}

impl RegistryHandle {
    pub(crate) fn new(
        snapshot: Arc<RwLock<Arc<Snapshot>>>,
        events: Arc<EventStore>,
        housekeeping: housekeeping::HousekeepingHandle,
        host: HostReads,
        feed: Feed,
    ) -> Self {
        Self {
            snapshot,
            events,
            housekeeping,
            host,
            feed,
        }
    }
}

impl Query for RegistryHandle {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fresh_snapshot(
        &self,
        names: Vec<String>,
        max_age: Duration,
    ) -> BoxFuture<'static, Arc<Snapshot>> {
        let (done, wait) = oneshot::channel();
        self.housekeeping.send(housekeeping::Job::Refresh {
            names,
            max_age,
            done,
        });
        let this = self.clone();
        // Samples are shared between snapshots: the one published now has the new samples.
        wait.map(move |_| this.snapshot()).boxed()
    }

    fn events(&self, req: &EventRequest) -> Vec<Event> {
        self.events.query(req)
    }

    fn watch_events(&self, req: EventRequest) -> EventWatch {
        self.events.watch(req)
    }

    fn host(&self) -> HostReads {
        self.host.clone()
    }

    fn subscribe(&self, subscriber: &'static str) -> Subscription {
        self.feed.subscribe(subscriber)
    }
}

/// Channel capacity between producers and the owner: large enough for a burst of 1000s of cgroup
/// events between two drains; producers await (not drop) when it is full.
pub const EVENT_CHANNEL_CAPACITY: usize = 65_536;

/// Creates the producer → owner channel.
pub fn channel<T>() -> (mpsc::Sender<T>, mpsc::Receiver<T>) {
    mpsc::channel(EVENT_CHANNEL_CAPACITY)
}
