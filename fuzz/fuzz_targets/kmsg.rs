//! `/dev/kmsg` records, the kernel's OOM report (line by line, through the stateful parser) and
//! `memory.events`' `oom_kill`: none panics; records round-trip.
#![no_main]

use std::time::SystemTime;

use bpfadvisor::events::{kmsg, oom_counters};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Some(r) = kmsg::parse_kmsg_record(s) {
        let again = format!("6,{},{},-;{}\n", r.seq, r.usec, r.message);
        let r2 = kmsg::parse_kmsg_record(&again).map(|r| (r.seq, r.usec, r.message.to_string()));
        assert_eq!(r2, Some((r.seq, r.usec, r.message.to_string())));
    }
    let mut oom = kmsg::OomParser::default();
    for line in s.lines() {
        let _ = kmsg::parse_oom_kill_line(line);
        let _ = oom.feed(line, SystemTime::UNIX_EPOCH);
    }
    let _ = oom_counters::parse_oom_kill(s);
});
