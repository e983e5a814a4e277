//! End-to-end, as root with Docker: a container's writable layer is measured. A container that writes
//! a 20 MB file a few seconds after it starts shows `filesystem` usage growing by about 20 MB in
//! `/api/v2.0/stats/<id>?type=docker` and `/api/v1.3/docker/<name>`, with `has_filesystem` in its
//! spec, and the same value in `container_fs_usage_bytes{name=...}` with the layer's device.
//!
//! The walker's first pass comes about a second after the container is seen, the next one a minute
//! later (cAdvisor's period): this test takes a little over a minute.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::time::Duration;

use agent::Agent;
use serde_json::Value;

const MB: u64 = 1 << 20;

/// The single `filesystem` entry of the newest v2.0 (deprecated) stats sample, when there is one.
fn newest_fs(stats: &Value, name: &str) -> Option<Value> {
    let last = stats[name].as_array()?.last()?;
    let fs = last["filesystem"].as_array()?;
    (fs.len() == 1).then(|| fs[0].clone())
}

/// Value of `family{...name="<name>"...}` and its `device` label from the text exposition.
fn metric(text: &str, family: &str, name: &str) -> Option<(String, f64)> {
    let want = format!("name=\"{name}\"");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&want))?;
    let device = line
        .split("device=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_string();
    // `family{labels} value [timestamp]`
    let value = line.rsplit_once("} ")?.1.split(' ').next()?.parse().ok()?;
    Some((device, value))
}

#[test]
fn docker_container_writable_layer_usage_grows_with_a_written_file() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let cname = format!("bpfa-e2e-dockerfs-{}", std::process::id());
    let c = daemon
        .run(&[
            "--name",
            &cname,
            docker::BUSYBOX_IMAGE,
            "sh",
            "-c",
            "sleep 8; dd if=/dev/zero of=/big bs=1M count=20; sync; sleep 600",
        ])
        .unwrap();
    let full = c.cgroup_name();
    let Some(agent) = Agent::launch(&["--allow_dynamic_housekeeping=false"]) else {
        return;
    };
    let stats_path = format!("/api/v2.0/stats/{}?type=docker&count=1", c.id);

    // First walk, before the container wrote its file.
    let v = agent
        .wait_json(&stats_path, Duration::from_secs(20), |v| {
            newest_fs(v, &full).is_some()
        })
        .unwrap();
    let first = newest_fs(&v, &full).unwrap_or_else(|| panic!("no filesystem: {v}"));
    let before = first["usage"].as_u64().unwrap();
    assert!(before < 20 * MB, "{first}");
    assert!(first["base_usage"].as_u64().unwrap() <= before, "{first}");
    let device = first["device"].as_str().unwrap().to_string();
    assert!(device.starts_with('/'), "{first}");
    assert!(first["capacity"].as_u64().unwrap() > 20 * MB, "{first}");
    assert!(first["inodes"].as_u64().unwrap() >= 1, "{first}");
    let spec = agent
        .get_json(&format!("/api/v2.0/spec/{}?type=docker", c.id))
        .unwrap();
    assert_eq!(spec[&full]["has_filesystem"], true, "{spec}");

    // The next walk (a minute later, with up to 25% jitter) sees the 20 MB file.
    let v = agent
        .wait_json(&stats_path, Duration::from_secs(100), |v| {
            newest_fs(v, &full).is_some_and(|f| f["usage"].as_u64() >= Some(before + 19 * MB))
        })
        .unwrap();
    let after = newest_fs(&v, &full).unwrap_or_else(|| panic!("no filesystem: {v}"));
    let grown = after["usage"].as_u64().unwrap() - before;
    assert!(
        (19 * MB..22 * MB).contains(&grown),
        "grew by {grown}: {first} → {after}"
    );
    // The file is in the writable layer: base usage grew as much.
    assert!(after["base_usage"].as_u64().unwrap() >= 20 * MB, "{after}");
    assert_eq!(after["device"], device.as_str());

    // v1.3 docker/<name> carries the same entry.
    let v1 = agent
        .get_json(&format!("/api/v1.3/docker/{cname}"))
        .unwrap();
    assert_eq!(v1[&full]["spec"]["has_filesystem"], true);
    let fs = v1[&full]["stats"].as_array().unwrap().last().unwrap()["filesystem"].clone();
    assert!(fs[0]["usage"].as_u64().unwrap() >= before + 19 * MB, "{fs}");

    // Prometheus: the docker container's usage and limit under its name, with the layer's device.
    let (status, text) = agent.get("/metrics");
    assert_eq!(status, 200);
    let (dev, usage) = metric(&text, "container_fs_usage_bytes", &cname)
        .unwrap_or_else(|| panic!("no container_fs_usage_bytes for {cname}"));
    assert_eq!(dev, device);
    assert!(usage >= (before + 19 * MB) as f64, "{usage}");
    let (_, limit) = metric(&text, "container_fs_limit_bytes", &cname).unwrap();
    assert!(limit > usage, "limit {limit} usage {usage}");
    let (_, inodes) = metric(&text, "container_fs_inodes_total", &cname).unwrap();
    assert!(inodes >= 2.0, "{inodes}");
    agent.assert_healthy();
}
