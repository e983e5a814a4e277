//! Builds (or picks) the eBPF object the agent embeds.
//!
//! 1. Toolchain present (`bpf-linker` runs, rust-src installed): build `agent-ebpf` with aya-build and
//!    embed it. If the committed prebuilt object (`agent-ebpf/prebuilt/`) does not match the sources,
//!    set `cfg(bpfadvisor_ebpf_prebuilt_stale)`: the unit test
//!    `events::ebpf::tests::prebuilt_object_is_committed_fresh` then fails, telling to run
//!    `BPFADVISOR_UPDATE_PREBUILT=1 cargo build -p agent` (which rewrites the prebuilt files) and
//!    commit them. The tree is never written otherwise, so CI (which has the toolchain) cannot pass
//!    with a stale object, whatever order it builds in.
//! 2. No toolchain: embed the committed object if the hash of the eBPF sources it was built from
//!    matches the sources now; so users build with plain `cargo build`.
//! 3. Otherwise build the agent without eBPF (`cargo:warning`); the loader then reports
//!    `EbpfError::NotEmbedded` and the app falls back to inotify. `BPFADVISOR_REQUIRE_EBPF=1` (CI)
//!    turns a missing toolchain or a failed eBPF build into a build error instead.
//!
//! `AYA_BUILD_SKIP=1` skips the eBPF build even with the toolchain present (the committed object is
//! then used as in 2), for quick builds.
//!
//! An embedded object sets `cfg(bpfadvisor_ebpf)` and is at `$OUT_DIR/bpfadvisor-ebpf.o`.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

const REQUIRE_VAR: &str = "BPFADVISOR_REQUIRE_EBPF";
const UPDATE_VAR: &str = "BPFADVISOR_UPDATE_PREBUILT";
/// Sources whose content determines the object. Cargo.lock is left out on purpose: the eBPF crates
/// are pinned with `=` in the workspace, and other crates' lock churn must not stale the object.
const SOURCE_DIRS: &[&str] = &["agent-ebpf/src", "agent-common/src"];
const SOURCE_FILES: &[&str] = &["agent-ebpf/Cargo.toml", "agent-common/Cargo.toml"];
const PREBUILT_OBJ: &str = "agent-ebpf/prebuilt/agent-ebpf.o";
const PREBUILT_HASH: &str = "agent-ebpf/prebuilt/agent-ebpf.o.srchash";

fn main() -> Result<()> {
    println!("cargo::rustc-check-cfg=cfg(bpfadvisor_ebpf)");
    println!("cargo::rustc-check-cfg=cfg(bpfadvisor_ebpf_prebuilt_stale)");
    println!("cargo:rerun-if-env-changed={REQUIRE_VAR}");
    println!("cargo:rerun-if-env-changed={UPDATE_VAR}");
    println!("cargo:rerun-if-env-changed=PATH");

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let ws = manifest_dir
        .parent()
        .context("agent crate has no parent dir")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let embedded = out_dir.join("bpfadvisor-ebpf.o");
    let flag = |var| env::var(var).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let (require, update) = (flag(REQUIRE_VAR), flag(UPDATE_VAR));

    for d in SOURCE_DIRS
        .iter()
        .chain(SOURCE_FILES)
        .chain(&[PREBUILT_OBJ, PREBUILT_HASH])
    {
        println!("cargo:rerun-if-changed={}", ws.join(d).display());
    }
    let hash = source_hash(&ws)?;
    println!("cargo:rustc-env=BPFADVISOR_EBPF_SRC_HASH={hash}");
    let committed_hash = fs::read_to_string(ws.join(PREBUILT_HASH)).unwrap_or_default();
    let prebuilt_fresh = committed_hash.trim() == hash && ws.join(PREBUILT_OBJ).is_file();

    let built = match toolchain_missing() {
        Some(why) if require => bail!("{REQUIRE_VAR}=1 but the eBPF toolchain is missing: {why}"),
        Some(why) => {
            println!("cargo:warning=eBPF toolchain missing ({why})");
            None
        }
        None => match build_ebpf(&ws, &out_dir) {
            Ok(obj) => Some(obj),
            Err(e) if require => return Err(e.context("building the eBPF object")),
            Err(e) => {
                println!("cargo:warning=eBPF build failed ({e:#})");
                None
            }
        },
    };

    if let Some(obj) = built {
        fs::copy(&obj, &embedded).with_context(|| format!("copy {}", obj.display()))?;
        if !prebuilt_fresh && update {
            refresh_prebuilt(&ws, &obj, &hash)?;
            println!("cargo:warning=rewrote {PREBUILT_OBJ} from the current sources: commit it");
        } else if !prebuilt_fresh {
            println!("cargo:rustc-cfg=bpfadvisor_ebpf_prebuilt_stale");
            println!(
                "cargo:warning={PREBUILT_OBJ} is stale: run {UPDATE_VAR}=1 cargo build -p agent \
                 and commit agent-ebpf/prebuilt/"
            );
        }
    } else if prebuilt_fresh {
        fs::copy(ws.join(PREBUILT_OBJ), &embedded).context("copy the prebuilt eBPF object")?;
    } else {
        println!(
            "cargo:warning=building without eBPF: the committed {PREBUILT_OBJ} does not match the \
             eBPF sources and no toolchain is available to rebuild it (run scripts/setup.sh)"
        );
        return Ok(());
    }
    println!("cargo:rustc-cfg=bpfadvisor_ebpf");
    Ok(())
}

/// Why the eBPF toolchain cannot be used, or `None` when it can.
fn toolchain_missing() -> Option<String> {
    match Command::new("bpf-linker").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Some(format!("bpf-linker --version failed: {}", o.status)),
        Err(e) => return Some(format!("bpf-linker not runnable: {e}")),
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let core = Path::new(&sysroot).join("lib/rustlib/src/rust/library/core");
    (!core.is_dir()).then(|| format!("rust-src not installed ({} missing)", core.display()))
}

/// Builds `agent-ebpf` for the BPF target on the current stable toolchain (`-Z build-std` through
/// `RUSTC_BOOTSTRAP`, as the toolchain's rust-src allows) and returns the object's path.
fn build_ebpf(ws: &Path, out_dir: &Path) -> Result<PathBuf> {
    let toolchain = env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".into());
    // SAFETY: build scripts are single-threaded at this point; the variable is read by the child
    // cargo that aya-build spawns.
    unsafe {
        env::set_var("RUSTC_BOOTSTRAP", "1");
        // aya-build forwards every line of the child's stderr as a cargo warning; keep only errors.
        env::set_var("CARGO_TERM_QUIET", "true");
    }
    let root = ws.join("agent-ebpf");
    let root = root.to_str().context("non-UTF-8 workspace path")?;
    let package = aya_build::Package {
        name: "agent-ebpf",
        root_dir: root,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))?;
    let obj = out_dir.join("agent-ebpf");
    if !obj.is_file() {
        bail!(
            "aya-build produced no {} (AYA_BUILD_SKIP set?)",
            obj.display()
        );
    }
    Ok(obj)
}

fn refresh_prebuilt(ws: &Path, obj: &Path, hash: &str) -> Result<()> {
    let dst = ws.join(PREBUILT_OBJ);
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    fs::copy(obj, &dst).with_context(|| format!("copy to {}", dst.display()))?;
    fs::write(ws.join(PREBUILT_HASH), format!("{hash}\n")).context("write the prebuilt hash")?;
    Ok(())
}

/// FNV-1a 64 over every source file's relative path and content, in path order. Only detects
/// staleness (not a security check), so a small stable hash without a dependency is enough.
fn source_hash(ws: &Path) -> Result<String> {
    let mut files: Vec<PathBuf> = SOURCE_FILES.iter().map(|f| ws.join(f)).collect();
    for d in SOURCE_DIRS {
        collect_files(&ws.join(d), &mut files)?;
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in files {
        let rel = f.strip_prefix(ws).unwrap_or(&f);
        feed(rel.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&fs::read(&f).with_context(|| format!("read {}", f.display()))?);
        feed(&[0]);
    }
    Ok(format!("fnv1a64:{h:016x}"))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("read dir {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
