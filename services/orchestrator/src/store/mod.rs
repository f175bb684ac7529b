//! The orchestrator's tables and the reads and writes of them.

pub mod migration;
pub mod pipelines;
pub mod project_data;
pub mod run_queries;
pub mod tables;
