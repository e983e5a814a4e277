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

/// `<sys>/class/dmi/id/product_uuid` (root-only readable; absent on VMs without DMI).
pub fn read_system_uuid(host: &HostPaths) -> Result<String, MachineError> {
    read_string(&host.sys.join("class/dmi/id/product_uuid")).map(|t| t.trim().to_string())
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
}
