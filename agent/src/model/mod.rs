//! The JSON contract: serde types shaped exactly like cAdvisor's `info/v1` and `info/v2`. No I/O.
//!
//! - [`json`] — [`to_go_json`] (Go's escaping and float spelling — use it for every response body)
//!   and [`Timestamp`] (Go's `time.Time` on the wire).
//! - [`v1`] — containers, specs, stats samples, events. [`sparse::Sparse`] keeps rarely filled parts
//!   of a cached sample at one pointer.
//! - [`v2`] — v2 API types and cAdvisor's v1 → v2 conversions, quirks included.
//! - [`summary`] — the per-container minute/hour/day usage behind `/api/v2.x/summary`.
//! - [`machine`] — `MachineInfo`, `VersionInfo`, v2 `Attributes`.

pub mod compact;
pub mod json;
pub mod machine;
pub mod signals;
pub mod sparse;
pub mod summary;
pub mod v1;
pub mod v2;

pub use json::{Timestamp, to_go_json};
pub use sparse::Sparse;

/// A container name as Go's `path.Join("/", p)` makes it: absolute and cleaned (`//`, `.` dropped,
/// `..` cannot climb above `/`). Request paths and kernel log lines name containers this way.
pub fn clean_container_name(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}
