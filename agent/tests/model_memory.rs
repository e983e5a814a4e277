//! Memory cost of one cached `ContainerStats` sample, measured with a counting allocator.
//!
//! The stats cache holds ~1000 containers × 120 samples; this pins how much one realistic sample
//! costs so growth shows up in review. Its own test binary, so the allocator affects nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use bpfadvisor::model::v1::{ContainerStats, InterfaceStats, PerDiskStats};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to `System` unchanged; only counts requested bytes per thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_sub(layout.size())));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

/// A docker container sample as collected on a cgroup v1 host with default metric kinds:
/// per-cpu usage, memory, PSI, blkio for one device, one network interface.
fn typical_docker_sample() -> Arc<ContainerStats> {
    let mut s = ContainerStats::default();
    s.cpu.usage.total = 123_456_789;
    s.cpu.usage.per_cpu = vec![60_000_000, 63_456_789];
    s.cpu.psi.some.avg10 = 0.5;
    s.memory.usage = 8 << 20;
    s.memory.working_set = 6 << 20;
    let disk = || {
        let mut d = PerDiskStats {
            device: "/dev/vda".into(),
            major: 254,
            minor: 0,
            ..Default::default()
        };
        for op in ["Read", "Write", "Sync", "Async", "Discard", "Total"] {
            d.stats.insert(op, 0);
        }
        d
    };
    s.diskio.io_service_bytes = vec![disk()];
    s.diskio.io_serviced = vec![disk()];
    s.network.interfaces = vec![InterfaceStats {
        name: "eth0".into(),
        rx_bytes: 1,
        ..Default::default()
    }];
    Arc::new(s)
}

#[test]
fn one_cached_sample_stays_small() {
    let before = allocated();
    let sample = typical_docker_sample();
    let heap = allocated() - before;
    let inline = size_of::<ContainerStats>();
    println!("ContainerStats: {inline} bytes inline, {heap} bytes on the heap incl. Arc");
    assert!(inline <= 600, "inline part grew to {inline}");
    // Measured 1660 (600 Arc'd struct, ~350 diskio, ~370 network, ~240 two blkio devices): at
    // 1000 containers × 120 samples that is ~200 MB, so the cache cannot keep every sample as a
    // full struct and meet 60 MB. This bound only catches growth.
    assert!(heap <= 1700, "a typical sample allocates {heap} bytes");
    drop(sample);

    let before = allocated();
    let idle = Arc::new(ContainerStats::default());
    assert_eq!(allocated() - before, size_of::<ContainerStats>() + 16);
    drop(idle);
}
