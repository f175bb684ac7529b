//! Window aggregations: a feature declared once as `function(column)` over a window, computed
//! the same way for training sets (offline, [`crate::offline`]) and for online reads.
//!
//! # What a window holds
//!
//! An aggregation's window `w` is cut into tiles of `h`: the largest of 1 day, 1 hour,
//! 5 minutes, 1 minute and 1 second that is at most `w / 24` and divides `w` (1 second when
//! none does): 1h → 1m tiles, 1d and 7d → 1h tiles, 30d → 1d tiles. Tile `k` spans
//! `[k·h, (k+1)·h)` (epoch microseconds, rounded toward −∞). For a lookup at time `T` the
//! window is the `w / h` tiles ending with the one that holds `T`, cut at `T`:
//!
//! ```text
//! events of the key with   floor(T / h)·h − w + h  <=  event time  <=  T
//! ```
//!
//! so the end is exact and inclusive (an event at `T` counts, none after it does) and the
//! start moves by whole tiles: the window reaches back between `w − h` and `w`, never more
//! than `w`. This is what lets the online store keep a few states per tile instead of every
//! event, and the offline retrieval computes exactly the same windows.
//!
//! # Functions
//!
//! `count` counts values that are not null; `sum`, `mean`, `min`, `max`, `stddev`
//! (population) and `last` read integers, floats and decimals as float64 and are null for a
//! window without values; `last` is the value of the latest event (at equal times, the
//! largest value, so the answer never depends on the order events arrive in);
//! `approx_count_distinct` is a HyperLogLog estimate with 4,096 registers (standard error
//! 1.6%; small counts come out exact or nearly so). A float NaN counts as missing. Counts are
//! int64, the rest float64. Sums are compensated (Neumaier) and moments merged with Chan's
//! formulas, so combining tiles in another order changes a result by rounding only (far below
//! a relative 1e-9 for data that does not cancel itself out).
//!
//! # Online
//!
//! Each entity of an aggregated view keeps one state in the online store ([`KeyState`]): per
//! aggregation, the tiles of its current window, plus the pushed events whose time is still
//! in the future (they join their tile once the clock reaches them). A read merges the tiles
//! of the window at the present time. Materialization rebuilds each entity's tiles from the
//! source as of the interval's end; a push folds its events into the tiles, except events
//! older than the view's `allowed_lateness` (default: its longest window), which are counted
//! and reported instead (the push's answer, and `lathe_aggregation_late_events_total`).

pub mod datum;
pub mod hll;
pub mod key_state;
pub mod state;

pub use self::datum::{ColumnData, Datum};
pub use self::key_state::KeyState;
pub use self::state::State;

use crate::definitions::spec::{AggregateFunction, AggregationSpec, FeatureViewSpec};

const SECOND_US: i64 = 1_000_000;

/// One aggregation of a view, resolved for computing: times in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub column: String,
    pub function: AggregateFunction,
    pub window_us: i64,
    pub tile_us: i64,
    /// The output feature's name (`fare_sum_1h`).
    pub output: String,
}

/// The tile size, in seconds, of a window of `window` seconds (see the module docs).
pub fn tile_seconds(window: u64) -> u64 {
    [86_400, 3_600, 300, 60, 1]
        .into_iter()
        .find(|&tile| tile <= window / 24 && window.is_multiple_of(tile))
        .unwrap_or(1)
}

impl Aggregation {
    pub fn new(spec: &AggregationSpec) -> Aggregation {
        let window = i64::try_from(spec.window).unwrap_or(i64::MAX / SECOND_US);
        let tile = tile_seconds(spec.window) as i64;
        Aggregation {
            column: spec.column.clone(),
            function: spec.function,
            window_us: window.saturating_mul(SECOND_US),
            tile_us: tile * SECOND_US,
            output: spec.output_name(),
        }
    }

    /// Tiles per window.
    pub fn tiles(&self) -> i64 {
        (self.window_us / self.tile_us).max(1)
    }

    /// The tile that holds `time`.
    pub fn tile_of(&self, time: i64) -> i64 {
        time.div_euclid(self.tile_us)
    }

    /// The first tile of the window at `time`.
    pub fn first_tile(&self, time: i64) -> i64 {
        self.tile_of(time) - self.tiles() + 1
    }

    /// The earliest event time the window at `time` holds.
    pub fn window_start(&self, time: i64) -> i64 {
        self.first_tile(time).saturating_mul(self.tile_us)
    }

    /// Whether an event at `event` lies in the window at `time`.
    pub fn holds(&self, time: i64, event: i64) -> bool {
        event <= time && event >= self.window_start(time)
    }
}

/// The aggregations of `view` whose outputs are `features`, in that order (all of them, in the
/// view's order, when `features` is `None`).
pub fn of_view(view: &FeatureViewSpec, features: Option<&[String]>) -> Vec<Aggregation> {
    let all = view.aggregations.iter().map(Aggregation::new);
    match features {
        None => all.collect(),
        Some(features) => {
            let all: Vec<Aggregation> = all.collect();
            features
                .iter()
                .filter_map(|feature| all.iter().find(|a| &a.output == feature).cloned())
                .collect()
        }
    }
}

/// The distinct columns `aggregations` read, in order of first use.
pub fn input_columns(aggregations: &[Aggregation]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for aggregation in aggregations {
        if !columns.contains(&aggregation.column) {
            columns.push(aggregation.column.clone());
        }
    }
    columns
}

/// The longest window of `aggregations`, in microseconds (0 without any).
pub fn longest_window(aggregations: &[Aggregation]) -> i64 {
    aggregations.iter().map(|a| a.window_us).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_tiles_and_windows_follow_the_documented_rule() {
        assert_eq!(tile_seconds(3_600), 60);
        assert_eq!(tile_seconds(86_400), 3_600);
        assert_eq!(tile_seconds(7 * 86_400), 3_600);
        assert_eq!(tile_seconds(30 * 86_400), 86_400);
        assert_eq!(tile_seconds(7_200), 300);
        assert_eq!(tile_seconds(5_400), 60);
        assert_eq!(tile_seconds(45), 1);
        assert_eq!(tile_seconds(1), 1);
        let hour = Aggregation::new(&AggregationSpec {
            column: "fare".into(),
            function: AggregateFunction::Sum,
            window: 3_600,
        });
        let minute = 60 * SECOND_US;
        // At 10:30:15 the window starts at 09:31:00 and ends at 10:30:15, both included.
        let t = (10 * 60 + 30) * minute + 15 * SECOND_US;
        assert_eq!(hour.window_start(t), (9 * 60 + 31) * minute);
        assert!(hour.holds(t, (9 * 60 + 31) * minute) && hour.holds(t, t));
        assert!(!hour.holds(t, (9 * 60 + 31) * minute - 1) && !hour.holds(t, t + 1));
        // Before the epoch tiles round toward −∞ too.
        assert_eq!(hour.tile_of(-1), -1);
        assert_eq!(hour.window_start(-1), -60 * minute);
    }
}
