//! The gRPC API of the registry-service.

pub mod projects;
