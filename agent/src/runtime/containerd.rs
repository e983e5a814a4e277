//! containerd metadata in cAdvisor's shape, over containerd's gRPC API on its unix socket. The few
//! messages used are declared here with prost (no protoc at build time). containerd has no Docker-style
//! change stream that matters here (labels and image are fixed at creation), so a container is fetched
//! once when its cgroup appears and again after a reconnect.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Uri};

use super::cache::{MetadataCache, StatusBoard};
use super::env::EnvFilter;
use super::{ContainerMetadata, MetadataUpdate, RuntimeKind, id, retry};

/// What a containerd `Containers.Get` and the OCI spec's `process.env` give.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerdContainer {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub env: Vec<String>,
}

/// cAdvisor's containerd view: aliases `[id, cgroup name]`, labels and image from containerd, envs
/// filtered by `--env_metadata_whitelist`. containerd does not manage networking, so no IP.
pub fn metadata(cgroup_name: &str, c: &ContainerdContainer, env: &EnvFilter) -> ContainerMetadata {
    ContainerMetadata {
        aliases: vec![c.id.clone(), cgroup_name.to_string()],
        labels: c.labels.clone(),
        envs: env.pick(&c.env),
        image: c.image.clone(),
        ..ContainerMetadata::new(RuntimeKind::Containerd, &c.id)
    }
}

/// The messages of `containerd.services.containers.v1` and `version.v1` this client reads; fields
/// not declared are skipped by the decoder.
pub mod proto {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Container {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(map = "string, string", tag = "2")]
        pub labels: HashMap<String, String>,
        #[prost(string, tag = "3")]
        pub image: String,
        /// The OCI runtime spec as JSON.
        #[prost(message, optional, tag = "5")]
        pub spec: Option<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetContainerRequest {
        #[prost(string, tag = "1")]
        pub id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetContainerResponse {
        #[prost(message, optional, tag = "1")]
        pub container: Option<Container>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        #[prost(string, tag = "1")]
        pub version: String,
        #[prost(string, tag = "2")]
        pub revision: String,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error("connect to containerd at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{op} at {endpoint}: {status}")]
    Rpc {
        op: &'static str,
        endpoint: String,
        status: tonic::Status,
    },
    #[error("{op} at {endpoint}: no answer within {after:?}")]
    Timeout {
        op: &'static str,
        endpoint: String,
        after: Duration,
    },
    #[error("invalid containerd namespace {0:?}")]
    Namespace(String),
}

impl ContainerdError {
    /// containerd answered, but not about this container.
    fn is_container_specific(&self) -> bool {
        match self {
            Self::Rpc { status, .. } => !matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::DeadlineExceeded
            ),
            _ => false,
        }
    }
}

/// `process.env` of an OCI spec in JSON; empty when absent or unreadable (envs are optional metadata).
pub fn spec_env(spec_json: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize, Default)]
    struct Spec {
        #[serde(default)]
        process: Process,
    }
    #[derive(serde::Deserialize, Default)]
    struct Process {
        #[serde(default)]
        env: Vec<String>,
    }
    serde_json::from_slice::<Spec>(spec_json)
        .map(|s| s.process.env)
        .unwrap_or_default()
}

/// One containerd endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    /// Socket path (`/run/containerd/containerd.sock`, `unix://` accepted).
    pub endpoint: String,
    /// containerd namespace to look containers up in (`k8s.io`).
    pub namespace: String,
    pub env: EnvFilter,
    pub request_timeout: Duration,
    pub max_backoff: Duration,
}

type Fetched = (String, Result<Option<ContainerdContainer>, ContainerdError>);

impl Client {
    fn socket(&self) -> String {
        self.endpoint
            .strip_prefix("unix://")
            .unwrap_or(&self.endpoint)
            .to_string()
    }

    async fn connect(&self) -> Result<(Channel, String), ContainerdError> {
        let path = self.socket();
        // The URI is required by the API but unused: the connector always dials the socket.
        let channel = Endpoint::from_static("http://containerd.local")
            .connect_timeout(self.request_timeout)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(TokioIo::new)
                }
            }))
            .await
            .map_err(|source| ContainerdError::Connect {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        let v: proto::VersionResponse = self
            .call(
                &channel,
                "/containerd.services.version.v1.Version/Version",
                "version",
                proto::Empty {},
            )
            .await?;
        Ok((channel, v.version))
    }

    async fn call<Req, Resp>(
        &self,
        channel: &Channel,
        path: &'static str,
        op: &'static str,
        msg: Req,
    ) -> Result<Resp, ContainerdError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let rpc = |status| ContainerdError::Rpc {
            op,
            endpoint: self.endpoint.clone(),
            status,
        };
        let mut req = tonic::Request::new(msg);
        let ns = self
            .namespace
            .parse()
            .map_err(|_| ContainerdError::Namespace(self.namespace.clone()))?;
        req.metadata_mut().insert("containerd-namespace", ns);
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        let work = async {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
            grpc.unary(req, PathAndQuery::from_static(path), codec)
                .await
        };
        match tokio::time::timeout(self.request_timeout, work).await {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(rpc(status)),
            Err(_) => Err(ContainerdError::Timeout {
                op,
                endpoint: self.endpoint.clone(),
                after: self.request_timeout,
            }),
        }
    }

    fn fetch(&self, channel: &Channel, id: String) -> BoxFuture<'static, Fetched> {
        let this = self.clone();
        let channel = channel.clone();
        async move {
            let req = proto::GetContainerRequest { id: id.clone() };
            let got: Result<proto::GetContainerResponse, _> = this
                .call(
                    &channel,
                    "/containerd.services.containers.v1.Containers/Get",
                    "get container",
                    req,
                )
                .await;
            let res = match got {
                Ok(r) => Ok(r.container.map(|c| ContainerdContainer {
                    env: c
                        .spec
                        .as_ref()
                        .map(|s| spec_env(&s.value))
                        .unwrap_or_default(),
                    id: c.id,
                    labels: c.labels.into_iter().collect(),
                    image: c.image,
                })),
                Err(ContainerdError::Rpc { status, .. })
                    if status.code() == tonic::Code::NotFound =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            };
            (id, res)
        }
        .boxed()
    }

    /// The task body: connect, serve requests, reconnect with backoff when containerd goes away.
    pub async fn run(
        self,
        cache: Arc<MetadataCache>,
        status: Arc<StatusBoard>,
        mut req_rx: mpsc::UnboundedReceiver<String>,
        tx: mpsc::Sender<MetadataUpdate>,
    ) {
        let kind = RuntimeKind::Containerd;
        // Cgroup names by container id; ids whose metadata is missing are fetched on (re)connect.
        let mut names: HashMap<String, BTreeSet<String>> = HashMap::new();
        let min_backoff = Duration::from_millis(250);
        let mut backoff = min_backoff;
        let mut first_failure = true;
        loop {
            let reason = match self.connect().await {
                Ok((channel, version)) => {
                    backoff = min_backoff;
                    first_failure = true;
                    status.update(kind, |s| {
                        s.connected = true;
                        s.version = version.clone();
                        s.last_error.clear();
                    });
                    tracing::info!(endpoint = %self.endpoint, %version, "connected to containerd");
                    match self
                        .serve(&channel, &cache, &mut names, &mut req_rx, &tx)
                        .await
                    {
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

    /// Serves one connection; `None` means shut down, `Some(reason)` means reconnect.
    async fn serve(
        &self,
        channel: &Channel,
        cache: &MetadataCache,
        names: &mut HashMap<String, BTreeSet<String>>,
        req_rx: &mut mpsc::UnboundedReceiver<String>,
        tx: &mpsc::Sender<MetadataUpdate>,
    ) -> Option<String> {
        let mut work: FuturesUnordered<BoxFuture<'static, Fetched>> = FuturesUnordered::new();
        let mut busy: BTreeSet<String> = BTreeSet::new();
        for id in names.keys() {
            if cache.get(id).is_none() && busy.insert(id.clone()) {
                work.push(self.fetch(channel, id.clone()));
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
                                work.push(self.fetch(channel, c.id));
                            }
                        }
                    }
                }
                Some((cid, res)) = work.next(), if !work.is_empty() => {
                    busy.remove(&cid);
                    let targets: Vec<String> = names.get(&cid).into_iter().flatten().cloned().collect();
                    match res {
                        Ok(Some(c)) => {
                            for name in targets {
                                let (meta, changed) = cache.insert(metadata(&name, &c, &self.env));
                                if changed {
                                    tx.send(MetadataUpdate { name, meta: Some(meta) }).await.ok()?;
                                }
                            }
                        }
                        Ok(None) => {
                            names.remove(&cid);
                            // A bare id may be another runtime's: only say "nobody" for our own names.
                            for name in targets {
                                if id::classify(&name).is_some_and(|c| c.kind == RuntimeKind::Containerd) {
                                    tx.send(MetadataUpdate { name, meta: None }).await.ok()?;
                                }
                            }
                        }
                        Err(e) if e.is_container_specific() => {
                            tracing::debug!(error = %e, "containerd metadata unavailable");
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
    use crate::runtime::env::EnvWhitelist;
    use crate::runtime::{KUBE_CONTAINER_LABEL, KUBE_NAMESPACE_LABEL, KUBE_POD_LABEL};

    // OCI spec stored by containerd 1.6.20 (Debian 12) for a `ctr containers create --env APP_MODE=test`.
    const SPEC: &str = include_str!("../../tests/fixtures/containerd-1.6-debian12/spec.json");

    #[test]
    fn env_from_the_stored_spec() {
        assert_eq!(
            spec_env(SPEC.as_bytes()),
            vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
                "APP_MODE=test".to_string()
            ]
        );
        assert!(spec_env(b"not json").is_empty());
        assert!(spec_env(b"{}").is_empty());
    }

    #[test]
    fn get_container_answer_decodes() {
        use prost::Message;
        let sent = proto::GetContainerResponse {
            container: Some(proto::Container {
                id: "abc".into(),
                labels: [("k".to_string(), "v".to_string())].into(),
                image: "docker.io/local/busybox:1".into(),
                spec: Some(proto::Any {
                    type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                    value: SPEC.as_bytes().to_vec(),
                }),
            }),
        };
        let got =
            proto::GetContainerResponse::decode(sent.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(got, sent);
    }

    #[test]
    fn kubernetes_container_in_k8s_io() {
        let id = "c".repeat(64);
        let name = format!("/kubepods/besteffort/pod1234/{id}");
        let c = ContainerdContainer {
            id: id.clone(),
            labels: BTreeMap::from([
                (KUBE_CONTAINER_LABEL.to_string(), "app".to_string()),
                (KUBE_POD_LABEL.to_string(), "web-0".to_string()),
                (KUBE_NAMESPACE_LABEL.to_string(), "prod".to_string()),
            ]),
            image: "registry.k8s.io/pause:3.9".into(),
            env: vec!["PATH=/bin".into(), "APP_MODE=x".into()],
        };
        let env = EnvWhitelist::unified(vec!["APP_".into()]).for_runtime(RuntimeKind::Containerd);
        let m = metadata(&name, &c, &env);
        assert_eq!(m.aliases, vec![id, name]);
        assert_eq!(m.namespace, "containerd");
        // cAdvisor keeps containerd's env keys as written (Docker's and Podman's are lower-cased).
        assert_eq!(m.envs.get("APP_MODE").map(String::as_str), Some("x"));
        let k = m.kubernetes().expect("kube labels");
        assert_eq!((k.container, k.pod, k.namespace), ("app", "web-0", "prod"));
    }
}
