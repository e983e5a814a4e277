//! The narrow read-only view consumers (API, metrics, UI, storage) have of the registry: the
//! [`Query`] trait and the types it hands out.
//!
//! The registry publishes an immutable [`Snapshot`] whenever the container set or a spec changes.
//! Each entry's [`Samples`] is the registry's stats cache for that container, which housekeeping
//! appends to in place; consumers can only read it, under a short lock that no consumer holds while
//! rendering (they clone `Arc`s out and let go).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::events::SourceKind;
use crate::events::store::{EventRequest, EventWatch};
use crate::host_reads::HostReads;
use crate::model::machine::{MachineInfo, VersionInfo};
use crate::model::v1::{ContainerReference, ContainerSpec, Event};

pub use crate::feed::{Subscription, Update};
/// A container's sample history: read-only outside the registry.
pub use crate::registry::cache::Samples;

/// What consumers may ask of the agent: all they read comes through here.
pub trait Query: Send + Sync + 'static {
    /// The current container set, machine info and event source.
    fn snapshot(&self) -> Arc<Snapshot>;
    /// A snapshot in which the newest sample of each of `names` is at most `max_age` old
    /// (cAdvisor's `max_age` query option): the registry samples the stale ones again first.
    /// Unknown names are ignored.
    fn fresh_snapshot(
        &self,
        names: Vec<String>,
        max_age: Duration,
    ) -> BoxFuture<'static, Arc<Snapshot>>;
    /// Stored lifecycle and OOM events matching `req`, oldest first.
    fn events(&self, req: &EventRequest) -> Vec<Event>;
    /// Events matching `req` from now on; a client that falls behind loses events.
    fn watch_events(&self, req: EventRequest) -> EventWatch;
    /// Host facts read on request (processes, setup, filesystems, the node), off the async
    /// workers.
    fn host(&self) -> HostReads;
    /// Every sample and event from now on, for the consumer named `subscriber`; one that falls
    /// behind loses the oldest, counted (see `crate::feed`).
    fn subscribe(&self, subscriber: &'static str) -> Subscription;
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
}
