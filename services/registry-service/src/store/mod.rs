//! The registry-service's tables and their migrations.

pub mod cleanup;
pub mod migration;
pub mod models;
pub mod project;
pub mod project_data;
pub mod tracking;
pub mod upload_sweep;
