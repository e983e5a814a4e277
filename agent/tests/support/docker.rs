//! Test helper for tests that need a real Docker daemon. Include it with
//! `#[path = "support/docker.rs"] mod docker;`.
//!
//! - [`Daemon::shared`]: the machine's daemon on the default socket, started (and left running, since
//!   concurrent tests share it) when it is not up.
//! - [`Daemon::private`]: a dockerd of this test's own (own socket, data and exec roots, no bridge),
//!   which the test may stop and restart; killed and removed on drop.
//! - [`Daemon::ensure_busybox`]: imports `local/busybox:1` from the host's static busybox (no registry).
//! - [`Daemon::run`]: `docker run -d ...`, returning a guard that removes the container on drop;
//!   [`Daemon::create`]: the same for `docker create ...` (start it with `docker start`).
//!
//! Every constructor returns `None` when a prerequisite is missing (not root, docker not installed,
//! dockerd does not come up): a skip line on a developer's machine, a failure in CI (see
//! `prereq.rs`).
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The image every test container runs: busybox applets only.
pub const BUSYBOX_IMAGE: &str = "local/busybox:1";
/// The Debian `docker.io` default socket.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

include!("prereq.rs");

fn skip(reason: &str) -> Option<Daemon> {
    missing_none(if is_root() { Need::Docker } else { Need::Root }, reason)
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A serialising lock across test processes (several test binaries may start the daemon or import the
/// image at once). Released when the file is dropped.
fn machine_lock(name: &str) -> Option<File> {
    let f = File::create(std::env::temp_dir().join(format!("bpfadvisor-test-{name}.lock"))).ok()?;
    f.lock().ok()?;
    Some(f)
}

/// A rootfs holding the host's static busybox and its applet links (what [`BUSYBOX_IMAGE`] is built
/// from); removed when the guard drops.
pub fn busybox_rootfs() -> Result<tempfile::TempDir, String> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("busybox-static is not installed")?;
    let root = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("mkdir {}: {e}", bin.display()))?;
    std::fs::copy(&busybox, bin.join("busybox")).map_err(|e| format!("copy busybox: {e}"))?;
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("busybox --list: {e}"))?;
    for applet in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        // Applets that collide are skipped; the image only needs the common ones.
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    Ok(root)
}

/// A Docker daemon the test can talk to.
pub struct Daemon {
    /// `unix://<socket>`, for `docker -H` and for the code under test.
    pub host: String,
    /// Set for a private daemon: the process and its state directory.
    private: Option<Private>,
}

struct Private {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// A bridge of its own: `--bridge none` would make dockerd delete the shared daemon's `docker0`.
    bridge: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Daemon {
    /// [`Self::shared`] with the busybox test image imported: what a test running a container needs
    /// (`None`, with the reason printed, when this machine cannot run Docker).
    pub fn shared_with_busybox() -> Option<Self> {
        let d = Self::shared()?;
        if let Err(e) = d.ensure_busybox() {
            panic!("importing the busybox test image: {e}");
        }
        Some(d)
    }

    /// The machine's daemon on the default socket; starts `dockerd` when it is not running.
    pub fn shared() -> Option<Self> {
        if !is_root() {
            return skip("docker tests need root");
        }
        if !have("dockerd") || !have("docker") {
            return skip("docker.io is not installed");
        }
        let d = Self {
            host: DEFAULT_HOST.to_string(),
            private: None,
        };
        if d.ping() {
            return Some(d);
        }
        let Some(_lock) = machine_lock("dockerd") else {
            return skip("cannot take the dockerd start lock");
        };
        if !d.ping() {
            let log_path = std::env::temp_dir().join("bpfadvisor-test-dockerd.log");
            let (log, err) = match File::create(&log_path).and_then(|l| Ok((l.try_clone()?, l))) {
                Ok(pair) => pair,
                Err(e) => return skip(&format!("cannot create {}: {e}", log_path.display())),
            };
            // Own process group, so the daemon outlives this test and other tests can share it.
            let spawned = Command::new("dockerd")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .process_group(0)
                .spawn();
            if let Err(e) = spawned {
                return skip(&format!("cannot start dockerd: {e}"));
            }
        }
        if !d.wait_until_up(Duration::from_secs(60)) {
            return skip("dockerd did not come up within 60s");
        }
        Some(d)
    }

    /// A dockerd only this test uses. `live_restore` keeps its containers running while it is stopped.
    pub fn private(live_restore: bool) -> Option<Self> {
        if !is_root() {
            return skip("docker tests need root");
        }
        if !have("dockerd") || !have("docker") {
            return skip("docker.io is not installed");
        }
        let dir = match tempfile::Builder::new().prefix("bpfa-dockerd").tempdir() {
            Ok(d) => d,
            Err(e) => return skip(&format!("cannot create a temp dir: {e}")),
        };
        let host = format!("unix://{}", dir.path().join("docker.sock").display());
        let pid = std::process::id();
        let bridge = format!("bpfa{:x}", pid & 0xff_ffff);
        let addr = format!("10.213.{}.1/24", pid % 250);
        if !(ip(&["link", "add", &bridge, "type", "bridge"])
            && ip(&["addr", "add", &addr, "dev", &bridge])
            && ip(&["link", "set", &bridge, "up"]))
        {
            ip(&["link", "del", &bridge]);
            return skip("cannot create a private bridge for dockerd");
        }
        let mut d = Self {
            host,
            private: Some(Private {
                child: None,
                dir,
                bridge,
            }),
        };
        if !d.start(live_restore) {
            return skip("private dockerd did not come up within 60s");
        }
        Some(d)
    }

    /// (Re)starts a private daemon and waits until it answers.
    pub fn start(&mut self, live_restore: bool) -> bool {
        let Some(p) = self.private.as_ref() else {
            return self.ping();
        };
        let (dir, bridge) = (p.dir.path().to_path_buf(), p.bridge.clone());
        let log = match File::options()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
        {
            Ok(f) => f,
            Err(_) => return false,
        };
        let Ok(err) = log.try_clone() else {
            return false;
        };
        let arg = |p: &str| dir.join(p).display().to_string();
        let mut cmd = Command::new("dockerd");
        cmd.args(["--host", &self.host])
            .args(["--data-root", &arg("data"), "--exec-root", &arg("exec")])
            .args(["--pidfile", &arg("docker.pid")])
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .args(["--shutdown-timeout", "2"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        if live_restore {
            cmd.arg("--live-restore");
        }
        match cmd.spawn() {
            Ok(child) => {
                if let Some(p) = self.private.as_mut() {
                    p.child = Some(child);
                }
            }
            Err(_) => return false,
        }
        self.wait_until_up(Duration::from_secs(60))
    }

    /// Stops a private daemon (SIGTERM, then SIGKILL after 20 s) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(child) = self.private.as_mut().and_then(|p| p.child.take()) else {
            return;
        };
        stop_child(child);
    }

    /// Kills a private daemon with SIGKILL (no shutdown of its own) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.private.as_mut().and_then(|p| p.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Answers `docker version`.
    pub fn ping(&self) -> bool {
        self.docker(&["version", "--format", "{{.Server.Version}}"])
            .is_ok()
    }

    fn wait_until_up(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Runs `docker -H <host> args...`, returning trimmed stdout or stderr as the error.
    pub fn docker(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("docker")
            .args(["-H", &self.host])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("docker {args:?}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "docker {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Imports [`BUSYBOX_IMAGE`] (a rootfs of the host's static busybox and its applet links) unless the
    /// daemon has it.
    pub fn ensure_busybox(&self) -> Result<(), String> {
        if self.docker(&["image", "inspect", BUSYBOX_IMAGE]).is_ok() {
            return Ok(());
        }
        let _lock = machine_lock("busybox-import");
        if self.docker(&["image", "inspect", BUSYBOX_IMAGE]).is_ok() {
            return Ok(());
        }
        let root = busybox_rootfs()?;
        let tar = Command::new("tar")
            .args(["-C"])
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        let tar_out = tar.stdout.ok_or("tar: no stdout")?;
        let out = Command::new("docker")
            .args(["-H", &self.host, "import", "-", BUSYBOX_IMAGE])
            .stdin(tar_out)
            .output()
            .map_err(|e| format!("docker import: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "docker import: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// `docker run -d <args...>` (args include the image and command); the container is removed when
    /// the guard drops.
    pub fn run(&self, args: &[&str]) -> Result<Container, String> {
        self.new_container(&["run", "-d"], args)
    }

    /// `docker create <args...>`; the container is removed when the guard drops.
    pub fn create(&self, args: &[&str]) -> Result<Container, String> {
        self.new_container(&["create"], args)
    }

    fn new_container(&self, verb: &[&str], args: &[&str]) -> Result<Container, String> {
        let mut all = verb.to_vec();
        all.extend_from_slice(args);
        let id = self.docker(&all);
        let returned = Instant::now();
        let given = args
            .iter()
            .position(|a| *a == "--name")
            .and_then(|i| args.get(i + 1));
        let id = id.inspect_err(|_| {
            // A failed start leaves the created container behind.
            if let Some(name) = given {
                let _ = self.docker(&["rm", "-f", name]);
            }
        })?;
        // Asked only when not given, so a test can query the agent right after the command.
        let name = match given {
            Some(n) => n.to_string(),
            None => self.docker(&["inspect", "--format", "{{.Name}}", &id])?,
        };
        Ok(Container {
            id,
            name: name.trim_start_matches('/').to_string(),
            returned,
            host: self.host.clone(),
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(p) = self.private.as_mut() else {
            return;
        };
        // With live-restore the containers outlive the daemon: remove them while it still answers.
        if p.child.is_some()
            && let Ok(ids) = Command::new("docker")
                .args(["-H", &self.host, "ps", "-aq"])
                .output()
        {
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = Command::new("docker")
                    .args(["-H", &self.host, "rm", "-f", id])
                    .output();
            }
        }
        if let Some(child) = p.child.take() {
            stop_child(child);
        }
        reap_shims(p.dir.path());
        ip(&["link", "del", &p.bridge]);
        // dockerd bind-mounts its data root onto itself (once per start) and leaves it mounted.
        let data = p.dir.path().join("data");
        for _ in 0..8 {
            let ok = Command::new("umount").arg("-l").arg(&data).output();
            if !ok.is_ok_and(|o| o.status.success()) {
                break;
            }
        }
    }
}

/// After a daemon was killed (or failed with live-restore containers), its containers still run
/// under their shims: SIGKILL the shims started for `dir`'s daemon and everything in their
/// containers' cgroups, then remove those cgroups and the network namespaces it left mounted.
fn reap_shims(dir: &std::path::Path) {
    let host = bpfadvisor::host::HostPaths::under("/");
    let marker = dir.display().to_string();
    let Ok(procs) = std::fs::read_dir(&host.proc) else {
        return;
    };
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
            continue;
        };
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.first().is_some_and(|a| a.contains("containerd-shim"))
            || !args.iter().any(|a| a.contains(&marker))
        {
            continue;
        }
        // SAFETY: kill(2) of a shim this test's daemon started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let Some(id) = args
            .iter()
            .position(|a| a == "-id")
            .and_then(|i| args.get(i + 1))
        else {
            continue;
        };
        let Ok(hierarchies) = std::fs::read_dir(&host.cgroup) else {
            continue;
        };
        let dirs: Vec<PathBuf> = hierarchies
            .flatten()
            .map(|h| h.path().join("docker").join(id))
            .filter(|d| d.is_dir())
            .collect();
        for d in &dirs {
            let members = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for m in members.lines().filter_map(|l| l.trim().parse().ok()) {
                // SAFETY: kill(2) of a process inside the test daemon's container.
                unsafe { libc::kill(m, libc::SIGKILL) };
            }
        }
        for d in &dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    if let Ok(ns) = std::fs::read_dir(dir.join("exec").join("netns")) {
        for n in ns.flatten() {
            let _ = Command::new("umount").arg(n.path()).output();
        }
    }
}

fn stop_child(mut child: Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling a child process this helper spawned and has not yet reaped.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A container removed (`docker rm -f`) on drop.
pub struct Container {
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// When the `docker` command that made it returned.
    pub returned: Instant,
    host: String,
}

impl Container {
    /// The cgroup container name under the cgroupfs driver.
    pub fn cgroup_name(&self) -> String {
        format!("/docker/{}", self.id)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &self.host, "rm", "-f", &self.id])
            .output();
    }
}
