//! Task logs: while a try runs, its output goes to the database in chunks (so it can be
//! followed from any process); when the try ends it becomes one object in the object store,
//! `runs/{run}/{task}/{try}/log`, and the chunks are deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lathe_common::{Error, Result};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::store::tables::log_chunk;

/// Chunks are written when this much is buffered, or this long after the first unwritten byte.
const CHUNK_BYTES: usize = 64 * 1024;
const CHUNK_AGE: Duration = Duration::from_millis(250);

pub fn log_path(run_id: &str, task_id: &str, try_number: i32) -> ObjectPath {
    ObjectPath::from(format!("runs/{run_id}/{task_id}/{try_number}/log"))
}

/// The writer of one try's log.
pub struct LogWriter {
    db: DatabaseConnection,
    run_id: String,
    task_id: String,
    try_number: i32,
    written: i64,
    buffer: Vec<u8>,
    oldest: Option<Instant>,
    whole: Vec<u8>,
}

impl LogWriter {
    pub fn new(db: DatabaseConnection, run_id: &str, task_id: &str, try_number: i32) -> LogWriter {
        LogWriter {
            db,
            run_id: run_id.to_owned(),
            task_id: task_id.to_owned(),
            try_number,
            written: 0,
            buffer: Vec::new(),
            oldest: None,
            whole: Vec::new(),
        }
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(data);
        self.whole.extend_from_slice(data);
        self.oldest.get_or_insert_with(Instant::now);
        if self.buffer.len() >= CHUNK_BYTES || self.oldest.is_some_and(|t| t.elapsed() >= CHUNK_AGE) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is buffered as one chunk.
    pub async fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buffer);
        let len = i64::try_from(data.len()).unwrap_or(i64::MAX);
        log_chunk::Entity::insert(log_chunk::ActiveModel {
            run_id: sea_orm::Set(self.run_id.clone()),
            task_id: sea_orm::Set(self.task_id.clone()),
            try_number: sea_orm::Set(self.try_number),
            offset: sea_orm::Set(self.written),
            data: sea_orm::Set(data),
        })
        .exec(&self.db)
        .await?;
        self.written += len;
        self.oldest = None;
        Ok(())
    }

    /// Moves the whole log to the object store and drops its chunks.
    pub async fn finish(mut self, objects: &Arc<dyn ObjectStore>) -> Result<()> {
        self.flush().await?;
        objects
            .put(
                &log_path(&self.run_id, &self.task_id, self.try_number),
                PutPayload::from(std::mem::take(&mut self.whole)),
            )
            .await?;
        log_chunk::Entity::delete_many()
            .filter(log_chunk::Column::RunId.eq(self.run_id.as_str()))
            .filter(log_chunk::Column::TaskId.eq(self.task_id.as_str()))
            .filter(log_chunk::Column::TryNumber.eq(self.try_number))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// What a reader gets of a log from `offset`: the bytes, and whether the log is whole (moved
/// to the object store: nothing more will come).
pub struct LogPart {
    pub data: Bytes,
    pub complete: bool,
}

pub async fn read_log(
    db: &DatabaseConnection,
    objects: &Arc<dyn ObjectStore>,
    run_id: &str,
    task_id: &str,
    try_number: i32,
    offset: u64,
) -> Result<LogPart> {
    let chunks = log_chunk::Entity::find()
        .filter(log_chunk::Column::RunId.eq(run_id))
        .filter(log_chunk::Column::TaskId.eq(task_id))
        .filter(log_chunk::Column::TryNumber.eq(try_number))
        .order_by_asc(log_chunk::Column::Offset)
        .all(db)
        .await?;
    if !chunks.is_empty() {
        let mut data = Vec::new();
        for chunk in chunks {
            let start = u64::try_from(chunk.offset).unwrap_or(0);
            let end = start + chunk.data.len() as u64;
            if end > offset {
                let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(0);
                data.extend_from_slice(&chunk.data[skip..]);
            }
        }
        return Ok(LogPart {
            data: data.into(),
            complete: false,
        });
    }
    match objects.get(&log_path(run_id, task_id, try_number)).await {
        Ok(found) => {
            let whole = found.bytes().await?;
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(whole.len());
            Ok(LogPart {
                data: whole.slice(start..),
                complete: true,
            })
        }
        // Not started, or between its last chunk's deletion... the try has written nothing yet.
        Err(object_store::Error::NotFound { .. }) => Ok(LogPart {
            data: Bytes::new(),
            complete: false,
        }),
        Err(err) => Err(Error::from(err)),
    }
}
