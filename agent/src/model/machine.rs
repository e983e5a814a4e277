//! Machine description types (`MachineInfo`, `VersionInfo`, v2 `Attributes`).
