//! Name rules shared by every service, with errors that say which field is wrong and why.

use crate::error::Error;

/// Project names: DNS-label style, so they fit in URLs, bucket prefixes and schema names.
pub fn project_name(field: &str, value: &str) -> Result<(), Error> {
    let ok = (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} '{value}' is invalid: use 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
        ))
        .with_reason("invalid_name"))
    }
}

/// Names of definitions (entities, pipelines, monitors, tasks): identifiers usable as columns.
pub fn identifier(field: &str, value: &str) -> Result<(), Error> {
    let mut bytes = value.bytes();
    let ok = (1..=128).contains(&value.len())
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} '{value}' is invalid: start with a letter or '_', then use letters, digits, '_', '-' or '.' (at most 128)"
        ))
        .with_reason("invalid_name"))
    }
}

/// Converts a stored UTC time into a protobuf timestamp.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        for good in ["a", "churn-2024", "x1"] {
            project_name("name", good).unwrap();
        }
        for bad in ["", "-a", "a-", "Churn", "a_b", "a b", &"x".repeat(64)] {
            let err = project_name("name", bad).unwrap_err();
            assert!(err.message.starts_with("name '"), "{err}");
        }
    }

    #[test]
    fn identifiers() {
        for good in ["driver", "_x", "driver_stats.v2", "a-b"] {
            identifier("name", good).unwrap();
        }
        for bad in ["", "1x", "a b", "a/b", "ü"] {
            assert!(identifier("name", bad).is_err(), "{bad}");
        }
    }
}
