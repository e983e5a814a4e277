//! The programs' own log lines (`aya-log-ebpf` in `agent-ebpf`), read by aya-log's `EbpfLogger`
//! and forwarded to `tracing`, rate-limited: the programs already log a storm's 1st, 2nd, 4th, ...
//! failure per CPU only, and here at most one line per level passes every [`EVERY_SECS`] seconds,
//! with the number held back in the next one. The exact numbers are in the `ERRORS` counters.

use std::sync::atomic::{AtomicU64, Ordering};

use aya_log::EbpfLogger;
use tokio::{
    io::{Interest, unix::AsyncFd},
    task::JoinHandle,
};
use tracing::level_filters::LevelFilter;

use crate::telemetry::events::RateLimit;

/// Seconds between two forwarded lines of one level.
pub const EVERY_SECS: u64 = 10;

/// The level the programs are told to log at (the global `AYA_LOG_LEVEL`, set before load): what
/// the log filter passes at most, so the programs do not write lines nobody reads.
pub fn program_level() -> u8 {
    level_code(LevelFilter::current())
}

fn level_code(f: LevelFilter) -> u8 {
    // aya_log_common::Level: Error = 1 .. Trace = 5; 0 logs nothing.
    match f.into_level() {
        None => 0,
        Some(tracing::Level::ERROR) => 1,
        Some(tracing::Level::WARN) => 2,
        Some(tracing::Level::INFO) => 3,
        Some(tracing::Level::DEBUG) => 4,
        Some(tracing::Level::TRACE) => 5,
    }
}

/// A `log::Log` that forwards to `tracing`, one line per level per [`EVERY_SECS`].
pub struct Forward {
    limits: [RateLimit; 5],
    held: [AtomicU64; 5],
}

impl Default for Forward {
    fn default() -> Self {
        Self {
            limits: std::array::from_fn(|_| RateLimit::new(EVERY_SECS)),
            held: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Forward {
    /// Whether a line of `level` passes now, and how many were held back before it.
    fn admit(&self, level: log::Level) -> Option<u64> {
        let i = level as usize - 1;
        if self.limits[i].allow() {
            Some(self.held[i].swap(0, Ordering::Relaxed))
        } else {
            self.held[i].fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

impl log::Log for Forward {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let Some(held) = self.admit(record.level()) else {
            return;
        };
        let msg = record.args();
        let module = record.module_path().unwrap_or_default();
        macro_rules! fwd {
            ($lvl:ident) => {
                tracing::$lvl!(
                    target: "bpfadvisor::ebpf::program",
                    module,
                    held_back = held,
                    "eBPF program: {msg}"
                )
            };
        }
        match record.level() {
            log::Level::Error => fwd!(error),
            log::Level::Warn => fwd!(warn),
            log::Level::Info => fwd!(info),
            log::Level::Debug => fwd!(debug),
            log::Level::Trace => fwd!(trace),
        }
    }

    fn flush(&self) {}
}

/// Reads the programs' log ring buffer on a task of its own (aya-log panics on a record it cannot
/// parse: that would end only this task, never the event reader). `None` when the object has no
/// log buffer (a program without log lines).
pub fn spawn(ebpf: &mut aya::Ebpf) -> Option<JoinHandle<()>> {
    let logger = match EbpfLogger::init_with_logger(ebpf, Forward::default()) {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "eBPF programs' log not read");
            return None;
        }
    };
    // SAFETY: the logger owns its ring buffer's fd, which stays open and unchanged while the
    // `AsyncFd` owns the logger.
    let registered = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) };
    let mut fd = match registered {
        Ok(fd) => fd,
        Err(e) => {
            let e: std::io::Error = e.into();
            tracing::warn!(error = %e, "cannot watch the eBPF programs' log");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable_mut().await else {
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_codes_follow_aya_log() {
        assert_eq!(level_code(LevelFilter::OFF), 0);
        assert_eq!(level_code(LevelFilter::WARN), 2);
        assert_eq!(level_code(LevelFilter::INFO), 3);
        assert_eq!(level_code(LevelFilter::TRACE), 5);
    }

    #[test]
    fn one_line_per_level_per_interval_and_the_rest_counted() {
        let f = Forward::default();
        assert_eq!(f.admit(log::Level::Warn), Some(0));
        assert_eq!(f.admit(log::Level::Warn), None);
        assert_eq!(f.admit(log::Level::Warn), None);
        // Another level has its own allowance.
        assert_eq!(f.admit(log::Level::Error), Some(0));
        assert_eq!(
            f.held[log::Level::Warn as usize - 1].load(Ordering::Relaxed),
            2
        );
    }
}
