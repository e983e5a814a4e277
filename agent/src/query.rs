//! The narrow read-only view consumers (API, metrics, UI, storage) have of the registry.
