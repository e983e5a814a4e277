//! `tcp_retrans`: TCP segments retransmitted, per cgroup of the socket.
//!
//! `tp_btf/tcp_retransmit_skb` `(const struct sock *sk, const struct sk_buff *skb[, int err])`, and
//! `tp_btf/tcp_retransmit_synack` for a listener's SYN-ACK resends (also counted in `RetransSegs`).
//! The socket's cgroup is `sk->sk_cgrp_data.cgroup`, the cgroup2 of the task that created the socket
//! (accepted connections: the listener's). Counts `tcp_skb_pcount(skb)` segments, as the kernel adds
//! to `RetransSegs`; where the tracepoint also fires for failed retransmits (`err` argument), only
//! successful ones (`err == 0`) count.
//!
//! Minimum kernel: 5.5 (`tp_btf`); `sk_cgrp_data` needs `CONFIG_SOCK_CGROUP_DATA` (on with cgroups
//! and networking).

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};

use crate::{
    kernel::{arg, read},
    sig_common::{cgroup_id, sig_offsets, signals_of},
};

#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub fn tcp_retransmit_skb(ctx: BtfTracePointContext) -> i32 {
    let _ = retransmit(&ctx);
    0
}

/// `tp_btf/tcp_retransmit_synack` `(const struct sock *sk, const struct request_sock *req)`: a
/// listener resending its SYN-ACK, one segment in `RetransSegs`, charged to the listener's cgroup.
#[btf_tracepoint(function = "tcp_retransmit_synack")]
pub fn tcp_retransmit_synack(ctx: BtfTracePointContext) -> i32 {
    let _ = synack(&ctx);
    0
}

#[inline(always)]
fn synack(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    let sk = arg(ctx, 0)?;
    let cgrp: u64 = read(sk, off.sock_cgroup)?;
    let id = if cgrp == 0 { 1 } else { cgroup_id(cgrp, &off)? };
    if let Some(s) = signals_of(id) {
        // SAFETY: a per-CPU map value of this CPU, valid while the program runs.
        unsafe { (*s).tcp_retransmits += 1 };
    }
    Ok(())
}

#[inline(always)]
fn retransmit(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let Some(off) = sig_offsets() else {
        return Ok(());
    };
    if off.tcp_retransmit_has_err != 0 && arg(ctx, 2)? as i32 != 0 {
        return Ok(());
    }
    let sk = arg(ctx, 0)?;
    let skb = arg(ctx, 1)?;
    let cgrp: u64 = read(sk, off.sock_cgroup)?;
    // No cgroup recorded: the kernel treats such a socket as the root's.
    let id = if cgrp == 0 { 1 } else { cgroup_id(cgrp, &off)? };
    let segs: u16 = read(skb, off.skb_tcp_gso_segs)?;
    if let Some(s) = signals_of(id) {
        // SAFETY: a per-CPU map value of this CPU, valid while the program runs.
        unsafe { (*s).tcp_retransmits += u64::from(segs.max(1)) };
    }
    Ok(())
}
