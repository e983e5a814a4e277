//! Builds kubelet's Summary (`/stats/summary`) from one snapshot, as kubelet builds it from the
//! cAdvisor it embeds (its cAdvisor stats provider): node figures from the root cgroup, pods from
//! [`super::pods`], each container's newest sample, and `usageNanoCores` from its two newest
//! samples (cAdvisor's `cpu_inst`, the same number `/api/v2.1/stats` reports for that sample).
//!
//! Pure given the snapshot and [`NodeFacts`]. Where kubelet knows more than a node agent can
//! (pod start times from the API server, image bytes from the runtime, volumes, pod log
//! directories), the nearest thing the node shows is used or the optional field left out; the
//! README lists each.

use std::sync::Arc;

use super::node::NodeFacts;
use super::pods::{self, Pod};
use super::types::{
    ContainerStats, CpuStats, FsStats, InterfaceStats, KubeTime, MemoryStats, NetworkStats,
    NodeStats, PodReference, PodStats, ProcessStats, RlimitStats, RuntimeStats,
    SYSTEM_CONTAINER_KUBELET, SYSTEM_CONTAINER_PODS, SYSTEM_CONTAINER_RUNTIME, Summary, SwapStats,
};
use crate::model::json::Timestamp;
use crate::model::machine::MachineInfo;
use crate::model::v1;
use crate::model::v2::inst_cpu_stats;
use crate::query::{ContainerEntry, Snapshot};

/// The interface kubelet takes a network's top-level figures from.
const DEFAULT_INTERFACE: &str = "eth0";

/// Limits above this are "unlimited" (kubelet's `isMemoryUnlimited`: not `i64::MAX`, which the
/// kernel rounds to a page multiple).
const UNLIMITED: u64 = 1 << 62;

/// kubelet's system containers and the cgroups that stand for them, first present wins.
const SYSTEM_CONTAINERS: [(&str, &[&str]); 3] = [
    (
        SYSTEM_CONTAINER_KUBELET,
        &[
            "/system.slice/kubelet.service",
            "/kubelet.slice",
            "/kubelet",
        ],
    ),
    (
        SYSTEM_CONTAINER_RUNTIME,
        &[
            "/system.slice/docker.service",
            "/system.slice/containerd.service",
            "/system.slice/crio.service",
        ],
    ),
    (SYSTEM_CONTAINER_PODS, &["/kubepods", "/kubepods.slice"]),
];

/// Why no summary can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryError {
    /// The root cgroup has no sample yet (just after start).
    #[error("failed to get root cgroup stats: no stats for \"/\" yet")]
    NoRootStats,
}

/// What to include: everything (`/stats/summary`) or kubelet's `GetCPUAndMemoryStats` subset
/// (`?only_cpu_and_memory=true`, and what `/metrics/resource` is made of).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Full,
    CpuAndMemory,
}

/// The newest sample of a container and the one before it.
struct Latest {
    cur: Arc<v1::ContainerStats>,
    prev: Option<Arc<v1::ContainerStats>>,
}

fn latest(e: &ContainerEntry) -> Option<Latest> {
    let mut two = e.samples.range(None, None, Some(2));
    let cur = two.pop()?;
    Some(Latest {
        cur,
        prev: two.pop(),
    })
}

/// A filesystem's figures from the root container's newest sample (what `/api/v2.0/storage`
/// reports for it).
#[derive(Debug, Clone, Copy)]
struct FsFigures {
    time: Timestamp,
    capacity: u64,
    available: u64,
    usage: u64,
    inodes: Option<u64>,
    inodes_free: Option<u64>,
}

impl FsFigures {
    fn find(root: &v1::ContainerStats, device: Option<&str>) -> Option<Self> {
        let device = device?;
        let fs = root.filesystem.iter().find(|f| f.device == device)?;
        Some(Self {
            time: root.timestamp,
            capacity: fs.capacity,
            available: fs.available,
            usage: fs.usage,
            inodes: fs.has_inodes.then_some(fs.inodes),
            inodes_free: fs.has_inodes.then_some(fs.inodes_free),
        })
    }

    fn inodes_used(&self) -> Option<u64> {
        Some(self.inodes?.saturating_sub(self.inodes_free?))
    }

    /// The filesystem as a whole (`node.fs`, `runtime.imageFs`).
    fn whole(&self, used: Option<u64>) -> FsStats {
        FsStats {
            time: self.time.into(),
            available_bytes: Some(self.available),
            capacity_bytes: Some(self.capacity),
            used_bytes: used,
            inodes_free: self.inodes_free,
            inodes: self.inodes,
            inodes_used: self.inodes_used(),
        }
    }

    /// Capacity figures of the filesystem a container's data is on, stamped with the container's
    /// sample time (kubelet's `buildRootfsStats` / `buildLogsStats`).
    fn holding(&self, at: Timestamp) -> FsStats {
        FsStats {
            time: at.into(),
            available_bytes: Some(self.available),
            capacity_bytes: Some(self.capacity),
            used_bytes: None,
            inodes_free: self.inodes_free,
            inodes: self.inodes,
            inodes_used: None,
        }
    }
}

/// Everything the builders share.
struct Ctx<'a> {
    machine: &'a MachineInfo,
    scope: Scope,
    root_fs: Option<FsFigures>,
    image_fs: Option<FsFigures>,
}

/// Builds the summary of `snap`.
pub fn build(snap: &Snapshot, facts: &NodeFacts, scope: Scope) -> Result<Summary, SummaryError> {
    let root = snap.get("/").ok_or(SummaryError::NoRootStats)?;
    let root_latest = latest(root).ok_or(SummaryError::NoRootStats)?;
    let full = scope == Scope::Full;
    let cx = Ctx {
        machine: &snap.machine,
        scope,
        root_fs: full
            .then(|| FsFigures::find(&root_latest.cur, facts.root_fs_device.as_deref()))
            .flatten(),
        image_fs: full
            .then(|| FsFigures::find(&root_latest.cur, facts.image_fs_device.as_deref()))
            .flatten(),
    };
    let (cpu, memory) = cpu_and_memory(&cx, root, &root_latest);
    let mut node = NodeStats {
        node_name: facts.node_name.clone(),
        system_containers: system_containers(&cx, snap),
        start_time: root.spec.creation_time.into(),
        cpu,
        memory,
        swap: swap(root, &root_latest),
        ..NodeStats::default()
    };
    if full {
        node.network = network(root, &root_latest);
        node.fs = cx.root_fs.map(|f| f.whole(Some(f.usage)));
        // The bytes images take are the runtime's to tell (kubelet asks it over CRI): left out.
        let image = cx.image_fs.map(|f| f.whole(None));
        node.runtime = Some(RuntimeStats {
            image_fs: image.clone(),
            container_fs: image,
        });
        node.rlimit = Some(RlimitStats {
            time: facts.rlimit.time.into(),
            max_pid: facts.rlimit.max_pid,
            num_of_running_processes: facts.rlimit.tasks,
        });
    }
    let pods = pods::pods(snap)
        .iter()
        .filter(|p| p.is_named())
        .map(|p| pod_stats(&cx, p))
        .collect();
    Ok(Summary { node, pods })
}

fn system_containers(cx: &Ctx, snap: &Snapshot) -> Vec<ContainerStats> {
    SYSTEM_CONTAINERS
        .iter()
        .filter_map(|(sys, names)| {
            let e = names.iter().find_map(|n| snap.get(n))?;
            let mut s = container_stats(cx, sys, e);
            // System containers have no filesystem of their own.
            s.rootfs = None;
            s.logs = None;
            Some(s)
        })
        .collect()
}

fn pod_stats(cx: &Ctx, pod: &Pod) -> PodStats {
    let start = pod
        .sandbox
        .or(pod.cgroup)
        .map(|e| e.spec.creation_time)
        .or_else(|| {
            pod.containers
                .iter()
                .map(|c| c.entry.spec.creation_time)
                .min()
        })
        .unwrap_or_default();
    let mut out = PodStats {
        pod_ref: PodReference {
            name: pod.reference.name.clone(),
            namespace: pod.reference.namespace.clone(),
            uid: pod.reference.uid.clone(),
        },
        start_time: start.into(),
        containers: pod
            .containers
            .iter()
            .map(|c| container_stats(cx, &c.name, c.entry))
            .collect(),
        ..PodStats::default()
    };
    if let Some(cg) = pod.cgroup
        && let Some(l) = latest(cg)
    {
        (out.cpu, out.memory) = cpu_and_memory(cx, cg, &l);
        out.swap = swap(cg, &l);
    }
    if cx.scope == Scope::Full {
        out.network = pod
            .sandbox
            .and_then(|s| latest(s).and_then(|l| network(s, &l)));
        out.ephemeral_storage = cx.root_fs.map(|f| ephemeral_storage(&f, &out.containers));
        out.process_stats = process_stats(pod);
    }
    out
}

/// One container (kubelet's `cadvisorInfoToContainerStats`, or its CPU-and-memory variant).
fn container_stats(cx: &Ctx, name: &str, e: &ContainerEntry) -> ContainerStats {
    let mut out = ContainerStats {
        name: name.to_string(),
        start_time: e.spec.creation_time.into(),
        ..ContainerStats::default()
    };
    let Some(l) = latest(e) else {
        return out;
    };
    (out.cpu, out.memory) = cpu_and_memory(cx, e, &l);
    out.swap = swap(e, &l);
    if cx.scope == Scope::Full {
        let at = l.cur.timestamp;
        out.logs = cx.root_fs.map(|f| {
            // kubelet counts the whole filesystem's used inodes here.
            FsStats {
                inodes_used: f.inodes_used(),
                ..f.holding(at)
            }
        });
        out.rootfs = cx.image_fs.map(|f| f.holding(at));
        if e.spec.has_filesystem
            && let [fs] = l.cur.filesystem.as_slice()
        {
            // cAdvisor's v2 filesystem stats: base (writable layer) and total usage, inodes.
            if let Some(r) = out.rootfs.as_mut() {
                r.used_bytes = Some(fs.base_usage);
                r.inodes_used = Some(fs.inodes);
            }
            if let Some(logs) = out.logs.as_mut() {
                logs.used_bytes = Some(fs.usage.saturating_sub(fs.base_usage));
            }
        }
    }
    out
}

/// The memory limit the v2 API reports: unset (0) means the machine's memory.
fn memory_limit(spec: &v1::ContainerSpec, machine: &MachineInfo) -> u64 {
    if spec.memory.limit == 0 {
        machine.memory_capacity
    } else {
        spec.memory.limit
    }
}

/// kubelet's `cadvisorInfoToCPUandMemoryStats`: the CPU section always (zeros without cpu), the
/// memory section with only a zero working set when the container has no memory controller.
fn cpu_and_memory(
    cx: &Ctx,
    e: &ContainerEntry,
    l: &Latest,
) -> (Option<CpuStats>, Option<MemoryStats>) {
    let s = &*l.cur;
    let time = KubeTime(s.timestamp);
    let mut cpu = CpuStats {
        time,
        usage_nano_cores: Some(0),
        usage_core_nano_seconds: Some(0),
    };
    if e.spec.has_cpu {
        cpu.usage_core_nano_seconds = Some(s.cpu.usage.total);
        if let Some(inst) = l.prev.as_ref().and_then(|p| inst_cpu_stats(p, s).ok()) {
            cpu.usage_nano_cores = Some(inst.usage.total);
        }
    }
    let memory = if e.spec.has_memory {
        let m = &s.memory;
        let limit = memory_limit(&e.spec, cx.machine);
        MemoryStats {
            time,
            available_bytes: (limit <= UNLIMITED).then(|| limit.saturating_sub(m.working_set)),
            usage_bytes: Some(m.usage),
            working_set_bytes: Some(m.working_set),
            rss_bytes: Some(m.rss),
            page_faults: Some(m.container_data.pgfault),
            major_page_faults: Some(m.container_data.pgmajfault),
        }
    } else {
        MemoryStats {
            time,
            working_set_bytes: Some(0),
            ..MemoryStats::default()
        }
    };
    (Some(cpu), Some(memory))
}

/// kubelet's `cadvisorInfoToSwapStats`.
fn swap(e: &ContainerEntry, l: &Latest) -> Option<SwapStats> {
    if !e.spec.has_memory {
        return None;
    }
    let used = l.cur.memory.swap;
    let limit = e.spec.memory.swap_limit;
    Some(SwapStats {
        time: l.cur.timestamp.into(),
        swap_available_bytes: (limit <= UNLIMITED).then(|| limit.saturating_sub(used)),
        swap_usage_bytes: Some(used),
    })
}

/// kubelet's `cadvisorInfoToNetworkStats`: every interface, `eth0` also inlined.
fn network(e: &ContainerEntry, l: &Latest) -> Option<NetworkStats> {
    if !e.spec.has_network {
        return None;
    }
    let mut out = NetworkStats {
        time: l.cur.timestamp.into(),
        ..NetworkStats::default()
    };
    for i in &l.cur.network.interfaces {
        let s = InterfaceStats {
            name: i.name.clone(),
            rx_bytes: Some(i.rx_bytes),
            rx_errors: Some(i.rx_errors),
            tx_bytes: Some(i.tx_bytes),
            tx_errors: Some(i.tx_errors),
        };
        if i.name == DEFAULT_INTERFACE {
            out.name = s.name.clone();
            out.rx_bytes = s.rx_bytes;
            out.rx_errors = s.rx_errors;
            out.tx_bytes = s.tx_bytes;
            out.tx_errors = s.tx_errors;
        }
        out.interfaces.push(s);
    }
    Some(out)
}

/// kubelet's `calcEphemeralStorage` over the pod's containers: the root filesystem's capacity with
/// the containers' writable layers and logs as used bytes (volumes and the pod's log directory are
/// the kubelet's to know).
fn ephemeral_storage(root: &FsFigures, containers: &[ContainerStats]) -> FsStats {
    let mut out = FsStats {
        time: root.time.into(),
        available_bytes: Some(root.available),
        capacity_bytes: Some(root.capacity),
        inodes_free: root.inodes_free,
        inodes: root.inodes,
        ..FsStats::default()
    };
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    for c in containers {
        let Some(rootfs) = &c.rootfs else { continue };
        out.time = out.time.max(rootfs.time);
        out.inodes_used = add(out.inodes_used, rootfs.inodes_used);
        out.used_bytes = add(out.used_bytes, rootfs.used_bytes);
        if let Some(logs) = &c.logs {
            out.used_bytes = add(out.used_bytes, logs.used_bytes);
            out.time = out.time.max(logs.time);
        }
    }
    out
}

/// Processes of the pod's containers and sandbox (kubelet's `mergeProcessStats`). Counted only
/// with the `process` metric kind (off by default, as in cAdvisor; kubelet's cAdvisor turns it on):
/// a total of 0 means not counted, as a pod always runs a process, and is left out.
fn process_stats(pod: &Pod) -> Option<ProcessStats> {
    let members = pod
        .sandbox
        .into_iter()
        .chain(pod.containers.iter().map(|c| c.entry));
    let mut total = None;
    for e in members {
        if !e.spec.has_processes {
            continue;
        }
        if let Some(s) = e.samples.latest() {
            *total.get_or_insert(0) += s.processes.process_count;
        }
    }
    total.filter(|n| *n > 0).map(|n| ProcessStats {
        process_count: Some(n),
    })
}

#[cfg(test)]
mod tests;
