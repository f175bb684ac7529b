//! Name rules shared by every service, with errors that say which field is wrong and why.

use crate::error::Error;
use crate::reasons;

/// Whether `c` changes what a reader sees without being seen itself: a control character
/// (C0, DEL, C1), a line or paragraph separator, or a Unicode bidirectional control, which can
/// make `report\u{202E}fdp.exe` display as `reportexe.pdf`.
pub fn is_hidden_character(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' // arabic letter mark
                | '\u{200E}'..='\u{200F}' // left-to-right and right-to-left marks
                | '\u{2028}'..='\u{2029}' // line and paragraph separators
                | '\u{202A}'..='\u{202E}' // embeddings and overrides
                | '\u{2066}'..='\u{2069}' // isolates
        )
}

/// Refuses a user-given name, key or path holding a [hidden character](is_hidden_character).
/// Every rule for what identifies something starts here, so none can forget it; the message
/// names the character as `U+XXXX` rather than echoing it.
pub fn visible(field: &str, value: &str) -> Result<(), Error> {
    match value.chars().find(|c| is_hidden_character(*c)) {
        None => Ok(()),
        Some(c) => Err(Error::invalid(format!(
            "{field} contains the invisible character U+{:04X}: control and bidirectional characters are not allowed",
            u32::from(c)
        ))
        .with_reason(reasons::INVALID_NAME)
        .at(field)),
    }
}

/// Project names: DNS-label style, so they fit in URLs, bucket prefixes and schema names.
pub fn project_name(field: &str, value: &str) -> Result<(), Error> {
    visible(field, value)?;
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
        .with_reason(reasons::INVALID_NAME)
        .at(field))
    }
}

/// Names of definitions (entities, pipelines, monitors, tasks): identifiers usable as columns.
pub fn identifier(field: &str, value: &str) -> Result<(), Error> {
    visible(field, value)?;
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
        .with_reason(reasons::INVALID_NAME)
        .at(field))
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
    fn hidden_characters_are_named_not_echoed() {
        for (c, named) in [
            ('\u{202E}', "U+202E"),
            ('\u{202A}', "U+202A"),
            ('\u{2066}', "U+2066"),
            ('\u{2069}', "U+2069"),
            ('\u{200E}', "U+200E"),
            ('\u{200F}', "U+200F"),
            ('\u{061C}', "U+061C"),
            ('\u{2028}', "U+2028"),
            ('\0', "U+0000"),
            ('\n', "U+000A"),
            ('\u{7F}', "U+007F"),
            ('\u{85}', "U+0085"),
        ] {
            let value = format!("report{c}fdp.exe");
            let err = visible("name", &value).unwrap_err();
            assert_eq!(err.reason, "invalid_name");
            assert!(err.message.starts_with("name contains"), "{err}");
            assert!(err.message.contains(named) && !err.message.contains(c), "{err}");
            for check in [project_name, identifier] {
                assert!(check("name", &value).unwrap_err().message.contains(named));
            }
        }
        // Letters of any script, and the joiners some scripts need, are visible.
        for fine in [
            "churn",
            "Modèle d'été",
            "模型",
            "نموذج",
            "क्\u{200D}ष",
            "👩\u{200D}💻",
        ] {
            visible("name", fine).unwrap();
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
