//! One fake [`Query`] for tests of the REST and `/metrics` routers. Include it with
//! `#[path = "support/fake_query.rs"] mod fake_query;`.
//!
//! - [`FakeQuery::new`]: answers a fixed snapshot (e.g. `metrics::fixture::snapshot(n)`).
//! - [`FakeQuery::builder`]: builds that snapshot from machine/version info and [`container`]s.
//! - [`FakeQuery::refreshed`]: the `refresh` calls received (names, max age), oldest first;
//!   `refresh` itself changes nothing and resolves at once.
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bpfadvisor::events::SourceKind;
use bpfadvisor::model::machine::{MachineInfo, VersionInfo};
use bpfadvisor::model::v1::{ContainerReference, ContainerSpec, ContainerStats};
use bpfadvisor::query::{ContainerEntry, Query, Samples, Snapshot};
use futures::future::BoxFuture;

/// A [`Query`] over one fixed snapshot that records `refresh` calls.
pub struct FakeQuery {
    snap: Arc<Snapshot>,
    refreshed: Mutex<Vec<(Vec<String>, Duration)>>,
}

impl FakeQuery {
    pub fn new(snap: impl Into<Arc<Snapshot>>) -> Arc<Self> {
        Arc::new(Self {
            snap: snap.into(),
            refreshed: Mutex::new(Vec::new()),
        })
    }

    pub fn builder() -> SnapshotBuilder {
        SnapshotBuilder(Snapshot::default())
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

    fn refresh(&self, names: Vec<String>, max_age: Duration) -> BoxFuture<'static, ()> {
        self.refreshed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((names, max_age));
        Box::pin(async {})
    }
}

/// The fake's snapshot: default machine and version info, no containers, no event source until
/// set.
pub struct SnapshotBuilder(Snapshot);

impl SnapshotBuilder {
    pub fn machine(mut self, m: MachineInfo) -> Self {
        self.0.machine = Arc::new(m);
        self
    }

    pub fn version(mut self, v: VersionInfo) -> Self {
        self.0.version = Arc::new(v);
        self
    }

    pub fn event_source(mut self, s: SourceKind) -> Self {
        self.0.event_source = Some(s);
        self
    }

    /// Adds (or replaces, by name) a live container.
    pub fn container(mut self, c: ContainerBuilder) -> Self {
        let e = c.build();
        self.0.containers.insert(Arc::from(e.name()), Arc::new(e));
        self
    }

    /// Adds live containers named `names`, each with a default spec and no samples.
    pub fn containers<'a>(self, names: impl IntoIterator<Item = &'a str>) -> Self {
        names
            .into_iter()
            .fold(self, |b, n| b.container(container(n)))
    }

    pub fn snapshot(self) -> Snapshot {
        self.0
    }

    pub fn build(self) -> Arc<FakeQuery> {
        FakeQuery::new(self.0)
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
