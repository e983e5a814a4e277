//! End-to-end, as root with Docker: a real container (`docker run -d --name … --label … -e …
//! --memory 64m`) appears under `/docker/<id>` with stats, aliases `[name, id]`, namespace `docker`,
//! labels, the whitelisted env, image and memory limit, through the v1.3 `docker` and v2.0 `spec` and
//! `stats` endpoints; and is gone once removed.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::time::{Duration, Instant};

use agent::Agent;
use serde_json::{Value, json};

fn check_spec(spec: &Value) {
    assert_eq!(spec["labels"]["com.example.e2e"], "yes", "{spec}");
    assert_eq!(spec["envs"], json!({"bpfa_e2e": "hello"}), "{spec}");
    assert_eq!(spec["image"], docker::BUSYBOX_IMAGE, "{spec}");
    assert_eq!(spec["has_memory"], true, "{spec}");
    assert_eq!(spec["memory"]["limit"], 64u64 << 20, "{spec}");
}

#[test]
fn docker_container_has_metadata_spec_and_stats() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let cname = format!("bpfa-e2e-docker-{}", std::process::id());
    let c = daemon
        .run(&[
            "--name",
            &cname,
            "--label",
            "com.example.e2e=yes",
            "-e",
            "BPFA_E2E=hello",
            "-e",
            "OTHER_VAR=hidden",
            "--memory",
            "64m",
            docker::BUSYBOX_IMAGE,
            "sleep",
            "600",
        ])
        .unwrap();
    let full = c.cgroup_name();
    let Some(agent) = Agent::launch(&[
        "--allow_dynamic_housekeeping=false",
        "--env_metadata_whitelist=BPFA_",
    ]) else {
        return;
    };

    // v1.3 docker/<name>: one entry keyed by the full cgroup name, with metadata and stats.
    let path = format!("/api/v1.3/docker/{cname}");
    let v = agent
        .wait_json(&path, Duration::from_secs(15), |v| {
            v[&full]["stats"].as_array().is_some_and(|s| s.len() >= 2)
                && v[&full]["spec"]["image"].is_string()
        })
        .unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec![&full], "{v}");
    let info = &v[&full];
    assert_eq!(info["name"], full.as_str());
    assert_eq!(info["id"], c.id.as_str(), "{info}");
    assert_eq!(info["aliases"], json!([cname, c.id]), "{info}");
    assert_eq!(info["namespace"], "docker", "{info}");
    check_spec(&info["spec"]);
    let last = info["stats"].as_array().unwrap().last().unwrap();
    assert!(last["memory"]["usage"].as_u64().unwrap() > 0, "{last}");
    assert!(last["cpu"]["usage"]["total"].as_u64().is_some(), "{last}");

    // The same container by id prefix and under its cgroup name.
    let by_prefix = agent
        .get_json(&format!("/api/v1.3/docker/{}", &c.id[..12]))
        .unwrap();
    assert!(by_prefix.get(&full).is_some(), "{by_prefix}");
    let by_name = agent
        .get_json(&format!("/api/v1.3/containers{full}"))
        .unwrap();
    assert_eq!(by_name["aliases"], json!([cname, c.id]));

    // v2.0 spec and stats with type=docker.
    let spec = agent
        .get_json(&format!("/api/v2.0/spec/{}?type=docker", c.id))
        .unwrap();
    let s = &spec[&full];
    assert_eq!(s["aliases"], json!([cname, c.id]), "{spec}");
    assert_eq!(s["namespace"], "docker", "{spec}");
    check_spec(s);
    let stats = agent
        .get_json(&format!("/api/v2.0/stats/{cname}?type=docker&count=2"))
        .unwrap();
    let samples = stats[&full].as_array().unwrap();
    assert_eq!(samples.len(), 2, "{stats}");
    assert_eq!(samples[1]["has_memory"], true);
    assert!(samples[1]["memory"]["usage"].as_u64().unwrap() > 0);

    // Removed: gone from the API.
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = agent.get(&path);
        if status != 200 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 500, "{body}");
    assert_eq!(agent.get(&format!("/api/v1.3/containers{full}")).0, 500);
    agent.assert_healthy();
}

/// runc writes a container's limits after making its cgroup, and moves its first process in before
/// that process joins the container's network namespace: a container started while the agent runs
/// must still show its `--memory` limit and its own network, not what the fresh cgroup showed.
#[test]
fn container_started_under_a_running_agent_shows_its_limit_and_network() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(agent) = Agent::launch(&["--allow_dynamic_housekeeping=false"]) else {
        return;
    };
    let cname = format!("bpfa-e2e-late-{}", std::process::id());
    let c = daemon
        .run(&[
            "--name",
            &cname,
            "--memory",
            "48m",
            docker::BUSYBOX_IMAGE,
            "sleep",
            "600",
        ])
        .unwrap();
    let full = c.cgroup_name();
    let settled = |v: &Value| {
        v["spec"]["memory"]["limit"] == 48u64 << 20
            && v["spec"]["has_network"] == true
            && v["stats"]
                .as_array()
                .and_then(|s| s.last())
                .is_some_and(|s| {
                    s["network"]["interfaces"]
                        .as_array()
                        .is_some_and(|i| !i.is_empty())
                })
    };
    let v = agent
        .wait_json(
            &format!("/api/v1.3/containers{full}"),
            // The late re-reads of `has_network` run 1, 2, 4, 8 and 16 s apart: a loaded machine
            // can miss the first few.
            Duration::from_secs(40),
            settled,
        )
        .unwrap();
    assert!(settled(&v), "{}", v["spec"]);
    agent.assert_healthy();
}
