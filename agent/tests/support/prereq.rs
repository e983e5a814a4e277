// What a privileged test needs from the machine, and what happens when it is missing: on a
// developer's machine the test prints `skipping test - <reason>` and passes; in CI (`CI=true`, or the
// `BPFADVISOR_REQUIRE_<NEED>=1` variable `.ci/run` sets) it fails, so a CI machine whose Docker or
// eBPF broke is red instead of green.
//
// Included with `include!` by the other support modules (each test crate gets its own copy), so any
// test using `support/agent.rs` or `support/docker.rs` can call [`missing`].

/// A prerequisite a test can lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]
pub enum Need {
    /// Root, and the cgroup hierarchies a root test creates cgroups in.
    Root,
    /// A Docker engine (and containerd, which comes with it).
    Docker,
    /// The eBPF object embedded in the binary and a kernel that loads it.
    Ebpf,
    /// A program the project's setup installs (promtool, podman, mkfs.ext4, ...).
    Tool,
}

impl Need {
    /// The variable that turns this prerequisite from "skip" into "fail".
    pub fn require_var(self) -> &'static str {
        match self {
            Self::Root => "BPFADVISOR_REQUIRE_ROOT",
            Self::Docker => "BPFADVISOR_REQUIRE_DOCKER",
            Self::Ebpf => "BPFADVISOR_REQUIRE_EBPF",
            Self::Tool => "BPFADVISOR_REQUIRE_TOOLS",
        }
    }

    /// Whether this run must fail rather than skip without it.
    pub fn required(self) -> bool {
        let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0");
        set(self.require_var()) || std::env::var("CI").is_ok_and(|v| v == "true")
    }
}

/// The test cannot run: panics when `need` is required here, else prints the skip line (past the test
/// harness's output capture, so `cargo test` shows it) and returns, for `return missing(..)`.
#[allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]
pub fn missing(need: Need, reason: &str) {
    if need.required() {
        panic!(
            "required prerequisite missing ({} is set): {reason}",
            need.require_var()
        );
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipping test - {reason}");
}

/// [`missing`] for constructors that return `Option`.
#[allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]
pub fn missing_none<T>(need: Need, reason: &str) -> Option<T> {
    missing(need, reason);
    None
}
