//! End-to-end, as root, against a real Prometheus (Debian's `prometheus` package, started here on
//! loopback with `--web.enable-remote-write-receiver`): `--storage_driver=remote_write` pushes the
//! series of a busy test cgroup, which Prometheus then answers for, with `/metrics`' names and
//! labels plus `job`/`instance`. Prometheus is then killed and restarted on the same data: while it
//! is down the agent keeps answering and sampling, and afterwards the samples taken during the
//! outage are in Prometheus too (the queue held them), one per housekeeping interval, none lost.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use agent::{Agent, CgroupTree, cgroup_skip_reason};
use bpfadvisor::host::HostPaths;
use serde_json::Value;

/// A Prometheus server on `web`, killed (SIGKILL, as a crash) and reaped on drop.
struct Prometheus(Child);

impl Prometheus {
    fn start(dir: &Path, web: &str) -> Self {
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  scrape_interval: 1m\nscrape_configs: []\n").unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        Self(
            Command::new("prometheus")
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={web}"))
                .arg("--web.enable-remote-write-receiver")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn prometheus"),
        )
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn have_prometheus() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `GET /api/v1/query?query=<q>` on Prometheus; `None` while it does not answer.
fn query(web: &str, q: &str) -> Option<Value> {
    let r = ureq::get(&format!("http://{web}/api/v1/query"))
        .query("query", q)
        .timeout(Duration::from_secs(5))
        .call()
        .ok()?;
    let v: Value = r.into_json().ok()?;
    (v["status"] == "success").then_some(v)
}

/// The raw samples (ms timestamps, values) of the series `selector` matches over the last `range`.
fn raw_samples(web: &str, selector: &str, range: &str) -> Vec<(i64, f64)> {
    let Some(v) = query(web, &format!("{selector}[{range}]")) else {
        return Vec::new();
    };
    let Some(series) = v["data"]["result"].as_array().and_then(|a| a.first()) else {
        return Vec::new();
    };
    series["values"]
        .as_array()
        .map(|vals| {
            vals.iter()
                .filter_map(|p| {
                    let t = p[0].as_f64()?;
                    let v: f64 = p[1].as_str()?.parse().ok()?;
                    Some(((t * 1000.0).round() as i64, v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the agent's own `bpfadvisor_storage_<what>{driver="remote_write"}`.
fn own_metric(agent: &Agent, what: &str) -> Option<f64> {
    let (_, text) = agent.get("/metrics");
    let prefix = format!("bpfadvisor_storage_{what}{{driver=\"remote_write\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(250));
    }
}

#[test]
fn remote_write_feeds_a_real_prometheus_and_rides_out_its_restart() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    if !have_prometheus() {
        return agent::missing(
            agent::Need::Tool,
            "prometheus not installed (apt-get install prometheus)",
        );
    }
    let name = format!("/bpfa-e2e-remote-write-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    // Busy, but not a whole core: the machine is shared.
    tree.spawn(&name, "while :; do x=$(seq 1 3000); sleep 0.05; done")
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let mut prometheus = Some(Prometheus::start(dir.path(), &web));
    wait_for("Prometheus to answer", Duration::from_secs(60), || {
        query(&web, "vector(1)")
    });

    let url = format!("--storage_driver_remote_write_url=http://{web}/api/v1/write");
    // Only the root and the test cgroup: the machine may hold thousands of other tests' cgroups.
    let only = format!("--raw_cgroup_prefix_whitelist={name}");
    let agent = Agent::launch(&[
        "--storage_driver=remote_write",
        &url,
        "--docker_only=true",
        &only,
        "--storage_driver_remote_write_interval=1s",
        "--storage_driver_remote_write_labels=job=cadvisor,instance=node-test",
        "--housekeeping_interval=1s",
        "--allow_dynamic_housekeeping=false",
    ])
    .unwrap();

    // The test cgroup's series arrive, named and labelled as on /metrics.
    let cpu = format!("container_cpu_usage_seconds_total{{id=\"{name}\"}}");
    let series = wait_for(
        "the cgroup's series in Prometheus",
        Duration::from_secs(60),
        || {
            let v = query(&web, &cpu)?;
            let s = v["data"]["result"].as_array()?.first()?.clone();
            (s["value"][1].as_str()?.parse::<f64>().ok()? > 0.0).then_some(s)
        },
    );
    let labels = &series["metric"];
    assert_eq!(labels["__name__"], "container_cpu_usage_seconds_total");
    assert_eq!(labels["job"], "cadvisor");
    assert_eq!(labels["instance"], "node-test");
    assert_eq!(labels["id"], name.as_str());
    let mem = format!("container_memory_usage_bytes{{id=\"{name}\"}}");
    assert!(
        query(&web, &mem).is_some_and(|v| v["data"]["result"][0]["value"][1] != "0"),
        "memory usage of {name}"
    );
    // The same series as the agent's own /metrics shows.
    let (status, text) = agent.get("/metrics");
    assert!(
        agent::metric_value(&text, "container_cpu_usage_seconds_total", &name).is_some(),
        "/metrics has the family too: {status}, {} bytes, {:?}",
        text.len(),
        text.lines().find(|l| l.contains(name.as_str()))
    );
    let root_spec = query(&web, "container_spec_memory_limit_bytes{id=\"/\"}").unwrap();
    assert!(
        !root_spec["data"]["result"].as_array().unwrap().is_empty(),
        "spec families are pushed"
    );
    wait_for("the driver up", Duration::from_secs(10), || {
        (own_metric(&agent, "up")? == 1.0).then_some(())
    });

    // Crash Prometheus; the agent keeps answering and queueing.
    let down_at = Instant::now();
    let down_ms = unix_ms();
    drop(prometheus.take());
    let mut slowest = Duration::ZERO;
    while down_at.elapsed() < Duration::from_secs(8) {
        let t0 = Instant::now();
        let (status, _) = agent.get(&format!("/api/v1.3/containers{name}"));
        assert_eq!(
            status, 200,
            "the REST API answers while the receiver is down"
        );
        slowest = slowest.max(t0.elapsed());
        sleep(Duration::from_millis(200));
    }
    assert!(
        slowest < Duration::from_secs(1),
        "REST API took {slowest:?}"
    );
    assert_eq!(own_metric(&agent, "up"), Some(0.0), "{}", agent.log());
    assert!(own_metric(&agent, "queue_depth").unwrap() > 0.0);
    let outage_end_ms = unix_ms();

    // Back up on the same data: the queue drains into it.
    prometheus = Some(Prometheus::start(dir.path(), &web));
    wait_for("the driver to recover", Duration::from_secs(90), || {
        let up = own_metric(&agent, "up")? == 1.0;
        let drained = own_metric(&agent, "queue_depth")? == 0.0;
        (up && drained).then_some(())
    });
    wait_for(
        "Prometheus to answer again",
        Duration::from_secs(30),
        || query(&web, "vector(1)"),
    );
    // Every sample from just before the crash to the restart is there, one per interval (the
    // samples were taken on time during the outage, and none was lost).
    let samples = wait_for("samples after the restart", Duration::from_secs(30), || {
        let s = raw_samples(&web, &cpu, "5m");
        s.last()
            .is_some_and(|(t, _)| *t > outage_end_ms)
            .then_some(s)
    });
    let window: Vec<i64> = samples
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= down_ms - 3_000 && *t <= outage_end_ms)
        .collect();
    assert!(
        window.first().is_some_and(|t| *t <= down_ms)
            && window.last().is_some_and(|t| *t >= outage_end_ms - 2_500),
        "samples from before the crash to the restart ({down_ms}..{outage_end_ms}): {window:?}"
    );
    let worst_gap = window.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        worst_gap <= 2_500,
        "a gap of {worst_gap} ms in samples around the outage: {window:?}"
    );
    assert!(
        samples.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative CPU never goes back"
    );
    assert_eq!(
        own_metric(&agent, "dropped_total"),
        Some(0.0),
        "nothing lost: {}",
        agent.log()
    );
    // One line when it failed, one when it recovered: no line per retry.
    let log = agent.log();
    let failing = log.matches("storage driver failing").count();
    assert_eq!(failing, 1, "{log}");
    assert_eq!(log.matches("storage driver recovered").count(), 1, "{log}");
    agent.assert_healthy();
    drop(prometheus);
}
