//! Kubernetes pods as the node sees them: containers grouped by the labels the kubelet puts on every
//! container (through cri-dockerd, containerd's CRI plugin or CRI-O), the pod's sandbox (pause)
//! container, and the pod-level cgroup of either cgroup driver with its QoS class.
//!
//! Pure: a function of one [`Snapshot`], no I/O. The rules are kubelet's (its cAdvisor stats
//! provider): a container belongs to a pod when it has both `io.kubernetes.pod.name` and
//! `io.kubernetes.pod.namespace`; the pod is keyed by name, namespace and `io.kubernetes.pod.uid`;
//! the sandbox is hidden from the pod's containers and lends the pod its network; when a pod has two
//! containers of the same name (a restart whose old cgroup lingers) the newer one counts.

use std::collections::BTreeMap;

use crate::query::{ContainerEntry, Snapshot, parent_of};
use crate::runtime::id::{self, QosClass};

/// Labels the kubelet sets on every container of a pod.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// The container name dockershim, cri-dockerd and CRI-O give a pod's sandbox (kubelet's
/// `PodInfraContainerName`).
pub const SANDBOX_CONTAINER_NAME: &str = "POD";

/// How each runtime marks a sandbox besides its container name: (label, value).
const SANDBOX_MARKS: [(&str, &str); 3] = [
    // cri-dockerd (and dockershim before it).
    ("io.kubernetes.docker.type", "podsandbox"),
    // containerd's CRI plugin; its sandboxes carry no container-name label.
    ("io.cri-containerd.kind", "sandbox"),
    // CRI-O.
    ("io.kubernetes.cri-o.ContainerType", "sandbox"),
];

/// Identifies a pod (kubelet's `PodReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// One pod: its labelled containers, sandbox and pod-level cgroup, as far as the node knows them.
#[derive(Debug, Clone)]
pub struct Pod<'a> {
    /// Name and namespace are empty for a pod known only by its cgroup (no labelled container).
    pub reference: PodRef,
    /// From the pod's cgroup path (`kubepods/burstable/...`), when it sits in one.
    pub qos: Option<QosClass>,
    /// The pod-level cgroup (`/kubepods/burstable/pod<uid>`,
    /// `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice`).
    pub cgroup: Option<&'a ContainerEntry>,
    /// The sandbox (pause) container; the newest when there are several.
    pub sandbox: Option<&'a ContainerEntry>,
    /// The pod's other containers, sorted by name, one per name.
    pub containers: Vec<PodContainer<'a>>,
}

impl Pod<'_> {
    /// `true` when the pod's name and namespace are known (it has a labelled container).
    pub fn is_named(&self) -> bool {
        !self.reference.name.is_empty() && !self.reference.namespace.is_empty()
    }
}

/// A container of a pod with its Kubernetes name (`io.kubernetes.container.name`).
#[derive(Debug, Clone)]
pub struct PodContainer<'a> {
    pub name: String,
    pub entry: &'a ContainerEntry,
}

/// A QoS class as Kubernetes spells it in a pod's status.
pub fn qos_name(q: QosClass) -> &'static str {
    match q {
        QosClass::Guaranteed => "Guaranteed",
        QosClass::Burstable => "Burstable",
        QosClass::BestEffort => "BestEffort",
    }
}

/// The pod a pod-level cgroup stands for: `Some` for the pod's own cgroup only, not for the
/// containers below it nor the QoS cgroups above it.
pub fn pod_cgroup(name: &str) -> Option<id::KubePod> {
    let pod = id::kube_pod(name)?;
    id::kube_pod(parent_of(name)).is_none().then_some(pod)
}

/// Whether `labels` mark a pod's sandbox container.
pub fn is_sandbox(labels: &BTreeMap<String, String>) -> bool {
    labels.get(CONTAINER_NAME_LABEL).map(String::as_str) == Some(SANDBOX_CONTAINER_NAME)
        || SANDBOX_MARKS
            .iter()
            .any(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
}

/// The pod a container belongs to by its labels (kubelet's `isPodManagedContainer`): `None` unless
/// both the pod name and namespace labels are set. A missing uid label is taken from the
/// container's cgroup path when that is below a pod cgroup.
pub fn pod_of(entry: &ContainerEntry) -> Option<PodRef> {
    let labels = &entry.spec.labels;
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
    let (name, namespace) = (get(POD_NAME_LABEL), get(POD_NAMESPACE_LABEL));
    if name.is_empty() || namespace.is_empty() {
        return None;
    }
    let uid = match get(POD_UID_LABEL) {
        "" => id::kube_pod(entry.name())
            .map(|p| p.uid)
            .unwrap_or_default(),
        uid => uid.to_string(),
    };
    Some(PodRef {
        name: name.to_string(),
        namespace: namespace.to_string(),
        uid,
    })
}

/// Every pod of `snapshot`, sorted by namespace, name and uid (pods known only by their cgroup
/// first, as their name is empty).
pub fn pods(snapshot: &Snapshot) -> Vec<Pod<'_>> {
    let mut cgroups: BTreeMap<String, (&ContainerEntry, QosClass)> = BTreeMap::new();
    let mut by_ref: BTreeMap<PodRef, Pod<'_>> = BTreeMap::new();
    for entry in snapshot.containers.values() {
        let entry = &**entry;
        if let Some(p) = pod_cgroup(entry.name()) {
            cgroups.insert(p.uid, (entry, p.qos));
            continue;
        }
        let Some(reference) = pod_of(entry) else {
            continue;
        };
        let pod = by_ref.entry(reference.clone()).or_insert_with(|| Pod {
            reference,
            qos: None,
            cgroup: None,
            sandbox: None,
            containers: Vec::new(),
        });
        if pod.qos.is_none() {
            pod.qos = id::kube_pod(entry.name()).map(|p| p.qos);
        }
        if is_sandbox(&entry.spec.labels) {
            pod.sandbox = Some(newer(pod.sandbox, entry));
            continue;
        }
        let name = entry
            .spec
            .labels
            .get(CONTAINER_NAME_LABEL)
            .cloned()
            .unwrap_or_default();
        match pod.containers.iter_mut().find(|c| c.name == name) {
            Some(c) => c.entry = newer(Some(c.entry), entry),
            None => pod.containers.push(PodContainer { name, entry }),
        }
    }
    let mut out: Vec<Pod<'_>> = by_ref
        .into_values()
        .map(|mut pod| {
            if let Some((cg, qos)) = cgroups.remove(&pod.reference.uid) {
                pod.cgroup = Some(cg);
                pod.qos = Some(qos);
            }
            pod.containers.sort_by(|a, b| a.name.cmp(&b.name));
            pod
        })
        .collect();
    // Pod cgroups no labelled container claimed: a pod whose runtime does not describe its
    // containers (or `--docker_only`), still worth its cgroup's numbers to an embedder.
    out.extend(cgroups.into_iter().map(|(uid, (cg, qos))| Pod {
        reference: PodRef {
            uid,
            ..PodRef::default()
        },
        qos: Some(qos),
        cgroup: Some(cg),
        sandbox: None,
        containers: Vec::new(),
    }));
    out.sort_by(|a, b| {
        (&a.reference.namespace, &a.reference.name, &a.reference.uid).cmp(&(
            &b.reference.namespace,
            &b.reference.name,
            &b.reference.uid,
        ))
    });
    out
}

/// The more recently created of `held` and `other` (`other` on a tie: it was seen later).
fn newer<'a>(held: Option<&'a ContainerEntry>, other: &'a ContainerEntry) -> &'a ContainerEntry {
    match held {
        Some(h) if h.spec.creation_time > other.spec.creation_time => h,
        _ => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::model::json::Timestamp;
    use crate::model::v1::{ContainerReference, ContainerSpec};
    use crate::query::Samples;

    const UID: &str = "0d2f7a4e-8c1b-4a8e-9a5f-3b2c1d0e9f8a";

    fn entry(name: &str, labels: &[(&str, &str)], created: i64) -> Arc<ContainerEntry> {
        let spec = ContainerSpec {
            creation_time: Timestamp::from_unix_nanos(created * 1_000_000_000),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ContainerSpec::default()
        };
        Arc::new(ContainerEntry {
            reference: ContainerReference {
                name: name.into(),
                ..ContainerReference::default()
            },
            samples: Arc::new(Samples::new(Duration::from_secs(60), &spec)),
            spec,
        })
    }

    fn snapshot(entries: Vec<Arc<ContainerEntry>>) -> Snapshot {
        Snapshot {
            containers: entries
                .into_iter()
                .map(|e| (Arc::from(e.name()), e))
                .collect(),
            ..Snapshot::default()
        }
    }

    /// Labels as cri-dockerd sets them on a pod's container (`docker inspect`).
    fn k8s(pod: &str, container: &str) -> Vec<(&'static str, String)> {
        vec![
            (POD_NAME_LABEL, pod.to_string()),
            (POD_NAMESPACE_LABEL, "default".to_string()),
            (POD_UID_LABEL, UID.to_string()),
            (CONTAINER_NAME_LABEL, container.to_string()),
        ]
    }

    fn labels<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    #[test]
    fn cgroupfs_driver_pod_with_sandbox_and_containers() {
        let pod = format!("/kubepods/burstable/pod{UID}");
        let mut sandbox = k8s("web-0", "POD");
        sandbox.push(("io.kubernetes.docker.type", "podsandbox".into()));
        let snap = snapshot(vec![
            entry("/", &[], 0),
            entry("/kubepods", &[], 0),
            entry("/kubepods/burstable", &[], 0),
            entry(&pod, &[], 10),
            entry(&format!("{pod}/aaaa"), &labels(&sandbox), 11),
            entry(&format!("{pod}/bbbb"), &labels(&k8s("web-0", "nginx")), 12),
            entry(
                &format!("{pod}/cccc"),
                &labels(&k8s("web-0", "sidecar")),
                12,
            ),
            // Not a pod's: no pod labels.
            entry("/docker/dddd", &[("maintainer", "x")], 1),
        ]);
        let pods = pods(&snap);
        assert_eq!(pods.len(), 1, "{pods:?}");
        let p = &pods[0];
        assert_eq!(
            p.reference,
            PodRef {
                name: "web-0".into(),
                namespace: "default".into(),
                uid: UID.into()
            }
        );
        assert!(p.is_named());
        assert_eq!(p.qos, Some(QosClass::Burstable));
        assert_eq!(p.cgroup.map(|c| c.name()), Some(pod.as_str()));
        assert_eq!(
            p.sandbox.map(|c| c.name()),
            Some(format!("{pod}/aaaa").as_str())
        );
        let names: Vec<(&str, &str)> = p
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.entry.name()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("nginx", format!("{pod}/bbbb").as_str()),
                ("sidecar", format!("{pod}/cccc").as_str())
            ]
        );
    }

    #[test]
    fn systemd_driver_containerd_pod_and_guaranteed_class() {
        // containerd's CRI plugin, systemd cgroup driver: the sandbox has no container-name label.
        let slice = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
            UID.replace('-', "_")
        );
        let sandbox_labels = [
            (POD_NAME_LABEL, "dns"),
            (POD_NAMESPACE_LABEL, "kube-system"),
            (POD_UID_LABEL, UID),
            ("io.cri-containerd.kind", "sandbox"),
        ];
        let app_labels = [
            (POD_NAME_LABEL, "dns"),
            (POD_NAMESPACE_LABEL, "kube-system"),
            (POD_UID_LABEL, UID),
            (CONTAINER_NAME_LABEL, "coredns"),
            ("io.cri-containerd.kind", "container"),
        ];
        let guaranteed = "/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice";
        let snap = snapshot(vec![
            entry("/kubepods.slice", &[], 0),
            entry("/kubepods.slice/kubepods-besteffort.slice", &[], 0),
            entry(&slice, &[], 5),
            entry(
                &format!("{slice}/cri-containerd-{}.scope", "a".repeat(64)),
                &sandbox_labels,
                6,
            ),
            entry(
                &format!("{slice}/cri-containerd-{}.scope", "b".repeat(64)),
                &app_labels,
                7,
            ),
            entry(guaranteed, &[], 3),
        ]);
        let pods = pods(&snap);
        assert_eq!(pods.len(), 2, "{pods:?}");
        // The guaranteed pod has no labelled container: known by uid and cgroup only.
        let bare = &pods[0];
        assert!(!bare.is_named());
        assert_eq!(bare.reference.uid, "11111111-2222-3333-4444-555555555555");
        assert_eq!(bare.qos, Some(QosClass::Guaranteed));
        assert_eq!(bare.cgroup.map(|c| c.name()), Some(guaranteed));
        let dns = &pods[1];
        assert_eq!(dns.reference.namespace, "kube-system");
        assert_eq!(dns.qos, Some(QosClass::BestEffort));
        assert_eq!(dns.cgroup.map(|c| c.name()), Some(slice.as_str()));
        assert!(dns.sandbox.is_some());
        assert_eq!(dns.containers.len(), 1);
        assert_eq!(dns.containers[0].name, "coredns");
        assert_eq!(qos_name(QosClass::BestEffort), "BestEffort");
    }

    #[test]
    fn restarted_container_counts_once_and_uid_falls_back_to_the_cgroup() {
        let pod = format!("/kubepods/pod{UID}");
        // No uid label: the cgroup path gives it.
        let l = [
            (POD_NAME_LABEL, "job"),
            (POD_NAMESPACE_LABEL, "batch"),
            (CONTAINER_NAME_LABEL, "worker"),
        ];
        let snap = snapshot(vec![
            entry(&pod, &[], 1),
            entry(&format!("{pod}/old"), &l, 5),
            entry(&format!("{pod}/new"), &l, 9),
            // A CRI-O sandbox, known by its container name.
            entry(
                &format!("{pod}/crio-{}", "c".repeat(64)),
                &[
                    (POD_NAME_LABEL, "job"),
                    (POD_NAMESPACE_LABEL, "batch"),
                    (CONTAINER_NAME_LABEL, "POD"),
                ],
                4,
            ),
        ]);
        let pods = pods(&snap);
        assert_eq!(pods.len(), 1, "{pods:?}");
        let p = &pods[0];
        assert_eq!(p.reference.uid, UID);
        assert_eq!(p.qos, Some(QosClass::Guaranteed));
        assert_eq!(p.cgroup.map(|c| c.name()), Some(pod.as_str()));
        assert_eq!(p.containers.len(), 1);
        assert_eq!(p.containers[0].entry.name(), format!("{pod}/new"));
        assert!(p.sandbox.is_some_and(|s| s.name().contains("crio-")));
    }

    #[test]
    fn half_labelled_containers_are_not_pods() {
        let snap = snapshot(vec![
            entry("/docker/a", &[(POD_NAME_LABEL, "x")], 1),
            entry("/docker/b", &[(POD_NAMESPACE_LABEL, "y")], 1),
            entry(
                "/docker/c",
                &[(POD_NAME_LABEL, ""), (POD_NAMESPACE_LABEL, "")],
                1,
            ),
        ]);
        assert!(pods(&snap).is_empty());
    }

    #[test]
    fn pod_cgroup_is_only_the_pod_level() {
        assert!(pod_cgroup(&format!("/kubepods/burstable/pod{UID}")).is_some());
        assert!(pod_cgroup(&format!("/kubepods/burstable/pod{UID}/abc")).is_none());
        assert!(pod_cgroup("/kubepods/burstable").is_none());
        assert!(pod_cgroup("/kubepods").is_none());
        assert!(pod_cgroup("/docker/abc").is_none());
        let p =
            pod_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice")
                .expect("systemd pod slice");
        assert_eq!((p.uid.as_str(), p.qos), ("1-2", QosClass::Burstable));
    }
}
