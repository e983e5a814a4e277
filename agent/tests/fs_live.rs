//! Filesystem listing against real mounts: a loop-mounted ext4 appears while mounted and disappears
//! after unmount; with a non-`/` root, statvfs goes through the root-prefixed mount point.

#[path = "support/prereq.rs"]
mod prereq;

use std::path::{Path, PathBuf};
use std::process::Command;

use bpfadvisor::fs::filesystems;
use bpfadvisor::host::HostPaths;

fn run(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Unmounts (and so frees the loop device) on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn loop_mounted_ext4_comes_and_goes() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        prereq::missing(prereq::Need::Root, "needs root to mount");
        return;
    }
    if !run("mkfs.ext4", &["-V"]) || !run("losetup", &["--version"]) {
        prereq::missing(prereq::Need::Tool, "mkfs.ext4/losetup missing");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("fs.img");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(16 << 20))
        .expect("image");
    assert!(run("mkfs.ext4", &["-q", "-F", img.to_str().expect("utf8")]));
    let guard = Mounted(mnt.clone());
    if !run(
        "mount",
        &[
            "-o",
            "loop",
            img.to_str().expect("utf8"),
            mnt.to_str().expect("utf8"),
        ],
    ) {
        prereq::missing(prereq::Need::Root, "loop mount not permitted here");
        return;
    }
    let host = HostPaths::local();
    let listed = |fs: &[bpfadvisor::fs::FsUsage]| fs.iter().find(|f| f.mountpoint == mnt).cloned();
    let fs = listed(&filesystems(&host)).expect("loop filesystem listed while mounted");
    assert!(fs.device.starts_with("/dev/loop"), "{}", fs.device);
    assert_eq!(fs.fs_type, "ext4");
    assert!(
        fs.capacity > 10 << 20 && fs.capacity <= 16 << 20,
        "{}",
        fs.capacity
    );
    assert!(fs.inodes.is_some_and(|i| i > 0));
    drop(guard);
    assert!(listed(&filesystems(&host)).is_none(), "gone after unmount");
}

#[test]
fn statvfs_goes_through_the_root_prefix() {
    let root = tempfile::tempdir().expect("tempdir");
    let w = |p: &str, s: &str| {
        let p = root.path().join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, s).expect("write");
    };
    // mountinfo shape of a host seen from a container with its root at `root`.
    w(
        "proc/1/mountinfo",
        "27 1 8:2 / / rw - ext4 /dev/sda2 rw\n30 27 8:3 / /srv/data rw - xfs /dev/sda3 rw\n31 27 8:4 / /gone rw - xfs /dev/sda4 rw\n",
    );
    w(
        "proc/diskstats",
        "   8       3 sda3 10 0 80 5 0 0 0 0 0 5 5 0 0 0 0 0 0\n",
    );
    std::fs::create_dir_all(root.path().join("srv/data")).expect("mkdir");
    let fs = filesystems(&HostPaths::under(root.path()));
    let got: Vec<(&str, &Path)> = fs
        .iter()
        .map(|f| (f.device.as_str(), f.mountpoint.as_path()))
        .collect();
    // `/gone` has no directory below the root: skipped, not fatal.
    assert_eq!(
        got,
        vec![
            ("/dev/sda2", Path::new("/")),
            ("/dev/sda3", Path::new("/srv/data"))
        ]
    );
    assert!(fs[0].is_root() && fs[0].capacity > 0);
    assert_eq!(
        (fs[1].major, fs[1].minor, fs[1].disk.reads_completed),
        (8, 3, 10)
    );
}
