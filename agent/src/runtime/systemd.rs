//! systemd units as containers. cAdvisor's systemd factory only claims `.mount` units in order to drop
//! them; `.service` and `.scope` cgroups stay raw containers named by their path. Units carry no
//! runtime metadata, so nothing here talks to systemd.

/// A unit whose cgroup can hold processes: `ssh.service`, `session-3.scope`.
pub fn is_unit(base: &str) -> bool {
    [".service", ".scope"]
        .iter()
        .any(|sfx| base.strip_suffix(sfx).is_some_and(|stem| !stem.is_empty()))
}

/// `.mount` units, which cAdvisor never reports.
pub fn is_mount_unit(base: &str) -> bool {
    base.strip_suffix(".mount")
        .is_some_and(|stem| !stem.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_suffixes() {
        // Names as listed in /sys/fs/cgroup/unified/system.slice on a Debian 12 host.
        assert!(is_unit("cron.service"));
        assert!(is_unit("session-3.scope"));
        assert!(!is_unit("system.slice"));
        assert!(!is_unit(".service"));
        assert!(is_mount_unit("var-lib-docker-overlay2-abc-merged.mount"));
        assert!(!is_mount_unit("cron.service"));
    }
}
