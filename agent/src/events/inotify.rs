//! The fallback lifecycle producer: inotify on every directory of every cgroup hierarchy, used when the
//! eBPF probes cannot load. cAdvisor's raw watcher semantics (IN_CREATE|IN_DELETE|IN_MOVE, recursive
//! add of new directories with a creation event for each sub-directory found while adding, `*.mount`
//! never watched), but it keeps its own set of known directories so a directory is reported created
//! and removed exactly once, however its events and the recursive walk interleave.
//!
//! Runs on its own thread (directory walks are blocking syscalls) and sends with `blocking_send`: a
//! slow registry backs up into the kernel queue, whose overflow turns into `RescanNeeded`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::SystemTime;

use inotify::{EventMask, Inotify, WatchMask};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Hierarchy, SourceEvent};

/// How long the watcher thread sleeps in `poll` before checking whether it should stop.
const POLL_TIMEOUT_MS: i32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum InotifyError {
    #[error("inotify_init1: {0}")]
    Init(#[source] io::Error),
    #[error("inotify_add_watch on cgroup hierarchy root {path}: {source}")]
    WatchRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spawning the inotify watcher thread: {0}")]
    Spawn(#[source] io::Error),
}

/// Stops the watcher thread when dropped.
pub struct InotifyHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl InotifyHandle {
    /// Stops the watcher and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for InotifyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Watches `mounts` (hierarchy, mount directory) and sends `CgroupCreated`/`CgroupRemoved` for
/// directories appearing or vanishing after this call. Directories present at start are watched but not
/// reported: the registry's initial scan covers them.
pub fn start(
    mounts: Vec<(Hierarchy, PathBuf)>,
    tx: mpsc::Sender<SourceEvent>,
) -> Result<InotifyHandle, InotifyError> {
    let w = Watcher::new(mounts, tx)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("inotify-cgroups".into())
        .spawn(move || w.run(&stop2))
        .map_err(InotifyError::Spawn)?;
    Ok(InotifyHandle {
        stop,
        thread: Some(thread),
    })
}

/// One watched hierarchy: its mount and the directories known below it (name → inode).
struct Tree {
    hierarchy: Hierarchy,
    root: PathBuf,
    known: BTreeMap<String, u64>,
}

struct Watcher {
    inotify: Inotify,
    trees: Vec<Tree>,
    /// Watch descriptor → (tree index, container name of the watched directory).
    by_wd: HashMap<i32, (usize, String)>,
    tx: mpsc::Sender<SourceEvent>,
    limit_reported: bool,
    /// The receiver is gone: stop.
    closed: bool,
}

/// `parent` + `/` + `child` as a container name.
fn child_name(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn is_mount_unit(name: &str) -> bool {
    name.ends_with(".mount")
}

impl Tree {
    fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(name.trim_start_matches('/'))
    }
}

impl Watcher {
    /// Watches every existing directory of every mount, silently.
    fn new(
        mounts: Vec<(Hierarchy, PathBuf)>,
        tx: mpsc::Sender<SourceEvent>,
    ) -> Result<Self, InotifyError> {
        let inotify = Inotify::init().map_err(InotifyError::Init)?;
        let mut w = Watcher {
            inotify,
            trees: Vec::new(),
            by_wd: HashMap::new(),
            tx,
            limit_reported: false,
            closed: false,
        };
        for (hierarchy, root) in mounts {
            let t = w.trees.len();
            let ino = std::fs::metadata(&root).map(|m| m.ino()).unwrap_or(0);
            let known = BTreeMap::from([("/".to_string(), ino)]);
            w.trees.push(Tree {
                hierarchy,
                root: root.clone(),
                known,
            });
            if let Err(source) = w.watch(t, "/") {
                return Err(InotifyError::WatchRoot { path: root, source });
            }
            w.walk(t, "/", false);
        }
        Ok(w)
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        let fd = self.inotify.as_raw_fd();
        while !stop.load(Ordering::Relaxed) && !self.closed {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, POLL_TIMEOUT_MS) };
            if n <= 0 {
                continue;
            }
            // Copy the batch out so the handlers may borrow `self` mutably.
            let batch: Vec<(i32, EventMask, Option<String>)> = match self
                .inotify
                .read_events(&mut buf)
            {
                Ok(events) => events
                    .map(|e| {
                        let name = e.name.map(|n: &OsStr| n.to_string_lossy().into_owned());
                        (e.wd.get_watch_descriptor_id(), e.mask, name)
                    })
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    warn!(error = %e, "reading inotify events failed; cgroups are found by rescan only");
                    self.send(SourceEvent::RescanNeeded {
                        reason: "inotify read failed",
                    });
                    return;
                }
            };
            for (wd, mask, name) in batch {
                self.handle(wd, mask, name);
            }
        }
    }

    fn handle(&mut self, wd: i32, mask: EventMask, name: Option<String>) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            warn!("inotify queue overflowed; resynchronising and asking for a rescan");
            self.resync();
            self.send(SourceEvent::RescanNeeded {
                reason: "inotify queue overflow",
            });
            return;
        }
        if mask.contains(EventMask::IGNORED) {
            self.by_wd.remove(&wd);
            return;
        }
        let (Some(name), true) = (name, mask.contains(EventMask::ISDIR)) else {
            return;
        };
        let Some((t, parent)) = self.by_wd.get(&wd).cloned() else {
            return;
        };
        if is_mount_unit(&name) {
            return;
        }
        let child = child_name(&parent, &name);
        if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
            self.added(t, &child, true);
        } else if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
            self.removed(t, &child, mask.contains(EventMask::MOVED_FROM));
        }
    }

    /// A directory appeared: report it once, watch it, and report sub-directories created before the
    /// watch was in place.
    fn added(&mut self, t: usize, name: &str, emit: bool) {
        if self.trees[t].known.contains_key(name) {
            return;
        }
        let path = self.trees[t].path_of(name);
        let ino = std::fs::symlink_metadata(&path)
            .map(|m| m.ino())
            .unwrap_or(0);
        self.trees[t].known.insert(name.to_string(), ino);
        if emit {
            let hierarchy = self.trees[t].hierarchy.clone();
            self.send(SourceEvent::CgroupCreated {
                hierarchy,
                name: name.to_string(),
                id: ino,
                at: SystemTime::now(),
            });
        }
        if self.watch(t, name).is_ok() {
            self.walk(t, name, emit);
        }
    }

    /// A directory vanished (or moved away with its subtree): report it and anything known below it.
    fn removed(&mut self, t: usize, name: &str, moved: bool) {
        let prefix = format!("{name}/");
        let known = &self.trees[t].known;
        // The subtree is one key range of the ordered map: no scan of every known cgroup per removal.
        let mut gone: Vec<(String, u64)> = known
            .get_key_value(name)
            .into_iter()
            .chain(
                known
                    .range(prefix.clone()..)
                    .take_while(|(n, _)| n.starts_with(&prefix)),
            )
            .map(|(n, i)| (n.clone(), *i))
            .collect();
        // Deepest first, like the kernel removes them.
        gone.sort_by(|a, b| b.0.cmp(&a.0));
        for (n, ino) in gone {
            self.trees[t].known.remove(&n);
            let hierarchy = self.trees[t].hierarchy.clone();
            self.send(SourceEvent::CgroupRemoved {
                hierarchy,
                name: n,
                id: ino,
                at: SystemTime::now(),
            });
        }
        if moved {
            // The watches stay on the moved inodes; forget their old names (a MOVED_TO re-adds them).
            self.by_wd
                .retain(|_, (tt, n)| !(*tt == t && (n == name || n.starts_with(&prefix))));
        }
    }

    /// Adds every sub-directory of `name` (recursively), reporting each new one when `emit`.
    fn walk(&mut self, t: usize, name: &str, emit: bool) {
        let path = self.trees[t].path_of(name);
        let Ok(rd) = std::fs::read_dir(&path) else {
            return;
        };
        let subdirs: Vec<String> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|ft| ft.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !is_mount_unit(n))
            .collect();
        for sub in subdirs {
            self.added(t, &child_name(name, &sub), emit);
        }
    }

    fn watch(&mut self, t: usize, name: &str) -> io::Result<()> {
        let path = self.trees[t].path_of(name);
        let mask = WatchMask::CREATE | WatchMask::DELETE | WatchMask::MOVE;
        match self.inotify.watches().add(&path, mask) {
            Ok(wd) => {
                self.by_wd
                    .insert(wd.get_watch_descriptor_id(), (t, name.to_string()));
                Ok(())
            }
            Err(e) => {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    self.watch_limit_reached(&path);
                } else {
                    // Usually ENOENT: removed before we got to it; its parent's watch reports that.
                    debug!(path = %path.display(), error = %e, "inotify_add_watch failed");
                }
                Err(e)
            }
        }
    }

    fn watch_limit_reached(&mut self, path: &Path) {
        if self.limit_reported {
            return;
        }
        self.limit_reported = true;
        warn!(
            path = %path.display(),
            "inotify watch limit reached (fs.inotify.max_user_watches): cgroups below unwatched \
             directories are found by the periodic rescan only"
        );
        self.send(SourceEvent::RescanNeeded {
            reason: "inotify watch limit reached",
        });
    }

    /// After a queue overflow: reconcile the known sets with the file system, reporting differences.
    fn resync(&mut self) {
        for t in 0..self.trees.len() {
            let names: Vec<String> = self.trees[t].known.keys().cloned().collect();
            for n in names {
                if n != "/" && !self.trees[t].path_of(&n).is_dir() {
                    self.removed(t, &n, false);
                }
            }
            let roots: Vec<String> = self.trees[t].known.keys().cloned().collect();
            for n in roots {
                self.walk(t, &n, true);
            }
        }
    }

    fn send(&mut self, ev: SourceEvent) {
        if self.tx.blocking_send(ev).is_err() {
            self.closed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv_all(rx: &mut mpsc::Receiver<SourceEvent>, want: usize) -> Vec<SourceEvent> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.len() < want && std::time::Instant::now() < deadline {
            match rx.try_recv() {
                Ok(e) => out.push(e),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        out
    }

    fn names(evs: &[SourceEvent]) -> Vec<String> {
        evs.iter()
            .map(|e| match e {
                SourceEvent::CgroupCreated { name, .. } => format!("+{name}"),
                SourceEvent::CgroupRemoved { name, .. } => format!("-{name}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    // A plain directory tree behaves like a cgroup hierarchy for inotify purposes.
    #[test]
    fn reports_new_dirs_once_including_ones_found_while_adding() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("existing")).expect("mkdir");
        let (tx, mut rx) = mpsc::channel(64);
        let h = start(
            vec![(Hierarchy::V1("memory".into()), dir.path().to_path_buf())],
            tx,
        )
        .expect("start");
        std::fs::create_dir_all(dir.path().join("a/b/c")).expect("mkdir -p");
        std::fs::create_dir(dir.path().join("x.mount")).expect("mkdir");
        let mut got = names(&recv_all(&mut rx, 3));
        got.sort();
        assert_eq!(got, ["+/a", "+/a/b", "+/a/b/c"]);
        std::fs::remove_dir(dir.path().join("a/b/c")).expect("rmdir");
        std::fs::remove_dir(dir.path().join("existing")).expect("rmdir");
        let mut got = names(&recv_all(&mut rx, 2));
        got.sort();
        assert_eq!(got, ["-/a/b/c", "-/existing"]);
        std::fs::rename(dir.path().join("a"), dir.path().join("z")).expect("mv");
        let got = names(&recv_all(&mut rx, 4));
        assert_eq!(got, ["-/a/b", "-/a", "+/z", "+/z/b"]);
        h.stop();
        assert!(rx.try_recv().is_err(), "no extra events");
    }

    #[test]
    fn queue_overflow_reconciles_and_asks_for_a_rescan() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("old/kid")).expect("mkdir");
        let (tx, mut rx) = mpsc::channel(64);
        let mut w = Watcher::new(vec![(Hierarchy::Unified, dir.path().to_path_buf())], tx)
            .expect("watcher");
        // Changes whose events are lost in the overflow.
        std::fs::remove_dir(dir.path().join("old/kid")).expect("rmdir");
        std::fs::remove_dir(dir.path().join("old")).expect("rmdir");
        std::fs::create_dir_all(dir.path().join("new/kid")).expect("mkdir");
        w.handle(-1, EventMask::Q_OVERFLOW, None);
        drop(w);
        let mut got = names(&recv_all(&mut rx, 5));
        got.sort();
        assert_eq!(
            got,
            [
                "+/new",
                "+/new/kid",
                "-/old",
                "-/old/kid",
                "RescanNeeded { reason: \"inotify queue overflow\" }"
            ]
        );
    }

    #[test]
    fn missing_root_is_an_error_naming_the_path() {
        let (tx, _rx) = mpsc::channel(1);
        let err = start(
            vec![(Hierarchy::Unified, PathBuf::from("/nonexistent-hierarchy"))],
            tx,
        )
        .err()
        .expect("error");
        assert!(err.to_string().contains("/nonexistent-hierarchy"), "{err}");
    }
}
