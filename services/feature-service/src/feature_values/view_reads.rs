//! A feature view's rows over a time range, as its offline source holds them, answered as
//! Parquet: what a monitor takes as a reference sample.

use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::path::Path;

use super::FeatureValues;
use super::materialization::micros;
use crate::offline::{self, FeatureViewSource};

/// Rows held in memory by one read, at most; the answer must also fit one message.
const MAX_ROW_BYTES: usize = 2 * crate::MAX_MESSAGE_BYTES;

impl FeatureValues {
    /// The view's source rows with event times in `[start, end)`: its join keys, the source's
    /// event timestamp field, then the features asked for (every feature of the view when none).
    pub async fn read_feature_view(
        &self,
        request: pb::ReadFeatureViewRequest,
    ) -> Result<pb::ReadFeatureViewResponse> {
        let start_us = micros(request.start.as_ref())
            .ok_or_else(|| Error::invalid("start: give the start of the range"))?;
        let end_us =
            micros(request.end.as_ref()).ok_or_else(|| Error::invalid("end: give the end of the range"))?;
        if start_us >= end_us {
            return Err(Error::invalid(
                "start must be before end: the range [start, end) is empty",
            ));
        }
        let (view, source, join_keys) = self.view(&request.project, &request.feature_view).await?;
        if !view.aggregations.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "feature view '{}' is aggregated: its values exist only as of a lookup time; read its \
                     source's events, or build a training set (historical retrieval) of it",
                    view.name
                ),
            ));
        }
        let features = if request.features.is_empty() {
            view.schema.iter().map(|f| f.name.clone()).collect()
        } else {
            if let Some(unknown) = request
                .features
                .iter()
                .find(|feature| !view.schema.iter().any(|f| &f.name == *feature))
            {
                return Err(Error::invalid(format!(
                    "features: feature view '{}' has no feature '{unknown}'",
                    view.name
                )));
            }
            request.features
        };
        let offline = self
            .offline_source(&request.project, &source)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "feature view '{}' reads a push source with no batch source; it has no offline data",
                        view.name
                    ),
                )
            })?;
        let location = FeatureViewSource {
            name: view.name.clone(),
            location: Path::from(offline.file.as_ref().map_or("", |f| f.path.as_str())),
            join_keys,
            timestamp_field: offline.timestamp_field.clone(),
            created_timestamp_field: offline.created_timestamp_field.clone(),
            ttl: std::time::Duration::from_secs(view.ttl_seconds),
            features,
            aggregations: Vec::new(),
        };
        let rows =
            offline::view_rows(self.objects.clone(), &location, start_us, end_us, MAX_ROW_BYTES).await?;
        let count = rows.num_rows() as u64;
        let columns = rows.schema().fields().iter().map(|f| f.name().clone()).collect();
        let parquet = tokio::task::spawn_blocking(move || offline::write_parquet(&rows))
            .await
            .map_err(Error::internal)??;
        if parquet.len() > crate::MAX_MESSAGE_BYTES {
            return Err(Error::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "the rows of feature view '{}' in the range take {} bytes as Parquet, more than one answer holds \
                     ({} bytes); ask for a shorter range or fewer features",
                    view.name,
                    parquet.len(),
                    crate::MAX_MESSAGE_BYTES
                ),
            ));
        }
        Ok(pb::ReadFeatureViewResponse {
            parquet: parquet.into(),
            rows: count,
            columns,
        })
    }
}
