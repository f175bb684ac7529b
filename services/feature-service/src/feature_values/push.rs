//! Push: rows of a push source written to the online store, the offline store or both. Every
//! column is checked against the schema of the feature views that read the source before
//! anything is written, so a bad push changes nothing.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::FeatureValues;
use super::aggregates::{Event, row_data};
use super::value_conversion::value_from_proto;
use crate::aggregation::{self, Aggregation};
use crate::definitions::model::{DATA_SOURCE, FEATURE_VIEW, Spec};
use crate::definitions::spec::{FeatureType, FeatureViewSpec, Scalar, SourceSpec};
use crate::online::{EntityKey, FeatureRow, Value};

fn unprocessable(message: String) -> Error {
    Error::new(ErrorCode::Unprocessable, message).with_reason(reasons::PUSH_SCHEMA_MISMATCH)
}

/// A pushed timestamp: microseconds, or RFC 3339 / `YYYY-MM-DD HH:MM:SS[.f]` (UTC) text.
fn timestamp_of(value: &Value) -> Option<i64> {
    match value {
        Value::Timestamp(us) | Value::Int64(us) => Some(*us),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_micros())
            .ok()
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc().timestamp_micros())
            }),
        Value::Null
        | Value::Int32(_)
        | Value::Float32(_)
        | Value::Float64(_)
        | Value::Bool(_)
        | Value::Bytes(_)
        | Value::List(_) => None,
    }
}

/// Converts a pushed value to the declared type, or says why it does not fit.
fn conform(value: Value, declared: FeatureType) -> std::result::Result<Value, String> {
    if matches!(value, Value::Null) {
        return Ok(Value::Null);
    }
    if declared.list {
        let Value::List(items) = value else {
            return Err(format!("expected {}", declared.name()));
        };
        let scalar = FeatureType {
            scalar: declared.scalar,
            list: false,
        };
        return items
            .into_iter()
            .map(|v| conform(v, scalar))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Value::List);
    }
    let mismatch = |v: &Value| format!("expected {}, got {}", declared.name(), describe(v));
    match (declared.scalar, value) {
        (Scalar::Int32, Value::Int64(v)) => i32::try_from(v)
            .map(Value::Int32)
            .map_err(|_| format!("{v} does not fit int32")),
        (Scalar::Int32, Value::Int32(v)) => Ok(Value::Int32(v)),
        (Scalar::Int64, Value::Int64(v)) => Ok(Value::Int64(v)),
        (Scalar::Int64, Value::Int32(v)) => Ok(Value::Int64(i64::from(v))),
        (Scalar::Float32, Value::Float64(v)) => Ok(Value::Float32(v as f32)),
        (Scalar::Float32, Value::Int64(v)) => Ok(Value::Float32(v as f32)),
        (Scalar::Float32, Value::Float32(v)) => Ok(Value::Float32(v)),
        (Scalar::Float64, Value::Float64(v)) => Ok(Value::Float64(v)),
        (Scalar::Float64, Value::Int64(v)) => Ok(Value::Float64(v as f64)),
        (Scalar::Float64, Value::Float32(v)) => Ok(Value::Float64(f64::from(v))),
        (Scalar::Bool, Value::Bool(v)) => Ok(Value::Bool(v)),
        (Scalar::String, Value::String(v)) => Ok(Value::String(v)),
        (Scalar::Bytes, Value::Bytes(v)) => Ok(Value::Bytes(v)),
        (Scalar::Bytes, Value::String(v)) => Ok(Value::Bytes(v.into_bytes())),
        (Scalar::Timestamp, v) => timestamp_of(&v).map(Value::Timestamp).ok_or_else(|| mismatch(&v)),
        (_, v) => Err(mismatch(&v)),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Int32(_) | Value::Int64(_) => "an integer",
        Value::Float32(_) | Value::Float64(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Timestamp(_) => "a timestamp",
        Value::List(_) => "a list",
    }
}

/// One feature view fed by the push source, with its checked rows.
struct Target {
    view: String,
    rows: Vec<(EntityKey, FeatureRow)>,
}

impl FeatureValues {
    /// Checks the pushed columns against every view that reads the push source, then writes
    /// them where the request says.
    pub async fn push(&self, request: pb::PushRequest) -> Result<pb::PushResponse> {
        self.push_at(request, chrono::Utc::now().timestamp_micros()).await
    }

    /// [`push`](Self::push) with the present at `now_us` (what decides which events of an
    /// aggregated view are late, or still to come).
    pub(super) async fn push_at(&self, request: pb::PushRequest, now_us: i64) -> Result<pb::PushResponse> {
        let project = &request.project;
        let source = match self
            .definitions
            .get_recent(project, DATA_SOURCE, &request.push_source)
            .await?
            .map(|s| s.spec.clone())
        {
            Some(Spec::Source(source)) if source.push.is_some() => source,
            Some(_) => {
                return Err(Error::invalid(format!(
                    "data source '{}' is not a push source",
                    request.push_source
                )));
            }
            None => {
                return Err(Error::of(
                    reasons::PUSH_SOURCE_NOT_FOUND,
                    format!(
                        "push source '{}' does not exist in project '{project}'",
                        request.push_source
                    ),
                ));
            }
        };
        let to = pb::PushTarget::try_from(request.to).unwrap_or(pb::PushTarget::Online);
        let rows = request.columns.first().map_or(0, |c| c.values.len());
        if request.columns.iter().any(|c| c.values.len() != rows) {
            return Err(unprocessable(
                "every column needs the same number of values".to_owned(),
            ));
        }
        let column = |name: &str, needed_by: &str| {
            request
                .columns
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| unprocessable(format!("missing column '{name}' ({needed_by})")))
        };
        let timestamps = column(&source.timestamp_field, "the push source's timestamp field")?;
        let event_ts: Vec<i64> = timestamps
            .values
            .iter()
            .enumerate()
            .map(|(row, v)| {
                timestamp_of(&value_from_proto(v)).ok_or_else(|| {
                    unprocessable(format!(
                        "column '{}' row {row}: expected a timestamp",
                        source.timestamp_field
                    ))
                })
            })
            .collect::<Result<_>>()?;

        let mut targets = Vec::new();
        let views: Vec<_> = self
            .definitions
            .list(project, Some(FEATURE_VIEW))
            .await?
            .into_iter()
            .filter_map(|s| match s.spec {
                Spec::View(view) if view.source == request.push_source => Some(view),
                Spec::View(_) | Spec::Entity(_) | Spec::Source(_) | Spec::Service(_) => None,
            })
            .collect();
        if views.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("no feature view reads push source '{}'", request.push_source),
            ));
        }
        let mut offline_fields: Vec<(String, FeatureType, Vec<Value>)> = Vec::new();
        let mut aggregated: Vec<(&FeatureViewSpec, Vec<Event>)> = Vec::new();
        for view in &views {
            let join_keys = self.join_keys(project, view).await?;
            let aggregations = aggregation::of_view(view, None);
            let fields: Vec<(&String, &String)> = if aggregations.is_empty() {
                view.schema.iter().map(|f| (&f.name, &f.dtype)).collect()
            } else {
                Vec::new()
            };
            let mut checked: Vec<(String, Vec<Value>)> = Vec::new();
            for (name, dtype) in join_keys.iter().map(|k| (&k.name, &k.dtype)).chain(fields) {
                let declared =
                    FeatureType::parse(dtype).ok_or_else(|| Error::internal("stored type unreadable"))?;
                let values = column(name, &format!("needed by feature view '{}'", view.name))?
                    .values
                    .iter()
                    .enumerate()
                    .map(|(row, v)| {
                        conform(value_from_proto(v), declared)
                            .map_err(|why| unprocessable(format!("column '{name}' row {row}: {why}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                if !offline_fields.iter().any(|(n, _, _)| n == name) {
                    offline_fields.push((name.clone(), declared, values.clone()));
                }
                checked.push((name.clone(), values));
            }
            if !aggregations.is_empty() {
                let events = aggregated_events(
                    view,
                    &aggregations,
                    &checked,
                    &event_ts,
                    &column,
                    &mut offline_fields,
                )?;
                aggregated.push((view, events));
                continue;
            }
            let (keys, features) = checked.split_at(join_keys.len());
            let mut target = Target {
                view: view.name.clone(),
                rows: Vec::with_capacity(rows),
            };
            for (row, ts) in event_ts.iter().enumerate() {
                let key = EntityKey::new(keys.iter().map(|(n, v)| (n.clone(), v[row].clone())))
                    .map_err(|e| unprocessable(format!("row {row}: {e}")))?;
                let values = features
                    .iter()
                    .map(|(n, v)| (n.clone(), v[row].clone()))
                    .collect();
                target.rows.push((
                    key,
                    FeatureRow {
                        event_ts_us: *ts,
                        created_ts_us: None,
                        values,
                    },
                ));
            }
            targets.push(target);
        }

        let mut offline_file = String::new();
        if matches!(to, pb::PushTarget::Offline | pb::PushTarget::OnlineAndOffline) {
            offline_file = self
                .push_offline(project, &source, &event_ts, &offline_fields)
                .await?;
        }
        let mut late_events = 0;
        let mut reached: Vec<String> = targets.iter().map(|t| t.view.clone()).collect();
        reached.extend(aggregated.iter().map(|(view, _)| view.name.clone()));
        if matches!(to, pb::PushTarget::Online | pb::PushTarget::OnlineAndOffline) {
            for target in &targets {
                self.online
                    .write(project, &target.view, target.rows.clone())
                    .await?;
            }
            for (view, events) in aggregated {
                late_events += self.push_aggregates(project, view, events, now_us).await?;
            }
        }
        Ok(pb::PushResponse {
            rows: rows as u64,
            feature_views: reached,
            offline_file,
            late_events,
        })
    }

    /// Appends the rows as a new Parquet file under the batch source's prefix.
    async fn push_offline(
        &self,
        project: &str,
        source: &SourceSpec,
        event_ts: &[i64],
        fields: &[(String, FeatureType, Vec<Value>)],
    ) -> Result<String> {
        let batch_name = source
            .push
            .as_ref()
            .and_then(|p| p.batch_source.clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "push source '{}' has no batch_source for offline rows",
                        source.name
                    ),
                )
            })?;
        let Some(Spec::Source(batch)) = self
            .definitions
            .get_recent(project, DATA_SOURCE, &batch_name)
            .await?
            .map(|s| s.spec.clone())
        else {
            return Err(Error::internal("batch source vanished"));
        };
        let Some(file) = batch.file else {
            return Err(Error::internal("batch source is not a file source"));
        };
        if file.path.ends_with(".parquet") {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "batch source '{}' is one file; make its path a folder to receive pushed rows",
                    batch.name
                ),
            ));
        }
        let mut columns: Vec<(Field, ArrayRef)> = Vec::new();
        let mut ts = TimestampMicrosecondBuilder::new();
        event_ts.iter().for_each(|t| ts.append_value(*t));
        columns.push((
            Field::new(
                &batch.timestamp_field,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Arc::new(ts.finish().with_timezone("UTC")),
        ));
        for (name, declared, values) in fields {
            columns.push(arrow_column(name, *declared, values)?);
        }
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
        ));
        let batch_rows = RecordBatch::try_new(schema, columns.into_iter().map(|(_, a)| a).collect())
            .map_err(|e| Error::internal(format_args!("push batch: {e}")))?;
        let bytes = crate::offline::write_parquet(&batch_rows)?;
        let path = format!(
            "{}/pushed-{}-{}.parquet",
            file.path.trim_end_matches('/'),
            chrono::Utc::now().format("%Y%m%dT%H%M%S%6f"),
            uuid::Uuid::new_v4().simple()
        );
        self.objects.put(&Path::from(path.as_str()), bytes.into()).await?;
        Ok(path)
    }
}

/// The events a push gives an aggregated view: its join keys (`checked`, conformed) with each
/// row's time and datums. The columns its aggregations read join the offline fields, typed by
/// their values when no plain view of the source declares them.
fn aggregated_events<'c>(
    view: &FeatureViewSpec,
    aggregations: &[Aggregation],
    checked: &[(String, Vec<Value>)],
    event_ts: &[i64],
    column: &impl Fn(&str, &str) -> Result<&'c pb::EntityColumn>,
    offline_fields: &mut Vec<(String, FeatureType, Vec<Value>)>,
) -> Result<Vec<Event>> {
    let mut inputs: Vec<(String, Vec<Value>)> = Vec::new();
    for name in aggregation::input_columns(aggregations) {
        let needed_by = format!("aggregated by feature view '{}'", view.name);
        let values: Vec<Value> = column(&name, &needed_by)?
            .values
            .iter()
            .map(value_from_proto)
            .collect();
        if !offline_fields.iter().any(|(n, _, _)| *n == name) {
            let numeric = aggregations
                .iter()
                .any(|a| a.column == name && a.function.numeric());
            let declared = inferred_type(&values, numeric);
            let conformed = values
                .iter()
                .enumerate()
                .map(|(row, v)| {
                    conform(v.clone(), declared)
                        .map_err(|why| unprocessable(format!("column '{name}' row {row}: {why}")))
                })
                .collect::<Result<Vec<_>>>()?;
            offline_fields.push((name.clone(), declared, conformed));
        }
        inputs.push((name, values));
    }
    let mut events = Vec::with_capacity(event_ts.len());
    for (row, time) in event_ts.iter().enumerate() {
        let key = EntityKey::new(checked.iter().map(|(n, v)| (n.clone(), v[row].clone())))
            .map_err(|e| unprocessable(format!("row {row}: {e}")))?;
        let data = row_data(aggregations, |name| {
            inputs
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Value::Null, |(_, values)| values[row].clone())
        })
        .map_err(|why| unprocessable(format!("row {row}: {why}")))?;
        events.push(Event {
            key,
            time: *time,
            data,
        });
    }
    Ok(events)
}

/// The offline type of a column only aggregated views read: from its values (integers and
/// floats together make float64); without values, float64 for a numeric aggregation, else int64.
fn inferred_type(values: &[Value], numeric: bool) -> FeatureType {
    let mut scalar: Option<Scalar> = None;
    for value in values {
        let this = match value {
            Value::Null | Value::List(_) => continue,
            Value::Int32(_) | Value::Int64(_) => Scalar::Int64,
            Value::Float32(_) | Value::Float64(_) => Scalar::Float64,
            Value::Bool(_) => Scalar::Bool,
            Value::String(_) => Scalar::String,
            Value::Bytes(_) => Scalar::Bytes,
            Value::Timestamp(_) => Scalar::Timestamp,
        };
        scalar = Some(match (scalar, this) {
            (None, this) => this,
            (Some(Scalar::Int64), Scalar::Float64) | (Some(Scalar::Float64), Scalar::Int64) => {
                Scalar::Float64
            }
            (Some(held), _) => held,
        });
    }
    let scalar = scalar.unwrap_or(if numeric { Scalar::Float64 } else { Scalar::Int64 });
    FeatureType { scalar, list: false }
}

fn arrow_column(name: &str, declared: FeatureType, values: &[Value]) -> Result<(Field, ArrayRef)> {
    if declared.list {
        return Err(unprocessable(format!(
            "column '{name}': list features cannot be pushed offline yet; push them online"
        )));
    }
    macro_rules! build {
        ($builder:expr, $dtype:expr, $variant:ident) => {{
            let mut builder = $builder;
            for value in values {
                match value {
                    Value::$variant(v) => builder.append_value(v.clone()),
                    _ => builder.append_null(),
                }
            }
            (
                Field::new(name, $dtype, true),
                Arc::new(builder.finish()) as ArrayRef,
            )
        }};
    }
    Ok(match declared.scalar {
        Scalar::Int32 => build!(Int32Builder::new(), DataType::Int32, Int32),
        Scalar::Int64 => build!(Int64Builder::new(), DataType::Int64, Int64),
        Scalar::Float32 => build!(Float32Builder::new(), DataType::Float32, Float32),
        Scalar::Float64 => build!(Float64Builder::new(), DataType::Float64, Float64),
        Scalar::Bool => build!(BooleanBuilder::new(), DataType::Boolean, Bool),
        Scalar::String => build!(StringBuilder::new(), DataType::Utf8, String),
        Scalar::Timestamp => {
            let mut builder = TimestampMicrosecondBuilder::new();
            for value in values {
                if let Value::Timestamp(v) = value {
                    builder.append_value(*v);
                } else {
                    builder.append_null();
                }
            }
            (
                Field::new(
                    name,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                Arc::new(builder.finish().with_timezone("UTC")) as ArrayRef,
            )
        }
        Scalar::Bytes => {
            let mut builder = arrow::array::BinaryBuilder::new();
            for value in values {
                if let Value::Bytes(v) = value {
                    builder.append_value(v);
                } else {
                    builder.append_null();
                }
            }
            (
                Field::new(name, DataType::Binary, true),
                Arc::new(builder.finish()) as ArrayRef,
            )
        }
    })
}
