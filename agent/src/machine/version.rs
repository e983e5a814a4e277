//! VersionInfo: kernel release, OS pretty name, our own version, and the connected Docker daemon's
//! (filled in by the registry as the Docker client connects and disconnects).

use crate::host::HostPaths;
use crate::model::machine::VersionInfo;

/// Our version as reported everywhere cAdvisor reports its own: `v`-prefixed like `v0.36.0`.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// Git revision baked in at build time when the build sets `BPFADVISOR_GIT_REVISION`, else empty.
pub const REVISION: &str = match option_env!("BPFADVISOR_GIT_REVISION") {
    Some(r) => r,
    None => "",
};

/// `PRETTY_NAME` of an os-release file, unquoted; `None` when absent.
pub fn parse_os_release(text: &str) -> Option<String> {
    let value = text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(
        value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string(),
    )
}

/// Kernel from `<proc>/sys/kernel/osrelease` (uname of this process as fallback when the root is
/// local), OS from `<etc>/os-release` (`Linux` without PRETTY_NAME, `Unknown` when unreadable).
pub fn version_info(host: &HostPaths) -> VersionInfo {
    let kernel = std::fs::read_to_string(host.proc.join("sys/kernel/osrelease"))
        .map(|s| s.trim().to_string())
        .ok()
        .or_else(|| host.is_local().then(uname_release).flatten())
        .unwrap_or_else(|| {
            tracing::warn!(path = %host.proc.join("sys/kernel/osrelease").display(), "kernel version unavailable");
            "Unknown".to_string()
        });
    let os = match std::fs::read_to_string(host.etc.join("os-release")) {
        Ok(t) => parse_os_release(&t).unwrap_or_else(|| "Linux".to_string()),
        Err(e) => {
            tracing::warn!(path = %host.etc.join("os-release").display(), error = %e, "os version unavailable");
            "Unknown".to_string()
        }
    };
    VersionInfo {
        kernel_version: kernel,
        container_os_version: os,
        docker_version: String::new(),
        docker_api_version: String::new(),
        cadvisor_version: VERSION.to_string(),
        cadvisor_revision: REVISION.to_string(),
    }
}

/// `v` with the Docker daemon's server and API versions (`None`: no daemon connected, both empty);
/// `None` when `v` says that already. Filled wherever cAdvisor up to v0.42 filled them:
/// `/api/v2.x/attributes`, the `dockerVersion` label of `cadvisor_version_info`, and `/validate/`.
pub fn with_docker(v: &VersionInfo, docker: Option<(&str, &str)>) -> Option<VersionInfo> {
    let (version, api) = docker.unwrap_or_default();
    if v.docker_version == version && v.docker_api_version == api {
        return None;
    }
    Some(VersionInfo {
        docker_version: version.to_string(),
        docker_api_version: api.to_string(),
        ..v.clone()
    })
}

fn uname_release() -> Option<String> {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname; uname fills it with NUL-terminated strings.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: the kernel NUL-terminates `release` within the array.
    let c = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    Some(c.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_name() {
        // /etc/os-release of Debian 12, first lines verbatim.
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n";
        assert_eq!(
            parse_os_release(t).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(parse_os_release("ID=x\n"), None);
    }

    #[test]
    fn version_is_v_prefixed_like_cadvisor() {
        assert_eq!(VERSION, format!("v{}", env!("CARGO_PKG_VERSION")));
        assert!(VERSION.starts_with("v0."));
    }

    #[test]
    fn docker_versions_follow_the_connection() {
        let v = VersionInfo::default();
        let up = with_docker(&v, Some(("20.10.24+dfsg1", "1.41"))).expect("changed");
        assert_eq!(
            (up.docker_version.as_str(), up.docker_api_version.as_str()),
            ("20.10.24+dfsg1", "1.41")
        );
        assert_eq!(with_docker(&up, Some(("20.10.24+dfsg1", "1.41"))), None);
        let down = with_docker(&up, None).expect("changed");
        assert_eq!(down, v);
    }

    #[test]
    fn uname_works_here() {
        assert!(uname_release().is_some_and(|r| !r.is_empty()));
    }
}
