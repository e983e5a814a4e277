//! Counters of every cgroup of a v1 hierarchy read in one pass (a BPF cgroup iterator,
//! `events/ebpf/counters.rs`), looked up here by each container's reader instead of reading
//! `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.failcnt`,
//! `memory.kmem.usage_in_bytes`, `cpu.stat`, `cpuacct.stat` and `cpuacct.usage_percpu` one by one.
//! Keyed by the inode of the container's directory in that hierarchy (`kn->id`): ids are per
//! hierarchy, so each subsystem has its own table.

use std::collections::HashMap;

use agent_common::counters::{CounterRecord, HAS_CFS, HAS_CPUACCT, HAS_MEMORY};

/// The v1 subsystems the iterator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subsystem {
    Memory,
    Cpu,
    Cpuacct,
}

impl Subsystem {
    pub const ALL: [Subsystem; 3] = [Subsystem::Memory, Subsystem::Cpu, Subsystem::Cpuacct];

    /// The v1 controller's name (its hierarchy's directory under the cgroup mount).
    pub fn controller(self) -> &'static str {
        match self {
            Subsystem::Memory => "memory",
            Subsystem::Cpu => "cpu",
            Subsystem::Cpuacct => "cpuacct",
        }
    }
}

/// One hierarchy's records of one pass.
#[derive(Debug, Default)]
struct Table {
    index: HashMap<u64, usize>,
    records: Vec<CounterRecord>,
    /// Per-CPU usages: record `i`'s are `percpu[i * ncpus..][..ncpus]`.
    percpu: Vec<u64>,
    ncpus: usize,
}

/// What went wrong reading an iterator's output.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cgroup counter records: {0}")]
pub struct DecodeError(&'static str);

impl Table {
    fn fill(
        &mut self,
        records: &[CounterRecord],
        percpu: &[u64],
        ncpus: usize,
        session: u64,
    ) -> Result<(), DecodeError> {
        self.index.clear();
        self.records.clear();
        self.percpu.clear();
        if percpu.len() < records.len() * ncpus {
            return Err(DecodeError("fewer per-CPU usages than records × CPUs"));
        }
        self.ncpus = ncpus;
        self.records.extend_from_slice(records);
        self.percpu
            .extend_from_slice(&percpu[..records.len() * ncpus]);
        // A slot this run did not write holds an older run's record, maybe of a live cgroup.
        for (i, r) in records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.session == session)
        {
            self.index.insert(r.id, i);
        }
        Ok(())
    }

    fn get(&self, id: u64, has: u32) -> Option<(&CounterRecord, &[u64])> {
        let i = *self.index.get(&id)?;
        let rec = &self.records[i];
        if rec.present & has == 0 {
            return None;
        }
        let cpus = if has == HAS_CPUACCT {
            if rec.ncpus as usize != self.ncpus {
                return None;
            }
            self.percpu.get(i * self.ncpus..(i + 1) * self.ncpus)?
        } else {
            &[]
        };
        Some((rec, cpus))
    }
}

/// Memory counters of one cgroup, in bytes (pages already multiplied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCounters {
    pub usage: u64,
    pub max_usage: u64,
    pub failcnt: u64,
    pub kmem_usage: u64,
}

/// `cpu.stat` (v1) of one cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CfsCounters {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
    pub bursts: u64,
    pub burst_time: u64,
}

/// `cpuacct.stat` and `cpuacct.usage_percpu` of one cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuacctCounters<'a> {
    /// Tick-sampled nanoseconds, summed over CPUs; the file scales them to the precise runtime
    /// (`cpu::scaled_user_system`).
    pub user_ns: u64,
    pub system_ns: u64,
    /// What the file last printed (the kernel's `prev_cputime`), nanoseconds.
    pub prev_user_ns: u64,
    pub prev_system_ns: u64,
    pub per_cpu: &'a [u64],
}

/// What a pass's snapshot holds for one container; `None` parts are read from the files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prefetched<'a> {
    pub memory: Option<MemoryCounters>,
    pub cfs: Option<CfsCounters>,
    pub cpuacct: Option<CpuacctCounters<'a>>,
}

/// The counters of one housekeeping pass.
#[derive(Debug, Default)]
pub struct CounterSnapshot {
    tables: HashMap<Subsystem, Table>,
    page_size: u64,
}

impl CounterSnapshot {
    pub fn new(page_size: u64) -> Self {
        Self {
            tables: HashMap::new(),
            page_size,
        }
    }

    /// Replaces `subsystem`'s table with run `session`'s records and per-CPU usages (`ncpus` per
    /// record); records of other runs are ignored. On error the table is left empty, so readers
    /// fall back to the files.
    pub fn fill(
        &mut self,
        subsystem: Subsystem,
        records: &[CounterRecord],
        percpu: &[u64],
        ncpus: usize,
        session: u64,
    ) -> Result<(), DecodeError> {
        let t = self.tables.entry(subsystem).or_default();
        let res = t.fill(records, percpu, ncpus, session);
        if res.is_err() {
            t.index.clear();
        }
        res
    }

    /// Forgets `subsystem`'s table (its read failed): readers fall back to the files.
    pub fn clear(&mut self, subsystem: Subsystem) {
        if let Some(t) = self.tables.get_mut(&subsystem) {
            t.index.clear();
        }
    }

    /// The counters of a container whose directories in the memory, cpu and cpuacct hierarchies
    /// have these inode numbers.
    pub fn prefetched(
        &self,
        memory: Option<u64>,
        cpu: Option<u64>,
        cpuacct: Option<u64>,
    ) -> Prefetched<'_> {
        Prefetched {
            memory: memory.and_then(|id| self.memory(id)),
            cfs: cpu.and_then(|id| self.cfs(id)),
            cpuacct: cpuacct.and_then(|id| self.cpuacct(id)),
        }
    }

    pub fn memory(&self, id: u64) -> Option<MemoryCounters> {
        let (r, _) = self.tables.get(&Subsystem::Memory)?.get(id, HAS_MEMORY)?;
        Some(MemoryCounters {
            usage: r.mem_usage * self.page_size,
            max_usage: r.mem_watermark * self.page_size,
            failcnt: r.mem_failcnt,
            kmem_usage: r.kmem_usage * self.page_size,
        })
    }

    pub fn cfs(&self, id: u64) -> Option<CfsCounters> {
        let (r, _) = self.tables.get(&Subsystem::Cpu)?.get(id, HAS_CFS)?;
        Some(CfsCounters {
            periods: r.cfs_periods,
            throttled_periods: r.cfs_throttled,
            throttled_time: r.cfs_throttled_ns,
            bursts: r.cfs_bursts,
            burst_time: r.cfs_burst_ns,
        })
    }

    pub fn cpuacct(&self, id: u64) -> Option<CpuacctCounters<'_>> {
        let (r, per_cpu) = self.tables.get(&Subsystem::Cpuacct)?.get(id, HAS_CPUACCT)?;
        Some(CpuacctCounters {
            user_ns: r.cpu_user_ns,
            system_ns: r.cpu_system_ns,
            prev_user_ns: r.prev_user_ns,
            prev_system_ns: r.prev_system_ns,
            per_cpu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_records_and_their_per_cpu_usages_by_id() {
        let mem = CounterRecord {
            id: 7,
            present: HAS_MEMORY,
            mem_usage: 3,
            mem_watermark: 5,
            mem_failcnt: 2,
            kmem_usage: 1,
            ..Default::default()
        };
        let acct = CounterRecord {
            id: 9,
            present: HAS_CPUACCT | HAS_CFS,
            ncpus: 2,
            cpu_user_ns: 40,
            cpu_system_ns: 60,
            cfs_periods: 4,
            ..Default::default()
        };
        let mut s = CounterSnapshot::new(4096);
        s.fill(Subsystem::Memory, &[mem], &[], 0, 0)
            .expect("test value");
        s.fill(Subsystem::Cpuacct, &[mem, acct], &[0, 0, 11, 22], 2, 0)
            .expect("test value");
        s.fill(Subsystem::Cpu, &[acct], &[], 0, 0)
            .expect("test value");
        assert_eq!(
            s.memory(7),
            Some(MemoryCounters {
                usage: 3 * 4096,
                max_usage: 5 * 4096,
                failcnt: 2,
                kmem_usage: 4096
            })
        );
        assert_eq!(s.memory(9), None, "not in the memory hierarchy's table");
        let a = s.cpuacct(9).expect("test value");
        assert_eq!((a.user_ns, a.system_ns, a.per_cpu), (40, 60, &[11, 22][..]));
        assert_eq!(s.cfs(9).map(|c| c.periods), Some(4));
        assert_eq!(s.cpuacct(7), None, "id 7 has no cpuacct counters");
    }

    #[test]
    fn short_per_cpu_usages_leave_the_table_empty() {
        let rec = CounterRecord {
            id: 1,
            present: HAS_CPUACCT | HAS_MEMORY,
            ncpus: 4,
            ..Default::default()
        };
        let mut s = CounterSnapshot::new(4096);
        assert!(s.fill(Subsystem::Cpuacct, &[rec], &[1, 2], 4, 0).is_err());
        assert_eq!(s.cpuacct(1), None);
        s.fill(Subsystem::Memory, &[rec], &[], 0, 0)
            .expect("test value");
        assert!(s.memory(1).is_some());
        s.clear(Subsystem::Memory);
        assert_eq!(s.memory(1), None);
    }

    /// The kernel skips a cgroup being removed but still counts it: its slot keeps an older run's
    /// record, whose counters must not stand for anything now.
    #[test]
    fn records_of_an_older_run_are_ignored() {
        let old = CounterRecord {
            session: 6,
            id: 3,
            present: HAS_MEMORY,
            mem_usage: 1,
            ..Default::default()
        };
        let new = CounterRecord {
            session: 7,
            id: 3,
            present: HAS_MEMORY,
            mem_usage: 2,
            ..Default::default()
        };
        let mut s = CounterSnapshot::new(1);
        s.fill(Subsystem::Memory, &[new, old], &[], 0, 7)
            .expect("test value");
        assert_eq!(s.memory(3).map(|m| m.usage), Some(2));
        s.fill(Subsystem::Memory, &[old], &[], 0, 7)
            .expect("test value");
        assert_eq!(s.memory(3), None);
    }
}
