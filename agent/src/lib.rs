//! bpfadvisor: an eBPF-augmented, drop-in replacement for cAdvisor.
//!
//! Data flows one way:
//! kernel/runtime sources (`events`, `runtime`) → `registry` (the one owner of the container set and
//! stats cache) → `query` (snapshots, events, host facts, and the `feed` of new samples and events)
//! → consumers (`api`, `metrics`, `kube`, `ui`, `storage`), which read nothing else (`layering`).
//! Readers (`cgroup`, `machine`, `fs`) are synchronous functions of a root path (`host`).
//!
//! The binary serves everything over HTTP ([`app::run`]); a program of its own can run the
//! collector in-process instead and ask it directly ([`embed`]), as kubelet does with cAdvisor.

pub mod access;
pub mod api;
pub mod app;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod embed;
pub mod events;
pub mod feed;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod host_reads;
pub mod kube;
#[cfg(test)]
mod layering;
pub mod machine;
pub mod metrics;
pub mod model;
pub mod priority;
pub mod privileges;
pub mod query;
pub mod registry;
pub mod runtime;
pub mod storage;
pub mod telemetry;
pub mod ui;
