//! CPU/NUMA topology from sysfs: `devices/system/cpu` (online CPUs, `topology/`, `cache/index*`) and
//! `devices/system/node` (cpulist, meminfo, hugepages, distance). Without node directories the CPUs
//! are grouped by socket, one pseudo-node per socket, as cAdvisor does.

use std::collections::BTreeSet;
use std::path::Path;

use super::meminfo::numbered;
use super::{MachineError, Warnings, hugepages, meminfo, read_string};
use crate::host::HostPaths;
use crate::model::machine::{Cache, Core, Node};

/// One cache as seen from one CPU, with the number of CPUs sharing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub cache: Cache,
    pub shared_cpus: usize,
}

/// One online logical CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTopo {
    pub cpu: i32,
    pub core_id: i32,
    pub socket_id: i32,
    pub caches: Vec<CacheEntry>,
}

/// The machine's topology plus the online CPU count (the `num_cores` of MachineInfo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub online_cpus: usize,
}

impl Topology {
    /// Distinct (socket, core) pairs.
    pub fn physical_cores(&self) -> usize {
        let cores = self.nodes.iter().flat_map(|n| &n.cores);
        cores
            .map(|c| (c.socket_id, c.core_id))
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn sockets(&self) -> usize {
        let cores = self.nodes.iter().flat_map(|n| &n.cores);
        cores.map(|c| c.socket_id).collect::<BTreeSet<_>>().len()
    }
}

/// CPUs a cpu list may name: the kernel's `NR_CPUS` is at most 8192; a list naming more is corrupt,
/// and expanding it (`0-2147483647`) would take gigabytes.
const MAX_LISTED_CPUS: usize = 65_536;

/// Kernel cpu list format (`0-3,8,10-11`; empty is an empty list). `None` when malformed.
pub fn parse_cpu_list(text: &str) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                let n = usize::try_from(i64::from(b) - i64::from(a) + 1).ok()?;
                if out.len().saturating_add(n) > MAX_LISTED_CPUS {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Cache `size` file (`48K`, `32768K`, `1M`) → bytes.
pub fn parse_cache_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mult) = match t.as_bytes().last()? {
        b'K' => (&t[..t.len() - 1], 1024),
        b'M' => (&t[..t.len() - 1], 1024 * 1024),
        b'G' => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Node `distance` file (`10 21`).
pub fn parse_distances(text: &str) -> Option<Vec<u64>> {
    text.split_whitespace().map(|d| d.parse().ok()).collect()
}

/// Groups one node's CPUs into cores (ordered by their first CPU) and places each cache: level ≤ 2
/// caches private to a core go on the core; higher levels shared by the whole node go on the node,
/// and those shared by only part of it (e.g. per-CCX L3) on each core as `uncore_caches`.
pub fn build_cores(cpus: &[CpuTopo]) -> (Vec<Core>, Vec<Cache>) {
    let mut sorted: Vec<&CpuTopo> = cpus.iter().collect();
    sorted.sort_by_key(|c| c.cpu);
    let mut cores: Vec<(Core, &CpuTopo)> = Vec::new();
    for cpu in sorted {
        match cores
            .iter_mut()
            .find(|(c, _)| c.core_id == cpu.core_id && c.socket_id == cpu.socket_id)
        {
            Some((core, _)) => core.thread_ids.push(cpu.cpu),
            None => cores.push((
                Core {
                    core_id: cpu.core_id,
                    thread_ids: vec![cpu.cpu],
                    socket_id: cpu.socket_id,
                    ..Core::default()
                },
                cpu,
            )),
        }
    }
    let mut node_caches: Vec<Cache> = Vec::new();
    let n_cores = cores.len();
    for (core, first) in &mut cores {
        let per_core = core.thread_ids.len();
        let per_node = n_cores * per_core;
        for e in &first.caches {
            if e.cache.level > 2 {
                let list = if e.shared_cpus == per_node {
                    &mut node_caches
                } else {
                    &mut core.uncore_caches
                };
                if !list.contains(&e.cache) {
                    list.push(e.cache.clone());
                }
            } else if e.shared_cpus == per_core {
                core.caches.push(e.cache.clone());
            }
        }
    }
    (cores.into_iter().map(|(c, _)| c).collect(), node_caches)
}

fn read_int(path: &Path) -> Result<i32, MachineError> {
    let t = read_string(path)?;
    t.trim()
        .parse()
        .map_err(|_| MachineError::parse(path, t.trim()))
}

fn read_caches(cpu_dir: &Path) -> Result<Vec<CacheEntry>, MachineError> {
    let dir = cpu_dir.join("cache");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| numbered(n, "index"))
        .collect();
    names.sort_by_key(|n| n[5..].parse::<u32>().unwrap_or(u32::MAX));
    let mut out = Vec::new();
    for name in names {
        let d = dir.join(&name);
        let size_path = d.join("size");
        let size = read_string(&size_path)?;
        let shared_path = d.join("shared_cpu_list");
        let shared = read_string(&shared_path)?;
        let level_path = d.join("level");
        out.push(CacheEntry {
            cache: Cache {
                // Older kernels have no `id`; 0 keeps the cache rather than dropping it.
                id: read_int(&d.join("id")).unwrap_or(0),
                size: parse_cache_size(&size)
                    .ok_or_else(|| MachineError::parse(&size_path, size.trim()))?,
                cache_type: read_string(&d.join("type"))?.trim().to_string(),
                level: read_int(&level_path)?
                    .try_into()
                    .map_err(|_| MachineError::parse(&level_path, "negative"))?,
            },
            shared_cpus: parse_cpu_list(&shared)
                .ok_or_else(|| MachineError::parse(&shared_path, shared.trim()))?
                .len(),
        });
    }
    Ok(out)
}

fn read_cpu(cpu_root: &Path, cpu: i32) -> Result<CpuTopo, MachineError> {
    let dir = cpu_root.join(format!("cpu{cpu}"));
    Ok(CpuTopo {
        cpu,
        core_id: read_int(&dir.join("topology/core_id"))?,
        socket_id: read_int(&dir.join("topology/physical_package_id"))?,
        caches: read_caches(&dir)?,
    })
}

/// Numbered subdirectories `<prefix>N` of `dir`, sorted by N.
fn numbered_dirs(dir: &Path, prefix: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            numbered(&name, prefix)
                .then(|| name[prefix.len()..].parse().ok())
                .flatten()
        })
        .collect();
    ids.sort_unstable();
    ids
}

fn read_cpu_list_file(path: &Path) -> Result<Vec<i32>, MachineError> {
    let t = read_string(path)?;
    parse_cpu_list(&t).ok_or_else(|| MachineError::parse(path, t.trim()))
}

pub fn read_topology(host: &HostPaths, w: &mut Warnings) -> Topology {
    let cpu_root = host.sys.join("devices/system/cpu");
    let online = match read_cpu_list_file(&cpu_root.join("online")) {
        Ok(list) => list,
        Err(e) => {
            w.0.push(e);
            numbered_dirs(&cpu_root, "cpu")
        }
    };
    let cpus: Vec<CpuTopo> = online
        .iter()
        .filter_map(|&c| read_cpu(&cpu_root, c).map_err(|e| w.0.push(e)).ok())
        .collect();

    let node_root = host.sys.join("devices/system/node");
    let node_ids = numbered_dirs(&node_root, "node");
    let mut nodes = Vec::new();
    if node_ids.is_empty() {
        let sockets: BTreeSet<i32> = cpus.iter().map(|c| c.socket_id).collect();
        for s in sockets {
            let mine: Vec<CpuTopo> = cpus.iter().filter(|c| c.socket_id == s).cloned().collect();
            let (cores, caches) = build_cores(&mine);
            nodes.push(Node {
                node_id: s,
                cores,
                caches,
                ..Node::default()
            });
        }
    }
    for id in node_ids {
        let dir = node_root.join(format!("node{id}"));
        let listed = w.take(read_cpu_list_file(&dir.join("cpulist")));
        let mine: Vec<CpuTopo> = cpus
            .iter()
            .filter(|c| listed.contains(&c.cpu))
            .cloned()
            .collect();
        let (cores, caches) = build_cores(&mine);
        let distances = match read_string(&dir.join("distance")) {
            Ok(t) => w.take(
                parse_distances(&t)
                    .ok_or_else(|| MachineError::parse(&dir.join("distance"), t.trim())),
            ),
            Err(e) => w.take::<Vec<u64>>(Err(e)),
        };
        nodes.push(Node {
            node_id: id,
            memory: w.take(meminfo::read_node_memory(&dir)),
            hugepages: w.take(hugepages::read_hugepages(&dir.join("hugepages"))),
            cores,
            caches,
            distances,
        });
    }
    Topology {
        nodes,
        online_cpus: online.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(level: u32, ty: &str, size_k: u64, id: i32, shared: usize) -> CacheEntry {
        CacheEntry {
            cache: Cache {
                id,
                size: size_k * 1024,
                cache_type: ty.into(),
                level,
            },
            shared_cpus: shared,
        }
    }

    #[test]
    fn cpu_lists() {
        // Formats from /sys/devices/system/cpu/online and node*/cpulist.
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2,4-6\n"), Some(vec![0, 2, 4, 5, 6]));
        assert_eq!(parse_cpu_list("\n"), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn a_cpu_range_past_any_kernel_is_malformed_not_gigabytes() {
        // Found by the `sys_files` fuzz target: `3-787845048` was expanded into 3 GB of CPU ids.
        assert_eq!(parse_cpu_list("3-787845048"), None);
        assert_eq!(parse_cpu_list("0-2147483647"), None);
        assert_eq!(parse_cpu_list("0-65535").map(|c| c.len()), Some(65_536));
        assert_eq!(
            parse_cpu_list("0-65535,65536"),
            Some((0..=65_536).collect())
        );
    }

    #[test]
    fn cache_sizes_and_distances() {
        assert_eq!(parse_cache_size("48K\n"), Some(48 * 1024));
        assert_eq!(parse_cache_size("32768K"), Some(32 * 1024 * 1024));
        assert_eq!(parse_cache_size("K"), None);
        // Past u64: overflowed (a panic in debug builds) instead of being malformed.
        assert_eq!(parse_cache_size("18446744073709551615K"), None);
        assert_eq!(parse_cache_size("17179869184G"), None);
        assert_eq!(parse_distances("10 21\n"), Some(vec![10, 21]));
        assert_eq!(parse_distances("10 x"), None);
    }

    #[test]
    fn smt_cores_with_per_ccx_l3_as_uncore() {
        // 4 cores × 2 threads, L3 shared by 2 cores (4 CPUs) out of 8 CPUs on the node.
        let cpus: Vec<CpuTopo> = (0..8)
            .map(|cpu| CpuTopo {
                cpu,
                core_id: cpu % 4,
                socket_id: 0,
                caches: vec![
                    cache(1, "Data", 32, cpu % 4, 2),
                    cache(3, "Unified", 16384, (cpu % 4) / 2, 4),
                ],
            })
            .collect();
        let (cores, node_caches) = build_cores(&cpus);
        assert_eq!(cores.len(), 4);
        assert_eq!(cores[0].thread_ids, vec![0, 4]);
        assert_eq!(cores[3].thread_ids, vec![3, 7]);
        assert_eq!(cores[0].caches.len(), 1);
        assert_eq!(cores[0].uncore_caches[0].id, 0);
        assert_eq!(cores[2].uncore_caches[0].id, 1);
        assert!(node_caches.is_empty());
    }
}
