//! The REST API's request parsing (paths, query options of v1/v2 and `/metrics`, the v1 request
//! body, durations, timestamps): none panics; path escaping, timestamps and options round-trip.
#![no_main]

use std::collections::BTreeMap;

use bpfadvisor::api::request::{self, RequestOptions};
use bpfadvisor::model::json::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = request::parse_info_request(data);
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    let _ = request::split_api_path(s);
    let args = request::request_args(s);
    let _ = request::container_name(&args);
    let _ = request::clean_path(s);
    let _ = request::canonical_path(s);
    assert_eq!(
        request::decode_path(&request::escape_path(s)).as_deref(),
        Some(s)
    );
    let _ = request::decode_path(s);
    let _ = request::query_get(s, "type");
    if let Ok(o) = RequestOptions::parse(s) {
        assert!(o.count >= -1, "count {} accepted", o.count);
    }
    let _ = request::parse_go_duration(s);
    let _ = request::go_quote(s);
    let _ = bpfadvisor::config::parse_go_duration(s);
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).ok(), Some(t));
    }
    let q: BTreeMap<String, String> = s
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let _ = bpfadvisor::metrics::parse_options(&q);
});
