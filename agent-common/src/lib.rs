//! Event records shared by the eBPF programs (`agent-ebpf`) and the userspace loader
//! (`agent/src/events/ebpf.rs`). Layouts are `#[repr(C)]` and size-checked at compile time: both sides
//! must agree byte for byte.
#![no_std]
