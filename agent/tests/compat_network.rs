//! Network is reported only for a container in a network namespace of its own (and for `/`), as
//! cAdvisor does: a raw cgroup in the host's namespace would otherwise repeat the host's counters.
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use bpfadvisor::cgroup::{ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::host::HostPaths;

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The hybrid capture (its SOURCE.md) with `ns/net` links for init and the member shell.
fn with_namespaces(shell_ns: &str) -> (tempfile::TempDir, HostPaths) {
    let src =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-v1-hybrid-kernel618");
    let t = tempfile::tempdir().unwrap();
    copy_tree(&src, t.path());
    let host = HostPaths::under(t.path());
    for (pid, ns) in [("1", "net:[4026531840]"), ("14598", shell_ns)] {
        let d = host.proc.join(pid).join("ns");
        fs::create_dir_all(&d).unwrap();
        symlink(ns, d.join("net")).unwrap();
    }
    (t, host)
}

#[test]
fn own_namespace_reports_network() {
    let (_t, host) = with_namespaces("net:[4026532512]");
    let layout = Layout::detect(&host).unwrap();
    let mut r = ContainerReader::new(&layout, &host, "/bpfa-capture").unwrap();
    let st = r.read_stats(&MetricKinds::all()).unwrap();
    let net = st.network.get().unwrap();
    assert_eq!(net.interfaces.len(), 3); // lo skipped
    assert_eq!(
        (net.interface.name.as_str(), net.interfaces[2].rx_bytes),
        ("ifb0", 227392550)
    );
    assert!(r.read_spec(8 << 30).unwrap().has_network);
}

#[test]
fn host_namespace_reports_none() {
    let (_t, host) = with_namespaces("net:[4026531840]");
    let layout = Layout::detect(&host).unwrap();
    let mut r = ContainerReader::new(&layout, &host, "/bpfa-capture").unwrap();
    assert!(
        r.read_stats(&MetricKinds::all())
            .unwrap()
            .network
            .get()
            .is_none()
    );
    assert!(!r.read_spec(8 << 30).unwrap().has_network);
}
