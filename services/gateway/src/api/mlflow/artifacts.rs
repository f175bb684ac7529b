//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`) on the registry's
//! artifact trees. A run's `artifact_uri` is `mlflow-artifacts:/<experiment>/<run>/artifacts`, a
//! logged model's `mlflow-artifacts:/<experiment>/models/<model_id>/artifacts`, and a model
//! version's own copy (what `get-download-uri` answers) is
//! `mlflow-artifacts:/model-versions/<name>/<version>/artifacts`, read-only. Uploads and
//! downloads stream through in chunks of at most 1 MiB, whatever the file's size; an upload goes
//! through the same code as Lathe's own upload route (`api::artifacts::stream_upload_to`).

use actix_web::body::SizedStream;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::download_artifact_response::Part as DownloadPart;
use serde::Serialize;

use super::error::MlflowError;
use super::request::{Mlflow, QueryFields, answer, empty};
use crate::api::Services;
use crate::api::artifacts::{LOGGED_MODEL_UPLOAD, RUN_UPLOAD, stream_upload_to};
use crate::auth::{Editor, Viewer};

type Reply = Result<HttpResponse, MlflowError>;

/// The first segment of a model version's proxy paths.
const VERSIONS_ROOT: &str = "model-versions";

/// Whose artifact tree a proxy path is in.
#[derive(Debug, PartialEq)]
pub enum Tree {
    /// `<experiment>/<run>/artifacts`.
    Run { experiment_id: String, run_id: String },
    /// `<experiment>/models/<model_id>/artifacts`.
    LoggedModel { experiment_id: String, model_id: String },
    /// `model-versions/<name>/<version>/artifacts`: a version's own copy, read-only.
    Version { model: String, version: u64 },
}

/// Where a proxy path points: a tree, and a path in it (empty for the root).
#[derive(Debug, PartialEq)]
pub struct Location {
    pub tree: Tree,
    pub path: String,
}

/// The proxy path of the root of a model version's own copy.
pub fn version_artifacts_root(model: &str, version: u64) -> String {
    format!("{VERSIONS_ROOT}/{model}/{version}/artifacts")
}

/// Reads a proxy path; `None` for a path of no known form. A `..` segment or an absolute path
/// is MLflow's 400 "Invalid path".
pub fn locate(path: &str) -> Result<Option<Location>, MlflowError> {
    if path.starts_with('/') || path.split('/').any(|segment| segment == "..") || path.contains('\\') {
        return Err(MlflowError::invalid("Invalid path"));
    }
    let segments: Vec<&str> = path.trim_end_matches('/').splitn(5, '/').collect();
    let rest = |from: usize| -> String {
        path.trim_end_matches('/')
            .splitn(from + 1, '/')
            .nth(from)
            .unwrap_or("")
            .to_owned()
    };
    let tree_and_path = match segments.as_slice() {
        [VERSIONS_ROOT, model, version, "artifacts", ..] if !model.is_empty() => match version.parse() {
            Ok(version) => Some((
                Tree::Version {
                    model: (*model).to_owned(),
                    version,
                },
                rest(4),
            )),
            Err(_) => None,
        },
        [experiment_id, "models", model_id, "artifacts", ..]
            if !experiment_id.is_empty() && model_id.starts_with("m-") =>
        {
            Some((
                Tree::LoggedModel {
                    experiment_id: (*experiment_id).to_owned(),
                    model_id: (*model_id).to_owned(),
                },
                rest(4),
            ))
        }
        [experiment_id, run_id, "artifacts", ..] if !experiment_id.is_empty() && !run_id.is_empty() => {
            Some((
                Tree::Run {
                    experiment_id: (*experiment_id).to_owned(),
                    run_id: (*run_id).to_owned(),
                },
                rest(3),
            ))
        }
        _ => None,
    };
    Ok(tree_and_path.map(|(tree, path)| Location { tree, path }))
}

fn file_location(req: &HttpRequest) -> Result<(String, Location), MlflowError> {
    let path = req.match_info().get("path").unwrap_or("").to_owned();
    match locate(&path)? {
        Some(location) if !location.path.is_empty() => Ok((path, location)),
        Some(_) | None => Err(MlflowError::not_found(format!(
            "No such artifact: '{path}': artifacts are kept under <experiment_id>/<run_id>/artifacts/, \
             <experiment_id>/models/<model_id>/artifacts/ or model-versions/<name>/<version>/artifacts/"
        ))),
    }
}

/// Stores the raw request body as an artifact of the run or logged model (editor); 200 with an
/// empty body. A model version's copy is read-only.
pub async fn upload(
    access: Mlflow<Editor>,
    req: HttpRequest,
    payload: web::Payload,
    backends: Services,
) -> Reply {
    let (path, location) = file_location(&req)?;
    let (method, owner_id) = match location.tree {
        Tree::Run { run_id, .. } => (RUN_UPLOAD, run_id),
        Tree::LoggedModel { model_id, .. } => (LOGGED_MODEL_UPLOAD, model_id),
        Tree::Version { .. } => {
            return Err(MlflowError::invalid(format!(
                "'{path}' is a model version's copy of its files, which never changes"
            )));
        }
    };
    // For a logged model, field 2 of the header is its id (the messages share their layout).
    let header = pb::UploadArtifactHeader {
        project: access.project,
        run_id: owner_id,
        path: location.path,
        expected_sha256: String::new(),
    };
    stream_upload_to(&backends, method, header, payload).await?;
    Ok(HttpResponse::Ok().finish())
}

/// A missing artifact in MLflow's words.
fn no_such_artifact(path: &str) -> impl Fn(tonic::Status) -> MlflowError + '_ {
    move |status| match MlflowError::from(status) {
        err if err.status == 404 => MlflowError::not_found(format!("No such artifact: '{path}'")),
        err => err,
    }
}

/// The content of an artifact, streamed, with a `Content-Type` by its extension.
pub async fn download(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let (path, location) = file_location(&req)?;
    let project = access.project;
    let started = match location.tree {
        Tree::Run { run_id, .. } => {
            let request = pb::ArtifactRef {
                project,
                run_id,
                path: location.path,
            };
            backends.tracking().download_artifact(request).await
        }
        Tree::LoggedModel { model_id, .. } => {
            let request = pb::LoggedModelArtifactRef {
                project,
                model_id,
                path: location.path,
            };
            backends
                .logged_models()
                .download_logged_model_artifact(request)
                .await
        }
        Tree::Version { model, version } => {
            let request = pb::ModelVersionArtifactRef {
                project,
                model,
                version,
                path: location.path,
            };
            backends
                .logged_models()
                .download_model_version_artifact(request)
                .await
        }
    };
    let mut stream = started.map_err(no_such_artifact(&path))?.into_inner();
    // Errors such as a missing artifact arrive before the metadata.
    let metadata = match stream.message().await.map_err(no_such_artifact(&path))? {
        Some(pb::DownloadArtifactResponse {
            part: Some(DownloadPart::Metadata(metadata)),
        }) => metadata,
        _ => {
            return Err(
                lathe_common::Error::internal("artifact download did not start with its metadata").into(),
            );
        }
    };
    let body = stream.map(|message| match message {
        Ok(pb::DownloadArtifactResponse {
            part: Some(DownloadPart::Chunk(data)),
        }) => Ok(data),
        Ok(_) => Err(tonic::Status::internal("artifact download sent metadata twice")),
        Err(status) => {
            tracing::warn!(error = %status, "artifact download broke off");
            Err(status)
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(content_type(&path))
        .body(SizedStream::new(metadata.size, body)))
}

/// The `Content-Type` MLflow's server would guess from the file name.
fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map_or("", |(_, ext)| ext)
        .to_ascii_lowercase();
    match extension.as_str() {
        "txt" | "log" | "md" | "yaml" | "yml" | "py" | "cfg" | "ini" | "toml" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[derive(Serialize)]
struct FileInfo {
    path: String,
    is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_size: Option<u64>,
}

#[derive(Serialize)]
struct ListAnswer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileInfo>,
}

/// The entries of one directory, with paths relative to it; a missing directory is `{}`.
pub async fn list(access: Mlflow<Viewer>, req: HttpRequest, backends: Services) -> Reply {
    let query = QueryFields::of(&req)?;
    let Some(location) = locate(query.get("path").unwrap_or(""))? else {
        return empty();
    };
    let project = access.project;
    let dir = location.path.clone();
    let listed = match location.tree {
        Tree::Run { run_id, .. } => {
            let request = pb::ListArtifactsRequest {
                project,
                run_id,
                path: dir,
            };
            backends.tracking().list_artifacts(request).await
        }
        Tree::LoggedModel { model_id, .. } => {
            let request = pb::LoggedModelArtifactRef {
                project,
                model_id,
                path: dir,
            };
            backends
                .logged_models()
                .list_logged_model_artifacts(request)
                .await
        }
        Tree::Version { model, version } => {
            let request = pb::ModelVersionArtifactRef {
                project,
                model,
                version,
                path: dir,
            };
            backends
                .logged_models()
                .list_model_version_artifacts(request)
                .await
        }
    };
    let listed = match listed {
        Ok(listed) => listed.into_inner(),
        Err(status) => {
            let err = MlflowError::from(status);
            return if err.status == 404 { empty() } else { Err(err) };
        }
    };
    let prefix = if location.path.is_empty() {
        String::new()
    } else {
        format!("{}/", location.path)
    };
    let files = listed
        .artifacts
        .into_iter()
        .map(|artifact| FileInfo {
            path: artifact
                .path
                .strip_prefix(&prefix)
                .unwrap_or(&artifact.path)
                .to_owned(),
            file_size: (!artifact.is_dir).then_some(artifact.size),
            is_dir: artifact.is_dir,
        })
        .collect();
    answer(&ListAnswer { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_run_logged_model_and_version_artifacts_and_refuses_traversal() {
        let found = locate("6/abc/artifacts/plots/roc.png").unwrap().unwrap();
        assert_eq!(
            found,
            Location {
                tree: Tree::Run {
                    experiment_id: "6".to_owned(),
                    run_id: "abc".to_owned(),
                },
                path: "plots/roc.png".to_owned(),
            }
        );
        assert_eq!(locate("6/abc/artifacts").unwrap().unwrap().path, "");
        assert_eq!(locate("6/abc/artifacts/").unwrap().unwrap().path, "");
        assert_eq!(
            locate("6/models/m-1/artifacts/MLmodel").unwrap().unwrap(),
            Location {
                tree: Tree::LoggedModel {
                    experiment_id: "6".to_owned(),
                    model_id: "m-1".to_owned(),
                },
                path: "MLmodel".to_owned(),
            }
        );
        assert_eq!(
            locate("model-versions/churn/3/artifacts/model/MLmodel")
                .unwrap()
                .unwrap(),
            Location {
                tree: Tree::Version {
                    model: "churn".to_owned(),
                    version: 3,
                },
                path: "model/MLmodel".to_owned(),
            }
        );
        assert_eq!(
            locate(&version_artifacts_root("churn", 3)).unwrap().unwrap().path,
            ""
        );
        assert!(locate("model-versions/churn/x/artifacts").unwrap().is_none());
        assert!(locate("6").unwrap().is_none());
        for bad in [
            "6/abc/artifacts/../../etc/passwd",
            "/etc/passwd",
            "6/abc/artifacts/a/..",
        ] {
            let err = locate(bad).unwrap_err();
            assert_eq!(
                (err.code, err.status, err.message.as_str()),
                ("INVALID_PARAMETER_VALUE", 400, "Invalid path")
            );
        }
    }
}
