//! Raw command-line flags, named and defaulted exactly as the `cadvisor` binary's so existing
//! DaemonSets and systemd units keep working. Doc comments are the `--help` text. Validation and
//! derived values live in `config.rs`.

use clap::{ArgAction, Parser};

/// bpfadvisor: container resource usage and performance analysis, cAdvisor-compatible, eBPF-driven.
#[derive(Debug, Clone, Parser)]
#[command(name = "bpfadvisor", version, about, long_about = None)]
pub struct Cli {
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// IP to listen on, defaults to all IPs.
    #[arg(long = "listen_ip", default_value = "")]
    pub listen_ip: String,

    /// Endpoint to expose Prometheus metrics on.
    #[arg(long = "prometheus_endpoint", default_value = "/metrics")]
    pub prometheus_endpoint: String,

    /// Prefix path that will be prepended to all paths to support some reverse proxies.
    #[arg(long = "url_base_prefix", default_value = "")]
    pub url_base_prefix: String,

    /// Interval between container housekeepings.
    #[arg(long = "housekeeping_interval", default_value = "1s")]
    pub housekeeping_interval: String,

    /// Largest interval to allow between container housekeepings.
    #[arg(long = "max_housekeeping_interval", default_value = "60s")]
    pub max_housekeeping_interval: String,

    /// Whether to allow the housekeeping interval to be dynamic.
    #[arg(long = "allow_dynamic_housekeeping", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub allow_dynamic_housekeeping: bool,

    /// Interval between global housekeepings (full rescan of the cgroup hierarchies).
    #[arg(long = "global_housekeeping_interval", default_value = "1m")]
    pub global_housekeeping_interval: String,

    /// Interval between machine info updates.
    #[arg(long = "update_machine_info_interval", default_value = "5m")]
    pub update_machine_info_interval: String,

    /// How long to keep data stored in memory.
    #[arg(long = "storage_duration", default_value = "2m0s")]
    pub storage_duration: String,

    /// Storage driver(s) to use (comma separated).
    #[arg(long = "storage_driver", default_value = "")]
    pub storage_driver: String,

    /// Comma-separated list of metric kinds to skip. Replaces the default set.
    #[arg(
        long = "disable_metrics",
        default_value = "advtcp,cpu_topology,cpuset,hugetlb,memory_numa,process,referenced_memory,resctrl,sched,tcp,udp"
    )]
    pub disable_metrics: String,

    /// Comma-separated list of metric kinds to include. If non-empty, overrides --disable_metrics.
    #[arg(long = "enable_metrics", default_value = "")]
    pub enable_metrics: String,

    /// Max length of time for which to store events (per type): comma-separated `type=duration`,
    /// type `default` for all types not named.
    #[arg(long = "event_storage_age_limit", default_value = "default=24h")]
    pub event_storage_age_limit: String,

    /// Max number of events to store (per type): comma-separated `type=count`, type `default` for
    /// all types not named.
    #[arg(long = "event_storage_event_limit", default_value = "default=100000")]
    pub event_storage_event_limit: String,

    /// Convert container labels and environment variables into labels on Prometheus metrics.
    #[arg(long = "store_container_labels", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub store_container_labels: bool,

    /// Comma-separated container labels to export as Prometheus labels when
    /// --store_container_labels=false.
    #[arg(long = "whitelisted_container_labels", default_value = "")]
    pub whitelisted_container_labels: String,

    /// Comma-separated environment variable key prefixes to collect for containers.
    #[arg(long = "env_metadata_whitelist", default_value = "")]
    pub env_metadata_whitelist: String,

    /// Only report docker containers in addition to root stats.
    #[arg(long = "docker_only", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub docker_only: bool,

    /// Comma-separated cgroup path prefixes still collected with --docker_only.
    #[arg(long = "raw_cgroup_prefix_whitelist", default_value = "")]
    pub raw_cgroup_prefix_whitelist: String,

    /// Disable collecting root cgroup stats.
    #[arg(long = "disable_root_cgroup_stats", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub disable_root_cgroup_stats: bool,

    /// Docker endpoint.
    #[arg(long = "docker", default_value = "unix:///var/run/docker.sock")]
    pub docker: String,

    /// DEPRECATED: docker root is read from docker info (this is a fallback).
    #[arg(long = "docker_root", default_value = "/var/lib/docker")]
    pub docker_root: String,

    /// containerd endpoint.
    #[arg(long = "containerd", default_value = "/run/containerd/containerd.sock")]
    pub containerd: String,

    /// containerd namespace.
    #[arg(long = "containerd-namespace", default_value = "k8s.io")]
    pub containerd_namespace: String,

    /// Podman endpoint.
    #[arg(long = "podman", default_value = "unix:///var/run/podman/podman.sock")]
    pub podman: String,

    /// CRI-O client timeout. Default is no timeout.
    #[arg(long = "crio_client_timeout", default_value = "0s")]
    pub crio_client_timeout: String,

    /// HTTP auth file for the web UI.
    #[arg(long = "http_auth_file", default_value = "")]
    pub http_auth_file: String,

    /// HTTP auth realm for the web UI.
    #[arg(long = "http_auth_realm", default_value = "localhost")]
    pub http_auth_realm: String,

    /// HTTP digest file for the web UI.
    #[arg(long = "http_digest_file", default_value = "")]
    pub http_digest_file: String,

    /// HTTP digest realm for the web UI.
    #[arg(long = "http_digest_realm", default_value = "localhost")]
    pub http_digest_realm: String,

    /// Comma-separated list of files to check for machine-id. Use the first one that exists.
    #[arg(
        long = "machine_id_file",
        default_value = "/etc/machine-id,/var/lib/dbus/machine-id"
    )]
    pub machine_id_file: String,

    /// Comma-separated list of files to check for boot-id. Use the first one that exists.
    #[arg(long = "boot_id_file", default_value = crate::host::DEFAULT_BOOT_ID_FILE)]
    pub boot_id_file: String,

    /// Whether to enable cpu load reader (netlink taskstats).
    #[arg(long = "enable_load_reader", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub enable_load_reader: bool,

    /// Reset interval for referenced bytes (container_referenced_bytes metric), number of
    /// measurement cycles after which referenced bytes are cleared, if set to 0 referenced bytes are
    /// never cleared (default: 0)
    #[arg(long = "referenced_reset_interval", default_value_t = 0)]
    pub referenced_reset_interval: u64,

    /// Max number of application metrics to store (per container).
    #[arg(long = "application_metrics_count_limit", default_value_t = 100)]
    pub application_metrics_count_limit: u32,

    /// Enable profiling endpoints (accepted for compatibility; no-op).
    #[arg(long = "profiling", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub profiling: bool,

    /// Root of the host file system as seen by this process. All of /proc, /sys, /etc and the
    /// cgroup hierarchies are read below it. Left at `/`, `/rootfs` is used when `/rootfs/proc`
    /// exists (the host's root mounted into the agent's container).
    #[arg(long = "rootfs", default_value = "/")]
    pub rootfs: String,

    /// How container lifecycle and OOM events are detected: `auto` (eBPF, else inotify), `ebpf`
    /// (fail when the probes cannot load), `inotify` (never load eBPF).
    #[arg(long = "event_source", default_value = "auto")]
    pub event_source: String,

    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `bpfadvisor=debug`.
    #[arg(long = "log_level", default_value = "info")]
    pub log_level: String,

    /// Accepted for compatibility with klog (`-v=2`); use --log_level instead.
    #[arg(short = 'v', long = "v", default_value = "2")]
    pub verbosity: String,

    /// Accepted for compatibility with klog; logs always go to stderr.
    #[arg(long = "logtostderr", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub logtostderr: bool,
}

impl Cli {
    /// Parses the process arguments, also accepting Go's single-dash long flags (`-port=8080`).
    pub fn parse_go_style() -> Self {
        Self::parse_from(normalize_go_flags(std::env::args_os()))
    }
}

/// Go's `flag` package accepts `-name` as well as `--name`; clap wants two dashes for long names.
/// `-v` alone stays short; `-x=..`, `-name` with a name longer than one character gets a second dash.
pub fn normalize_go_flags<I>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let Some(s) = a.to_str() else { return a };
            if i == 0 || s.starts_with("--") || !s.starts_with('-') {
                return a;
            }
            let name = s[1..].split('=').next().unwrap_or("");
            if name.len() > 1 {
                format!("-{s}").into()
            } else {
                a
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("bpfadvisor")
            .chain(args.iter().copied())
            .map(Into::into);
        Cli::try_parse_from(normalize_go_flags(argv)).expect("flags parse")
    }

    #[test]
    fn defaults_match_cadvisor() {
        let c = parse(&[]);
        assert_eq!(c.port, 8080);
        assert_eq!(c.housekeeping_interval, "1s");
        assert_eq!(c.storage_duration, "2m0s");
        assert!(c.allow_dynamic_housekeeping);
        assert!(c.store_container_labels);
        assert!(!c.docker_only);
        assert_eq!(c.docker, "unix:///var/run/docker.sock");
    }

    #[test]
    fn go_style_single_dash_and_bool_values() {
        let c = parse(&[
            "-port=9000",
            "-allow_dynamic_housekeeping=false",
            "--docker_only",
            "-v=4",
        ]);
        assert_eq!(c.port, 9000);
        assert!(!c.allow_dynamic_housekeeping);
        assert!(c.docker_only);
        assert_eq!(c.verbosity, "4");
    }
}
