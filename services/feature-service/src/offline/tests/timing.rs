//! A rough timing of a realistic retrieval; run with
//! `cargo nextest run --workspace --release --run-ignored only -E 'test(offline_timing)'`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;

use super::super::{FeatureViewSource, historical_features};

const DRIVERS: i64 = 10_000;
const HOURS: i64 = 100;
const ENTITY_ROWS: i64 = 100_000;
const HOUR: i64 = 3_600_000_000;
const START: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

/// A cheap deterministic scramble (splitmix64), so the timing needs no random crate.
fn scramble(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hourly_stats(first_driver: i64, drivers: i64) -> RecordBatch {
    let rows = drivers * HOURS;
    let driver = |row: i64| first_driver + row / HOURS;
    let hour = |row: i64| row % HOURS;
    RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter_values((0..rows).map(driver))) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values((0..rows).map(|r| START + hour(r) * HOUR))
                    .with_timezone("UTC"),
            ),
        ),
        (
            "created",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..rows).map(|r| START + hour(r) * HOUR + 60),
            )),
        ),
        (
            "conv_rate",
            Arc::new(Float32Array::from_iter_values(
                (0..rows).map(|r| (scramble(r as u64) % 1000) as f32 / 1000.0),
            )),
        ),
        (
            "acc_rate",
            Arc::new(Float32Array::from_iter_values(
                (0..rows).map(|r| (scramble(!r as u64) % 1000) as f32 / 1000.0),
            )),
        ),
        (
            "avg_daily_trips",
            Arc::new(Int64Array::from_iter_values((0..rows).map(|r| r % 97))),
        ),
    ])
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a timing, not a check; run in release mode"]
async fn offline_timing_100k_entity_rows_against_1m_source_rows() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let chunk = 1_000;
    let mut writer = ArrowWriter::try_new(Vec::new(), hourly_stats(0, 1).schema(), None).unwrap();
    for first in (0..DRIVERS).step_by(chunk as usize) {
        writer.write(&hourly_stats(first, chunk)).unwrap();
    }
    let bytes = writer.into_inner().unwrap();
    let source_bytes = bytes.len();
    store
        .put(&Path::from("driver_stats.parquet"), PutPayload::from(bytes))
        .await
        .unwrap();

    let entities = RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from_iter_values(
                (0..ENTITY_ROWS).map(|i| (scramble(i as u64) % DRIVERS as u64) as i64),
            )) as ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..ENTITY_ROWS).map(|i| START + (scramble(!(i as u64)) % (HOURS * HOUR) as u64) as i64),
                )
                .with_timezone("UTC"),
            ),
        ),
    ])
    .unwrap();
    for ttl in [Duration::ZERO, Duration::from_secs(6 * 3600)] {
        let view = FeatureViewSource {
            name: "driver_hourly_stats".into(),
            location: Path::from("driver_stats.parquet"),
            join_keys: vec!["driver_id".into()],
            timestamp_field: "event_timestamp".into(),
            created_timestamp_field: Some("created".into()),
            ttl,
            features: vec!["conv_rate".into(), "acc_rate".into(), "avg_daily_trips".into()],
            aggregations: Vec::new(),
        };
        let started = Instant::now();
        let out = historical_features(Arc::clone(&store), entities.clone(), &[view], false)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        println!(
            "offline timing: {} entity rows x 3 features against {} source rows ({source_bytes} Parquet bytes), \
             ttl {ttl:?}: {elapsed:?}; {} null conv_rate",
            out.num_rows(),
            DRIVERS * HOURS,
            out.column(2).null_count(),
        );
    }
}
