//! Runtime metadata from a real containerd: a Kubernetes-style container in namespace `k8s.io`, run with
//! `ctr` against a containerd of this test's own (own socket, root and state directories).

#[path = "support/docker.rs"]
mod docker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bpfadvisor::host::HostPaths;
use bpfadvisor::runtime::env::EnvWhitelist;
use bpfadvisor::runtime::{self, RuntimeConfig, RuntimeKind};
use docker::{BUSYBOX_IMAGE, Daemon};
use tokio::sync::mpsc;

const NS: &str = "k8s.io";

/// A private containerd; its containers are removed and the daemon stopped on drop.
struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    containers: Vec<String>,
}

impl Containerd {
    fn start() -> Option<Self> {
        let ok = |c: &str| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !ok("containerd") || !ok("ctr") {
            docker::missing(docker::Need::Docker, "containerd/ctr are not installed");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bpfa-ctrd")
            .tempdir()
            .ok()?;
        let config = dir.path().join("config.toml");
        // Only what `ctr run` needs; the CRI plugin would try to manage networking.
        std::fs::write(
            &config,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .ok()?;
        let log = std::fs::File::create(dir.path().join("containerd.log")).ok()?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .arg("--address")
            .arg(dir.path().join("c.sock"))
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let c = Self {
            dir,
            child: Some(child),
            containers: Vec::new(),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if c.ctr(&["version"]).is_ok() {
                return Some(c);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        docker::missing(docker::Need::Docker, "private containerd did not come up");
        None
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", NS])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ctr {args:?}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "ctr {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn import(&self, tar: &Path) -> Result<String, String> {
        let t = tar.display().to_string();
        self.ctr(&["images", "import", &t])?;
        let list = self.ctr(&["images", "ls", "-q"])?;
        list.lines()
            .find(|l| l.contains("local/busybox"))
            .map(str::to_string)
            .ok_or_else(|| format!("imported image not listed: {list}"))
    }

    fn run(&mut self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        self.ctr(&all)?;
        // The id is the last argument before the command: the caller passes it as args[len - 3].
        if let Some(id) = args.iter().rev().nth(2) {
            self.containers.push(id.to_string());
        }
        Ok(())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.containers) {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", &id]);
            for _ in 0..50 {
                if self.ctr(&["task", "delete", &id]).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.ctr(&["container", "delete", &id]);
        }
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling the containerd child this test spawned and has not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // containerd leaves the empty /k8s.io parent cgroup in every hierarchy; rmdir only removes
        // it when empty, so cgroups still in use elsewhere stay.
        if let Ok(hierarchies) = std::fs::read_dir(HostPaths::local().cgroup) {
            for h in hierarchies.flatten() {
                let _ = std::fs::remove_dir(h.path().join(NS));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_container_in_k8s_io_namespace() {
    // The image comes from Docker (`docker save` of the imported busybox).
    let Some(d) = Daemon::shared() else { return };
    d.ensure_busybox().expect("busybox image");
    let Some(mut c) = Containerd::start() else {
        return;
    };
    let tar = c.dir.path().join("busybox.tar");
    d.docker(&["save", "-o", &tar.display().to_string(), BUSYBOX_IMAGE])
        .expect("docker save");
    let image = c.import(&tar).expect("ctr import");

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = format!("{:08x}{nanos:08x}", std::process::id());
    let id: String = seed.chars().cycle().take(64).collect();
    c.run(&[
        "--label",
        "io.kubernetes.pod.name=web-0",
        "--label",
        "io.kubernetes.pod.namespace=prod",
        "--label",
        "io.kubernetes.container.name=app",
        "--env",
        "APP_MODE=test",
        "--env",
        "SECRET=hidden",
        &image,
        &id,
        "sleep",
        "300",
    ])
    .expect("ctr run");

    // `ctr run` puts the task in cgroup /<namespace>/<id>.
    let name = format!("/{NS}/{id}");
    let host = HostPaths::local();
    let exists = ["memory", "cpu", "unified", ""].iter().any(|h| {
        host.cgroup
            .join(h)
            .join(name.trim_start_matches('/'))
            .is_dir()
    });
    assert!(exists, "cgroup {name} exists");

    let cfg = RuntimeConfig {
        docker_endpoint: d.host.clone(),
        podman_endpoint: String::new(),
        containerd_endpoint: c.socket().display().to_string(),
        containerd_namespace: NS.into(),
        crio_endpoint: String::new(),
        crio_timeout: None,
        env_whitelist: EnvWhitelist::unified(vec!["APP_".into()]),
        request_timeout: Duration::from_secs(5),
        max_backoff: Duration::from_millis(500),
    };
    let (tx, mut rx) = mpsc::channel(16);
    let h = runtime::start(cfg, tx);
    h.request(&name);
    let update = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("an update within 15s")
        .expect("channel open");
    // Docker does not know the id and stays silent; containerd answers.
    assert_eq!(update.name, name);
    let meta = update.meta.expect("containerd knows the container");
    assert_eq!(meta.runtime, RuntimeKind::Containerd);
    assert_eq!(meta.aliases, vec![id.clone(), name.clone()]);
    assert_eq!(meta.namespace, "containerd");
    assert_eq!(meta.image, image);
    assert_eq!(meta.envs.len(), 1, "{:?}", meta.envs);
    // Keys as written: cAdvisor lower-cases Docker's and Podman's, not containerd's.
    assert_eq!(meta.envs.get("APP_MODE").map(String::as_str), Some("test"));
    let k = meta.kubernetes().expect("kubernetes labels");
    assert_eq!((k.container, k.pod, k.namespace), ("app", "web-0", "prod"));
    assert_eq!(h.lookup(&name).as_deref(), Some(&*meta));
    let st = h.status();
    let st = st.get(RuntimeKind::Containerd).expect("registered");
    assert!(st.connected && !st.version.is_empty(), "{st:?}");
}
