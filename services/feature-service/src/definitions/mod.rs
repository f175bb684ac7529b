//! Feature definitions: what they are, a repository of YAML files loaded and checked, and the
//! plan that turns the stored definitions into the declared ones.

pub mod model;
pub mod plan;
pub mod repository;
pub mod spec;
