//! Removes the artifacts of deleted runs and models. Deletion writes the prefix to
//! `registry_pending_deletions` in the same transaction as the row deletions; this worker
//! removes the objects and then the pending row, so a crash at any point only delays cleanup.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, Set};
use tokio::sync::Notify;

use super::models::pending_deletion;

/// Wakes the cleanup worker; cheap to clone.
#[derive(Clone, Default)]
pub struct CleanupSignal(Arc<Notify>);

impl CleanupSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs until `stop` resolves: at start, on every wake, and once a minute.
pub async fn run_worker(
    db: DatabaseConnection,
    objects: Arc<dyn ObjectStore>,
    signal: CleanupSignal,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        if let Err(err) = drain(&db, objects.as_ref()).await {
            tracing::warn!(error = %err, "artifact cleanup failed; will retry");
        }
        tokio::select! {
            () = &mut stop => return,
            () = signal.0.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

/// Deletes every pending prefix; returns how many were completed.
pub async fn drain(db: &DatabaseConnection, objects: &dyn ObjectStore) -> Result<usize, lathe_common::Error> {
    let pending = pending_deletion::Entity::find()
        .order_by_asc(pending_deletion::Column::Id)
        .all(db)
        .await?;
    let mut done = 0;
    for row in pending {
        let prefix = Path::from(row.prefix.as_str());
        let locations: Vec<Path> = objects
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for location in &locations {
            match objects.delete(location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        pending_deletion::Entity::delete_by_id(row.id).exec(db).await?;
        tracing::info!(prefix = %row.prefix, objects = locations.len(), "artifacts removed");
        done += 1;
    }
    Ok(done)
}

/// Schedules the removal of the objects under `prefix`; the caller wakes the worker after.
pub async fn schedule<C: ConnectionTrait>(db: &C, prefix: String) -> Result<(), lathe_common::Error> {
    pending_deletion::ActiveModel {
        prefix: Set(prefix),
        create_time: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
