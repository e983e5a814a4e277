//! Running bpfadvisor inside another program, the way kubelet runs cAdvisor: start the collector
//! in-process and ask it what kubelet asks its `cadvisor.Interface` — container info (v1 and v2),
//! subcontainers, machine and version info, root and image filesystem info, the filesystem of a
//! directory and its usage, and a stream of events — plus the Kubernetes view ([`crate::kube`]).
//!
//! Nothing is served over HTTP; the embedder owns the Tokio runtime. Configuration is the agent's
//! own ([`Config`]), most simply from cAdvisor's flags with [`config_from_flags`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use bpfadvisor::embed::{self, Embedded};
//!
//! let config = embed::config_from_flags(["--housekeeping_interval=1s"])?;
//! let agent = Embedded::start(&config).await?;
//! agent.wait_for_stats(Duration::from_secs(10)).await;
//! let machine = agent.machine_info();
//! let root = agent.container_info("/", &Default::default())?;
//! println!("{} cores, {} samples of /", machine.num_cores, root.stats.len());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::{self, Collector};
use crate::cli::Cli;
use crate::config::Config;
use crate::events::store::{EventRequest, EventWatch};
use crate::fs::usage::{DirUsage, UsageError, dir_usage};
use crate::host::HostPaths;
use crate::kube::node::{self, NodeFacts};
use crate::kube::summary::{self, Scope, SummaryError};
use crate::kube::types::Summary;
use crate::model::machine::{MachineInfo, VersionInfo};
use crate::model::v1::{self, ContainerInfoRequest, ContainerReference};
use crate::model::v2;
use crate::query::{ContainerEntry, Query, Snapshot, is_same_or_descendant};

/// What an embedded agent's requests can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// No container of that name (cAdvisor's "unknown container").
    #[error("unknown container {0:?}")]
    UnknownContainer(String),
    /// The filesystem asked for is not among the root container's newest filesystem samples.
    #[error("no filesystem stats for {0}")]
    NoFilesystem(String),
    /// The mount table could not be read.
    #[error("reading the mount table: {0}")]
    Mounts(#[from] crate::fs::FsError),
    #[error(transparent)]
    Summary(#[from] SummaryError),
    #[error(transparent)]
    Usage(#[from] UsageError),
}

/// Parses cAdvisor's flags (as the `bpfadvisor` binary takes them, without the program name) into
/// a validated configuration.
///
/// # Errors
/// An unknown flag, a bad value or a refused flag, with the message the binary prints.
pub fn config_from_flags<I, S>(flags: I) -> anyhow::Result<Config>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let args = std::iter::once(std::ffi::OsString::from("bpfadvisor"))
        .chain(flags.into_iter().map(Into::into));
    let cli = Cli::try_parse_go(args).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    Config::from_cli(&cli).map_err(|e| anyhow::anyhow!(e))
}

/// A running, embedded collector. Dropping it stops collection.
pub struct Embedded {
    collector: Collector,
    query: Arc<dyn Query>,
    host: HostPaths,
}

impl Embedded {
    /// Starts collecting (event source, discovery, housekeeping, runtime clients). Must be called
    /// inside a multi-threaded Tokio runtime.
    ///
    /// # Errors
    /// When the cgroup layout cannot be detected or a required event source does not start.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let collector = app::start_collector(config).await?;
        Ok(Self {
            query: collector.query(),
            collector,
            host: config.host.clone(),
        })
    }

    /// The read-only view every answer is built from (as the REST API's).
    pub fn query(&self) -> Arc<dyn Query> {
        self.query.clone()
    }

    /// The current snapshot: containers, machine and version info.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.query.snapshot()
    }

    /// Waits until the root container has two samples (what CPU rates need), or `limit` passed;
    /// `true` when it has.
    pub async fn wait_for_stats(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let ready = self
                .snapshot()
                .get("/")
                .is_some_and(|r| r.samples.range(None, None, Some(2)).len() == 2);
            if ready {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `MachineInfo()`.
    pub fn machine_info(&self) -> Arc<MachineInfo> {
        self.snapshot().machine.clone()
    }

    /// `VersionInfo()`.
    pub fn version_info(&self) -> Arc<VersionInfo> {
        self.snapshot().version.clone()
    }

    /// `GetContainerInfo(name, req)`: v1 info with the samples `req` selects.
    ///
    /// # Errors
    /// [`EmbedError::UnknownContainer`].
    pub fn container_info(
        &self,
        name: &str,
        req: &ContainerInfoRequest,
    ) -> Result<v1::ContainerInfo, EmbedError> {
        let snap = self.snapshot();
        let c = lookup(&snap, name)?;
        Ok(v1_info(&snap, c, req))
    }

    /// `SubcontainersInfo(name, req)`: v1 info of `name` and every container below it.
    ///
    /// # Errors
    /// [`EmbedError::UnknownContainer`] when `name` has no container at or below it.
    pub fn subcontainers_info(
        &self,
        name: &str,
        req: &ContainerInfoRequest,
    ) -> Result<Vec<v1::ContainerInfo>, EmbedError> {
        let snap = self.snapshot();
        let out: Vec<_> = snap.subtree(name).map(|c| v1_info(&snap, c, req)).collect();
        if out.is_empty() {
            return Err(EmbedError::UnknownContainer(name.to_string()));
        }
        Ok(out)
    }

    /// `ContainerInfoV2(name, {count, recursive})`: v2 info by container name, the newest `count`
    /// samples each (kubelet asks for 2, what `cpu_inst` needs).
    ///
    /// # Errors
    /// [`EmbedError::UnknownContainer`].
    pub fn container_info_v2(
        &self,
        name: &str,
        count: usize,
        recursive: bool,
    ) -> Result<BTreeMap<String, v2::ContainerInfo>, EmbedError> {
        let snap = self.snapshot();
        let chosen: Vec<&Arc<ContainerEntry>> = if recursive {
            snap.containers
                .values()
                .filter(|c| is_same_or_descendant(c.name(), name))
                .collect()
        } else {
            vec![lookup(&snap, name)?]
        };
        if chosen.is_empty() {
            return Err(EmbedError::UnknownContainer(name.to_string()));
        }
        Ok(chosen
            .into_iter()
            .map(|c| {
                let spec = adjusted_spec(&c.spec, &snap.machine);
                let stats = c.samples.range(None, None, Some(count));
                let info = v2::ContainerInfo {
                    spec: v2::ContainerSpec::from_v1(
                        &spec,
                        &c.reference.aliases,
                        &c.reference.namespace,
                    ),
                    stats: v2::ContainerStats::from_v1_series(&spec, &stats),
                };
                (c.name().to_string(), info)
            })
            .collect())
    }

    /// `RootFsInfo()`: the filesystem holding the kubelet's directory (`/var/lib/kubelet`, else `/`).
    /// Reads the mount table (blocking).
    ///
    /// # Errors
    /// [`EmbedError::NoFilesystem`] when it has no stats yet.
    pub fn root_fs_info(&self) -> Result<v2::FsInfo, EmbedError> {
        let facts = node::read(&self.host, true);
        self.fs_info_of_device(facts.root_fs_device, "the root filesystem")
    }

    /// `ImagesFsInfo()`: the filesystem holding the container runtime's images.
    ///
    /// # Errors
    /// As [`Self::root_fs_info`].
    pub fn images_fs_info(&self) -> Result<v2::FsInfo, EmbedError> {
        let facts = node::read(&self.host, true);
        self.fs_info_of_device(facts.image_fs_device, "the image filesystem")
    }

    /// `GetDirFsInfo(dir)`: the filesystem holding `dir` (a host path).
    ///
    /// # Errors
    /// As [`Self::root_fs_info`], and when the mount table cannot be read.
    pub fn dir_fs_info(&self, dir: &Path) -> Result<v2::FsInfo, EmbedError> {
        let mounts = crate::fs::select_mounts(&crate::fs::read_mounts(&self.host)?);
        let device = node::device_holding(&mounts, dir);
        self.fs_info_of_device(device, &dir.display().to_string())
    }

    /// Bytes and inodes below `dir` (a host path), walked like `du -x` (blocking; up to
    /// `max_entries` entries).
    ///
    /// # Errors
    /// When `dir` does not exist or cannot be read.
    pub fn dir_usage(&self, dir: &Path, max_entries: u64) -> Result<DirUsage, EmbedError> {
        Ok(dir_usage(
            &self.host.host_path(dir),
            max_entries,
            &mut || {},
        )?)
    }

    /// `WatchEvents(req)`: events as they are recorded, a [`futures::Stream`].
    pub fn watch_events(&self, req: EventRequest) -> EventWatch {
        self.collector.events().watch(req)
    }

    /// Events already recorded that match `req`.
    pub fn events(&self, req: &EventRequest) -> Vec<v1::Event> {
        self.collector.events().query(req)
    }

    /// kubelet's Summary of this node (reads the node's name, limits and mount table: blocking).
    ///
    /// # Errors
    /// [`EmbedError::Summary`] before the root container's first sample.
    pub fn summary(&self, scope: Scope) -> Result<Summary, EmbedError> {
        let facts = node::read(&self.host, scope == Scope::Full);
        Ok(summary::build(&self.snapshot(), &facts, scope)?)
    }

    /// The node facts [`Self::summary`] reads, for callers that build summaries themselves.
    pub fn node_facts(&self) -> NodeFacts {
        node::read(&self.host, true)
    }

    fn fs_info_of_device(
        &self,
        device: Option<String>,
        what: &str,
    ) -> Result<v2::FsInfo, EmbedError> {
        let missing = || EmbedError::NoFilesystem(what.to_string());
        let device = device.ok_or_else(missing)?;
        let snap = self.snapshot();
        let latest = snap
            .get("/")
            .and_then(|r| r.samples.latest())
            .ok_or_else(missing)?;
        let fs = latest
            .filesystem
            .iter()
            .find(|f| f.device == device)
            .ok_or_else(missing)?;
        let mountpoint = crate::fs::select_mounts(&crate::fs::read_mounts(&self.host)?)
            .into_iter()
            .find(|m| m.source == device || m.mount_point == device)
            .map(|m| PathBuf::from(m.mount_point).display().to_string())
            .unwrap_or_default();
        Ok(v2::FsInfo {
            timestamp: latest.timestamp,
            device: fs.device.clone(),
            mountpoint,
            capacity: fs.capacity,
            available: fs.available,
            usage: fs.usage,
            labels: Vec::new(),
            inodes: fs.has_inodes.then_some(fs.inodes),
            inodes_free: fs.has_inodes.then_some(fs.inodes_free),
        })
    }
}

fn lookup<'a>(snap: &'a Snapshot, name: &str) -> Result<&'a Arc<ContainerEntry>, EmbedError> {
    snap.get(name)
        .ok_or_else(|| EmbedError::UnknownContainer(name.to_string()))
}

/// The spec the REST API reports: an unset memory limit is the machine's memory.
fn adjusted_spec(spec: &v1::ContainerSpec, machine: &MachineInfo) -> v1::ContainerSpec {
    let mut spec = spec.clone();
    if spec.has_memory && spec.memory.limit == 0 {
        spec.memory.limit = machine.memory_capacity;
    }
    spec
}

fn v1_info(snap: &Snapshot, c: &ContainerEntry, req: &ContainerInfoRequest) -> v1::ContainerInfo {
    let start = (!req.start.is_zero()).then_some(req.start);
    let end = (!req.end.is_zero()).then_some(req.end);
    let max = usize::try_from(req.num_stats).ok();
    v1::ContainerInfo {
        reference: c.reference.clone(),
        subcontainers: snap
            .children(c.name())
            .map(|s| ContainerReference {
                name: s.name().to_owned(),
                ..ContainerReference::default()
            })
            .collect(),
        spec: adjusted_spec(&c.spec, &snap.machine),
        stats: c.samples.range(start, end, max),
    }
}
