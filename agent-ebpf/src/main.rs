//! bpfadvisor's kernel-side programs, one module per program family. Every program writes
//! `agent_common` records to the one `EVENTS` ring buffer, counts what it could not do in the
//! per-CPU `ERRORS` array and logs it sparsely with aya-log (`kernel.rs`); the loader is
//! `agent/src/events/ebpf.rs`.
//!
//! Minimum kernel: 5.8 for everything here (BPF ring buffer, `bpf_ktime_get_boot_ns`, `tp_btf` 5.5);
//! each program notes its own requirement.
//!
//! Built for `bpfel-unknown-none` by `agent/build.rs`. For any other target (`cargo clippy
//! --workspace`, `cargo test --workspace`) the same code compiles into an inert host binary, so the
//! workspace-wide commands lint it without the BPF toolchain.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

mod counters;
mod kernel;
mod lifecycle;
mod oom;
mod sig_common;
mod sig_process;
mod sig_reclaim;
mod sig_runqueue;
mod sig_tcp;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this; it is never executed.
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!(
        "agent-ebpf holds eBPF programs; it does nothing when built for {}",
        std::env::consts::ARCH
    );
}
