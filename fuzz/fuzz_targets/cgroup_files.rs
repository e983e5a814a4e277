//! Every cgroup v1 and v2 file parser on arbitrary text: none panics; single values and flat keyed
//! files round-trip.
#![no_main]

use bpfadvisor::cgroup::parse as cg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // What a reader hands the parser: the file's bytes decoded lossily.
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Ok(n) = cg::parse_u64(s) {
        assert_eq!(cg::parse_u64(&n.to_string()).ok(), Some(n));
    }
    if let Ok(n) = cg::parse_u64_or_max(s) {
        let text = if n == u64::MAX {
            "max".to_string()
        } else {
            n.to_string()
        };
        assert_eq!(cg::parse_u64_or_max(&text).ok(), Some(n));
    }
    if let Ok(n) = cg::parse_i64(s) {
        assert_eq!(cg::parse_i64(&n.to_string()).ok(), Some(n));
    }
    let mut kv = Vec::new();
    if cg::for_each_kv(s, |k, v| kv.push((k.to_string(), v))).is_ok() {
        let text: String = kv.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        let mut again = Vec::new();
        assert!(cg::for_each_kv(&text, |k, v| again.push((k.to_string(), v))).is_ok());
        assert_eq!(again, kv);
    }
    bpfadvisor::fuzzing::cgroup_files(s);
});
