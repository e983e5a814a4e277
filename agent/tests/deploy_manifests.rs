//! The Kubernetes manifests in `deploy/kubernetes/` validate against the Kubernetes API schemas of a
//! current release (strict: no unknown fields) with `kubernetes-validate` (PyPI), which
//! `scripts/setup.sh` installs in a virtualenv of its own; every kustomization names files that
//! exist; the DaemonSet asks for the measured capability set, not `privileged`.
//!
//! Without the validator the test prints `skipping test - …`; in CI (`.ci/run`) that is a failure.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/prereq.rs"]
mod prereq;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Kubernetes releases validated against: the validator's newest and the oldest still supported
/// upstream when this was written.
const VERSIONS: [&str; 2] = ["1.37.0", "1.33.0"];

/// Kinds from CRDs (the Prometheus Operator's): the validator has no schema for them.
const CRD_KINDS: [&str; 2] = ["ServiceMonitor", "PodMonitor"];

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    out.sort();
}

/// Where `scripts/setup.sh` installs the validator, else `PATH`.
fn validator() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let venv = cache.join("bpfadvisor/kubernetes-validate/bin/kubernetes-validate");
    let on_path = PathBuf::from("kubernetes-validate");
    [venv, on_path].into_iter().find(|v| {
        Command::new(v)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The `resources:` entries of a kustomization (a block list of plain paths).
fn kustomization_resources(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('-') {
            inside = line.trim_end() == "resources:";
            continue;
        }
        if inside && let Some(item) = line.trim().strip_prefix("- ") {
            out.push(item.trim().to_string());
        }
    }
    out
}

#[test]
fn kustomizations_name_existing_resources() {
    let mut files = Vec::new();
    yaml_files(&manifests_dir(), &mut files);
    let kustomizations: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.ends_with("kustomization.yaml"))
        .collect();
    assert!(kustomizations.len() >= 3, "{kustomizations:?}");
    for k in kustomizations {
        let text = std::fs::read_to_string(k).unwrap();
        let resources = kustomization_resources(&text);
        assert!(!resources.is_empty(), "{}", k.display());
        for r in resources {
            let p = k.parent().unwrap().join(&r);
            assert!(
                p.is_file() || p.join("kustomization.yaml").is_file(),
                "{} names {r}, which is neither a file nor a kustomization",
                k.display()
            );
        }
    }
}

#[test]
fn daemonset_asks_for_the_measured_privileges_only() {
    let ds = std::fs::read_to_string(manifests_dir().join("base/daemonset.yaml")).unwrap();
    for wanted in [
        "privileged: false",
        "readOnlyRootFilesystem: true",
        "hostPID: true",
        "drop: [\"ALL\"]",
        "add: [\"BPF\", \"PERFMON\", \"SYS_PTRACE\", \"DAC_READ_SEARCH\"]",
        "priorityClassName: system-node-critical",
        "path: /healthz",
        "type: RollingUpdate",
        "- operator: Exists",
        "prometheus.io/scrape: \"true\"",
    ] {
        assert!(ds.contains(wanted), "daemonset.yaml lacks {wanted:?}");
    }
    assert!(
        !ds.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.contains("privileged: true"))
    );
}

#[test]
fn manifests_validate_against_the_kubernetes_api_schemas() {
    let Some(validator) = validator() else {
        return prereq::missing(
            prereq::Need::Tool,
            "kubernetes-validate is not installed (scripts/setup.sh installs it)",
        );
    };
    let mut files = Vec::new();
    yaml_files(&manifests_dir(), &mut files);
    files.retain(|f| !f.ends_with("kustomization.yaml"));
    assert!(files.len() >= 7, "{files:?}");
    for version in VERSIONS {
        let out = Command::new(&validator)
            .args(["--strict", "--kubernetes-version", version])
            .args(&files)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "Kubernetes {version}:\n{text}");
        let passed = text.lines().filter(|l| l.contains(" passed for ")).count();
        let crd_warnings = text
            .lines()
            .filter(|l| {
                l.starts_with("WARN") && CRD_KINDS.iter().any(|k| l.contains(&format!("kind {k} ")))
            })
            .count();
        assert_eq!(
            passed + crd_warnings,
            files.len(),
            "Kubernetes {version}: every file passes or is a Prometheus Operator kind:\n{text}"
        );
        assert!(passed >= 5, "{text}");
    }
}
