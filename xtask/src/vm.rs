//! `cargo xtask test-vm`: boots a second kernel under qemu with a pure cgroup v2 hierarchy and runs
//! the real agent inside it (the checks are in [`guest`]).
//!
//! - Kernel: Debian 12's newest `linux-image-6.1.0-*-cloud-amd64` (or `--kernel-package`), fetched
//!   once with `apt-get download` and unpacked with `dpkg -x` into `target/vm/kernels/<package>/`.
//!   It has BTF, PSI and every cgroup v2 controller built in; `brd` (a RAM disk for real block I/O)
//!   comes from its modules.
//! - Initramfs: busybox-static, the agent (`target/{debug,release}/bpfadvisor`, stripped), this
//!   xtask binary (the guest's test driver and workloads), their `ldd` libraries,
//!   `scripts/capture-machine-fixture.sh` and the `/init` below, in one `newc` archive.
//! - qemu's TCG (`-accel tcg -cpu max -smp 2`): nested KVM backends that stock kernels cannot boot
//!   on are common on CI runners; TCG boots anywhere. Always under `timeout`.
//!
//! The guest prints `VMTEST PASS|FAIL <check> <detail>` on the serial console; a FAIL, a missing
//! PASS or a guest that never says `VMTEST DONE` fails the run. The whole serial log is kept in
//! `target/vm/serial.log`. `--capture-fixture <dir>` also copies the guest's cgroup tree, /proc
//! and machine files into `<dir>` (printed on the console as hex, see `guest::capture_fixture`).
//!
//! Without qemu or a downloadable kernel the test is skipped with a message, or fails when
//! `BPFADVISOR_REQUIRE_TOOLS` (CI) is set.

mod cpio;
pub mod guest;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// Where the guest assembles a fixture capture before printing it.
pub const CAPTURE_DIR: &str = "/tmp/capture";

/// What the guest checks; each prints one PASS or FAIL line named [`Check::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Building the tree or starting an agent failed (only ever a FAIL).
    Setup,
    EbpfSource,
    EbpfCreation,
    EbpfDeletion,
    OomKillVictim,
    OomCounters,
    Tree,
    Cpu,
    Memory,
    Pids,
    Psi,
    DiskIo,
    Metrics,
    FentryProbe,
    FentryOomKillVictim,
    InotifySource,
    InotifyCreation,
    InotifyDeletion,
    InotifyOomKill,
    /// Only with `--capture-fixture`.
    Capture,
}

impl Check {
    /// Every check a passing run reports (without `--capture-fixture`).
    pub const EXPECTED: [Check; 18] = [
        Check::EbpfSource,
        Check::EbpfCreation,
        Check::EbpfDeletion,
        Check::OomKillVictim,
        Check::OomCounters,
        Check::Tree,
        Check::Cpu,
        Check::Memory,
        Check::Pids,
        Check::Psi,
        Check::DiskIo,
        Check::Metrics,
        Check::FentryProbe,
        Check::FentryOomKillVictim,
        Check::InotifySource,
        Check::InotifyCreation,
        Check::InotifyDeletion,
        Check::InotifyOomKill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::Setup => "setup",
            Check::EbpfSource => "ebpf-source",
            Check::EbpfCreation => "ebpf-creation-event",
            Check::EbpfDeletion => "ebpf-deletion-event",
            Check::OomKillVictim => "oom-kill-victim-cgroup",
            Check::OomCounters => "oom-counters",
            Check::Tree => "systemd-tree",
            Check::Cpu => "cpu-usage-throttling",
            Check::Memory => "memory",
            Check::Pids => "pids",
            Check::Psi => "psi",
            Check::DiskIo => "diskio",
            Check::Metrics => "metrics",
            Check::FentryProbe => "fentry-oom-probe",
            Check::FentryOomKillVictim => "fentry-oom-kill-victim-cgroup",
            Check::InotifySource => "inotify-source",
            Check::InotifyCreation => "inotify-creation-event",
            Check::InotifyDeletion => "inotify-deletion-event",
            Check::InotifyOomKill => "inotify-oom-kill",
            Check::Capture => "capture-fixture",
        }
    }
}

#[derive(Debug, Default)]
pub struct Options {
    /// Test the release build of the agent instead of the debug one.
    pub release: bool,
    /// Copy the guest's cgroup tree and machine files into this (new or empty) directory.
    pub capture: Option<PathBuf>,
    /// Debian kernel package to boot instead of the newest `linux-image-6.1.0-*-cloud-amd64`.
    pub kernel_package: Option<String>,
}

/// The initramfs's `/init`: mounts, a pure cgroup v2 hierarchy with every controller the agent
/// reads enabled from the root, loopback up (the agent listens on 127.0.0.1), a RAM disk, then the
/// guest driver; power off whatever happens.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "+cpu +memory +io +pids" > /sys/fs/cgroup/cgroup.subtree_control
ip link set lo up
[ -f /lib/modules/brd.ko ] && insmod /lib/modules/brd.ko rd_nr=1 rd_size=16384
/bin/xtask vm-guest
sync
poweroff -f
"#;

/// qemu gets this long (`timeout`), boot to power-off.
const QEMU_TIMEOUT_SECS: u64 = 300;

pub fn run(root: &Path, opts: &Options) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let cache = crate::target_dir(root).join("vm");
    std::fs::create_dir_all(&cache)?;
    if crate::which("qemu-system-x86_64").is_none() {
        return missing("qemu-system-x86_64 is not installed (scripts/setup.sh installs it)");
    }
    let Some(busybox) = crate::which("busybox") else {
        return missing("busybox is not installed (scripts/setup.sh installs busybox-static)");
    };
    let kernel = match Kernel::ensure(&cache, opts.kernel_package.as_deref()) {
        Ok(k) => k,
        Err(e) => return missing(&format!("no kernel to boot: {e:#}")),
    };
    let mut build = vec!["build", "-p", "agent", "--bin", "bpfadvisor"];
    if opts.release {
        build.push("--release");
    }
    crate::cargo(root, &build)?;
    let profile = if opts.release { "release" } else { "debug" };
    let agent = crate::target_dir(root).join(profile).join("bpfadvisor");
    let xtask = std::env::current_exe().context("locating the xtask binary")?;

    let mut initrd = Initrd::default();
    initrd.add_elf(&busybox, "/bin/busybox", &cache)?;
    initrd.add_elf(&agent, "/bin/bpfadvisor", &cache)?;
    initrd.add_elf(&xtask, "/bin/xtask", &cache)?;
    // The workloads are the xtask binary under other names, so the victim's comm is its own.
    initrd.archive.symlink("/bin/vmtest-victim", "xtask");
    initrd.archive.symlink("/bin/vmtest-alloc", "xtask");
    let script = root.join("scripts/capture-machine-fixture.sh");
    initrd
        .archive
        .file("/bin/capture-machine-fixture.sh", 0o755, &read(&script)?);
    let brd = kernel.modules.join("kernel/drivers/block/brd.ko");
    if brd.is_file() {
        initrd
            .archive
            .file("/lib/modules/brd.ko", 0o644, &read(&brd)?);
    }
    initrd.archive.file(
        "/etc/machine-id",
        0o644,
        b"b7e5c0a1f2d34e6f8a9b0c1d2e3f4a5b\n",
    );
    initrd.archive.file("/init", 0o755, INIT.as_bytes());
    for d in ["/proc", "/sys", "/dev", "/tmp", "/run"] {
        initrd.archive.dir(d);
    }
    initrd.archive.char_dev("/dev/console", 0o600, 5, 1);
    let initrd_path = cache.join("initrd.cpio");
    std::fs::write(&initrd_path, initrd.archive.finish())?;
    eprintln!(
        "vm: booting {} ({}), agent {profile} build; prepared in {:.1?}",
        kernel.package,
        kernel.vmlinuz.display(),
        t0.elapsed()
    );

    let mut append = "console=ttyS0 panic=-1 preempt=full loglevel=1 rdinit=/init".to_string();
    if opts.capture.is_some() {
        append.push_str(" vmtest.capture=1");
    }
    let outcome = boot(
        &kernel.vmlinuz,
        &initrd_path,
        &append,
        &cache.join("serial.log"),
    )?;
    eprintln!("vm: guest finished in {:.1?} in all", t0.elapsed());
    if let Some(dir) = &opts.capture {
        outcome.write_capture(dir)?;
    }
    outcome.verdict(opts.capture.is_some(), &cache.join("serial.log"))
}

fn missing(why: &str) -> anyhow::Result<()> {
    if crate::test::required("BPFADVISOR_REQUIRE_TOOLS") {
        bail!("the VM test needs {why}");
    }
    eprintln!("skipping VM test - {why}");
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| path.display().to_string())
}

/// A Debian kernel package unpacked in the cache.
struct Kernel {
    package: String,
    vmlinuz: PathBuf,
    /// `lib/modules/<release>` of the package.
    modules: PathBuf,
}

impl Kernel {
    /// The unpacked package, fetched and unpacked first when not cached (idempotent).
    fn ensure(cache: &Path, package: Option<&str>) -> anyhow::Result<Kernel> {
        let dir = cache.join("kernels");
        let package = match package {
            Some(p) => p.to_string(),
            None => newest_61_cloud_kernel()
                .or_else(|| newest_cached(&dir))
                .context("apt knows no linux-image-6.1.0-*-cloud-amd64 (Debian 12 sources)")?,
        };
        let at = dir.join(&package);
        if !at.join(".complete").exists() {
            fetch(&package, &at)?;
        }
        let boot = at.join("boot");
        let vmlinuz = std::fs::read_dir(&boot)
            .with_context(|| boot.display().to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
            .with_context(|| format!("no vmlinuz-* in {}", boot.display()))?;
        let release = vmlinuz
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_start_matches("vmlinuz-")
                    .to_string()
            })
            .unwrap_or_default();
        Ok(Kernel {
            package,
            vmlinuz,
            modules: at.join("lib/modules").join(release),
        })
    }
}

/// `linux-image-6.1.0-<abi>-cloud-amd64` with the highest ABI number apt knows.
fn newest_61_cloud_kernel() -> Option<String> {
    let out = Command::new("apt-cache")
        .args(["pkgnames", "linux-image-6.1.0-"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|p| {
            let abi = p
                .strip_prefix("linux-image-6.1.0-")?
                .strip_suffix("-cloud-amd64")?;
            Some((abi.parse::<u32>().ok()?, p.to_string()))
        })
        .max()
        .map(|(_, p)| p)
}

fn newest_cached(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().join(".complete").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
}

/// `apt-get download` + `dpkg -x` into `at` (through a `.partial` directory, so an interrupted
/// fetch is never taken for a complete one).
fn fetch(package: &str, at: &Path) -> anyhow::Result<()> {
    let partial = at.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    eprintln!("vm: downloading {package}");
    let download = |dir: &Path| {
        Command::new("apt-get")
            .args(["-q", "-o", "APT::Sandbox::User=root", "download", package])
            .current_dir(dir)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !download(&partial) {
        // Stale package lists name files the mirror no longer has.
        crate::run({
            let mut c = Command::new("apt-get");
            c.args(["-q", "update"]);
            c
        })?;
        if !download(&partial) {
            bail!("apt-get download {package} failed");
        }
    }
    let deb = std::fs::read_dir(&partial)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    crate::run({
        let mut c = Command::new("dpkg");
        c.arg("-x").arg(&deb).arg(&partial);
        c
    })?;
    std::fs::remove_file(&deb)?;
    std::fs::write(partial.join(".complete"), package)?;
    let _ = std::fs::remove_dir_all(at);
    std::fs::rename(&partial, at)?;
    Ok(())
}

#[derive(Default)]
struct Initrd {
    archive: cpio::Archive,
    libs: BTreeSet<PathBuf>,
}

impl Initrd {
    /// Adds a binary at `dst` (stripped when `strip` is there: debug builds are ~150 MB) and the
    /// shared libraries `ldd` lists for it at their own paths.
    fn add_elf(&mut self, src: &Path, dst: &str, cache: &Path) -> anyhow::Result<()> {
        let stripped = cache.join(format!("{}.stripped", dst.trim_start_matches("/bin/")));
        let data = if crate::which("strip").is_some()
            && Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(src)
                .status()
                .is_ok_and(|s| s.success())
        {
            read(&stripped)?
        } else {
            read(src)?
        };
        self.archive.file(dst, 0o755, &data);
        let out = Command::new("ldd")
            .arg(src)
            .output()
            .context("running ldd")?;
        for lib in parse_ldd(&String::from_utf8_lossy(&out.stdout)) {
            if self.libs.insert(lib.clone()) {
                let data = read(&lib)?;
                self.archive.file(&lib.to_string_lossy(), 0o755, &data);
            }
        }
        Ok(())
    }
}

/// The library paths in `ldd` output (`libc.so.6 => /lib/.../libc.so.6 (0x...)`, and the loader's
/// own `/lib64/ld-linux-x86-64.so.2 (0x...)`); a static binary has none.
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// What the guest reported.
#[derive(Default)]
struct Outcome {
    passed: BTreeMap<String, String>,
    failed: Vec<(String, String)>,
    done: bool,
    files: Vec<(String, Vec<u8>)>,
    links: Vec<(String, String)>,
}

fn boot(vmlinuz: &Path, initrd: &Path, append: &str, log: &Path) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let mut child = Command::new("timeout")
        .args(["--kill-after=10", &QEMU_TIMEOUT_SECS.to_string()])
        .args([
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-smp",
            "2",
        ])
        .args([
            "-m",
            "1024",
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
        ])
        .arg("-no-reboot")
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", append])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting qemu-system-x86_64 under timeout")?;
    let stdout = child.stdout.take().context("qemu stdout")?;
    let mut serial = std::fs::File::create(log)?;
    let mut outcome = Outcome::default();
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        std::io::Write::write_all(&mut serial, &buf)?;
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\r', '\n']);
        // Kernel messages may share the line; the guest's report starts at its marker.
        let Some(at) = line.find("VMTEST ") else {
            continue;
        };
        outcome.take(&line[at + 7..], t0);
    }
    let status = child.wait()?;
    if status.code() == Some(124) || status.code() == Some(137) {
        eprintln!("vm: qemu timed out after {QEMU_TIMEOUT_SECS} s");
    }
    Ok(outcome)
}

impl Outcome {
    fn take(&mut self, report: &str, t0: Instant) {
        let (kind, rest) = report.split_once(' ').unwrap_or((report, ""));
        match kind {
            "FILE" => {
                if let Some((path, hex)) = rest.split_once(' ') {
                    self.files.push((path.to_string(), unhex(hex)));
                } else {
                    self.files.push((rest.to_string(), Vec::new()));
                }
                return;
            }
            "LINK" => {
                if let Some((path, target)) = rest.split_once(' ') {
                    self.links.push((path.to_string(), target.to_string()));
                }
                return;
            }
            "PASS" | "FAIL" => {
                let (check, detail) = rest.split_once(' ').unwrap_or((rest, ""));
                if kind == "PASS" {
                    self.passed.insert(check.to_string(), detail.to_string());
                } else {
                    self.failed.push((check.to_string(), detail.to_string()));
                }
            }
            "DONE" => self.done = true,
            _ => {}
        }
        let mut shown: String = report.chars().take(400).collect();
        if shown.len() < report.len() {
            shown.push('…');
        }
        eprintln!("vm {:>6.1?}: {shown}", t0.elapsed());
    }

    fn verdict(&self, capture: bool, log: &Path) -> anyhow::Result<()> {
        let mut expected: Vec<Check> = Check::EXPECTED.to_vec();
        if capture {
            expected.push(Check::Capture);
        }
        let missing: Vec<&str> = expected
            .iter()
            .map(|c| c.name())
            .filter(|n| !self.passed.contains_key(*n))
            .collect();
        let mut problems = Vec::new();
        for (check, detail) in &self.failed {
            problems.push(format!("FAIL {check}: {detail}"));
        }
        for m in &missing {
            if !self.failed.iter().any(|(c, _)| c == m) {
                problems.push(format!("no PASS for {m}"));
            }
        }
        if !self.done {
            problems.push("the guest never reported VMTEST DONE".into());
        }
        if problems.is_empty() {
            eprintln!("vm: all {} checks passed", expected.len());
            return Ok(());
        }
        for p in &problems {
            eprintln!("vm: {p}");
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("VMTEST FILE"))
            .collect();
        eprintln!("vm: last lines of {}:", log.display());
        for l in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("  {l}");
        }
        bail!("VM test failed: {}", problems.join("; "))
    }

    fn write_capture(&self, dir: &Path) -> anyhow::Result<()> {
        if self.files.is_empty() {
            bail!("the guest sent no fixture files");
        }
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            bail!("{} exists and is not empty", dir.display());
        }
        for (rel, data) in &self.files {
            let to = dir.join(rel);
            std::fs::create_dir_all(to.parent().unwrap_or(dir))?;
            std::fs::write(&to, data)?;
        }
        for (rel, target) in &self.links {
            let to = dir.join(rel);
            std::fs::create_dir_all(to.parent().unwrap_or(dir))?;
            std::os::unix::fs::symlink(target, &to)?;
        }
        eprintln!(
            "vm: captured {} files and {} links into {}",
            self.files.len(),
            self.links.len(),
            dir.display()
        );
        Ok(())
    }
}

fn unhex(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_library_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f3c)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f3c)\n";
        assert_eq!(
            parse_ldd(text),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
    }

    #[test]
    fn reports_are_parsed_and_missing_checks_fail() {
        let mut o = Outcome::default();
        let t0 = Instant::now();
        o.take("PASS psi cpu.psi.some.total 12", t0);
        o.take("FAIL memory usage 0", t0);
        o.take("FILE a/b 6869", t0);
        o.take("DONE failed=true", t0);
        assert_eq!(o.files, [("a/b".to_string(), b"hi".to_vec())]);
        let err = o
            .verdict(false, Path::new("/nonexistent"))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("FAIL memory: usage 0"), "{err}");
        assert!(err.contains("no PASS for cpu-usage-throttling"), "{err}");
        assert!(!err.contains("no PASS for psi"), "{err}");
        assert!(!err.contains("no PASS for memory"), "{err}");
    }
}
