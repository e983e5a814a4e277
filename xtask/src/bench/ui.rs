//! `bench live --ui <page>`: what one open web UI page costs the agent.
//!
//! Two measurements, because on a busy machine the first alone is within noise:
//! - agent CPU over alternating windows without and with the page held open in headless Chromium;
//! - agent CPU per request of each kind the page makes, over a burst of the same requests (minus the
//!   agent's own background rate); times the page's request rates, that is the page's expected cost.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::cpu_seconds;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A burst timing one kind of request lasts at least this long and makes at least `MIN_BURST`
/// requests: CPU time is counted in 10 ms ticks, so a cheap request needs many for a figure.
const BURST_TIME: Duration = Duration::from_secs(3);
const MIN_BURST: usize = 20;

/// Headless Chromium holding one page open, with a profile of its own; the browser's whole process
/// group is stopped on drop.
struct Chromium {
    child: Child,
    profile: PathBuf,
}

impl Chromium {
    fn open(url: &str) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        let profile =
            std::env::temp_dir().join(format!("bpfadvisor-bench-ui-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).with_context(|| profile.display().to_string())?;
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Tall enough that every card is on screen and polled: the worst case.
                "--window-size=1400,6000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the renderer and helper processes go with it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {CHROMIUM} (apt-get install chromium)"))?;
        Ok(Self { child, profile })
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on the process group this bench created.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
        }
        let _ = self.child.wait();
        // Give the helpers a moment to exit before removing their profile.
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Agent CPU in % of a core over `seconds`.
fn cpu_percent(pid: u32, seconds: u64) -> anyhow::Result<f64> {
    let c0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    Ok(100.0 * (cpu_seconds(pid)? - c0) / t0.elapsed().as_secs_f64())
}

/// The requests a page polls, with how often it makes each (per second), as `ui.js` schedules
/// them for the container `name`.
fn page_requests(name: &str) -> Vec<(&'static str, String, f64)> {
    let root = name == "/";
    let path = if root {
        "/".to_string()
    } else {
        name.to_string()
    };
    let mut out = vec![
        (
            "v2.0 stats of the shown container, newest 3 (every 2 s)",
            format!("/api/v2.0/stats{path}?type=name&count=3"),
            0.5,
        ),
        (
            "ps of the shown container (every 10 s while the list is on screen)",
            format!("/api/v2.0/ps{path}"),
            0.1,
        ),
    ];
    if root {
        out.push((
            "summary of every container (landing page, every 10 s)",
            "/api/v2.0/summary/?type=name&recursive=true".to_string(),
            0.1,
        ));
        out.push((
            "storage (landing page, every 30 s)",
            "/api/v2.0/storage".to_string(),
            1.0 / 30.0,
        ));
    }
    // Once per page load, then again only after creations or deletions below the container.
    out.push((
        "spec of the subtree (page load; after lifecycle events, at most every 5 s, 30 s on /)",
        format!("/api/v2.0/spec{path}?type=name&recursive=true"),
        0.0,
    ));
    out
}

/// The container a page path shows (`/containers/a/b` → `/a/b`).
fn container_of(page: &str) -> String {
    let rest = page
        .split('?')
        .next()
        .unwrap_or("")
        .strip_prefix("/containers")
        .unwrap_or("")
        .trim_end_matches('/');
    if rest.is_empty() {
        "/".into()
    } else {
        rest.into()
    }
}

/// The `bench live --ui` rows.
pub fn measure(
    base: &str,
    pid: u32,
    page: &str,
    seconds: u64,
    rounds: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let url = format!("{base}{page}");
    let mut off = Vec::new();
    let mut on = Vec::new();
    for round in 0..rounds {
        eprintln!("bench: ui round {}/{rounds}: no page", round + 1);
        off.push(cpu_percent(pid, seconds)?);
        let browser = Chromium::open(&url)?;
        // The page's first load (history, spec, machine) is not the steady state.
        std::thread::sleep(Duration::from_secs(5));
        eprintln!("bench: ui round {}/{rounds}: {page} open", round + 1);
        on.push(cpu_percent(pid, seconds)?);
        drop(browser);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let background = mean(&off);
    let mut rows = vec![
        (
            format!("agent CPU % of a core, no page ({seconds} s windows)"),
            format!("{} (mean {background:.2})", list(&off)),
        ),
        (
            format!("agent CPU % of a core, {page} open in headless Chromium"),
            format!("{} (mean {:.2})", list(&on), mean(&on)),
        ),
    ];

    let name = container_of(page);
    let http = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let mut expected = 0.0;
    for (what, path, per_second) in page_requests(&name) {
        let c0 = cpu_seconds(pid)?;
        let t0 = Instant::now();
        let mut bytes = 0;
        let mut n = 0;
        while n < MIN_BURST || t0.elapsed() < BURST_TIME {
            n += 1;
            let body = http
                .get(&format!("{base}{path}"))
                .call()
                .with_context(|| format!("GET {path}"))?
                .into_string()
                .with_context(|| format!("reading {path}"))?;
            bytes = body.len();
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid)? - c0 - background / 100.0 * wall;
        let per_request_ms = (1e3 * cpu / n as f64).max(0.0);
        expected += per_request_ms * per_second;
        rows.push((
            format!("{what}: `{path}`"),
            format!(
                "{per_request_ms:.3} ms CPU per request ({n} requests), {:.1} KB",
                bytes as f64 / 1e3
            ),
        ));
    }
    rows.push((
        "expected page cost (rates × CPU per request)".into(),
        format!(
            "{:.2} ms of CPU per second = {:.3}% of a core",
            expected,
            expected / 10.0
        ),
    ));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_name_their_container() {
        assert_eq!(container_of("/containers/"), "/");
        assert_eq!(container_of("/containers"), "/");
        assert_eq!(container_of("/containers/a/b?range=1m"), "/a/b");
        assert_eq!(container_of("/docker/"), "/");
    }

    #[test]
    fn the_landing_page_polls_more_kinds_than_a_container_page() {
        assert_eq!(page_requests("/").len(), 5);
        assert_eq!(page_requests("/a").len(), 3);
        assert!(page_requests("/a")[0].1.ends_with("/a?type=name&count=3"));
    }
}
