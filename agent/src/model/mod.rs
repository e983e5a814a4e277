//! The JSON contract: serde types shaped exactly like cAdvisor's `info/v1` and `info/v2`. No I/O.
pub mod machine;
