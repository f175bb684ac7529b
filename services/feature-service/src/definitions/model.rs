//! What a definition is: its four kinds, one definition of any kind ([`Spec`]), and a
//! definition as stored, with its version.

use chrono::{DateTime, Utc};
use lathe_common::{Error, Result};

use super::spec::{EntitySpec, FeatureServiceSpec, FeatureViewSpec, SourceSpec};

pub const ENTITY: &str = "entity";
pub const DATA_SOURCE: &str = "data_source";
pub const FEATURE_VIEW: &str = "feature_view";
pub const FEATURE_SERVICE: &str = "feature_service";
pub const KINDS: [&str; 4] = [ENTITY, DATA_SOURCE, FEATURE_VIEW, FEATURE_SERVICE];

/// One definition of any kind, in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Entity(EntitySpec),
    Source(SourceSpec),
    View(FeatureViewSpec),
    Service(FeatureServiceSpec),
}

impl Spec {
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::Entity(_) => ENTITY,
            Spec::Source(_) => DATA_SOURCE,
            Spec::View(_) => FEATURE_VIEW,
            Spec::Service(_) => FEATURE_SERVICE,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Spec::Entity(s) => &s.name,
            Spec::Source(s) => &s.name,
            Spec::View(s) => &s.name,
            Spec::Service(s) => &s.name,
        }
    }

    /// Canonical JSON, the stored form and the basis of change detection.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Spec::Entity(s) => serde_json::to_value(s),
            Spec::Source(s) => serde_json::to_value(s),
            Spec::View(s) => serde_json::to_value(s),
            Spec::Service(s) => serde_json::to_value(s),
        }
        .unwrap_or_default()
    }

    pub fn from_json(kind: &str, json: &str) -> Result<Spec> {
        let bad = |e: serde_json::Error| Error::internal(format_args!("stored {kind} is unreadable: {e}"));
        match kind {
            ENTITY => serde_json::from_str(json).map(Spec::Entity).map_err(bad),
            DATA_SOURCE => serde_json::from_str(json).map(Spec::Source).map_err(bad),
            FEATURE_VIEW => serde_json::from_str(json).map(Spec::View).map_err(bad),
            FEATURE_SERVICE => serde_json::from_str(json).map(Spec::Service).map_err(bad),
            other => Err(Error::invalid(format!(
                "unknown definition kind '{other}': use one of {}",
                KINDS.join(", ")
            ))),
        }
    }
}

/// One stored definition: its current version and when it was created and last changed.
#[derive(Debug, Clone)]
pub struct StoredDefinition {
    pub spec: Spec,
    pub version: u64,
    pub origin: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}
