//! `--storage_driver=statsd`: cAdvisor's StatsD gauges, one UDP datagram per value to
//! `--storage_driver_host`, each sample as it comes:
//!
//! ```text
//! <--storage_driver_db>.<first alias, else name>.<key>:<value>|g
//! ```
//!
//! The keys: `cpu_usage_total`, `cpu_cumulative_usage` (the same value), `cpu_usage_system`,
//! `cpu_usage_user`, `cpu_usage_per_cpu.<cpu>`, `cpu_load_average`, `rx_bytes`, `rx_errors`,
//! `tx_bytes`, `tx_errors`, `referenced_memory`, `fs_summary.fs_limit` and `fs_summary.fs_usage`
//! (sums over the filesystems), `<device>.fs_limit`, `<device>.fs_usage`, `memory_usage`,
//! `memory_max_usage`, `memory_cache`, `memory_rss`, `memory_swap`, `memory_mapped_file`,
//! `memory_working_set`, `memory_total_active_file`, `memory_total_inactive_file`,
//! `memory_failcnt`, `memory_failure.{container,hierarchical}.{pgfault,pgmajfault}`,
//! `hugetlb_{usage,max_usage,failcnt}.<page size>`, `perf_stat.<name>.<cpu>`,
//! `resctrl_memory_bandwidth_{total,local}.<node>`, `resctrl_llc_occupancy.<node>`. Values are
//! unsigned (a negative load average wraps, as in cAdvisor). cAdvisor sends them in Go's random
//! map order; here the order is fixed.
//!
//! UDP delivers nothing while no server listens; the kernel's "connection refused" for an earlier
//! datagram makes a send fail, which the pipeline retries (a gauge sent twice is harmless).

use std::fmt::Write as _;
use std::net::UdpSocket;

use super::StorageOptions;
use super::driver::{Batching, Driver, DriverError, Record};
use crate::model::v1::ContainerStats;

/// The driver's name.
pub const NAME: &str = "statsd";

pub struct Statsd {
    host: String,
    namespace: String,
    socket: Option<UdpSocket>,
}

impl Statsd {
    pub fn new(options: &StorageOptions) -> Self {
        Self {
            host: options.host.clone(),
            namespace: options.db.clone(),
            socket: None,
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> DriverError {
        DriverError::Unreachable {
            backend: format!("StatsD at {}", self.host),
            reason: e.to_string(),
        }
    }

    fn connect(&self) -> Result<UdpSocket, DriverError> {
        let socket = UdpSocket::bind(("0.0.0.0", 0))
            .or_else(|_| UdpSocket::bind(("::", 0)))
            .map_err(|e| self.unreachable(e))?;
        socket
            .connect(self.host.as_str())
            .map_err(|e| self.unreachable(e))?;
        Ok(socket)
    }
}

impl Driver for Statsd {
    type Payload = Vec<String>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn batching(&self) -> Batching {
        Batching::Immediate
    }

    fn encode(&mut self, batch: &[Record]) -> Vec<String> {
        let mut out = Vec::with_capacity(batch.len() * 40);
        for r in batch {
            let prefix = format!("{}.{}.", self.namespace, r.alias_or_name());
            gauges(&r.stats, &mut |key, value| {
                let mut line = prefix.clone();
                let _ = write!(line, "{key}:{value}|g");
                out.push(line);
            });
        }
        out
    }

    async fn send(&mut self, payload: &Vec<String>) -> Result<(), DriverError> {
        let socket = match self.socket.take() {
            Some(s) => s,
            None => self.connect()?,
        };
        for line in payload {
            if let Err(e) = socket.send(line.as_bytes()) {
                // A fresh socket next time: the address may resolve elsewhere by then.
                return Err(self.unreachable(e));
            }
        }
        self.socket = Some(socket);
        Ok(())
    }
}

/// Calls `f` with each key and value of one sample.
pub fn gauges(s: &ContainerStats, f: &mut dyn FnMut(std::fmt::Arguments<'_>, u64)) {
    let cpu = &s.cpu.usage;
    f(format_args!("cpu_usage_total"), cpu.total);
    f(format_args!("cpu_cumulative_usage"), cpu.total);
    f(format_args!("cpu_usage_system"), cpu.system);
    f(format_args!("cpu_usage_user"), cpu.user);
    for (i, v) in cpu.per_cpu.iter().enumerate() {
        f(format_args!("cpu_usage_per_cpu.{i}"), *v);
    }
    f(
        format_args!("cpu_load_average"),
        i64::from(s.cpu.load_average) as u64,
    );
    let net = &s.network.interface;
    f(format_args!("rx_bytes"), net.rx_bytes);
    f(format_args!("rx_errors"), net.rx_errors);
    f(format_args!("tx_bytes"), net.tx_bytes);
    f(format_args!("tx_errors"), net.tx_errors);
    f(format_args!("referenced_memory"), s.referenced_memory);
    if let Some(fs) = s.filesystem.get().filter(|fs| !fs.is_empty()) {
        let sum = |g: fn(&crate::model::v1::FsStats) -> u64| {
            fs.iter().map(g).fold(0u64, u64::wrapping_add)
        };
        f(format_args!("fs_summary.fs_limit"), sum(|x| x.capacity));
        f(format_args!("fs_summary.fs_usage"), sum(|x| x.usage));
        for (i, x) in fs.iter().enumerate() {
            // A device listed twice: its last entry, as a map keeps.
            if fs[i + 1..].iter().any(|later| later.device == x.device) {
                continue;
            }
            f(format_args!("{}.fs_limit", x.device), x.capacity);
            f(format_args!("{}.fs_usage", x.device), x.usage);
        }
    }
    let m = &s.memory;
    f(format_args!("memory_usage"), m.usage);
    f(format_args!("memory_max_usage"), m.max_usage);
    f(format_args!("memory_cache"), m.cache);
    f(format_args!("memory_rss"), m.rss);
    f(format_args!("memory_swap"), m.swap);
    f(format_args!("memory_mapped_file"), m.mapped_file);
    f(format_args!("memory_working_set"), m.working_set);
    f(
        format_args!("memory_total_active_file"),
        m.total_active_file,
    );
    f(
        format_args!("memory_total_inactive_file"),
        m.total_inactive_file,
    );
    f(format_args!("memory_failcnt"), m.failcnt);
    for (scope, data) in [
        ("container", &m.container_data),
        ("hierarchical", &m.hierarchical_data),
    ] {
        f(format_args!("memory_failure.{scope}.pgfault"), data.pgfault);
        f(
            format_args!("memory_failure.{scope}.pgmajfault"),
            data.pgmajfault,
        );
    }
    if let Some(pages) = s.hugetlb.get() {
        for (size, h) in pages {
            f(format_args!("hugetlb_usage.{size}"), h.usage);
            f(format_args!("hugetlb_max_usage.{size}"), h.max_usage);
            f(format_args!("hugetlb_failcnt.{size}"), h.failcnt);
        }
    }
    if let Some(perf) = s.perf_stats.get() {
        for p in perf {
            f(format_args!("perf_stat.{}.{}", p.name, p.cpu), p.value);
        }
    }
    if let Some(r) = s.resctrl.get() {
        for (node, b) in r.memory_bandwidth.iter().enumerate() {
            f(
                format_args!("resctrl_memory_bandwidth_total.{node}"),
                b.mbm_total_bytes,
            );
            f(
                format_args!("resctrl_memory_bandwidth_local.{node}"),
                b.mbm_local_bytes,
            );
        }
        for (node, c) in r.cache.iter().enumerate() {
            f(
                format_args!("resctrl_llc_occupancy.{node}"),
                c.llc_occupancy,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::model::v1::FsStats;

    fn record() -> Record {
        let mut s = ContainerStats::default();
        s.cpu.usage.total = 3000;
        s.cpu.usage.per_cpu = vec![1, 2];
        s.cpu.load_average = -1;
        s.memory.working_set = 77;
        s.filesystem.set(vec![
            FsStats {
                device: "/dev/vda".into(),
                capacity: 100,
                usage: 40,
                ..Default::default()
            },
            FsStats {
                device: "/dev/vdb".into(),
                capacity: 50,
                usage: 5,
                ..Default::default()
            },
        ]);
        Record {
            name: Arc::from("/system.slice/x.service"),
            container: None,
            stats: Arc::new(s),
        }
    }

    #[test]
    fn one_gauge_per_key_under_namespace_and_container() {
        let mut d = Statsd::new(&StorageOptions::default());
        let lines = d.encode(&[record()]);
        let p = "cadvisor./system.slice/x.service.";
        for want in [
            "cpu_usage_total:3000|g",
            "cpu_cumulative_usage:3000|g",
            "cpu_usage_per_cpu.1:2|g",
            "cpu_load_average:18446744073709551615|g",
            "fs_summary.fs_limit:150|g",
            "fs_summary.fs_usage:45|g",
            "/dev/vdb.fs_usage:5|g",
            "memory_working_set:77|g",
            "memory_total_inactive_file:0|g",
            "memory_failure.hierarchical.pgmajfault:0|g",
        ] {
            assert!(lines.contains(&format!("{p}{want}")), "{want}: {lines:?}");
        }
        // 4 cpu + 2 per-cpu + load + 4 network + referenced + 2 summary + 4 devices + 10 memory
        // + 4 failures.
        assert_eq!(lines.len(), 32, "{lines:?}");
    }

    #[tokio::test]
    async fn datagrams_reach_a_listener() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let options = StorageOptions {
            host: server.local_addr().expect("addr").to_string(),
            db: "ns".into(),
            ..Default::default()
        };
        let mut d = Statsd::new(&options);
        let payload = d.encode(&[record()]);
        d.send(&payload).await.expect("sent");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).expect("datagram");
        assert_eq!(
            &buf[..n],
            b"ns./system.slice/x.service.cpu_usage_total:3000|g"
        );
    }
}
