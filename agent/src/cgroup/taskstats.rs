//! Task counts per state of a cgroup through the kernel's taskstats generic-netlink family
//! (`CGROUPSTATS_CMD_GET` with the cgroup directory's fd), and the smoothed load average cAdvisor
//! derives from them (`--enable_load_reader`).
//!
//! The kernel answers only for directories of a cgroup v1 hierarchy (`cgroupstats_build` checks for
//! the v1 filesystem type; a cgroup2 directory gets `EINVAL`), as cAdvisor documents. One socket
//! serves the whole agent: requests are tiny and the housekeeping thread sends them one at a time.
//! The messages are built by hand: a request is one fixed-layout attribute, and no maintained
//! netlink crate knows the taskstats family.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::model::v1::LoadStats;
use crate::telemetry::events::RateLimit;

// include/uapi/linux/netlink.h, genetlink.h, taskstats.h, cgroupstats.h
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const TASKSTATS_GENL_NAME: &[u8] = b"TASKSTATS\0";
const TASKSTATS_GENL_VERSION: u8 = 1;
const CGROUPSTATS_CMD_GET: u8 = 4;
const CGROUPSTATS_CMD_ATTR_FD: u16 = 1;
const CGROUPSTATS_TYPE_CGROUP_STATS: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLA_HDRLEN: usize = 4;
/// `struct cgroupstats`: five `__u64`.
const CGROUPSTATS_LEN: usize = 40;
/// A reply that does not come within this long is an error, never a stuck housekeeping thread.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TaskstatsError {
    #[error("{op} taskstats netlink socket: {source}")]
    Socket {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("open cgroup directory {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The kernel refused the request (e.g. `EINVAL` for a cgroup2 directory).
    #[error("taskstats request for {path}: {source}")]
    Kernel {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("malformed taskstats reply: {what}")]
    Malformed { what: &'static str },
}

impl TaskstatsError {
    /// Logs at most once a minute: a load reader that fails does so for every container each tick.
    pub fn log(&self) {
        static LOG: RateLimit = RateLimit::new(60);
        if LOG.allow() {
            tracing::warn!(error = %self, "cpu load reader failed; task_stats stay zero");
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One generic-netlink request: nlmsghdr + genlmsghdr + one attribute.
fn build_request(
    family: u16,
    cmd: u8,
    version: u8,
    seq: u32,
    attr: u16,
    payload: &[u8],
) -> Vec<u8> {
    let len = NLMSG_HDRLEN + GENL_HDRLEN + align4(NLA_HDRLEN + payload.len());
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&family.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills in ours
    m.extend_from_slice(&[cmd, version, 0, 0]);
    m.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
    m.extend_from_slice(&attr.to_ne_bytes());
    m.extend_from_slice(payload);
    m.resize(len, 0);
    m
}

/// A message of a reply datagram: its type, sequence number and payload after the nlmsghdr.
struct Message<'a> {
    kind: u16,
    seq: u32,
    payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The messages of one datagram.
fn messages(mut b: &[u8]) -> Result<Vec<Message<'_>>, TaskstatsError> {
    let bad = |what| TaskstatsError::Malformed { what };
    let mut out = Vec::new();
    while b.len() >= NLMSG_HDRLEN {
        let len = u32_at(b, 0).ok_or(bad("nlmsghdr"))? as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(bad("message length"));
        }
        out.push(Message {
            kind: u16_at(b, 4).ok_or(bad("nlmsghdr"))?,
            seq: u32_at(b, 8).ok_or(bad("nlmsghdr"))?,
            payload: &b[NLMSG_HDRLEN..len],
        });
        b = &b[align4(len).min(b.len())..];
    }
    Ok(out)
}

/// The payload of the first attribute of type `want` in a generic-netlink message payload.
fn attr(genl_payload: &[u8], want: u16) -> Option<&[u8]> {
    let mut b = genl_payload.get(GENL_HDRLEN..)?;
    while b.len() >= NLA_HDRLEN {
        let len = usize::from(u16_at(b, 0)?);
        // The top bits of the type are the nested/byte-order flags.
        let kind = u16_at(b, 2)? & 0x3fff;
        if len < NLA_HDRLEN || len > b.len() {
            return None;
        }
        if kind == want {
            return Some(&b[NLA_HDRLEN..len]);
        }
        b = &b[align4(len).min(b.len())..];
    }
    None
}

/// `NLMSG_ERROR` payload: a negative errno (0 is an acknowledgement).
fn error_code(payload: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

/// The family id in a `CTRL_CMD_GETFAMILY` reply.
fn parse_family_id(payload: &[u8]) -> Result<u16, TaskstatsError> {
    attr(payload, CTRL_ATTR_FAMILY_ID)
        .and_then(|a| u16_at(a, 0))
        .ok_or(TaskstatsError::Malformed {
            what: "no family id",
        })
}

/// `struct cgroupstats` in a `CGROUPSTATS_CMD_NEW` reply.
fn parse_cgroupstats(payload: &[u8]) -> Result<LoadStats, TaskstatsError> {
    let a = attr(payload, CGROUPSTATS_TYPE_CGROUP_STATS)
        .filter(|a| a.len() >= CGROUPSTATS_LEN)
        .ok_or(TaskstatsError::Malformed {
            what: "no cgroupstats attribute",
        })?;
    let f = |i: usize| u64_at(a, i * 8).unwrap_or(0);
    Ok(LoadStats {
        nr_sleeping: f(0),
        nr_running: f(1),
        nr_stopped: f(2),
        nr_uninterruptible: f(3),
        nr_io_wait: f(4),
    })
}

/// A generic-netlink socket bound to the taskstats family.
#[derive(Debug)]
pub struct Taskstats {
    fd: OwnedFd,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

impl Taskstats {
    pub fn open() -> Result<Self, TaskstatsError> {
        let sock = |op, source| TaskstatsError::Socket { op, source };
        // SAFETY: plain socket(2); the returned descriptor is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        };
        if raw < 0 {
            return Err(sock("create", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: `tv` outlives the call and the length is its size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(sock("set timeout on", io::Error::last_os_error()));
        }
        let mut s = Self {
            fd,
            family: 0,
            seq: 0,
            buf: vec![0; 8192],
        };
        let req = s.request(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            CTRL_ATTR_FAMILY_NAME,
            TASKSTATS_GENL_NAME,
        );
        let reply = s.exchange(&req, Path::new("TASKSTATS family"))?;
        s.family = parse_family_id(&reply)?;
        Ok(s)
    }

    fn request(&mut self, family: u16, cmd: u8, attr: u16, payload: &[u8]) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        build_request(family, cmd, TASKSTATS_GENL_VERSION, self.seq, attr, payload)
    }

    /// Sends `req` and returns the payload of the reply with its sequence number; replies to
    /// earlier requests (after a timeout) are skipped.
    fn exchange(&mut self, req: &[u8], what: &Path) -> Result<Vec<u8>, TaskstatsError> {
        let sock = |op, source| TaskstatsError::Socket { op, source };
        let fd = self.fd.as_raw_fd();
        // SAFETY: `req` is valid for its length; the kernel address is zeroed (port 0 = kernel).
        let sent = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            libc::sendto(
                fd,
                req.as_ptr().cast(),
                req.len(),
                0,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(sock("send on", io::Error::last_os_error()));
        }
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::recv(fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                return Err(sock("receive on", io::Error::last_os_error()));
            }
            let n = n as usize;
            for m in messages(&self.buf[..n])? {
                if m.seq != self.seq {
                    continue;
                }
                if m.kind == NLMSG_ERROR {
                    let code = error_code(m.payload).ok_or(TaskstatsError::Malformed {
                        what: "error message",
                    })?;
                    return Err(TaskstatsError::Kernel {
                        path: what.to_path_buf(),
                        source: io::Error::from_raw_os_error(-code),
                    });
                }
                return Ok(m.payload.to_vec());
            }
        }
    }

    /// Task counts of the cgroup whose directory `dir` is open.
    pub fn cgroup_stats(&mut self, dir: &File, path: &Path) -> Result<LoadStats, TaskstatsError> {
        let fd = u32::try_from(dir.as_raw_fd()).unwrap_or(0);
        let req = self.request(
            self.family,
            CGROUPSTATS_CMD_GET,
            CGROUPSTATS_CMD_ATTR_FD,
            &fd.to_ne_bytes(),
        );
        parse_cgroupstats(&self.exchange(&req, path)?)
    }
}

/// The agent's one taskstats socket, opened on first use and reopened after a socket error.
static SHARED: Mutex<Option<Taskstats>> = Mutex::new(None);

fn shared() -> MutexGuard<'static, Option<Taskstats>> {
    // A panic while holding the lock leaves nothing half-written worth refusing.
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

/// One container's load reader: its cgroup directory kept open, and the smoothed averages.
#[derive(Debug)]
pub struct LoadReader {
    dir: PathBuf,
    file: Option<File>,
    avg: LoadAverage,
}

impl LoadReader {
    /// `dir` is the container's v1 `cpu` directory; `interval` the housekeeping interval.
    pub fn new(dir: &Path, interval: Duration) -> Self {
        Self {
            dir: dir.to_path_buf(),
            file: None,
            avg: LoadAverage::new(interval),
        }
    }

    /// Reads the task counts and returns them with `(load_average, load_d_average)`.
    pub fn read(&mut self) -> Result<(LoadStats, i32, i32), TaskstatsError> {
        if self.file.is_none() {
            let f = File::open(&self.dir).map_err(|source| TaskstatsError::Open {
                path: self.dir.clone(),
                source,
            })?;
            self.file = Some(f);
        }
        let Some(file) = &self.file else {
            return Err(TaskstatsError::Malformed { what: "no fd" });
        };
        let mut sock = shared();
        if sock.is_none() {
            *sock = Some(Taskstats::open()?);
        }
        let Some(ts) = sock.as_mut() else {
            return Err(TaskstatsError::Malformed { what: "no socket" });
        };
        let stats = match ts.cgroup_stats(file, &self.dir) {
            Ok(s) => s,
            Err(e) => {
                if matches!(e, TaskstatsError::Socket { .. }) {
                    *sock = None;
                }
                return Err(e);
            }
        };
        drop(sock);
        let (load, load_d) = self.avg.update(&stats);
        Ok((stats, load, load_d))
    }
}

/// cAdvisor's exponentially smoothed load: `avg = avg·decay + n·(1−decay)` with
/// `decay = exp(−interval_s/10)`; the first sample sets it. Reported as `int32(avg·1000)`.
#[derive(Debug, Clone)]
pub struct LoadAverage {
    decay: f64,
    load: Option<f64>,
    load_d: Option<f64>,
}

impl LoadAverage {
    pub fn new(interval: Duration) -> Self {
        Self {
            decay: (-interval.as_secs_f64() / 10.0).exp(),
            load: None,
            load_d: None,
        }
    }

    /// Folds in one sample (running and uninterruptible counts); returns the milli-loads.
    pub fn update(&mut self, s: &LoadStats) -> (i32, i32) {
        let step = |avg: &mut Option<f64>, n: u64| {
            let n = n as f64;
            let v = match *avg {
                Some(a) => a * self.decay + n * (1.0 - self.decay),
                None => n,
            };
            *avg = Some(v);
            // `as` saturates, as a huge load should rather than wrap.
            (v * 1000.0) as i32
        };
        (
            step(&mut self.load, s.nr_running),
            step(&mut self.load_d, s.nr_uninterruptible),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `CGROUPSTATS_CMD_NEW` datagram as the kernel sends it (layout of
    /// kernel/taskstats.c `cgroupstats_user_cmd`: genlmsghdr, one nla of `struct cgroupstats`).
    fn reply(seq: u32, counts: [u64; 5]) -> Vec<u8> {
        let mut stats = Vec::new();
        for c in counts {
            stats.extend_from_slice(&c.to_ne_bytes());
        }
        let mut m = build_request(0x1a, 5, 1, seq, CGROUPSTATS_TYPE_CGROUP_STATS, &stats);
        m[6..8].copy_from_slice(&0u16.to_ne_bytes());
        m
    }

    #[test]
    fn request_layout_matches_netlink_headers() {
        let m = build_request(0x1a, CGROUPSTATS_CMD_GET, 1, 7, 1, &9u32.to_ne_bytes());
        assert_eq!(m.len(), 28);
        assert_eq!(u32_at(&m, 0), Some(28));
        assert_eq!(u16_at(&m, 4), Some(0x1a));
        assert_eq!(u16_at(&m, 6), Some(NLM_F_REQUEST));
        assert_eq!(u32_at(&m, 8), Some(7));
        assert_eq!(&m[16..20], &[CGROUPSTATS_CMD_GET, 1, 0, 0]);
        assert_eq!(u16_at(&m, 20), Some(8));
        assert_eq!(u16_at(&m, 22), Some(1));
        assert_eq!(u32_at(&m, 24), Some(9));
        // The family name is padded to four bytes.
        let f = build_request(GENL_ID_CTRL, 3, 1, 1, 2, TASKSTATS_GENL_NAME);
        assert_eq!(f.len(), 16 + 4 + 16);
        assert_eq!(u16_at(&f, 20), Some(14));
    }

    #[test]
    fn parses_cgroupstats_reply() {
        let d = reply(3, [4, 1, 0, 2, 0]);
        let ms = messages(&d).expect("messages");
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].seq, 3);
        let s = parse_cgroupstats(ms[0].payload).expect("stats");
        assert_eq!(
            s,
            LoadStats {
                nr_sleeping: 4,
                nr_running: 1,
                nr_stopped: 0,
                nr_uninterruptible: 2,
                nr_io_wait: 0
            }
        );
    }

    #[test]
    fn parses_family_id_among_other_attributes() {
        // CTRL_CMD_NEWFAMILY: name first, then the id (as the kernel orders them).
        let mut p = vec![1, 2, 0, 0];
        p.extend_from_slice(&14u16.to_ne_bytes());
        p.extend_from_slice(&CTRL_ATTR_FAMILY_NAME.to_ne_bytes());
        p.extend_from_slice(b"TASKSTATS\0\0\0");
        p.extend_from_slice(&6u16.to_ne_bytes());
        p.extend_from_slice(&CTRL_ATTR_FAMILY_ID.to_ne_bytes());
        p.extend_from_slice(&0x1bu16.to_ne_bytes());
        p.extend_from_slice(&[0, 0]);
        assert_eq!(parse_family_id(&p).expect("id"), 0x1b);
        assert!(parse_family_id(&p[..20]).is_err());
    }

    #[test]
    fn truncated_replies_are_errors_not_panics() {
        let d = reply(1, [1; 5]);
        for cut in 0..d.len() {
            if let Ok(ms) = messages(&d[..cut]) {
                for m in ms {
                    let _ = parse_cgroupstats(m.payload);
                }
            }
        }
        assert!(messages(&d[..20]).is_err());
    }

    #[test]
    fn load_average_smooths_like_cadvisor() {
        let mut a = LoadAverage::new(Duration::from_secs(1));
        let s = |r, d| LoadStats {
            nr_running: r,
            nr_uninterruptible: d,
            ..LoadStats::default()
        };
        // First sample initialises.
        assert_eq!(a.update(&s(2, 1)), (2000, 1000));
        // decay = e^-0.1 = 0.904837…: 2·0.904837 + 0 = 1.809674 → 1809.
        assert_eq!(a.update(&s(0, 0)), (1809, 904));
        let mut b = LoadAverage::new(Duration::from_secs(10));
        b.update(&s(0, 0));
        // decay = e^-1: 0 + 3·(1 − 0.367879) = 1.896362 → 1896.
        assert_eq!(b.update(&s(3, 0)).0, 1896);
    }
}
