//! `--storage_driver=stdout`: one line per sample on standard output, as cAdvisor's stdout driver
//! writes them:
//!
//! ```text
//! cName=<first alias, else name> host=<--storage_driver_host> timestamp=<ns> cpu_usage_total=<ns> ...
//! ```
//!
//! Every value is an unsigned integer. cAdvisor prints the pairs in Go map order, which is random;
//! here they come in a fixed order (cpu, network, referenced memory, filesystems, memory, hugetlb,
//! perf, resctrl). `timestamp` is the sample's time in Unix nanoseconds (cAdvisor takes the clock
//! when it writes the line, right after taking the sample). cAdvisor's driver writes each sample as it
//! comes and does not use `--storage_driver_buffer_duration`; neither does this one.
//!
//! The driver runs on the storage pipeline (see `pipeline.rs`): a stdout that blocks (a full pipe
//! nobody reads) makes it fall behind; its queue then drops the oldest samples, counted in
//! `bpfadvisor_storage_dropped_total{driver="stdout"}`, while collection carries on.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::driver::{Batching, Driver, DriverError, Record};
use crate::model::v1::ContainerStats;

/// The driver's name.
pub const NAME: &str = "stdout";

/// Writes to `W` (standard output in the agent).
pub struct Stdout<W> {
    host: String,
    out: W,
}

impl Stdout<io::BufWriter<io::Stdout>> {
    /// The driver on standard output; `host` is `--storage_driver_host`.
    pub fn new(host: String) -> Self {
        Self::to(io::BufWriter::new(io::stdout()), host)
    }
}

impl<W: Write + Send + 'static> Stdout<W> {
    pub fn to(out: W, host: String) -> Self {
        Self { host, out }
    }
}

impl<W: Write + Send + 'static> Driver for Stdout<W> {
    type Payload = String;

    fn name(&self) -> &'static str {
        NAME
    }

    fn batching(&self) -> Batching {
        Batching::Immediate
    }

    fn encode(&mut self, batch: &[Record]) -> String {
        let mut out = String::with_capacity(batch.len() * 1024);
        for r in batch {
            format_line(&mut out, r.alias_or_name(), &self.host, &r.stats);
        }
        out
    }

    async fn send(&mut self, payload: &String) -> Result<(), DriverError> {
        self.out
            .write_all(payload.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| DriverError::Unreachable {
                backend: "standard output".into(),
                reason: e.to_string(),
            })
    }
}

/// Appends the line (newline included) for one sample of the container called `c_name`.
pub fn format_line(out: &mut String, c_name: &str, host: &str, s: &ContainerStats) {
    // Writing to a String cannot fail.
    let _ = write!(out, "cName={c_name} host={host}");
    let mut pair = |key: std::fmt::Arguments<'_>, value: u64| {
        let _ = write!(out, " {key}={value}");
    };
    let cpu = &s.cpu.usage;
    pair(
        format_args!("timestamp"),
        u64::try_from(s.timestamp.as_unix_nanos()).unwrap_or(0),
    );
    pair(format_args!("cpu_usage_total"), cpu.total);
    // cAdvisor's older name of the same value.
    pair(format_args!("cpu_cumulative_usage"), cpu.total);
    pair(format_args!("cpu_usage_system"), cpu.system);
    pair(format_args!("cpu_usage_user"), cpu.user);
    for (i, v) in cpu.per_cpu.iter().enumerate() {
        pair(format_args!("cpu_usage_per_cpu.{i}"), *v);
    }
    // Go converts the signed load to uint64: a negative one wraps, as there.
    pair(
        format_args!("load_average"),
        i64::from(s.cpu.load_average) as u64,
    );
    let net = &s.network.interface;
    pair(format_args!("rx_bytes"), net.rx_bytes);
    pair(format_args!("rx_errors"), net.rx_errors);
    pair(format_args!("tx_bytes"), net.tx_bytes);
    pair(format_args!("tx_errors"), net.tx_errors);
    pair(format_args!("referenced_memory"), s.referenced_memory);

    if let Some(fs) = s.filesystem.get().filter(|fs| !fs.is_empty()) {
        let sum = |f: fn(&crate::model::v1::FsStats) -> u64| {
            fs.iter().map(f).fold(0u64, u64::wrapping_add)
        };
        pair(format_args!("fs_summary.fs_limit"), sum(|f| f.capacity));
        pair(format_args!("fs_summary.fs_usage"), sum(|f| f.usage));
        for (i, f) in fs.iter().enumerate() {
            // One pair per device: a device listed twice shows its last entry, as a map keeps.
            if fs[i + 1..].iter().any(|later| later.device == f.device) {
                continue;
            }
            pair(format_args!("{}.fs_limit", f.device), f.capacity);
            pair(format_args!("{}.fs_usage", f.device), f.usage);
        }
    }

    let m = &s.memory;
    pair(format_args!("memory_usage"), m.usage);
    pair(format_args!("memory_max_usage"), m.max_usage);
    pair(format_args!("memory_cache"), m.cache);
    pair(format_args!("memory_rss"), m.rss);
    pair(format_args!("memory_swap"), m.swap);
    pair(format_args!("memory_mapped_file"), m.mapped_file);
    pair(format_args!("memory_working_set"), m.working_set);
    pair(format_args!("memory_failcnt"), m.failcnt);
    for (scope, data) in [
        ("container", &m.container_data),
        ("hierarchical", &m.hierarchical_data),
    ] {
        pair(format_args!("memory_failure.{scope}.pgfault"), data.pgfault);
        pair(
            format_args!("memory_failure.{scope}.pgmajfault"),
            data.pgmajfault,
        );
    }

    if let Some(pages) = s.hugetlb.get() {
        for (size, h) in pages {
            pair(format_args!("hugetlb_usage.{size}"), h.usage);
            pair(format_args!("hugetlb_max_usage.{size}"), h.max_usage);
            pair(format_args!("hugetlb_failcnt.{size}"), h.failcnt);
        }
    }
    if let Some(perf) = s.perf_stats.get() {
        for p in perf {
            pair(format_args!("perf_stat.{}.{}", p.name, p.cpu), p.value);
        }
    }
    if let Some(r) = s.resctrl.get() {
        for (node, b) in r.memory_bandwidth.iter().enumerate() {
            pair(
                format_args!("resctrl_memory_bandwidth_total.{node}"),
                b.mbm_total_bytes,
            );
            pair(
                format_args!("resctrl_memory_bandwidth_local.{node}"),
                b.mbm_local_bytes,
            );
        }
        for (node, c) in r.cache.iter().enumerate() {
            pair(
                format_args!("resctrl_llc_occupancy.{node}"),
                c.llc_occupancy,
            );
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::model::json::Timestamp;
    use crate::model::v1::{FsStats, HugetlbStats, InterfaceStats, NetworkStats};

    fn stats() -> ContainerStats {
        let mut s = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(1_795_370_400_123_456_789),
            referenced_memory: 4096,
            ..Default::default()
        };
        s.cpu.usage.total = 3_000;
        s.cpu.usage.user = 2_000;
        s.cpu.usage.system = 1_000;
        s.cpu.usage.per_cpu = vec![1_000, 2_000];
        s.cpu.load_average = 250;
        s.network
            .set(NetworkStats::from_interfaces(vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 10,
                rx_errors: 1,
                tx_bytes: 20,
                tx_errors: 2,
                ..Default::default()
            }]));
        let fs = |device: &str, capacity, usage| FsStats {
            device: device.into(),
            capacity,
            usage,
            ..Default::default()
        };
        s.filesystem.set(vec![
            fs("/dev/vda", 100, 40),
            fs("/dev/vdb", 50, 5),
            fs("/dev/vda", 100, 41),
        ]);
        s.memory.usage = 8192;
        s.memory.max_usage = 9000;
        s.memory.cache = 100;
        s.memory.rss = 200;
        s.memory.swap = 0;
        s.memory.mapped_file = 300;
        s.memory.working_set = 7000;
        s.memory.failcnt = 3;
        s.memory.container_data.pgfault = 11;
        s.memory.container_data.pgmajfault = 1;
        s.memory.hierarchical_data.pgfault = 12;
        s.memory.hierarchical_data.pgmajfault = 2;
        s.hugetlb.set(BTreeMap::from([(
            "2MB".to_owned(),
            HugetlbStats {
                usage: 2,
                max_usage: 4,
                failcnt: 0,
            },
        )]));
        s
    }

    #[tokio::test]
    async fn lines_name_listed_containers_by_their_first_alias() {
        use crate::model::v1::{ContainerReference, ContainerSpec};
        use crate::query::{ContainerEntry, Samples};
        let entry = ContainerEntry {
            reference: ContainerReference {
                name: "/docker/abc".into(),
                aliases: vec!["web".into(), "abc".into()],
                ..Default::default()
            },
            spec: ContainerSpec::default(),
            samples: Arc::new(Samples::fixed(
                Duration::from_secs(60),
                &ContainerSpec::default(),
                [],
                0,
            )),
        };
        let record = |container: Option<Arc<ContainerEntry>>, name: &str| Record {
            name: Arc::from(name),
            container,
            stats: Arc::new(ContainerStats::default()),
        };
        let mut d = Stdout::to(Vec::new(), "h:1".into());
        let payload = d.encode(&[
            record(Some(Arc::new(entry)), "/docker/abc"),
            record(None, "/raw"),
        ]);
        d.send(&payload).await.expect("written");
        let text = String::from_utf8(d.out).expect("utf8");
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(names, ["cName=web", "cName=/raw"], "{text}");
        assert!(text.lines().all(|l| l.contains(" host=h:1 timestamp=")));
    }

    #[test]
    fn one_line_with_cadvisors_keys() {
        let mut line = String::new();
        format_line(&mut line, "web", "localhost:8086", &stats());
        assert_eq!(
            line,
            "cName=web host=localhost:8086 timestamp=1795370400123456789 cpu_usage_total=3000 \
             cpu_cumulative_usage=3000 cpu_usage_system=1000 cpu_usage_user=2000 \
             cpu_usage_per_cpu.0=1000 cpu_usage_per_cpu.1=2000 load_average=250 rx_bytes=10 \
             rx_errors=1 tx_bytes=20 tx_errors=2 referenced_memory=4096 \
             fs_summary.fs_limit=250 fs_summary.fs_usage=86 /dev/vdb.fs_limit=50 \
             /dev/vdb.fs_usage=5 /dev/vda.fs_limit=100 /dev/vda.fs_usage=41 memory_usage=8192 \
             memory_max_usage=9000 memory_cache=100 memory_rss=200 memory_swap=0 \
             memory_mapped_file=300 memory_working_set=7000 memory_failcnt=3 \
             memory_failure.container.pgfault=11 memory_failure.container.pgmajfault=1 \
             memory_failure.hierarchical.pgfault=12 memory_failure.hierarchical.pgmajfault=2 \
             hugetlb_usage.2MB=2 hugetlb_max_usage.2MB=4 hugetlb_failcnt.2MB=0\n"
        );
    }

    #[test]
    fn an_empty_sample_still_has_every_fixed_key_and_no_filesystem_summary() {
        let mut line = String::new();
        let mut s = ContainerStats::default();
        s.cpu.load_average = -1;
        format_line(&mut line, "/", "h:1", &s);
        let keys: Vec<&str> = line
            .split_whitespace()
            .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
            .collect();
        assert_eq!(keys.len(), 25, "{line}");
        assert!(!line.contains("fs_summary"), "{line}");
        assert!(
            line.contains(" load_average=18446744073709551615 "),
            "{line}"
        );
        assert!(line.ends_with(" memory_failure.hierarchical.pgmajfault=0\n"));
    }
}
