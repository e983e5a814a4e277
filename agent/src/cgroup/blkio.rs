//! Block I/O per device. v1 reads the first family of `blkio.*` files the kernel provides (bfq with
//! debug stats, bfq, cfq, throttle recursive, throttle — the order runc uses); v2 reads `io.stat`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::files::{Buf, CgroupFile};
use super::parse::{DevNum, DeviceOps, IoStat, parse_blkio};
use crate::model::v1::{DiskIoStats, PerDiskStats, StatMap};

/// Which `DiskIoStats` list a v1 file feeds.
#[derive(Debug, Clone, Copy)]
enum Field {
    ServiceBytes,
    Serviced,
    Queued,
    Sectors,
    ServiceTime,
    WaitTime,
    Merged,
    Time,
}

/// File families in preference order; a family is used when its first file exists.
const FAMILIES: [&[(&str, Field)]; 5] = [
    &[
        ("blkio.bfq.sectors_recursive", Field::Sectors),
        ("blkio.bfq.io_service_time_recursive", Field::ServiceTime),
        ("blkio.bfq.io_wait_time_recursive", Field::WaitTime),
        ("blkio.bfq.io_merged_recursive", Field::Merged),
        ("blkio.bfq.io_queued_recursive", Field::Queued),
        ("blkio.bfq.time_recursive", Field::Time),
        ("blkio.bfq.io_serviced_recursive", Field::Serviced),
        ("blkio.bfq.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.bfq.io_serviced_recursive", Field::Serviced),
        ("blkio.bfq.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.sectors_recursive", Field::Sectors),
        ("blkio.io_service_time_recursive", Field::ServiceTime),
        ("blkio.io_wait_time_recursive", Field::WaitTime),
        ("blkio.io_merged_recursive", Field::Merged),
        ("blkio.io_queued_recursive", Field::Queued),
        ("blkio.time_recursive", Field::Time),
        ("blkio.io_serviced_recursive", Field::Serviced),
        ("blkio.io_service_bytes_recursive", Field::ServiceBytes),
    ],
    &[
        ("blkio.throttle.io_serviced_recursive", Field::Serviced),
        (
            "blkio.throttle.io_service_bytes_recursive",
            Field::ServiceBytes,
        ),
    ],
    &[
        ("blkio.throttle.io_serviced", Field::Serviced),
        ("blkio.throttle.io_service_bytes", Field::ServiceBytes),
    ],
];

#[derive(Debug)]
pub struct Blkio {
    files: Files,
    /// `<sys>/dev/block`, to name devices `/dev/<name>`.
    sys_block: PathBuf,
    names: BTreeMap<DevNum, String>,
}

#[derive(Debug)]
enum Files {
    V1(Vec<(Field, CgroupFile)>),
    V2(CgroupFile),
}

impl Blkio {
    pub fn v1(dir: &Path, sys: &Path) -> Self {
        let family = FAMILIES
            .iter()
            .find(|f| dir.join(f[0].0).exists())
            .copied()
            .unwrap_or(&[]);
        let files = family
            .iter()
            .map(|(n, f)| (*f, CgroupFile::stat_at(dir, n)))
            .collect();
        Self {
            files: Files::V1(files),
            sys_block: sys.join("dev/block"),
            names: BTreeMap::new(),
        }
    }

    pub fn v2(dir: &Path, sys: &Path) -> Self {
        Self {
            files: Files::V2(CgroupFile::stat_at(dir, "io.stat")),
            sys_block: sys.join("dev/block"),
            names: BTreeMap::new(),
        }
    }

    /// Fills every list but `psi`.
    pub fn read(&mut self, buf: &mut Buf, out: &mut DiskIoStats) -> Result<(), CgroupError> {
        match &mut self.files {
            Files::V1(files) => {
                for (field, f) in files.iter_mut() {
                    let ops = f.read(buf, parse_blkio)?.unwrap_or_default();
                    let list = convert(&ops, &self.sys_block, &mut self.names);
                    *match field {
                        Field::ServiceBytes => &mut out.io_service_bytes,
                        Field::Serviced => &mut out.io_serviced,
                        Field::Queued => &mut out.io_queued,
                        Field::Sectors => &mut out.sectors,
                        Field::ServiceTime => &mut out.io_service_time,
                        Field::WaitTime => &mut out.io_wait_time,
                        Field::Merged => &mut out.io_merged,
                        Field::Time => &mut out.io_time,
                    } = list;
                }
            }
            Files::V2(f) => {
                let s = f.read(buf, IoStat::parse)?.unwrap_or_default();
                let names = &mut self.names;
                out.io_service_bytes = convert(&s.service_bytes, &self.sys_block, names);
                out.io_serviced = convert(&s.serviced, &self.sys_block, names);
                out.io_cost_usage = convert(&s.cost_usage, &self.sys_block, names);
                out.io_cost_wait = convert(&s.cost_wait, &self.sys_block, names);
                out.io_cost_indebt = convert(&s.cost_indebt, &self.sys_block, names);
                out.io_cost_indelay = convert(&s.cost_indelay, &self.sys_block, names);
            }
        }
        Ok(())
    }
}

fn convert(
    ops: &DeviceOps,
    sys_block: &Path,
    names: &mut BTreeMap<DevNum, String>,
) -> Vec<PerDiskStats> {
    ops.iter()
        .map(|(d, m)| PerDiskStats {
            device: names
                .entry(*d)
                .or_insert_with(|| device_name(sys_block, *d))
                .clone(),
            major: d.major,
            minor: d.minor,
            stats: m.iter().map(|(k, v)| (k.clone(), *v)).collect::<StatMap>(),
        })
        .collect()
}

/// `/dev/<name>` from the `<sys>/dev/block/<maj>:<min>` link; empty when unknown (removed device).
fn device_name(sys_block: &Path, d: DevNum) -> String {
    fs::read_link(sys_block.join(format!("{}:{}", d.major, d.minor)))
        .ok()
        .and_then(|p| {
            p.file_name()
                .map(|n| format!("/dev/{}", n.to_string_lossy()))
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a failing test should panic")]
mod tests {
    use super::*;

    #[test]
    fn v1_picks_first_present_family_and_names_devices() {
        let t = tempfile::tempdir().unwrap();
        let cg = t.path().join("blkio/c");
        let sys = t.path().join("sys");
        fs::create_dir_all(&cg).unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/virtual/block/vda",
            sys.join("dev/block/253:0"),
        )
        .unwrap();
        // Throttle files as on a 6.18 kernel without bfq/cfq statistics.
        fs::write(cg.join("blkio.throttle.io_service_bytes_recursive"), "253:0 Read 4096\n253:0 Write 0\n253:0 Sync 4096\n253:0 Async 0\n253:0 Discard 0\n253:0 Total 4096\nTotal 4096\n").unwrap();
        fs::write(
            cg.join("blkio.throttle.io_serviced_recursive"),
            "253:0 Read 1\n253:0 Total 1\nTotal 1\n",
        )
        .unwrap();
        fs::write(cg.join("blkio.throttle.io_service_bytes"), "Total 0\n").unwrap();
        let mut b = Blkio::v1(&cg, &sys);
        let mut out = DiskIoStats::default();
        b.read(&mut Buf::default(), &mut out).unwrap();
        assert_eq!(out.io_service_bytes.len(), 1);
        let d = &out.io_service_bytes[0];
        assert_eq!((d.device.as_str(), d.major, d.minor), ("/dev/vda", 253, 0));
        assert_eq!(
            (d.stats.get("Read"), d.stats.get("Total")),
            (Some(4096), Some(4096))
        );
        assert_eq!(out.io_serviced[0].stats.get("Read"), Some(1));
        assert!(out.sectors.is_empty());
    }
}
