//! The events stream over a real HTTP connection: many clients, one of which never reads. The slow one
//! must lose events (counted) while the producer never blocks and the other clients get everything.

#[path = "support/fake_query.rs"]
mod fake_query;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bpfadvisor::api::events::routes;
use bpfadvisor::events::store::{EventStore, StoragePolicy};
use bpfadvisor::model::json::Timestamp;
use bpfadvisor::model::v1::{Event, EventData, EventType};
use fake_query::FakeQuery;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const REQUEST: &str = "GET /api/v1.3/events/?stream=true&all_events=true&subcontainers=true HTTP/1.1\r\nHost: test\r\n\r\n";
/// Marks the end of one NDJSON line (chunk framing follows it).
const LINE_END: &[u8] = b"\"event_data\":{}}\n";

async fn serve(store: Arc<EventStore>) -> std::net::SocketAddr {
    let app = routes(FakeQuery::builder().events(store).build());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Opens a stream and returns the socket after the response headers.
async fn open_stream(
    addr: std::net::SocketAddr,
    recv_buf: Option<u32>,
) -> (TcpStream, String, Vec<u8>) {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(size) = recv_buf {
        sock.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    let mut s = sock.connect(addr).await.expect("connect");
    s.write_all(REQUEST.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.expect("read headers");
        assert!(n > 0, "closed before headers");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let rest = buf[end + 4..].to_vec();
            return (s, head, rest);
        }
    }
}

/// Reads the stream, publishing how many complete event lines arrived.
async fn count_lines(mut s: TcpStream, mut buf: Vec<u8>, seen: watch::Sender<usize>) {
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut scanned, mut lines) = (0, 0);
    loop {
        while let Some(p) = buf[scanned..]
            .windows(LINE_END.len())
            .position(|w| w == LINE_END)
        {
            scanned += p + LINE_END.len();
            lines += 1;
        }
        let _ = seen.send(lines);
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn event(i: usize, pad: &str) -> Event {
    Event {
        container_name: format!("/slow-test/{pad}{i}"),
        timestamp: Timestamp::from_unix_nanos(i as i64),
        event_type: EventType::ContainerCreation,
        event_data: EventData::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_blocks_neither_producer_nor_other_clients() {
    // A small backlog so the never-reading client overflows it (and the socket buffers) quickly.
    let store = Arc::new(EventStore::with_watch_buffer(
        StoragePolicy::from_flags("", "default=0"),
        1024,
    ));
    let addr = serve(store.clone()).await;

    // A small receive window so the never-reading client backs up quickly.
    let (slow, head, _) = open_stream(addr, Some(4096)).await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{head}");
    assert!(
        !lower.contains("content-type"),
        "cAdvisor sets no Content-Type: {head}"
    );

    let mut fast = Vec::new();
    for _ in 0..3 {
        let (s, _, rest) = open_stream(addr, None).await;
        let (tx, rx) = watch::channel(0);
        tokio::spawn(count_lines(s, rest, tx));
        fast.push(rx);
    }
    while store.watch_count() < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // ~1 KiB per event: more than the never-reading client's socket buffers and queue hold.
    let pad = "x".repeat(1000);
    const N: usize = 8_000;
    const BATCH: usize = 500;
    let mut slowest_batch = Duration::ZERO;
    for b in 0..N / BATCH {
        let t = Instant::now();
        for i in b * BATCH..(b + 1) * BATCH {
            store.add(event(i, &pad));
        }
        slowest_batch = slowest_batch.max(t.elapsed());
        // Pace to the reading clients, which must see every event.
        for rx in &mut fast {
            let want = (b + 1) * BATCH;
            tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|n| *n >= want))
                .await
                .expect("a reading client fell behind")
                .expect("reader alive");
        }
    }
    for rx in &fast {
        assert_eq!(
            *rx.borrow(),
            N,
            "reading clients got every event exactly once"
        );
    }
    assert!(
        slowest_batch < Duration::from_secs(1),
        "adding {BATCH} events took {slowest_batch:?}"
    );
    assert!(
        store.dropped_total() > 0,
        "the client that never reads lost events"
    );

    // Its watch ends once the server notices the disconnect.
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.watch_count() > 3 && Instant::now() < deadline {
        store.add(event(0, ""));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.watch_count(), 3);
}
