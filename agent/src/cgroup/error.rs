//! Errors of the cgroup readers. "Gone" is its own variant: a container removed between listing and
//! reading is normal and the registry treats it as a deletion, not a failure.

use std::io;
use std::path::PathBuf;

use super::parse::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The cgroup directory disappeared (container exited) while we were reading it.
    #[error("cgroup {name} is gone ({path})")]
    Gone { name: String, path: PathBuf },
    /// No cgroup hierarchy is mounted below the cgroup root.
    #[error("no cgroup hierarchy found under {path}")]
    NoHierarchy { path: PathBuf },
    /// A container name that is not a clean absolute cgroup path.
    #[error("invalid container name {name:?}")]
    InvalidName { name: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
}

impl CgroupError {
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Gone { .. })
    }
}

/// `ENOENT` on a file of a removed cgroup, or `ENODEV` reading a kept-open fd of one.
pub(crate) fn is_gone_io(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}
