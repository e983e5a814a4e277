//! End-to-end, as root with Docker: `/metrics` series of a real Docker container carry cAdvisor's
//! family names, types and label names (compared with the reference table
//! `fixtures/cadvisor-metrics.tsv`), including `container_label_*` and whitelisted `container_env_*`.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use agent::Agent;

/// Families Kubernetes dashboards and rules query, which every running Docker container must have.
const MUST_HAVE: &[&str] = &[
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_memory_rss",
    "container_memory_cache",
    "container_memory_swap",
    "container_memory_usage_bytes",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_start_time_seconds",
    "container_oom_events_total",
    "container_spec_memory_limit_bytes",
    "container_last_seen",
];

struct Reference {
    kind: String,
    /// Label names without the `container_label_*` / `container_env_*` wildcards.
    labels: BTreeSet<String>,
}

fn reference() -> BTreeMap<String, Reference> {
    let tsv = include_str!("fixtures/cadvisor-metrics.tsv");
    tsv.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let labels = cols
                .get(4)?
                .split(',')
                .filter(|s| !s.is_empty() && !s.ends_with('*'))
                .map(String::from)
                .collect();
            Some((
                cols[0].to_string(),
                Reference {
                    kind: cols[1].to_string(),
                    labels,
                },
            ))
        })
        .collect()
}

/// Label names of one exposition sample line (`name{a="x",b="y\"z"} 1 123`).
fn label_names(line: &str) -> (String, BTreeSet<String>) {
    let Some(open) = line.find('{') else {
        let name = line.split_whitespace().next().unwrap_or_default();
        return (name.to_string(), BTreeSet::new());
    };
    let mut names = BTreeSet::new();
    let mut rest = &line[open + 1..];
    while let Some(eq) = rest.find('=') {
        names.insert(rest[..eq].trim_start_matches(',').to_string());
        // Skip the quoted value, honouring backslash escapes.
        let value = &rest[eq + 2..];
        let mut escaped = false;
        let mut end = value.len();
        for (i, c) in value.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        rest = &value[(end + 1).min(value.len())..];
        if rest.starts_with('}') {
            break;
        }
    }
    (line[..open].to_string(), names)
}

#[test]
fn docker_container_series_match_cadvisor_names_types_and_labels() {
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let cname = format!("bpfa-e2e-metrics-{}", std::process::id());
    let c = daemon
        .run(&[
            "--name",
            &cname,
            "--label",
            "com.example.e2e=yes",
            "-e",
            "BPFA_E2E=hello",
            "--memory",
            "64m",
            docker::BUSYBOX_IMAGE,
            "sleep",
            "600",
        ])
        .unwrap();
    let id_label = format!("id=\"{}\"", c.cgroup_name());
    let Some(agent) = Agent::launch(&["--env_metadata_whitelist=BPFA_"]) else {
        return;
    };

    // Wait until the container's series carry its runtime metadata.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = agent.get("/metrics");
        assert_eq!(status, 200, "{body}");
        let ready = body.lines().any(|l| {
            l.starts_with("container_cpu_usage_seconds_total{")
                && l.contains(&id_label)
                && l.contains("container_label_com_example_e2e=\"yes\"")
        });
        if ready {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no labelled series for {id_label}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    let reference = reference();
    let mut types = BTreeMap::new();
    let mut ours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in body.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut it = t.split_whitespace();
            if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                types.insert(name.to_string(), kind.to_string());
            }
        } else if !line.starts_with('#') && line.contains(&id_label) {
            let (family, labels) = label_names(line);
            ours.entry(family).or_default().extend(labels);
        }
    }

    let mut problems = Vec::new();
    for name in MUST_HAVE {
        if !ours.contains_key(*name) {
            problems.push(format!("{name}: no series for the container"));
        }
    }
    for (family, labels) in &ours {
        let Some(want) = reference.get(family) else {
            problems.push(format!("{family}: not a cAdvisor family"));
            continue;
        };
        if types.get(family) != Some(&want.kind) {
            problems.push(format!(
                "{family}: type {:?}, cAdvisor {}",
                types.get(family),
                want.kind
            ));
        }
        let fixed: BTreeSet<String> = labels
            .iter()
            .filter(|l| !l.starts_with("container_label_") && !l.starts_with("container_env_"))
            .cloned()
            .collect();
        if fixed != want.labels {
            problems.push(format!(
                "{family}: labels {fixed:?}, cAdvisor {:?}",
                want.labels
            ));
        }
        if !labels.contains("container_label_com_example_e2e")
            || !labels.contains("container_env_bpfa_e2e")
        {
            problems.push(format!(
                "{family}: runtime label/env missing from {labels:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
    agent.assert_healthy();
}
