//! The facts behind `/api/v2.x/storage`: the host's filesystems, cAdvisor's storage labels and the
//! device names of filesystem UUIDs. Blocking (the mount table, `statvfs`, which can hang on a dead
//! network mount): callers run it off the async workers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::FsUsage;
use crate::host::HostPaths;

/// The host's filesystems and how to find one by label or UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    pub mounts: Vec<FsUsage>,
    /// cAdvisor's labels, each with the device of the filesystem it names.
    pub labels: Vec<(&'static str, String)>,
    /// `/dev/disk/by-uuid`: UUID → `/dev/<name>`.
    pub uuids: BTreeMap<String, String>,
}

/// Reads the filesystems, labels and UUIDs below `host`.
pub fn read_storage(host: &HostPaths) -> Storage {
    let mounts = super::filesystems(host);
    let labels = device_labels(host, &mounts);
    let uuids = read_uuids(&host.dev);
    Storage {
        mounts,
        labels,
        uuids,
    }
}

/// cAdvisor's storage labels: `root` for `/`, `docker-images` / `crio-images` /
/// `crio-containers` for the filesystem holding each runtime's storage directory (when present).
fn device_labels(host: &HostPaths, mounts: &[FsUsage]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(m) = mounts.iter().find(|m| m.is_root()) {
        out.push(("root", m.device.clone()));
    }
    for (label, dir) in [
        ("docker-images", host.docker_root.as_path()),
        ("crio-containers", Path::new("/var/lib/containers/storage")),
        ("crio-images", Path::new("/var/lib/containers/storage")),
    ] {
        if !host.host_path(dir).is_dir() {
            continue;
        }
        // The longest mount point containing the directory.
        if let Some(m) = mounts
            .iter()
            .filter(|m| dir.starts_with(&m.mountpoint))
            .max_by_key(|m| m.mountpoint.as_os_str().len())
        {
            out.push((label, m.device.clone()));
        }
    }
    out
}

/// `<dev>/disk/by-uuid/<uuid>` → `/dev/<name>` for every link there.
fn read_uuids(dev: &Path) -> BTreeMap<String, String> {
    let Ok(dir) = std::fs::read_dir(dev.join("disk/by-uuid")) else {
        return BTreeMap::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let uuid = e.file_name().to_str()?.to_owned();
            let link = std::fs::read_link(e.path()).ok()?;
            let name = link.file_name()?.to_str()?;
            Some((uuid, PathBuf::from("/dev").join(name).display().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_name_their_devices_and_labels_need_their_directories() {
        let t = tempfile::tempdir().expect("tempdir");
        let host = HostPaths::under(t.path());
        let by_uuid = host.dev.join("disk/by-uuid");
        std::fs::create_dir_all(&by_uuid).expect("mkdir");
        std::os::unix::fs::symlink("../../vda1", by_uuid.join("1234-abcd")).expect("symlink");
        assert_eq!(
            read_uuids(&host.dev),
            BTreeMap::from([("1234-abcd".to_owned(), "/dev/vda1".to_owned())])
        );
        let root = FsUsage {
            device: "/dev/vda1".into(),
            mountpoint: "/".into(),
            ..FsUsage::default()
        };
        let data = FsUsage {
            device: "/dev/vdb".into(),
            mountpoint: "/var/lib/docker".into(),
            ..FsUsage::default()
        };
        let mounts = [root, data];
        assert_eq!(
            device_labels(&host, &mounts),
            [("root", "/dev/vda1".to_owned())]
        );
        std::fs::create_dir_all(host.host_path("/var/lib/docker")).expect("mkdir");
        assert_eq!(
            device_labels(&host, &mounts),
            [
                ("root", "/dev/vda1".to_owned()),
                ("docker-images", "/dev/vdb".to_owned())
            ]
        );
        assert_eq!(
            read_storage(&HostPaths::under("/nonexistent-bpfadvisor-root")),
            Storage::default()
        );
    }
}
