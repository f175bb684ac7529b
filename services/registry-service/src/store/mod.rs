//! The registry-service's tables, the queries over them, and their migrations. Each query
//! module returns rows; what they mean on the wire is [`crate::proto`]'s.

pub mod aliases;
pub mod artifacts;
pub mod audit;
pub mod cleanup;
pub mod experiments;
pub mod logged_models;
pub mod metrics;
pub mod migration;
pub mod migration_logged;
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

/// A write's row, or `None` when a unique index refused it (the name is taken).
pub fn unless_taken<T>(written: Result<T, DbErr>) -> lathe_common::Result<Option<T>> {
    match written {
        Ok(row) => Ok(Some(row)),
        Err(err) if unique_violation(&err) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
