//! OOM kills from the memory cgroup's own counter (`oom_kill N` in v1 `memory.oom_control`, v2
//! `memory.events.local` / `memory.events`), for when the eBPF probes cannot load. Works in containers
//! without `/dev/kmsg` and survives kernel log format changes.
//!
//! Called, not polling: the registry calls [`OomCounters::observe`] for each container on its
//! housekeeping tick (one small read of an already-known directory) and [`OomCounters::drain`] once per
//! tick. When the kernel log is readable too, its instances are handed in with
//! [`OomCounters::record_kmsg`]; a counter increment and a log instance for the same cgroup within the
//! grace window become one event carrying pid, process name and constraint — the same event the eBPF
//! source produces. Log instances nobody's counter explains (cgroup untracked or already removed) are
//! emitted alone after the grace window, so kills are neither lost nor doubled.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::kmsg::OomInstance;
use super::{CgroupRef, SourceEvent};

#[derive(Debug, thiserror::Error)]
pub enum OomCounterError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parsing {path}: bad line {line:?}")]
    Parse { path: PathBuf, line: String },
}

/// The `oom_kill` value of a `memory.oom_control` / `memory.events` text; `Ok(None)` when the kernel
/// has no such line (v1 before 4.13). A malformed `oom_kill` line is an error carrying the line.
pub fn parse_oom_kill(text: &str) -> Result<Option<u64>, String> {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("oom_kill ") {
            return v.trim().parse().map(Some).map_err(|_| line.to_string());
        }
    }
    Ok(None)
}

/// Candidate files, in order: v1, v2 without propagation from children, v2 (hierarchical).
const FILES: [&str; 3] = ["memory.oom_control", "memory.events.local", "memory.events"];

/// Reads the counter of one memory cgroup directory. `Ok(None)`: no counter here (no memory
/// controller, old kernel, or the cgroup is gone).
pub fn read_oom_kill(dir: &Path) -> Result<Option<u64>, OomCounterError> {
    for f in FILES {
        let path = dir.join(f);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return parse_oom_kill(&text).map_err(|line| OomCounterError::Parse { path, line });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(OomCounterError::Read { path, source }),
        }
    }
    Ok(None)
}

/// Counter state per container plus not-yet-paired increments and kernel log instances.
#[derive(Debug)]
pub struct OomCounters {
    last: HashMap<String, u64>,
    /// `Some` when kernel log instances are fed in: how long each side waits for the other.
    grace: Option<Duration>,
    counts: VecDeque<(String, SystemTime, Instant)>,
    logged: VecDeque<(OomInstance, Instant)>,
}

impl OomCounters {
    /// `kmsg_grace`: `None` when no kernel log is read (increments are emitted at once), else the
    /// pairing window (a couple of housekeeping intervals).
    pub fn new(kmsg_grace: Option<Duration>) -> Self {
        Self {
            last: HashMap::new(),
            grace: kmsg_grace,
            counts: VecDeque::new(),
            logged: VecDeque::new(),
        }
    }

    /// Reads `dir`'s counter and records increments since the last call for `name`. The first call for
    /// a name sets the baseline (kills before we tracked it are not ours to report).
    pub fn observe(&mut self, name: &str, dir: &Path) -> Result<(), OomCounterError> {
        if let Some(count) = read_oom_kill(dir)? {
            self.observe_count(name, count, SystemTime::now(), Instant::now());
        }
        Ok(())
    }

    /// [`Self::observe`] with the counter value already read.
    pub fn observe_count(&mut self, name: &str, count: u64, at: SystemTime, now: Instant) {
        let prev = self.last.insert(name.to_string(), count);
        let Some(prev) = prev else { return };
        // A smaller value means the cgroup was recreated under the same name: new baseline.
        for _ in 0..count.saturating_sub(prev).min(64) {
            self.counts.push_back((name.to_string(), at, now));
        }
    }

    /// A container is gone: drop its baseline (a new cgroup of that name starts from its own).
    pub fn forget(&mut self, name: &str) {
        self.last.remove(name);
    }

    /// An OOM kill parsed from the kernel log.
    pub fn record_kmsg(&mut self, inst: OomInstance) {
        self.logged.push_back((inst, Instant::now()));
    }

    /// Events that are due now.
    pub fn drain(&mut self) -> Vec<SourceEvent> {
        self.drain_at(Instant::now())
    }

    pub fn drain_at(&mut self, now: Instant) -> Vec<SourceEvent> {
        let mut out = Vec::new();
        let mut unpaired = VecDeque::new();
        while let Some((name, at, seen)) = self.counts.pop_front() {
            if let Some(i) = self
                .logged
                .iter()
                .position(|(l, _)| l.container_name == name)
            {
                if let Some((inst, _)) = self.logged.remove(i) {
                    out.push(inst.to_source_event());
                }
            } else if self.grace.is_none_or(|g| now.duration_since(seen) >= g) {
                out.push(SourceEvent::OomKill {
                    target: CgroupRef::Name(name),
                    pid: 0,
                    process_name: String::new(),
                    constraint: String::new(),
                    at,
                    replayed: false,
                });
            } else {
                unpaired.push_back((name, at, seen));
            }
        }
        self.counts = unpaired;
        let grace = self.grace.unwrap_or_default();
        while self
            .logged
            .front()
            .is_some_and(|(_, seen)| now.duration_since(*seen) >= grace)
        {
            if let Some((inst, _)) = self.logged.pop_front() {
                out.push(inst.to_source_event());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // memory.oom_control, cgroup v1, kernel 6.18.44, a cgroup after one OOM kill (integration test).
    const V1: &str = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
    // memory.events, cgroup v2: key order of Documentation/admin-guide/cgroup-v2.rst (kernel 6.x).
    const V2: &str = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n";

    #[test]
    fn parses_both_formats() {
        assert_eq!(parse_oom_kill(V1), Ok(Some(1)));
        assert_eq!(parse_oom_kill(V2), Ok(Some(2)));
        // v1 before 4.13 had no counter.
        assert_eq!(
            parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"),
            Ok(None)
        );
        assert_eq!(
            parse_oom_kill("oom_kill x\n"),
            Err("oom_kill x".to_string())
        );
    }

    #[test]
    fn reads_a_dir_and_reports_parse_errors_with_path() {
        let d = tempfile::tempdir().expect("tempdir");
        assert!(matches!(read_oom_kill(d.path()), Ok(None)));
        std::fs::write(d.path().join("memory.events"), V2).expect("write");
        assert!(matches!(read_oom_kill(d.path()), Ok(Some(2))));
        std::fs::write(d.path().join("memory.oom_control"), "oom_kill ?\n").expect("write");
        let e = read_oom_kill(d.path()).expect_err("bad");
        assert!(
            e.to_string().contains("memory.oom_control") && e.to_string().contains("oom_kill ?"),
            "{e}"
        );
    }

    fn inst(name: &str, pid: u32) -> OomInstance {
        OomInstance {
            pid,
            process_name: "dd".into(),
            time_of_death: SystemTime::UNIX_EPOCH,
            container_name: name.into(),
            victim_container_name: name.into(),
            constraint: "CONSTRAINT_MEMCG".into(),
        }
    }

    #[test]
    fn increments_without_kmsg_are_emitted_at_once_after_a_baseline() {
        let mut c = OomCounters::new(None);
        let now = Instant::now();
        c.observe_count("/a", 3, SystemTime::UNIX_EPOCH, now);
        assert!(c.drain_at(now).is_empty(), "baseline only");
        c.observe_count("/a", 5, SystemTime::UNIX_EPOCH, now);
        let evs = c.drain_at(now);
        assert_eq!(evs.len(), 2);
        assert!(
            matches!(&evs[0], SourceEvent::OomKill { target: CgroupRef::Name(n), pid: 0, .. } if n == "/a")
        );
    }

    #[test]
    fn kmsg_and_counter_pair_into_one_event_either_order() {
        let g = Duration::from_secs(2);
        let mut c = OomCounters::new(Some(g));
        let t0 = Instant::now();
        c.observe_count("/a", 0, SystemTime::UNIX_EPOCH, t0);
        c.observe_count("/a", 1, SystemTime::UNIX_EPOCH, t0);
        assert!(c.drain_at(t0).is_empty(), "waits for the log");
        c.record_kmsg(inst("/a", 42));
        let evs = c.drain_at(t0);
        assert_eq!(evs, vec![inst("/a", 42).to_source_event()]);
        // Log first, counter later.
        c.record_kmsg(inst("/a", 43));
        c.observe_count("/a", 2, SystemTime::UNIX_EPOCH, t0);
        assert_eq!(c.drain_at(t0), vec![inst("/a", 43).to_source_event()]);
        assert!(c.drain_at(t0 + g * 10).is_empty(), "nothing doubled");
    }

    #[test]
    fn unpaired_sides_are_emitted_after_the_grace_window() {
        let g = Duration::from_secs(2);
        let mut c = OomCounters::new(Some(g));
        let t0 = Instant::now();
        c.observe_count("/a", 0, SystemTime::UNIX_EPOCH, t0);
        c.observe_count("/a", 1, SystemTime::UNIX_EPOCH, t0);
        c.record_kmsg(inst("/gone", 7));
        assert!(c.drain_at(t0).is_empty());
        let evs = c.drain_at(Instant::now() + g);
        assert_eq!(evs.len(), 2);
        assert!(evs.contains(&inst("/gone", 7).to_source_event()));
    }
}
