//! Encode and decode of one cached stats sample in the compact in-memory format: the cost the
//! stats cache pays once per container per housekeeping tick (encode) and per sample of history
//! an API request reads (decode).

use std::hint::black_box;

use bpfadvisor::model::compact::{decode, encode};
use bpfadvisor::model::v1::{
    ContainerStats, CpuUsage, InterfaceStats, MemoryStats, MemoryStatsMemoryData, NetworkStats,
    PSIData, PSIStats, PerDiskStats, ProcessStats, UlimitSpec,
};
use bpfadvisor::model::{Sparse, Timestamp};
use criterion::{Criterion, criterion_group, criterion_main};

fn psi(total: u64, avg10: f64) -> PSIStats {
    let data = |total, avg10| PSIData {
        total,
        avg10,
        avg60: avg10 / 3.0,
        avg300: 0.01,
    };
    PSIStats {
        full: data(total / 2, avg10 / 2.0),
        some: data(total, avg10),
    }
}

fn disk(stats: &[(&str, u64)]) -> PerDiskStats {
    PerDiskStats {
        device: "/dev/nvme0n1".into(),
        major: 259,
        minor: 0,
        stats: stats.iter().copied().collect(),
    }
}

/// A busy docker container on cgroup v2, as the housekeeping loop stores it.
fn docker_sample() -> ContainerStats {
    let mut s = ContainerStats {
        timestamp: Timestamp::from_unix_nanos(1_795_371_389_914_702_850),
        ..Default::default()
    };
    s.cpu.usage = CpuUsage {
        total: 48_211_309_000,
        per_cpu: Vec::new(),
        user: 30_511_204_000,
        system: 17_700_105_000,
    };
    s.cpu.cfs.periods = 18_223;
    s.cpu.cfs.throttled_periods = 12;
    s.cpu.cfs.throttled_time = 1_204_330_000;
    s.cpu.psi = psi(2_301_554, 0.12);
    let data = MemoryStatsMemoryData {
        pgfault: 1_202_937,
        pgmajfault: 151,
        numa_stats: Sparse::none(),
    };
    s.memory = MemoryStats {
        usage: 73_420_800,
        cache: 21_094_400,
        rss: 48_357_376,
        mapped_file: 9_728_000,
        working_set: 61_534_208,
        total_active_file: 8_499_200,
        total_inactive_file: 11_886_592,
        file_dirty: 4096,
        kernel: 3_321_856,
        container_data: data.clone(),
        hierarchical_data: data,
        psi: psi(10_233, 0.0),
        ..Default::default()
    };
    s.diskio.io_service_bytes = vec![disk(&[
        ("Read", 36_864_000),
        ("Write", 1_245_184),
        ("Total", 38_109_184),
    ])];
    s.diskio.io_serviced = vec![disk(&[("Read", 1_130), ("Write", 288), ("Total", 1_418)])];
    s.diskio.psi = psi(88_120, 0.0);
    s.network
        .set(NetworkStats::from_interfaces(vec![InterfaceStats {
            name: "eth0".into(),
            rx_bytes: 48_300_122,
            rx_packets: 53_666,
            rx_dropped: 3,
            tx_bytes: 12_075_030,
            tx_packets: 24_150,
            ..Default::default()
        }]));
    s.processes.set(ProcessStats {
        process_count: 5,
        fd_count: 41,
        socket_count: 6,
        threads_current: 9,
        threads_max: 4_194_304,
        ulimits: vec![UlimitSpec {
            name: "max_open_files".into(),
            soft_limit: 1_048_576,
            hard_limit: 1_048_576,
        }],
    });
    s
}

fn bench(c: &mut Criterion) {
    let sample = docker_sample();
    let mut buf = Vec::with_capacity(512);
    encode(&sample, &mut buf);
    println!("docker-like sample: {} bytes encoded", buf.len());

    c.bench_function("compact/encode docker sample", |b| {
        b.iter(|| {
            buf.clear();
            encode(black_box(&sample), &mut buf);
            black_box(buf.len())
        })
    });
    let bytes = buf.clone();
    c.bench_function("compact/decode docker sample", |b| {
        b.iter(|| decode::<ContainerStats>(black_box(&bytes)).ok())
    });

    // postcard, the obvious off-the-shelf alternative: it needs every sequence's and map's length up
    // front, which serde's `flatten` (the model's `memory_stats` maps) does not give, so it cannot
    // hold a sample at all. Said here so the comparison stays honest if either side changes.
    let mut pc = Vec::with_capacity(1024);
    match postcard::to_io(&sample, &mut pc) {
        Ok(_) => match postcard::from_bytes::<ContainerStats>(&pc) {
            Ok(back) if back == sample => println!("postcard: {} bytes, round-trips", pc.len()),
            Ok(_) => println!("postcard: {} bytes, decodes to other values", pc.len()),
            Err(e) => println!("postcard: cannot decode what it encoded: {e}"),
        },
        Err(e) => println!("postcard: cannot encode the sample: {e}"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
