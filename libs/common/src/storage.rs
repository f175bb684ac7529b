//! Object storage from a URL: `file://DIR` (the embedded default) or `s3://bucket/prefix` on
//! AWS S3 or any S3-compatible server (endpoint, region, credentials, path-style, plain HTTP).

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::config::{ConfigError, ObjectStoreSettings};
use crate::error::Error;
use crate::reasons;

/// The URL a service uses: the configured one, else a folder in the data directory.
pub fn resolve_url(
    settings: &ObjectStoreSettings,
    data_dir: &Path,
    service: &str,
) -> Result<String, ConfigError> {
    match &settings.url {
        Some(url) => Ok(url.clone()),
        None => {
            let dir = data_dir.join("objects").join(service);
            let absolute = std::path::absolute(&dir).map_err(|e| {
                ConfigError::invalid("data_dir", format!("cannot resolve {}: {e}", dir.display()))
            })?;
            Ok(format!("file://{}", absolute.display()))
        }
    }
}

/// Opens the store at `url`; `key` names the settings section in errors.
pub fn open(
    url: &str,
    settings: &ObjectStoreSettings,
    key: &str,
) -> Result<Arc<dyn ObjectStore>, ConfigError> {
    let bad = |message: String| ConfigError::invalid(format!("{key}.url"), message);
    let parsed = url::Url::parse(url).map_err(|e| bad(format!("'{url}' is not a URL: {e}")))?;
    match parsed.scheme() {
        "file" => {
            let path = parsed.path();
            std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create {path}: {e}")))?;
            let store = LocalFileSystem::new_with_prefix(path).map_err(|e| bad(e.to_string()))?;
            Ok(Arc::new(store.with_automatic_cleanup(true)))
        }
        "s3" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| bad("s3:// URL needs a bucket".into()))?;
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(settings.region.clone().unwrap_or_else(|| "us-east-1".to_owned()))
                .with_allow_http(settings.allow_http)
                .with_virtual_hosted_style_request(settings.virtual_hosted_style);
            if let Some(endpoint) = &settings.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(id) = &settings.access_key_id {
                builder = builder.with_access_key_id(id);
            }
            if let Some(secret) = &settings.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose());
            }
            let store = builder
                .build()
                .map_err(|e| ConfigError::invalid(key.to_owned(), e.to_string()))?;
            let prefix = parsed.path().trim_matches('/');
            if prefix.is_empty() {
                Ok(Arc::new(store))
            } else {
                Ok(Arc::new(PrefixStore::new(store, prefix)))
            }
        }
        other => Err(bad(format!(
            "unsupported object store scheme '{other}': use file:// or s3://"
        ))),
    }
}

impl From<object_store::Error> for Error {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "object_store::Error is non-exhaustive: all but NotFound are internal"
    )]
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { path, .. } => {
                Error::of(reasons::OBJECT_NOT_FOUND, format!("object {path} not found"))
            }
            other => Error::internal(format_args!("object store: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_scheme_is_refused_with_the_key() {
        let err = open(
            "ftp://x/y",
            &ObjectStoreSettings::default(),
            "registry.object_store",
        )
        .unwrap_err();
        assert!(err.to_string().contains("registry.object_store.url"), "{err}");
    }

    #[test]
    fn default_is_a_folder_per_service() {
        let url = resolve_url(&ObjectStoreSettings::default(), Path::new("/data"), "registry").unwrap();
        assert_eq!(url, "file:///data/objects/registry");
    }
}
