//! Every parser of untrusted input, grouped by where the input comes from, for the harnesses that
//! run them over arbitrary input: the property tests (`agent/tests/parsers_prop.rs`) and the
//! libFuzzer targets (`fuzz/`). A new parser is listed here once and both exercise it. Each
//! function returns nothing and panics only where a parser does; round-trips and other invariants
//! stay with the harnesses.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use crate::access::{bearer, digest, htpasswd};
use crate::api::events::parse_event_request;
use crate::api::request::{self, RequestOptions};
use crate::cgroup::{advtcp, parse as cg, referenced};
use crate::events::{kmsg, oom_counters};
use crate::fs::{diskstats, mountinfo};
use crate::machine::{
    cpuinfo, disks, hugepages, meminfo, net, node, processes, setup, topology, version,
};
use crate::model::v1::TcpAdvancedStat;

/// cgroup v1 and v2 files.
pub fn cgroup_files(s: &str) {
    let _ = cg::parse_u64(s);
    let _ = cg::parse_u64_or_max(s);
    let _ = cg::parse_i64(s);
    let _ = cg::for_each_kv(s, |_, _| {});
    let _ = cg::MemoryStat::parse(s);
    let _ = cg::CpuStat::parse(s);
    let _ = cg::CpuacctStat::parse(s);
    let _ = cg::parse_percpu(s, &mut Vec::new());
    let _ = cg::MemoryEvents::parse(s);
    let _ = cg::Psi::parse(s);
    let _ = cg::parse_blkio(s);
    let _ = cg::IoStat::parse(s);
    let _ = cg::NumaStat::parse(s);
    let _ = cg::first_pid(s);
    let _ = cg::parse_cpu_max(s);
}

/// `/proc` (and `/etc`) files.
pub fn proc_files(s: &str) {
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
        let _ = mountinfo::parse_mountinfo_line(line);
    }
}

/// `/sys` files: topology, caches, NUMA, network and block devices, hugepages.
pub fn sys_files(s: &str) {
    let _ = node::parse_int(s);
    let _ = topology::parse_cpu_list(s);
    let _ = topology::parse_cache_size(s);
    let _ = topology::parse_distances(s);
    let _ = net::parse_speed(Some(s));
    let _ = net::ignored(s);
    let _ = disks::parse_dev(s);
    let _ = disks::parse_scheduler(s);
    let _ = hugepages::parse_page_size_kb(s);
}

/// `/dev/kmsg` records, the OOM report line by line, `memory.events`' `oom_kill`.
pub fn kernel_log(s: &str) {
    let _ = kmsg::parse_kmsg_record(s);
    let mut oom = kmsg::OomParser::default();
    for line in s.lines() {
        let _ = kmsg::parse_oom_kill_line(line);
        let _ = oom.feed(line, SystemTime::UNIX_EPOCH);
    }
    let _ = oom_counters::parse_oom_kill(s);
}

/// What a client sends: API paths, query strings and bodies, durations, timestamps, event-stream
/// parameters, `/metrics` options.
pub fn request_input(s: &str) {
    let _ = request::parse_info_request(s.as_bytes());
    let _ = request::split_api_path(s);
    let args = request::request_args(s);
    let _ = request::container_name(&args);
    let _ = request::clean_path(s);
    let _ = request::canonical_path(s);
    let _ = request::escape_path(s);
    let _ = request::decode_path(s);
    let _ = request::query_get(s, "type");
    let _ = RequestOptions::parse(s);
    let _ = request::parse_go_duration(s);
    let _ = request::go_quote(s);
    let _ = parse_event_request("/", s);
    let _ = crate::config::parse_go_duration(s);
    let _ = crate::model::json::Timestamp::parse_rfc3339(s);
    let q: BTreeMap<String, String> = s
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let _ = crate::metrics::parse_options(&q);
}

/// The access-control files (`--http_auth_file`, `--http_digest_file`, bearer tokens) and the
/// Digest `Authorization` header's parameters.
pub fn access_files(s: &str) {
    let _ = htpasswd::Htpasswd::parse(s);
    let _ = digest::Htdigest::parse(s);
    let _ = digest::parse_params(s);
    let _ = bearer::Tokens::parse(s);
}
