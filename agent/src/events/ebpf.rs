//! The eBPF event source: loads the programs of `agent-ebpf` (embedded at build time, see
//! `agent/build.rs`), attaches them, and turns their ring buffer records into [`SourceEvent`]s.
//!
//! Every failure to start is an [`EbpfError`] so the app can fall back to inotify and say why.

pub mod btf;
pub mod counters;
pub mod errors;
pub mod hierarchy;
pub mod log;
pub mod record;
pub mod signals;

use std::path::PathBuf;
use std::time::Duration;

use agent_common::{ERRORS_MAP, EVENTS_MAP, OFFSETS_GLOBAL};
use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, FEntry},
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc::Sender,
    task::JoinHandle,
};

use self::{
    btf::{Btf, BtfError},
    errors::ErrorCounters,
    hierarchy::{Hierarchies, HierarchyError},
    record::{BootClock, Decoded, RepeatedVictims, decode},
};
use crate::{events::SourceEvent, host::HostPaths};

/// Whether this build embeds the eBPF object (`cfg(bpfadvisor_ebpf)`, set by `build.rs`).
pub const EMBEDDED: bool = cfg!(bpfadvisor_ebpf);

#[cfg(bpfadvisor_ebpf)]
pub(crate) static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bpfadvisor-ebpf.o"));
#[cfg(not(bpfadvisor_ebpf))]
pub(crate) static OBJECT: &[u8] = &[];

/// The probes, by program name (= tracepoint or kernel function name), in attach order. The last
/// two report the same OOM victims; at most one of them is attached (see [`OomProbe`]).
pub const PROBES: [&str; 4] = [
    "cgroup_mkdir",
    "cgroup_rmdir",
    "mark_victim",
    "mark_oom_victim",
];

/// The OOM probes of [`PROBES`].
const OOM_PROBES: [&str; 2] = ["mark_victim", "mark_oom_victim"];

/// Which program reports OOM victims (`--ebpf_oom_probe`).
///
/// The kernels differ (see `agent-ebpf/src/oom.rs`): the `oom:mark_victim` tracepoint passes the
/// victim's `task_struct` from 6.9 and in stable kernels that took the change (Debian 12's 6.1.192
/// does; upstream 6.1-6.8, Ubuntu's 5.15 and 6.8, RHEL 9's 5.14 pass only the pid), while
/// `fentry/mark_oom_victim` needs fentry (5.5+, ftrace) and the function in BTF (not inlined).
/// The choice is read from the kernel's BTF prototypes, never from its version string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OomProbe {
    /// The tracepoint when it passes the task, else the fentry program, else none (the memory
    /// cgroups' OOM counters then report kills).
    #[default]
    Auto,
    /// `tp_btf/mark_victim` only.
    Tracepoint,
    /// `fentry/mark_oom_victim` only.
    Fentry,
}

impl OomProbe {
    /// The OOM programs this kernel can take, in the order to try them, or why none.
    fn candidates(self, kernel: &Btf) -> Result<Vec<&'static str>, String> {
        let tp = kernel.tracepoint_arg_is_struct_ptr("mark_victim", 0, "task_struct");
        let fentry = kernel.function_arg_is_struct_ptr("mark_oom_victim", 0, "task_struct");
        let mut out = Vec::new();
        if tp && self != OomProbe::Fentry {
            out.push("mark_victim");
        }
        if fentry && self != OomProbe::Tracepoint {
            out.push("mark_oom_victim");
        }
        if out.is_empty() {
            let tp_why = "the kernel's mark_victim tracepoint does not pass the task_struct";
            let fentry_why = "the kernel's BTF has no mark_oom_victim(struct task_struct *)";
            return Err(match self {
                OomProbe::Auto => format!("{tp_why} and {fentry_why}"),
                OomProbe::Tracepoint => tp_why.to_string(),
                OomProbe::Fentry => fentry_why.to_string(),
            });
        }
        Ok(out)
    }
}

/// How the eBPF source is set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EbpfOptions {
    /// `--ebpf_oom_probe`.
    pub oom_probe: OomProbe,
    /// Size of the events ring buffer in bytes (a power of two, a multiple of the page size);
    /// `None` keeps the object's (`agent_common::EVENTS_BYTES`). Tests shrink it to overflow it.
    pub events_bytes: Option<u32>,
}

/// How often the error counters are read when no record wakes the reader (a record lost at the end
/// of a burst wakes nobody).
const COUNTERS_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error(
        "this build has no eBPF object (built without the eBPF toolchain and no matching prebuilt)"
    )]
    NotEmbedded,
    #[error("kernel BTF unusable: {0}")]
    Btf(#[from] BtfError),
    #[error("load kernel BTF {path} for aya: {source}")]
    AyaBtf {
        path: PathBuf,
        source: aya::BtfError,
    },
    #[error("map cgroup hierarchies: {0}")]
    Hierarchies(#[from] HierarchyError),
    #[error("load the eBPF object (needs root or CAP_BPF+CAP_PERFMON): {0}")]
    Load(#[source] aya::EbpfError),
    #[error("eBPF object has no map {0}")]
    MissingMap(&'static str),
    #[error("open eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("no eBPF probe could be attached: {0}")]
    NothingAttached(String),
    #[error("watch the eBPF ring buffer: {0}")]
    Poll(#[source] std::io::Error),
}

/// A running eBPF source. Dropping it detaches the probes and stops the reader.
#[derive(Debug)]
pub struct EbpfHandle {
    live: Vec<&'static str>,
    /// When `mark_victim` was attached, as time since boot ([`super::since_boot`]).
    oom_since: Option<std::time::Duration>,
    task: JoinHandle<()>,
    /// Forwards the programs' log lines (see [`log`]).
    log_task: Option<JoinHandle<()>>,
}

impl EbpfHandle {
    /// The probes attached (names from [`PROBES`]); a probe the kernel lacks is left out.
    pub fn live_probes(&self) -> &[&'static str] {
        &self.live
    }

    /// Whether OOM kills are reported by this source.
    pub fn has_oom(&self) -> bool {
        self.live.iter().any(|p| OOM_PROBES.contains(p))
    }

    /// When this source started reporting OOM kills, on the kernel log's clock: every kill logged
    /// from then on reaches it.
    pub fn oom_since(&self) -> Option<std::time::Duration> {
        self.oom_since
    }
}

impl Drop for EbpfHandle {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(t) = &self.log_task {
            t.abort();
        }
    }
}

/// [`start_with`] the OOM probe the kernel offers ([`OomProbe::Auto`]).
pub async fn start(host: &HostPaths, tx: Sender<SourceEvent>) -> Result<EbpfHandle, EbpfError> {
    start_with(host, tx, OomProbe::Auto).await
}

/// [`start_with_options`] with the OOM probe `oom` and the object's ring buffer size.
pub async fn start_with(
    host: &HostPaths,
    tx: Sender<SourceEvent>,
    oom: OomProbe,
) -> Result<EbpfHandle, EbpfError> {
    let options = EbpfOptions {
        oom_probe: oom,
        events_bytes: None,
    };
    start_with_options(host, tx, options).await
}

/// Loads and attaches the probes and starts a task that sends their events to `tx` until `tx` is
/// closed or the handle is dropped. Must run inside a tokio runtime.
pub async fn start_with_options(
    host: &HostPaths,
    tx: Sender<SourceEvent>,
    options: EbpfOptions,
) -> Result<EbpfHandle, EbpfError> {
    let oom = options.oom_probe;
    if !EMBEDDED {
        return Err(EbpfError::NotEmbedded);
    }
    let btf_path = host.sys.join("kernel/btf/vmlinux");
    let kernel = Btf::read(&btf_path)?;
    let offsets = kernel.offsets()?;
    tracing::debug!(?offsets, "kernel struct offsets from BTF");
    let oom_candidates = oom.candidates(&kernel);
    drop(kernel);
    let aya_btf =
        aya::Btf::parse_file(&btf_path, aya::Endianness::default()).map_err(|source| {
            EbpfError::AyaBtf {
                path: btf_path.clone(),
                source,
            }
        })?;
    let hierarchies = Hierarchies::read(host)?;

    let log_level = log::program_level();
    let mut loader = EbpfLoader::new();
    loader
        .btf(Some(&aya_btf))
        .override_global(OFFSETS_GLOBAL, &offsets, true)
        .override_global(aya_log::LEVEL, &log_level, false);
    if let Some(bytes) = options.events_bytes {
        loader.map_max_entries(EVENTS_MAP, bytes);
    }
    let mut ebpf = loader.load(OBJECT).map_err(EbpfError::Load)?;

    let mut live = Vec::new();
    let mut oom_since = None;
    let mut failures = Vec::new();
    for name in PROBES.into_iter().filter(|p| !OOM_PROBES.contains(p)) {
        match attach(&mut ebpf, name, &aya_btf) {
            Ok(()) => {
                if name == "mark_victim" {
                    // The victim is marked after its kill is logged: a kill logged from now on
                    // is the probe's.
                    oom_since = Some(super::since_boot());
                }
                live.push(name);
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    // The first OOM program that attaches; the rest stay unloaded.
    match oom_candidates {
        Ok(candidates) => {
            for name in candidates {
                match attach(&mut ebpf, name, &aya_btf) {
                    Ok(()) => {
                        live.push(name);
                        break;
                    }
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
            }
        }
        Err(why) => failures.push(format!("OOM probe: {why}")),
    }
    if live.is_empty() {
        return Err(EbpfError::NothingAttached(failures.join("; ")));
    }
    for f in &failures {
        tracing::warn!(probe = %f, "eBPF probe not attached");
    }

    let events = take_map(&mut ebpf, EVENTS_MAP)?;
    let events = RingBuf::try_from(events).map_err(|source| EbpfError::Map {
        name: EVENTS_MAP,
        source,
    })?;
    let errors = take_map(&mut ebpf, ERRORS_MAP)?;
    let errors = PerCpuArray::try_from(errors).map_err(|source| EbpfError::Map {
        name: ERRORS_MAP,
        source,
    })?;
    // SAFETY: the ring buffer owns its map fd, which stays open and unchanged while it is owned by
    // the `AsyncFd` (the map is never replaced).
    let events = unsafe { register(events) }?;
    let reader = Reader {
        host: host.clone(),
        hierarchies,
        errors: ErrorCounters::new(errors),
        repeats: RepeatedVictims::default(),
        tx,
    };
    // Last, so a start that fails leaves no task behind; the programs' early lines wait in their
    // buffer.
    let log_task = log::spawn(&mut ebpf);
    // The task owns the object, so the probes stay attached exactly as long as it runs.
    let task = tokio::spawn(reader.run(events, ebpf));
    Ok(EbpfHandle {
        live,
        oom_since,
        task,
        log_task,
    })
}

/// Loads and attaches program `name` to the tracepoint or (fentry) kernel function of that name.
pub(crate) fn attach(ebpf: &mut Ebpf, name: &str, btf: &aya::Btf) -> Result<(), String> {
    attach_to(ebpf, name, name, btf)
}

/// Loads and attaches program `program` to the tracepoint or (fentry) kernel function `target`.
pub(crate) fn attach_to(
    ebpf: &mut Ebpf,
    program: &str,
    target: &str,
    btf: &aya::Btf,
) -> Result<(), String> {
    let prog = ebpf.program_mut(program).ok_or("not in the eBPF object")?;
    if let Ok(prog) = <&mut FEntry>::try_from(&mut *prog) {
        prog.load(target, btf).map_err(|e| format!("load: {e:#}"))?;
        prog.attach().map_err(|e| format!("attach: {e:#}"))?;
        return Ok(());
    }
    let prog: &mut BtfTracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
    prog.load(target, btf).map_err(|e| format!("load: {e:#}"))?;
    prog.attach().map_err(|e| format!("attach: {e:#}"))?;
    Ok(())
}

/// Registers the ring buffer for readability only.
///
/// # Safety
/// As for `AsyncFd::register_with_interest`: the fd stays open and the same while registered.
unsafe fn register(events: RingBuf<MapData>) -> Result<AsyncFd<RingBuf<MapData>>, EbpfError> {
    // SAFETY: upheld by the caller.
    unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
        .map_err(|e| EbpfError::Poll(e.into()))
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, EbpfError> {
    ebpf.take_map(name).ok_or(EbpfError::MissingMap(name))
}

struct Reader {
    host: HostPaths,
    hierarchies: Hierarchies,
    errors: ErrorCounters,
    repeats: RepeatedVictims,
    tx: Sender<SourceEvent>,
}

impl Reader {
    async fn run(mut self, mut events: AsyncFd<RingBuf<MapData>>, _ebpf: Ebpf) {
        let mut batch = Vec::new();
        let mut poll = tokio::time::interval(COUNTERS_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let ready = tokio::select! {
                r = events.readable_mut() => Some(r),
                _ = poll.tick() => None,
            };
            let Some(ready) = ready else {
                self.check_errors(&mut batch);
                if !self.send(&mut batch).await {
                    return;
                }
                continue;
            };
            let mut guard = match ready {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!(error = %e, "eBPF ring buffer poll failed; stopping");
                    let _ = self
                        .tx
                        .send(SourceEvent::RescanNeeded {
                            reason: "ebpf reader stopped",
                        })
                        .await;
                    return;
                }
            };
            // Drain everything available per wake-up: one epoll wake-up serves a whole burst.
            let clock = BootClock::now();
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                match decode(&item, &self.hierarchies, &clock) {
                    Some(Decoded::Event(ev)) => batch.push(ev),
                    Some(Decoded::UnknownHierarchy(id)) => {
                        // A hierarchy mounted after start: re-read once, then decode again.
                        if let Ok(h) = Hierarchies::read(&self.host) {
                            self.hierarchies = h;
                        }
                        if !self.hierarchies.knows(id) {
                            tracing::debug!(
                                hierarchy_id = id,
                                "event from an unknown cgroup hierarchy"
                            );
                        }
                        if let Some(Decoded::Event(ev)) = decode(&item, &self.hierarchies, &clock) {
                            batch.push(ev);
                        }
                    }
                    None => tracing::debug!(len = item.len(), "undecodable eBPF record"),
                }
            }
            guard.clear_ready();
            drop(guard);
            // After the drain: a loss is then reported behind every record written before it.
            self.check_errors(&mut batch);
            if !self.send(&mut batch).await {
                return;
            }
        }
    }

    /// Counts what the programs could not do since the last look; a lost lifecycle record asks
    /// the registry to rescan (after the records of `batch`).
    fn check_errors(&mut self, batch: &mut Vec<SourceEvent>) {
        let moved = self.errors.poll();
        if moved.lifecycle_lost > 0 {
            batch.push(SourceEvent::RescanNeeded {
                reason: "eBPF lifecycle records lost (ring buffer full or kernel read failed)",
            });
        }
    }

    /// Sends `batch` (emptied); `false` when the registry is gone.
    async fn send(&mut self, batch: &mut Vec<SourceEvent>) -> bool {
        batch.retain(|ev| !self.repeats.is_repeat(ev));
        for ev in batch.drain(..) {
            if self.tx.send(ev).await.is_err() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running kernel's BTF, for tests that check offsets against it. Without one a
    /// developer's run prints why and skips; in CI (`BPFADVISOR_REQUIRE_EBPF` or `CI=true`, set by
    /// `.ci/run`) that fails.
    pub(crate) fn running_kernel_btf() -> Option<btf::Btf> {
        let path = crate::host::HostPaths::local()
            .sys
            .join("kernel/btf/vmlinux");
        if !path.exists() {
            let required = std::env::var_os("BPFADVISOR_REQUIRE_EBPF").is_some()
                || std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !required,
                "no kernel BTF at {} (required in CI)",
                path.display()
            );
            eprintln!("skipping test - no kernel BTF at {}", path.display());
            return None;
        }
        Some(btf::Btf::read(&path).expect("kernel BTF parses"))
    }

    /// With the eBPF toolchain present, `build.rs` sets `cfg(bpfadvisor_ebpf_prebuilt_stale)` when
    /// the committed object was not built from the current eBPF sources.
    #[test]
    fn prebuilt_object_is_committed_fresh() {
        if cfg!(bpfadvisor_ebpf_prebuilt_stale) {
            panic!(
                "agent-ebpf/prebuilt/ was not built from the current eBPF sources (hash {}): run \
             `BPFADVISOR_UPDATE_PREBUILT=1 cargo build -p agent` and commit agent-ebpf/prebuilt/",
                env!("BPFADVISOR_EBPF_SRC_HASH")
            );
        }
    }

    #[tokio::test]
    async fn start_without_an_embedded_object_is_a_typed_error() {
        if EMBEDDED {
            eprintln!("skipping test - this build embeds the eBPF object");
            return;
        }
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        assert!(matches!(
            start(&HostPaths::local(), tx).await,
            Err(EbpfError::NotEmbedded)
        ));
    }

    #[tokio::test]
    async fn start_without_kernel_btf_is_a_typed_error() {
        if !EMBEDDED {
            eprintln!("skipping test - this build has no eBPF object");
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let err = start(&HostPaths::under(root.path()), tx)
            .await
            .expect_err("no BTF there");
        assert!(
            matches!(err, EbpfError::Btf(BtfError::Read { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("kernel/btf/vmlinux"), "{err}");
    }
}
