//! Scheduling priority of threads that read in bulk.
//!
//! Reading a new container's cgroup files or walking a writable layer can keep a thread on a CPU for
//! milliseconds. Those threads run at a lower priority than the tokio workers that record events and
//! answer the API, so a container's creation event does not queue behind them on a busy CPU. Nice
//! values are per thread on Linux, and only weigh against other threads of the agent's own cgroup.

/// Nice value of bulk-reading threads.
pub const NICE: i32 = 10;

/// Lowers the calling thread's priority to [`NICE`] (never raises it). A refusal (seccomp, ...) only
/// costs latency, so it is logged at debug level.
pub fn lower_this_thread() {
    // SAFETY: get/setpriority have no memory-safety preconditions; `who` 0 is the calling thread.
    if unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) } >= NICE {
        return;
    }
    // SAFETY: as above.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower thread priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_only_the_calling_thread() {
        let nice = || {
            // SAFETY: as above; getpriority returns the nice value (errno is not needed for >= 0).
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        };
        let before = nice();
        let inside = std::thread::spawn(move || {
            lower_this_thread();
            nice()
        })
        .join()
        .expect("thread");
        assert_eq!(inside, NICE.max(before));
        assert_eq!(nice(), before, "the spawning thread keeps its priority");
    }
}
