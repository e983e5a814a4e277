//! A `newc` cpio archive, the format the kernel unpacks as an initramfs
//! (`Documentation/driver-api/early-userspace/buffer-format.rst`). Written here rather than with a
//! `cpio` tool, which Debian does not install by default.

use std::collections::BTreeSet;

/// An initramfs being assembled; parent directories are added on demand.
#[derive(Default)]
pub struct Archive {
    out: Vec<u8>,
    dirs: BTreeSet<String>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Archive {
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.parents(path);
        self.entry(path, S_IFREG | mode, (0, 0), data);
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.parents(path);
        self.entry(path, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.parents(path);
        self.entry(path, S_IFCHR | mode, (major, minor), &[]);
    }

    pub fn dir(&mut self, path: &str) {
        self.parents(path);
        self.mkdir(path);
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }

    fn parents(&mut self, path: &str) {
        let path = path.trim_start_matches('/');
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = path[..at + i].to_string();
            self.mkdir(&dir);
            at += i + 1;
        }
    }

    fn mkdir(&mut self, path: &str) {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        if path.is_empty() || !self.dirs.insert(path.to_string()) {
            return;
        }
        self.entry(path, S_IFDIR | 0o755, (0, 0), &[]);
    }

    fn entry(&mut self, path: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let name = path.trim_start_matches('/');
        self.ino += 1;
        let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            data.len() as u32,
            0, // dev major
            0, // dev minor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_parents_come_first() {
        let mut a = Archive::default();
        a.file("/bin/x", 0o755, b"abc");
        let out = a.finish();
        let text = String::from_utf8_lossy(&out);
        let bin = text.find("bin\0").unwrap_or(usize::MAX);
        let x = text.find("bin/x\0").unwrap_or(0);
        assert!(bin < x, "parent directory first");
        assert!(text.ends_with('\0'));
        assert!(out.len().is_multiple_of(4));
        assert!(text.contains("TRAILER!!!"));
        // The header of bin/x: mode 0100755, size 3, name size 6.
        let h = &text[x - 110..x];
        assert!(h.starts_with("070701"));
        assert_eq!(&h[14..22], "000081ed");
        assert_eq!(&h[54..62], "00000003");
        assert_eq!(&h[94..102], "00000006");
    }
}
