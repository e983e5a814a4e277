//! Huge page usage per page size. v1: `hugetlb.<size>.usage_in_bytes`, `.max_usage_in_bytes`,
//! `.failcnt`; v2: `hugetlb.<size>.current` and the `max` count of `hugetlb.<size>.events`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::error::CgroupError;
use super::files::{Buf, CgroupFile};
use super::parse::{MemoryEvents, parse_u64};
use crate::model::v1::HugetlbStats;

#[derive(Debug)]
struct Size {
    /// cAdvisor's key: `2MB`, `1GB`, `64KB`.
    name: String,
    usage: CgroupFile,
    max_usage: Option<CgroupFile>,
    failcnt: CgroupFile,
    v2: bool,
}

#[derive(Debug)]
pub struct Hugetlb(Vec<Size>);

/// Page sizes the kernel supports, from `<sys>/kernel/mm/hugepages/hugepages-<N>kB`.
pub fn page_sizes(sys: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(sys.join("kernel/mm/hugepages")) else {
        return Vec::new();
    };
    let mut kbs: Vec<u64> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            n.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    kbs.sort_unstable();
    kbs.into_iter().map(size_name).collect()
}

fn size_name(kb: u64) -> String {
    match kb {
        k if k >= 1 << 20 && k % (1 << 20) == 0 => format!("{}GB", k >> 20),
        k if k >= 1 << 10 && k % (1 << 10) == 0 => format!("{}MB", k >> 10),
        k => format!("{k}KB"),
    }
}

impl Hugetlb {
    pub fn v1(dir: &Path, sizes: &[String]) -> Self {
        Self(
            sizes
                .iter()
                .map(|s| Size {
                    name: s.clone(),
                    usage: CgroupFile::stat_at(dir, &format!("hugetlb.{s}.usage_in_bytes")),
                    max_usage: Some(CgroupFile::stat_at(
                        dir,
                        &format!("hugetlb.{s}.max_usage_in_bytes"),
                    )),
                    failcnt: CgroupFile::stat_at(dir, &format!("hugetlb.{s}.failcnt")),
                    v2: false,
                })
                .collect(),
        )
    }

    pub fn v2(dir: &Path, sizes: &[String]) -> Self {
        Self(
            sizes
                .iter()
                .map(|s| Size {
                    name: s.clone(),
                    usage: CgroupFile::stat_at(dir, &format!("hugetlb.{s}.current")),
                    max_usage: None,
                    failcnt: CgroupFile::stat_at(dir, &format!("hugetlb.{s}.events")),
                    v2: true,
                })
                .collect(),
        )
    }

    /// One entry per page size whose files exist.
    pub fn read(&mut self, buf: &mut Buf) -> Result<BTreeMap<String, HugetlbStats>, CgroupError> {
        let mut out = BTreeMap::new();
        for s in &mut self.0 {
            let Some(usage) = s.usage.read(buf, parse_u64)? else {
                continue;
            };
            let max_usage = match &mut s.max_usage {
                Some(f) => f.read(buf, parse_u64)?.unwrap_or(0),
                None => 0,
            };
            let failcnt = if s.v2 {
                s.failcnt
                    .read(buf, MemoryEvents::parse)?
                    .map_or(0, |e| e.max)
            } else {
                s.failcnt.read(buf, parse_u64)?.unwrap_or(0)
            };
            out.insert(
                s.name.clone(),
                HugetlbStats {
                    usage,
                    max_usage,
                    failcnt,
                },
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a failing test should panic")]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_reads() {
        assert_eq!(size_name(2048), "2MB");
        assert_eq!(size_name(1048576), "1GB");
        assert_eq!(size_name(64), "64KB");
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("kernel/mm/hugepages/hugepages-2048kB")).unwrap();
        fs::create_dir_all(t.path().join("kernel/mm/hugepages/hugepages-1048576kB")).unwrap();
        let sizes = page_sizes(t.path());
        assert_eq!(sizes, ["2MB", "1GB"]);
        let cg = t.path().join("cg");
        fs::create_dir(&cg).unwrap();
        fs::write(cg.join("hugetlb.2MB.current"), "4194304\n").unwrap();
        // hugetlb.<size>.events, cgroup-v2.rst.
        fs::write(cg.join("hugetlb.2MB.events"), "max 3\n").unwrap();
        let m = Hugetlb::v2(&cg, &sizes).read(&mut Buf::default()).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            m["2MB"],
            HugetlbStats {
                usage: 4194304,
                max_usage: 0,
                failcnt: 3
            }
        );
    }
}
