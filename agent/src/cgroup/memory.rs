//! Memory usage, page cache split, working set, failures, events and NUMA pages.
//! v1: `memory.usage_in_bytes`, `max_usage_in_bytes`, `stat`, `failcnt`, `kmem.usage_in_bytes`,
//! `numa_stat`; v2: `memory.current`, `peak`, `stat`, `swap.current`, `events`, `numa_stat`.

use std::path::Path;

use super::counters::MemoryCounters;
use super::error::CgroupError;
use super::files::{Buf, CgroupFile, read_once};
use super::parse::{MemoryEvents, MemoryStat, NumaStat, parse_u64};
use crate::model::sparse::Sparse;
use crate::model::v1::{MemoryNumaStats, MemoryStats};

#[derive(Debug)]
pub enum Memory {
    V1 {
        usage: CgroupFile,
        max_usage: CgroupFile,
        stat: CgroupFile,
        failcnt: CgroupFile,
        kmem: CgroupFile,
        numa: CgroupFile,
        /// `memory.use_hierarchy`: pick the `total_` keys (fixed once children exist, read once).
        hierarchy: bool,
    },
    V2 {
        current: CgroupFile,
        peak: CgroupFile,
        stat: CgroupFile,
        swap: CgroupFile,
        events: CgroupFile,
        numa: CgroupFile,
    },
}

impl Memory {
    pub fn v1(dir: &Path) -> Result<Self, CgroupError> {
        let mut buf = Buf::default();
        let hierarchy =
            read_once(dir.join("memory.use_hierarchy"), &mut buf, parse_u64)?.unwrap_or(1) == 1;
        Ok(Memory::V1 {
            usage: CgroupFile::stat_at(dir, "memory.usage_in_bytes"),
            max_usage: CgroupFile::stat_at(dir, "memory.max_usage_in_bytes"),
            stat: CgroupFile::stat_at(dir, "memory.stat"),
            failcnt: CgroupFile::stat_at(dir, "memory.failcnt"),
            kmem: CgroupFile::stat_at(dir, "memory.kmem.usage_in_bytes"),
            numa: CgroupFile::stat_at(dir, "memory.numa_stat"),
            hierarchy,
        })
    }

    pub fn v2(dir: &Path) -> Self {
        Memory::V2 {
            current: CgroupFile::stat_at(dir, "memory.current"),
            peak: CgroupFile::stat_at(dir, "memory.peak"),
            stat: CgroupFile::stat_at(dir, "memory.stat"),
            swap: CgroupFile::stat_at(dir, "memory.swap.current"),
            events: CgroupFile::stat_at(dir, "memory.events"),
            numa: CgroupFile::stat_at(dir, "memory.numa_stat"),
        }
    }

    /// Fills everything but `psi`; NUMA pages only with the `memory_numa` kind. On v1, counters a
    /// BPF iterator already read (`pre`) replace the usage, max usage, failcnt and kmem files.
    pub fn read(
        &mut self,
        buf: &mut Buf,
        with_numa: bool,
        out: &mut MemoryStats,
        pre: Option<MemoryCounters>,
    ) -> Result<(), CgroupError> {
        match self {
            Memory::V1 {
                usage,
                max_usage,
                stat,
                failcnt,
                kmem,
                numa,
                hierarchy,
            } => {
                if let Some(m) = pre {
                    (out.usage, out.max_usage) = (m.usage, m.max_usage);
                    (out.failcnt, out.kernel) = (m.failcnt, m.kmem_usage);
                } else {
                    out.usage = usage.read(buf, parse_u64)?.unwrap_or(0);
                    out.max_usage = max_usage.read(buf, parse_u64)?.unwrap_or(0);
                    out.failcnt = failcnt.read(buf, parse_u64)?.unwrap_or(0);
                    out.kernel = kmem.read(buf, parse_u64)?.unwrap_or(0);
                }
                let s = stat.read(buf, MemoryStat::parse)?.unwrap_or_default();
                (out.cache, out.rss, out.swap, out.mapped_file) = if *hierarchy {
                    (
                        s.total_cache,
                        s.total_rss,
                        s.total_swap,
                        s.total_mapped_file,
                    )
                } else {
                    (s.cache, s.rss, s.swap, s.mapped_file)
                };
                out.total_active_file = s.total_active_file;
                out.total_inactive_file = s.total_inactive_file;
                out.working_set = out.usage.saturating_sub(s.total_inactive_file);
                out.container_data.pgfault = s.pgfault;
                out.container_data.pgmajfault = s.pgmajfault;
                out.hierarchical_data.pgfault = s.total_pgfault;
                out.hierarchical_data.pgmajfault = s.total_pgmajfault;
                if with_numa && let Some(n) = numa.read(buf, NumaStat::parse)? {
                    out.container_data.numa_stats = numa_stats(n.file, n.anon, n.unevictable);
                    out.hierarchical_data.numa_stats = numa_stats(
                        n.hierarchical_file,
                        n.hierarchical_anon,
                        n.hierarchical_unevictable,
                    );
                }
            }
            Memory::V2 {
                current,
                peak,
                stat,
                swap,
                events,
                numa,
            } => {
                out.usage = current.read(buf, parse_u64)?.unwrap_or(0);
                out.max_usage = peak.read(buf, parse_u64)?.unwrap_or(0);
                out.swap = swap.read(buf, parse_u64)?.unwrap_or(0);
                let s = stat.read(buf, MemoryStat::parse)?.unwrap_or_default();
                out.cache = s.file;
                out.rss = s.anon;
                out.mapped_file = s.file_mapped;
                out.total_active_file = s.active_file;
                out.total_inactive_file = s.inactive_file;
                out.working_set = out.usage.saturating_sub(s.inactive_file);
                out.file_dirty = s.file_dirty;
                out.file_writeback = s.file_writeback;
                out.pgscan = s.pgscan;
                out.pgsteal = s.pgsteal;
                out.workingset_refault_file = s.workingset_refault_file;
                out.workingset_refault_anon = s.workingset_refault_anon;
                for d in [&mut out.container_data, &mut out.hierarchical_data] {
                    d.pgfault = s.pgfault;
                    d.pgmajfault = s.pgmajfault;
                }
                let e = events.read(buf, MemoryEvents::parse)?.unwrap_or_default();
                out.events.high = e.high;
                out.events.max = e.max;
                // runc reports the `max` event count as the v2 failcnt.
                out.failcnt = e.max;
                if with_numa && let Some(n) = numa.read(buf, NumaStat::parse)? {
                    let s = numa_stats(n.file, n.anon, n.unevictable);
                    out.container_data.numa_stats = s.clone();
                    out.hierarchical_data.numa_stats = s;
                }
            }
        }
        Ok(())
    }
}

fn numa_stats(
    file: std::collections::BTreeMap<u8, u64>,
    anon: std::collections::BTreeMap<u8, u64>,
    unevictable: std::collections::BTreeMap<u8, u64>,
) -> Sparse<MemoryNumaStats> {
    let mut s = Sparse::<MemoryNumaStats>::default();
    s.set(MemoryNumaStats {
        file,
        anon,
        unevictable,
    });
    s
}
