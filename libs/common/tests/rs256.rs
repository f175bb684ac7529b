//! RS256: tokens signed with the configured private key verify with the public key; tokens
//! from another key, or HS256 tokens made with the public key as a secret, do not.
//! The PEM files under `fixtures/` are throwaway keys made for this test only.

use std::path::PathBuf;
use std::time::Duration;

use lathe_common::ErrorCode;
use lathe_common::auth::{Role, Signer, Verifier};
use lathe_common::config::{AuthSettings, JwtAlgorithm, Secret};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rs256(private: &str) -> AuthSettings {
    AuthSettings {
        algorithm: JwtAlgorithm::RS256,
        jwt_public_key_path: Some(fixture("rs256-test-public.pem")),
        jwt_private_key_path: Some(fixture(private)),
        ..AuthSettings::default()
    }
}

#[test]
fn rs256_tokens_verify_with_the_public_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = Verifier::from_settings(&rs256("rs256-test-private.pem"), dir.path()).unwrap();
    let ttl = Duration::from_secs(60);

    let signer = Signer::from_settings(&rs256("rs256-test-private.pem"), dir.path()).unwrap();
    let token = signer
        .sign("svc", &[Role::Viewer], &["churn".to_owned()], ttl)
        .unwrap();
    assert_eq!(verifier.verify(&token).unwrap().sub, "svc");

    let impostor = Signer::from_settings(&rs256("rs256-other-private.pem"), dir.path()).unwrap();
    let forged = impostor.sign("svc", &[Role::Admin], &[], ttl).unwrap();
    assert_eq!(
        verifier.verify(&forged).unwrap_err().code,
        ErrorCode::Unauthenticated
    );

    // The classic confusion attack: an HS256 token keyed with the public key's text.
    let public = std::fs::read_to_string(fixture("rs256-test-public.pem")).unwrap();
    let hs = AuthSettings {
        jwt_secret: Some(Secret::new(public)),
        ..AuthSettings::default()
    };
    let confused = Signer::from_settings(&hs, dir.path())
        .unwrap()
        .sign("svc", &[Role::Admin], &[], ttl)
        .unwrap();
    let err = verifier.verify(&confused).unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    assert!(err.message.contains("algorithm"), "{err}");
}

#[test]
fn rs256_without_a_private_key_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AuthSettings {
        jwt_private_key_path: None,
        ..rs256("unused")
    };
    assert!(Signer::from_settings(&settings, dir.path()).is_err());
    // Verifying needs only the public key.
    Verifier::from_settings(&settings, dir.path()).unwrap();
}
