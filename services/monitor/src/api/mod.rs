//! The gRPC API of the monitor.

pub mod monitors;
