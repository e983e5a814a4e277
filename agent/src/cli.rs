//! Raw command-line flags, named and defaulted exactly as the `cadvisor` binary's so existing
//! DaemonSets and systemd units keep working. Doc comments are the `--help` text. Validation and
//! derived values live in `config.rs`; cAdvisor's flags that are accepted but not implemented are
//! rows of [`compat::FLAGS`], not fields here.

pub mod compat;

use std::ffi::OsString;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

/// cAdvisor's `--storage_driver_host` default.
pub const DEFAULT_STORAGE_DRIVER_HOST: &str = "localhost:8086";

/// bpfadvisor: container resource usage and performance analysis, cAdvisor-compatible, eBPF-driven.
// Go's flag package lets the last of a repeated flag win.
#[derive(Debug, Clone, Parser)]
#[command(name = "bpfadvisor", about, long_about = None, disable_version_flag = true,
          args_override_self = true)]
pub struct Cli {
    /// Print the version (`cAdvisor version <version> (<revision>)`, as cAdvisor) and exit.
    #[arg(long = "version", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub version: bool,

    /// Max number of CPUs that can be used simultaneously: the agent's async worker threads. Less
    /// than 1 for the default (2).
    #[arg(long = "max_procs", default_value_t = 0, allow_negative_numbers = true)]
    pub max_procs: i64,

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
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
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

    /// Storage driver(s) to use, comma separated: influxdb, redis, statsd, stdout (see the README).
    #[arg(long = "storage_driver", default_value = "")]
    pub storage_driver: String,

    /// Database host:port of the storage driver.
    #[arg(long = "storage_driver_host", default_value = DEFAULT_STORAGE_DRIVER_HOST)]
    pub storage_driver_host: String,

    /// Database username.
    #[arg(long = "storage_driver_user", default_value = "root")]
    pub storage_driver_user: String,

    /// Database password.
    #[arg(long = "storage_driver_password", default_value = "root")]
    pub storage_driver_password: String,

    /// Database name (InfluxDB database, Redis list key, StatsD namespace).
    #[arg(long = "storage_driver_db", default_value = "cadvisor")]
    pub storage_driver_db: String,

    /// Table name.
    #[arg(long = "storage_driver_table", default_value = "stats")]
    pub storage_driver_table: String,

    /// Use a secure connection with the database.
    #[arg(long = "storage_driver_secure", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub storage_driver_secure: bool,

    /// Writes in storage drivers will be buffered for this duration, and committed to the non
    /// memory backends as a single transaction.
    #[arg(long = "storage_driver_buffer_duration", default_value = "1m0s")]
    pub storage_driver_buffer_duration: String,

    /// InfluxDB retention policy ("" is the database's default).
    #[arg(long = "storage_driver_influxdb_retention_policy", default_value = "")]
    pub storage_driver_influxdb_retention_policy: String,

    /// Kafka broker(s), comma separated.
    #[arg(
        long = "storage_driver_kafka_broker_list",
        default_value = "localhost:9092"
    )]
    pub storage_driver_kafka_broker_list: String,

    /// Kafka topic.
    #[arg(long = "storage_driver_kafka_topic", default_value = "stats")]
    pub storage_driver_kafka_topic: String,

    /// Kafka client certificate file (PEM).
    #[arg(long = "storage_driver_kafka_ssl_cert", default_value = "")]
    pub storage_driver_kafka_ssl_cert: String,

    /// Kafka client key file (PEM).
    #[arg(long = "storage_driver_kafka_ssl_key", default_value = "")]
    pub storage_driver_kafka_ssl_key: String,

    /// Kafka CA certificate file (PEM).
    #[arg(long = "storage_driver_kafka_ssl_ca", default_value = "")]
    pub storage_driver_kafka_ssl_ca: String,

    /// Verify the Kafka brokers' certificates.
    #[arg(long = "storage_driver_kafka_ssl_verify", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub storage_driver_kafka_ssl_verify: bool,

    /// Elasticsearch host:port.
    #[arg(
        long = "storage_driver_es_host",
        default_value = "http://localhost:9200"
    )]
    pub storage_driver_es_host: String,

    /// Elasticsearch index name.
    #[arg(long = "storage_driver_es_index", default_value = "cadvisor")]
    pub storage_driver_es_index: String,

    /// Elasticsearch type name.
    #[arg(long = "storage_driver_es_type", default_value = "stats")]
    pub storage_driver_es_type: String,

    /// Elasticsearch: find the cluster's other nodes.
    #[arg(long = "storage_driver_es_enable_sniffer", default_value_t = false,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_parser = go_bool)]
    pub storage_driver_es_enable_sniffer: bool,

    /// remote_write (bpfadvisor's own driver): the Prometheus remote-write receiver's URL, e.g.
    /// http://prometheus:9090/api/v1/write.
    #[arg(long = "storage_driver_remote_write_url", default_value = "")]
    pub storage_driver_remote_write_url: String,

    /// remote_write: basic-auth user name (password from --storage_driver_remote_write_password_file).
    #[arg(long = "storage_driver_remote_write_username", default_value = "")]
    pub storage_driver_remote_write_username: String,

    /// remote_write: file holding the basic-auth password (read for every request).
    #[arg(long = "storage_driver_remote_write_password_file", default_value = "")]
    pub storage_driver_remote_write_password_file: String,

    /// remote_write: file holding a bearer token (read for every request, so rotation works).
    #[arg(
        long = "storage_driver_remote_write_bearer_token_file",
        default_value = ""
    )]
    pub storage_driver_remote_write_bearer_token_file: String,

    /// remote_write: PEM CA certificates for an https URL (default: the built-in Mozilla roots).
    #[arg(long = "storage_driver_remote_write_ca_file", default_value = "")]
    pub storage_driver_remote_write_ca_file: String,

    /// remote_write: PEM client certificate, for receivers that require one.
    #[arg(long = "storage_driver_remote_write_cert_file", default_value = "")]
    pub storage_driver_remote_write_cert_file: String,

    /// remote_write: PEM key of --storage_driver_remote_write_cert_file.
    #[arg(long = "storage_driver_remote_write_key_file", default_value = "")]
    pub storage_driver_remote_write_key_file: String,

    /// remote_write: accept any server certificate (testing only).
    #[arg(long = "storage_driver_remote_write_insecure_skip_verify", default_value_t = false,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_parser = go_bool)]
    pub storage_driver_remote_write_insecure_skip_verify: bool,

    /// remote_write: labels added to every series (name=value,...); instance=<hostname> is added
    /// unless given here.
    #[arg(
        long = "storage_driver_remote_write_labels",
        default_value = "job=cadvisor"
    )]
    pub storage_driver_remote_write_labels: String,

    /// remote_write: how long samples gather into one request.
    #[arg(long = "storage_driver_remote_write_interval", default_value = "5s")]
    pub storage_driver_remote_write_interval: String,

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
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub store_container_labels: bool,

    /// Comma-separated container labels to export as Prometheus labels when
    /// --store_container_labels=false.
    #[arg(long = "whitelisted_container_labels", default_value = "")]
    pub whitelisted_container_labels: String,

    /// Comma-separated environment variable key prefixes to collect for containers (Docker, Podman,
    /// containerd; Docker's and Podman's keys are stored lower-cased).
    #[arg(long = "env_metadata_whitelist", default_value = "")]
    pub env_metadata_whitelist: String,

    /// DEPRECATED: use --env_metadata_whitelist. Env var key prefixes for Docker containers, used
    /// while --env_metadata_whitelist is empty.
    #[arg(long = "docker_env_metadata_whitelist", default_value = "")]
    pub docker_env_metadata_whitelist: String,

    /// DEPRECATED: use --env_metadata_whitelist. Env var key prefixes for containerd containers,
    /// used while --env_metadata_whitelist is empty.
    #[arg(long = "containerd_env_metadata_whitelist", default_value = "")]
    pub containerd_env_metadata_whitelist: String,

    /// Only report docker containers in addition to root stats.
    #[arg(long = "docker_only", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub docker_only: bool,

    /// Comma-separated cgroup path prefixes still collected with --docker_only.
    #[arg(long = "raw_cgroup_prefix_whitelist", default_value = "")]
    pub raw_cgroup_prefix_whitelist: String,

    /// Docker endpoint.
    #[arg(long = "docker", default_value = "unix:///var/run/docker.sock")]
    pub docker: String,

    /// Docker's data root: the directory whose filesystem is labelled `docker-images`, and where
    /// Docker's storage driver is looked up. (cAdvisor asks `docker info` first.)
    #[arg(long = "docker_root", default_value = crate::host::DEFAULT_DOCKER_ROOT)]
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

    /// HTTP auth file (htpasswd: bcrypt, MD5 `$apr1$`, SHA-256/512-crypt or `{SHA}` entries)
    /// guarding every route but /healthz; re-read when it changes.
    #[arg(long = "http_auth_file", default_value = "")]
    pub http_auth_file: String,

    /// HTTP auth realm.
    #[arg(long = "http_auth_realm", default_value = "localhost")]
    pub http_auth_realm: String,

    /// HTTP digest file (htdigest) guarding every route but /healthz, used when --http_auth_file
    /// is empty; re-read when it changes.
    #[arg(long = "http_digest_file", default_value = "")]
    pub http_digest_file: String,

    /// HTTP digest realm.
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
          num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub enable_load_reader: bool,

    /// Reset interval for referenced bytes (container_referenced_bytes metric), number of
    /// measurement cycles after which referenced bytes are cleared, if set to 0 referenced bytes are
    /// never cleared (default: 0)
    #[arg(long = "referenced_reset_interval", default_value_t = 0)]
    pub referenced_reset_interval: u64,

    /// Root of the host file system as seen by this process. All of /proc, /sys, /etc and the
    /// cgroup hierarchies are read below it. Left at `/`, `/rootfs` is used when `/rootfs/proc`
    /// exists (the host's root mounted into the agent's container).
    #[arg(long = "rootfs", default_value = "/")]
    pub rootfs: String,

    /// How container lifecycle and OOM events are detected: `auto` (eBPF, else inotify), `ebpf`
    /// (fail when the probes cannot load), `inotify` (never load eBPF).
    #[arg(long = "event_source", default_value = "auto")]
    pub event_source: String,

    /// Which eBPF program reports OOM victims: `auto` (the `oom:mark_victim` tracepoint where the
    /// kernel's passes the victim's task, else fentry on `mark_oom_victim`), `tracepoint`, `fentry`.
    #[arg(long = "ebpf_oom_probe", default_value = "auto")]
    pub ebpf_oom_probe: String,

    /// Size in bytes of the eBPF events ring buffer (a power of two, at least 4096). Hidden: for
    /// tests that overflow it on purpose; the built-in size suits every real load.
    #[arg(long = "ebpf_events_buffer_bytes", hide = true)]
    pub ebpf_events_buffer_bytes: Option<u32>,

    /// Read the v1 memory, cpu and cpuacct counters of all containers with one BPF cgroup iterator
    /// run per hierarchy (`true`) instead of one file read per counter per container (`false`).
    /// Hidden: the numbers are the same; `false` is for comparing the two.
    #[arg(long = "ebpf_cgroup_counters", hide = true, default_value_t = true, action = clap::ArgAction::Set)]
    pub ebpf_cgroup_counters: bool,

    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `bpfadvisor=debug`.
    #[arg(long = "log_level", default_value = "info")]
    pub log_level: String,

    /// Log line format: `text`, or `json` (one object per line, for log pipelines). Text has ANSI
    /// colours only when stderr is a terminal.
    #[arg(long = "log_format", default_value = "text")]
    pub log_format: String,

    /// The rows of [`compat::FLAGS`] given on the command line (filled by [`Cli::try_parse_go`]).
    #[arg(skip)]
    pub compat: Vec<(&'static str, String)>,

    // Access control beyond cAdvisor's flags (README "Security").
    /// PEM certificate chain to serve HTTPS with (with --tls_key_file); re-read when it changes, so
    /// a rotated certificate needs no restart.
    #[arg(long = "tls_cert_file", default_value = "")]
    pub tls_cert_file: String,

    /// PEM private key of --tls_cert_file; re-read when it changes.
    #[arg(long = "tls_key_file", default_value = "")]
    pub tls_key_file: String,

    /// PEM CA certificates: a client certificate signed by one of them authenticates its requests
    /// (asked for, not required, so /healthz probes connect without one). Needs --tls_cert_file.
    #[arg(long = "tls_client_ca_file", default_value = "")]
    pub tls_client_ca_file: String,

    /// File of bearer tokens, one per line, accepted (`Authorization: Bearer <token>`) on every route
    /// but /healthz; re-read when it changes.
    #[arg(long = "http_bearer_token_file", default_value = "")]
    pub http_bearer_token_file: String,
}

impl Cli {
    /// Parses the process arguments, also accepting Go's single-dash long flags (`-port=8080`);
    /// exits with clap's message on a flag error (unknown flag, missing value, `--help`).
    pub fn parse_go_style() -> Self {
        Self::try_parse_go(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the program name first): these flags, Go-style, plus the rows of
    /// [`compat::FLAGS`].
    pub fn try_parse_go<I>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = OsString>,
    {
        let matches =
            compat::register(Self::command()).try_get_matches_from(normalize_go_flags(args))?;
        let mut cli = Self::from_arg_matches(&matches)?;
        cli.compat = compat::given(&matches);
        Ok(cli)
    }
}

/// Go's `strconv.ParseBool`, which its bool flags use (`1`, `t`, `TRUE`, `False`, ...).
fn go_bool(s: &str) -> Result<bool, String> {
    compat::go_bool(s)
}

/// Go's `flag` package accepts `-name` as well as `--name`; clap wants two dashes for long names.
/// `-v` alone stays short; `-x=..`, `-name` with a name longer than one character gets a second dash.
pub fn normalize_go_flags<I>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = OsString>,
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
        Cli::try_parse_go(argv).expect("flags parse")
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
            "-store_container_labels=F",
            "-port",
            "9001",
        ]);
        assert_eq!(c.port, 9001, "the last of a repeated flag wins, as in Go");
        assert!(!c.allow_dynamic_housekeeping);
        assert!(c.docker_only);
        assert!(!c.store_container_labels);
        assert_eq!(c.compat, vec![("v", "4".to_string())]);
    }

    #[test]
    fn compat_flags_are_accepted_go_style() {
        let c = parse(&[
            "-container_hints=/etc/hints.json",
            "--profiling",
            "-resctrl_interval",
            "30s",
            "-v",
            "3",
        ]);
        assert_eq!(
            c.compat,
            vec![
                ("profiling", "true".to_string()),
                ("container_hints", "/etc/hints.json".to_string()),
                ("resctrl_interval", "30s".to_string()),
                ("v", "3".to_string()),
            ]
        );
        assert!(parse(&[]).compat.is_empty());
        // Unknown flags stay errors.
        let argv = ["bpfadvisor", "--no_such_flag=1"].map(OsString::from);
        assert!(Cli::try_parse_go(argv).is_err());
    }

    #[test]
    fn command_is_consistent() {
        compat::register(Cli::command()).debug_assert();
    }

    #[test]
    fn version_and_max_procs() {
        let c = parse(&["-version", "-max_procs=-1"]);
        assert!(c.version);
        assert_eq!(c.max_procs, -1);
        assert!(!parse(&[]).version);
        assert_eq!(parse(&[]).max_procs, 0);
    }
}
