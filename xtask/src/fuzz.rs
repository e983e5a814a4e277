//! `cargo xtask fuzz [--seconds N] [TARGET]`: the libFuzzer targets of `fuzz/` (see docs/fuzzing.md),
//! each for N seconds, on stable Rust through `cargo fuzz`.
//!
//! Built without a sanitizer (`-s none`): the parsers are safe Rust, so what the fuzzer looks for is
//! a panic (an overflow, an index out of bounds, a failed round-trip assertion), an endless loop or
//! an unbounded allocation, which libFuzzer catches by itself; and `-s none` needs no nightly
//! flag, so a machine with only stable Rust runs it. Debug assertions and overflow checks are on.
//!
//! Each run starts from the target's corpus (`fuzz/corpus/<target>`, kept between runs, ignored by
//! git), the committed seeds (`fuzz/seeds/<target>`) and seeds taken from the test fixtures
//! (`agent/tests/fixtures`: each small cgroup, `/proc` or `/sys` file for the target of its
//! family), so even a few seconds start deep in the formats. A crash leaves its input in
//! `fuzz/artifacts/<target>/` and fails the run.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// Every target in `fuzz/fuzz_targets/`, in the order they run.
pub const TARGETS: [&str; 8] = [
    "cgroup_files",
    "proc_files",
    "sys_files",
    "kmsg",
    "btf",
    "api_query",
    "event_params",
    "access_files",
];

/// Seconds per target in `cargo xtask test`: enough to replay the seeds and a few hundred
/// thousand mutations each, a bounded cost in CI.
pub const CI_SECONDS: u64 = 5;

/// cargo-fuzz's build options, the same for `build` and `run` so `run` does not rebuild. 16 codegen
/// units (cargo-fuzz's default is 1): the agent crate, most of the build, then compiles on every
/// core (a quarter less time on two) for fuzzing about a tenth slower.
const BUILD_ARGS: [&str; 7] = [
    "-O",
    "--debug-assertions",
    "--sanitizer",
    "none",
    "--codegen-units",
    "16",
    "--target-dir",
];

/// Fixture files larger than this are not seeds: libFuzzer mutates best at a few KiB, and every
/// such file's format also appears in a smaller one.
const MAX_SEED_BYTES: u64 = 16 * 1024;

/// libFuzzer's limits: an input a parser takes seconds over, or that makes it allocate gigabytes,
/// is a bug (without a sanitizer libFuzzer watches the RSS, not each allocation).
const LIBFUZZER_LIMITS: [&str; 2] = ["-timeout=10", "-rss_limit_mb=2048"];

pub fn run(root: &Path, seconds: u64, only: Option<&str>) -> anyhow::Result<()> {
    let targets: Vec<&str> = match only {
        Some(t) if TARGETS.contains(&t) => vec![t],
        Some(t) => bail!(
            "unknown fuzz target {t:?}; the targets: {}",
            TARGETS.join(", ")
        ),
        None => TARGETS.to_vec(),
    };
    crate::setup_mode(root, "--fuzz")?;
    let fuzz_dir = root.join("fuzz");
    let target_dir = crate::target_dir(root).join("fuzz");
    let seeds = target_dir.join("seeds");
    fixture_seeds(&root.join("agent/tests/fixtures"), &seeds)?;

    let t0 = Instant::now();
    let mut build = cargo_fuzz(&fuzz_dir, &target_dir, "build");
    if let [t] = targets[..] {
        build.arg(t);
    }
    crate::run(build).context("building the fuzz targets")?;
    eprintln!("xtask: fuzz targets built in {:.0?}", t0.elapsed());

    let mut failed = Vec::new();
    for t in targets {
        let corpus = fuzz_dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus).with_context(|| corpus.display().to_string())?;
        let mut cmd = cargo_fuzz(&fuzz_dir, &target_dir, "run");
        cmd.arg(t).arg(&corpus);
        for dir in [seeds.join(t), fuzz_dir.join("seeds").join(t)] {
            if dir.is_dir() {
                cmd.arg(dir);
            }
        }
        cmd.arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args(LIBFUZZER_LIMITS)
            .arg("-print_final_stats=1");
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        if let Err(e) = crate::run(cmd) {
            eprintln!("xtask: fuzz target {t} failed: {e:#}");
            failed.push(t);
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/<target>/; replay one with \
             `cargo xtask fuzz <target>` after the fix, or `cargo fuzz run <target> <file>`)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `cargo fuzz <sub>` in `fuzz/` with the shared build options. The eBPF object is irrelevant to
/// the parsers: the agent's build script embeds the committed one instead of building it (and a
/// CI run's `BPFADVISOR_REQUIRE_EBPF` would make that skip an error).
fn cargo_fuzz(fuzz_dir: &Path, target_dir: &Path, sub: &str) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(fuzz_dir)
        .args(["fuzz", sub])
        .args(BUILD_ARGS)
        .arg(target_dir)
        .env("AYA_BUILD_SKIP", "1")
        .env_remove("BPFADVISOR_REQUIRE_EBPF");
    cmd
}

/// Which target a fixture file seeds, by where it lives in the captured tree.
fn seed_target(path: &str) -> Option<&'static str> {
    if path.contains("/sys/fs/cgroup/") {
        Some("cgroup_files")
    } else if path.contains("/sys/") {
        Some("sys_files")
    } else if path.contains("/proc/") || path.contains("/etc/") {
        Some("proc_files")
    } else {
        None
    }
}

/// Copies every small fixture file into `out/<target>/`, named by a hash of its content so
/// identical files (many `0\n`) are one seed. `out` is rebuilt each time.
fn fixture_seeds(fixtures: &Path, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| out.display().to_string())?;
    }
    let mut files = Vec::new();
    walk(fixtures, &mut files)?;
    for path in files {
        let Some(target) = seed_target(&path.to_string_lossy()) else {
            continue;
        };
        let meta = std::fs::metadata(&path).with_context(|| path.display().to_string())?;
        if meta.len() > MAX_SEED_BYTES {
            continue;
        }
        let data = std::fs::read(&path).with_context(|| path.display().to_string())?;
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        let name = format!("{:016x}", h.finish());
        // memory.events carries the OOM kill counter the kmsg target also parses.
        let extra = path.ends_with("memory.events").then_some("kmsg");
        for t in std::iter::once(target).chain(extra) {
            let dir = out.join(t);
            std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
            std::fs::write(dir.join(&name), &data)?;
        }
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_seed_the_target_of_their_family() {
        let t = |p| seed_target(p);
        assert_eq!(t("x/sys/fs/cgroup/a/memory.stat"), Some("cgroup_files"));
        assert_eq!(
            t("x/sys/devices/system/cpu/cpu0/topology/core_id"),
            Some("sys_files")
        );
        assert_eq!(t("x/proc/self/mountinfo"), Some("proc_files"));
        assert_eq!(t("x/etc/os-release"), Some("proc_files"));
        assert_eq!(t("x/SOURCE.md"), None);
    }

    #[test]
    fn every_target_has_a_source_file() {
        let dir = crate::workspace_root().join("fuzz/fuzz_targets");
        for t in TARGETS {
            assert!(dir.join(format!("{t}.rs")).is_file(), "{t}");
        }
        let files = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            files,
            TARGETS.len(),
            "a target in {} not in TARGETS",
            dir.display()
        );
    }
}
