//! OOM kills from the kernel log (`<dev>/kmsg`), cAdvisor's §7.1 state machine: an
//! `invoked oom-killer:` line opens an instance; the ≥ 5.0 `oom-kill:` line, or the legacy
//! `Task in … killed as a result of limit of …` + `Killed process N (name)` pair, completes it.
//! The parser is pure; the reader is a thread that never blocks startup and stops with its handle.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{CgroupRef, SourceEvent};

/// One OOM kill as the kernel logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomInstance {
    pub pid: u32,
    pub process_name: String,
    pub time_of_death: SystemTime,
    /// The victim task's memory cgroup (`task_memcg`); cAdvisor's `ContainerName`, gets the `oom` event.
    pub container_name: String,
    /// The cgroup whose limit was hit (`oom_memcg`); cAdvisor's `VictimContainerName`, gets `oomKill`.
    pub victim_container_name: String,
    /// `CONSTRAINT_MEMCG`, ...; empty for the legacy format.
    pub constraint: String,
}

impl OomInstance {
    /// The producer event; the target is the task's memory cgroup, as eBPF and the counters see it.
    pub fn to_source_event(&self) -> SourceEvent {
        self.event(false)
    }

    /// [`Self::to_source_event`] for a kill read back from the log at start-up.
    pub fn replayed_event(&self) -> SourceEvent {
        self.event(true)
    }

    fn event(&self, replayed: bool) -> SourceEvent {
        SourceEvent::OomKill {
            target: CgroupRef::Name(self.container_name.clone()),
            pid: self.pid,
            process_name: self.process_name.clone(),
            constraint: self.constraint.clone(),
            at: self.time_of_death,
            replayed,
        }
    }
}

/// Feeds kernel log messages one at a time; returns each completed OOM instance.
#[derive(Debug, Default)]
pub struct OomParser {
    current: Option<OomInstance>,
}

impl OomParser {
    pub fn feed(&mut self, message: &str, at: SystemTime) -> Option<OomInstance> {
        if message.contains("invoked oom-killer:") {
            self.current = Some(OomInstance {
                pid: 0,
                process_name: String::new(),
                time_of_death: at,
                container_name: "/".into(),
                victim_container_name: "/".into(),
                constraint: String::new(),
            });
            return None;
        }
        let cur = self.current.as_mut()?;
        if let Some(k) = parse_oom_kill_line(message) {
            cur.constraint = k.constraint.to_string();
            cur.victim_container_name = k.oom_memcg.to_string();
            cur.container_name = k.task_memcg.to_string();
            cur.process_name = k.task.to_string();
            cur.pid = k.pid;
        } else if let Some((task, limit)) = parse_task_in_line(message) {
            cur.container_name = clean_abs(task);
            cur.victim_container_name = clean_abs(limit);
            return None;
        } else if let Some((pid, name)) = parse_killed_process_line(message) {
            cur.pid = pid;
            cur.process_name = name.to_string();
        } else {
            return None;
        }
        let mut done = self.current.take()?;
        done.time_of_death = at;
        Some(done)
    }
}

/// Fields of the kernel ≥ 5.0 `oom-kill:` summary line.
#[derive(Debug, PartialEq, Eq)]
pub struct OomKillLine<'a> {
    pub constraint: &'a str,
    pub nodemask: &'a str,
    pub cpuset: &'a str,
    pub mems_allowed: &'a str,
    pub oom_memcg: &'a str,
    pub task_memcg: &'a str,
    pub task: &'a str,
    pub pid: u32,
    pub uid: &'a str,
}

/// Parses `oom-kill:constraint=…,nodemask=…,cpuset=…,mems_allowed=…,oom_memcg=…,task_memcg=…,
/// task=…,pid=…,uid=…` anywhere in the message. Values may contain commas (task names do), so like a
/// greedy regex each separator is the last one that still leaves the later ones: split from the right.
pub fn parse_oom_kill_line(message: &str) -> Option<OomKillLine<'_>> {
    const START: &str = "oom-kill:constraint=";
    let begin = message.find(START)? + START.len();
    let mut rest = &message[begin..];
    let keys = [
        ",uid=",
        ",pid=",
        ",task=",
        ",task_memcg=",
        ",oom_memcg=",
        ",mems_allowed=",
        ",cpuset=",
        ",nodemask=",
    ];
    let mut vals = [""; 8];
    for (i, key) in keys.iter().enumerate() {
        let at = rest.rfind(key)?;
        vals[i] = &rest[at + key.len()..];
        rest = &rest[..at];
    }
    let [
        uid,
        pid,
        task,
        task_memcg,
        oom_memcg,
        mems_allowed,
        cpuset,
        nodemask,
    ] = vals;
    Some(OomKillLine {
        constraint: rest,
        nodemask,
        cpuset,
        mems_allowed,
        oom_memcg,
        task_memcg,
        task,
        pid: pid.parse().ok()?,
        uid,
    })
}

/// Legacy (< 5.0): `Task in <task cgroup> killed as a result of limit of <limit cgroup>`.
fn parse_task_in_line(message: &str) -> Option<(&str, &str)> {
    const SEP: &str = " killed as a result of limit of ";
    let begin = message.find("Task in ")? + "Task in ".len();
    let rest = &message[begin..];
    let at = rest.rfind(SEP)?;
    Some((&rest[..at], &rest[at + SEP.len()..]))
}

/// `Killed process <pid> (<name>)…`: the name runs to the last `)` so it may hold spaces and parens.
fn parse_killed_process_line(message: &str) -> Option<(u32, &str)> {
    for (i, _) in message.match_indices("Killed process ") {
        let rest = &message[i + "Killed process ".len()..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let Some(after) = rest[digits..].strip_prefix(" (") else {
            continue;
        };
        let Some(close) = after.rfind(')') else {
            continue;
        };
        if digits == 0 || close == 0 {
            continue;
        }
        let pid = rest[..digits].parse().ok()?;
        return Some((pid, &after[..close]));
    }
    None
}

/// Go's `path.Join("/", p)`: absolute, cleaned.
fn clean_abs(p: &str) -> String {
    crate::model::clean_container_name(p)
}

/// One `/dev/kmsg` record: `<prio>,<seq>,<usec since boot>,<flags>[,…];<message>` (continuation
/// lines ` KEY=VALUE` follow after `\n` and are dropped).
#[derive(Debug, PartialEq, Eq)]
pub struct KmsgRecord<'a> {
    pub seq: u64,
    pub usec: u64,
    pub message: &'a str,
}

pub fn parse_kmsg_record(record: &str) -> Option<KmsgRecord<'_>> {
    let (header, body) = record.split_once(';')?;
    let mut f = header.split(',');
    let _prio = f.next()?;
    let seq = f.next()?.parse().ok()?;
    let usec = f.next()?.parse().ok()?;
    let message = body.split('\n').next().unwrap_or("");
    Some(KmsgRecord { seq, usec, message })
}

#[derive(Debug, thiserror::Error)]
pub enum KmsgError {
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spawning the kmsg reader thread: {0}")]
    Spawn(#[source] io::Error),
}

/// Where the reader sends the kills it parses. The reader starts at the beginning of the kernel's
/// ring buffer when `past` is set, else at its end.
pub struct KmsgSinks {
    /// Kills logged before the reader started, or before `past_until` (what cAdvisor reports again
    /// at each start), as replayed `OomKill` events.
    pub past: Option<mpsc::Sender<SourceEvent>>,
    /// Where "before" ends instead, as time since boot ([`super::since_boot`]): when the live
    /// source started reporting kills.
    pub past_until: Option<Duration>,
    /// Kills logged from then on. `None`: a live source reports those, and the reader stops once it
    /// has read the buffer.
    pub live: Option<mpsc::Sender<OomInstance>>,
}

/// Stops the reader thread when dropped.
pub struct KmsgHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for KmsgHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens `<dev>/kmsg` and sends each OOM kill it logs to `sinks`. Fails (for the caller to log as a
/// warning and carry on without) when the file cannot be opened, e.g. in an unprivileged container.
pub fn start(dev: &Path, sinks: KmsgSinks) -> Result<KmsgHandle, KmsgError> {
    let path = dev.join("kmsg");
    let open_err = |source| KmsgError::Open {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&path)
        .map_err(open_err)?;
    if sinks.past.is_none() {
        file.seek(SeekFrom::End(0)).map_err(open_err)?;
    }
    let (boot, since_boot) = kernel_log_clock();
    let until = sinks.past_until.unwrap_or(since_boot);
    let split = Split {
        parser: OomParser::default(),
        boot,
        start_usec: u64::try_from(until.as_micros()).unwrap_or(u64::MAX),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("kmsg-oom".into())
        .spawn(move || {
            let mut reader = Reader {
                file,
                path,
                split,
                sinks,
                replayed: 0,
            };
            reader.run(&stop2);
        })
        .map_err(KmsgError::Spawn)?;
    Ok(KmsgHandle {
        stop,
        thread: Some(thread),
    })
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

/// The kernel log's clock now: (wall-clock time at boot, time since boot). Record timestamps follow
/// `local_clock()`, which like CLOCK_MONOTONIC stops while the machine is suspended, so boot is
/// taken as now − CLOCK_MONOTONIC: exact for every kill logged since the last resume (cAdvisor's
/// now − uptime puts those early by the time spent suspended; the same on a machine never suspended).
fn kernel_log_clock() -> (SystemTime, Duration) {
    let since_boot = super::since_boot();
    let boot = SystemTime::now()
        .checked_sub(since_boot)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    (boot, since_boot)
}

/// Parses records into kills and tells those logged before the reader started from later ones.
struct Split {
    parser: OomParser,
    boot: SystemTime,
    /// Where "before" ends on the kernel log's clock (µs since boot).
    start_usec: u64,
}

impl Split {
    /// A completed kill and whether it was logged before the split.
    fn record(&mut self, rec: &KmsgRecord<'_>) -> Option<(OomInstance, bool)> {
        let at = self.boot + Duration::from_micros(rec.usec);
        let inst = self.parser.feed(rec.message, at)?;
        Some((inst, rec.usec < self.start_usec))
    }
}

struct Reader {
    file: File,
    path: PathBuf,
    split: Split,
    sinks: KmsgSinks,
    replayed: usize,
}

impl Reader {
    fn run(&mut self, stop: &AtomicBool) {
        // `/dev/kmsg` returns one record per read, at most ~8 KiB (PRINTK_MESSAGE_MAX + dict); a
        // regular file (tests) returns any number, the last one maybe cut: it is kept for the next.
        let mut buf = vec![0u8; 16 * 1024];
        let mut partial: Vec<u8> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match self.file.read(&mut buf) {
                Ok(0) => {
                    let rest = std::mem::take(&mut partial);
                    let _ = self.records(&rest);
                    return self.caught_up();
                }
                Ok(n) => {
                    partial.extend_from_slice(&buf[..n]);
                    let Some(end) = partial.iter().rposition(|b| *b == b'\n') else {
                        continue;
                    };
                    let rest = partial.split_off(end + 1);
                    let whole = std::mem::replace(&mut partial, rest);
                    if !self.records(&whole) {
                        return;
                    }
                }
                // Records overwritten before we read them: the next read continues after the gap.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.sinks.live.is_none() {
                        return self.caught_up();
                    }
                    self.caught_up();
                    let mut pfd = libc::pollfd {
                        fd: self.file.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd for the duration of the call.
                    unsafe { libc::poll(&mut pfd, 1, 200) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!(path = %self.path.display(), error = %e, "reading the kernel log failed; OOM kills come from the live source or the memory cgroup counters only");
                    return;
                }
            }
        }
    }

    /// Handles complete records (lines; continuation lines start with a space). `false` once
    /// nobody listens any more.
    fn records(&mut self, bytes: &[u8]) -> bool {
        let text = String::from_utf8_lossy(bytes);
        for line in text.split('\n').filter(|l| !l.starts_with(' ')) {
            let Some(rec) = parse_kmsg_record(line) else {
                continue;
            };
            let Some((inst, past)) = self.split.record(&rec) else {
                continue;
            };
            let sent = match (past, &self.sinks.past, &self.sinks.live) {
                (true, Some(tx), _) => {
                    self.replayed += 1;
                    tx.blocking_send(inst.replayed_event()).is_ok()
                }
                (false, _, Some(tx)) => tx.blocking_send(inst).is_ok(),
                // Logged after the start with no live sink: the live source reports it.
                _ => true,
            };
            if !sent {
                return false;
            }
        }
        true
    }

    /// The buffer as it was at the start has been read: says how many kills it held, once.
    fn caught_up(&mut self) {
        if self.sinks.past.take().is_some() {
            info!(
                oom_kills = self.replayed,
                "kernel log read: OOM kills from before the start are reported"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    // Verbatim dmesg lines, kernel 6.18.44 (hybrid cgroup v1), `dd bs=100M` in a 32M v1 memory cgroup.
    #[test]
    fn kernel_6_18_oom_kill_line() {
        let mut p = OomParser::default();
        let open = "dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0";
        assert_eq!(p.feed(open, t(1)), None);
        assert_eq!(
            p.feed("Memory cgroup stats for /bpfadvisor-test-oom-6077:", t(1)),
            None
        );
        let got = p
            .feed("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/bpfadvisor-test-oom-6077,task_memcg=/bpfadvisor-test-oom-6077,task=dd,pid=6083,uid=0", t(2))
            .expect("complete");
        assert_eq!(got.container_name, "/bpfadvisor-test-oom-6077");
        assert_eq!(got.victim_container_name, "/bpfadvisor-test-oom-6077");
        assert_eq!(
            (got.pid, got.process_name.as_str(), got.constraint.as_str()),
            (6083, "dd", "CONSTRAINT_MEMCG")
        );
        assert_eq!(got.time_of_death, t(2));
        // The "Killed process" line that follows must not emit a second instance.
        let killed = "Memory cgroup out of memory: Killed process 6083 (dd) total-vm:105376kB, anon-rss:32512kB, file-rss:1752kB, shmem-rss:0kB, UID:0 pgtables:108kB oom_score_adj:0";
        assert_eq!(p.feed(killed, t(2)), None);
        assert_eq!(parse_killed_process_line(killed), Some((6083, "dd")));
    }

    // Line from cAdvisor's utils/oomparser/oomparser_test.go (kubernetes pod, ids shortened).
    #[test]
    fn cadvisor_test_oom_kill_line() {
        let l = parse_oom_kill_line("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=ef80,mems_allowed=0,oom_memcg=/kubepods/burstable/podfbdfe8e3,task_memcg=/kubepods/burstable/podfbdfe8e3/ef80,task=manager,pid=966,uid=0").expect("parse");
        assert_eq!(l.oom_memcg, "/kubepods/burstable/podfbdfe8e3");
        assert_eq!(l.task_memcg, "/kubepods/burstable/podfbdfe8e3/ef80");
        assert_eq!(
            (l.task, l.pid, l.uid, l.nodemask, l.cpuset),
            ("manager", 966, "0", "(null)", "ef80")
        );
    }

    #[test]
    fn task_names_with_commas_spaces_parens_quotes() {
        for name in ["Plex Media Server", "()", "\"with quotes\"", "a,pid=1"] {
            let line = format!(
                "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/,task_memcg=/x,task={name},pid=7,uid=1000"
            );
            let l = parse_oom_kill_line(&line).expect("parse");
            assert_eq!((l.task, l.pid), (name, 7), "{line}");
            let legacy = format!(
                "Killed process 19667 ({name}) total-vm:1460016kB, anon-rss:1414008kB, file-rss:4kB"
            );
            assert_eq!(
                parse_killed_process_line(&legacy),
                Some((19667, name)),
                "{legacy}"
            );
        }
    }

    // Legacy (< 5.0) lines from cAdvisor's oomparser_test.go.
    #[test]
    fn legacy_sequence() {
        let mut p = OomParser::default();
        assert_eq!(
            p.feed(
                "ruby invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0",
                t(1)
            ),
            None
        );
        assert_eq!(
            p.feed("Task in /mem2 killed as a result of limit of /mem3", t(1)),
            None
        );
        let got = p
            .feed("Killed process 19667 (evil-program2) total-vm:1460016kB, anon-rss:1414008kB, file-rss:4kB", t(3))
            .expect("complete");
        assert_eq!(
            (
                got.container_name.as_str(),
                got.victim_container_name.as_str()
            ),
            ("/mem2", "/mem3")
        );
        assert_eq!(
            (got.pid, got.process_name.as_str(), got.constraint.as_str()),
            (19667, "evil-program2", "")
        );
        assert_eq!(got.time_of_death, t(3));
    }

    #[test]
    fn lines_without_an_open_instance_are_ignored_and_names_default_to_root() {
        let mut p = OomParser::default();
        assert_eq!(p.feed("Killed process 1 (init)", t(1)), None);
        p.feed("x invoked oom-killer: gfp_mask=0x0", t(1));
        let got = p
            .feed("Out of memory: Killed process 5 (java) total-vm:1kB", t(2))
            .expect("complete");
        assert_eq!(
            (
                got.container_name.as_str(),
                got.victim_container_name.as_str()
            ),
            ("/", "/")
        );
        assert_eq!(clean_abs("a/../b/./c/"), "/b/c");
    }

    // Record format from Documentation/ABI/testing/dev-kmsg.
    #[test]
    fn kmsg_records() {
        let r = parse_kmsg_record(
            "6,1234,5678901,-;oom-kill:constraint=CONSTRAINT_MEMCG\n SUBSYSTEM=x\n",
        )
        .expect("record");
        assert_eq!(
            r,
            KmsgRecord {
                seq: 1234,
                usec: 5_678_901,
                message: "oom-kill:constraint=CONSTRAINT_MEMCG"
            }
        );
        assert_eq!(parse_kmsg_record("garbage"), None);
        assert_eq!(parse_kmsg_record("6,x,1,-;m"), None);
    }

    #[test]
    fn missing_kmsg_is_an_open_error_with_path() {
        let (tx, _rx) = mpsc::channel(1);
        let sinks = KmsgSinks {
            past: None,
            past_until: None,
            live: Some(tx),
        };
        let err = start(Path::new("/nonexistent-dev"), sinks)
            .err()
            .expect("error");
        assert!(err.to_string().contains("/nonexistent-dev/kmsg"), "{err}");
    }

    fn record(seq: u64, usec: u64, message: &str) -> String {
        format!("6,{seq},{usec},-;{message}\n SUBSYSTEM=memory\n")
    }

    fn kill_records(seq: u64, usec: u64, memcg: &str, pid: u32) -> String {
        record(
            seq,
            usec,
            "dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0",
        ) + &record(
            seq + 1,
            usec,
            &format!(
                "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg={memcg},task_memcg={memcg},task=dd,pid={pid},uid=0"
            ),
        )
    }

    // A kill logged 1 s after boot is from before the start, one logged in 30 years after it.
    #[test]
    fn kills_before_the_start_are_replayed_and_later_ones_go_live() {
        let dev = tempfile::tempdir().expect("tempdir");
        let late = 30 * 365 * 86_400 * 1_000_000;
        let log =
            kill_records(1, 1_000_000, "/docker/a", 7) + &kill_records(3, late, "/docker/b", 8);
        std::fs::write(dev.path().join("kmsg"), log).expect("write");
        let (past_tx, mut past_rx) = mpsc::channel(8);
        let (live_tx, mut live_rx) = mpsc::channel(8);
        let sinks = KmsgSinks {
            past: Some(past_tx),
            past_until: None,
            live: Some(live_tx),
        };
        let handle = start(dev.path(), sinks).expect("start");
        let Some(SourceEvent::OomKill {
            target: CgroupRef::Name(name),
            pid,
            at,
            replayed,
            ..
        }) = past_rx.blocking_recv()
        else {
            panic!("no replayed kill");
        };
        assert_eq!((name.as_str(), pid, replayed), ("/docker/a", 7, true));
        let (boot, _) = kernel_log_clock();
        let off = at
            .duration_since(boot + Duration::from_secs(1))
            .unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_millis(100), "{at:?} vs boot {boot:?}");
        let live = live_rx.blocking_recv().expect("live kill");
        assert_eq!((live.container_name.as_str(), live.pid), ("/docker/b", 8));
        drop(handle);
        assert!(past_rx.blocking_recv().is_none() && live_rx.blocking_recv().is_none());
    }

    #[test]
    fn without_a_live_sink_later_kills_are_left_to_the_live_source() {
        let dev = tempfile::tempdir().expect("tempdir");
        let late = 30 * 365 * 86_400 * 1_000_000;
        let log = kill_records(1, late, "/docker/b", 8) + &kill_records(3, 2_000_000, "/x", 9);
        std::fs::write(dev.path().join("kmsg"), log).expect("write");
        let (past_tx, mut past_rx) = mpsc::channel(8);
        let sinks = KmsgSinks {
            past: Some(past_tx),
            past_until: Some(Duration::from_secs(3)),
            live: None,
        };
        let _handle = start(dev.path(), sinks).expect("start");
        let got = past_rx.blocking_recv().expect("replayed kill");
        assert!(
            matches!(
                &got,
                SourceEvent::OomKill {
                    pid: 9,
                    replayed: true,
                    ..
                }
            ),
            "{got:?}"
        );
        assert!(past_rx.blocking_recv().is_none(), "the reader stopped");
    }
}
