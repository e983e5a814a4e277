//! End-to-end, as root, with Docker and headless Chromium: the web UI against the real agent on
//! loopback. A test cgroup with a CPU-capped busy child, an OOM child and a Docker container:
//! - the parent's page renders, its charts draw data points, and its subcontainer link leads to the
//!   busy child, whose CPU and throttling charts draw the busy process's usage and whose process
//!   list shows that process; left open, that page asks the agent at most one request a second, all
//!   about that container;
//! - back on the parent, an OOM kill in the OOM child shows up in its events panel (process and
//!   container) without a reload; search finds the Docker container, a `?filter=` link narrows
//!   the subcontainers, the theme switches;
//! - `/docker/` lists the container by name and leads to its page, which `/docker/<name>` opens too;
//! - the landing page shows the machine and the busiest containers; a phone-sized window scrolls
//!   only vertically.
//!
//! Screenshots go to `target/ui-screenshots/` (test artifacts).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/docker.rs"]
mod docker;

use std::time::Duration;

use agent::{Agent, CgroupTree, cgroup_skip_reason};
use bpfadvisor::host::HostPaths;
use browser::{Browser, artifact_dir};

/// The busy process: `yes`, capped at 30% of a core so the test does not take a whole core of the
/// machine (and so the throttling chart has something to show).
const BUSY: &str = "exec yes bpfadvisor-ui-busy > /dev/null";
const BUSY_QUOTA_US: &str = "30000";
/// The OOM victim allocates 100M against a 32M limit; the shell survives, so the cgroup stays.
const VICTIM: &str = "dd if=/dev/zero of=/dev/null bs=100M count=1; exec sleep 600";

const WAIT: Duration = Duration::from_secs(30);
/// How long the test counts the requests of an open page.
const REQUEST_WINDOW: Duration = Duration::from_secs(10);

/// A script returning the text of `selector`'s first match ("" when none).
fn text_of(selector: &str) -> String {
    format!(
        "const e = document.querySelector({}); return e ? e.textContent : ''",
        serde_json::to_string(selector).unwrap()
    )
}

/// A script returning the number of data points chart `id` drew when it drew at least `points`
/// with a largest value of at least `min`, else 0.
fn chart_ready(id: &str, points: u64, min: f64) -> String {
    format!(
        "const c = document.querySelector('[data-chart=\"{id}\"]');
         if (!c || !c.querySelector('canvas')) return 0;
         const n = +c.dataset.points, max = +c.dataset.max;
         return n >= {points} && max >= {min} ? n : 0"
    )
}

/// A script returning whether the page at `path` is loaded with heading `heading`.
fn page_is(path: &str, heading: &str) -> String {
    format!(
        "const h = document.querySelector('h1');
         return location.pathname === {} && document.readyState === 'complete' && !!h && h.textContent === {}",
        serde_json::to_string(path).unwrap(),
        serde_json::to_string(heading).unwrap()
    )
}

#[test]
fn ui_end_to_end() {
    let host = HostPaths::local();
    if let Some(reason) = cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, reason);
    }
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(browser) = Browser::start(1400, 1000) else {
        return;
    };
    let shots = artifact_dir();

    let pid = std::process::id();
    let parent = format!("/bpfa-ui-{pid}");
    let busy = format!("{parent}/busy");
    let oom = format!("{parent}/oom");
    let mut tree = CgroupTree::new(&host);
    for name in [&parent, &busy, &oom] {
        tree.mkdir(name).unwrap();
    }
    tree.write("cpu", &busy, "cpu.cfs_quota_us", BUSY_QUOTA_US)
        .unwrap();
    tree.write("memory", &oom, "memory.limit_in_bytes", "33554432")
        .unwrap();
    if tree
        .dir("memory", &oom)
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        // Without a swap limit the kernel would swap instead of killing.
        tree.write("memory", &oom, "memory.memsw.limit_in_bytes", "33554432")
            .unwrap();
    }
    let busy_pid = tree.spawn(&busy, BUSY).unwrap();
    let cname = format!("bpfa-ui-{pid}");
    let container = daemon
        .run(&["--name", &cname, docker::BUSYBOX_IMAGE, "sleep", "600"])
        .unwrap();

    let agent = Agent::launch(&["--allow_dynamic_housekeeping=false"]).unwrap();
    let base = agent.base.clone();
    agent.wait_listed(&busy, Duration::from_secs(10));

    // The parent: rendered, charts drawing, its subcontainers listed.
    browser.goto(&format!("{base}/containers{parent}")).unwrap();
    let title = browser.eval(&text_of("h1")).unwrap();
    assert_eq!(title, parent.as_str(), "page title");
    browser
        .wait_for("parent CPU chart", WAIT, &chart_ready("cpu", 3, 0.01))
        .unwrap();
    browser
        .wait_for("memory chart", WAIT, &chart_ready("memory", 3, 1.0))
        .unwrap();
    browser
        .wait_for(
            "subcontainer links",
            WAIT,
            "return document.querySelectorAll('#subcontainers a').length",
        )
        .unwrap();
    browser
        .wait_for(
            "events panel live",
            WAIT,
            "return document.getElementById('events-state').textContent === 'live'",
        )
        .unwrap();

    // Its subcontainer link leads to the busy child.
    let link = format!("#subcontainers a[href$=\"{busy}\"]");
    browser
        .eval(&format!(
            "document.querySelector({}).click()",
            serde_json::to_string(&link).unwrap()
        ))
        .unwrap();
    browser
        .wait_for(
            "the busy child's page",
            WAIT,
            &page_is(&format!("/containers{busy}"), &busy),
        )
        .unwrap();
    // CPU capped at 0.3 cores: well above idle, never above the cap by much.
    let points = browser
        .wait_for("busy CPU chart", WAIT, &chart_ready("cpu", 3, 0.1))
        .unwrap();
    assert!(points.as_u64().unwrap() >= 3);
    browser
        .wait_for(
            "throttling chart",
            WAIT,
            &chart_ready("cpu-throttling", 3, 1.0),
        )
        .unwrap();
    // The process list is polled only while on screen.
    browser
        .eval("document.getElementById('processes').scrollIntoView()")
        .unwrap();
    let proc_row = browser
        .wait_for(
            "the busy process in the process list",
            WAIT,
            &text_of(&format!("#ps-table tr[data-pid=\"{busy_pid}\"]")),
        )
        .unwrap();
    // The process list names a process by its command (`comm`), as cAdvisor's does.
    assert!(
        proc_row.as_str().unwrap().contains("yes"),
        "process row: {proc_row}"
    );
    // Sortable, and the sort is in the URL.
    browser
        .eval("document.querySelector('#ps-table th[data-key=\"pid\"]').click()")
        .unwrap();
    let sorted = browser
        .eval(
            "return location.search + ' ' + document.querySelector('#ps-table th[data-key=\"pid\"]').getAttribute('aria-sort')",
        )
        .unwrap();
    assert_eq!(sorted, "?ps=-pid descending");
    let limit = browser.eval(&text_of("#spec")).unwrap();
    assert!(
        limit.as_str().unwrap().contains("0.300 cores"),
        "spec: {limit}"
    );
    browser
        .screenshot(&shots.join("container-busy.png"))
        .unwrap();

    // What the open page asks of the agent: a few small requests per second, none of them about
    // other containers.
    browser.eval("performance.clearResourceTimings()").unwrap();
    std::thread::sleep(REQUEST_WINDOW);
    let asked = browser
        .eval(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname + new URL(e.name).search).filter(u => u.startsWith('/api/'))",
        )
        .unwrap();
    let asked: Vec<&str> = asked
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert!(
        asked.len() as f64 <= REQUEST_WINDOW.as_secs_f64(),
        "{} API requests in {REQUEST_WINDOW:?}: {asked:?}",
        asked.len()
    );
    assert!(
        asked.iter().all(|u| u.contains(busy.as_str())),
        "requests about other containers: {asked:?}"
    );

    // Back on the parent (its charts have some history now): an OOM kill below it appears in the
    // events panel without a reload.
    browser
        .goto(&format!("{base}/containers{parent}?range=1m"))
        .unwrap();
    browser
        .wait_for("parent CPU chart", WAIT, &chart_ready("cpu", 10, 0.01))
        .unwrap();
    browser
        .wait_for(
            "events panel live",
            WAIT,
            "return document.getElementById('events-state').textContent === 'live'",
        )
        .unwrap();
    browser.eval("window.__sameDocument = true").unwrap();
    tree.spawn(&oom, VICTIM).unwrap();
    let selector = format!("#event-list li[data-type=\"oomKill\"][data-container=\"{oom}\"]");
    let row = browser
        .wait_for("OOM kill in the events panel", WAIT, &text_of(&selector))
        .unwrap();
    let row = row.as_str().unwrap();
    assert!(row.contains("killed dd (pid "), "event row: {row}");
    assert!(row.contains(&oom), "event row: {row}");
    assert_eq!(
        browser
            .eval("return window.__sameDocument === true")
            .unwrap(),
        true,
        "the page reloaded"
    );
    browser.screenshot(&shots.join("parent-oom.png")).unwrap();

    // Search finds the Docker container by name; a filter in the URL narrows the subcontainers; the
    // theme switches.
    browser
        .eval(&format!(
            "const s = document.getElementById('search'); s.focus(); s.value = {}; s.dispatchEvent(new Event('input'))",
            serde_json::to_string(&cname).unwrap()
        ))
        .unwrap();
    let hit = browser
        .wait_for(
            "a search result",
            WAIT,
            &format!(
                "const a = document.querySelector('#search-results a[href*=\"/containers{}\"]'); return a ? a.textContent : ''",
                container.cgroup_name()
            ),
        )
        .unwrap();
    assert!(
        hit.as_str().unwrap().starts_with(&cname),
        "search hit: {hit}"
    );
    browser
        .goto(&format!("{base}/containers{parent}?filter=oom"))
        .unwrap();
    let listed = browser
        .wait_for(
            "the filtered subcontainers",
            WAIT,
            "return [...document.querySelectorAll('#subcontainers li a')].map(a => a.textContent).join(',')",
        )
        .unwrap();
    assert_eq!(listed, "oom");
    let themes = browser
        .eval(
            "const before = document.documentElement.dataset.theme; document.getElementById('theme').click(); return before + '>' + document.documentElement.dataset.theme",
        )
        .unwrap();
    assert!(
        themes == "light>dark" || themes == "dark>light",
        "theme: {themes}"
    );

    // The Docker list names the container and leads to its page; its name opens it too.
    browser.goto(&format!("{base}/docker/")).unwrap();
    let docker_link = format!("#runtime-table a[href$=\"/docker/{}\"]", container.id);
    let shown = browser
        .wait_for("the container in /docker/", WAIT, &text_of(&docker_link))
        .unwrap();
    assert_eq!(shown, cname.as_str());
    browser
        .eval(&format!(
            "document.querySelector({}).click()",
            serde_json::to_string(&docker_link).unwrap()
        ))
        .unwrap();
    let heading = format!("{cname} ({})", container.cgroup_name());
    browser
        .wait_for(
            "the Docker container's page",
            WAIT,
            &page_is(&format!("/docker/{}", container.id), &heading),
        )
        .unwrap();
    browser
        .goto(&format!("{base}/docker/{cname}?theme=dark"))
        .unwrap();
    assert_eq!(browser.eval(&text_of("h1")).unwrap(), heading.as_str());
    let spec = browser
        .wait_for("the Docker container's spec", WAIT, &text_of("#spec"))
        .unwrap();
    assert!(
        spec.as_str().unwrap().contains(docker::BUSYBOX_IMAGE),
        "spec: {spec}"
    );
    browser
        .wait_for(
            "Docker container charts",
            WAIT,
            &chart_ready("memory", 3, 1.0),
        )
        .unwrap();
    browser.screenshot(&shots.join("docker-dark.png")).unwrap();

    // The landing page: machine overview and the busiest containers.
    browser.goto(&format!("{base}/")).unwrap();
    assert!(browser.url().unwrap().ends_with("/containers/"));
    browser
        .wait_for("machine overview", WAIT, &text_of("#machine-usage"))
        .unwrap();
    browser
        .wait_for(
            "busiest containers",
            WAIT,
            "return document.querySelectorAll('#top-memory-body a').length",
        )
        .unwrap();
    browser.screenshot(&shots.join("root.png")).unwrap();

    // A phone-sized window: everything fits the width.
    browser.set_window(390, 844).unwrap();
    browser.goto(&format!("{base}/containers{busy}")).unwrap();
    browser
        .wait_for("narrow CPU chart", WAIT, &chart_ready("cpu", 3, 0.1))
        .unwrap();
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - window.innerWidth")
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 1,
        "horizontal overflow of {overflow} px"
    );
    browser.screenshot(&shots.join("narrow.png")).unwrap();

    // No script error or failed request on any page (the probe shows the log is read at all).
    browser.eval("console.error('console-probe')").unwrap();
    let (probe, errors): (Vec<String>, Vec<String>) = browser
        .console_errors()
        .unwrap()
        .into_iter()
        .partition(|e| e.contains("console-probe"));
    assert_eq!(probe.len(), 1, "the browser console is not read");
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    drop(browser);
    agent.assert_healthy();
}
