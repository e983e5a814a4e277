//! cgroup v1/v2/hybrid layout detection and per-container readers of stats and spec.
//!
//! `layout` finds the hierarchies and lists containers; `reader::ContainerReader` keeps one
//! container's files open and turns them into the model's `ContainerSpec`/`ContainerStats` through one
//! module per controller (`cpu`, `memory`, `blkio`, `pids`, ...), each with a `v1` and a `v2` reader
//! over the pure parsers in `parse`.

pub mod advtcp;
pub mod blkio;
pub mod counters;
pub mod cpu;
pub mod error;
pub mod files;
pub mod hugetlb;
pub mod layout;
pub mod memory;
pub mod parse;
pub mod pids;
pub mod procs;
pub mod psi;
pub mod reader;
pub mod referenced;
pub mod taskstats;

pub use error::CgroupError;
pub use layout::{CgroupMode, Layout};
pub use reader::{ContainerReader, LateSpec};
