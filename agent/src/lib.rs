//! bpfadvisor: an eBPF-augmented, drop-in replacement for cAdvisor.
//!
//! Data flows one way:
//! kernel/runtime sources (`events`, `runtime`) → `registry` (the one owner of the container set and
//! stats cache) → `query::Snapshot` → consumers (`api`, `metrics`, later `ui` and `storage`).
//! Readers (`cgroup`, `machine`, `fs`, `procfs`) are synchronous functions of a root path (`host`).

pub mod app;
pub mod cli;
pub mod config;
pub mod host;
