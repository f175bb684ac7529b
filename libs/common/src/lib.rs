//! Shared plumbing of every Lathe service: settings, the error vocabulary, telemetry, JWT
//! auth, database and object-store connections from URLs, and gRPC server/client helpers.

pub mod access;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod grpc;
pub mod paging;
pub mod reasons;
pub mod row_log;
pub mod storage;
pub mod telemetry;
pub mod validate;

pub use error::{Error, ErrorCode, Result};

/// Every binary that links lathe-common (all of Lathe's) allocates with mimalloc: under the
/// millions of small, short-lived allocations of a bulk materialization glibc's malloc spent
/// over half the CPU time in its own bookkeeping (`perf`: unlink_chunk, malloc_consolidate).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub mod definitions;
pub mod projects;
pub mod service;
