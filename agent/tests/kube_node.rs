//! End-to-end, as root with Docker: two pods made the way cri-dockerd makes them (a pause container
//! labelled `io.kubernetes.docker.type=podsandbox`, containers joining its network namespace, every
//! container labelled with the pod's name, namespace and uid and its own name) inside pod cgroups
//! of both drivers' spellings (`/kubepods/burstable/pod<uid>` and
//! `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice`). The real agent's
//! `/stats/summary` and `/metrics/resource` give every pod and container, with values equal to the
//! agent's own `/api/v2.0/stats` sample at the same instant; the summary decodes into kubelet's field
//! set and `promtool check metrics` accepts the resource metrics.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/docker.rs"]
mod docker;
#[path = "support/kubelet_stats.rs"]
mod kubelet_stats;
#[path = "support/promtool.rs"]
mod promtool;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use agent::Agent;
use bpfadvisor::host::HostPaths;
use bpfadvisor::model::json::Timestamp;
use serde_json::Value;

/// Pod cgroups made in every mounted hierarchy before the pod's containers, as the kubelet makes
/// them; the directories this test made are removed (deepest first) on drop.
struct PodCgroups {
    made: Vec<PathBuf>,
}

impl PodCgroups {
    fn make(host: &HostPaths, names: &[&str]) -> Self {
        let mut roots: Vec<PathBuf> = fs::read_dir(&host.cgroup)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("cgroup.procs").exists())
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        roots.sort();
        roots.dedup();
        let mut made = Vec::new();
        for root in &roots {
            for name in names {
                let mut dir = root.clone();
                for part in name.trim_start_matches('/').split('/') {
                    dir.push(part);
                    if !dir.exists() {
                        fs::create_dir(&dir).unwrap();
                        made.push(dir.clone());
                    }
                }
            }
        }
        Self { made }
    }
}

impl Drop for PodCgroups {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            // The runtime removes a container's cgroup just after `docker rm` returns.
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One container of a pod: its Kubernetes name and cgroup name.
struct Member {
    name: &'static str,
    cgroup: String,
}

/// A pod made as cri-dockerd makes one.
struct Pod {
    name: String,
    uid: String,
    cgroup: String,
    members: Vec<Member>,
    _containers: Vec<docker::Container>,
}

const NAMESPACE: &str = "bpfa-kube-test";

/// The labels cri-dockerd puts on a container of a pod.
fn labels(pod: &str, uid: &str, container: &str) -> Vec<String> {
    [
        format!("io.kubernetes.pod.name={pod}"),
        format!("io.kubernetes.pod.namespace={NAMESPACE}"),
        format!("io.kubernetes.pod.uid={uid}"),
        format!("io.kubernetes.container.name={container}"),
    ]
    .into_iter()
    .flat_map(|l| ["--label".to_string(), l])
    .collect()
}

/// Starts the pause container and `containers` (name, extra `docker run` flags, command) in
/// `cgroup`.
fn start_pod(
    d: &docker::Daemon,
    name: &str,
    uid: &str,
    cgroup: &str,
    containers: &[(&'static str, &[&str], &[&str])],
) -> Pod {
    let tag = format!("bpfa-kube-{}-{name}", std::process::id());
    let mut args: Vec<String> = vec![
        "--name".into(),
        format!("{tag}-pause"),
        "--cgroup-parent".into(),
        cgroup.into(),
        "--label".into(),
        "io.kubernetes.docker.type=podsandbox".into(),
    ];
    args.extend(labels(name, uid, "POD"));
    args.extend([docker::BUSYBOX_IMAGE, "sleep", "3600"].map(String::from));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let pause = d.run(&argv).unwrap();
    let mut members = Vec::new();
    let mut all = vec![];
    let network = format!("container:{}", pause.id);
    for (cname, extra, cmd) in containers {
        let mut args: Vec<String> = vec![
            "--name".into(),
            format!("{tag}-{cname}"),
            "--cgroup-parent".into(),
            cgroup.into(),
            "--network".into(),
            network.clone(),
            "--label".into(),
            "io.kubernetes.docker.type=container".into(),
        ];
        args.extend(labels(name, uid, cname));
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(docker::BUSYBOX_IMAGE.into());
        args.extend(cmd.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = d.run(&argv).unwrap();
        members.push(Member {
            name: cname,
            cgroup: format!("{cgroup}/{}", c.id),
        });
        all.push(c);
    }
    // Removed after the containers that share its network namespace.
    all.push(pause);
    Pod {
        name: name.into(),
        uid: uid.into(),
        cgroup: cgroup.into(),
        members,
        _containers: all,
    }
}

/// A v2.0 sample's figures.
#[derive(Debug)]
struct V2Sample {
    nanos: i64,
    cpu_total: u64,
    cpu_inst: Option<u64>,
    working_set: u64,
    usage: u64,
    rss: u64,
}

/// Every sample `/api/v2.0/stats` holds for `cgroup`.
fn v2_samples(agent: &Agent, cgroup: &str) -> Vec<V2Sample> {
    let path = format!("/api/v2.0/stats{cgroup}?count=-1");
    let v = agent.get_json(&path).unwrap();
    v[cgroup]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {v}"))
        .iter()
        .map(|s| V2Sample {
            nanos: Timestamp::parse_rfc3339(s["timestamp"].as_str().unwrap())
                .unwrap()
                .as_unix_nanos(),
            cpu_total: s["cpu"]["usage"]["total"].as_u64().unwrap(),
            cpu_inst: s["cpu_inst"]["usage"]["total"].as_u64(),
            working_set: s["memory"]["working_set"].as_u64().unwrap(),
            usage: s["memory"]["usage"].as_u64().unwrap(),
            rss: s["memory"]["rss"].as_u64().unwrap(),
        })
        .collect()
}

fn secs_of(t: &Option<String>) -> i64 {
    Timestamp::parse_rfc3339(t.as_deref().unwrap())
        .unwrap()
        .as_unix_nanos()
        .div_euclid(1_000_000_000)
}

/// The summary's CPU and memory of `cgroup` are one v2 sample's: same second (the Summary API's
/// precision), same cumulative CPU and memory, `usageNanoCores` its `cpu_inst`.
fn same_as_v2(
    agent: &Agent,
    what: &str,
    cgroup: &str,
    cpu: &kubelet_stats::CpuStats,
    mem: &kubelet_stats::MemoryStats,
) {
    let samples = v2_samples(agent, cgroup);
    let secs = secs_of(&cpu.time);
    assert_eq!(secs, secs_of(&mem.time), "{what}: cpu and memory times");
    let found = samples.iter().find(|s| {
        s.nanos.div_euclid(1_000_000_000) == secs
            && Some(s.cpu_total) == cpu.usage_core_nano_seconds
            && Some(s.working_set) == mem.working_set_bytes
    });
    let Some(s) = found else {
        panic!("{what}: no v2 sample of {cgroup} at {secs} s matches {cpu:?} {mem:?}: {samples:?}");
    };
    assert_eq!(
        cpu.usage_nano_cores,
        Some(s.cpu_inst.unwrap_or(0)),
        "{what}"
    );
    assert_eq!(mem.usage_bytes, Some(s.usage), "{what}");
    assert_eq!(mem.rss_bytes, Some(s.rss), "{what}");
}

/// `/metrics/resource` samples: (family, sorted labels) → (value, timestamp ms).
type Series = BTreeMap<(String, Vec<(String, String)>), (f64, Option<i64>)>;

fn parse_exposition(text: &str) -> Series {
    let mut out = Series::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, rest) = match line.find('}') {
            Some(i) => (&line[..=i], line[i + 1..].trim()),
            None => line.split_once(' ').unwrap(),
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (head, ""),
        };
        let labels: Vec<(String, String)> = labels
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        let mut parts = rest.split(' ');
        let value: f64 = parts.next().unwrap().parse().unwrap();
        let ts = parts.next().map(|t| t.parse().unwrap());
        out.insert((name.to_string(), labels), (value, ts));
    }
    out
}

fn lbl(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A resource-metrics CPU and working-set pair is one v2 sample's, to the millisecond.
fn series_same_as_v2(
    agent: &Agent,
    series: &Series,
    what: &str,
    cgroup: &str,
    fam: &str,
    labels: &[(&str, &str)],
) {
    let cpu_key = (format!("{fam}_cpu_usage_seconds_total"), lbl(labels));
    let mem_key = (format!("{fam}_memory_working_set_bytes"), lbl(labels));
    let (cpu, cpu_ts) = series
        .get(&cpu_key)
        .unwrap_or_else(|| panic!("{what}: no {cpu_key:?}"));
    let (mem, mem_ts) = series
        .get(&mem_key)
        .unwrap_or_else(|| panic!("{what}: no {mem_key:?}"));
    let samples = v2_samples(agent, cgroup);
    let at = |ts: &Option<i64>| {
        let ts = ts.unwrap_or_else(|| panic!("{what}: no sample timestamp"));
        samples
            .iter()
            .find(|s| s.nanos.div_euclid(1_000_000) == ts)
            .unwrap_or_else(|| panic!("{what}: no v2 sample of {cgroup} at {ts} ms: {samples:?}"))
    };
    assert_eq!(*cpu, at(cpu_ts).cpu_total as f64 / 1e9, "{what} cpu");
    assert_eq!(*mem, at(mem_ts).working_set as f64, "{what} working set");
}

#[test]
fn pods_of_docker_containers_in_kubepods_cgroups() {
    let host = HostPaths::local();
    if let Some(why) = agent::cgroup_skip_reason(&host) {
        return agent::missing(agent::Need::Root, why);
    }
    let Some(daemon) = docker::Daemon::shared_with_busybox() else {
        return;
    };
    let pid = std::process::id();
    let uid_a = format!("a1b2c3d4-0000-4000-8000-{pid:012}");
    let uid_b = format!("b1b2c3d4-0000-4000-8000-{pid:012}");
    let cg_a = format!("/kubepods/burstable/pod{uid_a}");
    let cg_b = format!(
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
        uid_b.replace('-', "_")
    );
    // Dropped last: after the containers are gone.
    let cgroups = PodCgroups::make(&host, &[&cg_a, &cg_b]);
    // A Burstable pod's memory limit, as the kubelet sets it on the pod cgroup.
    let memory = host
        .cgroup
        .join("memory")
        .join(cg_a.trim_start_matches('/'));
    fs::write(memory.join("memory.limit_in_bytes"), "268435456").unwrap();

    let (web, batch) = (format!("web-{pid}"), format!("batch-{pid}"));
    let pod_a = start_pod(
        &daemon,
        &web,
        &uid_a,
        &cg_a,
        &[
            // A tenth of a core of work, so usageNanoCores is not 0.
            (
                "app",
                &["--cpus", "0.1", "--memory", "64m"],
                &["sh", "-c", "while :; do :; done"],
            ),
            ("sidecar", &[], &["sleep", "3600"]),
        ],
    );
    let pod_b = start_pod(
        &daemon,
        &batch,
        &uid_b,
        &cg_b,
        &[("worker", &[], &["sleep", "3600"])],
    );
    let pods = [&pod_a, &pod_b];

    let Some(agent) = Agent::launch(&["--allow_dynamic_housekeeping=false"]) else {
        return;
    };
    // Every container described by Docker and sampled, then again (usageNanoCores needs two).
    agent
        .wait_json("/stats/summary", Duration::from_secs(30), |v| {
            pods.iter().all(|p| {
                v["pods"].as_array().is_some_and(|all| {
                    all.iter().any(|q| {
                        q["podRef"]["name"] == p.name.as_str()
                            && q["cpu"].is_object()
                            && q["containers"].as_array().is_some_and(|c| {
                                c.len() == p.members.len() && c.iter().all(|c| c["cpu"].is_object())
                            })
                    })
                })
            })
        })
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));

    let (status, body) = agent.get("/stats/summary");
    assert_eq!(status, 200, "{body}");
    kubelet_stats::times_are_metav1(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    let summary = kubelet_stats::decode(&body).unwrap();

    let node = &summary.node;
    let hostname = fs::read_to_string(host.proc.join("sys/kernel/hostname")).unwrap();
    assert_eq!(node.node_name, hostname.trim());
    same_as_v2(
        &agent,
        "node",
        "/",
        node.cpu.as_ref().unwrap(),
        node.memory.as_ref().unwrap(),
    );
    assert!(
        node.fs.as_ref().is_some_and(|f| f.capacity_bytes.is_some()),
        "{body}"
    );
    assert!(
        node.runtime.as_ref().is_some_and(|r| r.image_fs.is_some()),
        "{body}"
    );
    assert!(
        node.rlimit
            .as_ref()
            .is_some_and(|r| r.maxpid.is_some() && r.curproc.is_some())
    );
    assert!(
        node.system_containers
            .iter()
            .flatten()
            .any(|c| c.name == "pods"),
        "{body}"
    );

    let all_pods = summary.pods.as_ref().unwrap();
    for p in pods {
        let what = format!("pod {}", p.name);
        let s = all_pods
            .iter()
            .find(|q| q.pod_ref.name == p.name)
            .unwrap_or_else(|| panic!("{what} missing: {body}"));
        assert_eq!(
            (s.pod_ref.namespace.as_str(), s.pod_ref.uid.as_str()),
            (NAMESPACE, p.uid.as_str())
        );
        same_as_v2(
            &agent,
            &what,
            &p.cgroup,
            s.cpu.as_ref().unwrap(),
            s.memory.as_ref().unwrap(),
        );
        // The sandbox's network, the default interface inlined.
        let net = s
            .network
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no network"));
        assert_eq!(net.name, "eth0", "{what}");
        assert!(net.rx_bytes.is_some(), "{what}");
        assert!(s.ephemeral_storage.is_some(), "{what}");
        assert!(s.start_time.is_some(), "{what}");
        let containers = s.containers.as_ref().unwrap();
        let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        let expected: Vec<&str> = p.members.iter().map(|m| m.name).collect();
        assert_eq!(names, expected, "{what}: the sandbox is not a container");
        for (m, c) in p.members.iter().zip(containers) {
            let what = format!("{what} container {}", m.name);
            same_as_v2(
                &agent,
                &what,
                &m.cgroup,
                c.cpu.as_ref().unwrap(),
                c.memory.as_ref().unwrap(),
            );
            assert!(c.rootfs.is_some() && c.logs.is_some(), "{what}: {body}");
        }
    }
    let app = all_pods
        .iter()
        .find(|q| q.pod_ref.name == web)
        .and_then(|q| q.containers.as_ref())
        .and_then(|c| c.iter().find(|c| c.name == "app"))
        .unwrap();
    assert!(app.cpu.as_ref().unwrap().usage_nano_cores.unwrap() > 0);
    // --memory 64m: available = limit - working set.
    let mem = app.memory.as_ref().unwrap();
    assert_eq!(
        mem.available_bytes,
        Some((64 << 20) - mem.working_set_bytes.unwrap())
    );
    let web_pod = all_pods.iter().find(|q| q.pod_ref.name == web).unwrap();
    let pod_mem = web_pod.memory.as_ref().unwrap();
    assert_eq!(
        pod_mem.available_bytes,
        Some((256 << 20) - pod_mem.working_set_bytes.unwrap())
    );

    let (status, body) = agent.get("/stats/summary?only_cpu_and_memory=true");
    assert_eq!(status, 200);
    let small = kubelet_stats::decode(&body).unwrap();
    assert!(small.node.fs.is_none() && small.node.network.is_none());
    assert!(small.pods.unwrap().iter().all(|p| p.network.is_none()));

    let (status, text) = agent.get("/metrics/resource");
    assert_eq!(status, 200);
    promtool::assert_clean(&text);
    let series = parse_exposition(&text);
    series_same_as_v2(&agent, &series, "node", "/", "node", &[]);
    for p in pods {
        let what = format!("pod {}", p.name);
        let pl = [("namespace", NAMESPACE), ("pod", p.name.as_str())];
        series_same_as_v2(&agent, &series, &what, &p.cgroup, "pod", &pl);
        for m in &p.members {
            let cl = [
                ("container", m.name),
                ("namespace", NAMESPACE),
                ("pod", p.name.as_str()),
            ];
            series_same_as_v2(
                &agent,
                &series,
                &format!("{what} {}", m.name),
                &m.cgroup,
                "container",
                &cl,
            );
            let start = ("container_start_time_seconds".to_string(), lbl(&cl));
            assert!(series.contains_key(&start), "{start:?}");
        }
    }
    assert!(!text.contains("container=\"POD\""));
    assert!(text.contains("\nresource_scrape_error 0\n"));

    let (status, text) = agent.get("/metrics/cadvisor");
    assert_eq!(status, 200);
    assert!(
        text.contains(&format!("pod=\"{web}\"")) && text.contains("container=\"app\""),
        "kubelet's cadvisor labels"
    );
    agent.assert_healthy();
    drop(agent);
    drop(pod_a);
    drop(pod_b);
    drop(cgroups);
}
