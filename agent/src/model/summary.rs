//! Derived usage for `/api/v2.x/summary`: cAdvisor's per-container minute/hour/day percentiles.
//!
//! Pure arithmetic, fed one `(timestamp, cpu total ns, working set)` per housekeeping sample.
//! Reproduced rules (clients compare these numbers): the latest cpu rate is milli-cores between
//! the last two samples (needs ≥ 10 ms and a non-decreasing counter); once the collected samples
//! span more than 60 s they become one minute digest; hour and day are derived from a ring of the
//! last 60 minute digests (so day's `percent_complete` never exceeds 4); percentiles interpolate
//! with `n = d·(count+1)`; `std` is the sample standard deviation around the running mean.
//!
//! One deliberate difference: `timestamp` after a minute roll-over is the sample's time rather
//! than the wall clock at that instant (they differ by the housekeeping latency).

use std::collections::VecDeque;

use super::json::Timestamp;
use super::v1;
use super::v2::{DerivedStats, InstantUsage, Percentiles, Usage};

/// Minute digests kept (one hour).
const MINUTES_KEPT: usize = 60;
const NANOS_PER_SEC: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct SecondSample {
    ts: Timestamp,
    cpu: u64,
    memory: u64,
}

/// What the hour/day derivation reads from a minute: its mean, max and 90th percentile.
#[derive(Debug, Clone, Copy, Default)]
struct MinuteDigest {
    cpu: Digest,
    memory: Digest,
}

#[derive(Debug, Clone, Copy, Default)]
struct Digest {
    present: bool,
    mean: u64,
    max: u64,
    ninety: u64,
}

impl From<&Percentiles> for Digest {
    fn from(p: &Percentiles) -> Self {
        Digest {
            present: p.present,
            mean: p.mean,
            max: p.max,
            ninety: p.ninety,
        }
    }
}

/// Per-container summary state (cAdvisor's `StatsSummary`), ~4 KB when warm.
#[derive(Debug, Clone)]
pub struct SummaryTracker {
    track_cpu: bool,
    track_memory: bool,
    /// Samples of the minute in progress (reused buffer).
    seconds: Vec<SecondSample>,
    minutes: VecDeque<MinuteDigest>,
    derived: DerivedStats,
}

impl SummaryTracker {
    /// `None` when the container has neither cpu nor memory (cAdvisor refuses to track it).
    pub fn new(has_cpu: bool, has_memory: bool) -> Option<Self> {
        (has_cpu || has_memory).then(|| SummaryTracker {
            track_cpu: has_cpu,
            track_memory: has_memory,
            seconds: Vec::new(),
            minutes: VecDeque::new(),
            derived: DerivedStats::default(),
        })
    }

    /// From a container spec's `has_cpu` / `has_memory`.
    pub fn for_spec(spec: &v1::ContainerSpec) -> Option<Self> {
        Self::new(spec.has_cpu, spec.has_memory)
    }

    /// Feeds one housekeeping sample.
    pub fn add_stats(&mut self, stats: &v1::ContainerStats) {
        self.add_sample(
            stats.timestamp,
            stats.cpu.usage.total,
            stats.memory.working_set,
        );
    }

    /// Feeds one sample: cumulative cpu nanoseconds and working-set bytes.
    pub fn add_sample(&mut self, ts: Timestamp, cpu_total_ns: u64, working_set: u64) {
        self.seconds.push(SecondSample {
            ts,
            cpu: if self.track_cpu { cpu_total_ns } else { 0 },
            memory: if self.track_memory { working_set } else { 0 },
        });
        self.update_latest();
        let n = self.seconds.len();
        let elapsed = if n > 1 {
            self.seconds[n - 1].ts.nanos_since(self.seconds[0].ts)
        } else {
            1
        };
        if elapsed > i128::from(60 * NANOS_PER_SEC) {
            let minute = minute_usage(&self.seconds);
            let last = self.seconds[n - 1];
            self.seconds.clear();
            self.seconds.push(last);
            if self.minutes.len() == MINUTES_KEPT {
                self.minutes.pop_front();
            }
            self.minutes.push_back(MinuteDigest {
                cpu: Digest::from(&minute.cpu),
                memory: Digest::from(&minute.memory),
            });
            self.derived.timestamp = ts;
            self.derived.minute_usage = minute;
            self.derived.hour_usage = derived_usage(&self.minutes, 60);
            self.derived.day_usage = derived_usage(&self.minutes, 60 * 24);
        }
    }

    /// The current summary (all-zero usages before the first minute completes).
    pub fn derived(&self) -> &DerivedStats {
        &self.derived
    }

    fn update_latest(&mut self) {
        let n = self.seconds.len();
        let latest = self.seconds[n - 1];
        let cpu = if n > 1 {
            cpu_rate(&latest, &self.seconds[n - 2]).unwrap_or(0)
        } else {
            0
        };
        self.derived.latest_usage = InstantUsage {
            cpu,
            memory: latest.memory,
        };
        self.derived.timestamp = latest.ts;
    }
}

/// Milli-cores between two samples; `None` below 10 ms apart or when the counter went down.
fn cpu_rate(latest: &SecondSample, previous: &SecondSample) -> Option<u64> {
    let elapsed = latest.ts.nanos_since(previous.ts);
    if elapsed < 10_000_000 || latest.cpu < previous.cpu {
        return None;
    }
    let elapsed = u64::try_from(elapsed).ok()?;
    // Go computes this in uint64 and wraps on overflow.
    Some((latest.cpu - previous.cpu).wrapping_mul(1000) / elapsed)
}

/// Percentiles of one minute of samples (cAdvisor's `GetMinutePercentiles`): memory from every
/// sample with a valid cpu rate (and the first), cpu rates between consecutive valid samples.
fn minute_usage(samples: &[SecondSample]) -> Usage {
    let mut cpu = Resource::default();
    let mut memory = Resource::default();
    let mut last: Option<&SecondSample> = None;
    for s in samples {
        match last {
            Some(prev) => {
                let Some(rate) = cpu_rate(s, prev) else {
                    continue;
                };
                cpu.add_value(rate);
                memory.add_value(s.memory);
            }
            None => memory.add_value(s.memory),
        }
        last = Some(s);
    }
    Usage {
        percent_complete: minute_percent_complete(samples),
        cpu: cpu.percentiles(),
        memory: memory.percentiles(),
    }
}

/// 100 unless the samples span under 58 s; then Go's `int32((range*100)/60*1e9)`, whose
/// misplaced parentheses overflow — reproduced with wrapping arithmetic.
fn minute_percent_complete(samples: &[SecondSample]) -> i32 {
    let n = samples.len();
    if n <= 1 {
        return 0;
    }
    let range = samples[n - 1].ts.nanos_since(samples[0].ts) as i64;
    if range < 58 * NANOS_PER_SEC {
        (range.wrapping_mul(100) / 60).wrapping_mul(NANOS_PER_SEC) as i32
    } else {
        100
    }
}

/// Hour/day usage over the newest `n` minute digests (cAdvisor's `getDerivedUsage`).
fn derived_usage(minutes: &VecDeque<MinuteDigest>, n: usize) -> Usage {
    let take = minutes.len().min(n);
    let mut cpu = Resource::default();
    let mut memory = Resource::default();
    for m in minutes.iter().skip(minutes.len() - take) {
        cpu.add_digest(&m.cpu);
        memory.add_digest(&m.memory);
    }
    Usage {
        percent_complete: (take * 100 / n) as i32,
        cpu: cpu.percentiles(),
        memory: memory.percentiles(),
    }
}

/// Accumulates values like cAdvisor's `resource`: running mean, max, and a sample list.
#[derive(Debug, Default)]
struct Resource {
    samples: Vec<u64>,
    count: u64,
    mean: f64,
    max: u64,
}

impl Resource {
    fn add_value(&mut self, v: u64) {
        self.add_digest(&Digest {
            present: true,
            mean: v,
            max: v,
            ninety: v,
        });
    }

    fn add_digest(&mut self, d: &Digest) {
        if !d.present {
            return;
        }
        self.max = self.max.max(d.max);
        self.count += 1;
        self.mean = if self.count == 1 {
            d.mean as f64
        } else {
            let c = self.count as f64;
            (self.mean * (c - 1.0) + d.mean as f64) / c
        };
        self.samples.push(d.ninety);
    }

    fn percentiles(mut self) -> Percentiles {
        self.samples.sort_unstable();
        Percentiles {
            // cAdvisor marks every computed set present, even an empty one.
            present: true,
            mean: self.mean as u64,
            std: std_dev(&self.samples, self.mean) as u64,
            max: self.max,
            fifty: percentile(&self.samples, 0.5),
            ninety: percentile(&self.samples, 0.9),
            ninety_five: percentile(&self.samples, 0.95),
            count: self.count,
        }
    }
}

/// cAdvisor's `GetPercentile` on sorted values: `n = d·(count+1)`, take `s[idx-1]` and
/// interpolate towards `s[idx]` only when `1 < idx < count`.
pub fn percentile(sorted: &[u64], d: f64) -> u64 {
    let count = sorted.len();
    if count == 0 || !(0.0..=1.0).contains(&d) {
        return 0;
    }
    let n = d * (count as f64 + 1.0);
    let idx = n.trunc();
    let frac = n - idx;
    // Clamp where Go would index out of range (d = 1 or tiny d); unreachable for 0.5/0.9/0.95.
    let index = (idx as usize).clamp(1, count);
    let mut p = sorted[index - 1] as f64;
    if index > 1 && index < count {
        p += frac * (sorted[index] - sorted[index - 1]) as f64;
    }
    p as u64
}

/// Sample standard deviation (n−1) of `values` around `mean`; 0 for fewer than two values.
fn std_dev(values: &[u64], mean: f64) -> f64 {
    if values.len() <= 1 {
        return 0.0;
    }
    let ss: f64 = values
        .iter()
        .map(|v| {
            let d = *v as f64 - mean;
            d * d
        })
        .sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = NANOS_PER_SEC;
    const T0: i64 = 1_795_371_389 * SEC;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_unix_nanos(T0 + secs * SEC)
    }

    #[test]
    fn percentile_rule_matches_cadvisor() {
        // Values 1..=10: n = 0.5*11 = 5.5 → s[4] + 0.5*(s[5]-s[4]) = 5.5 → 5;
        // 0.9*11 = 9.9 → 9 + 0.9*1 = 9.9 → 9; 0.95*11 = 10.45 → idx 10 = count → s[9] = 10.
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 0.5), 5);
        assert_eq!(percentile(&v, 0.9), 9);
        assert_eq!(percentile(&v, 0.95), 10);
        // Steps of 100: 0.5 → 500 + 0.5*100 = 550; 0.9 → 900 + 0.9*100 = 990.
        let w: Vec<u64> = (1..=10).map(|x| x * 100).collect();
        assert_eq!(percentile(&w, 0.5), 550);
        assert_eq!(percentile(&w, 0.9), 990);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&w, 1.5), 0);
    }

    #[test]
    fn std_is_sample_std_dev() {
        // 2,4,4,4,5,5,7,9: mean 5, Σd² = 32, /7 = 4.571 → 2.138.
        let v = [2, 4, 4, 4, 5, 5, 7, 9];
        assert!((std_dev(&v, 5.0) - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(std_dev(&[3], 3.0), 0.0);
    }

    #[test]
    fn latest_usage_is_milli_cores_between_last_two() {
        let mut t = SummaryTracker::new(true, true).expect("tracked");
        t.add_sample(ts(0), 0, 100);
        assert_eq!(
            t.derived().latest_usage,
            InstantUsage {
                cpu: 0,
                memory: 100
            }
        );
        // 0.25 s of cpu in 1 s → 250 milli-cores.
        t.add_sample(ts(1), 250_000_000, 200);
        assert_eq!(
            t.derived().latest_usage,
            InstantUsage {
                cpu: 250,
                memory: 200
            }
        );
        assert_eq!(t.derived().timestamp, ts(1));
        // Counter went down → cpu 0.
        t.add_sample(ts(2), 1, 300);
        assert_eq!(t.derived().latest_usage.cpu, 0);
        // Minute usages stay all-zero (not present) until a minute completes.
        assert_eq!(t.derived().minute_usage, Usage::default());
        assert!(!t.derived().hour_usage.cpu.present);
    }

    #[test]
    fn a_minute_of_samples_yields_percentiles() {
        let mut t = SummaryTracker::new(true, true).expect("tracked");
        // 62 samples, 1 s apart, cpu rate i*10 milli-cores in second i, memory i*1000.
        let mut cpu = 0u64;
        for i in 0..=61i64 {
            cpu += (i as u64) * 10 * 1_000_000;
            t.add_sample(ts(i), cpu, (i as u64) * 1000);
        }
        // The 62nd sample (61 s after the first) closes the minute.
        let d = t.derived();
        let m = &d.minute_usage;
        assert_eq!(m.percent_complete, 100);
        // cpu rates 10..=610 (61 values), memory 0..=61000 (62 values).
        assert_eq!(m.cpu.count, 61);
        assert_eq!(m.cpu.max, 610);
        assert_eq!(m.cpu.mean, 310);
        // 0.5*62 = 31 → s[30] = 310; 0.9*62 = 55.8 → 550 + 0.8*10 = 558; 0.95*62 = 58.9 → 589.
        assert_eq!(
            (m.cpu.fifty, m.cpu.ninety, m.cpu.ninety_five),
            (310, 558, 589)
        );
        // std of 10..=610 step 10: 10 * sqrt(61*62/12) = 177.53 → 177.
        assert_eq!(m.cpu.std, 177);
        assert_eq!(m.memory.count, 62);
        assert_eq!(m.memory.max, 61_000);
        assert_eq!(m.memory.mean, 30_500);
        // Hour: one minute → its ninety values, percent 1*100/60 = 1; day: 100/1440 = 0.
        assert_eq!(d.hour_usage.percent_complete, 1);
        assert_eq!(d.day_usage.percent_complete, 0);
        assert_eq!(d.hour_usage.cpu.mean, 310);
        assert_eq!(d.hour_usage.cpu.fifty, 558);
        assert_eq!(d.hour_usage.cpu.count, 1);
        assert_eq!(d.hour_usage.cpu.std, 0);
        assert_eq!(d.timestamp, ts(61));
        // The closing sample starts the next minute, so latest usage keeps working.
        t.add_sample(ts(62), cpu + 5_000_000, 1);
        assert_eq!(t.derived().latest_usage, InstantUsage { cpu: 5, memory: 1 });
    }

    #[test]
    fn hour_ring_keeps_sixty_minutes_and_day_caps_at_four_percent() {
        let mut t = SummaryTracker::new(false, true).expect("tracked");
        // One sample every 61 s: each closes a minute made of two samples.
        for i in 0..=70i64 {
            t.add_sample(ts(i * 61), 0, (i as u64 + 1) * 10);
        }
        let d = t.derived();
        assert_eq!(d.hour_usage.percent_complete, 100);
        assert_eq!(d.day_usage.percent_complete, 4);
        assert_eq!(d.hour_usage.memory.count, 60);
        // Minute i holds memory {10i, 10(i+1)}; ninety = 10(i+1); the last 60 minutes are
        // i = 11..=70 → max 710.
        assert_eq!(d.hour_usage.memory.max, 710);
        assert_eq!(
            d.hour_usage,
            Usage {
                percent_complete: 100,
                ..d.day_usage
            }
        );
        // cpu untracked: rates are 0 but still "present" as cAdvisor reports them.
        assert!(d.minute_usage.cpu.present);
        assert_eq!(d.minute_usage.cpu.max, 0);
    }

    #[test]
    fn short_minute_percent_overflows_like_go() {
        let s = |secs: i64| SecondSample {
            ts: ts(secs),
            cpu: 0,
            memory: 0,
        };
        assert_eq!(minute_percent_complete(&[s(0)]), 0);
        assert_eq!(minute_percent_complete(&[s(0), s(59)]), 100);
        // 30 s: (30e9*100/60)*1e9 = 5e19 wraps in int64, then truncates to int32.
        let want = (30i64 * SEC * 100 / 60).wrapping_mul(SEC) as i32;
        assert_eq!(minute_percent_complete(&[s(0), s(30)]), want);
    }

    #[test]
    fn untracked_container_is_refused() {
        assert!(SummaryTracker::new(false, false).is_none());
    }
}
