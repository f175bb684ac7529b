//! The wire messages assembled from stored rows: projects, experiments, runs, metrics,
//! artifacts, models, versions, logged models and audit events.

use std::collections::{BTreeMap, HashMap};

use lathe_common::{Result, validate};
use lathe_contract::registry::v1 as pb;

use crate::domain::gates::{Policy, parse_stage};
use crate::domain::states::{lifecycle, status_from_str};
use crate::domain::tags::json_to_map;
use crate::store::logged_models::logged_model;
use crate::store::models::{StoredLineage, StoredSignature, audit_event, model, version};
use crate::store::project;
use crate::store::run_details::RunDetails;
use crate::store::tracking::{artifact, experiment, latest_metric, metric_history, run};

pub fn project(model: project::Model) -> pb::Project {
    let labels: HashMap<String, String> = serde_json::from_value(model.labels).unwrap_or_default();
    pb::Project {
        name: model.name,
        description: model.description,
        labels,
        created_by: model.created_by,
        create_time: Some(validate::timestamp(model.create_time)),
        update_time: Some(validate::timestamp(model.update_time)),
    }
}

pub fn experiment(e: experiment::Model) -> pb::Experiment {
    pb::Experiment {
        project: e.project,
        experiment_id: e.id.to_string(),
        name: e.name,
        lifecycle_stage: lifecycle(&e.lifecycle_stage) as i32,
        tags: json_to_map(e.tags),
        artifact_location: e.artifact_location,
        create_time: Some(validate::timestamp(e.create_time)),
        update_time: Some(validate::timestamp(e.update_time)),
    }
}

/// The runs with their params, tags and latest metrics (in key order).
pub fn runs(runs: Vec<run::Model>, mut details: RunDetails) -> Vec<pb::Run> {
    runs.into_iter()
        .map(|r| {
            let mut latest_metrics: Vec<pb::Metric> = details
                .metrics
                .remove(&r.id)
                .unwrap_or_default()
                .into_iter()
                .map(latest_metric)
                .collect();
            latest_metrics.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            let mut model_outputs: Vec<pb::RunModelOutput> = details
                .outputs
                .remove(&r.id)
                .unwrap_or_default()
                .into_iter()
                .map(|o| pb::RunModelOutput {
                    model_id: o.model_id,
                    step: o.step,
                })
                .collect();
            model_outputs.sort_unstable_by(|a, b| (a.step, &a.model_id).cmp(&(b.step, &b.model_id)));
            pb::Run {
                model_outputs,
                params: details.params.remove(&r.id).unwrap_or_default(),
                tags: details.tags.remove(&r.id).unwrap_or_default(),
                latest_metrics,
                project: r.project,
                experiment_id: r.experiment_id.to_string(),
                name: r.name,
                status: status_from_str(&r.status) as i32,
                start_time_ms: r.start_time,
                end_time_ms: r.end_time.unwrap_or(0),
                user_id: r.user_id,
                lifecycle_stage: lifecycle(&r.lifecycle_stage) as i32,
                artifact_uri: r.artifact_uri,
                run_id: r.id,
            }
        })
        .collect()
}

fn latest_metric(m: latest_metric::Model) -> pb::Metric {
    pb::Metric {
        key: m.key,
        value: m.value,
        timestamp_ms: m.timestamp,
        step: m.step,
    }
}

pub fn logged_metric(m: metric_history::Model) -> pb::Metric {
    pb::Metric {
        key: m.key,
        value: m.value,
        timestamp_ms: m.timestamp,
        step: m.step,
    }
}

/// A file of a run, its path relative to the directory `relative_to`.
pub fn artifact(row: &artifact::Model, relative_to: &str) -> pb::Artifact {
    pb::Artifact {
        path: row.path.strip_prefix(relative_to).unwrap_or(&row.path).to_owned(),
        size: u64::try_from(row.size).unwrap_or(0),
        sha256: row.sha256.clone(),
        is_dir: false,
        create_time: Some(validate::timestamp(row.create_time)),
    }
}

/// A model with its aliases (version → names) and its newest version per stage (in version
/// order).
pub fn model(
    m: model::Model,
    alias_map: BTreeMap<i64, Vec<String>>,
    latest_rows: Vec<version::Model>,
) -> Result<pb::Model> {
    let aliases: HashMap<String, u64> = alias_map
        .iter()
        .flat_map(|(version, names)| {
            names
                .iter()
                .map(move |name| (name.clone(), u64::try_from(*version).unwrap_or(0)))
        })
        .collect();
    let latest_versions = latest_rows
        .into_iter()
        .map(|v| version(&m, v, &alias_map))
        .collect::<Result<Vec<_>>>()?;
    let policies: Vec<Policy> = serde_json::from_value(m.policies.clone()).unwrap_or_default();
    Ok(pb::Model {
        project: m.project,
        name: m.name,
        description: m.description,
        tags: json_to_map(m.tags),
        policies: policies.iter().map(Policy::to_proto).collect(),
        aliases,
        latest_versions,
        create_time: Some(validate::timestamp(m.create_time)),
        update_time: Some(validate::timestamp(m.update_time)),
    })
}

/// A version of the model `m`, with its aliases from `aliases` (version → names).
pub fn version(
    m: &model::Model,
    v: version::Model,
    aliases: &BTreeMap<i64, Vec<String>>,
) -> Result<pb::ModelVersion> {
    let signature: StoredSignature = serde_json::from_value(v.signature).unwrap_or_default();
    let lineage: StoredLineage = serde_json::from_value(v.lineage).unwrap_or_default();
    Ok(pb::ModelVersion {
        project: m.project.clone(),
        model: m.name.clone(),
        version: u64::try_from(v.version).unwrap_or(0),
        stage: parse_stage(&v.stage)?.into(),
        aliases: aliases.get(&v.version).cloned().unwrap_or_default(),
        description: v.description,
        tags: json_to_map(v.tags),
        run_id: v.run_id,
        artifact_uri: v.artifact_uri,
        artifact_sha256: v.artifact_sha256,
        metrics: serde_json::from_value(v.metrics).unwrap_or_default(),
        signature: Some(pb::Signature {
            inputs: signature.inputs,
            output: signature.output,
            defaults: signature.defaults.into_iter().collect(),
        }),
        lineage: Some(pb::Lineage {
            feature_views: lineage.feature_views,
            feature_service: lineage.feature_service,
            training_dataset: lineage.training_dataset,
            orchestrator_run: lineage.orchestrator_run,
        }),
        created_by: v.created_by,
        create_time: Some(validate::timestamp(v.create_time)),
        update_time: Some(validate::timestamp(v.update_time)),
        source: v.source,
        logged_model_id: v.logged_model_id,
    })
}

/// A logged model; `artifact_uri` is where its files live in the registry's store.
pub fn logged_model(m: logged_model::Model, artifact_uri: String) -> pb::LoggedModel {
    pb::LoggedModel {
        project: m.project,
        model_id: m.id,
        experiment_id: m.experiment_id.to_string(),
        name: m.name,
        source_run_id: m.source_run_id,
        status: logged_model_status(&m.status) as i32,
        status_message: m.status_message,
        model_type: m.model_type,
        params: json_to_map(m.params),
        tags: json_to_map(m.tags),
        artifact_uri,
        create_time_ms: m.create_time,
        update_time_ms: m.update_time,
    }
}

/// The wire status of a stored one (PENDING, READY or FAILED).
pub fn logged_model_status(stored: &str) -> pb::LoggedModelStatus {
    match stored {
        "PENDING" => pb::LoggedModelStatus::Pending,
        "READY" => pb::LoggedModelStatus::Ready,
        "FAILED" => pb::LoggedModelStatus::Failed,
        _ => pb::LoggedModelStatus::Unspecified,
    }
}

/// A version of `m` with exactly the aliases `names`.
pub fn version_with_aliases(
    m: &model::Model,
    v: version::Model,
    names: Vec<String>,
) -> Result<pb::ModelVersion> {
    let number = v.version;
    version(m, v, &BTreeMap::from([(number, names)]))
}

pub fn audit_event(e: audit_event::Model, model: &str) -> pb::AuditEvent {
    pb::AuditEvent {
        id: u64::try_from(e.id).unwrap_or(0),
        model: model.to_owned(),
        version: u64::try_from(e.version).unwrap_or(0),
        action: e.action,
        from: e.from_value,
        to: e.to_value,
        actor: e.actor,
        reason: e.reason,
        time: Some(validate::timestamp(e.time)),
    }
}
