#!/usr/bin/env bash
# Idempotently installs what building and testing bpfadvisor needs on a fresh Debian machine:
#   - rust-src (the eBPF crate is built with -Z build-std=core)
#   - bpf-linker, built against the Rust toolchain's own libLLVM
#   - cmake, a C/C++ compiler, pkg-config and OpenSSL's headers: the Kafka storage driver's
#     librdkafka is built from source and linked statically (rdkafka's cmake-build)
#   - Debian packages the integration tests use (docker.io, busybox-static, prometheus/promtool,
#     podman for the libpod API, apache2-utils for htpasswd/htdigest, curl and openssl for the
#     access-control tests, chromium and chromium-driver for the web UI test, qemu-system-x86 for
#     the VM test; its kernel is fetched by `cargo xtask test-vm` into target/vm/, redis-server and
#     influxdb (1.x) for the storage drivers' tests)
#   - kubernetes-validate (PyPI), in a virtualenv of its own, for the deploy/kubernetes manifests
#   - the StatsD daemon (npm package statsd), in a directory of its own, for the statsd driver's test
#   - cargo-fuzz, for the libFuzzer targets of fuzz/ (`cargo xtask fuzz`, part of `cargo xtask test`)
# A second run does nothing and takes well under a second.
#
# Usage: scripts/setup.sh [--build-only|--image|--fuzz]   (--build-only skips the test packages;
# --image installs only what `cargo xtask image` needs besides the build toolchain: docker.io,
# busybox-static; --fuzz only the build toolchain and cargo-fuzz)
set -euo pipefail

BPF_LINKER_VERSION=0.13.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# agent/tests/deploy_manifests.rs looks for the validator here.
KUBERNETES_VALIDATE_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/bpfadvisor/kubernetes-validate"
CARGO_FUZZ_VERSION=0.13.2
STATSD_VERSION=0.9.0
# agent/tests/storage_drivers.rs looks for the daemon here.
STATSD_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/bpfadvisor/statsd"
want_test_pkgs=1
want_image_pkgs=0
want_fuzz=1
[ "${1:-}" = "--build-only" ] && want_test_pkgs=0 && want_fuzz=0
[ "${1:-}" = "--image" ] && want_test_pkgs=0 && want_image_pkgs=1 && want_fuzz=0
[ "${1:-}" = "--fuzz" ] && want_test_pkgs=0

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

# A virtualenv of its own: neither the system's (externally managed) nor any other Python's
# site-packages change.
ensure_kubernetes_validate() {
    local bin="$KUBERNETES_VALIDATE_VENV/bin/kubernetes-validate"
    if [ "$("$bin" --version 2>/dev/null)" = "$KUBERNETES_VALIDATE_VERSION" ]; then
        return
    fi
    python3 -m venv --help >/dev/null 2>&1 || ensure_debs python3-venv
    log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
    python3 -m venv "$KUBERNETES_VALIDATE_VENV"
    "$KUBERNETES_VALIDATE_VENV/bin/pip" install -q --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    "$bin" --version >/dev/null
}

# Runs on stable Rust: the fuzz targets are built without a sanitizer (`-s none`), which needs no
# nightly flag.
ensure_cargo_fuzz() {
    if [ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        return
    fi
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute)"
    cargo install cargo-fuzz --locked --force --version "$CARGO_FUZZ_VERSION"
}

# A directory of its own: nothing global changes.
ensure_statsd() {
    local pkg="$STATSD_DIR/node_modules/statsd/package.json"
    if [ -f "$pkg" ] && grep -q "\"version\": \"$STATSD_VERSION\"" "$pkg"; then
        return
    fi
    command -v npm >/dev/null 2>&1 || ensure_debs nodejs npm
    log "installing statsd $STATSD_VERSION"
    mkdir -p "$STATSD_DIR"
    npm install --prefix "$STATSD_DIR" --no-audit --no-fund --silent "statsd@$STATSD_VERSION"
    [ -f "$pkg" ]
}

ensure_rust_src
ensure_bpf_linker
ensure_debs cmake make gcc g++ pkg-config libssl-dev
if [ "$want_test_pkgs" = 1 ]; then
    ensure_debs docker.io busybox-static prometheus iproute2 podman apache2-utils curl openssl \
        qemu-system-x86 chromium chromium-driver redis-server influxdb
    ensure_kubernetes_validate
    ensure_statsd
fi
if [ "$want_fuzz" = 1 ]; then
    ensure_cargo_fuzz
fi
if [ "$want_image_pkgs" = 1 ]; then
    ensure_debs docker.io busybox-static
fi
