//! Online reads: the latest values of each entity from the online store, with a status per
//! value (present, not found, or older than the view's ttl). A read through a feature service
//! that logs offers a sample of its rows to the monitor's queue (see [`crate::logging`]).

use chrono::Utc;
use lathe_common::{Error, Result};
use lathe_contract::features::v1 as pb;

use super::FeatureValues;
use super::value_conversion::{value_from_proto, value_to_proto};
use crate::aggregation::{self, KeyState};
use crate::definitions::spec::FeatureViewSpec;
use crate::online::{EntityKey, Value};

impl FeatureValues {
    /// The features asked for of each entity of the request, one column per feature after
    /// the entity columns.
    pub async fn online_features(
        &self,
        request: pb::GetOnlineFeaturesRequest,
    ) -> Result<pb::GetOnlineFeaturesResponse> {
        self.online_features_at(request, Utc::now().timestamp_micros())
            .await
    }

    /// [`online_features`](Self::online_features) as of `now_us`: what decides which values are
    /// too old, and the windows of aggregated views.
    pub(super) async fn online_features_at(
        &self,
        request: pb::GetOnlineFeaturesRequest,
        now_us: i64,
    ) -> Result<pb::GetOnlineFeaturesResponse> {
        let resolved = self
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
        for w in resolved.wanted {
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
                keys.push(EntityKey::new(parts)?);
            }
            // What an entity the store has nothing for reads as: null, or for an aggregated
            // view its empty windows (counts are 0, as in a training set).
            let (found, not_found) = if w.view.aggregations.is_empty() {
                let found = self
                    .online
                    .read(&request.project, &w.view.name, &keys, &w.features)
                    .await?;
                (found, vec![pb::Value::default(); w.features.len()])
            } else {
                let found = self
                    .read_aggregates(&request.project, &w.view, &keys, &w.features, now_us)
                    .await?;
                (found, empty_aggregates(&w.view, &w.features))
            };
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
                            column.values.push(not_found[f].clone());
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
        if let Some(logging) = &resolved.logging {
            self.logger
                .offer(&request.project, logging, &columns[request.entities.len()..]);
        }
        Ok(pb::GetOnlineFeaturesResponse { columns })
    }
}

/// The values of `features` of an aggregated view over windows without events.
fn empty_aggregates(view: &FeatureViewSpec, features: &[String]) -> Vec<pb::Value> {
    let aggregations = aggregation::of_view(view, Some(features));
    KeyState::new(&aggregations)
        .values_at(&aggregations, 0)
        .iter()
        .map(value_to_proto)
        .collect()
}
