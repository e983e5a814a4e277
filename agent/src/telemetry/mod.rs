//! The agent's own telemetry as named events: each logs (rate-limited) and counts.
