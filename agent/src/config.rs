//! Validated configuration, built once from the raw flags (`cli.rs`). The only module that reads
//! environment variables.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::access::{AccessConfig, TlsFiles};
use crate::cli::Cli;
use crate::cli::compat::{self, CompatError};
use crate::events::ebpf::OomProbe;
use crate::host::HostPaths;
use crate::metrics::MetricsConfig;
use crate::storage::http::TlsOptions;
use crate::storage::remote_write::{RemoteWriteOptions, parse_labels};
use crate::storage::{ElasticsearchOptions, KafkaOptions, StorageOptions};

/// A flag value we cannot use; the message names the flag like cAdvisor's flag errors do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for flag -{flag}: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// A cAdvisor flag this agent does not implement, set to something other than its default.
    #[error(transparent)]
    Unsupported(#[from] CompatError),
}

/// How log lines are written (`--log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logging setup: `--log_level` (or `RUST_LOG`) and `--log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    pub filter: String,
    pub format: LogFormat,
}

/// Tokio worker threads unless `--max_procs` asks otherwise: the async part (HTTP, registry,
/// runtime clients) is light, and readers run on threads of their own.
pub const DEFAULT_WORKER_THREADS: usize = 2;

/// cAdvisor's metric kinds (`--enable_metrics` / `--disable_metrics` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    Cpu,
    Sched,
    PerCpu,
    Memory,
    MemoryNuma,
    CpuLoad,
    DiskIo,
    Disk,
    Network,
    Tcp,
    AdvTcp,
    Udp,
    App,
    Process,
    Hugetlb,
    PerfEvent,
    ReferencedMemory,
    CpuTopology,
    Resctrl,
    CpuSet,
    OomEvent,
    Pressure,
    // bpfadvisor's opt-in eBPF kinds (not cAdvisor's): see `MetricKind::EBPF`.
    ProcessLifecycle,
    Runqueue,
    TcpRetrans,
    Reclaim,
}

impl MetricKind {
    pub const ALL: [MetricKind; 22] = [
        Self::Cpu,
        Self::Sched,
        Self::PerCpu,
        Self::Memory,
        Self::MemoryNuma,
        Self::CpuLoad,
        Self::DiskIo,
        Self::Disk,
        Self::Network,
        Self::Tcp,
        Self::AdvTcp,
        Self::Udp,
        Self::App,
        Self::Process,
        Self::Hugetlb,
        Self::PerfEvent,
        Self::ReferencedMemory,
        Self::CpuTopology,
        Self::Resctrl,
        Self::CpuSet,
        Self::OomEvent,
        Self::Pressure,
    ];

    /// bpfadvisor's own kinds, counted in the kernel by eBPF programs that are attached only when
    /// the kind is on. Off unless named in `--enable_metrics`, which then adds them to whatever set
    /// the cAdvisor kinds give: `--enable_metrics=runqueue` keeps the default kinds, and a
    /// `--disable_metrics` list (which cAdvisor's semantics let enable everything else) never turns
    /// them on, so a cAdvisor command line attaches none.
    pub const EBPF: [MetricKind; 4] = [
        Self::ProcessLifecycle,
        Self::Runqueue,
        Self::TcpRetrans,
        Self::Reclaim,
    ];

    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Sched => "sched",
            Self::PerCpu => "percpu",
            Self::Memory => "memory",
            Self::MemoryNuma => "memory_numa",
            Self::CpuLoad => "cpuLoad",
            Self::DiskIo => "diskIO",
            Self::Disk => "disk",
            Self::Network => "network",
            Self::Tcp => "tcp",
            Self::AdvTcp => "advtcp",
            Self::Udp => "udp",
            Self::App => "app",
            Self::Process => "process",
            Self::Hugetlb => "hugetlb",
            Self::PerfEvent => "perf_event",
            Self::ReferencedMemory => "referenced_memory",
            Self::CpuTopology => "cpu_topology",
            Self::Resctrl => "resctrl",
            Self::CpuSet => "cpuset",
            Self::OomEvent => "oom_event",
            Self::Pressure => "pressure",
            Self::ProcessLifecycle => "process_lifecycle",
            Self::Runqueue => "runqueue",
            Self::TcpRetrans => "tcp_retrans",
            Self::Reclaim => "reclaim",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(Self::EBPF)
            .find(|k| k.name() == s)
    }
}

/// The set of metric kinds that are collected and exported, with the options of the readers behind
/// some of them (carried together so every reader sees them where it sees the kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricKinds(BTreeSet<MetricKind>, ReaderOptions);

/// Reader options set by flags other than the kind lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderOptions {
    /// `--enable_load_reader`: task counts and load averages through netlink taskstats (cgroup v1).
    pub load_reader: bool,
    /// `--housekeeping_interval`, which sets the load averages' decay.
    pub housekeeping_interval: Duration,
    /// `--referenced_reset_interval`: clear referenced bits every N-th sample; 0 never.
    pub referenced_reset_interval: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self {
            load_reader: false,
            housekeeping_interval: Duration::from_secs(1),
            referenced_reset_interval: 0,
        }
    }
}

impl MetricKinds {
    /// cAdvisor's semantics: a non-empty `enable` is the exact set; otherwise everything but `disable`
    /// (which replaces, not extends, the default disabled set).
    pub fn from_flags(enable: &str, disable: &str) -> Result<Self, ConfigError> {
        let parse = |flag: &'static str, s: &str| -> Result<BTreeSet<MetricKind>, ConfigError> {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(|x| {
                    MetricKind::from_name(x).ok_or_else(|| ConfigError::Invalid {
                        flag,
                        value: s.to_string(),
                        reason: format!("unsupported metric {x:?} specified"),
                    })
                })
                .collect()
        };
        let (ebpf, enabled): (BTreeSet<MetricKind>, BTreeSet<MetricKind>) =
            parse("enable_metrics", enable)?
                .into_iter()
                .partition(|k| MetricKind::EBPF.contains(k));
        let disabled = parse("disable_metrics", disable)?;
        let mut set: BTreeSet<MetricKind> = if enabled.is_empty() {
            MetricKind::ALL
                .into_iter()
                .filter(|k| !disabled.contains(k))
                .collect()
        } else {
            enabled
        };
        set.extend(ebpf);
        Ok(Self(set, ReaderOptions::default()))
    }

    pub fn has(&self, k: MetricKind) -> bool {
        self.0.contains(&k)
    }

    pub fn all() -> Self {
        Self(
            MetricKind::ALL.into_iter().collect(),
            ReaderOptions::default(),
        )
    }

    pub fn readers(&self) -> &ReaderOptions {
        &self.1
    }

    pub fn with_readers(mut self, options: ReaderOptions) -> Self {
        self.1 = options;
        self
    }
}

impl Default for MetricKinds {
    fn default() -> Self {
        Self::from_flags(
            "",
            "advtcp,cpu_topology,cpuset,hugetlb,memory_numa,process,referenced_memory,resctrl,sched,tcp,udp",
        )
        .unwrap_or_else(|_| Self::all())
    }
}

/// How lifecycle/OOM events are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSourceMode {
    /// eBPF when it loads, else the inotify fallback.
    Auto,
    /// eBPF only; failing to load is fatal.
    Ebpf,
    /// inotify + rescan + oom counters; never loads eBPF.
    Inotify,
}

/// Everything the agent needs to run, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: (Option<IpAddr>, u16),
    pub host: HostPaths,
    pub prometheus_endpoint: String,
    pub url_base_prefix: String,
    pub housekeeping_interval: Duration,
    pub max_housekeeping_interval: Duration,
    pub allow_dynamic_housekeeping: bool,
    pub global_housekeeping_interval: Duration,
    pub update_machine_info_interval: Duration,
    pub storage_duration: Duration,
    pub metric_kinds: MetricKinds,
    /// Raw `--event_storage_age_limit` (parsed by the event store).
    pub event_storage_age_limit: String,
    /// Raw `--event_storage_event_limit` (parsed by the event store).
    pub event_storage_event_limit: String,
    pub store_container_labels: bool,
    pub whitelisted_container_labels: Vec<String>,
    /// `--env_metadata_whitelist` prefixes (split on commas, untrimmed, as cAdvisor).
    pub env_metadata_whitelist: Vec<String>,
    /// Deprecated `--docker_env_metadata_whitelist`, used while the above is empty.
    pub docker_env_metadata_whitelist: Vec<String>,
    /// Deprecated `--containerd_env_metadata_whitelist`, used while the above is empty.
    pub containerd_env_metadata_whitelist: Vec<String>,
    pub docker_only: bool,
    pub raw_cgroup_prefix_whitelist: Vec<String>,
    pub docker_endpoint: String,
    pub containerd_endpoint: String,
    pub containerd_namespace: String,
    pub podman_endpoint: String,
    /// `--crio_client_timeout`; `None` (0) waits as long as CRI-O takes, as cAdvisor does.
    pub crio_client_timeout: Option<Duration>,
    pub machine_id_files: Vec<PathBuf>,
    pub boot_id_files: Vec<PathBuf>,
    pub event_source: EventSourceMode,
    pub ebpf_oom_probe: OomProbe,
    /// Hidden `--ebpf_events_buffer_bytes` (tests): `None` keeps the built-in size.
    pub ebpf_events_bytes: Option<u32>,
    /// Hidden `--ebpf_cgroup_counters`: v1 counters from a BPF cgroup iterator when it loads.
    pub ebpf_cgroup_counters: bool,
    /// `--storage_driver`: only drivers bpfadvisor implements (others refuse to start).
    pub storage_drivers: Vec<String>,
    /// The `--storage_driver_*` settings.
    pub storage: StorageOptions,
    pub log: LogOptions,
    /// `--max_procs`, or [`DEFAULT_WORKER_THREADS`].
    pub worker_threads: usize,
    /// One line each, logged at startup: flags accepted that change nothing, deprecated names.
    pub warnings: Vec<String>,
    /// Authentication, TLS and request limits (`crate::access`).
    pub access: AccessConfig,
}

/// The `--storage_driver_*` flags.
fn storage_options(
    cli: &Cli,
    dur: &dyn Fn(&'static str, &str) -> Result<Duration, ConfigError>,
) -> Result<StorageOptions, ConfigError> {
    Ok(StorageOptions {
        host: cli.storage_driver_host.clone(),
        user: cli.storage_driver_user.clone(),
        password: cli.storage_driver_password.clone(),
        db: cli.storage_driver_db.clone(),
        table: cli.storage_driver_table.clone(),
        secure: cli.storage_driver_secure,
        buffer_duration: dur(
            "storage_driver_buffer_duration",
            &cli.storage_driver_buffer_duration,
        )?,
        influxdb_retention_policy: cli.storage_driver_influxdb_retention_policy.clone(),
        kafka: KafkaOptions {
            broker_list: cli.storage_driver_kafka_broker_list.clone(),
            topic: cli.storage_driver_kafka_topic.clone(),
            ssl_cert: cli.storage_driver_kafka_ssl_cert.clone(),
            ssl_key: cli.storage_driver_kafka_ssl_key.clone(),
            ssl_ca: cli.storage_driver_kafka_ssl_ca.clone(),
            ssl_verify: cli.storage_driver_kafka_ssl_verify,
        },
        elasticsearch: ElasticsearchOptions {
            host: cli.storage_driver_es_host.clone(),
            index: cli.storage_driver_es_index.clone(),
            type_name: cli.storage_driver_es_type.clone(),
            enable_sniffer: cli.storage_driver_es_enable_sniffer,
        },
        remote_write: remote_write_options(cli, dur)?,
        ..StorageOptions::default()
    })
}

/// The `--storage_driver_remote_write_*` flags; its series follow `/metrics`' kinds and labels.
fn remote_write_options(
    cli: &Cli,
    dur: &dyn Fn(&'static str, &str) -> Result<Duration, ConfigError>,
) -> Result<RemoteWriteOptions, ConfigError> {
    let path = |s: &String| (!s.is_empty()).then(|| PathBuf::from(s));
    let labels = parse_labels(&cli.storage_driver_remote_write_labels).map_err(|reason| {
        ConfigError::Invalid {
            flag: "storage_driver_remote_write_labels",
            value: cli.storage_driver_remote_write_labels.clone(),
            reason,
        }
    })?;
    Ok(RemoteWriteOptions {
        url: cli.storage_driver_remote_write_url.clone(),
        username: cli.storage_driver_remote_write_username.clone(),
        password_file: path(&cli.storage_driver_remote_write_password_file),
        bearer_token_file: path(&cli.storage_driver_remote_write_bearer_token_file),
        tls: TlsOptions {
            ca_file: path(&cli.storage_driver_remote_write_ca_file),
            cert_file: path(&cli.storage_driver_remote_write_cert_file),
            key_file: path(&cli.storage_driver_remote_write_key_file),
            insecure_skip_verify: cli.storage_driver_remote_write_insecure_skip_verify,
        },
        labels,
        interval: dur(
            "storage_driver_remote_write_interval",
            &cli.storage_driver_remote_write_interval,
        )?,
        metrics: MetricsConfig {
            kinds: MetricKinds::from_flags(&cli.enable_metrics, &cli.disable_metrics)?,
            store_container_labels: cli.store_container_labels,
            whitelisted_container_labels: comma_list(&cli.whitelisted_container_labels),
            telemetry: false,
            ..MetricsConfig::default()
        },
    })
}

/// cAdvisor's split of the env whitelists: on commas, no trimming; empty prefixes match nothing.
fn env_prefixes(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn comma_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let dur = |flag: &'static str, v: &str| {
            parse_go_duration(v).map_err(|reason| ConfigError::Invalid {
                flag,
                value: v.to_string(),
                reason,
            })
        };
        let listen_ip = if cli.listen_ip.is_empty() {
            None
        } else {
            Some(
                cli.listen_ip
                    .parse()
                    .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                        flag: "listen_ip",
                        value: cli.listen_ip.clone(),
                        reason: e.to_string(),
                    })?,
            )
        };
        let event_source = match cli.event_source.as_str() {
            "auto" => EventSourceMode::Auto,
            "ebpf" => EventSourceMode::Ebpf,
            "inotify" => EventSourceMode::Inotify,
            other => {
                return Err(ConfigError::Invalid {
                    flag: "event_source",
                    value: other.to_string(),
                    reason: "expected auto, ebpf or inotify".into(),
                });
            }
        };
        let ebpf_oom_probe = match cli.ebpf_oom_probe.as_str() {
            "auto" => OomProbe::Auto,
            "tracepoint" => OomProbe::Tracepoint,
            "fentry" => OomProbe::Fentry,
            other => {
                return Err(ConfigError::Invalid {
                    flag: "ebpf_oom_probe",
                    value: other.to_string(),
                    reason: "expected auto, tracepoint or fentry".into(),
                });
            }
        };
        let ebpf_events_bytes = match cli.ebpf_events_buffer_bytes {
            Some(n) if !n.is_power_of_two() || n < 4096 => {
                return Err(ConfigError::Invalid {
                    flag: "ebpf_events_buffer_bytes",
                    value: n.to_string(),
                    reason: "expected a power of two of at least 4096".into(),
                });
            }
            n => n,
        };
        let host = HostPaths::detect(&cli.rootfs).with_docker_root(&cli.docker_root);
        // Files named by flags are host paths: read them below the root.
        let host_files = |s: &str| comma_list(s).iter().map(|p| host.resolve(p)).collect();
        let prefix = cli.url_base_prefix.trim_end_matches('/').to_string();
        let housekeeping_interval = dur("housekeeping_interval", &cli.housekeeping_interval)?;
        let mut warnings = compat::check(&cli.compat)?;
        let storage_drivers = compat::storage_drivers(&cli.storage_driver)?;
        let storage = storage_options(cli, &dur)?;
        if storage_drivers.is_empty() {
            for flag in storage.changed_flags() {
                warnings.push(format!(
                    "flag --{flag} has no effect: it configures a storage driver, and none is in use (see --storage_driver)"
                ));
            }
        }
        // cAdvisor collects resctrl (Intel RDT / AMD QoS) where /sys/fs/resctrl is mounted; we do not,
        // so turning the kind on must not pass silently.
        if MetricKinds::from_flags(&cli.enable_metrics, &cli.disable_metrics)?
            .has(MetricKind::Resctrl)
        {
            warnings.push(
                "metric kind resctrl is on (--enable_metrics/--disable_metrics), but bpfadvisor does \
                 not collect resctrl statistics: container_memory_bandwidth_*, \
                 container_llc_occupancy_bytes and the stats' resctrl are left out"
                    .into(),
            );
        }
        let log_format = match cli.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid {
                    flag: "log_format",
                    value: other.to_string(),
                    reason: "expected text or json".into(),
                });
            }
        };
        let env_metadata_whitelist = env_prefixes(&cli.env_metadata_whitelist);
        for (flag, value) in [
            (
                "docker_env_metadata_whitelist",
                &cli.docker_env_metadata_whitelist,
            ),
            (
                "containerd_env_metadata_whitelist",
                &cli.containerd_env_metadata_whitelist,
            ),
        ] {
            if env_prefixes(value).is_empty() {
                continue;
            }
            warnings.push(if env_metadata_whitelist.is_empty() {
                format!("flag --{flag} is deprecated; use --env_metadata_whitelist")
            } else {
                format!("flag --{flag} is deprecated and ignored: --env_metadata_whitelist is set")
            });
        }
        Ok(Self {
            listen: (listen_ip, cli.port),
            prometheus_endpoint: cli.prometheus_endpoint.clone(),
            url_base_prefix: prefix,
            housekeeping_interval,
            max_housekeeping_interval: dur(
                "max_housekeeping_interval",
                &cli.max_housekeeping_interval,
            )?,
            allow_dynamic_housekeeping: cli.allow_dynamic_housekeeping,
            global_housekeeping_interval: dur(
                "global_housekeeping_interval",
                &cli.global_housekeeping_interval,
            )?,
            update_machine_info_interval: dur(
                "update_machine_info_interval",
                &cli.update_machine_info_interval,
            )?,
            storage_duration: dur("storage_duration", &cli.storage_duration)?,
            metric_kinds: MetricKinds::from_flags(&cli.enable_metrics, &cli.disable_metrics)?
                .with_readers(ReaderOptions {
                    load_reader: cli.enable_load_reader,
                    housekeeping_interval,
                    referenced_reset_interval: cli.referenced_reset_interval,
                }),
            event_storage_age_limit: cli.event_storage_age_limit.clone(),
            event_storage_event_limit: cli.event_storage_event_limit.clone(),
            store_container_labels: cli.store_container_labels,
            whitelisted_container_labels: comma_list(&cli.whitelisted_container_labels),
            env_metadata_whitelist,
            docker_env_metadata_whitelist: env_prefixes(&cli.docker_env_metadata_whitelist),
            containerd_env_metadata_whitelist: env_prefixes(&cli.containerd_env_metadata_whitelist),
            docker_only: cli.docker_only,
            raw_cgroup_prefix_whitelist: comma_list(&cli.raw_cgroup_prefix_whitelist),
            docker_endpoint: cli.docker.clone(),
            containerd_endpoint: cli.containerd.clone(),
            containerd_namespace: cli.containerd_namespace.clone(),
            podman_endpoint: cli.podman.clone(),
            crio_client_timeout: Some(dur("crio_client_timeout", &cli.crio_client_timeout)?)
                .filter(|d| !d.is_zero()),
            machine_id_files: host_files(&cli.machine_id_file),
            boot_id_files: host_files(&cli.boot_id_file),
            event_source,
            ebpf_oom_probe,
            ebpf_events_bytes,
            ebpf_cgroup_counters: cli.ebpf_cgroup_counters,
            storage_drivers,
            storage,
            log: LogOptions {
                filter: std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log_level.clone()),
                format: log_format,
            },
            worker_threads: usize::try_from(cli.max_procs)
                .ok()
                .filter(|n| *n >= 1)
                .unwrap_or(DEFAULT_WORKER_THREADS),
            warnings,
            host,
            access: access_config(cli)?,
        })
    }
}

/// The access-control flags. Their files are the agent's own (secrets mounted into its
/// container), so they are not read below `--rootfs`.
fn access_config(cli: &Cli) -> Result<AccessConfig, ConfigError> {
    let path = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
    let invalid = |flag, value: &str, reason: &str| ConfigError::Invalid {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let tls = match (path(&cli.tls_cert_file), path(&cli.tls_key_file)) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: path(&cli.tls_client_ca_file),
        }),
        (None, None) if cli.tls_client_ca_file.is_empty() => None,
        (None, None) => {
            return Err(invalid(
                "tls_client_ca_file",
                &cli.tls_client_ca_file,
                "client certificates need TLS: set --tls_cert_file and --tls_key_file",
            ));
        }
        (Some(_), None) => {
            return Err(invalid(
                "tls_key_file",
                "",
                "--tls_cert_file needs a key file",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "tls_cert_file",
                "",
                "--tls_key_file needs a certificate file",
            ));
        }
    };
    Ok(AccessConfig {
        htpasswd: path(&cli.http_auth_file),
        basic_realm: cli.http_auth_realm.clone(),
        htdigest: path(&cli.http_digest_file),
        digest_realm: cli.http_digest_realm.clone(),
        bearer_tokens: path(&cli.http_bearer_token_file),
        tls,
        limits: Default::default(),
    })
}

/// Parses a Go `time.ParseDuration` string: a sequence of decimal numbers with units
/// `ns us µs ms s m h`, e.g. `1s`, `2m0s`, `1.5h`, `100ms`. `0` alone is allowed.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("time: invalid duration {s:?}");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return Err(err());
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(err());
    }
    let mut total_ns: f64 = 0.0;
    let mut rest = body;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_end == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_end].parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(if unit.is_empty() {
                    format!("time: missing unit in duration {s:?}")
                } else {
                    format!("time: unknown unit {unit:?} in duration {s:?}")
                });
            }
        };
        total_ns += value * scale;
    }
    Ok(Duration::from_nanos(total_ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let argv = std::iter::once("bpfadvisor").chain(args.iter().copied());
        Cli::try_parse_go(argv.map(Into::into)).expect("flags parse")
    }

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_cli(&cli(args))
    }

    #[test]
    fn unsupported_flags_refuse_only_when_not_default() {
        assert!(config(&["--http_auth_realm=localhost", "--storage_driver="]).is_ok());
        let err = config(&["--container_hints=/etc/hints.json"]).expect_err("refused");
        assert!(matches!(err, ConfigError::Unsupported(_)), "{err}");
        let err = config(&["--storage_driver=bigquery"]).expect_err("refused");
        assert!(
            err.to_string().contains("--storage_driver=bigquery"),
            "{err}"
        );
        let c = config(&["-v=4", "--logtostderr"]).expect("accepted");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn the_oom_probe_is_chosen_or_refused() {
        assert_eq!(config(&[]).expect("config").ebpf_oom_probe, OomProbe::Auto);
        let c = config(&["--ebpf_oom_probe=fentry"]).expect("config");
        assert_eq!(c.ebpf_oom_probe, OomProbe::Fentry);
        let err = config(&["--ebpf_oom_probe=kprobe"]).expect_err("refused");
        assert!(err.to_string().contains("ebpf_oom_probe"), "{err}");
        assert_eq!(config(&[]).expect("config").ebpf_events_bytes, None);
        let c = config(&["--ebpf_events_buffer_bytes=8192"]).expect("config");
        assert_eq!(c.ebpf_events_bytes, Some(8192));
        for bad in [
            "--ebpf_events_buffer_bytes=5000",
            "--ebpf_events_buffer_bytes=2048",
        ] {
            let err = config(&[bad]).expect_err("refused");
            assert!(
                err.to_string().contains("ebpf_events_buffer_bytes"),
                "{err}"
            );
        }
    }

    #[test]
    fn storage_driver_flags_warn_while_no_driver_uses_them() {
        let c = config(&[]).expect("config");
        assert_eq!(c.storage.host, "localhost:8086");
        assert_eq!(c.storage.buffer_duration, Duration::from_secs(60));
        assert!(c.warnings.is_empty());
        let c = config(&[
            "-storage_driver_host=db:8086",
            "-storage_driver_password=hunter2",
            "-storage_driver_buffer_duration=60s",
        ])
        .expect("config");
        assert_eq!(c.storage.host, "db:8086");
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("flag --storage_driver_host=db:8086 has no effect"));
        assert!(
            c.warnings[1].starts_with("flag --storage_driver_password=<redacted> has no effect")
        );
        let c = config(&[
            "--storage_driver=stdout",
            "-storage_driver_host=db:8086",
            "-storage_driver_secure",
            "-storage_driver_kafka_ssl_verify=false",
            "-storage_driver_buffer_duration=5s",
            "-storage_driver_db=metrics",
        ])
        .expect("config");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.storage.secure && !c.storage.kafka.ssl_verify);
        assert_eq!(c.storage.buffer_duration, Duration::from_secs(5));
        assert_eq!(c.storage.db, "metrics");
        assert!(config(&["-storage_driver_buffer_duration=soon"]).is_err());
    }

    #[test]
    fn env_whitelists_and_their_old_names() {
        let c = config(&["--env_metadata_whitelist=TEST,, X"]).expect("config");
        assert_eq!(c.env_metadata_whitelist, ["TEST", " X"]);
        assert!(c.warnings.is_empty());
        let c = config(&[
            "--docker_env_metadata_whitelist=D_",
            "--containerd_env_metadata_whitelist=C_",
        ])
        .expect("config");
        assert!(c.env_metadata_whitelist.is_empty());
        assert_eq!(c.docker_env_metadata_whitelist, ["D_"]);
        assert_eq!(c.containerd_env_metadata_whitelist, ["C_"]);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("deprecated; use --env_metadata_whitelist"));
    }

    #[test]
    fn log_format_and_worker_threads() {
        let d = config(&[]).expect("config");
        assert_eq!(d.log.format, LogFormat::Text);
        assert_eq!(d.worker_threads, DEFAULT_WORKER_THREADS);
        let c = config(&["--log_format=json", "--max_procs=3"]).expect("config");
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.worker_threads, 3);
        assert_eq!(
            config(&["--max_procs=-1"]).expect("config").worker_threads,
            DEFAULT_WORKER_THREADS
        );
        assert!(config(&["--log_format=xml"]).is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("2m0s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_go_duration("zz"),
            Err("time: invalid duration \"zz\"".to_string())
        );
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }

    #[test]
    fn metric_kind_flags_follow_cadvisor() {
        let d = MetricKinds::default();
        assert!(
            d.has(MetricKind::Cpu) && d.has(MetricKind::Pressure) && d.has(MetricKind::OomEvent)
        );
        assert!(
            !d.has(MetricKind::Process) && !d.has(MetricKind::Tcp) && !d.has(MetricKind::Sched)
        );
        // --disable_metrics replaces the default set.
        let only_tcp_off = MetricKinds::from_flags("", "tcp").expect("valid");
        assert!(only_tcp_off.has(MetricKind::Process) && !only_tcp_off.has(MetricKind::Tcp));
        // --enable_metrics wins.
        let e = MetricKinds::from_flags("cpu,memory", "cpu").expect("valid");
        assert!(e.has(MetricKind::Cpu) && e.has(MetricKind::Memory) && !e.has(MetricKind::Network));
        let bad = MetricKinds::from_flags("", "nope").expect_err("unknown kind");
        // The eBPF kinds: off by default and under any --disable_metrics list; named in
        // --enable_metrics they add to the cAdvisor kinds that would be on anyway.
        for k in MetricKind::EBPF {
            assert!(!d.has(k) && !only_tcp_off.has(k), "{k:?}");
        }
        let defaults_off = "advtcp,cpu_topology,cpuset,hugetlb,memory_numa,process,referenced_memory,resctrl,sched,tcp,udp";
        let rq = MetricKinds::from_flags("runqueue,reclaim", defaults_off).expect("valid");
        assert!(rq.has(MetricKind::Runqueue) && rq.has(MetricKind::Reclaim));
        assert!(
            rq.has(MetricKind::Cpu) && !rq.has(MetricKind::Tcp) && !rq.has(MetricKind::TcpRetrans)
        );
        let cpu_rq = MetricKinds::from_flags("cpu,runqueue", defaults_off).expect("valid");
        assert!(cpu_rq.has(MetricKind::Runqueue) && !cpu_rq.has(MetricKind::Memory));
        assert!(
            bad.to_string()
                .contains("unsupported metric \"nope\" specified")
        );
    }
    #[test]
    fn access_flags() {
        use clap::Parser;
        let cli = |args: &[&str]| {
            let argv = std::iter::once("bpfadvisor").chain(args.iter().copied());
            Config::from_cli(
                &Cli::try_parse_from(argv.map(Into::<std::ffi::OsString>::into)).expect("parse"),
            )
        };
        let open = cli(&[]).expect("config").access;
        assert_eq!(open.htpasswd, None);
        assert_eq!(open.tls, None);
        assert_eq!(open.basic_realm, "localhost");
        let c = cli(&[
            "--http_auth_file=/s/htpasswd",
            "--tls_cert_file=/s/c.pem",
            "--tls_key_file=/s/k.pem",
            "--tls_client_ca_file=/s/ca.pem",
            "--http_bearer_token_file=/s/token",
            "--rootfs=/rootfs",
        ])
        .expect("config")
        .access;
        assert_eq!(
            c.htpasswd,
            Some(PathBuf::from("/s/htpasswd")),
            "not below --rootfs"
        );
        assert_eq!(
            c.tls.expect("tls").client_ca,
            Some(PathBuf::from("/s/ca.pem"))
        );
        assert_eq!(c.bearer_tokens, Some(PathBuf::from("/s/token")));
        for bad in [
            &["--tls_cert_file=/c"][..],
            &["--tls_key_file=/k"][..],
            &["--tls_client_ca_file=/ca"][..],
        ] {
            assert!(cli(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resctrl_on_warns_and_the_default_does_not() {
        let resctrl = |c: &Config| c.warnings.iter().any(|w| w.contains("metric kind resctrl"));
        assert!(!resctrl(&config(&[]).expect("config")));
        assert!(!resctrl(
            &config(&["--enable_metrics=cpu,memory"]).expect("config")
        ));
        assert!(resctrl(
            &config(&["--enable_metrics=cpu,resctrl"]).expect("config")
        ));
        assert!(resctrl(
            &config(&["--disable_metrics=udp"]).expect("config")
        ));
    }

    #[test]
    fn reader_flags_reach_the_kinds() {
        let d = Config::from_cli(&cli(&[])).expect("config");
        assert_eq!(*d.metric_kinds.readers(), ReaderOptions::default());
        let c = Config::from_cli(&cli(&[
            "-enable_load_reader",
            "-referenced_reset_interval=5",
            "-housekeeping_interval=2s",
        ]))
        .expect("config");
        assert_eq!(
            *c.metric_kinds.readers(),
            ReaderOptions {
                load_reader: true,
                housekeeping_interval: Duration::from_secs(2),
                referenced_reset_interval: 5,
            }
        );
    }
}
