//! The sweeper against real stores, with a clock the test controls: a window is checked only
//! once it has ended and its lateness has passed; two replicas sweeping the same database at
//! once check each window once and raise one alert per drifted window. On SQLite and local
//! files, and on PostgreSQL and S3 when the test servers are set.

use bytes::Bytes;
use lathe_common::config::{DatabaseSettings, ObjectStoreSettings};
use lathe_common::definitions::Definitions;
use lathe_contract::monitor::v1::{FeatureCheck, LogFormat, Monitor};
use lathe_monitor::engine::ingest::ReferenceSource;
use lathe_monitor::engine::{Engine, Links, Tuning};
use lathe_monitor::store::{MONITORS_TABLE, migration::Migrator};
use lathe_testkit::{PgDatabase, S3Location};
use sea_orm_migration::MigratorTrait;

const PROJECT: &str = "p";
const MONITOR: &str = "m";
const WINDOW_MS: i64 = 600_000;
/// 2027-01-01T00:00:00Z.
const T0: i64 = 1_798_761_600_000;

async fn replicas(db_url: &str, objects: &ObjectStoreSettings, objects_url: &str) -> [Engine; 2] {
    let db = lathe_common::db::connect(db_url, &DatabaseSettings::default(), "test")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let store = lathe_common::storage::open(objects_url, objects, "monitor.object_store").unwrap();
    let engine = || {
        Engine::new(
            db.clone(),
            store.clone(),
            Definitions::new(db.clone(), MONITORS_TABLE),
            Links {
                orchestrator: None,
                features: None,
                signer: None,
                http: reqwest::Client::new(),
            },
            Tuning::default(),
        )
    };
    [engine(), engine()]
}

async fn on_every_backend(test: impl AsyncFn([Engine; 2])) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/monitor.db", dir.path().display());
    let files = format!("file://{}/objects", dir.path().display());
    test(replicas(&sqlite, &ObjectStoreSettings::default(), &files).await).await;
    if let Some(pg) = PgDatabase::create().await
        && let Some(s3) = S3Location::fresh()
    {
        test(replicas(&pg.url, &s3.settings, &s3.url).await).await;
    }
}

fn rows(start: i64, shift: f64) -> Bytes {
    let rows: Vec<serde_json::Value> = (0..200)
        .map(
            |i| serde_json::json!({"x": f64::from(i % 50) + shift, "timestamp": start + i64::from(i) * 1000}),
        )
        .collect();
    Bytes::from(serde_json::to_vec(&rows).unwrap())
}

async fn set_up(engine: &Engine) {
    let monitor = Monitor {
        project: PROJECT.into(),
        name: MONITOR.into(),
        checks: vec![FeatureCheck {
            column: "x".into(),
            ..FeatureCheck::default()
        }],
        window_seconds: (WINDOW_MS / 1000) as u32,
        lateness_seconds: 30,
        ..Monitor::default()
    };
    engine
        .definitions()
        .put(PROJECT, MONITOR, &monitor)
        .await
        .unwrap();
    let reference = lathe_monitor::data::read_json_rows(&rows(T0, 0.0)).unwrap();
    let parquet = lathe_monitor::data::write_parquet(&reference).unwrap();
    engine
        .set_reference(
            PROJECT,
            MONITOR,
            ReferenceSource::Parquet(Bytes::from(parquet)),
            T0,
        )
        .await
        .unwrap();
}

async fn checked(engine: &Engine) -> Vec<(i64, bool)> {
    let (windows, _) = engine
        .list_windows(PROJECT, MONITOR, None, None, 0, "")
        .await
        .unwrap();
    windows
        .iter()
        .map(|w| {
            let start = w.window_start.as_ref().unwrap();
            (start.seconds * 1000, w.drifted)
        })
        .collect()
}

#[tokio::test]
async fn a_window_is_checked_once_after_its_lateness_by_one_of_two_replicas() {
    on_every_backend(async |[a, b]: [Engine; 2]| {
        set_up(&a).await;
        // Window 0 like the reference, windows 1 to 4 drifted.
        for (i, shift) in [0.0, 100.0, 100.0, 100.0, 100.0].into_iter().enumerate() {
            let start = T0 + i as i64 * WINDOW_MS;
            a.log_rows(PROJECT, MONITOR, rows(start, shift), LogFormat::Json, start)
                .await
                .unwrap();
        }
        let end_of_last = T0 + 5 * WINDOW_MS;
        // Before the last window's lateness has passed, it waits; the four before do not.
        let (x, y) = tokio::join!(
            a.sweep_once(end_of_last + 29_000),
            b.sweep_once(end_of_last + 29_000)
        );
        x.unwrap();
        y.unwrap();
        let first = checked(&a).await;
        assert_eq!(first.len(), 4, "{first:?}");
        assert_eq!(first[0], (T0, false));
        assert!(first[1..].iter().all(|(_, drifted)| *drifted), "{first:?}");
        // Both replicas again, after the lateness: the last window, once.
        let (x, y) = tokio::join!(
            a.sweep_once(end_of_last + 30_000),
            b.sweep_once(end_of_last + 30_000)
        );
        x.unwrap();
        y.unwrap();
        let all = checked(&b).await;
        assert_eq!(all.len(), 5, "{all:?}");
        let (alerts, _) = a.list_alerts(PROJECT, MONITOR, 0, "").await.unwrap();
        assert_eq!(
            alerts.len(),
            4,
            "one alert per drifted window, never two: {alerts:?}"
        );
        // A re-check of a drifted window keeps its alert.
        let again = a
            .check_window(PROJECT, MONITOR, Some(T0 + WINDOW_MS + 1), end_of_last + 60_000)
            .await
            .unwrap();
        assert!(again.drifted);
        let (alerts_after, _) = a.list_alerts(PROJECT, MONITOR, 0, "").await.unwrap();
        assert_eq!(alerts_after.len(), 4);
        assert!(alerts_after.iter().any(|alert| alert.id == again.alert_id));
        // The gauges: the latest window drifted, four alerts.
        let registry = a.metrics().registry();
        let families = registry.gather();
        let value = |name: &str| {
            families
                .iter()
                .find(|f| f.name() == name)
                .map(|f| f.get_metric()[0].clone())
        };
        assert_eq!(
            value("lathe_drift_detected").unwrap().get_gauge().get_value(),
            1.0
        );
        assert_eq!(
            value("lathe_drift_alerts_total")
                .unwrap()
                .get_counter()
                .get_value(),
            4.0
        );
    })
    .await;
}

#[tokio::test]
async fn a_batch_of_the_wrong_kind_is_refused_whole_and_stores_nothing() {
    on_every_backend(async |[a, _]: [Engine; 2]| {
        set_up(&a).await;
        let bad = Bytes::from_static(
            br#"[{"x": 1.5, "timestamp": 1798761600000}, {"x": "text", "timestamp": 1798762800000}]"#,
        );
        let err = a
            .log_rows(PROJECT, MONITOR, bad, LogFormat::Json, T0)
            .await
            .unwrap_err();
        assert_eq!(err.reason, lathe_common::reasons::LOG_SCHEMA_MISMATCH.name);
        assert!(err.message.contains("rows[1].x"), "{}", err.message);
        let texts = Bytes::from_static(br#"[{"x": "a", "timestamp": 1798761600000}]"#);
        let err = a
            .log_rows(PROJECT, MONITOR, texts, LogFormat::Json, T0)
            .await
            .unwrap_err();
        assert!(
            err.message
                .contains("'x' holds text here but numbers in the reference"),
            "{}",
            err.message
        );
        let err = a.check_window(PROJECT, MONITOR, None, T0).await.unwrap_err();
        assert_eq!(err.reason, lathe_common::reasons::WINDOW_NOT_FOUND.name);
    })
    .await;
}
