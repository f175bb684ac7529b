//! HTTP routes of the gateway.

pub mod artifacts;
pub mod entities;
pub mod features;
pub mod models;
pub mod online_json;
pub mod openapi;
pub mod projects;
pub mod system;
pub mod tracking;
pub mod whoami;

use chrono::{DateTime, Utc};

/// RFC 3339 form of a protobuf timestamp.
pub(crate) fn rfc3339(ts: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|ts| DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0)))
}
