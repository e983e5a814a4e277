//! The opt-in eBPF signal kinds end to end, as root: the real binary with one kind enabled, a test
//! cgroup (every v1 hierarchy plus the unified one, as runc makes them) running a workload, and the
//! container's series on `/metrics` checked against what the kernel itself counts:
//! - `process_lifecycle`: 1000 fork+exec of `/bin/true` are 1000 starts and 1000 exits;
//! - `runqueue`: three busy loops pinned to one CPU; the wait sum equals the tasks'
//!   `<proc>/<pid>/schedstat` run delays (2nd field) within 10%;
//! - `tcp_retrans`: a transfer over `lo` of a network namespace with `tc netem` loss (an iptables
//!   random drop where the kernel has no netem); the retransmits equal the namespace's
//!   `RetransSegs` (`/proc/net/snmp`);
//! - `reclaim`: writing 256 MiB through a 32 MiB memory limit stalls the writer in reclaim (> 0 s).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, Need, cgroup_skip_reason, metric_value, missing};
use bpfadvisor::host::HostPaths;

/// Starts the agent with `kind` on and fixed 1 s housekeeping; `None` (after [`missing`]) when the
/// kind could not attach here.
fn agent_with(kind: &str) -> Option<Agent> {
    let host = HostPaths::local();
    if let Some(why) = cgroup_skip_reason(&host) {
        missing(Need::Root, why);
        return None;
    }
    if !host.cgroup.join("unified/cgroup.procs").exists() {
        missing(Need::Root, "needs the unified (cgroup2) hierarchy");
        return None;
    }
    let agent = Agent::launch(&[
        &format!("--enable_metrics={kind}"),
        "--allow_dynamic_housekeeping=false",
        "--housekeeping_interval=1s",
        // Only our cgroups (and runtimes' containers): others' benchmarks may hold thousands of
        // raw cgroups on this machine.
        "--docker_only=true",
        "--raw_cgroup_prefix_whitelist=/bpfadvisor-signals-",
    ])?;
    let (_, validate) = agent.get("/validate/");
    let line = validate
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{kind}:")))
        .unwrap_or_else(|| panic!("/validate/ does not list {kind}:\n{validate}"))
        .trim()
        .to_string();
    if line != format!("{kind}: attached") {
        missing(Need::Ebpf, &line);
        return None;
    }
    assert!(
        agent.log().contains("eBPF signal kinds attached"),
        "{}",
        agent.log()
    );
    Some(agent)
}

/// Polls `/metrics` until `family` of container `name` satisfies `done` (within `limit`); the last
/// value seen.
fn wait_value(
    agent: &Agent,
    family: &str,
    name: &str,
    limit: Duration,
    done: impl Fn(f64) -> bool,
) -> Option<f64> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        let (_, text) = agent.get("/metrics");
        last = metric_value(&text, family, name);
        if last.is_some_and(&done) {
            break;
        }
        sleep(Duration::from_millis(250));
    }
    last
}

/// Waits until `family` of `name` stops changing over three samples; its value.
fn settled(agent: &Agent, family: &str, name: &str) -> f64 {
    let mut last = wait_value(agent, family, name, Duration::from_secs(30), |_| true)
        .unwrap_or_else(|| {
            let (_, text) = agent.get("/metrics");
            let ours: Vec<&str> = text.lines().filter(|l| l.contains(name)).take(5).collect();
            panic!("{family} of {name} not exported: {ours:?}\n{}", agent.log())
        });
    let mut same = 0;
    for _ in 0..60 {
        sleep(Duration::from_millis(1100));
        let now = wait_value(agent, family, name, Duration::from_secs(30), |_| true)
            .unwrap_or_else(|| panic!("{family} of {name} no longer exported"));
        if now == last {
            same += 1;
            if same == 3 {
                break;
            }
        } else {
            same = 0;
            last = now;
        }
    }
    last
}

fn test_name(kind: &str) -> String {
    format!("/bpfadvisor-signals-{kind}-{}", std::process::id())
}

#[test]
fn process_lifecycle_counts_each_forked_process_once() {
    let Some(agent) = agent_with("process_lifecycle") else {
        return;
    };
    let host = HostPaths::local();
    let name = test_name("procs");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("go");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success(),
        "mkfifo"
    );
    // `read`, `[` and `$((...))` are shell builtins: after the go, exactly 1000 forks.
    tree.spawn(
        &name,
        &format!(
            "read x < {f}; i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; exec sleep 600",
            f = fifo.display()
        ),
    )
    .unwrap();
    let started0 = settled(&agent, "container_processes_started_total", &name);
    let exited0 = settled(&agent, "container_processes_exited_total", &name);
    fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    let started = settled(&agent, "container_processes_started_total", &name);
    let exited = settled(&agent, "container_processes_exited_total", &name);
    assert_eq!(
        started - started0,
        1000.0,
        "starts ({started0} → {started})"
    );
    assert_eq!(exited - exited0, 1000.0, "exits ({exited0} → {exited})");
    agent.assert_healthy();
}

/// Sum of the run delays (`<proc>/<pid>/schedstat` field 2, ns) of every thread in `dir`.
fn schedstat_wait_ns(proc: &Path, dir: &Path) -> u64 {
    fs::read_to_string(dir.join("cgroup.threads"))
        .unwrap_or_default()
        .lines()
        .filter_map(|tid| fs::read_to_string(proc.join(tid.trim()).join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[test]
fn runqueue_wait_matches_the_tasks_schedstat_run_delay() {
    let Some(agent) = agent_with("runqueue") else {
        return;
    };
    let host = HostPaths::local();
    let name = test_name("runq");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    // Three busy loops on CPU 0: each waits about two thirds of the time.
    let loop_ = "taskset -c 0 sh -c 'while :; do :; done' &";
    let shell = tree
        .spawn(&name, &format!("{loop_} {loop_} {loop_} wait"))
        .unwrap();
    let unified = tree.dir("unified", &name);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(unified.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .count()
        < 4
    {
        assert!(Instant::now() < deadline, "busy loops did not start");
        sleep(Duration::from_millis(50));
    }
    let members: Vec<i32> = fs::read_to_string(unified.join("cgroup.procs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p| *p != shell as i32)
        .collect();
    let signal = |sig: i32| {
        for pid in &members {
            // SAFETY: kill(2) on a test process of our own cgroup.
            unsafe { libc::kill(*pid, sig) };
        }
        sleep(Duration::from_millis(200));
    };
    // Stopped tasks do not wait: compare what both counted between two stops, so the short-lived
    // processes of the set-up (counted by us, gone from /proc) stay out.
    signal(libc::SIGSTOP);
    let kernel0 = schedstat_wait_ns(&host.proc, &unified) as f64;
    let ours0 = settled(&agent, "container_cpu_runqueue_wait_seconds_sum", &name) * 1e9;
    signal(libc::SIGCONT);
    sleep(Duration::from_secs(4));
    signal(libc::SIGSTOP);
    let kernel_ns = schedstat_wait_ns(&host.proc, &unified) as f64 - kernel0;
    let ours = settled(&agent, "container_cpu_runqueue_wait_seconds_sum", &name) * 1e9 - ours0;
    let count = settled(&agent, "container_cpu_runqueue_wait_seconds_count", &name);
    signal(libc::SIGCONT);
    eprintln!(
        "run-queue wait over 4 s: ours {:.3} s ({count} waits in all), schedstat {:.3} s",
        ours / 1e9,
        kernel_ns / 1e9
    );
    assert!(kernel_ns > 1e9, "the loops barely waited: {kernel_ns} ns");
    let off = (ours - kernel_ns).abs() / kernel_ns;
    assert!(
        off < 0.10,
        "run-queue wait {ours} ns vs schedstat {kernel_ns} ns ({:.1}% off)",
        off * 100.0
    );
    let (_, text) = agent.get("/metrics");
    assert!(
        text.contains("# TYPE container_cpu_runqueue_wait_seconds histogram"),
        "no histogram TYPE line"
    );
    // Other containers (a runtime's) may add base labels: match the two that matter.
    let id = format!("id=\"{name}\"");
    assert!(
        text.lines().any(
            |l| l.starts_with("container_cpu_runqueue_wait_seconds_bucket{")
                && l.contains(&id)
                && l.contains("le=\"+Inf\"")
        ),
        "no +Inf bucket"
    );
    agent.assert_healthy();
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Result<Self, String> {
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            out.status
                .success()
                .then_some(())
                .ok_or_else(|| format!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
        };
        ip(&["netns", "add", name])?;
        let ns = Self(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Loses 5% of the TCP packets on the namespace's `lo`: `tc netem`, or where the kernel has no
    /// netem (this development VM's), an iptables random drop on input (a drop on output is a
    /// local send error that TCP retries without counting a retransmit). `false` when neither works.
    fn drop_some_tcp(&self) -> bool {
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(["netns", "exec", &self.0])
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        ok(&[
            "tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", "5%",
        ]) || ok(&[
            "iptables",
            "-A",
            "INPUT",
            "-i",
            "lo",
            "-p",
            "tcp",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.05",
            "-j",
            "DROP",
        ])
    }

    /// `RetransSegs` of the namespace (`/proc/net/snmp`, the `Tcp:` value line).
    fn retrans_segs(&self) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "cat", "/proc/net/snmp"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
        let (head, vals) = (tcp.next().unwrap(), tcp.next().unwrap());
        let i = head
            .split_whitespace()
            .position(|h| h == "RetransSegs")
            .unwrap();
        vals.split_whitespace().nth(i).unwrap().parse().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Sends 32 MiB to itself over loopback: a server thread and a client socket, one process.
const TRANSFER: &str = r#"
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def serve():
    c, _ = srv.accept()
    while c.recv(65536): pass
    c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection(srv.getsockname())
cl.sendall(b"x" * (32 << 20)); cl.close(); t.join()
open(__import__("sys").argv[1], "w").write("done")
"#;

#[test]
fn tcp_retransmits_match_the_namespace_retrans_segs() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        return missing(Need::Tool, "needs /usr/bin/python3 for the TCP transfer");
    }
    if Command::new("tc")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return missing(Need::Tool, "needs tc (iproute2)");
    }
    let Some(agent) = agent_with("tcp_retrans") else {
        return;
    };
    let host = HostPaths::local();
    let name = test_name("tcp");
    let ns = Netns::new(&format!("bpfadv-sig-{}", std::process::id())).unwrap();
    if !ns.drop_some_tcp() {
        return missing(
            Need::Tool,
            "neither tc netem (sch_netem) nor iptables' statistic match can drop packets here",
        );
    }
    let before = ns.retrans_segs();
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("transfer.py");
    let done = dir.path().join("done");
    fs::write(&script, TRANSFER).unwrap();
    tree.spawn(
        &name,
        &format!(
            "ip netns exec {ns} {py} {s} {d}; exec sleep 600",
            ns = ns.0,
            py = python.display(),
            s = script.display(),
            d = done.display()
        ),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.exists() {
        assert!(Instant::now() < deadline, "transfer did not finish");
        sleep(Duration::from_millis(100));
    }
    // Closed sockets may still retransmit their FIN: wait for the namespace's count to settle.
    let mut kernel = ns.retrans_segs();
    loop {
        sleep(Duration::from_secs(2));
        let now = ns.retrans_segs();
        if now == kernel {
            break;
        }
        kernel = now;
    }
    let kernel = kernel - before;
    let ours = settled(&agent, "container_network_tcp_retransmits_total", &name);
    eprintln!("retransmits: ours {ours}, RetransSegs {kernel}");
    assert!(kernel > 0, "the packet loss caused no retransmit");
    assert_eq!(ours, kernel as f64, "ours vs the namespace's RetransSegs");
    agent.assert_healthy();
}

#[test]
fn reclaim_stall_is_reported_for_a_memory_limited_cgroup() {
    let Some(agent) = agent_with("reclaim") else {
        return;
    };
    let host = HostPaths::local();
    let name = test_name("reclaim");
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    tree.write("memory", &name, "memory.limit_in_bytes", "33554432")
        .unwrap();
    // A disk-backed file (the build directory): its page cache is charged to the writer and must
    // be reclaimed to stay under the limit.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("fill");
    let done = dir.path().join("done");
    tree.spawn(
        &name,
        &format!(
            "dd if=/dev/zero of={f} bs=1M count=256 2>/dev/null; : > {d}; exec sleep 600",
            f = file.display(),
            d = done.display()
        ),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.exists() {
        assert!(Instant::now() < deadline, "dd did not finish");
        sleep(Duration::from_millis(100));
    }
    let stall = wait_value(
        &agent,
        "container_memory_reclaim_stall_seconds_total",
        &name,
        Duration::from_secs(20),
        |v| v > 0.0,
    );
    eprintln!("reclaim stall: {stall:?} s");
    assert!(stall.is_some_and(|v| v > 0.0), "no reclaim time: {stall:?}");
    agent.assert_healthy();
}
