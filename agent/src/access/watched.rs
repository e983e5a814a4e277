//! A value loaded from files and loaded again when any of them changes (certificate rotation by
//! cert-manager or a kubelet secret update, an edited htpasswd file), without a restart.
//!
//! A task polls the files' identity (device, inode, size, mtime, ctime; symlinks followed, so
//! Kubernetes' `..data` symlink swap counts) every [`POLL`]. A change that does not load (a key
//! written before its certificate, a half-written file) keeps the previous value and is retried
//! on every poll until it loads; readers never see a gap.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use tracing::{info, warn};

use crate::telemetry::events::RateLimit;

/// How often the files are checked.
pub const POLL: Duration = Duration::from_secs(1);

type Stamp = Vec<Option<(u64, u64, u64, i64, i64, i64, i64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            std::fs::metadata(p).ok().map(|m| {
                (
                    m.dev(),
                    m.ino(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                )
            })
        })
        .collect()
}

/// The current value; cheap to read (a read lock and an `Arc` clone).
pub struct Watched<T> {
    what: &'static str,
    current: RwLock<Arc<T>>,
    failed: RateLimit,
}

type Loader<T> = Arc<dyn Fn() -> Result<T, String> + Send + Sync>;

impl<T: Send + Sync + 'static> Watched<T> {
    /// Loads the value now (an error is for the caller to refuse to start with), then keeps it
    /// current from a task that ends when the last handle is dropped. Needs a Tokio runtime.
    pub fn start(
        what: &'static str,
        paths: Vec<PathBuf>,
        load: impl Fn() -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, String> {
        let load: Loader<T> = Arc::new(load);
        let first_stamp = stamp(&paths);
        let value = load()?;
        let me = Arc::new(Self {
            what,
            current: RwLock::new(Arc::new(value)),
            failed: RateLimit::new(10),
        });
        tokio::spawn(poll(Arc::downgrade(&me), paths, first_stamp, load));
        Ok(me)
    }

    /// A value that never changes (tests, in-process routers).
    pub fn fixed(what: &'static str, value: T) -> Arc<Self> {
        Arc::new(Self {
            what,
            current: RwLock::new(Arc::new(value)),
            failed: RateLimit::new(10),
        })
    }

    pub fn get(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, v: T) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(v);
    }
}

async fn poll<T: Send + Sync + 'static>(
    me: Weak<Watched<T>>,
    paths: Vec<PathBuf>,
    mut seen: Stamp,
    load: Loader<T>,
) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if me.strong_count() == 0 {
            return;
        }
        // Stat, and load only on a change, in one blocking hop.
        let (paths, load, last) = (paths.clone(), load.clone(), seen.clone());
        let Ok((now, loaded)) = tokio::task::spawn_blocking(move || {
            let now = stamp(&paths);
            let loaded = (now != last).then(|| load());
            (now, loaded)
        })
        .await
        else {
            continue;
        };
        let (Some(loaded), Some(me)) = (loaded, me.upgrade()) else {
            continue;
        };
        match loaded {
            Ok(v) => {
                me.set(v);
                seen = now;
                info!(what = me.what, "reloaded after its files changed");
            }
            Err(e) => {
                if me.failed.allow() {
                    warn!(what = me.what, error = %e, "changed files do not load; keeping the previous ones");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reloads_on_change_and_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("v");
        std::fs::write(&f, "1").expect("write");
        let path = f.clone();
        let w = Watched::start("test value", vec![f.clone()], move || {
            let s = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            s.trim().parse::<u32>().map_err(|e| e.to_string())
        })
        .expect("loads");
        assert_eq!(*w.get(), 1);
        let wait_for = |want: u32| {
            let w = w.clone();
            async move {
                for _ in 0..50 {
                    if *w.get() == want {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                false
            }
        };
        std::fs::write(&f, "22").expect("write");
        assert!(wait_for(22).await, "picked up the change");
        std::fs::write(&f, "not a number").expect("write");
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(*w.get(), 22, "a bad file keeps the previous value");
        // Replaced by rename, as a kubelet secret update does.
        let tmp = dir.path().join("v.tmp");
        std::fs::write(&tmp, "333").expect("write");
        std::fs::rename(&tmp, &f).expect("rename");
        assert!(wait_for(333).await, "retried until it loads");
        assert!(Watched::start("bad", vec![f.clone()], || Err::<u32, _>("no".into())).is_err());
    }
}
