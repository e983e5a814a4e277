//! One housekeeping read per container: `ContainerReader::read_stats` over a tree of N cgroups built
//! from the captured v1 hybrid fixture (cpu, cpuacct, memory, pids, blkio, cpuset + unified PSI).
//! The per-iteration time is the cost of one container's sample with the default metric kinds.
#![expect(clippy::unwrap_used, reason = "bench setup failures should panic")]

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use bpfadvisor::cgroup::{ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::host::HostPaths;
use criterion::{Criterion, criterion_group, criterion_main};

const N: usize = 1000;
const FIXTURE: &str = "tests/fixtures/cgroup-v1-hybrid-kernel618";
const CAPTURED: &str = "bpfa-capture";

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A host root with N containers `/bench/c0000`.. in every hierarchy of the fixture.
fn build_tree(root: &Path) -> HostPaths {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let host = HostPaths::under(root);
    for h in fs::read_dir(src.join("sys/fs/cgroup")).unwrap().flatten() {
        let hier = host.cgroup.join(h.file_name());
        copy_dir(&h.path(), &hier);
        for i in 0..N {
            copy_dir(
                &h.path().join(CAPTURED),
                &hier.join(format!("bench/c{i:04}")),
            );
        }
    }
    copy_dir(&src.join("proc"), &host.proc);
    for p in fs::read_dir(src.join("proc"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        copy_dir(&p.path(), &host.proc.join(p.file_name()));
        copy_dir(
            &p.path().join("net"),
            &host.proc.join(p.file_name()).join("net"),
        );
    }
    host
}

/// CPU time of this thread: the machine is shared, so wall time overstates the cost.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn housekeeping(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let host = build_tree(dir.path());
    let layout = Layout::detect(&host).unwrap();
    let mut readers: Vec<ContainerReader> = (0..N)
        .map(|i| ContainerReader::new(&layout, &host, &format!("/bench/c{i:04}")).unwrap())
        .collect();
    let mut i = 0;
    for (label, kinds) in [
        ("default", MetricKinds::default()),
        ("all", MetricKinds::all()),
    ] {
        let id = format!("read_stats cpu time per container ({label} kinds, {N} cgroups)");
        c.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let t0 = thread_cpu();
                for _ in 0..iters {
                    i = (i + 1) % N;
                    black_box(readers[i].read_stats(&kinds).unwrap());
                }
                thread_cpu() - t0
            })
        });
    }
}

criterion_group!(benches, housekeeping);
criterion_main!(benches);
