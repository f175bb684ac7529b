//! What can go wrong in an online store, and how it reaches API callers.

use lathe_common::error::{Error, ErrorCode};
use lathe_common::reasons;

#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// The backend cannot be reached; `backend` names it (a URL never carries its password).
    #[error("online store {backend} is unavailable: {cause}")]
    Unavailable { backend: String, cause: String },
    /// The caller passed something no store accepts (a reserved feature name, a bad entity key).
    #[error("{0}")]
    InvalidArgument(String),
    /// Stored bytes that do not decode: a bug or foreign data under our keys.
    #[error("corrupted online data: {0}")]
    Corrupted(String),
    /// The backend refused an operation for another reason.
    #[error("online store {backend}: {cause}")]
    Backend { backend: String, cause: String },
}

impl From<OnlineError> for Error {
    fn from(err: OnlineError) -> Self {
        match err {
            OnlineError::Unavailable { .. } => Error::new(ErrorCode::Unavailable, err.to_string())
                .with_reason(reasons::ONLINE_STORE_UNAVAILABLE),
            OnlineError::InvalidArgument(message) => Error::invalid(message),
            OnlineError::Corrupted(_) | OnlineError::Backend { .. } => Error::internal(err),
        }
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        // `redis://secret@host` puts the password in the user position.
        None if scheme.starts_with("redis") => "***".to_owned(),
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{user}@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_redacted_urls_never_show_the_password() {
        assert_eq!(redact_url("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
        assert_eq!(
            redact_url("redis://user:hunter2@db:6379/1"),
            "redis://user:***@db:6379/1"
        );
        assert_eq!(redact_url("rediss://:hunter2@db"), "rediss://:***@db");
        assert_eq!(redact_url("redis://hunter2@db"), "redis://***@db");
    }

    #[test]
    fn online_errors_map_to_codes() {
        let down = OnlineError::Unavailable {
            backend: "redis://127.0.0.1:1".into(),
            cause: "connection refused".into(),
        };
        let err = Error::from(down);
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.contains("redis://127.0.0.1:1"), "{}", err.message);
        assert_eq!(
            Error::from(OnlineError::Corrupted("x".into())).code,
            ErrorCode::Internal
        );
        assert_eq!(
            Error::from(OnlineError::InvalidArgument("x".into())).code,
            ErrorCode::InvalidArgument
        );
    }
}
