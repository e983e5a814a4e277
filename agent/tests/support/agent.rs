//! Test helper that runs the real `bpfadvisor` binary. Include it with
//! `#[path = "support/agent.rs"] mod agent;`.
//!
//! - [`Agent::start`]: the binary on a free loopback port with the given flags, killed on drop; waits for
//!   `/healthz`. Its stderr goes to a temp file ([`Agent::log`]) so a test can see why it failed, its
//!   stdout to another ([`Agent::stdout`]: what a storage driver writes there).
//! - [`Agent::get`] / [`Agent::post`]: status and body of a request (any status, never an error).
//! - [`Agent::events`]: an NDJSON reader of the events stream, fed by a thread.
//! - [`CgroupTree`]: test cgroups created in several hierarchies, processes killed and dirs removed
//!   on drop.
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use bpfadvisor::host::HostPaths;
use serde_json::Value;

include!("prereq.rs");

/// The binary under test, built once by cargo for all integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_bpfadvisor");

/// `true` when running as root; otherwise a [`missing`] root (skip, or fail in CI).
pub fn require_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        missing(Need::Root, "needs root");
    }
    root
}

/// A loopback TCP port free a moment ago.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// Why [`Agent::start`] failed: the agent exited (with its log) or never answered.
#[derive(Debug)]
pub struct StartError {
    pub exited: bool,
    pub log: String,
}

/// A running agent, killed on drop.
pub struct Agent {
    child: Child,
    pub base: String,
    log: tempfile::NamedTempFile,
    out: tempfile::NamedTempFile,
    http: ureq::Agent,
}

impl Agent {
    /// Starts the binary with `flags` (plus `--listen_ip`/`--port`) and waits until `/healthz`
    /// answers 200.
    pub fn start(flags: &[&str]) -> Result<Self, StartError> {
        Self::start_wrapped(&[], flags)
    }

    /// [`Agent::start`] run through `wrapper` (a command line the binary and its flags are appended
    /// to, such as `prlimit --nofile=64:64 --`); empty = the binary itself.
    pub fn start_wrapped(wrapper: &[&str], flags: &[&str]) -> Result<Self, StartError> {
        let fail = |log: String| StartError { exited: false, log };
        let port = free_port().map_err(fail)?;
        let log = tempfile::NamedTempFile::new().map_err(|e| fail(format!("temp log: {e}")))?;
        let err = log.reopen().map_err(|e| fail(format!("reopen log: {e}")))?;
        let out = tempfile::NamedTempFile::new().map_err(|e| fail(format!("temp stdout: {e}")))?;
        let stdout = out
            .reopen()
            .map_err(|e| fail(format!("reopen stdout: {e}")))?;
        let mut cmd = match wrapper.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = cmd
            .arg("--listen_ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(err)
            .spawn()
            .map_err(|e| fail(format!("spawn {BIN}: {e}")))?;
        let http = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(2))
            .timeout_read(Duration::from_secs(30))
            .build();
        let mut agent = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            out,
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = agent.child.try_wait() {
                return Err(StartError {
                    exited: true,
                    log: format!("{status}\n{}", agent.log()),
                });
            }
            if agent.get("/healthz").0 == 200 {
                return Ok(agent);
            }
            sleep(Duration::from_millis(100));
        }
        Err(StartError {
            exited: false,
            log: format!("no /healthz within 60s\n{}", agent.log()),
        })
    }

    /// Starts the agent with `--event_source=<mode>` and `flags` (see [`Agent::launch`]); also `None`
    /// (a [`missing`] eBPF: skip, or fail in CI) when `mode` is `ebpf` and the agent exits saying eBPF
    /// is unavailable.
    pub fn start_with_source(mode: &str, flags: &[&str]) -> Option<Self> {
        let source = format!("--event_source={mode}");
        let mut all = vec![source.as_str()];
        all.extend_from_slice(flags);
        match Self::start(&all) {
            Err(e) if mode == "ebpf" && e.exited && e.log.to_lowercase().contains("ebpf") => {
                let why = e
                    .log
                    .lines()
                    .find(|l| l.to_lowercase().contains("ebpf"))
                    .unwrap_or_default()
                    .trim();
                missing_none(Need::Ebpf, &format!("eBPF event source unavailable: {why}"))
            }
            started => Self::serving_api(started, &all),
        }
    }

    /// Starts the agent with `flags`; panics when it does not start or serves no REST API (`/api/`
    /// answers 404 instead of cAdvisor's 400). Always `Some`; an `Option` for the callers' `let else`.
    pub fn launch(flags: &[&str]) -> Option<Self> {
        Self::serving_api(Self::start(flags), flags)
    }

    fn serving_api(started: Result<Self, StartError>, flags: &[&str]) -> Option<Self> {
        let agent = match started {
            Ok(a) => a,
            Err(e) => panic!("agent did not start with {flags:?}: {}", e.log),
        };
        let (status, body) = agent.get("/api/");
        assert_ne!(
            status, 404,
            "the agent serves no REST API (/api/ is 404): {body}"
        );
        Some(agent)
    }

    /// Panics unless the agent still answers `/healthz` and has logged no panic.
    pub fn assert_healthy(&self) {
        let log = self.log();
        assert!(!log.contains("panicked"), "the agent panicked:\n{log}");
        assert_eq!(self.get("/healthz").0, 200, "healthz; log:\n{log}");
    }

    /// Stops (`SIGSTOP`) or continues (`SIGCONT`) the agent: a reader that falls behind, on demand.
    pub fn set_paused(&self, paused: bool) {
        let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// The agent's process id (the wrapper's, which `exec`s it, when started wrapped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's resident set size in KiB (`VmRSS` of `<proc>/<pid>/status`).
    pub fn rss_kib(&self, host: &HostPaths) -> Result<u64, String> {
        let p = host.proc.join(self.pid().to_string()).join("status");
        let status = fs::read_to_string(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no VmRSS in {}", p.display()))
    }

    /// Everything the agent wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Everything the agent wrote to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.out.path()).unwrap_or_default()
    }

    fn send(&self, req: ureq::Request, body: Option<&str>) -> (u16, String) {
        let res = match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        match res {
            Ok(r) => (r.status(), body_text(r)),
            Err(ureq::Error::Status(code, r)) => (code, body_text(r)),
            Err(e) => (0, e.to_string()),
        }
    }

    /// `GET path` → (status, body); status 0 when the request itself failed.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.send(self.http.get(&format!("{}{path}", self.base)), None)
    }

    /// `POST path` with a JSON body → (status, body).
    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        let req = self
            .http
            .post(&format!("{}{path}", self.base))
            .set("Content-Type", "application/json");
        self.send(req, Some(body))
    }

    /// `GET path` parsed as JSON when the status is 200.
    pub fn get_json(&self, path: &str) -> Result<Value, String> {
        let (status, body) = self.get(path);
        if status != 200 {
            return Err(format!("GET {path}: {status} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: bad JSON ({e}): {body}"))
    }

    /// Polls `GET path` until `ok` accepts the JSON answer or `limit` passes; returns the last answer.
    pub fn wait_json(
        &self,
        path: &str,
        limit: Duration,
        ok: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + limit;
        loop {
            let last = self.get_json(path);
            if last.as_ref().is_ok_and(&ok) || Instant::now() > deadline {
                return last;
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the v1.3 API lists the container `name` (panics after `limit`, with the log).
    pub fn wait_listed(&self, name: &str, limit: Duration) {
        self.wait_json(&format!("/api/v1.3/containers{name}"), limit, |_| true)
            .unwrap_or_else(|e| panic!("{name} not listed within {limit:?}: {e}"));
    }

    /// The stream of creation and deletion events of `parent` and everything below it.
    pub fn lifecycle_events(&self, parent: &str) -> EventStream {
        self.events(
            parent,
            "subcontainers=true&creation_events=true&deletion_events=true",
        )
        .unwrap_or_else(|e| panic!("events stream of {parent}: {e}"))
    }

    /// Opens `/api/v1.3/events/<name>?stream=true&<query>`; returns once the response headers arrived
    /// (the agent has registered the watch by then).
    pub fn events(&self, name: &str, query: &str) -> Result<EventStream, String> {
        let url = format!("{}/api/v1.3/events{name}?stream=true&{query}", self.base);
        let resp = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(2))
            .build()
            .get(&url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(resp.into_reader());
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str::<Value>(&line)
                    .map_err(|e| format!("bad NDJSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Ok(EventStream { rx })
    }
}

impl Agent {
    /// Sends SIGTERM and waits up to `limit` for the process to exit; returns how long it took.
    pub fn terminate(&mut self, limit: Duration) -> Result<Duration, String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!("kill: {}", std::io::Error::last_os_error()));
        }
        while t0.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(t0.elapsed());
            }
            sleep(Duration::from_millis(50));
        }
        Err(format!("still running {limit:?} after SIGTERM"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of an events stream, parsed. The reader thread ends when the agent goes away.
pub struct EventStream {
    rx: mpsc::Receiver<Result<Value, String>>,
}

impl EventStream {
    /// The next event, or `None` after `wait` without one (or when the stream ended).
    pub fn next(&self, wait: Duration) -> Option<Result<Value, String>> {
        self.rx.recv_timeout(wait).ok()
    }

    /// Events until `done` says so (checked after each) or `limit` passes.
    pub fn collect_until(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while !done(&out) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.next(left) {
                Some(ev) => out.push(ev?),
                None => break,
            }
        }
        Ok(out)
    }
}

/// `(containerCreation, containerDeletion)` events per container name in `events` (event stream
/// lines); other event types are returned apart.
pub fn lifecycle_counts(
    events: &[Value],
) -> (std::collections::BTreeMap<String, (u32, u32)>, Vec<Value>) {
    let mut counts = std::collections::BTreeMap::<String, (u32, u32)>::new();
    let mut other = Vec::new();
    for ev in events {
        let name = ev["container_name"].as_str().unwrap_or_default();
        match ev["event_type"].as_str() {
            Some("containerCreation") => counts.entry(name.to_string()).or_default().0 += 1,
            Some("containerDeletion") => counts.entry(name.to_string()).or_default().1 += 1,
            _ => other.push(ev.clone()),
        }
    }
    (counts, other)
}

/// The v1 controllers (plus the unified hierarchy when mounted) a test container gets.
pub const CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

/// Why the host cannot run a cgroup test, if it cannot.
pub fn cgroup_skip_reason(host: &HostPaths) -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root");
    }
    if !CONTROLLERS
        .iter()
        .all(|c| host.cgroup.join(c).join("cgroup.procs").exists())
    {
        return Some("needs the v1 cpu, cpuacct, memory and pids hierarchies");
    }
    None
}

/// The hierarchy roots a test container is created in.
pub fn hierarchy_roots(host: &HostPaths) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = CONTROLLERS.iter().map(|c| host.cgroup.join(c)).collect();
    let unified = host.cgroup.join("unified");
    if unified.join("cgroup.controllers").exists() {
        roots.push(unified);
    }
    roots
}

/// Test cgroups (a name like `/a/b` in every hierarchy of [`hierarchy_roots`]) and the processes put
/// in them. On drop: processes killed, then directories removed deepest first.
pub struct CgroupTree {
    roots: Vec<PathBuf>,
    names: Vec<String>,
    children: Vec<Child>,
}

impl CgroupTree {
    pub fn new(host: &HostPaths) -> Self {
        Self {
            roots: hierarchy_roots(host),
            names: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Creates cgroup `name` (absolute, e.g. `/x/y`) in every hierarchy.
    pub fn mkdir(&mut self, name: &str) -> Result<(), String> {
        for r in &self.roots {
            let d = r.join(name.trim_start_matches('/'));
            fs::create_dir(&d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        }
        self.names.push(name.to_string());
        Ok(())
    }

    /// Creates cgroup `name` in hierarchy `controller` only, as a runtime's first of several mkdirs;
    /// removed from every hierarchy on drop.
    pub fn mkdir_in(&mut self, controller: &str, name: &str) -> Result<(), String> {
        let d = self.dir(controller, name);
        fs::create_dir(&d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
        Ok(())
    }

    /// The directory of `name` in hierarchy `controller` (`unified` for cgroup2).
    pub fn dir(&self, controller: &str, name: &str) -> PathBuf {
        let root = self
            .roots
            .iter()
            .find(|r| r.file_name().is_some_and(|f| f == controller))
            .cloned()
            .unwrap_or_default();
        root.join(name.trim_start_matches('/'))
    }

    /// Writes `value` to `file` of `name` in hierarchy `controller`.
    pub fn write(
        &self,
        controller: &str,
        name: &str,
        file: &str,
        value: &str,
    ) -> Result<(), String> {
        let p = self.dir(controller, name).join(file);
        fs::write(&p, value).map_err(|e| format!("write {value} to {}: {e}", p.display()))
    }

    /// Removes `name` from every hierarchy now (it must hold no processes).
    pub fn rmdir(&mut self, name: &str) -> Result<(), String> {
        for r in &self.roots {
            let d = r.join(name.trim_start_matches('/'));
            fs::remove_dir(&d).map_err(|e| format!("rmdir {}: {e}", d.display()))?;
        }
        self.names.retain(|n| n != name);
        Ok(())
    }

    /// Runs `sh -c script` inside `name` (in every hierarchy): the shell waits until it has been moved
    /// into all of them (a line on its stdin says so) before running the script, so everything it
    /// forks is inside too. Returns the shell's pid.
    pub fn spawn(&mut self, name: &str, script: &str) -> Result<u32, String> {
        // Waiting for its own `/proc/<pid>/cgroup` to name the cgroup is not enough: that shows
        // after the first hierarchy's move, and a child forked then stays behind in the others.
        let script = format!("read _moved; {script}");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn sh: {e}"))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        self.children.push(child);
        for r in &self.roots {
            let p = r.join(name.trim_start_matches('/')).join("cgroup.procs");
            fs::write(&p, pid.to_string())
                .map_err(|e| format!("move {pid} to {}: {e}", p.display()))?;
        }
        if let Some(mut stdin) = stdin {
            use std::io::Write as _;
            stdin
                .write_all(b"moved\n")
                .map_err(|e| format!("tell {pid} it was moved: {e}"))?;
        }
        Ok(pid)
    }

    /// Kills the process `pid` started with [`CgroupTree::spawn`] and waits for it.
    pub fn kill(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut c = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the processes started with [`CgroupTree::spawn`] and waits for them.
    pub fn kill_all(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for CgroupTree {
    fn drop(&mut self) {
        self.kill_all();
        // Deepest first; rmdir fails with EBUSY until killed tasks are fully gone.
        let mut names = std::mem::take(&mut self.names);
        names.sort_by_key(|n| std::cmp::Reverse(n.matches('/').count()));
        // What the spawned shells forked (a backgrounded `sleep`) outlives them: kill whatever is
        // still inside, or the directories stay behind.
        for n in &names {
            for r in &self.roots {
                kill_members(&r.join(n.trim_start_matches('/')));
            }
        }
        for n in &names {
            for r in &self.roots {
                let d = r.join(n.trim_start_matches('/'));
                for _ in 0..100 {
                    if fs::remove_dir(&d).is_ok() || !d.exists() {
                        break;
                    }
                    sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// SIGKILLs every process listed in `dir/cgroup.procs`.
fn kill_members(dir: &Path) {
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs
        .lines()
        .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
    {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is a test process in the
        // test's own cgroup.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// utime + stime of `pid` in ns (`<proc>/<pid>/stat` fields 14 and 15, USER_HZ = 100 ticks/s).
pub fn proc_cpu_ns(host: &HostPaths, pid: u32) -> Result<u64, String> {
    let p = host.proc.join(pid.to_string()).join("stat");
    let stat = fs::read_to_string(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
    let after_comm = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..))
        .ok_or_else(|| format!("no comm in {stat}"))?;
    let f: Vec<u64> = after_comm
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().map_err(|e| format!("{v} in {stat}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((f[0] + f[1]) * 10_000_000)
}

/// Reads a cgroup file holding one integer.
pub fn read_u64(path: &Path) -> Result<u64, String> {
    let s = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    s.trim()
        .parse()
        .map_err(|e| format!("parse {s:?} from {}: {e}", path.display()))
}

/// RFC 3339 timestamp → ns since the epoch.
pub fn ts_ns(v: &Value) -> Result<i128, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("timestamp {v} is not a string"))?;
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos())
        .map_err(|e| format!("timestamp {s}: {e}"))
}

/// The kernel's `oom-kill:...task_memcg=<memcg>,...,pid=N` lines for `memcg`, read with `dmesg`:
/// the pids, oldest first.
pub fn kernel_oom_pids(memcg: &str) -> Vec<u32> {
    let Ok(out) = Command::new("dmesg").output() else {
        return Vec::new();
    };
    let mut out_buf = String::new();
    let _ = out.stdout.as_slice().read_to_string(&mut out_buf);
    let needle = format!("task_memcg={memcg},");
    out_buf
        .lines()
        .filter(|l| l.contains("oom-kill:") && l.contains(&needle))
        .filter_map(|l| {
            l.split(',')
                .find_map(|kv| kv.strip_prefix("pid="))
                .and_then(|p| p.trim().parse().ok())
        })
        .collect()
}

/// One `oom-kill:` line of the kernel log: the victim's pid and the record's time since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelOomKill {
    pub pid: u32,
    pub usec: u64,
}

/// The kernel's `oom-kill:...task_memcg=<memcg>,...,pid=N` records for `memcg` still in
/// `<dev>/kmsg`, oldest first.
pub fn kernel_oom_kills(host: &HostPaths, memcg: &str) -> Vec<KernelOomKill> {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(host.dev.join("kmsg"))
    else {
        return Vec::new();
    };
    let needle = format!("task_memcg={memcg},");
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                let Some((header, msg)) = rec.split_once(';') else {
                    continue;
                };
                let msg = msg.lines().next().unwrap_or_default();
                if !msg.contains("oom-kill:") || !msg.contains(&needle) {
                    continue;
                }
                let usec = header.split(',').nth(2).and_then(|u| u.parse().ok());
                let pid = msg
                    .rsplit(',')
                    .find_map(|kv| kv.strip_prefix("pid="))
                    .and_then(|p| p.trim().parse().ok());
                if let (Some(pid), Some(usec)) = (pid, usec) {
                    out.push(KernelOomKill { pid, usec });
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(_) => break,
        }
    }
    out
}

/// Wall-clock time of a kernel log record `usec` after boot, in ns since the epoch (boot taken as
/// now − CLOCK_MONOTONIC, the clock the record timestamps follow).
pub fn kernel_log_time_ns(usec: u64) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let mono = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    now - mono + i128::from(usec) * 1000
}

/// The value of `family`'s series whose `id` label is `id` in a `/metrics` text, if exported.
pub fn metric_value(text: &str, family: &str, id: &str) -> Option<f64> {
    let id_label = format!("id=\"{id}\"");
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with('{'))
        .find(|l| l.contains(&id_label))
        .and_then(|l| l.rsplit_once('}'))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A response's whole body as text. Unlike `Response::into_string` it has no 10 MB cap: a host with
/// thousands of containers answers `/metrics` and recursive stats with more than that.
pub fn body_text(r: ureq::Response) -> String {
    let mut text = String::new();
    let _ = r.into_reader().read_to_string(&mut text);
    text
}
