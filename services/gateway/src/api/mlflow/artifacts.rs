//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`) on the registry's run
//! artifacts. A run's `artifact_uri` is `mlflow-artifacts:/<experiment>/<run>/artifacts`, so the
//! client's paths are `<experiment>/<run>/artifacts/<path in the run's tree>`. Uploads and
//! downloads stream through in chunks of at most 1 MiB, whatever the file's size; an upload goes
//! through the same code as Lathe's own upload route (`api::artifacts::stream_upload`).

use actix_web::body::SizedStream;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::download_artifact_response::Part as DownloadPart;
use serde::Serialize;

use super::error::MlflowError;
use super::request::{Mlflow, QueryFields, answer, empty};
use crate::api::Services;
use crate::auth::{Editor, Viewer};

type Reply = Result<HttpResponse, MlflowError>;

/// Where a proxy path points: a run, and a path in its artifact tree (empty for the root).
#[derive(Debug, PartialEq)]
pub struct RunArtifact {
    pub experiment_id: String,
    pub run_id: String,
    pub path: String,
}

/// Reads `<experiment>/<run>/artifacts[/<path>]`; `None` for a path of another form (a logged
/// model's `<experiment>/models/<id>/artifacts/...`, which the registry does not keep). A `..`
/// segment or an absolute path is MLflow's 400 "Invalid path".
pub fn locate(path: &str) -> Result<Option<RunArtifact>, MlflowError> {
    if path.starts_with('/') || path.split('/').any(|segment| segment == "..") || path.contains('\\') {
        return Err(MlflowError::invalid("Invalid path"));
    }
    let mut segments = path.trim_end_matches('/').splitn(4, '/');
    let (Some(experiment_id), Some(run_id), Some("artifacts")) =
        (segments.next(), segments.next(), segments.next())
    else {
        return Ok(None);
    };
    if experiment_id.is_empty() || run_id.is_empty() {
        return Ok(None);
    }
    Ok(Some(RunArtifact {
        experiment_id: experiment_id.to_owned(),
        run_id: run_id.to_owned(),
        path: segments.next().unwrap_or("").to_owned(),
    }))
}

fn file_location(req: &HttpRequest) -> Result<(String, RunArtifact), MlflowError> {
    let path = req.match_info().get("path").unwrap_or("").to_owned();
    match locate(&path)? {
        Some(location) if !location.path.is_empty() => Ok((path, location)),
        Some(_) | None => Err(MlflowError::not_found(format!(
            "No such artifact: '{path}': artifacts are kept per run, under <experiment_id>/<run_id>/artifacts/"
        ))),
    }
}

/// Stores the raw request body as an artifact of the run (editor); 200 with an empty body.
pub async fn upload(
    access: Mlflow<Editor>,
    req: HttpRequest,
    payload: web::Payload,
    backends: Services,
) -> Reply {
    let (_, location) = file_location(&req)?;
    let header = pb::UploadArtifactHeader {
        project: access.project,
        run_id: location.run_id,
        path: location.path,
        expected_sha256: String::new(),
    };
    crate::api::artifacts::stream_upload(&backends, header, payload).await?;
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
    let request = pb::ArtifactRef {
        project: access.project,
        run_id: location.run_id,
        path: location.path,
    };
    let mut stream = backends
        .tracking()
        .download_artifact(request)
        .await
        .map_err(no_such_artifact(&path))?
        .into_inner();
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
    let request = pb::ListArtifactsRequest {
        project: access.project,
        run_id: location.run_id,
        path: location.path.clone(),
    };
    let listed = match backends.tracking().list_artifacts(request).await {
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
    fn locates_run_artifacts_and_refuses_traversal() {
        let found = locate("6/abc/artifacts/plots/roc.png").unwrap().unwrap();
        assert_eq!(
            found,
            RunArtifact {
                experiment_id: "6".to_owned(),
                run_id: "abc".to_owned(),
                path: "plots/roc.png".to_owned(),
            }
        );
        assert_eq!(locate("6/abc/artifacts").unwrap().unwrap().path, "");
        assert_eq!(locate("6/abc/artifacts/").unwrap().unwrap().path, "");
        assert!(locate("6/models/m-1/artifacts/x").unwrap().is_none());
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
