//! MLflow's entities as JSON, made from the registry's messages: `Experiment`, `Run` (with its
//! `RunInfo` and `RunData`) and `Metric`. Empty fields are left out, as proto3 JSON does; ids are
//! strings, times JSON numbers of milliseconds, params and tags `[{"key","value"}]` lists.

use std::collections::HashMap;

use lathe_contract::registry::v1 as pb;
use serde::Serialize;

use super::request::KeyValue;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Milliseconds since the epoch of a protobuf timestamp; 0 when absent.
pub fn millis(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map_or(0, |ts| {
        ts.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(ts.nanos) / 1_000_000)
    })
}

/// A map's entries as MLflow's key/value list, sorted by key so answers are stable.
pub fn key_values(map: HashMap<String, String>) -> Vec<KeyValue> {
    let mut entries: Vec<KeyValue> = map
        .into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

fn lifecycle(stage: i32) -> &'static str {
    match pb::LifecycleStage::try_from(stage) {
        Ok(pb::LifecycleStage::Deleted) => "deleted",
        Ok(pb::LifecycleStage::Active | pb::LifecycleStage::Unspecified) | Err(_) => "active",
    }
}

/// Where MLflow's client finds an experiment's artifacts: the gateway's artifact proxy.
pub fn experiment_artifact_location(experiment_id: &str) -> String {
    format!("mlflow-artifacts:/{experiment_id}")
}

/// Where MLflow's client finds a run's artifacts: the gateway's artifact proxy.
pub fn run_artifact_uri(experiment_id: &str, run_id: &str) -> String {
    format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
}

#[derive(Debug, Serialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    pub creation_time: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub last_update_time: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

impl From<pb::Experiment> for Experiment {
    fn from(e: pb::Experiment) -> Experiment {
        Experiment {
            artifact_location: experiment_artifact_location(&e.experiment_id),
            lifecycle_stage: lifecycle(e.lifecycle_stage),
            creation_time: millis(e.create_time.as_ref()),
            last_update_time: millis(e.update_time.as_ref()),
            tags: key_values(e.tags),
            experiment_id: e.experiment_id,
            name: e.name,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Metric {
    pub key: String,
    #[serde(serialize_with = "proto_double")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

impl From<pb::Metric> for Metric {
    fn from(m: pb::Metric) -> Metric {
        Metric {
            key: m.key,
            value: m.value,
            timestamp: m.timestamp_ms,
            step: m.step,
        }
    }
}

/// A double as protobuf's JSON writes it, which is how MLflow answers: a number, or the text
/// `NaN`, `Infinity` or `-Infinity` (JSON has no number for them; the client parses the text).
fn proto_double<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value.is_infinite() {
        serializer.serialize_str(if *value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        serializer.serialize_f64(*value)
    }
}

/// MLflow's name of a run status; `None` for one the registry leaves unset.
pub fn status_name(status: i32) -> Option<&'static str> {
    match pb::RunStatus::try_from(status) {
        Ok(pb::RunStatus::Running) => Some("RUNNING"),
        Ok(pb::RunStatus::Finished) => Some("FINISHED"),
        Ok(pb::RunStatus::Failed) => Some("FAILED"),
        Ok(pb::RunStatus::Killed) => Some("KILLED"),
        Ok(pb::RunStatus::Scheduled) => Some("SCHEDULED"),
        Ok(pb::RunStatus::Unspecified) | Err(_) => None,
    }
}

/// The registry's run status of MLflow's name.
pub fn parse_status(name: &str) -> Option<pb::RunStatus> {
    match name {
        "RUNNING" => Some(pb::RunStatus::Running),
        "FINISHED" => Some(pb::RunStatus::Finished),
        "FAILED" => Some(pb::RunStatus::Failed),
        "KILLED" => Some(pb::RunStatus::Killed),
        "SCHEDULED" => Some(pb::RunStatus::Scheduled),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    /// The legacy name of `run_id`, which older clients still read.
    pub run_uuid: String,
    pub experiment_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_time: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub end_time: i64,
    pub artifact_uri: String,
    pub lifecycle_stage: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RunData {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

/// Datasets and model inputs of a run, which the registry does not track: always empty.
#[derive(Debug, Serialize)]
pub struct RunInputs {}

/// A logged model the run produced, at a step.
#[derive(Debug, Serialize)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

/// The logged models the run produced (`runs/outputs`).
#[derive(Debug, Serialize)]
pub struct RunOutputs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    pub inputs: RunInputs,
    pub outputs: RunOutputs,
}

/// A run's info, without its data.
pub fn run_info(run: &pb::Run) -> RunInfo {
    RunInfo {
        run_id: run.run_id.clone(),
        run_uuid: run.run_id.clone(),
        experiment_id: run.experiment_id.clone(),
        run_name: run.name.clone(),
        user_id: run.user_id.clone(),
        status: status_name(run.status),
        start_time: run.start_time_ms,
        end_time: run.end_time_ms,
        artifact_uri: run_artifact_uri(&run.experiment_id, &run.run_id),
        lifecycle_stage: lifecycle(run.lifecycle_stage),
    }
}

impl From<pb::Run> for Run {
    fn from(run: pb::Run) -> Run {
        let info = run_info(&run);
        let mut metrics: Vec<Metric> = run.latest_metrics.into_iter().map(Metric::from).collect();
        metrics.sort_by(|a, b| a.key.cmp(&b.key));
        Run {
            info,
            data: RunData {
                metrics,
                params: key_values(run.params),
                tags: key_values(run.tags),
            },
            inputs: RunInputs {},
            outputs: RunOutputs {
                model_outputs: run
                    .model_outputs
                    .into_iter()
                    .map(|o| ModelOutput {
                        model_id: o.model_id,
                        step: o.step,
                    })
                    .collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_answers_in_mlflow_shape_without_empty_fields() {
        let run = pb::Run {
            project: "p".to_owned(),
            run_id: "abc".to_owned(),
            experiment_id: "7".to_owned(),
            name: "r".to_owned(),
            status: pb::RunStatus::Running as i32,
            start_time_ms: 1_700_000_000_123,
            end_time_ms: 0,
            user_id: "ada".to_owned(),
            lifecycle_stage: pb::LifecycleStage::Active as i32,
            artifact_uri: "s3://bucket/runs/abc/artifacts".to_owned(),
            params: HashMap::from([("C".to_owned(), "0.5".to_owned())]),
            tags: HashMap::new(),
            latest_metrics: vec![pb::Metric {
                key: "loss".to_owned(),
                value: 0.25,
                timestamp_ms: 1_700_000_000_200,
                step: 3,
            }],
            model_outputs: vec![pb::RunModelOutput {
                model_id: "m-1".to_owned(),
                step: 0,
            }],
        };
        let json = serde_json::to_value(Run::from(run)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "info": {
                    "run_id": "abc", "run_uuid": "abc", "experiment_id": "7", "run_name": "r",
                    "user_id": "ada", "status": "RUNNING", "start_time": 1_700_000_000_123_i64,
                    "artifact_uri": "mlflow-artifacts:/7/abc/artifacts", "lifecycle_stage": "active",
                },
                "data": {
                    "metrics": [{"key": "loss", "value": 0.25, "timestamp": 1_700_000_000_200_i64, "step": 3}],
                    "params": [{"key": "C", "value": "0.5"}],
                },
                "inputs": {},
                "outputs": {"model_outputs": [{"model_id": "m-1", "step": 0}]},
            })
        );
    }
}
