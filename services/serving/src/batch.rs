//! Batch scoring: a file of entity rows gets its features from the point-in-time historical
//! retrieval (the same join a training set is built with) and is scored by the deployment's
//! current version with the same model code as online predictions, so that for the same
//! feature values the two give the same answer. The frame's rows count as the champion's
//! predictions, made or failed, once the retrieval has answered them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, RecordBatchReader, StringArray};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use lathe_common::grpc::TracedChannel;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as features;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::serving::v1 as pb;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::deployments::Deployments;
use crate::loading::Loaded;
use crate::prediction_counters::{ServedRole, now_seconds};
use crate::runtime::Predictions;

#[derive(Clone)]
pub struct BatchScorer {
    pub deployments: Deployments,
    pub features: FeatureServiceClient<TracedChannel>,
}

impl BatchScorer {
    pub async fn score(&self, request: pb::BatchPredictRequest) -> Result<pb::BatchPredictResponse> {
        let live = self.deployments.live(&request.project, &request.deployment)?;
        let version = live.champion().ok_or_else(|| {
            Error::new(
                ErrorCode::Unavailable,
                format!("deployment '{}' has no version loaded yet", request.deployment),
            )
        })?;
        let training = self
            .features
            .clone()
            .get_historical_features(features::GetHistoricalFeaturesRequest {
                project: request.project.clone(),
                entity_frame: request.entity_frame,
                format: request.format,
                features: version.inputs.clone(),
                feature_service: String::new(),
                full_feature_names: true,
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        let frame = read_parquet(training.parquet)?;
        let rows = frame.num_rows() as u64;
        let scored =
            tokio::task::spawn_blocking(move || score_frame(&version, &frame).map(|b| (b, version.version)))
                .await
                .map_err(|err| Error::internal(format!("batch scoring stopped: {err}")))
                .and_then(|scored| scored);
        let counters = live.counters.role(ServedRole::Champion);
        match &scored {
            Ok(_) => counters.answered(rows, now_seconds()),
            Err(_) => counters.failed(rows, now_seconds()),
        }
        let (batch, version) = scored?;
        Ok(pb::BatchPredictResponse {
            rows: batch.num_rows() as u64,
            parquet: write_parquet(&batch)?.into(),
            version,
        })
    }
}

/// The column the historical retrieval names an input (`view:feature` → `view__feature`).
pub fn column_of(input: &str) -> String {
    input.replacen(':', "__", 1)
}

/// The frame with the predictions appended: `label` and one `probability_<class>` per class
/// for a classifier, `prediction` for a regressor.
pub fn score_frame(version: &Loaded, frame: &RecordBatch) -> Result<RecordBatch> {
    let rows = frame.num_rows();
    let width = version.inputs.len();
    let mut matrix = vec![0f32; rows * width];
    let mut missing = Vec::new();
    for (j, input) in version.inputs.iter().enumerate() {
        let name = column_of(input);
        let column = frame
            .column_by_name(&name)
            .ok_or_else(|| Error::internal(format!("the training frame has no column '{name}'")))?;
        let numbers = cast(column, &DataType::Float64).map_err(|err| {
            Error::new(
                ErrorCode::Unprocessable,
                format!("input '{input}' is not numeric: {err}"),
            )
        })?;
        let numbers = numbers
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| Error::internal("a cast to Float64 gave another array"))?;
        let mut nulls = 0;
        for row in 0..rows {
            matrix[row * width + j] = if numbers.is_null(row) {
                match version.defaults.get(input) {
                    Some(d) => *d as f32,
                    None => {
                        nulls += 1;
                        f32::NAN
                    }
                }
            } else {
                numbers.value(row) as f32
            };
        }
        if nulls > 0 {
            missing.push(format!("{input} ({nulls} rows)"));
        }
    }
    if !missing.is_empty() {
        return Err(Error::new(
            ErrorCode::Unprocessable,
            format!(
                "inputs without a value as of the rows' timestamps and without a default: {}; declare \
                 defaults in the version's signature or drop those rows",
                missing.join(", ")
            ),
        ));
    }
    let predicted = version
        .model
        .predict(&matrix)
        .map_err(|err| Error::internal(format!("version {} failed to predict: {err}", version.version)))?;
    let mut fields: Vec<Field> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = frame.columns().to_vec();
    match predicted {
        Predictions::Classes(classes) => {
            fields.push(Field::new("label", DataType::Utf8, false));
            columns.push(Arc::new(StringArray::from_iter_values(
                classes.iter().map(|c| c.label.to_string()),
            )));
            for (k, class) in version.classes.iter().enumerate() {
                fields.push(Field::new(
                    format!("probability_{class}"),
                    DataType::Float64,
                    false,
                ));
                columns.push(Arc::new(Float64Array::from_iter_values(
                    classes.iter().map(|c| f64::from(c.probabilities[k])),
                )));
            }
        }
        Predictions::Values(values) => {
            fields.push(Field::new("prediction", DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from_iter_values(
                values.iter().map(|&v| f64::from(v)),
            )));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|err| Error::internal(format!("cannot assemble the scored frame: {err}")))
}

fn read_parquet(bytes: Bytes) -> Result<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|err| Error::internal(format!("the training frame is not readable Parquet: {err}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|err| Error::internal(format!("the training frame cannot be decoded: {err}")))?;
    concat_batches(&schema, &batches)
        .map_err(|err| Error::internal(format!("cannot join the frame's batches: {err}")))
}

fn write_parquet(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None)
        .map_err(|err| Error::internal(format!("cannot write Parquet: {err}")))?;
    writer
        .write(batch)
        .and_then(|()| writer.close().map(|_| ()))
        .map_err(|err| Error::internal(format!("cannot write Parquet: {err}")))?;
    Ok(out)
}
