//! The registry-service's tables, the queries over them, and their migrations. Each query
//! module returns rows; what they mean on the wire is [`crate::proto`]'s.

pub mod aliases;
pub mod artifacts;
pub mod audit;
pub mod cleanup;
pub mod experiments;
pub mod metrics;
pub mod migration;
pub mod models;
pub mod project;
pub mod project_data;
pub mod registered_models;
pub mod run_details;
pub mod run_search;
pub mod runs;
pub mod tracking;
pub mod upload_sweep;
pub mod versions;

use sea_orm::{DbErr, SqlErr};

/// Whether a write failed on a unique index: a name already taken.
pub fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
