//! `/validate/`: cAdvisor's plain-text setup report (kernel, cgroups, managed containers), plus
//! which event source feeds the agent.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::host::HostPaths;
use crate::query::Snapshot;

const RECOMMENDED: &str = "[Supported and recommended]";
const SUPPORTED: &str = "[Supported, but not recommended]";
const UNSUPPORTED: &str = "[Unsupported]";
const UNKNOWN: &str = "[Unknown]";

pub(super) fn render(snap: &Snapshot, host: &HostPaths) -> String {
    let v = &snap.version;
    let mut out = format!(
        "cAdvisor version: {}\n\nOS version: {}\n\n",
        v.cadvisor_version, v.container_os_version
    );
    let (verdict, desc) = kernel(&v.kernel_version);
    block(&mut out, "Kernel version", verdict, &desc);
    let cgroups = std::fs::read_to_string(host.proc.join("cgroups"))
        .map(|t| parse_proc_cgroups(&t))
        .unwrap_or_default();
    let (verdict, desc) = cgroup_setup(&cgroups);
    block(&mut out, "Cgroup setup", verdict, &desc);
    let (verdict, desc) = mount_setup(host);
    block(&mut out, "Cgroup mount setup", verdict, &desc);
    let source = snap.event_source.map_or("none", |s| s.as_str());
    let _ = write!(out, "Event source: {source}\n\n");
    out.push_str("Managed containers: \n");
    for c in snap.containers.values() {
        let _ = writeln!(out, "\t{}", c.name());
        if !c.reference.namespace.is_empty() {
            let _ = writeln!(out, "\t\tNamespace: {}", c.reference.namespace);
        }
        if !c.reference.aliases.is_empty() {
            out.push_str("\t\tAliases:\n");
            for a in &c.reference.aliases {
                let _ = writeln!(out, "\t\t\t{a}");
            }
        }
    }
    out
}

fn block(out: &mut String, title: &str, verdict: &str, desc: &str) {
    let _ = write!(out, "{title}: {verdict}\n\t{desc}\n\n");
}

fn kernel(release: &str) -> (&'static str, String) {
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (nums.next(), nums.next());
    let verdict = match (major, minor) {
        (Some(m), _) if m >= 3 => RECOMMENDED,
        (Some(2), Some(mi)) if mi >= 6 => SUPPORTED,
        (Some(_), _) => UNSUPPORTED,
        (None, _) => UNKNOWN,
    };
    (
        verdict,
        format!(
            "Kernel version is {release}. Versions >= 2.6 are supported. 3.0+ are recommended.\n"
        ),
    )
}

/// `/proc/cgroups`: subsystem → enabled.
pub(super) fn parse_proc_cgroups(text: &str) -> BTreeMap<String, bool> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), *f.get(3)? == "1"))
        })
        .collect()
}

fn cgroup_setup(cgroups: &BTreeMap<String, bool>) -> (&'static str, String) {
    let enabled = |c: &str| cgroups.get(c).copied().unwrap_or(false);
    let available = cgroups
        .iter()
        .map(|(k, v)| format!("{k}:{}", u8::from(*v)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut desc = format!(
        "Available cgroups: map[{available}]\n\tFollowing cgroups are required: [cpu cpuacct]\n\tFollowing other cgroups are recommended: [memory blkio cpuset devices freezer]\n"
    );
    let verdict = if cgroups.is_empty() {
        UNKNOWN
    } else if !(enabled("cpu") && enabled("cpuacct")) {
        UNSUPPORTED
    } else if ["memory", "blkio", "cpuset", "devices", "freezer"]
        .iter()
        .all(|c| enabled(c))
    {
        RECOMMENDED
    } else {
        SUPPORTED
    };
    if verdict == UNKNOWN {
        desc = "Could not read the cgroup subsystem list.\n".to_owned();
    }
    (verdict, desc)
}

fn mount_setup(host: &HostPaths) -> (&'static str, String) {
    let shown = host_visible(&host.cgroup, &host.root);
    let Ok(dirs) = std::fs::read_dir(&host.cgroup) else {
        return (
            UNKNOWN,
            format!("Could not list cgroup mounts at {shown}.\n"),
        );
    };
    let mut names: Vec<String> = dirs
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    (
        RECOMMENDED,
        format!(
            "Cgroups are mounted at {shown}.\n\tCgroup mount directories: {}\n\tAny cgroup mount point that is detectible and accessible is supported. {shown} is recommended as a standard location.\n",
            names.join(" ")
        ),
    )
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
    fn proc_cgroups_and_verdicts() {
        // /proc/cgroups of this machine, kernel 6.18.44 (hybrid layout).
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t2\t1
cpu\t1\t2\t1
cpuacct\t2\t2\t1
blkio\t7\t2\t1
memory\t4\t82\t1
devices\t5\t2\t1
freezer\t6\t2\t1
net_cls\t0\t2\t1
perf_event\t0\t2\t1
net_prio\t0\t2\t1
hugetlb\t0\t2\t1
pids\t8\t2\t1
";
        let m = parse_proc_cgroups(text);
        assert_eq!(m.get("memory"), Some(&true));
        assert_eq!(cgroup_setup(&m).0, RECOMMENDED);
        assert_eq!(kernel("6.18.44-fc-v1045").0, RECOMMENDED);
        assert_eq!(kernel("2.6.32").0, SUPPORTED);
        assert_eq!(kernel("").0, UNKNOWN);
        assert_eq!(
            host_visible(Path::new("/rootfs/a/b"), Path::new("/rootfs")),
            "/a/b"
        );
    }
}
