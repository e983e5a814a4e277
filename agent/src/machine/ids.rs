//! Machine identity: machine-id, boot id (first readable of the flag's files) and the DMI system UUID.

use std::io;
use std::path::PathBuf;

use super::{MachineError, read_string};
use crate::host::HostPaths;

/// Trimmed content of the first readable file; an error naming the first file when none is.
pub fn read_first(files: &[PathBuf]) -> Result<String, MachineError> {
    let mut first_err = None;
    for f in files {
        match read_string(f) {
            Ok(t) => return Ok(t.trim().to_string()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| MachineError::Read {
        path: PathBuf::new(),
        source: io::Error::new(io::ErrorKind::NotFound, "no file configured"),
    }))
}

/// The system UUID: `<sys>/class/dmi/id/product_uuid` (root-only readable; absent on VMs without
/// DMI), else the device-tree ids of POWER machines, else `machine_id` as cAdvisor reports when
/// the machine exposes no hardware id.
pub fn read_system_uuid(host: &HostPaths, machine_id: &str) -> Result<String, MachineError> {
    let files = [
        host.sys.join("class/dmi/id/product_uuid"),
        host.proc.join("device-tree/system-id"),
        host.proc.join("device-tree/vm,uuid"),
    ];
    match read_first(&files) {
        Ok(uuid) if !uuid.is_empty() => Ok(uuid),
        _ if !machine_id.is_empty() => Ok(machine_id.to_string()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_readable_file_wins() {
        let t = tempfile::tempdir().expect("tempdir");
        let b = t.path().join("b");
        std::fs::write(&b, "3d1219c7c4c5404aaa1f6d2a48adfda4\n").expect("write");
        let got = read_first(&[t.path().join("a"), b]).expect("reads b");
        assert_eq!(got, "3d1219c7c4c5404aaa1f6d2a48adfda4");
        let e = read_first(&[t.path().join("a")]).expect_err("none readable");
        assert!(e.to_string().contains("/a"), "{e}");
        assert!(read_first(&[]).is_err());
    }

    #[test]
    fn system_uuid_prefers_dmi_then_falls_back_to_machine_id() {
        let t = tempfile::tempdir().expect("tempdir");
        let host = HostPaths::under(t.path());
        let mid = "3d1219c7c4c5404aaa1f6d2a48adfda4";
        // No DMI and no device tree, as on this machine's VM: the machine id stands in.
        assert_eq!(read_system_uuid(&host, mid).expect("fallback"), mid);
        assert!(read_system_uuid(&host, "").is_err());
        // product_uuid as found on a KVM guest with DMI.
        let dmi = host.sys.join("class/dmi/id");
        std::fs::create_dir_all(&dmi).expect("mkdir");
        std::fs::write(
            dmi.join("product_uuid"),
            "4c4c4544-0042-3510-8052-b4c04f564433\n",
        )
        .expect("write");
        assert_eq!(
            read_system_uuid(&host, mid).expect("dmi"),
            "4c4c4544-0042-3510-8052-b4c04f564433"
        );
    }
}
