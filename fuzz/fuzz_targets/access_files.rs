//! The access-control files (`--http_auth_file`, `--http_digest_file`, bearer tokens) and the
//! Digest `Authorization` header's parameters: none panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    bpfadvisor::fuzzing::access_files(s);
});
