//! `cargo xtask test`: lints, then the tests in two groups.
//!
//! - Unprivileged: unit tests, fixture and in-process tests, several threads per binary.
//! - Privileged: every end-to-end test binary that needs root, Docker or eBPF (recognised by the
//!   prerequisite checks of `agent/tests/support/prereq.rs` it calls), one binary after another and one
//!   test at a time, since they share the kernel's cgroup trees, the Docker engine and the CPU.
//! - The VM test (`crate::vm`): the agent on a second kernel with pure cgroup v2, under qemu.
//! - The fuzz targets (`crate::fuzz`), a few seconds each.
//!
//! In CI (`BPFADVISOR_REQUIRE_*`, set by `.ci/run`) a missing prerequisite fails the run, in the tests
//! and here (dockerd that does not come up). What this task starts (dockerd) it stops at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Variables that turn a missing prerequisite from a skip into a failure (`prereq.rs`).
pub const REQUIRE_VARS: [&str; 4] = [
    "BPFADVISOR_REQUIRE_ROOT",
    "BPFADVISOR_REQUIRE_DOCKER",
    "BPFADVISOR_REQUIRE_EBPF",
    "BPFADVISOR_REQUIRE_TOOLS",
];

/// Source markers of a test that needs root, Docker or eBPF: the support helpers' prerequisite
/// checks. A test needing any of these must call one of them, or it could not skip or fail right.
const PRIVILEGED_MARKERS: [&str; 6] = [
    "Need::",
    "require_root(",
    "Daemon::",
    "start_or_skip(",
    "cgroup_skip_reason(",
    "start_with_source(",
];

pub fn run(root: &Path, lint: bool) -> anyhow::Result<()> {
    crate::setup(root, false)?;
    crate::prepare_kernel_interfaces();
    let _dockerd = ensure_dockerd()?;
    if lint {
        crate::cargo(root, &["fmt", "--all", "--check"])?;
        // The fuzz crate is a workspace of its own.
        crate::cargo(
            root,
            &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--check"],
        )?;
        crate::cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    let (privileged, plain) = split_targets(&root.join("agent/tests"))?;
    let mut first = vec!["test", "--workspace", "--no-fail-fast", "--lib", "--bins"];
    first.extend(plain.iter().flat_map(|t| ["--test", t.as_str()]));
    first.extend(["--", "--test-threads=4"]);
    let unprivileged = crate::cargo(root, &first);
    let mut second = vec!["test", "-p", "agent", "--no-fail-fast"];
    second.extend(privileged.iter().flat_map(|t| ["--test", t.as_str()]));
    second.extend(["--", "--test-threads=1"]);
    let privileged = crate::cargo(root, &second);
    // A second kernel with pure cgroup v2 (this host's layout is only one of the kinds users run).
    let vm = crate::vm::run(root, &crate::vm::Options::default());
    // Every parser under libFuzzer for a few seconds each; a crash fails the run.
    let fuzz = crate::fuzz::run(root, crate::fuzz::CI_SECONDS, None);
    unprivileged.context("unprivileged tests")?;
    privileged.context("privileged tests")?;
    vm.context("VM test (cargo xtask test-vm)")?;
    fuzz.context("fuzz targets (cargo xtask fuzz)")
}

/// The `agent/tests/*.rs` targets, split into (privileged, unprivileged) by their source.
fn split_targets(dir: &Path) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut privileged = Vec::new();
    let mut plain = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for path in files {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let src = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        if PRIVILEGED_MARKERS.iter().any(|m| src.contains(m)) {
            privileged.push(name.to_string());
        } else {
            plain.push(name.to_string());
        }
    }
    Ok((privileged, plain))
}

/// Whether this run must fail when a prerequisite is missing.
pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A dockerd this task started; stopped (SIGTERM, then waited for) on drop.
pub struct StartedDockerd(Child);

impl Drop for StartedDockerd {
    fn drop(&mut self) {
        eprintln!("xtask: stopping the dockerd it started");
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn docker_ok() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts dockerd in the background when it is installed but not answering. Without Docker the
/// Docker tests skip, or (CI) the run fails here.
pub fn ensure_dockerd() -> anyhow::Result<Option<StartedDockerd>> {
    let require = required("BPFADVISOR_REQUIRE_DOCKER");
    if docker_ok() {
        return Ok(None);
    }
    if crate::which("dockerd").is_none() {
        if require {
            bail!("BPFADVISOR_REQUIRE_DOCKER is set but dockerd is not installed");
        }
        eprintln!("xtask: dockerd is not installed; docker tests will skip");
        return Ok(None);
    }
    eprintln!("xtask: starting dockerd");
    let log_path = std::env::temp_dir().join("bpfadvisor-dockerd.log");
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new("dockerd")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("starting dockerd")?;
    let mut started = StartedDockerd(child);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if docker_ok() {
            return Ok(Some(started));
        }
        if let Ok(Some(status)) = started.0.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let why = format!("dockerd exited with {status}: {}", tail.join(" | "));
            if require {
                bail!("BPFADVISOR_REQUIRE_DOCKER is set but {why}");
            }
            eprintln!("xtask: {why}; docker tests will skip");
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if require {
        bail!("BPFADVISOR_REQUIRE_DOCKER is set but dockerd did not come up within 60 s");
    }
    eprintln!("xtask: dockerd did not come up within 60 s; docker tests will skip");
    Ok(Some(started))
}
