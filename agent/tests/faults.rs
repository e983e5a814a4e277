//! Fault injection, end to end, as root: the real agent binary meets a broken world and must keep
//! serving, say so in ONE clear log line, recover when the fault goes away, and lose nothing else.
//!
//! Faults: its dockerd killed and restarted (a private dockerd, never the machine's), containerd
//! down at start, eBPF unavailable at start, cgroups vanishing mid-read, a client of the event stream
//! that never reads, `RLIMIT_NOFILE` far below the container count, and a full disk under its log.
//! Each takes well under a minute.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, Need, cgroup_skip_reason, missing, ts_ns};
use bpfadvisor::host::HostPaths;
use serde_json::Value;

const FAST: &str = "--housekeeping_interval=250ms";

/// Lines of `log` containing `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Timestamp (ns) of the newest sample in a v1 `ContainerInfo`, 0 without one.
fn newest_sample(info: &Value) -> i128 {
    info["stats"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(|s| ts_ns(&s["timestamp"]).ok())
        .unwrap_or(0)
}

/// Waits until `agent` has a sample of `name` newer than `after`; returns its time.
fn fresh_sample(agent: &Agent, name: &str, after: i128) -> i128 {
    let path = format!("/api/v1.3/containers{name}");
    let v = agent
        .wait_json(&path, Duration::from_secs(10), |v| newest_sample(v) > after)
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let t = newest_sample(&v);
    assert!(t > after, "no sample of {name} after {after}: {v}");
    t
}

/// The host's paths when this is a root test machine with the v1 hierarchies; else `None` (skip).
fn cgroup_host() -> Option<HostPaths> {
    let host = HostPaths::under("/");
    if let Some(why) = cgroup_skip_reason(&host) {
        missing(Need::Root, why);
        return None;
    }
    Some(host)
}

/// Resident set size of `pid` in KiB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn dockerd_killed_and_restarted() {
    if !agent::require_root() {
        return;
    }
    let Some(mut d) = docker::Daemon::private(true) else {
        return;
    };
    d.ensure_busybox().unwrap();
    let pid = std::process::id();
    let before = d
        .run(&[
            "--name",
            &format!("bpfa-e2e-fault-dockerd-a-{pid}"),
            "--network",
            "none",
            docker::BUSYBOX_IMAGE,
            "sleep",
            "600",
        ])
        .unwrap();
    let name_a = format!("/docker/{}", before.id);
    let docker_flag = format!("--docker={}", d.host);
    let a = Agent::launch(&[FAST, &docker_flag, "--event_source=inotify"]).unwrap();
    let has_alias = |v: &Value, n: &str| v["aliases"].as_array().is_some_and(|a| a[0] == n);
    let path_a = format!("/api/v1.3/containers{name_a}");
    a.wait_json(&path_a, Duration::from_secs(20), |v| {
        has_alias(v, &before.name)
    })
    .unwrap();

    // SIGKILL: no goodbye on the socket. The live-restore container keeps running under its shim.
    d.kill();
    let t0 = fresh_sample(&a, &name_a, 0);
    sleep(Duration::from_secs(3));
    let during = fresh_sample(&a, &name_a, t0);
    let v = a.get_json(&path_a).unwrap();
    assert!(has_alias(&v, &before.name), "metadata lost: {v}");
    a.assert_healthy();
    let log = a.log();
    let outage = log
        .lines()
        .filter(|l| l.contains("container runtime unavailable") && l.contains(&d.host))
        .count();
    assert_eq!(
        outage, 1,
        "one line for the outage, not one per retry:\n{log}"
    );

    assert!(d.start(true), "private dockerd did not come back");
    let after = d
        .run(&[
            "--name",
            &format!("bpfa-e2e-fault-dockerd-b-{pid}"),
            "--network",
            "none",
            docker::BUSYBOX_IMAGE,
            "sleep",
            "600",
        ])
        .unwrap();
    let path_b = format!("/api/v1.3/containers/docker/{}", after.id);
    a.wait_json(&path_b, Duration::from_secs(30), |v| {
        has_alias(v, &after.name)
    })
    .unwrap_or_else(|e| panic!("no metadata after the restart: {e}\n{}", a.log()));
    fresh_sample(&a, &name_a, during);
    let log = a.log();
    assert!(
        count(&log, "connected to container runtime") >= 2,
        "no reconnect logged:\n{log}"
    );
    a.assert_healthy();
    drop(after);
    drop(before);
}

/// A containerd of the test's own on `dir/containerd.sock`; killed on drop.
struct Containerd(Child);

impl Containerd {
    fn start(dir: &Path) -> Result<Self, String> {
        let cfg = dir.join("config.toml");
        std::fs::write(
            &cfg,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("containerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .arg("--address")
            .arg(dir.join("containerd.sock"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("containerd: {e}"))?;
        Ok(Self(child))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SAFETY: signalling our own unreaped child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn containerd_down_at_start() {
    if !agent::require_root() {
        return;
    }
    if !have("containerd") {
        return missing(Need::Docker, "containerd is not installed");
    }
    // Short socket path: sun_path holds 108 bytes.
    let dir = tempfile::Builder::new()
        .prefix("bpfa-ctrd")
        .tempdir_in("/tmp")
        .unwrap();
    let sock = dir.path().join("containerd.sock");
    let flag = format!("--containerd={}", sock.display());
    let a = Agent::launch(&[FAST, &flag, "--event_source=inotify"]).unwrap();
    let t0 = fresh_sample(&a, "/", 0);
    // Several retries (250 ms, 500 ms, 1 s, ...) while it is away.
    sleep(Duration::from_secs(3));
    let t1 = fresh_sample(&a, "/", t0);
    a.assert_healthy();
    let log = a.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("container runtime unavailable") && l.contains("Containerd"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for the outage:\n{log}");
    assert!(
        lines[0].contains(&sock.display().to_string()),
        "the line names the endpoint: {}",
        lines[0]
    );

    let _ctrd = Containerd::start(dir.path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&a.log(), "connected to containerd") == 0 {
        assert!(
            Instant::now() < deadline,
            "did not connect once containerd came up:\n{}",
            a.log()
        );
        sleep(Duration::from_millis(200));
    }
    fresh_sample(&a, "/", t1);
    a.assert_healthy();
}

#[test]
fn ebpf_unavailable_at_start() {
    let Some(host) = cgroup_host() else {
        return;
    };
    if !have("setpriv") {
        return missing(Need::Tool, "setpriv (util-linux) is not installed");
    }
    // Without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (bounding and inheritable sets, so the exec'd
    // root process never gets them), loading the probes fails.
    let drop_caps = "-bpf,-perfmon,-sys_admin";
    let wrapper = [
        "setpriv",
        "--inh-caps",
        drop_caps,
        "--bounding-set",
        drop_caps,
        "--",
    ];
    let a = Agent::start_wrapped(&wrapper, &[FAST, "--event_source=auto"])
        .unwrap_or_else(|e| panic!("did not start without eBPF: {}", e.log));
    let events = a
        .events("/", "creation_events=true&subcontainers=true")
        .unwrap();
    let name = format!("/bpfa-fault-noebpf-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    let seen = events
        .collect_until(Duration::from_secs(10), |evs| {
            evs.iter().any(|e| e["container_name"] == name.as_str())
        })
        .unwrap();
    assert!(
        seen.iter().any(|e| e["container_name"] == name.as_str()),
        "no creation event from the fallback: {seen:?}\n{}",
        a.log()
    );
    fresh_sample(&a, &name, 0);
    a.assert_healthy();
    let log = a.log();
    assert_eq!(
        count(&log, "eBPF probes unavailable; using the inotify fallback"),
        1,
        "{log}"
    );
    let (_, validate) = a.get("/validate/");
    assert!(validate.contains("Event source: inotify"), "{validate}");
}

#[test]
fn cgroups_vanishing_mid_read() {
    let Some(host) = cgroup_host() else {
        return;
    };
    let a = Agent::launch(&["--housekeeping_interval=100ms", "--event_source=inotify"]).unwrap();
    let pid = std::process::id();
    let keeper = format!("/bpfa-fault-keep-{pid}");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&keeper).unwrap();
    tree.spawn(&keeper, "sleep 600").unwrap();
    let t0 = fresh_sample(&a, &keeper, 0);
    let log_before = a.log().lines().count();

    // Hundreds of cgroups each living a few ms, while clients read everything.
    let churn = std::thread::spawn({
        let host = host.clone();
        move || {
            let mut made = 0;
            let stop = Instant::now() + Duration::from_secs(8);
            let mut i = 0;
            while Instant::now() < stop {
                let mut t = CgroupTree::new(&host);
                for k in 0..20 {
                    if t.mkdir(&format!("/bpfa-fault-churn-{pid}-{i}-{k}")).is_ok() {
                        made += 1;
                    }
                }
                sleep(Duration::from_millis(30 * (i % 4)));
                drop(t);
                i += 1;
            }
            made
        }
    });
    while !churn.is_finished() {
        assert_eq!(a.get("/api/v1.3/subcontainers/").0, 200);
        assert_eq!(a.get("/metrics").0, 200);
        assert_eq!(
            a.get("/api/v2.0/stats?type=name&recursive=true&count=1").0,
            200
        );
    }
    let made = churn.join().unwrap();
    assert!(made > 200, "only {made} cgroups made");

    let t1 = fresh_sample(&a, &keeper, t0);
    let info = a
        .get_json(&format!("/api/v1.3/containers{keeper}"))
        .unwrap();
    let last = &info["stats"].as_array().unwrap().last().unwrap().clone();
    assert!(last["memory"]["usage"].as_u64().unwrap_or(0) > 0, "{last}");
    assert!(last["cpu"]["usage"]["total"].as_u64().is_some(), "{last}");
    // Every churned cgroup is gone from the agent too.
    let subs = a
        .wait_json("/api/v1.3/subcontainers/", Duration::from_secs(10), |v| {
            !v.to_string().contains("bpfa-fault-churn")
        })
        .unwrap();
    assert!(!subs.to_string().contains("bpfa-fault-churn"));
    fresh_sample(&a, &keeper, t1);
    a.assert_healthy();
    // A vanished cgroup is a value, not an error: nothing to say about it.
    let log = a.log();
    let new: Vec<&str> = log
        .lines()
        .skip(log_before)
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(
        new.len() <= 1,
        "noise while cgroups vanished:\n{}",
        new.join("\n")
    );
}

/// A TCP connection to `addr` (`127.0.0.1:port`) whose receive buffer is as small as the kernel
/// allows, set before connecting so the window stays small: what the agent writes to a client that
/// never reads then backs up into the agent within a few KiB instead of megabytes.
fn connect_small_rcvbuf(addr: &str) -> TcpStream {
    use std::os::fd::FromRawFd;
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    // SAFETY: plain socket calls on a descriptor this function owns until handed to TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let size: libc::c_int = 1024;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const size).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            fd,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

#[test]
fn stalled_event_stream_client() {
    let Some(host) = cgroup_host() else {
        return;
    };
    let a = Agent::launch(&[FAST, "--event_source=inotify"]).unwrap();
    let pid = std::process::id();

    // Opens a stream of everything and never reads a byte of the answer.
    let addr = a.base.trim_start_matches("http://").to_string();
    let mut stalled = connect_small_rcvbuf(&addr);
    write!(
        stalled,
        "GET /api/v1.3/events?stream=true&all_events=true&subcontainers=true HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    stalled.flush().unwrap();
    sleep(Duration::from_millis(300));
    let rss0 = rss_kb(a.pid());

    let prefix = format!("/bpfa-fault-stall-{pid}");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&prefix).unwrap();
    let live = a
        .events(
            &prefix,
            "creation_events=true&deletion_events=true&subcontainers=true",
        )
        .unwrap();
    // 30 000 events (~7 MB of stream): more than the kernel buffers of the stalled connection hold
    // (the agent's send buffer grows to 4 MiB), so it backs up into the agent. Made in the memory
    // hierarchy alone, to be quick.
    let memory = host
        .cgroup
        .join("memory")
        .join(prefix.trim_start_matches('/'));
    let rounds = 300;
    let per = 50;
    for r in 0..rounds {
        let dirs: Vec<_> = (0..per).map(|k| memory.join(format!("c{r}-{k}"))).collect();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
        }
        sleep(Duration::from_millis(10));
        for d in &dirs {
            std::fs::remove_dir(d).unwrap();
        }
    }
    let want = 2 * rounds * per;
    let got = live
        .collect_until(Duration::from_secs(30), |evs| evs.len() >= want)
        .unwrap();
    assert_eq!(
        got.len(),
        want,
        "the reading client lost events\n{}",
        a.log()
    );
    let t0 = fresh_sample(&a, &prefix, 0);
    fresh_sample(&a, &prefix, t0);
    a.assert_healthy();
    let rss1 = rss_kb(a.pid());
    assert!(
        rss1 < rss0 + 64 * 1024,
        "memory grew from {rss0} KiB to {rss1} KiB behind the stalled client"
    );
    // Once the stalled client goes, one line says what it lost.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&a.log(), "fell behind") == 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    let log = a.log();
    assert_eq!(
        count(&log, "fell behind"),
        1,
        "one line for the stalled client:\n{log}"
    );
    a.assert_healthy();
}

#[test]
fn nofile_limit_far_below_container_count() {
    let Some(host) = cgroup_host() else {
        return;
    };
    if !have("prlimit") || !have("setpriv") {
        return missing(
            Need::Tool,
            "prlimit and setpriv (util-linux) are not installed",
        );
    }
    // Soft and hard 128, and no CAP_SYS_RESOURCE to raise them back.
    let wrapper = [
        "prlimit",
        "--nofile=128:128",
        "--",
        "setpriv",
        "--inh-caps",
        "-sys_resource",
        "--bounding-set",
        "-sys_resource",
        "--",
    ];
    let a = Agent::start_wrapped(&wrapper, &[FAST, "--event_source=inotify"])
        .unwrap_or_else(|e| panic!("did not start: {}", e.log));
    let pid = std::process::id();
    let parent = format!("/bpfa-fault-nofile-{pid}");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&parent).unwrap();
    let n = 300;
    for i in 0..n {
        tree.mkdir(&format!("{parent}/c{i}")).unwrap();
    }
    let want = n;
    let listed = |v: &Value| v["subcontainers"].as_array().map_or(0, |s| s.len());
    let v = a
        .wait_json(
            &format!("/api/v1.3/containers{parent}"),
            Duration::from_secs(30),
            |v| listed(v) == want,
        )
        .unwrap();
    assert_eq!(listed(&v), want, "{}", a.log());
    // Every one sampled, repeatedly.
    for i in [0, n / 2, n - 1] {
        let name = format!("{parent}/c{i}");
        let t = fresh_sample(&a, &name, 0);
        fresh_sample(&a, &name, t);
    }
    for _ in 0..20 {
        assert_eq!(a.get("/metrics").0, 200);
    }
    a.assert_healthy();
    drop(tree);
    // Recovers: after the flood, a new cgroup is found and sampled.
    let mut again = CgroupTree::new(&host);
    let late = format!("/bpfa-fault-nofile-late-{pid}");
    again.mkdir(&late).unwrap();
    fresh_sample(&a, &late, 0);
    a.assert_healthy();
    let log = a.log();
    assert_eq!(count(&log, "file descriptor limit is low"), 1, "{log}");
    assert_eq!(count(&log, "Too many open files"), 0, "{log}");
}

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("bpfa-full")
            .tempdir()
            .ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn full_disk_under_the_log() {
    let Some(host) = cgroup_host() else {
        return;
    };
    let Some(fs) = Tmpfs::mount("64k") else {
        return missing(Need::Tool, "cannot mount a tmpfs");
    };
    let log_path = fs.0.path().join("agent.log");
    // Full from the start: the filler takes all but a few hundred bytes.
    let filler = fs.0.path().join("filler");
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", filler.display()))
        .args(["bs=1k", "count=1000"])
        .stderr(Stdio::null())
        .status();
    let script = format!("exec \"$0\" \"$@\" 2>>{}", log_path.display());
    let wrapper = ["sh", "-c", script.as_str()];
    // Debug level: a line for nearly everything it does.
    let a = Agent::start_wrapped(
        &wrapper,
        &[FAST, "--event_source=inotify", "--log_level=debug"],
    )
    .unwrap_or_else(|e| panic!("did not start with its log on a full disk: {}", e.log));
    let name = format!("/bpfa-fault-fulllog-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    let t0 = fresh_sample(&a, &name, 0);
    for _ in 0..50 {
        a.get("/api/v1.3/no-such-container");
        assert_eq!(a.get("/metrics").0, 200);
    }
    let t1 = fresh_sample(&a, &name, t0);
    assert_eq!(a.get("/healthz").0, 200);

    // Space again: logging resumes (the shutdown lines), led by one line saying what was lost.
    std::fs::remove_file(&filler).unwrap();
    fresh_sample(&a, &name, t1);
    assert_eq!(a.get("/healthz").0, 200);
    let mut a = a;
    a.terminate(Duration::from_secs(20)).unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        count(&log, "log lines lost: writing the log failed"),
        1,
        "{log}"
    );
    assert!(
        log.lines()
            .next()
            .is_some_and(|l| l.contains("log lines lost")),
        "{log}"
    );
    assert!(log.contains("shut down"), "{log}");
    drop(a);
    drop(fs);
}
