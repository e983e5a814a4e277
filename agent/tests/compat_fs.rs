//! The root container reports the host's filesystems, as cAdvisor does (live host, read-only).

#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

#[path = "support/prereq.rs"]
mod prereq;

use bpfadvisor::cgroup::{ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::host::HostPaths;

#[test]
fn root_container_has_filesystem_stats() {
    let host = HostPaths::local();
    let Ok(layout) = Layout::detect(&host) else {
        prereq::missing(prereq::Need::Root, "no cgroup hierarchy mounted");
        return;
    };
    let mut r = ContainerReader::new(&layout, &host, "/").unwrap();
    assert!(r.read_spec(1 << 30).unwrap().has_filesystem);
    let st = r.read_stats(&MetricKinds::all()).unwrap();
    let fs = st.filesystem.get().expect("root filesystems");
    assert!(
        fs.iter()
            .any(|f| f.capacity > 0 && f.device.starts_with('/')),
        "{fs:?}"
    );
    // tmpfs mounts are named by their mount point, never by the `tmpfs` source.
    assert!(fs.iter().all(|f| f.device != "tmpfs"), "{fs:?}");

    // Any other cgroup carries none.
    if let Some(other) = layout.list_containers().into_iter().find(|c| c != "/") {
        let Ok(mut r) = ContainerReader::new(&layout, &host, &other) else {
            return; // removed meanwhile
        };
        if let Ok(spec) = r.read_spec(1 << 30) {
            assert!(!spec.has_filesystem, "{other}");
        }
    }
}
