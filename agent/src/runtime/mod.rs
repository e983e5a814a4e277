//! Container runtime metadata (Docker, containerd, CRI-O, Podman, systemd) for cgroup-named containers.
