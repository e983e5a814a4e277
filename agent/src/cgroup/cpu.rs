//! CPU usage and CFS throttling. v1: `cpuacct.usage_percpu` (`cpuacct.usage` without the `percpu`
//! kind), `cpuacct.stat` and the cpu controller's `cpu.stat`; v2: `cpu.stat` alone (no per-cpu data).

use std::path::Path;

use super::error::CgroupError;
use super::files::{Buf, CgroupFile};
use super::parse::{CpuStat, CpuacctStat, parse_percpu, parse_u64};
use crate::model::v1::CpuStats;

/// `cpuacct.stat` counts USER_HZ ticks; USER_HZ is 100 on every Linux architecture.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

#[derive(Debug)]
pub enum Cpu {
    V1 {
        usage: Option<CgroupFile>,
        stat: Option<CgroupFile>,
        percpu: Option<CgroupFile>,
        cfs: Option<CgroupFile>,
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
        }
    }

    pub fn v2(dir: &Path) -> Self {
        Cpu::V2 {
            stat: CgroupFile::stat_at(dir, "cpu.stat"),
        }
    }

    /// Fills usage and cfs; `per_cpu` only when asked (the `percpu` kind), reusing `out`'s vector.
    pub fn read(
        &mut self,
        buf: &mut Buf,
        per_cpu: bool,
        out: &mut CpuStats,
    ) -> Result<(), CgroupError> {
        match self {
            Cpu::V1 {
                usage,
                stat,
                percpu,
                cfs,
            } => {
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
                    // The kernel computes `cpuacct.usage` as this very sum over possible CPUs, so
                    // summing saves a file read per tick.
                    out.usage.total = v.iter().fold(0, |a, b| a.wrapping_add(*b));
                } else {
                    v.clear();
                    if let Some(f) = usage {
                        out.usage.total = f.read(buf, parse_u64)?.unwrap_or(0);
                    }
                }
                if let Some(s) = cfs
                    .as_mut()
                    .map(|f| f.read(buf, CpuStat::parse))
                    .transpose()?
                    .flatten()
                {
                    out.cfs.periods = s.nr_periods;
                    out.cfs.throttled_periods = s.nr_throttled;
                    out.cfs.throttled_time = s.throttled_time;
                    out.cfs.bursts_periods = s.nr_bursts;
                    out.cfs.burst_time = s.burst_time;
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
