//! What the host offers the agent, as `/validate/` reports it: cgroup subsystems and mounts, memory
//! accounting, CFS bandwidth, Docker's storage driver. Blocking reads of a root path; callers run
//! them off the async workers. A source that cannot be read is a value (unknown), not an error: the
//! report says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::host::HostPaths;

/// Hierarchical memory accounting of the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryHierarchy {
    Enabled,
    Disabled,
    /// No memory cgroup found.
    Unknown,
}

/// The host's cgroup and runtime setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSetup {
    /// The host root the agent reads below (`/`, or `/rootfs` in a container).
    pub root: PathBuf,
    /// Where cgroups are mounted, as the host sees it (without the root prefix).
    pub cgroup_mount: String,
    /// `/proc/cgroups`: subsystem → enabled; empty when unreadable.
    pub subsystems: BTreeMap<String, bool>,
    pub memory_hierarchy: MemoryHierarchy,
    pub cfs_bandwidth: bool,
    /// Directories below the cgroup mount, sorted; `None` when it cannot be listed.
    pub cgroup_mount_dirs: Option<Vec<String>>,
    /// The v1 cgroup lines of init's mount table (else ours), as the kernel writes them.
    pub cgroup_mounts: Vec<String>,
    /// Directories of `<docker root>/image`: one per storage driver Docker has used.
    pub docker_image_drivers: Vec<String>,
}

/// Reads the host's setup below `host`.
pub fn read_host_setup(host: &HostPaths) -> HostSetup {
    let subsystems = std::fs::read_to_string(host.proc.join("cgroups"))
        .map(|t| parse_proc_cgroups(&t))
        .unwrap_or_default();
    // A pure v2 host always accounts hierarchically and has `cpu.max`.
    let v2 = host.cgroup.join("cgroup.controllers").exists();
    let memory_hierarchy =
        match std::fs::read_to_string(host.cgroup.join("memory/memory.use_hierarchy")) {
            _ if v2 => MemoryHierarchy::Enabled,
            Ok(t) if t.trim() == "1" => MemoryHierarchy::Enabled,
            Ok(_) => MemoryHierarchy::Disabled,
            Err(_) => MemoryHierarchy::Unknown,
        };
    let cfs_bandwidth = v2 || host.cgroup.join("cpu/cpu.cfs_period_us").exists();
    let cgroup_mount_dirs = std::fs::read_dir(&host.cgroup).ok().map(|dirs| {
        let mut names: Vec<String> = dirs
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    });
    let mounts = std::fs::read_to_string(host.proc.join("1/mounts"))
        .or_else(|_| std::fs::read_to_string(host.proc.join("self/mounts")))
        .unwrap_or_default();
    let docker_image_drivers = std::fs::read_dir(host.host_path(host.docker_root.join("image")))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    HostSetup {
        root: host.root.clone(),
        cgroup_mount: host_visible(&host.cgroup, &host.root),
        subsystems,
        memory_hierarchy,
        cfs_bandwidth,
        cgroup_mount_dirs,
        cgroup_mounts: v1_cgroup_mounts(&mounts),
        docker_image_drivers,
    }
}

/// `/proc/cgroups`: subsystem → enabled.
pub fn parse_proc_cgroups(text: &str) -> BTreeMap<String, bool> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), *f.get(3)? == "1"))
        })
        .collect()
}

/// The v1 cgroup lines of a `/proc/<pid>/mounts` text.
pub fn v1_cgroup_mounts(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter(|l| l.split(' ').nth(2) == Some("cgroup"))
        .map(str::to_owned)
        .collect()
}

/// A path as the host sees it (without the `/rootfs`-style root prefix).
fn host_visible(p: &Path, root: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroups() {
        // /proc/cgroups of this machine, kernel 6.18.44 (hybrid layout).
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t2\t1
cpu\t1\t2\t1
cpuacct\t2\t2\t1
blkio\t7\t2\t1
memory\t4\t82\t1
devices\t5\t2\t1
freezer\t6\t2\t1
net_cls\t0\t2\t0
";
        let m = parse_proc_cgroups(text);
        assert_eq!(m.get("memory"), Some(&true));
        assert_eq!(m.get("net_cls"), Some(&false));
        assert_eq!(m.len(), 8);
        assert_eq!(
            host_visible(Path::new("/rootfs/a/b"), Path::new("/rootfs")),
            "/a/b"
        );
    }

    #[test]
    fn setup_of_a_hybrid_host_root() {
        let t = tempfile::tempdir().expect("tempdir");
        let host = HostPaths::under(t.path());
        std::fs::create_dir_all(host.cgroup.join("memory")).expect("mkdir");
        std::fs::create_dir_all(host.cgroup.join("cpu")).expect("mkdir");
        std::fs::write(host.cgroup.join("memory/memory.use_hierarchy"), "1\n").expect("write");
        std::fs::write(host.cgroup.join("cpu/cpu.cfs_period_us"), "100000\n").expect("write");
        // /proc/1/mounts lines of a hybrid host, kernel 6.18.
        std::fs::create_dir_all(host.proc.join("1")).expect("mkdir");
        std::fs::write(
            host.proc.join("1/mounts"),
            "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
",
        )
        .expect("write");
        std::fs::create_dir_all(host.host_path("/var/lib/docker/image/overlay2")).expect("mkdir");
        let s = read_host_setup(&host);
        assert_eq!(s.memory_hierarchy, MemoryHierarchy::Enabled);
        assert!(s.cfs_bandwidth);
        assert_eq!(
            s.cgroup_mount_dirs,
            Some(vec!["cpu".to_owned(), "memory".to_owned()])
        );
        assert_eq!(
            s.cgroup_mounts,
            ["cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0"]
        );
        assert_eq!(s.docker_image_drivers, ["overlay2"]);
        assert!(s.subsystems.is_empty(), "no /proc/cgroups below the root");
        assert_eq!(s.root, t.path());
        // `--docker_root` moves where the driver is looked up.
        let moved = host.clone().with_docker_root("/data/docker");
        assert!(read_host_setup(&moved).docker_image_drivers.is_empty());
        std::fs::create_dir_all(moved.host_path("/data/docker/image/btrfs")).expect("mkdir");
        assert_eq!(read_host_setup(&moved).docker_image_drivers, ["btrfs"]);
        // Nothing at all below the root.
        let empty = read_host_setup(&HostPaths::under("/nonexistent-bpfadvisor-root"));
        assert_eq!(empty.memory_hierarchy, MemoryHierarchy::Unknown);
        assert!(!empty.cfs_bandwidth);
        assert_eq!(empty.cgroup_mount_dirs, None);
    }
}
