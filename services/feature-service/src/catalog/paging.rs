//! Pages of the definition lists, with the sizes and tokens of the registry's lists. A token
//! is the key of the last item of its page (a keyset, so pages neither overlap nor skip when
//! definitions are applied between them), hex-encoded so that clients treat it as opaque.

use lathe_common::Result;
use lathe_common::paging::{self, decode_token, encode_token, invalid_token};

use crate::definitions::model::KINDS;

// Tokens of different lists differ from their first letter on, so one is never taken for another.
const DEFINITION_TAG: &str = "d:";
const VERSION_TAG: &str = "v:";

/// One page as a request asks for it: size 0 and an empty token for the first default page.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: u32,
    pub token: String,
}

impl PageRequest {
    pub fn new(size: u32, token: String) -> Self {
        PageRequest { size, token }
    }

    /// How many items the page holds at most.
    pub fn limit(&self) -> Result<u64> {
        paging::page_size(self.size)
    }
}

/// The (kind, name) of the last definition of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionKey {
    pub kind: String,
    pub name: String,
}

/// The key of a definition in its list's order, which its page's token encodes.
pub fn definition_key(kind: &str, name: &str) -> String {
    format!("{DEFINITION_TAG}{kind}\n{name}")
}

pub fn definition_token(kind: &str, name: &str) -> String {
    encode_token(&definition_key(kind, name))
}

/// The key a definitions page starts after; `kind`, when the list is of one kind, is the only
/// kind its tokens can name.
pub fn decode_definition_token(token: &str, kind: Option<&str>) -> Result<Option<DefinitionKey>> {
    if token.is_empty() {
        return Ok(None);
    }
    decode_token(token)?
        .as_deref()
        .and_then(|text| text.strip_prefix(DEFINITION_TAG))
        .and_then(|key| key.split_once('\n'))
        .filter(|(token_kind, _)| KINDS.contains(token_kind) && kind.is_none_or(|k| k == *token_kind))
        .map(|(kind, name)| {
            Some(DefinitionKey {
                kind: kind.to_owned(),
                name: name.to_owned(),
            })
        })
        .ok_or_else(invalid_token)
}

/// The key of a version in a history's order, which its page's token encodes.
pub fn version_key(version: i64) -> String {
    format!("{VERSION_TAG}{version}")
}

pub fn version_token(version: i64) -> String {
    encode_token(&version_key(version))
}

/// The version a history page starts after.
pub fn decode_version_token(token: &str) -> Result<Option<i64>> {
    if token.is_empty() {
        return Ok(None);
    }
    decode_token(token)?
        .as_deref()
        .and_then(|text| text.strip_prefix(VERSION_TAG))
        .and_then(|version| version.parse::<i64>().ok())
        .filter(|version| *version > 0)
        .map(Some)
        .ok_or_else(invalid_token)
}

#[cfg(test)]
mod tests {
    use lathe_common::ErrorCode;

    use super::*;

    fn refused(err: lathe_common::Error) -> bool {
        err.code == ErrorCode::InvalidArgument && err.reason == lathe_common::reasons::INVALID_PAGE_TOKEN.name
    }

    #[test]
    fn page_sizes_default_to_100_and_stop_at_1000() {
        assert_eq!(PageRequest::default().limit().unwrap(), 100);
        assert_eq!(PageRequest::new(1, String::new()).limit().unwrap(), 1);
        assert_eq!(PageRequest::new(1000, String::new()).limit().unwrap(), 1000);
        let err = PageRequest::new(1001, String::new()).limit().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.field.as_deref(), Some("page_size"));
    }

    #[test]
    fn tokens_give_back_the_key_they_were_made_of() {
        let token = definition_token("feature_view", "driver\nstats é");
        let key = decode_definition_token(&token, None).unwrap().unwrap();
        assert_eq!(key.kind, "feature_view");
        assert_eq!(key.name, "driver\nstats é");
        assert_eq!(
            decode_definition_token(&token, Some("feature_view")).unwrap(),
            Some(key)
        );
        assert_eq!(decode_version_token(&version_token(7)).unwrap(), Some(7));
        assert_eq!(decode_definition_token("", None).unwrap(), None);
        assert_eq!(decode_version_token("").unwrap(), None);
    }

    #[test]
    fn tokens_the_server_did_not_issue_are_refused() {
        let view = definition_token("feature_view", "v");
        for token in [
            "zz",
            "abc",
            "not a token",
            "é1",
            &encode_token("d:nokind\nv"),
            &encode_token("d:entity"),
        ] {
            assert!(
                refused(decode_definition_token(token, None).unwrap_err()),
                "{token}"
            );
        }
        assert!(refused(
            decode_definition_token(&view, Some("entity")).unwrap_err()
        ));
        assert!(refused(
            decode_definition_token(&version_token(3), None).unwrap_err()
        ));
        for token in [&view, &encode_token("v:0"), &encode_token("v:x"), "0g"] {
            assert!(refused(decode_version_token(token).unwrap_err()), "{token}");
        }
    }
}
