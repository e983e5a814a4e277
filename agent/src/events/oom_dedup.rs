//! One OOM kill reported by both the start-up read of the kernel log and a live source is kept
//! once.
//!
//! The start-up read takes the kills logged before the eBPF probe attached; a kill logged just
//! before that whose victim was marked just after reaches both. Both name the victim by its pid
//! (the kernel log's `pid=` and the probe's task pid are the same number) and its container, and
//! either may arrive first. A kill is dropped when the other origin reported the same pid in the
//! same container within [`WINDOW`]; kills of one origin are never merged (each reports a kill
//! once). A different container means the probe could not resolve the victim's cgroup (it was gone
//! before it could be looked up): the log's attribution is then kept too. Timestamps are not
//! compared: the probe's clock counts time suspended and the kernel log's does not.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a reported pid is remembered. The overlap only lasts while the agent starts; this is
/// long enough for a start-up read delayed by a slow first discovery.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Pids remembered at most (an OOM storm must not grow the list without bound).
const MAX_REMEMBERED: usize = 4096;

#[derive(Debug, Default)]
pub struct OomDedup {
    recent: VecDeque<Seen>,
}

#[derive(Debug)]
struct Seen {
    pid: u32,
    container: String,
    replayed: bool,
    at: Instant,
}

impl OomDedup {
    /// Whether a kill of `pid` in `container` (from the start-up read when `replayed`) is new;
    /// remembers it if so. Pid 0 (a counter increment with no log line) identifies nothing and is
    /// always new.
    pub fn admit(&mut self, pid: u32, container: &str, replayed: bool, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) >= WINDOW)
        {
            self.recent.pop_front();
        }
        if pid == 0 {
            return true;
        }
        if self
            .recent
            .iter()
            .any(|s| s.pid == pid && s.replayed != replayed && s.container == container)
        {
            return false;
        }
        if self.recent.len() == MAX_REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(Seen {
            pid,
            container: container.to_string(),
            replayed,
            at: now,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_pid_from_both_origins_is_kept_once_in_either_order() {
        let t0 = Instant::now();
        let mut d = OomDedup::default();
        assert!(d.admit(10, "/a", false, t0), "probe first");
        assert!(!d.admit(10, "/a", true, t0), "then the start-up read");
        assert!(d.admit(11, "/a", true, t0), "start-up read first");
        assert!(!d.admit(11, "/a", false, t0), "then the probe");
        // The probe could not resolve the victim's cgroup: the log's attribution is kept too.
        assert!(d.admit(12, "/", false, t0));
        assert!(d.admit(12, "/a", true, t0));
    }

    #[test]
    fn one_origin_is_never_merged_and_pid_zero_is_always_new() {
        let t0 = Instant::now();
        let mut d = OomDedup::default();
        assert!(d.admit(10, "/a", true, t0));
        assert!(d.admit(10, "/a", true, t0));
        assert!(d.admit(0, "/a", false, t0));
        assert!(d.admit(0, "/a", true, t0));
        assert!(d.admit(0, "/a", false, t0));
    }

    #[test]
    fn pids_are_forgotten_after_the_window_and_the_list_is_bounded() {
        let t0 = Instant::now();
        let mut d = OomDedup::default();
        assert!(d.admit(10, "/a", false, t0));
        assert!(
            d.admit(10, "/a", true, t0 + WINDOW),
            "a pid reused a minute later"
        );
        for pid in 1..=MAX_REMEMBERED as u32 + 10 {
            d.admit(1_000_000 + pid, "/a", false, t0 + WINDOW);
        }
        assert_eq!(d.recent.len(), MAX_REMEMBERED);
    }
}
