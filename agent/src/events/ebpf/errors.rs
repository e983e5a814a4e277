//! The programs' own failure counters (`agent_common::ERRORS_MAP`): what each program could not
//! do, per CPU. Read after every drain of the ring buffer and once a second; what moved is counted
//! in `bpfadvisor_ebpf_errors_total` and, when lifecycle records were lost, reported so the
//! registry rescans.

use agent_common::{
    ERROR_KINDS, ERROR_READ_FAILED, ERROR_RING_FULL, PROG_CGROUP_MKDIR, PROG_CGROUP_RMDIR,
    PROG_OOM_VICTIM,
};
use aya::maps::{MapData, PerCpuArray};

use crate::telemetry::events::EbpfErrorsCounted;

/// The programs that count errors, by their index in the map, with the `program` label they get.
/// `lifecycle`: a lost record of it is a lost container creation or deletion (a rescan finds it).
pub const PROGRAMS: [Program; 3] = [
    Program {
        index: PROG_CGROUP_MKDIR,
        label: "cgroup_mkdir",
        lifecycle: true,
    },
    Program {
        index: PROG_CGROUP_RMDIR,
        label: "cgroup_rmdir",
        lifecycle: true,
    },
    Program {
        index: PROG_OOM_VICTIM,
        label: "oom_victim",
        lifecycle: false,
    },
];

/// A program that counts its errors.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub index: u32,
    pub label: &'static str,
    pub lifecycle: bool,
}

/// The error kinds, by their index in a program's slots, with their `error` label.
pub const ERRORS: [(u32, &str); 2] = [
    (ERROR_RING_FULL, "ring_buffer_full"),
    (ERROR_READ_FAILED, "kernel_read_failed"),
];

/// What moved since the last look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Records of lifecycle programs not written (ring buffer full or a failed kernel read).
    pub lifecycle_lost: u64,
    /// Records of any program that did not fit in the ring buffer.
    pub ring_full: u64,
}

/// Totals seen so far per slot, and the deltas a new reading makes.
#[derive(Debug, Default)]
pub struct Totals {
    seen: Vec<u64>,
}

impl Totals {
    /// Takes a reading (`now[i]` is the sum over CPUs of [`slot`]`(PROGRAMS[p], ERRORS[e])` in
    /// `PROGRAMS` × `ERRORS` order), returns the deltas per slot and what moved. A counter that went
    /// down (the map was replaced) counts from its new value.
    pub fn update(&mut self, now: &[u64]) -> (Vec<u64>, Moved) {
        self.seen.resize(now.len(), 0);
        let mut deltas = Vec::with_capacity(now.len());
        let mut moved = Moved::default();
        for (i, (&n, seen)) in now.iter().zip(self.seen.iter_mut()).enumerate() {
            let d = if n >= *seen { n - *seen } else { n };
            *seen = n;
            deltas.push(d);
            let (p, e) = (i / ERRORS.len(), i % ERRORS.len());
            if PROGRAMS[p].lifecycle {
                moved.lifecycle_lost += d;
            }
            if ERRORS[e].0 == ERROR_RING_FULL {
                moved.ring_full += d;
            }
        }
        (deltas, moved)
    }
}

/// The map index of `error` of `program`.
pub fn slot(program: u32, error: u32) -> u32 {
    program * ERROR_KINDS + error
}

/// The counters map and what was seen of it.
pub struct ErrorCounters {
    map: PerCpuArray<MapData, u64>,
    totals: Totals,
}

impl ErrorCounters {
    pub fn new(map: PerCpuArray<MapData, u64>) -> Self {
        Self {
            map,
            totals: Totals::default(),
        }
    }

    /// Reads every named slot, counts what moved in the metrics, returns it. A slot that cannot be
    /// read counts as unchanged.
    pub fn poll(&mut self) -> Moved {
        let mut now = Vec::with_capacity(PROGRAMS.len() * ERRORS.len());
        for p in PROGRAMS {
            for (e, _) in ERRORS {
                let i = slot(p.index, e);
                let sum = match self.map.get(&i, 0) {
                    Ok(per_cpu) => per_cpu.iter().fold(0u64, |a, v| a.wrapping_add(*v)),
                    Err(_) => self.totals.seen.get(now.len()).copied().unwrap_or(0),
                };
                now.push(sum);
            }
        }
        let (deltas, moved) = self.totals.update(&now);
        for (i, d) in deltas.into_iter().enumerate() {
            if d > 0 {
                EbpfErrorsCounted {
                    program: PROGRAMS[i / ERRORS.len()].label,
                    error: ERRORS[i % ERRORS.len()].1,
                    count: d,
                }
                .emit();
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_what_moved() {
        let mut t = Totals::default();
        // mkdir: ring full 3, read failed 1; rmdir: 0, 0; oom: ring full 2, 0.
        let (d, m) = t.update(&[3, 1, 0, 0, 2, 0]);
        assert_eq!(d, vec![3, 1, 0, 0, 2, 0]);
        assert_eq!(
            m,
            Moved {
                lifecycle_lost: 4,
                ring_full: 5
            }
        );
        let (d, m) = t.update(&[3, 1, 5, 0, 2, 0]);
        assert_eq!(d, vec![0, 0, 5, 0, 0, 0]);
        assert_eq!(
            m,
            Moved {
                lifecycle_lost: 5,
                ring_full: 5
            }
        );
        let (_, m) = t.update(&[3, 1, 5, 0, 2, 0]);
        assert_eq!(m, Moved::default());
        // Only the OOM program lost a record: no lifecycle loss.
        let (_, m) = t.update(&[3, 1, 5, 0, 3, 0]);
        assert_eq!(
            m,
            Moved {
                lifecycle_lost: 0,
                ring_full: 1
            }
        );
        // A counter that went back (map replaced) counts from its new value.
        let (d, _) = t.update(&[1, 1, 5, 0, 3, 0]);
        assert_eq!(d[0], 1);
    }

    #[test]
    fn slots_are_distinct_and_fit_the_map() {
        let mut all: Vec<u32> = PROGRAMS
            .iter()
            .flat_map(|p| ERRORS.iter().map(move |(e, _)| slot(p.index, *e)))
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all.iter().all(|s| *s < agent_common::ERROR_SLOTS));
    }
}
