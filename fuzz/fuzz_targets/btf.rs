//! The kernel BTF reader on arbitrary bytes: parsing and every lookup the eBPF loader makes
//! (struct member offsets, enum values, tracepoint and function prototypes) never panic or loop.
#![no_main]

use bpfadvisor::events::ebpf::btf::Btf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data.to_vec()) else {
        return;
    };
    let _ = btf.offsets();
    let _ = btf.member_offset("task_struct", "pid");
    let _ = btf.enum_value("cgroup_subsys_id", "memory_cgrp_id");
    let _ = btf.tracepoint_params("cgroup_mkdir");
    let _ = btf.tracepoint_arg_is_struct_ptr("cgroup_mkdir", 0, "cgroup");
    let _ = btf.function_arg_is_struct_ptr("cgroup_mkdir", 0, "cgroup");
});
