//! Serving the definitions: point-in-time training sets from the offline store,
//! materialization into the online store, and online reads with per-value statuses.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use chrono::Utc;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::ObjectStore;
use object_store::path::Path;
use sea_orm::DatabaseConnection;

use crate::definitions::repository::{DATA_SOURCE, ENTITY, FEATURE_SERVICE, FEATURE_VIEW, Spec};
use crate::definitions::spec::{FeatureViewSpec, SourceSpec};
use crate::definitions::store::DefinitionStore;
use crate::offline::{self, EntityFormat, FeatureViewSource};
use crate::online::{EntityKey, OnlineStore, Value};

mod materialize;

pub use materialize::{ProgressSink, materialized, subtract};

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
            .get_recent(project, DATA_SOURCE, batch)
            .await?
            .map(|s| s.spec.clone())
        {
            Some(Spec::Source(batch)) if batch.file.is_some() => Ok(Some(batch)),
            _ => Ok(None),
        }
    }

    async fn view(&self, project: &str, name: &str) -> Result<(FeatureViewSpec, SourceSpec, Vec<String>)> {
        let Some(Spec::View(view)) = self
            .definitions
            .get_recent(project, FEATURE_VIEW, name)
            .await?
            .map(|s| s.spec.clone())
        else {
            return Err(Error::not_found(
                "feature_view_not_found",
                format!("feature view '{name}' does not exist in project '{project}'"),
            ));
        };
        let Some(Spec::Source(source)) = self
            .definitions
            .get_recent(project, DATA_SOURCE, &view.source)
            .await?
            .map(|s| s.spec.clone())
        else {
            return Err(Error::internal(format_args!(
                "feature view {name} refers to a missing source"
            )));
        };
        let mut join_keys = Vec::new();
        for entity in &view.entities {
            if let Some(Spec::Entity(e)) = self
                .definitions
                .get_recent(project, ENTITY, entity)
                .await?
                .map(|s| s.spec.clone())
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
                .get_recent(project, FEATURE_SERVICE, service)
                .await?
                .map(|s| s.spec.clone())
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

/// One Arrow cell as an online value.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "arrow's DataType is foreign and large: the types not listed have no feature value"
)]
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
