//! Which cgroup hierarchies are mounted (v1, v2 or hybrid) and which containers exist in them.
//! Container names are cgroup paths relative to a hierarchy root, as cAdvisor names them: `/`,
//! `/docker/<id>`, `/system.slice/foo.service`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::error::CgroupError;
use super::parse::parse_cgroup_mounts;
use crate::events::Hierarchy;
use crate::host::HostPaths;

/// The v1 controllers cAdvisor reads or walks; other v1 hierarchies (`name=systemd`, `freezer`) are
/// not containers' sources.
const V1_CONTROLLERS: [&str; 9] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "hugetlb",
    "pids",
    "blkio",
    "devices",
    "perf_event",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 controller hierarchies.
    V1,
    /// Only the unified hierarchy, mounted at the cgroup root.
    V2,
    /// v1 controllers plus a cgroup2 mount (usually `<cgroup>/unified`) used for PSI.
    Hybrid,
}

/// Detected mount points.
#[derive(Debug, Clone)]
pub struct Layout {
    /// v1 controller → its hierarchy's mount dir (`cpu` and `cpuacct` may share one).
    v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount, if any.
    unified: Option<PathBuf>,
}

impl Layout {
    /// Detects the hierarchies below `host.cgroup`, from `<proc>/self/mountinfo` when it names mounts
    /// there, else from the directory tree (fixture trees, a host root seen through a bind mount).
    pub fn detect(host: &HostPaths) -> Result<Layout, CgroupError> {
        let from_mounts = fs::read_to_string(host.proc.join("self/mountinfo"))
            .ok()
            .and_then(|t| parse_cgroup_mounts(&t).ok())
            .map(|mounts| {
                let mut l = Layout {
                    v1: BTreeMap::new(),
                    unified: None,
                };
                for m in mounts
                    .iter()
                    .filter(|m| Path::new(&m.mount_point).starts_with(&host.cgroup))
                {
                    let dir = PathBuf::from(&m.mount_point);
                    if m.unified {
                        l.unified = Some(dir);
                    } else {
                        for c in m
                            .controllers
                            .iter()
                            .filter(|c| V1_CONTROLLERS.contains(&c.as_str()))
                        {
                            l.v1.entry(c.clone()).or_insert_with(|| dir.clone());
                        }
                    }
                }
                l
            })
            .filter(|l| !l.is_empty());
        let layout = match from_mounts {
            Some(l) => l,
            None => Self::from_tree(&host.cgroup),
        };
        if layout.is_empty() {
            return Err(CgroupError::NoHierarchy {
                path: host.cgroup.clone(),
            });
        }
        Ok(layout)
    }

    /// `<root>/cgroup.controllers` → pure v2; otherwise each subdirectory named after controllers
    /// (`cpu,cpuacct`, `memory`) is a v1 hierarchy and one holding `cgroup.controllers` is cgroup2.
    fn from_tree(root: &Path) -> Layout {
        let mut l = Layout {
            v1: BTreeMap::new(),
            unified: None,
        };
        if root.join("cgroup.controllers").is_file() {
            l.unified = Some(root.to_path_buf());
            return l;
        }
        let Ok(entries) = fs::read_dir(root) else {
            return l;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        // Real directories before symlinks (`cpu -> cpu,cpuacct`) so both map to one path.
        names.sort_by_key(|n| {
            (
                fs::symlink_metadata(root.join(n)).is_ok_and(|m| m.is_symlink()),
                n.clone(),
            )
        });
        for name in names {
            let dir = root.join(&name);
            if dir.join("cgroup.controllers").is_file() {
                l.unified = Some(dir);
            } else if dir.join("cgroup.procs").is_file() {
                let real = fs::canonicalize(&dir).unwrap_or(dir);
                for c in name.split(',').filter(|c| V1_CONTROLLERS.contains(c)) {
                    l.v1.entry(c.to_string()).or_insert_with(|| real.clone());
                }
            }
        }
        l
    }

    fn is_empty(&self) -> bool {
        self.v1.is_empty() && self.unified.is_none()
    }

    pub fn mode(&self) -> CgroupMode {
        match (self.v1.is_empty(), &self.unified) {
            (true, _) => CgroupMode::V2,
            (false, None) => CgroupMode::V1,
            (false, Some(_)) => CgroupMode::Hybrid,
        }
    }

    /// The mount dir of a v1 controller.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    /// The cgroup2 mount (the only hierarchy on V2, the PSI source on Hybrid).
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// The hierarchies containers are listed from: every v1 mount on V1/Hybrid (like cAdvisor, which
    /// ignores the unified hierarchy of a hybrid host), the unified one on V2.
    pub fn hierarchy_mounts(&self) -> Vec<(Hierarchy, PathBuf)> {
        if self.mode() == CgroupMode::V2 {
            return self
                .unified
                .iter()
                .map(|u| (Hierarchy::Unified, u.clone()))
                .collect();
        }
        let dirs: BTreeSet<&PathBuf> = self.v1.values().collect();
        dirs.into_iter()
            .map(|d| {
                let name = d
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (Hierarchy::V1(name), d.clone())
            })
            .collect()
    }

    /// Every container of the listed hierarchies: recursive walk, union, sorted with `/` first.
    /// `*.mount` cgroups are skipped as cAdvisor does.
    pub fn list_containers(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for (_, root) in self.hierarchy_mounts() {
            names.insert("/".to_string());
            walk(&root, &mut String::new(), &mut names);
        }
        // BTreeSet order already puts "/" first: it is the shortest and '/' sorts before letters.
        names.into_iter().collect()
    }

    /// Whether containers are listed from `hierarchy` (see [`Self::hierarchy_mounts`]): events from
    /// another one (a hybrid host's unified hierarchy) do not make containers.
    pub fn lists(&self, hierarchy: &Hierarchy) -> bool {
        match hierarchy {
            Hierarchy::Unified => self.mode() == CgroupMode::V2,
            Hierarchy::V1(_) | Hierarchy::Id(_) => self.mode() != CgroupMode::V2,
        }
    }

    /// Whether `name` is a container: it has a directory in a hierarchy containers are listed from
    /// ([`Self::hierarchy_mounts`]). A hybrid host's unified directory alone does not count: it is
    /// not listed or watched there, so a container whose last v1 directory went must be gone even
    /// while the runtime has yet to remove its unified one.
    pub fn exists(&self, name: &str) -> bool {
        let Ok(rel) = relative(name) else {
            return false;
        };
        self.hierarchy_mounts()
            .iter()
            .any(|(_, m)| m.join(rel).is_dir())
    }

    /// Every existing directory of `name`, one per hierarchy (v1 mounts first, then unified).
    pub fn dirs_of(&self, name: &str) -> Vec<PathBuf> {
        let Ok(rel) = relative(name) else {
            return Vec::new();
        };
        let mounts: BTreeSet<&PathBuf> = self.v1.values().chain(self.unified.iter()).collect();
        mounts
            .into_iter()
            .map(|m| m.join(rel))
            .filter(|d| d.is_dir())
            .collect()
    }

    /// `name`'s directory in one hierarchy (existing or not).
    pub(crate) fn dir_in(mount: &Path, name: &str) -> Result<PathBuf, CgroupError> {
        Ok(mount.join(relative(name)?))
    }
}

/// The container name as a relative path; rejects `..` and non-absolute names.
fn relative(name: &str) -> Result<&Path, CgroupError> {
    let p = Path::new(name);
    let ok = name.starts_with('/')
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !ok {
        return Err(CgroupError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(p.strip_prefix("/").unwrap_or(p))
}

fn walk(dir: &Path, prefix: &mut String, out: &mut BTreeSet<String>) {
    // A directory removed during the walk just ends that branch.
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.ends_with(".mount") {
            continue;
        }
        let len = prefix.len();
        prefix.push('/');
        prefix.push_str(&name);
        out.insert(prefix.clone());
        walk(&e.path(), prefix, out);
        prefix.truncate(len);
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a failing test should panic")]
mod tests {
    use super::*;

    fn mkdirs(root: &Path, dirs: &[&str], marker: &str) {
        for d in dirs {
            let p = root.join(d);
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join(marker), "").unwrap();
        }
    }

    #[test]
    fn hybrid_tree_lists_union_of_v1_hierarchies() {
        let t = tempfile::tempdir().unwrap();
        let host = HostPaths::under(t.path());
        let cg = &host.cgroup;
        mkdirs(
            cg,
            &[
                "memory",
                "memory/docker/abc",
                "memory/system.slice/foo.service",
            ],
            "cgroup.procs",
        );
        mkdirs(
            cg,
            &[
                "cpu,cpuacct",
                "cpu,cpuacct/docker/abc",
                "cpu,cpuacct/kubepods/burstable/podx/c1",
            ],
            "cgroup.procs",
        );
        mkdirs(cg, &["systemd/user.slice"], "cgroup.procs");
        mkdirs(cg, &["memory/sys-kernel-debug.mount"], "cgroup.procs");
        mkdirs(cg, &["unified", "unified/only-v2"], "cgroup.controllers");
        std::os::unix::fs::symlink("cpu,cpuacct", cg.join("cpu")).unwrap();
        let l = Layout::detect(&host).unwrap();
        assert_eq!(l.mode(), CgroupMode::Hybrid);
        assert_eq!(l.v1_dir("cpu"), l.v1_dir("cpuacct"));
        assert_eq!(
            l.list_containers(),
            [
                "/",
                "/docker",
                "/docker/abc",
                "/kubepods",
                "/kubepods/burstable",
                "/kubepods/burstable/podx",
                "/kubepods/burstable/podx/c1",
                "/system.slice",
                "/system.slice/foo.service"
            ]
        );
        assert_eq!(l.hierarchy_mounts().len(), 2);
        assert!(l.exists("/docker/abc"));
        assert!(!l.exists("/docker/zzz"));
        assert!(!l.exists("/../etc"));
        assert!(
            !l.exists("/only-v2"),
            "the unified hierarchy is not listed on a hybrid host"
        );
        assert!(!l.lists(&Hierarchy::Unified) && l.lists(&Hierarchy::V1("memory".into())));
        assert_eq!(l.dirs_of("/docker/abc").len(), 2);
        assert_eq!(l.dirs_of("/").len(), 3);
    }

    #[test]
    fn pure_v2_and_pure_v1_and_empty() {
        let t = tempfile::tempdir().unwrap();
        let host = HostPaths::under(t.path());
        mkdirs(
            &host.cgroup,
            &["", "kubepods.slice/a"],
            "cgroup.controllers",
        );
        let l = Layout::detect(&host).unwrap();
        assert_eq!(l.mode(), CgroupMode::V2);
        assert_eq!(
            l.hierarchy_mounts(),
            vec![(Hierarchy::Unified, host.cgroup.clone())]
        );
        assert_eq!(
            l.list_containers(),
            ["/", "/kubepods.slice", "/kubepods.slice/a"]
        );

        let t = tempfile::tempdir().unwrap();
        let host = HostPaths::under(t.path());
        mkdirs(&host.cgroup, &["memory", "pids/x"], "cgroup.procs");
        assert_eq!(Layout::detect(&host).unwrap().mode(), CgroupMode::V1);

        let t = tempfile::tempdir().unwrap();
        assert!(matches!(
            Layout::detect(&HostPaths::under(t.path())),
            Err(CgroupError::NoHierarchy { .. })
        ));
    }

    #[test]
    fn mountinfo_wins_when_it_names_mounts_under_the_root() {
        let t = tempfile::tempdir().unwrap();
        let host = HostPaths::under(t.path());
        let cg = host.cgroup.to_string_lossy().into_owned();
        fs::create_dir_all(host.proc.join("self")).unwrap();
        mkdirs(&host.cgroup, &["cpu", "cpuacct", "unified"], "x");
        // mountinfo lines as on this kind of hybrid host, kernel 6.18, with the fixture root as prefix.
        fs::write(
            host.proc.join("self/mountinfo"),
            format!(
                "32 31 0:29 / {cg}/cpu rw,relatime - cgroup cgroup rw,cpu\n33 31 0:30 / {cg}/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n40 31 0:37 / {cg}/systemd rw,relatime - cgroup cgroup rw,name=systemd\n41 31 0:38 / {cg}/unified rw,relatime - cgroup2 cgroup2 rw\n99 1 0:40 / /elsewhere rw - cgroup cgroup rw,memory\n"
            ),
        )
        .unwrap();
        let l = Layout::detect(&host).unwrap();
        assert_eq!(l.mode(), CgroupMode::Hybrid);
        assert_eq!(
            l.v1_dir("cpuacct"),
            Some(host.cgroup.join("cpuacct").as_path())
        );
        assert_eq!(l.v1_dir("memory"), None);
        assert_eq!(l.unified_dir(), Some(host.cgroup.join("unified").as_path()));
    }
}
