//! Network devices from `<sys>/class/net`: name, MAC, speed, MTU.

use super::{MachineError, Warnings, read_string};
use crate::host::HostPaths;
use crate::model::machine::NetInfo;

/// Loopback, container veths and bridges are not the machine's NICs (cAdvisor's prefix list).
pub fn ignored(name: &str) -> bool {
    ["lo", "veth", "docker", "nerdctl"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// `speed` file in Mbit/s; the kernel writes -1 when the link speed is unknown. Devices without link
/// settings (ifb, dummy, bridges) fail the read with EINVAL: 0 then, as cAdvisor reports them.
pub fn parse_speed(text: Option<&str>) -> i64 {
    text.and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

/// Devices sorted by name; a device whose files are unreadable is left out with a warning.
pub fn read_network_devices(host: &HostPaths, w: &mut Warnings) -> Vec<NetInfo> {
    let dir = host.sys.join("class/net");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(source) => {
            w.0.push(MachineError::Read { path: dir, source });
            return Vec::new();
        }
    };
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
        match read_device(&d, name) {
            Ok(n) => out.push(n),
            Err(e) => w.0.push(e),
        }
    }
    out
}

fn read_device(d: &std::path::Path, name: String) -> Result<NetInfo, MachineError> {
    let mtu_path = d.join("mtu");
    let mtu = read_string(&mtu_path)?;
    Ok(NetInfo {
        mac_address: read_string(&d.join("address"))?.trim().to_string(),
        speed: parse_speed(read_string(&d.join("speed")).ok().as_deref()),
        mtu: mtu
            .trim()
            .parse()
            .map_err(|_| MachineError::parse(&mtu_path, mtu.trim()))?,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_filter() {
        // /sys/class/net/eth0/speed reads "-1" on a virtio NIC (kernel 6.18); ifb0 fails with EINVAL.
        assert_eq!(parse_speed(Some("-1\n")), -1);
        assert_eq!(parse_speed(Some("10000\n")), 10000);
        assert_eq!(parse_speed(None), 0);
        assert!(ignored("lo") && ignored("veth1a2b") && ignored("docker0") && !ignored("eth0"));
    }
}
