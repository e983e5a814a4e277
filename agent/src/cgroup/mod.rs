//! cgroup v1/v2/hybrid layout detection and per-container readers of stats and spec.
