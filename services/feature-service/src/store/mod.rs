//! The feature-service's tables: definitions with their history, materialized intervals, and
//! the migrations that make them.

pub mod definitions;
pub mod materializations;
pub mod migration;

/// Entity definitions of the first schema, moved into `features_definitions` by migration 2.
pub const LEGACY_ENTITIES_TABLE: &str = "features_entities";
