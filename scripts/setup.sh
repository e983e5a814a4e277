#!/usr/bin/env bash
# Idempotently installs what building and testing bpfadvisor needs on a fresh Debian machine:
#   - rust-src (the eBPF crate is built with -Z build-std=core)
#   - bpf-linker, built against the Rust toolchain's own libLLVM
#   - Debian packages the integration tests use (docker.io, busybox-static, prometheus/promtool,
#     podman for the libpod API, qemu-system-x86 for the VM test; its kernel is fetched by
#     `cargo xtask test-vm` into target/vm/)
# A second run does nothing and takes well under a second.
#
# Usage: scripts/setup.sh [--build-only]   (--build-only skips the test packages)
set -euo pipefail

BPF_LINKER_VERSION=0.13.0
want_test_pkgs=1
[ "${1:-}" = "--build-only" ] && want_test_pkgs=0

log() { printf 'setup: %s\n' "$*" >&2; }

ensure_rust_src() {
    local sysroot
    sysroot=$(rustc --print sysroot)
    if [ -d "$sysroot/lib/rustlib/src/rust/library/core" ]; then
        return
    fi
    log "installing rust-src"
    rustup component add rust-src
}

# bpf-linker links against libLLVM; it must be the same major version as rustc's LLVM. The toolchain
# ships libLLVM under its sysroot, so we point bpf-linker's build at a directory of symlinks to it and
# keep that directory for good (the binary's rpath refers to it).
ensure_bpf_linker() {
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    if command -v bpf-linker >/dev/null 2>&1 && bpf-linker --version >/dev/null 2>&1; then
        return
    fi
    local sysroot lib major prefix
    sysroot=$(rustc --print sysroot)
    lib=$(find "$sysroot/lib" -maxdepth 1 -name 'libLLVM.so.*' | head -n 1)
    if [ -z "$lib" ]; then
        lib=$(find "$sysroot/lib" -maxdepth 1 -name 'libLLVM-*.so' | head -n 1)
    fi
    [ -n "$lib" ] || { log "no libLLVM in $sysroot/lib"; return 1; }
    major=$(rustc --version --verbose | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
    prefix="$cargo_home/bpf-linker-llvm"
    mkdir -p "$prefix/lib"
    ln -sf "$lib" "$prefix/lib/libLLVM.so"
    ln -sf "$lib" "$prefix/lib/$(basename "$lib")"
    for l in "$sysroot"/lib/libLLVM*.so*; do ln -sf "$l" "$prefix/lib/$(basename "$l")"; done
    log "building bpf-linker $BPF_LINKER_VERSION against LLVM $major (about a minute)"
    LLVM_PREFIX="$prefix" RUSTFLAGS="-C link-args=-Wl,-rpath,$prefix/lib" \
        cargo install bpf-linker --locked --force --version "$BPF_LINKER_VERSION" \
        --no-default-features --features "llvm-$major"
    bpf-linker --version >/dev/null
}

ensure_debs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust_src
ensure_bpf_linker
if [ "$want_test_pkgs" = 1 ]; then
    ensure_debs docker.io busybox-static prometheus iproute2 podman qemu-system-x86
fi
