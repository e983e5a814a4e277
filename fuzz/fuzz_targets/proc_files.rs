//! Every `/proc` (and `/etc`) file parser on arbitrary text: none panics; `mountinfo` lines
//! round-trip through the kernel's escaping.
#![no_main]

use std::path::Path;

use bpfadvisor::cgroup::{advtcp, parse as cg, referenced};
use bpfadvisor::events::ebpf::hierarchy;
use bpfadvisor::fs::{diskstats, mountinfo};
use bpfadvisor::machine::{cpuinfo, meminfo, node, processes, setup, version};
use bpfadvisor::model::v1::TcpAdvancedStat;
use libfuzzer_sys::fuzz_target;

/// The kernel's escaping of space, tab, newline and backslash in mountinfo paths.
fn escape(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    let _ = cg::parse_net_dev(s);
    let _ = cg::parse_net_tcp(s);
    let _ = cg::parse_net_udp(s);
    let _ = cg::parse_limits(s);
    let _ = cg::parse_schedstat(s);
    let _ = cg::parse_cgroup_mounts(s);
    let _ = advtcp::parse_tcp_ext(s, &mut TcpAdvancedStat::default());
    let _ = referenced::parse_referenced_kb(s);
    let _ = meminfo::parse_kb_fields(s);
    let _ = meminfo::parse_meminfo(Path::new("meminfo"), s);
    let _ = cpuinfo::parse_cpuinfo(s);
    let _ = version::parse_os_release(s);
    let _ = processes::parse_btime(s);
    let _ = processes::parse_passwd(s);
    let _ = processes::cgroup_path(s);
    let _ = node::parse_loadavg_tasks(s);
    let _ = setup::parse_proc_cgroups(s);
    let _ = setup::v1_cgroup_mounts(s);
    let _ = diskstats::parse_diskstats(s);
    let _ = mountinfo::parse_mountinfo(s);
    for line in s.lines() {
        if let Ok(m) = mountinfo::parse_mountinfo_line(line) {
            let again = format!(
                "1 2 {}:{} {} {} rw - {} {} rw",
                m.major,
                m.minor,
                escape(&m.root),
                escape(&m.mount_point),
                m.fs_type,
                escape(&m.source)
            );
            assert_eq!(mountinfo::parse_mountinfo_line(&again).as_ref(), Ok(&m));
        }
    }
    // /proc/cgroups and mountinfo: the first half of the input as one, the rest as the other.
    let (a, b) = s.split_at(
        s.char_indices()
            .nth(s.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    let _ = hierarchy::Hierarchies::parse(a, b);
});
