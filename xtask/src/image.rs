//! `cargo xtask image`: bpfadvisor's container image, built without any registry.
//!
//! The build context is staged in a directory of its own: the repository's `Dockerfile` and
//! `rootfs/` holding the agent (debug info stripped) and, for a dynamically linked build, the
//! loader and the shared libraries `ldd` names, at the paths the binary looks for them. The
//! Dockerfile's first stage runs in the busybox image the integration tests use ([`TOOLS_IMAGE`],
//! imported from the host's static busybox when missing); its final stage is `FROM scratch`.
//!
//! Uses std and anyhow only: the deployment test (`agent/tests/deploy_image.rs`) compiles this
//! file too, so it builds the image exactly as `cargo xtask image` does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The image the Dockerfile's first stage runs in (its `TOOLS_IMAGE` default).
pub const TOOLS_IMAGE: &str = "local/busybox:1";

/// The tag `cargo xtask image` gives by default (the one the README's `docker run` line names).
pub const DEFAULT_TAG: &str = "bpfadvisor:latest";

/// Label of the Dockerfile's first stage: the legacy builder keeps that stage as an untagged image,
/// removed after the build by this label.
const STAGE_LABEL: &str = "org.bpfadvisor.stage=assemble";

/// What to build.
pub struct ImageSpec<'a> {
    /// The agent binary to put in the image.
    pub binary: &'a Path,
    /// The repository's `Dockerfile`.
    pub dockerfile: &'a Path,
    /// The build context directory (emptied first).
    pub context: &'a Path,
    pub tag: &'a str,
}

/// Stages the context, builds the image and returns its size in bytes.
pub fn build(spec: &ImageSpec) -> anyhow::Result<u64> {
    stage(spec)?;
    ensure_tools_image()?;
    let mut cmd = Command::new("docker");
    cmd.args(["build", "--force-rm", "-q", "-t", spec.tag])
        .arg("--build-arg")
        .arg(format!("TOOLS_IMAGE={TOOLS_IMAGE}"))
        .arg(spec.context);
    if !buildx_available() {
        // Without the buildx plugin, a current docker CLI refuses to build unless told to use
        // the legacy builder.
        cmd.env("DOCKER_BUILDKIT", "0");
    }
    let out = cmd.output().context("running docker build")?;
    remove_stage_leftovers();
    if !out.status.success() {
        bail!(
            "docker build failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    image_size(spec.tag)
}

/// Writes the build context: the Dockerfile and `rootfs/` (binary and libraries).
pub fn stage(spec: &ImageSpec) -> anyhow::Result<()> {
    let ctx = spec.context;
    if ctx.exists() {
        std::fs::remove_dir_all(ctx).with_context(|| format!("emptying {}", ctx.display()))?;
    }
    let rootfs = ctx.join("rootfs");
    let bin_dir = rootfs.join("usr/bin");
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("mkdir {}", bin_dir.display()))?;
    std::fs::copy(spec.dockerfile, ctx.join("Dockerfile"))
        .with_context(|| format!("copying {}", spec.dockerfile.display()))?;
    let bin = bin_dir.join("bpfadvisor");
    // Debug info is most of a debug build's size and none of its function; the eBPF object is
    // data in `.rodata` and stays.
    let stripped = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(spec.binary)
        .arg(&bin)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(spec.binary, &bin)
            .with_context(|| format!("copying {}", spec.binary.display()))?;
    }
    for lib in shared_libraries(spec.binary)? {
        let rel = lib.strip_prefix("/").unwrap_or(&lib);
        let dest = rootfs.join(rel);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
        }
        // `copy` follows symlinks: the image gets the files themselves at the names asked for.
        std::fs::copy(&lib, &dest).with_context(|| format!("copying {}", lib.display()))?;
    }
    Ok(())
}

/// The loader and libraries `ldd` lists for `binary`; none for a static binary.
fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // ldd exits 1 for "not a dynamic executable".
    if !out.status.success() && !text.contains("=>") {
        return Ok(Vec::new());
    }
    Ok(parse_ldd(&text))
}

/// Absolute paths in `ldd` output: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and the
/// loader's `/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has no file.
pub fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn buildx_available() -> bool {
    Command::new("docker")
        .args(["buildx", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Imports [`TOOLS_IMAGE`] from the host's static busybox (all applets linked) when it is missing.
pub fn ensure_tools_image() -> anyhow::Result<()> {
    if docker_ok(&["image", "inspect", TOOLS_IMAGE]) {
        return Ok(());
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .context("busybox is not installed (apt-get install busybox-static)")?;
    let root = std::env::temp_dir().join(format!("bpfadvisor-tools-{}", std::process::id()));
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("mkdir {}", bin.display()))?;
    let result = (|| {
        std::fs::copy(busybox, bin.join("busybox")).context("copying busybox")?;
        let list = Command::new(busybox).arg("--list").output()?;
        for applet in String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|a| *a != "busybox")
        {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .context("running tar")?;
        let tar_out = tar.stdout.take().context("tar has no stdout")?;
        let status = Command::new("docker")
            .args(["import", "-", TOOLS_IMAGE])
            .stdin(tar_out)
            .stdout(Stdio::null())
            .status()
            .context("running docker import")?;
        tar.wait()?;
        if !status.success() {
            bail!("docker import of {TOOLS_IMAGE} failed");
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// Removes the untagged first-stage images the legacy builder leaves behind.
fn remove_stage_leftovers() {
    let Ok(out) = Command::new("docker")
        .args(["images", "-q", "--filter", "dangling=true", "--filter"])
        .arg(format!("label={STAGE_LABEL}"))
        .output()
    else {
        return;
    };
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .arg("rmi")
            .args(&ids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The image's size as `docker image inspect` reports it.
pub fn image_size(tag: &str) -> anyhow::Result<u64> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}}", tag])
        .output()
        .context("running docker image inspect")?;
    if !out.status.success() {
        bail!("no image {tag}");
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .with_context(|| format!("size of {tag}"))
}

/// `cargo xtask image` output: the tag and the size in MB.
pub fn report(tag: &str, size: u64, mut out: impl Write) -> std::io::Result<()> {
    writeln!(out, "image {tag}: {:.1} MB", size as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_names_libraries_and_the_loader() {
        // `ldd target/debug/bpfadvisor` on Debian 12 (glibc 2.36).
        let text = "\tlinux-vdso.so.1 (0x00007f35ab060000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f35ab02f000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f35a9720000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f35a953e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f35ab062000)
";
        assert_eq!(
            parse_ldd(text),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libm.so.6",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(parse_ldd("\tstatically linked\n"), Vec::<PathBuf>::new());
        assert_eq!(
            parse_ldd("\tlibfoo.so => not found\n"),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn report_in_megabytes() {
        let mut out = Vec::new();
        report("bpfadvisor:latest", 38_700_000, &mut out).expect("write");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "image bpfadvisor:latest: 38.7 MB\n"
        );
    }
}
