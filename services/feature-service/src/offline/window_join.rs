//! The offline side of window aggregations ([`aggregate_view`]): each aggregation of a view
//! computed as of each entity row's time, with the tiles and windows of
//! [`crate::aggregation`], so that it equals what an online read at that time gives.
//!
//! # Work and memory
//!
//! The source is streamed once, its row groups split between workers as for a plain view. An
//! event counts only if some entity row of its key needs it: the earliest entity row at or
//! after the event (one binary search in the key's sorted times) is the one whose window
//! reaches furthest back. A needed event is folded into the state of its tile, kept per (key,
//! tile); and when it lies in the tile of some entity row's own time (the tile cut at that
//! time), it is also kept as (time, datum) for that cut. Memory is therefore bounded by the
//! tiles the entity rows' windows cover, plus the events of their last tiles — not by the
//! source, and not by the events of whole windows. At the end the workers' tiles merge, and
//! each entity row combines the full tiles of its window with the cut part of its own tile:
//! at most `window / tile` merges per row and aggregation (24 to 168 with the tile rule).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow::array::{Array, ArrayRef, Float64Builder, Int64Builder, RecordBatch};
use foldhash::fast::RandomState;
use object_store::ObjectStore;
use tokio::runtime::Handle;

use super::entity_index::EntityIndex;
use super::error::OfflineError;
use super::historical_features::{
    Tuning, candidate_window, entity_key_types, open_source, read_shares, split,
};
use super::keys::{KeyEncoder, KeyKind};
use super::source::FeatureViewSource;
use super::timestamps::epoch_micros;
use crate::aggregation::{Aggregation, ColumnData, Datum, State};
use crate::online::Value;

/// Per aggregation: the state of each needed (key group, tile), and the events kept for cuts.
struct Tiles {
    states: Vec<HashMap<(u32, i64), State, RandomState>>,
    cuts: Vec<Vec<(u32, i64, i64, Datum)>>,
}

impl Tiles {
    fn new(aggregations: usize) -> Tiles {
        Tiles {
            states: (0..aggregations).map(|_| HashMap::default()).collect(),
            cuts: vec![Vec::new(); aggregations],
        }
    }

    /// Takes in another worker's tiles.
    fn merge(&mut self, other: Tiles, aggregations: &[Aggregation]) {
        for (a, (states, cuts)) in other.states.into_iter().zip(other.cuts).enumerate() {
            for (at, state) in states {
                self.states[a]
                    .entry(at)
                    .or_insert_with(|| State::new(aggregations[a].function))
                    .merge(&state);
            }
            self.cuts[a].extend(cuts);
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
    let key_types = entity_key_types(entities, view)?;
    let kinds = key_types.iter().filter_map(KeyKind::of).collect();
    let encoder = KeyEncoder::new(kinds)?;
    let key_columns: Vec<&ArrayRef> = view
        .join_keys
        .iter()
        .filter_map(|key| entities.column_by_name(key))
        .collect();
    let index = EntityIndex::build(&encoder.encode(&key_columns)?, times);
    let longest = aggregations.iter().map(|a| a.window_us).max().unwrap_or(0);
    let window = candidate_window(times, Some(longest));
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

    let absorb = |tiles: &mut Tiles, batch: &RecordBatch| -> Result<(), OfflineError> {
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
            let entity_times = index.group(group).times;
            // The earliest entity row at or after the event has the window reaching furthest back.
            let first = entity_times.partition_point(|&t| t < time);
            let Some(&earliest) = entity_times.get(first) else {
                continue;
            };
            for (a, aggregation) in aggregations.iter().enumerate() {
                if aggregation.window_start(earliest) > time {
                    continue;
                }
                let Some(datum) = data[a].get(row) else { continue };
                let tile = aggregation.tile_of(time);
                tiles.states[a]
                    .entry((group, tile))
                    .or_insert_with(|| State::new(aggregation.function))
                    .add(time, datum);
                if aggregation.tile_of(earliest) == tile {
                    tiles.cuts[a].push((group, tile, time, datum));
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
        || Tiles::new(aggregations.len()),
        absorb,
        Ok,
    )?;
    let Some(parts) = parts else {
        return Ok(Vec::new());
    };
    let mut tiles = Tiles::new(aggregations.len());
    for part in parts {
        tiles.merge(part, aggregations);
    }
    Ok(aggregations
        .iter()
        .enumerate()
        .map(|(a, aggregation)| {
            let states = std::mem::take(&mut tiles.states[a]);
            let cuts = std::mem::take(&mut tiles.cuts[a]);
            window_values(aggregation, &index, times.len(), states, cuts)
        })
        .collect())
}

/// One aggregation's value for every entity row: its window's full tiles merged, plus its own
/// tile's events up to its time. Rows without a key (never in the index) are null.
fn window_values(
    aggregation: &Aggregation,
    index: &EntityIndex,
    rows: usize,
    states: HashMap<(u32, i64), State, RandomState>,
    mut cuts: Vec<(u32, i64, i64, Datum)>,
) -> ArrayRef {
    let mut states: Vec<((u32, i64), State)> = states.into_iter().collect();
    states.sort_unstable_by_key(|(at, _)| *at);
    cuts.sort_unstable_by_key(|&(group, tile, time, _)| (group, tile, time));
    let mut values: Vec<Option<Value>> = vec![None; rows];
    let (mut state_from, mut cut_from) = (0, 0);
    for group in 0..index.groups() {
        let state_end = state_from + states[state_from..].partition_point(|((g, _), _)| *g == group);
        let cut_end = cut_from + cuts[cut_from..].partition_point(|(g, ..)| *g == group);
        let group_states = &states[state_from..state_end];
        let group_cuts = &cuts[cut_from..cut_end];
        let members = index.group(group);
        for (&row, &time) in members.rows.iter().zip(members.times) {
            let (first, own) = (aggregation.first_tile(time), aggregation.tile_of(time));
            let mut state = State::new(aggregation.function);
            let from = group_states.partition_point(|((_, tile), _)| *tile < first);
            for (_, tile_state) in group_states[from..]
                .iter()
                .take_while(|((_, tile), _)| *tile < own)
            {
                state.merge(tile_state);
            }
            let cut = group_cuts.partition_point(|(_, tile, ..)| *tile < own);
            for &(_, _, event, datum) in group_cuts[cut..]
                .iter()
                .take_while(|(_, tile, event, _)| *tile == own && *event <= time)
            {
                state.add(event, datum);
            }
            values[row as usize] = Some(state.finish(aggregation.function));
        }
        (state_from, cut_from) = (state_end, cut_end);
    }
    if aggregation.function.numeric() {
        let mut column = Float64Builder::with_capacity(rows);
        for value in values {
            column.append_option(match value {
                Some(Value::Float64(x)) => Some(x),
                _ => None,
            });
        }
        Arc::new(column.finish())
    } else {
        let mut column = Int64Builder::with_capacity(rows);
        for value in values {
            column.append_option(match value {
                Some(Value::Int64(n)) => Some(n),
                _ => None,
            });
        }
        Arc::new(column.finish())
    }
}
