//! One housekeeping read per container over N *real* cgroups of this host (v1 cpu, cpuacct, memory,
//! pids + unified, as a runtime creates them): kernel-generated files such as `memory.stat` cost more
//! than the fixture copies read by the `housekeeping` bench. Needs root; skips itself otherwise.
//! The cgroups live under a dedicated parent and are removed when the bench ends.
#![expect(clippy::unwrap_used, reason = "bench setup failures should panic")]

use std::fs;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use bpfadvisor::cgroup::{ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::host::HostPaths;
use criterion::{Criterion, criterion_group, criterion_main};

const N: usize = 1000;
const PARENT: &str = "bpfadvisor-bench-live";
const HIERARCHIES: &[&str] = &["cpu", "cpuacct", "memory", "pids", "unified"];

/// The bench's cgroups; removed (children first) on drop.
struct Cgroups(Vec<PathBuf>);

impl Cgroups {
    fn create(host: &HostPaths) -> Option<Self> {
        let parents: Vec<PathBuf> = HIERARCHIES
            .iter()
            .map(|h| host.cgroup.join(h))
            .filter(|h| h.join("cgroup.procs").exists())
            .map(|h| h.join(PARENT))
            .collect();
        let set = Self(parents);
        for p in &set.0 {
            set.remove(p);
            if let Err(e) = fs::create_dir(p) {
                eprintln!("skipping test - cannot create cgroup {}: {e}", p.display());
                return None;
            }
            for i in 0..N {
                fs::create_dir(p.join(format!("c{i:04}"))).ok()?;
            }
        }
        (!set.0.is_empty()).then_some(set)
    }

    fn remove(&self, parent: &std::path::Path) {
        if let Ok(entries) = fs::read_dir(parent) {
            for e in entries.flatten().filter(|e| e.path().is_dir()) {
                let _ = fs::remove_dir(e.path());
            }
        }
        let _ = fs::remove_dir(parent);
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for p in &self.0 {
            self.remove(p);
        }
    }
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

fn housekeeping_live(c: &mut Criterion) {
    let host = HostPaths::local();
    let Some(_cgroups) = Cgroups::create(&host) else {
        return;
    };
    let layout = Layout::detect(&host).unwrap();
    let mut readers: Vec<ContainerReader> = (0..N)
        .map(|i| ContainerReader::new(&layout, &host, &format!("/{PARENT}/c{i:04}")).unwrap())
        .collect();
    let mut i = 0;
    for (label, kinds) in [
        ("default", MetricKinds::default()),
        ("all", MetricKinds::all()),
    ] {
        let id = format!("live read_stats cpu time per container ({label} kinds, {N} cgroups)");
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

criterion_group!(benches, housekeeping_live);
criterion_main!(benches);
