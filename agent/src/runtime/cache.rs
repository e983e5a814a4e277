//! Shared state the runtime tasks write and [`super::RuntimeHandle`] reads: metadata by container id
//! and each runtime's connection state. Locks are held only for a map operation, never across I/O or
//! an await, so readers (API, metrics, housekeeping) never wait on a runtime.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{ContainerMetadata, RuntimeKind, RuntimeState, RuntimeStatus};

// A writer that panicked cannot leave a map half-updated (every write is one insert/remove), so a
// poisoned lock still holds consistent data.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Metadata by runtime container id (ids are 64 random hex digits, unique across runtimes).
#[derive(Debug, Default)]
pub struct MetadataCache {
    by_id: RwLock<HashMap<String, Arc<ContainerMetadata>>>,
}

impl MetadataCache {
    pub fn get(&self, id: &str) -> Option<Arc<ContainerMetadata>> {
        read(&self.by_id).get(id).cloned()
    }

    /// Stores `meta`, returning the shared copy and whether it differs from what was cached.
    pub fn insert(&self, meta: ContainerMetadata) -> (Arc<ContainerMetadata>, bool) {
        let mut map = write(&self.by_id);
        if let Some(old) = map.get(&meta.id)
            && **old == meta
        {
            return (old.clone(), false);
        }
        let meta = Arc::new(meta);
        map.insert(meta.id.clone(), meta.clone());
        (meta, true)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<ContainerMetadata>> {
        write(&self.by_id).remove(id)
    }

    pub fn len(&self) -> usize {
        read(&self.by_id).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Connection state per runtime.
#[derive(Debug)]
pub struct StatusBoard {
    states: RwLock<Vec<RuntimeState>>,
    /// Bumped on every change, so the registry can follow (the Docker version it reports) without
    /// polling.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self {
            states: RwLock::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl StatusBoard {
    pub fn register(&self, kind: RuntimeKind, endpoint: &str) {
        let mut s = write(&self.states);
        s.retain(|r| r.kind != kind);
        s.push(RuntimeState {
            kind,
            endpoint: endpoint.to_string(),
            connected: false,
            version: String::new(),
            api_version: String::new(),
            last_error: String::new(),
        });
    }

    /// Applies `f` to the runtime's state; returns whether `connected` changed (for logging once).
    pub fn update(&self, kind: RuntimeKind, f: impl FnOnce(&mut RuntimeState)) -> bool {
        let mut s = write(&self.states);
        let Some(st) = s.iter_mut().find(|r| r.kind == kind) else {
            return false;
        };
        let before = st.clone();
        f(st);
        let flipped = before.connected != st.connected;
        if before != *st {
            drop(s);
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        flipped
    }

    /// Wakes its holder after every change of any runtime's state.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn snapshot(&self) -> RuntimeStatus {
        RuntimeStatus {
            runtimes: read(&self.states).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, image: &str) -> ContainerMetadata {
        ContainerMetadata {
            image: image.into(),
            ..ContainerMetadata::new(RuntimeKind::Docker, id)
        }
    }

    #[test]
    fn insert_reports_changes_only() {
        let c = MetadataCache::default();
        assert!(c.insert(meta("a", "x")).1);
        assert!(!c.insert(meta("a", "x")).1);
        assert!(c.insert(meta("a", "y")).1);
        assert_eq!(c.get("a").map(|m| m.image.clone()), Some("y".into()));
        assert_eq!(c.len(), 1);
        assert!(c.remove("a").is_some());
        assert!(c.is_empty());
    }

    #[test]
    fn status_update_reports_connection_flips() {
        let b = StatusBoard::default();
        b.register(RuntimeKind::Docker, "unix:///var/run/docker.sock");
        assert!(b.update(RuntimeKind::Docker, |s| s.connected = true));
        assert!(!b.update(RuntimeKind::Docker, |s| s.version = "20.10".into()));
        assert!(!b.update(RuntimeKind::Podman, |s| s.connected = true));
        let snap = b.snapshot();
        assert_eq!(
            snap.get(RuntimeKind::Docker).map(|s| s.connected),
            Some(true)
        );
    }

    #[test]
    fn subscribers_hear_of_changes_only() {
        let b = StatusBoard::default();
        b.register(RuntimeKind::Docker, "unix:///var/run/docker.sock");
        let mut rx = b.subscribe();
        assert!(!rx.has_changed().unwrap_or(true));
        b.update(RuntimeKind::Docker, |s| s.version = "20.10".into());
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        b.update(RuntimeKind::Docker, |s| s.version = "20.10".into());
        assert!(!rx.has_changed().unwrap_or(true), "same state again");
    }
}
