//! Stats sampling: one OS thread owns every container's reader and samples each container on its own
//! schedule (`--housekeeping_interval`, doubling up to `--max_housekeeping_interval` while a
//! container's stats do not change when `--allow_dynamic_housekeeping`). One thread, not one per
//! container: the per-tick path is synchronous file reads with kept-open descriptors.
//!
//! The parts of a container's spec a runtime settles after making the cgroup ([`LateSpec`]: its
//! limits, and whether it has a network namespace of its own) are read again with the first sample
//! 1 s after it was added, then at doubling intervals up to every minute. A container read at once
//! would otherwise keep "unlimited" and "no network" for good, and `docker update` or an in-place
//! pod resize changes limits later. cAdvisor re-reads the whole spec when queried, at most every
//! 5 s; reading only these, on this thread, keeps queries free of file reads.
//!
//! They are also read at once when the container's runtime metadata arrives ([`Job::Respec`]): a
//! runtime answers once the container is set up, limits written. A container a runtime will describe
//! takes its first sample then too (or after [`METADATA_WAIT`]), so that sample already carries what
//! the metadata brings, its filesystem entry, as cAdvisor's first sample of a Docker container does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::debug;

use super::cache::Samples;
use crate::cgroup::counters::CounterSnapshot;
use crate::cgroup::{CgroupError, ContainerReader, LateSpec};
use crate::config::MetricKinds;
use crate::events::SourceEvent;
use crate::events::ebpf::counters::CounterSource;
use crate::events::ebpf::signals::SignalReader;
use crate::events::kmsg::OomInstance;
use crate::events::oom_counters::OomCounters;
use crate::feed::{Feed, Update};
use crate::fs::usage::FsUsageTracker;
use crate::model::json::Timestamp;
use crate::model::v1::ContainerStats;
use crate::telemetry::events::HousekeepingDone;

/// How often the thread looks for due containers at most; containers due within one window are
/// sampled in the same pass so a thousand jittered schedules do not mean a thousand wake-ups.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// When a container's late spec is first read again after it was added; the interval then doubles.
const LATE_SPEC_FIRST_CHECK: Duration = Duration::from_secs(1);

/// How often a container's late spec is read again at most.
const LATE_SPEC_MAX_INTERVAL: Duration = Duration::from_secs(60);

/// How long a container a runtime will describe waits for its metadata before its first sample.
pub const METADATA_WAIT: Duration = Duration::from_secs(2);

/// What housekeeping tells the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The container's cgroup vanished mid-read.
    Gone(String),
    /// The container's limits or network namespace changed since they were last read.
    Spec { name: String, late: LateSpec },
    /// The answer to [`Job::Respec`], also sent when a container stops waiting for its metadata
    /// ([`METADATA_WAIT`]): the late spec when it changed (`None`: unchanged, or no such container);
    /// the container's first sample, if it was waiting, is taken.
    Respecced {
        name: String,
        late: Option<LateSpec>,
    },
}

/// Work for the housekeeping thread.
pub enum Job {
    /// Start sampling a container (first sample right away).
    Add {
        name: String,
        reader: Box<ContainerReader>,
        samples: Arc<Samples>,
        /// The late part of its published spec, to be checked again; `None` for the root, whose
        /// limits are the machine's.
        late_spec: Option<LateSpec>,
        /// Stands in for an unlimited memory limit (see `ContainerReader::read_spec`).
        machine_memory: u64,
        /// A runtime will describe it: its first sample waits for [`Job::Respec`], at most
        /// [`METADATA_WAIT`].
        await_metadata: bool,
    },
    /// The container's runtime metadata arrived: read its late spec now (answered with
    /// [`Finding::Respecced`], always, so the owner can publish the metadata with it).
    Respec { name: String },
    /// Stop sampling a container.
    Remove { name: String },
    /// Sample these containers now when their newest sample is older than `max_age`.
    Refresh {
        names: Vec<String>,
        max_age: Duration,
        done: oneshot::Sender<()>,
    },
    /// An OOM kill the kernel logged (fallback mode pairs it with a counter increment).
    KernelLogOom(OomInstance),
    /// The opt-in eBPF signal kinds attached: every sample from now on carries their counts.
    Signals(Box<SignalReader>),
    /// The BPF cgroup iterator loaded: passes take the v1 counters it reads from it.
    Counters(Box<CounterSource>),
}

/// OOM detection without eBPF: after sampling a container, read its memory cgroup's `oom_kill`
/// counter; increments (paired with kernel log lines when readable) become `OomKill` events.
pub struct OomFallback {
    pub counters: OomCounters,
    /// Where each container's memory cgroup directory is: `<memory_root>/<name>`.
    pub memory_root: PathBuf,
    pub tx: tokio::sync::mpsc::Sender<SourceEvent>,
}

/// Schedule parameters.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub interval: Duration,
    pub max_interval: Duration,
    pub dynamic: bool,
    pub kinds: MetricKinds,
    /// Latest writable-layer usage of runtime containers (`None` when the `disk` metrics are off).
    pub fs_usage: Option<FsUsageTracker>,
}

/// Sends jobs to the housekeeping thread; dropping every handle stops it.
#[derive(Clone)]
pub struct HousekeepingHandle {
    tx: Sender<Job>,
}

impl HousekeepingHandle {
    pub fn send(&self, job: Job) {
        // The thread only exits when every handle is gone, so a send cannot fail while we hold one.
        let _ = self.tx.send(job);
    }
}

/// Outcome of one pass, for the owner's telemetry.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassStats {
    pub sampled: usize,
    pub gone: usize,
    pub failed: usize,
    pub duration: Duration,
}

struct Slot {
    /// The container's name, shared by every sample published to the feed.
    name: Arc<str>,
    reader: Box<ContainerReader>,
    samples: Arc<Samples>,
    interval: Duration,
    due: Instant,
    last: Option<Arc<ContainerStats>>,
    late_spec: Option<LateSpecCheck>,
    /// Its first sample waits for the runtime's metadata ([`Job::Respec`]).
    awaits_metadata: bool,
    /// Its key in the eBPF signal map, once found.
    signal_key: Option<u64>,
}

/// The published late spec of a container and when to read it again.
struct LateSpecCheck {
    late: LateSpec,
    machine_memory: u64,
    every: Duration,
    due: Instant,
}

/// Starts the housekeeping thread. `findings` receives names whose cgroup vanished mid-read (so the
/// owner can remove them without waiting for a rescan) and changed late specs; `passes` receives
/// per-pass figures; every sample stored is also published to `feed`.
pub fn start(
    schedule: Schedule,
    findings: tokio::sync::mpsc::UnboundedSender<Finding>,
    passes: Option<tokio::sync::mpsc::UnboundedSender<PassStats>>,
    oom: Option<OomFallback>,
    feed: Feed,
) -> std::io::Result<HousekeepingHandle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            Housekeeper {
                schedule,
                slots: HashMap::new(),
                findings,
                passes,
                oom,
                feed,
                signals: None,
                counters: None,
            }
            .run(rx)
        })?;
    Ok(HousekeepingHandle { tx })
}

struct Housekeeper {
    schedule: Schedule,
    /// Keyed by the name each slot also holds (one string per container).
    slots: HashMap<Arc<str>, Slot>,
    findings: tokio::sync::mpsc::UnboundedSender<Finding>,
    passes: Option<tokio::sync::mpsc::UnboundedSender<PassStats>>,
    oom: Option<OomFallback>,
    feed: Feed,
    signals: Option<Box<SignalReader>>,
    counters: Option<Counters>,
}

/// The iterator and the snapshot of the pass running now (`fresh`); outside a pass (a refresh, a
/// respec) samples read the files.
struct Counters {
    source: Box<CounterSource>,
    snapshot: CounterSnapshot,
    fresh: bool,
}

impl Housekeeper {
    fn run(mut self, rx: Receiver<Job>) {
        loop {
            let now = Instant::now();
            let next = self.slots.values().map(|s| s.due).min();
            let wait = next.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(now)
            });
            match rx.recv_timeout(wait) {
                Ok(job) => {
                    self.handle(job);
                    // Drain whatever else is queued before sampling (bursts of adds).
                    while let Ok(job) = rx.try_recv() {
                        self.handle(job);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.pass(Instant::now() + BATCH_WINDOW);
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Add {
                name,
                reader,
                samples,
                late_spec,
                machine_memory,
                await_metadata,
            } => {
                let now = Instant::now();
                if await_metadata && let Some(oom) = &mut self.oom {
                    // The OOM baseline is taken now all the same: a kill before the first sample is
                    // this container's.
                    let dir = oom.memory_root.join(name.trim_start_matches('/'));
                    let _ = oom.counters.observe(&name, &dir);
                }
                let name: Arc<str> = Arc::from(name);
                let slot = Slot {
                    name: name.clone(),
                    reader,
                    samples,
                    interval: self.schedule.interval,
                    due: if await_metadata {
                        now + METADATA_WAIT
                    } else {
                        now
                    },
                    last: None,
                    late_spec: late_spec.map(|late| LateSpecCheck {
                        late,
                        machine_memory,
                        every: LATE_SPEC_FIRST_CHECK,
                        due: now + LATE_SPEC_FIRST_CHECK,
                    }),
                    awaits_metadata: await_metadata,
                    signal_key: None,
                };
                self.slots.insert(name, slot);
            }
            Job::Respec { name } => {
                let late = self.respec(&name, Instant::now());
                let _ = self.findings.send(Finding::Respecced { name, late });
            }
            Job::Remove { name } => {
                self.slots.remove(name.as_str());
                if let Some(oom) = &mut self.oom {
                    oom.counters.forget(&name);
                }
            }
            Job::KernelLogOom(instance) => {
                if let Some(oom) = &mut self.oom {
                    // Read the victim's counter now rather than on its next sample, which dynamic
                    // housekeeping may put after the pairing window: the increment would then be
                    // reported a second time.
                    let name = &instance.container_name;
                    if self.slots.contains_key(name.as_str()) {
                        let dir = oom.memory_root.join(name.trim_start_matches('/'));
                        let _ = oom.counters.observe(name, &dir);
                    }
                    oom.counters.record_kmsg(instance);
                }
            }
            Job::Signals(reader) => self.signals = Some(reader),
            Job::Counters(source) => {
                self.counters = Some(Counters {
                    source,
                    snapshot: CounterSnapshot::new(page_size()),
                    fresh: false,
                })
            }
            Job::Refresh {
                names,
                max_age,
                done,
            } => {
                let now = Instant::now();
                for name in names {
                    // One waiting for its metadata is not sampled before: see `Job::Add`.
                    let stale = self.slots.get(name.as_str()).is_some_and(|s| {
                        !s.awaits_metadata
                            && s.last.as_ref().is_none_or(|l| {
                                Timestamp::now().nanos_since(l.timestamp)
                                    >= max_age.as_nanos() as i128
                            })
                    });
                    if stale {
                        let _ = self.sample(&name, now);
                    }
                }
                let _ = done.send(());
            }
        }
    }

    /// Samples every container due before `horizon`.
    fn pass(&mut self, horizon: Instant) {
        let started = Instant::now();
        // Shared names: no string copied per sample.
        // `early`: also those due by then, unless waiting for their metadata.
        let due_by = |early: Instant| -> Vec<Arc<str>> {
            self.slots
                .iter()
                .filter(|(_, s)| s.due <= horizon || (s.due <= early && !s.awaits_metadata))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let mut due = due_by(horizon);
        if due.is_empty() {
            self.send_oom_kills();
            return;
        }
        let mut stats = PassStats::default();
        // One iterator run costs ~1 µs per cgroup of the hierarchies, the reads it replaces ~19 µs
        // per container: worth it when a tenth of the containers are due. Containers added at
        // different times would keep sampling in several passes a second, each paying a run: a
        // pass that runs it also takes those due within half an interval (sampled early once,
        // they then share this pass's schedule).
        if let Some(c) = &mut self.counters
            && due.len() * 10 >= self.slots.len()
        {
            c.source.read(&mut c.snapshot);
            c.fresh = true;
            due = due_by(started + self.schedule.interval / 2);
        }
        for name in &due {
            match self.sample(name, started) {
                Ok(()) => stats.sampled += 1,
                Err(SampleError::Gone) => stats.gone += 1,
                Err(SampleError::Failed) => stats.failed += 1,
            }
        }
        if let Some(c) = &mut self.counters {
            c.fresh = false;
        }
        self.send_oom_kills();
        stats.duration = started.elapsed();
        HousekeepingDone {
            duration: stats.duration,
        }
        .emit();
        if let Some(p) = &self.passes {
            let _ = p.send(stats);
        }
    }

    /// OOM kills the fallback's counters and kernel log lines have settled.
    fn send_oom_kills(&mut self) {
        if let Some(oom) = &mut self.oom {
            for ev in oom.counters.drain() {
                // The owner drains continuously; blocking here would only delay sampling.
                let _ = oom.tx.blocking_send(ev);
            }
        }
    }

    /// [`Job::Respec`]: the late spec read now (when it changed), and the first sample if it was
    /// waiting for the metadata.
    fn respec(&mut self, name: &str, now: Instant) -> Option<LateSpec> {
        let slot = self.slots.get_mut(name)?;
        let awaited = std::mem::take(&mut slot.awaits_metadata);
        let late = slot
            .late_spec
            .as_mut()
            .and_then(|check| check.read_now(&mut slot.reader));
        if awaited && slot.last.is_none() {
            let _ = self.sample(name, now);
        }
        late
    }

    /// Samples `name`. A container whose metadata did not come in time is listed with this first
    /// sample: its late spec is read again and [`Finding::Respecced`] sent, as for [`Job::Respec`].
    fn sample(&mut self, name: &str, now: Instant) -> Result<(), SampleError> {
        let Some(slot) = self.slots.get_mut(name) else {
            return Ok(());
        };
        let waited = std::mem::take(&mut slot.awaits_metadata);
        let counters = self
            .counters
            .as_ref()
            .filter(|c| c.fresh)
            .map(|c| &c.snapshot);
        let sampled = match slot.reader.read_stats_with(&self.schedule.kinds, counters) {
            Ok(mut stats) => {
                if let Some(oom) = &mut self.oom {
                    let dir = oom.memory_root.join(name.trim_start_matches('/'));
                    let _ = oom.counters.observe(name, &dir);
                }
                stats.oom_events = slot.samples.oom_kills();
                stats.health.status = slot.samples.health();
                if let Some(fs) = self.schedule.fs_usage.as_ref().and_then(|t| t.latest(name)) {
                    stats.filesystem.set(vec![fs]);
                }
                if let Some(sig) = &self.signals {
                    // Looked up until found: a runtime may create the unified directory last.
                    if slot.signal_key.is_none() {
                        slot.signal_key = sig.key_of(name);
                    }
                    stats.ebpf = slot.signal_key.map(|k| Box::new(sig.read(k)));
                }
                // Comparing two samples only matters to dynamic housekeeping.
                let unchanged = self.schedule.dynamic
                    && slot.last.as_deref().is_some_and(|l| same_usage(l, &stats));
                slot.interval = next_interval(&self.schedule, slot.interval, unchanged);
                slot.due = now + jitter(slot.interval);
                let stats = Arc::new(stats);
                slot.samples.push(stats.clone());
                // Two reference counts: no copy of the sample, no allocation.
                self.feed.publish(Update::Sample {
                    container: slot.name.clone(),
                    stats: stats.clone(),
                });
                slot.last = Some(stats);
                if let Some(check) = slot.late_spec.as_mut().filter(|c| c.due <= now)
                    && let Some(late) = check.reread(&mut slot.reader, now)
                {
                    let name = name.to_string();
                    let _ = self.findings.send(Finding::Spec { name, late });
                }
                Ok(())
            }
            Err(CgroupError::Gone { .. }) => {
                self.slots.remove(name);
                let _ = self.findings.send(Finding::Gone(name.to_string()));
                return Err(SampleError::Gone);
            }
            Err(e) => {
                debug!(container = name, error = %e, "reading stats failed");
                slot.due = now + slot.interval;
                Err(SampleError::Failed)
            }
        };
        if waited {
            let late = slot
                .late_spec
                .as_mut()
                .and_then(|check| check.read_now(&mut slot.reader));
            let name = name.to_string();
            let _ = self.findings.send(Finding::Respecced { name, late });
        }
        sampled
    }
}

enum SampleError {
    Gone,
    Failed,
}

impl LateSpecCheck {
    /// Reads the late spec again and schedules the next check; the new one when it changed. A
    /// failed read (the cgroup going away) is left to the next stats read to report.
    fn reread(&mut self, reader: &mut ContainerReader, now: Instant) -> Option<LateSpec> {
        self.every = (self.every * 2).min(LATE_SPEC_MAX_INTERVAL);
        self.due = now + self.every;
        self.read_now(reader)
    }

    /// Reads the late spec off schedule; the new one when it changed.
    fn read_now(&mut self, reader: &mut ContainerReader) -> Option<LateSpec> {
        let late = reader.read_late_spec(self.machine_memory).ok()?;
        if late == self.late {
            return None;
        }
        self.late = late.clone();
        Some(late)
    }
}

/// cAdvisor's dynamic housekeeping: double while unchanged (up to the max), reset on change.
fn next_interval(s: &Schedule, current: Duration, unchanged: bool) -> Duration {
    if !s.dynamic {
        return s.interval;
    }
    if unchanged {
        (current * 2).min(s.max_interval).max(s.interval)
    } else {
        s.interval
    }
}

/// Stats equal apart from the timestamp (cAdvisor's `StatsEq` over the sections we collect).
fn same_usage(a: &ContainerStats, b: &ContainerStats) -> bool {
    a.cpu == b.cpu
        && a.memory == b.memory
        && a.diskio == b.diskio
        && a.network == b.network
        && a.processes == b.processes
        && a.filesystem == b.filesystem
        && a.hugetlb == b.hugetlb
        && a.task_stats == b.task_stats
}

/// The kernel's page size, which the memory counters count in.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
}

/// Spreads schedules by up to 10% so containers added together do not stay in lock-step forever.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(d.as_nanos() as u64);
    let frac = (h.finish() % 1000) as f64 / 10_000.0;
    d + d.mul_f64(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_interval_doubles_while_idle_and_resets() {
        let s = Schedule {
            interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60),
            dynamic: true,
            kinds: MetricKinds::default(),
            fs_usage: None,
        };
        let mut i = s.interval;
        for _ in 0..10 {
            i = next_interval(&s, i, true);
        }
        assert_eq!(i, Duration::from_secs(60));
        assert_eq!(next_interval(&s, i, false), Duration::from_secs(1));
        let fixed = Schedule {
            dynamic: false,
            ..s
        };
        assert_eq!(
            next_interval(&fixed, Duration::from_secs(8), true),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_change_in_task_counts_alone_is_a_change() {
        use crate::model::v1::{ContainerStats, LoadStats};
        let idle = ContainerStats::default();
        let mut running = idle.clone();
        running.task_stats.set(LoadStats {
            nr_running: 1,
            ..LoadStats::default()
        });
        assert!(same_usage(&idle, &idle.clone()));
        assert!(!same_usage(&idle, &running));
    }

    #[test]
    fn a_late_spec_is_reported_once_when_it_changes_and_checked_less_often() {
        use crate::cgroup::Layout;
        use crate::host::HostPaths;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cgroup-v2-kernel61");
        let host = HostPaths::under(&root);
        let layout = Layout::detect(&host).expect("fixture layout");
        let mut reader =
            ContainerReader::new(&layout, &host, "/vmtest-pids").expect("fixture container");
        let now = Instant::now();
        let mut check = LateSpecCheck {
            late: LateSpec::default(),
            machine_memory: 1 << 30,
            every: LATE_SPEC_FIRST_CHECK,
            due: now,
        };
        let changed = check
            .reread(&mut reader, now)
            .expect("fixture limits differ");
        assert_ne!(changed, LateSpec::default());
        assert_eq!(check.late, changed);
        assert_eq!(check.due, now + 2 * LATE_SPEC_FIRST_CHECK);
        assert_eq!(check.reread(&mut reader, now), None, "unchanged");
        for _ in 0..10 {
            check.reread(&mut reader, now);
        }
        assert_eq!(check.every, LATE_SPEC_MAX_INTERVAL);
    }

    /// Housekeeping over the fixture container; returns its handle, the findings and the samples.
    fn fixture_housekeeping(
        await_metadata: bool,
    ) -> (
        HousekeepingHandle,
        tokio::sync::mpsc::UnboundedReceiver<Finding>,
        Arc<Samples>,
    ) {
        fixture_housekeeping_feeding(await_metadata, Feed::default())
    }

    /// The container of the fixture tree housekeeping samples.
    const FIXTURE_CONTAINER: &str = "/vmtest-pids";

    fn fixture_housekeeping_feeding(
        await_metadata: bool,
        feed: Feed,
    ) -> (
        HousekeepingHandle,
        tokio::sync::mpsc::UnboundedReceiver<Finding>,
        Arc<Samples>,
    ) {
        use crate::cgroup::Layout;
        use crate::host::HostPaths;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cgroup-v2-kernel61");
        let host = HostPaths::under(&root);
        let layout = Layout::detect(&host).expect("fixture layout");
        let reader =
            ContainerReader::new(&layout, &host, FIXTURE_CONTAINER).expect("fixture container");
        let spec = crate::model::v1::ContainerSpec::default();
        let samples = Arc::new(Samples::new(Duration::from_secs(60), &spec));
        let schedule = Schedule {
            interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(60),
            dynamic: false,
            kinds: MetricKinds::default(),
            fs_usage: None,
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let hk = start(schedule, tx, None, None, feed).expect("thread");
        hk.send(Job::Add {
            name: FIXTURE_CONTAINER.into(),
            reader: Box::new(reader),
            samples: samples.clone(),
            late_spec: Some(LateSpec::of(&spec)),
            machine_memory: 1 << 30,
            await_metadata,
        });
        (hk, rx, samples)
    }

    fn next_finding(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Finding>) -> Finding {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(f) = rx.try_recv() {
                return f;
            }
            assert!(Instant::now() < deadline, "no finding within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_container_awaiting_its_metadata_is_sampled_with_the_respec() {
        let (hk, mut rx, samples) = fixture_housekeeping(true);
        std::thread::sleep(Duration::from_millis(200));
        assert!(samples.latest().is_none(), "sampled before its metadata");
        let name = "/vmtest-pids".to_string();
        hk.send(Job::Respec { name: name.clone() });
        match next_finding(&mut rx) {
            Finding::Respecced { name: n, late } => {
                assert_eq!(n, name);
                // The fixture's limits differ from the default spec the slot started with.
                assert!(late.is_some_and(|l| l.memory.limit != 0));
            }
            other => panic!("{other:?}"),
        }
        assert!(samples.latest().is_some(), "first sample with the respec");
        // Again: limits unchanged now, still answered.
        hk.send(Job::Respec { name: name.clone() });
        assert_eq!(
            next_finding(&mut rx),
            Finding::Respecced { name, late: None }
        );
        hk.send(Job::Respec {
            name: "/unknown".into(),
        });
        assert_eq!(
            next_finding(&mut rx),
            Finding::Respecced {
                name: "/unknown".into(),
                late: None
            }
        );
    }

    #[test]
    fn a_container_whose_metadata_does_not_come_is_sampled_after_the_wait() {
        let (_hk, mut rx, samples) = fixture_housekeeping(true);
        let started = Instant::now();
        // The fixture's limits, read with that first sample: by the late check due since 1 s, or
        // for the listing that sample brings.
        let mut limits = None;
        loop {
            match next_finding(&mut rx) {
                Finding::Spec { late, .. } => limits = Some(late),
                Finding::Respecced { late, .. } => {
                    limits = late.or(limits);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(limits.is_some_and(|l| l.memory.limit != 0));
        assert!(started.elapsed() >= METADATA_WAIT - Duration::from_millis(200));
        assert!(samples.latest().is_some());
        let (_hk, _rx, samples) = fixture_housekeeping(false);
        let deadline = Instant::now() + Duration::from_secs(1);
        while samples.latest().is_none() {
            assert!(Instant::now() < deadline, "not sampled at once");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn each_stored_sample_is_published_as_is() {
        let feed = Feed::default();
        let mut sub = feed.subscribe("test_housekeeping");
        let (_hk, _rx, samples) = fixture_housekeeping_feeding(false, feed);
        let deadline = Instant::now() + Duration::from_secs(10);
        let update = loop {
            if let Some(u) = sub.try_recv() {
                break u;
            }
            assert!(Instant::now() < deadline, "nothing published within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        };
        let Update::Sample { container, stats } = update else {
            panic!("{update:?}");
        };
        assert_eq!(&*container, FIXTURE_CONTAINER);
        let stored = samples.latest().expect("stored");
        assert!(
            Arc::ptr_eq(&stats, &stored),
            "the cache's sample, not a copy"
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(1));
            assert!(j >= Duration::from_secs(1) && j <= Duration::from_millis(1100));
        }
    }
}
