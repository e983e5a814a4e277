//! Stats and spec read from captured/assembled cgroup trees (see each fixture's SOURCE.md).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

use std::path::PathBuf;

use bpfadvisor::cgroup::{CgroupMode, ContainerReader, Layout};
use bpfadvisor::config::MetricKinds;
use bpfadvisor::events::oom_counters::read_oom_kill;
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

/// The kubepods scope of the 6.1 guest (see the fixture's SOURCE.md).
const SCOPE: &str = "/kubepods.slice/kubepods-burstable.slice/\
    kubepods-burstable-pod8f3c1a2e_5b7d_4c2a_9e61_0d4b2f6a7c10.slice/\
    cri-containerd-3b1e5c0d9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d.scope";

#[test]
fn pure_v2_kernel61_capture() {
    let host = fixture("cgroup-v2-kernel61");
    let layout = Layout::detect(&host).unwrap();
    assert_eq!(layout.mode(), CgroupMode::V2);
    let pod = SCOPE.rsplit_once('/').unwrap().0;
    assert_eq!(
        layout.list_containers(),
        [
            "/",
            "/kubepods.slice",
            "/kubepods.slice/kubepods-burstable.slice",
            pod,
            SCOPE,
            "/vmtest-oom",
            "/vmtest-oom/victim",
            "/vmtest-pids"
        ]
    );
    let mut r = ContainerReader::new(&layout, &host, SCOPE).unwrap();
    let st = r.read_stats(&MetricKinds::all()).unwrap();

    // cpu.stat is in microseconds; cAdvisor reports nanoseconds.
    assert_eq!(
        (st.cpu.usage.total, st.cpu.usage.user, st.cpu.usage.system),
        (2_377_405_000, 1_952_036_000, 425_369_000)
    );
    assert!(st.cpu.usage.per_cpu.is_empty());
    assert_eq!(
        (
            st.cpu.cfs.periods,
            st.cpu.cfs.throttled_periods,
            st.cpu.cfs.throttled_time
        ),
        (117, 117, 19_704_674_000)
    );
    // PSI is real on v2: two busy loops under cpu.max 20000/100000.
    assert_eq!(
        (st.cpu.psi.some.total, st.cpu.psi.full.total),
        (10_525_347, 10_274_700)
    );
    assert_eq!(
        (st.cpu.psi.some.avg10, st.cpu.psi.full.avg300),
        (56.03, 2.92)
    );
    assert_eq!(st.memory.psi.some.total, 0);

    let m = &st.memory;
    assert_eq!(
        (m.usage, m.max_usage, m.cache, m.rss, m.mapped_file),
        (8_994_816, 11_091_968, 4096, 8_880_128, 0)
    );
    // No inactive_file: the working set is the whole usage (8 MiB of anonymous memory held).
    assert_eq!(m.working_set, 8_994_816);
    assert_eq!((m.total_active_file, m.total_inactive_file), (0, 0));
    assert_eq!((m.events.high, m.events.max, m.failcnt), (0, 0, 0));
    assert_eq!(
        (m.container_data.pgfault, m.hierarchical_data.pgfault),
        (2366, 2366)
    );

    // 4 MiB read and 2 MiB written with O_DIRECT on the RAM disk /dev/ram0 (1:0).
    let io = &st.diskio;
    assert_eq!(io.io_service_bytes.len(), 1);
    let ram = &io.io_service_bytes[0];
    assert_eq!(
        (ram.device.as_str(), ram.major, ram.minor),
        ("/dev/ram0", 1, 0)
    );
    assert_eq!(
        (
            ram.stats.get("Read"),
            ram.stats.get("Write"),
            ram.stats.get("Discard")
        ),
        (Some(4_194_304), Some(2_097_152), Some(0))
    );
    assert_eq!(
        (
            io.io_serviced[0].stats.get("Read"),
            io.io_serviced[0].stats.get("Write")
        ),
        (Some(64), Some(32))
    );
    assert_eq!(io.psi.some.total, 0);

    let p = st.processes.get().unwrap();
    assert_eq!(
        (p.process_count, p.threads_current, p.threads_max),
        (3, 3, 64)
    );

    let spec = r.read_spec(8 << 30).unwrap();
    assert_eq!(
        (spec.cpu.limit, spec.cpu.quota, spec.cpu.period),
        (2 + 99 * 262142 / 9999, 20000, 100000)
    );
    // No cpuset controller below the root (only cpu, memory, io, pids enabled): no
    // cpuset.cpus.effective in the scope, so every CPU, as cAdvisor's FixCpuMask says.
    assert!(
        !host
            .cgroup
            .join(&SCOPE[1..])
            .join("cpuset.cpus.effective")
            .exists()
    );
    assert_eq!(spec.cpu.mask, "0-1");
    assert_eq!(
        (spec.memory.limit, spec.memory.swap_limit),
        (268_435_456, u64::MAX)
    );
    assert_eq!(spec.processes.limit, 64);

    // The v2 root has no memory.max: its limit is the machine's memory.
    let mut root = ContainerReader::new(&layout, &host, "/").unwrap();
    assert_eq!(root.read_spec(8 << 30).unwrap().memory.limit, 8 << 30);
    assert_eq!(
        root.read_stats(&MetricKinds::default())
            .unwrap()
            .cpu
            .usage
            .total,
        13_712_000_000
    );
}

/// The OOM parent (`memory.max` 64 MiB hit 151 times) and the victim's own cgroup (`oom_kill 1`)
/// of the 6.1 guest, and its pids-limited cgroup.
#[test]
fn pure_v2_kernel61_oom_and_pids() {
    let host = fixture("cgroup-v2-kernel61");
    let layout = Layout::detect(&host).unwrap();
    let kinds = MetricKinds::all();
    let parent = ContainerReader::new(&layout, &host, "/vmtest-oom")
        .unwrap()
        .read_stats(&kinds)
        .unwrap();
    assert_eq!(
        (parent.memory.events.max, parent.memory.failcnt),
        (151, 151)
    );
    // The kill is counted where the victim lives: memory.events.local of the victim's cgroup, the
    // parent's memory.events only hierarchically (its .local says 0).
    let dir = |name: &str| host.cgroup.join(name);
    assert_eq!(read_oom_kill(&dir("vmtest-oom/victim")).unwrap(), Some(1));
    assert_eq!(read_oom_kill(&dir("vmtest-oom")).unwrap(), Some(0));

    let mut pids = ContainerReader::new(&layout, &host, "/vmtest-pids").unwrap();
    let p = pids.read_stats(&kinds).unwrap();
    let p = p.processes.get().unwrap();
    assert_eq!(
        (p.process_count, p.threads_current, p.threads_max),
        (3, 3, 8)
    );
    assert_eq!(pids.read_spec(8 << 30).unwrap().processes.limit, 8);
}

#[test]
fn missing_container_is_gone() {
    let host = fixture("cgroup-v2-kernel61");
    let layout = Layout::detect(&host).unwrap();
    let err = ContainerReader::new(&layout, &host, "/kubepods.slice/nope").unwrap_err();
    assert!(err.is_gone(), "{err}");
    assert!(!layout.exists("/kubepods.slice/nope"));
}
