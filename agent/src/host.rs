//! Where the host's kernel interfaces live. The only module that spells out `/proc`, `/sys` and friends:
//! every reader takes a `HostPaths` (or one of its fields) so the same code runs against `/`, against
//! `/rootfs` when containerised, and against fixture trees in tests.

use std::path::{Component, Path, PathBuf};

/// cAdvisor's default `--boot_id_file`, an absolute host path (read below `--rootfs` like the rest).
pub const DEFAULT_BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// cAdvisor's default `--docker_root`.
pub const DEFAULT_DOCKER_ROOT: &str = "/var/lib/docker";

/// Where a containerised agent finds the host's root (`-v /:/rootfs:ro`), as cAdvisor's image does.
pub const CONTAINER_ROOTFS: &str = "/rootfs";

/// Symbolic links followed in one path before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

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

    /// The host root for `--rootfs=<flag>`: the flag when it names anything but `/`; otherwise
    /// [`CONTAINER_ROOTFS`] when `/rootfs/proc` exists (the host's root mounted into the agent's
    /// container; cAdvisor decides the same way), else `/`.
    pub fn detect(flag: &str) -> Self {
        Self::detect_with(flag, Path::new(CONTAINER_ROOTFS))
    }

    fn detect_with(flag: &str, container_rootfs: &Path) -> Self {
        if Path::new(flag) != Path::new("/") {
            Self::under(flag)
        } else if container_rootfs.join("proc").is_dir() {
            Self::under(container_rootfs)
        } else {
            Self::local()
        }
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

    /// `absolute` (a host path) below the root with symbolic links followed as the host resolves
    /// them: an absolute target stays below the root (`/var/run` → `/run` is `<root>/run`, not this
    /// process's `/run`). Components that do not exist are kept; after [`MAX_LINKS`] links the path
    /// is returned unresolved (a loop).
    pub fn resolve(&self, absolute: impl AsRef<Path>) -> PathBuf {
        let absolute = absolute.as_ref();
        if self.is_local() {
            return absolute.to_path_buf();
        }
        // Components still to walk, next one last.
        let mut todo: Vec<PathBuf> = Vec::new();
        let push = |todo: &mut Vec<PathBuf>, p: &Path| {
            for c in p.components().rev() {
                match c {
                    Component::Normal(n) => todo.push(PathBuf::from(n)),
                    Component::ParentDir => todo.push(PathBuf::from("..")),
                    Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                }
            }
        };
        push(&mut todo, absolute);
        let mut done = PathBuf::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c == Path::new("..") {
                done.pop();
                continue;
            }
            let next = done.join(&c);
            match std::fs::read_link(self.root.join(&next)) {
                Ok(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return self.host_path(absolute);
                    }
                    if target.is_absolute() {
                        done.clear();
                    }
                    push(&mut todo, &target);
                }
                Err(_) => done = next,
            }
        }
        self.root.join(done)
    }

    /// A runtime endpoint (`unix:///var/run/docker.sock`, `/run/containerd/containerd.sock`,
    /// `tcp://…`) as this process reaches it: as given when it is not a socket path or the socket
    /// is there (mounted into the agent's container, as cAdvisor's `-v /var/run:/var/run:ro`),
    /// otherwise the same socket below the root.
    pub fn endpoint(&self, endpoint: &str) -> String {
        let (scheme, path) = match endpoint.strip_prefix("unix://") {
            Some(path) => ("unix://", path),
            None if endpoint.starts_with('/') => ("", endpoint),
            None => return endpoint.to_string(),
        };
        if self.is_local() || Path::new(path).exists() {
            return endpoint.to_string();
        }
        format!("{scheme}{}", self.resolve(path).display())
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

    #[test]
    fn detect_takes_the_flag_then_a_mounted_rootfs_then_slash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        assert_eq!(HostPaths::detect_with("/", &rootfs), HostPaths::local());
        std::fs::create_dir_all(rootfs.join("proc")).expect("mkdir");
        assert_eq!(HostPaths::detect_with("/", &rootfs).root, rootfs);
        assert_eq!(
            HostPaths::detect_with("/host", &rootfs).root,
            PathBuf::from("/host")
        );
    }

    #[test]
    fn resolve_keeps_absolute_links_below_the_root() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("run/docker")).expect("mkdir");
        std::fs::create_dir_all(root.join("var")).expect("mkdir");
        // Debian's /var/run -> /run, and a relative link inside it.
        symlink("/run", root.join("var/run")).expect("link");
        symlink("docker/docker.sock", root.join("run/docker.sock")).expect("link");
        std::fs::write(root.join("run/docker/docker.sock"), "").expect("file");
        symlink("/loop", root.join("loop")).expect("link");
        let h = HostPaths::under(root);
        assert_eq!(
            h.resolve("/var/run/docker.sock"),
            root.join("run/docker/docker.sock")
        );
        assert_eq!(h.resolve("/var/run/../etc/x"), root.join("etc/x"));
        assert_eq!(h.resolve("/nope/x"), root.join("nope/x"));
        assert_eq!(h.resolve("/loop/x"), root.join("loop/x"));
        // A socket missing where it is given (here: on this machine) is taken from below the root.
        std::fs::create_dir_all(root.join("run/bpfa-no-such-dir")).expect("mkdir");
        assert_eq!(
            h.endpoint("unix:///var/run/bpfa-no-such-dir/x.sock"),
            format!(
                "unix://{}",
                root.join("run/bpfa-no-such-dir/x.sock").display()
            )
        );
        assert_eq!(h.endpoint("tcp://127.0.0.1:2375"), "tcp://127.0.0.1:2375");
        // A socket that exists as given (mounted into the container) is used as given.
        let given = root.join("run/docker/docker.sock").display().to_string();
        assert_eq!(h.endpoint(&given), given);
        assert_eq!(HostPaths::local().endpoint("/x/y.sock"), "/x/y.sock");
    }
}
