//! End-to-end, as root with Docker: a container's writable layer is measured. A container created
//! with a 20 MB file copied into its writable layer (`docker cp`) and then started under a running
//! agent shows that file in its `filesystem` usage within seconds, since a new container's layer is
//! walked as soon as Docker describes it: in `/api/v2.0/stats/<id>?type=docker` and
//! `/api/v1.3/docker/<name>`, with `has_filesystem` in its spec, and as `container_fs_usage_bytes`
//! with the layer's device. (The walks a minute apart that follow are the walker's unit tests'.)
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
fn docker_container_writable_layer_usage_is_measured_as_it_starts() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let Some(agent) = Agent::launch(&["--allow_dynamic_housekeeping=false"]) else {
        return;
    };
    let cname = format!("bpfa-e2e-dockerfs-{}", std::process::id());
    let c = daemon
        .create(&["--name", &cname, docker::BUSYBOX_IMAGE, "sleep", "600"])
        .unwrap();
    // Not zeros: nothing on the way may make the copy sparse.
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![7u8; 20 * MB as usize]).unwrap();
    let src = big.path().display().to_string();
    daemon
        .docker(&["cp", &src, &format!("{}:/big", c.id)])
        .unwrap();
    daemon.docker(&["start", &c.id]).unwrap();
    let full = c.cgroup_name();
    let stats_path = format!("/api/v2.0/stats/{}?type=docker&count=1", c.id);

    let v = agent
        .wait_json(&stats_path, Duration::from_secs(15), |v| {
            newest_fs(v, &full).is_some_and(|f| f["usage"].as_u64() >= Some(20 * MB))
        })
        .unwrap();
    let fs = newest_fs(&v, &full).unwrap_or_else(|| panic!("no filesystem: {v}"));
    let usage = fs["usage"].as_u64().unwrap();
    assert!((20 * MB..23 * MB).contains(&usage), "{fs}");
    // The file is in the writable layer: base usage has it too.
    assert!(fs["base_usage"].as_u64().unwrap() >= 20 * MB, "{fs}");
    assert!(fs["base_usage"].as_u64().unwrap() <= usage, "{fs}");
    let device = fs["device"].as_str().unwrap().to_string();
    assert!(device.starts_with('/'), "{fs}");
    assert!(fs["capacity"].as_u64().unwrap() > 20 * MB, "{fs}");
    // The layer's directory and the file.
    assert!(fs["inodes"].as_u64().unwrap() >= 2, "{fs}");
    let spec = agent
        .get_json(&format!("/api/v2.0/spec/{}?type=docker", c.id))
        .unwrap();
    assert_eq!(spec[&full]["has_filesystem"], true, "{spec}");

    // v1.3 docker/<name> carries the same entry.
    let v1 = agent
        .get_json(&format!("/api/v1.3/docker/{cname}"))
        .unwrap();
    assert_eq!(v1[&full]["spec"]["has_filesystem"], true);
    let fs = v1[&full]["stats"].as_array().unwrap().last().unwrap()["filesystem"].clone();
    assert!(fs[0]["usage"].as_u64().unwrap() >= 20 * MB, "{fs}");
    assert_eq!(fs[0]["device"], device.as_str());

    // Prometheus: the docker container's usage and limit under its name, with the layer's device.
    let (status, text) = agent.get("/metrics");
    assert_eq!(status, 200);
    let (dev, usage) = metric(&text, "container_fs_usage_bytes", &cname)
        .unwrap_or_else(|| panic!("no container_fs_usage_bytes for {cname}"));
    assert_eq!(dev, device);
    assert!(usage >= (20 * MB) as f64, "{usage}");
    let (_, limit) = metric(&text, "container_fs_limit_bytes", &cname).unwrap();
    assert!(limit > usage, "limit {limit} usage {usage}");
    let (_, inodes) = metric(&text, "container_fs_inodes_total", &cname).unwrap();
    assert!(inodes >= 2.0, "{inodes}");
    agent.assert_healthy();
}
