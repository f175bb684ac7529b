//! JWT bearer tokens: HS256 with a shared secret (generated into the data directory when none
//! is configured) or RS256 with a public key. Claims carry the subject, roles and the projects
//! the token may touch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::config::{AuthSettings, JwtAlgorithm, Secret};
use crate::error::{Error, ErrorCode};
use crate::reasons;

/// File in the data directory holding the generated HS256 secret.
pub const SECRET_FILE_NAME: &str = "jwt-secret";

/// A role; each includes the rights of those before it. Defined by the contract, since
/// tokens, promotion gates and the REST API all carry it.
pub use lathe_contract::Role;

/// Project scope meaning "every project".
pub const ALL_PROJECTS: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Projects the token may touch; `*` means all.
    #[serde(default)]
    pub projects: Vec<String>,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Not before: the token is refused until this time (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

impl Claims {
    /// The highest role the token carries.
    pub fn role(&self) -> Option<Role> {
        self.roles.iter().copied().max()
    }

    pub fn has_role(&self, needed: Role) -> bool {
        self.role().is_some_and(|role| role >= needed)
    }

    /// Whether the token's validity window holds `now` exactly, without any leeway.
    fn in_force_at(&self, now: i64) -> bool {
        self.exp > now && self.nbf.is_none_or(|nbf| nbf <= now)
    }

    pub fn all_projects(&self) -> bool {
        self.projects.iter().any(|p| p == ALL_PROJECTS)
    }

    pub fn may_access(&self, project: &str) -> bool {
        self.all_projects() || self.projects.iter().any(|p| p == project)
    }

    /// Refuses with 403 unless the token has at least `needed`.
    pub fn require_role(&self, needed: Role) -> Result<(), Error> {
        if self.has_role(needed) {
            return Ok(());
        }
        let has = self.role().map_or("no role", Role::as_str);
        Err(Error::new(
            ErrorCode::PermissionDenied,
            format!(
                "this action needs role '{}'; the token has {has}",
                needed.as_str()
            ),
        )
        .with_reason(reasons::ROLE_TOO_LOW))
    }

    /// Refuses with 403 unless the token covers `project`.
    pub fn require_project(&self, project: &str) -> Result<(), Error> {
        if self.may_access(project) {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::PermissionDenied,
            format!("the token does not grant access to project '{project}'"),
        )
        .with_reason(reasons::PROJECT_NOT_IN_TOKEN))
    }
}

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, message)
}

/// The token of an `Authorization: Bearer <token>` value.
pub fn bearer_token(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// How many verified tokens a [`Verifier`] remembers; it forgets them all when full.
const VERIFIED_TOKENS: usize = 4_096;

/// Checks bearer tokens against the configured key and algorithm.
///
/// A client sends the same token with every request, so a token that verified is remembered
/// with its claims (clones of a verifier share the memory): until it expires, the next
/// request finds it by its exact text, which includes the signature, instead of checking the
/// signature and parsing the claims again. A remembered token is served only while its
/// window holds now without the leeway (`nbf` passed, `exp` ahead); otherwise it is verified
/// afresh, with the leeway, so a token not valid yet is never served from memory.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    verified: Arc<RwLock<HashMap<String, Claims>>>,
}

impl Verifier {
    pub fn from_settings(settings: &AuthSettings, data_dir: &Path) -> Result<Verifier, KeyError> {
        let (algorithm, key) = match settings.algorithm {
            JwtAlgorithm::HS256 => {
                let secret = hs256_secret(settings, data_dir)?;
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret.expose().as_bytes()).map_err(KeyError::jwt)?,
                )
            }
            JwtAlgorithm::RS256 => {
                let path = settings
                    .jwt_public_key_path
                    .as_ref()
                    .ok_or(KeyError::MissingPublicKey)?;
                let pem = read_key(path)?;
                (
                    Algorithm::RS256,
                    DecodingKey::from_rsa_pem(&pem).map_err(KeyError::jwt)?,
                )
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Verifier {
            key,
            validation,
            verified: Arc::default(),
        })
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, Error> {
        let header =
            header.ok_or_else(|| unauthenticated("missing Authorization header: send 'Bearer <token>'"))?;
        let token = bearer_token(header)
            .ok_or_else(|| unauthenticated("malformed Authorization header: expected 'Bearer <token>'"))?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = (self.verified.read().expect("verified tokens lock").get(token))
            .filter(|claims| claims.in_force_at(now))
        {
            return Ok(claims.clone());
        }
        let claims = self.decode(token)?;
        let mut verified = self.verified.write().expect("verified tokens lock");
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// Checks the signature, algorithm, issuer and times, and parses the claims.
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "jsonwebtoken's ErrorKind is non-exhaustive: every other kind is a malformed token"
    )]
    fn decode(&self, token: &str) -> Result<Claims, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
            let message = match err.kind() {
                ErrorKind::ExpiredSignature => "token has expired",
                ErrorKind::InvalidSignature => "token signature is invalid",
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm => "token algorithm is not accepted",
                ErrorKind::InvalidIssuer => "token issuer is not accepted",
                ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim (sub, exp, iss)",
                ErrorKind::ImmatureSignature => "token is not valid yet",
                _ => "token is malformed",
            };
            unauthenticated(message)
        })?;
        Ok(data.claims)
    }
}

/// Makes tokens signed with the configured key; used by `lathe token create` and tests.
pub struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
    issuer: String,
}

impl Signer {
    pub fn from_settings(settings: &AuthSettings, data_dir: &Path) -> Result<Signer, KeyError> {
        let (algorithm, key) = match settings.algorithm {
            JwtAlgorithm::HS256 => {
                let secret = hs256_secret(settings, data_dir)?;
                (
                    Algorithm::HS256,
                    EncodingKey::from_secret(secret.expose().as_bytes()).map_err(KeyError::jwt)?,
                )
            }
            JwtAlgorithm::RS256 => {
                let path = settings
                    .jwt_private_key_path
                    .as_ref()
                    .ok_or(KeyError::MissingPrivateKey)?;
                (
                    Algorithm::RS256,
                    EncodingKey::from_rsa_pem(&read_key(path)?).map_err(KeyError::jwt)?,
                )
            }
        };
        Ok(Signer {
            key,
            algorithm,
            issuer: settings.issuer.clone(),
        })
    }

    pub fn sign(
        &self,
        subject: &str,
        roles: &[Role],
        projects: &[String],
        ttl: std::time::Duration,
    ) -> Result<String, KeyError> {
        self.sign_claims(subject, roles, projects, ttl)
            .map(|(token, _)| token)
    }

    /// A signed token and the claims it carries, for a service that calls others as itself
    /// (see `access::Caller::new`).
    pub fn sign_claims(
        &self,
        subject: &str,
        roles: &[Role],
        projects: &[String],
        ttl: std::time::Duration,
    ) -> Result<(String, Claims), KeyError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            roles: roles.to_vec(),
            projects: projects.to_vec(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            nbf: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.key).map_err(KeyError::jwt)?;
        Ok((token, claims))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("auth.jwt_public_key_path is required for RS256")]
    MissingPublicKey,
    #[error("auth.jwt_private_key_path is required to sign RS256 tokens")]
    MissingPrivateKey,
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the generated secret to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid key: {0}")]
    Jwt(String),
}

impl KeyError {
    fn jwt(err: jsonwebtoken::errors::Error) -> Self {
        KeyError::Jwt(err.to_string())
    }
}

fn read_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The configured HS256 secret, else the one in the data directory, generated on first use.
pub fn hs256_secret(settings: &AuthSettings, data_dir: &Path) -> Result<Secret, KeyError> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    let path = data_dir.join(SECRET_FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(Secret::new(text.trim())),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(KeyError::Read { path, source }),
    }
    let bytes: [u8; 32] = rand::random();
    let secret = hex::encode(bytes);
    write_private_file(&path, &secret).map_err(|source| KeyError::Write {
        path: path.clone(),
        source,
    })?;
    // Another process may have raced us; whoever wrote first wins and both read the same.
    let stored = std::fs::read_to_string(&path).map_err(|source| KeyError::Read { path, source })?;
    Ok(Secret::new(stored.trim()))
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(contents.as_bytes())?;
            file.sync_all()
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            jwt_secret: Some(Secret::new("0123456789abcdef0123456789abcdef")),
            ..AuthSettings::default()
        }
    }

    /// A signer and a verifier sharing one secret (the directory lives as long as they do).
    fn keys() -> (tempfile::TempDir, Signer, Verifier) {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::from_settings(&settings(), dir.path()).unwrap();
        let verifier = Verifier::from_settings(&settings(), dir.path()).unwrap();
        (dir, signer, verifier)
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let (_dir, signer, verifier) = keys();
        let token = signer
            .sign(
                "ana",
                &[Role::Editor],
                &["churn".to_owned()],
                Duration::from_secs(60),
            )
            .unwrap();
        let claims = verifier.verify_header(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(claims.sub, "ana");
        assert!(
            claims.has_role(Role::Viewer) && claims.has_role(Role::Editor) && !claims.has_role(Role::Admin)
        );
        assert!(claims.may_access("churn") && !claims.may_access("fraud"));
    }

    #[test]
    fn generated_secret_is_stable_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let first = hs256_secret(&AuthSettings::default(), dir.path()).unwrap();
        let second = hs256_secret(&AuthSettings::default(), dir.path()).unwrap();
        assert_eq!(first.expose(), second.expose());
        assert!(first.expose().len() >= 32);
        let signer = Signer::from_settings(&AuthSettings::default(), dir.path()).unwrap();
        let token = signer
            .sign("x", &[Role::Admin], &[], Duration::from_secs(60))
            .unwrap();
        Verifier::from_settings(&AuthSettings::default(), dir.path())
            .unwrap()
            .verify(&token)
            .unwrap();
    }

    #[test]
    fn bad_headers_are_unauthenticated() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = Verifier::from_settings(&settings(), dir.path()).unwrap();
        for header in [None, Some("Basic abc"), Some("Bearer "), Some("Bearer not.a.jwt")] {
            let err = verifier.verify_header(header).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated, "{header:?}");
        }
    }

    #[test]
    fn a_remembered_token_is_served_only_while_it_is_unexpired() {
        let (_dir, signer, verifier) = keys();
        let token = signer
            .sign("ana", &[Role::Viewer], &[], Duration::from_secs(60))
            .unwrap();
        let first = verifier.verify(&token).unwrap();
        // A clone shares what was verified; the second answer is the remembered one.
        assert_eq!(verifier.clone().verify(&token).unwrap(), first);
        assert_eq!(verifier.verified.read().unwrap().len(), 1);
        // Any change to the text (here one character of the signature) is a different token.
        let at = token.len() - 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert_eq!(
            verifier.verify(&tampered).unwrap_err().code,
            ErrorCode::Unauthenticated
        );
        // A remembered entry past its exp is not served: the token is checked afresh (this
        // text is no JWT at all, so only the memory could have accepted it).
        let expired = Claims {
            exp: chrono::Utc::now().timestamp() - 1,
            ..first
        };
        (verifier.verified.write().unwrap()).insert("remembered.but.expired".to_owned(), expired);
        let err = verifier.verify("remembered.but.expired").unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn a_token_is_refused_until_its_not_before_time() {
        let (_dir, _signer, verifier) = keys();
        let now = chrono::Utc::now().timestamp();
        let sign = |nbf: i64| {
            let claims = serde_json::json!({
                "sub": "ana", "roles": ["viewer"], "iss": "lathe", "iat": now, "exp": now + 3 * 86_400, "nbf": nbf,
            });
            let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let tomorrow = sign(now + 86_400);
        for _ in 0..2 {
            let err = verifier.verify(&tomorrow).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated);
            assert_eq!(err.message, "token is not valid yet");
        }
        assert_eq!(verifier.verify(&sign(now - 60)).unwrap().nbf, Some(now - 60));
        // A remembered entry whose nbf is ahead is not served: the token is checked afresh
        // (this text is no JWT at all, so only the memory could have accepted it).
        let remembered = Claims {
            nbf: Some(now + 86_400),
            ..verifier.verify(&sign(now - 60)).unwrap()
        };
        (verifier.verified.write().unwrap()).insert("remembered.but.not.yet".to_owned(), remembered);
        let err = verifier.verify("remembered.but.not.yet").unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn the_memory_of_verified_tokens_is_bounded() {
        let (_dir, signer, verifier) = keys();
        for n in 0..=VERIFIED_TOKENS {
            let token = signer
                .sign(
                    &format!("user-{n}"),
                    &[Role::Viewer],
                    &[],
                    Duration::from_secs(60),
                )
                .unwrap();
            assert_eq!(verifier.verify(&token).unwrap().sub, format!("user-{n}"));
        }
        assert_eq!(verifier.verified.read().unwrap().len(), 1);
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
    }
}
