//! The Redis online store, for several serving replicas sharing one copy of the features.
//!
//! Key layout: one string per (project, view, entity) at
//!
//! ```text
//! {key_prefix}:{project}:{view}:{entity key}      e.g.  lathe:shop:user_stats:user_id=42
//! ```
//!
//! where `project` and `view` have `%` and `:` percent-escaped (so `:` separates exactly four
//! parts and `{key_prefix}:{project}:{view}:*` matches exactly the view's rows) and the entity
//! key is its canonical text form (see [`EntityKey`]). For a plain view the value is the whole
//! row in the binary row encoding of `codec.rs`, the one the embedded store uses too: format
//! byte, event time, created flag and time, then the features by name. For an aggregated view
//! it is the entity's opaque state, as given. A view is never both, so deleting a view clears
//! either.
//!
//! Every write goes through a Lua script (EVALSHA, 200 entities per call, 1,000 per pipelined
//! round trip) that, per entity, creates a missing row or reads the stored row's version from
//! its fixed-offset header (`struct.unpack`) and replaces the row when the new one is at least
//! as new, in one atomic step; it needs Redis 7.0 or later (`SET … NX GET`). A bulk write (more
//! than one round trip: materialization) first tries `MSETNX` on groups of 100 entities of a
//! round trip, so that entities with no stored row (most of a first materialization) are
//! written at a fraction of a command each, and sends only the groups that met a stored row
//! (`MSETNX` then sets none of the group) on to the script; once a round trip finds most of
//! them stored (a re-materialization), the rest of that write goes straight to the script. A
//! small write (a push) always costs one round trip. Reads are one MGET per 1,000 entities, on
//! a connection that all reads on one thread share: no pool checkout (which would cost a PING
//! round trip each) and no hand-off to another thread (see `read_connection`). Deleting a view
//! SCANs its pattern and UNLINKs what it finds. Versions are compared as
//! Lua numbers (doubles): exact for times within ±2^53 µs of 1970, i.e. until the year 2255.
//!
//! States are read like rows (MGET on the shared reader connection). An update of states is
//! an optimistic transaction per 200 entities, on a pooled connection of its own: `WATCH` and
//! `MGET` the entities, compute their new states here, then `MULTI`, a `SET` per changed state,
//! `EXEC`. When another writer changed one of them in between, `EXEC` answers nil and sets
//! nothing; the transaction is then redone from the read, after a short growing pause, up to
//! 50 times. The update runs here rather than in a script so that its logic stays in Rust.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, ErrorKind, RedisError, Script, ServerErrorKind};
use deadpool_redis::{Config, Pool, PoolConfig, PoolError, Runtime, Timeouts};
use futures::{StreamExt, TryStreamExt};

use super::codec::{decode_projected_row, encode_row};
use super::error::{OnlineError, redact_url};
use super::model::{EntityKey, FeatureRow, write_escaped};
use super::{OnlineStore, StateUpdate, check_feature_names};

/// Entities per pipelined round trip.
const CHUNK: usize = 1_000;
/// Round trips of one call in flight at once, each on its own pooled connection.
const IN_FLIGHT: usize = 4;
const SCAN_COUNT: usize = 1_000;

/// Entities per `MSETNX` of a bulk write: it sets all of them or, when one is stored already,
/// none. Large enough that Redis's per-command cost fades, small enough that one stored row
/// sends few new ones the slower way.
const NEW_GROUP: usize = 100;

/// Entities per script call: one call runs atomically, so this bounds how long a write
/// holds up the server (a few hundred microseconds) while sparing the per-call overhead.
const SCRIPT_KEYS: usize = 200;

/// Entities per optimistic transaction of `update_states`: one `WATCH`, `MGET` and `EXEC` each.
/// A write by anyone to any of them between the read and the `EXEC` redoes all of them, which
/// argues for few; each transaction costs three round trips, which argues for many.
const STATE_KEYS: usize = 200;

/// Attempts at one transaction of `update_states` before giving up on entities that keep
/// changing under it.
const STATE_ATTEMPTS: u32 = 50;

/// The longest pause between two attempts of a transaction of `update_states`.
const STATE_BACKOFF_MAX: Duration = Duration::from_millis(50);

/// KEYS = row keys; ARGV = their encoded rows, in the same order. Per key, stores the row
/// unless the stored one is newer. Returns how many rows were stored. `SET … NX GET` (Redis
/// 7.0+) creates a missing row and returns an existing one in a single call, so a new entity
/// (most of a first materialization) costs one call instead of a read and a write.
const UPSERT_LUA: &str = r"
local applied = 0
for i = 1, #KEYS do
  local row = ARGV[i]
  local stored = redis.call('SET', KEYS[i], row, 'NX', 'GET')
  if stored then
    local _, ts, has_created, created = struct.unpack('<BlBl', stored)
    local _, new_ts, new_has_created, new_created = struct.unpack('<BlBl', row)
    local older = new_ts < ts
      or (new_ts == ts and has_created ~= 0 and (new_has_created == 0 or new_created < created))
    if not older then
      redis.call('SET', KEYS[i], row)
      applied = applied + 1
    end
  else
    applied = applied + 1
  end
end
return applied
";

/// An [`OnlineStore`] on Redis through a connection pool.
pub struct RedisOnlineStore {
    pool: Pool,
    key_prefix: String,
    /// The URL without its password, for errors and logs.
    backend: String,
    upsert: Script,
    /// For the readers' connections, made outside the pool (see `read_connection`).
    client: redis::Client,
    /// The connection reads on each thread share (a multiplexed connection takes concurrent
    /// commands); dropped after an I/O error so that the next read makes a fresh one.
    readers: Mutex<Vec<(ThreadId, MultiplexedConnection)>>,
}

impl RedisOnlineStore {
    /// Connects to `url` (`redis://[user:password@]host:port[/db]`) and checks that the server
    /// answers; every key the store touches starts with `{key_prefix}:`.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<RedisOnlineStore, OnlineError> {
        let backend = redact_url(url);
        let mut pool_config = PoolConfig::new(16);
        // Without timeouts a blackholed host would hang every call instead of failing it.
        pool_config.timeouts = Timeouts {
            wait: Some(Duration::from_secs(5)),
            create: Some(Duration::from_secs(5)),
            recycle: Some(Duration::from_secs(5)),
        };
        let invalid = |err: &dyn std::fmt::Display| OnlineError::Unavailable {
            backend: backend.clone(),
            cause: format!("invalid configuration: {err}"),
        };
        let mut config = Config::from_url(url);
        config.pool = Some(pool_config);
        let pool = (config.create_pool(Some(Runtime::Tokio1))).map_err(|err| invalid(&err))?;
        // The readers' connections are made outside the pool, from the same URL.
        let client = redis::Client::open(url).map_err(|err| invalid(&err))?;
        let store = RedisOnlineStore {
            pool,
            key_prefix: key_prefix.to_owned(),
            backend,
            upsert: Script::new(UPSERT_LUA),
            client,
            readers: Mutex::new(Vec::new()),
        };
        let mut conn = store.connection().await?;
        store
            .upsert
            .load_async(&mut conn)
            .await
            .map_err(|err| store.redis_error(err))?;
        tracing::debug!(backend = %store.backend, prefix = %store.key_prefix, "connected redis online store");
        Ok(store)
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, OnlineError> {
        self.pool.get().await.map_err(|err| match err {
            PoolError::Backend(err) => self.redis_error(err),
            PoolError::Timeout(kind) => self.unavailable(format!("timed out ({kind:?})")),
            PoolError::Closed => self.unavailable("the connection pool is closed".into()),
            PoolError::NoRuntimeSpecified => self.unavailable("no async runtime".into()),
            PoolError::PostCreateHook(err) => self.unavailable(err.to_string()),
        })
    }

    /// The connection reads on this thread go through, made on first use. A multiplexed
    /// connection's I/O runs in a task spawned on the runtime it was made on. Made here, on a
    /// single-threaded runtime (a gateway HTTP worker, which calls online reads inline), that
    /// task runs on the reading thread itself, so a read hands nothing to another thread. One
    /// connection per thread that reads: the HTTP workers and the services' runtime workers.
    async fn read_connection(&self) -> Result<(ThreadId, MultiplexedConnection), OnlineError> {
        let thread = std::thread::current().id();
        let existing = (self.readers.lock().expect("readers lock").iter())
            .find(|(owner, _)| *owner == thread)
            .map(|(_, shared)| shared.clone());
        if let Some(shared) = existing {
            return Ok((thread, shared));
        }
        let made = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|err| self.redis_error(err))?;
        let mut readers = self.readers.lock().expect("readers lock");
        readers.retain(|(owner, _)| *owner != thread);
        readers.push((thread, made.clone()));
        Ok((thread, made))
    }

    fn unavailable(&self, cause: String) -> OnlineError {
        OnlineError::Unavailable {
            backend: self.backend.clone(),
            cause,
        }
    }

    fn redis_error(&self, err: RedisError) -> OnlineError {
        let down = err.is_io_error()
            || err.is_connection_refusal()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_unrecoverable_error();
        if down {
            self.unavailable(err.to_string())
        } else {
            OnlineError::Backend {
                backend: self.backend.clone(),
                cause: err.to_string(),
            }
        }
    }

    /// `{key_prefix}:{project}:{view}:`, the start of every key of the view.
    fn view_key_prefix(&self, project: &str, view: &str) -> String {
        let mut key = String::with_capacity(self.key_prefix.len() + project.len() + view.len() + 40);
        key.push_str(&self.key_prefix);
        for part in [project, view] {
            key.push(':');
            write_escaped(&mut key, part, &['%', ':']).expect("writing to a String cannot fail");
        }
        key.push(':');
        key
    }

    /// Writes one round trip's rows; `mostly_new` says whether to try `SET NX` first, and is
    /// cleared when most rows turn out to be stored already.
    async fn write_chunk(
        &self,
        view_key: &str,
        rows: &[(EntityKey, FeatureRow)],
        mostly_new: &AtomicBool,
    ) -> Result<usize, OnlineError> {
        let mut conn = self.connection().await?;
        if !mostly_new.load(Ordering::Relaxed) {
            let rows: Vec<&(EntityKey, FeatureRow)> = rows.iter().collect();
            return self.upsert(&mut conn, view_key, &rows).await;
        }
        let mut pipe = redis::pipe();
        let mut key = String::with_capacity(view_key.len() + 32);
        for group in rows.chunks(NEW_GROUP) {
            let mut command = redis::cmd("MSETNX");
            for (entity, row) in group {
                command
                    .arg(row_key(&mut key, view_key, entity))
                    .arg(encode_row(row));
            }
            pipe.add_command(command);
        }
        let created: Vec<bool> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|err| self.redis_error(err))?;
        // A group that met a stored row set nothing: all of it goes to the script.
        let rest: Vec<&(EntityKey, FeatureRow)> = rows
            .chunks(NEW_GROUP)
            .zip(&created)
            .filter(|(_, created)| !**created)
            .flat_map(|(group, _)| group)
            .collect();
        if rest.len() * 2 > rows.len() {
            mostly_new.store(false, Ordering::Relaxed);
        }
        let created = rows.len() - rest.len();
        if rest.is_empty() {
            return Ok(created);
        }
        Ok(created + self.upsert(&mut conn, view_key, &rest).await?)
    }

    /// Runs the upsert script over `rows`; returns how many were stored.
    async fn upsert(
        &self,
        conn: &mut deadpool_redis::Connection,
        view_key: &str,
        rows: &[&(EntityKey, FeatureRow)],
    ) -> Result<usize, OnlineError> {
        // EVALSHA commands built directly: a Cmd keeps its arguments in one buffer, where a
        // ScriptInvocation allocates one per argument.
        let mut pipe = redis::pipe();
        let mut key = String::with_capacity(view_key.len() + 32);
        for script_rows in rows.chunks(SCRIPT_KEYS) {
            let mut command = redis::cmd("EVALSHA");
            command.arg(self.upsert.get_hash()).arg(script_rows.len());
            for (entity, _) in script_rows {
                command.arg(row_key(&mut key, view_key, entity));
            }
            for (_, row) in script_rows {
                command.arg(encode_row(row));
            }
            pipe.add_command(command);
        }
        let applied: Vec<i64> = match pipe.query_async(conn).await {
            Ok(applied) => applied,
            // The server lost its script cache (restart, SCRIPT FLUSH): load it again once.
            // Every EVALSHA of the chunk failed alike, so replaying the chunk is exact.
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                tracing::info!(backend = %self.backend, "reloading the online upsert script");
                self.upsert
                    .load_async(conn)
                    .await
                    .map_err(|err| self.redis_error(err))?;
                pipe.query_async(conn)
                    .await
                    .map_err(|err| self.redis_error(err))?
            }
            Err(err) => return Err(self.redis_error(err)),
        };
        Ok(applied.into_iter().map(|n| usize::try_from(n).unwrap_or(0)).sum())
    }

    async fn read_chunk(
        &self,
        view_key: &str,
        keys: &[EntityKey],
        features: &[String],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        let replies = self.read_values(view_key, keys).await?;
        replies
            .into_iter()
            .zip(keys)
            .map(|(reply, entity)| {
                reply
                    .map(|bytes| decode_projected_row(&bytes, features))
                    .transpose()
                    .map_err(|err| in_entity(err, entity))
            })
            .collect()
    }

    /// The stored values of one round trip's entities, in their order (`None`: no key), by one
    /// MGET on this thread's reader connection.
    async fn read_values(
        &self,
        view_key: &str,
        keys: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, OnlineError> {
        let mut command = redis::cmd("MGET");
        let mut key = String::with_capacity(view_key.len() + 32);
        for entity in keys {
            command.arg(row_key(&mut key, view_key, entity));
        }
        let (thread, mut conn) = self.read_connection().await?;
        let replies: Vec<Option<Vec<u8>>> = match command.query_async(&mut conn).await {
            Ok(replies) => replies,
            Err(err) => {
                if err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error() {
                    (self.readers.lock().expect("readers lock")).retain(|(owner, _)| *owner != thread);
                }
                return Err(self.redis_error(err));
            }
        };
        check_reply_count(&replies, keys.len())?;
        Ok(replies)
    }

    /// Updates the states of up to [`STATE_KEYS`] entities in one optimistic transaction, redone
    /// while another writer changes one of them between its read and its write. `first` is the
    /// index of `keys[0]` in the call, for `update`.
    async fn update_state_chunk(
        &self,
        view_key: &str,
        first: usize,
        keys: &[EntityKey],
        update: &StateUpdate,
    ) -> Result<usize, OnlineError> {
        let state_keys: Vec<String> = keys.iter().map(|entity| format!("{view_key}{entity}")).collect();
        // An entity listed twice has one slot, its first position: its second update sees the
        // first one's result, and its state is set once.
        let mut slots = HashMap::with_capacity(state_keys.len());
        let slot_of: Vec<usize> = (state_keys.iter().enumerate())
            .map(|(position, key)| *slots.entry(key.as_str()).or_insert(position))
            .collect();
        let mut conn = self.connection().await?;
        for attempt in 0..STATE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let (stored,): (Vec<Option<Vec<u8>>>,) = redis::pipe()
                .cmd("WATCH")
                .arg(&state_keys)
                .ignore()
                .cmd("MGET")
                .arg(&state_keys)
                .query_async(&mut conn)
                .await
                .map_err(|err| self.redis_error(err))?;
            check_reply_count(&stored, state_keys.len())?;
            // Per slot, the state to set when an update changed it.
            let mut new_states: Vec<Option<Vec<u8>>> = vec![None; state_keys.len()];
            let mut written = 0;
            for (position, &slot) in slot_of.iter().enumerate() {
                let current = new_states[slot].as_deref().or(stored[slot].as_deref());
                match update(first + position, current) {
                    Ok(Some(state)) => {
                        new_states[slot] = Some(state);
                        written += 1;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        // The update's error is the one to report; recycling the connection
                        // into the pool unwatches too.
                        let _ = redis::cmd("UNWATCH").exec_async(&mut conn).await;
                        return Err(err);
                    }
                }
            }
            if written == 0 {
                redis::cmd("UNWATCH")
                    .exec_async(&mut conn)
                    .await
                    .map_err(|err| self.redis_error(err))?;
                return Ok(0);
            }
            let mut transaction = redis::pipe();
            transaction.atomic();
            for (key, state) in state_keys.iter().zip(&new_states) {
                if let Some(state) = state {
                    transaction.cmd("SET").arg(key).arg(state.as_slice()).ignore();
                }
            }
            // EXEC answers nil, and sets nothing, when a watched key changed since WATCH.
            let committed: Option<()> = transaction
                .query_async(&mut conn)
                .await
                .map_err(|err| self.redis_error(err))?;
            if committed.is_some() {
                return Ok(written);
            }
        }
        Err(self.unavailable(format!(
            "entity states kept changing under the update ({} entities from {}): gave up after \
             {STATE_ATTEMPTS} attempts",
            keys.len(),
            keys[0]
        )))
    }
}

/// Fails when a multi-key reply does not have one value per key.
fn check_reply_count<T>(replies: &[T], keys: usize) -> Result<(), OnlineError> {
    if replies.len() == keys {
        return Ok(());
    }
    Err(OnlineError::Corrupted(format!(
        "{} values for {keys} keys",
        replies.len()
    )))
}

/// The pause before attempt `attempt` (from 1) of a contended transaction: its ceiling doubles
/// from 2 ms up to [`STATE_BACKOFF_MAX`], and a random part of it keeps writers that collided
/// from colliding again in step.
fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(1 << attempt.min(6)).min(STATE_BACKOFF_MAX);
    let random = RandomState::new().hash_one(attempt) % 1_024;
    ceiling / 2 + ceiling.mul_f64(random as f64 / 2_048.0)
}

#[async_trait]
impl OnlineStore for RedisOnlineStore {
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
        let view_key = self.view_key_prefix(project, view);
        // A write of one round trip or less is most often a push to known entities: the
        // script alone does it in one round trip, where `SET NX` first would take two.
        let mostly_new = AtomicBool::new(rows.len() > CHUNK);
        // Futures built up front: a closure inside the stream trips async_trait's Send check.
        let chunks: Vec<_> = rows
            .chunks(CHUNK)
            .map(|chunk| self.write_chunk(&view_key, chunk, &mostly_new))
            .collect();
        futures::stream::iter(chunks)
            .buffer_unordered(IN_FLIGHT)
            .try_fold(0, |total, applied| async move { Ok(total + applied) })
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
        let view_key = self.view_key_prefix(project, view);
        let chunks: Vec<_> = keys
            .chunks(CHUNK)
            .map(|chunk| self.read_chunk(&view_key, chunk, features))
            .collect();
        let chunks: Vec<Vec<Option<FeatureRow>>> = futures::stream::iter(chunks)
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    async fn read_states(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, OnlineError> {
        let view_key = self.view_key_prefix(project, view);
        let chunks: Vec<_> = keys
            .chunks(CHUNK)
            .map(|chunk| self.read_values(&view_key, chunk))
            .collect();
        let chunks: Vec<Vec<Option<Vec<u8>>>> = futures::stream::iter(chunks)
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    async fn update_states(
        &self,
        project: &str,
        view: &str,
        keys: &[EntityKey],
        update: StateUpdate,
    ) -> Result<usize, OnlineError> {
        let view_key = self.view_key_prefix(project, view);
        let chunks: Vec<_> = (keys.chunks(STATE_KEYS).enumerate())
            .map(|(n, chunk)| self.update_state_chunk(&view_key, n * STATE_KEYS, chunk, &update))
            .collect();
        futures::stream::iter(chunks)
            .buffer_unordered(IN_FLIGHT)
            .try_fold(0, |total, written| async move { Ok(total + written) })
            .await
    }

    async fn delete_view(&self, project: &str, view: &str) -> Result<(), OnlineError> {
        let pattern = format!("{}*", glob_escape(&self.view_key_prefix(project, view)));
        let mut conn = self.connection().await?;
        let mut cursor: u64 = 0;
        let mut deleted: usize = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut conn)
                .await
                .map_err(|err| self.redis_error(err))?;
            if !keys.is_empty() {
                deleted += keys.len();
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .exec_async(&mut conn)
                    .await
                    .map_err(|err| self.redis_error(err))?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        tracing::info!(project, view, keys = deleted, "deleted online rows of a view");
        Ok(())
    }
}

/// `{view_key}{entity}` written into `buffer`, reused across the keys of one command.
fn row_key<'a>(buffer: &'a mut String, view_key: &str, entity: &EntityKey) -> &'a str {
    buffer.clear();
    buffer.push_str(view_key);
    write!(buffer, "{entity}").expect("writing to a String cannot fail");
    buffer.as_str()
}

fn in_entity(err: OnlineError, entity: &EntityKey) -> OnlineError {
    match err {
        OnlineError::Corrupted(cause) => OnlineError::Corrupted(format!("entity {entity}: {cause}")),
        other @ (OnlineError::Unavailable { .. }
        | OnlineError::InvalidArgument(_)
        | OnlineError::Backend { .. }) => other,
    }
}

/// `s` with Redis glob metacharacters escaped, for SCAN MATCH.
fn glob_escape(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_redis_glob_escape() {
        assert_eq!(glob_escape(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d");
    }
}
