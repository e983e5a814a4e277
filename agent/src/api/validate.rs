//! `/validate/`: cAdvisor's plain-text setup report (kernel, cgroups, managed containers), plus
//! which event source feeds the agent and which privileges it lacks. Pure: the host facts come
//! read already ([`HostSetup`]).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::request::go_quote;
use crate::machine::setup::{HostSetup, MemoryHierarchy};
use crate::privileges::Report;
use crate::query::Snapshot;

const RECOMMENDED: &str = "[Supported and recommended]";
const SUPPORTED: &str = "[Supported, but not recommended]";
const UNSUPPORTED: &str = "[Unsupported]";
const UNKNOWN: &str = "[Unknown]";

pub(super) fn render(snap: &Snapshot, host: &HostSetup, privileges: Option<&Report>) -> String {
    let v = &snap.version;
    let mut out = format!(
        "cAdvisor version: {}\n\nOS version: {}\n\n",
        v.cadvisor_version, v.container_os_version
    );
    let (verdict, desc) = kernel(&v.kernel_version);
    block(&mut out, "Kernel version", verdict, &desc);
    let (verdict, mut desc) = cgroup_setup(&host.subsystems);
    desc.push_str(&accounting(host));
    block(&mut out, "Cgroup setup", verdict, &desc);
    let (verdict, desc) = mount_setup(host);
    block(&mut out, "Cgroup mount setup", verdict, &desc);
    let (verdict, desc) = docker_version(&v.docker_version);
    block(&mut out, "Docker version", verdict, &desc);
    let (verdict, desc) = docker_driver(host);
    block(&mut out, "Docker driver setup", verdict, &desc);
    let (verdict, desc) = block_devices(snap.machine.disk_map.values());
    block(&mut out, "Block device setup", verdict, &desc);
    // cAdvisor lists no watches here; the heading keeps the report's shape.
    block(&mut out, "Inotify watches", "", "");
    let source = snap.event_source.map_or("none", |s| s.as_str());
    let _ = write!(out, "Event source: {source}\n\n");
    if let Some(counters) = crate::events::ebpf::counters::published() {
        let _ = write!(out, "Cgroup counters: {counters}\n\n");
    }
    if let Some(report) = privileges {
        let (verdict, desc) = privileges_block(report, host);
        block(&mut out, "Privileges", verdict, &desc);
    }
    if let Some(status) = crate::events::ebpf::signals::published() {
        let verdict = if status.failed.is_empty() {
            RECOMMENDED
        } else {
            UNSUPPORTED
        };
        block(
            &mut out,
            "eBPF signal kinds",
            verdict,
            &status.lines().join("\n\t"),
        );
    }
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
    // cAdvisor closes the list with a blank line.
    out.push('\n');
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

/// The hierarchical-memory and CFS-bandwidth lines of the cgroup setup.
fn accounting(host: &HostSetup) -> String {
    let mut out = match host.memory_hierarchy {
        MemoryHierarchy::Enabled => "\tHierarchical memory accounting enabled. Reported memory usage includes memory used by child containers.\n".to_owned(),
        MemoryHierarchy::Disabled => "\tHierarchical memory accounting disabled. Memory usage does not include usage from child containers.\n".to_owned(),
        MemoryHierarchy::Unknown => "\tHierarchical memory accounting status unknown: memory cgroup not found.\n".to_owned(),
    };
    if host.cfs_bandwidth {
        out.push_str("\tCpu cfs bandwidth is enabled.\n");
    } else {
        out.push_str(
            "\tCpu cfs bandwidth is disabled. Recompile kernel with \"CONFIG_CFS_BANDWIDTH\" enabled.\n",
        );
    }
    out
}

/// Docker's version as the runtime client reported it; unknown when no runtime call was made.
fn docker_version(version: &str) -> (&'static str, String) {
    if version.is_empty() {
        return (UNKNOWN, "Docker version unavailable.\n".to_owned());
    }
    let mut nums = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let verdict = match (nums.next(), nums.next()) {
        (Some(m), _) if m > 1 => RECOMMENDED,
        (Some(1), Some(mi)) if mi >= 2 => RECOMMENDED,
        (Some(1), _) => SUPPORTED,
        (Some(_), _) => UNSUPPORTED,
        (None, _) => UNKNOWN,
    };
    (
        verdict,
        format!(
            "Docker version is {version}. Versions >= 1.0 are supported. 1.2+ are recommended.\n"
        ),
    )
}

/// Docker's storage driver, seen from its image store (`<docker root>/image/<driver>`) so the
/// page never waits on the Docker socket.
fn docker_driver(host: &HostSetup) -> (&'static str, String) {
    match host.docker_image_drivers.as_slice() {
        [d] => (RECOMMENDED, format!("Storage driver is {d}.\n")),
        _ => (UNKNOWN, "Storage driver is unknown.\n".to_owned()),
    }
}

/// cAdvisor's check for the `cfq` scheduler, which per-device disk stats once needed.
fn block_devices<'a>(
    disks: impl Iterator<Item = &'a crate::model::machine::DiskInfo>,
) -> (&'static str, String) {
    let mut disks: Vec<_> = disks.collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    let cfq = disks.iter().any(|d| d.scheduler == "cfq");
    let (verdict, mut desc) = if cfq {
        (
            RECOMMENDED,
            "At least one device supports 'cfq' I/O scheduler. Some disk stats can be reported.\n"
                .to_owned(),
        )
    } else {
        (
            SUPPORTED,
            "None of the devices support 'cfq' I/O scheduler. No disk stats can be reported.\n"
                .to_owned(),
        )
    };
    for d in disks {
        let _ = writeln!(
            desc,
            "\t Disk {} Scheduler type {}.",
            go_quote(&d.name),
            go_quote(&d.scheduler)
        );
    }
    (verdict, desc)
}

fn mount_setup(host: &HostSetup) -> (&'static str, String) {
    let shown = &host.cgroup_mount;
    let Some(names) = &host.cgroup_mount_dirs else {
        return (
            UNKNOWN,
            format!("Could not list cgroup mounts at {shown}.\n"),
        );
    };
    (
        RECOMMENDED,
        format!(
            "Cgroups are mounted at {shown}.\n\tCgroup mount directories: {}\n\tAny cgroup mount point that is detectible and accessible is supported. {shown} is recommended as a standard location.\n\tCgroup mounts:\n{}",
            // Each name followed by a space, trailing one included, as cAdvisor prints them.
            names.iter().map(|n| format!("{n} ")).collect::<String>(),
            host.cgroup_mounts
                .iter()
                .map(|l| format!("\t{l}\n"))
                .collect::<String>()
        ),
    )
}

/// The capabilities held and, per missing privilege, what needs it and the fallback in use.
fn privileges_block(report: &Report, host: &HostSetup) -> (&'static str, String) {
    let mut desc = format!(
        "Host root: {}\n\tCapabilities held: {}\n",
        host.root.display(),
        report.held_names()
    );
    for f in &report.findings {
        let _ = writeln!(
            desc,
            "\tMissing {}: needed for {}. Without it: {}.",
            f.missing, f.needed_for, f.fallback
        );
    }
    let verdict = if report.findings.is_empty() {
        RECOMMENDED
    } else {
        SUPPORTED
    };
    (verdict, desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_block_device_and_accounting_sections() {
        use crate::model::machine::DiskInfo;
        assert_eq!(docker_version("20.10.24+dfsg1").0, RECOMMENDED);
        assert_eq!(docker_version("1.1.0").0, SUPPORTED);
        assert_eq!(docker_version("").0, UNKNOWN);
        let disk = |name: &str, scheduler: &str| DiskInfo {
            name: name.into(),
            scheduler: scheduler.into(),
            ..Default::default()
        };
        let disks = [disk("zram0", "none"), disk("vda", "mq-deadline")];
        // Text of cAdvisor v0.36's /validate/ on this kind of VM.
        assert_eq!(
            block_devices(disks.iter()),
            (
                SUPPORTED,
                "None of the devices support 'cfq' I/O scheduler. No disk stats can be reported.\n\t Disk \"vda\" Scheduler type \"mq-deadline\".\n\t Disk \"zram0\" Scheduler type \"none\".\n".to_owned()
            )
        );

        let mut host = setup();
        assert_eq!(
            accounting(&host),
            "\tHierarchical memory accounting enabled. Reported memory usage includes memory used by child containers.\n\tCpu cfs bandwidth is enabled.\n"
        );
        let (_, desc) = mount_setup(&host);
        assert!(
            desc.contains("Cgroup mount directories: cpu memory \n"),
            "{desc}"
        );
        assert!(
            desc.ends_with(
                "\tCgroup mounts:\n\tcgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
            ),
            "{desc}"
        );
        assert_eq!(
            docker_driver(&host),
            (RECOMMENDED, "Storage driver is overlay2.\n".to_owned())
        );
        host.docker_image_drivers.clear();
        assert_eq!(docker_driver(&host).0, UNKNOWN);
        host.memory_hierarchy = MemoryHierarchy::Unknown;
        host.cfs_bandwidth = false;
        host.cgroup_mount_dirs = None;
        assert!(accounting(&host).contains("status unknown"));
        assert!(accounting(&host).contains("Cpu cfs bandwidth is disabled."));
        assert_eq!(mount_setup(&host).0, UNKNOWN);
    }

    /// A hybrid host as `machine::setup` reads it.
    fn setup() -> HostSetup {
        HostSetup {
            root: "/rootfs".into(),
            cgroup_mount: "/sys/fs/cgroup".into(),
            subsystems: BTreeMap::from([("cpu".into(), true), ("cpuacct".into(), true)]),
            memory_hierarchy: MemoryHierarchy::Enabled,
            cfs_bandwidth: true,
            cgroup_mount_dirs: Some(vec!["cpu".into(), "memory".into()]),
            cgroup_mounts: vec!["cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0".into()],
            docker_image_drivers: vec!["overlay2".into()],
        }
    }

    #[test]
    fn privileges_name_what_is_missing() {
        use crate::privileges::{CapSet, Capability, Situation};
        let report = Report::new(&Situation {
            caps: CapSet::of(&[Capability::SysPtrace, Capability::DacReadSearch]),
            host_pid_namespace: true,
            host_cgroup_namespace: true,
            seccomp_filter: true,
            ebpf_wanted: true,
            ebpf_live: false,
        });
        let (verdict, desc) = privileges_block(&report, &setup());
        assert_eq!(verdict, SUPPORTED);
        assert!(
            desc.starts_with(
                "Host root: /rootfs\n\tCapabilities held: CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n\tMissing CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): needed for loading the eBPF probes"
            ),
            "{desc}"
        );
        assert_eq!(desc.lines().count(), 3, "{desc}");
        let (verdict, _) = privileges_block(&Report::default(), &setup());
        assert_eq!(verdict, RECOMMENDED);
    }

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
        let m = crate::machine::setup::parse_proc_cgroups(text);
        assert_eq!(m.get("memory"), Some(&true));
        assert_eq!(cgroup_setup(&m).0, RECOMMENDED);
        assert_eq!(kernel("6.18.44-fc-v1045").0, RECOMMENDED);
        assert_eq!(kernel("2.6.32").0, SUPPORTED);
        assert_eq!(kernel("").0, UNKNOWN);
        assert_eq!(cgroup_setup(&BTreeMap::new()).0, UNKNOWN);
    }
}
