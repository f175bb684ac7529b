//! The gRPC API of the feature-service.

pub mod entities;
