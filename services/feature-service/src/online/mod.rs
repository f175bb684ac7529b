//! Online stores: the latest feature values per entity, served in milliseconds.
//!
//! [`OnlineStore`] is what materialization writes to and serving reads from. Two backends
//! implement it: [`EmbeddedOnlineStore`] (redb, a single file, the default with no
//! configuration) and [`RedisOnlineStore`] (a shared Redis, for several serving replicas).
//! Both pass the same test suite (`suite.rs`).

mod codec;
mod embedded;
mod error;
mod model;
mod redis;
#[cfg(test)]
mod suite;

use async_trait::async_trait;

pub use self::embedded::EmbeddedOnlineStore;
pub use self::error::{OnlineError, redact_url};
pub use self::model::{EntityKey, FeatureRow, RESERVED_FEATURE_NAMES, Value};
pub use self::redis::RedisOnlineStore;

/// The latest feature values of each (project, feature view, entity).
///
/// Rows are versioned by (event time, created time), a missing created time being the oldest.
/// A write replaces the stored row of an entity as a whole when its version is at least the
/// stored one (so rewriting the same version, e.g. a re-run of a materialization, applies), and
/// is ignored when older; that decision is atomic per entity, also between concurrent writers.
/// A call is not atomic across entities: a failure can leave some of its rows written.
#[async_trait]
pub trait OnlineStore: Send + Sync {
    /// Writes rows for (project, feature view); per entity a write never replaces a newer stored
    /// row with an older one. Returns how many rows were applied (an entity listed twice in one
    /// call may count twice).
    async fn write(
        &self,
        project: &str,
        view: &str,
        rows: Vec<(EntityKey, FeatureRow)>,
    ) -> Result<usize, OnlineError>;

    /// Reads the requested features of a view for many entities, in the order of `keys`;
    /// `None` means no row for that entity. A returned row holds exactly `features`, in that
    /// order: a feature the stored row lacks (unknown, or not written) comes back as
    /// [`Value::Null`].
    async fn read(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
        features: &[String],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError>;

    /// Removes everything of a view (used when a view is deleted).
    async fn delete_view(&self, project: &str, view: &str) -> Result<(), OnlineError>;
}

/// Rejects rows or requests that name a reserved feature.
fn check_feature_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), OnlineError> {
    names.into_iter().try_for_each(model::check_feature_name)
}

/// The stored row cut down to `features`, in their order, `Null` where the row lacks one (the
/// reference for `codec::decode_projected_row`).
#[cfg(test)]
fn project_row(row: FeatureRow, features: &[String]) -> FeatureRow {
    let values = features
        .iter()
        .map(|name| {
            let value = row
                .values
                .iter()
                .find(|(stored_name, _)| stored_name == name)
                .map_or(Value::Null, |(_, value)| value.clone());
            (name.clone(), value)
        })
        .collect();
    FeatureRow {
        event_ts_us: row.event_ts_us,
        created_ts_us: row.created_ts_us,
        values,
    }
}
