//! One OOM kill reported by both the start-up read of the kernel log and a live source is kept
//! once.
//!
//! The start-up read takes the kills logged before the live source was up; a kill logged while
//! the eBPF probes were attaching may also have reached the probe. Both name the victim by its pid
//! (the kernel log's `pid=` and the probe's task pid are the same number), and either may arrive
//! first. A kill is dropped when the other origin reported the same pid within [`WINDOW`]; kills of
//! the same origin are never merged (a live source reports each kill once). Timestamps are not
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
    replayed: bool,
    at: Instant,
}

impl OomDedup {
    /// Whether a kill of `pid` (from the start-up read when `replayed`) is new; remembers it if so.
    /// Pid 0 (a counter increment with no log line) identifies nothing and is always new.
    pub fn admit(&mut self, pid: u32, replayed: bool, now: Instant) -> bool {
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
            .any(|s| s.pid == pid && s.replayed != replayed)
        {
            return false;
        }
        if self.recent.len() == MAX_REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(Seen {
            pid,
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
        assert!(d.admit(10, false, t0), "probe first");
        assert!(!d.admit(10, true, t0), "then the start-up read");
        assert!(d.admit(11, true, t0), "start-up read first");
        assert!(!d.admit(11, false, t0), "then the probe");
    }

    #[test]
    fn one_origin_is_never_merged_and_pid_zero_is_always_new() {
        let t0 = Instant::now();
        let mut d = OomDedup::default();
        assert!(d.admit(10, true, t0));
        assert!(d.admit(10, true, t0));
        assert!(d.admit(0, false, t0));
        assert!(d.admit(0, true, t0));
        assert!(d.admit(0, false, t0));
    }

    #[test]
    fn pids_are_forgotten_after_the_window_and_the_list_is_bounded() {
        let t0 = Instant::now();
        let mut d = OomDedup::default();
        assert!(d.admit(10, false, t0));
        assert!(
            d.admit(10, true, t0 + WINDOW),
            "a pid reused a minute later"
        );
        for pid in 1..=MAX_REMEMBERED as u32 + 10 {
            d.admit(1_000_000 + pid, false, t0 + WINDOW);
        }
        assert_eq!(d.recent.len(), MAX_REMEMBERED);
    }
}
