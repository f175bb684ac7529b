//! MLflow's error body, `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}`, and the one
//! table from Lathe's [`ErrorCode`]s to MLflow's codes and statuses. The MLflow client branches on
//! `error_code` and retries every 5xx for minutes, so a client error must never become a 5xx.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use lathe_common::{Error, ErrorCode};
use serde::Serialize;

use crate::GatewaySettings;
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

/// Middleware of the MLflow scopes: an error that a handler did not answer itself (its body
/// refused by actix before the handler ran, as one over `gateway.body_limit_bytes`) is answered
/// in MLflow's shape too, so the client shows a message, never a page it cannot parse. A body
/// over the limit is 400 INVALID_PARAMETER_VALUE naming the limit, by the table above.
pub async fn mlflow_shaped(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let response = next.call(req).await?;
    let foreign = response
        .response()
        .error()
        .is_some_and(|err| err.as_error::<MlflowError>().is_none());
    if !foreign {
        return Ok(response.map_into_left_body());
    }
    let status = response.status();
    let described = response
        .response()
        .error()
        .map(ToString::to_string)
        .unwrap_or_default();
    let err = if status == StatusCode::PAYLOAD_TOO_LARGE {
        let limit = response
            .request()
            .app_data::<web::Data<GatewaySettings>>()
            .map_or(0, |settings| settings.body_limit_bytes);
        MlflowError::invalid(format!(
            "The request body is over this server's limit of {limit} bytes; send less per request \
             (log-batch: at most 1000 metrics, 100 params and 100 tags)"
        ))
    } else if status.is_server_error() {
        MlflowError::from(Error::internal(described))
    } else {
        MlflowError::invalid(described)
    };
    let (request, _) = response.into_parts();
    Ok(ServiceResponse::new(request, err.error_response()).map_into_right_body())
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
