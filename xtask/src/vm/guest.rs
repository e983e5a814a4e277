//! The VM test's guest side: `xtask vm-guest` runs inside the booted kernel (started by the
//! initramfs's `/init`, see [`super::INIT`]), builds the cgroups and their work, runs the real agent
//! against them and prints one `VMTEST PASS|FAIL <check> <detail>` line per check on the console.
//!
//! The guest is a pure cgroup v2 host: cgroup2 at `/sys/fs/cgroup` with `nsdelegate`, the `cpu`,
//! `memory`, `io` and `pids` controllers enabled from the root, no systemd, no container runtime.
//! `/dev/kmsg` is removed before the agent starts, so OOM kills can only come from the eBPF probe
//! (first agent) or the memory cgroups' counters (second agent, `--event_source=inotify`).
//!
//! `xtask vm-guest hog <MiB> [hold|victim]` is the workload that allocates memory (see [`hog`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{CAPTURE_DIR, Check};

const CG: &str = "/sys/fs/cgroup";
const BASE: &str = "http://127.0.0.1:8080";
/// The pod's uid as systemd escapes it in a slice name (`-` becomes `_`).
const POD_UID: &str = "8f3c1a2e_5b7d_4c2a_9e61_0d4b2f6a7c10";
const CONTAINER_ID: &str = "3b1e5c0d9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d";
const LATE_ID: &str = "77aa55cc33ee11ff0099887766554433221100ffeeddccbbaa99887766554433";
const INOTIFY_ID: &str = "4242424242424242424242424242424242424242424242424242424242424242";
/// `cpu.max` of the CPU-bound scope: 20 ms per 100 ms, so its two busy loops are throttled.
const CPU_MAX: &str = "20000 100000";
const PIDS_MAX: u64 = 8;
/// `memory.max` of the OOM parent: the victim holds 40 MiB, the allocator asks for 40 more.
const OOM_LIMIT: u64 = 64 << 20;
/// The default disabled metric kinds minus `process`, so `container_threads*` are served.
const DISABLE_METRICS: &str = "--disable_metrics=advtcp,cpu_topology,cpuset,hugetlb,memory_numa,\
                               referenced_memory,resctrl,sched,tcp,udp";

fn slice_path() -> [String; 3] {
    [
        "/kubepods.slice".to_string(),
        "/kubepods.slice/kubepods-burstable.slice".to_string(),
        format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_UID}.slice"),
    ]
}

fn scope(id: &str) -> String {
    format!("{}/cri-containerd-{id}.scope", slice_path()[2])
}

/// Entry point of `xtask vm-guest [...]`.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("hog") => hog(&args[1..]),
        Some(other) => bail!("unknown vm-guest command {other:?}"),
        None => {
            let capture = fs::read_to_string("/proc/cmdline")
                .unwrap_or_default()
                .split_whitespace()
                .any(|w| w == "vmtest.capture=1");
            let mut report = Report::default();
            if let Err(e) = run(&mut report, capture) {
                report.fail(Check::Setup, &format!("{e:#}"));
            }
            println!("VMTEST DONE failed={}", report.failed);
            Ok(())
        }
    }
}

/// Allocates `MiB` mebibytes one at a time, touching every page; with `hold` it then sleeps, with
/// `victim` it also makes itself the OOM killer's favourite first (`oom_score_adj` 1000). A file
/// `/tmp/<comm>.ready` says the allocation is complete.
fn hog(args: &[String]) -> anyhow::Result<()> {
    let mib: usize = args.first().context("hog <MiB> [hold|victim]")?.parse()?;
    let mode = args.get(1).map(String::as_str);
    let hold = matches!(mode, Some("hold" | "victim"));
    if mode == Some("victim") {
        fs::write("/proc/self/oom_score_adj", "1000")?;
    }
    let mut chunks = Vec::with_capacity(mib);
    for _ in 0..mib {
        chunks.push(vec![1u8; 1 << 20]);
    }
    let comm = fs::read_to_string("/proc/self/comm")?;
    fs::write(
        format!("/tmp/{}.ready", comm.trim()),
        chunks.len().to_string(),
    )?;
    if hold {
        std::thread::sleep(Duration::from_secs(3600));
    }
    Ok(())
}

#[derive(Default)]
struct Report {
    failed: bool,
}

impl Report {
    fn pass(&mut self, check: Check, detail: &str) {
        println!("VMTEST PASS {} {detail}", check.name());
    }

    fn fail(&mut self, check: Check, detail: &str) {
        self.failed = true;
        // One line: the host matches on the prefix.
        println!(
            "VMTEST FAIL {} {}",
            check.name(),
            detail.replace('\n', " | ")
        );
    }

    /// Polls `probe` every 500 ms until it returns `Ok` or `limit` passes.
    fn check(
        &mut self,
        check: Check,
        limit: Duration,
        mut probe: impl FnMut() -> Result<String, String>,
    ) -> bool {
        let t0 = Instant::now();
        loop {
            match probe() {
                Ok(detail) => {
                    self.pass(check, &detail);
                    return true;
                }
                Err(why) if t0.elapsed() >= limit => {
                    self.fail(check, &why);
                    return false;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }
}

fn info(msg: &str) {
    println!("VMTEST INFO {msg}");
}

fn run(report: &mut Report, capture: bool) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let _ = fs::remove_file("/dev/kmsg");
    let uname = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    info(&format!("kernel {}", uname.trim()));
    let mut work = Workloads::default();
    build_tree(&mut work)?;
    info(&format!(
        "tree and workloads ready after {:?}",
        t0.elapsed()
    ));
    // A phase that cannot run (its agent does not start) fails; the next one still runs.
    let phases: [(&str, Phase); 3] = [
        ("eBPF", &|r, w| ebpf_phase(r, w, capture)),
        ("fentry", &fentry_phase),
        ("inotify", &|r, _| inotify_phase(r)),
    ];
    for (name, phase) in phases {
        if let Err(e) = phase(report, &mut work) {
            report.fail(Check::Setup, &format!("{name} phase: {e:#}"));
        }
        info(&format!("{name} phase done after {:?}", t0.elapsed()));
    }
    if report.failed {
        for log in [
            "/tmp/agent-ebpf.log",
            "/tmp/agent-fentry.log",
            "/tmp/agent-inotify.log",
        ] {
            let text = fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            for l in tail.into_iter().rev() {
                info(&format!("{log}: {l}"));
            }
        }
    }
    Ok(())
}

type Phase<'a> = &'a dyn Fn(&mut Report, &mut Workloads) -> anyhow::Result<()>;

/// Processes started by the test; killed when dropped (the VM powers off anyway).
#[derive(Default)]
struct Workloads(Vec<Child>);

impl Workloads {
    /// Runs `sh -c <script>` inside cgroup `cg` (moved there before `exec`).
    fn spawn_in(&mut self, cg: &str, script: &str) -> anyhow::Result<u32> {
        let child = spawn_in(cg, script)?;
        let pid = child.id();
        self.0.push(child);
        Ok(pid)
    }
}

impl Drop for Workloads {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_in(cg: &str, script: &str) -> anyhow::Result<Child> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {CG}{cg}/cgroup.procs || exit 1; {script}"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning in {cg}: {script}"))
}

fn cg_write(cg: &str, file: &str, value: &str) -> anyhow::Result<()> {
    let path = format!("{CG}{cg}/{file}");
    fs::write(&path, value).with_context(|| format!("writing {value:?} to {path}"))
}

fn cg_read(cg: &str, file: &str) -> String {
    fs::read_to_string(format!("{CG}{cg}/{file}")).unwrap_or_default()
}

/// A cgroup whose children may use every controller.
fn mk_parent(cg: &str) -> anyhow::Result<()> {
    fs::create_dir_all(format!("{CG}{cg}"))?;
    cg_write(cg, "cgroup.subtree_control", "+cpu +memory +io +pids")
}

fn build_tree(work: &mut Workloads) -> anyhow::Result<()> {
    for s in slice_path() {
        mk_parent(&s)?;
    }
    let pod = scope(CONTAINER_ID);
    fs::create_dir(format!("{CG}{pod}"))?;
    cg_write(&pod, "cpu.max", CPU_MAX)?;
    cg_write(&pod, "memory.max", &(256u64 << 20).to_string())?;
    cg_write(&pod, "pids.max", "64")?;
    // Real block I/O on a RAM disk, charged to the scope: 4 MiB read, 2 MiB written, direct.
    // Two busy loops, throttled by `cpu.max`.
    let io = Path::new("/dev/ram0").exists();
    let dd = if io {
        "dd if=/dev/ram0 of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; \
         dd if=/dev/zero of=/dev/ram0 bs=64k count=32 oflag=direct 2>/dev/null; "
    } else {
        ""
    };
    work.spawn_in(&pod, &format!("{dd}while :; do :; done"))?;
    work.spawn_in(&pod, "while :; do :; done")?;
    // Memory the scope holds (anonymous, so it counts in the working set).
    work.spawn_in(&pod, "exec /bin/xtask vm-guest hog 8 hold")?;

    // Leaves hold processes; only parents get controllers for their children (cgroup v2's
    // no-internal-processes rule).
    let pids = "/vmtest-pids";
    fs::create_dir(format!("{CG}{pids}"))?;
    cg_write(pids, "pids.max", &PIDS_MAX.to_string())?;
    work.spawn_in(pids, "sleep 3600 & sleep 3600 & exec sleep 3600")?;

    for parent in ["/vmtest-oom", "/vmtest-oomf"] {
        mk_parent(parent)?;
        cg_write(parent, "memory.max", &OOM_LIMIT.to_string())?;
        cg_write(parent, "memory.swap.max", "0").ok();
        for c in ["victim", "alloc"] {
            fs::create_dir(format!("{CG}{parent}/{c}"))?;
        }
    }
    Ok(())
}

/// The agent under test, its output in a log file.
struct Agent {
    child: Child,
    log: PathBuf,
    http: ureq::Agent,
}

impl Agent {
    fn start(source: &str, log: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let out = fs::File::create(log)?;
        let child = Command::new("/bin/bpfadvisor")
            .args([
                &format!("--event_source={source}"),
                "--listen_ip=127.0.0.1",
                "--port=8080",
                "--housekeeping_interval=1s",
                "--allow_dynamic_housekeeping=false",
                DISABLE_METRICS,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting /bin/bpfadvisor")?;
        let mut agent = Agent {
            child,
            log: PathBuf::from(log),
            http: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(20))
                .build(),
        };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(120) {
            if let Ok(Some(status)) = agent.child.try_wait() {
                bail!("the agent exited with {status}: {}", agent.log_tail());
            }
            if agent.get("/healthz").is_ok() {
                return Ok(agent);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!("the agent did not answer /healthz: {}", agent.log_tail())
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join(" | ")
    }

    fn get(&self, path: &str) -> Result<String, String> {
        let resp = self
            .http
            .get(&format!("{BASE}{path}"))
            .call()
            .map_err(|e| format!("GET {path}: {e}"))?;
        resp.into_string().map_err(|e| format!("GET {path}: {e}"))
    }

    fn json(&self, path: &str) -> Result<Value, String> {
        let body = self.get(path)?;
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}: {body:.200}"))
    }

    /// The newest v1 stats sample of a container.
    fn stats(&self, name: &str) -> Result<Value, String> {
        let info = self.json(&format!("/api/v1.3/containers{name}"))?;
        info["stats"]
            .as_array()
            .and_then(|s| s.last())
            .cloned()
            .ok_or_else(|| format!("{name}: no stats yet"))
    }

    fn events(&self) -> Result<Vec<Value>, String> {
        let v = self.json("/api/v1.3/events/?all_events=true&subcontainers=true&max_events=-1")?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// The first sample of `family` whose `id` label is `id`.
    fn metric(&self, text: &str, family: &str, id: &str) -> Result<f64, String> {
        let want = format!("id=\"{id}\"");
        text.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(&want))
            .find_map(|l| {
                let rest = &l[l.rfind('}')? + 1..];
                rest.split_whitespace().next()?.parse().ok()
            })
            .ok_or_else(|| format!("no {family}{{{want}}} in /metrics"))
    }

    fn stop(mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn u(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

fn has_event(events: &[Value], kind: &str, name: &str) -> bool {
    events
        .iter()
        .any(|e| e["event_type"] == kind && e["container_name"] == name)
}

const WAIT: Duration = Duration::from_secs(30);

/// The default agent (`auto` picks eBPF; `--event_source=ebpf` makes a failed load fatal).
fn ebpf_phase(report: &mut Report, work: &mut Workloads, capture: bool) -> anyhow::Result<()> {
    let agent = Agent::start(
        "ebpf",
        "/tmp/agent-ebpf.log",
        &["--log_level=info,bpfadvisor::events::ebpf=debug"],
    )?;
    // What this kernel's BTF gave the probes, for the record.
    for l in fs::read_to_string("/tmp/agent-ebpf.log")?.lines() {
        if l.contains("offsets from BTF") || l.contains("probe") {
            info(l);
        }
    }
    ebpf_checks(report, &agent, work)?;
    if capture {
        capture_fixture(report)?;
    }
    agent.stop();
    Ok(())
}

/// The OOM probe of kernels whose mark_victim tracepoint passes only the pid, forced (a kernel
/// whose tracepoint passes the task gets the tracepoint from `auto`).
fn fentry_phase(report: &mut Report, work: &mut Workloads) -> anyhow::Result<()> {
    let agent = Agent::start(
        "ebpf",
        "/tmp/agent-fentry.log",
        &["--ebpf_oom_probe=fentry"],
    )?;
    report.check(Check::FentryProbe, WAIT, || {
        let log = fs::read_to_string("/tmp/agent-fentry.log").unwrap_or_default();
        log.lines()
            .find(|l| l.contains("eBPF probes attached"))
            .filter(|l| l.contains("mark_oom_victim"))
            .map(|l| l.trim().to_string())
            .ok_or_else(|| format!("mark_oom_victim not attached: {}", agent.log_tail()))
    });
    oom_victim_not_allocator(
        report,
        &agent,
        work,
        "/vmtest-oomf",
        Check::FentryOomKillVictim,
    )?;
    agent.stop();
    Ok(())
}

fn ebpf_checks(report: &mut Report, agent: &Agent, work: &mut Workloads) -> anyhow::Result<()> {
    let pod = scope(CONTAINER_ID);
    let late = scope(LATE_ID);

    report.check(Check::EbpfSource, WAIT, || {
        let m = agent.get("/metrics")?;
        let line = m
            .lines()
            .find(|l| l.starts_with("bpfadvisor_event_source{source=\"ebpf\"}"))
            .ok_or("no bpfadvisor_event_source{source=\"ebpf\"}")?;
        line.ends_with(" 1")
            .then(|| line.to_string())
            .ok_or_else(|| line.to_string())
    });

    // Lifecycle through the eBPF tracepoints: a scope made and removed while the agent runs.
    fs::create_dir(format!("{CG}{late}"))?;
    report.check(Check::EbpfCreation, WAIT, || {
        let evs = agent.events()?;
        has_event(&evs, "containerCreation", &late)
            .then(|| format!("containerCreation {late}"))
            .ok_or_else(|| format!("no containerCreation for {late} in {} events", evs.len()))
    });
    // Let the registry sample it once, as with a real container, then remove it.
    std::thread::sleep(Duration::from_secs(1));
    fs::remove_dir(format!("{CG}{late}"))?;
    report.check(Check::EbpfDeletion, WAIT, || {
        let evs = agent.events()?;
        has_event(&evs, "containerDeletion", &late)
            .then(|| format!("containerDeletion {late}"))
            .ok_or_else(|| format!("no containerDeletion for {late} in {} events", evs.len()))
    });

    oom_victim_not_allocator(report, agent, work, "/vmtest-oom", Check::OomKillVictim)?;
    report.check(Check::OomCounters, WAIT, || {
        let victim = agent.stats("/vmtest-oom/victim")?;
        let parent = agent.stats("/vmtest-oom")?;
        let m = agent.get("/metrics")?;
        let total = agent.metric(&m, "container_oom_events_total", "/vmtest-oom/victim")?;
        let oom_events = u(&victim, &["oom_events"]);
        let max = u(&parent, &["memory", "events", "max"]);
        if oom_events >= 1 && total >= 1.0 && max >= 1 {
            Ok(format!(
                "victim oom_events {oom_events}, container_oom_events_total {total}, parent memory.events max {max}"
            ))
        } else {
            Err(format!(
                "victim oom_events {oom_events}, container_oom_events_total {total}, parent memory.events max {max}; memory.events: {}",
                cg_read("/vmtest-oom", "memory.events").replace('\n', ", ")
            ))
        }
    });

    report.check(Check::Tree, WAIT, || {
        let spec = agent.json("/api/v2.0/spec/?recursive=true")?;
        let mut want: Vec<String> = slice_path().to_vec();
        want.extend([
            pod.clone(),
            "/vmtest-pids".into(),
            "/vmtest-oom/victim".into(),
        ]);
        let missing: Vec<&String> = want
            .iter()
            .filter(|n| spec.get(n.as_str()).is_none())
            .collect();
        if !missing.is_empty() {
            let keys: Vec<&String> = spec
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            return Err(format!("missing {missing:?}; have {keys:?}"));
        }
        let info = agent.json(&format!("/api/v1.3/containers{pod}"))?;
        if info["name"] != pod.as_str() {
            return Err(format!("v1 name {} for {pod}", info["name"]));
        }
        let subs = agent.json(&format!("/api/v1.3/containers{}", slice_path()[2]))?;
        let children: Vec<&str> = subs["subcontainers"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        if children != [pod.as_str()] {
            return Err(format!("pod slice's subcontainers {children:?}"));
        }
        Ok(format!(
            "{} containers, pod slice → {}",
            spec.as_object().map_or(0, |o| o.len()),
            children[0]
        ))
    });

    report.check(Check::Cpu, WAIT, || {
        let st = agent.stats(&pod)?;
        let spec = agent.json(&format!("/api/v1.3/containers{pod}"))?["spec"].clone();
        let total = u(&st, &["cpu", "usage", "total"]);
        let periods = u(&st, &["cpu", "cfs", "throttled_periods"]);
        let throttled = u(&st, &["cpu", "cfs", "throttled_time"]);
        let (quota, period) = (u(&spec, &["cpu", "quota"]), u(&spec, &["cpu", "period"]));
        let d = format!(
            "usage {total} ns, throttled_periods {periods}, throttled_time {throttled} ns, quota {quota}/{period}"
        );
        (total > 0 && periods > 0 && throttled > 0 && (quota, period) == (20000, 100000))
            .then_some(d.clone())
            .ok_or(d)
    });

    report.check(Check::Memory, WAIT, || {
        let st = agent.stats(&pod)?;
        let spec = agent.json(&format!("/api/v1.3/containers{pod}"))?["spec"].clone();
        let usage = u(&st, &["memory", "usage"]);
        let ws = u(&st, &["memory", "working_set"]);
        let limit = u(&spec, &["memory", "limit"]);
        let file_current = cg_read(&pod, "memory.current");
        let d = format!(
            "usage {usage}, working_set {ws}, limit {limit} (memory.current {})",
            file_current.trim()
        );
        (usage >= 8 << 20 && ws >= 8 << 20 && ws <= usage && limit == 256 << 20)
            .then_some(d.clone())
            .ok_or(d)
    });

    report.check(Check::Pids, WAIT, || {
        let st = agent.stats("/vmtest-pids")?;
        let p = &st["processes"];
        let (count, threads, max) = (
            u(p, &["process_count"]),
            u(p, &["threads_current"]),
            u(p, &["threads_max"]),
        );
        let m = agent.get("/metrics")?;
        let metric_max = agent.metric(&m, "container_threads_max", "/vmtest-pids")?;
        let d = format!(
            "process_count {count}, threads_current {threads}, threads_max {max}, container_threads_max {metric_max}"
        );
        (count == 3 && threads == 3 && max == PIDS_MAX && metric_max == PIDS_MAX as f64)
            .then_some(d.clone())
            .ok_or(d)
    });

    report.check(Check::Psi, WAIT, || {
        let st = agent.stats(&pod)?;
        let some = u(&st, &["cpu", "psi", "some", "total"]);
        let file = cg_read(&pod, "cpu.pressure");
        let m = agent.get("/metrics")?;
        let waiting = agent.metric(&m, "container_pressure_cpu_waiting_seconds_total", &pod)?;
        let d = format!(
            "cpu.psi.some.total {some} µs, container_pressure_cpu_waiting_seconds_total {waiting} (cpu.pressure: {})",
            file.replace('\n', ", ")
        );
        (some > 0 && waiting > 0.0).then_some(d.clone()).ok_or(d)
    });

    report.check(Check::DiskIo, WAIT, || {
        if !Path::new("/dev/ram0").exists() {
            return Ok("skipped: no RAM disk".into());
        }
        let st = agent.stats(&pod)?;
        let bytes = st["diskio"]["io_service_bytes"].clone();
        let dev = bytes
            .as_array()
            .and_then(|a| a.iter().find(|d| d["device"] == "/dev/ram0"))
            .ok_or_else(|| {
                format!(
                    "no /dev/ram0 in io_service_bytes {bytes} (io.stat: {})",
                    cg_read(&pod, "io.stat").trim()
                )
            })?;
        let (r, w) = (u(dev, &["stats", "Read"]), u(dev, &["stats", "Write"]));
        let d = format!("/dev/ram0 Read {r} Write {w}");
        (r == 4 << 20 && w == 2 << 20).then_some(d.clone()).ok_or(d)
    });

    report.check(Check::Metrics, WAIT, || {
        let m = agent.get("/metrics")?;
        let mut seen = Vec::new();
        for family in [
            "container_cpu_usage_seconds_total",
            "container_cpu_cfs_throttled_periods_total",
            "container_memory_working_set_bytes",
            "container_memory_usage_bytes",
        ] {
            let v = agent.metric(&m, family, &pod)?;
            if v <= 0.0 {
                return Err(format!("{family} {v}"));
            }
            seen.push(format!("{family} {v}"));
        }
        Ok(seen.join(", "))
    });
    Ok(())
}

/// OOM with victim ≠ allocator: the victim (40 MiB, oom_score_adj 1000) sits in one child of the
/// limited `parent`, the allocator in another; the kill is charged to the parent's limit, the victim
/// is chosen for its score. The event must name the victim's cgroup, pid and comm, and nothing may
/// blame the allocator's cgroup.
fn oom_victim_not_allocator(
    report: &mut Report,
    agent: &Agent,
    work: &mut Workloads,
    parent: &str,
    check: Check,
) -> anyhow::Result<()> {
    let (victim_cg, alloc_cg) = (format!("{parent}/victim"), format!("{parent}/alloc"));
    let _ = fs::remove_file("/tmp/vmtest-victim.ready");
    let victim_pid = work.spawn_in(&victim_cg, "exec /bin/vmtest-victim vm-guest hog 40 victim")?;
    wait_file("/tmp/vmtest-victim.ready", Duration::from_secs(30))?;
    let mut alloc = spawn_in(&alloc_cg, "exec /bin/vmtest-alloc vm-guest hog 40")?;
    let alloc_pid = alloc.id();
    let alloc_status = alloc.wait()?;
    info(&format!(
        "{parent}: allocator {alloc_pid} exited with {alloc_status}; victim {victim_pid}"
    ));
    report.check(check, WAIT, || {
        let evs = agent.events()?;
        let kills: Vec<&Value> = evs
            .iter()
            .filter(|e| e["event_type"] == "oomKill")
            .collect();
        let ev = kills
            .iter()
            .find(|e| e["container_name"] == victim_cg.as_str())
            .ok_or_else(|| format!("no oomKill for {victim_cg}; oomKill events: {kills:?}"))?;
        let oom = &ev["event_data"]["oom"];
        if oom["pid"] != victim_pid || oom["process_name"] != "vmtest-victim" {
            return Err(format!(
                "wrong victim (want pid {victim_pid} vmtest-victim): {ev}"
            ));
        }
        if kills
            .iter()
            .any(|e| e["container_name"] == alloc_cg.as_str())
        {
            return Err(format!("the allocator's cgroup was blamed too: {kills:?}"));
        }
        let repeats = kills
            .iter()
            .filter(|e| e["event_data"]["oom"]["pid"] == victim_pid)
            .count();
        if repeats != 1 {
            return Err(format!(
                "{repeats} oomKill events for pid {victim_pid}: {kills:?}"
            ));
        }
        Ok(format!("{ev}"))
    });
    Ok(())
}

/// The fallback, forced: inotify watches, rescans and the memory cgroups' OOM counters.
fn inotify_phase(report: &mut Report) -> anyhow::Result<()> {
    let agent = Agent::start("inotify", "/tmp/agent-inotify.log", &[])?;
    let late = scope(INOTIFY_ID);
    report.check(Check::InotifySource, WAIT, || {
        let m = agent.get("/metrics")?;
        m.lines()
            .find(|l| l.starts_with("bpfadvisor_event_source{source=\"inotify\"} 1"))
            .map(str::to_string)
            .ok_or_else(|| "bpfadvisor_event_source{source=\"inotify\"} is not 1".into())
    });
    fs::create_dir(format!("{CG}{late}"))?;
    report.check(Check::InotifyCreation, WAIT, || {
        let evs = agent.events()?;
        has_event(&evs, "containerCreation", &late)
            .then(|| format!("containerCreation {late}"))
            .ok_or_else(|| format!("no containerCreation for {late} in {} events", evs.len()))
    });
    std::thread::sleep(Duration::from_secs(1));
    fs::remove_dir(format!("{CG}{late}"))?;
    report.check(Check::InotifyDeletion, WAIT, || {
        let evs = agent.events()?;
        has_event(&evs, "containerDeletion", &late)
            .then(|| format!("containerDeletion {late}"))
            .ok_or_else(|| format!("no containerDeletion for {late} in {} events", evs.len()))
    });

    // Without the probe and without /dev/kmsg, OOM kills come from memory.events' oom_kill.
    let cg = "/vmtest-oom2";
    fs::create_dir(format!("{CG}{cg}"))?;
    cg_write(cg, "memory.max", &(32u64 << 20).to_string())?;
    cg_write(cg, "memory.swap.max", "0").ok();
    // Sampled once before the kill, so the counter's increase is seen.
    let t0 = Instant::now();
    while agent.stats(cg).is_err() && t0.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut hog = spawn_in(cg, "exec /bin/vmtest-alloc vm-guest hog 64")?;
    let status = hog.wait()?;
    info(&format!(
        "64 MiB hog in a 32 MiB cgroup exited with {status}"
    ));
    report.check(Check::InotifyOomKill, WAIT, || {
        let evs = agent.events()?;
        has_event(&evs, "oomKill", cg)
            .then(|| format!("oomKill {cg} from memory.events"))
            .ok_or_else(|| {
                format!(
                    "no oomKill for {cg}; memory.events: {}",
                    cg_read(cg, "memory.events").replace('\n', ", ")
                )
            })
    });
    agent.stop();
    Ok(())
}

fn wait_file(path: &str, limit: Duration) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while !Path::new(path).exists() {
        if t0.elapsed() > limit {
            bail!("{path} did not appear within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Copies the cgroup tree, the processes' /proc files and the machine files (with
/// `capture-machine-fixture.sh`) to [`CAPTURE_DIR`], then prints every file on the console
/// (`VMTEST FILE <path> <hex>`, `VMTEST LINK <path> <target>`) for the host to rebuild.
fn capture_fixture(report: &mut Report) -> anyhow::Result<()> {
    let dest = Path::new(CAPTURE_DIR);
    let _ = fs::remove_dir_all(dest);
    let status = Command::new("/bin/sh")
        .args(["/bin/capture-machine-fixture.sh", CAPTURE_DIR])
        .status()?;
    if !status.success() {
        report.fail(
            Check::Capture,
            &format!("capture-machine-fixture.sh: {status}"),
        );
        return Ok(());
    }
    let mut cgroups = vec!["/".to_string()];
    cgroups.extend(slice_path());
    cgroups.extend([
        scope(CONTAINER_ID),
        "/vmtest-pids".into(),
        "/vmtest-oom".into(),
        "/vmtest-oom/victim".into(),
    ]);
    let mut pids = Vec::new();
    for cg in &cgroups {
        let src = PathBuf::from(format!("{CG}{cg}"));
        let dst = dest.join(format!("sys/fs/cgroup{cg}").trim_end_matches('/'));
        fs::create_dir_all(&dst)?;
        for e in fs::read_dir(&src)?.flatten() {
            let p = e.path();
            if !p.is_file() {
                continue;
            }
            // Write-only files (cgroup.kill, memory.reclaim) fail to read and are left out.
            if let Ok(text) = fs::read(&p) {
                fs::write(dst.join(e.file_name()), text)?;
            }
        }
        if cg != "/" {
            pids.extend(cg_read(cg, "cgroup.procs").lines().map(str::to_string));
        }
    }
    for f in ["stat", "loadavg", "uptime"] {
        copy_into(dest, &format!("/proc/{f}"))?;
    }
    for pid in &pids {
        for f in ["limits", "schedstat", "net/dev", "stat", "status", "cgroup"] {
            copy_into(dest, &format!("/proc/{pid}/{f}"))?;
        }
    }
    for e in fs::read_dir("/sys/dev/block")?.flatten() {
        let rel = format!("sys/dev/block/{}", e.file_name().to_string_lossy());
        if let Ok(target) = fs::read_link(e.path()) {
            let link = dest.join(&rel);
            fs::create_dir_all(link.parent().unwrap_or(dest))?;
            std::os::unix::fs::symlink(target, link)?;
        }
    }
    let mut count = 0;
    emit_tree(dest, dest, &mut count)?;
    report.pass(Check::Capture, &format!("{count} files"));
    Ok(())
}

fn copy_into(dest: &Path, path: &str) -> anyhow::Result<()> {
    if let Ok(data) = fs::read(path) {
        let to = dest.join(path.trim_start_matches('/'));
        fs::create_dir_all(to.parent().unwrap_or(dest))?;
        fs::write(to, data)?;
    }
    Ok(())
}

fn emit_tree(root: &Path, dir: &Path, count: &mut usize) -> anyhow::Result<()> {
    let mut entries: BTreeMap<PathBuf, fs::FileType> = BTreeMap::new();
    for e in fs::read_dir(dir)?.flatten() {
        entries.insert(e.path(), e.file_type()?);
    }
    let mut out = std::io::stdout().lock();
    for (path, ty) in entries {
        let rel = path.strip_prefix(root)?.display().to_string();
        if ty.is_symlink() {
            writeln!(out, "VMTEST LINK {rel} {}", fs::read_link(&path)?.display())?;
        } else if ty.is_dir() {
            drop(out);
            emit_tree(root, &path, count)?;
            out = std::io::stdout().lock();
            continue;
        } else {
            let hex: String = fs::read(&path)?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            writeln!(out, "VMTEST FILE {rel} {hex}")?;
        }
        *count += 1;
    }
    Ok(())
}
