//! Kept-open cgroup files read with `pread` into one reused buffer: the per-tick path opens nothing
//! and allocates nothing once warm. cgroupfs regenerates a file's text on every read at offset 0.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::{CgroupError, is_gone_io};
use super::parse::ParseError;

/// Kept-open fds across all readers. 1000 containers keep ~13 000 files open; past the budget, files
/// are opened per read and closed again (an open+close costs ~9 µs of kernel path walk, more than
/// most reads).
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// Descriptors left for everything else: sockets of HTTP clients, runtime clients, eBPF maps.
const FD_RESERVE: u64 = 1024;

fn fd_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
        if ok {
            usize::try_from(budget_for(lim.rlim_cur)).unwrap_or(usize::MAX)
        } else {
            512
        }
    })
}

/// How many cgroup files stay open at most (the rest are opened per read).
pub fn kept_budget() -> usize {
    fd_budget()
}

/// Below this soft limit not even ~300 containers' files can stay open: worth a warning at start.
pub const LOW_FD_LIMIT: u64 = 4096;

/// All but the reserve, and never less than half a small limit.
fn budget_for(soft: u64) -> u64 {
    soft.saturating_sub(FD_RESERVE).max(soft / 2)
}

/// What `raise_fd_limit` asks for when the hard limit is lower and we may raise it (root): the
/// kernel's default `fs.nr_open`.
const WANTED_FDS: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, and both to `WANTED_FDS` when privileged (call
/// once at startup, before any reader) so the per-tick path can keep every cgroup file open. Returns
/// the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_max != libc::RLIM_INFINITY && lim.rlim_max < WANTED_FDS {
            let more = libc::rlimit {
                rlim_cur: WANTED_FDS,
                rlim_max: WANTED_FDS,
            };
            // Fails without CAP_SYS_RESOURCE or above `fs.nr_open`: then the hard limit stands.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &more) == 0 {
                return Ok(WANTED_FDS);
            }
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// A reusable read buffer shared by all files of one reader.
#[derive(Debug, Default)]
pub struct Buf(Vec<u8>);

/// One cgroup (or procfs) file, opened on first use and kept open.
#[derive(Debug)]
pub struct CgroupFile {
    path: PathBuf,
    fd: Option<File>,
    /// The file does not exist in a cgroup that does (controller or kernel feature absent): not
    /// retried every tick.
    absent: bool,
    /// The kernel formats the file in one `show` call, so a read shorter than the buffer holds all
    /// of it and the EOF read can be skipped (see `one_show`).
    one_show: bool,
}

impl CgroupFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            fd: None,
            absent: false,
            one_show: false,
        }
    }

    /// Marks a file whose text the kernel produces in a single seq_file `show` (every cgroup stats
    /// file but `cgroup.procs`/`tasks`; regular files too): a short read is then the whole file,
    /// saving the second, empty read per tick. Not for multi-record seq files (`cgroup.procs`,
    /// `<proc>/<pid>/net/dev`), which may return short reads before their end.
    pub fn one_show(mut self) -> Self {
        self.one_show = true;
        self
    }

    pub fn at(dir: &Path, file: &str) -> Self {
        Self::new(dir.join(file))
    }

    /// A cgroup stats file of `dir` (one `show`, see `one_show`).
    pub fn stat_at(dir: &Path, file: &str) -> Self {
        Self::at(dir, file).one_show()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole file and parses it; `Ok(None)` when the file is absent. A file missing because
    /// its cgroup was removed is `CgroupError::Gone`.
    pub fn read<T>(
        &mut self,
        buf: &mut Buf,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, CgroupError> {
        let Some(text) = self.read_text(buf)? else {
            return Ok(None);
        };
        parse(text).map(Some).map_err(|source| CgroupError::Parse {
            path: self.path.clone(),
            source,
        })
    }

    fn read_text<'b>(&mut self, buf: &'b mut Buf) -> Result<Option<&'b str>, CgroupError> {
        if self.absent {
            return Ok(None);
        }
        let mut one_shot = None;
        if self.fd.is_none() {
            match File::open(&self.path) {
                Ok(f) if KEPT.fetch_add(1, Ordering::Relaxed) < fd_budget() => self.fd = Some(f),
                Ok(f) => {
                    KEPT.fetch_sub(1, Ordering::Relaxed);
                    one_shot = Some(f);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if self.path.parent().is_some_and(Path::exists) {
                        self.absent = true;
                        return Ok(None);
                    }
                    return Err(self.gone());
                }
                Err(e) => return Err(self.io("open", e)),
            }
        }
        let Some(fd) = self.fd.as_ref().or(one_shot.as_ref()) else {
            return Ok(None);
        };
        let v = &mut buf.0;
        if v.len() < 4096 {
            v.resize(4096, 0);
        }
        let mut n = 0;
        loop {
            if n == v.len() {
                v.resize(v.len() * 2, 0);
            }
            match fd.read_at(&mut v[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if self.one_show && n < v.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_gone_io(&e) => {
                    self.close();
                    return Err(self.gone());
                }
                Err(e) => return Err(self.io("read", e)),
            }
        }
        std::str::from_utf8(&v[..n])
            .map(Some)
            .map_err(|_| CgroupError::Parse {
                path: self.path.clone(),
                source: ParseError {
                    what: "utf-8 text",
                    line: String::from_utf8_lossy(&v[..n]).into_owned(),
                },
            })
    }

    fn close(&mut self) {
        if self.fd.take().is_some() {
            KEPT.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn gone(&self) -> CgroupError {
        CgroupError::Gone {
            name: String::new(),
            path: self.path.clone(),
        }
    }

    fn io(&self, op: &'static str, source: io::Error) -> CgroupError {
        CgroupError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for CgroupFile {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads a file once (spec reads, pid-specific procfs files): absent → `Ok(None)`, like `CgroupFile`.
pub fn read_once<T>(
    path: PathBuf,
    buf: &mut Buf,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, CgroupError> {
    CgroupFile::new(path).read(buf, parse)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a failing test should panic")]
mod tests {
    use super::*;
    use crate::cgroup::parse::parse_u64;

    #[test]
    fn reread_absent_and_gone() {
        let dir = tempfile::tempdir().unwrap();
        let cg = dir.path().join("c");
        std::fs::create_dir(&cg).unwrap();
        std::fs::write(cg.join("memory.usage_in_bytes"), "42\n").unwrap();
        let mut buf = Buf::default();
        let mut f = CgroupFile::at(&cg, "memory.usage_in_bytes");
        assert_eq!(f.read(&mut buf, parse_u64).unwrap(), Some(42));
        std::fs::write(cg.join("memory.usage_in_bytes"), "7\n").unwrap();
        // A regular file rewritten in place: pread on a kept fd sees new content.
        assert_eq!(f.read(&mut buf, parse_u64).unwrap(), Some(7));
        let mut absent = CgroupFile::at(&cg, "memory.failcnt");
        assert_eq!(absent.read(&mut buf, parse_u64).unwrap(), None);
        let mut gone = CgroupFile::at(&dir.path().join("removed"), "cpu.stat");
        assert!(gone.read(&mut buf, parse_u64).unwrap_err().is_gone());
        std::fs::write(cg.join("big"), "1".repeat(10_000)).unwrap();
        let mut big = CgroupFile::at(&cg, "big");
        assert_eq!(big.read(&mut buf, |s| Ok(s.len())).unwrap(), Some(10_000));
        std::fs::write(cg.join("bad"), "x\n").unwrap();
        let err = CgroupFile::at(&cg, "bad")
            .read(&mut buf, parse_u64)
            .unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
        // A one-show file: a short read is the whole text, also across a buffer doubling.
        std::fs::write(cg.join("memory.stat"), "cache 1\n".repeat(600)).unwrap();
        let mut stat = CgroupFile::stat_at(&cg, "memory.stat");
        let mut fresh = Buf::default();
        assert_eq!(stat.read(&mut fresh, |s| Ok(s.len())).unwrap(), Some(4800));
        assert_eq!(stat.read(&mut fresh, |s| Ok(s.len())).unwrap(), Some(4800));
    }

    #[test]
    fn fd_budget_keeps_a_reserve() {
        assert_eq!(budget_for(20_000), 20_000 - FD_RESERVE);
        assert_eq!(budget_for(1_048_576), 1_048_576 - FD_RESERVE);
        // Small limits keep the old half-and-half split.
        assert_eq!(budget_for(1024), 512);
        assert_eq!(budget_for(0), 0);
    }
}
