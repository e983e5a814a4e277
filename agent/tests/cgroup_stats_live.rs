//! Live test as root on a v1/hybrid host of the stats behind flags and off-by-default kinds:
//! taskstats task counts and load averages (`--enable_load_reader`), referenced memory with
//! `--referenced_reset_interval`, and advanced TCP counters of a member's own network namespace.
//! Self-skips without root, the v1 `cpu` hierarchy or `unshare`; the guard kills the processes and
//! removes the cgroups on drop.
//! A second test runs the real binary with the flags and reads the values back from the REST API
//! and `/metrics`.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, cgroup_skip_reason};
use bpfadvisor::cgroup::taskstats::{LoadReader, TaskstatsError};
use bpfadvisor::cgroup::{ContainerReader, Layout};
use bpfadvisor::config::{MetricKinds, ReaderOptions};
use bpfadvisor::host::HostPaths;
use bpfadvisor::model::v1::{ContainerStats, LoadStats};

const CONTROLLERS: [&str; 3] = ["cpu", "cpuacct", "memory"];

/// Owns the test cgroup and its processes; leaves the host as it was.
struct TestCgroup {
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl TestCgroup {
    fn create(host: &HostPaths, name: &str) -> Self {
        let mut dirs: Vec<PathBuf> = CONTROLLERS
            .iter()
            .map(|c| host.cgroup.join(c).join(name))
            .collect();
        let unified = host.cgroup.join("unified");
        if unified.join("cgroup.procs").exists() {
            dirs.push(unified.join(name));
        }
        for d in &dirs {
            fs::create_dir(d).unwrap();
        }
        Self {
            dirs,
            children: Vec::new(),
        }
    }

    /// Runs `script` once the shell is inside the cgroup (children forked earlier would stay out).
    /// Its stdin is a pipe kept open and never written: reading it is a plain interruptible sleep.
    fn spawn(&mut self, name: &str, script: &str) -> u32 {
        let script = format!("until grep -q {name} /proc/$$/cgroup; do sleep 0.01; done; {script}");
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        for d in &self.dirs {
            fs::write(d.join("cgroup.procs"), pid.to_string()).unwrap();
        }
        pid
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            // rmdir fails with EBUSY until the killed tasks (and their children) are gone.
            for _ in 0..100 {
                if let Ok(pids) = fs::read_to_string(d.join("cgroup.procs")) {
                    for p in pids.split_whitespace() {
                        // SAFETY: kill(2) on a pid of our own test cgroup.
                        unsafe { libc::kill(p.parse().unwrap_or(0), libc::SIGKILL) };
                    }
                }
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                sleep(Duration::from_millis(20));
            }
        }
    }
}

fn skip_reason(host: &HostPaths) -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root");
    }
    if !CONTROLLERS
        .iter()
        .all(|c| host.cgroup.join(c).join("cgroup.procs").exists())
    {
        return Some("needs the v1 cpu, cpuacct and memory hierarchies");
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return Some("needs unshare");
    }
    None
}

/// Samples until `done` holds, for at most 30 seconds (the machine is shared and busy).
fn sample_until(
    r: &mut ContainerReader,
    kinds: &MetricKinds,
    done: impl Fn(&ContainerStats) -> bool,
) -> ContainerStats {
    let t0 = Instant::now();
    loop {
        let s = r.read_stats(kinds).unwrap();
        if done(&s) || t0.elapsed() > Duration::from_secs(30) {
            return s;
        }
        sleep(Duration::from_millis(100));
    }
}

/// Waits until `pid` has left our network namespace (the reader caches a pid's namespace status).
fn wait_own_netns(host: &HostPaths, pid: u32) {
    let ns = |p: &str| fs::read_link(host.proc.join(p).join("ns/net")).ok();
    let t0 = Instant::now();
    while ns(&pid.to_string()) == ns("self") && t0.elapsed() < Duration::from_secs(30) {
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn live_load_referenced_and_advtcp() {
    let host = HostPaths::local();
    if let Some(reason) = skip_reason(&host) {
        agent::missing(agent::Need::Root, reason);
        return;
    }
    let name = format!("bpfadvisor-stats-{}", std::process::id());
    let mut cg = TestCgroup::create(&host, &name);
    // Sleepers block reading their stdin pipe. Not `sleep`: since 6.1 nanosleep and futex waits
    // are TASK_INTERRUPTIBLE|TASK_FREEZABLE, a state the kernel's cgroupstats does not count.
    // A sleeper in a network namespace of its own, named as the container's pid (as a runtime
    // would) so advtcp reads that namespace.
    let netns_pid = cg.spawn(&name, "exec unshare -n cat");
    wait_own_netns(&host, netns_pid);
    // A shell holding 8 MB it touched once.
    cg.spawn(
        &name,
        "x=$(head -c 8000000 /dev/zero | tr '\\0' a); read y; echo ${#x}",
    );
    cg.spawn(&name, "exec cat");
    cg.spawn(&name, "exec cat");
    cg.spawn(&name, "while :; do :; done");

    let layout = Layout::detect(&host).unwrap();
    let mut r = ContainerReader::new(&layout, &host, &format!("/{name}")).unwrap();
    r.set_pid(Some(netns_pid));
    let kinds = MetricKinds::from_flags("cpu,memory,cpuLoad,referenced_memory,advtcp", "")
        .unwrap()
        .with_readers(ReaderOptions {
            load_reader: true,
            housekeeping_interval: Duration::from_secs(1),
            referenced_reset_interval: 0,
        });

    // Task counts: 4 sleeping (three `cat`s and the shell), 1 running.
    let want = LoadStats {
        nr_sleeping: 4,
        nr_running: 1,
        ..LoadStats::default()
    };
    let s = sample_until(&mut r, &kinds, |s| {
        *s.task_stats == want && s.referenced_memory >= 8_000_000
    });
    assert_eq!(*s.task_stats, want);
    // A new reader's first sample initialises the averages: exactly the counts × 1000.
    let mut fresh = ContainerReader::new(&layout, &host, &format!("/{name}")).unwrap();
    let f = sample_until(&mut fresh, &kinds, |s| *s.task_stats == want);
    assert_eq!(*f.task_stats, want);
    assert_eq!((f.cpu.load_average, f.cpu.load_d_average), (1000, 0));

    // Referenced memory: the 8 MB the shell touched, and no reset with an interval of 0.
    let before = s.referenced_memory;
    assert!(before >= 8_000_000, "referenced {before}");
    let again = r.read_stats(&kinds).unwrap().referenced_memory;
    assert!(again >= 8_000_000, "referenced without reset {again}");

    // Advanced TCP from the fresh namespace: kernel constants, and no connections yet.
    let adv = &s.network.tcp_advanced;
    assert_eq!(adv.rto_algorithm, 1);
    assert_eq!(adv.rto_min, 200);
    assert_eq!(adv.rto_max, 120_000);
    assert_eq!(adv.max_conn, -1);
    assert_eq!(adv.active_opens, 0);
    assert_eq!(adv.in_segs, 0);

    // With a reset every sample the next figure counts only what was touched since the reset.
    let reset_each = kinds.clone().with_readers(ReaderOptions {
        referenced_reset_interval: 1,
        ..*kinds.readers()
    });
    let first = r.read_stats(&reset_each).unwrap().referenced_memory;
    assert!(first >= 8_000_000, "referenced before reset {first}");
    sleep(Duration::from_millis(200));
    let after = r.read_stats(&reset_each).unwrap().referenced_memory;
    assert!(
        after < first / 2,
        "referenced after reset {after} vs {first}"
    );

    // cgroup2 directories: the kernel answers taskstats only for v1 hierarchies.
    let unified = host.cgroup.join("unified").join(&name);
    if unified.is_dir() {
        match LoadReader::new(&unified, Duration::from_secs(1)).read() {
            Err(TaskstatsError::Kernel { source, .. }) => {
                assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
            }
            other => panic!("cgroup2 taskstats answered: {other:?}"),
        }
    }
}

/// The value of the series of `family` for cgroup `id` whose labels contain `extra`.
fn series(metrics: &str, family: &str, id: &str, extra: &str) -> Option<f64> {
    let id_label = format!("id=\"{id}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .find(|l| l.contains(&id_label) && l.contains(extra))
        .and_then(|l| l.rsplit('}').next())
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn agent_reports_load_referenced_and_advtcp() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        agent::missing(agent::Need::Root, reason);
        return;
    }
    let name = format!("/bpfadvisor-stats-e2e-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    // Every member in one new network namespace: a raw cgroup's network comes from whichever
    // member is listed first.
    let pid = tree
        .spawn(
            &name,
            "exec unshare -n sh -c 'sleep 120 & while :; do :; done'",
        )
        .unwrap();
    wait_own_netns(&host, pid);
    let Some(agent) = Agent::launch(&[
        "--enable_load_reader",
        "--enable_metrics=cpu,memory,cpuLoad,referenced_memory,advtcp",
        "--event_source=inotify",
        // Only the root and this cgroup: others' test cgroups (a thousand during a benchmark)
        // would make /metrics large and slow, and their processes are none of our business.
        "--docker_only",
        &format!("--raw_cgroup_prefix_whitelist={name}"),
    ]) else {
        return;
    };

    let t0 = Instant::now();
    let (stats, (code, metrics)) = loop {
        let v = agent
            .get_json(&format!("/api/v1.3/containers{name}"))
            .unwrap_or_default();
        let last = v["stats"].as_array().and_then(|a| a.last()).cloned();
        let (code, metrics) = agent.get("/metrics");
        let ready = last.as_ref().is_some_and(|s| {
            s["task_stats"]["nr_running"].as_u64().unwrap_or(0) >= 1
                && s["referenced_memory"].as_u64().unwrap_or(0) > 0
                && s["network"]["tcp_advanced"]["RtoMin"] == 200
        });
        if (ready && metrics.contains(&name)) || t0.elapsed() > Duration::from_secs(30) {
            break (last.unwrap_or_default(), (code, metrics));
        }
        sleep(Duration::from_millis(500));
    };
    let log = agent.log();
    assert!(
        stats["task_stats"]["nr_running"].as_u64().unwrap_or(0) >= 1,
        "{stats}\n{log}"
    );
    assert!(
        stats["cpu"]["load_average"].as_i64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert!(
        stats["referenced_memory"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(stats["network"]["tcp_advanced"]["MaxConn"], -1, "{stats}");
    assert_eq!(
        stats["network"]["tcp_advanced"]["ActiveOpens"], 0,
        "{stats}"
    );

    let mine: Vec<&str> = metrics.lines().filter(|l| l.contains(&name)).collect();
    assert!(
        !mine.is_empty(),
        "no series of {name} in /metrics (status {code}, {} bytes):\n{}",
        metrics.len(),
        metrics.chars().take(2000).collect::<String>()
    );
    let m = |family, extra| series(&metrics, family, &name, extra);
    assert!(m("container_tasks_state", "state=\"running\"").unwrap() >= 1.0);
    assert!(m("container_cpu_load_average_10s", "").unwrap() > 0.0);
    assert!(m("container_referenced_bytes", "").unwrap() > 0.0);
    assert_eq!(
        m(
            "container_network_advance_tcp_stats_total",
            "tcp_state=\"rtomin\""
        ),
        Some(200.0)
    );
    agent.assert_healthy();
}
