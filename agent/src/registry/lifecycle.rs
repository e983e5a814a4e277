//! The container lifecycle as a state machine without I/O.
//!
//! Every cgroup name the registry has heard of is in one [`Life`]:
//!
//! ```text
//!                  batch applied           read
//!  created ─▶ Queued ───────────▶ Reading ───────▶ Live ◀─╮ rebuilt when a late
//!               │                   │ read: gone    │  ╰──╯ hierarchy appears
//!               │                   ▼               │
//!               │                 Ghost             │ gone (removal event, housekeeping, rescan)
//!               │ removal           │ removal       ▼
//!               ╰───────────────────┴──────────▶ Tombstone ──(TOMBSTONE_TTL)──▶ forgotten
//! ```
//!
//! A creation event is recorded when the kernel reports the cgroup, before its files are read; the
//! read happens on the opener thread after the batch that announced it. A cgroup gone before it
//! could be read is a *ghost*: its creation was reported, its deletion follows with its removal. A
//! runtime creates a container's directories one hierarchy at a time: a container read before all
//! of them existed is read again (*rebuilt*) when one appears. A removed name is a *tombstone* for
//! [`TOMBSTONE_TTL`]: late events about it (another hierarchy's creation, housekeeping finding it
//! gone after its removal event) are not news. A removed container's entry stays scrapable for the
//! retention window (its OOM count in particular).
//!
//! The owner ([`super::owner`]) feeds it [`Input`]s with the time, and a [`World`] to ask about the
//! cgroup tree and the runtimes' caches; it answers with [`Effect`]s the owner performs (reads,
//! events, publishing), feeding results back as inputs. Time is an input, never read here: the
//! tests drive it over a fake tree with a clock they move by hand.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::housekeeping::METADATA_WAIT;
use super::opener::Unopened;
use crate::events::Hierarchy;
use crate::runtime::{ContainerMetadata, RuntimeKind};

/// How long a removed name is remembered to recognise late events about it.
pub(super) const TOMBSTONE_TTL: Duration = Duration::from_secs(10);

/// How long a container read before all its directories existed waits for the rest to appear.
pub(super) const INCOMPLETE_WAIT: Duration = Duration::from_secs(10);

/// How long a deletion event waits for the runtime's exit code.
pub(super) const EXIT_CODE_WAIT: Duration = Duration::from_secs(2);

/// How long a runtime's container stays unlisted when housekeeping never reports its first sample
/// (it does, [`METADATA_WAIT`] after the container was read): a backstop.
pub(super) const SETTLE_BACKSTOP: Duration = METADATA_WAIT.saturating_mul(2);

/// How often [`Input::Tick`] is wanted while [`Lifecycle::wants_ticks`].
pub(super) const TICK: Duration = Duration::from_secs(1);

/// Which cgroups become containers (`--docker_only`, `--raw_cgroup_prefix_whitelist`).
#[derive(Debug, Clone, Default)]
pub struct Admission {
    pub docker_only: bool,
    pub raw_prefix_whitelist: Vec<String>,
}

impl Admission {
    /// `meta`: what the runtime said about `name`, when it has answered. Kubernetes pod cgroups do not
    /// say which runtime made them (`Unresolved`): they are admitted once Docker claims them.
    pub(super) fn accepts(&self, name: &str, meta: Option<&ContainerMetadata>) -> bool {
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
    pub(super) fn may_accept_later(&self, name: &str) -> bool {
        self.docker_only
            && crate::runtime::id::classify(name).is_some_and(|c| c.kind == RuntimeKind::Unresolved)
    }
}

/// What the lifecycle asks about the world: the cgroup tree and the runtimes' caches. The owner's
/// answers read the tree ([`crate::cgroup::Layout`]); the tests' come from a fake one.
pub(super) trait World {
    /// Whether `name` has a directory in a hierarchy containers are listed from.
    fn exists(&self, name: &str) -> bool;
    /// Whether containers are listed from `hierarchy`.
    fn lists(&self, hierarchy: &Hierarchy) -> bool;
    /// Whether any of these directories exists.
    fn any_dir(&self, dirs: &[PathBuf]) -> bool;
    /// What `name`'s runtime has said about it so far.
    fn metadata(&self, name: &str) -> Option<Arc<ContainerMetadata>>;
    /// Whether a runtime will describe `name` when asked.
    fn will_describe(&self, name: &str) -> bool;
}

/// A container read: what the reader made (`R`: reader and spec in the owner), and the directories
/// of its hierarchies that did not exist yet.
#[derive(Debug, PartialEq)]
pub(super) struct Read<R> {
    pub read: R,
    pub missing: Vec<PathBuf>,
}

/// What happened.
#[derive(Debug)]
pub(super) enum Input<R> {
    /// A producer saw `name`'s directory appear in `hierarchy`.
    Created {
        name: String,
        hierarchy: Hierarchy,
        at: SystemTime,
    },
    /// A producer saw one of `name`'s directories go.
    Removed { name: String, at: SystemTime },
    /// Housekeeping found `name`'s files gone mid-read.
    FoundGone { name: String, at: SystemTime },
    /// The batch of events that queued containers for reading is applied: ask for the reads.
    BatchApplied,
    /// The answer to [`Effect::Read`].
    ReadDone {
        name: String,
        ticket: u64,
        read: Result<Read<R>, Unopened>,
    },
    /// Announced containers not read yet are to be read now, before anything else (an OOM kill must
    /// find their inodes, a rescan must not announce them again).
    ReadUnreadNow,
    /// The opener thread is gone: the reads it had are asked for again (the owner reads them).
    OpenerLost,
    /// A walk of the tree found these containers.
    Rescan { found: Vec<String>, at: SystemTime },
    /// `name`'s runtime described it (`None`: no runtime owns it).
    Metadata {
        name: String,
        meta: Option<Arc<ContainerMetadata>>,
    },
    /// Housekeeping read `name`'s limits again, as [`Effect::Respec`] asked (or with the first
    /// sample of a container whose metadata did not come).
    Respecced { name: String },
    /// An OOM kill in `name` (resolved, deduplicated).
    OomKill { name: String },
    /// Time passed (wanted every [`TICK`] while [`Lifecycle::wants_ticks`]).
    Tick,
}

/// What the owner is to do.
#[derive(Debug, PartialEq)]
pub(super) enum Effect<R> {
    /// Record `name`'s creation event, timestamped `created` (the runtime's), else its directory's
    /// modification time in `hierarchy`, else `seen`.
    Announce {
        name: String,
        hierarchy: Hierarchy,
        seen: SystemTime,
        created: Option<SystemTime>,
    },
    /// Read `name`'s cgroup and answer with [`Input::ReadDone`] carrying `ticket`. `urgent`: before
    /// the next input, on the owner; otherwise on the opener thread when there is one.
    Read {
        name: String,
        ticket: u64,
        urgent: bool,
    },
    /// Ask the runtimes about `name` (an [`Input::Metadata`] follows when one knows it).
    RequestMetadata { name: String },
    /// Publish `name`'s entry from `read` and `meta`, and hand its reader to housekeeping.
    /// `rebuild`: it replaces the reader of a live container (its samples carry over).
    /// `await_metadata`: its first sample waits for its runtime's description. `announce`: record
    /// its creation event (timestamped its creation time, else this).
    Install {
        name: String,
        read: R,
        meta: Option<Arc<ContainerMetadata>>,
        rebuild: bool,
        await_metadata: bool,
        announce: Option<SystemTime>,
    },
    /// Index `name`'s directories' inodes (OOM records name cgroups by inode).
    IndexInodes { name: String },
    /// Stop sampling `name`; its entry leaves the container set for the recently removed ones.
    Retire { name: String },
    /// Record `name`'s deletion event.
    Deleted {
        name: String,
        at: SystemTime,
        exit_code: Option<i64>,
    },
    /// Start walking the writable layer `meta` names.
    WalkLayer {
        name: String,
        meta: Arc<ContainerMetadata>,
    },
    /// Read `name`'s limits again now (answer: [`Input::Respecced`]).
    Respec { name: String },
    /// Publish `name`'s entry again with this runtime metadata.
    PublishMetadata {
        name: String,
        meta: Option<Arc<ContainerMetadata>>,
    },
    /// `name` is listed from now on.
    List { name: String },
    /// The oldest recently removed entry named `name` leaves the snapshot.
    ForgetRemoved { name: String },
    /// Count an OOM kill on `name`'s entry: the live one, else the newest removed one.
    CountOomKill { name: String },
}

/// A read asked for and not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flight {
    /// Only the answer with the newest ticket counts; one for a read since cancelled or superseded
    /// is dropped, and with it the reader's files.
    ticket: u64,
    /// Another of its directories appeared while it was read: check again once installed.
    again: bool,
}

/// What a name was before the read in flight, which decides what its outcome means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prior {
    /// Announced by a creation event (read after the batch, or taken over).
    Announced,
    /// A ghost: announced, gone when first read, seen again.
    Ghost,
    /// Removed at this instant, seen again: announced only if it is really there.
    Tombstone(Instant),
    /// Found by a rescan, never announced.
    Unknown,
}

impl Prior {
    fn announced(self) -> bool {
        matches!(self, Prior::Announced | Prior::Ghost)
    }
}

/// Directories a live container's reader lacked when it was built.
#[derive(Debug)]
struct Incomplete {
    since: Instant,
    missing: Vec<PathBuf>,
}

#[derive(Debug)]
struct Live {
    /// A runtime owns it (namespace in its metadata): its deletion event waits for the exit code.
    managed: bool,
    /// Not listed yet, since then: its runtime has not described it and housekeeping has not read
    /// its limits again (see the owner's module docs).
    settling: Option<Instant>,
    /// Runtime metadata waiting for housekeeping's re-read of its limits (`Some(None)`: "no runtime
    /// owns it"); a re-read is under way while this is set.
    held: Option<Option<Arc<ContainerMetadata>>>,
    /// Its directories that did not exist when its reader was built, rechecked on later creation
    /// events and rescans until [`INCOMPLETE_WAIT`] has passed.
    incomplete: Option<Incomplete>,
    /// A rebuild of its reader in flight.
    rebuild: Option<Flight>,
}

/// The state of one name.
#[derive(Debug)]
enum Life {
    /// Announced; read after the batch that announced it.
    Queued {
        seen: SystemTime,
    },
    /// Being read.
    Reading {
        flight: Flight,
        seen: SystemTime,
        prior: Prior,
    },
    /// Announced, gone before it could be read: its deletion event is due with its removal.
    Ghost,
    Live(Live),
    /// Removed at `since`.
    Tombstone {
        since: Instant,
    },
}

impl Life {
    fn unread(&self) -> bool {
        matches!(self, Life::Queued { .. } | Life::Reading { .. })
    }

    fn settling(&self) -> bool {
        matches!(self, Life::Live(l) if l.settling.is_some())
    }
}

/// Whether `meta` makes its container runtime-managed.
fn managed(meta: Option<&ContainerMetadata>) -> bool {
    meta.is_some_and(|m| !m.namespace.is_empty())
}

/// The container lifecycle (see the module docs).
#[derive(Debug)]
pub(super) struct Lifecycle {
    admission: Admission,
    /// How long removed containers stay scrapable.
    retention: Duration,
    names: HashMap<String, Life>,
    /// Names announced in the current batch, in order (some may have moved on since).
    queued: Vec<String>,
    tickets: u64,
    /// Names `Queued` or `Reading`.
    unread: usize,
    /// Names `Live` and settling.
    settling: usize,
    /// Deletions of runtime-managed containers waiting (briefly) for the runtime's exit code: when
    /// the cgroup went, and when its removal was seen.
    pending_deletions: HashMap<String, (SystemTime, Instant)>,
    /// Removals in order, to forget tombstones (some may have moved on since).
    tombstones: VecDeque<(Instant, String)>,
    /// Settling containers in order, for the backstop (some may have moved on since).
    settle_queue: VecDeque<(Instant, String)>,
    /// Removed containers still in the snapshot, in order (the owner's list mirrors this one).
    retained: VecDeque<(Instant, String)>,
}

impl Lifecycle {
    pub fn new(admission: Admission, retention: Duration) -> Self {
        Self {
            admission,
            retention,
            names: HashMap::new(),
            queued: Vec::new(),
            tickets: 0,
            unread: 0,
            settling: 0,
            pending_deletions: HashMap::new(),
            tombstones: VecDeque::new(),
            settle_queue: VecDeque::new(),
            retained: VecDeque::new(),
        }
    }

    /// Applies `input`, seen at `now`; returns what to do, in order.
    pub fn step<R>(&mut self, now: Instant, world: &impl World, input: Input<R>) -> Vec<Effect<R>> {
        let mut fx = Vec::new();
        match input {
            Input::Created {
                name,
                hierarchy,
                at,
            } => self.created(now, world, name, hierarchy, at, &mut fx),
            Input::Removed { name, at } => self.removed(now, world, name, at, &mut fx),
            Input::FoundGone { name, at } => {
                if matches!(self.names.get(&name), Some(Life::Live(_))) && !world.exists(&name) {
                    self.remove(now, world, name, at, &mut fx);
                }
            }
            Input::BatchApplied => self.request_queued(&mut fx),
            Input::ReadDone { name, ticket, read } => {
                self.read_done(now, world, name, ticket, read, &mut fx)
            }
            Input::ReadUnreadNow => self.read_unread_now(&mut fx),
            Input::OpenerLost => self.reread_in_flight(&mut fx),
            Input::Rescan { found, at } => self.rescan(now, world, found, at, &mut fx),
            Input::Metadata { name, meta } => self.metadata(name, meta, &mut fx),
            Input::Respecced { name } => self.respecced(name, &mut fx),
            Input::OomKill { name } => {
                let live = matches!(self.names.get(&name), Some(Life::Live(_)));
                // A container whose kill ended it may be gone by the time the kill is reported (the
                // counters' fallback pairs the kernel log line a little later): its count still goes
                // up, on its retained entry.
                if live || self.retained.iter().rev().any(|(_, n)| *n == name) {
                    fx.push(Effect::CountOomKill { name });
                }
            }
            Input::Tick => self.tick(now, &mut fx),
        }
        fx
    }

    /// Whether announced containers wait for [`Input::BatchApplied`].
    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Whether something waits for time to pass ([`Input::Tick`]).
    pub fn wants_ticks(&self) -> bool {
        !self.pending_deletions.is_empty()
            || !self.tombstones.is_empty()
            || !self.settle_queue.is_empty()
            || !self.retained.is_empty()
    }

    /// Whether some live container is not listed yet.
    pub fn any_unlisted(&self) -> bool {
        self.settling > 0
    }

    /// Whether live container `name` is listed (see [`Live::settling`]).
    pub fn is_listed(&self, name: &str) -> bool {
        !self.names.get(name).is_some_and(Life::settling)
    }

    /// Sets `name`'s state, keeping the counts.
    fn set(&mut self, name: String, life: Life) {
        self.unread += usize::from(life.unread());
        self.settling += usize::from(life.settling());
        let old = match self.names.get_mut(&name) {
            Some(slot) => Some(std::mem::replace(slot, life)),
            None => self.names.insert(name, life),
        };
        if let Some(old) = old {
            self.unread -= usize::from(old.unread());
            self.settling -= usize::from(old.settling());
        }
    }

    /// Makes `name` a tombstone removed at `since` (again, when a read of it found nothing).
    fn entomb(&mut self, name: String, since: Instant) {
        self.tombstones.push_back((since, name.clone()));
        self.set(name, Life::Tombstone { since });
    }

    /// Forgets `name`, keeping the counts.
    fn forget(&mut self, name: &str) {
        if let Some(old) = self.names.remove(name) {
            self.unread -= usize::from(old.unread());
            self.settling -= usize::from(old.settling());
        }
    }

    fn ticket(&mut self) -> u64 {
        self.tickets += 1;
        self.tickets
    }

    fn tombstone_at(&self, name: &str, now: Instant) -> Option<Instant> {
        match self.names.get(name) {
            Some(Life::Tombstone { since })
                if now.saturating_duration_since(*since) < TOMBSTONE_TTL =>
            {
                Some(*since)
            }
            _ => None,
        }
    }

    /// `None` when `--docker_only` refuses `name` (for now: its runtime may still claim it, and is
    /// asked), else what its runtime knows of it so far.
    fn admit<R>(
        &self,
        world: &impl World,
        name: &str,
        fx: &mut Vec<Effect<R>>,
    ) -> Option<Option<Arc<ContainerMetadata>>> {
        let meta = world.metadata(name);
        if !self.admission.accepts(name, meta.as_deref()) {
            if meta.is_none() && self.admission.may_accept_later(name) {
                let name = name.to_string();
                fx.push(Effect::RequestMetadata { name });
            }
            return None;
        }
        Some(meta)
    }

    /// A producer saw a cgroup appear. Its creation event is announced before the (slower) read of
    /// its files, so stream clients see it as soon as the kernel reports it.
    fn created<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        hierarchy: Hierarchy,
        at: SystemTime,
        fx: &mut Vec<Effect<R>>,
    ) {
        match self.names.get_mut(&name) {
            Some(Life::Live(_)) => {
                // Seen on another hierarchy first: that hierarchy's directory may not have existed
                // then.
                fx.push(Effect::IndexInodes { name: name.clone() });
                self.complete(now, world, name, fx);
                return;
            }
            // Another hierarchy's directory of a container about to be read.
            Some(Life::Queued { .. }) => return,
            Some(Life::Reading { flight, .. }) => {
                flight.again = true;
                return;
            }
            _ => {}
        }
        // A directory in a hierarchy containers are not listed from (its removal may even come after
        // the container's): the listed hierarchies' own events announce the container.
        if !world.lists(&hierarchy) {
            return;
        }
        let Some(meta) = self.admit(world, &name, fx) else {
            return;
        };
        // A late creation event (another hierarchy's mkdir) for a container we already saw come and
        // go is not a new container, and a ghost was announced already: read it now, announce only
        // if it is really there.
        if matches!(self.names.get(&name), Some(Life::Ghost)) {
            return self.read_now(name, at, Prior::Ghost, fx);
        }
        if let Some(since) = self.tombstone_at(&name, now) {
            return self.read_now(name, at, Prior::Tombstone(since), fx);
        }
        let created = meta.and_then(|m| m.creation_time);
        fx.push(Effect::Announce {
            name: name.clone(),
            hierarchy,
            seen: at,
            created,
        });
        self.queued.push(name.clone());
        self.set(name, Life::Queued { seen: at });
    }

    /// Asks for `name` to be read before the next input.
    fn read_now<R>(
        &mut self,
        name: String,
        seen: SystemTime,
        prior: Prior,
        fx: &mut Vec<Effect<R>>,
    ) {
        let ticket = self.ticket();
        fx.push(Effect::Read {
            name: name.clone(),
            ticket,
            urgent: true,
        });
        let flight = Flight {
            ticket,
            again: false,
        };
        self.set(
            name,
            Life::Reading {
                flight,
                seen,
                prior,
            },
        );
    }

    /// Asks for the containers announced in this batch.
    fn request_queued<R>(&mut self, fx: &mut Vec<Effect<R>>) {
        for name in std::mem::take(&mut self.queued) {
            let Some(Life::Queued { seen }) = self.names.get(&name) else {
                continue;
            };
            let seen = *seen;
            let ticket = self.ticket();
            let flight = Flight {
                ticket,
                again: false,
            };
            let prior = Prior::Announced;
            if let Some(slot) = self.names.get_mut(&name) {
                // Both unread: the counts stay.
                *slot = Life::Reading {
                    flight,
                    seen,
                    prior,
                };
            }
            fx.push(Effect::Read {
                name,
                ticket,
                urgent: false,
            });
        }
    }

    /// Every queued or in-flight first read, asked for again now; answers to the earlier requests
    /// are dropped.
    fn read_unread_now<R>(&mut self, fx: &mut Vec<Effect<R>>) {
        self.queued.clear();
        if self.unread == 0 {
            return;
        }
        let mut unread: Vec<(&String, &mut Life)> =
            self.names.iter_mut().filter(|(_, l)| l.unread()).collect();
        // Hash order is arbitrary; read them in name order (parents first).
        unread.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (name, life) in unread {
            self.tickets += 1;
            let ticket = self.tickets;
            *life = match *life {
                Life::Queued { seen } => Life::Reading {
                    flight: Flight {
                        ticket,
                        again: false,
                    },
                    seen,
                    prior: Prior::Announced,
                },
                Life::Reading {
                    flight,
                    seen,
                    prior,
                    ..
                } => Life::Reading {
                    flight: Flight { ticket, ..flight },
                    seen,
                    prior,
                },
                _ => continue,
            };
            fx.push(Effect::Read {
                name: name.clone(),
                ticket,
                urgent: true,
            });
        }
    }

    /// Every read in flight (first reads and rebuilds), asked for again now.
    fn reread_in_flight<R>(&mut self, fx: &mut Vec<Effect<R>>) {
        let mut names: Vec<&String> = self
            .names
            .iter()
            .filter(|(_, l)| match l {
                Life::Reading { .. } => true,
                Life::Live(live) => live.rebuild.is_some(),
                _ => false,
            })
            .map(|(n, _)| n)
            .collect();
        names.sort_unstable();
        let names: Vec<String> = names.into_iter().cloned().collect();
        for name in names {
            let ticket = self.ticket();
            match self.names.get_mut(&name) {
                Some(Life::Reading { flight, .. }) => flight.ticket = ticket,
                Some(Life::Live(Live {
                    rebuild: Some(flight),
                    ..
                })) => flight.ticket = ticket,
                _ => continue,
            }
            fx.push(Effect::Read {
                name,
                ticket,
                urgent: true,
            });
        }
    }

    /// A producer saw one of `name`'s directories go: it is gone once no listed hierarchy has it.
    fn removed<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        at: SystemTime,
        fx: &mut Vec<Effect<R>>,
    ) {
        match self.names.get(&name) {
            Some(Life::Live(_)) => {
                if !world.exists(&name) {
                    self.remove(now, world, name, at, fx);
                }
            }
            // Announced and not read (yet, or ever: a ghost): this removal completes it; the answer
            // of a read in flight will be dropped.
            Some(Life::Queued { .. } | Life::Ghost) => {
                if !world.exists(&name) {
                    self.ghost_removed(now, name, at, fx);
                }
            }
            Some(Life::Reading { prior, .. }) => {
                let prior = *prior;
                if world.exists(&name) {
                    return;
                }
                match prior {
                    Prior::Announced | Prior::Ghost => self.ghost_removed(now, name, at, fx),
                    Prior::Tombstone(since) => self.entomb(name, since),
                    Prior::Unknown => self.forget(&name),
                }
            }
            Some(Life::Tombstone { .. }) | None => {}
        }
    }

    /// Completes an announced container that was never read, once it is gone.
    fn ghost_removed<R>(
        &mut self,
        now: Instant,
        name: String,
        at: SystemTime,
        fx: &mut Vec<Effect<R>>,
    ) {
        self.entomb(name.clone(), now);
        fx.push(Effect::Deleted {
            name,
            at,
            exit_code: None,
        });
    }

    /// Removes live container `name`.
    fn remove<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        at: SystemTime,
        fx: &mut Vec<Effect<R>>,
    ) {
        let managed = matches!(self.names.get(&name), Some(Life::Live(l)) if l.managed);
        self.entomb(name.clone(), now);
        self.retained.push_back((now, name.clone()));
        fx.push(Effect::Retire { name: name.clone() });
        let exit_code = world.metadata(&name).and_then(|m| m.exit_code);
        match exit_code {
            // The runtime's refresh after the container's exit usually lands just after the cgroup
            // is gone: wait for it a little so the event carries the exit code, as cAdvisor's does.
            None if managed => {
                self.pending_deletions.insert(name, (at, now));
            }
            _ => fx.push(Effect::Deleted {
                name,
                at,
                exit_code,
            }),
        }
    }

    /// A read's answer: only the newest request's counts.
    fn read_done<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        ticket: u64,
        read: Result<Read<R>, Unopened>,
        fx: &mut Vec<Effect<R>>,
    ) {
        match self.names.get(&name) {
            Some(Life::Reading {
                flight,
                seen,
                prior,
            }) if flight.ticket == ticket => {
                let (again, seen, prior) = (flight.again, *seen, *prior);
                self.first_read(now, world, name, seen, prior, again, read, fx);
            }
            Some(Life::Live(Live {
                rebuild: Some(flight),
                ..
            })) if flight.ticket == ticket => {
                let again = flight.again;
                self.reread(now, world, name, again, read, fx);
            }
            // Superseded or cancelled: dropped, and with it the reader's files.
            _ => {}
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of a read in flight, taken apart by the caller"
    )]
    fn first_read<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        seen: SystemTime,
        prior: Prior,
        again: bool,
        read: Result<Read<R>, Unopened>,
        fx: &mut Vec<Effect<R>>,
    ) {
        let Read { read, missing } = match read {
            Ok(r) => r,
            Err(unopened) => {
                match (prior, unopened) {
                    // Announced and gone already: it still existed, and gets its deletion event
                    // with its removal.
                    (Prior::Announced, Unopened::Gone) | (Prior::Ghost, _) => {
                        self.set(name, Life::Ghost)
                    }
                    (Prior::Tombstone(since), _) => self.entomb(name, since),
                    // Unreadable for another reason (logged), or never announced.
                    (Prior::Announced, Unopened::Refused) | (Prior::Unknown, _) => {
                        self.forget(&name)
                    }
                }
                return;
            }
        };
        let meta = world.metadata(&name);
        // A runtime's container is listed, and first sampled, once its runtime has described it.
        let await_metadata = meta.is_none() && world.will_describe(&name);
        if meta.is_none() {
            fx.push(Effect::RequestMetadata { name: name.clone() });
        }
        if await_metadata {
            self.settle_queue.push_back((now, name.clone()));
        }
        let live = Live {
            managed: managed(meta.as_deref()),
            settling: await_metadata.then_some(now),
            held: None,
            incomplete: (!missing.is_empty()).then_some(Incomplete {
                since: now,
                missing,
            }),
            rebuild: None,
        };
        self.set(name.clone(), Life::Live(live));
        fx.push(Effect::Install {
            name: name.clone(),
            read,
            meta,
            rebuild: false,
            await_metadata,
            announce: (!prior.announced()).then_some(seen),
        });
        fx.push(Effect::IndexInodes { name: name.clone() });
        if again {
            self.complete(now, world, name, fx);
        }
    }

    /// A rebuild's answer (see [`Self::complete`]).
    fn reread<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        again: bool,
        read: Result<Read<R>, Unopened>,
        fx: &mut Vec<Effect<R>>,
    ) {
        let Some(Life::Live(live)) = self.names.get_mut(&name) else {
            return;
        };
        live.rebuild = None;
        let Ok(Read { read, missing }) = read else {
            // Gone: its removal event (or the next rescan) retires it.
            live.incomplete = None;
            return;
        };
        let meta = world.metadata(&name);
        // Still waiting for its runtime, as when it was first read.
        let await_metadata =
            live.settling.is_some() && meta.is_none() && world.will_describe(&name);
        live.managed = managed(meta.as_deref());
        live.incomplete = match live.incomplete.take() {
            _ if missing.is_empty() => None,
            Some(i) => Some(Incomplete { missing, ..i }),
            None => Some(Incomplete {
                since: now,
                missing,
            }),
        };
        fx.push(Effect::Install {
            name: name.clone(),
            read,
            meta,
            rebuild: true,
            await_metadata,
            announce: None,
        });
        if again {
            self.complete(now, world, name, fx);
        }
    }

    /// Rebuilds the reader of a container read before all its directories existed, once one of them
    /// has appeared (within [`INCOMPLETE_WAIT`] of its first read).
    fn complete<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        name: String,
        fx: &mut Vec<Effect<R>>,
    ) {
        let Some(Life::Live(live)) = self.names.get_mut(&name) else {
            return;
        };
        let Some(incomplete) = &live.incomplete else {
            return;
        };
        if now.saturating_duration_since(incomplete.since) >= INCOMPLETE_WAIT {
            live.incomplete = None;
            return;
        }
        if let Some(flight) = &mut live.rebuild {
            flight.again = true;
            return;
        }
        if !world.any_dir(&incomplete.missing) {
            return;
        }
        self.tickets += 1;
        let ticket = self.tickets;
        live.rebuild = Some(Flight {
            ticket,
            again: false,
        });
        fx.push(Effect::Read {
            name,
            ticket,
            urgent: false,
        });
    }

    /// Adds new cgroups and removes vanished ones (see [`Input::Rescan`]).
    fn rescan<R>(
        &mut self,
        now: Instant,
        world: &impl World,
        found: Vec<String>,
        at: SystemTime,
        fx: &mut Vec<Effect<R>>,
    ) {
        let (vanished, lost_ghosts, incomplete) = {
            let found: HashSet<&str> = found.iter().map(String::as_str).collect();
            let mut vanished = Vec::new();
            let mut lost_ghosts = Vec::new();
            let mut incomplete = Vec::new();
            for (name, life) in &self.names {
                match life {
                    Life::Live(live) => {
                        if !found.contains(name.as_str()) {
                            vanished.push(name.clone());
                        } else if live.incomplete.is_some() {
                            incomplete.push(name.clone());
                        }
                    }
                    // A ghost whose removal event was lost (queue overflow) ends here.
                    Life::Ghost if !found.contains(name.as_str()) => lost_ghosts.push(name.clone()),
                    _ => {}
                }
            }
            vanished.sort_unstable();
            lost_ghosts.sort_unstable();
            incomplete.sort_unstable();
            (vanished, lost_ghosts, incomplete)
        };
        for name in vanished {
            self.remove(now, world, name, at, fx);
        }
        for name in found {
            let prior = match self.names.get(&name) {
                Some(Life::Live(_) | Life::Queued { .. } | Life::Reading { .. }) => continue,
                Some(Life::Ghost) => Prior::Ghost,
                Some(Life::Tombstone { since }) => Prior::Tombstone(*since),
                None => Prior::Unknown,
            };
            if self.admit(world, &name, fx).is_some() {
                self.read_now(name, at, prior, fx);
            }
        }
        // Directories that appeared without an event we saw (queue overflow, inotify limits).
        for name in incomplete {
            self.complete(now, world, name, fx);
        }
        for name in lost_ghosts {
            self.ghost_removed(now, name, at, fx);
        }
    }

    /// Runtime metadata for a container (see the owner's module docs): held until housekeeping has
    /// read its limits again, published with them. The layer's walk starts at once, so a first
    /// sample taken with that read has the filesystem entry.
    fn metadata<R>(
        &mut self,
        name: String,
        meta: Option<Arc<ContainerMetadata>>,
        fx: &mut Vec<Effect<R>>,
    ) {
        if let Some((at, _)) = self.pending_deletions.remove(&name) {
            let exit_code = meta.as_ref().and_then(|m| m.exit_code);
            fx.push(Effect::Deleted {
                name,
                at,
                exit_code,
            });
            return;
        }
        let Some(Life::Live(live)) = self.names.get_mut(&name) else {
            return;
        };
        if let Some(m) = &meta {
            let meta = m.clone();
            fx.push(Effect::WalkLayer {
                name: name.clone(),
                meta,
            });
        }
        // A re-read under way publishes the newest metadata when it lands.
        if live.held.replace(meta).is_none() {
            fx.push(Effect::Respec { name });
        }
    }

    /// Housekeeping read `name`'s limits again: it is listed, with the metadata held for it.
    fn respecced<R>(&mut self, name: String, fx: &mut Vec<Effect<R>>) {
        let Some(Life::Live(live)) = self.names.get_mut(&name) else {
            return;
        };
        if live.settling.take().is_some() {
            self.settling -= 1;
            fx.push(Effect::List { name: name.clone() });
        }
        let Some(meta) = live.held.take() else {
            return;
        };
        if meta.is_none() && !live.managed {
            // "No runtime owns this" about a raw cgroup: nothing changes.
            return;
        }
        live.managed = managed(meta.as_deref());
        fx.push(Effect::PublishMetadata { name, meta });
    }

    /// Deadlines: deletions that waited long enough for an exit code, settling containers
    /// housekeeping never reported on, tombstones and removed entries past their time.
    fn tick<R>(&mut self, now: Instant, fx: &mut Vec<Effect<R>>) {
        let since = |t: &Instant| now.saturating_duration_since(*t);
        let mut expired: Vec<String> = self
            .pending_deletions
            .iter()
            .filter(|(_, (_, seen))| since(seen) >= EXIT_CODE_WAIT)
            .map(|(n, _)| n.clone())
            .collect();
        expired.sort_unstable();
        for name in expired {
            if let Some((at, _)) = self.pending_deletions.remove(&name) {
                fx.push(Effect::Deleted {
                    name,
                    at,
                    exit_code: None,
                });
            }
        }
        while let Some((t, _)) = self.settle_queue.front()
            && since(t) >= SETTLE_BACKSTOP
        {
            let Some((t, name)) = self.settle_queue.pop_front() else {
                break;
            };
            if let Some(Life::Live(live)) = self.names.get_mut(&name)
                && live.settling == Some(t)
            {
                live.settling = None;
                self.settling -= 1;
                fx.push(Effect::List { name });
            }
        }
        while let Some((t, _)) = self.tombstones.front()
            && since(t) >= TOMBSTONE_TTL
        {
            let Some((t, name)) = self.tombstones.pop_front() else {
                break;
            };
            if matches!(self.names.get(&name), Some(Life::Tombstone { since }) if *since == t) {
                self.forget(&name);
            }
        }
        while let Some((t, _)) = self.retained.front()
            && since(t) >= self.retention
        {
            if let Some((_, name)) = self.retained.pop_front() {
                fx.push(Effect::ForgetRemoved { name });
            }
        }
    }
}

#[cfg(test)]
mod tests;
