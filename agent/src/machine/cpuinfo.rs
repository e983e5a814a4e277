//! `/proc/cpuinfo` (vendor, processor count, sockets, physical cores, clock) and the cpufreq maximum.
//!
//! Parsed with `procfs`'s `CpuInfo`: read at startup and on machine-info refreshes (not per
//! sample), where its 4x cost (48 µs vs 11 µs for our former parser on a two-socket machine's
//! cpuinfo, `benches/procfs_parsers.rs`) does not matter; the fixture tests give the same `CpuInfo`
//! as before.

use std::collections::BTreeSet;

use procfs::FromBufRead;

use super::{MachineError, read_string};
use crate::host::HostPaths;

/// What MachineInfo needs from `/proc/cpuinfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// First `vendor_id` (x86); empty on ARM.
    pub vendor_id: String,
    /// Number of `processor` entries.
    pub processors: usize,
    /// Distinct `physical id` values (empty when the architecture does not report them).
    pub sockets: BTreeSet<String>,
    /// Distinct (`physical id`, `core id`) pairs: core ids repeat across sockets.
    pub cores: BTreeSet<(String, String)>,
    /// Highest `cpu MHz` (x86) / `clock` (POWER) seen.
    pub max_mhz: Option<f64>,
}

impl CpuInfo {
    pub fn max_khz(&self) -> Option<u64> {
        self.max_mhz.map(|mhz| (mhz * 1000.0) as u64)
    }
}

/// Parses `/proc/cpuinfo` text with `procfs`'s `CpuInfo` (blocks that start with `processor`) and
/// keeps what MachineInfo needs. Unknown keys are ignored; a processor without ids adds none; text
/// procfs cannot read is no processors.
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let Ok(parsed) = procfs::CpuInfo::from_buf_read(text.as_bytes()) else {
        return info;
    };
    for cpu in 0..parsed.num_cores() {
        let field = |k: &str| parsed.get_field(cpu, k);
        if field("processor").is_none() {
            continue;
        }
        info.processors += 1;
        if info.vendor_id.is_empty()
            && let Some(v) = field("vendor_id")
        {
            info.vendor_id = v.to_string();
        }
        for key in ["cpu MHz", "CPU MHz", "clock"] {
            if let Some(mhz) =
                field(key).and_then(|v| v.trim_end_matches("MHz").trim().parse::<f64>().ok())
            {
                info.max_mhz = Some(info.max_mhz.map_or(mhz, |m: f64| m.max(mhz)));
            }
        }
        let phys = field("physical id").map(str::to_string);
        if let Some(p) = &phys {
            info.sockets.insert(p.clone());
        }
        if let Some(c) = field("core id") {
            info.cores.insert((phys.unwrap_or_default(), c.to_string()));
        }
    }
    info
}

pub fn read_cpuinfo(host: &HostPaths) -> Result<CpuInfo, MachineError> {
    read_string(&host.proc.join("cpuinfo")).map(|t| parse_cpuinfo(&t))
}

/// `cpu0/cpufreq/cpuinfo_max_freq` in kHz; `None` when the machine has no cpufreq driver.
pub fn read_max_freq_khz(host: &HostPaths) -> Result<Option<u64>, MachineError> {
    let path = host
        .sys
        .join("devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
    match read_string(&path) {
        Ok(t) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| MachineError::parse(&path, t.trim())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/cpuinfo, kernel 6.18, 2-vCPU AMD EPYC VM (the machine of fixture this-machine-hybrid-6.18),
    // first processor verbatim, flags line shortened.
    const EPYC_VM: &str = "processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: 2596.144
cache size\t: 1024 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 2
apicid\t\t: 0
fpu\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep
bogomips\t: 5192.28
power management:

processor\t: 1
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 2596.144
physical id\t: 0
siblings\t: 2
core id\t\t: 1
cpu cores\t: 2
power management:

";

    // /proc/cpuinfo of a Raspberry Pi 4 Model B Rev 1.1, kernel 6.12.47+rpt-rpi-v8 aarch64, as
    // published on wklteam64.github.io (see tests/fixtures/arm-rpi4-cpuinfo/SOURCE.md).
    const RPI4: &str = include_str!("../../tests/fixtures/arm-rpi4-cpuinfo/proc/cpuinfo");

    #[test]
    fn x86_vm() {
        let c = parse_cpuinfo(EPYC_VM);
        assert_eq!(c.vendor_id, "AuthenticAMD");
        assert_eq!(c.processors, 2);
        assert_eq!(c.sockets.len(), 1);
        assert_eq!(c.cores.len(), 2);
        assert_eq!(c.max_khz(), Some(2_596_144));
    }

    #[test]
    fn arm_has_no_ids_nor_clock() {
        let c = parse_cpuinfo(RPI4);
        assert_eq!(c.processors, 4);
        assert_eq!(c.vendor_id, "");
        assert!(c.sockets.is_empty());
        assert!(c.cores.is_empty());
        assert_eq!(c.max_khz(), None);
    }

    #[test]
    fn core_ids_repeating_across_sockets_count_per_socket() {
        let text = "processor : 0\nphysical id : 0\ncore id : 0\n\nprocessor : 1\nphysical id : 1\ncore id : 0\n";
        let c = parse_cpuinfo(text);
        assert_eq!((c.sockets.len(), c.cores.len()), (2, 2));
    }

    #[test]
    fn garbage_gives_empty_info() {
        assert_eq!(parse_cpuinfo("\u{0}\u{1}garbage\n::\n"), CpuInfo::default());
    }
}
