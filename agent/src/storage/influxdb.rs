//! `--storage_driver=influxdb`: cAdvisor's InfluxDB 1.x series, written in line protocol to
//! `http[s]://<--storage_driver_host>/write?db=<--storage_driver_db>[&rp=<retention policy>]` with
//! HTTP Basic auth (`--storage_driver_user`, `--storage_driver_password`), everything gathered
//! over `--storage_driver_buffer_duration` in one request.
//!
//! Every point has one integer field, `value`, the sample's time (nanoseconds) and the tags
//! `machine` (this host's name), `container_name` (the first alias, else the name) and the
//! container's labels; some series add their own tags:
//!
//! | series | own tags |
//! |---|---|
//! | `cpu_usage_total`, `cpu_usage_system`, `cpu_usage_user`, `load_average` | |
//! | `cpu_usage_per_cpu` | `instance` (the CPU) |
//! | `rx_bytes`, `rx_errors`, `tx_bytes`, `tx_errors`, `referenced_memory` | |
//! | `memory_usage`, `memory_max_usage`, `memory_cache`, `memory_rss`, `memory_swap`, `memory_mapped_file`, `memory_working_set`, `memory_total_active_file`, `memory_total_inactive_file`, `memory_failcnt` | |
//! | `memory_failure` | `failure_type` (`pgfault`, `pgmajfault`), `scope` (`container`, `hierarchical`) |
//! | `hugetlb_usage`, `hugetlb_max_usage`, `hugetlb_failcnt` | `page_size` |
//! | `perf_stat` | `cpu`, `name`, `scaling_ratio` |
//! | `resctrl_memory_bandwidth_total`, `resctrl_memory_bandwidth_local`, `resctrl_llc_occupancy` | `node_id` |
//! | `fs_usage`, `fs_limit` | `device`, `type` (`usage`, `limit`) |
//!
//! Unsigned values are written as InfluxDB's signed integers (a value past 2^63 wraps, as in
//! cAdvisor). Tags with an empty key or value are left out (InfluxDB refuses them).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::StorageOptions;
use super::driver::{Batching, Driver, DriverError, Record};
use crate::model::v1::ContainerStats;

/// The driver's name.
pub const NAME: &str = "influxdb";

/// How long a connection or a request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct InfluxDb {
    url: String,
    auth: Option<String>,
    machine: String,
    buffer: Duration,
    agent: ureq::Agent,
}

impl InfluxDb {
    pub fn new(options: &StorageOptions) -> Self {
        let scheme = if options.secure { "https" } else { "http" };
        let mut url = format!(
            "{scheme}://{}/write?db={}",
            options.host,
            query_escape(&options.db)
        );
        if !options.influxdb_retention_policy.is_empty() {
            let _ = write!(
                url,
                "&rp={}",
                query_escape(&options.influxdb_retention_policy)
            );
        }
        // cAdvisor's client sends Basic auth whenever a user is set.
        let auth = (!options.user.is_empty()).then(|| {
            use base64::Engine as _;
            let pair = format!("{}:{}", options.user, options.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Self {
            url,
            auth,
            machine: options.machine_name.clone(),
            buffer: options.buffer_duration,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(TIMEOUT)
                .timeout(TIMEOUT)
                .user_agent(concat!("bpfadvisor/", env!("CARGO_PKG_VERSION")))
                .build(),
        }
    }
}

impl Driver for InfluxDb {
    type Payload = String;

    fn name(&self) -> &'static str {
        NAME
    }

    fn batching(&self) -> Batching {
        Batching::Buffered(self.buffer)
    }

    fn encode(&mut self, batch: &[Record]) -> String {
        let mut out = String::with_capacity(batch.len() * 4096);
        for r in batch {
            encode_record(&mut out, &self.machine, r);
        }
        out
    }

    async fn send(&mut self, payload: &String) -> Result<(), DriverError> {
        let mut req = self.agent.post(&self.url);
        if let Some(auth) = &self.auth {
            req = req.set("Authorization", auth);
        }
        match req.send_string(payload) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                let reason = format!("HTTP {code}: {}", body.trim());
                let backend = format!("InfluxDB at {}", self.url);
                // A payload InfluxDB cannot parse (400) or take (413) fails the same way again.
                if code == 400 || code == 413 {
                    Err(DriverError::Rejected { backend, reason })
                } else {
                    Err(DriverError::Refused { backend, reason })
                }
            }
            Err(e) => Err(DriverError::Unreachable {
                backend: format!("InfluxDB at {}", self.url),
                reason: e.to_string(),
            }),
        }
    }
}

/// Percent-encodes a query parameter's value.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Appends the points of one sample, a line each.
pub fn encode_record(out: &mut String, machine: &str, r: &Record) {
    let mut common: BTreeMap<&str, &str> = BTreeMap::new();
    common.insert("machine", machine);
    common.insert("container_name", r.alias_or_name());
    // cAdvisor merges the labels over the common tags.
    for (k, v) in r.labels() {
        common.insert(k, v);
    }
    let ts = r.stats.timestamp.as_unix_nanos();
    let mut w = Writer {
        out,
        common: &common,
        ts,
    };
    points(&mut w, &r.stats);
}

/// Writes lines sharing the common tags and the timestamp.
struct Writer<'a> {
    out: &'a mut String,
    common: &'a BTreeMap<&'a str, &'a str>,
    ts: i64,
}

impl Writer<'_> {
    fn point(&mut self, measurement: &str, own: &[(&str, &str)], value: i64) {
        escape(self.out, measurement, b", ");
        let mut tags: BTreeMap<&str, &str> = self.common.clone();
        for (k, v) in own {
            tags.insert(k, v);
        }
        for (k, v) in tags {
            if k.is_empty() || v.is_empty() {
                continue;
            }
            self.out.push(',');
            escape(self.out, k, b", =");
            self.out.push('=');
            escape(self.out, v, b", =");
        }
        let _ = writeln!(self.out, " value={value}i {}", self.ts);
    }

    fn plain(&mut self, measurement: &str, value: u64) {
        self.point(measurement, &[], value as i64);
    }
}

/// Line protocol's escaping: a backslash before each of `special` (and newlines dropped, which
/// no line may hold).
fn escape(out: &mut String, s: &str, special: &[u8]) {
    for c in s.chars() {
        if c == '\n' || c == '\r' {
            continue;
        }
        if c.is_ascii() && special.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The points of one sample, in cAdvisor's order: cpu and network, memory, hugetlb, perf,
/// resctrl, filesystems.
fn points(w: &mut Writer<'_>, s: &ContainerStats) {
    let cpu = &s.cpu.usage;
    w.plain("cpu_usage_total", cpu.total);
    w.plain("cpu_usage_system", cpu.system);
    w.plain("cpu_usage_user", cpu.user);
    for (i, v) in cpu.per_cpu.iter().enumerate() {
        w.point(
            "cpu_usage_per_cpu",
            &[("instance", &i.to_string())],
            *v as i64,
        );
    }
    w.point("load_average", &[], i64::from(s.cpu.load_average));
    let net = &s.network.interface;
    w.plain("rx_bytes", net.rx_bytes);
    w.plain("rx_errors", net.rx_errors);
    w.plain("tx_bytes", net.tx_bytes);
    w.plain("tx_errors", net.tx_errors);
    w.plain("referenced_memory", s.referenced_memory);

    let m = &s.memory;
    w.plain("memory_usage", m.usage);
    w.plain("memory_max_usage", m.max_usage);
    w.plain("memory_cache", m.cache);
    w.plain("memory_rss", m.rss);
    w.plain("memory_swap", m.swap);
    w.plain("memory_mapped_file", m.mapped_file);
    w.plain("memory_working_set", m.working_set);
    w.plain("memory_total_active_file", m.total_active_file);
    w.plain("memory_total_inactive_file", m.total_inactive_file);
    w.plain("memory_failcnt", m.failcnt);
    for (scope, data) in [
        ("container", &m.container_data),
        ("hierarchical", &m.hierarchical_data),
    ] {
        for (kind, v) in [("pgfault", data.pgfault), ("pgmajfault", data.pgmajfault)] {
            w.point(
                "memory_failure",
                &[("failure_type", kind), ("scope", scope)],
                v as i64,
            );
        }
    }

    if let Some(pages) = s.hugetlb.get() {
        for (size, h) in pages {
            let tags = [("page_size", size.as_str())];
            w.point("hugetlb_usage", &tags, h.usage as i64);
            w.point("hugetlb_max_usage", &tags, h.max_usage as i64);
            w.point("hugetlb_failcnt", &tags, h.failcnt as i64);
        }
    }
    if let Some(perf) = s.perf_stats.get() {
        for p in perf {
            let cpu = p.cpu.to_string();
            let ratio = go_float(p.scaling_ratio);
            w.point(
                "perf_stat",
                &[("cpu", &cpu), ("name", &p.name), ("scaling_ratio", &ratio)],
                p.value as i64,
            );
        }
    }
    if let Some(r) = s.resctrl.get() {
        for (node, b) in r.memory_bandwidth.iter().enumerate() {
            let node = node.to_string();
            let tags = [("node_id", node.as_str())];
            w.point(
                "resctrl_memory_bandwidth_total",
                &tags,
                b.mbm_total_bytes as i64,
            );
            w.point(
                "resctrl_memory_bandwidth_local",
                &tags,
                b.mbm_local_bytes as i64,
            );
        }
        for (node, c) in r.cache.iter().enumerate() {
            let node = node.to_string();
            w.point(
                "resctrl_llc_occupancy",
                &[("node_id", &node)],
                c.llc_occupancy as i64,
            );
        }
    }
    if let Some(fs) = s.filesystem.get() {
        for f in fs {
            let device = f.device.as_str();
            w.point(
                "fs_usage",
                &[("device", device), ("type", "usage")],
                f.usage as i64,
            );
            w.point(
                "fs_limit",
                &[("device", device), ("type", "limit")],
                f.capacity as i64,
            );
        }
    }
}

/// A float as Go's `%v` prints it (`1`, `0.5`, `1e+21`).
fn go_float(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e21 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::model::json::Timestamp;
    use crate::model::v1::{
        ContainerReference, ContainerSpec, FsStats, HugetlbStats, InterfaceStats, NetworkStats,
    };
    use crate::query::{ContainerEntry, Samples};

    fn record(listed: bool) -> Record {
        let mut s = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
            referenced_memory: 7,
            ..Default::default()
        };
        s.cpu.usage.total = 3000;
        s.cpu.usage.system = 1000;
        s.cpu.usage.user = 2000;
        s.cpu.usage.per_cpu = vec![1000, 2000];
        s.cpu.load_average = -3;
        s.network
            .set(NetworkStats::from_interfaces(vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 10,
                ..Default::default()
            }]));
        s.memory.usage = u64::MAX;
        s.memory.container_data.pgfault = 11;
        s.memory.hierarchical_data.pgmajfault = 2;
        s.hugetlb.set(BTreeMap::from([(
            "2MB".to_owned(),
            HugetlbStats {
                usage: 2,
                max_usage: 4,
                failcnt: 0,
            },
        )]));
        s.filesystem.set(vec![FsStats {
            device: "/dev/vda 1".into(),
            capacity: 100,
            usage: 40,
            ..Default::default()
        }]);
        let container = listed.then(|| {
            let spec = ContainerSpec {
                labels: BTreeMap::from([
                    ("app".to_owned(), "web,1".to_owned()),
                    ("empty".to_owned(), String::new()),
                ]),
                ..Default::default()
            };
            Arc::new(ContainerEntry {
                reference: ContainerReference {
                    name: "/docker/abc".into(),
                    aliases: vec!["web".into(), "abc".into()],
                    ..Default::default()
                },
                samples: Arc::new(Samples::fixed(Duration::from_secs(60), &spec, [], 0)),
                spec,
            })
        });
        Record {
            name: Arc::from("/docker/abc"),
            container,
            stats: Arc::new(s),
        }
    }

    #[test]
    fn cadvisors_series_tags_and_values_in_line_protocol() {
        let mut out = String::new();
        encode_record(&mut out, "node-1", &record(true));
        let lines: Vec<&str> = out.lines().collect();
        let tags = "app=web\\,1,container_name=web,machine=node-1";
        let ts = "1700000000123456789";
        assert_eq!(lines[0], format!("cpu_usage_total,{tags} value=3000i {ts}"));
        let c = "app=web\\,1,container_name=web";
        for want in [
            format!("cpu_usage_per_cpu,{c},instance=1,machine=node-1 value=2000i {ts}"),
            format!("load_average,{tags} value=-3i {ts}"),
            format!("rx_bytes,{tags} value=10i {ts}"),
            format!("memory_usage,{tags} value=-1i {ts}"),
            format!(
                "memory_failure,{c},failure_type=pgfault,machine=node-1,scope=container value=11i {ts}"
            ),
            format!(
                "memory_failure,{c},failure_type=pgmajfault,machine=node-1,scope=hierarchical value=2i {ts}"
            ),
            format!("hugetlb_max_usage,{tags},page_size=2MB value=4i {ts}"),
            format!("fs_usage,{c},device=/dev/vda\\ 1,machine=node-1,type=usage value=40i {ts}"),
            format!("fs_limit,{c},device=/dev/vda\\ 1,machine=node-1,type=limit value=100i {ts}"),
        ] {
            assert!(lines.contains(&want.as_str()), "{want}\n{out}");
        }
        // 3 cpu + 2 per-cpu + load + 4 network + referenced + 10 memory + 4 failures + 3 hugetlb
        // + 2 filesystem.
        assert_eq!(lines.len(), 30, "{out}");
    }

    #[test]
    fn an_unlisted_container_is_named_by_its_cgroup() {
        let mut out = String::new();
        encode_record(&mut out, "node-1", &record(false));
        assert!(
            out.starts_with(
                "cpu_usage_total,container_name=/docker/abc,machine=node-1 value=3000i "
            )
        );
    }

    #[test]
    fn the_url_names_database_and_retention_policy() {
        let mut o = StorageOptions {
            db: "my db".into(),
            ..Default::default()
        };
        assert_eq!(
            InfluxDb::new(&o).url,
            "http://localhost:8086/write?db=my%20db"
        );
        o.secure = true;
        o.influxdb_retention_policy = "week".into();
        assert_eq!(
            InfluxDb::new(&o).url,
            "https://localhost:8086/write?db=my%20db&rp=week"
        );
        assert_eq!(
            InfluxDb::new(&o).auth.as_deref(),
            Some("Basic cm9vdDpyb290")
        );
    }

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
    }
}
