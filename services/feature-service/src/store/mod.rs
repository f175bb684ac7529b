//! The feature-service's tables.

pub mod migration;

/// Entity definitions, one row per (project, entity).
pub const ENTITIES_TABLE: &str = "features_entities";
