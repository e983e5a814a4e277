//! Network devices from `<sys>/class/net`: name, MAC, speed, MTU.

use super::{MachineError, read_string};
use crate::host::HostPaths;
use crate::model::machine::NetInfo;

/// Loopback, container veths and bridges are not the machine's NICs (cAdvisor's prefix list).
pub fn ignored(name: &str) -> bool {
    ["lo", "veth", "docker", "nerdctl"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// `speed` file in Mbit/s; -1 (the kernel's own "unknown") when absent, unreadable or malformed:
/// virtual devices fail the read with EINVAL.
pub fn parse_speed(text: Option<&str>) -> i64 {
    text.and_then(|t| t.trim().parse().ok()).unwrap_or(-1)
}

/// Devices sorted by name.
pub fn read_network_devices(host: &HostPaths) -> Result<Vec<NetInfo>, MachineError> {
    let dir = host.sys.join("class/net");
    let entries = std::fs::read_dir(&dir).map_err(|source| MachineError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ignored(n))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let d = dir.join(&name);
        // Entries like `bonding_masters` are files, not devices.
        if !d.is_dir() {
            continue;
        }
        let mtu_path = d.join("mtu");
        let mtu = read_string(&mtu_path)?;
        out.push(NetInfo {
            mac_address: read_string(&d.join("address"))?.trim().to_string(),
            speed: parse_speed(read_string(&d.join("speed")).ok().as_deref()),
            mtu: mtu
                .trim()
                .parse()
                .map_err(|_| MachineError::parse(&mtu_path, mtu.trim()))?,
            name,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_filter() {
        // /sys/class/net/eth0/speed reads "-1" on a virtio NIC (kernel 6.18); ifb0 fails with EINVAL.
        assert_eq!(parse_speed(Some("-1\n")), -1);
        assert_eq!(parse_speed(Some("10000\n")), 10000);
        assert_eq!(parse_speed(None), -1);
        assert!(ignored("lo") && ignored("veth1a2b") && ignored("docker0") && !ignored("eth0"));
    }
}
