//! Maps the kernel's cgroup hierarchy ids (what the eBPF records carry) to [`Hierarchy`] names: id 0
//! is the unified hierarchy; a v1 hierarchy is named by the directory it is mounted on under the
//! cgroup root (`memory`, `cpu`, `systemd`, `cpu,cpuacct`).
//!
//! Ids and controller lists come from `<proc>/self/cgroup`, mount directories from
//! `<proc>/self/mountinfo` (matched by the controllers in the super options).

use std::{collections::HashMap, path::Path};

use crate::{events::Hierarchy, host::HostPaths};

#[derive(Debug, thiserror::Error)]
#[error("read {path}: {source}")]
pub struct HierarchyError {
    path: std::path::PathBuf,
    source: std::io::Error,
}

/// Hierarchy id → name, as found when built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchies {
    v1: HashMap<u32, String>,
}

impl Hierarchies {
    pub fn read(host: &HostPaths) -> Result<Self, HierarchyError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| HierarchyError {
                path: p.to_path_buf(),
                source,
            })
        };
        let cgroup = read(&host.proc.join("self/cgroup"))?;
        let mountinfo = read(&host.proc.join("self/mountinfo"))?;
        Ok(Self::parse(&cgroup, &mountinfo))
    }

    /// From the text of `/proc/<pid>/cgroup` and `/proc/<pid>/mountinfo`.
    pub fn parse(proc_cgroup: &str, mountinfo: &str) -> Self {
        let mounts: Vec<(Vec<&str>, &str)> = mountinfo.lines().filter_map(cgroup1_mount).collect();
        let mut v1 = HashMap::new();
        for line in proc_cgroup.lines() {
            let mut f = line.splitn(3, ':');
            let (Some(id), Some(ctrls)) = (f.next(), f.next()) else {
                continue;
            };
            let Ok(id) = id.parse::<u32>() else { continue };
            if id == 0 || ctrls.is_empty() {
                continue;
            }
            let wanted: Vec<&str> = ctrls.split(',').collect();
            let dir = mounts
                .iter()
                .find(|(opts, _)| wanted.iter().all(|c| opts.contains(c)))
                .map(|(_, dir)| (*dir).to_string())
                // Not mounted here: name it as the kernel lists it, without `name=`.
                .unwrap_or_else(|| ctrls.trim_start_matches("name=").to_string());
            v1.insert(id, dir);
        }
        Self { v1 }
    }

    /// The hierarchy with kernel id `id`; `Hierarchy::Id` when it is not known.
    pub fn get(&self, id: u32) -> Hierarchy {
        if id == 0 {
            return Hierarchy::Unified;
        }
        self.v1
            .get(&id)
            .map_or(Hierarchy::Id(id), |n| Hierarchy::V1(n.clone()))
    }

    pub fn knows(&self, id: u32) -> bool {
        id == 0 || self.v1.contains_key(&id)
    }
}

/// A cgroup v1 mount in a mountinfo line: (super options, mount directory name).
fn cgroup1_mount(line: &str) -> Option<(Vec<&str>, &str)> {
    let (left, right) = line.split_once(" - ")?;
    let mut r = right.split_whitespace();
    if r.next()? != "cgroup" {
        return None;
    }
    let opts = r.nth(1)?.split(',').collect();
    let mount_point = left.split_whitespace().nth(4)?;
    let dir = mount_point.rsplit('/').next()?;
    Some((opts, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/self/cgroup and /proc/self/mountinfo (cgroup lines) of a process on this project's
    // hybrid-layout test machine, kernel 6.18 (cpu and cpuacct mounted separately).
    const PROC_CGROUP: &str = "9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/11c3c4f7aa9fda247b0a3fc5ff178b50
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";
    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn names_hierarchies_by_mount_directory() {
        let h = Hierarchies::parse(PROC_CGROUP, MOUNTINFO);
        assert_eq!(h.get(0), Hierarchy::Unified);
        assert_eq!(h.get(1), Hierarchy::V1("cpu".into()));
        assert_eq!(h.get(2), Hierarchy::V1("cpuacct".into()));
        assert_eq!(h.get(4), Hierarchy::V1("memory".into()));
        assert_eq!(h.get(9), Hierarchy::V1("systemd".into()));
        // blkio is not in this mountinfo excerpt: named after its controller.
        assert_eq!(h.get(7), Hierarchy::V1("blkio".into()));
        assert_eq!(h.get(12), Hierarchy::Id(12));
        assert!(h.knows(0) && h.knows(8) && !h.knows(12));
    }

    #[test]
    fn joint_mounts_match_all_their_controllers() {
        // Debian/Ubuntu style co-mounted cpu,cpuacct.
        let cg = "4:cpu,cpuacct:/\n";
        let mi = "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(
            Hierarchies::parse(cg, mi).get(4),
            Hierarchy::V1("cpu,cpuacct".into())
        );
    }
}
