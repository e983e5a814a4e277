//! containerd metadata in cAdvisor's shape. containerd speaks gRPC only; until a client lands, ids
//! below kubepods and `/k8s.io/<id>` are tried against Docker and otherwise stay raw cgroups. This
//! module holds the runtime-independent mapping so the client only has to fetch.

use std::collections::BTreeMap;

use super::{ContainerMetadata, RuntimeKind};
use crate::runtime::docker::whitelisted_envs;

/// cAdvisor reports containerd containers in namespace `containerd` whatever the containerd
/// namespace (`--containerd-namespace`, default `k8s.io`) they live in.
pub const NAMESPACE: &str = "containerd";

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
pub fn metadata(
    cgroup_name: &str,
    c: &ContainerdContainer,
    env_whitelist: &[String],
) -> ContainerMetadata {
    ContainerMetadata {
        runtime: RuntimeKind::Containerd,
        id: c.id.clone(),
        aliases: vec![c.id.clone(), cgroup_name.to_string()],
        namespace: NAMESPACE.to_string(),
        labels: c.labels.clone(),
        envs: whitelisted_envs(&c.env, env_whitelist),
        image: c.image.clone(),
        creation_time: None,
        start_time: None,
        restart_count: 0,
        health: String::new(),
        ip: String::new(),
        exit_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{KUBE_CONTAINER_LABEL, KUBE_NAMESPACE_LABEL, KUBE_POD_LABEL};

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
        let m = metadata(&name, &c, &["APP_".into()]);
        assert_eq!(m.aliases, vec![id, name]);
        assert_eq!(m.namespace, "containerd");
        assert_eq!(m.envs.get("APP_MODE").map(String::as_str), Some("x"));
        let k = m.kubernetes().expect("kube labels");
        assert_eq!((k.container, k.pod, k.namespace), ("app", "web-0", "prod"));
    }
}
