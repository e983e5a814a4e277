//! Our hand-written /proc parsers against the `procfs` crate's, on the same fixture text: the
//! numbers behind which parser each module uses (see the module comments of `machine::meminfo`,
//! `machine::cpuinfo`, `fs::mountinfo` and `cgroup::parse`). Run with
//! `cargo bench -p agent --bench procfs_parsers`. `machine::cpuinfo` now parses with procfs, so its
//! pair measures only our adapter on top; the numbers from before the switch are in its comment.

use std::hint::black_box;

use bpfadvisor::cgroup::parse::{parse_limits, parse_net_dev, parse_schedstat};
use bpfadvisor::fs::mountinfo::parse_mountinfo;
use bpfadvisor::machine::{cpuinfo::parse_cpuinfo, meminfo::parse_meminfo};
use criterion::{Criterion, criterion_group, criterion_main};
use procfs::{FromBufRead, FromRead};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{FIX}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn pair(c: &mut Criterion, name: &str, ours: impl Fn(&str), theirs: impl Fn(&[u8])) {
    let mut g = c.benchmark_group(name);
    let text = fixture(match name {
        "meminfo" => "this-machine-hybrid-6.18/proc/meminfo",
        "cpuinfo" => "two-socket-numa/proc/cpuinfo",
        "mountinfo" => "this-machine-hybrid-6.18/proc/1/mountinfo",
        "net_dev" => "cgroup-v1-hybrid-kernel618/proc/14598/net/dev",
        "limits" => "cgroup-v1-hybrid-kernel618/proc/14598/limits",
        _ => "cgroup-v1-hybrid-kernel618/proc/14598/schedstat",
    });
    g.bench_function("ours", |b| b.iter(|| ours(black_box(&text))));
    g.bench_function("procfs", |b| b.iter(|| theirs(black_box(text.as_bytes()))));
    g.finish();
}

fn parsers(c: &mut Criterion) {
    pair(
        c,
        "meminfo",
        |t| {
            black_box(parse_meminfo(std::path::Path::new("meminfo"), t).ok());
        },
        |b| {
            black_box(procfs::Meminfo::from_buf_read(b).ok());
        },
    );
    pair(
        c,
        "cpuinfo",
        |t| {
            black_box(parse_cpuinfo(t));
        },
        |b| {
            black_box(procfs::CpuInfo::from_buf_read(b).ok());
        },
    );
    pair(
        c,
        "mountinfo",
        |t| {
            black_box(parse_mountinfo(t));
        },
        |b| {
            black_box(procfs::process::MountInfos::from_buf_read(b).ok());
        },
    );
    pair(
        c,
        "net_dev",
        |t| {
            black_box(parse_net_dev(t).ok());
        },
        |b| {
            black_box(procfs::net::InterfaceDeviceStatus::from_buf_read(b).ok());
        },
    );
    pair(
        c,
        "limits",
        |t| {
            black_box(parse_limits(t));
        },
        |b| {
            black_box(procfs::process::Limits::from_buf_read(b).ok());
        },
    );
    pair(
        c,
        "schedstat",
        |t| {
            black_box(parse_schedstat(t).ok());
        },
        |b| {
            black_box(procfs::process::Schedstat::from_read(b).ok());
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1)).sample_size(20);
    targets = parsers
}
criterion_main!(benches);
