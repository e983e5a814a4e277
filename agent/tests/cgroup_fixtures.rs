//! Stats and spec read from captured/assembled cgroup trees (see each fixture's SOURCE.md).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

use std::path::PathBuf;

use bpfadvisor::cgroup::{CgroupMode, ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::host::HostPaths;

fn fixture(name: &str) -> HostPaths {
    HostPaths::under(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

#[test]
fn hybrid_v1_capture() {
    let host = fixture("cgroup-v1-hybrid-kernel618");
    let layout = Layout::detect(&host).unwrap();
    assert_eq!(layout.mode(), CgroupMode::Hybrid);
    assert_eq!(layout.list_containers(), ["/", "/bpfa-capture"]);
    let mut r = ContainerReader::new(&layout, &host, "/bpfa-capture").unwrap();
    let st = r.read_stats(&MetricKinds::all()).unwrap();

    assert_eq!(st.cpu.usage.total, 356753701);
    assert_eq!(st.cpu.usage.per_cpu, [333718146, 23035555]);
    assert_eq!(
        (st.cpu.usage.user, st.cpu.usage.system),
        (330_000_000, 10_000_000)
    );
    assert_eq!(
        (
            st.cpu.cfs.periods,
            st.cpu.cfs.throttled_periods,
            st.cpu.cfs.throttled_time
        ),
        (10, 7, 345142844)
    );
    // No PSI on a hybrid host, as in cAdvisor (the unified hierarchy's pressure files are not read).
    assert_eq!((st.cpu.psi.some.total, st.cpu.psi.full.total), (0, 0));
    assert_eq!(st.memory.psi.some.avg10, 0.0);
    let cpu_sched = &st.cpu.schedstat;
    assert_eq!((cpu_sched.run_time, cpu_sched.run_periods), (335582962, 22));

    let m = &st.memory;
    assert_eq!(
        (m.usage, m.max_usage, m.failcnt, m.kernel),
        (20578304, 20709376, 0, 147456)
    );
    assert_eq!(
        (m.cache, m.rss, m.swap, m.mapped_file),
        (20000768, 118784, 0, 0)
    );
    assert_eq!(m.working_set, 20578304); // total_inactive_file is 0
    assert_eq!(
        (m.hierarchical_data.pgfault, m.container_data.pgfault),
        (157, 157)
    );
    assert_eq!(m.container_data.numa_stats.anon[&0], 4912);

    let p = st.processes.get().unwrap();
    assert_eq!(
        (p.process_count, p.threads_current, p.threads_max),
        (2, 2, 100)
    );
    assert_eq!(p.ulimits[0].name, "max_open_files");
    assert_eq!(
        (p.ulimits[0].soft_limit, p.ulimits[0].hard_limit),
        (20000, 20000)
    );

    // The shell shared the host's network namespace: no network, as cAdvisor reports such cgroups
    // (compat_network.rs covers a container with a namespace of its own).
    assert!(st.network.get().is_none());
    assert_eq!(st.cpuset.memory_migrate, 0);
    assert!(st.diskio.io_service_bytes.is_empty()); // `Total 0` only

    let spec = r.read_spec(8 << 30).unwrap();
    assert!(
        spec.has_cpu
            && spec.has_memory
            && spec.has_processes
            && spec.has_diskio
            && !spec.has_network
    );
    assert!(!spec.has_hugetlb);
    assert_eq!(
        (spec.cpu.limit, spec.cpu.quota, spec.cpu.period),
        (512, 50000, 100000)
    );
    assert_eq!(spec.cpu.mask, "0-1");
    assert_eq!(
        (
            spec.memory.limit,
            spec.memory.reservation,
            spec.memory.swap_limit
        ),
        (67108864, 9223372036854771712, 9223372036854771712)
    );
    assert_eq!(spec.processes.limit, 100);
    assert!(!spec.creation_time.is_zero());
}

#[test]
fn pure_v2_docs() {
    let host = fixture("cgroup-v2-docs");
    let layout = Layout::detect(&host).unwrap();
    assert_eq!(layout.mode(), CgroupMode::V2);
    let name = "/system.slice/docker-0123abcd.scope";
    assert_eq!(layout.list_containers(), ["/", "/system.slice", name]);
    let mut r = ContainerReader::new(&layout, &host, name).unwrap();
    let st = r.read_stats(&MetricKinds::all()).unwrap();

    assert_eq!(
        (st.cpu.usage.total, st.cpu.usage.user, st.cpu.usage.system),
        (356753000, 336930000, 19822000)
    );
    assert!(st.cpu.usage.per_cpu.is_empty());
    assert_eq!(
        (st.cpu.cfs.throttled_periods, st.cpu.cfs.throttled_time),
        (7, 345142000)
    );

    let m = &st.memory;
    assert_eq!(
        (m.usage, m.max_usage, m.cache, m.rss, m.mapped_file),
        (9805824, 12582912, 7442432, 1282048, 4055040)
    );
    assert_eq!(m.working_set, 9805824 - 5083136);
    assert_eq!(
        (m.total_active_file, m.total_inactive_file),
        (2359296, 5083136)
    );
    assert_eq!(
        (m.file_dirty, m.pgscan, m.pgsteal, m.workingset_refault_file),
        (4096, 40, 38, 12)
    );
    assert_eq!((m.events.high, m.events.max, m.failcnt), (0, 5, 5));
    assert_eq!(
        (m.container_data.pgmajfault, m.hierarchical_data.pgmajfault),
        (96, 96)
    );

    let io = &st.diskio;
    assert_eq!(io.io_service_bytes.len(), 2);
    let sda = &io.io_service_bytes[0];
    assert_eq!(
        (sda.device.as_str(), sda.major, sda.minor),
        ("/dev/sda", 8, 0)
    );
    assert_eq!(
        (
            sda.stats.get("Read"),
            sda.stats.get("Write"),
            sda.stats.get("Discard")
        ),
        (Some(90430464), Some(299008000), Some(50331648))
    );
    assert_eq!(io.io_serviced[1].stats.get("Write"), Some(353));
    assert_eq!(io.psi.some.total, 0);

    let p = st.processes.get().unwrap();
    assert_eq!(
        (p.process_count, p.threads_current, p.threads_max),
        (2, 2, 0)
    );

    let spec = r.read_spec(8 << 30).unwrap();
    assert_eq!(
        (spec.cpu.limit, spec.cpu.quota, spec.cpu.period),
        (2 + 99 * 262142 / 9999, 50000, 100000)
    );
    assert_eq!(spec.cpu.mask, "0-1");
    assert_eq!(
        (spec.memory.limit, spec.memory.swap_limit),
        (67108864, u64::MAX)
    );
    assert_eq!(spec.processes.limit, u64::MAX);

    // The v2 root has no memory.max: its limit is the machine's memory.
    let mut root = ContainerReader::new(&layout, &host, "/").unwrap();
    assert_eq!(root.read_spec(8 << 30).unwrap().memory.limit, 8 << 30);
    assert!(
        root.read_stats(&MetricKinds::default())
            .unwrap()
            .cpu
            .usage
            .total
            > 0
    );
}

#[test]
fn missing_container_is_gone() {
    let host = fixture("cgroup-v2-docs");
    let layout = Layout::detect(&host).unwrap();
    let err = ContainerReader::new(&layout, &host, "/system.slice/nope").unwrap_err();
    assert!(err.is_gone(), "{err}");
    assert!(!layout.exists("/system.slice/nope"));
}
