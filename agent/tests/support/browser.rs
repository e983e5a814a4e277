//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`), with a
//! minimal client of our own: a handful of W3C WebDriver commands over `ureq`. Include it with
//! `#[path = "support/browser.rs"] mod browser;` next to `support/agent.rs` (for [`missing`]).
//!
//! - [`Browser::start`]: `chromedriver` on a free loopback port and one Chromium session with a new,
//!   empty profile (removed on drop, with the driver and the browser); `None` (a [`missing`] tool)
//!   when either program is not installed.
//! - [`Browser::goto`], [`Browser::eval`] (a script's `return` value as JSON), [`Browser::wait_for`]
//!   (polls a script until it returns something truthy), [`Browser::screenshot`],
//!   [`Browser::console_errors`].
#![allow(
    dead_code,
    reason = "each including test uses a different part of the helper"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::agent::{Need, missing_none};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";

/// The flags every session starts Chromium with: headless, no sandbox (tests run as root), and
/// nothing that would reach the network on its own.
const CHROMIUM_ARGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The directory test screenshots go to: `<target>/ui-screenshots` (the test binary lives in
/// `<target>/<profile>/deps/`).
pub fn artifact_dir() -> PathBuf {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("ui-screenshots")
}

/// A Chromium session; driver, browser and profile go away on drop.
pub struct Browser {
    driver: Child,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    http: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl Browser {
    /// Starts chromedriver and a session of a `width`×`height` window.
    pub fn start(width: u32, height: u32) -> Option<Self> {
        if !Path::new(CHROMIUM).exists() || !installed(CHROMEDRIVER) {
            return missing_none(
                Need::Tool,
                "chromium and chromium-driver are not installed (scripts/setup.sh installs them)",
            );
        }
        match Self::try_start(width, height) {
            Ok(b) => Some(b),
            Err(e) => panic!("starting headless Chromium: {e}"),
        }
    }

    fn try_start(width: u32, height: u32) -> Result<Self, String> {
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn chromedriver: {e}"))?;
        let profile = tempfile::tempdir().map_err(|e| format!("profile dir: {e}"))?;
        let http = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(2))
            .timeout_read(Duration::from_secs(60))
            .build();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            driver,
            session: String::new(),
            http,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .http
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready within 20 s".into());
            }
            sleep(Duration::from_millis(100));
        }
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        ));
        args.push(format!("--window-size={width},{height}"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.send("POST", &format!("{base}/session"), Some(caps))?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {created}"))?;
        browser.session = format!("{base}/session/{id}");
        Ok(browser)
    }

    /// One WebDriver command; its `value`, or the error WebDriver reported.
    fn send(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let req = self.http.request(method, url);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let v: Value = match res {
            Ok(r) => r.into_json().map_err(|e| format!("{method} {url}: {e}"))?,
            Err(ureq::Error::Status(code, r)) => {
                let v: Value = r.into_json().unwrap_or_default();
                return Err(format!("{method} {url}: {code} {}", v["value"]));
            }
            Err(e) => return Err(format!("{method} {url}: {e}")),
        };
        Ok(v["value"].clone())
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.send(method, &format!("{}{path}", self.session), body)
    }

    /// Loads `url` and waits for the load event.
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// The page's current URL.
    pub fn url(&self) -> Result<String, String> {
        self.cmd("GET", "/url", None)
            .map(|v| v.as_str().unwrap_or_default().to_string())
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn eval(&self, script: &str) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Polls `script` every 200 ms until it returns something truthy (not null, false, 0 or "");
    /// that value, or an error naming `what` with the last answer.
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str) -> Result<Value, String> {
        let deadline = Instant::now() + limit;
        loop {
            let last = self.eval(script);
            if let Ok(v) = &last {
                let truthy = match v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                };
                if truthy {
                    return last;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: not within {limit:?} (last: {last:?})"));
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// The browser console's errors since the last call (script errors, failed requests).
    pub fn console_errors(&self) -> Result<Vec<String>, String> {
        let log = self.cmd("POST", "/se/log", Some(json!({ "type": "browser" })))?;
        Ok(log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect())
    }

    pub fn set_window(&self, width: u32, height: u32) -> Result<(), String> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .map(drop)
    }

    /// A PNG of the whole page (the window is stretched to the page's height for the shot, then
    /// put back), written to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<(), String> {
        let rect = self.cmd("GET", "/window/rect", None)?;
        let (w, h) = (
            rect["width"].as_u64().unwrap_or(1280) as u32,
            rect["height"].as_u64().unwrap_or(900) as u32,
        );
        let full = self
            .eval("return Math.ceil(document.documentElement.scrollHeight)")?
            .as_u64()
            .unwrap_or(u64::from(h)) as u32;
        // The window's height includes the browser's own frame.
        let frame = self
            .eval("return window.outerHeight - window.innerHeight")?
            .as_u64()
            .unwrap_or(0) as u32;
        self.set_window(w, (full + frame).clamp(h, 6000))?;
        sleep(Duration::from_millis(400));
        let shot = self.cmd("GET", "/screenshot", None);
        self.set_window(w, h)?;
        let b64 = shot?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .map_err(|e| format!("screenshot is not base64: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("write {}: {e}", path.display()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.http.delete(&self.session).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
