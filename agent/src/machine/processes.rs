//! The process list behind `/api/v2.x/ps`: what cAdvisor gets from `ps -e -o
//! user,pid,ppid,stime,pcpu,pmem,rss,vsz,stat,time,comm,psr,cgroup`, read from the host's procfs
//! instead of running `ps`, with procps' column semantics (integer per-mille %cpu/%mem, STIME,
//! TIME, STAT flags). Blocking: callers run it off the async workers.

use std::collections::HashMap;
use std::path::Path;

use procfs::FromRead;
use procfs::process::{Stat, Status};
use time::OffsetDateTime;

use crate::host::HostPaths;
use crate::model::v2::ProcessInfo;

/// Why the process list could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PsError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: procfs::ProcError,
    },
    #[error("read {path}: no btime line")]
    NoBootTime { path: String },
}

/// Host facts every line needs.
#[derive(Debug, Clone)]
pub struct PsClock {
    /// Clock ticks per second (`USER_HZ`).
    pub hz: u64,
    pub page_size: u64,
    /// Boot time, Unix seconds (`btime` of `/proc/stat`).
    pub boot_time: u64,
    pub now: OffsetDateTime,
    /// `MemTotal`, bytes.
    pub mem_total: u64,
}

/// What procfs says about one process.
#[derive(Debug, Clone)]
pub struct RawProcess {
    pub stat: Stat,
    pub euid: u32,
    /// `VmLck` > 0 (ps flag `L`).
    pub locked: bool,
    /// `/proc/<pid>/cgroup` text.
    pub cgroup: String,
    pub fd_count: usize,
}

/// Processes of container `name` (all processes for `/`), as cAdvisor's `GetProcessList`.
pub fn process_list(
    host: &HostPaths,
    name: &str,
    mem_total: u64,
) -> Result<Vec<ProcessInfo>, PsError> {
    let stat_path = host.proc.join("stat");
    let text = std::fs::read_to_string(&stat_path).map_err(|e| PsError::Read {
        path: stat_path.display().to_string(),
        source: e.into(),
    })?;
    let boot_time = parse_btime(&text).ok_or_else(|| PsError::NoBootTime {
        path: stat_path.display().to_string(),
    })?;
    let clock = PsClock {
        hz: procfs::ticks_per_second(),
        page_size: procfs::page_size(),
        boot_time,
        now: OffsetDateTime::now_utc(),
        mem_total,
    };
    let users = read_users(&host.etc.join("passwd"));
    let procs = std::fs::read_dir(&host.proc).map_err(|e| PsError::Read {
        path: host.proc.display().to_string(),
        source: e.into(),
    })?;
    let mut out = Vec::new();
    for entry in procs.flatten() {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        // A process that exits mid-listing (or whose fd dir we cannot read) drops out, as in ps.
        let Some(raw) = read_raw(&entry.path()) else {
            continue;
        };
        if let Some(info) = process_info(&raw, name, &clock, &users) {
            out.push(info);
        }
    }
    Ok(out)
}

fn read_raw(dir: &Path) -> Option<RawProcess> {
    let stat = Stat::from_file(dir.join("stat")).ok()?;
    let status = Status::from_file(dir.join("status")).ok()?;
    let cgroup = std::fs::read_to_string(dir.join("cgroup")).ok()?;
    let fd_count = std::fs::read_dir(dir.join("fd")).ok()?.count();
    Some(RawProcess {
        stat,
        euid: status.euid,
        locked: status.vmlck.unwrap_or(0) > 0,
        cgroup,
        fd_count,
    })
}

/// `btime` of `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// uid → name from a passwd file; missing file → empty (names print as numbers).
pub fn read_users(path: &Path) -> HashMap<u32, String> {
    std::fs::read_to_string(path)
        .map(|t| parse_passwd(&t))
        .unwrap_or_default()
}

pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// The cgroup path ps' `cgroup` column yields for cAdvisor: the unified path when it comes first,
/// else the memory controller's, else cpu's, else `/`.
pub fn cgroup_path(cgroup_file: &str) -> String {
    let lines: Vec<(&str, &str)> = cgroup_file
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(':')?;
            rest.split_once(':')
        })
        .collect();
    if let Some((ctrl, path)) = lines.first()
        && ctrl.is_empty()
    {
        return (*path).to_owned();
    }
    let by = |want: &str| {
        lines
            .iter()
            .find(|(ctrl, _)| ctrl.split(',').any(|c| c.starts_with(want)))
            .map(|(_, p)| (*p).to_owned())
    };
    by("memory")
        .or_else(|| by("cpu"))
        .unwrap_or_else(|| "/".to_owned())
}

/// One `ps` line as cAdvisor's `ProcessInfo`, or `None` when the process is not in `name`.
pub fn process_info(
    raw: &RawProcess,
    name: &str,
    clock: &PsClock,
    users: &HashMap<u32, String>,
) -> Option<ProcessInfo> {
    let cgroup = cgroup_path(&raw.cgroup);
    let is_root = name == "/";
    if !is_root && cgroup != name {
        return None;
    }
    let s = &raw.stat;
    let hz = clock.hz.max(1);
    let cpu_ticks = s.utime.saturating_add(s.stime);
    let start_secs = clock.boot_time.saturating_add(s.starttime / hz);
    let elapsed = (clock.now.unix_timestamp().max(0) as u64).saturating_sub(start_secs);
    // procps: integer per-mille, printed with one decimal.
    let pcpu = (cpu_ticks.saturating_mul(1000) / hz)
        .checked_div(elapsed)
        .unwrap_or(0);
    let rss = s.rss.saturating_mul(clock.page_size);
    let pmem = if clock.mem_total > 0 {
        (u128::from(rss) * 1000 / u128::from(clock.mem_total)) as u64
    } else {
        0
    };
    Some(ProcessInfo {
        user: user_name(raw.euid, users),
        pid: i64::from(s.pid),
        ppid: i64::from(s.ppid),
        start_time: stime(start_secs, clock.now),
        percent_cpu: pcpu as f32 / 10.0,
        percent_memory: pmem as f32 / 10.0,
        rss: rss / 1024 * 1024,
        virtual_size: s.vsize / 1024 * 1024,
        status: stat_flags(raw),
        running_time: cpu_time(cpu_ticks / hz),
        cgroup_path: if is_root { cgroup } else { String::new() },
        cmd: s.comm.clone(),
        fd_count: raw.fd_count as i64,
        psr: i64::from(s.processor.unwrap_or(0)),
    })
}

/// procps `user`: the name when it fits the 8-column field, else truncated with `+`.
fn user_name(uid: u32, users: &HashMap<u32, String>) -> String {
    match users.get(&uid) {
        Some(n) if n.chars().count() > 8 => format!("{}+", n.chars().take(7).collect::<String>()),
        Some(n) => n.clone(),
        None => uid.to_string(),
    }
}

/// procps `STIME`: `HH:MM` today, `MonDD` this year, else the year.
pub fn stime(start_unix: u64, now: OffsetDateTime) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(start_unix.min(i64::MAX as u64) as i64) else {
        return "?".to_owned();
    };
    if t.date() == now.date() {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else if t.year() == now.year() {
        let mon = format!("{:?}", t.month());
        format!("{}{:02}", &mon[..3.min(mon.len())], t.day())
    } else {
        t.year().to_string()
    }
}

/// procps `TIME`: `[DD-]HH:MM:SS` of CPU seconds.
pub fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// procps `STAT`: state, then `<`/`N` (nice), `L` (locked pages), `s` (session leader),
/// `l` (multi-threaded), `+` (foreground process group).
fn stat_flags(raw: &RawProcess) -> String {
    let s = &raw.stat;
    let mut out = String::from(s.state);
    if s.nice < 0 {
        out.push('<');
    } else if s.nice > 0 {
        out.push('N');
    }
    if raw.locked {
        out.push('L');
    }
    if s.session == s.pid {
        out.push('s');
    }
    if s.num_threads > 1 {
        out.push('l');
    }
    if s.tpgid == s.pgrp {
        out.push('+');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/1/stat of this machine (kernel 6.18.44, pid 1 of a sandbox with nice -10, 14 threads).
    const STAT: &str = "1 (process_api) S 0 0 0 0 -1 4194560 41460 17190595 0 2781 152 739 46841 10976 10 -10 14 0 26 49442816 3851 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
    // /proc/1/cgroup of this machine (hybrid: v1 controllers plus the unified `0::` line last).
    const CGROUP_ROOT: &str = "9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";
    // Constructed in the same format for a process of docker container `9ad0` (cgroupfs driver).
    const CGROUP_HYBRID: &str = "9:name=systemd:/docker/9ad0
4:memory:/docker/9ad0
2:cpuacct:/docker/9ad0
1:cpu:/docker/9ad0
0::/docker/9ad0
";
    // Constructed: a pure cgroup v2 host with the systemd driver (only the unified line).
    const CGROUP_V2: &str = "0::/kubepods.slice/docker-9ad0.scope\n";

    fn raw(cgroup: &str) -> RawProcess {
        RawProcess {
            stat: Stat::from_read(STAT.as_bytes()).expect("stat"),
            euid: 0,
            locked: false,
            cgroup: cgroup.to_owned(),
            fd_count: 7,
        }
    }

    fn clock() -> PsClock {
        PsClock {
            hz: 100,
            page_size: 4096,
            // Boot at 2026-11-22T18:00:00Z, now 1000 s later.
            boot_time: 1_795_370_400,
            now: OffsetDateTime::from_unix_timestamp(1_795_370_400 + 1000).expect("t"),
            mem_total: 4096 * 1_000_000,
        }
    }

    #[test]
    fn cgroup_paths_like_cadvisor() {
        assert_eq!(cgroup_path(CGROUP_HYBRID), "/docker/9ad0");
        assert_eq!(cgroup_path(CGROUP_ROOT), "/");
        assert_eq!(cgroup_path(CGROUP_V2), "/kubepods.slice/docker-9ad0.scope");
        assert_eq!(cgroup_path("3:cpu,cpuacct:/a\n"), "/a");
        assert_eq!(cgroup_path(""), "/");
        assert_eq!(cgroup_path("garbage"), "/");
    }

    #[test]
    fn ps_columns() {
        let users =
            parse_passwd("root:x:0:0:root:/root:/bin/bash\nsystemd-network:x:998:998::/:/x\n");
        let p = process_info(&raw(CGROUP_HYBRID), "/docker/9ad0", &clock(), &users).expect("in");
        assert_eq!(p.user, "root");
        assert_eq!((p.pid, p.ppid), (1, 0));
        assert_eq!(p.start_time, "18:00");
        // 891 ticks = 8.91 s of CPU over 1000 s → 8 per-mille.
        assert_eq!(p.percent_cpu, 0.8);
        assert_eq!(p.percent_memory, 0.3);
        assert_eq!(p.rss, 3851 * 4096);
        assert_eq!(p.virtual_size, 49442816);
        assert_eq!(p.status, "S<l");
        assert_eq!(p.running_time, "00:00:08");
        assert_eq!(p.cgroup_path, "", "blank for a non-root container");
        assert_eq!(p.cmd, "process_api");
        assert_eq!((p.fd_count, p.psr), (7, 1));
        assert!(process_info(&raw(CGROUP_HYBRID), "/docker/other", &clock(), &users).is_none());
        let root = process_info(&raw(CGROUP_HYBRID), "/", &clock(), &users).expect("root");
        assert_eq!(root.cgroup_path, "/docker/9ad0");
        let init = process_info(&raw(CGROUP_ROOT), "/", &clock(), &users).expect("root");
        assert_eq!(init.cgroup_path, "/");
        assert_eq!(user_name(998, &users), "systemd+");
        assert_eq!(user_name(5, &users), "5");
    }

    #[test]
    fn time_columns() {
        let now = OffsetDateTime::from_unix_timestamp(1_795_371_389).expect("t"); // 2026-11-22 18:16
        assert_eq!(stime(1_795_371_389 - 60, now), "18:15");
        assert_eq!(stime(1_795_371_389 - 86400 * 3, now), "Nov19");
        assert_eq!(stime(1_700_000_000, now), "2023");
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(3725), "01:02:05");
        assert_eq!(cpu_time(86400 * 2 + 1), "2-00:00:01");
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1795370400\n"),
            Some(1_795_370_400)
        );
        assert_eq!(parse_btime("cpu 1 2\n"), None);
    }
}
