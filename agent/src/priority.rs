//! Scheduling priority of the agent's threads that read in bulk.
//!
//! Reading a new container's cgroup files or walking a writable layer can keep a thread on a CPU for
//! milliseconds. Those threads run at a lower priority than the tokio workers that record lifecycle
//! events and write them to streams, so a worker woken by a ring-buffer record does not queue behind
//! them. Nice values are per thread on Linux and only weigh against threads of the agent's own
//! cgroup, so this changes nothing for the rest of the node.
//!
//! (A short EEVDF slice for the workers was tried as well: it made the event path slower with 1000
//! containers, as the owner's own work was cut into 100 µs turns; see docs/performance.md.)

/// Nice value of bulk-reading threads.
pub const BULK_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`BULK_NICE`] (never raises it). A refusal (seccomp, ...)
/// only costs latency, so it is logged at debug level.
pub fn lower_for_bulk_work() {
    if current_nice() >= BULK_NICE {
        return;
    }
    // SAFETY: setpriority has no memory-safety preconditions; `who` 0 is the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BULK_NICE) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower thread priority");
    }
}

fn current_nice() -> i32 {
    // SAFETY: getpriority has no memory-safety preconditions; `who` 0 is the calling thread. Its
    // -1 error return is also a valid nice value, below BULK_NICE, so an error means "lower it".
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_work_lowers_only_the_calling_thread() {
        let before = current_nice();
        let inside = std::thread::spawn(|| {
            lower_for_bulk_work();
            current_nice()
        })
        .join()
        .expect("thread");
        assert_eq!(inside, BULK_NICE.max(before));
        assert_eq!(
            current_nice(),
            before,
            "the spawning thread keeps its priority"
        );
    }
}
