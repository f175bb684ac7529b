//! The monitor's tables.

pub mod migration;

/// Monitor definitions, one row per (project, monitor).
pub const MONITORS_TABLE: &str = "monitor_monitors";
