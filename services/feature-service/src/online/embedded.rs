//! The embedded online store: one redb file, no server to run.
//!
//! Layout: a single table `online_rows`; the key is `u32 BE length | project | u32 BE length |
//! view | entity key` (the entity key in its canonical text form), so the rows of a view are
//! one contiguous key range; the value is the row in the binary encoding of `codec.rs` for a
//! plain view, or the entity's opaque state, as given, for an aggregated view (a view is never
//! both, so `delete_view` clears either). An `update_states` call is one write transaction:
//! redb runs one writer at a time, which makes each read-modify-write atomic.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::codec::{decode_projected_row, decode_row_version, encode_row};
use super::error::OnlineError;
use super::model::{EntityKey, FeatureRow, version_cmp};
use super::{OnlineStore, StateUpdate, check_feature_names};

const ROWS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("online_rows");

/// An [`OnlineStore`] in a local redb file; each `write` is one durable transaction.
#[derive(Clone)]
pub struct EmbeddedOnlineStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl EmbeddedOnlineStore {
    /// Opens the store at `path`, creating the file (not its folder) when missing.
    pub async fn open(path: impl AsRef<Path>) -> Result<EmbeddedOnlineStore, OnlineError> {
        let path = path.as_ref().to_path_buf();
        let opened = path.clone();
        let db = blocking(&path, move || {
            let db = create_when_free(&opened)?;
            // Creating the table up front lets readers assume it exists.
            let txn = db.begin_write()?;
            txn.open_table(ROWS)?;
            txn.commit()?;
            Ok(db)
        })
        .await?;
        tracing::debug!(path = %path.display(), "opened embedded online store");
        Ok(EmbeddedOnlineStore {
            db: Arc::new(db),
            path: Arc::new(path),
        })
    }
}

/// How long opening waits for another holder of the file to let go of it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens (or creates) the file, waiting up to [`LOCK_WAIT`] while another instance still
/// holds it: a service restarting in the same process, or a previous process still stopping,
/// releases it within moments. Past that the lock error stands (two live instances on one file).
fn create_when_free(path: &Path) -> Result<Database, redb::DatabaseError> {
    let started = std::time::Instant::now();
    loop {
        match Database::create(path) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

#[async_trait]
impl OnlineStore for EmbeddedOnlineStore {
    async fn write(
        &self,
        project: &str,
        view: &str,
        rows: Vec<(EntityKey, FeatureRow)>,
    ) -> Result<usize, OnlineError> {
        check_feature_names(
            rows.iter()
                .flat_map(|(_, row)| row.values.iter().map(|(n, _)| n.as_str())),
        )?;
        let prefix = view_prefix(project, view);
        let db = self.db.clone();
        blocking(&self.path, move || {
            let txn = db.begin_write()?;
            let mut applied = 0;
            {
                let mut table = txn.open_table(ROWS)?;
                let mut key = prefix.clone();
                for (entity, row) in rows {
                    key.truncate(prefix.len());
                    key.extend_from_slice(entity.to_string().as_bytes());
                    let stored = match table.get(key.as_slice())? {
                        Some(guard) => Some(decode_row_version(guard.value())?),
                        None => None,
                    };
                    let new = (row.event_ts_us, row.created_ts_us);
                    if stored.is_some_and(|stored| version_cmp(new, stored) == Ordering::Less) {
                        continue;
                    }
                    table.insert(key.as_slice(), encode_row(&row).as_slice())?;
                    applied += 1;
                }
            }
            txn.commit()?;
            Ok(applied)
        })
        .await
    }

    async fn read(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
        features: &[String],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        check_feature_names(features.iter().map(String::as_str))?;
        let prefix = view_prefix(project, view);
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let features = features.to_vec();
        let db = self.db.clone();
        blocking(&self.path, move || {
            let txn = db.begin_read()?;
            let table = txn.open_table(ROWS)?;
            let mut key = prefix.clone();
            keys.iter()
                .map(|entity| {
                    key.truncate(prefix.len());
                    key.extend_from_slice(entity.as_bytes());
                    match table.get(key.as_slice())? {
                        Some(guard) => Ok(Some(decode_projected_row(guard.value(), &features)?)),
                        None => Ok(None),
                    }
                })
                .collect()
        })
        .await
    }

    async fn read_states(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, OnlineError> {
        let prefix = view_prefix(project, view);
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let db = self.db.clone();
        blocking(&self.path, move || {
            let txn = db.begin_read()?;
            let table = txn.open_table(ROWS)?;
            let mut key = prefix.clone();
            keys.iter()
                .map(|entity| {
                    key.truncate(prefix.len());
                    key.extend_from_slice(entity.as_bytes());
                    Ok(table.get(key.as_slice())?.map(|guard| guard.value().to_vec()))
                })
                .collect()
        })
        .await
    }

    async fn update_states(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
        update: StateUpdate,
    ) -> Result<usize, OnlineError> {
        let prefix = view_prefix(project, view);
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let db = self.db.clone();
        blocking(&self.path, move || {
            let txn = db.begin_write()?;
            let mut written = 0;
            {
                let mut table = txn.open_table(ROWS)?;
                let mut key = prefix.clone();
                for (index, entity) in keys.iter().enumerate() {
                    key.truncate(prefix.len());
                    key.extend_from_slice(entity.as_bytes());
                    let stored = table.get(key.as_slice())?.map(|guard| guard.value().to_vec());
                    if let Some(state) = update(index, stored.as_deref())? {
                        table.insert(key.as_slice(), state.as_slice())?;
                        written += 1;
                    }
                }
            }
            txn.commit()?;
            Ok(written)
        })
        .await
    }

    async fn delete_view(&self, project: &str, view: &str) -> Result<(), OnlineError> {
        let start = view_prefix(project, view);
        let end = prefix_end(&start);
        let db = self.db.clone();
        blocking(&self.path, move || {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(ROWS)?;
                match &end {
                    Some(end) => table.retain_in(start.as_slice()..end.as_slice(), |_, _| false)?,
                    None => table.retain_in(start.as_slice().., |_, _| false)?,
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

/// The key prefix every row of (project, view) starts with; lengths make it unambiguous.
fn view_prefix(project: &str, view: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(8 + project.len() + view.len() + 32);
    for part in [project, view] {
        let len = u32::try_from(part.len()).expect("names are shorter than 4 GiB");
        prefix.extend_from_slice(&len.to_be_bytes());
        prefix.extend_from_slice(part.as_bytes());
    }
    prefix
}

/// The smallest key greater than every key starting with `prefix`; `None` when unbounded.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Runs blocking redb work off the async runtime, mapping its errors.
async fn blocking<T, F>(path: &Path, work: F) -> Result<T, OnlineError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreFailure> + Send + 'static,
{
    let backend = || path.display().to_string();
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(StoreFailure::Online(err))) => Err(err),
        Ok(Err(StoreFailure::Redb(redb::Error::Corrupted(cause)))) => {
            Err(OnlineError::Corrupted(format!("{}: {cause}", backend())))
        }
        Ok(Err(StoreFailure::Redb(err))) => Err(OnlineError::Backend {
            backend: backend(),
            cause: err.to_string(),
        }),
        Err(join) => Err(OnlineError::Backend {
            backend: backend(),
            cause: format!("store task failed: {join}"),
        }),
    }
}

/// A failure inside a blocking closure: ours, or redb's (any of its error types).
enum StoreFailure {
    Online(OnlineError),
    Redb(redb::Error),
}

impl From<OnlineError> for StoreFailure {
    fn from(err: OnlineError) -> Self {
        StoreFailure::Online(err)
    }
}

macro_rules! redb_failure {
    ($($source:ty),*) => {$(
        impl From<$source> for StoreFailure {
            fn from(err: $source) -> Self {
                StoreFailure::Redb(err.into())
            }
        }
    )*};
}

redb_failure!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_embedded_view_prefixes_do_not_overlap() {
        let a = view_prefix("ab", "c");
        let b = view_prefix("a", "bc");
        assert!(!a.starts_with(&b) && !b.starts_with(&a));
        assert_eq!(prefix_end(&[1, 2, 255]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[255, 255]), None);
    }

    #[tokio::test]
    async fn online_embedded_rows_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("online.redb");
        let key = EntityKey::single("id", 1i64).unwrap();
        let row = FeatureRow {
            event_ts_us: 10,
            created_ts_us: None,
            values: vec![("f".into(), 1.5.into())],
        };
        {
            let store = EmbeddedOnlineStore::open(&path).await.unwrap();
            store
                .write("p", "v", vec![(key.clone(), row.clone())])
                .await
                .unwrap();
        }
        let store = EmbeddedOnlineStore::open(&path).await.unwrap();
        let read = store.read("p", "v", &[key], &["f".into()]).await.unwrap();
        assert_eq!(read, vec![Some(row)]);
    }
}
