//! What the Summary API needs to know about the node that container samples do not carry: its
//! name, process limits and which filesystems hold the kubelet's and the runtime's data. Read from
//! the host root on each request (a few small files and the mount table); parsing is pure.

use std::path::{Path, PathBuf};

use crate::fs::{self, Mount};
use crate::host::HostPaths;
use crate::model::json::Timestamp;

/// The kubelet's data directory: the node filesystem (`node.fs`) is the one holding it.
const KUBELET_ROOT: &str = "/var/lib/kubelet";

/// Where runtimes keep images and writable layers, in the order they are looked for (after
/// `--docker_root`): containerd, CRI-O / Podman.
const RUNTIME_ROOTS: [&str; 2] = ["/var/lib/containerd", "/var/lib/containers/storage"];

/// Node facts read at request time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// `node.nodeName`: the host name, as kubelet's default node name.
    pub node_name: String,
    pub rlimit: Rlimit,
    /// Device (as the root container's filesystem samples name it) of the filesystem holding
    /// the kubelet's directory, else `/`.
    pub root_fs_device: Option<String>,
    /// Device of the filesystem holding the container runtime's images, else the root fs.
    pub image_fs_device: Option<String>,
}

/// `node.rlimit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rlimit {
    pub time: Timestamp,
    /// The kernel's limit on tasks: the smaller of `kernel.pid_max` and `kernel.threads-max`.
    pub max_pid: Option<i64>,
    /// Tasks (threads) that exist now.
    pub tasks: Option<i64>,
}

/// Reads everything; `filesystems` is false for `?only_cpu_and_memory=true`, which needs none.
pub fn read(host: &HostPaths, filesystems: bool) -> NodeFacts {
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    let node_name = read(host.proc.join("sys/kernel/hostname"))
        .or_else(|| read(host.etc.join("hostname")))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let pid_max = read(host.proc.join("sys/kernel/pid_max")).and_then(|s| parse_int(&s));
    let threads_max = read(host.proc.join("sys/kernel/threads-max")).and_then(|s| parse_int(&s));
    let rlimit = Rlimit {
        time: Timestamp::now(),
        max_pid: match (pid_max, threads_max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        tasks: read(host.proc.join("loadavg")).and_then(|s| parse_loadavg_tasks(&s)),
    };
    let mut facts = NodeFacts {
        node_name,
        rlimit,
        ..NodeFacts::default()
    };
    if filesystems && let Ok(mounts) = fs::read_mounts(host) {
        let mounts = fs::select_mounts(&mounts);
        let exists = |p: &Path| host.host_path(p).is_dir();
        let kubelet = Path::new(KUBELET_ROOT);
        let root_dir = if exists(kubelet) {
            kubelet
        } else {
            Path::new("/")
        };
        facts.root_fs_device = device_holding(&mounts, root_dir);
        let image_dir = std::iter::once(host.docker_root.as_path())
            .chain(RUNTIME_ROOTS.iter().map(Path::new))
            .find(|p| exists(p));
        facts.image_fs_device = image_dir
            .and_then(|d| device_holding(&mounts, d))
            .or_else(|| facts.root_fs_device.clone());
    }
    facts
}

/// The device of the mount with the longest mount point containing `dir` (`mounts` as
/// [`fs::select_mounts`] gives them, so the name matches the root container's filesystem samples).
pub fn device_holding(mounts: &[Mount], dir: &Path) -> Option<String> {
    mounts
        .iter()
        .filter(|m| dir.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.len())
        .map(|m| m.source.clone())
}

/// A decimal integer file such as `kernel.pid_max`.
pub fn parse_int(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// The task count of `/proc/loadavg` (`0.00 0.01 0.05 1/123 4567`: the 123), what `sysinfo(2)`
/// reports as `procs` and kubelet as `curproc`.
pub fn parse_loadavg_tasks(text: &str) -> Option<i64> {
    let field = text.split_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(source: &str, at: &str) -> Mount {
        Mount {
            major: 8,
            minor: 1,
            root: "/".into(),
            mount_point: at.into(),
            fs_type: "ext4".into(),
            source: source.into(),
        }
    }

    #[test]
    fn parses_kernel_files() {
        // /proc/loadavg, kernel 6.18, this machine.
        assert_eq!(
            parse_loadavg_tasks("0.52 0.58 0.59 3/1207 2213374\n"),
            Some(1207)
        );
        assert_eq!(parse_loadavg_tasks("0.52 0.58"), None);
        assert_eq!(parse_int("4194304\n"), Some(4_194_304));
        assert_eq!(parse_int("x"), None);
    }

    #[test]
    fn the_longest_mount_point_holds_a_directory() {
        let mounts = [
            mount("/dev/vda1", "/"),
            mount("/dev/vdb", "/var/lib/docker"),
            mount("/dev/vdc", "/var/lib/dockerx"),
        ];
        assert_eq!(
            device_holding(&mounts, Path::new("/var/lib/docker")).as_deref(),
            Some("/dev/vdb")
        );
        assert_eq!(
            device_holding(&mounts, Path::new("/var/lib/kubelet")).as_deref(),
            Some("/dev/vda1")
        );
        assert_eq!(device_holding(&[], Path::new("/")), None);
    }

    #[test]
    fn reads_a_fixture_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = HostPaths::under(dir.path());
        let kernel = host.proc.join("sys/kernel");
        std::fs::create_dir_all(&kernel).expect("mkdir");
        std::fs::write(kernel.join("hostname"), "node-1\n").expect("write");
        std::fs::write(kernel.join("pid_max"), "4194304\n").expect("write");
        std::fs::write(kernel.join("threads-max"), "63704\n").expect("write");
        std::fs::write(host.proc.join("loadavg"), "0.1 0.2 0.3 2/345 99\n").expect("write");
        let facts = read(&host, true);
        assert_eq!(facts.node_name, "node-1");
        assert_eq!(facts.rlimit.max_pid, Some(63704));
        assert_eq!(facts.rlimit.tasks, Some(345));
        // No mount table in the fixture: no filesystems.
        assert_eq!(facts.root_fs_device, None);
    }
}
