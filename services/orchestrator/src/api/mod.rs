//! The orchestrator's gRPC API: thin methods that check the caller and convert, over
//! [`crate::engine`] and [`crate::store`].

pub mod convert;
pub mod pipelines;
