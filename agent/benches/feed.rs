//! What publishing a sample to the feed adds to housekeeping's per-sample path: two reference-count
//! increments and a broadcast send, with no subscriber (the default) and with one that never reads
//! (the ring full: every send also drops the oldest item).

use std::hint::black_box;
use std::sync::Arc;

use bpfadvisor::feed::{Feed, Update};
use bpfadvisor::model::v1::ContainerStats;
use criterion::{Criterion, criterion_group, criterion_main};

fn publish(c: &mut Criterion) {
    let name: Arc<str> = Arc::from("/docker/0123456789abcdef");
    let stats = Arc::new(ContainerStats::default());
    let sample = || Update::Sample {
        container: name.clone(),
        stats: stats.clone(),
    };
    let mut g = c.benchmark_group("feed");
    g.bench_function("two Arc clones (baseline)", |b| {
        b.iter(|| black_box(sample()));
    });
    let idle = Feed::default();
    g.bench_function("publish, no subscriber", |b| {
        b.iter(|| idle.publish(black_box(sample())));
    });
    let busy = Feed::default();
    let _never_reads = busy.subscribe("bench");
    g.bench_function("publish, one subscriber that never reads", |b| {
        b.iter(|| busy.publish(black_box(sample())));
    });
    g.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
