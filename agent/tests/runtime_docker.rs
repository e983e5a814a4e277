//! Runtime metadata against a real Docker daemon: names, labels, envs, image of a started container;
//! refresh on Docker events; a daemon that goes away and comes back.

#[path = "support/docker.rs"]
mod docker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bpfadvisor::runtime::env::EnvWhitelist;
use bpfadvisor::runtime::{
    self, ContainerMetadata, MetadataUpdate, RuntimeConfig, RuntimeHandle, RuntimeKind,
};
use docker::{BUSYBOX_IMAGE, Daemon};
use tokio::sync::mpsc;

fn config(host: &str) -> RuntimeConfig {
    RuntimeConfig {
        docker_endpoint: host.to_string(),
        podman_endpoint: String::new(),
        containerd_endpoint: String::new(),
        env_whitelist: EnvWhitelist::unified(vec!["BPFA_".into()]),
        request_timeout: Duration::from_secs(5),
        max_backoff: Duration::from_millis(500),
        ..RuntimeConfig::default()
    }
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("bpfa-{tag}-{}-{nanos}", std::process::id())
}

/// The next update for `name` whose metadata satisfies `ok`, within `limit`.
async fn wait_for(
    rx: &mut mpsc::Receiver<MetadataUpdate>,
    name: &str,
    limit: Duration,
    ok: impl Fn(&Option<Arc<ContainerMetadata>>) -> bool,
) -> Option<Option<Arc<ContainerMetadata>>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let u = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        if u.name == name && ok(&u.meta) {
            return Some(u.meta);
        }
    }
}

async fn wait_status(h: &RuntimeHandle, connected: bool, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if h.status()
            .get(RuntimeKind::Docker)
            .is_some_and(|s| s.connected == connected)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_container_has_aliases_labels_envs_image() {
    let Some(d) = Daemon::shared() else { return };
    d.ensure_busybox().expect("busybox image");
    let name = unique("meta");
    let c = d
        .run(&[
            "--name",
            &name,
            "--label",
            "app=web",
            "--label",
            "io.kubernetes.pod.name=web-0",
            "--label",
            "io.kubernetes.pod.namespace=prod",
            "--label",
            "io.kubernetes.container.name=nginx",
            "-e",
            "BPFA_MODE=test",
            "-e",
            "SECRET=hidden",
            "--memory",
            "32m",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            BUSYBOX_IMAGE,
            "sleep",
            "300",
        ])
        .expect("container runs");

    let (tx, mut rx) = mpsc::channel(64);
    let h = runtime::start(config(&d.host), tx);
    let cg = c.cgroup_name();
    h.request(&cg);
    let meta = wait_for(&mut rx, &cg, Duration::from_secs(15), |m| m.is_some())
        .await
        .flatten()
        .expect("metadata arrives");
    assert_eq!(meta.aliases, vec![name.clone(), c.id.clone()]);
    assert_eq!(meta.namespace, "docker");
    assert_eq!(meta.image, BUSYBOX_IMAGE);
    assert_eq!(meta.labels.get("app").map(String::as_str), Some("web"));
    assert!(!meta.labels.contains_key("restartcount"));
    assert_eq!(meta.envs.len(), 1, "only whitelisted envs: {:?}", meta.envs);
    // Keys lower-cased, as cAdvisor stores Docker's.
    assert_eq!(meta.envs.get("bpfa_mode").map(String::as_str), Some("test"));
    assert!(meta.creation_time.is_some() && meta.start_time.is_some());
    let k = meta.kubernetes().expect("kubernetes labels");
    assert_eq!(
        (k.container, k.pod, k.namespace),
        ("nginx", "web-0", "prod")
    );
    // The cache answers without waiting, under either cgroup driver's spelling.
    assert_eq!(h.lookup(&cg).as_deref(), Some(&*meta));
    assert!(
        h.lookup(&format!("/system.slice/docker-{}.scope", c.id))
            .is_some()
    );
    let st = h.status();
    let st = st.get(RuntimeKind::Docker).expect("docker registered");
    assert!(st.connected && !st.version.is_empty(), "{st:?}");

    // Health changes arrive through Docker's event stream (`health_status: healthy`).
    let healthy = wait_for(&mut rx, &cg, Duration::from_secs(15), |m| {
        m.as_ref().is_some_and(|m| m.health == "healthy")
    })
    .await;
    assert!(healthy.is_some() || h.lookup(&cg).is_some_and(|m| m.health == "healthy"));

    // A rename arrives through Docker's event stream, without asking again.
    let renamed = unique("renamed");
    d.docker(&["rename", &name, &renamed]).expect("rename");
    let meta = wait_for(&mut rx, &cg, Duration::from_secs(15), |m| {
        m.as_ref()
            .is_some_and(|m| m.aliases.first() == Some(&renamed))
    })
    .await
    .flatten()
    .expect("rename refreshes metadata");
    assert_eq!(meta.id, c.id);

    // A container that no runtime knows is reported as such.
    let ghost = format!("/docker/{}", "0".repeat(64));
    h.request(&ghost);
    let none = wait_for(&mut rx, &ghost, Duration::from_secs(15), |m| m.is_none()).await;
    assert_eq!(none, Some(None));
    assert!(h.lookup(&ghost).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_stop_and_restart_restores_metadata() {
    let Some(mut d) = Daemon::private(true) else {
        return;
    };
    d.ensure_busybox().expect("busybox image");
    let run = |tag: &str| {
        d.run(&[
            "--network",
            "none",
            "--name",
            &unique(tag),
            BUSYBOX_IMAGE,
            "sleep",
            "300",
        ])
        .expect("container runs")
    };
    let a = run("a");
    let b = run("b");

    let (tx, mut rx) = mpsc::channel(64);
    let h = runtime::start(config(&d.host), tx);
    h.request(&a.cgroup_name());
    let meta_a = wait_for(&mut rx, &a.cgroup_name(), Duration::from_secs(15), |m| {
        m.is_some()
    })
    .await
    .flatten()
    .expect("metadata for a");
    assert_eq!(meta_a.aliases[0], a.name);

    d.stop();
    assert!(
        wait_status(&h, false, Duration::from_secs(10)).await,
        "disconnect noticed"
    );
    // Nothing waits on the absent daemon: the cache still answers and requests return at once.
    let t = Instant::now();
    h.request(&b.cgroup_name());
    assert_eq!(h.lookup(&a.cgroup_name()).as_deref(), Some(&*meta_a));
    assert!(h.lookup(&b.cgroup_name()).is_none());
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        !h.status()
            .get(RuntimeKind::Docker)
            .expect("registered")
            .last_error
            .is_empty()
    );

    assert!(d.start(true), "private dockerd restarts");
    let meta_b = wait_for(&mut rx, &b.cgroup_name(), Duration::from_secs(20), |m| {
        m.is_some()
    })
    .await
    .flatten()
    .expect("metadata asked for while the daemon was down arrives after it returns");
    assert_eq!(meta_b.aliases, vec![b.name.clone(), b.id.clone()]);
    assert!(wait_status(&h, true, Duration::from_secs(5)).await);

    // The event stream is followed again after the reconnect.
    let renamed = unique("a2");
    d.docker(&["rename", &a.name, &renamed]).expect("rename");
    let meta_a = wait_for(&mut rx, &a.cgroup_name(), Duration::from_secs(15), |m| {
        m.as_ref()
            .is_some_and(|m| m.aliases.first() == Some(&renamed))
    })
    .await
    .flatten()
    .expect("events followed after reconnect");
    assert_eq!(meta_a.id, a.id);
    drop((a, b));
}

#[tokio::test]
async fn absent_daemon_is_harmless() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = format!("unix://{}", dir.path().join("nothing.sock").display());
    let (tx, mut rx) = mpsc::channel(4);
    let h = runtime::start(config(&host), tx);
    let name = format!("/docker/{}", "a".repeat(64));
    h.request(&name);
    assert!(h.lookup(&name).is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let st = h.status();
    let st = st.get(RuntimeKind::Docker).expect("registered");
    assert!(!st.connected);
    assert!(st.last_error.contains("nothing.sock"), "{}", st.last_error);
    assert!(rx.try_recv().is_err(), "no update without a daemon");
}

/// Removes the (empty) parent cgroups a `--cgroup-parent` run leaves in every hierarchy.
struct CgroupParents(Vec<String>);

impl Drop for CgroupParents {
    fn drop(&mut self) {
        let root = bpfadvisor::host::HostPaths::local().cgroup;
        let Ok(hierarchies) = std::fs::read_dir(root) else {
            return;
        };
        let hierarchies: Vec<_> = hierarchies.flatten().map(|h| h.path()).collect();
        // Deepest first; rmdir only removes empty cgroups.
        for p in self.0.iter().rev() {
            for h in &hierarchies {
                let _ = std::fs::remove_dir(h.join(p.trim_start_matches('/')));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubepods_cgroupfs_name_resolves_through_docker() {
    let Some(d) = Daemon::shared() else { return };
    d.ensure_busybox().expect("busybox image");
    // As the kubelet's cgroupfs driver with dockershim lays it out: /kubepods/<qos>/pod<uid>/<id>.
    let pod = format!("/kubepods/besteffort/pod{}", unique("uid"));
    let _parents = CgroupParents(vec![
        "/kubepods".into(),
        "/kubepods/besteffort".into(),
        pod.clone(),
    ]);
    let c = d
        .run(&[
            "--cgroup-parent",
            &pod,
            "--network",
            "none",
            BUSYBOX_IMAGE,
            "sleep",
            "300",
        ])
        .expect("container runs");
    let name = format!("{pod}/{}", c.id);
    let (tx, mut rx) = mpsc::channel(16);
    let h = runtime::start(config(&d.host), tx);
    h.request(&name);
    let meta = wait_for(&mut rx, &name, Duration::from_secs(15), |m| m.is_some())
        .await
        .flatten()
        .expect("docker resolves the bare id");
    assert_eq!(meta.runtime, RuntimeKind::Docker);
    assert_eq!(meta.aliases, vec![c.name.clone(), c.id.clone()]);
    drop(c);
}
