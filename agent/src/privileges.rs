//! The kernel privileges the agent uses, which of them it holds, and what it does without each.
//!
//! Gathered once at start-up: the effective capability set (`capget(2)`), whether the agent shares
//! the host's pid namespace, whether a seccomp filter is on, and whether the eBPF source came up.
//! Every missing piece becomes a [`Finding`] naming the capability (or namespace), what needs it
//! and the fallback in use; the app logs each one and `/validate/` lists them. The needs are the
//! ones measured for the README's capability table (a containerised agent, one capability dropped
//! at a time); `CAP_SYS_RESOURCE` is not among them (the open-file limit the agent wants is below
//! the container engines' hard limits, and BPF memory is charged to the memory cgroup since 5.11).

use std::sync::OnceLock;

use crate::host::HostPaths;

/// The capabilities the agent's features depend on (`include/uapi/linux/capability.h` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    DacOverride = 1,
    DacReadSearch = 2,
    SysPtrace = 19,
    SysAdmin = 21,
    Perfmon = 38,
    Bpf = 39,
}

impl Capability {
    /// In the order `/validate/` lists them.
    pub const USED: [Capability; 6] = [
        Self::Bpf,
        Self::Perfmon,
        Self::SysAdmin,
        Self::SysPtrace,
        Self::DacReadSearch,
        Self::DacOverride,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::DacOverride => "CAP_DAC_OVERRIDE",
            Self::DacReadSearch => "CAP_DAC_READ_SEARCH",
            Self::SysPtrace => "CAP_SYS_PTRACE",
            Self::SysAdmin => "CAP_SYS_ADMIN",
            Self::Perfmon => "CAP_PERFMON",
            Self::Bpf => "CAP_BPF",
        }
    }
}

/// A capability set as the kernel's 64-bit mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSet(u64);

impl CapSet {
    pub fn of(caps: &[Capability]) -> Self {
        Self(caps.iter().fold(0, |m, &c| m | 1 << c as u32))
    }

    pub fn has(self, c: Capability) -> bool {
        self.0 & (1 << c as u32) != 0
    }

    /// This thread's effective set.
    pub fn effective() -> std::io::Result<Self> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: libc::c_int,
        }
        #[repr(C)]
        #[derive(Default, Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        // _LINUX_CAPABILITY_VERSION_3: two `Data` words, capabilities 0-31 and 32-63.
        let mut header = Header {
            version: 0x2008_0522,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget reads the header and writes the two `Data` structs version 3 asks for,
        // both valid for the call's duration.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self(
            u64::from(data[0].effective) | u64::from(data[1].effective) << 32,
        ))
    }
}

/// What the agent found about its own privileges at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub caps: CapSet,
    /// Whether the agent sees the host's pid namespace (else `cgroup.procs` of other containers
    /// lists none of their processes).
    pub host_pid_namespace: bool,
    /// Whether the agent sees the host's cgroup namespace (else `/proc/<pid>/cgroup` names other
    /// containers' cgroups relative to its own).
    pub host_cgroup_namespace: bool,
    /// Whether a seccomp filter is on (it may refuse `bpf()` even with `CAP_BPF`).
    pub seccomp_filter: bool,
    /// Whether eBPF was asked for (`--event_source` other than `inotify`).
    pub ebpf_wanted: bool,
    /// Whether the eBPF probes are live.
    pub ebpf_live: bool,
}

impl Situation {
    /// This process's situation; `host` is where the host's procfs is.
    pub fn current(host: &HostPaths, ebpf_wanted: bool, ebpf_live: bool) -> Self {
        let caps = CapSet::effective().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "capget failed; assuming no capabilities");
            CapSet::default()
        });
        Self {
            caps,
            host_pid_namespace: in_host_pid_namespace(host),
            host_cgroup_namespace: in_host_cgroup_namespace(host),
            seccomp_filter: seccomp_filter(),
            ebpf_wanted,
            ebpf_live,
        }
    }
}

/// Whether our pid in the host's procfs (`<proc>/self`) is the pid we know ourselves by; an
/// unreadable link counts as yes (nothing to report without evidence).
fn in_host_pid_namespace(host: &HostPaths) -> bool {
    std::fs::read_link(host.proc.join("self"))
        .ok()
        .and_then(|p| p.to_str()?.parse::<u32>().ok())
        .is_none_or(|pid| pid == std::process::id())
}

/// Whether kthreadd's cgroups (pid 2, in the root cgroups) read as inside our cgroup namespace:
/// `/proc/<pid>/cgroup` shows a cgroup outside the reader's namespace as `/..`. Readable without
/// any capability; an unreadable file counts as yes.
fn in_host_cgroup_namespace(host: &HostPaths) -> bool {
    std::fs::read_to_string(host.proc.join("2/cgroup")).map_or(true, |text| {
        !text
            .lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .any(|path| path.starts_with("/.."))
    })
}

fn seccomp_filter() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers; it returns the mode or -1.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP) == 2 }
}

/// One missing privilege: what is missing, what needs it, and what the agent does instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub missing: String,
    pub needed_for: &'static str,
    pub fallback: &'static str,
}

/// The capabilities held (of [`Capability::USED`]) and every [`Finding`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub held: Vec<Capability>,
    pub findings: Vec<Finding>,
}

const EBPF_FOR: &str =
    "loading the eBPF probes (container lifecycle events, OOM victims with pid and process name)";
const EBPF_FALLBACK: &str = "inotify watches and rescans find containers; OOM kills are counted \
                             from memory cgroup counters";

impl Report {
    pub fn new(s: &Situation) -> Self {
        let has = |c| s.caps.has(c);
        let mut findings = Vec::new();
        if s.ebpf_wanted && !s.ebpf_live {
            let lacking: Vec<&str> = [Capability::Bpf, Capability::Perfmon]
                .into_iter()
                .filter(|&c| !has(c))
                .map(Capability::name)
                .collect();
            let missing = if has(Capability::SysAdmin) {
                None
            } else if !lacking.is_empty() {
                Some(format!("{} (or CAP_SYS_ADMIN)", lacking.join(" and ")))
            } else if s.seccomp_filter {
                Some(
                    "CAP_SYS_ADMIN, or a seccomp profile that allows bpf() with CAP_BPF"
                        .to_string(),
                )
            } else {
                None
            };
            if let Some(missing) = missing {
                findings.push(Finding {
                    missing,
                    needed_for: EBPF_FOR,
                    fallback: EBPF_FALLBACK,
                });
            }
        }
        if !has(Capability::SysPtrace) {
            findings.push(Finding {
                missing: Capability::SysPtrace.name().to_string(),
                needed_for: "reading /proc/<pid>/ns/net and fd links of processes holding \
                             capabilities the agent lacks (other containers, the host's daemons)",
                fallback: "those containers report no network statistics; their processes' \
                           socket counts stay 0",
            });
        }
        if !has(Capability::DacReadSearch) && !has(Capability::DacOverride) {
            findings.push(Finding {
                missing: Capability::DacReadSearch.name().to_string(),
                needed_for: "walking containers' writable layers for filesystem usage \
                             (directories of other users the agent may not list)",
                fallback: "what it cannot list counts as 0 bytes: usage is under-reported",
            });
        }
        if !s.host_pid_namespace {
            findings.push(Finding {
                missing: "the host's pid namespace (docker run --pid=host, Kubernetes hostPID)"
                    .to_string(),
                needed_for: "seeing containers' processes: cgroup.procs lists no process of \
                             another pid namespace",
                fallback: "containers report no network statistics, process counts or schedstat",
            });
        }
        if !s.host_cgroup_namespace {
            findings.push(Finding {
                missing: "the host's cgroup namespace (docker run --cgroupns=host)".to_string(),
                needed_for: "matching processes to containers by /proc/<pid>/cgroup",
                fallback: "/api/v2.0/ps lists no processes",
            });
        }
        Self {
            held: Capability::USED.into_iter().filter(|&c| has(c)).collect(),
            findings,
        }
    }

    /// The held capabilities by name, space-separated (`none` when empty).
    pub fn held_names(&self) -> String {
        if self.held.is_empty() {
            return "none".to_string();
        }
        let names: Vec<&str> = self.held.iter().map(|c| c.name()).collect();
        names.join(" ")
    }

    /// One info line, then a warning per finding.
    pub fn log(&self) {
        tracing::info!(capabilities = %self.held_names(), "privileges");
        for f in &self.findings {
            tracing::warn!(
                missing = %f.missing,
                needed_for = f.needed_for,
                fallback = f.fallback,
                "privilege missing"
            );
        }
    }
}

static PUBLISHED: OnceLock<Report> = OnceLock::new();

/// Makes the start-up report visible to `/validate/` (the first one published stays).
pub fn publish(report: Report) {
    let _ = PUBLISHED.set(report);
}

/// The report published at start-up, if any (none in tests that build a router directly).
pub fn published() -> Option<&'static Report> {
    PUBLISHED.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn situation(caps: &[Capability]) -> Situation {
        Situation {
            caps: CapSet::of(caps),
            host_pid_namespace: true,
            host_cgroup_namespace: true,
            seccomp_filter: true,
            ebpf_wanted: true,
            ebpf_live: false,
        }
    }

    fn missing(r: &Report) -> Vec<&str> {
        r.findings.iter().map(|f| f.missing.as_str()).collect()
    }

    #[test]
    fn the_measured_set_has_nothing_missing() {
        let mut s = situation(&[Bpf, Perfmon, SysPtrace, DacReadSearch]);
        s.ebpf_live = true;
        let r = Report::new(&s);
        assert_eq!(r.findings, []);
        assert_eq!(
            r.held_names(),
            "CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"
        );
        // CAP_SYS_ADMIN stands in for CAP_BPF + CAP_PERFMON; DAC_OVERRIDE for DAC_READ_SEARCH.
        let mut s = situation(&[SysAdmin, SysPtrace, DacOverride]);
        s.ebpf_live = true;
        assert_eq!(Report::new(&s).findings, []);
    }

    #[test]
    fn each_missing_capability_is_named_with_its_fallback() {
        let r = Report::new(&situation(&[Bpf]));
        assert_eq!(
            missing(&r),
            [
                "CAP_PERFMON (or CAP_SYS_ADMIN)",
                "CAP_SYS_PTRACE",
                "CAP_DAC_READ_SEARCH"
            ]
        );
        assert!(r.findings[0].fallback.contains("inotify"));
        assert_eq!(r.held_names(), "CAP_BPF");
        let none = Report::new(&situation(&[]));
        assert_eq!(
            missing(&none)[0],
            "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"
        );
        assert_eq!(none.held_names(), "none");
    }

    #[test]
    fn a_refused_bpf_with_the_capabilities_held_blames_seccomp() {
        let r = Report::new(&situation(&[Bpf, Perfmon, SysPtrace, DacReadSearch]));
        assert_eq!(
            missing(&r),
            ["CAP_SYS_ADMIN, or a seccomp profile that allows bpf() with CAP_BPF"]
        );
        // Without a filter, the eBPF error itself (logged by the app) is the explanation.
        let mut s = situation(&[Bpf, Perfmon, SysPtrace, DacReadSearch]);
        s.seccomp_filter = false;
        assert_eq!(Report::new(&s).findings, []);
        // Nothing is missing for eBPF when it was not asked for.
        let mut s = situation(&[SysPtrace, DacReadSearch]);
        s.ebpf_wanted = false;
        assert_eq!(Report::new(&s).findings, []);
    }

    #[test]
    fn private_pid_and_cgroup_namespaces_are_findings() {
        let mut s = situation(&[SysAdmin, SysPtrace, DacReadSearch]);
        s.ebpf_live = true;
        s.host_pid_namespace = false;
        s.host_cgroup_namespace = false;
        assert_eq!(
            missing(&Report::new(&s)),
            [
                "the host's pid namespace (docker run --pid=host, Kubernetes hostPID)",
                "the host's cgroup namespace (docker run --cgroupns=host)"
            ]
        );
    }

    #[test]
    fn effective_set_of_this_process_is_readable() {
        let caps = CapSet::effective().expect("capget");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(caps.has(SysAdmin) || caps.has(SysPtrace) || caps.has(DacOverride));
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        // No `<proc>/self` link: no evidence of a private pid namespace.
        assert!(in_host_pid_namespace(&HostPaths::under(tmp.path())));
        std::fs::create_dir_all(tmp.path().join("proc")).expect("mkdir");
        std::os::unix::fs::symlink("1", tmp.path().join("proc/self")).expect("link");
        assert_eq!(
            in_host_pid_namespace(&HostPaths::under(tmp.path())),
            std::process::id() == 1
        );
        assert!(in_host_pid_namespace(&HostPaths::local()));
        // No file: no evidence. Then kthreadd's /proc/2/cgroup as read from a Docker container
        // with --cgroupns=private (hybrid host, kernel 6.18), and as read on the host.
        let fixture = HostPaths::under(tmp.path());
        assert!(in_host_cgroup_namespace(&fixture));
        std::fs::create_dir_all(fixture.proc.join("2")).expect("mkdir");
        let write =
            |text: &str| std::fs::write(fixture.proc.join("2/cgroup"), text).expect("write");
        write("9:name=systemd:/../..\n8:pids:/../..\n0::/../..\n");
        assert!(!in_host_cgroup_namespace(&fixture));
        write("9:name=systemd:/\n8:pids:/\n0::/\n");
        assert!(in_host_cgroup_namespace(&fixture));
    }
}
