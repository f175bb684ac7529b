//! The engine against a real database, with a clock the test controls: cron schedules (skip
//! or catch up after downtime), alert triggers with their cooldown, and leases that expire
//! when a worker dies. On SQLite, and on PostgreSQL when `LATHE_TEST_PG_URL` is set.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use lathe_common::config::DatabaseSettings;
use lathe_orchestrator::engine::runs::{NewRun, Runs, Trigger};
use lathe_orchestrator::engine::states::TaskState;
use lathe_orchestrator::store::migration::Migrator;
use lathe_orchestrator::store::pipelines::Pipelines;
use lathe_testkit::PgDatabase;
use sea_orm_migration::MigratorTrait;

const PROJECT: &str = "p";

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

async fn engine(url: &str) -> Runs {
    let db = lathe_common::db::connect(url, &DatabaseSettings::default(), "test")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    Runs::new(Pipelines::new(db))
}

async fn on_every_backend(test: impl AsyncFn(&Runs)) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/orchestrator.db", dir.path().display());
    test(&engine(&sqlite).await).await;
    if let Some(pg) = PgDatabase::create().await {
        test(&engine(&pg.url).await).await;
    }
}

async fn apply(runs: &Runs, yaml: &str, now: i64) {
    runs.pipelines
        .apply(
            PROJECT,
            &[("p.yaml".to_owned(), yaml.to_owned())],
            false,
            "test",
            now,
        )
        .await
        .unwrap();
}

async fn runs_of(runs: &Runs, pipeline: &str) -> Vec<(i64, String)> {
    let query = lathe_orchestrator::store::run_queries::RunQuery {
        project: PROJECT.into(),
        pipeline: Some(pipeline.into()),
        state: None,
        created_after: None,
        created_before: None,
        page_size: 1000,
        page_token: String::new(),
    };
    let (rows, _) = lathe_orchestrator::store::run_queries::list(runs.pipelines.db(), &query)
        .await
        .unwrap();
    let mut found: Vec<(i64, String)> = rows.into_iter().map(|r| (r.logical_date, r.trigger)).collect();
    found.sort();
    found
}

fn nightly(name: &str, catch_up: bool) -> String {
    format!(
        "name: {name}\nschedule: {{cron: '0 3 * * *', timezone: Europe/Paris, catch_up: {catch_up}}}\n\
         tasks:\n  - {{id: t, kind: command, argv: ['true']}}\n"
    )
}

#[tokio::test]
async fn schedules_fire_in_their_time_zone_and_skip_or_catch_up_after_downtime() {
    on_every_backend(async |runs: &Runs| {
        // Applied on 1 March 2027 at 12:00 UTC; 03:00 in Paris is 02:00 UTC in winter.
        let applied = ms(2027, 3, 1, 12, 0);
        apply(runs, &nightly("skip", false), applied).await;
        apply(runs, &nightly("catch", true), applied).await;
        assert!(
            runs.fire_schedules(ms(2027, 3, 2, 1, 59))
                .await
                .unwrap()
                .is_empty()
        );
        // Fires at 02:00 UTC, once.
        assert_eq!(runs.fire_schedules(ms(2027, 3, 2, 2, 0)).await.unwrap().len(), 2);
        assert!(
            runs.fire_schedules(ms(2027, 3, 2, 2, 30))
                .await
                .unwrap()
                .is_empty()
        );
        // Down for three nights: skip starts only the latest, catch_up every missed one.
        runs.fire_schedules(ms(2027, 3, 5, 9, 0)).await.unwrap();
        let skip = runs_of(runs, "skip").await;
        let catch = runs_of(runs, "catch").await;
        let night = |d| (ms(2027, 3, d, 2, 0), "schedule".to_owned());
        assert_eq!(skip, [night(2), night(5)]);
        assert_eq!(catch, [night(2), night(3), night(4), night(5)]);
        // After the change to summer time (28 March), 03:00 in Paris is 01:00 UTC.
        runs.fire_schedules(ms(2027, 3, 29, 1, 0)).await.unwrap();
        assert_eq!(
            runs_of(runs, "skip").await.last().unwrap().0,
            ms(2027, 3, 29, 1, 0)
        );
    })
    .await;
}

#[tokio::test]
async fn an_alert_starts_its_pipelines_at_most_once_per_cooldown() {
    on_every_backend(async |runs: &Runs| {
        let t0 = ms(2027, 1, 1, 0, 0);
        apply(
            runs,
            "name: retrain\ntriggers:\n  - on_alert: {monitor: drift, cooldown: 1h}\n\
             tasks:\n  - {id: t, kind: command, argv: ['true']}\n---\n\
             name: other\ntasks:\n  - {id: t, kind: command, argv: ['true']}\n",
            t0,
        )
        .await;
        let started = runs.on_alert(PROJECT, "drift", None, t0).await.unwrap();
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].0, "retrain");
        assert!(started[0].1.is_some());
        // A flapping alarm within the hour starts nothing.
        for minutes in [1, 30, 59] {
            let held = runs
                .on_alert(PROJECT, "drift", None, t0 + minutes * 60_000)
                .await
                .unwrap();
            assert_eq!(held, [("retrain".to_owned(), None)], "{minutes} min");
        }
        let again = runs
            .on_alert(PROJECT, "drift", None, t0 + 60 * 60_000)
            .await
            .unwrap();
        assert!(again[0].1.is_some());
        assert!(
            runs.on_alert(PROJECT, "other-monitor", None, t0)
                .await
                .unwrap()
                .is_empty()
        );
        let triggers: Vec<String> = runs_of(runs, "retrain")
            .await
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(triggers, ["alert:drift", "alert:drift"]);
    })
    .await;
}

#[tokio::test]
async fn a_pipeline_the_monitor_names_starts_with_the_monitors_cooldown() {
    on_every_backend(async |runs: &Runs| {
        let t0 = ms(2027, 1, 1, 0, 0);
        apply(
            runs,
            "name: retrain\ntasks:\n  - {id: t, kind: command, argv: ['true']}\n",
            t0,
        )
        .await;
        let named = Some(("retrain", std::time::Duration::from_secs(600)));
        let started = runs.on_alert(PROJECT, "drift", named, t0).await.unwrap();
        assert_eq!(started.len(), 1);
        assert!(started[0].1.is_some());
        let held = runs
            .on_alert(PROJECT, "drift", named, t0 + 599_000)
            .await
            .unwrap();
        assert_eq!(held, [("retrain".to_owned(), None)]);
        let again = runs
            .on_alert(PROJECT, "drift", named, t0 + 600_000)
            .await
            .unwrap();
        assert!(again[0].1.is_some());
        // Only the monitor that names it starts it.
        assert!(
            runs.on_alert(PROJECT, "other", None, t0 + 3_600_000)
                .await
                .unwrap()
                .is_empty()
        );
        let missing = Some(("nope", std::time::Duration::from_secs(600)));
        let err = runs.on_alert(PROJECT, "drift", missing, t0).await.unwrap_err();
        assert_eq!(err.reason, lathe_common::reasons::PIPELINE_NOT_FOUND.name);
        assert!(err.message.contains("'nope'"), "{}", err.message);
        assert_eq!(runs_of(runs, "retrain").await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_lease_that_expires_is_a_lost_try_and_the_task_runs_again() {
    on_every_backend(async |runs: &Runs| {
        let t0 = ms(2027, 1, 1, 0, 0);
        apply(
            runs,
            "name: once\ntasks:\n  - {id: t, kind: command, argv: ['true'], retries: 1}\n",
            t0,
        )
        .await;
        let params = BTreeMap::new();
        let run = runs
            .trigger(
                NewRun {
                    project: PROJECT,
                    pipeline: "once",
                    params: &params,
                    logical_date: None,
                    trigger: Trigger::Api,
                    actor: "test",
                },
                t0,
            )
            .await
            .unwrap();
        let first = runs.claim("dead-worker", 1000, t0).await.unwrap().unwrap();
        assert_eq!((first.run_id.as_str(), first.try_number), (run.id.as_str(), 1));
        // Nobody else gets it while the lease holds.
        assert!(runs.claim("other", 1000, t0 + 500).await.unwrap().is_none());
        assert_eq!(runs.expire_leases(t0 + 999).await.unwrap(), 0);
        // The worker died: its lease runs out, the try counts, the task is eligible again.
        assert_eq!(runs.expire_leases(t0 + 1001).await.unwrap(), 1);
        let task = &runs.tasks(&run.id).await.unwrap()[0];
        assert_eq!(TaskState::parse(&task.state), TaskState::UpForRetry);
        assert!(task.message.contains("dead-worker"), "{}", task.message);
        let second = runs.claim("other", 1000, t0 + 1002).await.unwrap().unwrap();
        assert_eq!(second.try_number, 2);
        // The dead worker's late heartbeat does not take it back.
        assert!(!runs.heartbeat(&first, 1000, t0 + 1003).await.unwrap());
        assert!(runs.heartbeat(&second, 1000, t0 + 1003).await.unwrap());
        // Its second loss is its last try: the task fails, and so does the run.
        assert_eq!(runs.expire_leases(t0 + 5000).await.unwrap(), 1);
        let task = &runs.tasks(&run.id).await.unwrap()[0];
        assert_eq!(TaskState::parse(&task.state), TaskState::Failed);
        let row = runs.run_row(PROJECT, &run.id).await.unwrap();
        assert_eq!(row.state, "failed");
    })
    .await;
}

#[tokio::test]
async fn max_active_runs_queues_the_next_run_until_one_ends() {
    on_every_backend(async |runs: &Runs| {
        let t0 = ms(2027, 1, 1, 0, 0);
        apply(
            runs,
            "name: one_at_a_time\nmax_active_runs: 1\ntasks:\n  - {id: t, kind: command, argv: ['true']}\n",
            t0,
        )
        .await;
        let params = BTreeMap::new();
        let new = || NewRun {
            project: PROJECT,
            pipeline: "one_at_a_time",
            params: &params,
            logical_date: None,
            trigger: Trigger::Api,
            actor: "test",
        };
        let first = runs.trigger(new(), t0).await.unwrap();
        let second = runs.trigger(new(), t0 + 1).await.unwrap();
        assert_eq!(
            (first.state.as_str(), second.state.as_str()),
            ("running", "queued")
        );
        // The second run's task is not even pending for a worker.
        let claimed = runs.claim("w", 10_000, t0 + 2).await.unwrap().unwrap();
        assert_eq!(claimed.run_id, first.id);
        assert!(runs.claim("w", 10_000, t0 + 3).await.unwrap().is_none());
        let pipeline = runs.pipelines.version(PROJECT, "one_at_a_time", 1).await.unwrap();
        runs.complete(
            &claimed,
            &lathe_orchestrator::engine::claims::Outcome::Success(Default::default()),
            &pipeline,
            t0 + 4,
        )
        .await
        .unwrap();
        assert_eq!(runs.run_row(PROJECT, &first.id).await.unwrap().state, "success");
        assert_eq!(runs.run_row(PROJECT, &second.id).await.unwrap().state, "running");
        let next = runs.claim("w", 10_000, t0 + 5).await.unwrap().unwrap();
        assert_eq!(next.run_id, second.id);
    })
    .await;
}

#[tokio::test]
async fn a_changed_schedule_fires_at_its_new_time() {
    on_every_backend(async |runs: &Runs| {
        let applied = ms(2027, 3, 1, 12, 0);
        apply(runs, &nightly("moved", false), applied).await;
        // Moved from 03:00 to 05:00 Paris time (04:00 UTC) before it first fired.
        apply(
            runs,
            &nightly("moved", false).replace("0 3 * * *", "0 5 * * *"),
            applied + 60_000,
        )
        .await;
        assert!(
            runs.fire_schedules(ms(2027, 3, 2, 2, 0))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(runs.fire_schedules(ms(2027, 3, 2, 4, 0)).await.unwrap().len(), 1);
        assert_eq!(
            runs_of(runs, "moved").await,
            [(ms(2027, 3, 2, 4, 0), "schedule".to_owned())]
        );
    })
    .await;
}
