//! Per-container filesystem usage: bytes and inodes of each container's writable layer (plus its
//! runtime directory), measured by walking the directories in-process rather than forking `du`.
//!
//! [`FsUsageTracker`] walks every tracked container: once as soon as its runtime names its layer (on
//! a thread of its own, so it never waits behind a long walk of another container), then every
//! [`UsageConfig::period`], jittered. Housekeeping only reads the latest result, so a slow walk
//! never delays sampling; before the first walk ends that result is the layer's filesystem with no
//! usage yet, so a container's samples carry their filesystem entry from the first one, as
//! cAdvisor's do. A walk paces itself to a duty cycle, stops at [`UsageConfig::max_entries`], and a
//! walk that is slow or capped backs its container off (up to 20× the period, as cAdvisor's fs
//! handler does) with one log line saying so.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::host::HostPaths;
use crate::model::v1::FsStats;
use crate::runtime::{ContainerMetadata, ContainerStorage};

/// `st_blocks` is in 512-byte units whatever the filesystem's block size (stat(2)).
const STAT_BLOCK: u64 = 512;
/// Entries walked between two pacing checks.
const CHUNK: u64 = 1024;
/// A walk busy for longer than this backs its container off (cAdvisor's `longOp`).
const SLOW_WALK: Duration = Duration::from_secs(1);
/// Longest period as a multiple of the base period (cAdvisor's `maxBackoffFactor`).
const MAX_BACKOFF: u32 = 20;

/// A directory that could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The directory itself does not exist (container removed, layer not created yet).
    #[error("walk {path}: directory is gone")]
    Gone { path: PathBuf },
    #[error("walk {path}: {source}")]
    Stat {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What one walk found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirUsage {
    /// Allocated bytes (`st_blocks` × 512), each inode once.
    pub bytes: u64,
    /// Inodes, each once (the directory itself included, as `du --inodes` counts).
    pub inodes: u64,
    /// Directory entries visited (hard links and unreadable entries included).
    pub entries: u64,
    /// Subdirectories that vanished or could not be read mid-walk (skipped, not fatal).
    pub skipped: u64,
    /// The walk stopped at the entry cap: `bytes` and `inodes` are lower bounds.
    pub truncated: bool,
}

/// Walks `dir` like `du -x`: symlinks are not followed, other mounts are not entered, hard-linked
/// files count once. Entries that vanish mid-walk are skipped. `pace` runs every [`CHUNK`] entries
/// (the tracker sleeps there to bound its CPU share). Stops after `max_entries` entries.
pub fn dir_usage(
    dir: &Path,
    max_entries: u64,
    pace: &mut dyn FnMut(),
) -> Result<DirUsage, UsageError> {
    let root = std::fs::symlink_metadata(dir).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => UsageError::Gone {
            path: dir.to_path_buf(),
        },
        _ => UsageError::Stat {
            path: dir.to_path_buf(),
            source,
        },
    })?;
    let dev = root.dev();
    let mut u = DirUsage {
        bytes: root.blocks() * STAT_BLOCK,
        inodes: 1,
        entries: 1,
        ..DirUsage::default()
    };
    if !root.is_dir() {
        return Ok(u);
    }
    let mut linked: HashSet<u64> = HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            u.skipped += 1;
            continue;
        };
        for entry in entries {
            if u.entries >= max_entries {
                u.truncated = true;
                return Ok(u);
            }
            u.entries += 1;
            if u.entries.is_multiple_of(CHUNK) {
                pace();
            }
            // `DirEntry::metadata` is an fstatat/statx relative to the open directory that does not
            // follow symlinks: no path resolution per file.
            let Ok(md) = entry.and_then(|e| e.metadata().map(|m| (e, m))) else {
                u.skipped += 1;
                continue;
            };
            let (e, md) = md;
            if md.dev() != dev {
                continue;
            }
            if md.nlink() > 1 && !md.is_dir() && !linked.insert(md.ino()) {
                continue;
            }
            u.bytes += md.blocks() * STAT_BLOCK;
            u.inodes += 1;
            if md.is_dir() {
                pending.push(e.path());
            }
        }
    }
    Ok(u)
}

/// How the tracker walks.
#[derive(Debug, Clone)]
pub struct UsageConfig {
    /// Time between two walks of one container (cAdvisor: one minute).
    pub period: Duration,
    /// Entries one walk visits at most; a bigger layer is reported as a lower bound.
    pub max_entries: u64,
    /// Share of one core a walk may use: after each chunk the thread sleeps so that work stays at
    /// most this fraction of wall time.
    pub duty: f64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            period: Duration::from_secs(60),
            max_entries: 1_000_000,
            duty: 0.25,
        }
    }
}

/// What is published for one tracked container.
struct Current {
    /// Which `attach` this is: a walk started for an earlier one (the container was forgotten, or
    /// its layer changed, meanwhile) does not publish.
    generation: u64,
    storage: ContainerStorage,
    /// `None` until the layer's filesystem is known.
    stats: Option<FsStats>,
}

/// State the tracker's handles and threads share.
struct Shared {
    host: HostPaths,
    cfg: UsageConfig,
    current: RwLock<HashMap<String, Current>>,
    /// The newest mount table a walk used, for the entry published before a container's first walk.
    mounts: RwLock<Arc<Vec<super::FsUsage>>>,
    generations: AtomicU64,
}

impl Shared {
    fn is_current(&self, name: &str, generation: u64) -> bool {
        let map = self.current.read().unwrap_or_else(|p| p.into_inner());
        map.get(name).is_some_and(|c| c.generation == generation)
    }

    /// Reads the mount table (once per batch of walks, not per container) and keeps it for
    /// [`FsUsageTracker::attach`].
    fn refresh_mounts(&self) -> Arc<Vec<super::FsUsage>> {
        let fresh = Arc::new(super::filesystems(&self.host));
        *self.mounts.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        fresh
    }

    fn publish(&self, name: &str, generation: u64, stats: FsStats) {
        let mut map = self.current.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get_mut(name).filter(|c| c.generation == generation) {
            c.stats = Some(stats);
        }
    }
}

/// A container to walk, as the first-walk thread hands it to the periodic one.
struct Tracked {
    name: String,
    generation: u64,
    storage: ContainerStorage,
    due: Instant,
    period: Duration,
}

/// Cheap to clone; every method returns at once. The walking threads end when the last clone is
/// dropped.
#[derive(Clone)]
pub struct FsUsageTracker {
    first_walks: Sender<Tracked>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FsUsageTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsUsageTracker").finish_non_exhaustive()
    }
}

impl FsUsageTracker {
    /// Starts the walking threads for paths below `host`'s root: one walks each new container once,
    /// as soon as it is attached; the other walks every container again each period. A new
    /// container's walk so never waits behind a long walk of an old one, and at most two walks run
    /// at once.
    pub fn start(host: HostPaths, cfg: UsageConfig) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            mounts: RwLock::new(Arc::new(super::filesystems(&host))),
            host,
            cfg,
            current: RwLock::new(HashMap::new()),
            generations: AtomicU64::new(0),
        });
        let (periodic_tx, periodic_rx) = std::sync::mpsc::channel();
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let periodic = shared.clone();
        std::thread::Builder::new()
            .name("fs-usage".into())
            .spawn(move || {
                crate::priority::lower_for_bulk_work();
                walk_periodically(&periodic, periodic_rx);
            })?;
        let first = shared.clone();
        std::thread::Builder::new()
            .name("fs-usage-new".into())
            .spawn(move || {
                crate::priority::lower_for_bulk_work();
                walk_first(&first, first_rx, periodic_tx);
            })?;
        Ok(Self {
            first_walks: first_tx,
            shared,
        })
    }

    /// Runtime metadata for `name` arrived: track its writable layer (idempotent; a changed layer is
    /// walked anew). From now on [`Self::latest`] has its filesystem's entry (device, capacity; no
    /// usage until its first walk, which starts at once, as cAdvisor's does). `false` (left alone)
    /// when the runtime names no walkable layer.
    pub fn attach(&self, name: &str, meta: &ContainerMetadata) -> bool {
        let Some(layer) = meta.storage.writable_layer.as_deref() else {
            return false;
        };
        let known = {
            let map = self
                .shared
                .current
                .read()
                .unwrap_or_else(|p| p.into_inner());
            map.get(name).is_some_and(|c| c.storage == meta.storage)
        };
        if known {
            return true;
        }
        let generation = self.shared.generations.fetch_add(1, Ordering::Relaxed);
        let mounts = self
            .shared
            .mounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // One stat: which filesystem holds the layer.
        let stats = layer_filesystem(&self.shared.host.host_path(layer), &mounts)
            .map(|fs| usage_stats(fs, DirUsage::default(), DirUsage::default()));
        let current = Current {
            generation,
            storage: meta.storage.clone(),
            stats,
        };
        self.shared
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), current);
        // Fails only when the threads are gone (shutdown): nothing to walk then.
        let _ = self.first_walks.send(Tracked {
            name: name.to_string(),
            generation,
            storage: meta.storage.clone(),
            due: Instant::now(),
            period: self.shared.cfg.period,
        });
        true
    }

    /// The container is gone: stop walking it.
    pub fn forget(&self, name: &str) {
        self.shared
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// The newest filesystem entry for `name`: from its latest walk, or without usage before the
    /// first one.
    pub fn latest(&self, name: &str) -> Option<FsStats> {
        let map = self
            .shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner());
        map.get(name).and_then(|c| c.stats.clone())
    }
}

/// The first-walk thread: walks each container as soon as it is attached (in order), then hands it
/// to the periodic thread.
fn walk_first(shared: &Shared, rx: Receiver<Tracked>, periodic: Sender<Tracked>) {
    while let Ok(t) = rx.recv() {
        let batch: Vec<Tracked> = std::iter::once(t).chain(rx.try_iter()).collect();
        let filesystems = shared.refresh_mounts();
        for mut t in batch {
            if !shared.is_current(&t.name, t.generation) {
                continue;
            }
            walk(shared, &mut t, &filesystems);
            if periodic.send(t).is_err() {
                return;
            }
        }
    }
}

/// The periodic thread: walks every container again when its period has passed.
fn walk_periodically(shared: &Shared, rx: Receiver<Tracked>) {
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    loop {
        let next = tracked.values().map(|t| t.due).min();
        let wait = next.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok(t) => {
                tracked.insert(t.name.clone(), t);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        for t in rx.try_iter() {
            tracked.insert(t.name.clone(), t);
        }
        let now = Instant::now();
        let due: Vec<String> = tracked
            .iter()
            .filter(|(_, t)| t.due <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if due.is_empty() {
            continue;
        }
        let filesystems = shared.refresh_mounts();
        for name in due {
            // Forgotten (or attached anew) containers drop out when they come due, also one
            // forgotten during the previous walk.
            match tracked.get_mut(&name) {
                Some(t) if shared.is_current(&name, t.generation) => walk(shared, t, &filesystems),
                _ => {
                    tracked.remove(&name);
                }
            }
        }
    }
}

/// Walks `t`'s directories, publishes the result (unless `t` was forgotten meanwhile) and schedules
/// its next walk.
fn walk(shared: &Shared, t: &mut Tracked, filesystems: &[super::FsUsage]) {
    let cfg = &shared.cfg;
    let Some(layer) = t.storage.writable_layer.as_deref() else {
        return;
    };
    let layer = shared.host.host_path(layer);
    let started = Instant::now();
    let mut pace = pacer(cfg.duty);
    let base = match dir_usage(&layer, cfg.max_entries, &mut pace) {
        Ok(u) => u,
        Err(e) => {
            debug!(container = t.name, error = %e, "no filesystem usage");
            t.due = Instant::now() + jitter(t.period);
            return;
        }
    };
    let left = cfg.max_entries.saturating_sub(base.entries);
    let extra = t
        .storage
        .extra
        .as_deref()
        .map(|d| shared.host.host_path(d))
        .and_then(|d| dir_usage(&d, left, &mut pace).ok())
        .unwrap_or_default();
    let took = started.elapsed();
    let truncated = base.truncated || extra.truncated;
    // Judge the work, not the pacing sleeps.
    let busy = took.mul_f64(cfg.duty.clamp(0.01, 1.0));
    let period = next_period(cfg.period, t.period, busy, truncated);
    if truncated && t.period != period {
        warn!(
            container = t.name, dir = %layer.display(), entries = cfg.max_entries,
            next_in = ?period,
            "filesystem usage walk stopped at its entry cap; usage is a lower bound"
        );
    } else if period > t.period {
        info!(
            container = t.name, dir = %layer.display(), took = ?took, entries = base.entries + extra.entries,
            next_in = ?period, "filesystem usage walk was slow; walking this container less often"
        );
    }
    t.period = period;
    t.due = Instant::now() + jitter(period);
    let fs = layer_filesystem(&layer, filesystems);
    let stats = match fs {
        Some(fs) => usage_stats(fs, base, extra),
        None => FsStats {
            base_usage: base.bytes,
            usage: base.bytes + extra.bytes,
            inodes: base.inodes,
            ..FsStats::default()
        },
    };
    shared.publish(&t.name, t.generation, stats);
}

/// The filesystem holding `layer` (a host path), by its device number.
fn layer_filesystem<'a>(
    layer: &Path,
    filesystems: &'a [super::FsUsage],
) -> Option<&'a super::FsUsage> {
    let md = std::fs::metadata(layer).ok()?;
    let (major, minor) = (libc::major(md.dev()), libc::minor(md.dev()));
    filesystems
        .iter()
        .find(|f| f.major == major && f.minor == minor)
}

/// cAdvisor's docker `FsStats`: the device and capacity of the filesystem holding the layer, usage =
/// layer + container directory, base usage = layer, inodes = the layer's inodes. `available` and
/// `inodes_free` stay 0 and `has_inodes` false, as cAdvisor reports them for containers.
fn usage_stats(fs: &super::FsUsage, base: DirUsage, extra: DirUsage) -> FsStats {
    FsStats {
        device: fs.device.clone(),
        fs_type: fs.cadvisor_type().to_string(),
        capacity: fs.capacity,
        base_usage: base.bytes,
        usage: base.bytes + extra.bytes,
        inodes: base.inodes,
        ..FsStats::default()
    }
}

/// Back off (doubling, up to 20× the base) after a slow walk, straight to the cap after a truncated
/// one; back to the base after a quick complete walk.
fn next_period(base: Duration, current: Duration, took: Duration, truncated: bool) -> Duration {
    let max = base * MAX_BACKOFF;
    if truncated {
        max
    } else if took > SLOW_WALK {
        (current * 2).min(max)
    } else {
        base
    }
}

/// Sleeps after each chunk so the walk's busy time stays at `duty` of wall time.
fn pacer(duty: f64) -> impl FnMut() {
    let duty = duty.clamp(0.01, 1.0);
    let mut chunk_start = Instant::now();
    move || {
        let busy = chunk_start.elapsed();
        if duty < 1.0 {
            std::thread::sleep(busy.mul_f64((1.0 - duty) / duty));
        }
        chunk_start = Instant::now();
    }
}

/// Up to +25% so containers tracked together spread out.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(d.as_nanos() as u64);
    d + d.mul_f64((h.finish() % 1000) as f64 / 4000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn meta() -> ContainerMetadata {
        ContainerMetadata::new(crate::runtime::RuntimeKind::Docker, "c")
    }

    fn write(path: &Path, len: usize) {
        std::fs::write(path, vec![7u8; len]).expect("write");
    }

    fn blocks(path: &Path) -> u64 {
        std::fs::symlink_metadata(path).expect("stat").blocks() * STAT_BLOCK
    }

    #[test]
    fn counts_hard_links_once_and_does_not_follow_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path();
        std::fs::create_dir(d.join("sub")).expect("mkdir");
        write(&d.join("sub/a"), 64 * 1024);
        std::fs::hard_link(d.join("sub/a"), d.join("a-link")).expect("link");
        // A symlink to a big file outside the tree: counted as the link itself only.
        let outside = tempfile::tempdir().expect("tempdir");
        write(&outside.path().join("big"), 1024 * 1024);
        symlink(outside.path().join("big"), d.join("to-big")).expect("symlink");
        symlink(outside.path(), d.join("to-dir")).expect("symlink");
        let u = dir_usage(d, u64::MAX, &mut || {}).expect("walk");
        let expected = blocks(d)
            + blocks(&d.join("sub"))
            + blocks(&d.join("sub/a"))
            + blocks(&d.join("to-big"))
            + blocks(&d.join("to-dir"));
        assert_eq!(u.bytes, expected);
        assert!(u.bytes >= 64 * 1024 && u.bytes < 1024 * 1024, "{u:?}");
        // root, sub, a (once), two symlinks
        assert_eq!(u.inodes, 5);
        assert_eq!(u.entries, 6);
        assert!(!u.truncated);
    }

    #[test]
    fn a_missing_dir_is_gone_and_a_file_counts_itself() {
        let t = tempfile::tempdir().expect("tempdir");
        let e = dir_usage(&t.path().join("nope"), 10, &mut || {}).expect_err("gone");
        assert!(matches!(e, UsageError::Gone { .. }));
        assert!(e.to_string().starts_with("walk "), "{e}");
        write(&t.path().join("f"), 8192);
        let u = dir_usage(&t.path().join("f"), 10, &mut || {}).expect("file");
        assert_eq!((u.inodes, u.bytes), (1, blocks(&t.path().join("f"))));
    }

    #[test]
    fn a_directory_vanishing_mid_walk_is_skipped() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path();
        for i in 0..10 {
            std::fs::create_dir(d.join(format!("d{i}"))).expect("mkdir");
            for j in 0..300 {
                write(&d.join(format!("d{i}/f{j}")), 0);
            }
        }
        // At the first pacing point (entry 1024, inside the fourth directory walked) every
        // directory is removed: the current one ends early, the six still queued cannot be opened.
        let mut removed = false;
        let mut pace = || {
            if !removed {
                for i in 0..10 {
                    std::fs::remove_dir_all(d.join(format!("d{i}"))).expect("rm");
                }
                removed = true;
            }
        };
        let u = dir_usage(d, u64::MAX, &mut pace).expect("walk survives");
        assert!(removed);
        assert!(u.skipped >= 6, "{u:?}");
        assert!(u.inodes < 1 + 10 * 301, "{u:?}");
        assert!(!u.truncated);
    }

    /// Unmounts on drop (lazily, so a failed assertion cannot leave it busy).
    struct Mounted(std::ffi::CString);

    impl Drop for Mounted {
        fn drop(&mut self) {
            // SAFETY: a NUL-terminated path this test mounted.
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }

    #[test]
    fn does_not_enter_other_mounts() {
        use std::os::unix::ffi::OsStrExt;
        let t = tempfile::tempdir().expect("tempdir");
        let m = t.path().join("mnt");
        std::fs::create_dir(&m).expect("mkdir");
        let path = std::ffi::CString::new(m.as_os_str().as_bytes()).expect("no NUL");
        let tmpfs = c"tmpfs";
        // SAFETY: NUL-terminated strings that outlive the call; no mount data.
        let rc = unsafe {
            libc::mount(
                tmpfs.as_ptr(),
                path.as_ptr(),
                tmpfs.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            eprintln!(
                "skipping test - cannot mount a tmpfs: {}",
                io::Error::last_os_error()
            );
            return;
        }
        let _guard = Mounted(path);
        write(&m.join("big"), 1024 * 1024);
        let u = dir_usage(t.path(), u64::MAX, &mut || {}).expect("walk");
        // Only the temp dir itself: the mount point is another filesystem's root.
        assert_eq!(u.inodes, 1, "{u:?}");
        assert!(u.bytes < 1024 * 1024, "{u:?}");
    }

    #[test]
    fn stops_at_the_entry_cap() {
        let t = tempfile::tempdir().expect("tempdir");
        for i in 0..50 {
            write(&t.path().join(format!("f{i}")), 0);
        }
        let u = dir_usage(t.path(), 10, &mut || {}).expect("walk");
        assert!(u.truncated);
        assert_eq!(u.entries, 10);
    }

    #[test]
    fn backoff_doubles_when_slow_caps_when_truncated_resets_when_quick() {
        let base = Duration::from_secs(60);
        let slow = Duration::from_secs(3);
        let quick = Duration::from_millis(5);
        assert_eq!(next_period(base, base, slow, false), base * 2);
        assert_eq!(next_period(base, base * 16, slow, false), base * 20);
        assert_eq!(next_period(base, base, quick, true), base * 20);
        assert_eq!(next_period(base, base * 8, quick, false), base);
    }

    #[test]
    fn pacer_keeps_busy_time_to_the_duty_cycle() {
        let mut pace = pacer(0.5);
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        pace();
        assert!(start.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn tracker_reports_layer_and_extra_and_forgets() {
        let t = tempfile::tempdir().expect("tempdir");
        let host = HostPaths::under(t.path());
        std::fs::create_dir_all(t.path().join("var/lib/docker/overlay2/l/diff")).expect("mkdir");
        std::fs::create_dir_all(t.path().join("var/lib/docker/containers/c")).expect("mkdir");
        write(
            &t.path().join("var/lib/docker/overlay2/l/diff/data"),
            100_000,
        );
        write(
            &t.path().join("var/lib/docker/containers/c/c-json.log"),
            10_000,
        );
        let tracker = FsUsageTracker::start(host, UsageConfig::default()).expect("thread");
        let meta = ContainerMetadata {
            storage: ContainerStorage {
                writable_layer: Some("/var/lib/docker/overlay2/l/diff".into()),
                extra: Some("/var/lib/docker/containers/c".into()),
            },
            ..meta()
        };
        assert!(!tracker.attach("/docker/c", &self::meta()), "no layer");
        assert!(tracker.attach("/docker/c", &meta));
        // Walked at once (the period is a minute).
        let deadline = Instant::now() + Duration::from_secs(10);
        let fs = loop {
            if let Some(fs) = tracker.latest("/docker/c").filter(|f| f.usage > 0) {
                break fs;
            }
            assert!(Instant::now() < deadline, "no walk within 10 s");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(fs.base_usage >= 100_000, "{fs:?}");
        assert!(fs.usage >= fs.base_usage + 10_000, "{fs:?}");
        // diff dir + data file
        assert_eq!(fs.inodes, 2);
        assert!(!fs.has_inodes);
        // Attaching the same layer again changes nothing.
        assert!(tracker.attach("/docker/c", &meta));
        assert_eq!(tracker.latest("/docker/c"), Some(fs));
        tracker.forget("/docker/c");
        assert_eq!(tracker.latest("/docker/c"), None);
    }

    #[test]
    fn walked_again_each_period() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("layer")).expect("mkdir");
        let cfg = UsageConfig {
            period: Duration::from_millis(50),
            ..UsageConfig::default()
        };
        let tracker = FsUsageTracker::start(HostPaths::under(t.path()), cfg).expect("thread");
        let meta = ContainerMetadata {
            storage: ContainerStorage {
                writable_layer: Some("/layer".into()),
                extra: None,
            },
            ..meta()
        };
        assert!(tracker.attach("/docker/c", &meta));
        let wait_for = |inodes: u64| {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if tracker
                    .latest("/docker/c")
                    .is_some_and(|f| f.inodes == inodes)
                {
                    return;
                }
                assert!(Instant::now() < deadline, "no walk found {inodes} inodes");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for(1);
        // Written after the first walk: only a later, periodic walk sees it.
        write(&t.path().join("layer/new"), 4096);
        wait_for(2);
    }

    #[test]
    fn a_walk_for_a_forgotten_or_replaced_attach_does_not_publish() {
        let t = tempfile::tempdir().expect("tempdir");
        let tracker = FsUsageTracker::start(HostPaths::under(t.path()), UsageConfig::default())
            .expect("thread");
        let layer = |l: &str| ContainerMetadata {
            storage: ContainerStorage {
                writable_layer: Some(format!("/nowhere/{l}").into()),
                extra: None,
            },
            ..meta()
        };
        assert!(tracker.attach("/docker/c", &layer("a")));
        let first = {
            let map = tracker.shared.current.read().expect("lock");
            map.get("/docker/c").map(|c| c.generation).expect("tracked")
        };
        assert!(tracker.attach("/docker/c", &layer("b")));
        let stats = FsStats {
            usage: 1,
            ..FsStats::default()
        };
        tracker.shared.publish("/docker/c", first, stats.clone());
        assert_eq!(tracker.latest("/docker/c"), None, "stale generation");
        tracker
            .shared
            .publish("/docker/c", first + 1, stats.clone());
        assert_eq!(tracker.latest("/docker/c"), Some(stats.clone()));
        tracker.forget("/docker/c");
        tracker.shared.publish("/docker/c", first + 1, stats);
        assert_eq!(tracker.latest("/docker/c"), None, "forgotten");
    }

    #[test]
    fn before_the_first_walk_the_entry_names_the_filesystem_without_usage() {
        let t = tempfile::tempdir().expect("tempdir");
        let dev = std::fs::metadata(t.path()).expect("stat").dev();
        let fs = super::super::FsUsage {
            device: "/dev/test".into(),
            fs_type: "ext4".into(),
            major: libc::major(dev),
            minor: libc::minor(dev),
            capacity: 1 << 30,
            ..Default::default()
        };
        let other = super::super::FsUsage {
            major: libc::major(dev) + 1,
            ..fs.clone()
        };
        let table = [other.clone(), fs.clone()];
        let found = layer_filesystem(t.path(), &table).expect("found");
        let e = usage_stats(found, DirUsage::default(), DirUsage::default());
        assert_eq!(
            (e.device.as_str(), e.fs_type.as_str(), e.capacity),
            ("/dev/test", "vfs", 1 << 30)
        );
        assert_eq!((e.usage, e.base_usage, e.inodes), (0, 0, 0));
        assert!(layer_filesystem(t.path(), &[other]).is_none());
        assert!(layer_filesystem(&t.path().join("gone"), &[fs]).is_none());
    }
}
