//! The offline side of window aggregations ([`aggregate_view`]): each aggregation of a view
//! computed as of each entity row's time, over the windows of [`crate::aggregation`], so that
//! it equals what an online read at that time gives.
//!
//! # Work and memory
//!
//! The source is streamed once, its row groups split between workers as for a plain view, and
//! each event goes straight into the state of every entity row whose window holds it: the
//! entity rows of its key are sorted by time, so they are the ones from the first at or after
//! the event up to the first whose window starts after it (window starts only move forward
//! with time), one binary search and a short walk per aggregation. Nothing of the source is
//! kept: memory is one state per entity row and aggregation per worker (tens of bytes; a
//! distinct count's sketch grows with its values up to 4 KiB), whatever the source's size. The
//! work is one step per (event, entity row) pair a window joins, the pairs a range join would
//! produce, without producing them. The workers' states then merge row by row.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow::array::{Array, ArrayRef, Float64Builder, Int64Builder, RecordBatch};
use object_store::ObjectStore;
use tokio::runtime::Handle;

use super::error::OfflineError;
use super::historical_features::{Tuning, candidate_window, entity_index, open_source, read_shares, split};
use super::source::FeatureViewSource;
use super::timestamps::epoch_micros;
use crate::aggregation::{self, Aggregation, ColumnData, State};
use crate::online::Value;

/// Per aggregation, the state of every entity row so far.
struct RowStates(Vec<Vec<State>>);

impl RowStates {
    fn new(aggregations: &[Aggregation], rows: usize) -> RowStates {
        RowStates(
            aggregations
                .iter()
                .map(|a| vec![State::new(a.function); rows])
                .collect(),
        )
    }

    /// Takes in another worker's states, row by row.
    fn merge(&mut self, other: &RowStates) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            for (mine, theirs) in mine.iter_mut().zip(theirs) {
                mine.merge(theirs);
            }
        }
    }
}

/// Joins one aggregated view onto the entity rows: one column per aggregation, in order.
pub(super) fn aggregate_view(
    handle: &Handle,
    store: Arc<dyn ObjectStore>,
    view: &FeatureViewSource,
    entities: &RecordBatch,
    times: &[i64],
    tuning: Tuning,
    abandoned: &AtomicBool,
) -> Result<Vec<ArrayRef>, OfflineError> {
    let aggregations = &view.aggregations;
    let (key_types, encoder, index) = entity_index(entities, view, times)?;
    let window = candidate_window(times, Some(aggregation::longest_window(aggregations)));
    let (files, _) = open_source(handle, &store, view, &key_types, window)?;
    let shares = split(&files, tuning.workers);
    // Where each aggregation's column sits among the projected features.
    let inputs: Vec<usize> = aggregations
        .iter()
        .map(|a| {
            view.features
                .iter()
                .position(|f| *f == a.column)
                .expect("the caller lists every aggregated column among the features")
        })
        .collect();

    let absorb = |states: &mut RowStates, batch: &RecordBatch| -> Result<(), OfflineError> {
        let column = |name: &str| batch.column_by_name(name).expect("a checked column");
        let keys: Vec<&ArrayRef> = view.join_keys.iter().map(|key| column(key)).collect();
        let keys = encoder.encode(&keys)?;
        let event_times = epoch_micros(column(&view.timestamp_field).as_ref()).expect("a checked timestamp");
        let data = aggregations
            .iter()
            .zip(&inputs)
            .map(|(aggregation, &input)| {
                ColumnData::new(aggregation.function, column(&view.features[input])).map_err(|reason| {
                    OfflineError::AggregationColumnType {
                        view: view.name.clone(),
                        column: aggregation.column.clone(),
                        reason,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..event_times.len() {
            if event_times.is_null(row) {
                continue;
            }
            let Some(group) = keys.get(row).and_then(|key| index.group_of(key)) else {
                continue;
            };
            let time = event_times.value(row);
            let members = index.group(group);
            // The entity rows at or after the event, by ascending time.
            let first = members.times.partition_point(|&t| t < time);
            if first == members.times.len() {
                continue;
            }
            for (a, aggregation) in aggregations.iter().enumerate() {
                let Some(datum) = data[a].get(row) else { continue };
                let states = &mut states.0[a];
                for (&entity_row, &entity_time) in members.rows[first..].iter().zip(&members.times[first..]) {
                    if aggregation.window_start(entity_time) > time {
                        break;
                    }
                    states[entity_row as usize].add(time, datum);
                }
            }
        }
        Ok(())
    };
    let parts = read_shares(
        handle,
        &store,
        view,
        &files,
        &shares,
        tuning,
        abandoned,
        || RowStates::new(aggregations, times.len()),
        absorb,
        Ok,
    )?;
    let Some(parts) = parts else {
        return Ok(Vec::new());
    };
    let mut parts = parts.into_iter();
    let mut states = parts
        .next()
        .unwrap_or_else(|| RowStates::new(aggregations, times.len()));
    for part in parts {
        states.merge(&part);
    }
    let mut keyed = vec![false; times.len()];
    for group in 0..index.groups() {
        for &row in index.group(group).rows {
            keyed[row as usize] = true;
        }
    }
    Ok(aggregations
        .iter()
        .zip(&states.0)
        .map(|(aggregation, states)| column_of(aggregation, states, &keyed))
        .collect())
}

/// One aggregation's values as a column: a row without a key (never in the index) is null.
fn column_of(aggregation: &Aggregation, states: &[State], keyed: &[bool]) -> ArrayRef {
    let values = states.iter().zip(keyed).map(|(state, keyed)| {
        if *keyed {
            state.finish(aggregation.function)
        } else {
            Value::Null
        }
    });
    if aggregation.function.numeric() {
        let mut column = Float64Builder::with_capacity(states.len());
        for value in values {
            column.append_option(if let Value::Float64(x) = value {
                Some(x)
            } else {
                None
            });
        }
        Arc::new(column.finish())
    } else {
        let mut column = Int64Builder::with_capacity(states.len());
        for value in values {
            column.append_option(if let Value::Int64(n) = value {
                Some(n)
            } else {
                None
            });
        }
        Arc::new(column.finish())
    }
}
