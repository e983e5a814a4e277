//! Docker Engine API client (also Podman, whose libpod service speaks the same API). One task per
//! endpoint owns the connection: it inspects containers it was asked about, follows Docker's event
//! stream to refresh them, and reconnects with backoff when the daemon goes away.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, EventMessage, HealthStatusEnum};
use bollard::query_parameters::{EventsOptions, InspectContainerOptions};
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use futures::{FutureExt, future::BoxFuture};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

use super::cache::{MetadataCache, StatusBoard};
use super::env::EnvFilter;
use super::{ContainerMetadata, ContainerStorage, MetadataUpdate, RuntimeKind, id, retry};

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("unsupported endpoint {0:?}: expected unix://, tcp:// or http://")]
    Endpoint(String),
    #[error("{op} at {endpoint}: {source}")]
    Api {
        op: String,
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{op} at {endpoint}: no answer within {after:?}")]
    Timeout {
        op: String,
        endpoint: String,
        after: Duration,
    },
    #[error("inspect container at {endpoint}: answer has no {field}")]
    Missing {
        endpoint: String,
        field: &'static str,
    },
}

impl DockerError {
    /// The daemon answered, but not usefully about this container (an error status, a body we cannot
    /// decode): the connection itself is fine, so this must not trigger a reconnect.
    fn is_container_specific(&self) -> bool {
        use bollard::errors::Error as B;
        match self {
            Self::Missing { .. } => true,
            Self::Api { source, .. } => matches!(
                source,
                B::DockerResponseServerError { .. }
                    | B::JsonDataError { .. }
                    | B::JsonSerdeError { .. }
            ),
            Self::Endpoint(_) | Self::Timeout { .. } => false,
        }
    }
}

/// Docker's zero time, used for `StartedAt`/`FinishedAt` before the event happened.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn parse_time(s: &str) -> Option<SystemTime> {
    if s.is_empty() || s == GO_ZERO_TIME {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Builds cAdvisor's view of a container from `GET /containers/{id}/json`. `ip` is filled by the caller
/// when the container shares another container's network.
pub fn metadata_from_inspect(
    kind: RuntimeKind,
    c: &ContainerInspectResponse,
    env: &EnvFilter,
    endpoint: &str,
) -> Result<ContainerMetadata, DockerError> {
    let missing = |field| DockerError::Missing {
        endpoint: endpoint.to_string(),
        field,
    };
    let id =
        c.id.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("Id"))?;
    let name = c
        .name
        .as_deref()
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let config = c.config.as_ref();
    let mut labels: BTreeMap<String, String> = config
        .and_then(|cfg| cfg.labels.as_ref())
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let restart_count = u32::try_from(c.restart_count.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
    if restart_count > 0 {
        labels.insert("restartcount".into(), restart_count.to_string());
    }
    let envs = config
        .and_then(|cfg| cfg.env.as_deref())
        .map(|e| env.pick(e))
        .unwrap_or_default();
    let state = c.state.as_ref();
    let health = state
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .filter(|s| *s != HealthStatusEnum::EMPTY)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let finished = state
        .and_then(|s| s.finished_at.as_deref())
        .and_then(parse_time);
    let exit_code = if !running && finished.is_some() {
        state.and_then(|s| s.exit_code)
    } else {
        None
    };
    let net = c.network_settings.as_ref();
    // The top-level address is the default bridge's; user-defined networks only fill `Networks`.
    let ip = net
        .and_then(|n| n.ip_address.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            net.and_then(|n| n.networks.as_ref())?
                .values()
                .filter_map(|e| e.ip_address.clone())
                .find(|s| !s.is_empty())
        })
        .unwrap_or_default();
    let storage = storage_from_inspect(c, &id);
    Ok(ContainerMetadata {
        runtime: kind,
        aliases: vec![name, id.clone()],
        id,
        namespace: kind.namespace().to_string(),
        labels,
        envs,
        image: config.and_then(|cfg| cfg.image.clone()).unwrap_or_default(),
        creation_time: c.created.as_deref().and_then(parse_time),
        start_time: state
            .and_then(|s| s.started_at.as_deref())
            .and_then(parse_time),
        restart_count,
        health,
        ip,
        exit_code,
        storage,
    })
}

/// The container's writable layer and its own directory. Only overlay-style drivers (`overlay2`,
/// `overlay`, and Docker's containerd `overlayfs` snapshotter when it reports one) name an `UpperDir`
/// we can walk; for devicemapper, zfs, btrfs and vfs the layer stays unknown and the container
/// reports no filesystem. The container directory is where Docker keeps `hostname` and the json
/// log: the parent of those paths when it is named after the id.
fn storage_from_inspect(c: &ContainerInspectResponse, id: &str) -> ContainerStorage {
    let writable_layer = c
        .graph_driver
        .as_ref()
        .and_then(|g| g.data.get("UpperDir"))
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from);
    let extra = [&c.hostname_path, &c.log_path, &c.resolv_conf_path]
        .into_iter()
        .filter_map(|p| Path::new(p.as_deref()?).parent())
        .find(|d| d.is_absolute() && d.file_name().is_some_and(|n| n == id))
        .map(Path::to_path_buf);
    ContainerStorage {
        writable_layer,
        extra,
    }
}

/// The container whose network namespace `c` joined (`--network container:<id>`), if any.
fn network_peer(c: &ContainerInspectResponse) -> Option<String> {
    let mode = c.host_config.as_ref()?.network_mode.as_deref()?;
    mode.strip_prefix("container:").map(str::to_string)
}

/// Actions after which a container's metadata may have changed. `health_status` arrives as
/// `health_status: healthy`.
const REFRESH_ACTIONS: [&str; 8] = [
    "start",
    "die",
    "rename",
    "restart",
    "update",
    "pause",
    "unpause",
    "health_status",
];

/// What an event asks the task to do.
#[derive(Debug, PartialEq, Eq)]
pub enum EventAction {
    Refresh(String),
    Forget(String),
    Ignore,
}

pub fn classify_event(e: &EventMessage) -> EventAction {
    let Some(id) = e.actor.as_ref().and_then(|a| a.id.clone()) else {
        return EventAction::Ignore;
    };
    let action = e.action.as_deref().unwrap_or("");
    let verb = action.split(':').next().unwrap_or("").trim();
    if verb == "destroy" {
        EventAction::Forget(id)
    } else if REFRESH_ACTIONS.contains(&verb) {
        EventAction::Refresh(id)
    } else {
        EventAction::Ignore
    }
}

/// One Docker-API endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    pub kind: RuntimeKind,
    pub endpoint: String,
    pub env: EnvFilter,
    pub request_timeout: Duration,
    pub max_backoff: Duration,
}

/// Why serving a connection stopped.
enum Stop {
    /// The handle was dropped or the registry went away: end the task.
    Shutdown,
    /// The daemon went away (or stopped answering): reconnect.
    Lost(String),
}

type Inspected = (String, Result<Option<ContainerMetadata>, DockerError>);

/// Inspects in flight: at most one per id; a change reported meanwhile re-inspects once it lands, so
/// an older answer never overwrites a newer one.
#[derive(Default)]
struct Inflight {
    futs: FuturesUnordered<BoxFuture<'static, Inspected>>,
    busy: HashSet<String>,
    again: HashSet<String>,
}

impl Inflight {
    fn schedule(&mut self, client: &Client, docker: &Docker, id: String) {
        if self.busy.insert(id.clone()) {
            self.futs.push(client.inspect(docker, id));
        } else {
            self.again.insert(id);
        }
    }
}

impl Client {
    async fn timed<T>(
        &self,
        op: &str,
        f: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        match tokio::time::timeout(self.request_timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) => Err(DockerError::Api {
                op: op.to_string(),
                endpoint: self.endpoint.clone(),
                source,
            }),
            Err(_) => Err(DockerError::Timeout {
                op: op.to_string(),
                endpoint: self.endpoint.clone(),
                after: self.request_timeout,
            }),
        }
    }

    async fn connect(&self) -> Result<(Docker, String, String), DockerError> {
        let secs = self.request_timeout.as_secs().max(1);
        let api = |source| DockerError::Api {
            op: "connect".into(),
            endpoint: self.endpoint.clone(),
            source,
        };
        let e = self.endpoint.as_str();
        let docker = if let Some(path) = e.strip_prefix("unix://") {
            Docker::connect_with_unix(path, secs, bollard::API_DEFAULT_VERSION).map_err(api)?
        } else if e.starts_with('/') {
            Docker::connect_with_unix(e, secs, bollard::API_DEFAULT_VERSION).map_err(api)?
        } else if e.starts_with("tcp://") || e.starts_with("http://") {
            Docker::connect_with_http(e, secs, bollard::API_DEFAULT_VERSION).map_err(api)?
        } else {
            return Err(DockerError::Endpoint(e.to_string()));
        };
        // Older daemons (Debian's 20.10 speaks 1.41) reject newer API paths: agree on a version first.
        let docker = self
            .timed("negotiate API version", docker.negotiate_version())
            .await?;
        let v = self.timed("version", docker.version()).await?;
        Ok((
            docker,
            v.version.unwrap_or_default(),
            v.api_version.unwrap_or_default(),
        ))
    }

    /// Inspects `id`; `Ok(None)` when the daemon does not know it.
    fn inspect(&self, docker: &Docker, id: String) -> BoxFuture<'static, Inspected> {
        let this = self.clone();
        let docker = docker.clone();
        async move {
            let res = this.inspect_now(&docker, &id).await;
            (id, res)
        }
        .boxed()
    }

    async fn inspect_now(
        &self,
        docker: &Docker,
        id: &str,
    ) -> Result<Option<ContainerMetadata>, DockerError> {
        let opts = Some(InspectContainerOptions { size: false });
        let c = match self
            .timed("inspect container", docker.inspect_container(id, opts))
            .await
        {
            Ok(c) => c,
            Err(DockerError::Api {
                source:
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 404, ..
                    },
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut meta = metadata_from_inspect(self.kind, &c, &self.env, &self.endpoint)?;
        if meta.ip.is_empty()
            && let Some(peer) = network_peer(&c)
        {
            let opts = Some(InspectContainerOptions { size: false });
            // Best effort: a vanished peer leaves the address empty, as cAdvisor does.
            if let Ok(p) = self
                .timed(
                    "inspect network peer",
                    docker.inspect_container(&peer, opts),
                )
                .await
            {
                meta.ip = p
                    .network_settings
                    .and_then(|n| n.ip_address)
                    .unwrap_or_default();
            }
        }
        Ok(Some(meta))
    }

    fn events(
        &self,
        docker: &Docker,
    ) -> Pin<Box<dyn Stream<Item = Result<EventMessage, bollard::errors::Error>> + Send>> {
        let mut filters = HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let mut actions: Vec<String> = REFRESH_ACTIONS.iter().map(|s| s.to_string()).collect();
        actions.push("destroy".into());
        filters.insert("event".to_string(), actions);
        Box::pin(docker.events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        })))
    }

    /// The task body: connect, serve, back off, forever (until the handle goes away).
    pub async fn run(
        self,
        cache: Arc<MetadataCache>,
        status: Arc<StatusBoard>,
        mut req_rx: mpsc::UnboundedReceiver<String>,
        tx: mpsc::Sender<MetadataUpdate>,
    ) {
        let mut names: HashMap<String, BTreeSet<String>> = HashMap::new();
        let min_backoff = Duration::from_millis(250);
        let mut backoff = min_backoff;
        let mut first_failure = true;
        loop {
            let stop = match self.connect().await {
                Ok((docker, version, api_version)) => {
                    backoff = min_backoff;
                    first_failure = true;
                    status.update(self.kind, |s| {
                        s.connected = true;
                        s.version = version.clone();
                        s.api_version = api_version.clone();
                        s.last_error.clear();
                    });
                    tracing::info!(runtime = ?self.kind, endpoint = %self.endpoint, %version, "connected to container runtime");
                    self.serve(&docker, &cache, &mut names, &mut req_rx, &tx)
                        .await
                }
                Err(e) => Stop::Lost(e.to_string()),
            };
            let reason = match stop {
                Stop::Shutdown => return,
                Stop::Lost(r) => r,
            };
            retry::report_unavailable(
                &status,
                self.kind,
                &self.endpoint,
                &reason,
                &mut first_failure,
            );
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    r = req_rx.recv() => match r {
                        Some(name) => {
                            if !self.remember(&cache, &mut names, name, &tx).await {
                                return;
                            }
                        }
                        None => return,
                    },
                }
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// Records that `name` belongs to its id; sends cached metadata at once for a newly seen name.
    /// Returns `true` when the id still needs an inspect, `false` only if the registry went away
    /// (callers treat `false` from `remember` as shutdown).
    async fn remember(
        &self,
        cache: &MetadataCache,
        names: &mut HashMap<String, BTreeSet<String>>,
        name: String,
        tx: &mpsc::Sender<MetadataUpdate>,
    ) -> bool {
        let Some(c) = id::classify(&name) else {
            return true;
        };
        let fresh = names.entry(c.id.clone()).or_default().insert(name.clone());
        if let Some(meta) = cache.get(&c.id)
            && fresh
        {
            return tx
                .send(MetadataUpdate {
                    name,
                    meta: Some(meta),
                })
                .await
                .is_ok();
        }
        true
    }

    async fn serve(
        &self,
        docker: &Docker,
        cache: &MetadataCache,
        names: &mut HashMap<String, BTreeSet<String>>,
        req_rx: &mut mpsc::UnboundedReceiver<String>,
        tx: &mpsc::Sender<MetadataUpdate>,
    ) -> Stop {
        // Subscribe before inspecting so a change between the two is not missed.
        let mut events = self.events(docker);
        let mut work = Inflight::default();
        // (Re)connected: everything known may have changed while we were away.
        for id in names.keys() {
            work.schedule(self, docker, id.clone());
        }
        loop {
            tokio::select! {
                r = req_rx.recv() => {
                    let Some(name) = r else { return Stop::Shutdown };
                    let Some(c) = id::classify(&name) else { continue };
                    if !self.remember(cache, names, name, tx).await {
                        return Stop::Shutdown;
                    }
                    if cache.get(&c.id).is_none() && !work.busy.contains(&c.id) {
                        work.schedule(self, docker, c.id);
                    }
                }
                ev = events.next() => match ev {
                    None => return Stop::Lost("event stream ended".into()),
                    Some(Err(e)) => return Stop::Lost(format!("event stream at {}: {e}", self.endpoint)),
                    Some(Ok(msg)) => match classify_event(&msg) {
                        EventAction::Refresh(id) if names.contains_key(&id) => {
                            work.schedule(self, docker, id);
                        }
                        EventAction::Forget(id) => {
                            names.remove(&id);
                            cache.remove(&id);
                        }
                        _ => {}
                    },
                },
                Some((id, res)) = work.futs.next(), if !work.futs.is_empty() => {
                    work.busy.remove(&id);
                    let update = match res {
                        Ok(Some(meta)) => {
                            let (meta, changed) = cache.insert(meta);
                            changed.then_some(Some(meta))
                        }
                        Ok(None) => {
                            cache.remove(&id);
                            Some(None)
                        }
                        Err(e) if e.is_container_specific() => {
                            tracing::debug!(error = %e, "container metadata unavailable");
                            None
                        }
                        Err(e) => return Stop::Lost(e.to_string()),
                    };
                    if let Some(meta) = update {
                        let targets = if meta.is_none() { names.remove(&id) } else { names.get(&id).cloned() };
                        // A bare id unknown to Docker may be containerd's: only say "nobody" for
                        // names that are Docker's (or Podman's) by their spelling.
                        let targets = targets.into_iter().flatten().filter(|n| {
                            meta.is_some() || id::classify(n).is_some_and(|c| c.kind != RuntimeKind::Unresolved)
                        });
                        for name in targets {
                            if tx.send(MetadataUpdate { name, meta: meta.clone() }).await.is_err() {
                                return Stop::Shutdown;
                            }
                        }
                    }
                    if work.again.remove(&id) {
                        work.schedule(self, docker, id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // GET /v1.41/containers/<id>/json from Docker 20.10.24 (Debian 12); see the fixture's SOURCE.md.
    const INSPECT: &str =
        include_str!("../../tests/fixtures/docker-20.10-debian12/inspect_running.json");
    // GET /v1.41/events over the same container's life.
    const EVENTS: &str = include_str!("../../tests/fixtures/docker-20.10-debian12/events.jsonl");
    const ID: &str = "ffb475a5a5b44a5f8a7557b462a051709b6ed1339acf0c11088082b4d97d7b46";

    fn inspect() -> ContainerInspectResponse {
        serde_json::from_str(INSPECT).expect("fixture parses")
    }

    #[test]
    fn inspect_maps_to_cadvisor_fields() {
        let m = metadata_from_inspect(
            RuntimeKind::Docker,
            &inspect(),
            &EnvFilter {
                prefixes: vec!["FOO".into()],
                ..EnvFilter::default()
            },
            "unix:///d",
        )
        .expect("complete");
        assert_eq!(m.id, ID);
        assert_eq!(m.aliases, vec!["fixture-web".to_string(), ID.to_string()]);
        assert_eq!(m.namespace, "docker");
        assert_eq!(
            m.labels,
            BTreeMap::from([
                ("app".into(), "web".into()),
                ("tier".into(), "front".into())
            ])
        );
        // cAdvisor lower-cases Docker's env keys.
        assert_eq!(m.envs, BTreeMap::from([("foo_bar".into(), "1".into())]));
        assert_eq!(m.image, "local/busybox:1");
        assert_eq!(m.health, "healthy");
        assert_eq!(m.ip, "172.17.0.2");
        assert_eq!(m.restart_count, 0);
        assert_eq!(m.exit_code, None);
        let created = m.creation_time.expect("created");
        let started = m.start_time.expect("started");
        assert!(started > created);
        let since_epoch = created
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after epoch");
        // "Created": "2026-12-01T21:37:47.016930292Z"
        assert_eq!(since_epoch.as_secs(), 1_796_161_067);
        assert_eq!(since_epoch.subsec_nanos(), 16_930_292);
    }

    #[test]
    fn storage_dirs_from_graph_driver_and_container_paths() {
        let mut c = inspect();
        let m = metadata_from_inspect(RuntimeKind::Docker, &c, &EnvFilter::default(), "unix:///d")
            .expect("complete");
        let layer = "26c2cd27353f63b4867d38268db66c2feb118bc006737b2c6ceabed5387615a3";
        assert_eq!(
            m.storage.writable_layer,
            Some(PathBuf::from(format!(
                "/var/lib/docker/overlay2/{layer}/diff"
            )))
        );
        assert_eq!(
            m.storage.extra,
            Some(PathBuf::from(format!("/var/lib/docker/containers/{ID}")))
        );
        // devicemapper names a device, not a directory: no walkable layer.
        c.graph_driver = Some(bollard::models::DriverData {
            name: "devicemapper".into(),
            data: [("DeviceId".to_string(), "42".to_string())].into(),
        });
        c.hostname_path = None;
        c.log_path = Some(String::new());
        let m = metadata_from_inspect(RuntimeKind::Docker, &c, &EnvFilter::default(), "unix:///d")
            .expect("complete");
        assert_eq!(m.storage.writable_layer, None);
        assert_eq!(
            m.storage.extra,
            Some(PathBuf::from(format!("/var/lib/docker/containers/{ID}")))
        );
    }

    #[test]
    fn restart_count_label_and_exit_code() {
        let mut c = inspect();
        c.restart_count = Some(3);
        if let Some(s) = c.state.as_mut() {
            s.running = Some(false);
            s.exit_code = Some(137);
            s.finished_at = Some("2026-12-01T21:40:00.5Z".into());
            s.health = None;
        }
        let m = metadata_from_inspect(RuntimeKind::Podman, &c, &EnvFilter::default(), "unix:///p")
            .expect("complete");
        assert_eq!(m.labels.get("restartcount").map(String::as_str), Some("3"));
        assert_eq!(m.restart_count, 3);
        assert_eq!(m.exit_code, Some(137));
        assert_eq!(m.health, "");
        assert_eq!(m.namespace, "podman");
        // No whitelist, no envs (cAdvisor's default).
        assert!(m.envs.is_empty());
        c.id = None;
        assert!(
            metadata_from_inspect(RuntimeKind::Docker, &c, &EnvFilter::default(), "unix:///d")
                .is_err()
        );
    }

    #[test]
    fn events_from_the_stream() {
        let actions: Vec<EventAction> = EVENTS
            .lines()
            .map(|l| classify_event(&serde_json::from_str(l).expect("event parses")))
            .collect();
        let id = || ID.to_string();
        // create, start, health_status: healthy, kill, die, destroy
        assert_eq!(
            actions,
            vec![
                EventAction::Ignore,
                EventAction::Refresh(id()),
                EventAction::Refresh(id()),
                EventAction::Ignore,
                EventAction::Refresh(id()),
                EventAction::Forget(id()),
            ]
        );
    }

    #[test]
    fn only_connection_failures_reconnect() {
        let api = |source| DockerError::Api {
            op: "inspect".into(),
            endpoint: "e".into(),
            source,
        };
        let server = bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "boom".into(),
        };
        assert!(api(server).is_container_specific());
        assert!(
            DockerError::Missing {
                endpoint: "e".into(),
                field: "Id"
            }
            .is_container_specific()
        );
        assert!(!api(bollard::errors::Error::RequestTimeoutError).is_container_specific());
        let t = DockerError::Timeout {
            op: "inspect".into(),
            endpoint: "e".into(),
            after: Duration::ZERO,
        };
        assert!(!t.is_container_specific());
    }

    #[test]
    fn network_peer_mode() {
        let mut c = inspect();
        assert_eq!(network_peer(&c), None);
        if let Some(h) = c.host_config.as_mut() {
            h.network_mode = Some("container:abc".into());
        }
        assert_eq!(network_peer(&c).as_deref(), Some("abc"));
    }
}
