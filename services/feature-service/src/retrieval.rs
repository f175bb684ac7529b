//! Serving the definitions: point-in-time training sets from the offline store,
//! materialization into the online store, and online reads with per-value statuses.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use chrono::Utc;
use futures::TryStreamExt;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, QueryOrder, Set};

use crate::definitions::repository::{DATA_SOURCE, ENTITY, FEATURE_SERVICE, FEATURE_VIEW, Spec};
use crate::definitions::spec::{FeatureViewSpec, SourceSpec};
use crate::definitions::store::DefinitionStore;
use crate::offline::{self, EntityFormat, FeatureViewSource};
use crate::online::{EntityKey, FeatureRow, OnlineStore, Value};

/// `features_materializations`: intervals of each view already written to the online store.
pub mod materialized {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "features_materializations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project: String,
        pub view: String,
        /// Microseconds since the epoch, inclusive.
        pub start_us: i64,
        pub end_us: i64,
        pub entities: i64,
        pub completed_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Entities written to the online store per call.
const WRITE_CHUNK: usize = 10_000;

/// A resolved feature view and the features asked of it, in request order.
struct Wanted {
    view: FeatureViewSpec,
    source: SourceSpec,
    join_keys: Vec<String>,
    features: Vec<String>,
}

#[derive(Clone)]
pub struct Retrieval {
    definitions: DefinitionStore,
    db: DatabaseConnection,
    objects: Arc<dyn ObjectStore>,
    online: Arc<dyn OnlineStore>,
}

impl Retrieval {
    pub fn new(
        definitions: DefinitionStore,
        db: DatabaseConnection,
        objects: Arc<dyn ObjectStore>,
        online: Arc<dyn OnlineStore>,
    ) -> Self {
        Retrieval {
            definitions,
            db,
            objects,
            online,
        }
    }

    pub(crate) fn definitions(&self) -> &DefinitionStore {
        &self.definitions
    }

    pub(crate) fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    pub(crate) fn online_store(&self) -> &Arc<dyn OnlineStore> {
        &self.online
    }

    /// The file source holding a view's offline rows: the source itself, or a push source's batch source.
    async fn offline_source(&self, project: &str, source: &SourceSpec) -> Result<Option<SourceSpec>> {
        if source.file.is_some() {
            return Ok(Some(source.clone()));
        }
        let Some(batch) = source.push.as_ref().and_then(|p| p.batch_source.as_ref()) else {
            return Ok(None);
        };
        match self
            .definitions
            .get(project, DATA_SOURCE, batch)
            .await?
            .map(|s| s.spec)
        {
            Some(Spec::Source(batch)) if batch.file.is_some() => Ok(Some(batch)),
            _ => Ok(None),
        }
    }

    async fn view(&self, project: &str, name: &str) -> Result<(FeatureViewSpec, SourceSpec, Vec<String>)> {
        let Some(Spec::View(view)) = self
            .definitions
            .get(project, FEATURE_VIEW, name)
            .await?
            .map(|s| s.spec)
        else {
            return Err(Error::not_found(
                "feature_view_not_found",
                format!("feature view '{name}' does not exist in project '{project}'"),
            ));
        };
        let Some(Spec::Source(source)) = self
            .definitions
            .get(project, DATA_SOURCE, &view.source)
            .await?
            .map(|s| s.spec)
        else {
            return Err(Error::internal(format_args!(
                "feature view {name} refers to a missing source"
            )));
        };
        let mut join_keys = Vec::new();
        for entity in &view.entities {
            if let Some(Spec::Entity(e)) = self
                .definitions
                .get(project, ENTITY, entity)
                .await?
                .map(|s| s.spec)
            {
                join_keys.extend(e.join_keys.into_iter().map(|k| k.name));
            }
        }
        Ok((view, source, join_keys))
    }

    /// Resolves `view:feature` references or a feature service into views and features.
    async fn resolve(&self, project: &str, features: &[String], service: &str) -> Result<Vec<Wanted>> {
        let references: Vec<String> = match (features.is_empty(), service.is_empty()) {
            (false, true) => features.to_vec(),
            (true, false) => match self
                .definitions
                .get(project, FEATURE_SERVICE, service)
                .await?
                .map(|s| s.spec)
            {
                Some(Spec::Service(s)) => s.features,
                _ => {
                    return Err(Error::not_found(
                        "feature_service_not_found",
                        format!("feature service '{service}' does not exist in project '{project}'"),
                    ));
                }
            },
            _ => {
                return Err(Error::invalid(
                    "give either features (`view:feature`, …) or a feature_service",
                ));
            }
        };
        let mut wanted: Vec<Wanted> = Vec::new();
        for reference in &references {
            let (view_name, feature) = reference.split_once(':').ok_or_else(|| {
                Error::invalid(format!("'{reference}' is not a feature reference `view:feature`"))
            })?;
            if let Some(existing) = wanted.iter_mut().find(|w| w.view.name == view_name) {
                if !existing.features.iter().any(|f| f == feature) {
                    existing.features.push(feature.to_owned());
                }
                continue;
            }
            let (view, source, join_keys) = self.view(project, view_name).await?;
            wanted.push(Wanted {
                view,
                source,
                join_keys,
                features: vec![feature.to_owned()],
            });
        }
        for w in &wanted {
            for feature in &w.features {
                if !w.view.schema.iter().any(|f| &f.name == feature) {
                    return Err(Error::not_found(
                        "feature_not_found",
                        format!("feature view '{}' has no feature '{feature}'", w.view.name),
                    ));
                }
            }
        }
        Ok(wanted)
    }

    pub async fn historical(
        &self,
        request: pb::GetHistoricalFeaturesRequest,
    ) -> Result<pb::GetHistoricalFeaturesResponse> {
        let wanted = self
            .resolve(&request.project, &request.features, &request.feature_service)
            .await?;
        let format = match pb::EntityFrameFormat::try_from(request.format) {
            Ok(pb::EntityFrameFormat::Csv) => EntityFormat::Csv,
            Ok(pb::EntityFrameFormat::Parquet) | Err(_) => EntityFormat::Parquet,
        };
        let bytes = request.entity_frame;
        let entities = tokio::task::spawn_blocking(move || offline::read_entity_frame(&bytes, format))
            .await
            .map_err(Error::internal)?
            .map_err(Error::from)?;
        let mut views = Vec::with_capacity(wanted.len());
        for w in wanted {
            let offline = self.offline_source(&request.project, &w.source).await?.ok_or_else(|| {
                Error::new(
                    ErrorCode::FailedPrecondition,
                    format!("feature view '{}' reads a push source with no batch source; it has no offline data", w.view.name),
                )
            })?;
            views.push(FeatureViewSource {
                name: w.view.name.clone(),
                location: Path::from(offline.file.as_ref().map_or("", |f| f.path.as_str())),
                join_keys: w.join_keys,
                timestamp_field: offline.timestamp_field.clone(),
                created_timestamp_field: offline.created_timestamp_field.clone(),
                ttl: Duration::from_secs(w.view.ttl_seconds),
                features: w.features,
            });
        }
        let joined =
            offline::historical_features(self.objects.clone(), entities, &views, request.full_feature_names)
                .await
                .map_err(Error::from)?;
        let rows = joined.num_rows() as u64;
        let columns = joined
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let parquet = tokio::task::spawn_blocking(move || offline::write_parquet(&joined))
            .await
            .map_err(Error::internal)?
            .map_err(Error::from)?;
        Ok(pb::GetHistoricalFeaturesResponse {
            parquet: parquet.into(),
            rows,
            columns,
        })
    }

    pub async fn materialize(&self, request: pb::MaterializeRequest) -> Result<pb::MaterializeResponse> {
        let end_us = micros(request.end.as_ref())
            .ok_or_else(|| Error::invalid("end: give the end of the interval"))?;
        let names: Vec<String> = if request.feature_views.is_empty() {
            self.definitions
                .list(&request.project, Some(FEATURE_VIEW))
                .await?
                .into_iter()
                .filter_map(|s| match s.spec {
                    Spec::View(v) if v.online => Some(v.name),
                    _ => None,
                })
                .collect()
        } else {
            request.feature_views.clone()
        };
        let mut views = Vec::new();
        for name in names {
            let (view, source, join_keys) = self.view(&request.project, &name).await?;
            let done: Vec<(i64, i64)> = materialized::Entity::find()
                .filter(materialized::Column::Project.eq(&request.project))
                .filter(materialized::Column::View.eq(&name))
                .order_by_asc(materialized::Column::StartUs)
                .all(&self.db)
                .await?
                .into_iter()
                .map(|m| (m.start_us, m.end_us))
                .collect();
            let start_us = if request.incremental {
                done.iter().map(|(_, e)| e + 1).max().unwrap_or(0)
            } else {
                micros(request.start.as_ref())
                    .ok_or_else(|| Error::invalid("start: give the start, or use incremental"))?
            };
            if start_us > end_us {
                views.push(report(&name, start_us, end_us, 0, 0, 0));
                continue;
            }
            let gaps = subtract(start_us, end_us, &done);
            let skipped = u32::try_from(
                done.iter()
                    .filter(|(s, e)| *e >= start_us && *s <= end_us)
                    .count(),
            )
            .unwrap_or(0);
            let Some(file) = source.file.clone() else {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "feature view '{name}' reads a push source; pushed rows reach the online store directly"
                    ),
                ));
            };
            let (rows_scanned, latest) = self
                .latest_in(&view, &source, &file.path, &join_keys, &gaps)
                .await?;
            let entities = latest.len() as u64;
            let mut batch = Vec::with_capacity(WRITE_CHUNK);
            for (key, row) in latest {
                batch.push((key, row));
                if batch.len() == WRITE_CHUNK {
                    self.online
                        .write(&request.project, &name, std::mem::take(&mut batch))
                        .await
                        .map_err(Error::from)?;
                }
            }
            if !batch.is_empty() {
                self.online
                    .write(&request.project, &name, batch)
                    .await
                    .map_err(Error::from)?;
            }
            for (gap_start, gap_end) in &gaps {
                materialized::ActiveModel {
                    project: Set(request.project.clone()),
                    view: Set(name.clone()),
                    start_us: Set(*gap_start),
                    end_us: Set(*gap_end),
                    entities: Set(i64::try_from(entities).unwrap_or(i64::MAX)),
                    completed_time: Set(Utc::now()),
                    ..Default::default()
                }
                .insert(&self.db)
                .await?;
            }
            tracing::info!(project = %request.project, view = %name, rows_scanned, entities, "materialized");
            views.push(report(&name, start_us, end_us, rows_scanned, entities, skipped));
        }
        Ok(pb::MaterializeResponse { views })
    }

    /// Per entity, the latest source row whose event time falls in one of `intervals`.
    async fn latest_in(
        &self,
        view: &FeatureViewSpec,
        source: &SourceSpec,
        path: &str,
        join_keys: &[String],
        intervals: &[(i64, i64)],
    ) -> Result<(u64, Vec<(EntityKey, FeatureRow)>)> {
        let mut latest: HashMap<String, (EntityKey, FeatureRow)> = HashMap::new();
        let mut scanned = 0u64;
        if intervals.is_empty() {
            return Ok((0, Vec::new()));
        }
        let lookup = FeatureViewSource {
            name: view.name.clone(),
            location: Path::from(path),
            join_keys: join_keys.to_vec(),
            timestamp_field: source.timestamp_field.clone(),
            created_timestamp_field: source.created_timestamp_field.clone(),
            ttl: Duration::ZERO,
            features: Vec::new(),
        };
        let files = offline::source::source_files(self.objects.as_ref(), &lookup)
            .await
            .map_err(Error::from)?;
        let features: Vec<String> = view.schema.iter().map(|f| f.name.clone()).collect();
        for file in files {
            let reader = offline::object_reader::ObjectReader::new(self.objects.clone(), &file);
            let builder = ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .map_err(|e| Error::invalid(e.to_string()))?;
            let schema = builder.schema().clone();
            let mut wanted_columns: Vec<&str> = join_keys.iter().map(String::as_str).collect();
            wanted_columns.push(&source.timestamp_field);
            if let Some(created) = &source.created_timestamp_field {
                wanted_columns.push(created);
            }
            wanted_columns.extend(features.iter().map(String::as_str));
            let mut indices = Vec::new();
            for column in &wanted_columns {
                let index = schema.index_of(column).map_err(|_| {
                    Error::invalid(format!(
                        "source file {} of view '{}' has no column '{column}'",
                        file.location, view.name
                    ))
                })?;
                indices.push(index);
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            let mut stream = builder
                .with_projection(mask)
                .with_batch_size(8192)
                .build()
                .map_err(|e| Error::invalid(e.to_string()))?;
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(|e| Error::invalid(e.to_string()))?
            {
                scanned += batch.num_rows() as u64;
                merge_latest(&batch, join_keys, source, &features, intervals, &mut latest)?;
            }
        }
        Ok((scanned, latest.into_values().collect()))
    }

    pub async fn online(
        &self,
        request: pb::GetOnlineFeaturesRequest,
    ) -> Result<pb::GetOnlineFeaturesResponse> {
        let wanted = self
            .resolve(&request.project, &request.features, &request.feature_service)
            .await?;
        let rows = request.entities.first().map_or(0, |c| c.values.len());
        if request.entities.iter().any(|c| c.values.len() != rows) {
            return Err(Error::invalid(
                "entities: every join key needs the same number of values",
            ));
        }
        let mut columns: Vec<pb::FeatureColumn> = request
            .entities
            .iter()
            .map(|c| pb::FeatureColumn {
                name: c.name.clone(),
                values: c.values.clone(),
                statuses: vec![pb::FeatureStatus::Present as i32; rows],
                event_timestamps_us: vec![0; rows],
            })
            .collect();
        let now_us = Utc::now().timestamp_micros();
        for w in wanted {
            let mut keys = Vec::with_capacity(rows);
            for row in 0..rows {
                let mut parts = Vec::with_capacity(w.join_keys.len());
                for key in &w.join_keys {
                    let column = request.entities.iter().find(|c| &c.name == key).ok_or_else(|| {
                        Error::invalid(format!(
                            "entities: feature view '{}' needs join key '{key}'",
                            w.view.name
                        ))
                    })?;
                    parts.push((key.clone(), value_from_proto(&column.values[row])));
                }
                keys.push(EntityKey::new(parts).map_err(Error::from)?);
            }
            let found = self
                .online
                .read(&request.project, &w.view.name, &keys, &w.features)
                .await
                .map_err(Error::from)?;
            let max_age_us = i64::try_from(w.view.ttl_seconds)
                .unwrap_or(i64::MAX / 1_000_000)
                .saturating_mul(1_000_000);
            for (f, feature) in w.features.iter().enumerate() {
                let name = if request.full_feature_names {
                    format!("{}__{feature}", w.view.name)
                } else {
                    feature.clone()
                };
                let mut column = pb::FeatureColumn {
                    name,
                    ..Default::default()
                };
                for row in &found {
                    match row {
                        None => {
                            column.values.push(pb::Value::default());
                            column.statuses.push(pb::FeatureStatus::NotFound as i32);
                            column.event_timestamps_us.push(0);
                        }
                        Some(row) => {
                            let expired =
                                max_age_us > 0 && now_us.saturating_sub(row.event_ts_us) > max_age_us;
                            let value = row.values.get(f).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
                            column.values.push(if expired {
                                pb::Value::default()
                            } else {
                                value_to_proto(&value)
                            });
                            column.statuses.push(if expired {
                                pb::FeatureStatus::OutsideMaxAge as i32
                            } else {
                                pb::FeatureStatus::Present as i32
                            });
                            column.event_timestamps_us.push(row.event_ts_us);
                        }
                    }
                }
                columns.push(column);
            }
        }
        Ok(pb::GetOnlineFeaturesResponse { columns })
    }
}

fn report(
    name: &str,
    start_us: i64,
    end_us: i64,
    rows: u64,
    entities: u64,
    skipped: u32,
) -> pb::ViewMaterialization {
    let ts = |us: i64| prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    };
    pb::ViewMaterialization {
        feature_view: name.to_owned(),
        start: Some(ts(start_us)),
        end: Some(ts(end_us)),
        rows_scanned: rows,
        entities_written: entities,
        intervals_skipped: skipped,
    }
}

fn micros(ts: Option<&prost_types::Timestamp>) -> Option<i64> {
    ts.map(|t| {
        t.seconds
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(t.nanos) / 1000)
    })
}

/// `[start, end]` minus the (inclusive) intervals in `done`, as inclusive gaps.
pub fn subtract(start: i64, end: i64, done: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut sorted = done.to_vec();
    sorted.sort_unstable();
    let mut gaps = Vec::new();
    let mut cursor = start;
    for (s, e) in sorted {
        if e < cursor || s > end {
            continue;
        }
        if s > cursor {
            gaps.push((cursor, s - 1));
        }
        cursor = cursor.max(e.saturating_add(1));
        if cursor > end {
            return gaps;
        }
    }
    if cursor <= end {
        gaps.push((cursor, end));
    }
    gaps
}

/// Folds one batch into the latest row per entity (event time, then created time).
fn merge_latest(
    batch: &RecordBatch,
    join_keys: &[String],
    source: &SourceSpec,
    features: &[String],
    intervals: &[(i64, i64)],
    latest: &mut HashMap<String, (EntityKey, FeatureRow)>,
) -> Result<()> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| Error::invalid(format!("source has no column '{name}'")))
    };
    let event =
        offline::timestamps::epoch_micros(column(&source.timestamp_field)?.as_ref()).ok_or_else(|| {
            Error::invalid(format!(
                "source column '{}' is not a timestamp",
                source.timestamp_field
            ))
        })?;
    let created = match &source.created_timestamp_field {
        Some(name) => Some(
            offline::timestamps::epoch_micros(column(name)?.as_ref())
                .ok_or_else(|| Error::invalid(format!("source column '{name}' is not a timestamp")))?,
        ),
        None => None,
    };
    let keys: Vec<&Arc<dyn Array>> = join_keys.iter().map(|k| column(k)).collect::<Result<_>>()?;
    let values: Vec<&Arc<dyn Array>> = features.iter().map(|f| column(f)).collect::<Result<_>>()?;
    for row in 0..batch.num_rows() {
        if event.is_null(row) {
            continue;
        }
        let ts = event.value(row);
        if !intervals.iter().any(|(s, e)| *s <= ts && ts <= *e) {
            continue;
        }
        let created_ts = created
            .as_ref()
            .and_then(|c| (!c.is_null(row)).then(|| c.value(row)));
        let parts: Vec<(String, Value)> = join_keys
            .iter()
            .zip(&keys)
            .map(|(name, array)| (name.clone(), arrow_value(array.as_ref(), row)))
            .collect();
        let Ok(key) = EntityKey::new(parts) else { continue };
        let encoded = key.to_string();
        let newer = match latest.get(&encoded) {
            None => true,
            Some((_, old)) => (ts, created_ts) >= (old.event_ts_us, old.created_ts_us),
        };
        if newer {
            let row_values = features
                .iter()
                .zip(&values)
                .map(|(f, a)| (f.clone(), arrow_value(a.as_ref(), row)))
                .collect();
            latest.insert(
                encoded,
                (
                    key,
                    FeatureRow {
                        event_ts_us: ts,
                        created_ts_us: created_ts,
                        values: row_values,
                    },
                ),
            );
        }
    }
    Ok(())
}

/// One Arrow cell as an online value.
pub fn arrow_value(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Int32 => Value::Int32(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::Int64(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => Value::Float32(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => Value::Float64(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_owned()),
        DataType::Binary => Value::Bytes(array.as_binary::<i32>().value(row).to_vec()),
        DataType::LargeBinary => Value::Bytes(array.as_binary::<i64>().value(row).to_vec()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Value::Timestamp(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        DataType::Timestamp(..) => {
            let sliced = array.slice(row, 1);
            offline::timestamps::epoch_micros(sliced.as_ref())
                .map_or(Value::Null, |t| Value::Timestamp(t.value(0)))
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Value::List((0..list.len()).map(|i| arrow_value(list.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            Value::List((0..list.len()).map(|i| arrow_value(list.as_ref(), i)).collect())
        }
        _ => Value::Null,
    }
}

pub fn value_to_proto(value: &Value) -> pb::Value {
    use pb::value::Kind;
    let kind = match value {
        Value::Null => None,
        Value::Int32(v) => Some(Kind::Int32Value(*v)),
        Value::Int64(v) => Some(Kind::Int64Value(*v)),
        Value::Float32(v) => Some(Kind::FloatValue(*v)),
        Value::Float64(v) => Some(Kind::DoubleValue(*v)),
        Value::Bool(v) => Some(Kind::BoolValue(*v)),
        Value::String(v) => Some(Kind::StringValue(v.clone())),
        Value::Bytes(v) => Some(Kind::BytesValue(v.clone().into())),
        Value::Timestamp(v) => Some(Kind::TimestampUs(*v)),
        Value::List(items) => Some(Kind::ListValue(pb::ValueList {
            values: items.iter().map(value_to_proto).collect(),
        })),
    };
    pb::Value { kind }
}

pub fn value_from_proto(value: &pb::Value) -> Value {
    use pb::value::Kind;
    match &value.kind {
        None => Value::Null,
        Some(Kind::Int32Value(v)) => Value::Int32(*v),
        Some(Kind::Int64Value(v)) => Value::Int64(*v),
        Some(Kind::FloatValue(v)) => Value::Float32(*v),
        Some(Kind::DoubleValue(v)) => Value::Float64(*v),
        Some(Kind::BoolValue(v)) => Value::Bool(*v),
        Some(Kind::StringValue(v)) => Value::String(v.clone()),
        Some(Kind::BytesValue(v)) => Value::Bytes(v.to_vec()),
        Some(Kind::TimestampUs(v)) => Value::Timestamp(*v),
        Some(Kind::ListValue(list)) => Value::List(list.values.iter().map(value_from_proto).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::subtract;

    #[test]
    fn done_intervals_are_skipped() {
        assert_eq!(subtract(0, 100, &[]), [(0, 100)]);
        assert_eq!(subtract(0, 100, &[(0, 100)]), []);
        assert_eq!(
            subtract(0, 100, &[(10, 20), (50, 60)]),
            [(0, 9), (21, 49), (61, 100)]
        );
        assert_eq!(subtract(0, 100, &[(-50, 30), (90, 200)]), [(31, 89)]);
        assert_eq!(subtract(50, 60, &[(0, 10)]), [(50, 60)]);
    }
}
