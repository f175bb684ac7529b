//! The serving service's database: one definitions table of deployments (the `DeployRequest`
//! each was made with). What a deployment serves lives in memory and follows the registry.

pub mod deployment_pages;
pub mod migration;

/// The table of deployments.
pub const DEPLOYMENTS_TABLE: &str = "serving_deployments";
