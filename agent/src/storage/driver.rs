//! What a storage driver implements: turn a batch of samples into its backend's protocol, and send
//! it. Everything else (the feed subscription, the bounded queue, batching per
//! `--storage_driver_buffer_duration`, retries with backoff, state logging, metrics and the flush
//! at shutdown) is [`super::pipeline`]'s, the same for every driver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::model::v1::ContainerStats;
use crate::query::ContainerEntry;

/// One sample, with what the drivers name it by.
#[derive(Debug, Clone)]
pub struct Record {
    /// The container's name (`/`, `/docker/<id>`, ...).
    pub name: Arc<str>,
    /// Its listing (aliases, spec labels), when the registry had it by the time the sample was
    /// handed over (a new container's first samples may come before its runtime described it).
    pub container: Option<Arc<ContainerEntry>>,
    pub stats: Arc<ContainerStats>,
}

impl Record {
    /// cAdvisor's container name in every driver's record: the first alias (a Docker container's
    /// name), else the container's name.
    pub fn alias_or_name(&self) -> &str {
        self.container
            .as_ref()
            .and_then(|c| c.reference.aliases.first())
            .map_or(&self.name, String::as_str)
    }

    /// The container's spec labels (none while it is not listed).
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.container
            .iter()
            .flat_map(|c| c.spec.labels.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// When a driver's samples go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Each sample as soon as it comes (cAdvisor's stdout, statsd and kafka drivers).
    Immediate,
    /// Everything gathered over `--storage_driver_buffer_duration`, in one write (cAdvisor's
    /// influxdb, redis, elasticsearch and bigquery drivers).
    Buffered(Duration),
}

/// How long the kafka and elasticsearch drivers gather samples into one write.
pub const BATCH_PERIOD: Duration = Duration::from_secs(1);

/// Why a send failed: the batch is kept and retried, unless it was [`DriverError::Rejected`].
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The backend could not be reached or the connection broke.
    #[error("cannot reach {backend}: {reason}")]
    Unreachable { backend: String, reason: String },
    /// The backend answered, refusing the write.
    #[error("{backend} refused the write: {reason}")]
    Refused { backend: String, reason: String },
    /// The backend will never take this payload (it cannot parse it, it is too large): the
    /// batch is dropped, counted, instead of being retried.
    #[error("{backend} rejected the data: {reason}")]
    Rejected { backend: String, reason: String },
}

impl DriverError {
    /// Whether sending the same payload again may succeed.
    pub fn retryable(&self) -> bool {
        !matches!(self, Self::Rejected { .. })
    }
}

/// A storage driver: the encoding of its backend's protocol and its client. It lives on a thread
/// of its own (with a single-threaded Tokio runtime, so `send` may await an async client or block
/// on a blocking one without holding up anything but this driver).
pub trait Driver: Send + 'static {
    /// A batch encoded for the backend (kept as it is for retries).
    type Payload: Send;

    /// `--storage_driver` name; also the `driver` label of `bpfadvisor_storage_*`.
    fn name(&self) -> &'static str;

    /// When samples go out (see [`Batching`]).
    fn batching(&self) -> Batching;

    /// Encodes `batch` (in the order the samples were taken) into one payload.
    fn encode(&mut self, batch: &[Record]) -> Self::Payload;

    /// Writes `payload` to the backend, (re)connecting as needed. On an error the same payload is
    /// retried later. A blocking client must bound its own waits (connect and I/O timeouts).
    fn send(&mut self, payload: &Self::Payload) -> impl Future<Output = Result<(), DriverError>>;
}
