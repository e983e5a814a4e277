//! `--storage_driver=kafka`: every sample as one JSON record produced to
//! `--storage_driver_kafka_topic` on the brokers of `--storage_driver_kafka_broker_list`, shaped as
//! cAdvisor's Kafka driver writes them:
//!
//! ```text
//! {"timestamp":"<RFC 3339, when the record was made>","machine_name":"<hostname>",
//!  "container_Name":"<first alias, else name>","container_Id":"<runtime id>",
//!  "container_labels":{...},"container_envs":{...},"container_stats":{<v1 ContainerStats>}}
//! ```
//!
//! Empty strings and maps are left out (Go's `omitempty`); records have no key. Producing waits
//! for every in-sync replica (`acks=all`, as cAdvisor's producer). The client is librdkafka, built
//! from its bundled source and linked into the binary.
//!
//! TLS: with `--storage_driver_kafka_ssl_ca` the connection is TLS, verified against that CA unless
//! `--storage_driver_kafka_ssl_verify=false`; `_ssl_cert` and `_ssl_key` add a client certificate.
//! cAdvisor turns TLS on only when all three files are given and, by a slip, skips verification
//! when `_ssl_verify` is true (its default); here the flag means what its help says.
//!
//! A batch's records are produced together; those the brokers acknowledged are not produced again
//! when the rest are retried.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use tracing::debug;

use super::KafkaOptions;
use super::driver::{BATCH_PERIOD, Batching, Driver, DriverError, Record};
use crate::model::json::Timestamp;
use crate::model::v1::ContainerStats;
use crate::query::ContainerEntry;

/// One record's value, field for field (and in the order of) cAdvisor's.
#[derive(Debug, Serialize)]
pub struct KafkaRecord<'a> {
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub machine_name: &'a str,
    #[serde(rename = "container_Name", skip_serializing_if = "str::is_empty")]
    pub container_name: &'a str,
    #[serde(rename = "container_Id", skip_serializing_if = "str::is_empty")]
    pub container_id: &'a str,
    #[serde(skip_serializing_if = "is_empty")]
    pub container_labels: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "is_empty")]
    pub container_envs: Option<&'a BTreeMap<String, String>>,
    pub container_stats: &'a ContainerStats,
}

fn is_empty(m: &Option<&BTreeMap<String, String>>) -> bool {
    m.is_none_or(|m| m.is_empty())
}

/// The JSON value of one sample's record; `entry` is the container's listing when known (its
/// alias, id, labels and environment), `now` when the record is made.
pub fn encode_record(
    machine_name: &str,
    name: &str,
    entry: Option<&ContainerEntry>,
    stats: &ContainerStats,
    now: Timestamp,
) -> Vec<u8> {
    let record = KafkaRecord {
        timestamp: now,
        machine_name,
        container_name: entry
            .and_then(|e| e.reference.aliases.first())
            .map_or(name, String::as_str),
        container_id: entry.map_or("", |e| e.reference.id.as_str()),
        container_labels: entry.map(|e| &e.spec.labels),
        container_envs: entry.map(|e| &e.spec.envs),
        container_stats: stats,
    };
    crate::model::json::to_go_json(&record)
}

/// librdkafka's client configuration for `opts` (empty file flags are unset).
pub fn client_config(opts: &KafkaOptions) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &opts.broker_list)
        .set("client.id", "bpfadvisor")
        .set("acks", "all")
        // Within the pipeline's send timeout, so a batch's fate is known before it is retried.
        .set("message.timeout.ms", "8000")
        .set("socket.connection.setup.timeout.ms", "5000")
        // The agent's own logs say when the backend fails and recovers; librdkafka's per-attempt
        // lines go to debug (see `Quiet`).
        .set_log_level(RDKafkaLogLevel::Warning);
    if !opts.ssl_ca.is_empty() {
        c.set("security.protocol", "ssl")
            .set("ssl.ca.location", &opts.ssl_ca)
            .set(
                "enable.ssl.certificate.verification",
                if opts.ssl_verify { "true" } else { "false" },
            );
        if !opts.ssl_verify {
            c.set("ssl.endpoint.identification.algorithm", "none");
        }
    }
    if !opts.ssl_cert.is_empty() && !opts.ssl_key.is_empty() {
        c.set("security.protocol", "ssl")
            .set("ssl.certificate.location", &opts.ssl_cert)
            .set("ssl.key.location", &opts.ssl_key);
    }
    c
}

/// librdkafka's logs and errors at debug level: a broker that is down makes it log every
/// reconnection attempt, and the pipeline already logs the outage once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        debug!(target: "librdkafka", ?level, fac, "{log_message}");
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        debug!(target: "librdkafka", %error, "{reason}");
    }
}

/// Why producing failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("{failed} of {total} records not acknowledged: {first}")]
    NotAcknowledged {
        failed: usize,
        total: usize,
        first: rdkafka::error::KafkaError,
    },
}

/// A producer of records to one topic.
pub struct Producer {
    producer: FutureProducer<Quiet>,
    topic: String,
}

impl Producer {
    /// Creates the client (it connects in the background, on first use).
    pub fn new(opts: &KafkaOptions) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: client_config(opts).create_with_context(Quiet)?,
            topic: opts.topic.clone(),
        })
    }

    /// Produces every record of `pending` and waits for their acknowledgements; the acknowledged
    /// ones are taken out, so on an error only the rest remain for the retry.
    pub async fn produce(&self, pending: &Mutex<Vec<Vec<u8>>>) -> Result<(), KafkaError> {
        let records = std::mem::take(&mut *lock(pending));
        let total = records.len();
        let deliveries: Vec<_> = records
            .iter()
            .map(|value| {
                self.producer.send(
                    FutureRecord::<(), [u8]>::to(&self.topic).payload(value.as_slice()),
                    Duration::from_secs(2),
                )
            })
            .collect();
        let results = futures::future::join_all(deliveries).await;
        let mut left = Vec::new();
        let mut first = None;
        for (value, result) in records.into_iter().zip(results) {
            if let Err((e, _)) = result {
                first.get_or_insert(e);
                left.push(value);
            }
        }
        let failed = left.len();
        *lock(pending) = left;
        match first {
            None => Ok(()),
            Some(first) => Err(KafkaError::NotAcknowledged {
                failed,
                total,
                first,
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `kafka` driver: a record per sample, a batch produced together about once a second.
pub struct KafkaDriver {
    producer: Producer,
    machine_name: String,
}

impl KafkaDriver {
    pub fn new(opts: &KafkaOptions, machine_name: &str) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: Producer::new(opts)?,
            machine_name: machine_name.to_string(),
        })
    }
}

impl Driver for KafkaDriver {
    /// The records not acknowledged yet.
    type Payload = Mutex<Vec<Vec<u8>>>;

    fn name(&self) -> &'static str {
        "kafka"
    }

    /// cAdvisor hands each sample to its asynchronous producer at once; a second's batch keeps
    /// a thousand containers from waiting on a thousand acknowledgements one by one.
    fn batching(&self) -> Batching {
        Batching::Buffered(BATCH_PERIOD)
    }

    fn encode(&mut self, batch: &[Record]) -> Self::Payload {
        let now = Timestamp::now();
        Mutex::new(
            batch
                .iter()
                .map(|r| {
                    encode_record(
                        &self.machine_name,
                        &r.name,
                        r.container.as_deref(),
                        &r.stats,
                        now,
                    )
                })
                .collect(),
        )
    }

    async fn send(&mut self, payload: &Self::Payload) -> Result<(), DriverError> {
        self.producer
            .produce(payload)
            .await
            .map_err(|e| DriverError::Unreachable {
                backend: format!("kafka topic {}", self.producer.topic),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::v1::{ContainerReference, ContainerSpec};
    use crate::query::Samples;

    pub(crate) fn entry() -> ContainerEntry {
        let spec = ContainerSpec {
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            ..Default::default()
        };
        ContainerEntry {
            reference: ContainerReference {
                id: "abc123".into(),
                name: "/docker/abc123".into(),
                aliases: vec!["web-1".into(), "abc123".into()],
                namespace: "docker".into(),
            },
            samples: Arc::new(Samples::fixed(Duration::from_secs(60), &spec, [], 0)),
            spec,
        }
    }

    #[test]
    fn records_have_cadvisors_fields_in_its_order() {
        let stats = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            ..Default::default()
        };
        let now = Timestamp::from_unix_nanos(1_700_000_000_500_000_000);
        let v: serde_json::Value = serde_json::from_slice(&encode_record(
            "node-1",
            "/docker/abc123",
            Some(&entry()),
            &stats,
            now,
        ))
        .expect("json");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json's map sorts keys; the order on the wire is checked below.
        assert_eq!(keys.len(), 6, "{v}");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.5Z");
        assert_eq!(v["machine_name"], "node-1");
        assert_eq!(v["container_Name"], "web-1");
        assert_eq!(v["container_Id"], "abc123");
        assert_eq!(v["container_labels"]["app"], "web");
        assert_eq!(v["container_stats"]["timestamp"], "2023-11-14T22:13:20Z");
        let text =
            String::from_utf8(encode_record("n", "/x", Some(&entry()), &stats, now)).expect("utf8");
        let at = |k: &str| text.find(&format!("\"{k}\"")).expect(k);
        assert!(at("timestamp") < at("machine_name"));
        assert!(at("machine_name") < at("container_Name"));
        assert!(at("container_Name") < at("container_Id"));
        assert!(at("container_Id") < at("container_labels"));
        assert!(at("container_labels") < at("container_stats"));
    }

    #[test]
    fn a_container_not_listed_yet_has_its_name_and_no_empty_fields() {
        let stats = ContainerStats::default();
        let text = String::from_utf8(encode_record(
            "",
            "/system.slice/x.service",
            None,
            &stats,
            Timestamp::from_unix_nanos(0),
        ))
        .expect("utf8");
        assert!(
            text.starts_with(
                "{\"timestamp\":\"1970-01-01T00:00:00Z\",\"container_Name\":\"/system.slice/x.service\",\"container_stats\":{"
            ),
            "{text}"
        );
    }

    #[test]
    fn tls_settings_follow_the_flags() {
        let get = |c: &ClientConfig, k: &str| c.get(k).map(str::to_string);
        let defaults = || super::super::StorageOptions::default().kafka;
        let plain = client_config(&defaults());
        assert_eq!(
            get(&plain, "bootstrap.servers").as_deref(),
            Some("localhost:9092")
        );
        assert_eq!(get(&plain, "acks").as_deref(), Some("all"));
        assert_eq!(get(&plain, "security.protocol"), None);
        let tls = client_config(&KafkaOptions {
            ssl_ca: "/ca.pem".into(),
            ssl_cert: "/c.pem".into(),
            ssl_key: "/k.pem".into(),
            ssl_verify: false,
            ..defaults()
        });
        assert_eq!(get(&tls, "security.protocol").as_deref(), Some("ssl"));
        assert_eq!(get(&tls, "ssl.ca.location").as_deref(), Some("/ca.pem"));
        assert_eq!(
            get(&tls, "ssl.certificate.location").as_deref(),
            Some("/c.pem")
        );
        assert_eq!(
            get(&tls, "enable.ssl.certificate.verification").as_deref(),
            Some("false")
        );
    }

    /// Through librdkafka's own mock cluster (no broker installed): records produced by the
    /// driver's producer are consumed back unchanged; a refused produce leaves its records for
    /// the retry, and the retry delivers them once.
    #[tokio::test]
    async fn records_reach_the_topic_and_failed_ones_are_retried() {
        use rdkafka::mocking::MockCluster;
        use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic("stats", 1, 1).expect("topic");
        let opts = KafkaOptions {
            broker_list: mock.bootstrap_servers(),
            ..super::super::StorageOptions::default().kafka
        };
        let producer = Producer::new(&opts).expect("producer");
        let stats = ContainerStats::default();
        let records: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                encode_record(
                    "node-1",
                    &format!("/c{i}"),
                    None,
                    &stats,
                    Timestamp::from_unix_nanos(i),
                )
            })
            .collect();

        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS],
        );
        let pending = Mutex::new(records.clone());
        let err = producer.produce(&pending).await.expect_err("refused");
        assert!(matches!(err, KafkaError::NotAcknowledged { .. }), "{err}");
        let left = lock(&pending).len();
        assert!((1..=3).contains(&left), "{left}");

        mock.clear_request_errors(RDKafkaApiKey::Produce);
        producer.produce(&pending).await.expect("delivered");
        assert!(lock(&pending).is_empty());

        // Every record arrived, once.
        let mut got = consume(&mock.bootstrap_servers(), "stats", 3).await;
        let mut want = records.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }

    /// The values of the first `n` records of `topic` (and of any more that come within a short
    /// wait, so a duplicate shows); records must have no key.
    async fn consume(brokers: &str, topic: &str, n: usize) -> Vec<Vec<u8>> {
        use rdkafka::Message;
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", "test")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while got.len() < n && std::time::Instant::now() < deadline {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                    assert!(m.key().is_none());
                    got.push(m.payload().map(<[u8]>::to_vec).unwrap_or_default());
                }
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
                got.push(m.payload().map(<[u8]>::to_vec).unwrap_or_default());
            }
            got
        })
        .await
        .expect("consumer thread")
    }

    /// The driver on its pipeline, fed like the agent feeds it: one record per sample, named by
    /// the container's listing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_driver_produces_a_record_per_sample_of_the_feed() {
        use crate::feed::{Feed, Update};
        use crate::query::Snapshot;
        use crate::storage::pipeline::{self, PipelineOptions, SnapshotFn};
        use rdkafka::mocking::MockCluster;

        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic("cadvisor-stats", 1, 1).expect("topic");
        let opts = KafkaOptions {
            broker_list: mock.bootstrap_servers(),
            topic: "cadvisor-stats".into(),
            ..super::super::StorageOptions::default().kafka
        };
        let driver = KafkaDriver::new(&opts, "node-1").expect("driver");
        let mut snap = Snapshot::default();
        snap.containers
            .insert(Arc::from("/docker/abc123"), Arc::new(entry()));
        let snap = Arc::new(snap);
        let snapshot: SnapshotFn = Arc::new(move || snap.clone());
        let feed = Feed::new(64);
        let p = pipeline::spawn(
            driver,
            feed.subscribe("kafka"),
            snapshot,
            PipelineOptions::default(),
        )
        .expect("pipeline");
        for i in 1..=3 {
            let mut stats = ContainerStats {
                timestamp: Timestamp::from_unix_nanos(i * 1_000_000_000),
                ..Default::default()
            };
            stats.cpu.usage.total = i as u64;
            feed.publish(Update::Sample {
                container: Arc::from("/docker/abc123"),
                stats: Arc::new(stats),
            });
        }
        let got = consume(&mock.bootstrap_servers(), "cadvisor-stats", 3).await;
        assert_eq!(got.len(), 3);
        for (i, value) in got.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_slice(value).expect("json");
            assert_eq!(v["machine_name"], "node-1");
            assert_eq!(v["container_Name"], "web-1");
            assert_eq!(v["container_Id"], "abc123");
            assert_eq!(v["container_labels"]["app"], "web");
            assert_eq!(v["container_stats"]["cpu"]["usage"]["total"], i + 1);
        }
        p.shutdown(std::time::Instant::now() + Duration::from_secs(5))
            .await;
    }
}
