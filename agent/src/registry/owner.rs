//! The task that owns the container set. Producers send; it drains in batches, applies, records
//! events, and publishes a new snapshot once per batch.
//!
//! A new container's creation event is recorded as soon as its event is applied; its files are read
//! by the opener thread ([`super::opener`]), asked after the batch and behind a yield, so the stream
//! tasks that event woke write it first, on this same worker thread. The owner itself never waits on
//! kernfs for a container the kernel just announced: the next event is never stuck behind the
//! previous container's reads.
//!
//! A container a runtime will describe (Docker's, Podman's, ...) is listed in the snapshot once
//! its runtime has answered and housekeeping has read its limits again, or `METADATA_WAIT` after
//! it was read when the runtime does not answer: a runtime answers once the container is set up
//! (Docker's inspect waits for the start to finish), limits written, so a client never sees the
//! defaults of the cgroup runc just made, and the container's first sample has what the metadata
//! brings (its filesystem entry). Its creation event is streamed at mkdir all the same.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::housekeeping::{Finding, HousekeepingHandle, Job, METADATA_WAIT};
use super::opener::{self, Done, Opened, Reads, Unopened};
use crate::cgroup::{ContainerReader, LateSpec, Layout};
use crate::events::oom_dedup::OomDedup;
use crate::events::store::EventStore;
use crate::events::{CgroupRef, Hierarchy, SourceEvent, SourceKind};
use crate::fs::usage::FsUsageTracker;
use crate::host::HostPaths;
use crate::machine::{MachineOptions, machine_info};
use crate::model::json::Timestamp;
use crate::model::machine::{MachineInfo, VersionInfo};
use crate::model::v1::{
    ContainerDeletionEventData, ContainerReference, ContainerSpec, Event, EventData, EventType,
    OomKillEventData,
};
use crate::query::{ContainerEntry, Samples, Snapshot};
use crate::runtime::{ContainerMetadata, MetadataUpdate, RuntimeHandle, RuntimeKind};
use crate::telemetry::events::{ContainersTracked, CreationRecorded};

/// What `Owner::add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Added {
    New,
    Known,
    /// Not admitted (`--docker_only`) or unreadable for another reason than being gone.
    Refused,
    /// The cgroup was removed before it could be read.
    Gone,
}

/// How long a removed name is remembered to recognise late events about it.
const TOMBSTONE_TTL: Duration = Duration::from_secs(10);

/// How long a container read before all its directories existed waits for the rest to appear.
const INCOMPLETE_WAIT: Duration = Duration::from_secs(10);

/// How long a deletion event waits for the runtime's exit code.
const EXIT_CODE_WAIT: Duration = Duration::from_secs(2);

/// Which cgroups become containers (`--docker_only`, `--raw_cgroup_prefix_whitelist`).
#[derive(Debug, Clone, Default)]
pub struct Admission {
    pub docker_only: bool,
    pub raw_prefix_whitelist: Vec<String>,
}

impl Admission {
    /// `meta`: what the runtime said about `name`, when it has answered. Kubernetes pod cgroups do not
    /// say which runtime made them (`Unresolved`): they are admitted once Docker claims them.
    fn accepts(&self, name: &str, meta: Option<&ContainerMetadata>) -> bool {
        if !self.docker_only || name == "/" {
            return true;
        }
        crate::runtime::id::classify(name).is_some_and(|c| c.kind == RuntimeKind::Docker)
            || meta.is_some_and(|m| m.runtime == RuntimeKind::Docker)
            || self
                .raw_prefix_whitelist
                .iter()
                .any(|p| name.starts_with(p.as_str()))
    }

    /// Whether a container refused now may still be admitted when its runtime answers.
    fn may_accept_later(&self, name: &str) -> bool {
        self.docker_only
            && crate::runtime::id::classify(name).is_some_and(|c| c.kind == RuntimeKind::Unresolved)
    }
}

/// Settings of the owner.
pub struct OwnerConfig {
    pub host: HostPaths,
    pub storage_duration: Duration,
    pub global_housekeeping_interval: Duration,
    pub admission: Admission,
    /// How long deleted containers stay scrapable (their OOM counts in particular).
    pub removed_retention: Duration,
    /// `--update_machine_info_interval`: machine info (filesystems, hugepages, ...) is re-read this often.
    pub update_machine_info_interval: Duration,
    pub machine_options: MachineOptions,
    /// Walks runtime containers' writable layers (`None` when the `disk` metrics are off).
    pub fs_usage: Option<FsUsageTracker>,
}

/// Inputs of the owner.
pub struct OwnerInputs {
    pub sources: mpsc::Receiver<SourceEvent>,
    pub metadata: mpsc::Receiver<MetadataUpdate>,
    pub housekeeping: mpsc::UnboundedReceiver<Finding>,
}

pub struct Owner {
    cfg: OwnerConfig,
    layout: Layout,
    machine: Arc<MachineInfo>,
    version: Arc<VersionInfo>,
    event_source: Option<SourceKind>,
    /// Keyed by shared names, so publishing a snapshot copies no name.
    containers: BTreeMap<Arc<str>, Arc<ContainerEntry>>,
    removed: Vec<(Instant, Arc<ContainerEntry>)>,
    /// Deletions of runtime-managed containers waiting (briefly) for the runtime's exit code.
    pending_deletions: HashMap<String, (Timestamp, Instant)>,
    /// The container set, a spec or machine info changed since the last published snapshot.
    dirty: bool,
    /// Recently removed names (for a few seconds), so late events about them are not news.
    tombstones: HashMap<String, Instant>,
    /// Cgroups that were gone before they could be read: creation recorded, deletion pending.
    ghosts: std::collections::HashSet<String>,
    /// Containers first read before all their directories existed (runtimes create one hierarchy's
    /// directory after another): the missing directories, rechecked on later creation events and
    /// rescans until `INCOMPLETE_WAIT` has passed.
    incomplete: HashMap<String, (Instant, Vec<PathBuf>)>,
    /// Announced containers queued for, or being read on, the opener thread (from `run` on; before,
    /// they are read here).
    reads: Reads,
    /// Cgroups held back by `--docker_only` until their runtime answers.
    pending: std::collections::HashSet<String>,
    /// Runtime metadata waiting for housekeeping's re-read of the container's limits (see
    /// `apply_metadata`); a name is here while that re-read is under way.
    held: HashMap<String, MetadataUpdate>,
    /// Runtime containers not listed yet, and since when: they are listed once their runtime has
    /// described them and their limits were read again (`respecced`), or with their first sample
    /// when the runtime does not answer within `METADATA_WAIT`. Until then their limits may not be
    /// written yet (runc writes them after making the cgroup), and cAdvisor, which inspects a
    /// Docker container before adding it, does not list them either.
    settling: HashMap<String, Instant>,
    /// cgroup directory inode → container name, for the memory (v1) and unified hierarchies; resolves
    /// eBPF OOM records.
    memcg_inodes: HashMap<u64, String>,
    unified_inodes: HashMap<u64, String>,
    /// Kills both the start-up read of the kernel log and a live source reported.
    oom_dedup: OomDedup,
    housekeeping: HousekeepingHandle,
    runtime: RuntimeHandle,
    events: Arc<EventStore>,
    published: Arc<RwLock<Arc<Snapshot>>>,
}

impl Owner {
    #[expect(
        clippy::too_many_arguments,
        reason = "built once by app.rs from its parts"
    )]
    pub fn new(
        cfg: OwnerConfig,
        layout: Layout,
        machine: MachineInfo,
        version: VersionInfo,
        housekeeping: HousekeepingHandle,
        runtime: RuntimeHandle,
        events: Arc<EventStore>,
        published: Arc<RwLock<Arc<Snapshot>>>,
    ) -> Self {
        Self {
            cfg,
            layout,
            machine: Arc::new(machine),
            version: Arc::new(version),
            event_source: None,
            containers: BTreeMap::new(),
            removed: Vec::new(),
            pending: Default::default(),
            held: HashMap::new(),
            settling: HashMap::new(),
            ghosts: Default::default(),
            tombstones: HashMap::new(),
            dirty: false,
            pending_deletions: HashMap::new(),
            incomplete: HashMap::new(),
            reads: Reads::default(),
            memcg_inodes: HashMap::new(),
            unified_inodes: HashMap::new(),
            oom_dedup: OomDedup::default(),
            housekeeping,
            runtime,
            events,
            published,
        }
    }

    pub fn set_event_source(&mut self, source: SourceKind) {
        self.event_source = Some(source);
    }

    /// Initial discovery: every existing cgroup becomes a container (and a creation event, as in
    /// cAdvisor). Publishes the first snapshot.
    pub fn discover(&mut self) {
        self.rescan();
        self.publish();
        info!(containers = self.containers.len(), "initial discovery done");
    }

    /// Runs until every input is closed.
    pub async fn run(mut self, mut inputs: OwnerInputs) {
        let mut rescan = tokio::time::interval(self.cfg.global_housekeeping_interval);
        rescan.tick().await;
        let mut machine_refresh = tokio::time::interval(self.cfg.update_machine_info_interval);
        machine_refresh.tick().await;
        let mut deletions = tokio::time::interval(EXIT_CODE_WAIT / 2);
        let mut settle = tokio::time::interval(METADATA_WAIT / 2);
        settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(1024);
        let mut runtime_status = self.runtime.status_changes();
        self.follow_runtime_status();
        let mut opened = match self.reads.start(self.layout.clone(), self.cfg.host.clone()) {
            Ok(answers) => answers,
            Err(e) => {
                warn!(error = %e, "cannot start the cgroup opener thread; reading containers on the owner task");
                mpsc::unbounded_channel().1
            }
        };
        loop {
            tokio::select! {
                n = inputs.sources.recv_many(&mut batch, 4096) => {
                    if n == 0 { return; }
                    for ev in batch.drain(..) { self.apply(ev); }
                    if self.reads.has_queued() {
                        tokio::task::yield_now().await;
                        self.request_queued();
                    }
                }
                done = opened.recv(), if self.reads.has_thread() => match done {
                    Some(done) => self.opened(done),
                    // The thread ended (it only does with a panic): read here from now on.
                    None => self.reads.lost_thread(),
                },
                Some(update) = inputs.metadata.recv() => self.apply_metadata(update),
                Some(finding) = inputs.housekeeping.recv() => match finding {
                    Finding::Gone(name) => self.remove_if_gone(&name, SystemTime::now()),
                    Finding::Spec { name, late } => self.apply_late_spec(&name, late),
                    Finding::Respecced { name, late } => self.respecced(&name, late),
                },
                Ok(()) = runtime_status.changed() => self.follow_runtime_status(),
                _ = rescan.tick() => self.rescan(),
                _ = deletions.tick(), if !self.pending_deletions.is_empty() => {
                    self.flush_pending_deletions(EXIT_CODE_WAIT);
                }
                _ = settle.tick(), if !self.settling.is_empty() => self.stop_waiting_for_runtimes(),
                _ = machine_refresh.tick() => {
                    // A few small files; cheap enough not to need its own thread.
                    self.machine = Arc::new(machine_info(&self.cfg.host, &self.cfg.machine_options));
                    self.dirty = true;
                }
            }
            // Copying the container map is O(containers): only when something consumers see changed.
            if std::mem::take(&mut self.dirty) {
                self.publish();
            }
        }
    }

    fn apply(&mut self, ev: SourceEvent) {
        match ev {
            SourceEvent::CgroupCreated {
                hierarchy,
                name,
                at,
                ..
            } => self.created(&name, &hierarchy, at),
            SourceEvent::CgroupRemoved { name, at, .. } => {
                if self.reads.is_unread(&name) || self.ghosts.contains(&name) {
                    // Announced and not read (yet, or ever: a ghost): this removal completes it
                    // once no listed hierarchy has it.
                    if !self.layout.exists(&name) {
                        self.reads.cancel(&name);
                        self.ghost_removed(&name, at);
                    }
                } else {
                    self.remove_if_gone(&name, at);
                }
            }
            SourceEvent::OomKill {
                target,
                pid,
                process_name,
                constraint,
                at,
                replayed,
            } => {
                self.open_unread_now();
                self.oom_kill(target, pid, process_name, constraint, at, replayed);
            }
            SourceEvent::RescanNeeded { reason } => {
                debug!(reason, "rescan requested by a producer");
                self.rescan();
            }
        }
    }

    /// A producer saw a cgroup appear. Its creation event is recorded before the (slower) read of
    /// its spec, so stream clients see it as soon as the kernel reports it. A cgroup that is gone
    /// again before we could read it still existed: it keeps its creation event and gets its deletion
    /// event when the removal arrives (a "ghost"), so short-lived containers are neither lost nor
    /// half-reported.
    fn created(&mut self, name: &str, hierarchy: &Hierarchy, at: SystemTime) {
        if self.containers.contains_key(name) {
            // Seen on another hierarchy first: that hierarchy's directory may not have existed then.
            self.index_inodes(name);
            self.complete(name);
            return;
        }
        if self.reads.saw_another_dir(name) || !self.layout.lists(hierarchy) {
            // Another hierarchy's directory of a container about to be read, or a directory in a
            // hierarchy containers are not listed from (its removal may even come after the
            // container's): the listed hierarchies' own events announce the container.
            return;
        }
        let Some(meta) = self.admit(name) else {
            return;
        };
        // A late creation event (another hierarchy's mkdir) for a container we already saw come and
        // go is not a new container, and a ghost was announced already: read it now, announce only
        // if it is really there.
        if self.ghosts.contains(name) || self.tombstones.contains_key(name) {
            self.open_and_insert(name, at, meta, false);
            return;
        }
        let ts = meta
            .as_deref()
            .and_then(|m| m.creation_time)
            .or_else(|| self.dir_mtime(hierarchy, name))
            .unwrap_or(at);
        self.record(
            name,
            Timestamp::from(ts),
            EventType::ContainerCreation,
            EventData::default(),
        );
        CreationRecorded { seen: at }.emit();
        self.reads.queue(name, at);
    }

    /// Asks the opener for the containers announced in this batch.
    fn request_queued(&mut self) {
        for (name, at) in self.reads.take_queued() {
            if !self.containers.contains_key(name.as_str()) {
                self.request_open(&name, at, false);
            }
        }
    }

    /// Reads `name` on the opener thread (on this task when there is none). `rebuild`: it is
    /// installed already, with directories missing then.
    fn request_open(&mut self, name: &str, at: SystemTime, rebuild: bool) {
        let memory = self.machine.memory_capacity;
        if self.reads.request(name, at, rebuild, memory) {
            return;
        }
        let opened = self.open(name);
        self.finish_open(name, at, rebuild, opened);
    }

    /// The opener's answer (see `Reads::answered` for the ones dropped).
    fn opened(&mut self, done: Done) {
        let Some(o) = self.reads.answered(&done) else {
            return;
        };
        self.finish_open(&done.name, o.at, o.rebuild, done.opened);
        if o.again {
            self.complete(&done.name);
        }
    }

    fn finish_open(&mut self, name: &str, at: SystemTime, rebuild: bool, opened: Opened) {
        if rebuild {
            self.rebuilt(name, opened);
        } else {
            let meta = self.runtime.lookup(name);
            self.insert_opened(name, at, meta, true, opened);
        }
    }

    /// Reads, on this task, every announced container not read yet: an OOM kill must find its
    /// container's inodes, a rescan must not announce it again. The opener's answers for them are
    /// then dropped.
    fn open_unread_now(&mut self) {
        for (name, at) in self.reads.take_unread() {
            if !self.containers.contains_key(name.as_str()) {
                let meta = self.runtime.lookup(&name);
                self.open_and_insert(&name, at, meta, true);
            }
        }
    }

    /// Completes an announced container that was never read, once the caller saw it gone.
    fn ghost_removed(&mut self, name: &str, at: SystemTime) {
        self.ghosts.remove(name);
        self.tombstones.insert(name.to_string(), Instant::now());
        self.record_deletion(name, Timestamp::from(at), None);
    }

    /// Adds new cgroups and removes vanished ones.
    fn rescan(&mut self) {
        self.open_unread_now();
        let found = self.layout.list_containers();
        let now = SystemTime::now();
        let known: Vec<String> = self.containers.keys().map(|k| k.to_string()).collect();
        let found_set: std::collections::HashSet<&str> = found.iter().map(String::as_str).collect();
        for name in known {
            if !found_set.contains(name.as_str()) {
                self.remove(&name, now);
            }
        }
        for name in &found {
            self.add(name, now);
        }
        // Directories that appeared without an event we saw (queue overflow, inotify limits).
        self.incomplete
            .retain(|_, (since, _)| since.elapsed() < INCOMPLETE_WAIT);
        let incomplete: Vec<String> = self.incomplete.keys().cloned().collect();
        for name in incomplete {
            self.complete(&name);
        }
        // Lets publish() prune containers past their retention even when nothing else changed.
        if !self.removed.is_empty() {
            self.dirty = true;
        }
        // A ghost whose removal event was lost (queue overflow) ends here.
        let lost: Vec<String> = self
            .ghosts
            .iter()
            .filter(|g| !self.layout.exists(g))
            .cloned()
            .collect();
        for name in lost {
            self.ghost_removed(&name, now);
        }
    }

    /// Starts watching `name` (found by a rescan); records its creation event after reading it.
    fn add(&mut self, name: &str, at: SystemTime) -> Added {
        if self.containers.contains_key(name) {
            return Added::Known;
        }
        match self.admit(name) {
            Some(meta) => self.open_and_insert(name, at, meta, false),
            None => Added::Refused,
        }
    }

    /// `None` when `--docker_only` refuses `name` (for now: its runtime may still claim it), else
    /// what the runtime knows of it so far.
    fn admit(&mut self, name: &str) -> Option<Option<Arc<ContainerMetadata>>> {
        let meta = self.runtime.lookup(name);
        if !self.cfg.admission.accepts(name, meta.as_deref()) {
            if meta.is_none() && self.cfg.admission.may_accept_later(name) {
                self.runtime.request(name);
                self.pending.insert(name.to_string());
            }
            return None;
        }
        Some(meta)
    }

    /// Reads an admitted container and hands it to housekeeping. `announced`: its creation event was
    /// recorded already; if it is gone by now it becomes a ghost, whose removal completes it.
    fn open_and_insert(
        &mut self,
        name: &str,
        at: SystemTime,
        meta: Option<Arc<ContainerMetadata>>,
        announced: bool,
    ) -> Added {
        let opened = self.open(name);
        self.insert_opened(name, at, meta, announced, opened)
    }

    /// `open_and_insert` once the container has been read.
    fn insert_opened(
        &mut self,
        name: &str,
        at: SystemTime,
        meta: Option<Arc<ContainerMetadata>>,
        announced: bool,
        opened: Opened,
    ) -> Added {
        let (reader, spec) = match opened {
            Ok((reader, spec)) => (reader, self.root_limits(name, spec)),
            Err(Unopened::Gone) if announced => {
                self.ghosts.insert(name.to_string());
                return Added::Gone;
            }
            Err(Unopened::Gone) => return Added::Gone,
            Err(Unopened::Refused) => return Added::Refused,
        };
        // A runtime's container is sampled first once its runtime has described it.
        let await_metadata = meta.is_none() && self.runtime.will_describe(name);
        if meta.is_none() {
            self.runtime.request(name);
        }
        let samples = Arc::new(Samples::new(self.cfg.storage_duration, &spec));
        let created = self.install(name, reader, spec, meta.as_deref(), samples, await_metadata);
        self.index_inodes(name);
        // A ghost that turns out readable after all (a rescan found it in another hierarchy) was
        // already announced.
        if !self.ghosts.remove(name) && !announced {
            let ts = if created == Timestamp::ZERO {
                Timestamp::from(at)
            } else {
                created
            };
            self.record(name, ts, EventType::ContainerCreation, EventData::default());
        }
        Added::New
    }

    /// Starts walking the writable layer the runtime names, if any (sets `has_filesystem`).
    fn attach_fs(&self, name: &str, meta: Option<&ContainerMetadata>, spec: &mut ContainerSpec) {
        if let (Some(t), Some(m)) = (&self.cfg.fs_usage, meta)
            && t.attach(name, m)
        {
            spec.has_filesystem = true;
        }
    }

    /// A reader for `name` and its spec, read on this task.
    fn open(&self, name: &str) -> Opened {
        opener::open(
            &self.layout,
            &self.cfg.host,
            name,
            self.machine.memory_capacity,
        )
    }

    /// The spec as published: the root cgroup's limits are the machine's (see `root_spec`).
    fn root_limits(&self, name: &str, spec: ContainerSpec) -> ContainerSpec {
        match name {
            "/" => root_spec(spec, &self.machine),
            _ => spec,
        }
    }

    fn track_missing(&mut self, name: &str, reader: &ContainerReader) {
        let missing = reader.missing_dirs(&self.layout);
        if missing.is_empty() {
            self.incomplete.remove(name);
        } else {
            let since = self
                .incomplete
                .get(name)
                .map_or_else(Instant::now, |(t, _)| *t);
            self.incomplete.insert(name.to_string(), (since, missing));
        }
    }

    /// Rebuilds the reader (and spec) of a container read before all its directories existed, once
    /// one of them has appeared; the stored samples carry over.
    fn complete(&mut self, name: &str) {
        let Some((_, missing)) = self.incomplete.get(name) else {
            return;
        };
        if self.reads.saw_another_dir(name) {
            return;
        }
        if !missing.iter().any(|d| d.is_dir()) {
            return;
        }
        if !self.containers.contains_key(name) {
            self.incomplete.remove(name);
            return;
        }
        self.request_open(name, SystemTime::now(), true);
    }

    /// `complete` once the container has been read again.
    fn rebuilt(&mut self, name: &str, opened: Opened) {
        let Some(old) = self.containers.get(name).cloned() else {
            self.incomplete.remove(name);
            return;
        };
        let Ok((reader, spec)) = opened else {
            // Gone: its removal event (or the next rescan) retires it.
            self.incomplete.remove(name);
            return;
        };
        let spec = self.root_limits(name, spec);
        let samples = if (spec.has_cpu, spec.has_memory) == (old.spec.has_cpu, old.spec.has_memory)
        {
            old.samples.clone()
        } else {
            // The summary tracker depends on these flags.
            Arc::new(Samples::new(self.cfg.storage_duration, &spec))
        };
        let meta = self.runtime.lookup(name);
        // Still waiting for its runtime, as when it was first read.
        let await_metadata =
            meta.is_none() && samples.latest().is_none() && self.runtime.will_describe(name);
        self.install(name, reader, spec, meta.as_deref(), samples, await_metadata);
    }

    /// Publishes the container's entry and hands its reader to housekeeping (replacing an earlier
    /// one); returns the entry's creation time. `await_metadata`: its first sample waits for the
    /// runtime's description (see `housekeeping::Job::Add`).
    fn install(
        &mut self,
        name: &str,
        reader: ContainerReader,
        mut spec: ContainerSpec,
        meta: Option<&ContainerMetadata>,
        samples: Arc<Samples>,
        await_metadata: bool,
    ) -> Timestamp {
        self.track_missing(name, &reader);
        self.attach_fs(name, meta, &mut spec);
        if let Some(m) = meta {
            samples.set_health(&m.health);
        }
        let entry = entry_with(name, spec, meta, samples.clone());
        let created = entry.spec.creation_time;
        let late_spec = (name != "/").then(|| LateSpec::of(&entry.spec));
        if await_metadata {
            self.settling
                .entry(name.to_string())
                .or_insert_with(Instant::now);
        }
        self.containers.insert(Arc::from(name), Arc::new(entry));
        self.dirty = true;
        self.housekeeping.send(Job::Add {
            name: name.to_string(),
            reader: Box::new(reader),
            samples,
            late_spec,
            machine_memory: self.machine.memory_capacity,
            await_metadata,
        });
        created
    }

    /// Modification time of `name`'s directory in `hierarchy` (a listed one): when it was made, for
    /// a new cgroup.
    fn dir_mtime(&self, hierarchy: &Hierarchy, name: &str) -> Option<SystemTime> {
        let mount = self
            .layout
            .hierarchy_mounts()
            .into_iter()
            .find_map(|(h, m)| (h == *hierarchy).then_some(m))?;
        let dir = Layout::dir_in(&mount, name).ok()?;
        std::fs::metadata(dir).and_then(|m| m.modified()).ok()
    }

    fn remove_if_gone(&mut self, name: &str, at: SystemTime) {
        if self.containers.contains_key(name) && !self.layout.exists(name) {
            self.remove(name, at);
        }
    }

    fn remove(&mut self, name: &str, at: SystemTime) {
        self.pending.remove(name);
        self.held.remove(name);
        self.settling.remove(name);
        self.incomplete.remove(name);
        self.reads.cancel(name);
        let Some(entry) = self.containers.remove(name) else {
            return;
        };
        self.dirty = true;
        self.housekeeping.send(Job::Remove {
            name: name.to_string(),
        });
        // Also when its metadata, which started the walks, was not published yet (one map removal).
        if let Some(t) = &self.cfg.fs_usage {
            t.forget(name);
        }
        self.tombstones.insert(name.to_string(), Instant::now());
        self.memcg_inodes.retain(|_, n| n != name);
        self.unified_inodes.retain(|_, n| n != name);
        let exit_code = self.runtime.lookup(name).and_then(|m| m.exit_code);
        let managed = !entry.reference.namespace.is_empty();
        self.removed.push((Instant::now(), entry));
        match exit_code {
            // The runtime's refresh after the container's exit usually lands just after the cgroup
            // is gone: wait for it a little so the event carries the exit code, as cAdvisor's does.
            None if managed => {
                let pending = (Timestamp::from(at), Instant::now());
                self.pending_deletions.insert(name.to_string(), pending);
            }
            _ => self.record_deletion(name, Timestamp::from(at), exit_code),
        }
    }

    fn record_deletion(&self, name: &str, at: Timestamp, exit_code: Option<i64>) {
        let deletion = ContainerDeletionEventData {
            exit_code: exit_code.unwrap_or(-1),
        };
        let data = EventData {
            container_deletion: Some(deletion),
            ..EventData::default()
        };
        self.record(name, at, EventType::ContainerDeletion, data);
    }

    /// Records deletions whose exit code did not come in time.
    fn flush_pending_deletions(&mut self, max_wait: Duration) {
        let expired: Vec<String> = self
            .pending_deletions
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= max_wait)
            .map(|(n, _)| n.clone())
            .collect();
        for name in expired {
            if let Some((at, _)) = self.pending_deletions.remove(&name) {
                self.record_deletion(&name, at, None);
            }
        }
    }

    fn oom_kill(
        &mut self,
        target: CgroupRef,
        pid: u32,
        process_name: String,
        constraint: String,
        at: SystemTime,
        replayed: bool,
    ) {
        let name = match target {
            CgroupRef::Name(n) => n,
            CgroupRef::Ids {
                memcg_ino,
                cgroup2_id,
            } => self.resolve_ids(memcg_ino, cgroup2_id),
        };
        if !self.oom_dedup.admit(pid, &name, replayed, Instant::now()) {
            debug!(pid, container = %name, "OOM kill reported by the start-up kernel log read and the live source; kept once");
            return;
        }
        // A container whose kill ended it may be gone by the time the kill is reported (the
        // counters' fallback pairs the kernel log line a little later): its count still goes up.
        let counted = self.containers.get(name.as_str()).or_else(|| {
            self.removed
                .iter()
                .rev()
                .find_map(|(_, e)| (e.name() == name).then_some(e))
        });
        if let Some(c) = counted {
            c.samples.record_oom_kill();
        }
        let ts = Timestamp::from(at);
        self.record(&name, ts, EventType::Oom, EventData::default());
        let data = EventData {
            oom_kill: Some(OomKillEventData {
                pid: pid as i64,
                process_name,
                constraint,
            }),
            ..EventData::default()
        };
        self.record(&name, ts, EventType::OomKill, data);
    }

    /// Housekeeping read other limits, or another network answer, than the published ones.
    fn apply_late_spec(&mut self, name: &str, late: LateSpec) {
        let Some(entry) = self.containers.get_mut(name) else {
            return;
        };
        let mut spec = entry.spec.clone();
        late.apply_to(&mut spec);
        *entry = Arc::new(ContainerEntry {
            reference: entry.reference.clone(),
            spec,
            samples: entry.samples.clone(),
        });
        self.dirty = true;
    }

    /// Runtime metadata for a container (see the module docs). Its limits may not have been written
    /// when the container was first read: the update is held until housekeeping has read them
    /// again, and both are published together (with the container itself, if it was not listed
    /// yet). The layer's walk starts here, before that read, so a first sample taken with it has
    /// the filesystem entry.
    fn apply_metadata(&mut self, update: MetadataUpdate) {
        if let Some((at, _)) = self.pending_deletions.remove(&update.name) {
            let exit_code = update.meta.as_ref().and_then(|m| m.exit_code);
            self.record_deletion(&update.name, at, exit_code);
            return;
        }
        if !self.containers.contains_key(update.name.as_str()) {
            return;
        }
        if let (Some(t), Some(m)) = (&self.cfg.fs_usage, update.meta.as_deref()) {
            t.attach(&update.name, m);
        }
        let name = update.name.clone();
        // A re-read under way publishes the newest update when it lands.
        if self.held.insert(name.clone(), update).is_none() {
            self.housekeeping.send(Job::Respec { name });
        }
    }

    /// Housekeeping re-read `name`'s limits (`late`: when they changed): publish them with the
    /// metadata held for it.
    fn respecced(&mut self, name: &str, late: Option<LateSpec>) {
        if let Some(late) = late {
            self.apply_late_spec(name, late);
        }
        if self.settling.remove(name).is_some() {
            self.dirty = true;
        }
        if let Some(update) = self.held.remove(name) {
            self.publish_metadata(update);
        }
    }

    fn publish_metadata(&mut self, update: MetadataUpdate) {
        let Some(old) = self.containers.get(update.name.as_str()) else {
            return;
        };
        if update.meta.is_none() && old.reference.namespace.is_empty() {
            // "No runtime owns this" about a raw cgroup: nothing changes.
            return;
        }
        if let Some(m) = update.meta.as_deref() {
            old.samples.set_health(&m.health);
        }
        let mut spec = strip_runtime_fields(&old.spec);
        self.attach_fs(&update.name, update.meta.as_deref(), &mut spec);
        let entry = entry_with(
            &update.name,
            spec,
            update.meta.as_deref(),
            old.samples.clone(),
        );
        self.containers
            .insert(Arc::from(update.name), Arc::new(entry));
        self.dirty = true;
    }

    /// Lists the runtime containers housekeeping never reported on (it does, with their first
    /// sample, `METADATA_WAIT` after they were read): a backstop.
    fn stop_waiting_for_runtimes(&mut self) {
        let before = self.settling.len();
        self.settling
            .retain(|_, since| since.elapsed() < 2 * METADATA_WAIT);
        if self.settling.len() != before {
            self.dirty = true;
        }
    }

    /// The Docker daemon's version follows its connection.
    fn follow_runtime_status(&mut self) {
        let status = self.runtime.status();
        let docker = status
            .get(RuntimeKind::Docker)
            .filter(|s| s.connected)
            .map(|s| (s.version.as_str(), s.api_version.as_str()));
        if let Some(v) = crate::machine::version::with_docker(&self.version, docker) {
            self.version = Arc::new(v);
            self.dirty = true;
        }
    }

    /// The container whose memory (v1) or unified cgroup directory has this inode. A miss re-indexes
    /// every container once: a directory created after the container was first seen (Docker creates
    /// one hierarchy's directory after another) is then found.
    fn resolve_ids(&mut self, memcg_ino: u64, cgroup2_id: u64) -> String {
        let lookup = |o: &Self| {
            o.memcg_inodes
                .get(&memcg_ino)
                .or_else(|| o.unified_inodes.get(&cgroup2_id))
                .cloned()
        };
        if let Some(name) = lookup(self) {
            return name;
        }
        let names: Vec<String> = self.containers.keys().map(|k| k.to_string()).collect();
        for name in &names {
            self.index_inodes(name);
        }
        lookup(self).unwrap_or_else(|| "/".to_string())
    }

    fn index_inodes(&mut self, name: &str) {
        for (hierarchy, mount) in self.layout.hierarchy_mounts() {
            let index = match &hierarchy {
                Hierarchy::V1(c) if c == "memory" => &mut self.memcg_inodes,
                Hierarchy::Unified => &mut self.unified_inodes,
                _ => continue,
            };
            let dir = mount.join(name.trim_start_matches('/'));
            if let Ok(md) = std::fs::metadata(&dir) {
                index.insert(md.ino(), name.to_string());
            }
        }
    }

    fn record(
        &self,
        name: &str,
        timestamp: Timestamp,
        event_type: EventType,
        event_data: EventData,
    ) {
        self.events.add(Event {
            container_name: name.to_string(),
            timestamp,
            event_type,
            event_data,
        });
    }

    fn publish(&mut self) {
        ContainersTracked {
            count: self.containers.len(),
        }
        .emit();
        self.tombstones.retain(|_, t| t.elapsed() < TOMBSTONE_TTL);
        let retention = self.cfg.removed_retention;
        self.removed.retain(|(t, _)| t.elapsed() < retention);
        let containers = if self.settling.is_empty() {
            self.containers.clone()
        } else {
            self.containers
                .iter()
                .filter(|(name, _)| !self.settling.contains_key(&***name))
                .map(|(name, entry)| (name.clone(), entry.clone()))
                .collect()
        };
        let snapshot = Snapshot {
            machine: self.machine.clone(),
            version: self.version.clone(),
            containers,
            recently_removed: self.removed.iter().map(|(_, e)| e.clone()).collect(),
            event_source: self.event_source,
        };
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
    }
}

/// The root cgroup describes the machine: cAdvisor reports the machine's memory and swap as its
/// limits rather than the root cgroup's (unlimited) files.
fn root_spec(mut spec: ContainerSpec, machine: &MachineInfo) -> ContainerSpec {
    spec.memory.limit = machine.memory_capacity;
    spec.memory.swap_limit = machine.swap_capacity;
    spec
}

/// A container entry from its cgroup spec and (when known) its runtime metadata.
fn entry_with(
    name: &str,
    mut spec: ContainerSpec,
    meta: Option<&ContainerMetadata>,
    samples: Arc<Samples>,
) -> ContainerEntry {
    let mut reference = ContainerReference {
        name: name.to_string(),
        ..Default::default()
    };
    if let Some(m) = meta {
        reference.id = m.id.clone();
        reference.aliases = m.aliases.clone();
        reference.namespace = m.namespace.clone();
        spec.labels = m.labels.clone().into_iter().collect();
        spec.envs = m.envs.clone().into_iter().collect();
        spec.image = m.image.clone();
        if let Some(t) = m.creation_time {
            spec.creation_time = Timestamp::from(t);
        }
        if let Some(t) = m.start_time {
            spec.start_time = Timestamp::from(t);
        }
    }
    ContainerEntry {
        reference,
        spec,
        samples,
    }
}

/// The cgroup-derived part of a spec (runtime fields are re-applied from fresh metadata).
fn strip_runtime_fields(spec: &ContainerSpec) -> ContainerSpec {
    ContainerSpec {
        labels: Default::default(),
        envs: Default::default(),
        image: String::new(),
        ..spec.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_only_admits_root_docker_and_whitelisted_prefixes() {
        let all = Admission::default();
        assert!(all.accepts("/system.slice/foo.service", None));
        let only = Admission {
            docker_only: true,
            raw_prefix_whitelist: vec!["/kubepods".into()],
        };
        assert!(only.accepts("/", None));
        assert!(only.accepts(&format!("/docker/{ID}"), None));
        assert!(only.accepts("/kubepods/burstable", None));
        assert!(!only.accepts("/system.slice/foo.service", None));
        let no_whitelist = Admission {
            docker_only: true,
            raw_prefix_whitelist: vec![],
        };
        let pod_container = format!("/kubepods/besteffort/pod1234/{ID}");
        assert!(!no_whitelist.accepts(&pod_container, None));
        assert!(no_whitelist.may_accept_later(&pod_container));
    }
}
