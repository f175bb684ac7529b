//! Metadata database from a URL: `sqlite://PATH` (the embedded default, a file in the data
//! directory) or `postgres://…`. Each service runs its own migrations into its own tables and
//! keeps its own migration-history table, so services can share one PostgreSQL database.

use std::path::Path;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::{ConfigError, DatabaseSettings};
use crate::error::{Error, ErrorCode};
use crate::reasons;

/// How long a SQLite writer waits for another writer's transaction before giving up. Writers
/// queue on the database's lock; this only bounds a wait behind a stuck transaction.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`retry_conflicts`] runs a transaction that met a transient conflict, in all.
const WRITE_ATTEMPTS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the SQLite directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sea_orm::DbErr,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[source] sea_orm::DbErr),
}

/// The URL a service uses: the configured one, else a SQLite file named after the service.
pub fn resolve_url(settings: &DatabaseSettings, data_dir: &Path, service: &str) -> String {
    match &settings.url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", data_dir.join(format!("{service}.db")).display()),
    }
}

/// Connects to the database `url`, creating a SQLite file (and its folder) when needed.
pub async fn connect(
    url: &str,
    settings: &DatabaseSettings,
    key: &str,
) -> Result<DatabaseConnection, DbError> {
    let url = if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(
                ConfigError::invalid(format!("{key}.url"), "a sqlite:// URL needs a file path").into(),
            );
        }
        if path != ":memory:"
            && let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| DbError::CreateDir {
                path: parent.display().to_string(),
                source,
            })?;
        }
        if url.contains('?') {
            url.to_owned()
        } else {
            format!("{url}?mode=rwc")
        }
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url.to_owned()
    } else {
        return Err(ConfigError::invalid(
            format!("{key}.url"),
            format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://…",
                redact(url)
            ),
        )
        .into());
    };
    let mut options = ConnectOptions::new(url.clone());
    if url.starts_with("sqlite") {
        let in_memory = url.contains(":memory:");
        options.map_sqlx_sqlite_opts(move |opts| {
            // LIKE is case-sensitive on PostgreSQL; make SQLite agree so filters behave the same.
            let opts = opts
                .pragma("case_sensitive_like", "ON")
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            // WAL: readers never wait for the writer, and a commit is one append.
            if in_memory {
                opts
            } else {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            }
        });
    }
    if settings.max_connections == Some(0) {
        return Err(ConfigError::invalid(format!("{key}.max_connections"), "must be at least 1").into());
    }
    let sqlite = url.starts_with("sqlite");
    options
        .max_connections(
            settings
                .max_connections
                .unwrap_or_else(|| default_max_connections(sqlite)),
        )
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect {
            url: redact(&url),
            source,
        })
}

/// Starts a transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`,
/// waiting its turn behind other writers: a deferred transaction that reads first cannot
/// upgrade its lock while another connection writes, and fails with "database is locked"
/// instead of waiting. On PostgreSQL it is a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Runs `attempt` (one whole transaction, begun with [`begin_write`] and committed inside it)
/// and runs it again, after a short randomised pause, when it fails with a [`reasons::WRITE_CONFLICT`]
/// (a concurrent writer's serialization failure or deadlock), up to a few times. Any other
/// error is returned at once. Each attempt must begin its own transaction, so that what it
/// read is read again.
pub async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut tries = 1;
    loop {
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if err.reason != reasons::WRITE_CONFLICT.name || tries >= WRITE_ATTEMPTS {
            return Err(err);
        }
        let pause = Duration::from_millis(rand::random_range(1..=5u64) << tries.min(6));
        tracing::debug!(
            tries,
            pause_ms = pause.as_millis() as u64,
            "write conflict; retrying"
        );
        tokio::time::sleep(pause).await;
        tries += 1;
    }
}

/// Whether `err` is a conflict with a concurrent transaction that the same transaction, run
/// again, would likely not meet: PostgreSQL's serialization failure (40001) or deadlock
/// (40P01), SQLite's busy or locked (after its busy timeout).
pub fn is_write_conflict(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = err else {
        return false;
    };
    let Some(database) = sqlx.as_database_error() else {
        return false;
    };
    match database.code().as_deref() {
        Some("40001" | "40P01") => true,
        // SQLite's extended result codes: the primary code is the low byte (5 busy, 6 locked).
        Some(code) => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)) && is_sqlite(database),
        None => false,
    }
}

fn is_sqlite(err: &dyn sea_orm::sqlx::error::DatabaseError) -> bool {
    err.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
}

/// The error a transient write conflict becomes: retried by [`retry_conflicts`], and a 503 (try again)
/// for a caller when retries run out, never a 500.
pub fn write_conflict(err: &DbErr) -> Error {
    tracing::warn!(error = %err, "database write conflict");
    Error::new(
        ErrorCode::Unavailable,
        "the database is busy with concurrent writes; try again",
    )
    .with_reason(reasons::WRITE_CONFLICT)
}

/// Pool size when `database.max_connections` is unset. SQLite: 4 (one writer at a time anyway).
/// PostgreSQL: twice the cores this process may use, at least 4. A busy connection is a
/// server process wanting a core, so with many more connections than cores queries wait on
/// the operating system's scheduler instead of in the pool's first-come queue (worse
/// throughput and tail latency for reads); with as many as the cores, commits waiting on the
/// WAL flush and the response work between queries leave the database idle (worse writes).
/// On a 2-core machine running Lathe, PostgreSQL and the load generator, 6 s per row at c=8
/// (req/s, docs/benchmarks-history.md): get-version 3,536 / 3,706 / 2,987 / 2,940 with 2 / 4 / 8 / 16
/// connections, search 208 / 258 / 245 / 271, log-batch 267 / 356 / 322 / 314,
/// create-version 259 / 381 / 446 / 444. A database on its own machine wants about twice
/// its own cores, set explicitly.
pub fn default_max_connections(sqlite: bool) -> u32 {
    if sqlite {
        return 4;
    }
    let cores =
        std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    cores.saturating_mul(2).max(4)
}

/// Hides the password of a database URL for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_write_conflict(&err) {
            return write_conflict(&err);
        }
        Error::internal(format_args!("database: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_pool_is_twice_the_cores_and_sqlite_stays_at_four() {
        let cores = std::thread::available_parallelism().unwrap().get() as u32;
        assert_eq!(default_max_connections(false), (2 * cores).max(4));
        assert_eq!(default_max_connections(true), 4);
    }

    #[tokio::test]
    async fn a_pool_of_zero_connections_is_refused_by_name() {
        let settings = DatabaseSettings {
            url: None,
            max_connections: Some(0),
        };
        let err = connect("sqlite://:memory:", &settings, "registry.database")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting `registry.database.max_connections`: must be at least 1"
        );
    }

    #[test]
    fn default_url_is_a_file_per_service() {
        let url = resolve_url(&DatabaseSettings::default(), Path::new("/data"), "registry");
        assert_eq!(url, "sqlite:///data/registry.db");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
    }

    #[tokio::test]
    async fn unsupported_schemes_name_the_key() {
        let err = connect("mysql://x", &DatabaseSettings::default(), "registry.database")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("registry.database.url"), "{err}");
    }
}

/// Short declarations of tables and indexes for services' migrations.
pub mod schema {
    use sea_orm::sea_query::{Alias, ColumnDef, Index, IndexCreateStatement, Table, TableCreateStatement};

    /// A column's type.
    #[derive(Clone, Copy, Debug)]
    pub enum Kind {
        Text,
        Big,
        Int,
        Double,
        Blob,
    }

    /// `CREATE TABLE IF NOT EXISTS name (columns…, PRIMARY KEY (key…))`; each column is
    /// (name, type, nullable).
    pub fn table(name: &str, columns: &[(&str, Kind, bool)], key: &[&str]) -> TableCreateStatement {
        let mut table = Table::create();
        table.table(Alias::new(name)).if_not_exists();
        for (column, kind, nullable) in columns {
            let mut def = ColumnDef::new(Alias::new(*column));
            match kind {
                Kind::Text => def.text(),
                Kind::Big => def.big_integer(),
                Kind::Int => def.integer(),
                Kind::Double => def.double(),
                Kind::Blob => def.blob(),
            };
            if !nullable {
                def.not_null();
            }
            table.col(def);
        }
        let mut primary = Index::create();
        for column in key {
            primary.col(Alias::new(*column));
        }
        table.primary_key(&mut primary);
        table.to_owned()
    }

    /// `CREATE INDEX IF NOT EXISTS name ON table (columns…)`.
    pub fn index(table: &str, name: &str, columns: &[&str]) -> IndexCreateStatement {
        let mut index = Index::create();
        index.name(name).table(Alias::new(table)).if_not_exists();
        for column in columns {
            index.col(Alias::new(*column));
        }
        index.to_owned()
    }
}

/// The advisory lock every Lathe process takes on PostgreSQL while it migrates: processes that
/// start together on one database (replicas of a service, `lathe worker`s beside their
/// orchestrator, services sharing a database) migrate it one after the other instead of
/// racing on the same `CREATE TABLE` (which fails one of them on `pg_type`'s unique index).
const MIGRATION_LOCK: i64 = 0x4C41_5448_455F_4D49; // "LATHE_MI"

/// Runs `M`'s migrations up; on PostgreSQL inside one transaction holding [`MIGRATION_LOCK`],
/// so the migration is atomic and serialized with every other process's.
pub async fn migrate<M: sea_orm_migration::MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    if db.get_database_backend() != DbBackend::Postgres {
        return M::up(db, None).await;
    }
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"),
    ))
    .await?;
    M::up(&txn, None).await?;
    txn.commit().await
}
