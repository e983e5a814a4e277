//! Container runtime metadata (Docker, containerd, CRI-O, Podman, systemd) for cgroup-named containers.
//!
//! `id` maps a cgroup name to (runtime, id) without I/O. One background task per runtime endpoint owns
//! its connection and follows the runtime's event stream; results land in a shared cache that
//! [`RuntimeHandle::lookup`] reads without waiting, and every change is also sent to the registry as a
//! [`MetadataUpdate`]. Stats collection never waits for a runtime: a container whose runtime is down is
//! still a raw cgroup, and its metadata arrives when the runtime answers.

pub mod cache;
pub mod containerd;
pub mod crio;
pub mod docker;
pub mod env;
pub mod id;
mod retry;
pub mod systemd;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::Config;
use crate::model::v1;
use cache::{MetadataCache, StatusBoard};
use env::EnvWhitelist;

/// Who owns a container cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuntimeKind {
    Docker,
    Podman,
    Containerd,
    Crio,
    /// A `.service`/`.scope` unit: a raw container, no runtime metadata.
    Systemd,
    /// A bare container id whose parent does not say which runtime made it (kubepods with the cgroupfs
    /// driver, `/k8s.io/<id>`): whichever runtime knows the id owns it.
    Unresolved,
}

impl RuntimeKind {
    /// cAdvisor's `ContainerReference.namespace` for containers of this runtime.
    pub fn namespace(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
            // Whatever containerd namespace (`--containerd-namespace`) the container lives in.
            Self::Containerd => "containerd",
            Self::Crio => "crio",
            Self::Systemd | Self::Unresolved => "",
        }
    }
}

/// What a runtime knows about one container, in cAdvisor's terms (`ContainerReference` + the runtime
/// parts of `ContainerSpec` and `Health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMetadata {
    pub runtime: RuntimeKind,
    /// Full runtime id.
    pub id: String,
    /// Docker: `[name without "/", id]`; containerd: `[id, cgroup name]`.
    pub aliases: Vec<String>,
    pub namespace: String,
    /// Runtime labels, plus `restartcount` for Docker when it is above zero.
    pub labels: BTreeMap<String, String>,
    /// Environment variables picked by `--env_metadata_whitelist` ([`env`]: Docker's and Podman's
    /// keys lower-cased, as cAdvisor stores them).
    pub envs: BTreeMap<String, String>,
    pub image: String,
    pub creation_time: Option<SystemTime>,
    pub start_time: Option<SystemTime>,
    pub restart_count: u32,
    /// `healthy`, `unhealthy`, `starting`, or empty.
    pub health: String,
    pub ip: String,
    /// Exit code once the container stopped.
    pub exit_code: Option<i64>,
    /// Where the container's own files are, for its filesystem usage.
    pub storage: ContainerStorage,
}

/// A container's own directories, as absolute host paths (the runtime's view; readers prefix the
/// host root). Both `None` when the storage driver keeps no walkable directory (devicemapper, zfs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStorage {
    /// The writable layer (overlay2 `UpperDir`): cAdvisor's `base_usage`.
    pub writable_layer: Option<PathBuf>,
    /// The runtime's per-container directory (Docker `containers/<id>`: logs, hostname, resolv.conf),
    /// added to `usage` only.
    pub extra: Option<PathBuf>,
}

/// Kubernetes labels set by the kubelet on every container (dockershim, containerd CRI, CRI-O).
pub const KUBE_CONTAINER_LABEL: &str = "io.kubernetes.container.name";
pub const KUBE_POD_LABEL: &str = "io.kubernetes.pod.name";
pub const KUBE_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";

/// `container`, `pod`, `namespace` of a Kubernetes container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeNames<'a> {
    pub container: &'a str,
    pub pod: &'a str,
    pub namespace: &'a str,
}

impl ContainerMetadata {
    /// A container of `runtime` with id `id` and nothing else known yet (namespace from the
    /// runtime); each client fills in what its runtime says with `..ContainerMetadata::new(..)`.
    pub fn new(runtime: RuntimeKind, id: &str) -> Self {
        Self {
            runtime,
            id: id.to_string(),
            aliases: Vec::new(),
            namespace: runtime.namespace().to_string(),
            labels: BTreeMap::new(),
            envs: BTreeMap::new(),
            image: String::new(),
            creation_time: None,
            start_time: None,
            restart_count: 0,
            health: String::new(),
            ip: String::new(),
            exit_code: None,
            storage: ContainerStorage::default(),
        }
    }

    /// cAdvisor's `ContainerReference` for the cgroup `name`.
    pub fn reference(&self, name: &str) -> v1::ContainerReference {
        v1::ContainerReference {
            id: self.id.clone(),
            name: name.to_string(),
            aliases: self.aliases.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Overlays what the runtime knows on a spec read from cgroup files, as cAdvisor's runtime handlers
    /// do: labels, envs, image, and the runtime's creation/start times when it reports them.
    pub fn apply_to_spec(&self, spec: &mut v1::ContainerSpec) {
        spec.labels = self.labels.clone();
        spec.envs = self.envs.clone();
        spec.image = self.image.clone();
        if let Some(t) = self.creation_time {
            spec.creation_time = t.into();
        }
        if let Some(t) = self.start_time {
            spec.start_time = t.into();
        }
    }

    /// The Kubernetes names, when the runtime labels carry them.
    pub fn kubernetes(&self) -> Option<KubeNames<'_>> {
        let get = |k: &str| self.labels.get(k).map(String::as_str);
        Some(KubeNames {
            container: get(KUBE_CONTAINER_LABEL).unwrap_or(""),
            pod: get(KUBE_POD_LABEL)?,
            namespace: get(KUBE_NAMESPACE_LABEL)?,
        })
    }
}

/// Where the runtimes listen and what to collect. An empty endpoint disables that runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `--docker`, e.g. `unix:///var/run/docker.sock` or `tcp://host:2375`.
    pub docker_endpoint: String,
    /// `--podman` (libpod serves the Docker API, so the Docker client is reused).
    pub podman_endpoint: String,
    /// `--containerd`.
    pub containerd_endpoint: String,
    /// `--containerd-namespace`.
    pub containerd_namespace: String,
    /// CRI-O's socket (cAdvisor has no flag for it).
    pub crio_endpoint: String,
    /// `--crio_client_timeout`; `None` (cAdvisor's 0) waits as long as CRI-O takes.
    pub crio_timeout: Option<Duration>,
    /// `--env_metadata_whitelist` and its deprecated per-runtime forerunners.
    pub env_whitelist: EnvWhitelist,
    /// Longest wait for one runtime request before it counts as failed.
    pub request_timeout: Duration,
    /// Longest wait between reconnect attempts.
    pub max_backoff: Duration,
}

impl RuntimeConfig {
    /// Socket endpoints missing where they are given are looked for below `--rootfs` (a
    /// containerised agent without a `/var/run` mount).
    pub fn from_config(c: &Config) -> Self {
        Self {
            docker_endpoint: c.host.endpoint(&c.docker_endpoint),
            podman_endpoint: c.host.endpoint(&c.podman_endpoint),
            containerd_endpoint: c.host.endpoint(&c.containerd_endpoint),
            crio_endpoint: c.host.endpoint(crio::DEFAULT_SOCKET),
            containerd_namespace: c.containerd_namespace.clone(),
            crio_timeout: c.crio_client_timeout,
            env_whitelist: EnvWhitelist {
                unified: c.env_metadata_whitelist.clone(),
                docker: c.docker_env_metadata_whitelist.clone(),
                containerd: c.containerd_env_metadata_whitelist.clone(),
            },
            ..Self::default()
        }
    }
}

impl Default for RuntimeConfig {
    /// cAdvisor's flag defaults.
    fn default() -> Self {
        Self {
            docker_endpoint: "unix:///var/run/docker.sock".into(),
            podman_endpoint: "unix:///var/run/podman/podman.sock".into(),
            containerd_endpoint: "/run/containerd/containerd.sock".into(),
            containerd_namespace: "k8s.io".into(),
            crio_endpoint: crio::DEFAULT_SOCKET.into(),
            crio_timeout: None,
            env_whitelist: EnvWhitelist::default(),
            request_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Metadata for a cgroup became known, changed, or turned out not to exist (`meta: None`: the runtime
/// its name points at does not know it; keep it as a raw container). Bare ids (`Unresolved`) never get
/// `None`, since another runtime may still answer. Updates may arrive for a cgroup already removed
/// (Docker's `die` refresh carries the exit code); receivers ignore names they no longer track.
/// After Docker's `destroy` event the cache forgets the id without an update.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataUpdate {
    /// Cgroup container name as given to [`RuntimeHandle::request`].
    pub name: String,
    pub meta: Option<Arc<ContainerMetadata>>,
}

/// One runtime endpoint as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    pub kind: RuntimeKind,
    pub endpoint: String,
    pub connected: bool,
    /// Server version (`20.10.24+dfsg1`), empty until connected once.
    pub version: String,
    pub api_version: String,
    /// Why the last connection attempt failed or dropped, empty when connected.
    pub last_error: String,
}

/// Every configured runtime, for `/validate/` and `/attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStatus {
    pub runtimes: Vec<RuntimeState>,
}

impl RuntimeStatus {
    pub fn get(&self, kind: RuntimeKind) -> Option<&RuntimeState> {
        self.runtimes.iter().find(|r| r.kind == kind)
    }
}

/// Cheap to clone; all methods return immediately.
#[derive(Clone)]
pub struct RuntimeHandle {
    cache: Arc<MetadataCache>,
    status: Arc<StatusBoard>,
    docker: Option<mpsc::UnboundedSender<String>>,
    podman: Option<mpsc::UnboundedSender<String>>,
    containerd: Option<mpsc::UnboundedSender<String>>,
    crio: Option<mpsc::UnboundedSender<String>>,
}

/// Spawns one task per configured runtime on the current tokio runtime and returns at once. Must be
/// called from within a tokio runtime.
pub fn start(cfg: RuntimeConfig, tx: mpsc::Sender<MetadataUpdate>) -> RuntimeHandle {
    let cache = Arc::new(MetadataCache::default());
    let status = Arc::new(StatusBoard::default());
    let spawn = |kind: RuntimeKind, endpoint: &str| {
        if endpoint.is_empty() {
            return None;
        }
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let client = docker::Client {
            kind,
            endpoint: endpoint.to_string(),
            env: cfg.env_whitelist.for_runtime(kind),
            request_timeout: cfg.request_timeout,
            max_backoff: cfg.max_backoff,
        };
        status.register(kind, endpoint);
        tokio::spawn(client.run(cache.clone(), status.clone(), req_rx, tx.clone()));
        Some(req_tx)
    };
    let docker = spawn(RuntimeKind::Docker, &cfg.docker_endpoint);
    let podman = spawn(RuntimeKind::Podman, &cfg.podman_endpoint);
    let containerd = (!cfg.containerd_endpoint.is_empty()).then(|| {
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let client = containerd::Client {
            endpoint: cfg.containerd_endpoint.clone(),
            namespace: cfg.containerd_namespace.clone(),
            env: cfg.env_whitelist.for_runtime(RuntimeKind::Containerd),
            request_timeout: cfg.request_timeout,
            max_backoff: cfg.max_backoff,
        };
        status.register(RuntimeKind::Containerd, &cfg.containerd_endpoint);
        tokio::spawn(client.run(cache.clone(), status.clone(), req_rx, tx.clone()));
        req_tx
    });
    let crio = (!cfg.crio_endpoint.is_empty()).then(|| {
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let client = crio::Client {
            endpoint: cfg.crio_endpoint.clone(),
            timeout: cfg.crio_timeout,
            max_backoff: cfg.max_backoff,
        };
        status.register(RuntimeKind::Crio, &cfg.crio_endpoint);
        tokio::spawn(client.run(cache.clone(), status.clone(), req_rx, tx.clone()));
        req_tx
    });
    RuntimeHandle {
        cache,
        status,
        docker,
        podman,
        containerd,
        crio,
    }
}

impl RuntimeHandle {
    /// Cached metadata for a cgroup name; never waits for a runtime.
    pub fn lookup(&self, name: &str) -> Option<Arc<ContainerMetadata>> {
        let c = id::classify(name)?;
        self.cache.get(&c.id)
    }

    /// A cgroup appeared: fetch its metadata in the background. A [`MetadataUpdate`] follows once the
    /// owning runtime answers (at once when cached), and again whenever the runtime reports a change.
    pub fn request(&self, name: &str) {
        let Some(c) = id::classify(name) else { return };
        for tx in self.clients(c.kind).into_iter().flatten() {
            // Fails only when the runtime task has ended (runtime shut down): nothing to fetch then.
            let _ = tx.send(name.to_string());
        }
    }

    /// Whether [`Self::request`] asks a runtime about `name`, so that a [`MetadataUpdate`] will
    /// follow (once the runtime is reachable).
    pub fn will_describe(&self, name: &str) -> bool {
        id::classify(name).is_some_and(|c| self.clients(c.kind).iter().any(|t| t.is_some()))
    }

    /// The clients that may know a container of `kind`.
    fn clients(&self, kind: RuntimeKind) -> [&Option<mpsc::UnboundedSender<String>>; 2] {
        match kind {
            RuntimeKind::Docker => [&self.docker, &None],
            RuntimeKind::Podman => [&self.podman, &None],
            RuntimeKind::Containerd => [&self.containerd, &None],
            RuntimeKind::Crio => [&self.crio, &None],
            // A bare id (kubepods with the cgroupfs driver, `/k8s.io/<id>`) is Docker's (dockershim)
            // or containerd's: ask both, the one that knows it answers.
            RuntimeKind::Unresolved => [&self.docker, &self.containerd],
            // systemd units carry no metadata.
            RuntimeKind::Systemd => [&None, &None],
        }
    }

    /// Every configured runtime's connection state.
    pub fn status(&self) -> RuntimeStatus {
        self.status.snapshot()
    }

    /// Changes whenever [`Self::status`] does (a runtime connected, dropped, or reported another
    /// version).
    pub fn status_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.status.subscribe()
    }

    /// A handle with no runtimes and a prefilled cache, for other modules' tests.
    pub fn fake(entries: impl IntoIterator<Item = ContainerMetadata>) -> Self {
        let cache = Arc::new(MetadataCache::default());
        for m in entries {
            cache.insert(m);
        }
        Self {
            cache,
            status: Arc::new(StatusBoard::default()),
            docker: None,
            podman: None,
            containerd: None,
            crio: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, labels: &[(&str, &str)]) -> ContainerMetadata {
        ContainerMetadata {
            aliases: vec!["web".into(), id.into()],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            image: "local/busybox:1".into(),
            ..ContainerMetadata::new(RuntimeKind::Docker, id)
        }
    }

    #[test]
    fn lookup_reads_the_cache_by_any_cgroup_spelling() {
        let id = "a".repeat(64);
        let h = RuntimeHandle::fake([meta(&id, &[])]);
        assert_eq!(
            h.lookup(&format!("/docker/{id}")).map(|m| m.id.clone()),
            Some(id.clone())
        );
        assert!(
            h.lookup(&format!("/system.slice/docker-{id}.scope"))
                .is_some()
        );
        assert!(h.lookup("/system.slice/ssh.service").is_none());
        assert!(h.lookup(&format!("/docker/{}", "b".repeat(64))).is_none());
        assert!(h.status().runtimes.is_empty());
        assert!(
            !h.will_describe(&format!("/docker/{id}")),
            "no runtime client"
        );
    }

    #[tokio::test]
    async fn only_configured_runtimes_will_describe_their_containers() {
        let (tx, _rx) = mpsc::channel(8);
        let cfg = RuntimeConfig {
            docker_endpoint: "unix:///nonexistent/docker.sock".into(),
            podman_endpoint: String::new(),
            containerd_endpoint: String::new(),
            crio_endpoint: String::new(),
            ..RuntimeConfig::default()
        };
        let h = start(cfg, tx);
        let id = "a".repeat(64);
        assert!(h.will_describe(&format!("/docker/{id}")));
        // A bare id below kubepods: Docker is asked.
        assert!(h.will_describe(&format!("/kubepods/besteffort/pod1/{id}")));
        assert!(!h.will_describe(&format!("/machine.slice/libpod-{id}.scope")));
        assert!(!h.will_describe("/system.slice/ssh.service"));
    }

    #[test]
    fn kubernetes_names_from_labels() {
        let m = meta(
            "x",
            &[
                (KUBE_CONTAINER_LABEL, "nginx"),
                (KUBE_POD_LABEL, "web-7d4b9c"),
                (KUBE_NAMESPACE_LABEL, "default"),
            ],
        );
        assert_eq!(
            m.kubernetes(),
            Some(KubeNames {
                container: "nginx",
                pod: "web-7d4b9c",
                namespace: "default"
            })
        );
        assert_eq!(meta("x", &[("app", "web")]).kubernetes(), None);
    }

    #[test]
    fn reference_and_spec_overlay() {
        let id = "a".repeat(64);
        let mut m = meta(&id, &[("app", "web")]);
        m.creation_time = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_161_067));
        let name = format!("/docker/{id}");
        let r = m.reference(&name);
        assert_eq!(
            (r.id.as_str(), r.name.as_str(), r.namespace.as_str()),
            (&*id, &*name, "docker")
        );
        assert_eq!(r.aliases, vec!["web".to_string(), id.clone()]);
        let mut spec = v1::ContainerSpec::default();
        m.apply_to_spec(&mut spec);
        assert_eq!(spec.image, "local/busybox:1");
        assert_eq!(spec.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            spec.creation_time,
            crate::model::json::Timestamp::from(m.creation_time.expect("set"))
        );
        assert_eq!(spec.start_time, crate::model::json::Timestamp::ZERO);
    }

    #[test]
    fn defaults_are_cadvisor_flag_defaults() {
        let c = RuntimeConfig::default();
        assert_eq!(c.docker_endpoint, "unix:///var/run/docker.sock");
        assert_eq!(c.containerd_namespace, "k8s.io");
    }
}
