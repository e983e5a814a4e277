//! The single owner of the container set and the stats cache.
//!
//! One task ([`owner::Owner`]) owns all mutable container state: producers (eBPF/inotify events,
//! rescans, runtime metadata) send it messages, it drains them in batches, updates the set, records
//! events and publishes a new immutable [`Snapshot`]. What happens to a container and when is
//! decided by a state machine without I/O ([`lifecycle`]) that the owner drives. Stats sampling runs on one housekeeping thread
//! ([`housekeeping`]) that owns the per-container readers and appends to the shared sample rings.

pub mod housekeeping;
mod lifecycle;
mod opener;
pub mod owner;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::events::store::EventStore;
use crate::query::{Query, Snapshot};

/// Cheap, cloneable read side of the registry; what the API and metrics get (as `Arc<dyn Query>`).
#[derive(Clone)]
pub struct RegistryHandle {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    events: Arc<EventStore>,
    housekeeping: housekeeping::HousekeepingHandle,
}

impl RegistryHandle {
    /// The event store the owner records into.
    pub fn event_store(&self) -> Arc<EventStore> {
        self.events.clone()
    }

    pub(crate) fn new(
        snapshot: Arc<RwLock<Arc<Snapshot>>>,
        events: Arc<EventStore>,
        housekeeping: housekeeping::HousekeepingHandle,
    ) -> Self {
        Self {
            snapshot,
            events,
            housekeeping,
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

    fn refresh(&self, names: Vec<String>, max_age: Duration) -> BoxFuture<'static, ()> {
        let (done, wait) = oneshot::channel();
        self.housekeeping.send(housekeeping::Job::Refresh {
            names,
            max_age,
            done,
        });
        wait.map(|_| ()).boxed()
    }
}

/// Channel capacity between producers and the owner: large enough for a burst of 1000s of cgroup
/// events between two drains; producers await (not drop) when it is full.
pub const EVENT_CHANNEL_CAPACITY: usize = 65_536;

/// Creates the producer → owner channel.
pub fn channel<T>() -> (mpsc::Sender<T>, mpsc::Receiver<T>) {
    mpsc::channel(EVENT_CHANNEL_CAPACITY)
}
