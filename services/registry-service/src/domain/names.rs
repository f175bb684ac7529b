//! Validation of tracking and registry names, keys and artifact paths.

use lathe_common::{Error, Result};

pub const MAX_KEY_LEN: usize = 250;
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
pub const MAX_TAG_VALUE_LEN: usize = 8000;

/// Names of experiments and models: printable, no slashes, at most 256 characters.
pub fn display_name(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty()
        || value.len() > 256
        || value.contains('/')
        || value.chars().any(char::is_control)
    {
        return Err(Error::invalid(format!(
            "{field} '{value}' is invalid: 1 to 256 printable characters, no '/'"
        ))
        .with_reason("invalid_name"));
    }
    Ok(())
}

/// Metric, param and tag keys.
pub fn key(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value.chars().all(|c| c.is_alphanumeric() || "_-./ :".contains(c))
        && !value.split('/').any(|part| part == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} '{value}' is invalid: at most {MAX_KEY_LEN} letters, digits, '_', '-', '.', ' ', ':' or '/'"
        )))
    }
}

/// Aliases: word characters and '-', not `latest` nor `v<digits>` (MLflow's reserved forms).
pub fn alias(value: &str) -> Result<()> {
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
        .with_reason("invalid_path"));
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
