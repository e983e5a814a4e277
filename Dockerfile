# bpfadvisor's container image. Build it with `cargo xtask image`, which builds the release binary
# (eBPF object embedded), stages the build context in target/image/ and runs `docker build` there:
#
#   target/image/Dockerfile   this file
#   target/image/rootfs/      usr/bin/bpfadvisor and, for a glibc build, the loader and the shared
#                             libraries `ldd` names, at their paths
#
# No registry is needed: the first stage runs in a busybox image imported from the host's static
# busybox (the one the integration tests use), the final stage starts from scratch.

ARG TOOLS_IMAGE=local/busybox:1

# Stage 1: check that the staged root file system runs on its own (a library `ldd` missed fails
# here, not at `docker run`), and add the empty /tmp the agent's libraries may expect.
FROM ${TOOLS_IMAGE} AS assemble
LABEL org.bpfadvisor.stage=assemble
COPY rootfs/ /out/
RUN chroot /out /usr/bin/bpfadvisor --version \
    && mkdir -p /out/tmp \
    && chmod 1777 /out/tmp

# Stage 2: the image: the agent and what it needs, nothing else (no shell, no package manager).
FROM scratch
COPY --from=assemble /out/ /
LABEL org.opencontainers.image.title="bpfadvisor" \
      org.opencontainers.image.description="eBPF-augmented, drop-in replacement for cAdvisor" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/bpfadvisor/bpfadvisor"
# Runs as root: the host's /proc, /sys and cgroup files are root's. What else it needs (a few
# capabilities, the host's pid namespace, the host's root at /rootfs) is given at `docker run`;
# see the README's Deployment section.
USER 0:0
EXPOSE 8080
ENTRYPOINT ["/usr/bin/bpfadvisor"]
