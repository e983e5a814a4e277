//! Live test as root on a v1/hybrid host: a real cgroup with a busy process and a memory hog.
//! Self-skips without root or without the v1 memory/cpu/cpuacct/pids hierarchies; the guard kills the
//! processes and removes the cgroups on drop.

#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/prereq.rs"]
mod prereq;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use bpfadvisor::cgroup::{ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::host::HostPaths;

const CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// Owns the test cgroup and its processes; leaves the host as it was.
struct TestCgroup {
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
    shm: PathBuf,
}

impl TestCgroup {
    fn create(host: &HostPaths, name: &str) -> Self {
        let mut dirs: Vec<PathBuf> = CONTROLLERS
            .iter()
            .map(|c| host.cgroup.join(c).join(name))
            .collect();
        let unified = host.cgroup.join("unified");
        if unified.join("cgroup.controllers").exists() {
            dirs.push(unified.join(name));
        }
        let g = Self {
            dirs,
            children: Vec::new(),
            shm: host.host_path("/dev/shm").join(name),
        };
        for d in &g.dirs {
            fs::create_dir(d).unwrap();
        }
        g
    }

    fn dir(&self, controller: &str) -> &Path {
        let i = CONTROLLERS.iter().position(|c| *c == controller).unwrap();
        &self.dirs[i]
    }

    /// Runs `script` once the shell is inside the cgroup (children forked earlier would stay out).
    fn spawn(&mut self, name: &str, script: &str) -> u32 {
        let script = format!("until grep -q {name} /proc/$$/cgroup; do sleep 0.01; done; {script}");
        let child = Command::new("sh").arg("-c").arg(script).spawn().unwrap();
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
        let _ = fs::remove_file(&self.shm);
        for d in &self.dirs {
            // rmdir fails with EBUSY until the killed tasks are fully gone.
            for _ in 0..50 {
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
        return Some("needs the v1 memory, cpu, cpuacct and pids hierarchies");
    }
    None
}

/// utime + stime of a process in ns (`<proc>/<pid>/stat` fields 14 and 15, USER_HZ ticks).
fn proc_cpu_ns(host: &HostPaths, pid: u32) -> u64 {
    let stat = fs::read_to_string(host.proc.join(pid.to_string()).join("stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after_comm
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    (f[0] + f[1]) * 10_000_000
}

#[test]
fn live_cgroup_v1() {
    let host = HostPaths::local();
    if let Some(reason) = skip_reason(&host) {
        prereq::missing(prereq::Need::Root, reason);
        return;
    }
    let name = format!("bpfadvisor-live-{}", std::process::id());
    let mut cg = TestCgroup::create(&host, &name);
    fs::write(cg.dir("memory").join("memory.limit_in_bytes"), "268435456").unwrap();
    fs::write(cg.dir("cpu").join("cpu.shares"), "512").unwrap();
    fs::write(cg.dir("cpu").join("cpu.cfs_quota_us"), "80000").unwrap();
    fs::write(cg.dir("pids").join("pids.max"), "50").unwrap();
    let busy = cg.spawn(&name, "while :; do :; done");
    let shm = cg.shm.display().to_string();
    cg.spawn(
        &name,
        &format!("head -c 33554432 /dev/zero > {shm}; exec sleep 60"),
    );

    let layout = Layout::detect(&host).unwrap();
    let cname = format!("/{name}");
    assert!(layout.exists(&cname));
    assert!(layout.list_containers().contains(&cname));
    let mut r = ContainerReader::new(&layout, &host, &cname).unwrap();
    let kinds = MetricKinds::all();

    // Wait for the hog to finish writing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::metadata(&cg.shm).map_or(0, |m| m.len()) < 33554432 && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    let s1 = r.read_stats(&kinds).unwrap();
    let p1 = proc_cpu_ns(&host, busy);
    sleep(Duration::from_millis(1500));
    let s2 = r.read_stats(&kinds).unwrap();
    let p2 = proc_cpu_ns(&host, busy);

    let ours = (s2.cpu.usage.total - s1.cpu.usage.total) as f64;
    let procs = (p2 - p1) as f64;
    assert!(
        (ours - procs).abs() <= procs * 0.10 + 20e6,
        "cgroup cpu delta {ours} vs /proc {procs}"
    );
    assert!(s2.cpu.cfs.periods > s1.cpu.cfs.periods);
    assert!(!s2.cpu.usage.per_cpu.is_empty());

    let file: u64 = fs::read_to_string(cg.dir("memory").join("memory.usage_in_bytes"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let usage = s2.memory.usage as f64;
    assert!(
        (usage - file as f64).abs() <= file as f64 * 0.05,
        "usage {usage} vs file {file}"
    );
    assert!(
        s2.memory.usage >= 32 << 20,
        "hog not charged: {}",
        s2.memory.usage
    );
    assert!(s2.memory.cache >= 32 << 20);
    assert!(s2.memory.working_set <= s2.memory.usage);

    let p = s2.processes.get().unwrap();
    assert_eq!(p.process_count, 2);
    assert_eq!(p.threads_max, 50);
    assert!(p.fd_count >= 2);
    // The hog shares the host's network namespace, so the cgroup reports no network.
    assert!(s2.network.get().is_none());

    let spec = r.read_spec(1 << 40).unwrap();
    assert_eq!(
        (spec.cpu.limit, spec.cpu.quota, spec.cpu.period),
        (512, 80000, 100000)
    );
    assert_eq!(spec.memory.limit, 268435456);
    assert_eq!(spec.processes.limit, 50);
    assert!(spec.has_cpu && spec.has_memory && spec.has_processes && !spec.has_network);
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        - spec.creation_time.as_unix_nanos();
    assert!(
        (0..60_000_000_000).contains(&age),
        "creation_time {age} ns ago"
    );

    // Removed under the reader: a distinct "gone" error, not zeros.
    drop(cg);
    let err = r.read_stats(&kinds).unwrap_err();
    assert!(err.is_gone(), "{err}");
    assert!(!Layout::detect(&host).unwrap().exists(&cname));
}
