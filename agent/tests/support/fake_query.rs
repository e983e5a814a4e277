//! One fake [`Query`] for tests of the REST and `/metrics` routers. Include it with
//! `#[path = "support/fake_query.rs"] mod fake_query;`.
//!
//! - [`FakeQuery::new`]: answers a fixed snapshot (e.g. `metrics::fixture::snapshot(n)`).
//! - [`FakeQuery::builder`]: builds that snapshot from machine/version info and [`container`]s,
//!   and says where events come from ([`SnapshotBuilder::events`], else an empty store) and
//!   below which root host facts are read ([`SnapshotBuilder::host`], else a missing directory,
//!   where nothing is found).
//! - [`FakeQuery::refreshed`]: the `fresh_snapshot` calls received (names, max age), oldest
//!   first; `fresh_snapshot` itself changes nothing and resolves at once.
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bpfadvisor::events::SourceKind;
use bpfadvisor::events::store::{EventRequest, EventStore, EventWatch, StoragePolicy};
use bpfadvisor::feed::{Feed, Subscription};
use bpfadvisor::host::HostPaths;
use bpfadvisor::host_reads::HostReads;
use bpfadvisor::model::machine::{MachineInfo, VersionInfo};
use bpfadvisor::model::v1::{ContainerReference, ContainerSpec, ContainerStats, Event};
use bpfadvisor::query::{ContainerEntry, Query, Samples, Snapshot};
use futures::future::BoxFuture;

/// A root with nothing below it: host reads find nothing.
const NO_HOST: &str = "/nonexistent-bpfadvisor-root";

/// A [`Query`] over one fixed snapshot that records `fresh_snapshot` calls.
pub struct FakeQuery {
    snap: Arc<Snapshot>,
    events: Arc<EventStore>,
    host: HostReads,
    feed: Feed,
    refreshed: Mutex<Vec<(Vec<String>, Duration)>>,
}

impl FakeQuery {
    pub fn new(snap: impl Into<Arc<Snapshot>>) -> Arc<Self> {
        Self::builder().snapshot_is(snap.into())
    }

    pub fn builder() -> SnapshotBuilder {
        SnapshotBuilder {
            snap: Snapshot::default(),
            events: None,
            host: None,
        }
    }

    /// `(names, max_age)` of every `refresh` call so far.
    pub fn refreshed(&self) -> Vec<(Vec<String>, Duration)> {
        self.refreshed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Query for FakeQuery {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.clone()
    }

    fn fresh_snapshot(
        &self,
        names: Vec<String>,
        max_age: Duration,
    ) -> BoxFuture<'static, Arc<Snapshot>> {
        self.refreshed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((names, max_age));
        let snap = self.snap.clone();
        Box::pin(async move { snap })
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

    /// A subscription that never yields: nothing publishes to the fake's feed.
    fn subscribe(&self, subscriber: &'static str) -> Subscription {
        self.feed.subscribe(subscriber)
    }
}

/// The fake's snapshot: default machine and version info, no containers, no event source until
/// set; its events and host root.
pub struct SnapshotBuilder {
    snap: Snapshot,
    events: Option<Arc<EventStore>>,
    host: Option<HostPaths>,
}

impl SnapshotBuilder {
    pub fn machine(mut self, m: MachineInfo) -> Self {
        self.snap.machine = Arc::new(m);
        self
    }

    pub fn version(mut self, v: VersionInfo) -> Self {
        self.snap.version = Arc::new(v);
        self
    }

    pub fn event_source(mut self, s: SourceKind) -> Self {
        self.snap.event_source = Some(s);
        self
    }

    /// Where `events` and `watch_events` read (the test adds to it).
    pub fn events(mut self, store: Arc<EventStore>) -> Self {
        self.events = Some(store);
        self
    }

    /// The root below which processes, the host setup and filesystems are read.
    pub fn host(mut self, host: HostPaths) -> Self {
        self.host = Some(host);
        self
    }

    /// Adds (or replaces, by name) a live container.
    pub fn container(mut self, c: ContainerBuilder) -> Self {
        let e = c.build();
        self.snap
            .containers
            .insert(Arc::from(e.name()), Arc::new(e));
        self
    }

    /// Adds live containers named `names`, each with a default spec and no samples.
    pub fn containers<'a>(self, names: impl IntoIterator<Item = &'a str>) -> Self {
        names
            .into_iter()
            .fold(self, |b, n| b.container(container(n)))
    }

    pub fn snapshot(self) -> Snapshot {
        self.snap
    }

    pub fn build(mut self) -> Arc<FakeQuery> {
        let snap = Arc::new(std::mem::take(&mut self.snap));
        self.snapshot_is(snap)
    }

    /// The fake answering `snap` (the builder's own containers are dropped).
    fn snapshot_is(self, snap: Arc<Snapshot>) -> Arc<FakeQuery> {
        Arc::new(FakeQuery {
            snap,
            events: self
                .events
                .unwrap_or_else(|| Arc::new(EventStore::new(StoragePolicy::default()))),
            host: HostReads::new(self.host.unwrap_or_else(|| HostPaths::under(NO_HOST))),
            feed: Feed::default(),
            refreshed: Mutex::new(Vec::new()),
        })
    }
}

/// A container named `name` (its cgroup path): no id, aliases or namespace, a default spec, no
/// samples, samples kept for 60 s.
pub fn container(name: &str) -> ContainerBuilder {
    ContainerBuilder {
        reference: ContainerReference {
            name: name.into(),
            ..ContainerReference::default()
        },
        spec: ContainerSpec::default(),
        retention: Duration::from_secs(60),
        samples: Vec::new(),
    }
}

/// One container of a [`SnapshotBuilder`].
pub struct ContainerBuilder {
    reference: ContainerReference,
    spec: ContainerSpec,
    retention: Duration,
    samples: Vec<Arc<ContainerStats>>,
}

impl ContainerBuilder {
    pub fn id(mut self, id: &str) -> Self {
        self.reference.id = id.into();
        self
    }

    pub fn aliases(mut self, aliases: &[&str]) -> Self {
        self.reference.aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }

    /// The runtime namespace (`docker`, `podman`, ...).
    pub fn namespace(mut self, ns: &str) -> Self {
        self.reference.namespace = ns.into();
        self
    }

    pub fn spec(mut self, spec: ContainerSpec) -> Self {
        self.spec = spec;
        self
    }

    /// How long samples are kept (`--storage_duration`).
    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = d;
        self
    }

    /// Samples pushed in order after the ones given before.
    pub fn samples(mut self, s: impl IntoIterator<Item = Arc<ContainerStats>>) -> Self {
        self.samples.extend(s);
        self
    }

    pub fn build(self) -> ContainerEntry {
        let samples = Samples::fixed(self.retention, &self.spec, self.samples, 0);
        ContainerEntry {
            reference: self.reference,
            spec: self.spec,
            samples: Arc::new(samples),
        }
    }
}
