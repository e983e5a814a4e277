//! File system readers: mount table, capacity/usage (statvfs), `/proc/diskstats`.
//!
//! The mount table is re-read on every call, so filesystems that are unmounted disappear and a network
//! namespace mount (`nsfs`) is never mistaken for a filesystem.

pub mod diskstats;
pub mod mountinfo;
pub mod storage;
pub mod usage;

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::host::HostPaths;
use crate::model::v1::FsStats;
use crate::telemetry::events::RateLimit;
pub use diskstats::DiskCounters;
pub use mountinfo::Mount;

/// A file system source that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("statvfs {path}: {source}")]
    Statvfs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One block-device filesystem: where it is, how full, and its device's I/O counters. The API layer
/// turns this into `v1.FsInfo`, `v1.FsStats`, `v2.FsInfo` and `v2.MachineFsStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsUsage {
    /// Mount source, e.g. `/dev/vda`.
    pub device: String,
    /// Mount point on the host (not prefixed by the root).
    pub mountpoint: PathBuf,
    /// Kernel filesystem type, e.g. `ext4`.
    pub fs_type: String,
    pub major: u32,
    pub minor: u32,
    /// Bytes: total, free to unprivileged users, and used (total − free incl. reserved blocks).
    pub capacity: u64,
    pub available: u64,
    pub usage: u64,
    /// `None` when the filesystem does not report inodes (e.g. btrfs reports 0).
    pub inodes: Option<u64>,
    pub inodes_free: Option<u64>,
    pub disk: DiskCounters,
}

impl FsUsage {
    /// The `type` cAdvisor reports: its storage-driver kind (`vfs` for ordinary filesystems).
    pub fn cadvisor_type(&self) -> &'static str {
        if self.fs_type == "zfs" { "zfs" } else { "vfs" }
    }

    /// `true` for the filesystem mounted at `/` (cAdvisor's `root` storage label).
    pub fn is_root(&self) -> bool {
        self.mountpoint == Path::new("/")
    }

    /// The root container's `v1.FsStats` entry for this filesystem.
    pub fn to_fs_stats(&self) -> FsStats {
        let d = &self.disk;
        FsStats {
            device: self.device.clone(),
            fs_type: self.cadvisor_type().to_string(),
            capacity: self.capacity,
            usage: self.usage,
            base_usage: 0,
            available: self.available,
            has_inodes: self.inodes.is_some(),
            inodes: self.inodes.unwrap_or(0),
            inodes_free: self.inodes_free.unwrap_or(0),
            reads_completed: d.reads_completed,
            reads_merged: d.reads_merged,
            sectors_read: d.sectors_read,
            read_time: d.read_time,
            writes_completed: d.writes_completed,
            writes_merged: d.writes_merged,
            sectors_written: d.sectors_written,
            write_time: d.write_time,
            io_in_progress: d.io_in_progress,
            io_time: d.io_time,
            weighted_io_time: d.weighted_io_time,
        }
    }
}

/// Filesystem types cAdvisor reports (ext2/3/4 by prefix). Overlay is left out: its mounts are
/// container root filesystems, which cAdvisor excludes by the runtime's storage directory.
fn supported_type(t: &str) -> bool {
    t.starts_with("ext") || matches!(t, "xfs" | "btrfs" | "zfs" | "f2fs" | "tmpfs")
}

/// Filesystems worth reporting, in mount-table order: block-device filesystems one per device
/// (its first mount, `/` preferred), and every tmpfs mount named by its mount point, as cAdvisor
/// lists them (`/dev/shm`, `/sys/fs/cgroup`, …). Pseudo filesystems such as `nsfs` never qualify.
pub fn select_mounts(mounts: &[Mount]) -> Vec<Mount> {
    let wanted = |m: &&Mount| {
        supported_type(&m.fs_type)
            && (m.source.starts_with("/dev/") || matches!(m.fs_type.as_str(), "zfs" | "tmpfs"))
    };
    let mut seen = BTreeSet::new();
    let mut out: Vec<Mount> = Vec::new();
    // Visit `/` first so the root device keeps its `/` mount point even if bound elsewhere earlier.
    let roots = mounts
        .iter()
        .filter(wanted)
        .filter(|m| m.mount_point == "/");
    let order: Vec<&Mount> = roots.chain(mounts.iter().filter(wanted)).collect();
    for m in order {
        let mut m = m.clone();
        if m.fs_type == "tmpfs" {
            m.source = m.mount_point.clone();
        }
        if seen.insert(m.source.clone()) {
            out.push(m);
        }
    }
    let pos = |m: &Mount| {
        mounts
            .iter()
            .position(|x| x.mount_point == m.mount_point && x.fs_type == m.fs_type)
    };
    out.sort_by_key(|m| pos(m));
    out
}

/// The mount table of the host: `<proc>/1/mountinfo` (init's view), else `<proc>/self/mountinfo`.
pub fn read_mounts(host: &HostPaths) -> Result<Vec<Mount>, FsError> {
    let first = host.proc.join("1/mountinfo");
    let text = std::fs::read_to_string(&first).or_else(|_| {
        let path = host.proc.join("self/mountinfo");
        std::fs::read_to_string(&path).map_err(|source| FsError::Read { path, source })
    })?;
    let (mounts, bad) = mountinfo::parse_mountinfo(&text);
    static LOG: RateLimit = RateLimit::new(60);
    if let Some(e) = bad.first()
        && LOG.allow()
    {
        tracing::warn!(error = %e, lines = bad.len(), "skipping unparsable mountinfo lines");
    }
    Ok(mounts)
}

/// statvfs figures: (capacity, free, available, inodes, inodes_free).
pub fn statvfs(path: &Path) -> Result<(u64, u64, u64, u64, u64), FsError> {
    let err = |source| FsError::Statvfs {
        path: path.to_path_buf(),
        source,
    };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a writable statvfs that outlives the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    let frsize = if s.f_frsize > 0 {
        s.f_frsize as u64
    } else {
        s.f_bsize as u64
    };
    Ok((
        s.f_blocks as u64 * frsize,
        s.f_bfree as u64 * frsize,
        s.f_bavail as u64 * frsize,
        s.f_files as u64,
        s.f_ffree as u64,
    ))
}

/// Every block-device filesystem with its usage and disk counters; sources that fail are logged and
/// skipped (a filesystem unmounted between the read and statvfs simply drops out). Called for every
/// root-container sample, so a lasting failure is logged once a minute, not once a second.
pub fn filesystems(host: &HostPaths) -> Vec<FsUsage> {
    static LOG: RateLimit = RateLimit::new(60);
    let mounts = match read_mounts(host) {
        Ok(m) => m,
        Err(e) => {
            if LOG.allow() {
                tracing::warn!(error = %e, "cannot list filesystems");
            }
            return Vec::new();
        }
    };
    let disks = std::fs::read_to_string(host.proc.join("diskstats"))
        .map(|t| diskstats::parse_diskstats(&t).0)
        .unwrap_or_else(|e| {
            if LOG.allow() {
                let path = host.proc.join("diskstats");
                tracing::warn!(path = %path.display(), error = %e, "no disk counters");
            }
            Default::default()
        });
    let mut out = Vec::new();
    for m in select_mounts(&mounts) {
        // Statting through the root reaches the host's mount when we run with `/rootfs`.
        let (capacity, free, available, inodes, inodes_free) =
            match statvfs(&host.host_path(&m.mount_point)) {
                Ok(v) => v,
                Err(e) => {
                    if LOG.allow() {
                        tracing::warn!(error = %e, "skipping filesystem");
                    }
                    continue;
                }
            };
        let has_inodes = inodes > 0;
        out.push(FsUsage {
            device: m.source.clone(),
            mountpoint: PathBuf::from(&m.mount_point),
            fs_type: m.fs_type.clone(),
            major: m.major,
            minor: m.minor,
            capacity,
            available,
            usage: capacity.saturating_sub(free),
            inodes: has_inodes.then_some(inodes),
            inodes_free: has_inodes.then_some(inodes_free),
            disk: disks.get(&(m.major, m.minor)).copied().unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_block_filesystems_once_each() {
        // /proc/self/mountinfo shapes: this VM's root plus constructed extra mounts (proc(5) format).
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw
90 27 254:0 /var/lib/docker /mnt/bind rw,relatime - ext4 /dev/vda rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
640 29 0:4 net:[4026532512] /run/docker/netns/3f0a1b2c4d5e rw shared:268 - nsfs nsfs rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683584k
88 27 8:17 / /data rw,relatime - xfs /dev/sdb1 rw,attr2
89 27 7:0 / /snap/core/1 ro - squashfs /dev/loop0 ro
";
        let (mounts, _) = mountinfo::parse_mountinfo(text);
        let sel = select_mounts(&mounts);
        let got: Vec<(&str, &str)> = sel
            .iter()
            .map(|m| (m.source.as_str(), m.mount_point.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/dev/vda", "/"),
                ("/dev/shm", "/dev/shm"),
                ("/dev/sdb1", "/data")
            ]
        );
    }

    #[test]
    fn tmpfs_mounts_named_by_mount_point_once_each() {
        // Lines of a build VM's /proc/1/mountinfo (kernel 6.18, hybrid cgroups); the read-only
        // tmpfs at /mnt/cache is renamed from a site-specific path.
        let text = "26 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw,size=24683584k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/cache ro,nosuid,nodev,relatime - tmpfs cache_unavailable ro,size=4k,mode=755
29 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw,size=24683584k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
25 24 0:22 / /dev rw,nosuid - devtmpfs devtmpfs rw,size=12334192k,nr_inodes=3083548,mode=755
";
        let (mounts, bad) = mountinfo::parse_mountinfo(text);
        assert!(bad.is_empty());
        let got: Vec<String> = select_mounts(&mounts)
            .into_iter()
            .map(|m| m.source)
            .collect();
        assert_eq!(
            got,
            ["/dev/shm", "/dev/vda", "/mnt/cache", "/sys/fs/cgroup"]
        );
    }

    #[test]
    fn fs_stats_carry_usage_and_counters() {
        let u = FsUsage {
            device: "/dev/vda".into(),
            mountpoint: "/".into(),
            fs_type: "ext4".into(),
            capacity: 100,
            available: 60,
            usage: 30,
            inodes: Some(10),
            inodes_free: Some(4),
            disk: DiskCounters {
                reads_completed: 7,
                weighted_io_time: 9,
                ..Default::default()
            },
            ..FsUsage::default()
        };
        let s = u.to_fs_stats();
        assert_eq!(
            (s.fs_type.as_str(), s.capacity, s.usage, s.available),
            ("vfs", 100, 30, 60)
        );
        assert_eq!((s.has_inodes, s.inodes, s.inodes_free), (true, 10, 4));
        assert_eq!((s.reads_completed, s.weighted_io_time), (7, 9));
    }

    #[test]
    fn statvfs_of_a_missing_path_names_it() {
        let e = statvfs(Path::new("/nonexistent-bpfadvisor")).expect_err("fails");
        assert!(
            e.to_string().starts_with("statvfs /nonexistent-bpfadvisor"),
            "{e}"
        );
    }
}
