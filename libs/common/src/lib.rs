//! Shared plumbing of every Lathe service: settings, the error vocabulary, telemetry, JWT
//! auth, database and object-store connections from URLs, and gRPC server/client helpers.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod grpc;
pub mod storage;
pub mod telemetry;
pub mod validate;

pub use error::{Error, ErrorCode, Result};
pub mod definitions;
pub mod projects;
pub mod service;
