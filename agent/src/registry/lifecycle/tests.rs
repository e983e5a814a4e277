//! The lifecycle driven over a fake cgroup tree with a clock moved by hand. One test per race the
//! registry has had to fix, named after it, then the other rules.

use std::collections::{BTreeSet, VecDeque};

use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn cpu() -> Hierarchy {
    Hierarchy::V1("cpu".into())
}

fn memory() -> Hierarchy {
    Hierarchy::V1("memory".into())
}

/// The hierarchies containers are listed from (a hybrid host's v1 ones; its unified one is not).
const LISTED: [&str; 2] = ["cpu", "memory"];

fn hierarchy_name(h: &Hierarchy) -> String {
    match h {
        Hierarchy::V1(n) => n.clone(),
        Hierarchy::Unified => "unified".into(),
        Hierarchy::Id(i) => i.to_string(),
    }
}

fn dir(hierarchy: &str, name: &str) -> PathBuf {
    PathBuf::from(format!("/cgroup/{hierarchy}{name}"))
}

/// A cgroup tree and what the runtimes have said.
#[derive(Default)]
struct FakeTree {
    dirs: BTreeSet<PathBuf>,
    meta: HashMap<String, Arc<ContainerMetadata>>,
    /// Names a runtime will describe.
    described: HashSet<String>,
}

impl FakeTree {
    fn has(&self, hierarchy: &str, name: &str) -> bool {
        self.dirs.contains(&dir(hierarchy, name))
    }

    /// Every listed directory of every cgroup, as a rescan walks them.
    fn list(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for h in LISTED {
            let prefix = format!("/cgroup/{h}");
            for d in &self.dirs {
                if let Ok(rest) = d.strip_prefix(&prefix) {
                    names.insert(format!("/{}", rest.display()));
                }
            }
        }
        names.into_iter().collect()
    }
}

impl World for FakeTree {
    fn exists(&self, name: &str) -> bool {
        LISTED.iter().any(|h| self.has(h, name))
    }

    fn lists(&self, hierarchy: &Hierarchy) -> bool {
        matches!(hierarchy, Hierarchy::V1(_))
    }

    fn any_dir(&self, dirs: &[PathBuf]) -> bool {
        dirs.iter().any(|d| self.dirs.contains(d))
    }

    fn metadata(&self, name: &str) -> Option<Arc<ContainerMetadata>> {
        self.meta.get(name).cloned()
    }

    fn will_describe(&self, name: &str) -> bool {
        self.described.contains(name)
    }
}

/// What a read made: the listed hierarchies the cgroup had then.
#[derive(Debug, Clone, PartialEq)]
struct Fake(Vec<&'static str>);

/// The owner, faked: performs effects on the fake tree, logs the others as short lines.
struct Rig {
    lc: Lifecycle,
    tree: FakeTree,
    /// The paused clock.
    now: Instant,
    /// Reads handed to the "opener thread" and not answered yet.
    reads: VecDeque<(String, u64)>,
    log: Vec<String>,
}

const RETENTION: Duration = Duration::from_secs(300);

impl Rig {
    fn new() -> Self {
        Self::with(Admission::default())
    }

    fn with(admission: Admission) -> Self {
        Self {
            lc: Lifecycle::new(admission, RETENTION),
            tree: FakeTree::default(),
            now: Instant::now(),
            reads: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn step(&mut self, input: Input<Fake>) {
        let effects = self.lc.step(self.now, &self.tree, input);
        self.check_counts();
        for e in effects {
            self.perform(e);
        }
    }

    fn check_counts(&self) {
        let unread = self.lc.names.values().filter(|l| l.unread()).count();
        let settling = self.lc.names.values().filter(|l| l.settling()).count();
        assert_eq!((self.lc.unread, self.lc.settling), (unread, settling));
    }

    fn perform(&mut self, e: Effect<Fake>) {
        let line = match e {
            Effect::Read {
                name,
                ticket,
                urgent,
            } => {
                self.log.push(format!("read {name}"));
                if urgent {
                    let answer = self.read(name, ticket);
                    self.step(answer);
                } else {
                    self.reads.push_back((name, ticket));
                }
                return;
            }
            Effect::Announce { name, .. } => format!("create {name}"),
            Effect::Install {
                name,
                read,
                rebuild,
                announce,
                ..
            } => {
                let what = if rebuild { "rebuild" } else { "install" };
                self.log.push(format!("{what} {name} {}", read.0.join(",")));
                if announce.is_none() {
                    return;
                }
                format!("create {name}")
            }
            Effect::RequestMetadata { name } => format!("ask {name}"),
            Effect::IndexInodes { name } => format!("index {name}"),
            Effect::Retire { name } => format!("retire {name}"),
            Effect::Deleted {
                name, exit_code, ..
            } => format!("delete {name} {}", exit_code.unwrap_or(-1)),
            Effect::WalkLayer { name, .. } => format!("walk {name}"),
            Effect::Respec { name } => format!("respec {name}"),
            Effect::PublishMetadata { name, meta } => {
                format!("metadata {name} {}", meta.map_or("none", |_| "some"))
            }
            Effect::List { name } => format!("list {name}"),
            Effect::ForgetRemoved { name } => format!("forget {name}"),
            Effect::CountOomKill { name } => format!("oom {name}"),
        };
        self.log.push(line);
    }

    /// Reads `name` from the tree as it is now.
    fn read(&self, name: String, ticket: u64) -> Input<Fake> {
        let read = if self.tree.exists(&name) {
            let have: Vec<&'static str> = LISTED
                .into_iter()
                .filter(|h| self.tree.has(h, &name))
                .collect();
            let missing = LISTED
                .into_iter()
                .filter(|h| !self.tree.has(h, &name))
                .map(|h| dir(h, &name))
                .collect();
            Ok(Read {
                read: Fake(have),
                missing,
            })
        } else {
            Err(Unopened::Gone)
        };
        Input::ReadDone { name, ticket, read }
    }

    /// The opener thread reads what it was asked for, now; the answers arrive when delivered.
    fn read_pending(&mut self) -> Vec<Input<Fake>> {
        let asked: Vec<(String, u64)> = self.reads.drain(..).collect();
        asked.into_iter().map(|(n, t)| self.read(n, t)).collect()
    }

    fn deliver(&mut self, answers: Vec<Input<Fake>>) {
        for a in answers {
            self.step(a);
        }
    }

    /// The owner asks for the batch's reads, and the opener answers them.
    fn settle_reads(&mut self) {
        if self.lc.has_queued() {
            self.step(Input::BatchApplied);
        }
        let answers = self.read_pending();
        self.deliver(answers);
    }

    fn mkdir(&mut self, h: Hierarchy, name: &str) {
        self.tree.dirs.insert(dir(&hierarchy_name(&h), name));
        let at = self.at();
        self.step(Input::Created {
            name: name.into(),
            hierarchy: h,
            at,
        });
    }

    fn rmdir(&mut self, h: Hierarchy, name: &str) {
        self.tree.dirs.remove(&dir(&hierarchy_name(&h), name));
        let at = self.at();
        self.step(Input::Removed {
            name: name.into(),
            at,
        });
    }

    /// `name` made in every listed hierarchy and read.
    fn live(&mut self, name: &str) {
        self.mkdir(cpu(), name);
        self.mkdir(memory(), name);
        self.settle_reads();
        assert!(matches!(self.lc.names.get(name), Some(Life::Live(_))));
    }

    fn rescan(&mut self) {
        let found = self.tree.list();
        let at = self.at();
        self.step(Input::Rescan { found, at });
    }

    fn tick(&mut self) {
        self.step(Input::Tick);
    }

    fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// The creation and deletion events recorded so far.
    fn events(&self) -> Vec<&str> {
        self.log
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with("create ") || l.starts_with("delete "))
            .collect()
    }
}

fn docker_meta(exit_code: Option<i64>) -> Arc<ContainerMetadata> {
    Arc::new(ContainerMetadata {
        runtime: RuntimeKind::Docker,
        id: ID.into(),
        aliases: vec!["web".into(), ID.into()],
        namespace: "docker".into(),
        labels: Default::default(),
        envs: Default::default(),
        image: "nginx".into(),
        creation_time: None,
        start_time: None,
        restart_count: 0,
        health: String::new(),
        ip: String::new(),
        exit_code,
        storage: Default::default(),
    })
}

// ---- The races ----

/// Housekeeping finds a container's files gone before its removal events arrive; a creation event
/// that lost the race with the removal (another hierarchy's mkdir, reported late) must not announce
/// it again: that was a second creation/deletion pair for one container.
#[test]
fn duplicate_creation_after_a_housekeeping_detected_removal() {
    let mut rig = Rig::new();
    rig.live("/a");
    assert_eq!(rig.events(), ["create /a"]);
    rig.take_log();

    rig.tree.dirs.clear();
    let at = rig.at();
    rig.step(Input::FoundGone {
        name: "/a".into(),
        at,
    });
    assert_eq!(rig.take_log(), ["retire /a", "delete /a -1"]);

    // The removal events, and a creation event that lost the race, arrive late.
    rig.rmdir(cpu(), "/a");
    rig.rmdir(memory(), "/a");
    rig.step(Input::Created {
        name: "/a".into(),
        hierarchy: memory(),
        at,
    });
    rig.settle_reads();
    rig.rescan();
    assert_eq!(rig.events(), Vec::<&str>::new(), "{:?}", rig.log);

    // A cgroup made under that name again, though, is a new container, now and after the
    // tombstone has gone.
    rig.mkdir(cpu(), "/a");
    assert_eq!(rig.events(), ["create /a"]);
    rig.tree.dirs.clear();
    rig.rmdir(cpu(), "/a");
    rig.advance(TOMBSTONE_TTL);
    rig.tick();
    rig.take_log();
    rig.mkdir(cpu(), "/a");
    assert_eq!(rig.events(), ["create /a"]);
}

/// Housekeeping's finding counts only once no listed hierarchy has the container.
#[test]
fn housekeeping_finding_one_hierarchy_gone_keeps_the_container() {
    let mut rig = Rig::new();
    rig.live("/a");
    rig.take_log();
    rig.tree.dirs.remove(&dir("memory", "/a"));
    let at = rig.at();
    rig.step(Input::FoundGone {
        name: "/a".into(),
        at,
    });
    assert!(rig.take_log().is_empty());
    rig.rmdir(cpu(), "/a");
    assert_eq!(rig.take_log(), ["retire /a", "delete /a -1"]);
}

/// A runtime creates a container's directories one hierarchy at a time: a container read before all
/// of them existed is read again when one appears (else it lacked memory stats for good), and is
/// announced once.
#[test]
fn hierarchies_created_one_by_one() {
    let mut rig = Rig::new();
    rig.mkdir(cpu(), "/a");
    rig.settle_reads();
    assert_eq!(
        rig.take_log(),
        [
            "create /a",
            "read /a",
            "ask /a",
            "install /a cpu",
            "index /a"
        ]
    );

    rig.mkdir(memory(), "/a");
    assert_eq!(rig.take_log(), ["index /a", "read /a"]);
    rig.settle_reads();
    assert_eq!(rig.take_log(), ["rebuild /a cpu,memory"]);

    // Complete now: another hierarchy's event only indexes it.
    rig.mkdir(memory(), "/a");
    assert_eq!(rig.take_log(), ["index /a"]);

    // The second directory appears while the first read is in flight: once installed, it is read
    // again.
    rig.mkdir(cpu(), "/b");
    rig.step(Input::BatchApplied);
    let answers = rig.read_pending();
    rig.mkdir(memory(), "/b");
    rig.deliver(answers);
    rig.settle_reads();
    assert_eq!(
        rig.take_log(),
        [
            "create /b",
            "read /b",
            "ask /b",
            "install /b cpu",
            "index /b",
            "read /b",
            "rebuild /b cpu,memory"
        ]
    );

    // One that a rescan finds complete later, without an event we saw, is rebuilt then.
    rig.mkdir(cpu(), "/c");
    rig.settle_reads();
    rig.take_log();
    rig.tree.dirs.insert(dir("memory", "/c"));
    rig.rescan();
    rig.settle_reads();
    assert_eq!(rig.take_log(), ["read /c", "rebuild /c cpu,memory"]);
}

/// Directories appearing after [`INCOMPLETE_WAIT`] are not waited for any more.
#[test]
fn a_late_hierarchy_is_waited_for_a_while_only() {
    let mut rig = Rig::new();
    rig.mkdir(cpu(), "/a");
    rig.settle_reads();
    rig.take_log();
    rig.advance(INCOMPLETE_WAIT);
    rig.mkdir(memory(), "/a");
    assert_eq!(rig.take_log(), ["index /a"]);
}

/// Events of a hierarchy containers are not listed from (a hybrid host's unified one, whose rmdir
/// the runtime may do last) do not make containers.
#[test]
fn an_unlisted_hierarchy_makes_no_container() {
    let mut rig = Rig::new();
    rig.mkdir(Hierarchy::Unified, "/a");
    rig.settle_reads();
    assert!(rig.take_log().is_empty());
    rig.live("/b");
    rig.take_log();
    rig.rmdir(cpu(), "/b");
    rig.rmdir(memory(), "/b");
    rig.step(Input::Created {
        name: "/b".into(),
        hierarchy: Hierarchy::Unified,
        at: SystemTime::UNIX_EPOCH,
    });
    assert_eq!(rig.take_log(), ["retire /b", "delete /b -1"]);
}

/// A container removed while the opener was reading it: its removal completes it (creation and
/// deletion events, as for any short-lived cgroup), and the read's answer, which found it still
/// there, is dropped rather than installing a removed container.
#[test]
fn removal_before_the_read_finished() {
    let mut rig = Rig::new();
    rig.mkdir(cpu(), "/a");
    rig.mkdir(memory(), "/a");
    rig.step(Input::BatchApplied);
    let answers = rig.read_pending();
    rig.rmdir(cpu(), "/a");
    assert_eq!(rig.events(), ["create /a"], "memory still has it");
    rig.rmdir(memory(), "/a");
    rig.deliver(answers);
    rig.rescan();
    rig.advance(RETENTION);
    rig.tick();
    assert_eq!(rig.take_log(), ["create /a", "read /a", "delete /a -1"]);

    // Read after the rmdir, before its event: a ghost, completed by the removal event.
    rig.mkdir(cpu(), "/b");
    rig.step(Input::BatchApplied);
    rig.tree.dirs.clear();
    let answers = rig.read_pending();
    rig.deliver(answers);
    assert_eq!(rig.events(), ["create /b"]);
    rig.rmdir(cpu(), "/b");
    assert_eq!(rig.events(), ["create /b", "delete /b -1"]);
    rig.take_log();

    // A ghost whose removal event was lost ends with the next rescan.
    rig.mkdir(cpu(), "/c");
    rig.tree.dirs.clear();
    rig.settle_reads();
    rig.rescan();
    assert_eq!(rig.events(), ["create /c", "delete /c -1"]);
}

/// An OOM kill reported after its container was removed (the counters' fallback pairs the kernel
/// log line a little later) still counts, on the removed container's entry, which stays in the
/// snapshot for the retention window; it does not bring the container back.
#[test]
fn late_oom_for_a_removed_container() {
    let mut rig = Rig::new();
    rig.live("/a");
    rig.rmdir(cpu(), "/a");
    rig.rmdir(memory(), "/a");
    rig.take_log();

    rig.step(Input::OomKill { name: "/a".into() });
    assert_eq!(rig.take_log(), ["oom /a"]);
    rig.rescan();
    assert!(rig.take_log().is_empty());

    rig.advance(RETENTION - Duration::from_secs(1));
    rig.tick();
    rig.step(Input::OomKill { name: "/a".into() });
    assert_eq!(rig.take_log(), ["oom /a"], "still retained");
    rig.advance(Duration::from_secs(1));
    rig.tick();
    assert_eq!(rig.take_log(), ["forget /a"]);
    rig.step(Input::OomKill { name: "/a".into() });
    assert!(rig.take_log().is_empty(), "past its retention");
    assert!(!rig.lc.wants_ticks());
}

/// An OOM kill names its cgroup by inode: announced containers not read yet are read first, so the
/// kill finds (and counts on) its container.
#[test]
fn an_oom_kill_reads_unread_containers_first() {
    let mut rig = Rig::new();
    rig.mkdir(cpu(), "/a");
    rig.mkdir(memory(), "/a");
    rig.step(Input::BatchApplied);
    let stale = rig.read_pending();
    rig.mkdir(cpu(), "/b");
    rig.step(Input::ReadUnreadNow);
    rig.step(Input::OomKill { name: "/b".into() });
    // The opener's answer for the read taken over is dropped.
    rig.deliver(stale);
    rig.settle_reads();
    assert_eq!(
        rig.take_log(),
        [
            "create /a",
            "read /a",
            "create /b",
            "read /a",
            "ask /a",
            "install /a cpu,memory",
            "index /a",
            "read /b",
            "ask /b",
            "install /b cpu",
            "index /b",
            "oom /b"
        ]
    );
}

// ---- The other rules ----

#[test]
fn a_rescan_adds_what_it_finds_and_removes_what_it_does_not() {
    let mut rig = Rig::new();
    rig.tree.dirs.insert(dir("cpu", "/"));
    rig.tree.dirs.insert(dir("cpu", "/a"));
    rig.rescan();
    assert_eq!(
        rig.take_log(),
        [
            "read /",
            "ask /",
            "install / cpu",
            "create /",
            "index /",
            "read /a",
            "ask /a",
            "install /a cpu",
            "create /a",
            "index /a"
        ]
    );
    rig.rescan();
    assert!(rig.take_log().is_empty());
    rig.tree.dirs.remove(&dir("cpu", "/a"));
    rig.rescan();
    assert_eq!(rig.take_log(), ["retire /a", "delete /a -1"]);
}

/// A runtime's container is listed once its runtime described it and its limits were read again
/// (the metadata is published with them), or after the backstop when housekeeping never reports.
#[test]
fn a_runtime_container_is_listed_once_described() {
    let name = format!("/docker/{ID}");
    let mut rig = Rig::new();
    rig.tree.described.insert(name.clone());
    rig.live(&name);
    assert!(!rig.lc.is_listed(&name) && rig.lc.any_unlisted());
    rig.take_log();

    rig.tree.meta.insert(name.clone(), docker_meta(None));
    let meta = rig.tree.meta.get(&name).cloned();
    rig.step(Input::Metadata {
        name: name.clone(),
        meta: meta.clone(),
    });
    // A newer update while the re-read is under way: one re-read, the newest metadata published.
    rig.step(Input::Metadata {
        name: name.clone(),
        meta,
    });
    rig.step(Input::Respecced { name: name.clone() });
    assert_eq!(
        rig.take_log(),
        [
            format!("walk {name}"),
            format!("respec {name}"),
            format!("walk {name}"),
            format!("list {name}"),
            format!("metadata {name} some")
        ]
    );
    assert!(rig.lc.is_listed(&name) && !rig.lc.any_unlisted());

    // Not described in time: housekeeping lists it with its first sample; the backstop does when
    // even that does not come.
    let other = format!("/docker/{}", ID.replace('0', "1"));
    rig.tree.described.insert(other.clone());
    rig.live(&other);
    rig.take_log();
    rig.advance(SETTLE_BACKSTOP - Duration::from_millis(1));
    rig.tick();
    assert!(!rig.lc.is_listed(&other));
    rig.advance(Duration::from_millis(1));
    rig.tick();
    assert_eq!(rig.take_log(), [format!("list {other}")]);
    assert!(rig.lc.is_listed(&other));
}

/// "No runtime owns it" about a raw cgroup changes nothing; a raw cgroup is listed at once.
#[test]
fn a_raw_cgroup_is_listed_at_once() {
    let mut rig = Rig::new();
    rig.live("/a");
    assert!(rig.lc.is_listed("/a"));
    rig.take_log();
    rig.step(Input::Metadata {
        name: "/a".into(),
        meta: None,
    });
    rig.step(Input::Respecced { name: "/a".into() });
    assert_eq!(rig.take_log(), ["respec /a"]);
}

/// A runtime's container's deletion waits briefly for the exit code the runtime reports after the
/// cgroup is gone.
#[test]
fn a_runtime_containers_deletion_waits_for_its_exit_code() {
    let name = format!("/docker/{ID}");
    let mut rig = Rig::new();
    rig.tree.meta.insert(name.clone(), docker_meta(None));
    rig.live(&name);
    rig.take_log();
    rig.rmdir(cpu(), &name);
    rig.rmdir(memory(), &name);
    assert_eq!(rig.take_log(), [format!("retire {name}")]);
    rig.step(Input::Metadata {
        name: name.clone(),
        meta: Some(docker_meta(Some(137))),
    });
    assert_eq!(rig.take_log(), [format!("delete {name} 137")]);

    // Not in time: without one.
    rig.tree.dirs.insert(dir("cpu", &name));
    rig.rescan();
    rig.tree.dirs.clear();
    rig.rescan();
    rig.take_log();
    rig.advance(EXIT_CODE_WAIT - Duration::from_millis(1));
    rig.tick();
    assert!(rig.events().is_empty());
    rig.advance(Duration::from_millis(1));
    rig.tick();
    assert_eq!(rig.events(), [format!("delete {name} -1")]);
}

/// With `--docker_only`, a cgroup no runtime claims is not a container; a pod's bare id is asked
/// about, and admitted once Docker claims it.
#[test]
fn docker_only_admits_what_docker_claims() {
    let only = Admission {
        docker_only: true,
        raw_prefix_whitelist: vec![],
    };
    let mut rig = Rig::with(only);
    rig.mkdir(cpu(), "/system.slice/foo.service");
    let pod = format!("/kubepods/besteffort/pod1234/{ID}");
    rig.mkdir(cpu(), &pod);
    rig.settle_reads();
    assert_eq!(rig.take_log(), [format!("ask {pod}")]);
    rig.tree.meta.insert(pod.clone(), docker_meta(None));
    rig.rescan();
    rig.settle_reads();
    let log = rig.take_log();
    assert!(log.contains(&format!("create {pod}")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("foo.service")), "{log:?}");
}

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

/// Only the newest request's answer counts; the opener thread's loss has its reads asked again.
#[test]
fn only_the_newest_read_counts_and_a_lost_opener_is_read_for() {
    let mut rig = Rig::new();
    rig.mkdir(cpu(), "/a");
    rig.mkdir(cpu(), "/b");
    rig.step(Input::BatchApplied);
    let first = rig.read_pending();
    rig.step(Input::OpenerLost);
    rig.deliver(first);
    assert_eq!(
        rig.take_log(),
        [
            "create /a",
            "create /b",
            "read /a",
            "read /b",
            "read /a",
            "ask /a",
            "install /a cpu",
            "index /a",
            "read /b",
            "ask /b",
            "install /b cpu",
            "index /b"
        ]
    );
    // A rebuild in flight too.
    rig.tree.dirs.insert(dir("memory", "/a"));
    rig.mkdir(memory(), "/a");
    rig.step(Input::OpenerLost);
    let stale = rig.read_pending();
    rig.deliver(stale);
    assert_eq!(
        rig.take_log(),
        ["index /a", "read /a", "read /a", "rebuild /a cpu,memory"]
    );
}

/// A creation event for a ghost reads it at once: installed without a second creation event when it
/// is there after all.
#[test]
fn a_ghost_seen_again_is_not_announced_twice() {
    let mut rig = Rig::new();
    rig.mkdir(cpu(), "/a");
    rig.tree.dirs.clear();
    rig.settle_reads();
    rig.mkdir(memory(), "/a");
    assert_eq!(
        rig.take_log(),
        [
            "create /a",
            "read /a",
            "read /a",
            "ask /a",
            "install /a memory",
            "index /a"
        ]
    );
    rig.rmdir(memory(), "/a");
    assert_eq!(rig.take_log(), ["retire /a", "delete /a -1"]);
}

#[test]
fn no_ticks_are_wanted_once_everything_has_expired() {
    let mut rig = Rig::new();
    assert!(!rig.lc.wants_ticks());
    rig.live("/a");
    rig.rmdir(cpu(), "/a");
    rig.rmdir(memory(), "/a");
    assert!(rig.lc.wants_ticks());
    // A late creation event reads the tombstone again, finds nothing: still forgotten in time.
    rig.advance(TOMBSTONE_TTL - Duration::from_secs(1));
    let at = rig.at();
    rig.step(Input::Created {
        name: "/a".into(),
        hierarchy: cpu(),
        at,
    });
    rig.advance(Duration::from_secs(1));
    rig.tick();
    assert!(rig.lc.names.is_empty(), "{:?}", rig.lc.names);
    rig.advance(RETENTION);
    rig.tick();
    assert!(!rig.lc.wants_ticks());
    assert!(rig.lc.names.is_empty(), "{:?}", rig.lc.names);
}
