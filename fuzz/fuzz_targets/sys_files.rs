//! Every `/sys` file parser (topology, caches, NUMA, network and block devices, hugepages) on
//! arbitrary text: none panics, none allocates without bound; cpu lists round-trip.
#![no_main]

use bpfadvisor::machine::topology;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Some(cpus) = topology::parse_cpu_list(s) {
        let text = cpus
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(topology::parse_cpu_list(&text), Some(cpus));
    }
    bpfadvisor::fuzzing::sys_files(s);
});
