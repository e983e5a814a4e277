//! Pre-allocated huge pages: `hugepages-<size>kB/nr_hugepages` below `<sys>/kernel/mm/hugepages` or
//! a NUMA node's `hugepages` directory.

use std::path::Path;

use super::{MachineError, read_string};
use crate::model::machine::HugePagesInfo;

/// `hugepages-2048kB` → 2048 (kB).
pub fn parse_page_size_kb(dir_name: &str) -> Option<u64> {
    dir_name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()
}

/// Page sizes in directory-name order (as cAdvisor lists them). A missing directory means huge pages
/// are not configured: an empty list, not an error.
pub fn read_hugepages(dir: &Path) -> Result<Vec<HugePagesInfo>, MachineError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let Some(page_size) = parse_page_size_kb(&name) else {
            continue;
        };
        let path = dir.join(&name).join("nr_hugepages");
        let text = read_string(&path)?;
        let num_pages = text
            .trim()
            .parse()
            .map_err(|_| MachineError::parse(&path, text.trim()))?;
        out.push(HugePagesInfo {
            page_size,
            num_pages,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names() {
        // Directory names under /sys/kernel/mm/hugepages on x86-64, kernel 6.18.
        assert_eq!(parse_page_size_kb("hugepages-2048kB"), Some(2048));
        assert_eq!(parse_page_size_kb("hugepages-1048576kB"), Some(1_048_576));
        assert_eq!(parse_page_size_kb("hugepages-x"), None);
    }

    #[test]
    fn reads_sorted_and_tolerates_missing_dir() {
        let t = tempfile::tempdir().expect("tempdir");
        for (d, n) in [("hugepages-2048kB", "16\n"), ("hugepages-1048576kB", "0\n")] {
            std::fs::create_dir(t.path().join(d)).expect("mkdir");
            std::fs::write(t.path().join(d).join("nr_hugepages"), n).expect("write");
        }
        let h = read_hugepages(t.path()).expect("reads");
        assert_eq!(
            h,
            vec![
                HugePagesInfo {
                    page_size: 1_048_576,
                    num_pages: 0
                },
                HugePagesInfo {
                    page_size: 2048,
                    num_pages: 16
                },
            ]
        );
        assert_eq!(
            read_hugepages(&t.path().join("absent")).expect("ok"),
            vec![]
        );
    }
}
