//! Layered settings: compiled-in embedded defaults, then an optional TOML file, then
//! environment variables prefixed `LATHE_` with `__` between levels
//! (`LATHE_REGISTRY__DATABASE__URL` sets `[registry] database.url`).
//!
//! Each service owns a section of the one configuration; [`Config::section`] extracts it over
//! that service's defaults. A bad value stops start-up with an error that names the key and
//! where the value came from.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Environment variable naming the TOML configuration file.
pub const CONFIG_FILE_ENV: &str = "LATHE_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting `{key}` ({origin}): {message}")]
    Extract {
        key: String,
        origin: String,
        message: String,
    },
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("unknown setting `{key}` ({origin}){hint}")]
    Unknown {
        key: String,
        origin: String,
        /// "; did you mean `…`?" when a known key is close, else empty.
        hint: String,
    },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The merged configuration sources, from which each service extracts its section.
#[derive(Clone)]
pub struct Config {
    sources: Figment,
}

impl Config {
    /// Reads the optional TOML file (`file`, else `$LATHE_CONFIG`) and the `LATHE_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from));
        let mut sources = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile { path });
            }
            sources = sources.merge(Toml::file(path));
        }
        sources = sources.merge(Env::prefixed("LATHE_").ignore(&["config"]).split("__"));
        Ok(Config { sources })
    }

    /// Only compiled-in defaults plus the given TOML text; for tests and embedding.
    pub fn from_toml(toml: &str) -> Config {
        Config {
            sources: Figment::new().merge(Toml::string(toml)),
        }
    }

    /// Extracts `section` (empty for the top level) layered over `defaults`.
    pub fn section<T>(&self, section: &str, defaults: T) -> Result<T, ConfigError>
    where
        T: Serialize + DeserializeOwned,
    {
        let known = serde_json::to_value(&defaults).unwrap_or_default();
        let layered = Figment::from(Serialized::defaults(defaults));
        let layered = if section.is_empty() {
            layered.merge(self.sources.clone())
        } else {
            layered.merge(self.sources.focus(section))
        };
        let value = layered.extract().map_err(|error| extract_error(section, error))?;
        self.refuse_unknown_keys(section, &known)?;
        Ok(value)
    }

    /// Refuses a top-level table of the configuration that is none of `sections` (a
    /// misspelt `[registy]` or `LATHE_REGISTY__…`), naming the closest section.
    pub fn refuse_unknown_sections(&self, sections: &[&str]) -> Result<(), ConfigError> {
        let provided: serde_json::Value = self.sources.extract().unwrap_or_default();
        let Some(top) = provided.as_object() else {
            return Ok(());
        };
        for (name, value) in top {
            if value.is_object() && !sections.contains(&name.as_str()) {
                return Err(self.unknown_key(vec![name.clone()], sections.iter().map(|s| (*s).to_owned())));
            }
        }
        Ok(())
    }

    /// Every key given for `section` must be one of its settings (`known`, the section's
    /// defaults as JSON): a misspelt key would otherwise be ignored without a word. An empty
    /// table among the defaults is a map whose keys are the user's. At the top level only
    /// plain values are checked (tables are sections: [`Config::refuse_unknown_sections`]),
    /// and the `lathe` client's own variables (`LATHE_URL`, `LATHE_TOKEN`, `LATHE_PROJECT`)
    /// and the test suite's (`LATHE_TEST_*`) are not settings.
    fn refuse_unknown_keys(&self, section: &str, known: &serde_json::Value) -> Result<(), ConfigError> {
        let provided: serde_json::Value = if section.is_empty() {
            self.sources.extract().unwrap_or_default()
        } else {
            self.sources.focus(section).extract().unwrap_or_default()
        };
        let mut prefix: Vec<String> = if section.is_empty() {
            Vec::new()
        } else {
            vec![section.to_owned()]
        };
        let top_level = section.is_empty();
        self.check_keys(&provided, known, &mut prefix, top_level)
    }

    fn check_keys(
        &self,
        provided: &serde_json::Value,
        known: &serde_json::Value,
        path: &mut Vec<String>,
        top_level: bool,
    ) -> Result<(), ConfigError> {
        let (Some(provided), Some(known)) = (provided.as_object(), known.as_object()) else {
            return Ok(());
        };
        if known.is_empty() && !top_level {
            return Ok(());
        }
        for (key, value) in provided {
            let elsewhere =
                value.is_object() || CLIENT_VARIABLES.contains(&key.as_str()) || key.starts_with("test_");
            if top_level && !known.contains_key(key) && elsewhere {
                continue;
            }
            path.push(key.clone());
            match known.get(key) {
                Some(inner) => self.check_keys(value, inner, path, false)?,
                None => {
                    // Named down to a value, as the user wrote it (`LATHE_A__B__C`, `a.b.c`).
                    let mut rest = Vec::new();
                    let mut inner = value;
                    while let Some((key, next)) = inner.as_object().and_then(|o| o.iter().next()) {
                        rest.push(key.clone());
                        inner = next;
                    }
                    let parent = &path[..path.len() - 1];
                    let siblings = known.keys().map(|k| {
                        let mut sibling = parent.to_vec();
                        sibling.push(k.clone());
                        sibling.extend(rest.iter().cloned());
                        sibling.join(".")
                    });
                    let mut full = path.clone();
                    full.extend(rest.iter().cloned());
                    return Err(self.unknown_key(full, siblings));
                }
            }
            path.pop();
        }
        Ok(())
    }

    fn unknown_key(&self, path: Vec<String>, candidates: impl Iterator<Item = String>) -> ConfigError {
        let key = path.join(".");
        let from_env = self
            .sources
            .find_metadata(&key)
            .is_some_and(|m| m.name.contains("environment"));
        let origin = if from_env {
            format!("environment variable LATHE_{}", path.join("__").to_uppercase())
        } else {
            match self.sources.find_metadata(&key).and_then(|m| m.source.as_ref()) {
                Some(source) => format!("from {source}"),
                None => "from the configuration".to_owned(),
            }
        };
        let closest = candidates
            .map(|candidate| (edit_distance(&key, &candidate), candidate))
            .min()
            .filter(|(distance, _)| *distance <= 3);
        let hint = closest.map_or_else(String::new, |(_, name)| format!("; did you mean `{name}`?"));
        ConfigError::Unknown { key, origin, hint }
    }

    /// The settings every process shares: data directory, telemetry and auth.
    pub fn common(&self) -> Result<CommonSettings, ConfigError> {
        let common: CommonSettings = self.section("", CommonSettings::default())?;
        common.validate()?;
        Ok(common)
    }
}

/// Variables of the `lathe` client that share the `LATHE_` prefix but are not settings.
const CLIENT_VARIABLES: [&str; 3] = ["url", "token", "project"];

/// Levenshtein distance, for suggesting the key a user meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Names the offending key as a user writes it: dotted for the file, `LATHE_…` for the environment.
fn extract_error(section: &str, error: figment::Error) -> ConfigError {
    let mut path: Vec<String> = error.path.iter().map(|p| p.to_lowercase()).collect();
    if !section.is_empty() {
        path.insert(0, section.to_owned());
    }
    let key = path.join(".");
    let from_env = error
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    let origin = if from_env {
        format!("environment variable LATHE_{}", path.join("__").to_uppercase())
    } else {
        match error.metadata.as_ref().and_then(|m| m.source.as_ref()) {
            Some(source) => format!("from {source}"),
            None => "from the configuration".to_owned(),
        }
    };
    ConfigError::Extract {
        key,
        origin,
        message: error.kind.to_string(),
    }
}

/// A secret setting: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommonSettings {
    /// Where embedded backends keep their files (SQLite, objects, the generated JWT secret).
    pub data_dir: PathBuf,
    pub telemetry: TelemetrySettings,
    pub auth: AuthSettings,
}

impl Default for CommonSettings {
    fn default() -> Self {
        CommonSettings {
            data_dir: PathBuf::from(".lathe"),
            telemetry: TelemetrySettings::default(),
            auth: AuthSettings::default(),
        }
    }
}

impl CommonSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("data_dir", "must not be empty"));
        }
        self.auth.validate()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelemetrySettings {
    /// A `tracing` env-filter directive, e.g. `info,lathe_registry_service=debug`.
    pub log_filter: String,
    pub log_format: LogFormat,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_filter: "info".to_owned(),
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSettings {
    pub algorithm: JwtAlgorithm,
    /// HS256 shared secret (at least 32 bytes). Unset: generated into the data directory.
    pub jwt_secret: Option<Secret>,
    /// RS256: PEM file of the public key that verifies tokens.
    pub jwt_public_key_path: Option<PathBuf>,
    /// RS256: PEM file of the private key, only needed by `lathe token create`.
    pub jwt_private_key_path: Option<PathBuf>,
    /// Expected `iss` claim.
    pub issuer: String,
    /// Lifetime of tokens made by `lathe token create`, in seconds.
    pub token_ttl_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            algorithm: JwtAlgorithm::HS256,
            jwt_secret: None,
            jwt_public_key_path: None,
            jwt_private_key_path: None,
            issuer: "lathe".to_owned(),
            token_ttl_seconds: 24 * 3600,
        }
    }
}

impl AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        match self.algorithm {
            JwtAlgorithm::HS256 => {
                if let Some(secret) = &self.jwt_secret
                    && secret.expose().len() < 32
                {
                    return Err(ConfigError::invalid(
                        "auth.jwt_secret",
                        "must be at least 32 bytes long",
                    ));
                }
            }
            JwtAlgorithm::RS256 => {
                if self.jwt_public_key_path.is_none() {
                    return Err(ConfigError::invalid(
                        "auth.jwt_public_key_path",
                        "is required when auth.algorithm is RS256",
                    ));
                }
            }
        }
        if self.token_ttl_seconds == 0 {
            return Err(ConfigError::invalid(
                "auth.token_ttl_seconds",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Metadata database: `sqlite://PATH` or `postgres://…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DatabaseSettings {
    /// Unset: `sqlite://<data_dir>/<service>.db`.
    pub url: Option<String>,
    /// Pool size; unset: [`crate::db::default_max_connections`] (4 for SQLite, twice the cores,
    /// at least 4, for PostgreSQL).
    pub max_connections: Option<u32>,
}

/// Object storage: `file://DIR` or `s3://bucket/prefix`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreSettings {
    /// Unset: `file://<data_dir>/objects/<service>`.
    pub url: Option<String>,
    /// S3: endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// S3: allow plain-HTTP endpoints.
    #[serde(default)]
    pub allow_http: bool,
    /// S3: `bucket.host` addressing; off means path-style, which S3-compatible servers expect.
    #[serde(default)]
    pub virtual_hosted_style: bool,
}

/// What every gRPC service is configured with; each service has its own section and defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub grpc_addr: SocketAddr,
    pub database: DatabaseSettings,
    pub object_store: ObjectStoreSettings,
    /// gRPC endpoint of the registry-service, for services that check projects there.
    pub registry_endpoint: String,
}

impl ServiceSettings {
    /// Embedded defaults: loopback on `port`, storage in the data directory.
    pub fn on_port(port: u16) -> Self {
        ServiceSettings {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            database: DatabaseSettings::default(),
            object_store: ObjectStoreSettings::default(),
            registry_endpoint: format!("http://127.0.0.1:{}", ports::REGISTRY),
        }
    }
}

/// Default ports of the services.
pub mod ports {
    pub const GATEWAY_HTTP: u16 = 8080;
    pub const REGISTRY: u16 = 50051;
    pub const FEATURES: u16 = 50052;
    pub const ORCHESTRATOR: u16 = 50053;
    pub const MONITOR: u16 = 50054;
    pub const SERVING: u16 = 50055;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_with_no_sources() {
        let config = Config::from_toml("");
        let common = config.common().expect("defaults are valid");
        assert_eq!(common.data_dir, PathBuf::from(".lathe"));
        assert_eq!(common.auth.algorithm, JwtAlgorithm::HS256);
        let registry = config
            .section("registry", ServiceSettings::on_port(ports::REGISTRY))
            .unwrap();
        assert_eq!(registry.grpc_addr.port(), ports::REGISTRY);
        assert!(registry.database.url.is_none());
    }

    #[test]
    fn misspelt_keys_are_refused_with_the_closest_known_one() {
        let config = Config::from_toml("[registry.database]\nurll = 'postgres://h/db'\n");
        let err = config
            .section("registry", ServiceSettings::on_port(ports::REGISTRY))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown setting `registry.database.urll`")
                && err.contains("did you mean `registry.database.url`?"),
            "{err}"
        );
        let err = Config::from_toml("data_dirr = '/x'\n")
            .common()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`data_dirr`") && err.contains("did you mean `data_dir`?"),
            "{err}"
        );
        let err = Config::from_toml("[auth]\nissuerr = 'me'\n")
            .common()
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `auth.issuer`?"), "{err}");
        // Nothing close: no guess.
        let err = Config::from_toml("[registry]\nzzzzzzzz = 1\n")
            .section("registry", ServiceSettings::on_port(ports::REGISTRY))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`registry.zzzzzzzz`") && !err.contains("did you mean"),
            "{err}"
        );
    }

    #[test]
    fn misspelt_sections_are_refused_and_known_ones_pass() {
        let config = Config::from_toml("[registy]\ngrpc_addr = '0.0.0.0:1'\n[monitor]\n");
        let err = config
            .refuse_unknown_sections(&["registry", "monitor"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`registy`") && err.contains("did you mean `registry`?"),
            "{err}"
        );
        Config::from_toml("[registry]\n[monitor]\ndata_dir = 'x'\n")
            .refuse_unknown_sections(&["registry", "monitor"])
            .unwrap();
    }

    #[test]
    fn file_values_override_defaults_per_section() {
        let config = Config::from_toml(
            "data_dir = '/tmp/x'\n[registry]\ngrpc_addr = '0.0.0.0:9000'\n[registry.database]\nurl = 'postgres://h/db'\n",
        );
        assert_eq!(config.common().unwrap().data_dir, PathBuf::from("/tmp/x"));
        let registry = config.section("registry", ServiceSettings::on_port(1)).unwrap();
        assert_eq!(registry.grpc_addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(registry.database.url.as_deref(), Some("postgres://h/db"));
        // Another section keeps its own defaults.
        let monitor = config
            .section("monitor", ServiceSettings::on_port(ports::MONITOR))
            .unwrap();
        assert_eq!(monitor.grpc_addr.port(), ports::MONITOR);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let config = Config::from_toml("[registry]\ngrpc_addr = 'not-an-address'\n");
        let err = config
            .section("registry", ServiceSettings::on_port(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`registry.grpc_addr`"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type.
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lathe.toml", "[monitor]\ngrpc_addr = '127.0.0.1:1'\n")?;
            jail.set_env("LATHE_MONITOR__GRPC_ADDR", "127.0.0.1:2");
            jail.set_env("LATHE_MONITOR__OBJECT_STORE__ALLOW_HTTP", "true");
            let config = Config::load(Some(Path::new("lathe.toml"))).expect("load");
            let monitor = config
                .section("monitor", ServiceSettings::on_port(3))
                .expect("extract");
            assert_eq!(monitor.grpc_addr.port(), 2);
            assert!(monitor.object_store.allow_http);
            jail.set_env("LATHE_MONITOR__GRPC_ADDR", "nope");
            let err = Config::load(Some(Path::new("lathe.toml")))
                .expect("load")
                .section("monitor", ServiceSettings::on_port(3))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`monitor.grpc_addr`") && err.contains("LATHE_MONITOR__GRPC_ADDR"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        let config = Config::from_toml("[auth]\njwt_secret = 'short'\n");
        let err = config.common().unwrap_err().to_string();
        assert!(err.contains("auth.jwt_secret"), "{err}");
        let secret = Secret::new("hunter2-hunter2-hunter2-hunter2-hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn rs256_requires_a_public_key() {
        let config = Config::from_toml("[auth]\nalgorithm = 'RS256'\n");
        assert!(
            config
                .common()
                .unwrap_err()
                .to_string()
                .contains("auth.jwt_public_key_path")
        );
    }
}
