//! bpfadvisor's kernel-side programs, one module per program family. Every program writes
//! `agent_common` records to the one `EVENTS` ring buffer; the loader is `agent/src/events/ebpf.rs`.
//!
//! Minimum kernel: 5.8 for everything here (BPF ring buffer, `bpf_ktime_get_boot_ns`, `tp_btf` 5.5);
//! each program notes its own requirement.
#![no_std]
#![no_main]

mod kernel;
mod lifecycle;
mod oom;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this; it is never executed.
    loop {}
}
