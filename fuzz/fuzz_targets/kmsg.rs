//! `/dev/kmsg` records, the kernel's OOM report (line by line, through the stateful parser) and
//! `memory.events`' `oom_kill`: none panics; records round-trip.
#![no_main]

use bpfadvisor::events::kmsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Some(r) = kmsg::parse_kmsg_record(s) {
        let again = format!("6,{},{},-;{}\n", r.seq, r.usec, r.message);
        let r2 = kmsg::parse_kmsg_record(&again).map(|r| (r.seq, r.usec, r.message.to_string()));
        assert_eq!(r2, Some((r.seq, r.usec, r.message.to_string())));
    }
    bpfadvisor::fuzzing::kernel_log(s);
});
