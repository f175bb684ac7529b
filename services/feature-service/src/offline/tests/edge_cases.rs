use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, AsArray, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{DataType, Float32Type, Int64Type};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

use super::super::historical_features::{Tuning, retrieve};
use super::super::{EntityFormat, FeatureViewSource, historical_features, read_entity_frame};
use super::*;

#[tokio::test]
async fn offline_a_row_at_exactly_the_entity_time_counts() {
    let source = driver_stats(&[
        stat(1, "2024-01-01T09:00:00Z", Some(0.1)),
        stat(1, "2024-01-01T10:00:00Z", Some(0.2)),
        stat(1, "2024-01-01T10:00:00.000001Z", Some(0.3)),
    ]);
    let entities = drivers(&[(1, "2024-01-01T10:00:00Z"), (1, "2024-01-01T09:59:59.999999Z")]);
    let out = historical_features(
        store_with(&source).await,
        entities,
        &[stats_view("stats.parquet")],
        false,
    )
    .await
    .unwrap();
    assert_eq!(f64_column(&out, "conv_rate"), [Some(0.2), Some(0.1)]);
}

#[tokio::test]
async fn offline_the_ttl_lower_bound_is_inclusive() {
    let source = driver_stats(&[
        stat(1, "2024-01-01T08:59:59.999999Z", Some(0.1)),
        stat(2, "2024-01-01T09:00:00Z", Some(0.2)),
    ]);
    let entities = drivers(&[(1, "2024-01-01T10:00:00Z"), (2, "2024-01-01T10:00:00Z")]);
    let mut view = stats_view("stats.parquet");
    view.ttl = Duration::from_secs(3600);
    let out = historical_features(
        store_with(&source).await,
        entities.clone(),
        &[view.clone()],
        false,
    )
    .await
    .unwrap();
    assert_eq!(f64_column(&out, "conv_rate"), [None, Some(0.2)]);

    view.ttl = Duration::ZERO;
    let out = historical_features(store_with(&source).await, entities, &[view], false)
        .await
        .unwrap();
    assert_eq!(
        f64_column(&out, "conv_rate"),
        [Some(0.1), Some(0.2)],
        "a zero ttl has no bound"
    );
}

#[tokio::test]
async fn offline_a_tie_on_event_time_goes_to_the_later_created_time() {
    let row = |created: &'static str, conv_rate| StatRow {
        driver: 1,
        time: "2024-01-01T09:00:00Z",
        created: Some(created),
        conv_rate: Some(conv_rate),
    };
    // The later created row first, then last: the order of the source does not matter.
    for rows in [
        [row("2024-01-02T00:00:00Z", 0.9), row("2024-01-01T12:00:00Z", 0.1)],
        [row("2024-01-01T12:00:00Z", 0.1), row("2024-01-02T00:00:00Z", 0.9)],
    ] {
        let store = store_with(&driver_stats(&rows)).await;
        let entities = drivers(&[(1, "2024-01-01T10:00:00Z")]);
        let out = historical_features(store, entities, &[stats_view("stats.parquet")], false)
            .await
            .unwrap();
        assert_eq!(f64_column(&out, "conv_rate"), [Some(0.9)]);
    }
}

#[tokio::test]
async fn offline_a_null_created_time_loses_a_tie_and_created_only_breaks_ties() {
    let rows = |null_first: bool| {
        let with_created = StatRow {
            driver: 1,
            time: "2024-01-01T09:00:00Z",
            created: Some("2020-01-01T00:00:00Z"),
            conv_rate: Some(0.5),
        };
        let without = stat(1, "2024-01-01T09:00:00Z", Some(0.7));
        // A later event with an older created time still wins: created only breaks ties.
        let later = StatRow {
            driver: 2,
            time: "2024-01-01T09:30:00Z",
            created: Some("2000-01-01T00:00:00Z"),
            conv_rate: Some(0.3),
        };
        let earlier = StatRow {
            driver: 2,
            time: "2024-01-01T09:00:00Z",
            created: Some("2030-01-01T00:00:00Z"),
            conv_rate: Some(0.4),
        };
        if null_first {
            vec![without, with_created, earlier, later]
        } else {
            vec![with_created, without, later, earlier]
        }
    };
    for null_first in [true, false] {
        let store = store_with(&driver_stats(&rows(null_first))).await;
        let entities = drivers(&[(1, "2024-01-01T10:00:00Z"), (2, "2024-01-01T10:00:00Z")]);
        let out = historical_features(store, entities, &[stats_view("stats.parquet")], false)
            .await
            .unwrap();
        assert_eq!(f64_column(&out, "conv_rate"), [Some(0.5), Some(0.3)]);
    }
}

#[tokio::test]
async fn offline_a_chosen_row_with_a_null_value_yields_null_without_falling_back() {
    let source = driver_stats(&[
        stat(1, "2024-01-01T08:00:00Z", Some(0.1)),
        stat(1, "2024-01-01T09:00:00Z", None),
    ]);
    let entities = drivers(&[(1, "2024-01-01T10:00:00Z"), (1, "2024-01-01T08:30:00Z")]);
    let out = historical_features(
        store_with(&source).await,
        entities,
        &[stats_view("stats.parquet")],
        false,
    )
    .await
    .unwrap();
    assert_eq!(f64_column(&out, "conv_rate"), [None, Some(0.1)]);
}

#[tokio::test]
async fn offline_without_a_candidate_the_features_are_null() {
    let source = driver_stats(&[
        stat(1, "2024-01-01T11:00:00Z", Some(0.1)),
        stat(2, "2024-01-01T07:00:00Z", Some(0.2)),
        stat(4, "2024-01-01T09:00:00Z", Some(0.4)),
    ]);
    // Only rows after T; only rows before the ttl window; an unknown key; a match.
    let entities = drivers(&[
        (1, "2024-01-01T10:00:00Z"),
        (2, "2024-01-01T10:00:00Z"),
        (3, "2024-01-01T10:00:00Z"),
        (4, "2024-01-01T10:00:00Z"),
    ]);
    let mut view = stats_view("stats.parquet");
    view.ttl = Duration::from_secs(2 * 3600);
    let out = historical_features(store_with(&source).await, entities, &[view], false)
        .await
        .unwrap();
    assert_eq!(f64_column(&out, "conv_rate"), [None, None, None, Some(0.4)]);
    assert_eq!(
        out.schema().field_with_name("conv_rate").unwrap().data_type(),
        &DataType::Float64
    );
}

#[tokio::test]
async fn offline_duplicate_entity_rows_all_appear_in_input_order_with_extra_columns_passed_through() {
    let source = driver_stats(&[
        stat(1, "2024-01-01T08:00:00Z", Some(0.1)),
        stat(2, "2024-01-01T08:00:00Z", Some(0.2)),
        stat(1, "2024-01-01T09:00:00Z", Some(0.3)),
    ]);
    let base = drivers(&[
        (1, "2024-01-01T10:00:00Z"),
        (2, "2024-01-01T10:00:00Z"),
        (1, "2024-01-01T10:00:00Z"),
        (1, "2024-01-01T08:30:00Z"),
        (1, "2024-01-01T10:00:00Z"),
    ]);
    let label: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"]));
    let mut columns = base.columns().to_vec();
    columns.insert(0, label);
    let entities =
        RecordBatch::try_from_iter(["label", "driver_id", "event_timestamp"].into_iter().zip(columns))
            .unwrap();
    let out = historical_features(
        store_with(&source).await,
        entities,
        &[stats_view("stats.parquet")],
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        column_names(&out),
        ["label", "driver_id", "event_timestamp", "conv_rate"]
    );
    assert_eq!(
        string_column(&out, "label"),
        ["a", "b", "c", "d", "e"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(
        f64_column(&out, "conv_rate"),
        [Some(0.3), Some(0.2), Some(0.3), Some(0.1), Some(0.3)]
    );
}

#[tokio::test]
async fn offline_composite_keys_match_on_every_column_and_widths_may_differ() {
    // The source stores the driver as int32, the entity frame as int64.
    let source = RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int32Array::from(vec![1, 1, 2, 2])) as ArrayRef,
        ),
        (
            "city",
            Arc::new(StringArray::from(vec!["oslo", "rome", "oslo", "rome"])),
        ),
        (
            "event_timestamp",
            timestamps([at("2024-01-01T09:00:00Z"); 4].map(Some)),
        ),
        ("trips", Arc::new(Int64Array::from(vec![10, 11, 20, 21]))),
    ])
    .unwrap();
    let store = store_with(&source).await;
    let entities = RecordBatch::try_from_iter([
        (
            "driver_id",
            Arc::new(Int64Array::from(vec![2, 1, 1, 2])) as ArrayRef,
        ),
        (
            "city",
            Arc::new(StringArray::from(vec![
                Some("rome"),
                Some("oslo"),
                Some("paris"),
                None,
            ])),
        ),
        (
            "event_timestamp",
            timestamps([at("2024-01-01T10:00:00Z"); 4].map(Some)),
        ),
    ])
    .unwrap();
    let view = FeatureViewSource {
        join_keys: vec!["driver_id".into(), "city".into()],
        created_timestamp_field: None,
        features: vec!["trips".into()],
        ..stats_view("stats.parquet")
    };
    let out = historical_features(store, entities, &[view], false)
        .await
        .unwrap();
    let trips: Vec<Option<i64>> = out
        .column_by_name("trips")
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect();
    assert_eq!(
        trips,
        [Some(21), Some(10), None, None],
        "a null key matches nothing"
    );
}

#[tokio::test]
async fn offline_timestamps_without_a_zone_are_utc_whatever_their_unit() {
    // Source times in nanoseconds without a zone; entity times in seconds at +02:00 and from a
    // zone-less CSV: all are compared as UTC instants.
    let nine_utc = at("2024-01-01T09:00:00Z");
    let source = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(Int64Array::from(vec![1, 1])) as ArrayRef),
        (
            "event_timestamp",
            Arc::new(TimestampNanosecondArray::from(vec![
                nine_utc * 1000,
                (nine_utc + 1) * 1000 + 1,
            ])),
        ),
        ("conv_rate", Arc::new(Float32Array::from(vec![0.5, 0.6]))),
    ])
    .unwrap();
    let store = store_with(&source).await;
    let view = FeatureViewSource {
        created_timestamp_field: None,
        ..stats_view("stats.parquet")
    };

    let offset = TimestampSecondArray::from(vec![nine_utc / 1_000_000]).with_timezone("+02:00");
    let entities = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("event_timestamp", Arc::new(offset) as ArrayRef),
    ])
    .unwrap();
    let out = historical_features(Arc::clone(&store), entities, std::slice::from_ref(&view), false)
        .await
        .unwrap();
    let rates: Vec<Option<f32>> = out.column(2).as_primitive::<Float32Type>().iter().collect();
    assert_eq!(rates, [Some(0.5)]);

    let csv = "driver_id,event_timestamp\n1,2024-01-01T09:00:00\n1,2024-01-01 09:00:00.000001\n1,2024-01-01T10:00:00+02:00\n";
    let entities = read_entity_frame(csv.as_bytes(), EntityFormat::Csv).unwrap();
    let out = historical_features(store, entities, &[view], false)
        .await
        .unwrap();
    let rates: Vec<Option<f32>> = out.column(2).as_primitive::<Float32Type>().iter().collect();
    assert_eq!(
        rates,
        [Some(0.5), Some(0.6), None],
        "09:00 UTC, 09:00:00.000001 UTC, 08:00 UTC"
    );
}

#[tokio::test]
async fn offline_a_csv_entity_frame_is_inferred_and_its_times_are_utc_microseconds() {
    let csv = "driver_id,event_timestamp,trip_completed\n\
               1,2024-01-01T10:00:00Z,true\n\
               2,2024-01-01T10:00:00.5Z,false\n";
    let entities = read_entity_frame(csv.as_bytes(), EntityFormat::Csv).unwrap();
    assert_eq!(entities.schema().field(0).data_type(), &DataType::Int64);
    assert_eq!(entities.schema().field(1).data_type(), &micros_type());
    assert_eq!(entities.schema().field(2).data_type(), &DataType::Boolean);
    let source = driver_stats(&[
        stat(1, "2024-01-01T10:00:00Z", Some(0.1)),
        stat(2, "2024-01-01T10:00:00.5Z", Some(0.2)),
        stat(2, "2024-01-01T10:00:00.500001Z", Some(0.3)),
    ]);
    let out = historical_features(
        store_with(&source).await,
        entities,
        &[stats_view("stats.parquet")],
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        column_names(&out),
        ["driver_id", "event_timestamp", "trip_completed", "conv_rate"]
    );
    assert_eq!(f64_column(&out, "conv_rate"), [Some(0.1), Some(0.2)]);

    let parquet = super::super::write_parquet(&out).unwrap();
    let back = read_entity_frame(&parquet, EntityFormat::Parquet).unwrap();
    assert_eq!(back, out, "a frame survives a Parquet round trip");
}

/// Two views over one source of driver stats and a second of customer profiles.
async fn two_views() -> (Arc<dyn ObjectStore>, RecordBatch, [FeatureViewSource; 2]) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let stats = driver_stats(&[
        stat(1, "2024-01-01T08:00:00Z", Some(0.1)),
        stat(2, "2024-01-01T08:00:00Z", Some(0.2)),
    ]);
    put_parquet(store.as_ref(), "stats.parquet", &stats).await;
    let profiles = RecordBatch::try_from_iter([
        (
            "customer_id",
            Arc::new(StringArray::from(vec!["c1", "c2"])) as ArrayRef,
        ),
        (
            "ts",
            timestamps([at("2024-01-01T09:00:00Z"), at("2024-01-01T11:00:00Z")].map(Some)),
        ),
        ("conv_rate", Arc::new(Float64Array::from(vec![0.7, 0.8]))),
        ("tier", Arc::new(StringArray::from(vec!["gold", "silver"]))),
    ])
    .unwrap();
    put_parquet(store.as_ref(), "profiles/part-0.parquet", &profiles).await;
    let entities = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("customer_id", Arc::new(StringArray::from(vec!["c1", "c2"]))),
        (
            "event_timestamp",
            timestamps([at("2024-01-01T10:00:00Z"); 2].map(Some)),
        ),
    ])
    .unwrap();
    let profiles_view = FeatureViewSource {
        name: "customer_profile".into(),
        location: Path::from("profiles"),
        join_keys: vec!["customer_id".into()],
        timestamp_field: "ts".into(),
        created_timestamp_field: None,
        ttl: Duration::ZERO,
        features: vec!["tier".into(), "conv_rate".into()],
        aggregations: Vec::new(),
    };
    (store, entities, [stats_view("stats.parquet"), profiles_view])
}

#[tokio::test]
async fn offline_several_views_join_with_full_feature_names() {
    let (store, entities, views) = two_views().await;
    let out = historical_features(store, entities, &views, true).await.unwrap();
    assert_eq!(
        column_names(&out),
        [
            "driver_id",
            "customer_id",
            "event_timestamp",
            "driver_stats__conv_rate",
            "customer_profile__tier",
            "customer_profile__conv_rate"
        ]
    );
    assert_eq!(
        f64_column(&out, "driver_stats__conv_rate"),
        [Some(0.1), Some(0.2)]
    );
    assert_eq!(
        string_column(&out, "customer_profile__tier"),
        [Some("gold".into()), None]
    );
    assert_eq!(f64_column(&out, "customer_profile__conv_rate"), [Some(0.7), None]);
}

#[tokio::test]
async fn offline_several_views_join_with_short_names_when_they_do_not_clash() {
    let (store, entities, [stats, mut profiles]) = two_views().await;
    profiles.features = vec!["tier".into()];
    let out = historical_features(store, entities, &[stats, profiles], false)
        .await
        .unwrap();
    assert_eq!(
        column_names(&out),
        ["driver_id", "customer_id", "event_timestamp", "conv_rate", "tier"]
    );
}

#[tokio::test]
async fn offline_a_source_split_into_files_under_a_prefix_is_read_whole() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let parts = [
        driver_stats(&[
            stat(1, "2024-01-01T09:00:00Z", Some(0.9)),
            stat(2, "2024-01-01T05:00:00Z", Some(0.2)),
        ]),
        driver_stats(&[stat(1, "2024-01-01T08:00:00Z", Some(0.8))]),
        driver_stats(&[
            stat(2, "2024-01-01T06:00:00Z", Some(0.3)),
            stat(1, "2024-01-01T11:00:00Z", Some(1.1)),
        ]),
    ];
    for (index, part) in parts.iter().enumerate() {
        put_parquet(
            store.as_ref(),
            &format!("stats/date=2024-01-0{index}/part.parquet"),
            part,
        )
        .await;
    }
    // Neither a marker file nor a sibling prefix sharing the name's start is part of the source.
    store
        .put(&Path::from("stats/_SUCCESS"), Vec::<u8>::new().into())
        .await
        .unwrap();
    let decoy = driver_stats(&[stat(1, "2024-01-01T09:30:00Z", Some(-1.0))]);
    put_parquet(store.as_ref(), "stats_old/part.parquet", &decoy).await;

    let entities = drivers(&[
        (1, "2024-01-01T10:00:00Z"),
        (2, "2024-01-01T10:00:00Z"),
        (1, "2024-01-01T08:30:00Z"),
    ]);
    let out = historical_features(store, entities, &[stats_view("stats")], false)
        .await
        .unwrap();
    assert_eq!(f64_column(&out, "conv_rate"), [Some(0.9), Some(0.3), Some(0.8)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_a_local_file_system_source_streams_in_small_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let rows: Vec<StatRow<'_>> = (0..50)
        .map(|driver| {
            stat(
                driver % 5,
                if driver < 25 {
                    "2024-01-01T08:00:00Z"
                } else {
                    "2024-01-01T09:00:00Z"
                },
                Some(driver as f64),
            )
        })
        .collect();
    put_parquet(
        store.as_ref(),
        "features/stats/part-0.parquet",
        &driver_stats(&rows),
    )
    .await;
    let entities = drivers(&[
        (0, "2024-01-01T10:00:00Z"),
        (4, "2024-01-01T08:00:00Z"),
        (9, "2024-01-01T10:00:00Z"),
    ]);
    let tuning = Tuning {
        batch_rows: 3,
        min_compaction_rows: 1,
        workers: 1,
    };
    let out = retrieve(store, entities, &[stats_view("features/stats")], false, tuning)
        .await
        .unwrap();
    // Complete ties (same time, no created time) keep the row read first.
    assert_eq!(f64_column(&out, "conv_rate"), [Some(25.0), Some(4.0), None]);
    assert_eq!(null_count(&out, "conv_rate"), 1);
}

#[tokio::test]
async fn offline_a_view_without_join_keys_serves_every_entity_row_from_all_source_rows() {
    let source = driver_stats(&[
        stat(7, "2024-01-01T08:00:00Z", Some(0.1)),
        stat(8, "2024-01-01T09:00:00Z", Some(0.2)),
        stat(9, "2024-01-01T11:00:00Z", Some(0.3)),
    ]);
    let entities = drivers(&[(1, "2024-01-01T10:00:00Z"), (2, "2024-01-01T08:30:00Z")]);
    let view = FeatureViewSource {
        join_keys: Vec::new(),
        ..stats_view("stats.parquet")
    };
    let out = historical_features(store_with(&source).await, entities, &[view], false)
        .await
        .unwrap();
    assert_eq!(f64_column(&out, "conv_rate"), [Some(0.2), Some(0.1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_row_groups_joined_on_several_threads_merge_as_one_reader_would() {
    // Driver 1 has eight complete ties (08:00, no created time) spread over four row groups,
    // and driver 2 its latest row in the last row group.
    let mut rows: Vec<StatRow<'_>> = (1..=8)
        .map(|value| stat(1, "2024-01-01T08:00:00Z", Some(value as f64)))
        .collect();
    rows.push(stat(2, "2024-01-01T07:00:00Z", Some(20.0)));
    rows.insert(0, stat(2, "2024-01-01T06:00:00Z", Some(10.0)));
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    store
        .put(
            &Path::from("stats/part-0.parquet"),
            parquet_in_row_groups(&driver_stats(&rows), 2).into(),
        )
        .await
        .unwrap();
    let entities = drivers(&[
        (1, "2024-01-01T09:00:00Z"),
        (2, "2024-01-01T09:00:00Z"),
        (2, "2024-01-01T06:30:00Z"),
        (3, "2024-01-01T09:00:00Z"),
    ]);
    for workers in 1..=5 {
        let tuning = Tuning {
            batch_rows: 1,
            min_compaction_rows: 1,
            workers,
        };
        let out = retrieve(
            Arc::clone(&store),
            entities.clone(),
            &[stats_view("stats")],
            false,
            tuning,
        )
        .await
        .unwrap();
        assert_eq!(
            f64_column(&out, "conv_rate"),
            [Some(1.0), Some(20.0), Some(10.0), None],
            "{workers} workers: the row read first wins a complete tie, the latest row wins"
        );
    }
}

#[tokio::test]
async fn offline_row_groups_outside_the_entity_times_are_skipped() {
    use parquet::arrow::arrow_reader::ArrowReaderMetadata;

    use super::super::historical_features::row_groups_in_time;
    use super::super::object_reader::ObjectReader;

    let hours = ["01", "02", "03", "04", "05", "06"].map(|h| format!("2024-01-01T{h}:00:00Z"));
    let rows: Vec<StatRow<'_>> = hours.iter().map(|time| stat(1, time, Some(0.5))).collect();
    let store = Arc::new(InMemory::new());
    let location = Path::from("stats.parquet");
    store
        .put(&location, parquet_in_row_groups(&driver_stats(&rows), 2).into())
        .await
        .unwrap();
    let file = store.head(&location).await.unwrap();
    let metadata = ArrowReaderMetadata::load_async(&mut ObjectReader::new(store, &file), Default::default())
        .await
        .unwrap();

    let window = |from: &str, to: &str| Some((at(from), at(to)));
    let groups = |window| row_groups_in_time(&metadata, "event_timestamp", window);
    assert_eq!(
        groups(window("2024-01-01T02:30:00Z", "2024-01-01T03:30:00Z")),
        [1]
    );
    assert_eq!(
        groups(window("2024-01-01T02:00:00Z", "2024-01-01T05:00:00Z")),
        [0, 1, 2],
        "bounds are inclusive"
    );
    assert_eq!(
        groups(window("2023-01-01T00:00:00Z", "2024-01-01T00:59:59Z")),
        Vec::<usize>::new()
    );
    assert_eq!(
        groups(None),
        Vec::<usize>::new(),
        "no entity rows, nothing to read"
    );
}
