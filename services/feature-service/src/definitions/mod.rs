//! Feature definitions: a repository of YAML files, planned and applied atomically against
//! the stored definitions, with a version history.

pub mod plan;
pub mod repository;
pub mod spec;
pub mod store;
