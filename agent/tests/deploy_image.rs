//! End-to-end, as root with Docker: the container image, built as `cargo xtask image` builds it (from
//! this test's agent binary), run the README's way (`-v /:/rootfs:ro` and the other mounts,
//! `--pid=host --cgroupns=host --read-only`, the documented capability set) agrees with the agent on the host: the same
//! containers, machine info and (within tolerance) stats, eBPF live, and a Docker container's OOM
//! kill attributed to it. Below the set (only `CAP_DAC_READ_SEARCH`, a cgroup namespace of its own)
//! it still serves, on the inotify fallback, with the missing capabilities and namespace named in
//! its log and on `/validate/`, and attributes the OOM kill from the memory cgroup counters.
//!
//! The image and every container are removed at the end.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;
#[path = "../../xtask/src/image.rs"]
#[allow(dead_code, reason = "the test needs only the build")]
mod image;

use std::collections::BTreeSet;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use agent::Agent;
use docker::{BUSYBOX_IMAGE, Daemon};
use serde_json::Value;

/// The README's mounts (cAdvisor's `docker run` line).
const MOUNTS: [&str; 5] = [
    "/:/rootfs:ro",
    "/var/run:/var/run:ro",
    "/sys:/sys:ro",
    "/var/lib/docker/:/var/lib/docker:ro",
    "/dev/disk/:/dev/disk:ro",
];

/// The documented capability set for engines that know `CAP_BPF` and `CAP_PERFMON`.
const CAPS: [&str; 4] = ["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"];
/// The same for engines that do not (Docker 20.10): `CAP_SYS_ADMIN` covers both for the kernel
/// and for Docker's default seccomp profile.
const CAPS_OLD_ENGINE: [&str; 3] = ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];
/// Below the set: no eBPF, no other processes' namespaces.
const CAPS_BELOW: [&str; 1] = ["DAC_READ_SEARCH"];

/// Allocates 100M against a 32M limit; the shell survives, so the container stays.
const VICTIM: &str = "dd if=/dev/zero of=/dev/null bs=100M count=1; exec sleep 600";

/// Removes the image on drop.
struct Image<'a> {
    daemon: &'a Daemon,
    tag: String,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = self.daemon.docker(&["rmi", "-f", &self.tag]);
    }
}

/// A containerised agent: its container (removed on drop) and its HTTP base URL.
struct Containerised {
    container: docker::Container,
    daemon_host: String,
    base: String,
    http: ureq::Agent,
}

impl Containerised {
    /// `docker run` as the README says, with `caps` and the cgroup namespace `cgroupns`.
    fn start(
        daemon: &Daemon,
        image: &str,
        name: &str,
        caps: &[&str],
        cgroupns: &str,
    ) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let publish = format!("127.0.0.1:{port}:8080");
        let cgroupns = format!("--cgroupns={cgroupns}");
        let mut args = vec![
            "--name",
            name,
            "--pid=host",
            &cgroupns,
            "--read-only",
            "--publish",
            &publish,
        ];
        for m in MOUNTS {
            args.extend(["--volume", m]);
        }
        args.extend(["--cap-drop=ALL"]);
        let adds: Vec<String> = caps.iter().map(|c| format!("--cap-add={c}")).collect();
        args.extend(adds.iter().map(String::as_str));
        // The flags tests use for a steady sample cadence; the rest is the image's defaults.
        args.extend([image, "--allow_dynamic_housekeeping=false"]);
        let container = daemon.run(&args)?;
        let c = Self {
            container,
            daemon_host: daemon.host.clone(),
            base: format!("http://127.0.0.1:{port}"),
            http: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(2))
                .timeout_read(Duration::from_secs(30))
                .build(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if c.get("/healthz").0 == 200 {
                return Ok(c);
            }
            sleep(Duration::from_millis(200));
        }
        Err(format!("no /healthz within 30 s; log:\n{}", c.log()))
    }

    fn get(&self, path: &str) -> (u16, String) {
        match self.http.get(&format!("{}{path}", self.base)).call() {
            Ok(r) => (r.status(), agent::body_text(r)),
            Err(ureq::Error::Status(code, r)) => (code, agent::body_text(r)),
            Err(e) => (0, e.to_string()),
        }
    }

    fn get_json(&self, path: &str) -> Result<Value, String> {
        match self.get(path) {
            (200, body) => serde_json::from_str(&body).map_err(|e| format!("{path}: {e}")),
            (status, body) => Err(format!("GET {path}: {status} {body}")),
        }
    }

    fn log(&self) -> String {
        std::process::Command::new("docker")
            .args(["-H", &self.daemon_host, "logs", &self.container.id])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default()
    }

    /// Opens the events stream; events arrive on a thread.
    fn events(&self, query: &str) -> std::sync::mpsc::Receiver<Value> {
        use std::io::BufRead;
        let url = format!(
            "{}/api/v1.3/events/docker?stream=true&subcontainers=true&{query}",
            self.base
        );
        let resp = ureq::get(&url).call().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(resp.into_reader()).lines() {
                let Ok(v) = line.map(|l| serde_json::from_str::<Value>(&l)) else {
                    break;
                };
                if tx.send(v.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        rx
    }
}

/// Container names, read from the host agent twice around one read of the containerised one;
/// names that came or went between the host's reads (other tests' cgroups) are left out.
fn stable_names(host: &Agent, cont: &Containerised) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = |v: Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect()
    };
    let before = names(host.get_json("/api/v1.3/subcontainers/").unwrap());
    let inside = names(cont.get_json("/api/v1.3/subcontainers/").unwrap());
    let after = names(host.get_json("/api/v1.3/subcontainers/").unwrap());
    let stable: BTreeSet<String> = before.intersection(&after).cloned().collect();
    let churn: BTreeSet<String> = before.symmetric_difference(&after).cloned().collect();
    (stable, inside.difference(&churn).cloned().collect())
}

/// Whether `a` and `b` are within `rel` of each other (or `abs` apart).
fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs.max(rel * a.abs().max(b.abs()))
}

fn last_stat(info: &Value) -> &Value {
    info["stats"].as_array().and_then(|s| s.last()).unwrap()
}

/// The first `oomKill` event of `name` within 30 s.
fn oom_kill(rx: &std::sync::mpsc::Receiver<Value>, name: &str) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) if ev["container_name"] == name && ev["event_type"] == "oomKill" => {
                return Some(ev);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

fn run_victim(daemon: &Daemon, name: &str) -> docker::Container {
    daemon
        .run(&[
            "--name",
            name,
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            BUSYBOX_IMAGE,
            "sh",
            "-c",
            VICTIM,
        ])
        .unwrap()
}

#[test]
fn containerised_agent_matches_the_host_agent_and_names_missing_capabilities() {
    if !agent::require_root() {
        return;
    }
    let Some(daemon) = Daemon::shared_with_busybox() else {
        return;
    };
    let t0 = Instant::now();
    let pid = std::process::id();

    // The image, from this test's binary, exactly as `cargo xtask image` builds it.
    let context = tempfile::tempdir().unwrap();
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile");
    let tag = format!("bpfadvisor-e2e:{pid}");
    let built = image::build(&image::ImageSpec {
        binary: Path::new(agent::BIN),
        dockerfile: &dockerfile,
        context: &context.path().join("image"),
        tag: &tag,
    });
    let _image = Image {
        daemon: &daemon,
        tag: tag.clone(),
    };
    let size = built.unwrap();
    eprintln!("image {tag}: {:.1} MB", size as f64 / 1e6);

    // A workload with a network namespace of its own and 4 MiB in a directory only uid 1000 may
    // list (what CAP_DAC_READ_SEARCH is for).
    let workload = daemon
        .run(&[
            "--name",
            &format!("bpfa-e2e-deploy-work-{pid}"),
            BUSYBOX_IMAGE,
            "sh",
            "-c",
            "mkdir -p /home/u/private && dd if=/dev/zero of=/home/u/private/blob bs=1M count=4 \
             && chown -R 1000:1000 /home/u && chmod 700 /home/u/private && exec sleep 600",
        ])
        .unwrap();
    let work = workload.cgroup_name();

    let Some(host) = Agent::start_with_source("ebpf", &["--allow_dynamic_housekeeping=false"])
    else {
        return;
    };
    let name = format!("bpfa-e2e-deploy-{pid}");
    let cont = match Containerised::start(&daemon, &tag, &name, &CAPS, "host") {
        Ok(c) => c,
        Err(e) if e.contains("unknown capability") => {
            eprintln!("this Docker does not know CAP_BPF/CAP_PERFMON: using CAP_SYS_ADMIN");
            let _ = daemon.docker(&["rm", "-f", &name]);
            Containerised::start(&daemon, &tag, &name, &CAPS_OLD_ENGINE, "host").unwrap()
        }
        Err(e) => panic!("{e}"),
    };

    // eBPF live, nothing missing, the host's root detected.
    let (_, validate) = cont.get("/validate/");
    assert!(
        validate.contains("Event source: ebpf"),
        "{validate}\n{}",
        cont.log()
    );
    assert!(
        validate.contains("Privileges: [Supported and recommended]\n\tHost root: /rootfs\n"),
        "{validate}"
    );

    // The same machine.
    let mut host_machine = host.get_json("/api/v1.3/machine").unwrap();
    let mut cont_machine = cont.get_json("/api/v1.3/machine").unwrap();
    for m in [&mut host_machine, &mut cont_machine] {
        m["timestamp"] = Value::Null;
        // Interfaces other tests' containers and private daemons come and go with (Docker's
        // veths, their bridges) may differ between the two agents' starts.
        if let Some(devs) = m["network_devices"].as_array_mut() {
            devs.retain(|d| {
                let name = d["name"].as_str().unwrap_or_default();
                !(name.starts_with("veth") || name.starts_with("bpfa"))
            });
        }
    }
    assert_eq!(cont_machine, host_machine);

    // The same containers (up to other tests' churn): the workload and the agent's own included.
    let own = cont.container.cgroup_name();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (host_names, cont_names) = stable_names(&host, &cont);
        let agree =
            host_names == cont_names && host_names.contains(&work) && host_names.contains(&own);
        if agree {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host only: {:?}\ncontainer only: {:?}",
            host_names.difference(&cont_names).collect::<Vec<_>>(),
            cont_names.difference(&host_names).collect::<Vec<_>>()
        );
        sleep(Duration::from_millis(500));
    }

    // The same stats within tolerance, once both have walked the workload's files.
    let path = format!("/api/v1.3/containers{work}");
    let fs_usage = |info: &Value| last_stat(info)["filesystem"][0]["usage"].as_f64();
    let walked = |a: &Agent| {
        a.wait_json(&path, Duration::from_secs(20), |v| {
            fs_usage(v).is_some_and(|u| u > 4e6)
        })
    };
    let h = walked(&host).unwrap();
    let c = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let c = cont.get_json(&path).unwrap();
            if fs_usage(&c).is_some_and(|u| u > 4e6) || Instant::now() > deadline {
                break c;
            }
            sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(c["spec"]["has_network"], true, "{}", c["spec"]);
    assert_eq!(c["spec"]["has_network"], h["spec"]["has_network"]);
    assert_eq!(c["spec"]["memory"], h["spec"]["memory"]);
    assert_eq!(c["spec"]["image"], h["spec"]["image"]);
    assert_eq!(c["aliases"], h["aliases"]);
    let (hs, cs) = (last_stat(&h), last_stat(&c));
    let num = |s: &Value, p: &str| s.pointer(p).and_then(Value::as_f64).unwrap_or(-1.0);
    for (p, rel, abs) in [
        ("/memory/usage", 0.1, 1e6),
        ("/memory/working_set", 0.1, 1e6),
        ("/cpu/usage/total", 0.1, 5e7),
        ("/network/rx_bytes", 0.1, 4096.0),
        ("/filesystem/0/usage", 0.05, 1e5),
    ] {
        let (a, b) = (num(hs, p), num(cs, p));
        assert!(
            a >= 0.0 && close(a, b, rel, abs),
            "{p}: host {a}, container {b}"
        );
    }

    // Processes matched to the workload by their cgroup.
    let ps = cont.get_json(&format!("/api/v2.0/ps{work}")).unwrap();
    assert_eq!(ps[0]["cmd"], "sleep", "{ps}");

    // An OOM kill in another container, attributed by the eBPF probe.
    let events = cont.events("oom_kill_events=true");
    let victim = run_victim(&daemon, &format!("bpfa-e2e-deploy-oom-{pid}"));
    let ev = oom_kill(&events, &victim.cgroup_name())
        .unwrap_or_else(|| panic!("no oomKill event\n{}", cont.log()));
    assert_eq!(ev["event_data"]["oom"]["process_name"], "dd", "{ev}");
    drop(victim);
    drop(cont);

    // Below the set, in a cgroup namespace of its own: serving on the fallback, every missing
    // capability and namespace named.
    let below = Containerised::start(
        &daemon,
        &tag,
        &format!("bpfa-e2e-deploy-below-{pid}"),
        &CAPS_BELOW,
        "private",
    )
    .unwrap();
    let (_, validate) = below.get("/validate/");
    assert!(validate.contains("Event source: inotify"), "{validate}");
    for missing in [
        "Missing CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): needed for loading the eBPF probes",
        "Missing CAP_SYS_PTRACE: needed for reading /proc/<pid>/ns/net",
        "Missing the host's cgroup namespace (docker run --cgroupns=host)",
    ] {
        assert!(validate.contains(missing), "{missing}\n{validate}");
    }
    let log = below.log();
    assert!(
        log.contains("privilege missing") && log.contains("CAP_SYS_PTRACE"),
        "{log}"
    );
    // What CAP_SYS_PTRACE is for: without it the workload's namespace is unreadable.
    let c = below.get_json(&path).unwrap();
    assert_eq!(c["spec"]["has_network"], false, "{}", c["spec"]);
    // What the host's cgroup namespace is for: no process of the workload is matched.
    let (status, ps) = below.get(&format!("/api/v2.0/ps{work}"));
    assert_eq!((status, ps.trim()), (200, "[]"));
    // The OOM kill still reaches the events, from the memory cgroup counters.
    let events = below.events("oom_kill_events=true");
    let victim = run_victim(&daemon, &format!("bpfa-e2e-deploy-oom2-{pid}"));
    assert!(
        oom_kill(&events, &victim.cgroup_name()).is_some(),
        "no oomKill event on the fallback\n{}",
        below.log()
    );
    host.assert_healthy();
    eprintln!("deployment checks took {:.1} s", t0.elapsed().as_secs_f64());
}
