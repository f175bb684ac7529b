//! Validation of tracking and registry names, keys and artifact paths. Each rule starts with
//! [`visible`], which refuses control and bidirectional characters.

use lathe_common::reasons;
use lathe_common::validate::visible;
use lathe_common::{Error, Result};

pub const MAX_KEY_LEN: usize = 250;
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
pub const MAX_TAG_VALUE_LEN: usize = 8000;

/// Names of experiments and models: printable, no slashes, at most 256 characters.
pub fn display_name(field: &str, value: &str) -> Result<()> {
    visible(field, value)?;
    if value.trim().is_empty() || value.len() > 256 || value.contains('/') {
        return Err(Error::invalid(format!(
            "{field} '{value}' is invalid: 1 to 256 printable characters, no '/'"
        ))
        .with_reason(reasons::INVALID_NAME)
        .at(field));
    }
    Ok(())
}

/// Names of runs: empty (the server names the run), or printable and at most 256 bytes.
pub fn run_name(field: &str, value: &str) -> Result<()> {
    visible(field, value)?;
    if value.len() > 256 {
        return Err(Error::invalid(format!("{field}: at most 256 characters"))
            .with_reason(reasons::INVALID_NAME)
            .at(field));
    }
    Ok(())
}

/// Metric, param and tag keys.
pub fn key(field: &str, value: &str) -> Result<()> {
    visible(field, value)?;
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value.chars().all(|c| c.is_alphanumeric() || "_-./ :".contains(c))
        && !value.split('/').any(|part| part == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} '{value}' is invalid: at most {MAX_KEY_LEN} letters, digits, '_', '-', '.', ' ', ':' or '/'"
        ))
        .at(field))
    }
}

/// Aliases: word characters and '-', not `latest` nor `v<digits>` (MLflow's reserved forms).
pub fn alias(value: &str) -> Result<()> {
    visible("alias", value)?;
    let well_formed = !value.is_empty()
        && value.len() <= 255
        && value.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !well_formed {
        return Err(Error::invalid(format!(
            "alias '{value}' is invalid: 1 to 255 letters, digits, '_' or '-'"
        )));
    }
    let lower = value.to_ascii_lowercase();
    let version_like =
        lower.len() > 1 && lower.starts_with('v') && lower[1..].chars().all(|c| c.is_ascii_digit());
    if lower == "latest" || version_like {
        return Err(Error::invalid(format!("alias '{value}' is reserved")));
    }
    Ok(())
}

/// A relative artifact path: no `..`, not absolute, no empty segments, no backslashes.
pub fn artifact_path(value: &str, allow_empty: bool) -> Result<String> {
    visible("artifact path", value)?;
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            Err(Error::invalid("artifact path must not be empty"))
        };
    }
    let bad = value.starts_with('/')
        || value.contains('\\')
        || value.contains('\0')
        || trimmed
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if bad {
        return Err(Error::invalid(format!(
            "invalid artifact path '{value}': use a relative path without '..', '.', '//' or a leading '/'"
        ))
        .with_reason(reasons::INVALID_PATH));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths() {
        assert_eq!(
            artifact_path("model/model.pkl", false).unwrap(),
            "model/model.pkl"
        );
        assert_eq!(artifact_path("model/", false).unwrap(), "model");
        assert_eq!(artifact_path("", true).unwrap(), "");
        for bad in ["../x", "a/../../b", "/etc/passwd", "a//b", "./a", "a\\b", ""] {
            assert!(artifact_path(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_name_refuses_hidden_characters() {
        let value = "report\u{202E}fdp.exe";
        let errors = [
            display_name("name", value).unwrap_err(),
            run_name("name", value).unwrap_err(),
            key("key", value).unwrap_err(),
            alias(value).unwrap_err(),
            artifact_path(value, false).unwrap_err(),
        ];
        for err in errors {
            assert!(err.message.contains("U+202E"), "{err}");
        }
        run_name("name", "").unwrap();
        run_name("name", "lbfgs, 3 folds").unwrap();
        assert!(run_name("name", &"x".repeat(257)).is_err());
    }

    #[test]
    fn aliases() {
        alias("champion").unwrap();
        alias("challenger-2").unwrap();
        for bad in ["latest", "LATEST", "v1", "V22", "a b", "", "a/b"] {
            assert!(alias(bad).is_err(), "{bad}");
        }
        alias("v").unwrap();
        alias("version").unwrap();
    }

    #[test]
    fn keys() {
        key("key", "val/acc").unwrap();
        key("key", "my metric:1").unwrap();
        assert!(key("key", "").is_err());
        assert!(key("key", "a/../b").is_err());
        assert!(key("key", &"x".repeat(251)).is_err());
    }
}
