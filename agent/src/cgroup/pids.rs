//! Thread counts from the pids controller (`pids.current`, `pids.max`; same names on v1 and v2).

use std::path::Path;

use super::error::CgroupError;
use super::files::{Buf, CgroupFile};
use super::parse::{parse_u64, parse_u64_or_max};
use crate::model::v1::ProcessStats;

#[derive(Debug)]
pub struct Pids {
    current: CgroupFile,
    max: CgroupFile,
}

impl Pids {
    pub fn v1(dir: &Path) -> Self {
        Self {
            current: CgroupFile::stat_at(dir, "pids.current"),
            max: CgroupFile::stat_at(dir, "pids.max"),
        }
    }

    pub fn v2(dir: &Path) -> Self {
        Self::v1(dir)
    }

    /// `threads_max` is 0 for `max`, as runc reports an unlimited pids limit.
    pub fn read(&mut self, buf: &mut Buf, out: &mut ProcessStats) -> Result<(), CgroupError> {
        out.threads_current = self.current.read(buf, parse_u64)?.unwrap_or(0);
        let max = self.max.read(buf, parse_u64_or_max)?.unwrap_or(0);
        out.threads_max = if max == u64::MAX { 0 } else { max };
        Ok(())
    }
}
