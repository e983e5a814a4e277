//! CPU usage and CFS throttling. v1: `cpuacct.usage_percpu` (`cpuacct.usage` without the `percpu`
//! kind), `cpuacct.stat` and the cpu controller's `cpu.stat`; v2: `cpu.stat` alone (no per-cpu data).

use std::path::Path;

use super::counters::{CfsCounters, CpuacctCounters};
use super::error::CgroupError;
use super::files::{Buf, CgroupFile};
use super::parse::{CpuStat, CpuacctStat, parse_percpu, parse_u64};
use crate::model::v1::CpuStats;

/// `cpuacct.stat` counts USER_HZ ticks; USER_HZ is 100 on every Linux architecture.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

/// `cpuacct.stat`'s user and system time: the kernel samples them at ticks, then scales them so
/// that they add up to the precise runtime, never going backwards from what it printed last
/// (`last`, updated). The same arithmetic as the kernel's, so the same numbers as the file.
pub fn scaled_user_system(
    user: u64,
    system: u64,
    runtime: u64,
    last: &mut (u64, u64),
) -> (u64, u64) {
    let (last_user, last_system) = *last;
    // Runtime can lag the tick samples (or a reader already printed more): keep what was printed.
    if last_user.saturating_add(last_system) >= runtime {
        return *last;
    }
    let mut sys = if system == 0 {
        0
    } else if user == 0 {
        runtime
    } else {
        let scaled =
            u128::from(system) * u128::from(runtime) / (u128::from(system) + u128::from(user));
        (scaled as u64).min(runtime)
    };
    sys = sys.max(last_system);
    let mut usr = runtime - sys;
    if usr < last_user {
        usr = last_user;
        sys = runtime - usr;
    }
    *last = (usr, sys);
    (usr, sys)
}

#[derive(Debug)]
pub enum Cpu {
    V1 {
        usage: Option<CgroupFile>,
        stat: Option<CgroupFile>,
        percpu: Option<CgroupFile>,
        cfs: Option<CgroupFile>,
        /// User and system time last reported from prefetched counters (see [`scaled_user_system`]).
        prev: Option<(u64, u64)>,
    },
    V2 {
        stat: CgroupFile,
    },
}

impl Cpu {
    /// `cpu` and `cpuacct` are separate hierarchies on some hosts; either may be missing.
    pub fn v1(cpu: Option<&Path>, cpuacct: Option<&Path>) -> Self {
        Cpu::V1 {
            usage: cpuacct.map(|d| CgroupFile::stat_at(d, "cpuacct.usage")),
            stat: cpuacct.map(|d| CgroupFile::stat_at(d, "cpuacct.stat")),
            percpu: cpuacct.map(|d| CgroupFile::stat_at(d, "cpuacct.usage_percpu")),
            cfs: cpu.map(|d| CgroupFile::stat_at(d, "cpu.stat")),
            prev: None,
        }
    }

    pub fn v2(dir: &Path) -> Self {
        Cpu::V2 {
            stat: CgroupFile::stat_at(dir, "cpu.stat"),
        }
    }

    /// Fills usage and cfs; `per_cpu` only when asked (the `percpu` kind), reusing `out`'s vector.
    /// On v1, counters a BPF iterator already read (`cfs_pre`, `acct_pre`) replace the files.
    pub fn read(
        &mut self,
        buf: &mut Buf,
        per_cpu: bool,
        out: &mut CpuStats,
        cfs_pre: Option<CfsCounters>,
        acct_pre: Option<CpuacctCounters<'_>>,
    ) -> Result<(), CgroupError> {
        match self {
            Cpu::V1 {
                usage,
                stat,
                percpu,
                cfs,
                prev,
            } => {
                match acct_pre {
                    Some(a) => {
                        let runtime = a.per_cpu.iter().fold(0u64, |s, v| s.wrapping_add(*v));
                        let last = prev.get_or_insert((a.prev_user_ns, a.prev_system_ns));
                        let (user, system) =
                            scaled_user_system(a.user_ns, a.system_ns, runtime, last);
                        // The file's USER_HZ ticks, back in nanoseconds.
                        out.usage.user = user / NS_PER_TICK * NS_PER_TICK;
                        out.usage.system = system / NS_PER_TICK * NS_PER_TICK;
                        out.usage.total = runtime;
                        out.usage.per_cpu.clear();
                        if per_cpu {
                            out.usage.per_cpu.extend_from_slice(a.per_cpu);
                        }
                    }
                    None => read_cpuacct_files(buf, usage, stat, percpu, per_cpu, out)?,
                }
                let throttling = match cfs_pre {
                    Some(c) => Some(c),
                    None => cfs
                        .as_mut()
                        .map(|f| f.read(buf, CpuStat::parse))
                        .transpose()?
                        .flatten()
                        .map(|s| CfsCounters {
                            periods: s.nr_periods,
                            throttled_periods: s.nr_throttled,
                            throttled_time: s.throttled_time,
                            bursts: s.nr_bursts,
                            burst_time: s.burst_time,
                        }),
                };
                if let Some(c) = throttling {
                    out.cfs.periods = c.periods;
                    out.cfs.throttled_periods = c.throttled_periods;
                    out.cfs.throttled_time = c.throttled_time;
                    out.cfs.bursts_periods = c.bursts;
                    out.cfs.burst_time = c.burst_time;
                }
            }
            Cpu::V2 { stat } => {
                let Some(s) = stat.read(buf, CpuStat::parse)? else {
                    return Ok(());
                };
                out.usage.total = s.usage_usec * 1000;
                out.usage.user = s.user_usec * 1000;
                out.usage.system = s.system_usec * 1000;
                out.usage.per_cpu.clear();
                out.cfs.periods = s.nr_periods;
                out.cfs.throttled_periods = s.nr_throttled;
                out.cfs.throttled_time = s.throttled_usec * 1000;
                out.cfs.bursts_periods = s.nr_bursts;
                out.cfs.burst_time = s.burst_usec * 1000;
            }
        }
        Ok(())
    }
}

/// v1 usage from `cpuacct.stat` and `cpuacct.usage_percpu` (`cpuacct.usage` without the `percpu`
/// kind).
fn read_cpuacct_files(
    buf: &mut Buf,
    usage: &mut Option<CgroupFile>,
    stat: &mut Option<CgroupFile>,
    percpu: &mut Option<CgroupFile>,
    per_cpu: bool,
    out: &mut CpuStats,
) -> Result<(), CgroupError> {
    if let Some(s) = stat
        .as_mut()
        .map(|f| f.read(buf, CpuacctStat::parse))
        .transpose()?
        .flatten()
    {
        out.usage.user = s.user * NS_PER_TICK;
        out.usage.system = s.system * NS_PER_TICK;
    }
    let v = &mut out.usage.per_cpu;
    let have_percpu = match percpu {
        Some(f) if per_cpu => f.read(buf, |t| parse_percpu(t, v))?.is_some(),
        _ => false,
    };
    if have_percpu {
        // The kernel computes `cpuacct.usage` as this very sum over possible CPUs, so summing
        // saves a file read per tick.
        out.usage.total = v.iter().fold(0, |a, b| a.wrapping_add(*b));
    } else {
        v.clear();
        if let Some(f) = usage {
            out.usage.total = f.read(buf, parse_u64)?.unwrap_or(0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_are_scaled_to_the_runtime_and_never_go_back() {
        let mut last = (0, 0);
        // Ticks say 180 ms user, 10 ms system; the precise runtime is 176 ms.
        let (u, s) = scaled_user_system(180_000_000, 10_000_000, 176_000_000, &mut last);
        assert_eq!((u, s), (166_736_843, 9_263_157));
        assert_eq!(u + s, 176_000_000);
        // More system ticks but a lower system share: system stays, user takes the rest.
        let (u2, s2) = scaled_user_system(400_000_000, 10_000_000, 200_000_000, &mut last);
        assert_eq!(s2, 9_263_157);
        assert_eq!(u2, 200_000_000 - 9_263_157);
        // Runtime not past what was printed: unchanged.
        assert_eq!(scaled_user_system(1, 1, 100, &mut last), (u2, s2));
        // No system ticks: all user; no user ticks: all system.
        assert_eq!(scaled_user_system(5, 0, 10, &mut (0, 0)), (10, 0));
        assert_eq!(scaled_user_system(0, 5, 10, &mut (0, 0)), (0, 10));
    }
}
