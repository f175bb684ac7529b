//! The gRPC API of the orchestrator.

pub mod dag;
pub mod pipelines;
