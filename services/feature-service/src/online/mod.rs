//! Online stores: the latest feature values per entity, served in milliseconds.
//!
//! [`OnlineStore`] is what materialization writes to and serving reads from. Two backends
//! implement it: [`EmbeddedOnlineStore`] (redb, a single file, the default with no
//! configuration) and [`RedisOnlineStore`] (a shared Redis, for several serving replicas).
//! Both pass the same test suite (`suite.rs`).
//!
//! A view is either plain or aggregated. A plain view keeps a versioned row of feature values
//! per entity ([`OnlineStore::write`], [`OnlineStore::read`]); an aggregated view keeps an
//! opaque state per entity instead (its window tiles), changed by read-modify-write
//! ([`OnlineStore::update_states`], [`OnlineStore::read_states`]). Rows and states share one key
//! space, an entity's key within its view, so [`OnlineStore::delete_view`] removes either.

mod codec;
mod embedded;
mod error;
mod model;
mod redis;
#[cfg(test)]
mod suite;

use std::sync::Arc;

use async_trait::async_trait;

pub use self::embedded::EmbeddedOnlineStore;
pub use self::error::{OnlineError, redact_url};
pub use self::model::{EntityKey, FeatureRow, RESERVED_FEATURE_NAMES, Value};
pub use self::redis::RedisOnlineStore;

/// Computes the state to store for one entity of an update from its stored state:
/// `(index into keys, stored state or None)` → the new state, or `None` to leave it as it is.
pub type StateUpdate =
    Arc<dyn Fn(usize, Option<&[u8]>) -> Result<Option<Vec<u8>>, OnlineError> + Send + Sync>;

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

    /// The stored states of many entities of an aggregated view, in the order of `keys`
    /// (`None`: no state).
    async fn read_states(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, OnlineError>;

    /// Read-modify-write of each entity's state: `update` maps what is stored to what to store.
    /// Atomic per entity, also between concurrent callers and between processes sharing the
    /// backend: no update is lost (`update` may be called more than once for an entity when
    /// another writer got there first; it must be a pure function of its arguments). An entity
    /// listed twice is updated twice, one update seeing the other's result. Returns how many
    /// states were written (an entity listed twice may count twice). An error from `update` fails the call (states already written
    /// by the call may stay written, as with `write`).
    async fn update_states(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
        update: StateUpdate,
    ) -> Result<usize, OnlineError>;

    /// Removes everything of a view, rows or states (used when a view is deleted).
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
