//! The monitor's metadata: monitor definitions (a definitions table), and the tables of
//! references, logged batches, labels, checked windows and alerts ([`tables`]); the monitor
//! listing's pages ([`monitor_pages`]).

pub mod migration;
pub mod monitor_pages;
pub mod tables;

/// Monitor definitions, one row per (project, monitor).
pub const MONITORS_TABLE: &str = "monitor_monitors";
