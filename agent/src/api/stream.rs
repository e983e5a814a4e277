//! Answers that list many containers' samples, encoded one container at a time on a blocking thread
//! and streamed in chunks.
//!
//! `/api/v2.0/stats?recursive=true` with cAdvisor's default of 64 samples is ~130 KB per container:
//! hundreds of MB at thousands of containers. Built whole, the document (and the converted samples
//! behind it) sat in memory at once and its encoding held an async worker for seconds. Streamed,
//! memory holds one container's answer plus a few chunks, a slow client holds back only its own
//! encoder (the channel is bounded), and a client that leaves stops the work.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio_stream::StreamExt as _;

use crate::model::json::write_go_json;

/// Bytes gathered before a chunk is handed to the connection.
const CHUNK: usize = 64 * 1024;

/// Chunks waiting for the connection, at most (a slow client holds this much, not the document).
const IN_FLIGHT: usize = 4;

/// The document's outer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `{"key":value,...}`: each entry writes [`put_key`] then [`put_value`].
    Object,
    /// `[value,...]`: each entry writes [`put_value`].
    Array,
}

/// A `200 application/json` answer whose entries `write` encodes one item at a time, in `items`'
/// order, off the async workers. The bytes are those `json()` would give for the same collection.
pub(crate) fn json_stream<T, F>(items: Vec<T>, shape: Shape, write: F) -> Response
where
    T: Send + 'static,
    F: Fn(&T, &mut Vec<u8>) + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(IN_FLIGHT);
    let (open, close) = match shape {
        Shape::Object => (b'{', b'}'),
        Shape::Array => (b'[', b']'),
    };
    tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 4);
        buf.push(open);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            write(item, &mut buf);
            if buf.len() >= CHUNK {
                let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + CHUNK / 4));
                if tx.blocking_send(full).is_err() {
                    return; // the client left
                }
            }
        }
        buf.push(close);
        let _ = tx.blocking_send(buf);
    });
    let body = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::from(c)));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from_stream(body),
    )
        .into_response()
}

/// Writes an object entry's key and the colon.
pub(crate) fn put_key(buf: &mut Vec<u8>, key: &str) {
    put_value(buf, key);
    buf.push(b':');
}

/// Writes a value as Go's `json.Marshal` would.
pub(crate) fn put_value<V: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &V) {
    // Writing into a Vec cannot fail and our types have no fallible Serialize impls.
    let _ = write_go_json(buf, value);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::json::to_go_json;

    async fn body_of(resp: Response) -> Vec<u8> {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    #[tokio::test]
    async fn an_object_streams_the_bytes_a_map_encodes_to() {
        // Enough entries for several chunks, keys needing Go's escaping.
        let items: Vec<(String, Vec<u64>)> = (0..3000)
            .map(|i| {
                (
                    format!("/a<{i:05}>&\u{2028}"),
                    (0..20).map(|n| n * i).collect(),
                )
            })
            .collect();
        let whole: BTreeMap<&str, &Vec<u64>> = items.iter().map(|(k, v)| (&**k, v)).collect();
        let streamed = json_stream(items.clone(), Shape::Object, |(k, v), buf| {
            put_key(buf, k);
            put_value(buf, v);
        });
        assert_eq!(body_of(streamed).await, to_go_json(&whole));
    }

    #[tokio::test]
    async fn arrays_and_empty_documents_match_too() {
        let items: Vec<f64> = vec![0.5, 1e21, 3.0];
        let streamed = json_stream(items.clone(), Shape::Array, |v, buf| put_value(buf, v));
        assert_eq!(body_of(streamed).await, to_go_json(&items));
        let empty = json_stream(Vec::<u8>::new(), Shape::Object, |_, _| {});
        assert_eq!(body_of(empty).await, b"{}");
        let empty = json_stream(Vec::<u8>::new(), Shape::Array, |_, _| {});
        assert_eq!(body_of(empty).await, b"[]");
    }
}
