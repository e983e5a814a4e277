//! `--storage_driver=redis`: cAdvisor's Redis record, one JSON object per sample pushed with
//! `LPUSH` onto the list named by `--storage_driver_db` on `--storage_driver_host`:
//!
//! ```json
//! {"timestamp":<µs since the epoch>,"machine_name":"<host name>","container_Name":"<first alias, else name>","container_stats":{<the sample, as the REST API's v1 stats>}}
//! ```
//!
//! (`machine_name` and `container_Name` are left out when empty, as Go's `omitempty` does.) The
//! newest record is at the head of the list, as with cAdvisor's one `LPUSH` per record.
//!
//! The samples gathered over `--storage_driver_buffer_duration` go in one `LPUSH` (cAdvisor keeps
//! only the sample that happens to come when the period ends and discards the others).

use std::time::Duration;

use serde::Serialize;

use super::StorageOptions;
use super::driver::{Batching, Driver, DriverError, Record};
use crate::model::json::to_go_json;
use crate::model::v1::ContainerStats;

/// The driver's name.
pub const NAME: &str = "redis";

/// How long connecting, or a command, may take.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Redis {
    host: String,
    key: String,
    machine: String,
    buffer: Duration,
    conn: Option<redis::Connection>,
}

/// cAdvisor's record, fields in its order.
#[derive(Serialize)]
struct Detail<'a> {
    timestamp: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    machine_name: &'a str,
    #[serde(rename = "container_Name", skip_serializing_if = "str::is_empty")]
    container_name: &'a str,
    container_stats: &'a ContainerStats,
}

impl Redis {
    pub fn new(options: &StorageOptions) -> Self {
        Self {
            host: options.host.clone(),
            key: options.db.clone(),
            machine: options.machine_name.clone(),
            buffer: options.buffer_duration,
            conn: None,
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> DriverError {
        DriverError::Unreachable {
            backend: format!("Redis at {}", self.host),
            reason: e.to_string(),
        }
    }

    fn connect(&self) -> Result<redis::Connection, DriverError> {
        let client = redis::Client::open(format!("redis://{}/", self.host))
            .map_err(|e| self.unreachable(e))?;
        let conn = client
            .get_connection_with_timeout(TIMEOUT)
            .map_err(|e| self.unreachable(e))?;
        conn.set_read_timeout(Some(TIMEOUT))
            .and_then(|()| conn.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| self.unreachable(e))?;
        Ok(conn)
    }
}

/// One record's JSON.
pub fn encode_record(machine: &str, r: &Record) -> Vec<u8> {
    to_go_json(&Detail {
        timestamp: r.stats.timestamp.as_unix_nanos() / 1000,
        machine_name: machine,
        container_name: r.alias_or_name(),
        container_stats: &r.stats,
    })
}

impl Driver for Redis {
    type Payload = Vec<Vec<u8>>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn batching(&self) -> Batching {
        Batching::Buffered(self.buffer)
    }

    fn encode(&mut self, batch: &[Record]) -> Vec<Vec<u8>> {
        batch
            .iter()
            .map(|r| encode_record(&self.machine, r))
            .collect()
    }

    async fn send(&mut self, payload: &Vec<Vec<u8>>) -> Result<(), DriverError> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let result: redis::RedisResult<i64> = redis::cmd("LPUSH")
            .arg(&self.key)
            .arg(payload.as_slice())
            .query(&mut conn);
        match result {
            Ok(_) => {
                self.conn = Some(conn);
                Ok(())
            }
            // A broken connection is dropped; the next attempt connects again.
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                Err(self.unreachable(e))
            }
            Err(e) => {
                self.conn = Some(conn);
                Err(DriverError::Refused {
                    backend: format!("Redis at {}", self.host),
                    reason: e.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::json::Timestamp;

    #[test]
    fn cadvisors_record_with_the_rest_apis_stats() {
        let mut stats = ContainerStats {
            timestamp: Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
            ..Default::default()
        };
        stats.memory.usage = 4096;
        let r = Record {
            name: Arc::from("/system.slice/<x>"),
            container: None,
            stats: Arc::new(stats),
        };
        let json = String::from_utf8(encode_record("node-1", &r)).expect("utf8");
        let prefix = r#"{"timestamp":1700000000123456,"machine_name":"node-1","container_Name":"/system.slice/\u003cx\u003e","container_stats":{"timestamp":"2023-11-14T22:13:20.123456789Z","#;
        assert!(json.starts_with(prefix), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["container_stats"]["memory"]["usage"], 4096);
        let unnamed = String::from_utf8(encode_record("", &r)).expect("utf8");
        assert!(unnamed.starts_with(r#"{"timestamp":1700000000123456,"container_Name":"#));
    }
}
