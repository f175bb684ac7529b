use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::compute::interleave;
use arrow::error::ArrowError;

use super::entity_index::EntityIndex;
use super::kept_values::KeptValues;
use super::keys::KeyEncoder;

const NO_ROW: u32 = u32::MAX;

/// How a candidate ranks: by event time, then by created time, where a null created time ranks
/// below any value (`None < Some`). Equal ranks keep the row read first.
type Rank = (i64, Option<i64>);

/// The point-in-time join of one feature view, fed one source batch at a time. It keeps, per
/// entity row, only the rank and feature values of the best candidate so far. Several joins
/// over disjoint parts of one source share the entity index and [`merge`] into the whole.
pub(super) struct ViewJoin<'a> {
    index: &'a EntityIndex,
    encoder: &'a KeyEncoder,
    lookback: Option<i64>,
    best: Vec<Option<Rank>>,
    kept: KeptValues,
    /// Scratch for the current batch: the entity rows whose best changed and, per entity row,
    /// the batch row that now holds its best.
    won: Vec<u32>,
    batch_row_of: Vec<u32>,
}

/// One source row that shares a key with some entity rows.
struct Candidate {
    rank: Rank,
    row: u32,
    group: u32,
}

/// What one join found: per entity row, the rank of its best candidate (`None`: none) and,
/// per feature, that candidate's value.
pub(super) struct Joined {
    ranks: Vec<Option<Rank>>,
    columns: Vec<ArrayRef>,
}

impl<'a> ViewJoin<'a> {
    /// `lookback` is the ttl in microseconds (`None`: unbounded); `encoder` must encode source
    /// keys the way it encoded the entity keys of `index`.
    pub(super) fn new(
        index: &'a EntityIndex,
        encoder: &'a KeyEncoder,
        lookback: Option<i64>,
        entity_rows: usize,
        kept: KeptValues,
    ) -> ViewJoin<'a> {
        ViewJoin {
            index,
            encoder,
            lookback,
            best: vec![None; entity_rows],
            kept,
            won: Vec::new(),
            batch_row_of: vec![NO_ROW; entity_rows],
        }
    }

    /// Offers every row of one source batch as a candidate. `times` and `created` are in
    /// microseconds; a row without a key or an event time is nobody's candidate.
    pub(super) fn absorb(
        &mut self,
        keys: &[&ArrayRef],
        times: &Int64Array,
        created: Option<&Int64Array>,
        features: &[&ArrayRef],
    ) -> Result<(), ArrowError> {
        let keys = self.encoder.encode(keys)?;
        let mut candidates = Vec::new();
        for row in 0..times.len() {
            if times.is_null(row) {
                continue;
            }
            let Some(group) = keys.get(row).and_then(|key| self.index.group_of(key)) else {
                continue;
            };
            let created = created.and_then(|created| created.is_valid(row).then(|| created.value(row)));
            candidates.push(Candidate {
                rank: (times.value(row), created),
                row: row as u32,
                group,
            });
        }
        // Best first: an entity row already holding a candidate from this batch then stops the
        // walk of every later (lower) one, so each entity row is written at most once per batch.
        candidates.sort_unstable_by(|a, b| b.rank.cmp(&a.rank).then(a.row.cmp(&b.row)));
        for candidate in &candidates {
            self.offer(candidate);
        }
        self.kept.keep(features, &self.won, &self.batch_row_of)?;
        for &entity_row in &self.won {
            self.batch_row_of[entity_row as usize] = NO_ROW;
        }
        self.won.clear();
        Ok(())
    }

    /// Makes `candidate` the best of the entity rows of its key that it beats. Those whose time
    /// lies in `[event time, event time + ttl]` may take it; walking them by ascending time, the
    /// first one whose best already ranks at or above the candidate ends the walk: its best row
    /// lies within the window of every later entity row of the walk too (its time is at least
    /// the candidate's, and at most the earlier entity row's), so their bests rank at least as
    /// high.
    fn offer(&mut self, candidate: &Candidate) {
        let group = self.index.group(candidate.group);
        let (time, _) = candidate.rank;
        let last_time = self
            .lookback
            .map_or(i64::MAX, |lookback| time.saturating_add(lookback));
        let first = group.times.partition_point(|&entity_time| entity_time < time);
        for (&entity_row, &entity_time) in group.rows[first..].iter().zip(&group.times[first..]) {
            if entity_time > last_time {
                break;
            }
            let best = &mut self.best[entity_row as usize];
            if *best >= Some(candidate.rank) {
                break;
            }
            *best = Some(candidate.rank);
            let batch_row = &mut self.batch_row_of[entity_row as usize];
            if *batch_row == NO_ROW {
                self.won.push(entity_row);
            }
            *batch_row = candidate.row;
        }
    }

    pub(super) fn finish(self) -> Result<Joined, ArrowError> {
        Ok(Joined {
            ranks: self.best,
            columns: self.kept.finish()?,
        })
    }
}

/// Combines joins over consecutive parts of one source, given in reading order, into one
/// column per feature with a value per entity row (null where no row qualified). Each entity
/// row takes the best of the parts' bests; a complete tie keeps the earlier part's, as one join
/// reading the parts in order would.
pub(super) fn merge(mut parts: Vec<Joined>) -> Result<Vec<ArrayRef>, ArrowError> {
    if parts.len() <= 1 {
        return Ok(parts.pop().map(|joined| joined.columns).unwrap_or_default());
    }
    let rows = parts[0].ranks.len();
    let chosen: Vec<(usize, usize)> = (0..rows)
        .map(|row| {
            let mut best = 0;
            for (part, joined) in parts.iter().enumerate().skip(1) {
                if joined.ranks[row] > parts[best].ranks[row] {
                    best = part;
                }
            }
            (best, row)
        })
        .collect();
    (0..parts[0].columns.len())
        .map(|feature| {
            let sources: Vec<&dyn Array> = parts
                .iter()
                .map(|joined| joined.columns[feature].as_ref())
                .collect();
            interleave(&sources, &chosen)
        })
        .collect()
}
