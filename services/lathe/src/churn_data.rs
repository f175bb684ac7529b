//! The churn story's data (`lathe quickstart` and its tests): drivers' hourly stats over three weeks, a churn label that depends on
//! them with noise, and a later hour in which the drivers' behaviour has shifted.
//!
//! Every value comes from a seeded generator indexed by driver and hour *offset*, so the data
//! are the same whatever the time the quickstart runs; only the timestamps move with "now".
//!
//! A driver has a latent quality `q ~ N(0, 1)`; each hour
//! - `conv_rate = 0.45 + 0.12·q + 0.08·ε` (clamped to [0.01, 0.99]),
//! - `acc_rate = 0.80 + 0.06·q + 0.05·ε` (clamped to [0.05, 1]),
//! - `avg_daily_trips = round(18 + 5·q + 3·ε)` (at least 0),
//!
//! and a label taken at time t reads the stats of the hour holding t (what a point-in-time join
//! gives): the driver churned when the standardised sum of the three, with its sign turned,
//! plus `N(0, 0.5²)` noise is positive. A linear model over the three can reach about 94%
//! accuracy; the noise keeps it from 100%.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

/// Drivers `FIRST_DRIVER..FIRST_DRIVER + DRIVERS`.
pub const DRIVERS: i64 = 500;
pub const FIRST_DRIVER: i64 = 1001;
/// Hours of stats per driver, ending at the anchor hour.
pub const HOURS: i64 = 21 * 24;
/// Labelled moments per driver.
const LABELS_PER_DRIVER: i64 = 4;
const HOUR_MICROS: i64 = 3_600_000_000;

/// SplitMix64: small, seedable and the same on every platform.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// One hour of one driver's stats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub conv_rate: f64,
    pub acc_rate: f64,
    pub avg_daily_trips: i64,
}

/// How the drivers behave in the drifted hour.
#[derive(Clone, Copy, Debug)]
pub enum Regime {
    /// As in the three weeks of history.
    Usual,
    /// Converting and driving much less: conv_rate 0.25 lower, 8 fewer trips a day.
    Shifted,
}

fn quality(driver: i64) -> f64 {
    Random::new(0x5EED_0000 ^ driver as u64).normal()
}

/// The stats of `driver` in the hour `offset` hours before the anchor (0: the anchor hour).
pub fn stats(driver: i64, offset: i64, regime: Regime) -> Stats {
    let q = quality(driver);
    let mut random = Random::new((driver as u64) << 20 ^ offset as u64 ^ 0xA5A5_0000_0000);
    let (conv_shift, trips_shift) = match regime {
        Regime::Usual => (0.0, 0.0),
        Regime::Shifted => (-0.25, -8.0),
    };
    Stats {
        conv_rate: (0.45 + 0.12 * q + 0.08 * random.normal() + conv_shift).clamp(0.01, 0.99),
        acc_rate: (0.80 + 0.06 * q + 0.05 * random.normal()).clamp(0.05, 1.0),
        avg_daily_trips: (18.0 + 5.0 * q + 3.0 * random.normal() + trips_shift)
            .round()
            .max(0.0) as i64,
    }
}

/// Whether a driver with `stats` churned, given the label's own noise.
fn churned(stats: Stats, noise: f64) -> bool {
    let score = -(stats.conv_rate - 0.45) / 0.144
        - (stats.acc_rate - 0.80) / 0.078
        - (stats.avg_daily_trips as f64 - 18.0) / 5.83;
    score + 0.5 * noise > 0.0
}

fn schema(fields: Vec<Field>) -> Arc<Schema> {
    Arc::new(Schema::new(fields))
}

fn timestamp_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// The hourly stats of every driver for `hours` hours ending at `anchor` (µs since the epoch,
/// on an hour), oldest first: the feature view's source.
pub fn history(anchor_micros: i64) -> RecordBatch {
    let rows = (DRIVERS * HOURS) as usize;
    let (mut ids, mut times) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let (mut conv, mut acc, mut trips) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for offset in (0..HOURS).rev() {
        for driver in FIRST_DRIVER..FIRST_DRIVER + DRIVERS {
            let s = stats(driver, offset, Regime::Usual);
            ids.push(driver);
            times.push(anchor_micros - offset * HOUR_MICROS);
            conv.push(s.conv_rate);
            acc.push(s.acc_rate);
            trips.push(s.avg_daily_trips);
        }
    }
    stats_batch(ids, times, conv, acc, trips)
}

/// One row per driver at `at` (µs since the epoch) in the given regime: a later hour of stats.
pub fn hour(at_micros: i64, offset: i64, regime: Regime) -> RecordBatch {
    let drivers = FIRST_DRIVER..FIRST_DRIVER + DRIVERS;
    let all: Vec<Stats> = drivers.clone().map(|d| stats(d, offset, regime)).collect();
    stats_batch(
        drivers.collect(),
        vec![at_micros; all.len()],
        all.iter().map(|s| s.conv_rate).collect(),
        all.iter().map(|s| s.acc_rate).collect(),
        all.iter().map(|s| s.avg_daily_trips).collect(),
    )
}

fn stats_batch(
    ids: Vec<i64>,
    times: Vec<i64>,
    conv: Vec<f64>,
    acc: Vec<f64>,
    trips: Vec<i64>,
) -> RecordBatch {
    let schema = schema(vec![
        Field::new("driver_id", DataType::Int64, false),
        timestamp_field("event_timestamp"),
        Field::new("conv_rate", DataType::Float64, false),
        Field::new("acc_rate", DataType::Float64, false),
        Field::new("avg_daily_trips", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        Arc::new(Float64Array::from(conv)),
        Arc::new(Float64Array::from(acc)),
        Arc::new(Int64Array::from(trips)),
    ];
    RecordBatch::try_new(schema, columns).expect("columns match the schema")
}

/// The entity frame of the training set: each driver labelled at a few moments of the last
/// twenty days (`driver_id`, `event_timestamp`, `churned` as 0/1).
pub fn labels(anchor_micros: i64) -> RecordBatch {
    let mut random = Random::new(0x1AB_E15);
    let (mut ids, mut times, mut churn) = (Vec::new(), Vec::new(), Vec::new());
    for driver in FIRST_DRIVER..FIRST_DRIVER + DRIVERS {
        for _ in 0..LABELS_PER_DRIVER {
            // An hour offset in [1, 20 days], and a moment inside that hour.
            let offset = 1 + (random.next_u64() % (20 * 24)) as i64;
            let within = (random.uniform() * HOUR_MICROS as f64) as i64;
            let label = churned(stats(driver, offset, Regime::Usual), random.normal());
            ids.push(driver);
            times.push(anchor_micros - offset * HOUR_MICROS + within);
            churn.push(i64::from(label));
        }
    }
    let schema = schema(vec![
        Field::new("driver_id", DataType::Int64, false),
        timestamp_field("event_timestamp"),
        Field::new("churned", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        Arc::new(Int64Array::from(churn)),
    ];
    RecordBatch::try_new(schema, columns).expect("columns match the schema")
}

/// `batch` as a Parquet file.
pub fn parquet(batch: &RecordBatch) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_do_not_depend_on_the_anchor() {
        let (a, b) = (history(0), history(HOUR_MICROS * 1_000_000));
        for column in [0, 2, 3, 4] {
            assert_eq!(a.column(column), b.column(column));
        }
        assert_eq!(a.num_rows() as i64, DRIVERS * HOURS);
    }

    #[test]
    fn labels_are_balanced_enough_and_read_the_stats_of_their_hour() {
        let batch = labels(0);
        let churn = batch.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        let share = churn.values().iter().sum::<i64>() as f64 / churn.len() as f64;
        assert!((0.3..0.7).contains(&share), "churn share {share}");
        let times = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        // Every label lies inside the history, after its first hour and before the anchor.
        assert!(
            times
                .values()
                .iter()
                .all(|&t| t < 0 && t > -(HOURS - 1) * HOUR_MICROS)
        );
    }

    #[test]
    fn the_shifted_regime_moves_conversion_and_trips_down() {
        let usual = stats(1001, 0, Regime::Usual);
        let shifted = stats(1001, 0, Regime::Shifted);
        assert!(shifted.conv_rate < usual.conv_rate);
        assert!(shifted.avg_daily_trips < usual.avg_daily_trips || usual.avg_daily_trips == 0);
        assert_eq!(shifted.acc_rate, usual.acc_rate);
    }
}
