//! Historical retrieval: the views a request names joined point-in-time onto its entity
//! frame from the offline store, answered as one Parquet training set.

use std::time::Duration;

use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::features::v1 as pb;
use object_store::path::Path;

use super::FeatureValues;
use crate::aggregation;
use crate::offline::{self, EntityFormat, FeatureViewSource};

impl FeatureValues {
    /// The training set: each entity row with the features asked for, as of its time.
    pub async fn historical_features(
        &self,
        request: pb::GetHistoricalFeaturesRequest,
    ) -> Result<pb::GetHistoricalFeaturesResponse> {
        let wanted = self
            .resolve(&request.project, &request.features, &request.feature_service)
            .await?
            .wanted;
        let format = match pb::EntityFrameFormat::try_from(request.format) {
            Ok(pb::EntityFrameFormat::Csv) => EntityFormat::Csv,
            Ok(pb::EntityFrameFormat::Parquet) | Err(_) => EntityFormat::Parquet,
        };
        let bytes = request.entity_frame;
        let entities = tokio::task::spawn_blocking(move || offline::read_entity_frame(&bytes, format))
            .await
            .map_err(Error::internal)??;
        let feature_views = wanted.iter().map(|w| w.view.name.clone()).collect();
        let mut views = Vec::with_capacity(wanted.len());
        for w in wanted {
            let offline = self.offline_source(&request.project, &w.source).await?.ok_or_else(|| {
                Error::new(
                    ErrorCode::FailedPrecondition,
                    format!("feature view '{}' reads a push source with no batch source; it has no offline data", w.view.name),
                )
            })?;
            let aggregations = aggregation::of_view(&w.view, Some(&w.features));
            let features = if aggregations.is_empty() {
                w.features
            } else {
                aggregation::input_columns(&aggregations)
            };
            views.push(FeatureViewSource {
                name: w.view.name.clone(),
                location: Path::from(offline.file.as_ref().map_or("", |f| f.path.as_str())),
                join_keys: w.join_keys,
                timestamp_field: offline.timestamp_field.clone(),
                created_timestamp_field: offline.created_timestamp_field.clone(),
                ttl: Duration::from_secs(w.view.ttl_seconds),
                features,
                aggregations,
            });
        }
        let joined =
            offline::historical_features(self.objects.clone(), entities, &views, request.full_feature_names)
                .await?;
        let rows = joined.num_rows() as u64;
        let columns = joined
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let parquet = tokio::task::spawn_blocking(move || offline::write_parquet(&joined))
            .await
            .map_err(Error::internal)??;
        Ok(pb::GetHistoricalFeaturesResponse {
            parquet: parquet.into(),
            rows,
            columns,
            feature_views,
        })
    }
}
