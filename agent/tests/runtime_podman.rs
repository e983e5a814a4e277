//! End-to-end, as root with Podman (Debian 12's podman 4.3.1): a container run through a private
//! `podman system service` (own socket, storage and run dirs) with `--name`, `--label` and `-e` shows
//! aliases `[name, id]`, namespace `podman`, labels, the whitelisted env and the image through
//! `/api/v1.3/containers/<cgroup>`, the v2 `type=podman` lookups and `/metrics`.
//!
//! Where the container lands depends on podman's cgroup manager: without systemd as PID 1 (this
//! machine) it is cgroupfs, and the container's cgroup is `/libpod_parent/libpod-<id>` (conmon sits in
//! `/libpod_parent/conmon`); under systemd it would be `/machine.slice/libpod-<id>.scope`. The test
//! asks podman for the container's pid and reads the real cgroup from procfs.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent::Agent;
use bpfadvisor::host::HostPaths;
use serde_json::{Value, json};

/// What `podman import` names the image, and what the libpod API reports for it.
const IMAGE: &str = "localhost/local/busybox:1";

/// A `podman system service` of this test's own; the service is stopped, its containers removed,
/// and its storage unmounted and deleted on drop.
struct Service {
    dir: tempfile::TempDir,
    child: Option<Child>,
    url: String,
}

impl Service {
    fn start() -> Option<Self> {
        let ok = Command::new("podman")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            agent::missing(agent::Need::Tool, "podman is not installed");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bpfa-podman")
            .tempdir()
            .unwrap();
        let url = format!("unix://{}", dir.path().join("podman.sock").display());
        let log = File::create(dir.path().join("service.log")).unwrap();
        let child = Command::new("podman")
            .args(Self::store_flags(dir.path()))
            .args(["system", "service", "--time", "0", &url])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Self {
            dir,
            child: Some(child),
            url,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.podman(&["version"]).is_err() {
            assert!(Instant::now() < deadline, "podman service did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(s)
    }

    /// Storage, run and tmp dirs inside `dir`, so nothing touches the machine's own podman state.
    fn store_flags(dir: &Path) -> Vec<String> {
        let sub = |name: &str| dir.join(name).display().to_string();
        vec![
            format!("--root={}", sub("root")),
            format!("--runroot={}", sub("run")),
            format!("--tmpdir={}", sub("tmp")),
        ]
    }

    /// `podman --url <service> args...`: trimmed stdout, or stderr as the error.
    fn podman(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("podman")
            .args(["--url", &self.url])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("podman {args:?}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "podman {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// `podman import` of a busybox rootfs tarball.
    fn import_busybox(&self) -> Result<(), String> {
        let root = docker::busybox_rootfs()?;
        let tar = Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        let out = Command::new("podman")
            .args(["--url", &self.url, "import", "-", "local/busybox:1"])
            .stdin(tar.stdout.ok_or("tar: no stdout")?)
            .output()
            .map_err(|e| format!("podman import: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "-af", "-t", "0"]);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The overlay driver bind-mounts its own directory.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path().join("root").join("overlay"))
            .output();
    }
}

/// The v1 memory-hierarchy cgroup of `pid`, which is the container's name as the agent reports it.
fn memory_cgroup(host: &HostPaths, pid: &str) -> String {
    let text = std::fs::read_to_string(host.proc.join(pid).join("cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (ctrl, path) = rest.split_once(':')?;
            ctrl.split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no memory cgroup in {text}"))
}

fn check_spec(spec: &Value) {
    assert_eq!(spec["labels"]["com.example.e2e"], "podman", "{spec}");
    assert_eq!(spec["envs"], json!({"bpfa_e2e": "hello"}), "{spec}");
    assert_eq!(spec["image"], IMAGE, "{spec}");
}

#[test]
fn podman_container_has_metadata_and_type_podman_lookups() {
    if !agent::require_root() {
        return;
    }
    let Some(svc) = Service::start() else {
        return;
    };
    svc.import_busybox().unwrap();
    let cname = format!("bpfa-e2e-podman-{}", std::process::id());
    // Podman raises RLIMIT_NOFILE/NPROC by default; a container without CAP_SYS_RESOURCE above our
    // own hard limits fails to start, so ask for limits any host grants.
    let id = svc
        .podman(&[
            "run",
            "-d",
            "--network=none",
            "--ulimit=nofile=1024:1024",
            "--ulimit=nproc=1024:1024",
            "--name",
            &cname,
            "--label",
            "com.example.e2e=podman",
            "-e",
            "BPFA_E2E=hello",
            "-e",
            "OTHER_VAR=hidden",
            "local/busybox:1",
            "sleep",
            "600",
        ])
        .unwrap();
    let pid = svc
        .podman(&["inspect", "-f", "{{.State.Pid}}", &id])
        .unwrap();
    let full = memory_cgroup(&HostPaths::local(), &pid);
    assert!(
        full.ends_with(&format!("libpod-{id}")) || full.ends_with(&format!("libpod-{id}.scope"))
    );

    let podman_flag = format!("--podman={}", svc.url);
    let Some(agent) = Agent::launch(&[
        &podman_flag,
        "--allow_dynamic_housekeeping=false",
        "--env_metadata_whitelist=BPFA_",
    ]) else {
        return;
    };

    let by_cgroup = format!("/api/v1.3/containers{full}");
    let info = agent
        .wait_json(&by_cgroup, Duration::from_secs(15), |v| {
            v["namespace"] == "podman" && v["stats"].as_array().is_some_and(|s| s.len() >= 2)
        })
        .unwrap();
    assert_eq!(info["name"], full.as_str(), "{info}");
    assert_eq!(info["id"], id.as_str(), "{info}");
    assert_eq!(info["aliases"], json!([cname, id]), "{info}");
    assert_eq!(info["namespace"], "podman", "{info}");
    check_spec(&info["spec"]);

    // v2 lookups with type=podman: by full id, by name, by unique id prefix.
    for key in [id.as_str(), cname.as_str(), &id[..12]] {
        let spec = agent
            .get_json(&format!("/api/v2.0/spec/{key}?type=podman"))
            .unwrap();
        let obj = spec.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), vec![&full], "{spec}");
        let s = &spec[&full];
        assert_eq!(s["aliases"], json!([cname, id]), "{spec}");
        assert_eq!(s["namespace"], "podman", "{spec}");
        check_spec(s);
    }
    let stats = agent
        .get_json(&format!("/api/v2.0/stats/{cname}?type=podman&count=2"))
        .unwrap();
    let samples = stats[&full].as_array().unwrap();
    assert_eq!(samples.len(), 2, "{stats}");
    assert!(
        samples[1]["memory"]["usage"].as_u64().unwrap() > 0,
        "{stats}"
    );
    // `/` with recursive=true lists every podman container.
    let all = agent
        .get_json("/api/v2.0/spec/?type=podman&recursive=true")
        .unwrap();
    assert!(all.get(&full).is_some(), "{all}");
    // A podman container is not a docker one.
    assert_eq!(
        agent.get(&format!("/api/v2.0/spec/{id}?type=docker")).0,
        500
    );

    // /metrics: the runtime name, image and label on the container's series.
    let (status, metrics) = agent.get("/metrics");
    assert_eq!(status, 200);
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("container_memory_usage_bytes{") && l.contains(&format!("id=\"{full}\""))
        })
        .unwrap_or_else(|| panic!("no memory series for {full}"));
    assert!(line.contains(&format!("name=\"{cname}\"")), "{line}");
    assert!(line.contains(&format!("image=\"{IMAGE}\"")), "{line}");
    assert!(
        line.contains("container_label_com_example_e2e=\"podman\""),
        "{line}"
    );
    assert!(line.contains("container_env_bpfa_e2e=\"hello\""), "{line}");

    // libpod's event stream is followed like Docker's: a rename shows up.
    let renamed = format!("{cname}-renamed");
    svc.podman(&["rename", &cname, &renamed]).unwrap();
    let v = agent
        .wait_json(&by_cgroup, Duration::from_secs(10), |v| {
            v["aliases"] == json!([renamed, id])
        })
        .unwrap();
    assert_eq!(v["aliases"], json!([renamed, id]), "{v}");
    let log = agent.log();
    assert!(
        log.lines()
            .any(|l| l.contains("Podman") && l.contains("connected")),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("Podman") && l.contains("unavailable")),
        "{log}"
    );
    agent.assert_healthy();
}
