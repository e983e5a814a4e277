//! Decodes ring buffer records (`agent_common` layouts) into [`SourceEvent`]s. Pure: no I/O.

use std::time::{Duration, SystemTime};

use agent_common::{
    CGROUP_PATH_MAX, CgroupRecord, KIND_CGROUP_MKDIR, KIND_CGROUP_RMDIR, KIND_OOM_VICTIM, OomRecord,
};

use super::hierarchy::Hierarchies;
use crate::events::{CgroupRef, SourceEvent};

/// Converts the probes' `bpf_ktime_get_boot_ns()` (CLOCK_BOOTTIME) to wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct BootClock {
    /// Wall-clock time at boot, i.e. `CLOCK_REALTIME - CLOCK_BOOTTIME`, in ns since the epoch.
    boot_epoch_ns: i128,
}

impl BootClock {
    /// Samples both clocks now; re-sample now and then to follow wall-clock adjustments.
    pub fn now() -> Self {
        Self {
            boot_epoch_ns: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_BOOTTIME),
        }
    }

    pub fn with_boot_epoch_ns(boot_epoch_ns: i128) -> Self {
        Self { boot_epoch_ns }
    }

    pub fn wall(&self, ktime_ns: u64) -> SystemTime {
        let ns = self.boot_epoch_ns + i128::from(ktime_ns);
        let ns = u64::try_from(ns.max(0)).unwrap_or(u64::MAX);
        SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)
    }
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both clocks exist on every kernel the probes load on.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// What one record decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Event(SourceEvent),
    /// A v1 hierarchy id we have not mapped yet (mounted after start): re-read the hierarchies and
    /// decode again.
    UnknownHierarchy(u32),
}

/// Decodes one record; `None` for a record too short for its kind or of an unknown kind.
pub fn decode(bytes: &[u8], hier: &Hierarchies, clock: &BootClock) -> Option<Decoded> {
    let kind = u32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?);
    match kind {
        KIND_CGROUP_MKDIR | KIND_CGROUP_RMDIR => {
            let r: CgroupRecord = read_record(bytes)?;
            if !hier.knows(r.hierarchy_id) {
                return Some(Decoded::UnknownHierarchy(r.hierarchy_id));
            }
            let len = r.path_len as usize;
            // The probe reads at most CGROUP_PATH_MAX - 1 bytes: at that length the path may be cut.
            if len >= CGROUP_PATH_MAX - 1 {
                return Some(Decoded::Event(SourceEvent::RescanNeeded {
                    reason: "cgroup path longer than the eBPF record holds",
                }));
            }
            let name = String::from_utf8_lossy(&r.path[..len]).into_owned();
            let (hierarchy, id, at) = (
                hier.get(r.hierarchy_id),
                r.cgroup_id,
                clock.wall(r.ktime_ns),
            );
            Some(Decoded::Event(if kind == KIND_CGROUP_MKDIR {
                SourceEvent::CgroupCreated {
                    hierarchy,
                    name,
                    id,
                    at,
                }
            } else {
                SourceEvent::CgroupRemoved {
                    hierarchy,
                    name,
                    id,
                    at,
                }
            }))
        }
        KIND_OOM_VICTIM => {
            let r: OomRecord = read_record(bytes)?;
            let comm_len = r.comm.iter().position(|b| *b == 0).unwrap_or(r.comm.len());
            Some(Decoded::Event(SourceEvent::OomKill {
                target: CgroupRef::Ids {
                    memcg_ino: r.memcg_ino,
                    cgroup2_id: r.cgroup2_id,
                },
                pid: r.pid,
                process_name: String::from_utf8_lossy(&r.comm[..comm_len]).into_owned(),
                // mark_victim does not carry the oom_control: a victim in a non-root memcg is
                // taken as memcg-constrained, which is what a container limit produces.
                constraint: if r.memcg_level > 0 {
                    "CONSTRAINT_MEMCG"
                } else {
                    "CONSTRAINT_NONE"
                }
                .to_string(),
                at: clock.wall(r.ktime_ns),
                replayed: false,
            }))
        }
        _ => None,
    }
}

fn read_record<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: length checked; `T: Pod` has no invalid bit patterns; unaligned read.
    Some(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

/// Drops an OOM victim reported again within [`RepeatedVictims::WINDOW`]: `fentry/mark_oom_victim`
/// also fires when an already marked task is marked again (the kernel then returns early, and the
/// tracepoint stays silent). A pid is not killed, reused and killed again within the window.
#[derive(Debug, Default)]
pub struct RepeatedVictims {
    recent: std::collections::VecDeque<(u32, SystemTime)>,
}

impl RepeatedVictims {
    pub const WINDOW: Duration = Duration::from_secs(30);
    const KEEP: usize = 256;

    /// Whether `ev` repeats an OOM victim seen within the window; remembers it when not.
    pub fn is_repeat(&mut self, ev: &SourceEvent) -> bool {
        let SourceEvent::OomKill { pid, at, .. } = ev else {
            return false;
        };
        let near = |t: &SystemTime| {
            let d = t.duration_since(*at).or_else(|_| at.duration_since(*t));
            d.is_ok_and(|d| d < Self::WINDOW)
        };
        if self.recent.iter().any(|(p, t)| p == pid && near(t)) {
            return true;
        }
        if self.recent.len() == Self::KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back((*pid, *at));
        false
    }
}

#[cfg(test)]
pub(crate) fn as_bytes<T: aya::Pod>(v: &T) -> Vec<u8> {
    // SAFETY: `T: Pod` is plain bytes.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Hierarchy;

    fn hier() -> Hierarchies {
        Hierarchies::parse(
            "4:memory:/\n0::/\n",
            "34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        )
    }

    fn cgroup(kind: u32, hierarchy_id: u32, path: &str) -> Vec<u8> {
        let mut r = CgroupRecord {
            kind,
            hierarchy_id,
            cgroup_id: 4242,
            ktime_ns: 5_000_000_000,
            level: 1,
            path_len: path.len() as u32,
            path: [0; CGROUP_PATH_MAX],
        };
        r.path[..path.len()].copy_from_slice(path.as_bytes());
        as_bytes(&r)
    }

    #[test]
    fn decodes_mkdir_and_rmdir_with_wall_clock_time() {
        let clock = BootClock::with_boot_epoch_ns(1_000_000_000_000_000_000);
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_000_000_005_000_000_000);
        let got = decode(
            &cgroup(KIND_CGROUP_MKDIR, 4, "/docker/abc"),
            &hier(),
            &clock,
        );
        let want = SourceEvent::CgroupCreated {
            hierarchy: Hierarchy::V1("memory".into()),
            name: "/docker/abc".into(),
            id: 4242,
            at,
        };
        assert_eq!(got, Some(Decoded::Event(want)));
        let got = decode(&cgroup(KIND_CGROUP_RMDIR, 0, "/x"), &hier(), &clock);
        let want = SourceEvent::CgroupRemoved {
            hierarchy: Hierarchy::Unified,
            name: "/x".into(),
            id: 4242,
            at,
        };
        assert_eq!(got, Some(Decoded::Event(want)));
    }

    #[test]
    fn flags_unknown_hierarchies_and_long_paths() {
        let clock = BootClock::now();
        let got = decode(&cgroup(KIND_CGROUP_MKDIR, 7, "/a"), &hier(), &clock);
        assert_eq!(got, Some(Decoded::UnknownHierarchy(7)));
        let long = "/".repeat(CGROUP_PATH_MAX - 1);
        let got = decode(&cgroup(KIND_CGROUP_MKDIR, 4, &long), &hier(), &clock);
        assert!(
            matches!(got, Some(Decoded::Event(SourceEvent::RescanNeeded { .. }))),
            "{got:?}"
        );
    }

    #[test]
    fn decodes_oom_victims() {
        let mut comm = [0u8; 16];
        comm[..2].copy_from_slice(b"dd");
        let r = OomRecord {
            kind: KIND_OOM_VICTIM,
            pid: 77,
            memcg_ino: 11,
            cgroup2_id: 22,
            ktime_ns: 0,
            memcg_level: 2,
            _pad: 0,
            comm,
        };
        let clock = BootClock::with_boot_epoch_ns(0);
        let Some(Decoded::Event(SourceEvent::OomKill {
            target,
            pid,
            process_name,
            constraint,
            ..
        })) = decode(&as_bytes(&r), &hier(), &clock)
        else {
            panic!("not an OOM kill");
        };
        assert_eq!(
            target,
            CgroupRef::Ids {
                memcg_ino: 11,
                cgroup2_id: 22
            }
        );
        assert_eq!(
            (pid, process_name.as_str(), constraint.as_str()),
            (77, "dd", "CONSTRAINT_MEMCG")
        );
    }

    #[test]
    fn ignores_short_and_unknown_records() {
        let clock = BootClock::now();
        assert_eq!(decode(&[1, 0], &hier(), &clock), None);
        assert_eq!(
            decode(&cgroup(KIND_CGROUP_MKDIR, 4, "/a")[..100], &hier(), &clock),
            None
        );
        assert_eq!(decode(&[9, 0, 0, 0, 0, 0, 0, 0], &hier(), &clock), None);
    }

    #[test]
    fn a_victim_marked_again_is_reported_once() {
        let kill = |pid: u32, secs: u64| SourceEvent::OomKill {
            target: CgroupRef::Ids {
                memcg_ino: 7,
                cgroup2_id: 7,
            },
            pid,
            process_name: "dd".into(),
            constraint: String::new(),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            replayed: false,
        };
        let mut r = RepeatedVictims::default();
        assert!(!r.is_repeat(&kill(100, 1000)));
        assert!(r.is_repeat(&kill(100, 1001)), "marked again while exiting");
        assert!(!r.is_repeat(&kill(101, 1001)), "another victim");
        assert!(!r.is_repeat(&kill(100, 1000 + 31)), "a reused pid, later");
        let created = SourceEvent::RescanNeeded { reason: "x" };
        assert!(!r.is_repeat(&created) && !r.is_repeat(&created));
    }
}
