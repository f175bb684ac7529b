//! The materialization state of feature views: what their last run wrote into the online store,
//! and how far behind the present the materialized data is.

use chrono::{DateTime, Utc};
use lathe_common::{Error, Result, reasons};
use lathe_contract::features::v1 as pb;

use super::FeatureValues;
use super::materialization::wire_timestamp;
use crate::definitions::model::{FEATURE_VIEW, Spec};
use crate::definitions::spec::FeatureViewSpec;
use crate::store::materializations::ViewState;

impl FeatureValues {
    /// The state of the views named (every feature view of the project when none is), by name,
    /// freshness as of now.
    pub async fn materialization_states(
        &self,
        request: pb::ListMaterializationsRequest,
    ) -> Result<pb::ListMaterializationsResponse> {
        self.materialization_states_at(request, Utc::now()).await
    }

    /// [`materialization_states`](Self::materialization_states) with the present at `now`.
    pub(super) async fn materialization_states_at(
        &self,
        request: pb::ListMaterializationsRequest,
        now: DateTime<Utc>,
    ) -> Result<pb::ListMaterializationsResponse> {
        let mut views: Vec<FeatureViewSpec> = self
            .definitions
            .list(&request.project, Some(FEATURE_VIEW))
            .await?
            .into_iter()
            .filter_map(|stored| match stored.spec {
                Spec::View(view) => Some(view),
                Spec::Entity(_) | Spec::Source(_) | Spec::Service(_) => None,
            })
            .collect();
        if !request.feature_views.is_empty() {
            if let Some(missing) = request
                .feature_views
                .iter()
                .find(|name| !views.iter().any(|v| &v.name == *name))
            {
                return Err(Error::of(
                    reasons::FEATURE_VIEW_NOT_FOUND,
                    format!(
                        "feature view '{missing}' does not exist in project '{}'",
                        request.project
                    ),
                ));
            }
            views.retain(|v| request.feature_views.contains(&v.name));
        }
        let mut states = self.materializations.states(&request.project).await?;
        let now_us = now.timestamp_micros();
        Ok(pb::ListMaterializationsResponse {
            views: views
                .into_iter()
                .map(|view| {
                    let state = states.remove(&view.name).unwrap_or_default();
                    view_state(&view, state, now_us)
                })
                .collect(),
        })
    }
}

fn view_state(view: &FeatureViewSpec, state: ViewState, now_us: i64) -> pb::ViewMaterializationState {
    let freshness_seconds = state
        .materialized_until_us
        .map(|until| now_us.saturating_sub(until).div_euclid(1_000_000));
    let ttl = i64::try_from(view.ttl_seconds).unwrap_or(i64::MAX);
    let run = state.last_run;
    pb::ViewMaterializationState {
        feature_view: view.name.clone(),
        online: view.online,
        ttl_seconds: view.ttl_seconds,
        last_start: run.as_ref().map(|r| wire_timestamp(r.start_us)),
        last_end: run.as_ref().map(|r| wire_timestamp(r.end_us)),
        last_run_time: run.as_ref().map(|r| prost_types::Timestamp {
            seconds: r.run_time.timestamp(),
            nanos: i32::try_from(r.run_time.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        rows_scanned: run
            .as_ref()
            .and_then(|r| r.rows_scanned)
            .map(|n| u64::try_from(n).unwrap_or(0)),
        entities_written: run.as_ref().map(|r| u64::try_from(r.entities).unwrap_or(0)),
        materialized_until: state.materialized_until_us.map(wire_timestamp),
        freshness_seconds,
        stale: view.ttl_seconds > 0 && freshness_seconds.is_some_and(|f| f > ttl),
    }
}
