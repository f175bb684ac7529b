//! The built-in task kinds: calls to Lathe's services over gRPC, made as the run (a
//! short-lived editor token for the run's project, signed by the worker), with the services'
//! answers as the task's outputs. `registry.promote` goes through the registry's promotion
//! gates like any other transition: a gate that does not hold fails the task with the unmet
//! conditions.

use std::sync::Arc;
use std::time::Duration;

use lathe_common::access::{CALLER, Caller};
use lathe_common::auth::{Role, Signer};
use lathe_common::grpc::TracedChannel;
use lathe_contract::features::v1 as features;
use lathe_contract::features::v1::feature_service_client::FeatureServiceClient;
use lathe_contract::monitor::v1 as monitor;
use lathe_contract::monitor::v1::monitor_service_client::MonitorServiceClient;
use lathe_contract::registry::v1 as registry;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Map, Value as Json, json};

use super::claims::{Claimed, Outcome};
use super::locations::{self, Located};
use crate::definition::{Context, FeaturesHistorical, Pipeline, TaskKind, Template};

/// What built-in tasks reach: the services, the orchestrator's object store (entity frames
/// in, training sets out), and the key that signs the run's token.
#[derive(Clone)]
pub struct Services {
    pub registry: TracedChannel,
    pub features: TracedChannel,
    pub monitor: TracedChannel,
    pub objects: Arc<dyn ObjectStore>,
    /// The URL `objects` was opened from: outputs name training sets by it.
    pub objects_url: String,
    pub signer: Option<Arc<Signer>>,
}

/// Datasets travel to the monitor in one message; 512 MiB bounds them.
const MAX_DATASET_BYTES: usize = 512 * 1024 * 1024;

/// Runs a built-in task of `pipeline`.
pub async fn run(
    kind: &TaskKind,
    pipeline: &Pipeline,
    context: &Context,
    claimed: &Claimed,
    services: Option<&Services>,
) -> Outcome {
    let Some(services) = services else {
        return Outcome::Failure("this worker has no service endpoints for built-in tasks".to_owned());
    };
    let Some(signer) = &services.signer else {
        return Outcome::Failure("this worker has no signing key to call the services as the run".to_owned());
    };
    let ttl = Duration::from_secs(3600);
    let subject = format!("pipeline-run:{}", claimed.run_id);
    let (token, claims) = match signer.sign_claims(
        &subject,
        &[Role::Editor],
        std::slice::from_ref(&claimed.project),
        ttl,
    ) {
        Ok(signed) => signed,
        Err(err) => return Outcome::Failure(format!("cannot sign the run's token: {err}")),
    };
    let call = Call {
        services,
        pipeline,
        context,
        claimed,
    };
    let result = CALLER.scope(Caller::new(claims, &token), call.run(kind)).await;
    match result {
        Ok(outputs) => Outcome::Success(outputs),
        Err(message) => Outcome::Failure(message),
    }
}

struct Call<'a> {
    services: &'a Services,
    pipeline: &'a Pipeline,
    context: &'a Context,
    claimed: &'a Claimed,
}

type Answer = std::result::Result<Map<String, Json>, String>;

fn object(value: Json) -> Map<String, Json> {
    if let Json::Object(map) = value {
        map
    } else {
        Map::new()
    }
}

fn refused(status: &tonic::Status) -> String {
    format!("{}: {}", code_name(status.code()), status.message())
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::NotFound => "not found",
        tonic::Code::InvalidArgument => "invalid",
        tonic::Code::FailedPrecondition => "refused",
        tonic::Code::PermissionDenied => "not allowed",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::Ok
        | tonic::Code::Cancelled
        | tonic::Code::Unknown
        | tonic::Code::DeadlineExceeded
        | tonic::Code::ResourceExhausted
        | tonic::Code::Aborted
        | tonic::Code::OutOfRange
        | tonic::Code::Unimplemented
        | tonic::Code::Internal
        | tonic::Code::DataLoss
        | tonic::Code::Unauthenticated => "failed",
    }
}

impl Call<'_> {
    fn render(&self, template: &Template) -> std::result::Result<String, String> {
        template
            .render(self.context)
            .map_err(|e| format!("cannot render `{}`: {e}", template.source))
    }

    /// An optional argument rendered; empty when not given.
    fn render_or_empty(&self, template: Option<&Template>) -> std::result::Result<String, String> {
        template.map_or_else(|| Ok(String::new()), |t| self.render(t))
    }

    fn render_all(&self, templates: &[Template]) -> std::result::Result<Vec<String>, String> {
        templates.iter().map(|t| self.render(t)).collect()
    }

    /// A version number from a rendered template.
    fn version(&self, template: &Template) -> std::result::Result<u64, String> {
        let text = self.render(template)?;
        text.trim()
            .parse()
            .map_err(|_| format!("version: '{text}' is not a version number"))
    }

    /// Who the registry records: the run, with the editor role its tasks have.
    fn actor(&self) -> registry::Actor {
        registry::Actor {
            subject: format!("pipeline-run:{}", self.claimed.run_id),
            role: Role::Editor.as_str().to_owned(),
        }
    }

    async fn run(&self, kind: &TaskKind) -> Answer {
        let project = self.claimed.project.clone();
        match kind {
            TaskKind::Command(_) => Err("a command task is not built in".to_owned()),
            TaskKind::RegistryRegister(spec) => {
                let tags = spec
                    .tags
                    .iter()
                    .map(|(k, v)| self.render(v).map(|v| (k.clone(), v)))
                    .collect::<std::result::Result<_, _>>()?;
                let request = registry::CreateModelVersionRequest {
                    project,
                    model: self.render(&spec.model)?,
                    run_id: self.render(&spec.run_id)?,
                    artifact_path: self.render(&spec.artifact_path)?,
                    description: self.render_or_empty(spec.description.as_ref())?,
                    tags,
                    signature: spec
                        .signature
                        .as_ref()
                        .map(|signature| {
                            Ok::<_, String>(registry::Signature {
                                inputs: self.render_all(&signature.inputs)?,
                                output: self.render_or_empty(signature.output.as_ref())?,
                                defaults: signature.defaults.clone().into_iter().collect(),
                            })
                        })
                        .transpose()?,
                    lineage: Some(self.lineage()?),
                    ..Default::default()
                };
                let version = ModelRegistryServiceClient::new(self.services.registry.clone())
                    .create_model_version(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                Ok(object(
                    json!({"model": version.model, "version": version.version}),
                ))
            }
            TaskKind::RegistryPromote(spec) => {
                let version = self.version(&spec.version)?;
                let request = registry::TransitionStageRequest {
                    project,
                    model: self.render(&spec.model)?,
                    version,
                    stage: spec.stage as i32,
                    archive_existing: spec.archive_existing,
                    reason: self.render_or_empty(spec.reason.as_ref())?,
                    actor: Some(self.actor()),
                };
                let moved = ModelRegistryServiceClient::new(self.services.registry.clone())
                    .transition_stage(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                Ok(object(json!({
                    "model": moved.model,
                    "version": moved.version,
                    "stage": moved.stage().name(),
                })))
            }
            TaskKind::RegistrySetAlias(spec) => {
                let model = self.render(&spec.model)?;
                let alias = self.render(&spec.alias)?;
                let request = registry::SetAliasRequest {
                    project,
                    model: model.clone(),
                    alias: alias.clone(),
                    version: self.version(&spec.version)?,
                    reason: self.render_or_empty(spec.reason.as_ref())?,
                    actor: Some(self.actor()),
                };
                let pointed = ModelRegistryServiceClient::new(self.services.registry.clone())
                    .set_alias(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                Ok(object(json!({
                    "model": model,
                    "alias": alias,
                    "version": pointed.version,
                })))
            }
            TaskKind::FeaturesHistorical(spec) => {
                let entities = self.render(&spec.entities)?;
                let (frame, format) = self.read_entities(&entities).await?;
                let request = features::GetHistoricalFeaturesRequest {
                    project,
                    entity_frame: frame,
                    format: format as i32,
                    features: self.render_all(&spec.features)?,
                    feature_service: self.render_or_empty(spec.feature_service.as_ref())?,
                    full_feature_names: spec.full_feature_names,
                };
                let answer = FeatureServiceClient::new(self.services.features.clone())
                    .max_decoding_message_size(usize::MAX)
                    .get_historical_features(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                let output = self.render(&spec.output)?;
                let key = format!(
                    "runs/{}/{}/artifacts/{}",
                    self.claimed.run_id, self.claimed.task_id, output
                );
                self.services
                    .objects
                    .put(&ObjectPath::from(key.as_str()), PutPayload::from(answer.parquet))
                    .await
                    .map_err(|e| format!("cannot store the training set: {e}"))?;
                Ok(object(json!({
                    "path": self.location(&key),
                    "rows": answer.rows,
                    "columns": answer.columns,
                    "feature_views": answer.feature_views,
                })))
            }
            TaskKind::FeaturesMaterialize(spec) => {
                let time =
                    |t: &Option<Template>| -> std::result::Result<Option<prost_types::Timestamp>, String> {
                        let Some(t) = t else { return Ok(None) };
                        let text = self.render(t)?;
                        let parsed = chrono::DateTime::parse_from_rfc3339(text.trim())
                            .map_err(|e| format!("'{text}' is not an RFC 3339 time: {e}"))?;
                        Ok(Some(prost_types::Timestamp {
                            seconds: parsed.timestamp(),
                            nanos: i32::try_from(parsed.timestamp_subsec_nanos()).unwrap_or(0),
                        }))
                    };
                let request = features::MaterializeRequest {
                    project,
                    feature_views: self.render_all(&spec.feature_views)?,
                    start: time(&spec.start)?,
                    end: time(&spec.end)?,
                    incremental: spec.incremental,
                };
                let mut events = FeatureServiceClient::new(self.services.features.clone())
                    .materialize(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                let mut views = Vec::new();
                while let Some(event) = events.message().await.map_err(|s| refused(&s))? {
                    if let Some(features::materialize_event::Event::Done(done)) = event.event {
                        views = done
                            .views
                            .into_iter()
                            .map(|v| json!({"feature_view": v.feature_view, "entities_written": v.entities_written, "rows_scanned": v.rows_scanned}))
                            .collect();
                    }
                }
                Ok(object(json!({ "views": views })))
            }
            TaskKind::MonitorSetReference(spec) => {
                let dataset = self.render(&spec.dataset)?;
                let parquet = self.read_dataset(dataset.trim()).await?;
                let request = monitor::SetReferenceRequest {
                    project,
                    monitor: self.render(&spec.monitor)?,
                    source: Some(monitor::set_reference_request::Source::Parquet(parquet)),
                };
                let reference = self
                    .monitor_client()
                    .set_reference(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                Ok(object(json!({
                    "monitor": reference.monitor,
                    "rows": reference.rows,
                    "columns": reference.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                })))
            }
            TaskKind::MonitorCheck(spec) => {
                let name = self.render(&spec.monitor)?;
                let request = monitor::CheckWindowRequest {
                    project,
                    monitor: name.clone(),
                    window: None,
                };
                let result = self
                    .monitor_client()
                    .check_window(request)
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                let drifted: Vec<&str> = result
                    .columns
                    .iter()
                    .filter(|c| c.drifted)
                    .map(|c| c.column.as_str())
                    .collect();
                if spec.fail_on_alert && result.drifted {
                    return Err(format!(
                        "monitor '{name}' found drift in {} of {} columns ({}); alert {}",
                        result.drifted_columns,
                        result.columns.len(),
                        drifted.join(", "),
                        result.alert_id
                    ));
                }
                Ok(object(json!({
                    "drifted": result.drifted,
                    "drifted_columns": drifted,
                    "drifted_share": result.drifted_share,
                    "rows": result.rows,
                    "alert_id": result.alert_id,
                    "window_start": result.window_start.map(|t| t.seconds * 1000),
                })))
            }
        }
    }

    /// What a registered version was trained from: this run, and the training set, feature
    /// service or feature views of an upstream `features.historical` task (the first written,
    /// when there are several).
    fn lineage(&self) -> std::result::Result<registry::Lineage, String> {
        let historical = self
            .pipeline
            .upstream_of(&self.claimed.task_id)
            .into_iter()
            .find_map(|task| match &task.kind {
                TaskKind::FeaturesHistorical(spec) => {
                    let outputs = self.context.outputs.get(&task.id)?;
                    Some((spec, outputs))
                }
                TaskKind::Command(_)
                | TaskKind::FeaturesMaterialize(_)
                | TaskKind::RegistryRegister(_)
                | TaskKind::RegistryPromote(_)
                | TaskKind::RegistrySetAlias(_)
                | TaskKind::MonitorSetReference(_)
                | TaskKind::MonitorCheck(_) => None,
            });
        let mut lineage = registry::Lineage {
            orchestrator_run: self.claimed.run_id.clone(),
            ..Default::default()
        };
        match historical {
            Some((spec, outputs)) => {
                lineage.training_dataset = outputs
                    .get("path")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (lineage.feature_service, lineage.feature_views) = self.features_of(spec, outputs)?;
            }
            // A training set some other task of the run named.
            None => {
                lineage.training_dataset = self
                    .context
                    .outputs
                    .values()
                    .filter_map(|o| o.get("path").and_then(Json::as_str))
                    .find(|p| p.ends_with(".parquet"))
                    .unwrap_or_default()
                    .to_owned();
            }
        }
        Ok(lineage)
    }

    /// The feature service a `features.historical` task read (if any) and the views its
    /// features came from. The views are those the feature service answered with, in the
    /// task's outputs: a feature service's views as they were when the training set was built,
    /// even if it changed since. Outputs recorded before the answer named them give the
    /// distinct views of the task's `view:feature` list, in the order written, and none for a
    /// feature service.
    fn features_of(
        &self,
        spec: &FeaturesHistorical,
        outputs: &Map<String, Json>,
    ) -> std::result::Result<(String, Vec<String>), String> {
        let service = self.render_or_empty(spec.feature_service.as_ref())?;
        if let Some(answered) = outputs.get("feature_views").and_then(Json::as_array) {
            let views = answered
                .iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect();
            return Ok((service, views));
        }
        if !service.is_empty() {
            return Ok((service, Vec::new()));
        }
        let mut views: Vec<String> = Vec::new();
        for feature in self.render_all(&spec.features)? {
            let view = feature.split_once(':').map_or(feature.as_str(), |(view, _)| view);
            if !views.iter().any(|v| v == view) {
                views.push(view.to_owned());
            }
        }
        Ok((String::new(), views))
    }

    /// Where an object of the orchestrator's store is, for user code.
    fn location(&self, key: &str) -> String {
        locations::location(&self.services.objects_url, key)
    }

    fn monitor_client(&self) -> MonitorServiceClient<TracedChannel> {
        MonitorServiceClient::new(self.services.monitor.clone())
            .max_encoding_message_size(MAX_DATASET_BYTES)
            .max_decoding_message_size(MAX_DATASET_BYTES)
    }

    /// A Parquet dataset for the monitor: an absolute local path, a location as an upstream
    /// task's output names it (the orchestrator's store URL and key), or a key in the
    /// orchestrator's object store.
    async fn read_dataset(&self, dataset: &str) -> std::result::Result<bytes::Bytes, String> {
        let key = match locations::resolve(&self.services.objects_url, dataset) {
            Located::Key(key) => key,
            Located::LocalFile(path) => {
                return tokio::fs::read(path)
                    .await
                    .map(bytes::Bytes::from)
                    .map_err(|e| format!("cannot read the dataset {dataset}: {e}"));
            }
        };
        self.services
            .objects
            .get(&ObjectPath::from(key))
            .await
            .map_err(|e| format!("cannot read the dataset '{dataset}' from the object store: {e}"))?
            .bytes()
            .await
            .map_err(|e| format!("cannot read the dataset '{dataset}': {e}"))
    }

    /// The entity frame: an absolute local path, a key in the orchestrator's object store, or
    /// a location as an upstream task's output names it; Parquet, or CSV when the name ends
    /// in `.csv`.
    async fn read_entities(
        &self,
        entities: &str,
    ) -> std::result::Result<(bytes::Bytes, features::EntityFrameFormat), String> {
        let format = if entities.ends_with(".csv") {
            features::EntityFrameFormat::Csv
        } else {
            features::EntityFrameFormat::Parquet
        };
        let frame = match locations::resolve(&self.services.objects_url, entities) {
            Located::LocalFile(path) => tokio::fs::read(path)
                .await
                .map(bytes::Bytes::from)
                .map_err(|e| format!("cannot read the entity frame {entities}: {e}"))?,
            Located::Key(key) => self
                .services
                .objects
                .get(&ObjectPath::from(key))
                .await
                .map_err(|e| format!("cannot read the entity frame '{entities}' from the object store: {e}"))?
                .bytes()
                .await
                .map_err(|e| format!("cannot read the entity frame '{entities}': {e}"))?,
        };
        Ok((frame, format))
    }
}
