//! Every `/proc` (and `/etc`) file parser on arbitrary text: none panics; `mountinfo` lines
//! round-trip through the kernel's escaping.
#![no_main]

use bpfadvisor::events::ebpf::hierarchy;
use bpfadvisor::fs::mountinfo;
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
    bpfadvisor::fuzzing::proc_files(s);
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
