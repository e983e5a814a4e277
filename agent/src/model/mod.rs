//! The JSON contract: serde types shaped exactly like cAdvisor's `info/v1` and `info/v2`. No I/O.
//!
//! Serialise everything served to clients with [`json::to_go_json`] (Go's escaping and floats).

pub mod json;
pub mod machine;
pub mod sparse;
pub mod summary;
pub mod v1;
pub mod v2;

pub use json::{Timestamp, to_go_json};
pub use sparse::Sparse;
