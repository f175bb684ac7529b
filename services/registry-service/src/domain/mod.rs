//! The registry's domain rules, independent of storage and transport.

pub mod filter;
pub mod gates;
pub mod names;
pub mod states;
pub mod tags;
