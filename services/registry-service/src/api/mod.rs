//! The gRPC face of the registry-service. Each method checks the caller's access first, takes
//! the request apart, and hands it to the work in [`crate::projects`], [`crate::tracking`] or
//! [`crate::models`]; errors become statuses with their reasons.

pub mod logged_models;
pub mod models;
pub mod projects;
pub mod search;
pub mod tracking;
