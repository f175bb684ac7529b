//! Test helpers for real backends: a fresh PostgreSQL database per test, a fresh prefix in the
//! S3-compatible test bucket per test.
//!
//! When a backend is unreachable the test fails if `CI=true` or
//! `LATHE_TEST_REQUIRE_BACKENDS=1` (as `scripts/test.sh` sets); otherwise it is skipped with a
//! message on stderr, so `cargo test` on a laptop without PostgreSQL still runs the rest.

use std::time::Duration;

use lathe_common::config::{ObjectStoreSettings, Secret};
use sea_orm::{ConnectionTrait, Database};

/// Default PostgreSQL server of the test machine (trust auth, database `test`).
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Whether an unreachable backend must fail the test rather than skip it.
pub fn backends_required() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    set("CI") || set("LATHE_TEST_REQUIRE_BACKENDS")
}

/// Fails (CI) or skips (locally) because `backend` is unavailable.
pub fn unavailable<T>(backend: &str, why: &str) -> Option<T> {
    assert!(
        !backends_required(),
        "{backend} is required (CI or LATHE_TEST_REQUIRE_BACKENDS) but unavailable: {why}"
    );
    eprintln!("skipping: {backend} unavailable: {why} (run ./scripts/test.sh to start every backend)");
    None
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A database created for one test and dropped afterwards.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// Creates a fresh database on the test server, or `None` when skipping.
    pub async fn create() -> Option<PgDatabase> {
        let admin_url = std::env::var("LATHE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let admin = match tokio::time::timeout(Duration::from_secs(10), Database::connect(&admin_url)).await {
            Ok(Ok(db)) => db,
            Ok(Err(err)) => return unavailable("PostgreSQL", &format!("{admin_url}: {err}")),
            Err(_) => return unavailable("PostgreSQL", &format!("{admin_url}: connect timed out")),
        };
        let name = unique_name("lathe_test");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(PgDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async context; a short-lived runtime on its own thread does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// The S3-compatible test server: settings plus a `s3://bucket/prefix` URL unique to the caller.
pub struct S3Location {
    pub url: String,
    pub settings: ObjectStoreSettings,
}

impl S3Location {
    /// A fresh prefix in the test bucket, or `None` when skipping.
    pub fn fresh() -> Option<S3Location> {
        let Ok(endpoint) = std::env::var("LATHE_TEST_S3_ENDPOINT") else {
            return unavailable(
                "the S3-compatible test server",
                "LATHE_TEST_S3_ENDPOINT is not set",
            );
        };
        let bucket = std::env::var("LATHE_TEST_S3_BUCKET").unwrap_or_else(|_| "lathe-test".to_owned());
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let url = format!("s3://{bucket}/{}", unique_name("t"));
        let settings = ObjectStoreSettings {
            url: Some(url.clone()),
            endpoint: Some(endpoint),
            region: Some("us-east-1".to_owned()),
            access_key_id: Some(env("LATHE_TEST_S3_ACCESS_KEY", "S3RVER")),
            secret_access_key: Some(Secret::new(env("LATHE_TEST_S3_SECRET_KEY", "S3RVER"))),
            allow_http: true,
            virtual_hosted_style: false,
        };
        Some(S3Location { url, settings })
    }
}
