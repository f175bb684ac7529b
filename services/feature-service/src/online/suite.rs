//! What every [`OnlineStore`] promises, run against each backend (after quickwit's
//! `metastore_test_suite!`): each test below is generic over the store, and
//! `online_store_test_suite!` instantiates all of them for one fixture type.

use std::sync::{Arc, Mutex};

use deadpool_redis::redis;

use super::*;

/// A fresh, isolated store for one test; `None` skips the test (backend down, not in CI).
trait Fixture: Sized {
    async fn open() -> Option<Self>;
    fn store(&self) -> Arc<dyn OnlineStore>;
}

macro_rules! online_store_test_suite {
    ($backend:ident, $fixture:ty) => {
        online_store_test_suite!(@module $backend, $fixture;
            every_value_type_round_trips,
            a_newer_event_wins_and_an_older_one_is_ignored,
            at_the_same_event_time_created_decides,
            a_newer_row_replaces_the_whole_row,
            missing_entities_read_as_none,
            a_subset_and_unknown_features_read_in_request_order,
            many_entities_write_and_read_in_order,
            composite_entity_keys_are_canonical,
            projects_and_views_are_isolated,
            delete_view_removes_only_that_view,
            a_bulk_write_over_stored_rows_keeps_the_newer_ones,
            a_bulk_write_of_new_entities_keeps_the_newer_stored_ones_among_them,
            concurrent_writers_end_with_the_newest_row,
            reserved_feature_names_are_rejected,
            states_round_trip_and_updates_see_the_stored_state,
            many_states_update_and_read_in_order,
            an_entity_listed_twice_has_its_state_updated_twice,
            states_of_projects_and_views_are_isolated_and_deleted_with_the_view,
            concurrent_state_updates_lose_no_update,
            an_error_from_a_state_update_fails_the_call
        );
    };
    (@module $backend:ident, $fixture:ty; $($test:ident),* $(,)?) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let Some(fixture) = <$fixture as Fixture>::open().await else {
                        return;
                    };
                    super::$test(Fixture::store(&fixture)).await;
                }
            )*
        }
    };
}

online_store_test_suite!(embedded_store, EmbeddedFixture);
online_store_test_suite!(redis_store, RedisFixture);

// ---- fixtures ----

struct EmbeddedFixture {
    store: Arc<EmbeddedOnlineStore>,
    _dir: tempfile::TempDir,
}

impl Fixture for EmbeddedFixture {
    async fn open() -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = EmbeddedOnlineStore::open(dir.path().join("online.redb"))
            .await
            .expect("open the embedded online store");
        Some(EmbeddedFixture {
            store: Arc::new(store),
            _dir: dir,
        })
    }

    fn store(&self) -> Arc<dyn OnlineStore> {
        self.store.clone()
    }
}

pub(super) fn test_redis_url() -> String {
    std::env::var("LATHE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A store under a key prefix of its own; its keys are removed on drop.
pub(super) struct RedisFixture {
    store: Arc<RedisOnlineStore>,
    url: String,
    pub(super) prefix: String,
}

impl Fixture for RedisFixture {
    async fn open() -> Option<Self> {
        let url = test_redis_url();
        let prefix = format!("lathe_test_{}", uuid::Uuid::new_v4().simple());
        match RedisOnlineStore::connect(&url, &prefix).await {
            Ok(store) => Some(RedisFixture {
                store: Arc::new(store),
                url,
                prefix,
            }),
            Err(err) => lathe_testkit::unavailable("Redis", &err.to_string()),
        }
    }

    fn store(&self) -> Arc<dyn OnlineStore> {
        self.store.clone()
    }
}

impl Drop for RedisFixture {
    fn drop(&mut self) {
        // Drop is synchronous: a plain blocking connection does the cleanup.
        let cleanup = || -> redis::RedisResult<()> {
            let mut conn = redis::Client::open(self.url.as_str())?.get_connection()?;
            let pattern = format!("{}:*", self.prefix);
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut conn)?;
                if !keys.is_empty() {
                    redis::cmd("UNLINK").arg(&keys).exec(&mut conn)?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        };
        if let Err(err) = cleanup() {
            eprintln!("could not remove test keys under {}: {err}", self.prefix);
        }
    }
}

// ---- helpers ----

fn key(id: i64) -> EntityKey {
    EntityKey::single("user_id", id).unwrap()
}

fn row(event_ts_us: i64, created_ts_us: Option<i64>, values: &[(&str, Value)]) -> FeatureRow {
    FeatureRow {
        event_ts_us,
        created_ts_us,
        values: values.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect(),
    }
}

fn names(features: &[&str]) -> Vec<String> {
    features.iter().map(|f| (*f).to_owned()).collect()
}

async fn read_one(
    store: &dyn OnlineStore,
    project: &str,
    view: &str,
    entity: &EntityKey,
    features: &[&str],
) -> Option<FeatureRow> {
    let mut rows = store
        .read(project, view, std::slice::from_ref(entity), &names(features))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    rows.pop().unwrap()
}

/// An update that sets the state of `keys[i]` to `states[i]` (`None`: leaves it).
fn set_states(states: Vec<Option<&[u8]>>) -> StateUpdate {
    let states: Vec<Option<Vec<u8>>> = states
        .into_iter()
        .map(|state| state.map(<[u8]>::to_vec))
        .collect();
    Arc::new(move |index, _stored| Ok(states[index].clone()))
}

/// An update that adds one to the counter (a little-endian u64, missing: 0) in each state.
fn increment() -> StateUpdate {
    Arc::new(|_index, stored| {
        let count = stored.map_or(Ok(0), |bytes| {
            let bytes: [u8; 8] = bytes
                .try_into()
                .map_err(|_| OnlineError::Corrupted(format!("{} bytes for a counter", bytes.len())))?;
            Ok(u64::from_le_bytes(bytes))
        })?;
        Ok(Some((count + 1).to_le_bytes().to_vec()))
    })
}

// ---- the suite ----

async fn every_value_type_round_trips(store: Arc<dyn OnlineStore>) {
    let values = vec![
        ("null", Value::Null),
        ("i32", Value::Int32(i32::MIN)),
        ("i64", Value::Int64(i64::MAX)),
        ("f32", Value::Float32(-1.5e-30)),
        ("f64", Value::Float64(f64::INFINITY)),
        ("f64_neg_zero", Value::Float64(-0.0)),
        ("bool", Value::Bool(true)),
        ("string", Value::from("héllo, \"wörld\"\n:*")),
        ("empty_string", Value::from("")),
        ("bytes", Value::Bytes(vec![0, 255, 13, 10])),
        ("empty_bytes", Value::Bytes(vec![])),
        ("timestamp", Value::Timestamp(-1_000_000)),
        ("empty_list", Value::List(vec![])),
        (
            "list",
            Value::List(vec![
                Value::Int64(1),
                Value::Null,
                Value::from("x"),
                Value::Float32(0.25),
            ]),
        ),
        (
            "nested_list",
            Value::List(vec![
                Value::List(vec![Value::Null]),
                Value::List(vec![Value::Bool(false)]),
            ]),
        ),
    ];
    let written = row(1_700_000_000_000_000, Some(1_700_000_000_000_001), &values);
    assert_eq!(
        store
            .write("p", "v", vec![(key(1), written.clone())])
            .await
            .unwrap(),
        1
    );
    let features: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    let read = read_one(&*store, "p", "v", &key(1), &features).await.unwrap();
    assert_eq!(read, written);
    // -0.0 == 0.0, so check the sign survived too.
    let Value::Float64(zero) = read.values[5].1 else {
        panic!("{:?}", read.values[5])
    };
    assert!(zero.is_sign_negative());
}

async fn a_newer_event_wins_and_an_older_one_is_ignored(store: Arc<dyn OnlineStore>) {
    let first = row(100, None, &[("f", Value::Int64(1))]);
    assert_eq!(
        store
            .write("p", "v", vec![(key(1), first.clone())])
            .await
            .unwrap(),
        1
    );

    let older = row(99, Some(i64::MAX), &[("f", Value::Int64(2))]);
    assert_eq!(store.write("p", "v", vec![(key(1), older)]).await.unwrap(), 0);
    assert_eq!(read_one(&*store, "p", "v", &key(1), &["f"]).await, Some(first));

    let newer = row(101, None, &[("f", Value::Int64(3))]);
    assert_eq!(
        store
            .write("p", "v", vec![(key(1), newer.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        read_one(&*store, "p", "v", &key(1), &["f"]).await,
        Some(newer.clone())
    );

    // In one call: the newest of several versions of an entity is what remains.
    let batch = vec![
        (key(2), row(5, None, &[("f", Value::Int64(5))])),
        (key(2), row(7, None, &[("f", Value::Int64(7))])),
        (key(2), row(6, None, &[("f", Value::Int64(6))])),
    ];
    store.write("p", "v", batch).await.unwrap();
    let read = read_one(&*store, "p", "v", &key(2), &["f"]).await.unwrap();
    assert_eq!(read.event_ts_us, 7);
    assert_eq!(read.values, vec![("f".to_owned(), Value::Int64(7))]);
}

async fn at_the_same_event_time_created_decides(store: Arc<dyn OnlineStore>) {
    let write = |created: Option<i64>, v: i64| {
        let store = store.clone();
        async move {
            store
                .write(
                    "p",
                    "v",
                    vec![(key(1), row(50, created, &[("f", Value::Int64(v))]))],
                )
                .await
                .unwrap()
        }
    };
    let current = || async { read_one(&*store, "p", "v", &key(1), &["f"]).await.unwrap() };

    assert_eq!(write(Some(10), 1).await, 1);
    assert_eq!(write(Some(9), 2).await, 0, "an older created time is ignored");
    assert_eq!(write(None, 3).await, 0, "no created time is older than any");
    assert_eq!(current().await.values[0].1, Value::Int64(1));
    assert_eq!(write(Some(11), 4).await, 1, "a newer created time wins");
    assert_eq!(write(Some(11), 5).await, 1, "the same version again is applied");
    let now = current().await;
    assert_eq!(
        (now.created_ts_us, &now.values[0].1),
        (Some(11), &Value::Int64(5))
    );
}

async fn a_newer_row_replaces_the_whole_row(store: Arc<dyn OnlineStore>) {
    let wide = row(1, None, &[("a", Value::Int64(1)), ("b", Value::Int64(2))]);
    store.write("p", "v", vec![(key(1), wide)]).await.unwrap();
    let narrow = row(2, None, &[("a", Value::Int64(3))]);
    store.write("p", "v", vec![(key(1), narrow)]).await.unwrap();
    let read = read_one(&*store, "p", "v", &key(1), &["a", "b"]).await.unwrap();
    assert_eq!(
        read.values,
        vec![("a".into(), Value::Int64(3)), ("b".into(), Value::Null)]
    );
}

async fn missing_entities_read_as_none(store: Arc<dyn OnlineStore>) {
    let present = row(1, None, &[("f", Value::Bool(true))]);
    store
        .write("p", "v", vec![(key(2), present.clone())])
        .await
        .unwrap();
    let rows = store
        .read("p", "v", &[key(1), key(2), key(3)], &names(&["f"]))
        .await
        .unwrap();
    assert_eq!(rows, vec![None, Some(present), None]);
    assert_eq!(store.read("p", "v", &[], &names(&["f"])).await.unwrap(), vec![]);
    assert_eq!(
        store.read("p", "other", &[key(2)], &names(&["f"])).await.unwrap(),
        vec![None]
    );
}

async fn a_subset_and_unknown_features_read_in_request_order(store: Arc<dyn OnlineStore>) {
    let written = row(
        1,
        Some(2),
        &[
            ("a", Value::Int32(1)),
            ("b", Value::from("two")),
            ("c", Value::Float64(3.0)),
        ],
    );
    store.write("p", "v", vec![(key(1), written)]).await.unwrap();
    let read = read_one(&*store, "p", "v", &key(1), &["c", "unknown", "a", "c"])
        .await
        .unwrap();
    assert_eq!(
        read,
        row(
            1,
            Some(2),
            &[
                ("c", Value::Float64(3.0)),
                ("unknown", Value::Null),
                ("a", Value::Int32(1)),
                ("c", Value::Float64(3.0)),
            ]
        )
    );
    // No features asked: the row still says whether the entity exists, and its version.
    assert_eq!(
        read_one(&*store, "p", "v", &key(1), &[]).await,
        Some(row(1, Some(2), &[]))
    );
}

async fn many_entities_write_and_read_in_order(store: Arc<dyn OnlineStore>) {
    const N: i64 = 5_000;
    let rows: Vec<(EntityKey, FeatureRow)> = (0..N)
        .map(|id| {
            let values = [
                ("id", Value::Int64(id)),
                ("name", Value::String(format!("user {id}"))),
            ];
            (key(id), row(id, None, &values))
        })
        .collect();
    assert_eq!(store.write("p", "v", rows).await.unwrap(), N as usize);
    // Reversed, with a missing entity after every present one: order must follow the request.
    let keys: Vec<EntityKey> = (0..N).rev().flat_map(|id| [key(id), key(N + id)]).collect();
    let read = store
        .read("p", "v", &keys, &names(&["name", "id"]))
        .await
        .unwrap();
    assert_eq!(read.len(), keys.len());
    for (i, got) in read.iter().enumerate() {
        let id = N - 1 - (i / 2) as i64;
        if i % 2 == 1 {
            assert_eq!(got, &None, "entity {}", N + id);
            continue;
        }
        let got = got.as_ref().unwrap_or_else(|| panic!("entity {id} missing"));
        assert_eq!(got.event_ts_us, id);
        assert_eq!(
            got.values,
            vec![
                ("name".into(), Value::String(format!("user {id}"))),
                ("id".into(), Value::Int64(id))
            ]
        );
    }
}

async fn composite_entity_keys_are_canonical(store: Arc<dyn OnlineStore>) {
    let pair = |customer: i64, merchant: &str| {
        EntityKey::new([
            ("customer_id", Value::Int64(customer)),
            ("merchant_id", Value::from(merchant)),
        ])
        .unwrap()
    };
    let rows = vec![
        (pair(1, "a"), row(1, None, &[("f", Value::Int64(1))])),
        (pair(1, "b"), row(1, None, &[("f", Value::Int64(2))])),
        (pair(2, "a"), row(1, None, &[("f", Value::Int64(3))])),
    ];
    assert_eq!(store.write("p", "v", rows).await.unwrap(), 3);
    // The same entity built in another join-key order, and with a 32-bit id.
    let reordered = EntityKey::new([
        ("merchant_id", Value::from("b")),
        ("customer_id", Value::Int32(1)),
    ])
    .unwrap();
    let keys = [pair(2, "a"), reordered, pair(1, "a"), pair(2, "b"), key(1)];
    let read = store.read("p", "v", &keys, &names(&["f"])).await.unwrap();
    let got: Vec<Option<Value>> = read
        .into_iter()
        .map(|r| r.map(|r| r.values[0].1.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            Some(Value::Int64(3)),
            Some(Value::Int64(2)),
            Some(Value::Int64(1)),
            None,
            None
        ]
    );
}

async fn projects_and_views_are_isolated(store: Arc<dyn OnlineStore>) {
    // The last two look alike if names were joined with ':' unescaped.
    let places = [
        ("p1", "v1"),
        ("p1", "v2"),
        ("p2", "v1"),
        ("a:b", "c"),
        ("a", "b:c"),
    ];
    for (i, (project, view)) in places.iter().enumerate() {
        let written = row(1, None, &[("f", Value::Int64(i as i64))]);
        assert_eq!(
            store.write(project, view, vec![(key(1), written)]).await.unwrap(),
            1
        );
    }
    for (i, (project, view)) in places.iter().enumerate() {
        let read = read_one(&*store, project, view, &key(1), &["f"]).await.unwrap();
        assert_eq!(read.values[0].1, Value::Int64(i as i64), "{project}/{view}");
    }
}

async fn delete_view_removes_only_that_view(store: Arc<dyn OnlineStore>) {
    // More rows than one SCAN batch, and a view name with glob characters next to one it matches.
    let rows = |n: i64| {
        (0..n)
            .map(|id| (key(id), row(1, None, &[("f", Value::Int64(id))])))
            .collect()
    };
    store.write("p", "v*", rows(2_500)).await.unwrap();
    store.write("p", "vx", rows(10)).await.unwrap();
    store.write("p", "v", rows(10)).await.unwrap();
    store.write("q", "v*", rows(10)).await.unwrap();

    store.delete_view("p", "v*").await.unwrap();
    let all: Vec<EntityKey> = (0..2_500).map(key).collect();
    let gone = store.read("p", "v*", &all, &names(&["f"])).await.unwrap();
    assert!(
        gone.iter().all(Option::is_none),
        "rows of the deleted view remain"
    );
    for (project, view) in [("p", "vx"), ("p", "v"), ("q", "v*")] {
        let kept = store
            .read(project, view, &all[..10], &names(&["f"]))
            .await
            .unwrap();
        assert!(kept.iter().all(Option::is_some), "{project}/{view} lost rows");
    }
    // A deleted view starts over: even an old row is accepted again.
    let again = row(0, None, &[("f", Value::Int64(-1))]);
    assert_eq!(
        store
            .write("p", "v*", vec![(key(1), again.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(read_one(&*store, "p", "v*", &key(1), &["f"]).await, Some(again));
    store.delete_view("p", "never_written").await.unwrap();
}

async fn a_bulk_write_over_stored_rows_keeps_the_newer_ones(store: Arc<dyn OnlineStore>) {
    // Several round trips' worth (Redis: 1,000 per round trip), so that a bulk write meets rows
    // already stored: even ids older than what is stored, odd ids newer, and new ids after them.
    let stored: Vec<_> = (0..2_500)
        .map(|id| (key(id), row(10, None, &[("f", Value::Int64(id))])))
        .collect();
    assert_eq!(store.write("p", "v", stored).await.unwrap(), 2_500);
    let incoming: Vec<_> = (0..3_000)
        .map(|id| {
            let ts = if id < 2_500 && id % 2 == 0 { 5 } else { 20 };
            (key(id), row(ts, None, &[("f", Value::Int64(-id))]))
        })
        .collect();
    assert_eq!(store.write("p", "v", incoming).await.unwrap(), 1_250 + 500);
    let all: Vec<EntityKey> = (0..3_000).map(key).collect();
    let read = store.read("p", "v", &all, &names(&["f"])).await.unwrap();
    for (id, found) in (0..3_000).zip(read) {
        let found = found.unwrap_or_else(|| panic!("entity {id} missing"));
        let (ts, value) = if id < 2_500 && id % 2 == 0 {
            (10, id)
        } else {
            (20, -id)
        };
        assert_eq!(found.event_ts_us, ts, "entity {id}");
        assert_eq!(
            found.values,
            vec![("f".to_owned(), Value::Int64(value))],
            "entity {id}"
        );
    }
}

async fn a_bulk_write_of_new_entities_keeps_the_newer_stored_ones_among_them(store: Arc<dyn OnlineStore>) {
    // A first-materialization shape (Redis: new entities go in groups that set all or none),
    // with a few stored entities scattered through it: every 157th id, alternately newer and
    // older than the incoming row, and the very first and last ids.
    let is_stored = |id: i64| id % 157 == 0 || id == 4_999;
    let stored_is_newer = |id: i64| (id / 157) % 2 == 0;
    let stored: Vec<_> = (0..5_000)
        .filter(|&id| is_stored(id))
        .map(|id| {
            let ts = if stored_is_newer(id) { 30 } else { 10 };
            (key(id), row(ts, None, &[("f", Value::Int64(id))]))
        })
        .collect();
    let stored_count = stored.len();
    let newer_count = (0..5_000)
        .filter(|&id| is_stored(id) && stored_is_newer(id))
        .count();
    assert_eq!(store.write("p", "v", stored).await.unwrap(), stored_count);
    let incoming: Vec<_> = (0..5_000)
        .map(|id| (key(id), row(20, None, &[("f", Value::Int64(-id))])))
        .collect();
    assert_eq!(
        store.write("p", "v", incoming).await.unwrap(),
        5_000 - newer_count
    );
    let all: Vec<EntityKey> = (0..5_000).map(key).collect();
    let read = store.read("p", "v", &all, &names(&["f"])).await.unwrap();
    for (id, found) in (0..5_000).zip(read) {
        let found = found.unwrap_or_else(|| panic!("entity {id} missing"));
        let (ts, value) = if is_stored(id) && stored_is_newer(id) {
            (30, id)
        } else {
            (20, -id)
        };
        assert_eq!(
            (found.event_ts_us, &found.values[..]),
            (ts, &[("f".to_owned(), Value::Int64(value))][..]),
            "entity {id}"
        );
    }
}

async fn concurrent_writers_end_with_the_newest_row(store: Arc<dyn OnlineStore>) {
    const WRITERS: i64 = 6;
    const VERSIONS: i64 = 20;
    const ENTITIES: i64 = 50;
    // Writer w writes versions w, w + WRITERS, … each as its own call, racing the others; the
    // newest version overall belongs to one writer, different per entity.
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for step in 0..VERSIONS {
                    let version = step * WRITERS + writer;
                    let rows = (0..ENTITIES)
                        .map(|id| {
                            // Writer `id % WRITERS` outranks the others on entity `id`.
                            let ts = version + if writer == id % WRITERS { 1_000 } else { 0 };
                            (key(id), row(ts, None, &[("writer", Value::Int64(writer))]))
                        })
                        .collect();
                    store.write("p", "v", rows).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let keys: Vec<EntityKey> = (0..ENTITIES).map(key).collect();
    let read = store.read("p", "v", &keys, &names(&["writer"])).await.unwrap();
    for (id, got) in (0..ENTITIES).zip(read) {
        let got = got.unwrap();
        let winner = id % WRITERS;
        assert_eq!(
            got.event_ts_us,
            (VERSIONS - 1) * WRITERS + winner + 1_000,
            "entity {id}"
        );
        assert_eq!(got.values[0].1, Value::Int64(winner), "entity {id}");
    }
}

async fn reserved_feature_names_are_rejected(store: Arc<dyn OnlineStore>) {
    for reserved in RESERVED_FEATURE_NAMES {
        let bad = row(1, None, &[(reserved, Value::Int64(1))]);
        let err = store.write("p", "v", vec![(key(1), bad)]).await.unwrap_err();
        assert!(matches!(err, OnlineError::InvalidArgument(_)), "{err:?}");
        let err = store
            .read("p", "v", &[key(1)], &names(&[reserved]))
            .await
            .unwrap_err();
        assert!(matches!(err, OnlineError::InvalidArgument(_)), "{err:?}");
    }
    assert_eq!(read_one(&*store, "p", "v", &key(1), &[]).await, None);
}

async fn states_round_trip_and_updates_see_the_stored_state(store: Arc<dyn OnlineStore>) {
    let written = store
        .update_states(
            "p",
            "v",
            &[key(1), key(2), key(3)],
            set_states(vec![Some(b"one"), None, Some(b"")]),
        )
        .await
        .unwrap();
    assert_eq!(written, 2, "an update answering None is not counted");
    // An empty state is a state, not a missing one.
    let read = store
        .read_states("p", "v", &[key(3), key(4), key(1), key(2)])
        .await
        .unwrap();
    assert_eq!(read, vec![Some(vec![]), None, Some(b"one".to_vec()), None]);

    // The update sees what is stored; answering None leaves a stored state as it is.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let append: StateUpdate = Arc::new(move |index, stored| {
        recorded.lock().unwrap().push((index, stored.map(<[u8]>::to_vec)));
        Ok((index == 0).then(|| [stored.unwrap_or_default(), b"+two"].concat()))
    });
    let written = store
        .update_states("p", "v", &[key(1), key(3), key(4)], append)
        .await
        .unwrap();
    assert_eq!(written, 1);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![(0, Some(b"one".to_vec())), (1, Some(vec![])), (2, None)]
    );
    let read = store
        .read_states("p", "v", &[key(1), key(3), key(4)])
        .await
        .unwrap();
    assert_eq!(read, vec![Some(b"one+two".to_vec()), Some(vec![]), None]);

    assert_eq!(store.read_states("p", "v", &[]).await.unwrap(), vec![]);
    assert_eq!(store.update_states("p", "v", &[], increment()).await.unwrap(), 0);
}

async fn many_states_update_and_read_in_order(store: Arc<dyn OnlineStore>) {
    // Several transactions' and round trips' worth (Redis: 200 entities per update transaction,
    // 1,000 per read), with the index each update is given checked against its entity.
    const N: i64 = 2_500;
    let keys: Vec<EntityKey> = (0..N).map(key).collect();
    let expected_keys = keys.clone();
    let state_of = |id: i64| format!("state of {id}").into_bytes();
    let update: StateUpdate = Arc::new(move |index, stored| {
        assert_eq!(stored, None, "entity {}", expected_keys[index]);
        Ok(Some(format!("state of {index}").into_bytes()))
    });
    assert_eq!(
        store.update_states("p", "v", &keys, update).await.unwrap(),
        N as usize
    );
    // Reversed, with a missing entity after every present one: order must follow the request.
    let requested: Vec<EntityKey> = (0..N).rev().flat_map(|id| [key(id), key(N + id)]).collect();
    let read = store.read_states("p", "v", &requested).await.unwrap();
    assert_eq!(read.len(), requested.len());
    for (i, got) in read.into_iter().enumerate() {
        let id = N - 1 - (i / 2) as i64;
        let expected = (i % 2 == 0).then(|| state_of(id));
        assert_eq!(got, expected, "request {i}");
    }
}

async fn an_entity_listed_twice_has_its_state_updated_twice(store: Arc<dyn OnlineStore>) {
    let keys = [key(1), key(2), key(1)];
    assert_eq!(
        store.update_states("p", "v", &keys, increment()).await.unwrap(),
        3
    );
    let read = store.read_states("p", "v", &[key(1), key(2)]).await.unwrap();
    assert_eq!(
        read,
        vec![
            Some(2u64.to_le_bytes().to_vec()),
            Some(1u64.to_le_bytes().to_vec())
        ]
    );
}

async fn states_of_projects_and_views_are_isolated_and_deleted_with_the_view(store: Arc<dyn OnlineStore>) {
    // The last two look alike if names were joined with ':' unescaped.
    let places = [
        ("p1", "v1"),
        ("p1", "v2"),
        ("p2", "v1"),
        ("a:b", "c"),
        ("a", "b:c"),
    ];
    for (i, (project, view)) in places.iter().enumerate() {
        let state = format!("state {i}").into_bytes();
        let written = store
            .update_states(project, view, &[key(1)], set_states(vec![Some(&state)]))
            .await
            .unwrap();
        assert_eq!(written, 1);
    }
    let state_at = |project: &'static str, view: &'static str| {
        let store = store.clone();
        async move {
            let mut states = store.read_states(project, view, &[key(1)]).await.unwrap();
            assert_eq!(states.len(), 1);
            states.pop().unwrap()
        }
    };
    for (i, &(project, view)) in places.iter().enumerate() {
        let expected = format!("state {i}").into_bytes();
        assert_eq!(state_at(project, view).await, Some(expected), "{project}/{view}");
    }

    store.delete_view("p1", "v1").await.unwrap();
    assert_eq!(state_at("p1", "v1").await, None);
    for (i, &(project, view)) in places.iter().enumerate().skip(1) {
        let expected = format!("state {i}").into_bytes();
        assert_eq!(state_at(project, view).await, Some(expected), "{project}/{view}");
    }
    // A deleted view starts over: its next update sees no state.
    store
        .update_states("p1", "v1", &[key(1)], increment())
        .await
        .unwrap();
    assert_eq!(state_at("p1", "v1").await, Some(1u64.to_le_bytes().to_vec()));
}

async fn concurrent_state_updates_lose_no_update(store: Arc<dyn OnlineStore>) {
    const TASKS: u64 = 8;
    const UPDATES: u64 = 50;
    // Every task increments the same counters, one call at a time, racing the others.
    let keys = [key(1), key(2), key(3)];
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            let keys = keys.clone();
            tokio::spawn(async move {
                for _ in 0..UPDATES {
                    let written = store.update_states("p", "v", &keys, increment()).await.unwrap();
                    assert_eq!(written, keys.len());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let counters: Vec<u64> = (store.read_states("p", "v", &keys).await.unwrap().into_iter())
        .map(|state| u64::from_le_bytes(state.unwrap().try_into().unwrap()))
        .collect();
    assert_eq!(counters, vec![TASKS * UPDATES; keys.len()]);
}

async fn an_error_from_a_state_update_fails_the_call(store: Arc<dyn OnlineStore>) {
    let refuse_the_second: StateUpdate = Arc::new(|index, _stored| match index {
        1 => Err(OnlineError::InvalidArgument("entity 2 refused".into())),
        _ => Ok(Some(b"state".to_vec())),
    });
    let err = store
        .update_states("p", "v", &[key(1), key(2), key(3)], refuse_the_second)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OnlineError::InvalidArgument(message) if message == "entity 2 refused"),
        "{err:?}"
    );
    // Whatever the failed call wrote, the refused entity has no state.
    let read = store.read_states("p", "v", &[key(2)]).await.unwrap();
    assert_eq!(read, vec![None]);
}

// ---- backend-specific ----

#[tokio::test]
async fn online_redis_down_is_unavailable_without_the_password() {
    let Err(err) = RedisOnlineStore::connect("redis://admin:hunter2@127.0.0.1:1", "x").await else {
        panic!("nothing listens on port 1");
    };
    assert!(matches!(err, OnlineError::Unavailable { .. }), "{err:?}");
    let api = lathe_common::Error::from(err);
    assert_eq!(api.code, lathe_common::ErrorCode::Unavailable);
    assert!(
        api.message.contains("redis://admin:***@127.0.0.1:1"),
        "{}",
        api.message
    );
    assert!(!api.message.contains("hunter2"), "{}", api.message);
}

#[tokio::test]
async fn online_redis_corrupted_values_are_internal() {
    let Some(fixture) = RedisFixture::open().await else {
        return;
    };
    let store = fixture.store();
    store
        .write("p", "v", vec![(key(1), row(1, None, &[("f", Value::Int64(1))]))])
        .await
        .unwrap();
    let mut conn = redis::Client::open(fixture.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // A row cut off after its format byte.
    let row_key = format!("{}:p:v:user_id=1", fixture.prefix);
    redis::cmd("SET")
        .arg(&row_key)
        .arg(&[1u8, 200][..])
        .exec(&mut conn)
        .unwrap();
    let err = store.read("p", "v", &[key(1)], &names(&["f"])).await.unwrap_err();
    assert!(matches!(err, OnlineError::Corrupted(_)), "{err:?}");
    assert_eq!(
        lathe_common::Error::from(err).code,
        lathe_common::ErrorCode::Internal
    );
}

#[tokio::test]
async fn online_redis_survives_a_flushed_script_cache() {
    let Some(fixture) = RedisFixture::open().await else {
        return;
    };
    let mut conn = redis::Client::open(fixture.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("SCRIPT").arg("FLUSH").exec(&mut conn).unwrap();
    let written = row(1, None, &[("f", Value::Int64(1))]);
    assert_eq!(
        fixture
            .store()
            .write("p", "v", vec![(key(1), written.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        read_one(&*fixture.store(), "p", "v", &key(1), &["f"]).await,
        Some(written)
    );
}

/// A state update whose entity another client changes between the read and the write
/// `interfere_times` times (all when `None`); returns what the call answered and how many times
/// the update ran.
async fn update_state_under_interference(
    fixture: &RedisFixture,
    interfere_times: Option<usize>,
) -> (Result<usize, OnlineError>, usize) {
    let client = redis::Client::open(fixture.url.as_str()).unwrap();
    let interferer = Mutex::new(client.get_connection().unwrap());
    let state_key = format!("{}:p:v:user_id=1", fixture.prefix);
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let update: StateUpdate = Arc::new(move |_index, stored| {
        let mut calls = counted.lock().unwrap();
        *calls += 1;
        if interfere_times.is_none_or(|times| *calls <= times) {
            redis::cmd("SET")
                .arg(&state_key)
                .arg(format!("other {calls}"))
                .exec(&mut *interferer.lock().unwrap())
                .unwrap();
        }
        Ok(Some([stored.unwrap_or_default(), b"+"].concat()))
    });
    let answer = fixture.store().update_states("p", "v", &[key(1)], update).await;
    let calls = *calls.lock().unwrap();
    (answer, calls)
}

#[tokio::test]
async fn online_redis_state_updates_are_redone_from_what_another_writer_stored() {
    let Some(fixture) = RedisFixture::open().await else {
        return;
    };
    let (answer, calls) = update_state_under_interference(&fixture, Some(3)).await;
    assert_eq!(answer.unwrap(), 1);
    assert_eq!(calls, 4);
    let read = fixture.store().read_states("p", "v", &[key(1)]).await.unwrap();
    assert_eq!(read, vec![Some(b"other 3+".to_vec())]);
}

#[tokio::test]
async fn online_redis_state_updates_give_up_when_states_keep_changing() {
    let Some(fixture) = RedisFixture::open().await else {
        return;
    };
    let (answer, calls) = update_state_under_interference(&fixture, None).await;
    let err = answer.unwrap_err();
    assert!(matches!(err, OnlineError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("kept changing"), "{err}");
    assert_eq!(calls, 50);
    // The last write was the other client's.
    let read = fixture.store().read_states("p", "v", &[key(1)]).await.unwrap();
    assert_eq!(read, vec![Some(b"other 50".to_vec())]);
}

/// Throughput of a bulk materialization into Redis: `cargo nextest run --workspace
/// --run-ignored only -E 'test(online_redis_throughput)' --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: writes 1,000,000 entities to Redis"]
async fn online_redis_throughput() {
    let Some(fixture) = RedisFixture::open().await else {
        return;
    };
    let store = fixture.store();
    const N: i64 = 1_000_000;
    const BATCH: i64 = 100_000;
    let started = std::time::Instant::now();
    for batch in 0..N / BATCH {
        let rows = (batch * BATCH..(batch + 1) * BATCH)
            .map(|id| {
                let values = [
                    ("clicks_7d", Value::Int64(id % 97)),
                    ("spend_30d", Value::Float64(id as f64 * 0.5)),
                    ("segment", Value::from("premium")),
                ];
                (key(id), row(1_700_000_000_000_000, None, &values))
            })
            .collect();
        assert_eq!(store.write("p", "v", rows).await.unwrap(), BATCH as usize);
    }
    let write = started.elapsed();
    let started = std::time::Instant::now();
    let keys: Vec<EntityKey> = (0..N).map(key).collect();
    let features = names(&["clicks_7d", "spend_30d", "segment"]);
    for chunk in keys.chunks(BATCH as usize) {
        let rows = store.read("p", "v", chunk, &features).await.unwrap();
        assert!(rows.iter().all(Option::is_some));
    }
    let read = started.elapsed();
    println!(
        "redis online store: wrote {N} entities x 3 features in {:.2?} ({:.0} entities/s); \
         read them back in {:.2?} ({:.0} entities/s)",
        write,
        N as f64 / write.as_secs_f64(),
        read,
        N as f64 / read.as_secs_f64()
    );
    store.delete_view("p", "v").await.unwrap();
}
