use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use lathe_common::{Error, ErrorCode};
use object_store::ObjectStore;
use object_store::memory::InMemory;

use super::super::{EntityFormat, OfflineError, historical_features, read_entity_frame};
use super::*;

async fn fails(entities: RecordBatch, views: &[FeatureViewSource], full_names: bool) -> Error {
    let source = driver_stats(&[stat(1, "2024-01-01T09:00:00Z", Some(0.1))]);
    let err = historical_features(store_with(&source).await, entities, views, full_names)
        .await
        .expect_err("the retrieval should fail");
    Error::from(err)
}

fn assert_invalid(err: &Error, needles: &[&str]) {
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err:?}");
    for needle in needles {
        assert!(
            err.message.contains(needle),
            "{:?} should mention {needle:?}",
            err.message
        );
    }
}

#[tokio::test]
async fn offline_an_entity_frame_without_event_timestamp_is_rejected() {
    let entities =
        RecordBatch::try_from_iter([("driver_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
    let err = fails(entities, &[stats_view("stats.parquet")], false).await;
    assert_invalid(&err, &["event_timestamp", "add one"]);
}

#[tokio::test]
async fn offline_an_entity_frame_without_a_join_key_is_rejected() {
    let mut view = stats_view("stats.parquet");
    view.join_keys = vec!["driver_id".into(), "city".into()];
    let err = fails(drivers(&[(1, "2024-01-01T10:00:00Z")]), &[view], false).await;
    assert_invalid(&err, &["`city`", "join key of feature view `driver_stats`"]);
}

#[tokio::test]
async fn offline_a_missing_or_null_or_textual_event_timestamp_is_rejected() {
    let entities = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("event_timestamp", timestamps([Some(0), None])),
    ])
    .unwrap();
    let err = fails(entities, &[stats_view("stats.parquet")], false).await;
    assert_invalid(&err, &["entity row 1"]);

    let entities = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("event_timestamp", Arc::new(StringArray::from(vec!["yesterday"]))),
    ])
    .unwrap();
    let err = fails(entities, &[stats_view("stats.parquet")], false).await;
    assert_invalid(&err, &["must be a timestamp"]);
}

#[tokio::test]
async fn offline_a_source_without_a_requested_column_is_rejected() {
    let mut view = stats_view("stats.parquet");
    view.features.push("acc_rate".into());
    let err = fails(drivers(&[(1, "2024-01-01T10:00:00Z")]), &[view], false).await;
    assert_invalid(&err, &["`acc_rate`", "stats.parquet", "requested feature"]);

    let mut view = stats_view("stats.parquet");
    view.created_timestamp_field = Some("created_at".into());
    let err = fails(drivers(&[(1, "2024-01-01T10:00:00Z")]), &[view], false).await;
    assert_invalid(&err, &["`created_at`", "created timestamp"]);
}

#[tokio::test]
async fn offline_a_key_type_mismatch_is_rejected() {
    let entities = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(StringArray::from(vec!["1"])) as ArrayRef),
        ("event_timestamp", timestamps([Some(at("2024-01-01T10:00:00Z"))])),
    ])
    .unwrap();
    let err = fails(entities, &[stats_view("stats.parquet")], false).await;
    assert_invalid(&err, &["`driver_id`", "Utf8", "Int64", "cast one side"]);
}

#[tokio::test]
async fn offline_clashing_output_columns_ask_for_full_feature_names() {
    let other = FeatureViewSource {
        name: "driver_stats_v2".into(),
        ..stats_view("stats.parquet")
    };
    let views = [stats_view("stats.parquet"), other];
    let err = fails(drivers(&[(1, "2024-01-01T10:00:00Z")]), &views, false).await;
    assert_invalid(&err, &["`conv_rate`", "full feature names"]);
    assert_eq!(err.reason, "duplicate_output_column");

    let mut view = stats_view("stats.parquet");
    view.features = vec!["driver_id".into()];
    let err = fails(drivers(&[(1, "2024-01-01T10:00:00Z")]), &[view], false).await;
    assert_invalid(&err, &["`driver_id`"]);
}

#[tokio::test]
async fn offline_a_missing_source_is_not_found() {
    let err = fails(
        drivers(&[(1, "2024-01-01T10:00:00Z")]),
        &[stats_view("nowhere")],
        false,
    )
    .await;
    assert_eq!(err.code, ErrorCode::NotFound, "{err:?}");
    assert!(err.message.contains("`nowhere`"), "{}", err.message);
}

#[tokio::test]
async fn offline_files_of_one_source_must_agree_on_feature_types() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    put_parquet(
        store.as_ref(),
        "stats/a.parquet",
        &driver_stats(&[stat(1, "2024-01-01T09:00:00Z", Some(0.1))]),
    )
    .await;
    let as_text = RecordBatch::try_from_iter([
        ("driver_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("event_timestamp", timestamps([Some(0)])),
        ("created", timestamps([None])),
        ("conv_rate", Arc::new(StringArray::from(vec!["0.1"]))),
    ])
    .unwrap();
    put_parquet(store.as_ref(), "stats/b.parquet", &as_text).await;
    let err = historical_features(
        store,
        drivers(&[(1, "2024-01-01T10:00:00Z")]),
        &[stats_view("stats")],
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OfflineError::FeatureTypeMismatch { .. }), "{err:?}");
    assert_invalid(&Error::from(err), &["`conv_rate`", "stats/b.parquet", "Float64"]);
}

#[test]
fn offline_an_unreadable_entity_frame_is_invalid() {
    let err = read_entity_frame(b"not parquet", EntityFormat::Parquet).unwrap_err();
    assert_invalid(&Error::from(err), &["not valid Parquet"]);
    let err = read_entity_frame(b"driver_id,event_timestamp\n1,tomorrow\n", EntityFormat::Csv).unwrap_err();
    assert_invalid(&Error::from(err), &["not valid CSV"]);
}
