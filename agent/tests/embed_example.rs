//! The embedding example (`examples/node_summary.rs`) runs: it starts the collector in-process, waits
//! for samples and prints the node summary, within a minute. Its code is compiled into this test, so
//! CI runs exactly what the example ships.

#[path = "../examples/node_summary.rs"]
#[expect(
    dead_code,
    reason = "the test calls `run`; `main` is the example binary's"
)]
mod example;

use std::sync::mpsc;
use std::time::Duration;

#[test]
fn node_summary_example_prints_the_node() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let res = example::run(&["--housekeeping_interval=1s".to_string()], &mut out)
            .map(|()| String::from_utf8_lossy(&out).into_owned())
            .map_err(|e| format!("{e:#}"));
        let _ = tx.send(res);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the example did not finish within 60 s")
        .expect("the example failed");
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
            .to_string()
    };
    assert!(line("machine: ").contains(" cores, "), "{out}");
    line("root filesystem: ");
    let containers: usize = line("containers: ")["containers: ".len()..]
        .parse()
        .expect("a count");
    assert!(containers >= 1, "at least the root container: {out}");
    assert!(line("node ").contains(" cores in use, "), "{out}");
    line("pods: ");
}
