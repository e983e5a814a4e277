//! cAdvisor's storage drivers (`--storage_driver`): consumers of the feed of new samples and
//! events, each on its own thread with its own subscription, so a driver that falls behind (a slow
//! pipe, a slow database) loses samples, counted, and never holds up collection.
//!
//! Implemented: `stdout` ([`stdout`]).

pub mod elasticsearch;
pub mod http;
pub mod kafka;
pub mod remote_write;
pub mod stdout;

use std::sync::Arc;

use tracing::warn;

use crate::query::Query;

/// What the drivers are configured with.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// `--storage_driver_host`: the database `host:port`; the stdout driver writes it on each line.
    pub host: String,
}

/// Starts every driver in `drivers` (names `--storage_driver` accepted).
pub fn start(
    drivers: &[String],
    query: &Arc<dyn Query>,
    options: &StorageOptions,
) -> std::io::Result<()> {
    for name in drivers {
        match name.as_str() {
            "stdout" => stdout::start(query.clone(), options.host.clone())?,
            other => warn!(driver = other, "storage driver not implemented; ignored"),
        }
    }
    Ok(())
}
