//! The REST API's request parsing (paths, query options of v1/v2 and `/metrics`, the v1 request
//! body, durations, timestamps): none panics; path escaping, timestamps and options round-trip.
#![no_main]

use bpfadvisor::api::request::{self, RequestOptions};
use bpfadvisor::model::json::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = request::parse_info_request(data);
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    bpfadvisor::fuzzing::request_input(s);
    assert_eq!(
        request::decode_path(&request::escape_path(s)).as_deref(),
        Some(s)
    );
    if let Ok(o) = RequestOptions::parse(s) {
        assert!(o.count >= -1, "count {} accepted", o.count);
    }
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).ok(), Some(t));
    }
});
