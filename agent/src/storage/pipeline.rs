//! The path every storage driver's samples take, off the collection path:
//!
//! ```text
//! feed ──(subscription, a thread)──▶ bounded queue ──(the driver's own thread)──▶ encode ▶ send
//! ```
//!
//! - The intake thread moves each new sample from the driver's feed subscription into its queue,
//!   named by a registry snapshot (a new container's samples wait up to [`PipelineOptions::
//!   listing_wait`] for its listing, which brings the alias and labels drivers write).
//! - The queue holds at most [`PipelineOptions::queue_capacity`] samples; when it is full the oldest
//!   go, counted in `bpfadvisor_storage_dropped_total{driver}`. Publishing never waits on a driver.
//! - The driver's thread takes batches (each sample at once, or everything gathered over
//!   `--storage_driver_buffer_duration`, as the driver says), encodes and sends them. A failed send
//!   is retried, the same payload, after an exponential backoff capped at
//!   [`PipelineOptions::backoff_max`]; new samples queue (and the oldest drop) meanwhile.
//! - One log line per change of state: connected (first success), failing (with the error),
//!   recovered. The `bpfadvisor_storage_*{driver}` metrics say the rest.
//! - [`Pipeline::shutdown`] stops the intake, then sends what is queued, retrying until a deadline;
//!   what is left then is counted as dropped.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::driver::{Batching, Driver, DriverError, Record};
use crate::feed::Update;
use crate::model::json::Timestamp;
use crate::model::v1::ContainerStats;
use crate::query::{Snapshot, Subscription};
use crate::telemetry::StorageMetrics;

/// How a pipeline queues, batches and retries.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Samples waiting at most (beyond them the oldest are dropped): with the batch in flight, what
    /// a backend outage can cost nothing. 60 000 is a minute of a thousand containers sampled every
    /// second (a few tens of MB at most, the samples being shared with the stats cache).
    pub queue_capacity: usize,
    /// Samples per payload at most; a longer queue goes out in several.
    pub max_batch: usize,
    /// The first retry's delay; doubled after each failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A send not done by then counts as failed (and is retried).
    pub send_timeout: Duration,
    /// How long a sample of a container not listed yet waits for its listing (its alias).
    pub listing_wait: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 60_000,
            max_batch: 5_000,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            listing_wait: Duration::from_secs(2),
        }
    }
}

/// Samples held back for their container's listing, at most: past it they go at once.
const MAX_WAITING: usize = 4096;

/// A running driver: its intake thread and its sending thread.
pub struct Pipeline {
    name: &'static str,
    stop_intake: watch::Sender<bool>,
    intake: std::thread::JoinHandle<()>,
    stop_sender: watch::Sender<Option<Instant>>,
    thread: std::thread::JoinHandle<()>,
    metrics: StorageMetrics,
}

/// What the intake thread needs to name a sample's container.
pub type SnapshotFn = Arc<dyn Fn() -> Arc<Snapshot> + Send + Sync>;

/// Starts `driver`: its intake thread reading `updates`, and its sending thread.
pub fn spawn<D: Driver>(
    driver: D,
    updates: Subscription,
    snapshot: SnapshotFn,
    options: PipelineOptions,
) -> io::Result<Pipeline> {
    let name = driver.name();
    let metrics = crate::telemetry::global().storage(name);
    let queue = Arc::new(Queue {
        items: Mutex::new(VecDeque::new()),
        capacity: options.queue_capacity.max(1),
        wake: Notify::new(),
        metrics: metrics.clone(),
    });
    let (stop_sender, stop_rx) = watch::channel(None);
    let thread = {
        let queue = queue.clone();
        let options = options.clone();
        on_own_thread(format!("storage-{name}"), name, move || {
            send_loop(driver, queue, stop_rx, options)
        })?
    };
    let (stop_intake, intake_stop) = watch::channel(false);
    let listing_wait = options.listing_wait;
    let intake = on_own_thread(format!("storage-{name}-in"), name, move || {
        intake(updates, snapshot, queue, intake_stop, listing_wait)
    })?;
    Ok(Pipeline {
        name,
        stop_intake,
        intake,
        stop_sender,
        thread,
        metrics,
    })
}

impl Pipeline {
    /// The driver's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Stops taking samples, then sends what is queued, retrying until `deadline`; samples still
    /// queued then are counted as dropped. Returns by the deadline (plus a moment) even when the
    /// driver's thread is stuck in a blocking send, which is then left behind.
    pub async fn shutdown(self, deadline: Instant) {
        let _ = self.stop_intake.send(true);
        while !self.intake.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = self.stop_sender.send(Some(deadline));
        let grace = deadline + Duration::from_millis(200);
        while !self.thread.is_finished() {
            if Instant::now() >= grace {
                warn!(
                    driver = self.name,
                    queued = self.metrics.queued.get(),
                    "storage driver did not finish its flush by the shutdown deadline"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.thread.join();
    }
}

/// Runs `task` on a new thread with a single-threaded Tokio runtime of its own: neither the
/// agent's runtime nor another driver waits on it, nor it on them.
fn on_own_thread<F, Fut>(
    thread: String,
    driver: &'static str,
    task: F,
) -> io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::Builder::new().name(thread).spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(task()),
            Err(e) => warn!(driver, error = %e, "storage driver cannot start its runtime"),
        }
    })
}

/// The samples waiting for the driver's thread.
struct Queue {
    items: Mutex<VecDeque<Record>>,
    capacity: usize,
    /// Wakes the driver's thread when a sample comes.
    wake: Notify,
    metrics: StorageMetrics,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Record>> {
        // A panic while holding the lock leaves a consistent queue: keep using it.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `record`, dropping the oldest when full.
    fn push(&self, record: Record) {
        let len = {
            let mut items = self.lock();
            if items.len() >= self.capacity {
                items.pop_front();
                self.metrics.dropped.inc();
            }
            items.push_back(record);
            items.len()
        };
        self.metrics.queued.set(gauge(len));
        self.wake.notify_one();
    }

    /// Up to `max` of the oldest samples.
    fn take(&self, max: usize) -> Vec<Record> {
        let (batch, len) = {
            let mut items = self.lock();
            let n = items.len().min(max);
            (items.drain(..n).collect::<Vec<_>>(), items.len())
        };
        self.metrics.queued.set(gauge(len));
        batch
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Empties the queue, counting its samples as dropped.
    fn drop_all(&self) -> usize {
        let n = {
            let mut items = self.lock();
            let n = items.len();
            items.clear();
            n
        };
        self.metrics.dropped.inc_by(n as u64);
        self.metrics.queued.set(0);
        n
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Moves every sample of `updates` into `queue` until the feed closes or `stop` is set, then
/// everything already received.
async fn intake(
    mut updates: Subscription,
    snapshot: SnapshotFn,
    queue: Arc<Queue>,
    mut stop: watch::Receiver<bool>,
    listing_wait: Duration,
) {
    let mut held = Held {
        waiting: VecDeque::new(),
        per_container: HashMap::new(),
        listing_wait,
    };
    let mut fresh = Vec::new();
    let mut tick = tokio::time::interval((listing_wait / 4).max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Some(u) => {
                    fresh.push(u);
                    while let Some(u) = updates.try_recv() {
                        fresh.push(u);
                    }
                }
                None => break,
            },
            _ = tick.tick(), if !held.waiting.is_empty() => {}
            _ = stop.changed() => break,
        }
        held.admit(&snapshot(), fresh.drain(..), &queue, false);
    }
    while let Some(u) = updates.try_recv() {
        fresh.push(u);
    }
    held.admit(&snapshot(), fresh.drain(..), &queue, true);
}

/// Samples of containers not listed yet, waiting (a little) for their listing.
struct Held {
    /// Oldest first.
    waiting: VecDeque<(Arc<str>, Arc<ContainerStats>)>,
    /// How many of `waiting` each container has.
    per_container: HashMap<Arc<str>, usize>,
    listing_wait: Duration,
}

impl Held {
    fn hold(&mut self, name: Arc<str>, stats: Arc<ContainerStats>) {
        *self.per_container.entry(name.clone()).or_default() += 1;
        self.waiting.push_back((name, stats));
    }

    fn release(&mut self, name: &Arc<str>) {
        if let Some(n) = self.per_container.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                self.per_container.remove(name);
            }
        }
    }

    /// Queues the waiting samples that are ready, then the `fresh` ones that are (the others
    /// wait; when too many wait, the oldest go as they are); with `all`, every one. A
    /// container's samples stay in order.
    fn admit(
        &mut self,
        snap: &Snapshot,
        fresh: impl Iterator<Item = Update>,
        queue: &Queue,
        all: bool,
    ) {
        let now = Timestamp::now();
        let wait = self.listing_wait.as_nanos() as i128;
        let ready = |name: &str, stats: &ContainerStats| {
            all || snap.get(name).is_some() || now.nanos_since(stats.timestamp) >= wait
        };
        let record = |name: Arc<str>, stats: Arc<ContainerStats>| Record {
            container: snap.get(&name).cloned(),
            name,
            stats,
        };
        if !self.waiting.is_empty() {
            let mut keep = VecDeque::with_capacity(self.waiting.len());
            for (name, stats) in std::mem::take(&mut self.waiting) {
                if ready(&name, &stats) {
                    self.release(&name);
                    queue.push(record(name, stats));
                } else {
                    keep.push_back((name, stats));
                }
            }
            self.waiting = keep;
        }
        for update in fresh {
            let Update::Sample { container, stats } = update else {
                continue;
            };
            if self.waiting.len() >= MAX_WAITING
                && let Some((name, stats)) = self.waiting.pop_front()
            {
                self.release(&name);
                queue.push(record(name, stats));
            }
            if ready(&container, &stats) && !self.per_container.contains_key(&container) {
                queue.push(record(container, stats));
            } else {
                self.hold(container, stats);
            }
        }
    }
}

/// Whether the backend took the last write: logged once per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Starting,
    Up,
    Failing,
}

/// The driver's thread: batches, sends, retries; flushes and returns once stopped.
async fn send_loop<D: Driver>(
    mut driver: D,
    queue: Arc<Queue>,
    mut stop: watch::Receiver<Option<Instant>>,
    options: PipelineOptions,
) {
    let name = driver.name();
    let metrics = queue.metrics.clone();
    let mut health = Health::Starting;
    let mut failures_in_a_row = 0u64;
    let mut backoff = options.backoff_initial;
    let max_batch = options.max_batch.max(1);
    loop {
        // Wait for the next flush: a sample (immediate), the end of the buffer period, a full
        // batch, or the stop.
        if stopped(&stop).is_none() {
            let period_end = match driver.batching() {
                Batching::Immediate => None,
                Batching::Buffered(d) => Some(tokio::time::Instant::now() + d),
            };
            loop {
                let len = queue.len();
                let due = match period_end {
                    None => len > 0,
                    Some(end) => len >= max_batch || tokio::time::Instant::now() >= end,
                };
                if due {
                    break;
                }
                let far = tokio::time::Instant::now() + Duration::from_secs(3600);
                tokio::select! {
                    _ = queue.wake.notified() => {}
                    _ = tokio::time::sleep_until(period_end.unwrap_or(far)) => {}
                    _ = stop.changed() => {
                        if stopped(&stop).is_some() {
                            break;
                        }
                    }
                }
            }
        }
        // Send everything queued, a batch at a time.
        loop {
            let batch = queue.take(max_batch);
            if batch.is_empty() {
                break;
            }
            let payload = driver.encode(&batch);
            loop {
                let result =
                    match tokio::time::timeout(options.send_timeout, driver.send(&payload)).await {
                        Ok(r) => r,
                        Err(_) => Err(DriverError::Unreachable {
                            backend: name.to_string(),
                            reason: format!("no answer within {:?}", options.send_timeout),
                        }),
                    };
                match result {
                    Ok(()) => {
                        metrics.sent.inc_by(batch.len() as u64);
                        metrics.up.set(1);
                        metrics.last_success.set(unix_now());
                        match health {
                            Health::Starting => info!(driver = name, "storage driver connected"),
                            Health::Failing => info!(
                                driver = name,
                                failed_attempts = failures_in_a_row,
                                dropped_total = metrics.dropped.get(),
                                "storage driver recovered"
                            ),
                            Health::Up => {}
                        }
                        health = Health::Up;
                        failures_in_a_row = 0;
                        backoff = options.backoff_initial;
                        break;
                    }
                    Err(e) => {
                        metrics.failures.inc();
                        metrics.up.set(0);
                        metrics.last_error.set(unix_now());
                        failures_in_a_row += 1;
                        if health != Health::Failing {
                            warn!(driver = name, error = %e, "storage driver failing; retrying with backoff");
                            health = Health::Failing;
                        }
                        if !e.retryable() {
                            metrics.dropped.inc_by(batch.len() as u64);
                            warn!(driver = name, dropped = batch.len(), error = %e, "storage driver dropped a batch its backend will not take");
                            break;
                        }
                        if let Some(deadline) = stopped(&stop)
                            && Instant::now() + backoff >= deadline
                        {
                            let lost = batch.len() + queue.drop_all();
                            metrics.dropped.inc_by(batch.len() as u64);
                            warn!(
                                driver = name,
                                dropped = lost,
                                error = %e,
                                "storage driver could not flush before the shutdown deadline"
                            );
                            return;
                        }
                        if stop.has_changed().is_err() {
                            // Nobody can stop this wait any more: just wait.
                            tokio::time::sleep(backoff).await;
                        } else {
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                // A stop cuts the wait short: retry now, then within the deadline.
                                _ = stop.changed() => {}
                            }
                        }
                        backoff = (backoff * 2).min(options.backoff_max);
                    }
                }
            }
        }
        if stopped(&stop).is_some() {
            return;
        }
    }
}

/// The shutdown deadline once stopped; a pipeline dropped without [`Pipeline::shutdown`] stops now.
fn stopped(stop: &watch::Receiver<Option<Instant>>) -> Option<Instant> {
    match stop.has_changed() {
        Err(_) => Some(stop.borrow().unwrap_or_else(Instant::now)),
        Ok(_) => *stop.borrow(),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::feed::Feed;

    /// A backend in memory: up or down, fast or slow; keeps the sample times it was sent.
    #[derive(Clone, Default)]
    struct Fake {
        name: &'static str,
        buffer: Option<Duration>,
        down: Arc<AtomicBool>,
        /// Rejects every payload for good.
        reject: Arc<AtomicBool>,
        delay: Duration,
        attempts: Arc<AtomicUsize>,
        got: Arc<Mutex<Vec<i64>>>,
    }

    impl Driver for Fake {
        type Payload = Vec<i64>;

        fn name(&self) -> &'static str {
            self.name
        }

        fn batching(&self) -> Batching {
            self.buffer.map_or(Batching::Immediate, Batching::Buffered)
        }

        fn encode(&mut self, batch: &[Record]) -> Vec<i64> {
            batch
                .iter()
                .map(|r| r.stats.timestamp.as_unix_nanos())
                .collect()
        }

        async fn send(&mut self, payload: &Vec<i64>) -> Result<(), DriverError> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            // A blocking client: holds up its own thread only.
            std::thread::sleep(self.delay);
            if self.reject.load(Ordering::SeqCst) {
                return Err(DriverError::Rejected {
                    backend: "fake".into(),
                    reason: "out of order".into(),
                });
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(DriverError::Unreachable {
                    backend: "fake".into(),
                    reason: "down".into(),
                });
            }
            self.got.lock().expect("lock").extend(payload);
            Ok(())
        }
    }

    fn sample(i: i64) -> Update {
        Update::Sample {
            container: Arc::from("/c"),
            stats: Arc::new(ContainerStats {
                // Old enough not to wait for a listing.
                timestamp: Timestamp::from_unix_nanos(i + 1),
                ..Default::default()
            }),
        }
    }

    fn options(capacity: usize) -> PipelineOptions {
        PipelineOptions {
            queue_capacity: capacity,
            max_batch: 100,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            send_timeout: Duration::from_secs(5),
            listing_wait: Duration::from_millis(100),
        }
    }

    fn start(fake: &Fake, feed: &Feed, capacity: usize) -> Pipeline {
        let snap: SnapshotFn = Arc::new(|| Arc::new(Snapshot::default()));
        spawn(
            fake.clone(),
            feed.subscribe(fake.name),
            snap,
            options(capacity),
        )
        .expect("spawn")
    }

    async fn eventually(what: &str, f: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !f() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn deadline(d: Duration) -> Instant {
        Instant::now() + d
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_sink_never_holds_up_publishing() {
        let fake = Fake {
            name: "test_slow_sink",
            delay: Duration::from_millis(200),
            ..Default::default()
        };
        let feed = Feed::new(100_000);
        let p = start(&fake, &feed, 1000);
        let m = crate::telemetry::global().storage(fake.name);
        let t0 = Instant::now();
        for i in 0..20_000 {
            feed.publish(sample(i));
        }
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        eventually("the queue overflowed", || m.dropped.get() > 0).await;
        assert!(m.queued.get() <= 1000, "{}", m.queued.get());
        p.shutdown(deadline(Duration::from_secs(5))).await;
        let got = fake.got.lock().expect("lock").clone();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
        assert_eq!(
            got.len() as u64 + m.dropped.get(),
            20_000,
            "every sample sent or counted as dropped"
        );
        assert_eq!(m.sent.get(), got.len() as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_sink_drops_beyond_the_queue_counted_then_recovers() {
        let fake = Fake {
            name: "test_dead_sink",
            ..Default::default()
        };
        fake.down.store(true, Ordering::SeqCst);
        let feed = Feed::default();
        let p = start(&fake, &feed, 500);
        let m = crate::telemetry::global().storage(fake.name);
        for i in 0..2000 {
            feed.publish(sample(i));
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        // At most the queue plus the batch in flight are kept.
        eventually("the queue is full", || m.queued.get() == 500).await;
        eventually("the rest dropped", || m.dropped.get() >= 2000 - 500 - 100).await;
        assert_eq!(m.sent.get(), 0);
        assert_eq!(m.up.get(), 0);
        assert!(m.failures.get() >= 1);
        assert!(m.last_error.get() > 0.0);
        let attempts = fake.attempts.load(Ordering::SeqCst);
        // Backing off: a handful of tries, not a busy loop.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let more = fake.attempts.load(Ordering::SeqCst) - attempts;
        assert!(more <= 10, "{more} attempts in 200 ms");
        // Back up: everything kept goes out, in order, and new samples follow.
        fake.down.store(false, Ordering::SeqCst);
        eventually("recovered", || m.queued.get() == 0 && m.up.get() == 1).await;
        feed.publish(sample(5000));
        eventually("a new sample sent", || {
            fake.got.lock().expect("lock").last() == Some(&5001)
        })
        .await;
        let got = fake.got.lock().expect("lock").clone();
        assert_eq!(got.len() as u64 + m.dropped.get(), 2001);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(m.last_success.get() >= m.last_error.get());
        p.shutdown(deadline(Duration::from_secs(1))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rejected_batch_is_dropped_counted_not_retried() {
        let fake = Fake {
            name: "test_rejecting_sink",
            ..Default::default()
        };
        fake.reject.store(true, Ordering::SeqCst);
        let feed = Feed::default();
        let p = start(&fake, &feed, 100);
        let m = crate::telemetry::global().storage(fake.name);
        feed.publish(sample(0));
        eventually("dropped", || m.dropped.get() == 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(fake.attempts.load(Ordering::SeqCst), 1, "not retried");
        assert_eq!(m.sent.get(), 0);
        fake.reject.store(false, Ordering::SeqCst);
        feed.publish(sample(1));
        eventually("the next batch sent", || m.sent.get() == 1).await;
        assert_eq!(*fake.got.lock().expect("lock"), [2]);
        p.shutdown(deadline(Duration::from_secs(1))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_flushes_the_buffered_samples() {
        let fake = Fake {
            name: "test_flush",
            buffer: Some(Duration::from_secs(3600)),
            ..Default::default()
        };
        let feed = Feed::default();
        let p = start(&fake, &feed, 1000);
        for i in 0..10 {
            feed.publish(sample(i));
        }
        let m = crate::telemetry::global().storage(fake.name);
        eventually("queued", || m.queued.get() == 10).await;
        assert!(fake.got.lock().expect("lock").is_empty(), "buffered");
        let t0 = Instant::now();
        p.shutdown(deadline(Duration::from_secs(5))).await;
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(
            *fake.got.lock().expect("lock"),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(m.sent.get(), 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_gives_up_on_a_dead_sink_by_the_deadline() {
        let fake = Fake {
            name: "test_dead_at_shutdown",
            buffer: Some(Duration::from_secs(3600)),
            ..Default::default()
        };
        fake.down.store(true, Ordering::SeqCst);
        let feed = Feed::default();
        let p = start(&fake, &feed, 1000);
        for i in 0..10 {
            feed.publish(sample(i));
        }
        let m = crate::telemetry::global().storage(fake.name);
        eventually("queued", || m.queued.get() == 10).await;
        let t0 = Instant::now();
        p.shutdown(deadline(Duration::from_millis(300))).await;
        let took = t0.elapsed();
        assert!(took < Duration::from_millis(600), "{took:?}");
        assert!(
            fake.attempts.load(Ordering::SeqCst) >= 2,
            "retried until the deadline"
        );
        assert_eq!(m.dropped.get(), 10);
        assert_eq!(m.queued.get(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn buffered_samples_go_in_one_batch_per_period() {
        let fake = Fake {
            name: "test_buffered",
            buffer: Some(Duration::from_millis(300)),
            ..Default::default()
        };
        let feed = Feed::default();
        let p = start(&fake, &feed, 1000);
        let t0 = Instant::now();
        for i in 0..5 {
            feed.publish(sample(i));
        }
        eventually("flushed", || fake.got.lock().expect("lock").len() == 5).await;
        assert!(
            t0.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(fake.attempts.load(Ordering::SeqCst), 1, "one write");
        p.shutdown(deadline(Duration::from_secs(1))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_containers_samples_wait_for_its_listing_briefly() {
        let fake = Fake {
            name: "test_listing",
            ..Default::default()
        };
        let feed = Feed::default();
        let p = start(&fake, &feed, 1000);
        let now = Timestamp::now().as_unix_nanos();
        feed.publish(Update::Sample {
            container: Arc::from("/new"),
            stats: Arc::new(ContainerStats {
                timestamp: Timestamp::from_unix_nanos(now),
                ..Default::default()
            }),
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(fake.got.lock().expect("lock").is_empty(), "held");
        eventually("released after the wait", || {
            fake.got.lock().expect("lock").len() == 1
        })
        .await;
        p.shutdown(deadline(Duration::from_secs(1))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn too_many_waiting_samples_go_oldest_first_in_order() {
        let fake = Fake {
            name: "test_waiting_full",
            ..Default::default()
        };
        let feed = Feed::new(MAX_WAITING * 2);
        let snap: SnapshotFn = Arc::new(|| Arc::new(Snapshot::default()));
        let mut opts = options(MAX_WAITING * 2);
        opts.listing_wait = Duration::from_secs(3600);
        let p = spawn(fake.clone(), feed.subscribe(fake.name), snap, opts).expect("spawn");
        // Two unlisted containers, interleaved, all young: they wait until there are too many.
        let now = Timestamp::now().as_unix_nanos();
        let n = MAX_WAITING as i64 + 100;
        for i in 0..n {
            feed.publish(Update::Sample {
                container: Arc::from(if i % 2 == 0 { "/a" } else { "/b" }),
                stats: Arc::new(ContainerStats {
                    timestamp: Timestamp::from_unix_nanos(now + i),
                    ..Default::default()
                }),
            });
        }
        eventually("the oldest released", || {
            fake.got.lock().expect("lock").len() == 100
        })
        .await;
        assert_eq!(
            *fake.got.lock().expect("lock"),
            (0..100).map(|i| now + i).collect::<Vec<_>>()
        );
        p.shutdown(deadline(Duration::from_secs(2))).await;
        let got = fake.got.lock().expect("lock").clone();
        assert_eq!(
            got,
            (0..n).map(|i| now + i).collect::<Vec<_>>(),
            "all, in order"
        );
    }
}
