//! Property tests of every parser of kernel text (/proc, /sys, cgroupfs, /dev/kmsg, BTF) and of the
//! API's query and body parsing: none panics on arbitrary input, round-trips hold where a format has
//! one, and an error names what it could not parse.
//!
//! Inputs are both arbitrary strings and "kernel-ish" text built from the tokens those files are made
//! of (keys, numbers, `max`, separators, newlines), which reaches far deeper into the parsers than
//! random Unicode does. The CI run is bounded (256 cases each, a few seconds); run longer with
//! `PROPTEST_CASES=100000 cargo test -p agent --test parsers_prop --release` (see
//! docs/fuzzing.md).
#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bpfadvisor::api::events::parse_event_request;
use bpfadvisor::api::request::{self, RequestOptions};
use bpfadvisor::cgroup::parse as cg;
use bpfadvisor::events::ebpf::{btf, hierarchy};
use bpfadvisor::events::kmsg;
use bpfadvisor::fs::mountinfo;
use bpfadvisor::fuzzing;
use bpfadvisor::machine::{meminfo, topology};
use proptest::prelude::*;

/// Tokens cgroup and proc files are made of.
const TOKENS: &[&str] = &[
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    ":",
    "=",
    ",",
    "-",
    "/",
    ".",
    "(",
    ")",
    ";",
    "max",
    "0",
    "1",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "9223372036854775807",
    "4294967296",
    "some",
    "full",
    "avg10=",
    "total=",
    "rbytes=",
    "wbytes=",
    "8:0",
    "253:1",
    "Read",
    "Write",
    "Total",
    "usage_usec",
    "nr_periods",
    "anon",
    "file",
    "cache",
    "rss",
    "total_rss",
    "N0=",
    "MemTotal:",
    "SwapTotal:",
    "kB",
    "processor",
    "cpu MHz",
    "model name",
    "Max open files",
    "unlimited",
    "soft",
    "hard",
    "Inter-|",
    "eth0:",
    "lo:",
    "sl",
    "local_address",
    "0A",
    "01",
    "cgroup",
    "cgroup2",
    "rw,nosuid",
    "memory",
    "cpu,cpuacct",
    "shared:1",
    "oom-kill:constraint=",
    "CONSTRAINT_MEMCG",
    "task_memcg=",
    "oom_memcg=",
    "task=",
    "pid=",
    "uid=",
    ",nodemask=(null)",
    "invoked oom-killer:",
    "Killed process",
    "oom_kill",
    "TcpExt:",
    "Referenced:",
    "hugepages-",
    "2048kB",
    "[mq-deadline]",
    "none",
    "PRETTY_NAME=",
    "\"",
    "btime",
    "root:x:0:0",
    "0-3",
    "5,7-9",
    "K",
    "M",
    "\u{b5}s",
    "ms",
    "1.5h",
    "%2F",
    "%",
    "&",
    "?",
    "+",
];

fn kernelish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        8 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => "[a-z_]{1,12}",
        1 => any::<String>(),
    ];
    proptest::collection::vec(token, 0..64).prop_map(|t| t.concat())
}

/// Arbitrary bytes read as the lossy UTF-8 a reader would hand the parser.
fn bytes_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..512)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![4 => kernelish(), 1 => any::<String>(), 1 => bytes_text()]
}

/// Runs every parser of kernel text over `s`; returns nothing, panics if one does.
fn all_kernel_parsers(s: &str) {
    fuzzing::cgroup_files(s);
    fuzzing::proc_files(s);
    fuzzing::sys_files(s);
    fuzzing::kernel_log(s);
    let _ = hierarchy::Hierarchies::parse(s, s);
}

/// Runs every parser of request input (paths, query strings, bodies) over `s`.
fn all_request_parsers(s: &str) {
    fuzzing::request_input(s);
    fuzzing::access_files(s);
}

/// A query string made of the parameter names the API knows and values near their edges.
fn query() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(
        &[
            "type",
            "count",
            "recursive",
            "max_age",
            "stream",
            "all_events",
            "oom_events",
            "oom_kill_events",
            "creation_events",
            "deletion_events",
            "start_time",
            "end_time",
            "max_events",
            "subcontainers",
            "name",
            "",
            "type;x",
        ][..],
    );
    let value = prop_oneof![
        proptest::sample::select(
            &[
                "",
                "true",
                "false",
                "1",
                "0",
                "T",
                "-1",
                "-2",
                "name",
                "docker",
                "podman",
                "9223372036854775808",
                "1h2m3.5s",
                ".5s",
                "1e3s",
                "2262y",
                "9999999999h",
                "2024-01-01T00:00:00Z",
                "2024-13-01T00:00:00Z",
                "%zz",
                "%2F",
                "\u{b5}s",
            ][..]
        )
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>(),
    ];
    proptest::collection::vec((key, value), 0..8).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #[test]
    fn kernel_parsers_never_panic(s in input()) {
        all_kernel_parsers(&s);
    }

    #[test]
    fn request_parsers_never_panic(s in prop_oneof![query(), input()]) {
        all_request_parsers(&s);
    }

    #[test]
    fn btf_parser_never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..256), hdr in any::<bool>()) {
        if hdr && data.len() >= 4 {
            // Magic, version 1, flags 0: past the first check into the header and type walk.
            data[..4].copy_from_slice(&[0x9f, 0xeb, 1, 0]);
        }
        let _ = btf::Btf::parse(data);
    }

    #[test]
    fn single_values_round_trip(n in any::<u64>(), i in any::<i64>(), pad in "[ \t\n]{0,3}") {
        prop_assert_eq!(cg::parse_u64(&format!("{n}{pad}")).unwrap(), n);
        prop_assert_eq!(cg::parse_u64_or_max(&format!("{n}\n")).unwrap(), n);
        prop_assert_eq!(cg::parse_i64(&format!("{i}{pad}")).unwrap(), i);
        prop_assert_eq!(cg::parse_u64_or_max("max\n").unwrap(), u64::MAX);
    }

    #[test]
    fn parse_errors_carry_the_bad_text(s in "[a-z]{1,8}[0-9]{0,4}") {
        let e = cg::parse_u64(&s).unwrap_err();
        prop_assert_eq!(&e.line, &s);
        prop_assert!(e.to_string().contains(&s));
    }

    #[test]
    fn flat_keyed_files_round_trip(kv in proptest::collection::btree_map("[a-z_]{1,16}", any::<u64>(), 0..32)) {
        let text: String = kv.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        let mut got = BTreeMap::new();
        cg::for_each_kv(&text, |k, v| { got.insert(k.to_string(), v); }).unwrap();
        prop_assert_eq!(got, kv);
    }

    #[test]
    fn meminfo_round_trips(total in any::<u64>(), swap in proptest::option::of(any::<u64>())) {
        let mut text = format!("MemTotal:       {total} kB\nMemFree: 1 kB\n");
        if let Some(s) = swap {
            text.push_str(&format!("SwapTotal:      {s} kB\n"));
        }
        let m = meminfo::parse_meminfo(Path::new("meminfo"), &text).unwrap();
        prop_assert_eq!(m.mem_total, total.saturating_mul(1024));
        prop_assert_eq!(m.swap_total, swap.unwrap_or(0).saturating_mul(1024));
    }

    #[test]
    fn cpu_lists_round_trip(cpus in proptest::collection::btree_set(0i32..4096, 1..64)) {
        let text = cpus.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        let got = topology::parse_cpu_list(&format!("{text}\n")).unwrap();
        prop_assert_eq!(got, cpus.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn cpu_ranges_expand(lo in 0i32..2048, len in 0i32..64) {
        let got = topology::parse_cpu_list(&format!("{lo}-{}", lo + len)).unwrap();
        prop_assert_eq!(got, (lo..=lo + len).collect::<Vec<_>>());
    }

    #[test]
    fn mountinfo_lines_round_trip(
        major in any::<u32>(), minor in any::<u32>(),
        root in "/[a-z0-9 \t\\\\]{0,12}", point in "/[a-z0-9 \n]{0,12}",
        fs_type in "[a-z0-9]{1,8}", source in "[a-z0-9/ ]{1,12}",
        optional in proptest::collection::vec("[a-z]{1,6}:[0-9]{1,3}", 0..3),
    ) {
        // The kernel escapes space, tab, newline and backslash as octal.
        let esc = |s: &str| s.replace('\\', "\\134").replace(' ', "\\040").replace('\t', "\\011").replace('\n', "\\012");
        let line = format!(
            "36 35 {major}:{minor} {} {} rw,noatime {} - {fs_type} {} rw",
            esc(&root), esc(&point), optional.join(" "), esc(&source)
        );
        let line = line.replace("  -", " -");
        let m = mountinfo::parse_mountinfo_line(&line).unwrap();
        prop_assert_eq!((m.major, m.minor), (major, minor));
        prop_assert_eq!(m.root, root);
        prop_assert_eq!(m.mount_point, point);
        prop_assert_eq!(m.fs_type, fs_type);
        prop_assert_eq!(m.source, source);
    }

    #[test]
    fn net_dev_round_trips(rows in proptest::collection::vec(("(eth|ens|wl)[a-z0-9]{0,8}", proptest::collection::vec(any::<u64>(), 16)), 0..8)) {
        let mut text = String::from(
            "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
        );
        for (name, f) in &rows {
            let nums: Vec<String> = f.iter().map(u64::to_string).collect();
            text.push_str(&format!("{name:>6}: {}\n", nums.join(" ")));
        }
        let got = cg::parse_net_dev(&text).unwrap();
        prop_assert_eq!(got.len(), rows.len());
        for (g, (name, f)) in got.iter().zip(&rows) {
            prop_assert_eq!(&g.name, name);
            prop_assert_eq!((g.rx_bytes, g.rx_packets, g.rx_errors, g.rx_dropped), (f[0], f[1], f[2], f[3]));
            prop_assert_eq!((g.tx_bytes, g.tx_packets, g.tx_errors, g.tx_dropped), (f[8], f[9], f[10], f[11]));
        }
    }

    #[test]
    fn schedstat_round_trips(run in any::<u64>(), wait in any::<u64>(), slices in any::<u64>()) {
        let s = cg::parse_schedstat(&format!("{run} {wait} {slices}\n")).unwrap();
        prop_assert_eq!((s.run_time, s.runqueue_time, s.run_periods), (run, wait, slices));
    }

    #[test]
    fn kmsg_records_round_trip(prio in 0u32..200, seq in any::<u64>(), usec in any::<u64>(), msg in "[^\n]{0,40}") {
        let rec = format!("{prio},{seq},{usec},-;{msg}\n SUBSYSTEM=x\n");
        let r = kmsg::parse_kmsg_record(&rec).unwrap();
        prop_assert_eq!((r.seq, r.usec, r.message), (seq, usec, msg.as_str()));
    }

    #[test]
    fn oom_kill_lines_round_trip(memcg in "/[a-z0-9/._-]{0,24}", task in "[a-z0-9._-]{1,15}", pid in any::<u32>(), uid in any::<u32>()) {
        let line = format!(
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset={memcg},mems_allowed=0,oom_memcg={memcg},task_memcg={memcg},task={task},pid={pid},uid={uid}"
        );
        let l = kmsg::parse_oom_kill_line(&line).unwrap();
        prop_assert_eq!((l.task_memcg, l.oom_memcg, l.task, l.pid), (memcg.as_str(), memcg.as_str(), task.as_str(), pid));
    }

    #[test]
    fn paths_round_trip_through_escaping(p in any::<String>()) {
        prop_assert_eq!(request::decode_path(&request::escape_path(&p)), Some(p));
    }

    #[test]
    fn go_durations_round_trip(h in 0u64..100, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
        let text = format!("{h}h{m}m{s}s{ms}ms");
        let want = Duration::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms);
        prop_assert_eq!(request::parse_go_duration(&text).unwrap(), want);
        prop_assert_eq!(bpfadvisor::config::parse_go_duration(&text).unwrap(), want);
    }

    #[test]
    fn request_options_round_trip(count in -1i64..100_000, recursive in any::<bool>(), secs in 0u64..100_000) {
        let q = format!("type=docker&count={count}&recursive={recursive}&max_age={secs}s");
        let o = RequestOptions::parse(&q).unwrap();
        prop_assert_eq!(o.count, count);
        prop_assert_eq!(o.recursive, recursive);
        prop_assert_eq!(o.max_age, Some(Duration::from_secs(secs)));
    }

    #[test]
    fn bad_counts_say_which_option(count in i64::MIN..-1) {
        let e = RequestOptions::parse(&format!("count={count}")).unwrap_err();
        prop_assert!(e.0.contains("count"), "{}", e.0);
    }

    #[test]
    fn event_requests_round_trip(max in any::<i64>(), sub in any::<bool>(), stream in any::<bool>()) {
        let q = format!("max_events={max}&subcontainers={sub}&stream={stream}&oom_events=true");
        let (r, s) = parse_event_request("/a", &q);
        prop_assert_eq!(r.max_events, max);
        prop_assert_eq!(r.include_subcontainers, sub);
        prop_assert_eq!(s, stream);
        prop_assert_eq!(r.types.len(), 1);
    }
}
