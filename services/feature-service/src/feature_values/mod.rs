//! Feature values, as the definitions say where they are: point-in-time training sets from the
//! offline store, materialization into the online store and its state per view, online reads
//! with per-value statuses, and push.
//!
//! [`FeatureValues`] holds the stores; each operation is in the module named for it, and
//! this one resolves what a request names (`view:feature` references or a feature service)
//! into views, their sources and join keys.

mod aggregates;
mod ingest;
mod materialization;
mod materialization_state;
mod online_reads;
mod push;
mod training_sets;
mod value_conversion;
mod view_reads;

#[cfg(test)]
mod aggregation_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use lathe_common::reasons;
use lathe_common::{Error, Result};
use object_store::ObjectStore;
use prometheus::{IntCounterVec, Opts};

pub use self::materialization::ProgressSink;
use crate::definitions::model::{DATA_SOURCE, ENTITY, FEATURE_SERVICE, FEATURE_VIEW, Spec};
use crate::definitions::spec::{FeatureViewSpec, JoinKeySpec, LoggingSpec, SourceSpec};
use crate::logging::RowLogger;
use crate::online::OnlineStore;
use crate::store::definitions::DefinitionStore;
use crate::store::materializations::Materializations;

/// A resolved feature view and the features asked of it, in request order.
struct Wanted {
    view: FeatureViewSpec,
    source: SourceSpec,
    join_keys: Vec<String>,
    features: Vec<String>,
}

/// What a request names, resolved: the views and features, and the feature service's logging
/// when it names a feature service that logs.
struct Resolved {
    wanted: Vec<Wanted>,
    logging: Option<LoggingSpec>,
}

/// The stores that feature values are read from and written to, with the definitions that
/// say where a view's values are.
#[derive(Clone)]
pub struct FeatureValues {
    definitions: DefinitionStore,
    materializations: Materializations,
    objects: Arc<dyn ObjectStore>,
    online: Arc<dyn OnlineStore>,
    logger: RowLogger,
    /// `lathe_aggregation_late_events_total{project, view}`: pushed events older than an
    /// aggregated view's allowed lateness.
    late_events: IntCounterVec,
}

impl FeatureValues {
    pub fn new(
        definitions: DefinitionStore,
        materializations: Materializations,
        objects: Arc<dyn ObjectStore>,
        online: Arc<dyn OnlineStore>,
        logger: RowLogger,
    ) -> Self {
        FeatureValues {
            definitions,
            materializations,
            objects,
            online,
            logger,
            late_events: IntCounterVec::new(
                Opts::new(
                    "aggregation_late_events_total",
                    "Pushed events older than an aggregated view's allowed lateness, not applied online",
                ),
                &["project", "view"],
            )
            .expect("a valid static metric"),
        }
    }

    /// The counter of late events, for the service's metrics registry.
    pub fn late_events_counter(&self) -> IntCounterVec {
        self.late_events.clone()
    }

    pub fn online_store(&self) -> &Arc<dyn OnlineStore> {
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
            return Err(Error::of(
                reasons::FEATURE_VIEW_NOT_FOUND,
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
        let join_keys = self.join_keys(project, &view).await?;
        let join_keys = join_keys.into_iter().map(|k| k.name).collect();
        Ok((view, source, join_keys))
    }

    /// The join keys of a view's entities, in the order of its entities (an entity that no
    /// longer exists gives none).
    async fn join_keys(&self, project: &str, view: &FeatureViewSpec) -> Result<Vec<JoinKeySpec>> {
        let mut join_keys = Vec::new();
        for entity in &view.entities {
            if let Some(Spec::Entity(e)) = self
                .definitions
                .get_recent(project, ENTITY, entity)
                .await?
                .map(|s| s.spec.clone())
            {
                join_keys.extend(e.join_keys);
            }
        }
        Ok(join_keys)
    }

    /// Resolves `view:feature` references or a feature service into views and features.
    async fn resolve(&self, project: &str, features: &[String], service: &str) -> Result<Resolved> {
        let mut logging = None;
        let references: Vec<String> = match (features.is_empty(), service.is_empty()) {
            (false, true) => features.to_vec(),
            (true, false) => match self
                .definitions
                .get_recent(project, FEATURE_SERVICE, service)
                .await?
                .map(|s| s.spec.clone())
            {
                Some(Spec::Service(s)) => {
                    logging = s.logging;
                    s.features
                }
                _ => {
                    return Err(Error::of(
                        reasons::FEATURE_SERVICE_NOT_FOUND,
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
                    return Err(Error::of(
                        reasons::FEATURE_NOT_FOUND,
                        format!("feature view '{}' has no feature '{feature}'", w.view.name),
                    ));
                }
            }
        }
        Ok(Resolved { wanted, logging })
    }
}
