//! End-to-end, as root with Docker: stopping the Docker daemon does not stop stats collection, and
//! restarting it restores metadata.
//!
//! A private dockerd runs with `--live-restore`, so its container keeps running under
//! containerd-shim while the daemon is away. Two agents watch it: one started while dockerd is up
//! (metadata known, must keep sampling and keep the metadata through the outage, and follow Docker's
//! events again once it is back), and one started while dockerd is down (sees a raw `/docker/<id>`
//! cgroup, samples it, and fills in aliases and labels once dockerd returns).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::time::Duration;

use agent::{Agent, ts_ns};
use bpfadvisor::host::HostPaths;
use serde_json::{Value, json};

/// Timestamp (ns) of the newest sample in a v1 `ContainerInfo`.
fn newest_sample(info: &Value) -> i128 {
    info["stats"]
        .as_array()
        .and_then(|s| s.last())
        .map(|s| ts_ns(&s["timestamp"]).unwrap())
        .unwrap_or(0)
}

/// Waits until `agent` reports a sample for `cgroup` newer than `after`; returns its timestamp.
fn fresh_sample(agent: &Agent, cgroup: &str, after: i128) -> i128 {
    let path = format!("/api/v1.3/containers{cgroup}");
    let v = agent
        .wait_json(&path, Duration::from_secs(8), |v| newest_sample(v) > after)
        .unwrap();
    let t = newest_sample(&v);
    assert!(t > after, "no sample after {after} for {cgroup}: {v}");
    t
}

fn has_metadata(v: &Value, name: &str, id: &str) -> bool {
    v["aliases"] == json!([name, id])
        && v["namespace"] == "docker"
        && v["spec"]["labels"]["com.example.restart"] == "yes"
}

#[test]
fn dockerd_outage_keeps_stats_and_restart_restores_metadata() {
    if !agent::require_root() {
        return;
    }
    let Some(mut d) = docker::Daemon::private(true) else {
        return;
    };
    d.ensure_busybox().unwrap();
    let cname = format!("bpfa-e2e-restart-{}", std::process::id());
    let c = d
        .run(&[
            "--network",
            "none",
            "--name",
            &cname,
            "--label",
            "com.example.restart=yes",
            docker::BUSYBOX_IMAGE,
            "sleep",
            "600",
        ])
        .unwrap();
    let cgroup = c.cgroup_name();
    let docker_flag = format!("--docker={}", d.host);
    let flags = [
        docker_flag.as_str(),
        "--allow_dynamic_housekeeping=false",
        "--housekeeping_interval=500ms",
    ];
    let Some(before) = Agent::launch(&flags) else {
        return;
    };
    let by_cgroup = format!("/api/v1.3/containers{cgroup}");
    before
        .wait_json(&by_cgroup, Duration::from_secs(15), |v| {
            has_metadata(v, &cname, &c.id)
        })
        .unwrap();

    d.stop();
    // Live restore: the container outlives its daemon.
    let memcg = HostPaths::local()
        .cgroup
        .join("memory")
        .join(cgroup.trim_start_matches('/'));
    assert!(memcg.join("cgroup.procs").exists(), "container still runs");

    // Samples keep coming, the metadata stays, and the agent stays healthy.
    let t0 = fresh_sample(&before, &cgroup, 0);
    let t1 = fresh_sample(&before, &cgroup, t0);
    let info = before.get_json(&by_cgroup).unwrap();
    assert!(has_metadata(&info, &cname, &c.id), "{info}");
    before.assert_healthy();

    // An agent started during the outage monitors the container as a raw cgroup.
    let Some(during) = Agent::launch(&flags) else {
        return;
    };
    let t = fresh_sample(&during, &cgroup, 0);
    fresh_sample(&during, &cgroup, t);
    let raw = during.get_json(&by_cgroup).unwrap();
    assert_eq!(raw["name"], cgroup.as_str(), "{raw}");
    assert!(!has_metadata(&raw, &cname, &c.id), "{raw}");
    during.assert_healthy();

    assert!(d.start(true), "private dockerd restarts");
    // The outage-era agent gets the metadata once Docker answers.
    let v = during
        .wait_json(&by_cgroup, Duration::from_secs(15), |v| {
            has_metadata(v, &cname, &c.id)
        })
        .unwrap();
    assert!(has_metadata(&v, &cname, &c.id), "{v}");
    assert_eq!(v["spec"]["image"], docker::BUSYBOX_IMAGE, "{v}");
    let by_name = during
        .get_json(&format!("/api/v1.3/docker/{cname}"))
        .unwrap();
    assert!(by_name.get(&cgroup).is_some(), "{by_name}");

    // The agent that lived through the outage follows Docker's events again.
    let renamed = format!("{cname}-renamed");
    d.docker(&["rename", &cname, &renamed]).unwrap();
    let v = before
        .wait_json(&by_cgroup, Duration::from_secs(15), |v| {
            v["aliases"] == json!([renamed, c.id])
        })
        .unwrap();
    assert_eq!(v["aliases"], json!([renamed, c.id]), "{v}");
    fresh_sample(&before, &cgroup, t1);
    before.assert_healthy();
    during.assert_healthy();
    drop(c);
}
