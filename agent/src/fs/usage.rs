//! Per-container filesystem usage: bytes and inodes of each container's writable layer (plus its
//! runtime directory), measured by walking the directories in-process rather than forking `du`.
//!
//! One thread ([`FsUsageTracker`]) walks every tracked container on a slow, jittered schedule (first
//! walk soon after the container appears, then every [`UsageConfig::period`]); housekeeping only reads
//! the latest result, so a slow walk never delays sampling. A walk paces itself to a duty cycle,
//! stops at [`UsageConfig::max_entries`], and a walk that is slow or capped backs its container off
//! (up to 20× the period, as cAdvisor's fs handler does) with one log line saying so.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::host::HostPaths;
use crate::model::v1::{ContainerSpec, FsStats};
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
    /// Delay of a container's first walk after it is tracked.
    pub first_walk: Duration,
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
            first_walk: Duration::from_secs(1),
            max_entries: 1_000_000,
            duty: 0.25,
        }
    }
}

enum Command {
    Track {
        name: String,
        storage: ContainerStorage,
    },
    Forget {
        name: String,
    },
}

/// Cheap to clone; every method returns at once. The walking thread ends when the last clone is
/// dropped.
#[derive(Clone)]
pub struct FsUsageTracker {
    tx: Sender<Command>,
    latest: Arc<RwLock<HashMap<String, FsStats>>>,
}

impl std::fmt::Debug for FsUsageTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsUsageTracker").finish_non_exhaustive()
    }
}

impl FsUsageTracker {
    /// Starts the walking thread for paths below `host`'s root.
    pub fn start(host: HostPaths, cfg: UsageConfig) -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let latest = Arc::new(RwLock::new(HashMap::new()));
        let walker = Walker {
            host,
            cfg,
            tracked: HashMap::new(),
            latest: latest.clone(),
        };
        std::thread::Builder::new()
            .name("fs-usage".into())
            .spawn(move || {
                crate::priority::lower_for_bulk_work();
                walker.run(rx);
            })?;
        Ok(Self { tx, latest })
    }

    /// Runtime metadata for `name` arrived: track its writable layer (idempotent; a changed layer is
    /// re-walked) and mark the spec as having a filesystem. Containers without a walkable layer are
    /// left alone.
    pub fn attach(&self, name: &str, meta: Option<&ContainerMetadata>, spec: &mut ContainerSpec) {
        let Some(m) = meta.filter(|m| m.storage.writable_layer.is_some()) else {
            return;
        };
        spec.has_filesystem = true;
        // Fails only when the thread is gone (shutdown): nothing to track then.
        let _ = self.tx.send(Command::Track {
            name: name.to_string(),
            storage: m.storage.clone(),
        });
    }

    /// The container is gone: stop walking it.
    pub fn forget(&self, name: &str) {
        let _ = self.tx.send(Command::Forget {
            name: name.to_string(),
        });
    }

    /// The newest walk's result for `name`, once its first walk finished.
    pub fn latest(&self, name: &str) -> Option<FsStats> {
        let map = self.latest.read().unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned()
    }
}

struct Tracked {
    storage: ContainerStorage,
    due: Instant,
    period: Duration,
}

struct Walker {
    host: HostPaths,
    cfg: UsageConfig,
    tracked: HashMap<String, Tracked>,
    latest: Arc<RwLock<HashMap<String, FsStats>>>,
}

impl Walker {
    fn run(mut self, rx: Receiver<Command>) {
        loop {
            let next = self.tracked.values().map(|t| t.due).min();
            let wait = next.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            match rx.recv_timeout(wait) {
                Ok(cmd) => self.handle(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(cmd) = rx.try_recv() {
                self.handle(cmd);
            }
            let now = Instant::now();
            let due: Vec<String> = self
                .tracked
                .iter()
                .filter(|(_, t)| t.due <= now)
                .map(|(n, _)| n.clone())
                .collect();
            if due.is_empty() {
                continue;
            }
            // One mount-table read per batch of walks, not per container.
            let filesystems = super::filesystems(&self.host);
            for name in due {
                // A forget queued during the previous walk must not be undone by publishing.
                while let Ok(cmd) = rx.try_recv() {
                    self.handle(cmd);
                }
                self.walk(&name, &filesystems);
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Track { name, storage } => {
                if self
                    .tracked
                    .get(&name)
                    .is_some_and(|t| t.storage == storage)
                {
                    return;
                }
                let t = Tracked {
                    storage,
                    due: Instant::now() + self.cfg.first_walk,
                    period: self.cfg.period,
                };
                self.tracked.insert(name, t);
            }
            Command::Forget { name } => {
                self.tracked.remove(&name);
                self.latest
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&name);
            }
        }
    }

    fn walk(&mut self, name: &str, filesystems: &[super::FsUsage]) {
        let Some(t) = self.tracked.get_mut(name) else {
            return;
        };
        let Some(layer) = t.storage.writable_layer.as_deref() else {
            return;
        };
        let layer = self.host.host_path(layer);
        let started = Instant::now();
        let mut pace = pacer(self.cfg.duty);
        let base = match dir_usage(&layer, self.cfg.max_entries, &mut pace) {
            Ok(u) => u,
            Err(e) => {
                debug!(container = name, error = %e, "no filesystem usage");
                t.due = Instant::now() + jitter(t.period);
                return;
            }
        };
        let left = self.cfg.max_entries.saturating_sub(base.entries);
        let extra = t
            .storage
            .extra
            .as_deref()
            .map(|d| self.host.host_path(d))
            .and_then(|d| dir_usage(&d, left, &mut pace).ok())
            .unwrap_or_default();
        let took = started.elapsed();
        let truncated = base.truncated || extra.truncated;
        // Judge the work, not the pacing sleeps.
        let busy = took.mul_f64(self.cfg.duty.clamp(0.01, 1.0));
        let period = next_period(self.cfg.period, t.period, busy, truncated);
        if truncated && t.period != period {
            warn!(
                container = name, dir = %layer.display(), entries = self.cfg.max_entries,
                next_in = ?period,
                "filesystem usage walk stopped at its entry cap; usage is a lower bound"
            );
        } else if period > t.period {
            info!(
                container = name, dir = %layer.display(), took = ?took, entries = base.entries + extra.entries,
                next_in = ?period, "filesystem usage walk was slow; walking this container less often"
            );
        }
        t.period = period;
        t.due = Instant::now() + jitter(period);
        let stats = usage_stats(&layer, filesystems, base, extra);
        self.latest
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), stats);
    }
}

/// cAdvisor's docker `FsStats`: the device and capacity of the filesystem holding the layer, usage =
/// layer + container directory, base usage = layer, inodes = the layer's inodes. `available` and
/// `inodes_free` stay 0 and `has_inodes` false, as cAdvisor reports them for containers.
fn usage_stats(
    layer: &Path,
    filesystems: &[super::FsUsage],
    base: DirUsage,
    extra: DirUsage,
) -> FsStats {
    let fs = std::fs::metadata(layer).ok().and_then(|md| {
        let (major, minor) = (libc::major(md.dev()), libc::minor(md.dev()));
        filesystems
            .iter()
            .find(|f| f.major == major && f.minor == minor)
    });
    FsStats {
        device: fs.map(|f| f.device.clone()).unwrap_or_default(),
        fs_type: fs
            .map(|f| f.cadvisor_type().to_string())
            .unwrap_or_default(),
        capacity: fs.map_or(0, |f| f.capacity),
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
        let cfg = UsageConfig {
            first_walk: Duration::ZERO,
            ..UsageConfig::default()
        };
        let tracker = FsUsageTracker::start(host, cfg).expect("thread");
        let meta = ContainerMetadata {
            storage: ContainerStorage {
                writable_layer: Some("/var/lib/docker/overlay2/l/diff".into()),
                extra: Some("/var/lib/docker/containers/c".into()),
            },
            ..meta()
        };
        let mut spec = ContainerSpec::default();
        tracker.attach("/docker/c", None, &mut spec);
        assert!(!spec.has_filesystem);
        tracker.attach("/docker/c", Some(&meta), &mut spec);
        assert!(spec.has_filesystem);
        let deadline = Instant::now() + Duration::from_secs(10);
        let fs = loop {
            if let Some(fs) = tracker.latest("/docker/c") {
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
        tracker.forget("/docker/c");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tracker.latest("/docker/c").is_some() {
            assert!(Instant::now() < deadline, "not forgotten");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
