//! cAdvisor's storage drivers (`--storage_driver`, several at once, comma-separated): consumers of
//! the feed of new samples, each with its own subscription, queue and thread, so a driver that
//! falls behind (a slow pipe, a database down) loses samples, counted, and never holds up
//! collection.
//!
//! A driver implements [`driver::Driver`] (encode a batch into its protocol, send it); the
//! [`pipeline`] does the rest the same for all: bounded queue, batching per
//! `--storage_driver_buffer_duration`, retries with backoff, one log line per change of state,
//! the `bpfadvisor_storage_*{driver}` metrics and the flush at shutdown.
//!
//! Implemented: `elasticsearch` ([`elasticsearch`]), `influxdb` ([`influxdb`]), `kafka`
//! ([`kafka`]), `redis` ([`redis`]), `statsd` ([`statsd`]), `stdout` ([`stdout`]), and
//! bpfadvisor's own `remote_write` ([`remote_write`]).

pub mod driver;
pub mod elasticsearch;
pub mod http;
pub mod influxdb;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod pipeline;
pub mod redis;
pub mod remote_write;
pub mod statsd;
pub mod stdout;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::query::Query;
use pipeline::{Pipeline, PipelineOptions, SnapshotFn};

/// The `--storage_driver_*` settings, defaulted as cAdvisor's flags.
#[derive(Clone)]
pub struct StorageOptions {
    /// `--storage_driver_host`: the backend's `host:port`.
    pub host: String,
    /// `--storage_driver_user`.
    pub user: String,
    /// `--storage_driver_password`.
    pub password: String,
    /// `--storage_driver_db`: InfluxDB's database, Redis' list, StatsD's namespace.
    pub db: String,
    /// `--storage_driver_table`.
    pub table: String,
    /// `--storage_driver_secure`: TLS to the backend.
    pub secure: bool,
    /// `--storage_driver_buffer_duration`: how long the buffering drivers gather samples per write.
    pub buffer_duration: Duration,
    /// `--storage_driver_influxdb_retention_policy` ("" is the database's default).
    pub influxdb_retention_policy: String,
    pub kafka: KafkaOptions,
    pub elasticsearch: ElasticsearchOptions,
    /// `--storage_driver_remote_write_*` (bpfadvisor's own driver).
    pub remote_write: remote_write::RemoteWriteOptions,
    /// The `machine` / `machine_name` of the records: this host's name, as cAdvisor's
    /// `os.Hostname()`.
    pub machine_name: String,
    /// Queue, batch and retry settings of every driver's pipeline.
    pub pipeline: PipelineOptions,
}

/// `--storage_driver_kafka_*`.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub broker_list: String,
    pub topic: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    pub ssl_ca: String,
    pub ssl_verify: bool,
}

/// `--storage_driver_es_*`.
#[derive(Debug, Clone)]
pub struct ElasticsearchOptions {
    pub host: String,
    pub index: String,
    pub type_name: String,
    pub enable_sniffer: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            host: crate::cli::DEFAULT_STORAGE_DRIVER_HOST.into(),
            user: "root".into(),
            password: "root".into(),
            db: "cadvisor".into(),
            table: "stats".into(),
            secure: false,
            buffer_duration: Duration::from_secs(60),
            influxdb_retention_policy: String::new(),
            kafka: KafkaOptions {
                broker_list: "localhost:9092".into(),
                topic: "stats".into(),
                ssl_cert: String::new(),
                ssl_key: String::new(),
                ssl_ca: String::new(),
                ssl_verify: true,
            },
            elasticsearch: ElasticsearchOptions {
                host: "http://localhost:9200".into(),
                index: "cadvisor".into(),
                type_name: "stats".into(),
                enable_sniffer: false,
            },
            remote_write: remote_write::RemoteWriteOptions::default(),
            machine_name: hostname(),
            pipeline: PipelineOptions::default(),
        }
    }
}

// The password stays out of logs and panics.
impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageOptions")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("db", &self.db)
            .field("table", &self.table)
            .field("secure", &self.secure)
            .field("buffer_duration", &self.buffer_duration)
            .field("influxdb_retention_policy", &self.influxdb_retention_policy)
            .field("kafka", &self.kafka)
            .field("elasticsearch", &self.elasticsearch)
            .field("remote_write", &self.remote_write)
            .field("machine_name", &self.machine_name)
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

impl StorageOptions {
    /// `name=value` of each flag not at cAdvisor's default (passwords redacted), in flag order.
    pub fn changed_flags(&self) -> Vec<String> {
        let d = Self::default();
        let (k, dk) = (&self.kafka, &d.kafka);
        let (e, de) = (&self.elasticsearch, &d.elasticsearch);
        let text = |name: &str, v: &str, dv: &str| (v != dv).then(|| format!("{name}={v}"));
        let flag = |name: &str, v: bool, dv: bool| (v != dv).then(|| format!("{name}={v}"));
        [
            text("storage_driver_host", &self.host, &d.host),
            text("storage_driver_user", &self.user, &d.user),
            (self.password != d.password).then(|| "storage_driver_password=<redacted>".into()),
            text("storage_driver_db", &self.db, &d.db),
            text("storage_driver_table", &self.table, &d.table),
            flag("storage_driver_secure", self.secure, d.secure),
            (self.buffer_duration != d.buffer_duration)
                .then(|| format!("storage_driver_buffer_duration={:?}", self.buffer_duration)),
            text(
                "storage_driver_influxdb_retention_policy",
                &self.influxdb_retention_policy,
                &d.influxdb_retention_policy,
            ),
            text(
                "storage_driver_kafka_broker_list",
                &k.broker_list,
                &dk.broker_list,
            ),
            text("storage_driver_kafka_topic", &k.topic, &dk.topic),
            text("storage_driver_kafka_ssl_cert", &k.ssl_cert, &dk.ssl_cert),
            text("storage_driver_kafka_ssl_key", &k.ssl_key, &dk.ssl_key),
            text("storage_driver_kafka_ssl_ca", &k.ssl_ca, &dk.ssl_ca),
            flag(
                "storage_driver_kafka_ssl_verify",
                k.ssl_verify,
                dk.ssl_verify,
            ),
            text("storage_driver_es_host", &e.host, &de.host),
            text("storage_driver_es_index", &e.index, &de.index),
            text("storage_driver_es_type", &e.type_name, &de.type_name),
            flag(
                "storage_driver_es_enable_sniffer",
                e.enable_sniffer,
                de.enable_sniffer,
            ),
        ]
        .into_iter()
        .flatten()
        .chain(self.remote_write.changed_flags())
        .collect()
    }
}

/// This host's name (the UTS namespace's, as Go's `os.Hostname`); empty when unknown.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most `buf.len()` bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// How long shutdown waits for the drivers to send what they hold.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// The running drivers.
#[derive(Default)]
pub struct Storage {
    pipelines: Vec<Pipeline>,
}

impl Storage {
    /// Stops every driver, each sending what it holds, all by `deadline`.
    pub async fn shutdown(self, deadline: Instant) {
        futures::future::join_all(self.pipelines.into_iter().map(|p| p.shutdown(deadline))).await;
    }

    /// The drivers running on the pipeline.
    pub fn names(&self) -> Vec<&'static str> {
        self.pipelines.iter().map(Pipeline::name).collect()
    }
}

/// Why a driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage driver {driver}: {reason}")]
    Config {
        driver: &'static str,
        reason: String,
    },
    #[error("unknown storage driver {0}")]
    Unknown(String),
    #[error("storage driver thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Starts every driver in `drivers` (names `--storage_driver` accepted), subscribed to `query`'s
/// feed from now on.
pub fn start(
    drivers: &[String],
    query: &Arc<dyn Query>,
    options: &StorageOptions,
) -> Result<Storage, StartError> {
    let mut storage = Storage::default();
    let snapshot: SnapshotFn = {
        let query = query.clone();
        Arc::new(move || query.snapshot())
    };
    for name in drivers {
        storage
            .pipelines
            .push(start_one(name, query, &snapshot, options)?);
    }
    Ok(storage)
}

/// Starts the driver called `name` on its pipeline.
fn start_one(
    name: &str,
    query: &Arc<dyn Query>,
    snapshot: &SnapshotFn,
    options: &StorageOptions,
) -> Result<Pipeline, StartError> {
    Ok(match name {
        stdout::NAME => spawn(
            stdout::Stdout::new(options.host.clone()),
            query,
            snapshot,
            options,
        )?,
        influxdb::NAME => spawn(influxdb::InfluxDb::new(options), query, snapshot, options)?,
        redis::NAME => spawn(redis::Redis::new(options), query, snapshot, options)?,
        statsd::NAME => spawn(statsd::Statsd::new(options), query, snapshot, options)?,
        #[cfg(not(feature = "kafka"))]
        "kafka" => {
            return Err(StartError::Config {
                driver: "kafka",
                reason: "this build has no Kafka support (the agent's `kafka` feature is off)"
                    .to_string(),
            });
        }
        #[cfg(feature = "kafka")]
        "kafka" => {
            let d =
                kafka::KafkaDriver::new(&options.kafka, &options.machine_name).map_err(|e| {
                    StartError::Config {
                        driver: "kafka",
                        reason: e.to_string(),
                    }
                })?;
            spawn(d, query, snapshot, options)?
        }
        "elasticsearch" => {
            let d = elasticsearch::EsDriver::new(&options.elasticsearch, &options.machine_name)
                .map_err(|e| StartError::Config {
                    driver: "elasticsearch",
                    reason: e.to_string(),
                })?;
            spawn(d, query, snapshot, options)?
        }
        "remote_write" => {
            let d = remote_write::RemoteWriteDriver::new(
                options.remote_write.clone(),
                &options.machine_name,
            )
            .map_err(|reason| StartError::Config {
                driver: "remote_write",
                reason,
            })?;
            spawn(d, query, snapshot, options)?
        }
        other => return Err(StartError::Unknown(other.to_string())),
    })
}

/// Starts `driver` on its pipeline, subscribed to `query`'s feed.
pub fn spawn<D: driver::Driver>(
    driver: D,
    query: &Arc<dyn Query>,
    snapshot: &SnapshotFn,
    options: &StorageOptions,
) -> Result<Pipeline, StartError> {
    let updates = query.subscribe(driver.name());
    Ok(pipeline::spawn(
        driver,
        updates,
        snapshot.clone(),
        options.pipeline.clone(),
    )?)
}
