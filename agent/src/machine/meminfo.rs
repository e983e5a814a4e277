//! `/proc/meminfo` (MemTotal, SwapTotal), per-node `meminfo`, and DIMMs by type from EDAC sysfs.
//!
//! Our own parser, not `procfs`'s `Meminfo`: that one fails unless some twenty fields are present
//! (we need two; reduced meminfo files, such as the one a container's lxcfs serves or our trimmed
//! fixtures, have fewer), cannot read the per-node `Node 0 MemTotal:` form we also need, and measured
//! 1.7x slower (32 µs vs 18 µs, `benches/procfs_parsers.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use super::{MachineError, read_string};
use crate::host::HostPaths;
use crate::model::machine::MemoryInfo;

/// Machine memory, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meminfo {
    pub mem_total: u64,
    pub swap_total: u64,
}

/// `key: N kB` lines → bytes, keyed by name. Accepts the per-node form `Node 0 MemTotal: N kB`.
pub fn parse_kb_fields(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.split_whitespace().last().unwrap_or_default();
        let mut v = value.split_whitespace();
        let (Some(n), unit) = (v.next().and_then(|n| n.parse::<u64>().ok()), v.next()) else {
            continue;
        };
        let bytes = if unit == Some("kB") {
            n.saturating_mul(1024)
        } else {
            n
        };
        out.insert(key.to_string(), bytes);
    }
    out
}

/// `MemTotal` is required (a meminfo without it is not meminfo); `SwapTotal` defaults to 0.
pub fn parse_meminfo(path: &Path, text: &str) -> Result<Meminfo, MachineError> {
    let f = parse_kb_fields(text);
    let mem_total = *f
        .get("MemTotal")
        .ok_or_else(|| MachineError::parse(path, text.lines().next().unwrap_or("")))?;
    Ok(Meminfo {
        mem_total,
        swap_total: f.get("SwapTotal").copied().unwrap_or(0),
    })
}

pub fn read_meminfo(host: &HostPaths) -> Result<Meminfo, MachineError> {
    let path = host.proc.join("meminfo");
    parse_meminfo(&path, &read_string(&path)?)
}

/// `<node dir>/meminfo` MemTotal in bytes.
pub fn read_node_memory(node_dir: &Path) -> Result<u64, MachineError> {
    let path = node_dir.join("meminfo");
    parse_meminfo(&path, &read_string(&path)?).map(|m| m.mem_total)
}

/// DIMMs grouped by `dimm_mem_type`, from `<sys>/devices/system/edac/mc/mc*/dimm*/{dimm_mem_type,size}`
/// (size in MiB). No EDAC (VMs, most ARM boards) is an empty map, not an error.
pub fn read_memory_by_type(host: &HostPaths) -> Result<BTreeMap<String, MemoryInfo>, MachineError> {
    let edac = host.sys.join("devices/system/edac/mc");
    let mut out: BTreeMap<String, MemoryInfo> = BTreeMap::new();
    let Ok(controllers) = std::fs::read_dir(&edac) else {
        return Ok(out);
    };
    for mc in controllers
        .flatten()
        .filter(|e| numbered(&e.file_name().to_string_lossy(), "mc"))
    {
        let Ok(dimms) = std::fs::read_dir(mc.path()) else {
            continue;
        };
        for dimm in dimms
            .flatten()
            .filter(|e| numbered(&e.file_name().to_string_lossy(), "dimm"))
        {
            let mem_type = read_string(&dimm.path().join("dimm_mem_type"))?
                .trim()
                .to_string();
            let size_path = dimm.path().join("size");
            let size = read_string(&size_path)?;
            let mib: u64 = size
                .trim()
                .parse()
                .map_err(|_| MachineError::parse(&size_path, size.trim()))?;
            let e = out.entry(mem_type).or_default();
            e.capacity += mib * 1024 * 1024;
            e.dimm_count += 1;
        }
    }
    Ok(out)
}

/// `prefix` followed by digits only (`mc0`, `dimm12`).
pub(crate) fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/meminfo, kernel 6.18 VM without swap (fixture this-machine-hybrid-6.18), first lines verbatim.
    const MEMINFO: &str = "MemTotal:       24683584 kB
MemFree:        15945136 kB
MemAvailable:   23796828 kB
Buffers:           45176 kB
Cached:          7819616 kB
SwapCached:            0 kB
Active:          2203880 kB
Inactive:        5859128 kB
SwapTotal:             0 kB
SwapFree:              0 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    // /sys/devices/system/node/node0/meminfo, kernel 6.18, first lines verbatim.
    const NODE: &str = "Node 0 MemTotal:       14640888 kB
Node 0 MemFree:         4012460 kB
Node 0 HugePages_Total:     0
";

    #[test]
    fn totals_in_bytes() {
        let m = parse_meminfo(Path::new("meminfo"), MEMINFO).expect("parses");
        assert_eq!(m.mem_total, 24_683_584 * 1024);
        assert_eq!(m.swap_total, 0);
        let with_swap =
            MEMINFO.replace("SwapTotal:             0 kB", "SwapTotal:       2097148 kB");
        let m = parse_meminfo(Path::new("meminfo"), &with_swap).expect("parses");
        assert_eq!(m.swap_total, 2_097_148 * 1024);
        let f = parse_kb_fields(MEMINFO);
        assert_eq!(f.get("HugePages_Total"), Some(&0));
    }

    #[test]
    fn node_form() {
        let m = parse_meminfo(Path::new("node0/meminfo"), NODE).expect("parses");
        assert_eq!(m.mem_total, 14_640_888 * 1024);
    }

    #[test]
    fn missing_mem_total_is_a_parse_error() {
        let e = parse_meminfo(Path::new("/x/meminfo"), "garbage\n").expect_err("must fail");
        assert!(e.to_string().contains("/x/meminfo"), "{e}");
    }

    #[test]
    fn numbered_names() {
        assert!(numbered("mc0", "mc") && numbered("dimm12", "dimm"));
        assert!(!numbered("mc", "mc") && !numbered("mcx", "mc") && !numbered("power", "mc"));
    }
}
