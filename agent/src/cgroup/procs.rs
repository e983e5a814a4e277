//! What comes from the container's processes rather than its cgroup files: the member pids
//! (`cgroup.procs`), network counters of a member's namespace (`<proc>/<pid>/net/dev`, `net/tcp*`,
//! `net/udp*`, `net/netstat`, `net/snmp`), fd/socket counts, ulimits and schedstat. A process exiting under us is normal: its
//! files are skipped, never a "gone" container.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::advtcp::parse_tcp_ext;
use super::error::CgroupError;
use super::files::{Buf, CgroupFile, read_once};
use super::parse::{
    ParseError, Schedstat, parse_limits, parse_net_dev, parse_net_tcp, parse_net_udp,
    parse_schedstat,
};
use crate::model::v1::{
    CpuSchedstat, InterfaceStats, NetworkStats, ProcessStats, TcpAdvancedStat, TcpStat, UdpStat,
    UlimitSpec,
};

#[derive(Debug)]
pub struct Procs {
    procs: CgroupFile,
    proc_root: PathBuf,
    pids: Vec<u32>,
    /// `net/dev` of the pid it was opened for, kept open while that pid is the first member.
    net_dev: Option<(u32, CgroupFile)>,
    /// Last schedstat per pid ever seen, so exited members keep counting (as cAdvisor does).
    sched: HashMap<u32, Schedstat>,
    /// Whether the last pid asked about has a network namespace of its own. A "yes" holds for the
    /// pid's life; a "no" is checked again 1 s later, then at doubling intervals up to
    /// [`NETNS_RECHECK_MAX`]: a container's first process is often moved into its cgroup before it
    /// joins the container's namespace (runc's `init`), and keeps its pid when it does.
    own_netns: Option<NetnsAnswer>,
}

/// How long a "not in a network namespace of its own" answer holds for a pid at first.
const NETNS_RECHECK_FIRST: Duration = Duration::from_secs(1);

/// How long such an answer holds at most.
const NETNS_RECHECK_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct NetnsAnswer {
    pid: u32,
    own: bool,
    /// When a "no" is checked again, and how long it held last time.
    recheck_at: Instant,
    held: Duration,
}

/// Which protocol tables to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetKinds {
    pub interfaces: bool,
    pub tcp: bool,
    pub udp: bool,
    /// `net/netstat` + `net/snmp` (`advtcp`).
    pub advanced: bool,
}

impl Procs {
    /// `dir` is the cgroup directory whose `cgroup.procs` lists members.
    pub fn new(dir: &Path, proc_root: &Path) -> Self {
        Self {
            procs: CgroupFile::at(dir, "cgroup.procs"),
            proc_root: proc_root.to_path_buf(),
            pids: Vec::new(),
            net_dev: None,
            sched: HashMap::new(),
            own_netns: None,
        }
    }

    /// Reads the member pids; returns the first, if any.
    pub fn refresh(&mut self, buf: &mut Buf) -> Result<Option<u32>, CgroupError> {
        let pids = &mut self.pids;
        pids.clear();
        self.procs.read(buf, |t| {
            for p in t.split_ascii_whitespace() {
                pids.push(p.parse().map_err(|_| ParseError {
                    what: "pid",
                    line: p.to_string(),
                })?);
            }
            Ok(())
        })?;
        Ok(self.pids.first().copied())
    }

    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    fn pid_path(&self, pid: u32, file: &str) -> PathBuf {
        self.proc_root.join(pid.to_string()).join(file)
    }

    /// `true` when `pid` lives in a network namespace other than init's (`<proc>/<pid>/ns/net` vs
    /// `<proc>/1/ns/net`). cAdvisor reports network only for such containers: a cgroup sharing the
    /// host namespace would otherwise repeat the host's counters. When init's link is unreadable
    /// (a sandboxed init, or an init with capabilities a containerised agent lacks) kthreadd's
    /// (pid 2: kernel threads live in the initial namespaces) stands in, then our own namespace
    /// (right only when the agent runs in the host's); an exited pid, or no readable reference at
    /// all, means no network.
    pub fn own_netns(&mut self, pid: u32) -> bool {
        let last = self.own_netns.filter(|a| a.pid == pid);
        if let Some(a) = last
            && (a.own || Instant::now() < a.recheck_at)
        {
            return a.own;
        }
        let ns = |pid: &str| fs::read_link(self.proc_root.join(pid).join("ns/net")).ok();
        let host = ns("1").or_else(|| ns("2")).or_else(|| ns("self"));
        let Some(mine) = ns(&pid.to_string()) else {
            return false;
        };
        let own = host.is_some_and(|h| h != mine);
        let held = last.map_or(NETNS_RECHECK_FIRST, |a| (a.held * 2).min(NETNS_RECHECK_MAX));
        self.own_netns = Some(NetnsAnswer {
            pid,
            own,
            recheck_at: Instant::now() + held,
            held,
        });
        own
    }

    /// Network counters seen from `pid`'s namespace; `None` when its files are unreadable.
    pub fn network(&mut self, buf: &mut Buf, pid: u32, kinds: NetKinds) -> Option<NetworkStats> {
        let mut net = NetworkStats::default();
        if kinds.interfaces {
            if self.net_dev.as_ref().is_none_or(|(p, _)| *p != pid) {
                self.net_dev = Some((pid, CgroupFile::new(self.pid_path(pid, "net/dev"))));
            }
            let (_, f) = self.net_dev.as_mut()?;
            let Ok(Some(ifaces)) = f.read(buf, parse_net_dev) else {
                self.net_dev = None;
                return None;
            };
            net = NetworkStats::from_interfaces(ifaces.into_iter().map(iface).collect());
        }
        if kinds.tcp {
            let t = |s: &mut Self, buf: &mut Buf, f| {
                read_once(s.pid_path(pid, f), buf, parse_net_tcp)
                    .ok()
                    .flatten()
            };
            net.tcp = t(self, buf, "net/tcp").map(tcp).unwrap_or_default();
            net.tcp6 = t(self, buf, "net/tcp6").map(tcp).unwrap_or_default();
        }
        if kinds.udp {
            let u = |s: &mut Self, buf: &mut Buf, f| {
                read_once(s.pid_path(pid, f), buf, parse_net_udp)
                    .ok()
                    .flatten()
            };
            let conv = |u: super::parse::UdpSummary| UdpStat {
                listen: u.listen,
                dropped: u.dropped,
                rx_queued: u.rx_queued,
                tx_queued: u.tx_queued,
            };
            net.udp = u(self, buf, "net/udp").map(conv).unwrap_or_default();
            net.udp6 = u(self, buf, "net/udp6").map(conv).unwrap_or_default();
        }
        if kinds.advanced {
            let mut adv = TcpAdvancedStat::default();
            let ok = ["net/netstat", "net/snmp"].iter().all(|f| {
                read_once(self.pid_path(pid, f), buf, |t| parse_tcp_ext(t, &mut adv))
                    .is_ok_and(|r| r.is_some())
            });
            if ok {
                net.tcp_advanced.set(adv);
            }
        }
        Some(net)
    }

    /// Process, fd and socket counts over all members (after `refresh`), ulimits of the first.
    pub fn processes(&mut self, buf: &mut Buf, out: &mut ProcessStats) {
        out.process_count = self.pids.len() as u64;
        out.fd_count = 0;
        out.socket_count = 0;
        for &pid in &self.pids {
            let Ok(fds) = fs::read_dir(self.pid_path(pid, "fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                out.fd_count += 1;
                if fs::read_link(fd.path())
                    .is_ok_and(|l| l.as_os_str().as_encoded_bytes().starts_with(b"socket:"))
                {
                    out.socket_count += 1;
                }
            }
        }
        out.ulimits = match self.pids.first() {
            Some(&pid) => read_once(self.pid_path(pid, "limits"), buf, |t| Ok(parse_limits(t)))
                .ok()
                .flatten()
                .unwrap_or_default()
                .into_iter()
                .map(|u| UlimitSpec {
                    name: u.name,
                    soft_limit: u.soft,
                    hard_limit: u.hard,
                })
                .collect(),
            None => Vec::new(),
        };
    }

    /// Sum of `<proc>/<pid>/schedstat` over every member ever seen.
    pub fn schedstat(&mut self, buf: &mut Buf) -> CpuSchedstat {
        for i in 0..self.pids.len() {
            let pid = self.pids[i];
            if let Ok(Some(s)) = read_once(self.pid_path(pid, "schedstat"), buf, parse_schedstat) {
                self.sched.insert(pid, s);
            }
        }
        self.sched
            .values()
            .fold(CpuSchedstat::default(), |mut a, s| {
                a.run_time += s.run_time;
                a.runqueue_time += s.runqueue_time;
                a.run_periods += s.run_periods;
                a
            })
    }
}

fn iface(l: super::parse::NetDevLine) -> InterfaceStats {
    InterfaceStats {
        name: l.name,
        rx_bytes: l.rx_bytes,
        rx_packets: l.rx_packets,
        rx_errors: l.rx_errors,
        rx_dropped: l.rx_dropped,
        tx_bytes: l.tx_bytes,
        tx_packets: l.tx_packets,
        tx_errors: l.tx_errors,
        tx_dropped: l.tx_dropped,
    }
}

/// Kernel TCP state numbers (include/net/tcp_states.h) onto cAdvisor's fields.
fn tcp(s: super::parse::TcpStates) -> TcpStat {
    let c = s.0;
    TcpStat {
        established: c[1],
        syn_sent: c[2],
        syn_recv: c[3],
        fin_wait1: c[4],
        fin_wait2: c[5],
        time_wait: c[6],
        close: c[7],
        close_wait: c[8],
        last_ack: c[9],
        listen: c[10],
        closing: c[11],
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn link_netns(proc_root: &Path, pid: u32, ns: &str) {
        let dir = proc_root.join(pid.to_string()).join("ns");
        fs::create_dir_all(&dir).expect("ns dir");
        let link = dir.join("net");
        let _ = fs::remove_file(&link);
        symlink(ns, link).expect("ns link");
    }

    #[test]
    fn a_process_that_joins_its_own_namespace_later_is_seen_after_the_recheck() {
        let root = tempfile::tempdir().expect("tempdir");
        let proc_root = root.path().join("proc");
        link_netns(&proc_root, 1, "net:[4026531840]");
        // runc's init: in the cgroup already, still in the host's namespace.
        link_netns(&proc_root, 42, "net:[4026531840]");
        let mut p = Procs::new(root.path(), &proc_root);
        assert!(!p.own_netns(42));

        let first = p.own_netns.expect("cached");
        assert_eq!(first.held, NETNS_RECHECK_FIRST);

        link_netns(&proc_root, 42, "net:[4026532999]");
        assert!(!p.own_netns(42), "a no holds until the recheck");
        let due = |p: &mut Procs| {
            if let Some(a) = p.own_netns.as_mut() {
                a.recheck_at = Instant::now();
            }
        };
        due(&mut p);
        assert!(p.own_netns(42), "checked again");

        link_netns(&proc_root, 42, "net:[4026531840]");
        due(&mut p);
        assert!(p.own_netns(42), "a yes holds for the pid's life");

        // A pid that stays in the host's namespace is checked less and less often.
        link_netns(&proc_root, 7, "net:[4026531840]");
        assert!(!p.own_netns(7));
        for _ in 0..10 {
            due(&mut p);
            assert!(!p.own_netns(7));
        }
        assert_eq!(p.own_netns.expect("cached").held, NETNS_RECHECK_MAX);
    }

    #[test]
    fn kthreadd_names_the_host_namespace_when_init_is_unreadable() {
        let root = tempfile::tempdir().expect("tempdir");
        let proc_root = root.path().join("proc");
        // A containerised agent: init's link unreadable (absent here), ours is the container's.
        link_netns(&proc_root, 2, "net:[4026531840]");
        link_netns(&proc_root, 99, "net:[4026532500]");
        symlink("99", proc_root.join("self")).expect("self link");
        link_netns(&proc_root, 42, "net:[4026531840]");
        link_netns(&proc_root, 43, "net:[4026532600]");
        let mut p = Procs::new(root.path(), &proc_root);
        assert!(
            !p.own_netns(42),
            "a host-namespace process has no network of its own"
        );
        assert!(p.own_netns(43));
        // The agent's own container is in a namespace of its own, too.
        assert!(p.own_netns(99));
    }
}
