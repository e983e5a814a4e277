//! End-to-end, as root: the `redis`, `influxdb` and `statsd` storage drivers write cAdvisor's
//! records of a real, busy cgroup to real servers started here on loopback, and ride out the
//! server's death: killed mid-test and started again, the records queued meanwhile arrive (no
//! sample lost within the queue's bound), and collection never waits (the API answers, samples keep
//! their spacing). The servers are those `scripts/setup.sh` installs: redis-server, influxd (1.x)
//! and the npm package `statsd` under the project's cache directory.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agent::{Agent, CgroupTree, Need, cgroup_skip_reason, free_port, missing};
use bpfadvisor::host::HostPaths;
use serde_json::Value;

/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(4);

/// Housekeeping's interval (1 s, not dynamic) plus slack: the widest gap allowed between samples.
const MAX_GAP_NS: i64 = 2_500_000_000;

/// A server process, restartable with the same command; killed on drop.
struct Server {
    what: &'static str,
    program: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Server {
    fn start(what: &'static str, program: PathBuf, args: Vec<String>) -> Self {
        let mut s = Self {
            what,
            program,
            args,
            child: None,
            log: tempfile::NamedTempFile::new().unwrap(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // Appended to: the log of every run is kept.
        let out = || {
            OpenOptions::new()
                .append(true)
                .open(self.log.path())
                .unwrap()
        };
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out())
            .stderr(out())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.what));
        self.child = Some(child);
    }

    /// SIGKILL, as a crash.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Waits up to `limit` for `ok`.
fn wait_for(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if ok() {
            return true;
        }
        sleep(Duration::from_millis(200));
    }
    ok()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most `buf.len()` bytes into our buffer.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A cgroup with a process that keeps using some CPU and memory; `None` (skip, or fail in CI)
/// without root and cgroups.
fn busy_cgroup(driver: &str) -> Option<(CgroupTree, String)> {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        missing(Need::Root, reason);
        return None;
    }
    let name = format!("/bpfa-e2e-{driver}-{}", std::process::id());
    let mut tree = CgroupTree::new(&host);
    tree.mkdir(&name).unwrap();
    tree.spawn(
        &name,
        "x=$(seq 1 20000); while :; do seq 1 3000 >/dev/null; sleep 0.2; done",
    )
    .unwrap();
    Some((tree, name))
}

/// The value of `bpfadvisor_storage_<family>{driver="<driver>"}`.
fn storage_metric(agent: &Agent, family: &str, driver: &str) -> f64 {
    let (status, text) = agent.get("/metrics");
    assert_eq!(status, 200);
    let prefix = format!("bpfadvisor_storage_{family}{{driver=\"{driver}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix}"))
}

/// Kills `server`, checks the agent keeps serving and collecting while it is down, starts it
/// again and waits for `ready`.
fn outage(agent: &Agent, server: &mut Server, driver: &str, ready: impl Fn(&Server) -> bool) {
    server.kill();
    let t0 = Instant::now();
    while t0.elapsed() < OUTAGE {
        let asked = Instant::now();
        assert_eq!(agent.get("/healthz").0, 200);
        let (status, _) = agent.get("/api/v1.3/containers/");
        assert_eq!(status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "the API answered in {:?} while {driver}'s server was down",
            asked.elapsed()
        );
        sleep(Duration::from_millis(500));
    }
    server.restart();
    assert!(
        wait_for(Duration::from_secs(30), || ready(server)),
        "{} did not come back:\n{}",
        server.what,
        server.log()
    );
}

/// Panics unless consecutive sample times (ns, sorted) are at most [`MAX_GAP_NS`] apart.
fn assert_spaced(what: &str, times: &[i64]) {
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] <= MAX_GAP_NS,
            "{what}: a gap of {} ms between samples at {} and {} (of {})",
            (w[1] - w[0]) / 1_000_000,
            w[0],
            w[1],
            times.len()
        );
    }
}

/// The agent's own samples of `name` (the last minute) are spaced by housekeeping, whatever the
/// drivers do.
fn assert_collection_kept_pace(agent: &Agent, name: &str) {
    let v = agent
        .get_json(&format!("/api/v1.3/containers{name}"))
        .unwrap();
    let mut times: Vec<i64> = v["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| agent::ts_ns(&s["timestamp"]).unwrap() as i64)
        .collect();
    times.sort_unstable();
    assert!(times.len() >= 5, "{} samples", times.len());
    assert_spaced("the agent's own samples", &times);
}

#[test]
fn redis_driver_pushes_cadvisor_records_and_survives_a_restart() {
    let Some(bin) = on_path("redis-server") else {
        return missing(
            Need::Tool,
            "redis-server is not installed (scripts/setup.sh installs it)",
        );
    };
    let Some((_tree, name)) = busy_cgroup("redis") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    // Every acknowledged push is on disk before the answer, so a SIGKILL loses none.
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    let mut server = Server::start("redis-server", bin, args.map(String::from).to_vec());
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let ping = || {
        client
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    };
    assert!(wait_for(Duration::from_secs(10), ping), "{}", server.log());

    let key = "bpfa-test-stats";
    let agent = Agent::launch(&[
        "--storage_driver=redis",
        &format!("--storage_driver_host=127.0.0.1:{port}"),
        &format!("--storage_driver_db={key}"),
        "--storage_driver_buffer_duration=1s",
        "--allow_dynamic_housekeeping=false",
        // The root and the test's cgroup only, not every cgroup of a busy machine.
        "--docker_only=true",
        &format!("--raw_cgroup_prefix_whitelist={name}"),
    ])
    .unwrap();
    let records = || -> Vec<Value> {
        let Ok(mut c) = client.get_connection() else {
            return Vec::new();
        };
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .unwrap_or_default();
        raw.iter()
            .map(|r| serde_json::from_str::<Value>(r).unwrap())
            .filter(|r| r["container_Name"] == name.as_str())
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(20), || records().len() >= 3),
        "no records for {name}\n{}",
        agent.log()
    );
    let machine = hostname();
    let first = records();
    // LPUSH: the newest at the head.
    let newest = &first[0];
    let keys: Vec<&str> = newest
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "container_Name",
            "container_stats",
            "machine_name",
            "timestamp"
        ]
    );
    assert_eq!(newest["machine_name"], machine.as_str());
    let ts_us = newest["timestamp"].as_i64().unwrap();
    let stats = &newest["container_stats"];
    assert_eq!(
        i128::from(ts_us),
        agent::ts_ns(&stats["timestamp"]).unwrap() / 1000,
        "timestamp is the sample's, in µs"
    );
    assert!((now_ns() / 1000 - ts_us).abs() < 60_000_000, "recent");
    assert!(
        stats["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{stats}"
    );
    assert!(stats["memory"]["usage"].as_u64().unwrap() > 0, "{stats}");
    assert!(
        first[0]["timestamp"].as_i64() > first[1]["timestamp"].as_i64(),
        "newest first"
    );

    let down_at = now_ns() / 1000;
    outage(&agent, &mut server, "redis", |_| ping());
    assert!(
        wait_for(Duration::from_secs(30), || {
            records()
                .iter()
                .filter(|r| r["timestamp"].as_i64().unwrap() > down_at + 6_000_000)
                .count()
                >= 2
                && storage_metric(&agent, "queue_depth", "redis") < 50.0
        }),
        "no records after the restart\n{}",
        agent.log()
    );
    let mut times: Vec<i64> = records()
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap() * 1000)
        .collect();
    times.sort_unstable();
    times.dedup();
    assert!(times.first().unwrap() / 1000 < down_at && *times.last().unwrap() / 1000 > down_at);
    assert_spaced("the records in Redis", &times);
    assert_eq!(storage_metric(&agent, "dropped_total", "redis"), 0.0);
    assert!(storage_metric(&agent, "send_failures_total", "redis") >= 1.0);
    assert_eq!(storage_metric(&agent, "up", "redis"), 1.0);
    assert_collection_kept_pace(&agent, &name);
    let log = agent.log();
    for state in [
        "storage driver connected",
        "storage driver failing",
        "storage driver recovered",
    ] {
        assert_eq!(log.matches(state).count(), 1, "{state}:\n{log}");
    }
    agent.assert_healthy();
}

/// GET `/query` of an InfluxDB on `port`: the first series' rows.
fn influx_rows(port: u16, db: &str, q: &str) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let url = format!("http://127.0.0.1:{port}/query");
    let v: Value = ureq::get(&url)
        .query("db", db)
        .query("epoch", "ns")
        .query("q", q)
        .call()
        .map_err(|e| e.to_string())?
        .into_json()
        .map_err(|e| e.to_string())?;
    let series = &v["results"][0]["series"][0];
    if series.is_null() {
        return Ok((Vec::new(), Vec::new()));
    }
    let columns = series["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let rows = series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    Ok((columns, rows))
}

#[test]
fn influxdb_driver_writes_cadvisor_series_and_survives_a_restart() {
    let Some(bin) = on_path("influxd") else {
        return missing(
            Need::Tool,
            "influxd is not installed (scripts/setup.sh installs Debian's influxdb)",
        );
    };
    let Some((_tree, name)) = busy_cgroup("influxdb") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, rpc) = (free_port().unwrap(), free_port().unwrap());
    let d = dir.path().display();
    let config = dir.path().join("influxdb.conf");
    std::fs::write(
        &config,
        format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n"
        ),
    )
    .unwrap();
    let mut server = Server::start(
        "influxd",
        bin,
        vec!["-config".into(), config.display().to_string()],
    );
    let ping = || {
        ureq::get(&format!("http://127.0.0.1:{port}/ping"))
            .call()
            .is_ok_and(|r| r.status() == 204)
    };
    assert!(wait_for(Duration::from_secs(30), ping), "{}", server.log());
    let db = "bpfa_test";
    ureq::post(&format!("http://127.0.0.1:{port}/query"))
        .query("q", &format!("CREATE DATABASE {db}"))
        .call()
        .unwrap();

    let agent = Agent::launch(&[
        "--storage_driver=influxdb",
        &format!("--storage_driver_host=127.0.0.1:{port}"),
        &format!("--storage_driver_db={db}"),
        "--storage_driver_buffer_duration=1s",
        "--allow_dynamic_housekeeping=false",
        // The root and the test's cgroup only, not every cgroup of a busy machine.
        "--docker_only=true",
        &format!("--raw_cgroup_prefix_whitelist={name}"),
    ])
    .unwrap();
    let rows = |measurement: &str| {
        influx_rows(
            port,
            db,
            &format!("SELECT * FROM {measurement} WHERE container_name = '{name}'"),
        )
        .unwrap_or_default()
    };
    assert!(
        wait_for(Duration::from_secs(20), || rows("cpu_usage_total").1.len()
            >= 3),
        "no points for {name}\n{}\n{}",
        agent.log(),
        server.log()
    );
    let machine = hostname();
    let (cols, cpu) = rows("cpu_usage_total");
    let col = |c: &str| cols.iter().position(|x| x == c).unwrap();
    for r in &cpu {
        assert_eq!(r[col("machine")], machine.as_str());
        assert!(r[col("value")].as_i64().unwrap() > 0, "{r:?}");
    }
    let values: Vec<i64> = cpu
        .iter()
        .map(|r| r[col("value")].as_i64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {values:?}"
    );
    let (cols, mem) = rows("memory_usage");
    let value = cols.iter().position(|x| x == "value").unwrap();
    assert!(mem.last().unwrap()[value].as_i64().unwrap() > 0);
    let (cols, per_cpu) = rows("cpu_usage_per_cpu");
    assert!(cols.iter().any(|c| c == "instance"), "{cols:?}");
    assert!(!per_cpu.is_empty());
    let (cols, failures) = rows("memory_failure");
    assert!(
        cols.iter().any(|c| c == "failure_type") && cols.iter().any(|c| c == "scope"),
        "{cols:?}"
    );
    assert!(failures.len() >= 4);
    for m in [
        "load_average",
        "rx_bytes",
        "memory_working_set",
        "referenced_memory",
    ] {
        assert!(!rows(m).1.is_empty(), "no {m}");
    }

    let down_at = now_ns();
    outage(&agent, &mut server, "influxdb", |_| ping());
    assert!(
        wait_for(Duration::from_secs(30), || {
            rows("cpu_usage_total")
                .1
                .iter()
                .filter(|r| r[0].as_i64().unwrap() > down_at + 6_000_000_000)
                .count()
                >= 2
                && storage_metric(&agent, "queue_depth", "influxdb") < 50.0
        }),
        "no points after the restart\n{}",
        agent.log()
    );
    let mut times: Vec<i64> = rows("cpu_usage_total")
        .1
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    times.sort_unstable();
    assert!(times[0] < down_at && *times.last().unwrap() > down_at);
    assert_spaced("the points in InfluxDB", &times);
    assert_eq!(storage_metric(&agent, "dropped_total", "influxdb"), 0.0);
    assert!(storage_metric(&agent, "send_failures_total", "influxdb") >= 1.0);
    assert_eq!(storage_metric(&agent, "up", "influxdb"), 1.0);
    assert_collection_kept_pace(&agent, &name);
    agent.assert_healthy();
}

/// Where `scripts/setup.sh` installs the npm package `statsd`.
fn statsd_script() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_default();
    cache.join("bpfadvisor/statsd/node_modules/statsd/stats.js")
}

/// The gauge lines for `name` a statsd run logged (`dumpMessages`), in order.
fn statsd_lines(log: &str, prefix: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.find(prefix).map(|i| l[i..].trim().to_owned()))
        .collect()
}

#[test]
fn statsd_driver_sends_cadvisor_gauges_and_survives_a_restart() {
    let script = statsd_script();
    let (Some(node), true) = (on_path("node"), script.is_file()) else {
        return missing(
            Need::Tool,
            "node or the npm package statsd is not installed (scripts/setup.sh installs them)",
        );
    };
    let Some((_tree, name)) = busy_cgroup("statsd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, mgmt) = (free_port().unwrap(), free_port().unwrap());
    let config = dir.path().join("statsd.json");
    std::fs::write(
        &config,
        format!(
            "{{\"port\": {port}, \"address\": \"127.0.0.1\", \"mgmt_port\": {mgmt}, \
             \"mgmt_address\": \"127.0.0.1\", \"backends\": [], \"dumpMessages\": true, \
             \"flushInterval\": 1000}}"
        ),
    )
    .unwrap();
    let mut server = Server::start(
        "statsd",
        node,
        vec![script.display().to_string(), config.display().to_string()],
    );
    let listening = |runs: usize| move |s: &Server| s.log().matches("server is up").count() >= runs;
    let up1 = listening(1);
    assert!(
        wait_for(Duration::from_secs(20), || up1(&server)),
        "{}",
        server.log()
    );

    let ns = "bpfa_test";
    let agent = Agent::launch(&[
        "--storage_driver=statsd",
        &format!("--storage_driver_host=127.0.0.1:{port}"),
        &format!("--storage_driver_db={ns}"),
        "--allow_dynamic_housekeeping=false",
        // The root and the test's cgroup only, not every cgroup of a busy machine.
        "--docker_only=true",
        &format!("--raw_cgroup_prefix_whitelist={name}"),
    ])
    .unwrap();
    let prefix = format!("{ns}.{name}.");
    let count = |s: &Server, key: &str| {
        statsd_lines(&s.log(), &prefix)
            .iter()
            .filter(|l| l.starts_with(&format!("{prefix}{key}:")))
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(20), || count(
            &server,
            "cpu_usage_total"
        ) >= 3),
        "no gauges for {name}\n{}\n{}",
        agent.log(),
        server.log()
    );
    let lines = statsd_lines(&server.log(), &prefix);
    for key in [
        "cpu_usage_total",
        "cpu_cumulative_usage",
        "cpu_usage_system",
        "cpu_usage_user",
        "cpu_usage_per_cpu.0",
        "cpu_load_average",
        "rx_bytes",
        "memory_usage",
        "memory_working_set",
        "memory_total_active_file",
        "memory_failure.container.pgfault",
        "memory_failure.hierarchical.pgmajfault",
    ] {
        let line = lines
            .iter()
            .rfind(|l| l.starts_with(&format!("{prefix}{key}:")))
            .unwrap_or_else(|| panic!("no {key} in {lines:?}"));
        let value = line
            .strip_prefix(&format!("{prefix}{key}:"))
            .and_then(|v| v.strip_suffix("|g"))
            .unwrap_or_else(|| panic!("not a gauge: {line}"));
        let v: u64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        if key == "cpu_usage_total" || key == "memory_usage" {
            assert!(v > 0, "{line}");
        }
    }

    // UDP: what is sent while nobody listens is lost; the driver carries on once it is back.
    let up2 = listening(2);
    outage(&agent, &mut server, "statsd", up2);
    let before = count(&server, "cpu_usage_total");
    assert!(
        wait_for(Duration::from_secs(20), || count(
            &server,
            "cpu_usage_total"
        ) >= before + 3),
        "no gauges after the restart\n{}",
        agent.log()
    );
    assert!(storage_metric(&agent, "sent_total", "statsd") > 0.0);
    assert_eq!(storage_metric(&agent, "up", "statsd"), 1.0);
    assert_collection_kept_pace(&agent, &name);
    agent.assert_healthy();
}

#[test]
fn drivers_run_side_by_side_and_flush_their_buffer_on_shutdown() {
    let Some(bin) = on_path("redis-server") else {
        return missing(
            Need::Tool,
            "redis-server is not installed (scripts/setup.sh installs it)",
        );
    };
    let Some((_tree, name)) = busy_cgroup("flush") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    let server = Server::start("redis-server", bin, args.map(String::from).to_vec());
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let len = || {
        client
            .get_connection()
            .and_then(|mut c| redis::cmd("LLEN").arg("cadvisor").query::<u64>(&mut c))
    };
    assert!(
        wait_for(Duration::from_secs(10), || len().is_ok()),
        "{}",
        server.log()
    );
    // A buffer far longer than the test: only the shutdown sends it.
    let mut agent = Agent::launch(&[
        "--storage_driver=stdout,redis",
        &format!("--storage_driver_host=127.0.0.1:{port}"),
        "--storage_driver_buffer_duration=1h",
        "--allow_dynamic_housekeeping=false",
        "--docker_only=true",
        &format!("--raw_cgroup_prefix_whitelist={name}"),
    ])
    .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || {
            storage_metric(&agent, "queue_depth", "redis") >= 6.0
        }),
        "{}",
        agent.log()
    );
    assert_eq!(len().unwrap(), 0, "buffered, not sent yet");
    // stdout writes each sample as it comes, beside it.
    assert!(
        agent
            .stdout()
            .lines()
            .any(|l| l.starts_with(&format!("cName={name} "))),
        "{}",
        agent.stdout()
    );
    let queued = storage_metric(&agent, "queue_depth", "redis") as u64;
    let took = agent.terminate(Duration::from_secs(10)).unwrap();
    assert!(took < Duration::from_secs(7), "shutdown took {took:?}");
    let pushed = len().unwrap();
    assert!(
        pushed >= queued,
        "{pushed} records pushed at shutdown, {queued} were queued\n{}",
        agent.log()
    );
}
