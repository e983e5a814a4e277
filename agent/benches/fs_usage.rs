//! The per-container filesystem usage walk (`fs::usage::dir_usage`) over a writable-layer-like tree:
//! 10,000 small files in 100 directories, 1% of them hard-linked twice. Divide by 10 for the cost
//! per 1000 files. `du_fork` runs `du -sx` on the same tree for comparison (what cAdvisor forks).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use bpfadvisor::fs::usage::dir_usage;
use criterion::{Criterion, criterion_group, criterion_main};

fn tree(root: &Path) {
    for d in 0..100 {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir(&dir).expect("mkdir");
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f:03}")), b"x").expect("write");
        }
        std::fs::hard_link(dir.join("f000"), dir.join("link")).expect("link");
    }
}

fn bench(c: &mut Criterion) {
    let t = tempfile::tempdir().expect("tempdir");
    tree(t.path());
    let mut g = c.benchmark_group("fs_usage_10k_files");
    g.sample_size(30);
    g.bench_function("dir_usage", |b| {
        b.iter(|| black_box(dir_usage(t.path(), u64::MAX, &mut || {}).expect("walk")))
    });
    g.bench_function("du_fork", |b| {
        b.iter(|| {
            let out = Command::new("du")
                .arg("-sx")
                .arg(t.path())
                .output()
                .expect("du");
            black_box(out.stdout)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
