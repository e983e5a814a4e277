//! End-to-end, as root with Docker: what a client sees when it asks about a container right after
//! `docker run -d` returns, the agent already running. Polled every 20 ms from that moment, the
//! first answer that lists the container (`/api/v1.3/docker/<id>`, `/api/v2.0/spec/<id>?type=docker`,
//! `/api/v1.3/containers/docker/<id>`) comes within 200 ms and already has the `--cpu-shares`,
//! `--cpuset-cpus` and `--memory` limits (runc writes them after making the cgroup the agent reads
//! first); a listing polled all along never shows it with other limits, not even while `docker run`
//! is under way. Every sample in the first answer has the writable layer's filesystem entry
//! (device, capacity), its usage following once the layer's first walk is done. `/api/v2.0/attributes`, the
//! `cadvisor_version_info` metric and `/validate/` name the Docker daemon's version.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agent::Agent;
use serde_json::Value;

/// How soon after `docker run -d` returns a client finds the container, limits included.
const FIRST_ANSWER_WITHIN: Duration = Duration::from_millis(200);
const POLL: Duration = Duration::from_millis(20);

/// `/api/v2.0/attributes` once the agent reports a Docker version (it connects in the background).
fn attributes_with_docker(agent: &Agent) -> Value {
    agent
        .wait_json("/api/v2.0/attributes", Duration::from_secs(30), |v| {
            v["docker_version"].as_str().is_some_and(|s| !s.is_empty())
        })
        .unwrap()
}

/// The first answer of an endpoint that lists the container, and how long after `docker run`
/// returned it came.
struct First {
    after: Duration,
    body: Value,
}

/// Every spec under `/docker` the agent showed while `watching`, with when it was seen.
fn watch_docker_specs(agent: &Agent, watching: &AtomicBool) -> Vec<(Instant, String, Value)> {
    let mut seen = Vec::new();
    while watching.load(Ordering::Relaxed) {
        if let Ok(v) = agent.get_json("/api/v2.0/spec/docker?recursive=true")
            && let Some(specs) = v.as_object()
        {
            let at = Instant::now();
            seen.extend(specs.iter().map(|(k, s)| (at, k.clone(), s.clone())));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    seen
}

#[test]
fn limits_and_filesystem_are_there_at_the_first_query() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(agent) = Agent::launch(&[]) else {
        return;
    };
    // Metadata comes from the Docker connection: measure from a connected agent.
    attributes_with_docker(&agent);
    let cname = format!("bpfa-e2e-first-{}", std::process::id());
    let gib = 1u64 << 30;
    let watching = AtomicBool::new(true);
    let (c, first, watched) = std::thread::scope(|scope| {
        // Also while `docker run` is under way: the container must never show other limits.
        let watcher = scope.spawn(|| watch_docker_specs(&agent, &watching));
        let c = daemon
            .run(&[
                "--name",
                &cname,
                "--cpu-shares",
                "2048",
                "--cpuset-cpus",
                "0",
                "--memory",
                "1g",
                docker::BUSYBOX_IMAGE,
                "sleep",
                "600",
            ])
            .unwrap();
        let full = c.cgroup_name();
        let paths = [
            format!("/api/v1.3/docker/{}", c.id),
            format!("/api/v2.0/spec/{}?type=docker", c.id),
            format!("/api/v1.3/containers{full}"),
        ];
        let mut first: [Option<First>; 3] = [None, None, None];
        let deadline = c.returned + Duration::from_secs(10);
        while first.iter().any(Option::is_none) && Instant::now() < deadline {
            let tick = Instant::now();
            for (path, seen) in paths.iter().zip(first.iter_mut()) {
                if seen.is_none()
                    && let Ok(body) = agent.get_json(path)
                {
                    let after = c.returned.elapsed();
                    *seen = Some(First { after, body });
                }
            }
            std::thread::sleep(POLL.saturating_sub(tick.elapsed()));
        }
        watching.store(false, Ordering::Relaxed);
        (c, first, watcher.join().unwrap())
    });
    let full = c.cgroup_name();
    let [Some(v1), Some(v2), Some(raw)] = first else {
        panic!("not listed within 10 s; log:\n{}", agent.log());
    };
    eprintln!(
        "first listed after docker run returned: v1.3 docker {:?}, v2.0 spec {:?}, v1.3 containers {:?}",
        v1.after, v2.after, raw.after
    );

    let limits = |what: &str, spec: &Value| {
        assert_eq!(spec["cpu"]["limit"], 2048, "{what}: {spec}");
        assert_eq!(spec["cpu"]["mask"], "0", "{what}: {spec}");
        assert_eq!(spec["memory"]["limit"], gib, "{what}: {spec}");
    };
    let v1_spec = &v1.body[&full]["spec"];
    limits("v1.3 docker", v1_spec);
    limits("v2.0 spec", &v2.body[&full]);
    limits("v1.3 containers", &raw.body["spec"]);
    for (what, f) in [
        ("v1.3 docker", &v1),
        ("v2.0 spec", &v2),
        ("v1.3 containers", &raw),
    ] {
        assert!(
            f.after <= FIRST_ANSWER_WITHIN,
            "{what} listed the container {:?} after docker run returned",
            f.after
        );
    }
    let ours: Vec<&(Instant, String, Value)> =
        watched.iter().filter(|(_, k, _)| *k == full).collect();
    assert!(!ours.is_empty(), "the watcher never saw {full}");
    let early = ours.iter().filter(|(at, _, _)| *at < c.returned).count();
    eprintln!(
        "recursive listing showed it {} times, {early} before docker run returned",
        ours.len()
    );
    for (at, _, spec) in &ours {
        let when = if *at < c.returned { "before" } else { "after" };
        limits(
            &format!("recursive v2.0 spec, {when} docker run returned"),
            spec,
        );
    }

    // Filesystem: in every sample, from the first one on.
    assert_eq!(v1_spec["has_filesystem"], true, "{v1_spec}");
    let samples = v1.body[&full]["stats"].as_array().unwrap();
    assert!(!samples.is_empty(), "no sample at the first answer");
    let mut device = String::new();
    for s in samples {
        let fs = s["filesystem"].as_array().unwrap_or_else(|| panic!("{s}"));
        assert_eq!(fs.len(), 1, "{s}");
        device = fs[0]["device"].as_str().unwrap().to_string();
        assert!(device.starts_with('/'), "{s}");
        assert!(fs[0]["capacity"].as_u64().unwrap() > 0, "{s}");
    }
    // The layer's first walk starts at once: usage (its directory, Docker's files of the
    // container) shows up in the next samples if the first did not have it yet.
    let stats_path = format!("/api/v2.0/stats/{}?type=docker&count=1", c.id);
    let v = agent
        .wait_json(&stats_path, Duration::from_secs(10), |v| {
            v[&full][0]["filesystem"][0]["usage"].as_u64() > Some(0)
        })
        .unwrap();
    let fs = &v[&full][0]["filesystem"][0];
    assert!(fs["usage"].as_u64() > Some(0), "{v}");
    assert!(fs["base_usage"].as_u64() <= fs["usage"].as_u64(), "{fs}");
    assert_eq!(fs["device"], device.as_str(), "{fs}");
    agent.assert_healthy();
}

#[test]
fn docker_version_is_the_daemons() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(agent) = Agent::launch(&[]) else {
        return;
    };
    let version = daemon
        .docker(&["version", "--format", "{{.Server.Version}}"])
        .unwrap();
    let api = daemon
        .docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .unwrap();
    let attrs = attributes_with_docker(&agent);
    assert_eq!(attrs["docker_version"], version.as_str(), "{attrs}");
    assert_eq!(attrs["docker_api_version"], api.as_str(), "{attrs}");
    assert_eq!(
        agent.get_json("/api/v2.1/attributes").unwrap()["docker_version"],
        version.as_str()
    );

    let (status, text) = agent.get("/metrics");
    assert_eq!(status, 200);
    let info = text
        .lines()
        .find(|l| l.starts_with("cadvisor_version_info{"))
        .unwrap_or_else(|| panic!("no cadvisor_version_info"));
    assert!(
        info.contains(&format!("dockerVersion=\"{version}\"")),
        "{info}"
    );

    let (status, page) = agent.get("/validate/");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("Docker version is {version}.")),
        "{page}"
    );
    agent.assert_healthy();
}
