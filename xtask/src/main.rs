//! Project tasks: `cargo xtask setup|build|run|test|test-vm|ci|fuzz|bench|image`.
//!
//! `run` and `test` are the README's two commands: each installs what it needs first (idempotent).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

mod bench;
mod fuzz;
mod image;
mod test;
mod vm;

#[derive(Parser)]
#[command(name = "xtask")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the build toolchain (rust-src, bpf-linker) and the packages tests use.
    Setup,
    /// Build the agent (release) with its eBPF programs.
    Build,
    /// Build, then run the agent as root with default flags; extra args go to bpfadvisor.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install what tests need, then run fmt check, clippy and every test (unit, integration, live).
    Test {
        /// Skip fmt and clippy.
        #[arg(long)]
        no_lint: bool,
    },
    /// What CI runs: `test` with every prerequisite required (eBPF toolchain and load, root, Docker,
    /// the test tools): a missing one fails the run instead of skipping tests.
    Ci,
    /// Boot Debian 12's 6.1 kernel under qemu with a pure cgroup v2 hierarchy and check the agent
    /// inside it (part of `test`).
    TestVm {
        /// Test the release build of the agent.
        #[arg(long)]
        release: bool,
        /// Also copy the guest's cgroup tree and machine files into this new directory.
        #[arg(long, value_name = "DIR")]
        capture_fixture: Option<PathBuf>,
        /// Debian kernel package to boot (default: the newest linux-image-6.1.0-*-cloud-amd64).
        #[arg(long)]
        kernel_package: Option<String>,
    },
    /// The VM test's guest side; runs inside the VM only.
    #[command(hide = true)]
    VmGuest {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the libFuzzer targets of `fuzz/` (every parser of kernel text and request input), each
    /// for `--seconds`; a crash fails (its input is left in `fuzz/artifacts/<target>/`). `test`
    /// runs them a few seconds each.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Run only this target (default: all).
        target: Option<String>,
    },
    /// Run the criterion benches; `bench live [--containers N] [--seconds S] ...` measures a running
    /// agent over N real cgroups instead. Figures go to docs/performance.md by hand.
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the container image (release agent with eBPF, final stage `FROM scratch`) without
    /// any registry; prints its size.
    Image {
        #[arg(long, default_value = image::DEFAULT_TAG)]
        tag: String,
        /// Put this agent binary in the image instead of building the release one.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = workspace_root();
    match args.cmd {
        Cmd::Setup => setup(&root, false),
        Cmd::Build => {
            setup(&root, true)?;
            cargo(&root, &["build", "--release", "-p", "agent"])
        }
        Cmd::Run { args } => {
            setup(&root, true)?;
            cargo(&root, &["build", "--release", "-p", "agent"])?;
            let bin = target_dir(&root).join("release/bpfadvisor");
            let status = Command::new(&bin)
                .args(&args)
                .status()
                .with_context(|| bin.display().to_string())?;
            if !status.success() {
                bail!("bpfadvisor exited with {status}");
            }
            Ok(())
        }
        Cmd::Test { no_lint } => test::run(&root, !no_lint),
        Cmd::TestVm {
            release,
            capture_fixture,
            kernel_package,
        } => {
            setup(&root, false)?;
            vm::run(
                &root,
                &vm::Options {
                    release,
                    capture: capture_fixture,
                    kernel_package,
                },
            )
        }
        Cmd::VmGuest { args } => vm::guest::main(&args),
        Cmd::Ci => {
            for var in test::REQUIRE_VARS {
                // SAFETY: single-threaded at this point; read by agent/build.rs and the tests.
                unsafe { std::env::set_var(var, "1") };
            }
            test::run(&root, true)
        }
        Cmd::Image { tag, binary } => {
            let mut setup = Command::new("bash");
            setup.arg(root.join("scripts/setup.sh")).arg("--image");
            run(setup)?;
            let _dockerd = test::ensure_dockerd()?;
            let binary = match binary {
                Some(b) => b,
                None => {
                    // SAFETY: single-threaded at this point; read by agent/build.rs, so an image
                    // never silently ships without its eBPF probes.
                    unsafe { std::env::set_var("BPFADVISOR_REQUIRE_EBPF", "1") };
                    cargo(&root, &["build", "--release", "-p", "agent"])?;
                    target_dir(&root).join("release/bpfadvisor")
                }
            };
            let size = image::build(&image::ImageSpec {
                binary: &binary,
                dockerfile: &root.join("Dockerfile"),
                context: &target_dir(&root).join("image"),
                tag: &tag,
            })?;
            image::report(&tag, size, std::io::stdout())?;
            Ok(())
        }
        Cmd::Fuzz { seconds, target } => fuzz::run(&root, seconds, target.as_deref()),
        Cmd::Bench { args } => {
            setup(&root, true)?;
            if args.first().is_some_and(|a| a == "live") {
                return bench::live(&root, &target_dir(&root), &args[1..]);
            }
            let mut a = vec!["bench", "-p", "agent"];
            a.extend(args.iter().map(String::as_str));
            cargo(&root, &a)
        }
    }
}

/// `scripts/setup.sh MODE` (e.g. `--fuzz`: only what `cargo xtask fuzz` needs).
fn setup_mode(root: &Path, mode: &str) -> anyhow::Result<()> {
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/setup.sh")).arg(mode);
    run(cmd)
}

fn setup(root: &Path, build_only: bool) -> anyhow::Result<()> {
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/setup.sh"));
    if build_only {
        cmd.arg("--build-only");
    }
    run(cmd)
}

/// tracefs for classic tracepoints (tp_btf probes do not need it); best effort.
fn prepare_kernel_interfaces() {
    let tracing = Path::new("/sys/kernel/tracing");
    if tracing.join("events").exists() {
        return;
    }
    let _ = Command::new("mount")
        .args(["-t", "tracefs", "nodev"])
        .arg(tracing)
        .status();
}

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args(args);
    run(cmd)
}

fn run(mut cmd: Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}
