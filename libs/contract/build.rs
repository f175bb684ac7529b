//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed.

use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut files = Vec::new();
    collect_protos(&proto_root, &mut files)?;
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // The descriptor set backs gRPC reflection.
    std::fs::write(out_dir.join("lathe_descriptor.bin"), fds.encode_to_vec())?;

    let mut builder = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Artifact chunks pass through without copies.
        .bytes(".lathe");
    for json in JSON {
        builder = json.configure(builder, &fds)?;
    }
    builder.compile_fds(fds)?;
    Ok(())
}

/// A message that the gateway's REST API sends or accepts as JSON in its proto shape: it gets
/// serde and OpenAPI derives here, so the gateway writes no mirror of it. Enum fields go by
/// their JSON names and timestamps as RFC 3339 text (`src/json.rs`); proto comments become the
/// OpenAPI descriptions.
struct Json {
    /// Fully qualified proto name.
    message: &'static str,
    /// The OpenAPI schema name, when it is not the message's (`ModelList` for `ListModelsResponse`).
    schema: Option<&'static str>,
    sent: bool,
    accepted: bool,
    /// Fields of an accepted message that the URL or the token fills: never read from a body.
    not_in_body: &'static [&'static str],
    /// Fields an accepted body must have; the others default to empty.
    required: &'static [&'static str],
    /// (field, example) for the OpenAPI document.
    examples: &'static [(&'static str, &'static str)],
}

const fn sent(message: &'static str, schema: Option<&'static str>) -> Json {
    Json {
        message,
        schema,
        sent: true,
        accepted: false,
        not_in_body: &[],
        required: &[],
        examples: &[],
    }
}

const fn accepted(
    message: &'static str,
    schema: &'static str,
    not_in_body: &'static [&'static str],
    required: &'static [&'static str],
) -> Json {
    Json {
        message,
        schema: Some(schema),
        sent: false,
        accepted: true,
        not_in_body,
        required,
        examples: &[],
    }
}

const fn both(
    message: &'static str,
    schema: Option<&'static str>,
    required: &'static [&'static str],
) -> Json {
    Json {
        message,
        schema,
        sent: true,
        accepted: true,
        not_in_body: &[],
        required,
        examples: &[],
    }
}

impl Json {
    const fn examples(self, examples: &'static [(&'static str, &'static str)]) -> Json {
        Json { examples, ..self }
    }
}

/// Every message with a JSON face. The gateway keeps its own types only where the REST shape
/// differs (each says how).
const JSON: &[Json] = &[
    // Projects.
    sent(".lathe.registry.v1.Project", None),
    sent(".lathe.registry.v1.ListProjectsResponse", Some("ProjectList")),
    accepted(
        ".lathe.registry.v1.CreateProjectRequest",
        "CreateProject",
        &["created_by"],
        &["name"],
    )
    .examples(&[("name", "churn")]),
    // Tracking.
    sent(".lathe.registry.v1.Experiment", None),
    sent(
        ".lathe.registry.v1.ListExperimentsResponse",
        Some("ExperimentList"),
    ),
    accepted(
        ".lathe.registry.v1.CreateExperimentRequest",
        "CreateExperiment",
        &["project"],
        &["name"],
    )
    .examples(&[("name", "churn-baseline")]),
    sent(".lathe.registry.v1.Run", None),
    sent(".lathe.registry.v1.RunModelOutput", None),
    sent(".lathe.registry.v1.SearchRunsResponse", Some("RunList")),
    sent(".lathe.registry.v1.Metric", None).examples(&[("key", "accuracy")]),
    sent(
        ".lathe.registry.v1.GetMetricHistoryResponse",
        Some("MetricHistory"),
    ),
    both(".lathe.registry.v1.Param", Some("KeyValue"), &["key", "value"]),
    sent(".lathe.registry.v1.Artifact", None).examples(&[("path", "model/model.pkl")]),
    sent(".lathe.registry.v1.ListArtifactsResponse", Some("ArtifactList")),
    // Models.
    sent(".lathe.registry.v1.Model", None),
    sent(".lathe.registry.v1.ListModelsResponse", Some("ModelList")),
    accepted(
        ".lathe.registry.v1.CreateModelRequest",
        "CreateModel",
        &["project", "actor"],
        &["name"],
    )
    .examples(&[("name", "churn-classifier")]),
    both(".lathe.registry.v1.PromotionPolicy", None, &["stage"]),
    both(
        ".lathe.registry.v1.MetricCondition",
        None,
        &["key", "op", "value"],
    )
    .examples(&[("key", "auc"), ("op", ">"), ("value", "0.85")]),
    both(".lathe.registry.v1.Signature", None, &[])
        .examples(&[("inputs", "[\"customer_stats:tenure_days\"]")]),
    both(".lathe.registry.v1.Lineage", None, &[]),
    sent(".lathe.registry.v1.ModelVersion", None),
    sent(
        ".lathe.registry.v1.ListModelVersionsResponse",
        Some("ModelVersionList"),
    ),
    sent(
        ".lathe.registry.v1.FindVersionsByLineageResponse",
        Some("LineageMatches"),
    ),
    accepted(
        ".lathe.registry.v1.CreateModelVersionRequest",
        "CreateModelVersion",
        &["project", "model", "actor", "logged_model_id", "source"],
        &["run_id", "artifact_path"],
    )
    .examples(&[("artifact_path", "model")]),
    accepted(
        ".lathe.registry.v1.UpdateModelVersionRequest",
        "UpdateModelVersion",
        &["project", "model", "version", "actor"],
        &[],
    ),
    accepted(
        ".lathe.registry.v1.TransitionStageRequest",
        "TransitionStage",
        &["project", "model", "version", "actor"],
        &["stage"],
    ),
    accepted(
        ".lathe.registry.v1.SetAliasRequest",
        "SetAlias",
        &["project", "model", "alias", "actor"],
        &["version"],
    ),
    accepted(
        ".lathe.registry.v1.DeleteAliasRequest",
        "DeleteAlias",
        &["project", "model", "alias", "actor"],
        &[],
    ),
    sent(".lathe.registry.v1.AuditEvent", None),
    sent(".lathe.registry.v1.ListAuditEventsResponse", Some("AuditLog")),
    // Feature store.
    sent(".lathe.features.v1.Entity", None),
    sent(".lathe.features.v1.ListEntitiesResponse", Some("EntityList")),
    both(".lathe.features.v1.JoinKey", None, &["name", "value_type"]).examples(&[("name", "driver_id")]),
    accepted(
        ".lathe.features.v1.ApplyEntityRequest",
        "ApplyEntity",
        &["project", "name"],
        &["join_keys"],
    ),
    accepted(
        ".lathe.features.v1.ApplyRepositoryRequest",
        "ApplyRepository",
        &["project", "actor"],
        &["files"],
    ),
    accepted(
        ".lathe.features.v1.RepositoryFile",
        "RepositoryFile",
        &[],
        &["path", "content"],
    ),
    sent(".lathe.features.v1.PlannedChange", None),
    sent(".lathe.features.v1.ApplyRepositoryResponse", Some("ApplyResult")),
    // Pipelines.
    accepted(
        ".lathe.orchestrator.v1.ApplyPipelinesRequest",
        "ApplyPipelines",
        &["project", "actor"],
        &["files"],
    ),
    accepted(
        ".lathe.orchestrator.v1.PipelineFile",
        "PipelineFile",
        &[],
        &["path", "content"],
    )
    .examples(&[("path", "pipelines/retrain.yaml")]),
    sent(".lathe.orchestrator.v1.PipelineChange", None).examples(&[("name", "retrain-churn")]),
    sent(
        ".lathe.orchestrator.v1.ApplyPipelinesResponse",
        Some("PipelineApplyResult"),
    ),
    sent(".lathe.orchestrator.v1.TaskSummary", None)
        .examples(&[("kind", "command"), ("trigger_rule", "all_success")]),
    sent(".lathe.orchestrator.v1.Pipeline", None).examples(&[("name", "retrain-churn")]),
    sent(
        ".lathe.orchestrator.v1.ListPipelinesResponse",
        Some("PipelineList"),
    ),
    accepted(
        ".lathe.orchestrator.v1.TriggerRunRequest",
        "TriggerPipelineRun",
        &["project", "pipeline", "actor"],
        &[],
    )
    .examples(&[("logical_date", "2026-01-01T03:00:00Z")]),
    sent(".lathe.orchestrator.v1.TaskInstance", None).examples(&[("outputs_json", "{\"accuracy\": 0.95}")]),
    sent(".lathe.orchestrator.v1.PipelineRun", None),
    sent(".lathe.orchestrator.v1.ListRunsResponse", Some("PipelineRunList")),
    // Monitoring.
    both(".lathe.monitor.v1.FeatureCheck", None, &["column"])
        .examples(&[("column", "trip_distance"), ("threshold", "0.1")]),
    both(".lathe.monitor.v1.Webhook", None, &["url"]).examples(&[("url", "https://hooks.example.com/lathe")]),
    accepted(
        ".lathe.monitor.v1.PutMonitorRequest",
        "PutMonitor",
        &["project", "name"],
        &[],
    )
    .examples(&[("window_seconds", "3600"), ("retrain_pipeline", "retrain-churn")]),
    sent(".lathe.monitor.v1.Monitor", None).examples(&[("name", "churn-drift")]),
    sent(".lathe.monitor.v1.ListMonitorsResponse", Some("MonitorList")),
    sent(".lathe.monitor.v1.ReferenceColumn", None),
    sent(".lathe.monitor.v1.Reference", Some("MonitorReference")),
    sent(".lathe.monitor.v1.LogLabelsResponse", Some("LabelResult")),
    sent(".lathe.monitor.v1.ColumnResult", None).examples(&[("method", "wasserstein")]),
    sent(".lathe.monitor.v1.Performance", None),
    sent(".lathe.monitor.v1.WindowResult", None),
    sent(".lathe.monitor.v1.ListWindowsResponse", Some("WindowList")),
    sent(".lathe.monitor.v1.Distribution", None),
    sent(".lathe.monitor.v1.Report", Some("DriftReport")),
    sent(".lathe.monitor.v1.TriggeredRun", None),
    sent(".lathe.monitor.v1.Alert", Some("DriftAlert")),
    sent(".lathe.monitor.v1.ListAlertsResponse", Some("AlertList")),
    // Serving.
    both(".lathe.serving.v1.Challenger", None, &["alias", "mode"]).examples(&[("alias", "challenger")]),
    accepted(
        ".lathe.serving.v1.DeployRequest",
        "CreateDeployment",
        &["project"],
        &["model"],
    )
    .examples(&[("model", "churn"), ("alias", "champion")]),
    sent(".lathe.serving.v1.ServedVersion", None),
    sent(".lathe.serving.v1.Deployment", None).examples(&[("name", "churn")]),
    sent(
        ".lathe.serving.v1.ListDeploymentsResponse",
        Some("DeploymentList"),
    ),
    sent(".lathe.serving.v1.Prediction", None),
    sent(".lathe.serving.v1.PredictResponse", Some("Predictions")),
];

impl Json {
    fn configure(
        &self,
        mut builder: tonic_prost_build::Builder,
        fds: &prost_types::FileDescriptorSet,
    ) -> Result<tonic_prost_build::Builder, Box<dyn std::error::Error>> {
        let descriptor = find_message(fds, self.message)
            .ok_or_else(|| format!("build.rs JSON table: no message {}", self.message))?;
        let mut derives = Vec::new();
        if self.sent {
            derives.push("serde::Serialize");
        }
        if self.accepted {
            derives.push("serde::Deserialize");
        }
        derives.push("utoipa::ToSchema");
        builder = builder.type_attribute(self.message, format!("#[derive({})]", derives.join(", ")));
        if self.accepted {
            builder = builder.type_attribute(self.message, "#[serde(deny_unknown_fields)]");
        }
        if let Some(schema) = self.schema {
            builder = builder.type_attribute(self.message, format!("#[schema(as = {schema})]"));
        }
        for name in self
            .not_in_body
            .iter()
            .chain(self.required)
            .chain(self.examples.iter().map(|(f, _)| f))
        {
            if !descriptor.field.iter().any(|f| f.name() == *name) {
                return Err(format!("build.rs JSON table: {} has no field {name}", self.message).into());
            }
        }
        for field in &descriptor.field {
            let path = format!("{}.{}", self.message, field.name());
            let mut attributes = Vec::new();
            if self.not_in_body.contains(&field.name()) {
                attributes.push("#[serde(skip)]".to_owned());
            } else if self.accepted && !self.required.contains(&field.name()) {
                attributes.push("#[serde(default)]".to_owned());
            }
            let repeated = field.label() == prost_types::field_descriptor_proto::Label::Repeated;
            match (field.r#type(), field.type_name()) {
                (prost_types::field_descriptor_proto::Type::Enum, type_name) if !repeated => {
                    let rust = rust_path(type_name);
                    if self.sent {
                        attributes.push(format!(
                            "#[serde(serialize_with = \"crate::json::enum_field::serialize::<{rust}, _>\")]"
                        ));
                    }
                    if self.accepted {
                        attributes.push(format!(
                            "#[serde(deserialize_with = \"crate::json::enum_field::deserialize::<{rust}, _>\")]"
                        ));
                    }
                    attributes.push(format!("#[schema(value_type = {rust})]"));
                }
                (prost_types::field_descriptor_proto::Type::Message, ".google.protobuf.Timestamp") => {
                    attributes
                        .push("#[serde(serialize_with = \"crate::json::timestamp::serialize\")]".to_owned());
                    attributes.push("#[schema(value_type = Option<String>, format = DateTime)]".to_owned());
                }
                _ => {}
            }
            if let Some((_, example)) = self.examples.iter().find(|(f, _)| *f == field.name()) {
                let literal = if example.starts_with('[') {
                    format!("json!({example})")
                } else if example.parse::<f64>().is_ok() {
                    (*example).to_owned()
                } else {
                    format!("{example:?}")
                };
                attributes.push(format!("#[schema(example = {literal})]"));
            }
            for attribute in attributes {
                builder = builder.field_attribute(&path, attribute);
            }
        }
        Ok(builder)
    }
}

fn find_message<'a>(
    fds: &'a prost_types::FileDescriptorSet,
    full_name: &str,
) -> Option<&'a prost_types::DescriptorProto> {
    fds.file.iter().find_map(|file| {
        let package = format!(".{}", file.package());
        let name = full_name.strip_prefix(&package)?.strip_prefix('.')?;
        file.message_type.iter().find(|m| m.name() == name)
    })
}

/// `.lathe.registry.v1.Stage` -> `crate::registry::v1::Stage`.
fn rust_path(type_name: &str) -> String {
    let parts: Vec<&str> = type_name.trim_start_matches('.').split('.').collect();
    match parts.as_slice() {
        ["lathe", rest @ ..] => format!("crate::{}", rest.join("::")),
        _ => panic!("enum {type_name} is outside the lathe package"),
    }
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
