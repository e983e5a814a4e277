//! `cargo xtask bench`: criterion benches, and `bench live`, which measures a running agent over N
//! real cgroups: CPU per container-sample, RSS, `/metrics` latency and mkdir → event latency, and
//! with `--ui` what an open web UI page costs.
//!
//! The live scenario works against any cAdvisor-compatible binary (`--bin`), so the same harness
//! measures cAdvisor for the comparison table in docs/performance.md.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

mod scale;
mod ui;

/// cgroup hierarchies a container runtime creates a container in on this host's layout. The
/// benchmark creates every cgroup in each one that is mounted (v1 controllers, then cgroup2).
const HIERARCHIES: &[&str] = &["cpu", "cpuacct", "memory", "pids", "unified"];
/// Where cgroup hierarchies are mounted. xtask runs on the host only, never against a fixture root.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const PROC_ROOT: &str = "/proc";
/// Dedicated parent so a crashed run's leftovers are recognisable and removed by the next run.
const PARENT: &str = "bpfadvisor-bench";

#[derive(Parser, Debug)]
#[command(name = "bench live")]
pub struct LiveArgs {
    /// Number of raw cgroups to create.
    #[arg(long, default_value_t = 1000)]
    containers: usize,
    /// Length of the CPU measurement window, in seconds (0 skips it).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds to let the agent run before measuring (use 120+ to fill 2 minutes of history).
    #[arg(long, default_value_t = 15)]
    warmup: u64,
    /// Number of sequential GETs of `/metrics` (0 skips them).
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Number of cgroups created one at a time for the event latency probe (0 skips it).
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Make each probe cgroup in the first hierarchy only, one mkdir instead of the five a runtime
    /// makes: the bench's own mkdirs then stop competing for the CPUs with the agent and the stream
    /// client inside the measured time.
    #[arg(long)]
    event_single_mkdir: bool,
    /// Agent binary; default: the release `bpfadvisor` (built first).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Extra argument passed to the agent (repeatable), e.g. `--agent-arg=--event_source=inotify`.
    #[arg(long = "agent-arg", allow_hyphen_values = true)]
    agent_args: Vec<String>,
    /// A web UI page to measure (e.g. `/containers/` or `/containers/bpfadvisor-bench/c0`): agent
    /// CPU over `--seconds` windows without and with the page open in headless Chromium, then the
    /// CPU per request of each kind the page makes.
    #[arg(long)]
    ui: Option<String>,
    /// Pairs of windows (no page, page open) for `--ui`.
    #[arg(long, default_value_t = 2)]
    ui_rounds: usize,
    /// Runs the scenario once per container count (e.g. `--scale 100,1000,3000,5000`, replacing
    /// `--containers`; no event probe) and writes a table and a plot to `--out`.
    #[arg(long, value_delimiter = ',')]
    scale: Vec<usize>,
    /// Where `--scale` writes: `<out>.md` and `<out>.svg` (relative to the repository root).
    #[arg(long, default_value = "docs/scaling")]
    out: PathBuf,
}

/// Entry point of `cargo xtask bench live ...`; `args` excludes `live`.
pub fn live(root: &Path, target: &Path, args: &[String]) -> anyhow::Result<()> {
    let a =
        LiveArgs::parse_from(std::iter::once("bench live".to_string()).chain(args.iter().cloned()));
    let bin = match &a.bin {
        Some(b) => b.clone(),
        None => {
            crate::cargo(
                root,
                &["build", "--release", "-p", "agent", "--bin", "bpfadvisor"],
            )?;
            target.join("release/bpfadvisor")
        }
    };
    if !a.scale.is_empty() {
        return scale::run(&bin, &a, &root.join(&a.out));
    }
    let cgroups = CgroupSet::create(a.containers)?;
    eprintln!(
        "bench: created {} cgroups in {:?}",
        a.containers, cgroups.hierarchies
    );

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join("bpfadvisor-bench-agent.log");
    let agent = Agent::start(&bin, port, &a.agent_args, &log)?;
    eprintln!(
        "bench: agent pid {} on {base}, log {}",
        agent.pid(),
        log.display()
    );
    wait_healthy(&base, Duration::from_secs(60))?;
    eprintln!("bench: warm-up {} s", a.warmup);
    std::thread::sleep(Duration::from_secs(a.warmup));
    let known = count_containers(&base).unwrap_or_else(|e| {
        eprintln!("bench: counting containers: {e:#}");
        0
    });

    let mut rows: Vec<(String, String)> = vec![
        ("binary".into(), bin.display().to_string()),
        ("cgroups created".into(), a.containers.to_string()),
        ("containers known to the agent".into(), known.to_string()),
        ("load average before".into(), load_average()),
    ];
    let mut cpu_rate = None;
    if a.seconds > 0 {
        let hk0 = thread_cpu_seconds(agent.pid(), "housekeeping");
        let cpu0 = cpu_seconds(agent.pid())?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(a.seconds));
        let cpu = cpu_seconds(agent.pid())? - cpu0;
        let wall = t0.elapsed().as_secs_f64();
        // One sample per known container per second (fixed 1 s housekeeping).
        let tracked = if known > 0 { known } else { a.containers };
        let samples = tracked.max(1) as f64 * wall;
        cpu_rate = Some(cpu / wall);
        // The sampling thread alone: unaffected by event handling for cgroups other programs
        // create and remove meanwhile.
        if let (Some(h0), Some(h1)) = (hk0, thread_cpu_seconds(agent.pid(), "housekeeping")) {
            rows.push((
                "housekeeping thread CPU per container-sample".into(),
                format!("{:.1} µs", 1e6 * (h1 - h0) / samples),
            ));
        }
        rows.push(("CPU window".into(), format!("{wall:.1} s")));
        rows.push((
            "CPU % of a core".into(),
            format!("{:.2}", 100.0 * cpu / wall),
        ));
        rows.push((
            "CPU per container-sample".into(),
            format!("{:.1} µs", 1e6 * cpu / samples),
        ));
    }
    if let Some(page) = &a.ui {
        match ui::measure(&base, agent.pid(), page, a.seconds.max(10), a.ui_rounds) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(("web UI page".into(), format!("n/a ({e:#})"))),
        }
    }
    let (rss, hwm) = memory_kib(agent.pid())?;
    rows.push(("VmRSS".into(), format!("{:.1} MB", rss as f64 / 1024.0)));
    rows.push(("VmHWM".into(), format!("{:.1} MB", hwm as f64 / 1024.0)));

    if a.requests > 0 {
        // The background rate the per-request CPU is measured against: the CPU window's when there
        // was one.
        let rate = cpu_rate.unwrap_or(0.0);
        for (label, path, gzip) in [
            ("/metrics", "/metrics", false),
            ("/metrics (gzip)", "/metrics", true),
            (
                "/api/v2.0/stats?recursive=true",
                "/api/v2.0/stats?recursive=true",
                false,
            ),
        ] {
            match scrape(&base, path, a.requests, gzip, agent.pid(), rate) {
                Ok(r) => rows.extend(r.rows(label)),
                Err(e) => rows.push((label.into(), format!("n/a ({e:#})"))),
            }
        }
        let (rss, hwm) = memory_kib(agent.pid())?;
        rows.push((
            "VmRSS / VmHWM after /metrics".into(),
            format!(
                "{:.1} MB / {:.1} MB",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            ),
        ));
    }
    if a.events > 0 {
        match event_latency(&base, &cgroups, a.events, a.event_single_mkdir) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(("mkdir → event".into(), format!("n/a ({e:#})"))),
        }
        rows.extend(agent_event_delays(&base));
    }
    rows.push(("load average after".into(), load_average()));

    println!("| measure | value |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    drop(agent);
    drop(cgroups);
    Ok(())
}

/// The cgroups of one run: `<hierarchy>/bpfadvisor-bench/c<i>`; removed on drop (children first).
struct CgroupSet {
    hierarchies: Vec<PathBuf>,
    children: Vec<String>,
}

impl CgroupSet {
    fn create(n: usize) -> anyhow::Result<Self> {
        let hierarchies: Vec<PathBuf> = HIERARCHIES
            .iter()
            .map(|h| Path::new(CGROUP_ROOT).join(h))
            .filter(|p| p.join("cgroup.procs").exists())
            .collect();
        if hierarchies.is_empty() {
            bail!("no cgroup hierarchy mounted under {CGROUP_ROOT}");
        }
        for h in &hierarchies {
            remove_tree(&h.join(PARENT));
            let p = h.join(PARENT);
            std::fs::create_dir(&p).with_context(|| format!("mkdir {}", p.display()))?;
        }
        let mut set = Self {
            hierarchies,
            children: Vec::new(),
        };
        for i in 0..n {
            set.add(&format!("c{i}"))?;
        }
        Ok(set)
    }

    /// Creates one child in the first hierarchy only (removal ignores the others' absence).
    fn add_in_first(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.hierarchies[0].join(PARENT).join(name);
        std::fs::create_dir(&p).with_context(|| format!("mkdir {}", p.display()))?;
        self.children.push(name.to_string());
        Ok(())
    }

    /// Creates one child in every hierarchy, as a runtime does; returns when the last mkdir is done.
    fn add(&mut self, name: &str) -> anyhow::Result<()> {
        for h in &self.hierarchies {
            let p = h.join(PARENT).join(name);
            std::fs::create_dir(&p).with_context(|| format!("mkdir {}", p.display()))?;
        }
        self.children.push(name.to_string());
        Ok(())
    }
}

impl Drop for CgroupSet {
    fn drop(&mut self) {
        for h in &self.hierarchies {
            remove_tree(&h.join(PARENT));
        }
    }
}

/// Removes an empty cgroup tree (cgroup directories are removed with rmdir, deepest first).
fn remove_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("bench: rmdir {}: {e}", dir.display());
    }
}

/// The agent process; killed on drop.
struct Agent(Child);

impl Agent {
    fn start(bin: &Path, port: u16, extra: &[String], log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .arg("--listen_ip=127.0.0.1")
            .arg("--housekeeping_interval=1s")
            .arg("--allow_dynamic_housekeeping=false")
            .arg("--storage_duration=2m")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self(child))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

fn wait_healthy(base: &str, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ureq::get(&format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .call()
            .is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("agent not healthy at {base}/healthz within {limit:?}")
}

/// Number of containers the agent tracks (keys of the recursive v2.0 spec map).
fn count_containers(base: &str) -> anyhow::Result<usize> {
    let body: serde_json::Value = ureq::get(&format!("{base}/api/v2.0/spec/?recursive=true"))
        .timeout(Duration::from_secs(60))
        .call()?
        .into_json()?;
    Ok(body.as_object().map_or(0, |m| m.len()))
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = Path::new(PROC_ROOT).join(pid.to_string()).join("stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    // Fields after the parenthesised comm (which may contain spaces): state is field 3, utime 14.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("parsing {}", path.display()))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<f64> {
        f.get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("field {n} of {}", path.display()))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok((field(14)? + field(15)?) / hz.max(1) as f64)
}

/// utime + stime of the first thread of `pid` named `comm`, in seconds (`None` if there is none).
fn thread_cpu_seconds(pid: u32, comm: &str) -> Option<f64> {
    let tasks = Path::new(PROC_ROOT).join(pid.to_string()).join("task");
    std::fs::read_dir(tasks).ok()?.flatten().find_map(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        if head.split_once('(')?.1 != comm {
            return None;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(ticks / hz.max(1) as f64)
    })
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let path = Path::new(PROC_ROOT).join(pid.to_string()).join("status");
    let status = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let get = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((get("VmRSS:"), get("VmHWM:")))
}

fn load_average() -> String {
    std::fs::read_to_string(Path::new(PROC_ROOT).join("loadavg"))
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// What K sequential GETs of one path measured.
#[derive(Debug, Clone)]
pub struct Scrape {
    times: Vec<Duration>,
    /// Body size as sent (compressed with gzip).
    bytes: usize,
    /// Agent CPU per request, less its background rate.
    cpu_ms: f64,
}

impl Scrape {
    fn p50_p99(&self) -> String {
        let mut t = self.times.clone();
        let s = fmt_percentiles(&mut t);
        // "p50 / p99 / max" → "p50 / p99"
        s.rsplit_once(" / ")
            .map_or(s.clone(), |(a, _)| a.to_string())
    }

    fn p99_ms(&self) -> f64 {
        let mut t = self.times.clone();
        t.sort();
        let i = ((t.len() as f64 * 0.99).ceil() as usize).clamp(1, t.len().max(1)) - 1;
        t.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    fn rows(&self, label: &str) -> Vec<(String, String)> {
        let mut t = self.times.clone();
        vec![
            (
                format!("{label} latency p50 / p99 / max ({} GETs)", t.len()),
                fmt_percentiles(&mut t),
            ),
            (
                format!("{label} body"),
                format!("{:.2} MB", self.bytes as f64 / 1e6),
            ),
            (
                format!("{label} agent CPU per request"),
                format!("{:.1} ms", self.cpu_ms),
            ),
        ]
    }
}

/// K sequential GETs of `path`, each timed until the whole body is read; with `gzip`, asking for a
/// gzip body (and checking that one came). `background` is the agent's CPU rate (s/s) without
/// requests, subtracted from the CPU the GETs took.
fn scrape(
    base: &str,
    path: &str,
    k: usize,
    gzip: bool,
    pid: u32,
    background: f64,
) -> anyhow::Result<Scrape> {
    let mut times = Vec::with_capacity(k);
    let mut bytes = 0;
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    for _ in 0..k {
        let t = Instant::now();
        let mut req = ureq::get(&format!("{base}{path}")).timeout(Duration::from_secs(120));
        if gzip {
            req = req.set("Accept-Encoding", "gzip");
        }
        let resp = req.call().with_context(|| format!("GET {path}"))?;
        let encoding = resp.header("content-encoding").unwrap_or("").to_string();
        if gzip && encoding != "gzip" {
            bail!("GET {path} asked for gzip, got Content-Encoding {encoding:?}");
        }
        let mut body = Vec::new();
        resp.into_reader()
            .read_to_end(&mut body)
            .with_context(|| format!("reading {path}"))?;
        times.push(t.elapsed());
        bytes = body.len();
    }
    let cpu = cpu_seconds(pid)? - cpu0 - background * t0.elapsed().as_secs_f64();
    Ok(Scrape {
        times,
        bytes,
        cpu_ms: 1e3 * cpu.max(0.0) / k.max(1) as f64,
    })
}

/// Opens the event stream, creates `m` cgroups one at a time and times mkdir → creation event.
fn event_latency(
    base: &str,
    cgroups: &CgroupSet,
    m: usize,
    single_mkdir: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let url =
        format!("{base}/api/v1.3/events/?stream=true&creation_events=true&subcontainers=true");
    let resp = ureq::get(&url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    // Detached: it ends when the agent is killed and the connection closes.
    std::thread::spawn(move || {
        for line in BufReader::new(resp.into_reader()).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(name) = v.get("container_name").and_then(|n| n.as_str())
                && tx.send((Instant::now(), name.to_string())).is_err()
            {
                break;
            }
        }
    });
    // Let the stream register before the first mkdir.
    std::thread::sleep(Duration::from_millis(500));
    while rx.try_recv().is_ok() {}

    let mut probe = CgroupSet {
        hierarchies: cgroups.hierarchies.clone(),
        children: Vec::new(),
    };
    let mut times = Vec::with_capacity(m);
    let mut lost = 0;
    for i in 0..m {
        let name = format!("ev{i}");
        let want = format!("/{PARENT}/{name}");
        let t0 = Instant::now();
        if single_mkdir {
            probe.add_in_first(&name)?;
        } else {
            probe.add(&name)?;
        }
        let deadline = t0 + Duration::from_secs(3);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((t, n)) if n == want => {
                    times.push(t - t0);
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    // Removed here, not by drop: the parent is shared with `cgroups`.
    for h in &probe.hierarchies {
        for c in &probe.children {
            let _ = std::fs::remove_dir(h.join(PARENT).join(c));
        }
    }
    probe.hierarchies.clear();
    Ok(vec![
        (
            format!(
                "mkdir → event p50 / p99 / max ({} of {m} received)",
                m - lost
            ),
            fmt_percentiles(&mut times),
        ),
        ("events not received within 3 s".into(), lost.to_string()),
    ])
}

/// The agent's own account of the probe's events, from its `bpfadvisor_*` histograms: kernel (or
/// watcher) → event recorded, and recorded → line handed to the stream's connection. Each as the
/// share of events within some bucket bounds.
fn agent_event_delays(base: &str) -> Vec<(String, String)> {
    let stages = [
        (
            "kernel → event recorded",
            "bpfadvisor_creation_event_delay_seconds",
        ),
        (
            "recorded → stream write",
            "bpfadvisor_event_stream_delay_seconds",
        ),
    ];
    let body = match ureq::get(&format!("{base}/metrics")).call() {
        Ok(r) => r.into_string().unwrap_or_default(),
        Err(e) => return vec![("agent: event delays".into(), format!("n/a ({e})"))],
    };
    stages
        .iter()
        .map(|(stage, family)| {
            (
                format!("agent: {stage} (`{family}`)"),
                bucket_shares(&body, family),
            )
        })
        .collect()
}

/// "≤ 0.00025 s: 95.0%, ..." for a histogram family of a text exposition.
fn bucket_shares(body: &str, family: &str) -> String {
    let buckets: Vec<(String, f64)> = body
        .lines()
        .filter_map(|l| l.strip_prefix(family)?.strip_prefix("_bucket{le=\""))
        .filter_map(|l| {
            let (le, count) = l.split_once("\"} ")?;
            Some((le.to_string(), count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |(_, c)| *c);
    if total == 0.0 {
        return "n/a (no events counted)".into();
    }
    let shares: Vec<String> = buckets
        .iter()
        .filter(|(le, _)| ["0.0001", "0.00025", "0.0005", "0.001", "0.0025"].contains(&le.as_str()))
        .map(|(le, c)| format!("≤ {le} s: {:.1}%", 100.0 * c / total))
        .collect();
    format!("{} ({total} events)", shares.join(", "))
}

fn fmt_percentiles(times: &mut [Duration]) -> String {
    if times.is_empty() {
        return "n/a".into();
    }
    times.sort();
    let pick = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        ms(times[i])
    };
    format!(
        "{} / {} / {}",
        pick(0.50),
        pick(0.99),
        ms(times[times.len() - 1])
    )
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_nearest_rank() {
        let mut t: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(
            fmt_percentiles(&mut t),
            "50.000 ms / 99.000 ms / 100.000 ms"
        );
        assert_eq!(fmt_percentiles(&mut []), "n/a");
    }
}
