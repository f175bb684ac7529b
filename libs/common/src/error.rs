//! The one error vocabulary of Lathe: a closed [`ErrorCode`], mapped once to an HTTP status
//! and to a gRPC code, and an [`Error`] that carries a specific `reason` (such as
//! `project_not_found`) unchanged across gRPC, so the gateway returns what the service raised.

use std::borrow::Cow;

use tonic::metadata::MetadataValue;

/// gRPC metadata key carrying [`Error::reason`] across service boundaries.
pub const REASON_METADATA_KEY: &str = "x-lathe-reason";
/// gRPC metadata key carrying the exact [`ErrorCode`], for codes gRPC has no own code for.
pub const CODE_METADATA_KEY: &str = "x-lathe-code";
/// gRPC metadata key carrying [`Error::field`] across service boundaries.
pub const FIELD_METADATA_KEY: &str = "x-lathe-field";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    /// Well-formed input that does not fit what it is meant for (a pushed row of the wrong schema).
    Unprocessable,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    PayloadTooLarge,
    ResourceExhausted,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::InvalidArgument,
        ErrorCode::Unprocessable,
        ErrorCode::FailedPrecondition,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::PayloadTooLarge,
        ErrorCode::ResourceExhausted,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::NotFound => 404,
            ErrorCode::AlreadyExists => 409,
            ErrorCode::InvalidArgument => 400,
            ErrorCode::Unprocessable => 422,
            ErrorCode::FailedPrecondition => 412,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ResourceExhausted => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::InvalidArgument | ErrorCode::Unprocessable => tonic::Code::InvalidArgument,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
            ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
            // gRPC has no "too large"; OUT_OF_RANGE is what servers use for oversized input.
            ErrorCode::PayloadTooLarge => tonic::Code::OutOfRange,
            ErrorCode::ResourceExhausted => tonic::Code::ResourceExhausted,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }

    /// The inverse of [`ErrorCode::grpc_code`]; codes Lathe never raises map to the nearest kind.
    pub fn from_grpc(code: tonic::Code) -> ErrorCode {
        match code {
            tonic::Code::NotFound => ErrorCode::NotFound,
            tonic::Code::AlreadyExists | tonic::Code::Aborted => ErrorCode::AlreadyExists,
            tonic::Code::InvalidArgument => ErrorCode::InvalidArgument,
            tonic::Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            tonic::Code::Unauthenticated => ErrorCode::Unauthenticated,
            tonic::Code::PermissionDenied => ErrorCode::PermissionDenied,
            tonic::Code::OutOfRange => ErrorCode::PayloadTooLarge,
            tonic::Code::ResourceExhausted => ErrorCode::ResourceExhausted,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                ErrorCode::Unavailable
            }
            tonic::Code::Ok
            | tonic::Code::Unknown
            | tonic::Code::Unimplemented
            | tonic::Code::Internal
            | tonic::Code::DataLoss => ErrorCode::Internal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Unprocessable => "unprocessable",
            ErrorCode::FailedPrecondition => "failed_precondition",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The `type` of the HTTP error body: whose side the problem is on.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorCode::NotFound
            | ErrorCode::AlreadyExists
            | ErrorCode::InvalidArgument
            | ErrorCode::Unprocessable
            | ErrorCode::FailedPrecondition
            | ErrorCode::PayloadTooLarge => "invalid_request",
            ErrorCode::Unauthenticated | ErrorCode::PermissionDenied => "auth",
            ErrorCode::ResourceExhausted | ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A stable, machine-readable reason for an error: the `code` of the HTTP error body and the
/// `x-lathe-reason` metadata of a gRPC status. Every one is in [`crate::reasons`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    pub name: &'static str,
    pub code: ErrorCode,
    /// What happened, for the API documentation.
    pub meaning: &'static str,
}

/// An error a user can act on: a kind, a stable machine-readable reason and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    /// Stable snake_case identifier, e.g. `project_not_found`; defaults to the code's name.
    pub reason: Cow<'static, str>,
    pub message: String,
    /// The request field the error is about, as a path into the request (`name`,
    /// `policies[0].conditions[1].metric.key`), when it is about one field: a form shows the
    /// message next to that field.
    pub field: Option<String>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            reason: Cow::Borrowed(code.as_str()),
            message: message.into(),
            field: None,
        }
    }

    /// An error for `reason`, with the reason's code.
    pub fn of(reason: Reason, message: impl Into<String>) -> Self {
        Error {
            code: reason.code,
            reason: Cow::Borrowed(reason.name),
            message: message.into(),
            field: None,
        }
    }

    /// The same error for a specific `reason`, which brings its own code.
    pub fn with_reason(self, reason: Reason) -> Self {
        Error {
            field: self.field,
            ..Error::of(reason, self.message)
        }
    }

    /// The same error, about the request field `field` (see [`Error::field`]).
    pub fn at(self, field: impl Into<String>) -> Self {
        Error {
            field: Some(field.into()),
            ..self
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    /// An internal failure: the cause goes to the log, the caller sees an opaque message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Error::new(ErrorCode::Internal, "internal error; see the server log")
    }

    /// The message shown to HTTP clients: opaque for 5xx.
    pub fn public_message(&self) -> &str {
        if self.code == ErrorCode::Internal {
            "internal error"
        } else {
            &self.message
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let mut status = tonic::Status::new(err.code.grpc_code(), err.message);
        if let Ok(value) = MetadataValue::try_from(err.reason.as_ref()) {
            status.metadata_mut().insert(REASON_METADATA_KEY, value);
        }
        status
            .metadata_mut()
            .insert(CODE_METADATA_KEY, MetadataValue::from_static(err.code.as_str()));
        if let Some(Ok(value)) = err.field.as_deref().map(MetadataValue::try_from) {
            status.metadata_mut().insert(FIELD_METADATA_KEY, value);
        }
        status
    }
}

impl From<tonic::Status> for Error {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "tonic::Code is foreign: only Unavailable without a reason gets its own message"
    )]
    fn from(status: tonic::Status) -> Self {
        let code = status
            .metadata()
            .get(CODE_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(|name| ErrorCode::ALL.into_iter().find(|c| c.as_str() == name))
            .unwrap_or_else(|| ErrorCode::from_grpc(status.code()));
        let reason = status
            .metadata()
            .get(REASON_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(|s| Cow::Owned(s.to_owned()))
            .unwrap_or(Cow::Borrowed(code.as_str()));
        let message = match status.code() {
            // A transport failure: the peer service is down or unreachable.
            tonic::Code::Unavailable if status.metadata().get(REASON_METADATA_KEY).is_none() => {
                format!("a backend service is unavailable: {}", status.message())
            }
            _ => status.message().to_owned(),
        };
        let field = status
            .metadata()
            .get(FIELD_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Error {
            code,
            reason,
            message,
            field,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_survives_a_status_and_a_new_reason() {
        let sent = Error::invalid("name '' is invalid")
            .at("policies[0].conditions[1].metric.key")
            .with_reason(crate::reasons::INVALID_NAME);
        let back = Error::from(tonic::Status::from(sent.clone()));
        assert_eq!(back, sent);
        assert_eq!(
            back.field.as_deref(),
            Some("policies[0].conditions[1].metric.key")
        );
        assert_eq!(Error::from(tonic::Status::from(Error::invalid("x"))).field, None);
    }

    #[test]
    fn every_code_round_trips_through_grpc() {
        for code in ErrorCode::ALL {
            let back = Error::from(tonic::Status::from(Error::new(code, "x")));
            assert_eq!(back.code, code, "{code:?}");
        }
        // Peers that send no Lathe metadata are understood by their gRPC code.
        for code in ErrorCode::ALL
            .into_iter()
            .filter(|c| *c != ErrorCode::Unprocessable)
        {
            assert_eq!(ErrorCode::from_grpc(code.grpc_code()), code, "{code:?}");
        }
    }

    #[test]
    fn reason_and_message_survive_a_status() {
        let missing = Reason {
            name: "project_not_found",
            code: ErrorCode::NotFound,
            meaning: "",
        };
        let err = Error::of(missing, "project 'x' does not exist");
        let back = Error::from(tonic::Status::from(err.clone()));
        assert_eq!(back, err);
        assert_eq!(back.code.http_status(), 404);
    }

    #[test]
    fn internal_messages_are_opaque() {
        let err = Error::internal("disk on fire at /secret/path");
        assert!(!err.message.contains("secret"));
        assert_eq!(err.public_message(), "internal error");
    }
}
