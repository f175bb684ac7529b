//! What the online store keeps of one entity of an aggregated view ([`KeyState`]), and its
//! binary form.

use super::Aggregation;
use super::datum::Datum;
use super::state::State;
use crate::definitions::spec::AggregateFunction;
use crate::online::Value;

/// Format version of [`KeyState::encode`].
const FORMAT: u8 = 1;

/// One entity's aggregates: per aggregation, the tiles of its window so far, and the pushed
/// events that were still in the future when they came.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyState {
    /// Per aggregation in the view's order: its tiles, ascending by index, none empty.
    tiles: Vec<Vec<(i64, State)>>,
    /// Events later than the clock when they came: their time and one datum per aggregation.
    pending: Vec<(i64, Vec<Option<Datum>>)>,
    /// The latest event time taken in.
    latest_us: Option<i64>,
}

impl KeyState {
    pub fn new(aggregations: &[Aggregation]) -> KeyState {
        KeyState {
            tiles: vec![Vec::new(); aggregations.len()],
            pending: Vec::new(),
            latest_us: None,
        }
    }

    /// The latest event time taken in, if any.
    pub fn latest_event(&self) -> Option<i64> {
        self.latest_us
    }

    /// Takes in one event at `time` with one datum per aggregation (`None`: no value), as of
    /// the clock `now`: an event after `now` waits until the clock reaches it.
    pub fn add(&mut self, aggregations: &[Aggregation], time: i64, data: &[Option<Datum>], now: i64) {
        self.latest_us = Some(self.latest_us.map_or(time, |latest| latest.max(time)));
        if time > now {
            self.pending.push((time, data.to_vec()));
        } else {
            self.add_to_tiles(aggregations, time, data);
        }
    }

    fn add_to_tiles(&mut self, aggregations: &[Aggregation], time: i64, data: &[Option<Datum>]) {
        for ((aggregation, tiles), datum) in aggregations.iter().zip(&mut self.tiles).zip(data) {
            let Some(datum) = datum else { continue };
            let index = aggregation.tile_of(time);
            let at = match tiles.binary_search_by_key(&index, |(k, _)| *k) {
                Ok(at) => at,
                Err(at) => {
                    tiles.insert(at, (index, State::new(aggregation.function)));
                    at
                }
            };
            tiles[at].1.add(time, *datum);
        }
    }

    /// Moves the pending events the clock has reached into their tiles, and drops the tiles no
    /// window at `now` or later can hold.
    pub fn settle(&mut self, aggregations: &[Aggregation], now: i64) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(time, _)| *time <= now);
        self.pending = later;
        for (time, data) in due {
            self.add_to_tiles(aggregations, time, &data);
        }
        for (aggregation, tiles) in aggregations.iter().zip(&mut self.tiles) {
            let first = aggregation.first_tile(now);
            tiles.retain(|(index, _)| *index >= first);
        }
    }

    /// Whether nothing is left (no tile, no pending event).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.tiles.iter().all(Vec::is_empty)
    }

    /// Each aggregation's value for a lookup at `time`, which must not be before the clock of
    /// any event taken in (an online read happens at the present).
    pub fn values_at(&self, aggregations: &[Aggregation], time: i64) -> Vec<Value> {
        (0..aggregations.len())
            .map(|a| self.value_at(aggregations, a, time))
            .collect()
    }

    /// Aggregation `a`'s value for a lookup at `time` (see [`values_at`](Self::values_at)).
    pub fn value_at(&self, aggregations: &[Aggregation], a: usize, time: i64) -> Value {
        let (aggregation, tiles) = (&aggregations[a], &self.tiles[a]);
        let mut state = State::new(aggregation.function);
        let (first, last) = (aggregation.first_tile(time), aggregation.tile_of(time));
        let from = tiles.partition_point(|(index, _)| *index < first);
        for (_, tile) in tiles[from..].iter().take_while(|(index, _)| *index <= last) {
            state.merge(tile);
        }
        for (event, data) in &self.pending {
            if let Some(datum) = data[a]
                && aggregation.holds(time, *event)
            {
                state.add(*event, datum);
            }
        }
        state.finish(aggregation.function)
    }

    /// Takes `fresh`'s tiles up to and including the tile of `end` and its pending events (a
    /// materialization's rebuild from the source as of `end`), keeping this state's later
    /// tiles and pending events after `end`.
    pub fn replace_through(&mut self, aggregations: &[Aggregation], fresh: KeyState, end: i64) {
        for ((aggregation, mine), theirs) in aggregations.iter().zip(&mut self.tiles).zip(fresh.tiles) {
            let last = aggregation.tile_of(end);
            mine.retain(|(index, _)| *index > last);
            let mut tiles: Vec<(i64, State)> =
                theirs.into_iter().filter(|(index, _)| *index <= last).collect();
            tiles.append(mine);
            *mine = tiles;
        }
        self.pending.retain(|(time, _)| *time > end);
        self.pending.extend(fresh.pending);
        self.latest_us = match (self.latest_us, fresh.latest_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn encode(&self, aggregations: &[Aggregation]) -> Vec<u8> {
        let mut out = vec![FORMAT];
        out.extend_from_slice(&(aggregations.len() as u16).to_le_bytes());
        for aggregation in aggregations {
            out.push(function_code(aggregation.function));
        }
        for tiles in &self.tiles {
            out.extend_from_slice(&(tiles.len() as u32).to_le_bytes());
            for (index, state) in tiles {
                out.extend_from_slice(&index.to_le_bytes());
                state.encode(&mut out);
            }
        }
        out.extend_from_slice(&(self.pending.len() as u32).to_le_bytes());
        for (time, data) in &self.pending {
            out.extend_from_slice(&time.to_le_bytes());
            for datum in data {
                match datum {
                    None => out.push(0),
                    Some(Datum::Present) => out.push(1),
                    Some(Datum::Number(x)) => {
                        out.push(2);
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    Some(Datum::Hash(hash)) => {
                        out.push(3);
                        out.extend_from_slice(&hash.to_le_bytes());
                    }
                }
            }
        }
        match self.latest_us {
            None => out.push(0),
            Some(latest) => {
                out.push(1);
                out.extend_from_slice(&latest.to_le_bytes());
            }
        }
        out
    }

    /// Reads a state [`encode`](Self::encode) wrote for the same aggregations.
    pub fn decode(aggregations: &[Aggregation], bytes: &[u8]) -> Result<KeyState, String> {
        let mut reader = Reader { bytes, at: 0 };
        let corrupt = |what: &str| format!("aggregate state is corrupt ({what})");
        if reader.take(1).ok_or_else(|| corrupt("empty"))? != [FORMAT] {
            return Err(corrupt("unknown format"));
        }
        let count = u16::from_le_bytes(reader.array().ok_or_else(|| corrupt("header"))?);
        let codes = reader.take(count as usize).ok_or_else(|| corrupt("header"))?;
        let expected: Vec<u8> = aggregations.iter().map(|a| function_code(a.function)).collect();
        if codes != expected.as_slice() {
            return Err(format!(
                "the stored aggregate state was made for other aggregations ({count} stored); \
                 materialize the view again"
            ));
        }
        let mut state = KeyState::new(aggregations);
        for (aggregation, tiles) in aggregations.iter().zip(&mut state.tiles) {
            let n = reader.u32().ok_or_else(|| corrupt("tiles"))?;
            for _ in 0..n {
                let index = i64::from_le_bytes(reader.array().ok_or_else(|| corrupt("tile"))?);
                let (tile, used) =
                    State::decode(aggregation.function, reader.rest()).ok_or_else(|| corrupt("tile"))?;
                reader.at += used;
                tiles.push((index, tile));
            }
        }
        let pending = reader.u32().ok_or_else(|| corrupt("pending"))?;
        for _ in 0..pending {
            let time = i64::from_le_bytes(reader.array().ok_or_else(|| corrupt("pending"))?);
            let mut data = Vec::with_capacity(aggregations.len());
            for _ in aggregations {
                let datum = match reader.take(1).ok_or_else(|| corrupt("pending"))?[0] {
                    0 => None,
                    1 => Some(Datum::Present),
                    2 => Some(Datum::Number(f64::from_le_bytes(
                        reader.array().ok_or_else(|| corrupt("pending"))?,
                    ))),
                    3 => Some(Datum::Hash(u64::from_le_bytes(
                        reader.array().ok_or_else(|| corrupt("pending"))?,
                    ))),
                    _ => return Err(corrupt("pending")),
                };
                data.push(datum);
            }
            state.pending.push((time, data));
        }
        state.latest_us = match reader.take(1).ok_or_else(|| corrupt("latest"))?[0] {
            0 => None,
            1 => Some(i64::from_le_bytes(
                reader.array().ok_or_else(|| corrupt("latest"))?,
            )),
            _ => return Err(corrupt("latest")),
        };
        if reader.at != bytes.len() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(state)
    }
}

fn function_code(function: AggregateFunction) -> u8 {
    AggregateFunction::ALL
        .iter()
        .position(|f| *f == function)
        .expect("every function is in ALL") as u8
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }
}
