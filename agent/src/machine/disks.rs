//! Block devices from `<sys>/block`: `disk_map` keyed by `major:minor`, with size and I/O scheduler.

use std::collections::BTreeMap;

use super::{MachineError, Warnings, read_string};
use crate::host::HostPaths;
use crate::model::machine::DiskInfo;

/// `dev` file (`254:0`).
pub fn parse_dev(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `queue/scheduler` (`none [mq-deadline] kyber bfq`) → the bracketed, active one.
pub fn parse_scheduler(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = start + text[start..].find(']')?;
    Some(text[start + 1..end].to_string())
}

/// Loop, RAM and optical devices are not disks; hidden devices (NVMe multipath paths) have no node.
fn skipped(name: &str) -> bool {
    ["loop", "ram", "sr"].iter().any(|p| name.starts_with(p))
}

/// A device whose files are unreadable is left out with a warning.
pub fn read_disk_map(host: &HostPaths, w: &mut Warnings) -> BTreeMap<String, DiskInfo> {
    let dir = host.sys.join("block");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(source) => {
            w.0.push(MachineError::Read { path: dir, source });
            return BTreeMap::new();
        }
    };
    let mut out = BTreeMap::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let d = dir.join(&name);
        if skipped(&name) || read_string(&d.join("hidden")).is_ok_and(|h| h.trim() == "1") {
            continue;
        }
        match read_disk(&d, name) {
            Ok(disk) => {
                out.insert(format!("{}:{}", disk.major, disk.minor), disk);
            }
            Err(e) => w.0.push(e),
        }
    }
    out
}

fn read_disk(d: &std::path::Path, name: String) -> Result<DiskInfo, MachineError> {
    let dev_path = d.join("dev");
    let dev = read_string(&dev_path)?;
    let (major, minor) =
        parse_dev(&dev).ok_or_else(|| MachineError::parse(&dev_path, dev.trim()))?;
    let size_path = d.join("size");
    let size = read_string(&size_path)?;
    let sectors: u64 = size
        .trim()
        .parse()
        .map_err(|_| MachineError::parse(&size_path, size.trim()))?;
    let scheduler = read_string(&d.join("queue/scheduler"))
        .ok()
        .and_then(|s| parse_scheduler(&s))
        .unwrap_or_else(|| "none".to_string());
    Ok(DiskInfo {
        name,
        major,
        minor,
        size: sectors * 512,
        scheduler,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_and_scheduler() {
        // /sys/block/vda/dev and queue/scheduler, kernel 6.18 virtio disk.
        assert_eq!(parse_dev("254:0\n"), Some((254, 0)));
        assert_eq!(parse_dev("254"), None);
        assert_eq!(
            parse_scheduler("none [mq-deadline] kyber bfq \n").as_deref(),
            Some("mq-deadline")
        );
        assert_eq!(
            parse_scheduler("[none] mq-deadline\n").as_deref(),
            Some("none")
        );
        assert_eq!(parse_scheduler("none\n"), None);
        assert!(skipped("loop0") && skipped("sr0") && skipped("ram1") && !skipped("vda"));
    }
}
