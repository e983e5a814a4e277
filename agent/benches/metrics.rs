//! One `/metrics` render for 1000 containers. Targets: < 50 ms p99, < 30 MB transient allocation
//! (peak bytes allocated during a render, printed before the timings: into one buffer, and
//! streamed in 256 KiB chunks as the HTTP handler does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bpfadvisor::config::MetricKinds;
use bpfadvisor::metrics::{self, MetricsConfig, Selection, fixture};
use criterion::{Criterion, criterion_group, criterion_main};

/// Counts live bytes and their peak so the bench can report a render's transient allocation.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; the counters have no effect on allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn bench(c: &mut Criterion) {
    let snap = fixture::snapshot(1000);
    for (label, cfg) in [
        ("default kinds", MetricsConfig::default()),
        (
            "all kinds",
            MetricsConfig {
                kinds: MetricKinds::all(),
                ..MetricsConfig::default()
            },
        ),
    ] {
        // Steady state: the first render sizes the next one's buffer.
        metrics::render(&snap, &cfg, &mut Vec::new());
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let mut out = Vec::new();
        metrics::render(&snap, &cfg, &mut out);
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!(
            "render 1000 containers ({label}): {} bytes of output, peak transient allocation {:.1} MB",
            out.len(),
            peak as f64 / 1e6
        );
        drop(out);
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let mut total = 0;
        metrics::render_chunked(&snap, &cfg, Selection::All, 256 * 1024, &mut |c| {
            total += c.len()
        });
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!(
            "render 1000 containers ({label}), streamed as /metrics does: {total} bytes, peak transient allocation {:.1} MB",
            peak as f64 / 1e6
        );
        c.bench_function(&format!("render 1000 containers ({label})"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                metrics::render(&snap, &cfg, &mut out);
                out
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
