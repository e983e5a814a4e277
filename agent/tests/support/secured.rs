//! Test helper for the access-control tests: the real `bpfadvisor` binary over HTTP or HTTPS, asked
//! with the real `curl` (Basic, `--digest`, bearer, client certificates), and credentials made with
//! the real tools (`htpasswd`, `htdigest`, `openssl`). Include it with
//! `#[path = "support/secured.rs"] mod secured;`.
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

include!("prereq.rs");

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bpfadvisor");

/// `true` when `tool` runs; otherwise a [`missing`] tool (skip, or a failure in CI, where setup.sh
/// installs every tool).
pub fn have(tool: &str, package: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        missing(
            Need::Tool,
            &format!("{tool} not installed (scripts/setup.sh installs {package})"),
        );
    }
    ok
}

/// `true` when running as root (the agent reads every cgroup); otherwise a [`missing`] root.
pub fn require_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        missing(Need::Root, "needs root");
    }
    root
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs `cmd`, panicking with its stderr when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One answer as curl saw it (the last one when curl followed a digest challenge).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Lower-cased header names with their values, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A running agent, killed on drop; its stderr in a temp file.
pub struct Served {
    child: Child,
    pub base: String,
    pub port: u16,
    /// The CA file curl verifies the server with (HTTPS only).
    pub ca: Option<PathBuf>,
    log: tempfile::NamedTempFile,
    scratch: tempfile::TempDir,
}

impl Served {
    /// Starts the agent on a free loopback port with `flags`; HTTPS verified against `ca` when given.
    /// Waits until `/healthz` answers 200.
    pub fn start(flags: &[String], ca: Option<&Path>) -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(BIN)
            .arg("--listen_ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--event_source=inotify")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("reopen log"))
            .spawn()
            .expect("spawn bpfadvisor");
        let scheme = if ca.is_some() { "https" } else { "http" };
        let mut me = Self {
            child,
            base: format!("{scheme}://127.0.0.1:{port}"),
            port,
            ca: ca.map(Path::to_path_buf),
            log,
            scratch: tempfile::tempdir().expect("tempdir"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("agent exited ({status}) with {flags:?}:\n{}", me.log());
            }
            if me.curl("/healthz", &[]).status == 200 {
                return me;
            }
            assert!(
                Instant::now() < deadline,
                "no /healthz within 60s:\n{}",
                me.log()
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Starts the agent expecting it to refuse to start; returns its log.
    pub fn refuses(flags: &[String]) -> String {
        let out = Command::new(BIN)
            .arg("--listen_ip=127.0.0.1")
            .arg(format!("--port={}", free_port()))
            .arg("--event_source=inotify")
            .args(flags)
            .stdin(Stdio::null())
            .output()
            .expect("run bpfadvisor");
        assert!(!out.status.success(), "started with {flags:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// `curl <extra> <base><path>` with a 5 s limit (1 s for an event stream); status 0 when no
    /// answer came.
    pub fn curl(&self, path: &str, extra: &[&str]) -> Answer {
        self.curl_url(&format!("{}{path}", self.base), extra)
    }

    pub fn curl_url(&self, url: &str, extra: &[&str]) -> Answer {
        let headers = self.scratch.path().join("headers");
        let body = self.scratch.path().join("body");
        let _ = fs::remove_file(&headers);
        let _ = fs::remove_file(&body);
        let mut cmd = Command::new("curl");
        // An event stream never ends: its headers are all there is to see.
        let limit = if url.contains("stream=true") {
            "1"
        } else {
            "5"
        };
        cmd.args(["-s", "-m", limit, "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .args(["-w", "%{http_code}"]);
        if let Some(ca) = &self.ca {
            cmd.arg("--cacert").arg(ca);
        }
        let out = cmd
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        let status = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        let raw = fs::read_to_string(&headers).unwrap_or_default();
        // With --digest the file holds the 401 block, then the answer's.
        let last = raw
            .split("\r\n\r\n")
            .filter(|b| b.starts_with("HTTP/"))
            .last()
            .unwrap_or("");
        let headers = last
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: fs::read_to_string(&body).unwrap_or_default(),
        }
    }

    /// A sample of `/metrics` (with curl flags `auth`): the value of the series `series`.
    pub fn metric(&self, auth: &[&str], series: &str) -> Option<f64> {
        let a = self.curl("/metrics", auth);
        a.body.lines().find_map(|l| {
            l.strip_prefix(series)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every route family the agent serves, with the status an authenticated GET gets (`None`: anything
/// but 401).
pub const ROUTES: &[(&str, Option<u16>)] = &[
    ("/api/v1.3/containers/", Some(200)),
    ("/api/v1.1/subcontainers/", Some(200)),
    ("/api/v2.0/machine", Some(200)),
    ("/api/v2.1/stats/?count=1", Some(200)),
    ("/api/v1.3/events/?all_events=true", Some(200)),
    ("/api/v2.0/events/?stream=true&all_events=true", Some(200)),
    ("/metrics", Some(200)),
    ("/validate/", Some(200)),
    ("/", Some(307)),
    ("/containers/", Some(200)),
    ("/docker/", Some(200)),
    ("/static/ui.js", Some(200)),
    ("/static/containers.css", Some(404)),
    ("/no/such/route", Some(307)),
];

/// Asserts the 401 every refusal gets: same body, a challenge per configured scheme.
pub fn assert_refused(a: &Answer, what: &str, challenge_prefix: &str) {
    assert_eq!(a.status, 401, "{what}: {a:?}");
    assert_eq!(a.body, "401 Unauthorized\n", "{what}");
    assert!(
        a.header("www-authenticate")
            .iter()
            .any(|c| c.starts_with(challenge_prefix)),
        "{what}: challenge {challenge_prefix:?} in {:?}",
        a.header("www-authenticate")
    );
}

/// Asserts an authenticated answer.
pub fn assert_served(a: &Answer, what: &str, want: Option<u16>) {
    match want {
        Some(s) => assert_eq!(a.status, s, "{what}: {a:?}"),
        None => assert!(a.status != 401 && a.status != 0, "{what}: {a:?}"),
    }
}

/// `openssl`: a self-signed certificate for 127.0.0.1/localhost with common name `cn`, written to
/// `<dir>/<name>.crt` and `<dir>/<name>.key`.
pub fn self_signed(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={cn}"))
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    (crt, key)
}

/// `openssl`: a CA (`<dir>/ca.crt`) and a client certificate it signed (`<dir>/client.crt`,
/// `<dir>/client.key`).
pub fn client_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_crt, ca_key) = self_signed(dir, "ca", "test client CA");
    let (crt, key, csr) = (
        dir.join("client.crt"),
        dir.join("client.key"),
        dir.join("client.csr"),
    );
    run(Command::new("openssl")
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-subj", "/CN=scraper"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    let ext = dir.join("client.ext");
    fs::write(&ext, "extendedKeyUsage=clientAuth\n").expect("ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(&ca_crt)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&crt));
    (ca_crt, crt, key)
}

/// Replaces `dst` with `src`'s content by rename, as a kubelet secret update or cert-manager does.
pub fn replace(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("swap");
    fs::copy(src, &tmp).expect("copy");
    fs::rename(&tmp, dst).expect("rename");
}
