//! The opt-in eBPF signals of one container sample (`process_lifecycle`, `runqueue`, `tcp_retrans`,
//! `reclaim`). bpfadvisor's own: not part of cAdvisor's JSON, and absent from it unless a kind is on.
//! Each part is `None` when its kind is not attached. Counters are cumulative since the programs
//! were attached (or since the cgroup first appeared in the kernel map), for the tasks directly in
//! the container's cgroup.

use serde::{Deserialize, Serialize};

use agent_common::signals::RUNQ_BUCKETS;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EbpfSignals {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runqueue: Option<RunqueueWait>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_retransmits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaim_stall_ns: Option<u64>,
}

/// Processes created (fork of a new thread group) and ended (last thread exited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessCounts {
    pub started: u64,
    pub exited: u64,
}

/// Time tasks waited runnable before they ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunqueueWait {
    pub sum_ns: u64,
    pub count: u64,
    /// Waits per log2 bucket, not cumulative: bucket `i` ends at 2^(10+i) ns, the last is open.
    pub buckets: [u64; RUNQ_BUCKETS],
}
