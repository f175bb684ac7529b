//! The registry-service's tables and their migrations.

pub mod migration;
pub mod project;
