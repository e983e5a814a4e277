//! CRI-O metadata in cAdvisor's shape, over CRI-O's HTTP inspect API on its unix socket
//! (`GET /info`, `GET /containers/<id>`). Like containerd, CRI-O reports nothing that changes after
//! creation, so a container is fetched once when its cgroup appears and again after a reconnect. The
//! task stays idle until the first CRI-O cgroup is seen, so hosts without CRI-O never dial it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::cache::{MetadataCache, StatusBoard};
use super::{ContainerMetadata, MetadataUpdate, RuntimeKind, id, retry};

/// CRI-O's socket (not configurable in cAdvisor either).
pub const DEFAULT_SOCKET: &str = "/var/run/crio/crio.sock";
/// The kubelet's annotation carrying a container's restart count.
pub const RESTART_COUNT_ANNOTATION: &str = "io.kubernetes.container.restartCount";
/// Dial limit; the whole request is bounded only by `--crio_client_timeout` (0 = none, as cAdvisor).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(32);

/// Go encodes nil maps and slices as `null`: read those as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `storage_driver` is a string in every released CRI-O; accept a list as well.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `GET /info`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct CrioInfo {
    #[serde(default, deserialize_with = "storage_driver")]
    pub storage_driver: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub storage_root: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cgroup_driver: String,
}

fn storage_driver<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        Some(OneOrMany::One(s)) => s,
        Some(OneOrMany::Many(v)) => v.into_iter().next().unwrap_or_default(),
        None => String::new(),
    })
}

/// `GET /containers/<id>`: the fields cAdvisor reads. Older CRI-O (before 1.17) sends one
/// `ip_address`; newer ones send `ip_addresses`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct CrioContainer {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub pid: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub image: String,
    /// Nanoseconds since the epoch.
    #[serde(default)]
    pub created_time: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip_address: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip_addresses: Vec<String>,
}

/// cAdvisor's CRI-O view: aliases `[name, id]`, namespace `crio`, CRI-O's labels plus `restartcount`
/// from the kubelet annotation when above zero, image, creation time and the first pod IP. CRI-O does
/// not report the environment, so no envs.
pub fn metadata(id: &str, c: &CrioContainer) -> ContainerMetadata {
    let restart_count: u32 = c
        .annotations
        .get(RESTART_COUNT_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut labels = c.labels.clone();
    if restart_count > 0 {
        labels.insert("restartcount".into(), restart_count.to_string());
    }
    let ip = if c.ip_address.is_empty() {
        c.ip_addresses.first().cloned().unwrap_or_default()
    } else {
        c.ip_address.clone()
    };
    let creation_time = u64::try_from(c.created_time)
        .ok()
        .filter(|ns| *ns > 0)
        .map(|ns| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns));
    ContainerMetadata {
        aliases: vec![c.name.clone(), id.to_string()],
        labels,
        image: c.image.clone(),
        creation_time,
        restart_count,
        ip,
        ..ContainerMetadata::new(RuntimeKind::Crio, id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrioError {
    #[error("connect to CRI-O at {socket}: {source}")]
    Connect {
        socket: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} at {socket}: {source}")]
    Http {
        op: String,
        socket: String,
        #[source]
        source: hyper::Error,
    },
    #[error("{op} at {socket}: no answer within {after:?}")]
    Timeout {
        op: String,
        socket: String,
        after: Duration,
    },
    #[error("{op} at {socket}: status {status}: {body}")]
    Status {
        op: String,
        socket: String,
        status: StatusCode,
        body: String,
    },
    #[error("{op} at {socket}: undecodable answer: {source}")]
    Decode {
        op: String,
        socket: String,
        #[source]
        source: serde_json::Error,
    },
}

impl CrioError {
    /// CRI-O answered, but not usefully about this container: no reconnect.
    fn is_container_specific(&self) -> bool {
        matches!(self, Self::Status { .. } | Self::Decode { .. })
    }
}

/// The CRI-O endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    /// Socket path (`unix://` accepted).
    pub endpoint: String,
    /// `--crio_client_timeout`; `None` waits as long as CRI-O takes.
    pub timeout: Option<Duration>,
    pub max_backoff: Duration,
}

type Fetched = (String, Result<Option<CrioContainer>, CrioError>);

impl Client {
    fn socket(&self) -> &str {
        self.endpoint
            .strip_prefix("unix://")
            .unwrap_or(&self.endpoint)
    }

    /// `GET path` on a fresh connection: (status, body). Lookups are rare (one per new container),
    /// so no connection is kept between them.
    async fn get(&self, op: &str, path: &str) -> Result<(StatusCode, Bytes), CrioError> {
        let socket = self.socket().to_string();
        let http = |source| CrioError::Http {
            op: op.to_string(),
            socket: socket.clone(),
            source,
        };
        let work = async {
            let stream = match tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::UnixStream::connect(&socket),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(source)) => {
                    return Err(CrioError::Connect {
                        socket: socket.clone(),
                        source,
                    });
                }
                Err(_) => {
                    return Err(CrioError::Timeout {
                        op: "connect".into(),
                        socket: socket.clone(),
                        after: CONNECT_TIMEOUT,
                    });
                }
            };
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(http)?;
            // Drives the connection; ends when `sender` is dropped or the peer closes.
            tokio::spawn(async move {
                let _ = conn.await;
            });
            // Any host will do over a unix socket; CRI-O ignores it.
            let req = Request::get(path)
                .header(header::HOST, "crio")
                .body(Empty::<Bytes>::new());
            let Ok(req) = req else {
                // Only a malformed path fails here, and ours are built from hex ids.
                return Err(CrioError::Status {
                    op: op.to_string(),
                    socket: socket.clone(),
                    status: StatusCode::BAD_REQUEST,
                    body: format!("invalid request path {path:?}"),
                });
            };
            let resp = sender.send_request(req).await.map_err(http)?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(http)?.to_bytes();
            Ok((status, body))
        };
        match self.timeout {
            None => work.await,
            Some(after) => tokio::time::timeout(after, work).await.unwrap_or_else(|_| {
                Err(CrioError::Timeout {
                    op: op.to_string(),
                    socket: socket.clone(),
                    after,
                })
            }),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        body: &[u8],
    ) -> Result<T, CrioError> {
        serde_json::from_slice(body).map_err(|source| CrioError::Decode {
            op: op.to_string(),
            socket: self.socket().to_string(),
            source,
        })
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<CrioInfo, CrioError> {
        let op = "get CRI-O info";
        let (status, body) = self.get(op, "/info").await?;
        if status != StatusCode::OK {
            return Err(self.status_error(op, status, &body));
        }
        self.decode(op, &body)
    }

    /// `GET /containers/<id>`; `Ok(None)` when CRI-O does not know the id.
    pub async fn container(&self, id: &str) -> Result<Option<CrioContainer>, CrioError> {
        let op = "inspect CRI-O container";
        let (status, body) = self.get(op, &format!("/containers/{id}")).await?;
        match status {
            StatusCode::OK => self.decode(op, &body).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(self.status_error(op, s, &body)),
        }
    }

    fn status_error(&self, op: &str, status: StatusCode, body: &[u8]) -> CrioError {
        CrioError::Status {
            op: op.to_string(),
            socket: self.socket().to_string(),
            status,
            body: String::from_utf8_lossy(body).trim().to_string(),
        }
    }

    fn fetch(&self, id: String) -> BoxFuture<'static, Fetched> {
        let this = self.clone();
        async move {
            let res = this.container(&id).await;
            (id, res)
        }
        .boxed()
    }

    /// The task body: idle until a CRI-O cgroup is asked about, then connect (`/info`), serve
    /// requests, and reconnect with backoff when CRI-O goes away.
    pub async fn run(
        self,
        cache: Arc<MetadataCache>,
        status: Arc<StatusBoard>,
        mut req_rx: mpsc::UnboundedReceiver<String>,
        tx: mpsc::Sender<MetadataUpdate>,
    ) {
        let kind = RuntimeKind::Crio;
        let mut names: HashMap<String, BTreeSet<String>> = HashMap::new();
        let Some(first) = req_rx.recv().await else {
            return;
        };
        if let Some(c) = id::classify(&first) {
            names.entry(c.id).or_default().insert(first);
        }
        let min_backoff = Duration::from_millis(250);
        let mut backoff = min_backoff;
        let mut first_failure = true;
        loop {
            let reason = match self.info().await {
                Ok(info) => {
                    backoff = min_backoff;
                    first_failure = true;
                    status.update(kind, |s| {
                        s.connected = true;
                        s.last_error.clear();
                    });
                    tracing::info!(endpoint = %self.endpoint, storage_driver = %info.storage_driver, cgroup_driver = %info.cgroup_driver, "connected to CRI-O");
                    match self.serve(&cache, &mut names, &mut req_rx, &tx).await {
                        Some(reason) => reason,
                        None => return,
                    }
                }
                Err(e) => e.to_string(),
            };
            retry::report_unavailable(&status, kind, &self.endpoint, &reason, &mut first_failure);
            if !retry::backoff_collecting(backoff, &mut req_rx, &mut names).await {
                return;
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// Serves while CRI-O answers; `None` means shut down, `Some(reason)` means reconnect.
    async fn serve(
        &self,
        cache: &MetadataCache,
        names: &mut HashMap<String, BTreeSet<String>>,
        req_rx: &mut mpsc::UnboundedReceiver<String>,
        tx: &mpsc::Sender<MetadataUpdate>,
    ) -> Option<String> {
        let mut work: FuturesUnordered<BoxFuture<'static, Fetched>> = FuturesUnordered::new();
        let mut busy: BTreeSet<String> = BTreeSet::new();
        for (cid, ns) in names.iter() {
            match cache.get(cid) {
                // Known before a reconnect: the names asked for meanwhile still need an answer.
                Some(meta) => {
                    for name in ns {
                        let update = MetadataUpdate {
                            name: name.clone(),
                            meta: Some(meta.clone()),
                        };
                        tx.send(update).await.ok()?;
                    }
                }
                None => {
                    if busy.insert(cid.clone()) {
                        work.push(self.fetch(cid.clone()));
                    }
                }
            }
        }
        loop {
            tokio::select! {
                r = req_rx.recv() => {
                    let name = r?;
                    let Some(c) = id::classify(&name) else { continue };
                    let fresh = names.entry(c.id.clone()).or_default().insert(name.clone());
                    match cache.get(&c.id) {
                        Some(meta) if fresh => {
                            tx.send(MetadataUpdate { name, meta: Some(meta) }).await.ok()?;
                        }
                        Some(_) => {}
                        None => {
                            if busy.insert(c.id.clone()) {
                                work.push(self.fetch(c.id));
                            }
                        }
                    }
                }
                Some((cid, res)) = work.next(), if !work.is_empty() => {
                    busy.remove(&cid);
                    match res {
                        Ok(Some(c)) => {
                            let (meta, changed) = cache.insert(metadata(&cid, &c));
                            if changed {
                                for name in names.get(&cid).into_iter().flatten() {
                                    let update = MetadataUpdate { name: name.clone(), meta: Some(meta.clone()) };
                                    tx.send(update).await.ok()?;
                                }
                            }
                        }
                        Ok(None) => {
                            cache.remove(&cid);
                            for name in names.remove(&cid).into_iter().flatten() {
                                tx.send(MetadataUpdate { name, meta: None }).await.ok()?;
                            }
                        }
                        Err(e) if e.is_container_specific() => {
                            tracing::debug!(error = %e, "CRI-O metadata unavailable");
                        }
                        Err(e) => return Some(e.to_string()),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{KUBE_CONTAINER_LABEL, KUBE_NAMESPACE_LABEL, KUBE_POD_LABEL};

    // Answers in the shape CRI-O's inspect server encodes them; see the fixture's SOURCE.md.
    const CONTAINER: &str = include_str!("../../tests/fixtures/crio-1.36/container.json");
    const INFO: &str = include_str!("../../tests/fixtures/crio-1.36/info.json");
    const OLD_CONTAINER: &str = include_str!("../../tests/fixtures/crio-1.14/container.json");
    const ID: &str = "8e4a3c2f1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f";

    #[test]
    fn container_answer_maps_to_cadvisor_fields() {
        let c: CrioContainer = serde_json::from_str(CONTAINER).expect("fixture parses");
        let m = metadata(ID, &c);
        assert_eq!(
            m.aliases,
            vec![
                "k8s_nginx_web-7d4b9c-x2k8p_default_0d2f7a4e-8c1b-4a8e-9a5f-3b2c1d0e9f8a_1"
                    .to_string(),
                ID.to_string()
            ]
        );
        assert_eq!(m.namespace, "crio");
        assert_eq!(m.runtime, RuntimeKind::Crio);
        assert_eq!(m.image, "docker.io/library/nginx:1.25");
        assert_eq!(m.ip, "10.85.0.12");
        assert_eq!(m.restart_count, 1);
        assert_eq!(m.labels.get("restartcount").map(String::as_str), Some("1"));
        let k = m.kubernetes().expect("kubelet labels");
        assert_eq!(
            (k.container, k.pod, k.namespace),
            ("nginx", "web-7d4b9c-x2k8p", "default")
        );
        assert_eq!(
            m.labels.get(KUBE_CONTAINER_LABEL).map(String::as_str),
            Some("nginx")
        );
        assert!(
            m.labels.contains_key(KUBE_POD_LABEL) && m.labels.contains_key(KUBE_NAMESPACE_LABEL)
        );
        // Annotations are not labels.
        assert!(!m.labels.contains_key(RESTART_COUNT_ANNOTATION));
        assert!(m.envs.is_empty());
        // "created_time": 1796161067016930292
        let since = m
            .creation_time
            .expect("created")
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after epoch");
        assert_eq!(
            (since.as_secs(), since.subsec_nanos()),
            (1_796_161_067, 16_930_292)
        );
    }

    #[test]
    fn older_answer_with_one_ip_and_nulls() {
        let c: CrioContainer = serde_json::from_str(OLD_CONTAINER).expect("fixture parses");
        let m = metadata(ID, &c);
        assert_eq!(m.ip, "10.88.0.5");
        // restartCount 0: no label.
        assert!(!m.labels.contains_key("restartcount"));
        assert_eq!(m.restart_count, 0);
        let c: CrioContainer = serde_json::from_str(
            r#"{"name":"x","labels":null,"annotations":null,"ip_addresses":null,"created_time":0}"#,
        )
        .expect("nulls read as empty");
        let m = metadata(ID, &c);
        assert!(m.labels.is_empty() && m.ip.is_empty() && m.creation_time.is_none());
    }

    #[test]
    fn info_answer() {
        let i: CrioInfo = serde_json::from_str(INFO).expect("fixture parses");
        assert_eq!(i.storage_driver, "overlay");
        assert_eq!(i.storage_root, "/var/lib/containers/storage");
        assert_eq!(i.cgroup_driver, "systemd");
        let i: CrioInfo =
            serde_json::from_str(r#"{"storage_driver":["overlay"],"storage_root":"/r"}"#)
                .expect("list form");
        assert_eq!(i.storage_driver, "overlay");
    }

    #[test]
    fn only_connection_failures_reconnect() {
        let status = CrioError::Status {
            op: "inspect".into(),
            socket: "s".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: "can't find container state".into(),
        };
        assert!(status.is_container_specific());
        let connect = CrioError::Connect {
            socket: "s".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(!connect.is_container_specific());
    }
}
