//! The Redis online store, for several serving replicas sharing one copy of the features.
//!
//! Key layout: one hash per (project, view, entity) at
//!
//! ```text
//! {key_prefix}:{project}:{view}:{entity key}      e.g.  lathe:shop:user_stats:user_id=42
//! ```
//!
//! where `project` and `view` have `%` and `:` percent-escaped (so `:` separates exactly four
//! parts and `{key_prefix}:{project}:{view}:*` matches exactly the view's rows) and the entity
//! key is its canonical text form (see [`EntityKey`]). Hash fields:
//!
//! - `_ts`: event time, decimal µs UTC;
//! - `_created`: created time, decimal µs UTC, absent when the row has none;
//! - one field per feature, named after it, holding the value in the binary encoding of
//!   `codec.rs` (tag byte + little-endian payload).
//!
//! Writes go through a Lua script (EVALSHA, 200 entities per call, 1,000 per pipelined round
//! trip) that, per entity, compares versions and replaces the hash in one atomic step; reads
//! are pipelined HMGETs; deleting a view SCANs its pattern and UNLINKs what it finds. Versions are compared as Lua
//! numbers (doubles): exact for times within ±2^53 µs of 1970, i.e. until the year 2255.

use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{self, ErrorKind, RedisError, Script, ServerErrorKind};
use deadpool_redis::{Config, Pool, PoolConfig, PoolError, Runtime, Timeouts};
use futures::{StreamExt, TryStreamExt};

use super::codec::{encode_value, value_from_bytes};
use super::error::{OnlineError, redact_url};
use super::model::{EntityKey, FeatureRow, Value, write_escaped};
use super::{OnlineStore, check_feature_names};

/// Entities per pipelined round trip.
const CHUNK: usize = 1_000;
/// Round trips of one call in flight at once, each on its own pooled connection.
const IN_FLIGHT: usize = 4;
const SCAN_COUNT: usize = 1_000;

/// Entities per script call: one call runs atomically, so this bounds how long a write
/// holds up the server (a few hundred microseconds) while sparing the per-call overhead.
const SCRIPT_KEYS: usize = 200;

/// KEYS = row keys; ARGV, per key in order: event ts, created ts ('' for none), the number of
/// features n, then n feature/value pairs. Per key, replaces the hash unless the stored row is
/// newer. Returns how many rows were replaced.
const UPSERT_LUA: &str = r"
local applied = 0
local a = 1
for i = 1, #KEYS do
  local key = KEYS[i]
  local new_ts = tonumber(ARGV[a])
  local new_created = tonumber(ARGV[a + 1])
  local first = a + 3
  local last = a + 2 + 2 * tonumber(ARGV[a + 2])
  local newer = true
  local stored = redis.call('HGET', key, '_ts')
  if stored then
    local ts = tonumber(stored)
    if new_ts < ts then
      newer = false
    elseif new_ts == ts then
      local created = tonumber(redis.call('HGET', key, '_created'))
      if created ~= nil and (new_created == nil or new_created < created) then newer = false end
    end
    if newer then redis.call('DEL', key) end
  end
  if newer then
    if new_created ~= nil then
      redis.call('HSET', key, '_ts', ARGV[a], '_created', ARGV[a + 1], unpack(ARGV, first, last))
    else
      redis.call('HSET', key, '_ts', ARGV[a], unpack(ARGV, first, last))
    end
    applied = applied + 1
  end
  a = last + 1
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
        let mut config = Config::from_url(url);
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|err| OnlineError::Unavailable {
                backend: backend.clone(),
                cause: format!("invalid configuration: {err}"),
            })?;
        let store = RedisOnlineStore {
            pool,
            key_prefix: key_prefix.to_owned(),
            backend,
            upsert: Script::new(UPSERT_LUA),
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

    async fn write_chunk(
        &self,
        view_key: &str,
        rows: &[(EntityKey, FeatureRow)],
    ) -> Result<usize, OnlineError> {
        // EVALSHA commands built directly: a Cmd keeps its arguments in one buffer, where a
        // ScriptInvocation allocates one per argument.
        let mut pipe = redis::pipe();
        let mut key = String::with_capacity(view_key.len() + 32);
        let mut value = Vec::with_capacity(64);
        for script_rows in rows.chunks(SCRIPT_KEYS) {
            let mut command = redis::cmd("EVALSHA");
            command.arg(self.upsert.get_hash()).arg(script_rows.len());
            for (entity, _) in script_rows {
                key.clear();
                key.push_str(view_key);
                write!(key, "{entity}").expect("writing to a String cannot fail");
                command.arg(key.as_str());
            }
            for (_, row) in script_rows {
                command.arg(row.event_ts_us);
                match row.created_ts_us {
                    Some(created) => command.arg(created),
                    None => command.arg(""),
                };
                command.arg(row.values.len());
                for (name, feature) in &row.values {
                    value.clear();
                    encode_value(feature, &mut value);
                    command.arg(name.as_str()).arg(value.as_slice());
                }
            }
            pipe.add_command(command);
        }
        let mut conn = self.connection().await?;
        let applied: Vec<i64> = match pipe.query_async(&mut conn).await {
            Ok(applied) => applied,
            // The server lost its script cache (restart, SCRIPT FLUSH): load it again once.
            // Every EVALSHA of the chunk failed alike, so replaying the chunk is exact.
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                tracing::info!(backend = %self.backend, "reloading the online upsert script");
                self.upsert
                    .load_async(&mut conn)
                    .await
                    .map_err(|err| self.redis_error(err))?;
                pipe.query_async(&mut conn)
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
        let mut pipe = redis::pipe();
        for entity in keys {
            pipe.cmd("HMGET")
                .arg(format!("{view_key}{entity}"))
                .arg("_ts")
                .arg("_created")
                .arg(features);
        }
        let mut conn = self.connection().await?;
        let replies: Vec<Vec<Option<Vec<u8>>>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|err| self.redis_error(err))?;
        drop(conn);
        if replies.len() != keys.len() {
            return Err(OnlineError::Corrupted(format!(
                "{} replies to {} HMGETs",
                replies.len(),
                keys.len()
            )));
        }
        replies
            .into_iter()
            .zip(keys)
            .map(|(reply, entity)| decode_hash(reply, features).map_err(|err| in_entity(err, entity)))
            .collect()
    }
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
        // Futures built up front: a closure inside the stream trips async_trait's Send check.
        let chunks: Vec<_> = rows
            .chunks(CHUNK)
            .map(|chunk| self.write_chunk(&view_key, chunk))
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

/// Turns an HMGET reply (`_ts`, `_created`, then the features) into a row.
fn decode_hash(reply: Vec<Option<Vec<u8>>>, features: &[String]) -> Result<Option<FeatureRow>, OnlineError> {
    if reply.len() != features.len() + 2 {
        return Err(OnlineError::Corrupted(format!(
            "HMGET returned {} fields for {} asked",
            reply.len(),
            features.len() + 2
        )));
    }
    let mut fields = reply.into_iter();
    let Some(event_ts) = fields.next().flatten() else {
        return Ok(None);
    };
    let event_ts_us = parse_ts(&event_ts, "_ts")?;
    let created_ts_us = match fields.next().flatten() {
        Some(created) => Some(parse_ts(&created, "_created")?),
        None => None,
    };
    let values = fields
        .zip(features)
        .map(|(field, name)| {
            let value = match field {
                Some(bytes) => value_from_bytes(&bytes)
                    .map_err(|err| OnlineError::Corrupted(format!("feature '{name}': {err}")))?,
                None => Value::Null,
            };
            Ok((name.clone(), value))
        })
        .collect::<Result<_, OnlineError>>()?;
    Ok(Some(FeatureRow {
        event_ts_us,
        created_ts_us,
        values,
    }))
}

fn parse_ts(bytes: &[u8], field: &str) -> Result<i64, OnlineError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| OnlineError::Corrupted(format!("field {field} is not an integer")))
}

fn in_entity(err: OnlineError, entity: &EntityKey) -> OnlineError {
    match err {
        OnlineError::Corrupted(cause) => OnlineError::Corrupted(format!("entity {entity}: {cause}")),
        other => other,
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
    use super::super::codec::value_to_bytes;
    use super::*;

    #[test]
    fn online_redis_glob_escape() {
        assert_eq!(glob_escape(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d");
    }

    #[test]
    fn online_redis_hash_decoding() {
        let features = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            decode_hash(vec![None, None, None, None], &features).unwrap(),
            None
        );
        let row = decode_hash(
            vec![
                Some(b"12".to_vec()),
                None,
                Some(value_to_bytes(&Value::Int64(7))),
                None,
            ],
            &features,
        )
        .unwrap()
        .unwrap();
        assert_eq!(row.event_ts_us, 12);
        assert_eq!(row.created_ts_us, None);
        assert_eq!(
            row.values,
            vec![("a".into(), Value::Int64(7)), ("b".into(), Value::Null)]
        );
        let bad = decode_hash(vec![Some(b"x".to_vec()), None, None, None], &features);
        assert!(matches!(bad, Err(OnlineError::Corrupted(_))));
    }
}
