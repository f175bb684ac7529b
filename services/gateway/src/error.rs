//! The one JSON error body of the HTTP API:
//! `{"code": "project_not_found", "message": "…", "type": "invalid_request"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use lathe_common::reasons;
use lathe_common::{Error, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

/// Error body of every non-2xx response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable reason, e.g. `project_not_found`, `unauthenticated`.
    #[schema(example = "project_not_found")]
    pub code: String,
    /// What went wrong and what to fix.
    pub message: String,
    /// Whose side the problem is on: `invalid_request`, `auth`, `unavailable` or `internal`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// The request field the error is about, when it is about one: a path into the body
    /// (`name`, `policies[0].conditions[0].metric.key`) or a path or query parameter's name.
    /// Forms show the message next to that field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "name")]
    pub field: Option<String>,
}

/// An [`Error`] as an actix response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl ApiError {
    /// The JSON body that tells the client what went wrong.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            // A 5xx says no more than its code.
            code: if self.0.code == ErrorCode::Internal {
                ErrorCode::Internal.as_str().to_owned()
            } else {
                self.0.reason.to_string()
            },
            message: self.0.public_message().to_owned(),
            error_type: self.0.code.error_type().to_owned(),
            field: self.0.field.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = self.body();
        let mut response = HttpResponse::build(self.status_code());
        if self.0.code == ErrorCode::Unauthenticated {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(body)
    }
}

/// The reason of a 414 answer; not in `lathe_common::reasons`, which pairs each reason with
/// an [`ErrorCode`], because only the gateway's HTTP side meets such a URL.
pub const URI_TOO_LONG: &str = "uri_too_long";

/// The body of a 414 answer to a URL whose path and query exceed `limit` bytes. Only the
/// gateway's HTTP side meets such a URL, so it has no [`ErrorCode`] of its own.
pub fn uri_too_long(limit: usize) -> ErrorBody {
    ErrorBody {
        code: URI_TOO_LONG.to_owned(),
        message: format!(
            "the URL's path and query are longer than the limit of {limit} bytes; send long inputs in a request body"
        ),
        error_type: "invalid_request".to_owned(),
        field: None,
    }
}

/// Maps body-parsing failures to the JSON error shape (413 past the size limit).
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "actix's JsonPayloadError is non-exhaustive: the rest are unreadable bodies"
)]
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let error = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => Error::new(
            ErrorCode::PayloadTooLarge,
            format!("request body of {length} bytes is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => Error::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => {
            Error::invalid("request body must be JSON (Content-Type: application/json)")
                .with_reason(reasons::UNSUPPORTED_CONTENT_TYPE)
        }
        JsonPayloadError::Deserialize(e) => {
            Error::invalid(format!("invalid JSON body: {e}")).with_reason(reasons::INVALID_BODY)
        }
        other => Error::invalid(format!("cannot read the request body: {other}"))
            .with_reason(reasons::INVALID_BODY),
    };
    ApiError(error).into()
}

/// Maps path-parameter failures to the JSON error shape.
pub fn path_error(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError(Error::invalid(format!("invalid path: {err}"))).into()
}

/// Maps query-string failures to the JSON error shape.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError(Error::invalid(format!("invalid query string: {err}"))).into()
}
