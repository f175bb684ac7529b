//! The MLflow server's own endpoints: liveness, version, capabilities, and the answer to a call
//! this surface does not serve.

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::{ENDPOINT_NOT_FOUND, MlflowError};
use super::request::answer;
use crate::auth;

/// The MLflow release whose REST API this surface follows; `GET /version` answers it, because
/// clients read that version as the API they may use, not as the product behind it.
pub const MLFLOW_API_VERSION: &str = "3.17.2";

/// `GET /health`: 200 `OK`, as MLflow's server answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("OK")
}

/// `GET /version`: [`MLFLOW_API_VERSION`] as text.
pub async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(MLFLOW_API_VERSION)
}

#[derive(Serialize)]
struct ServerInfo {
    store_type: &'static str,
    multipart_uploads_enabled: bool,
    multipart_downloads_enabled: bool,
}

/// `GET /api/3.0/mlflow/server-info`: what the client probes before transfers. Artifacts stream
/// through the gateway, one request per file, as on MLflow's default proxy.
pub async fn server_info(req: HttpRequest) -> Result<HttpResponse, MlflowError> {
    auth::authenticate(&req)?;
    answer(&ServerInfo {
        store_type: "SqlStore",
        multipart_uploads_enabled: false,
        multipart_downloads_enabled: false,
    })
}

/// Any other call under MLflow's paths: 404 ENDPOINT_NOT_FOUND, the code MLflow's client reads
/// as "this server does not have it" (and, for some calls, falls back on another endpoint). The
/// token is checked first, so probing reveals nothing.
pub async fn endpoint_not_found(req: HttpRequest) -> Result<HttpResponse, MlflowError> {
    auth::authenticate(&req)?;
    Err(MlflowError::new(
        ENDPOINT_NOT_FOUND,
        404,
        format!(
            "this server has no MLflow endpoint {} {}",
            req.method(),
            req.path()
        ),
    ))
}
