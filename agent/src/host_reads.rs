//! Host facts consumers ask for on request (a container's processes, the host's setup, its
//! filesystems, the node's name and limits), read by the reader modules (`machine::processes`,
//! `machine::setup`, `fs::storage`, `machine::node`) on tokio's blocking pool, never on an async
//! worker. Consumers get a [`HostReads`] from [`crate::query::Query::host`]; tests point one at a
//! fixture root.

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::fs::storage::{self, Storage};
use crate::host::HostPaths;
use crate::machine::node::{self, NodeFacts};
use crate::machine::processes::{self, PsError};
use crate::machine::setup::{self, HostSetup};
use crate::model::v2::ProcessInfo;

/// Why a host read gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum HostReadError {
    #[error(transparent)]
    Processes(#[from] PsError),
    /// The blocking task did not finish (it panicked, or the runtime is shutting down).
    #[error("{what}: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Runs the host readers below one root off the async workers.
#[derive(Debug, Clone)]
pub struct HostReads {
    host: HostPaths,
}

impl HostReads {
    pub fn new(host: HostPaths) -> Self {
        Self { host }
    }

    /// The processes of container `name` (every process for `/`); `mem_total` (bytes) scales %mem.
    pub fn processes(
        &self,
        name: &str,
        mem_total: u64,
    ) -> BoxFuture<'static, Result<Vec<ProcessInfo>, HostReadError>> {
        let (host, name) = (self.host.clone(), name.to_owned());
        blocking("listing processes", move || {
            processes::process_list(&host, &name, mem_total).map_err(HostReadError::from)
        })
        .map(Result::flatten)
        .boxed()
    }

    /// The host's cgroup and runtime setup.
    pub fn setup(&self) -> BoxFuture<'static, Result<HostSetup, HostReadError>> {
        let host = self.host.clone();
        blocking("reading the host setup", move || {
            setup::read_host_setup(&host)
        })
        .boxed()
    }

    /// The host's filesystems, storage labels and UUIDs.
    pub fn storage(&self) -> BoxFuture<'static, Result<Storage, HostReadError>> {
        let host = self.host.clone();
        blocking("reading filesystems", move || storage::read_storage(&host)).boxed()
    }

    /// The node's name and process limits, and with `filesystems` which filesystems hold the
    /// kubelet's and the runtime's data.
    pub fn node(&self, filesystems: bool) -> BoxFuture<'static, Result<NodeFacts, HostReadError>> {
        let host = self.host.clone();
        blocking("reading the node's facts", move || {
            node::read(&host, filesystems)
        })
        .boxed()
    }
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HostReadError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| HostReadError::Task { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_below_a_missing_root_answer_empty_or_fail_plainly() {
        let reads = HostReads::new(HostPaths::under("/nonexistent-bpfadvisor-root"));
        assert_eq!(reads.storage().await.expect("storage"), Storage::default());
        assert!(reads.setup().await.expect("setup").subsystems.is_empty());
        assert_eq!(reads.node(true).await.expect("node").node_name, "");
        let e = reads.processes("/", 1 << 30).await.expect_err("no procfs");
        assert!(e.to_string().contains("nonexistent-bpfadvisor-root"), "{e}");
    }
}
