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
//!
//! What happens to a container, and when, is decided by the lifecycle state machine
//! ([`super::lifecycle`]); this task is its driver: it turns producers' messages and timers into
//! lifecycle inputs, performs the effects it answers with (the reads, kernfs lookups, events,
//! entries and snapshots), and feeds their results back.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::cache::Samples;
use super::housekeeping::{Finding, HousekeepingHandle, Job};
use super::lifecycle::{Effect, Input, Lifecycle, Read, TICK, World};
use super::opener::{self, Done, Opened, Opener};
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
use crate::query::{ContainerEntry, Snapshot};
use crate::runtime::{ContainerMetadata, MetadataUpdate, RuntimeHandle, RuntimeKind};
use crate::telemetry::events::{ContainersTracked, CreationRecorded, EventLossRescanned};

pub use super::lifecycle::Admission;

/// What a read makes: the container's reader and its cgroup spec (boxed: 1.6 kB, which every
/// lifecycle input and effect would otherwise be).
type Made = Box<(ContainerReader, ContainerSpec)>;
const _: () = assert!(size_of::<Effect<Made>>() <= 128 && size_of::<Input<Made>>() <= 128);

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
    lifecycle: Lifecycle,
    /// The live containers' entries, keyed by shared names, so publishing a snapshot copies no name.
    containers: BTreeMap<Arc<str>, Arc<ContainerEntry>>,
    /// Removed containers' entries, oldest first, while the lifecycle retains them.
    removed: VecDeque<Arc<ContainerEntry>>,
    /// The container set, a spec or machine info changed since the last published snapshot.
    dirty: bool,
    /// Reads new containers (from `run` on; before, and when it is gone, they are read here).
    opener: Option<Opener>,
    /// The opener thread was found gone by a request: the lifecycle is told once the message that
    /// led to it is handled.
    opener_lost: bool,
    /// cgroup directory inode → container name, for the memory (v1) and unified hierarchies; resolves
    /// eBPF OOM records.
    memcg_inodes: HashMap<u64, String>,
    unified_inodes: HashMap<u64, String>,
    /// Kills both the start-up read of the kernel log and a live source reported.
    oom_dedup: OomDedup,
    /// Creation and deletion events recorded so far (what a rescan after a loss recovered is the
    /// difference).
    recorded: Recorded,
    /// A producer reported a loss in the batch being applied (the last reason).
    loss: Option<&'static str>,
    housekeeping: HousekeepingHandle,
    runtime: RuntimeHandle,
    events: Arc<EventStore>,
    published: Arc<RwLock<Arc<Snapshot>>>,
}

/// The lifecycle's view of the world: the cgroup tree (kernfs) and the runtimes' caches.
struct Surroundings<'a> {
    layout: &'a Layout,
    runtime: &'a RuntimeHandle,
}

impl World for Surroundings<'_> {
    fn exists(&self, name: &str) -> bool {
        self.layout.exists(name)
    }

    fn lists(&self, hierarchy: &Hierarchy) -> bool {
        self.layout.lists(hierarchy)
    }

    fn any_dir(&self, dirs: &[PathBuf]) -> bool {
        dirs.iter().any(|d| d.is_dir())
    }

    fn metadata(&self, name: &str) -> Option<Arc<ContainerMetadata>> {
        self.runtime.lookup(name)
    }

    fn will_describe(&self, name: &str) -> bool {
        self.runtime.will_describe(name)
    }
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
        let lifecycle = Lifecycle::new(cfg.admission.clone(), cfg.removed_retention);
        Self {
            cfg,
            layout,
            machine: Arc::new(machine),
            version: Arc::new(version),
            event_source: None,
            lifecycle,
            containers: BTreeMap::new(),
            removed: VecDeque::new(),
            dirty: false,
            opener: None,
            opener_lost: false,
            memcg_inodes: HashMap::new(),
            unified_inodes: HashMap::new(),
            oom_dedup: OomDedup::default(),
            recorded: Recorded::default(),
            loss: None,
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
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(1024);
        let mut runtime_status = self.runtime.status_changes();
        self.follow_runtime_status();
        let mut opened = match Opener::spawn(self.layout.clone(), self.cfg.host.clone()) {
            Ok((opener, answers)) => {
                self.opener = Some(opener);
                answers
            }
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
                    // After the whole batch: one walk of the tree (which is newer than every event
                    // of it) serves every loss reported in it.
                    if let Some(reason) = self.loss.take() {
                        self.rescan_after_loss(reason);
                    }
                    if self.lifecycle.has_queued() {
                        tokio::task::yield_now().await;
                        self.drive(Input::BatchApplied);
                    }
                }
                done = opened.recv(), if self.opener.is_some() => match done {
                    Some(done) => self.opened(done),
                    // The thread ended (it only does with a panic): read here from now on.
                    None => self.lose_opener(),
                },
                Some(update) = inputs.metadata.recv() => {
                    let MetadataUpdate { name, meta } = update;
                    self.drive(Input::Metadata { name, meta });
                }
                Some(finding) = inputs.housekeeping.recv() => match finding {
                    Finding::Gone(name) => {
                        self.drive(Input::FoundGone { name, at: SystemTime::now() });
                    }
                    Finding::Spec { name, late } => self.apply_late_spec(&name, late),
                    Finding::Respecced { name, late } => {
                        if let Some(late) = late {
                            self.apply_late_spec(&name, late);
                        }
                        self.drive(Input::Respecced { name });
                    }
                },
                Ok(()) = runtime_status.changed() => self.follow_runtime_status(),
                _ = rescan.tick() => self.rescan(),
                _ = ticks.tick(), if self.lifecycle.wants_ticks() => self.drive(Input::Tick),
                _ = machine_refresh.tick() => {
                    // A few small files; cheap enough not to need its own thread.
                    self.machine = Arc::new(machine_info(&self.cfg.host, &self.cfg.machine_options));
                    self.dirty = true;
                }
            }
            if std::mem::take(&mut self.opener_lost) {
                self.drive(Input::OpenerLost);
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
            } => self.drive(Input::Created {
                name,
                hierarchy,
                at,
            }),
            SourceEvent::CgroupRemoved { name, at, .. } => self.drive(Input::Removed { name, at }),
            SourceEvent::OomKill {
                target,
                pid,
                process_name,
                constraint,
                at,
                replayed,
            } => {
                self.drive(Input::ReadUnreadNow);
                self.oom_kill(target, pid, process_name, constraint, at, replayed);
            }
            SourceEvent::RescanNeeded { reason } => {
                debug!(reason, "rescan requested by a producer");
                self.loss = Some(reason);
            }
        }
    }

    /// A producer lost events: rescans now and says what that recovered.
    fn rescan_after_loss(&mut self, reason: &'static str) {
        let before = self.recorded;
        self.rescan();
        EventLossRescanned {
            reason,
            creations: self.recorded.creations - before.creations,
            deletions: self.recorded.deletions - before.deletions,
        }
        .emit();
    }

    /// Steps the lifecycle and performs what it answers.
    fn drive(&mut self, input: Input<Made>) {
        let world = Surroundings {
            layout: &self.layout,
            runtime: &self.runtime,
        };
        let effects = self.lifecycle.step(Instant::now(), &world, input);
        for effect in effects {
            self.perform(effect);
        }
    }

    fn perform(&mut self, effect: Effect<Made>) {
        match effect {
            Effect::Announce {
                name,
                hierarchy,
                seen,
                created,
            } => {
                let ts = created
                    .or_else(|| self.dir_mtime(&hierarchy, &name))
                    .unwrap_or(seen);
                let data = EventData::default();
                self.record(name, ts.into(), EventType::ContainerCreation, data);
                self.recorded.creations += 1;
                CreationRecorded { seen }.emit();
            }
            Effect::Read {
                name,
                ticket,
                urgent,
            } => self.read(name, ticket, urgent),
            Effect::RequestMetadata { name } => self.runtime.request(&name),
            Effect::Install {
                name,
                read,
                meta,
                rebuild,
                await_metadata,
                announce,
            } => {
                let created =
                    self.install_read(&name, read, meta.as_deref(), rebuild, await_metadata);
                if let Some(seen) = announce {
                    let ts = if created == Timestamp::ZERO {
                        Timestamp::from(seen)
                    } else {
                        created
                    };
                    let data = EventData::default();
                    self.record(name, ts, EventType::ContainerCreation, data);
                    self.recorded.creations += 1;
                }
            }
            Effect::IndexInodes { name } => self.index_inodes(&name),
            Effect::Retire { name } => self.retire(&name),
            Effect::Deleted {
                name,
                at,
                exit_code,
            } => {
                self.record_deletion(name, at.into(), exit_code);
                self.recorded.deletions += 1;
            }
            Effect::WalkLayer { name, meta } => {
                if let Some(t) = &self.cfg.fs_usage {
                    t.attach(&name, &meta);
                }
            }
            Effect::Respec { name } => self.housekeeping.send(Job::Respec { name }),
            Effect::PublishMetadata { name, meta } => self.publish_metadata(name, meta),
            Effect::List { .. } => self.dirty = true,
            Effect::ForgetRemoved { name } => {
                if let Some(i) = self.removed.iter().position(|e| e.name() == name) {
                    self.removed.remove(i);
                    self.dirty = true;
                }
            }
            Effect::CountOomKill { name } => {
                let counted = self
                    .containers
                    .get(name.as_str())
                    .or_else(|| self.removed.iter().rev().find(|e| e.name() == name));
                if let Some(c) = counted {
                    c.samples.record_oom_kill();
                }
            }
        }
    }

    /// Reads `name` on the opener thread, or here when urgent or there is none (any more).
    fn read(&mut self, name: String, ticket: u64, urgent: bool) {
        if !urgent && let Some(opener) = &self.opener {
            if opener.request(&name, ticket, self.machine.memory_capacity) {
                return;
            }
            self.opener = None;
            self.opener_lost = true;
        }
        let opened = opener::open(
            &self.layout,
            &self.cfg.host,
            &name,
            self.machine.memory_capacity,
        );
        let read = self.made(opened);
        self.drive(Input::ReadDone { name, ticket, read });
    }

    /// The opener's answer.
    fn opened(&mut self, done: Done) {
        let read = self.made(done.opened);
        self.drive(Input::ReadDone {
            name: done.name,
            ticket: done.ticket,
            read,
        });
    }

    /// A read's outcome, with the directories its reader lacks.
    fn made(&self, opened: Opened) -> Result<Read<Made>, opener::Unopened> {
        opened.map(|(reader, spec)| Read {
            missing: reader.missing_dirs(&self.layout),
            read: Box::new((reader, spec)),
        })
    }

    fn lose_opener(&mut self) {
        if self.opener.take().is_some() {
            warn!("the cgroup opener thread is gone; reading containers on the owner task");
        }
        self.drive(Input::OpenerLost);
    }

    /// Adds new cgroups and removes vanished ones. Announced containers not read yet are read
    /// first: the walk must not announce them again.
    fn rescan(&mut self) {
        self.drive(Input::ReadUnreadNow);
        let found = self.layout.list_containers();
        self.drive(Input::Rescan {
            found,
            at: SystemTime::now(),
        });
    }

    /// Installs what a read made (see [`Effect::Install`]); returns the entry's creation time.
    fn install_read(
        &mut self,
        name: &str,
        made: Made,
        meta: Option<&ContainerMetadata>,
        rebuild: bool,
        await_metadata: bool,
    ) -> Timestamp {
        let (reader, spec) = *made;
        let spec = self.root_limits(name, spec);
        let samples = match self.containers.get(name) {
            // The summary tracker depends on these flags.
            Some(old)
                if rebuild
                    && (spec.has_cpu, spec.has_memory)
                        == (old.spec.has_cpu, old.spec.has_memory) =>
            {
                old.samples.clone()
            }
            _ => Arc::new(Samples::new(self.cfg.storage_duration, &spec)),
        };
        self.install(name, reader, spec, meta, samples, await_metadata)
    }

    /// Starts walking the writable layer the runtime names, if any (sets `has_filesystem`).
    fn attach_fs(&self, name: &str, meta: Option<&ContainerMetadata>, spec: &mut ContainerSpec) {
        if let (Some(t), Some(m)) = (&self.cfg.fs_usage, meta)
            && t.attach(name, m)
        {
            spec.has_filesystem = true;
        }
    }

    /// The spec as published: the root cgroup's limits are the machine's (see `root_spec`).
    fn root_limits(&self, name: &str, spec: ContainerSpec) -> ContainerSpec {
        match name {
            "/" => root_spec(spec, &self.machine),
            _ => spec,
        }
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
        self.attach_fs(name, meta, &mut spec);
        if let Some(m) = meta {
            samples.set_health(&m.health);
        }
        let entry = entry_with(name, spec, meta, samples.clone());
        let created = entry.spec.creation_time;
        let late_spec = (name != "/").then(|| LateSpec::of(&entry.spec));
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

    /// A removed container stops being sampled; its entry stays in the snapshot while retained.
    fn retire(&mut self, name: &str) {
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
        self.memcg_inodes.retain(|_, n| n != name);
        self.unified_inodes.retain(|_, n| n != name);
        self.removed.push_back(entry);
    }

    fn record_deletion(&self, name: String, at: Timestamp, exit_code: Option<i64>) {
        let deletion = ContainerDeletionEventData {
            exit_code: exit_code.unwrap_or(-1),
        };
        let data = EventData {
            container_deletion: Some(deletion),
            ..EventData::default()
        };
        self.record(name, at, EventType::ContainerDeletion, data);
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
        self.drive(Input::OomKill { name: name.clone() });
        let ts = Timestamp::from(at);
        self.record(name.clone(), ts, EventType::Oom, EventData::default());
        let data = EventData {
            oom_kill: Some(OomKillEventData {
                pid: pid as i64,
                process_name,
                constraint,
            }),
            ..EventData::default()
        };
        self.record(name, ts, EventType::OomKill, data);
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

    /// Publishes a container's entry again with the runtime metadata the lifecycle held for it.
    fn publish_metadata(&mut self, name: String, meta: Option<Arc<ContainerMetadata>>) {
        let Some(old) = self.containers.get(name.as_str()) else {
            return;
        };
        if let Some(m) = meta.as_deref() {
            old.samples.set_health(&m.health);
        }
        let mut spec = strip_runtime_fields(&old.spec);
        let samples = old.samples.clone();
        self.attach_fs(&name, meta.as_deref(), &mut spec);
        let entry = entry_with(&name, spec, meta.as_deref(), samples);
        self.containers.insert(Arc::from(name), Arc::new(entry));
        self.dirty = true;
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
        name: String,
        timestamp: Timestamp,
        event_type: EventType,
        event_data: EventData,
    ) {
        self.events.add(Event {
            container_name: name,
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
        let containers = if !self.lifecycle.any_unlisted() {
            self.containers.clone()
        } else {
            self.containers
                .iter()
                .filter(|(name, _)| self.lifecycle.is_listed(name))
                .map(|(name, entry)| (name.clone(), entry.clone()))
                .collect()
        };
        let snapshot = Snapshot {
            machine: self.machine.clone(),
            version: self.version.clone(),
            containers,
            recently_removed: self.removed.iter().cloned().collect(),
            event_source: self.event_source,
        };
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
    }
}

/// Lifecycle events recorded since start.
#[derive(Debug, Default, Clone, Copy)]
struct Recorded {
    creations: u64,
    deletions: u64,
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
