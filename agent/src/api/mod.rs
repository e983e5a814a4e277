//! cAdvisor's REST API (v1.0–v1.3, v2.0, v2.1), `/healthz`, `/validate/`.

pub mod events;
