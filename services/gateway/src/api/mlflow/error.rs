//! MLflow's error body, `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}`, and the one
//! table from Lathe's [`ErrorCode`]s to MLflow's codes and statuses. The MLflow client branches on
//! `error_code` and retries every 5xx for minutes, so a client error must never become a 5xx.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use lathe_common::{Error, ErrorCode};
use serde::Serialize;

use crate::error::ApiError;

/// An error answered in MLflow's shape.
#[derive(Debug)]
pub struct MlflowError {
    /// MLflow's `ErrorCode` name, e.g. `RESOURCE_DOES_NOT_EXIST`.
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

pub const RESOURCE_DOES_NOT_EXIST: &str = "RESOURCE_DOES_NOT_EXIST";
pub const RESOURCE_ALREADY_EXISTS: &str = "RESOURCE_ALREADY_EXISTS";
pub const INVALID_PARAMETER_VALUE: &str = "INVALID_PARAMETER_VALUE";
pub const ENDPOINT_NOT_FOUND: &str = "ENDPOINT_NOT_FOUND";

/// MLflow's code and HTTP status for each Lathe [`ErrorCode`]; the statuses are those of
/// MLflow's `ERROR_CODE_TO_HTTP_STATUS`. A failed precondition (a deleted experiment or run, a
/// promotion gate) is INVALID_PARAMETER_VALUE, as MLflow answers a write to a deleted run; a
/// body over the size limit is INVALID_PARAMETER_VALUE too, since MLflow has no 413.
pub fn mlflow_code(code: ErrorCode) -> (&'static str, u16) {
    match code {
        ErrorCode::NotFound => (RESOURCE_DOES_NOT_EXIST, 404),
        ErrorCode::AlreadyExists => (RESOURCE_ALREADY_EXISTS, 400),
        ErrorCode::InvalidArgument
        | ErrorCode::Unprocessable
        | ErrorCode::FailedPrecondition
        | ErrorCode::PayloadTooLarge => (INVALID_PARAMETER_VALUE, 400),
        ErrorCode::Unauthenticated => ("UNAUTHENTICATED", 401),
        ErrorCode::PermissionDenied => ("PERMISSION_DENIED", 403),
        ErrorCode::ResourceExhausted => ("RESOURCE_EXHAUSTED", 429),
        ErrorCode::Unavailable => ("TEMPORARILY_UNAVAILABLE", 503),
        ErrorCode::Internal => ("INTERNAL_ERROR", 500),
    }
}

impl MlflowError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> MlflowError {
        MlflowError {
            code,
            status,
            message: message.into(),
        }
    }

    /// 400 INVALID_PARAMETER_VALUE.
    pub fn invalid(message: impl Into<String>) -> MlflowError {
        MlflowError::new(INVALID_PARAMETER_VALUE, 400, message)
    }

    /// 404 RESOURCE_DOES_NOT_EXIST.
    pub fn not_found(message: impl Into<String>) -> MlflowError {
        MlflowError::new(RESOURCE_DOES_NOT_EXIST, 404, message)
    }

    /// What MLflow answers when a request lacks a field it needs.
    pub fn missing(field: &str) -> MlflowError {
        MlflowError::invalid(format!("Missing value for required parameter '{field}'."))
    }
}

impl From<Error> for MlflowError {
    fn from(err: Error) -> MlflowError {
        let (code, status) = mlflow_code(err.code);
        MlflowError::new(code, status, err.public_message())
    }
}

impl From<tonic::Status> for MlflowError {
    fn from(status: tonic::Status) -> MlflowError {
        MlflowError::from(Error::from(status))
    }
}

impl From<ApiError> for MlflowError {
    fn from(err: ApiError) -> MlflowError {
        MlflowError::from(err.0)
    }
}

impl std::fmt::Display for MlflowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: &'a str,
    message: &'a str,
}

impl ResponseError for MlflowError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status == 401 {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            error_code: self.code,
            message: &self.message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_client_error_maps_to_a_server_status() {
        for code in ErrorCode::ALL {
            let (_, status) = mlflow_code(code);
            let server_side = matches!(code, ErrorCode::Unavailable | ErrorCode::Internal);
            assert_eq!(status >= 500, server_side, "{code:?} answers {status}");
        }
    }

    #[test]
    fn an_internal_error_hides_its_cause() {
        let err = MlflowError::from(Error::internal("disk on fire at /var/lib"));
        assert_eq!((err.code, err.status), ("INTERNAL_ERROR", 500));
        assert!(!err.message.contains("disk"), "{}", err.message);
    }
}
