//! Aggregated views online (see [`crate::aggregation`]): reading each entity's aggregates at the
//! present, folding pushed events into their tiles, and rebuilding the tiles from the source.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use lathe_common::{Error, Result};

use super::FeatureValues;
use super::materialization::{BatchKeys, Reporter, Scan, comparable};
use super::value_conversion::arrow_value;
use crate::aggregation::{self, Aggregation, ColumnData, Datum, KeyState};
use crate::definitions::spec::FeatureViewSpec;
use crate::offline::{self, keys::KeyNumbers};
use crate::online::{EntityKey, FeatureRow, OnlineError, StateUpdate, Value};

/// One pushed event of an aggregated view: its entity, time and one datum per aggregation of
/// the view (in the view's order).
pub(super) struct Event {
    pub key: EntityKey,
    pub time: i64,
    pub data: Vec<Option<Datum>>,
}

/// One entity's events: each one's time and datums.
type EntityEvents = Vec<(i64, Vec<Option<Datum>>)>;

/// The events of each entity, in order of first appearance.
fn by_entity(events: Vec<Event>) -> (Vec<EntityKey>, Vec<EntityEvents>) {
    let mut keys: Vec<EntityKey> = Vec::new();
    let mut groups: Vec<EntityEvents> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for event in events {
        let slot = *at.entry(event.key.to_string()).or_insert_with(|| {
            keys.push(event.key.clone());
            groups.push(Vec::new());
            keys.len() - 1
        });
        groups[slot].push((event.time, event.data));
    }
    (keys, groups)
}

fn decode(aggregations: &[Aggregation], stored: Option<&[u8]>) -> std::result::Result<KeyState, OnlineError> {
    match stored {
        None => Ok(KeyState::new(aggregations)),
        Some(bytes) => KeyState::decode(aggregations, bytes).map_err(OnlineError::Corrupted),
    }
}

/// A view's allowed lateness in microseconds: as declared, or its longest window.
fn allowed_lateness(view: &FeatureViewSpec, aggregations: &[Aggregation]) -> i64 {
    view.allowed_lateness.map_or_else(
        || aggregation::longest_window(aggregations),
        |seconds| {
            i64::try_from(seconds)
                .unwrap_or(i64::MAX / 1_000_000)
                .saturating_mul(1_000_000)
        },
    )
}

impl FeatureValues {
    /// The `features` (aggregation outputs) of each entity as of `now_us`, shaped as online rows:
    /// `None` for an entity with no state; the row's event time is its latest event's.
    pub(super) async fn read_aggregates(
        &self,
        project: &str,
        view: &FeatureViewSpec,
        keys: &[EntityKey],
        features: &[String],
        now_us: i64,
    ) -> Result<Vec<Option<FeatureRow>>> {
        let all = aggregation::of_view(view, None);
        let wanted: Vec<usize> = features
            .iter()
            .map(|feature| {
                all.iter().position(|a| &a.output == feature).ok_or_else(|| {
                    Error::internal(format_args!("view {} has no aggregation {feature}", view.name))
                })
            })
            .collect::<Result<_>>()?;
        let states = self.online.read_states(project, &view.name, keys).await?;
        states
            .into_iter()
            .map(|stored| {
                let Some(bytes) = stored else { return Ok(None) };
                let state = KeyState::decode(&all, &bytes).map_err(OnlineError::Corrupted)?;
                let values = wanted
                    .iter()
                    .map(|&a| (all[a].output.clone(), state.value_at(&all, a, now_us)))
                    .collect();
                Ok(Some(FeatureRow {
                    event_ts_us: state.latest_event().unwrap_or(0),
                    created_ts_us: None,
                    values,
                }))
            })
            .collect()
    }

    /// Folds pushed events into their entities' tiles as of `now_us`; events older than the
    /// view's allowed lateness are left out and counted. Returns how many were late.
    pub(super) async fn push_aggregates(
        &self,
        project: &str,
        view: &FeatureViewSpec,
        events: Vec<Event>,
        now_us: i64,
    ) -> Result<u64> {
        let aggregations = aggregation::of_view(view, None);
        let oldest = now_us.saturating_sub(allowed_lateness(view, &aggregations));
        let (on_time, late): (Vec<Event>, Vec<Event>) = events.into_iter().partition(|e| e.time >= oldest);
        let late = late.len() as u64;
        if late > 0 {
            self.late_events
                .with_label_values(&[project, view.name.as_str()])
                .inc_by(late);
            tracing::warn!(project, view = %view.name, late, "late events left out of the online aggregates");
        }
        if on_time.is_empty() {
            return Ok(late);
        }
        let (keys, groups) = by_entity(on_time);
        let aggregations = Arc::new(aggregations);
        let groups = Arc::new(groups);
        let update: StateUpdate = Arc::new(move |entity, stored| {
            let mut state = decode(&aggregations, stored)?;
            for (time, data) in &groups[entity] {
                state.add(&aggregations, *time, data, now_us);
            }
            state.settle(&aggregations, now_us);
            Ok(Some(state.encode(&aggregations)))
        });
        self.online
            .update_states(project, &view.name, &keys, update)
            .await?;
        Ok(late)
    }

    /// Folds the source's events of the window at `end_us` (from the earliest start of any
    /// aggregation's window up to `end_us`) into a fresh state per entity.
    pub(super) async fn fold_window(
        &self,
        scan: &Scan<'_>,
        aggregations: &[Aggregation],
        end_us: i64,
        now_us: i64,
        reporter: &mut Reporter<'_>,
    ) -> Result<Vec<(EntityKey, KeyState)>> {
        let start_us = aggregations
            .iter()
            .map(|a| a.window_start(end_us))
            .min()
            .unwrap_or(end_us);
        // Source events after the present wait, as pushed ones do.
        let clock = end_us.min(now_us);
        let mut keys = KeyNumbers::default();
        let mut folded: Vec<(Vec<Value>, KeyState)> = Vec::new();
        self.scan_batches(scan, reporter, |batch| {
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| Error::invalid(format!("source has no column '{name}'")))
            };
            let times = offline::timestamps::epoch_micros(column(&scan.source.timestamp_field)?.as_ref())
                .ok_or_else(|| Error::invalid("the source's timestamp field is not a timestamp"))?;
            let key_columns: Vec<&ArrayRef> =
                scan.join_keys.iter().map(|k| column(k)).collect::<Result<_>>()?;
            let encodable: Vec<ArrayRef> =
                key_columns.iter().map(|k| comparable(k)).collect::<Result<_>>()?;
            let encoded = BatchKeys::new(&encodable)?;
            let data = aggregations
                .iter()
                .map(|a| {
                    ColumnData::new(a.function, column(&a.column)?).map_err(|why| {
                        Error::invalid(format!(
                            "feature view '{}': column '{}' cannot be aggregated: {why}",
                            scan.view.name, a.column
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut datums = Vec::with_capacity(aggregations.len());
            for row in 0..batch.num_rows() {
                if times.is_null(row) || key_columns.iter().any(|k| k.is_null(row)) {
                    continue;
                }
                let time = times.value(row);
                if time < start_us || time > end_us {
                    continue;
                }
                datums.clear();
                datums.extend(data.iter().map(|d| d.get(row)));
                let key = encoded.key(row);
                let slot = match keys.get(key) {
                    Some(slot) => slot as usize,
                    None => {
                        keys.number(key);
                        let key_values = key_columns.iter().map(|k| arrow_value(k.as_ref(), row)).collect();
                        folded.push((key_values, KeyState::new(aggregations)));
                        folded.len() - 1
                    }
                };
                folded[slot].1.add(aggregations, time, &datums, clock);
            }
            Ok(())
        })
        .await?;
        Ok(folded
            .into_iter()
            .filter_map(|(values, state)| {
                let key = EntityKey::new(scan.join_keys.iter().map(String::as_str).zip(values)).ok()?;
                Some((key, state))
            })
            .collect())
    }

    /// Rebuilds each entity's tiles from `fresh` (a materialization's source events up to
    /// `end_us`), keeping what was pushed after `end_us`. Returns how many entities were
    /// written.
    pub(super) async fn write_aggregates(
        &self,
        project: &str,
        view: &FeatureViewSpec,
        fresh: Vec<(EntityKey, KeyState)>,
        end_us: i64,
        now_us: i64,
    ) -> Result<u64> {
        let aggregations = Arc::new(aggregation::of_view(view, None));
        let (keys, fresh): (Vec<EntityKey>, Vec<KeyState>) = fresh.into_iter().unzip();
        let fresh = Arc::new(fresh);
        let update: StateUpdate = Arc::new(move |entity, stored| {
            let mut state = decode(&aggregations, stored)?;
            state.replace_through(&aggregations, fresh[entity].clone(), end_us);
            state.settle(&aggregations, now_us.max(end_us));
            Ok(Some(state.encode(&aggregations)))
        });
        let written = self
            .online
            .update_states(project, &view.name, &keys, update)
            .await?;
        Ok(written as u64)
    }
}

/// The datums one row gives each aggregation of a view, from its values by column; `Err` names
/// the column and what is wrong.
pub(super) fn row_data(
    aggregations: &[Aggregation],
    value_of: impl Fn(&str) -> Value,
) -> std::result::Result<Vec<Option<Datum>>, String> {
    aggregations
        .iter()
        .map(|a| {
            aggregation::datum::from_value(a.function, &value_of(&a.column)).map_err(|why| {
                format!(
                    "column '{}': {why} ({} of {})",
                    a.column,
                    a.function.name(),
                    a.output
                )
            })
        })
        .collect()
}
