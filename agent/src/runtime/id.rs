//! Pure classification of a cgroup container name (`/docker/<id>`, `/system.slice/docker-<id>.scope`,
//! `/kubepods/burstable/pod<uid>/<id>`, ...) into the runtime that owns it and the runtime's id.
//! No I/O: the same answer for the same string, so it is cheap to call on every lookup.

use super::RuntimeKind;

/// What a cgroup name says about its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: RuntimeKind,
    /// The runtime's container id (64 hex digits), or the unit name for systemd units.
    pub id: String,
}

/// Kubernetes QoS class of a pod cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// The pod a cgroup belongs to, as far as the cgroup path tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubePod {
    pub qos: QosClass,
    /// Pod UID with dashes (`systemd` driver names spell them as underscores).
    pub uid: String,
}

/// Docker, CRI and Podman ids are 64 lowercase hex digits. cAdvisor's docker factory also accepts
/// `[a-z0-9]{64}`; real ids are hex, and being strict keeps unit names like `foo.service` out.
fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<prefix><id><suffix>` → id, when the middle is a container id.
fn strip_id<'a>(base: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = base.strip_prefix(prefix)?.strip_suffix(suffix)?;
    is_container_id(id).then_some(id)
}

/// Classifies a container name. `None` means a plain (raw) cgroup that no runtime owns, or one cAdvisor
/// ignores (see [`is_ignored`]).
pub fn classify(name: &str) -> Option<Classified> {
    if is_ignored(name) {
        return None;
    }
    let (parent, base) = match name.rsplit_once('/') {
        Some((p, b)) => (p, b),
        None => ("", name),
    };
    let hit = |kind, id: &str| {
        Some(Classified {
            kind,
            id: id.to_string(),
        })
    };
    // Runtime-specific leaf names: systemd cgroup driver (`.scope`) and the cgroupfs spellings.
    let prefixed: [(&str, &str, RuntimeKind); 6] = [
        ("docker-", ".scope", RuntimeKind::Docker),
        ("cri-containerd-", ".scope", RuntimeKind::Containerd),
        ("crio-", ".scope", RuntimeKind::Crio),
        ("crio-", "", RuntimeKind::Crio),
        ("libpod-", ".scope", RuntimeKind::Podman),
        ("libpod-", "", RuntimeKind::Podman),
    ];
    for (prefix, suffix, kind) in prefixed {
        if let Some(id) = strip_id(base, prefix, suffix) {
            return hit(kind, id);
        }
    }
    if is_container_id(base) {
        // cgroupfs driver: the parent says who made it, except below kubepods (docker via dockershim,
        // containerd, CRI-O all use bare ids there) and containerd namespaces (`/k8s.io/<id>`).
        let kind = match parent {
            "/docker" => RuntimeKind::Docker,
            p if p.starts_with("/libpod_parent") => RuntimeKind::Podman,
            _ => RuntimeKind::Unresolved,
        };
        return hit(kind, base);
    }
    if super::systemd::is_unit(base) {
        return hit(RuntimeKind::Systemd, base);
    }
    None
}

/// Names cAdvisor never reports: systemd `.mount` units (its systemd factory claims and drops them)
/// and the conmon monitor scopes CRI-O and Podman create beside each container.
pub fn is_ignored(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    super::systemd::is_mount_unit(base)
        || base.starts_with("crio-conmon-")
        || base.starts_with("libpod-conmon-")
}

/// The pod a container or pod cgroup belongs to, from either cgroup driver's spelling:
/// cgroupfs `/kubepods/burstable/pod<uid>/...`, `/kubepods/pod<uid>` (guaranteed), systemd
/// `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/...`.
pub fn kube_pod(name: &str) -> Option<KubePod> {
    let mut parts = name.split('/').filter(|p| !p.is_empty());
    let top = parts.next()?;
    if top != "kubepods" && top != "kubepods.slice" {
        return None;
    }
    let mut qos = QosClass::Guaranteed;
    for part in parts {
        let part = part.strip_suffix(".slice").unwrap_or(part);
        // systemd spells `kubepods-burstable-pod<uid>`; cgroupfs spells `burstable` then `pod<uid>`.
        let tail = part.strip_prefix("kubepods-").unwrap_or(part);
        let (q, rest) = if let Some(r) = tail.strip_prefix("burstable") {
            (Some(QosClass::Burstable), r)
        } else if let Some(r) = tail.strip_prefix("besteffort") {
            (Some(QosClass::BestEffort), r)
        } else {
            (None, tail)
        };
        if let Some(q) = q {
            qos = q;
        }
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        if let Some(uid) = rest.strip_prefix("pod") {
            if uid.is_empty() {
                return None;
            }
            return Some(KubePod {
                qos,
                uid: uid.replace('_', "-"),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c5e0b7c9a4d2e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";

    fn cls(name: &str) -> Option<(RuntimeKind, String)> {
        classify(name).map(|c| (c.kind, c.id))
    }

    #[test]
    fn docker_cgroupfs_and_systemd_drivers() {
        // Docker 20.10, cgroupfs driver, cgroup v1 (this machine): /sys/fs/cgroup/memory/docker/<id>
        assert_eq!(
            cls(&format!("/docker/{ID}")),
            Some((RuntimeKind::Docker, ID.into()))
        );
        // Docker on systemd hosts (Ubuntu 22.04, cgroup v2): /sys/fs/cgroup/system.slice/docker-<id>.scope
        assert_eq!(
            cls(&format!("/system.slice/docker-{ID}.scope")),
            Some((RuntimeKind::Docker, ID.into()))
        );
        // The docker parent itself and docker's own unit are not containers of docker.
        assert_eq!(cls("/docker"), None);
        assert_eq!(
            cls("/system.slice/docker.service"),
            Some((RuntimeKind::Systemd, "docker.service".into()))
        );
        // Not 64 hex digits.
        assert_eq!(cls("/docker/abc"), None);
        assert_eq!(cls(&format!("/docker/{}", ID.to_uppercase())), None);
    }

    #[test]
    fn kubepods_cgroupfs() {
        // kubelet cgroupfs driver (kind/minikube with dockershim or containerd), cgroup v1.
        let pod = "/kubepods/burstable/pod0d2f7a4e-8c1b-4a8e-9a5f-3b2c1d0e9f8a";
        assert_eq!(
            cls(&format!("{pod}/{ID}")),
            Some((RuntimeKind::Unresolved, ID.into()))
        );
        assert_eq!(cls(pod), None);
        assert_eq!(
            cls(&format!("/kubepods/besteffort/pod1234/{ID}")),
            Some((RuntimeKind::Unresolved, ID.into()))
        );
        // Guaranteed pods sit directly below /kubepods.
        assert_eq!(
            cls(&format!("/kubepods/pod1234/{ID}")),
            Some((RuntimeKind::Unresolved, ID.into()))
        );
        // CRI-O with cgroupfs names its leaf crio-<id>.
        assert_eq!(
            cls(&format!("/kubepods/burstable/pod1234/crio-{ID}")),
            Some((RuntimeKind::Crio, ID.into()))
        );
    }

    #[test]
    fn kubepods_systemd_driver() {
        // kubelet systemd driver, cgroup v2 (GKE COS / EKS AL2023 layouts).
        let pod = "/kubepods.slice/kubepods-burstable.slice/\
                   kubepods-burstable-pod0d2f7a4e_8c1b_4a8e_9a5f_3b2c1d0e9f8a.slice";
        assert_eq!(
            cls(&format!("{pod}/cri-containerd-{ID}.scope")),
            Some((RuntimeKind::Containerd, ID.into()))
        );
        assert_eq!(
            cls(&format!("{pod}/crio-{ID}.scope")),
            Some((RuntimeKind::Crio, ID.into()))
        );
        assert_eq!(
            cls(&format!("{pod}/docker-{ID}.scope")),
            Some((RuntimeKind::Docker, ID.into()))
        );
        assert_eq!(cls(&format!("{pod}/crio-conmon-{ID}.scope")), None);
        assert!(is_ignored(&format!("{pod}/crio-conmon-{ID}.scope")));
        assert_eq!(cls(pod), None);
        assert_eq!(cls("/kubepods.slice"), None);
    }

    #[test]
    fn containerd_namespaces_and_podman() {
        // `ctr run` in namespace k8s.io with a 64-hex id: cgroup /k8s.io/<id>.
        assert_eq!(
            cls(&format!("/k8s.io/{ID}")),
            Some((RuntimeKind::Unresolved, ID.into()))
        );
        // Podman, systemd driver (rootful): /machine.slice/libpod-<id>.scope; conmon scope ignored.
        assert_eq!(
            cls(&format!("/machine.slice/libpod-{ID}.scope")),
            Some((RuntimeKind::Podman, ID.into()))
        );
        assert_eq!(
            cls(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        // Podman, cgroupfs driver: /libpod_parent/libpod-<id> and the bare-id form.
        assert_eq!(
            cls(&format!("/libpod_parent/libpod-{ID}")),
            Some((RuntimeKind::Podman, ID.into()))
        );
        assert_eq!(
            cls(&format!("/libpod_parent/{ID}")),
            Some((RuntimeKind::Podman, ID.into()))
        );
        // Rootless podman below the user's systemd instance.
        let user = "/user.slice/user-1000.slice/user@1000.service/user.slice";
        assert_eq!(
            cls(&format!("{user}/libpod-{ID}.scope")),
            Some((RuntimeKind::Podman, ID.into()))
        );
    }

    #[test]
    fn systemd_units() {
        assert_eq!(
            cls("/system.slice/ssh.service"),
            Some((RuntimeKind::Systemd, "ssh.service".into()))
        );
        assert_eq!(
            cls("/user.slice/user-0.slice/session-3.scope").map(|c| c.0),
            Some(RuntimeKind::Systemd)
        );
        // cAdvisor drops .mount units entirely.
        assert!(is_ignored("/system.slice/var-lib-docker-overlay2.mount"));
        assert_eq!(cls("/system.slice/run-user-0.mount"), None);
        // Slices are plain hierarchy, and the root is raw.
        assert_eq!(cls("/system.slice"), None);
        assert_eq!(cls("/"), None);
        assert_eq!(cls(""), None);
    }

    #[test]
    fn pods_from_either_driver() {
        assert_eq!(
            kube_pod(&format!("/kubepods/burstable/pod0d2f-7a4e/{ID}")),
            Some(KubePod {
                qos: QosClass::Burstable,
                uid: "0d2f-7a4e".into()
            })
        );
        assert_eq!(
            kube_pod("/kubepods/pod0d2f-7a4e"),
            Some(KubePod {
                qos: QosClass::Guaranteed,
                uid: "0d2f-7a4e".into()
            })
        );
        assert_eq!(
            kube_pod(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d2f_7a4e.slice/\
                 cri-containerd-x.scope"
            ),
            Some(KubePod {
                qos: QosClass::BestEffort,
                uid: "0d2f-7a4e".into()
            })
        );
        assert_eq!(
            kube_pod("/kubepods.slice/kubepods-pod0d2f_7a4e.slice"),
            Some(KubePod {
                qos: QosClass::Guaranteed,
                uid: "0d2f-7a4e".into()
            })
        );
        assert_eq!(kube_pod("/kubepods/burstable"), None);
        assert_eq!(kube_pod(&format!("/docker/{ID}")), None);
    }
}
