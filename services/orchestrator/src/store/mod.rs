//! The orchestrator's tables.

pub mod migration;

/// Pipeline definitions, one row per (project, pipeline).
pub const PIPELINES_TABLE: &str = "orchestrator_pipelines";
