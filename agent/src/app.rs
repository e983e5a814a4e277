//! The one module that knows every other: builds sources, registry and consumers, and owns startup
//! and shutdown order.
//!
//! Order matters: the event source starts watching before the initial discovery walk, so a cgroup
//! created in between is seen twice (and deduplicated by the owner) rather than missed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::access::watched::Watched;
use crate::access::{self, Access, tls};
use crate::api::{self, ApiContext};
use crate::cgroup::Layout;
use crate::cgroup::counters::Subsystem;
use crate::config::{Config, EventSourceMode, LogFormat, LogOptions, MetricKind};
use crate::events::store::{EventStore, StoragePolicy};
use crate::events::{SourceEvent, SourceKind, ebpf, inotify, kmsg, oom_counters::OomCounters};
use crate::feed::Feed;
use crate::fs::usage::{FsUsageTracker, UsageConfig};
use crate::host_reads::HostReads;
use crate::kube::{self, KubeContext};
use crate::machine::{MachineOptions, machine_info, version_info};
use crate::metrics::{self, MetricsConfig};
use crate::privileges;
use crate::query::Snapshot;
use crate::registry::housekeeping::{self, Job, OomFallback, Schedule};
use crate::registry::owner::{Admission, Owner, OwnerConfig, OwnerInputs};
use crate::registry::{self, RegistryHandle};
use crate::runtime::{self, RuntimeConfig};
use crate::storage::{self, Storage};
use crate::telemetry::events::EventSourceSelected;
use crate::ui::{self, UiContext};

/// Installs the `tracing` subscriber on stderr: filter from `--log_level` / `RUST_LOG`, lines as
/// `--log_format` says. Text lines carry ANSI colours only when stderr is a terminal, so log files
/// and `kubectl logs` get plain text.
pub fn init_logging(options: &LogOptions) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(&options.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Never fails a log call: a full disk under a redirected stderr must not stop the agent.
    let writer = crate::telemetry::log_writer::LossyStderr::new(options.format == LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false);
    let _ = match options.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// The live event producer; held (not read) so its probes and threads live as long as the agent.
enum LiveSource {
    Ebpf(ebpf::EbpfHandle),
    Inotify(#[expect(dead_code, reason = "kept alive, never read")] inotify::InotifyHandle),
}

impl LiveSource {
    fn kind(&self) -> SourceKind {
        match self {
            Self::Ebpf(_) => SourceKind::Ebpf,
            Self::Inotify(_) => SourceKind::Inotify,
        }
    }

    /// Whether OOM kills come from this source (else the cgroup counters are polled).
    fn detects_oom(&self) -> bool {
        match self {
            Self::Ebpf(h) => h.has_oom(),
            Self::Inotify(_) => false,
        }
    }

    /// When this source started reporting OOM kills (time since boot).
    fn oom_since(&self) -> Option<Duration> {
        match self {
            Self::Ebpf(h) => h.oom_since(),
            Self::Inotify(_) => None,
        }
    }
}

/// Runs the agent until SIGINT/SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Credentials and certificates first: an unusable file stops the agent before anything starts.
    let access = Access::start(&config.access, &config.url_base_prefix)
        .map_err(|e| anyhow::anyhow!(e))
        .context("loading the HTTP authentication files")?;
    let tls = match &config.access.tls {
        Some(files) => {
            let files = files.clone();
            let paths = files.paths();
            Some(
                Watched::start("TLS certificate", paths, move || tls::load(&files))
                    .map_err(|e| anyhow::anyhow!(e))
                    .context("loading the TLS certificate")?,
            )
        }
        None => None,
    };
    let collector = start_collector(&config).await?;
    let router = access::protect(
        http_router(&config, collector.query()),
        access.clone(),
        config.access.limits.clone(),
        &config.url_base_prefix,
    );
    let addr = match config.listen.0 {
        Some(ip) => std::net::SocketAddr::new(ip, config.listen.1),
        None => std::net::SocketAddr::from(([0, 0, 0, 0], config.listen.1)),
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    info!(
        %addr,
        scheme = if tls.is_some() { "https" } else { "http" },
        authentication = ?access.methods(),
        "serving"
    );
    // Graceful shutdown waits for open connections, and an event stream never ends by itself: the
    // server gives in-flight requests a moment, then stops anyway.
    let options = access::ServeOptions {
        tls,
        limits: config.access.limits.clone(),
    };
    access::serve(listener, router, options, shutdown_signal(), SHUTDOWN_GRACE).await;
    collector.shutdown().await;
    info!("shut down");
    Ok(())
}

/// The running collector: event source, housekeeping, runtime clients and the registry's owner,
/// read through [`Collector::query`]. Everything stops when it is dropped.
pub struct Collector {
    handle: RegistryHandle,
    owner_task: tokio::task::JoinHandle<()>,
    /// The storage drivers: stopped (flushing) by [`Collector::shutdown`].
    storage: Option<Storage>,
    // Held, not read: the probes, watches and threads live as long as the collector.
    _kernel_log: Option<kmsg::KmsgHandle>,
    _source: LiveSource,
}

impl Collector {
    /// The read-only view the REST API, `/metrics` and the Kubernetes routes are built on:
    /// snapshots, events and host facts.
    pub fn query(&self) -> Arc<dyn crate::query::Query> {
        Arc::new(self.handle.clone())
    }

    /// Stops collecting; the storage drivers send what they hold first, by
    /// [`storage::FLUSH_DEADLINE`]. (Dropping the collector stops it without waiting.)
    pub async fn shutdown(mut self) {
        self.owner_task.abort();
        if let Some(storage) = self.storage.take() {
            storage
                .shutdown(std::time::Instant::now() + storage::FLUSH_DEADLINE)
                .await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.owner_task.abort();
    }
}

/// Starts collecting as `config` says, without serving anything: the part of the agent a program
/// embedding it runs (inside a Tokio runtime). The first snapshot is published once discovery ran.
pub async fn start_collector(config: &Config) -> anyhow::Result<Collector> {
    let host = config.host.clone();
    match crate::cgroup::files::raise_fd_limit() {
        Ok(n) => {
            let kept = crate::cgroup::files::kept_budget();
            if n < crate::cgroup::files::LOW_FD_LIMIT {
                warn!(
                    open_files = n,
                    kept_open = kept,
                    "file descriptor limit is low (and cannot be raised): cgroup files past the first kept_open are reopened on every read"
                );
            } else {
                info!(open_files = n, "file descriptor limit");
            }
        }
        Err(e) => warn!(error = %e, "cannot raise the file descriptor limit"),
    }
    let layout = Layout::detect(&host).context("detecting the cgroup layout")?;
    info!(mode = ?layout.mode(), root = %host.root.display(), "cgroup layout");
    let machine = machine_info(&host, &MachineOptions::from(config));
    let version = version_info(&host);

    // Samples and events, for subscribers (see `subscribe`).
    let feed = Feed::default();
    let events = Arc::new(
        EventStore::new(StoragePolicy::from_flags(
            &config.event_storage_age_limit,
            &config.event_storage_event_limit,
        ))
        .publishing_to(feed.clone()),
    );
    let (source_tx, source_rx) = registry::channel::<SourceEvent>();
    let (metadata_tx, metadata_rx) = registry::channel();
    let (findings_tx, findings_rx) = mpsc::unbounded_channel();

    let source = start_event_source(config, &layout, source_tx.clone()).await?;
    let kind = source.kind();
    let oom_fallback = !source.detects_oom();
    EventSourceSelected { source: kind }.emit();
    let privileges = privileges::Report::new(&privileges::Situation::current(
        &host,
        config.event_source != EventSourceMode::Inotify,
        kind == SourceKind::Ebpf,
    ));
    privileges.log();
    privileges::publish(privileges);
    info!(oom_from_counters = oom_fallback, "OOM detection");

    let oom = if oom_fallback {
        memory_root(&layout).map(|memory_root| OomFallback {
            counters: OomCounters::new(Some(config.housekeeping_interval * 3)),
            memory_root,
            tx: source_tx.clone(),
        })
    } else {
        None
    };
    let fs_usage = if config.metric_kinds.has(MetricKind::Disk) {
        Some(
            FsUsageTracker::start(host.clone(), UsageConfig::default())
                .context("starting the fs usage walker")?,
        )
    } else {
        None
    };
    let schedule = Schedule {
        interval: config.housekeeping_interval,
        max_interval: config.max_housekeeping_interval,
        dynamic: config.allow_dynamic_housekeeping,
        kinds: config.metric_kinds.clone(),
        fs_usage: fs_usage.clone(),
    };
    let hk = housekeeping::start(schedule, findings_tx, None, oom, feed.clone())
        .context("starting housekeeping")?;
    start_signals(config, &layout, &hk);
    start_counters(config, &layout, &hk);
    // Before discovery: in the fallback, kills logged from now on are paired with the counters,
    // whose baselines discovery takes.
    let kernel_log = read_kernel_log(
        config,
        source_tx.clone(),
        source.oom_since(),
        oom_fallback.then(|| hk.clone()),
    );
    let runtime = runtime::start(RuntimeConfig::from_config(config), metadata_tx);

    let published = Arc::new(RwLock::new(Arc::new(Snapshot::default())));
    let mut owner = Owner::new(
        OwnerConfig {
            host: host.clone(),
            storage_duration: config.storage_duration,
            global_housekeeping_interval: config.global_housekeeping_interval,
            admission: Admission {
                docker_only: config.docker_only,
                raw_prefix_whitelist: config.raw_cgroup_prefix_whitelist.clone(),
            },
            removed_retention: config.storage_duration.max(Duration::from_secs(300)),
            update_machine_info_interval: config.update_machine_info_interval,
            machine_options: MachineOptions::from(config),
            fs_usage,
        },
        layout,
        machine,
        version,
        hk.clone(),
        runtime,
        events.clone(),
        published.clone(),
    );
    owner.set_event_source(kind);
    let handle = RegistryHandle::new(published, events, hk, HostReads::new(host.clone()), feed);
    // Subscribed before discovery, so they see every container's first sample.
    let query: Arc<dyn crate::query::Query> = Arc::new(handle.clone());
    let storage = storage::start(&config.storage_drivers, &query, &config.storage)
        .context("starting the storage drivers")?;
    owner.discover();
    drop(source_tx);
    let inputs = OwnerInputs {
        sources: source_rx,
        metadata: metadata_rx,
        housekeeping: findings_rx,
    };
    let owner_task = tokio::spawn(owner.run(inputs));
    Ok(Collector {
        handle,
        owner_task,
        storage: Some(storage),
        _kernel_log: kernel_log,
        _source: source,
    })
}

/// Every HTTP route, under `--url_base_prefix` when set; the UI's fallback answers any other path.
fn http_router(config: &Config, query: Arc<dyn crate::query::Query>) -> axum::Router {
    let metrics_config = MetricsConfig::from_config(config);
    let kube = kube::router(
        KubeContext {
            query: query.clone(),
        },
        &metrics_config,
    );
    let metrics = metrics::router(query.clone(), metrics_config);
    let ui = ui::router(UiContext {
        query: query.clone(),
        url_base_prefix: config.url_base_prefix.clone(),
        taken: vec![config.prometheus_endpoint.clone()],
    });
    let api = api::router(ApiContext {
        query,
        url_base_prefix: config.url_base_prefix.clone(),
    })
    .merge(metrics)
    .merge(kube)
    .merge(ui);
    if config.url_base_prefix.is_empty() {
        api
    } else {
        let nested = axum::Router::new().nest(&config.url_base_prefix, api);
        ui::with_catch_all(nested, &config.url_base_prefix)
    }
}

/// eBPF when it loads (and is allowed), else the inotify watcher.
async fn start_event_source(
    config: &Config,
    layout: &Layout,
    tx: mpsc::Sender<SourceEvent>,
) -> anyhow::Result<LiveSource> {
    if config.event_source != EventSourceMode::Inotify {
        let options = ebpf::EbpfOptions {
            oom_probe: config.ebpf_oom_probe,
            events_bytes: config.ebpf_events_bytes,
        };
        match ebpf::start_with_options(&config.host, tx.clone(), options).await {
            Ok(handle) => {
                info!(probes = ?handle.live_probes(), "eBPF probes attached");
                return Ok(LiveSource::Ebpf(handle));
            }
            Err(e) if config.event_source == EventSourceMode::Ebpf => {
                return Err(anyhow::Error::new(e).context("--event_source=ebpf"));
            }
            Err(e) => warn!(error = %e, "eBPF probes unavailable; using the inotify fallback"),
        }
    }
    let watcher = inotify::start(layout.hierarchy_mounts(), tx).context("starting inotify")?;
    Ok(LiveSource::Inotify(watcher))
}

/// Attaches the opt-in eBPF signal kinds that are enabled; says which attached and why the
/// others did not (start-up log and `/validate/`).
fn start_signals(config: &Config, layout: &Layout, hk: &housekeeping::HousekeepingHandle) {
    let Some((reader, status)) =
        ebpf::signals::start(&config.host, layout.unified_dir(), &config.metric_kinds)
    else {
        return;
    };
    let attached: Vec<&str> = status.attached.iter().map(|k| k.name()).collect();
    info!(kinds = ?attached, "eBPF signal kinds attached");
    for (kind, why) in &status.failed {
        warn!(kind = kind.name(), reason = %why, "eBPF signal kind not attached");
    }
    if let Some(reader) = reader {
        hk.send(Job::Signals(Box::new(reader)));
    }
    ebpf::signals::publish(status);
}

/// Loads the BPF cgroup iterator that reads the v1 counters of all containers per pass; without
/// it (v2, no eBPF, turned off) every container reads its files, as before.
fn start_counters(config: &Config, layout: &Layout, hk: &housekeeping::HousekeepingHandle) {
    if !config.ebpf_cgroup_counters {
        info!("cgroup counters: read from files (--ebpf_cgroup_counters=false)");
        ebpf::counters::publish("files (--ebpf_cgroup_counters=false)".into());
        return;
    }
    match ebpf::counters::start(&config.host, layout) {
        Ok(source) => {
            let subsystems: Vec<&str> = source
                .subsystems()
                .into_iter()
                .map(Subsystem::controller)
                .collect();
            info!(hierarchies = ?subsystems, "cgroup counters: one BPF iterator run per pass");
            ebpf::counters::publish(format!("BPF cgroup iterator ({})", subsystems.join(", ")));
            hk.send(Job::Counters(Box::new(source)));
            // Loading parsed the kernel's BTF (~20 MB of short-lived allocations): hand the freed
            // memory back instead of carrying it as resident for the agent's life.
            // SAFETY: malloc_trim has no preconditions.
            unsafe { libc::malloc_trim(0) };
        }
        Err(why) => {
            info!(reason = %why, "cgroup counters: read from files");
            ebpf::counters::publish(format!("files ({why})"));
        }
    }
}

/// Where containers' memory cgroups are (for the OOM counters): the v1 memory hierarchy, else the
/// unified one.
fn memory_root(layout: &Layout) -> Option<std::path::PathBuf> {
    layout
        .v1_dir("memory")
        .or_else(|| layout.unified_dir())
        .map(std::path::Path::to_path_buf)
}

/// Reads the OOM kills already in the kernel log (cAdvisor reports them at each start) and sends
/// them as replayed events: those logged before `live_since` (when the live source started
/// reporting kills), else before now. In fallback mode (`counters` set) also feeds the kills logged
/// from then on to the housekeeper's OOM counters. `None` when the log is not readable.
fn read_kernel_log(
    config: &Config,
    events: mpsc::Sender<SourceEvent>,
    live_since: Option<Duration>,
    counters: Option<housekeeping::HousekeepingHandle>,
) -> Option<kmsg::KmsgHandle> {
    let (live_tx, mut live_rx) = mpsc::channel(64);
    let sinks = kmsg::KmsgSinks {
        past: Some(events),
        past_until: live_since,
        live: counters.is_some().then_some(live_tx),
    };
    match kmsg::start(&config.host.dev, sinks) {
        Ok(handle) => {
            if let Some(hk) = counters {
                tokio::spawn(async move {
                    while let Some(instance) = live_rx.recv().await {
                        hk.send(Job::KernelLogOom(instance));
                    }
                });
            }
            Some(handle)
        }
        Err(e) if counters.is_some() => {
            warn!(error = %e, "kernel log not readable; OOM kills from before the start are not reported and OOM events carry no pid/process name");
            None
        }
        Err(e) => {
            warn!(error = %e, "kernel log not readable; OOM kills from before the start are not reported");
            None
        }
    }
}

/// How long open connections (event streams) may delay shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
