//! Where the host's kernel interfaces live. The only module that spells out `/proc`, `/sys` and friends:
//! every reader takes a `HostPaths` (or one of its fields) so the same code runs against `/`, against
//! `/rootfs` when containerised, and against fixture trees in tests.

use std::path::{Path, PathBuf};

/// cAdvisor's default `--boot_id_file`, an absolute host path (read below `--rootfs` like the rest).
pub const DEFAULT_BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// cAdvisor's default `--docker_root`.
pub const DEFAULT_DOCKER_ROOT: &str = "/var/lib/docker";

/// Paths of the host interfaces, all below one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// The root everything else is below (`/`, `/rootfs`, or a fixture directory).
    pub root: PathBuf,
    /// procfs of the host's pid namespace.
    pub proc: PathBuf,
    /// sysfs.
    pub sys: PathBuf,
    /// Where cgroup hierarchies are mounted (`<sys>/fs/cgroup`).
    pub cgroup: PathBuf,
    /// `/dev` (for `/dev/kmsg`).
    pub dev: PathBuf,
    /// `/etc` (machine-id, os-release).
    pub etc: PathBuf,
    /// `/var/lib` (dbus machine-id fallback, runtime state dirs).
    pub var_lib: PathBuf,
    /// `/run` and `/var/run` (runtime sockets).
    pub run: PathBuf,
    /// Docker's data root as an absolute host path (`--docker_root`, `/var/lib/docker`): its
    /// filesystem is labelled `docker-images`, and `image/<driver>` below it names the driver.
    pub docker_root: PathBuf,
}

impl HostPaths {
    /// Paths of the machine this process runs on.
    pub fn local() -> Self {
        Self::under("/")
    }

    /// Paths of a host whose root file system is mounted at `root` (e.g. `/rootfs`) or of a fixture tree.
    pub fn under(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref().to_path_buf();
        let sys = root.join("sys");
        Self {
            proc: root.join("proc"),
            cgroup: sys.join("fs/cgroup"),
            sys,
            dev: root.join("dev"),
            etc: root.join("etc"),
            var_lib: root.join("var/lib"),
            run: root.join("run"),
            docker_root: PathBuf::from(DEFAULT_DOCKER_ROOT),
            root,
        }
    }

    /// The same paths with Docker's data root at `absolute` (a host path).
    pub fn with_docker_root(mut self, absolute: impl AsRef<Path>) -> Self {
        self.docker_root = absolute.as_ref().to_path_buf();
        self
    }

    /// A path below the root, given as an absolute host path (`"/etc/os-release"`).
    pub fn host_path(&self, absolute: impl AsRef<Path>) -> PathBuf {
        let p = absolute.as_ref();
        self.root.join(p.strip_prefix("/").unwrap_or(p))
    }

    /// `true` when the root is the real `/` of this process (so host pids and mount points can be used
    /// directly, e.g. for statvfs and network namespaces).
    pub fn is_local(&self) -> bool {
        self.root == Path::new("/")
    }
}

impl Default for HostPaths {
    fn default() -> Self {
        Self::local()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_puts_everything_below_the_root() {
        let h = HostPaths::under("/rootfs");
        assert_eq!(h.proc, PathBuf::from("/rootfs/proc"));
        assert_eq!(h.cgroup, PathBuf::from("/rootfs/sys/fs/cgroup"));
        assert_eq!(
            h.host_path("/etc/machine-id"),
            PathBuf::from("/rootfs/etc/machine-id")
        );
        assert!(!h.is_local());
        assert!(HostPaths::local().is_local());
    }
}
