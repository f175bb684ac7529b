//! Data in: the reference sample, logged rows and labels.

use std::collections::BTreeMap;

use bytes::Bytes;
use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::features::v1::ReadFeatureViewRequest;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::monitor::v1::{
    ColumnKind, FeatureViewRange, Label, LogFormat, LogRowsResponse, Monitor, Reference, ReferenceColumn,
    label,
};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::check::rfc3339;
use super::{Engine, parse_parquet, prefix, storage_error, timestamp};
use crate::data::{self, Frame, PREDICTION_ID, Values};
use crate::store::tables::{batch, label as label_row, reference};

/// Where a reference sample comes from.
pub enum ReferenceSource {
    /// A Parquet file or directory on the object store.
    Path(String),
    FeatureView(FeatureViewRange),
    /// Parquet uploaded with the request.
    Parquet(Bytes),
}

/// Rows in one batch at most.
pub const MAX_BATCH_ROWS: usize = 1_000_000;
/// Labels in one call at most.
pub const MAX_LABELS: usize = 100_000;

fn schema_error(message: String) -> Error {
    Error::of(reasons::LOG_SCHEMA_MISMATCH, message)
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Numeric => "numbers",
        ColumnKind::Categorical => "text",
        ColumnKind::Unspecified => "nothing",
    }
}

/// The columns a monitor compares (its checks'), which logged rows and references must hold.
fn monitored_columns(monitor: &Monitor) -> Vec<&str> {
    let mut names: Vec<&str> = monitor.checks.iter().map(|c| c.column.as_str()).collect();
    names.dedup();
    names
}

impl Engine {
    pub async fn set_reference(
        &self,
        project: &str,
        name: &str,
        source: ReferenceSource,
        now: i64,
    ) -> Result<Reference> {
        let monitor = self.monitor(project, name).await?;
        let (frame, described) = match source {
            ReferenceSource::Path(path) => (self.read_dataset(&path).await?, format!("dataset {path}")),
            ReferenceSource::Parquet(bytes) => (parse_parquet(bytes).await?, "uploaded Parquet".to_owned()),
            ReferenceSource::FeatureView(range) => {
                let described = format!(
                    "feature view {} [{}, {})",
                    range.feature_view,
                    range
                        .start
                        .as_ref()
                        .map(super::millis)
                        .map(rfc3339)
                        .unwrap_or_default(),
                    range
                        .end
                        .as_ref()
                        .map(super::millis)
                        .map(rfc3339)
                        .unwrap_or_default(),
                );
                (self.feature_view_rows(project, name, range).await?, described)
            }
        };
        if frame.rows == 0 {
            return Err(Error::of(
                reasons::INVALID_DATASET,
                "the reference sample has no rows",
            ));
        }
        for column in monitored_columns(&monitor) {
            if frame.column(column).is_none() {
                return Err(Error::of(
                    reasons::INVALID_DATASET,
                    format!(
                        "the reference has no column '{column}' that the monitor checks (it has: {})",
                        frame
                            .columns
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let described_frame = Reference {
            project: project.to_owned(),
            monitor: name.to_owned(),
            rows: frame.rows as u64,
            columns: frame
                .columns
                .iter()
                .map(|(column, values)| ReferenceColumn {
                    name: column.clone(),
                    kind: values.kind() as i32,
                    missing: values.missing() as u64,
                })
                .collect(),
            source: described,
            create_time: Some(timestamp(now)),
        };
        let path = format!(
            "{}/reference/{}.parquet",
            prefix(project, name),
            uuid::Uuid::now_v7()
        );
        let bytes = tokio::task::spawn_blocking(move || data::write_parquet(&frame))
            .await
            .map_err(|e| Error::internal(format_args!("the Parquet writer stopped: {e}")))??;
        self.write_object(&path, bytes).await?;
        let previous = reference::Entity::find_by_id((project.to_owned(), name.to_owned()))
            .one(&self.db)
            .await?;
        let row = reference::ActiveModel {
            project: Set(project.to_owned()),
            monitor: Set(name.to_owned()),
            path: Set(path.clone()),
            reference: Set(prost::Message::encode_to_vec(&described_frame)),
            create_time: Set(now),
        };
        reference::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([reference::Column::Project, reference::Column::Monitor])
                    .update_columns([
                        reference::Column::Path,
                        reference::Column::Reference,
                        reference::Column::CreateTime,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        if let Some(previous) = previous.filter(|p| p.path != path) {
            // The old file is unreferenced now; a failure here leaves only garbage.
            if let Err(err) = self.objects.delete(&Path::from(previous.path.as_str())).await {
                tracing::warn!(error = %err, path = %previous.path, "old reference file not deleted");
            }
        }
        tracing::info!(
            project,
            monitor = name,
            rows = described_frame.rows,
            "reference set"
        );
        Ok(described_frame)
    }

    async fn feature_view_rows(
        &self,
        project: &str,
        monitor: &str,
        range: FeatureViewRange,
    ) -> Result<Frame> {
        let Some(channel) = self.links.features.clone() else {
            return Err(Error::new(
                lathe_common::ErrorCode::Unavailable,
                "the monitor has no feature-service endpoint (monitor.features_endpoint)",
            ));
        };
        let request = ReadFeatureViewRequest {
            project: project.to_owned(),
            feature_view: range.feature_view.clone(),
            start: range.start,
            end: range.end,
            features: Vec::new(),
        };
        // As the caller when there is one (the user's rights), else as the monitor.
        let call = async move {
            FeatureServiceClient::new(channel)
                .read_feature_view(request)
                .await
        };
        let answer = if lathe_common::access::CALLER.try_with(|_| ()).is_ok() {
            call.await
        } else {
            self.as_monitor(project, monitor, call)
                .await
                .map_err(|e| Error::new(lathe_common::ErrorCode::Unavailable, e))?
        };
        let response = answer.map_err(Error::from)?.into_inner();
        parse_parquet(response.parquet).await
    }

    /// The monitor's reference row and description, if set.
    pub async fn reference(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<(reference::Model, Reference)>> {
        let Some(row) = reference::Entity::find_by_id((project.to_owned(), name.to_owned()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let described = prost::Message::decode(row.reference.as_slice())
            .map_err(|e| Error::internal(format_args!("undecodable reference of {project}/{name}: {e}")))?;
        Ok(Some((row, described)))
    }

    /// Appends a batch: checked against the monitor's columns (and the reference's kinds),
    /// split by window, written as one Parquet file per window, then committed in one
    /// transaction.
    pub async fn log_rows(
        &self,
        project: &str,
        name: &str,
        data: Bytes,
        format: LogFormat,
        now: i64,
    ) -> Result<LogRowsResponse> {
        let monitor = self.monitor(project, name).await?;
        let mut frame = tokio::task::spawn_blocking(move || match format {
            LogFormat::Json => data::read_json_rows(&data),
            LogFormat::ArrowIpc => data::read_arrow_ipc(&data),
        })
        .await
        .map_err(|e| Error::internal(format_args!("the row reader stopped: {e}")))??;
        if frame.rows == 0 {
            return Err(schema_error("the batch has no rows".to_owned()));
        }
        if frame.rows > MAX_BATCH_ROWS {
            return Err(schema_error(format!(
                "the batch has {} rows; send at most {MAX_BATCH_ROWS} per request",
                frame.rows
            )));
        }
        let reference_kinds: BTreeMap<String, ColumnKind> = match self.reference(project, name).await? {
            Some((_, described)) => described
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.kind()))
                .collect(),
            None => BTreeMap::new(),
        };
        for column in monitored_columns(&monitor) {
            let Some(index) = frame.columns.iter().position(|(n, _)| n == column) else {
                return Err(schema_error(format!(
                    "column '{column}' is missing: every batch must carry each monitored column (null for a missing value)"
                )));
            };
            let values = &mut frame.columns[index].1;
            let Some(expected) = reference_kinds.get(column).copied() else {
                continue;
            };
            if values.kind() == expected {
                continue;
            }
            if values.missing() == values.len() {
                // All null: no kind to disagree with.
                *values = match expected {
                    ColumnKind::Categorical => Values::Categorical(vec![None; values.len()]),
                    ColumnKind::Numeric | ColumnKind::Unspecified => {
                        Values::Numeric(vec![f64::NAN; values.len()])
                    }
                };
                continue;
            }
            return Err(schema_error(format!(
                "column '{column}' holds {} here but {} in the reference",
                kind_name(values.kind()),
                kind_name(expected)
            )));
        }
        normalise_prediction_ids(&mut frame)?;
        let window_ms = i64::from(monitor.window_seconds.max(1)) * 1000;
        let times: Vec<i64> = match &frame.times {
            Some(times) => times.iter().map(|t| t.unwrap_or(now)).collect(),
            None => vec![now; frame.rows],
        };
        frame.times = Some(times.iter().copied().map(Some).collect());
        let mut windows: BTreeMap<i64, Vec<bool>> = BTreeMap::new();
        for (i, t) in times.iter().enumerate() {
            let start = t - t.rem_euclid(window_ms);
            windows.entry(start).or_insert_with(|| vec![false; frame.rows])[i] = true;
        }
        let batch_id = uuid::Uuid::now_v7().to_string();
        let mut rows = Vec::new();
        let mut written = Vec::new();
        for (start, keep) in &windows {
            let part = data::filter(&frame, keep);
            let path = format!("{}/log/{start}/{batch_id}.parquet", prefix(project, name));
            let count = part.rows;
            let bytes = tokio::task::spawn_blocking(move || data::write_parquet(&part))
                .await
                .map_err(|e| Error::internal(format_args!("the Parquet writer stopped: {e}")))??;
            if let Err(err) = self.write_object(&path, bytes).await {
                self.forget(&written).await;
                return Err(err);
            }
            written.push(path.clone());
            rows.push(batch::ActiveModel {
                id: Set(format!("{batch_id}-{start}")),
                project: Set(project.to_owned()),
                monitor: Set(name.to_owned()),
                window_start: Set(*start),
                window_end: Set(start + window_ms),
                path: Set(path),
                rows: Set(i64::try_from(count).unwrap_or(i64::MAX)),
                create_time: Set(now),
            });
        }
        if let Err(err) = batch::Entity::insert_many(rows).exec(&self.db).await {
            self.forget(&written).await;
            return Err(err.into());
        }
        Ok(LogRowsResponse {
            rows: frame.rows as u64,
            windows: windows.keys().map(|start| timestamp(*start)).collect(),
        })
    }

    /// Deletes files of a batch that will not be committed (best effort: an orphan file is
    /// never read, as no batch row names it).
    async fn forget(&self, paths: &[String]) {
        for path in paths {
            if let Err(err) = self.objects.delete(&Path::from(path.as_str())).await {
                tracing::warn!(error = %storage_error(err), path, "file of a refused batch left behind");
            }
        }
    }

    /// Stores labels by prediction id; a later label for the same id replaces the earlier.
    pub async fn log_labels(&self, project: &str, name: &str, labels: Vec<Label>, now: i64) -> Result<u64> {
        self.monitor(project, name).await?;
        if labels.is_empty() {
            return Err(Error::invalid("labels: send at least one label"));
        }
        if labels.len() > MAX_LABELS {
            return Err(Error::invalid(format!(
                "labels: {} labels; send at most {MAX_LABELS} per request",
                labels.len()
            )));
        }
        let mut latest: BTreeMap<String, label_row::ActiveModel> = BTreeMap::new();
        for (i, label) in labels.into_iter().enumerate() {
            if label.prediction_id.is_empty() || label.prediction_id.len() > 256 {
                return Err(Error::invalid(format!(
                    "labels[{i}].prediction_id: give the id the prediction was logged with (1 to 256 characters)"
                )));
            }
            let (number, text) = match label.value {
                Some(label::Value::Number(n)) if n.is_finite() => (Some(n), None),
                Some(label::Value::Text(t)) => (None, Some(t)),
                Some(label::Value::Number(_)) | None => {
                    return Err(Error::invalid(format!(
                        "labels[{i}].label: give a finite number or a text"
                    )));
                }
            };
            latest.insert(
                label.prediction_id.clone(),
                label_row::ActiveModel {
                    project: Set(project.to_owned()),
                    monitor: Set(name.to_owned()),
                    prediction_id: Set(label.prediction_id),
                    number: Set(number),
                    text: Set(text),
                    create_time: Set(now),
                },
            );
        }
        let n = latest.len() as u64;
        let rows: Vec<_> = latest.into_values().collect();
        for chunk in rows.chunks(1000) {
            label_row::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        label_row::Column::Project,
                        label_row::Column::Monitor,
                        label_row::Column::PredictionId,
                    ])
                    .update_columns([
                        label_row::Column::Number,
                        label_row::Column::Text,
                        label_row::Column::CreateTime,
                    ])
                    .to_owned(),
                )
                .exec(&self.db)
                .await?;
        }
        Ok(n)
    }

    /// The labels of these prediction ids, by id.
    pub(crate) async fn labels_of(
        &self,
        project: &str,
        name: &str,
        ids: &[&str],
    ) -> Result<BTreeMap<String, label_row::Model>> {
        let mut found = BTreeMap::new();
        for chunk in ids.chunks(500) {
            let rows = label_row::Entity::find()
                .filter(label_row::Column::Project.eq(project))
                .filter(label_row::Column::Monitor.eq(name))
                .filter(label_row::Column::PredictionId.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            found.extend(rows.into_iter().map(|row| (row.prediction_id.clone(), row)));
        }
        Ok(found)
    }
}

/// Prediction ids are text; integer ids sent as numbers are written without a fraction.
fn normalise_prediction_ids(frame: &mut Frame) -> Result<()> {
    let Some((_, values)) = frame.columns.iter_mut().find(|(n, _)| n == PREDICTION_ID) else {
        return Ok(());
    };
    if let Values::Numeric(numbers) = values {
        let mut ids = Vec::with_capacity(numbers.len());
        for (i, n) in numbers.iter().enumerate() {
            if !n.is_finite() {
                ids.push(None);
            } else if n.fract() == 0.0 && n.abs() < 9e15 {
                ids.push(Some(format!("{}", *n as i64)));
            } else {
                return Err(schema_error(format!(
                    "rows[{i}].{PREDICTION_ID}: an id is a string or an integer"
                )));
            }
        }
        *values = Values::Categorical(ids);
    }
    Ok(())
}
