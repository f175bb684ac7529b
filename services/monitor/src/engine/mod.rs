//! What the monitor does: keeps each monitor's reference sample and logged rows on the
//! object store ([`ingest`]), checks windows against the reference ([`check`]), raises and
//! delivers alerts ([`alerts`]), and sweeps on a schedule ([`sweep`]).
//!
//! Layout on the object store, under `monitors/{project}/{monitor}/`: `reference/{id}.parquet`
//! (the current one is the one the `monitor_references` row names) and
//! `log/{window_start}/{batch}.parquet` (one file per batch and window; a file counts once its
//! `monitor_batches` row is committed, so a batch is stored whole or not at all).

pub mod alerts;
pub mod check;
pub mod ingest;
pub mod purge;
pub mod sweep;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use lathe_common::auth::{Role, Signer};
use lathe_common::definitions::Definitions;
use lathe_common::grpc::TracedChannel;
use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::Monitor;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sea_orm::DatabaseConnection;

use crate::data::{self, Frame};
use crate::metrics::DriftMetrics;

/// The services and keys the monitor reaches out with.
pub struct Links {
    /// For `NotifyAlert`; `None` when the endpoint is malformed (alerts then start nothing).
    pub orchestrator: Option<TracedChannel>,
    /// For references from feature views.
    pub features: Option<TracedChannel>,
    /// Signs the monitor's own token for the orchestrator.
    pub signer: Option<Arc<Signer>>,
    pub http: reqwest::Client,
}

/// Timings of the background work.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// First retry of a failed delivery; doubled per attempt.
    pub retry_base: Duration,
    /// Deliveries tried at most this often.
    pub max_attempts: u32,
    /// A sweeper's claim of a window (or a delivery) lapses after this.
    pub claim_timeout: Duration,
    /// Windows checked per monitor per sweep at most.
    pub windows_per_sweep: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            retry_base: Duration::from_secs(1),
            max_attempts: 8,
            claim_timeout: Duration::from_secs(600),
            windows_per_sweep: 16,
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) db: DatabaseConnection,
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) monitors: Definitions<Monitor>,
    pub(crate) metrics: Arc<DriftMetrics>,
    pub(crate) links: Arc<Links>,
    pub(crate) tuning: Tuning,
}

/// Defaults the contract spells as 0 or empty.
pub const DEFAULT_PREDICTION_COLUMN: &str = "prediction";
pub const DEFAULT_LATENESS_SECONDS: u32 = 60;
pub const DEFAULT_RETRAIN_COOLDOWN_SECONDS: u32 = 3600;

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        objects: Arc<dyn ObjectStore>,
        monitors: Definitions<Monitor>,
        links: Links,
        tuning: Tuning,
    ) -> Engine {
        Engine {
            db,
            objects,
            monitors,
            metrics: Arc::new(DriftMetrics::default()),
            links: Arc::new(links),
            tuning,
        }
    }

    pub fn metrics(&self) -> &DriftMetrics {
        &self.metrics
    }

    pub fn definitions(&self) -> &Definitions<Monitor> {
        &self.monitors
    }

    /// The monitor's definition, or `monitor_not_found`.
    pub async fn monitor(&self, project: &str, name: &str) -> Result<Monitor> {
        match self.monitors.get(project, name).await? {
            Some(stored) => Ok(stored.spec),
            None => Err(Error::of(
                reasons::MONITOR_NOT_FOUND,
                format!("monitor '{name}' does not exist in project '{project}'"),
            )),
        }
    }

    /// A dataset on the object store: one Parquet file, or every `.parquet` file under a
    /// directory.
    pub async fn read_dataset(&self, path: &str) -> Result<Frame> {
        let trimmed = path.trim_matches('/');
        let location = Path::parse(trimmed)
            .ok()
            .filter(|_| !trimmed.is_empty() && !trimmed.split('/').any(|part| part == ".."))
            .ok_or_else(|| {
                Error::of(
                    reasons::INVALID_PATH,
                    format!("'{path}' is not a relative object store path"),
                )
            })?;
        let missing = || {
            Error::of(
                reasons::DATASET_NOT_FOUND,
                format!("no Parquet dataset is stored at '{path}'"),
            )
        };
        let mut files = vec![location.clone()];
        if !trimmed.ends_with(".parquet") {
            let mut listed: Vec<Path> = self
                .objects
                .list(Some(&location))
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
                .map_err(storage_error)?;
            listed.retain(|p| p.as_ref().ends_with(".parquet"));
            listed.sort();
            if listed.is_empty() {
                return Err(missing());
            }
            files = listed;
        }
        let mut frame = Frame::default();
        for file in files {
            let bytes = match self.objects.get(&file).await {
                Ok(found) => found.bytes().await.map_err(storage_error)?,
                Err(object_store::Error::NotFound { .. }) => return Err(missing()),
                Err(err) => return Err(storage_error(err)),
            };
            frame.append(parse_parquet(bytes).await?)?;
        }
        Ok(frame)
    }

    pub(crate) async fn read_object(&self, path: &str) -> Result<Frame> {
        let bytes = self
            .objects
            .get(&Path::from(path))
            .await
            .map_err(storage_error)?
            .bytes()
            .await
            .map_err(storage_error)?;
        parse_parquet(bytes).await
    }

    pub(crate) async fn write_object(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.objects
            .put(&Path::from(path), bytes.into())
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// Runs `call` as the monitor itself, with an editor token for `project`.
    pub(crate) async fn as_monitor<F: std::future::Future>(
        &self,
        project: &str,
        monitor: &str,
        call: F,
    ) -> std::result::Result<F::Output, String> {
        let Some(signer) = &self.links.signer else {
            return Err("the monitor has no signing key to call other services".to_owned());
        };
        let (token, claims) = signer
            .sign_claims(
                &format!("monitor:{monitor}"),
                &[Role::Editor],
                &[project.to_owned()],
                Duration::from_secs(300),
            )
            .map_err(|e| format!("cannot sign the monitor's token: {e}"))?;
        Ok(lathe_common::access::CALLER
            .scope(lathe_common::access::Caller::new(claims, &token), call)
            .await)
    }
}

/// `monitors/{project}/{monitor}`, the prefix of everything a monitor stores.
pub(crate) fn prefix(project: &str, monitor: &str) -> String {
    format!("monitors/{project}/{monitor}")
}

pub(crate) async fn parse_parquet(bytes: Bytes) -> Result<Frame> {
    tokio::task::spawn_blocking(move || data::read_parquet(bytes))
        .await
        .map_err(|e| Error::internal(format_args!("the Parquet reader stopped: {e}")))?
}

pub(crate) fn storage_error(err: object_store::Error) -> Error {
    Error::new(
        lathe_common::ErrorCode::Unavailable,
        format!("the object store failed: {err}"),
    )
}

/// Milliseconds since the epoch of a contract timestamp.
pub fn millis(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp.seconds * 1000 + i64::from(timestamp.nanos / 1_000_000)
}

/// A contract timestamp of milliseconds since the epoch.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}
