//! Embeds bpfadvisor in a program of its own, as kubelet embeds cAdvisor, and prints a summary of
//! the node: machine, root filesystem, CPU and memory of the node and of every pod, and how many
//! containers it sees.
//!
//! ```sh
//! cargo run -p agent --example node_summary -- --housekeeping_interval=1s
//! ```
//!
//! Flags are the agent's (cAdvisor's); nothing is served over HTTP.

use std::io::Write;
use std::time::Duration;

use bpfadvisor::embed::{self, Embedded};
use bpfadvisor::kube::pods;
use bpfadvisor::kube::summary::Scope;

fn main() -> anyhow::Result<()> {
    let flags: Vec<String> = std::env::args().skip(1).collect();
    run(&flags, &mut std::io::stdout().lock())
}

/// Starts the embedded collector with `flags`, waits for its first samples and writes the summary
/// to `out`.
pub fn run(flags: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
    let config = embed::config_from_flags(flags)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let agent = Embedded::start(&config).await?;
        if !agent.wait_for_stats(Duration::from_secs(20)).await {
            anyhow::bail!("no samples of the root cgroup within 20 s");
        }
        let machine = agent.machine_info();
        let version = agent.version_info();
        writeln!(
            out,
            "machine: {} cores, {} MiB memory, kernel {}, collector {}",
            machine.num_cores,
            machine.memory_capacity >> 20,
            version.kernel_version,
            version.cadvisor_version
        )?;
        match agent.root_fs_info() {
            Ok(fs) => writeln!(
                out,
                "root filesystem: {} on {}, {} of {} GiB available",
                fs.device,
                fs.mountpoint,
                fs.available >> 30,
                fs.capacity >> 30
            )?,
            Err(e) => writeln!(out, "root filesystem: {e}")?,
        }
        let containers = agent.container_info_v2("/", 2, true)?;
        writeln!(out, "containers: {}", containers.len())?;

        let summary = agent.summary(Scope::Full)?;
        let node = &summary.node;
        let cores = node
            .cpu
            .as_ref()
            .and_then(|c| c.usage_nano_cores)
            .unwrap_or(0) as f64
            / 1e9;
        let ws = node
            .memory
            .as_ref()
            .and_then(|m| m.working_set_bytes)
            .unwrap_or(0);
        writeln!(
            out,
            "node {}: {cores:.3} cores in use, {} MiB working set",
            node.node_name,
            ws >> 20
        )?;
        let snap = agent.snapshot();
        let qos: Vec<(String, &'static str)> = pods::pods(&snap)
            .iter()
            .map(|p| (p.reference.uid.clone(), p.qos.map_or("", pods::qos_name)))
            .collect();
        writeln!(out, "pods: {}", summary.pods.len())?;
        for p in &summary.pods {
            let class = qos
                .iter()
                .find(|(uid, _)| *uid == p.pod_ref.uid)
                .map_or("", |(_, q)| *q);
            let cores = p.cpu.as_ref().and_then(|c| c.usage_nano_cores).unwrap_or(0) as f64 / 1e9;
            let ws = p
                .memory
                .as_ref()
                .and_then(|m| m.working_set_bytes)
                .unwrap_or(0);
            writeln!(
                out,
                "  {}/{} ({class}): {} containers, {cores:.3} cores, {} KiB working set",
                p.pod_ref.namespace,
                p.pod_ref.name,
                p.containers.len(),
                ws >> 10
            )?;
        }
        Ok(())
    })
}
