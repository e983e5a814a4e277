//! The event endpoints' parameters (`/api/*/events/<name>?…`, streaming or not): never panic; the
//! request they make, written back as a query, parses to the same request.
#![no_main]

use bpfadvisor::api::events::parse_event_request;
use bpfadvisor::model::v1::EventType;
use libfuzzer_sys::fuzz_target;

fn type_param(t: EventType) -> &'static str {
    match t {
        EventType::Oom => "oom_events",
        EventType::OomKill => "oom_kill_events",
        EventType::ContainerCreation => "creation_events",
        EventType::ContainerDeletion => "deletion_events",
    }
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (name, query) = s.split_once('?').unwrap_or(("/", &s));
    let (r, stream) = parse_event_request(name, query);
    let mut again = format!(
        "max_events={}&subcontainers={}&stream={stream}",
        r.max_events, r.include_subcontainers
    );
    for t in &r.types {
        again.push_str(&format!("&{}=true", type_param(*t)));
    }
    for (k, t) in [("start_time", r.start_time), ("end_time", r.end_time)] {
        if !t.is_zero() {
            // RFC 3339 has no character that needs escaping but `+`.
            again.push_str(&format!("&{k}={}", t.to_string().replace('+', "%2B")));
        }
    }
    let (r2, stream2) = parse_event_request(name, &again);
    assert_eq!((&r2, stream2), (&r, stream), "{again}");
});
