//! Pressure stall information (`cpu.pressure`, `memory.pressure`, `io.pressure`) of a cgroup2
//! directory. On a hybrid host the unified hierarchy has these files for every cgroup even though no
//! controller is enabled there.

use std::path::Path;

use super::error::CgroupError;
use super::files::{Buf, CgroupFile};
use super::parse::{Psi, PsiLine};
use crate::model::v1::{PSIData, PSIStats};

#[derive(Debug)]
pub struct Pressure {
    cpu: CgroupFile,
    memory: CgroupFile,
    io: CgroupFile,
}

impl Pressure {
    pub fn v2(dir: &Path) -> Self {
        Self {
            cpu: CgroupFile::stat_at(dir, "cpu.pressure"),
            memory: CgroupFile::stat_at(dir, "memory.pressure"),
            io: CgroupFile::stat_at(dir, "io.pressure"),
        }
    }

    /// (cpu, memory, io); zero when a file is absent (PSI disabled).
    pub fn read(&mut self, buf: &mut Buf) -> Result<[PSIStats; 3], CgroupError> {
        let mut r = |f: &mut CgroupFile| -> Result<PSIStats, CgroupError> {
            Ok(f.read(buf, Psi::parse)?.map(convert).unwrap_or_default())
        };
        Ok([r(&mut self.cpu)?, r(&mut self.memory)?, r(&mut self.io)?])
    }
}

fn convert(p: Psi) -> PSIStats {
    let d = |l: PsiLine| PSIData {
        total: l.total,
        avg10: l.avg10,
        avg60: l.avg60,
        avg300: l.avg300,
    };
    PSIStats {
        full: d(p.full),
        some: d(p.some),
    }
}
