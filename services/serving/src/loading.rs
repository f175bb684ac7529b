//! Loading a model version for serving: where its alias points, its signature, its
//! `model.onnx` from the registry's own copy of the version's files, and the model checked and
//! warmed by the runtime. Every refusal says what to change.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lathe_common::grpc::TracedChannel;
use lathe_common::{Error, ErrorCode, Result};
use lathe_contract::registry::v1 as registry;
use lathe_contract::registry::v1::logged_model_service_client::LoggedModelServiceClient;
use lathe_contract::registry::v1::model_registry_service_client::ModelRegistryServiceClient;

use crate::runtime::{Label, Model, ModelKind};

/// The file a servable version holds.
pub const MODEL_FILE: &str = "model.onnx";

/// A version loaded and warmed, ready to answer.
pub struct Loaded {
    pub version: u64,
    pub model: Model,
    /// The signature's inputs (`view:feature`), in the model's input order.
    pub inputs: Vec<String>,
    /// The values used for an input the online store lacks, by input.
    pub defaults: HashMap<String, f64>,
    /// A classifier's classes, as text; empty for a regressor.
    pub classes: Vec<String>,
    pub loaded_time: DateTime<Utc>,
}

/// The registry calls loading needs.
#[derive(Clone)]
pub struct Registry {
    pub models: ModelRegistryServiceClient<TracedChannel>,
    pub files: LoggedModelServiceClient<TracedChannel>,
}

impl Registry {
    pub fn new(channel: TracedChannel) -> Registry {
        Registry {
            models: ModelRegistryServiceClient::new(channel.clone()),
            files: LoggedModelServiceClient::new(channel),
        }
    }

    /// The version `alias` of `model` points at now.
    pub async fn version_of(
        &self,
        project: &str,
        model: &str,
        alias: &str,
        token: Option<&str>,
    ) -> Result<registry::ModelVersion> {
        let request = authorized(
            registry::AliasRef {
                project: project.to_owned(),
                model: model.to_owned(),
                alias: alias.to_owned(),
            },
            token,
        )?;
        let found = self.models.clone().get_version_by_alias(request).await;
        Ok(found.map_err(Error::from)?.into_inner())
    }

    /// Loads `version` for serving: its signature must name its inputs, its files must hold
    /// a `model.onnx` that the runtime can run on exactly that many inputs.
    pub async fn load(&self, version: &registry::ModelVersion, token: Option<&str>) -> Result<Arc<Loaded>> {
        let what = format!("version {} of model '{}'", version.version, version.model);
        let signature = version.signature.clone().unwrap_or_default();
        if signature.inputs.is_empty() {
            return Err(unservable(format!(
                "{what} has no signature inputs: register it with a signature naming the features it takes \
                 (`view:feature`), in the model's input order"
            )));
        }
        let path = self.model_file(version, token).await?.ok_or_else(|| {
            unservable(format!(
                "{what} has no {MODEL_FILE} among its files: export the model to ONNX (docs/serving.md) and \
                 register a version whose files hold {MODEL_FILE}"
            ))
        })?;
        let bytes = self.download(version, &path, token).await?;
        let width = signature.inputs.len();
        let model = tokio::task::spawn_blocking(move || Model::load_with_features(&bytes, width))
            .await
            .map_err(|err| Error::internal(format!("model loading stopped: {err}")))?
            .map_err(|err| unservable(format!("{what} cannot be served: {err}")))?;
        let classes = match model.kind() {
            ModelKind::Classifier { classes } => classes.iter().map(Label::to_string).collect(),
            ModelKind::Regressor => Vec::new(),
        };
        Ok(Arc::new(Loaded {
            version: version.version,
            model,
            inputs: signature.inputs,
            defaults: signature.defaults,
            classes,
            loaded_time: Utc::now(),
        }))
    }

    /// The path of the version's `model.onnx`: at the root of its files, or in a directory
    /// at the root (`model/model.onnx`).
    async fn model_file(
        &self,
        version: &registry::ModelVersion,
        token: Option<&str>,
    ) -> Result<Option<String>> {
        let root = self.list(version, "", token).await?;
        if root.iter().any(|a| !a.is_dir && a.path == MODEL_FILE) {
            return Ok(Some(MODEL_FILE.to_owned()));
        }
        for dir in root.iter().filter(|a| a.is_dir) {
            let inside = self.list(version, &dir.path, token).await?;
            let wanted = format!("{}/{MODEL_FILE}", dir.path.trim_end_matches('/'));
            if inside.iter().any(|a| !a.is_dir && a.path == wanted) {
                return Ok(Some(wanted));
            }
        }
        Ok(None)
    }

    async fn list(
        &self,
        version: &registry::ModelVersion,
        path: &str,
        token: Option<&str>,
    ) -> Result<Vec<registry::Artifact>> {
        let request = authorized(file_ref(version, path), token)?;
        let listed = self.files.clone().list_model_version_artifacts(request).await;
        Ok(listed.map_err(Error::from)?.into_inner().artifacts)
    }

    async fn download(
        &self,
        version: &registry::ModelVersion,
        path: &str,
        token: Option<&str>,
    ) -> Result<Vec<u8>> {
        use registry::download_artifact_response::Part;
        let request = authorized(file_ref(version, path), token)?;
        let mut stream = self
            .files
            .clone()
            .download_model_version_artifact(request)
            .await
            .map_err(Error::from)?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await.map_err(Error::from)? {
            if let Some(Part::Chunk(chunk)) = message.part {
                bytes.extend_from_slice(&chunk);
            }
        }
        Ok(bytes)
    }
}

fn file_ref(version: &registry::ModelVersion, path: &str) -> registry::ModelVersionArtifactRef {
    registry::ModelVersionArtifactRef {
        project: version.project.clone(),
        model: version.model.clone(),
        version: version.version,
        path: path.to_owned(),
    }
}

/// `message` as a request, with `token` as its bearer when given (background work, which has
/// no caller to forward); otherwise the caller in scope is forwarded by the channel.
fn authorized<T>(message: T, token: Option<&str>) -> Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Error::internal("a signed token is not a valid header"))?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// A version that cannot be served: a precondition the user fixes in the registry.
pub fn unservable(message: String) -> Error {
    Error::new(ErrorCode::FailedPrecondition, message)
}
