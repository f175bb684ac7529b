//! Pipelines that run, through the orchestrator's gRPC API, on SQLite (the in-process worker)
//! and on PostgreSQL with S3 (the same, plus workers in other processes in `services/lathe`):
//! outputs, conditions, skips and trigger rules; inputs fetched from upstream artifacts;
//! retries and re-runs; timeouts and cancel that
//! kill the process group; logs; parameters; versions; the worker's environment; registry
//! tasks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use lathe_contract::orchestrator::v1 as pb;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use lathe_tests::{Backend, TestPlatform};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value as Json;

type Client = OrchestratorServiceClient<lathe_tests::GrpcChannel>;

const PROJECT: &str = "flows";

/// The platform, its worker giving every command task `worker_env`.
async fn platform(
    backend: Backend,
    worker_env: BTreeMap<String, String>,
) -> Option<(TestPlatform, Option<lathe_testkit::PgDatabase>)> {
    TestPlatform::on_with(backend, |settings| {
        let worker = &mut settings.orchestrator.worker;
        worker.poll_ms = 50;
        worker.heartbeat_ms = 100;
        worker.env = worker_env;
        settings.orchestrator.sweep_interval_ms = 100;
    })
    .await
}

async fn apply(client: &mut Client, yaml: &str) -> Result<pb::ApplyPipelinesResponse, tonic::Status> {
    client
        .apply_pipelines(pb::ApplyPipelinesRequest {
            project: PROJECT.into(),
            files: vec![pb::PipelineFile {
                path: "flows.yaml".into(),
                content: yaml.into(),
            }],
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn trigger(client: &mut Client, pipeline: &str, params: &[(&str, &str)]) -> pb::PipelineRun {
    client
        .trigger_run(pb::TriggerRunRequest {
            project: PROJECT.into(),
            pipeline: pipeline.into(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn get_run(client: &mut Client, run_id: &str) -> pb::PipelineRun {
    client
        .get_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls the run until `done` holds (bounded: 60 s).
async fn wait_for(
    client: &mut Client,
    run_id: &str,
    done: impl Fn(&pb::PipelineRun) -> bool,
) -> pb::PipelineRun {
    for _ in 0..1200 {
        let run = get_run(client, run_id).await;
        if done(&run) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "run {run_id} never reached the expected state: {:#?}",
        get_run(client, run_id).await
    );
}

fn finished(run: &pb::PipelineRun) -> bool {
    matches!(
        run.state(),
        pb::RunState::Success | pb::RunState::Failed | pb::RunState::Cancelled
    )
}

fn task<'a>(run: &'a pb::PipelineRun, id: &str) -> &'a pb::TaskInstance {
    run.tasks
        .iter()
        .find(|t| t.task_id == id)
        .unwrap_or_else(|| panic!("no task {id} in {run:#?}"))
}

fn states(run: &pb::PipelineRun) -> Vec<(&str, pb::TaskState)> {
    run.tasks
        .iter()
        .map(|t| (t.task_id.as_str(), t.state()))
        .collect()
}

async fn log_of(client: &mut Client, run_id: &str, task_id: &str) -> String {
    let part = client
        .read_task_log(pb::ReadTaskLogRequest {
            project: PROJECT.into(),
            run_id: run_id.into(),
            task_id: task_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    String::from_utf8_lossy(&part.data).into_owned()
}

/// Whether the process whose id the file holds still runs (a zombie, killed and waiting for
/// its reaper, does not).
fn alive(pid_file: &Path) -> bool {
    let pid = std::fs::read_to_string(pid_file).unwrap();
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        // `pid (comm) state ...`: the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

const FLOW: &str = r#"
name: flow
params:
  - {name: min_accuracy, type: float, default: 0.9}
tasks:
  - id: train
    kind: command
    argv: [sh, -c, 'echo "training {{ run.id }}"; printf "{\"accuracy\": 0.95, \"run\": \"%s\"}" "$LATHE_RUN_ID" > "$LATHE_OUTPUTS"']
  - id: promote
    kind: command
    depends_on: [train]
    when: tasks.train.outputs.accuracy > params.min_accuracy
    argv: [sh, -c, 'echo "accuracy {{ tasks.train.outputs.accuracy }}" > "$LATHE_ARTIFACTS_DIR/report.txt"; echo "{\"promoted\": true}" > "$LATHE_OUTPUTS"']
  - id: gate_high
    kind: command
    depends_on: [train]
    when: tasks.train.outputs.accuracy > 0.99
    argv: ["true"]
  - id: after_gate
    kind: command
    depends_on: [gate_high]
    argv: ["true"]
  - id: notify
    kind: command
    depends_on: [after_gate, promote]
    trigger_rule: all_done
    argv: [sh, -c, 'echo "token for $LATHE_PROJECT: ${LATHE_TOKEN:+yes}"']
"#;

/// Outputs flow into conditions and templates; a false condition skips its task and the
/// tasks below it, except one whose trigger rule is all_done. What a task leaves in its
/// artifacts directory, and its log, are kept in the object store.
async fn outputs_conditions_and_skips(client: &mut Client, objects: &dyn ObjectStore) {
    let run = trigger(client, "flow", &[]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    assert_eq!(
        states(&run),
        [
            ("train", pb::TaskState::Success),
            ("promote", pb::TaskState::Success),
            ("gate_high", pb::TaskState::Skipped),
            ("after_gate", pb::TaskState::Skipped),
            ("notify", pb::TaskState::Success),
        ]
    );
    let outputs: Json = serde_json::from_str(&task(&run, "train").outputs_json).unwrap();
    assert_eq!(outputs["accuracy"], 0.95);
    assert_eq!(outputs["run"], run.run_id.as_str());
    assert!(task(&run, "gate_high").message.contains("is false"), "{run:#?}");
    assert_eq!(task(&run, "train").try_number, 1);
    assert_eq!(run.params["min_accuracy"], "0.9");
    let log = log_of(client, &run.run_id, "train").await;
    assert!(log.contains(&format!("training {}", run.run_id)), "{log}");
    let log = log_of(client, &run.run_id, "notify").await;
    assert!(log.contains("token for flows: yes"), "{log}");
    let report = objects
        .get(&ObjectPath::from(format!(
            "runs/{}/promote/artifacts/report.txt",
            run.run_id
        )))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&report[..], b"accuracy 0.95\n");
    let kept = objects
        .get(&ObjectPath::from(format!("runs/{}/train/1/log", run.run_id)))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&kept).starts_with(&format!("training {}", run.run_id)));

    // A parameter changes the decision: above 0.95 the promotion is skipped.
    let strict = trigger(client, "flow", &[("min_accuracy", "0.97")]).await;
    let strict = wait_for(client, &strict.run_id, finished).await;
    assert_eq!(
        task(&strict, "promote").state(),
        pb::TaskState::Skipped,
        "{strict:#?}"
    );
    assert_eq!(strict.state(), pb::RunState::Success);
}

const HANDOFF: &str = r#"
name: handoff
tasks:
  - id: first
    kind: command
    argv: [sh, -c, 'printf "3\n4\n5\n" > "$LATHE_ARTIFACTS_DIR/numbers.txt"']
  - id: second
    kind: command
    depends_on: [first]
    inputs: {data: "runs/{{ run.id }}/first/artifacts/numbers.txt"}
    argv: [sh, -c, 's=0; while read n; do s=$((s+n)); done < "$LATHE_INPUT_DATA"; printf "{\"sum\": %s, \"path\": \"%s\"}" "$s" "$LATHE_INPUT_DATA" > "$LATHE_OUTPUTS"']
  - id: missing
    kind: command
    depends_on: [first]
    retries: {count: 1, delay: 10ms}
    inputs: {labels: "runs/{{ run.id }}/first/artifacts/labels.csv"}
    argv: [sh, -c, 'echo "ran without its input"']
"#;

/// A command task reads what an upstream task left in its artifacts: the object is fetched
/// into the try's own directory and named by `LATHE_INPUT_<NAME>`. A missing object fails
/// the try (which counts as one) before the command runs, naming the input and the key.
async fn inputs_between_tasks(client: &mut Client) {
    let run = trigger(client, "handoff", &[]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Failed, "{run:#?}");
    assert_eq!(
        states(&run),
        [
            ("first", pb::TaskState::Success),
            ("second", pb::TaskState::Success),
            ("missing", pb::TaskState::Failed),
        ]
    );
    let outputs: Json = serde_json::from_str(&task(&run, "second").outputs_json).unwrap();
    assert_eq!(outputs["sum"], 12, "{outputs}");
    let path = outputs["path"].as_str().unwrap();
    assert!(
        path.starts_with('/') && path.ends_with("/inputs/data/numbers.txt"),
        "{path}"
    );
    let log = log_of(client, &run.run_id, "second").await;
    assert!(log.contains("[lathe] input $LATHE_INPUT_DATA: /"), "{log}");
    let missing = task(&run, "missing");
    assert_eq!(
        missing.try_number, 2,
        "a missing input counts as a try: {missing:#?}"
    );
    let key = format!("runs/{}/first/artifacts/labels.csv", run.run_id);
    assert!(
        missing.message.contains("input 'labels'") && missing.message.contains(&key),
        "{missing:#?}"
    );
    let log = log_of(client, &run.run_id, "missing").await;
    assert!(!log.contains("ran without its input"), "{log}");
}

const WORKER_ENV: &str = r#"
name: worker_env
tasks:
  - id: probe
    kind: command
    env: {SHARED: from-task}
    argv: [lathe-env-probe]
  - id: plain
    kind: command
    argv: [sh, -c, 'printf "{\"shared\": \"%s\", \"region\": \"%s\"}" "$SHARED" "$WORKER_REGION" > "$LATHE_OUTPUTS"']
"#;

/// A program only the worker's `PATH` finds: it reports what it sees as its outputs.
const ENV_PROBE: &str = r#"#!/bin/sh
printf '{"region": "%s", "shared": "%s", "project": "%s", "run": "%s"}' "$WORKER_REGION" "$SHARED" "$LATHE_PROJECT" "$LATHE_RUN_ID" > "$LATHE_OUTPUTS"
"#;

/// What the worker's `env` gives every command task, for a `bin` directory holding
/// `lathe-env-probe`: the `PATH` that finds it, and variables a task's own `env` or the
/// `LATHE_*` ones must win over.
fn worker_env(bin: &Path) -> BTreeMap<String, String> {
    let probe = bin.join("lathe-env-probe");
    std::fs::write(&probe, ENV_PROBE).unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned())
    );
    BTreeMap::from([
        ("PATH".to_owned(), path),
        ("WORKER_REGION".to_owned(), "eu-test".to_owned()),
        ("SHARED".to_owned(), "from-worker".to_owned()),
        ("LATHE_PROJECT".to_owned(), "not-this-project".to_owned()),
        ("LATHE_OUTPUTS".to_owned(), "/nonexistent/outputs.json".to_owned()),
    ])
}

/// Every command task finds the worker's `env`: a program on its `PATH` runs by bare name,
/// its variables are there, but a task's own `env` and the run's `LATHE_*` win.
async fn worker_env_reaches_command_tasks(client: &mut Client) {
    let run = trigger(client, "worker_env", &[]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    let probe: Json = serde_json::from_str(&task(&run, "probe").outputs_json).unwrap();
    assert_eq!(
        probe,
        serde_json::json!({
            "region": "eu-test",
            "shared": "from-task",
            "project": PROJECT,
            "run": run.run_id,
        }),
        "found on the worker's PATH; the task's env and LATHE_PROJECT win"
    );
    let plain: Json = serde_json::from_str(&task(&run, "plain").outputs_json).unwrap();
    assert_eq!(
        plain,
        serde_json::json!({"shared": "from-worker", "region": "eu-test"}),
        "a task without an env of its own sees the worker's"
    );
}

const FLAKY: &str = r#"
name: flaky
params:
  - {name: dir, type: string}
tasks:
  - id: flaky
    kind: command
    retries: {count: 2, delay: 10ms}
    argv: [sh, -c, 'n=$(cat {{ params.dir }}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ params.dir }}/count; echo "try $n"; [ $n -ge 2 ]']
  - id: needs_file
    kind: command
    depends_on: [flaky]
    argv: [test, -f, '{{ params.dir }}/ready']
  - id: after
    kind: command
    depends_on: [needs_file]
    argv: ["true"]
"#;

/// A failing try with retries left is retried (with backoff) and can succeed; a run that
/// failed runs again from its failed tasks, keeping what succeeded.
async fn retries_and_rerun(client: &mut Client, dir: &Path) {
    let dir = dir.to_str().unwrap();
    let run = trigger(client, "flaky", &[("dir", dir)]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Failed, "{run:#?}");
    assert_eq!(
        states(&run),
        [
            ("flaky", pb::TaskState::Success),
            ("needs_file", pb::TaskState::Failed),
            ("after", pb::TaskState::UpstreamFailed),
        ]
    );
    assert_eq!(task(&run, "flaky").try_number, 2);
    assert!(
        task(&run, "needs_file").message.contains("exited with status 1"),
        "{run:#?}"
    );
    let log = log_of(client, &run.run_id, "flaky").await;
    assert!(log.contains("try 2"), "{log}");

    std::fs::write(Path::new(dir).join("ready"), "").unwrap();
    let again = client
        .rerun_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.run_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let again = wait_for(client, &again.run_id, finished).await;
    assert_eq!(again.state(), pb::RunState::Success, "{again:#?}");
    assert_eq!(
        task(&again, "flaky").try_number,
        2,
        "a task that succeeded is not run again"
    );
    assert_eq!(task(&again, "needs_file").try_number, 2);
    assert_eq!(task(&again, "after").state(), pb::TaskState::Success);

    let refused = client
        .rerun_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.run_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
}

const SLOW: &str = r#"
name: slow
params:
  - {name: dir, type: string}
tasks:
  - id: sleeper
    kind: command
    timeout: 1s
    argv: [sh, -c, 'sleep 60 & echo $! > {{ params.dir }}/timeout-child; wait']
  - id: leaves_a_child
    kind: command
    argv: [sh, -c, 'sleep 60 & echo $! > {{ params.dir }}/left-child; echo done']
"#;

const LONG: &str = r#"
name: long
params:
  - {name: dir, type: string}
tasks:
  - id: long
    kind: command
    argv: [sh, -c, 'echo "waiting for the child"; sleep 60 & echo $! > {{ params.dir }}/cancel-child; wait']
  - id: later
    kind: command
    depends_on: [long]
    argv: ["true"]
"#;

/// A timeout and a cancel kill the task's whole process group, not just its shell.
async fn timeout_and_cancel_kill_the_group(client: &mut Client, dir: &Path) {
    let path = dir.to_str().unwrap();
    let run = trigger(client, "slow", &[("dir", path)]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Failed, "{run:#?}");
    assert!(
        task(&run, "sleeper").message.contains("timed out after 1s"),
        "{run:#?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !alive(&dir.join("timeout-child")),
        "the timed-out task's child still runs"
    );
    // A command that exits leaving a child behind (holding its output open) has ended: it
    // succeeds, and the child goes with it.
    assert_eq!(
        task(&run, "leaves_a_child").state(),
        pb::TaskState::Success,
        "{run:#?}"
    );
    assert!(
        !alive(&dir.join("left-child")),
        "the finished task's child still runs"
    );

    let run = trigger(client, "long", &[("dir", path)]).await;
    wait_for(client, &run.run_id, |r| {
        task(r, "long").state() == pb::TaskState::Running && dir.join("cancel-child").exists()
    })
    .await;
    // The running task's output is readable while it runs, though it writes nothing more.
    let mut live = String::new();
    for _ in 0..100 {
        live = log_of(client, &run.run_id, "long").await;
        if !live.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live, "waiting for the child\n");
    assert!(alive(&dir.join("cancel-child")));
    let cancelled = client
        .cancel_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.run_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state(), pb::RunState::Cancelled);
    assert_eq!(
        states(&cancelled),
        [("long", pb::TaskState::Failed), ("later", pb::TaskState::Skipped)]
    );
    let mut gone = false;
    for _ in 0..100 {
        if !alive(&dir.join("cancel-child")) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the cancelled task's child still runs");
    let refused = client
        .cancel_run(pb::RunRef {
            project: PROJECT.into(),
            run_id: run.run_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
}

/// Bad definitions and parameters are refused with what to fix; versions only change when
/// the definition does, and a run keeps the version it ran.
async fn definitions_params_and_versions(client: &mut Client) {
    let bad = apply(
        client,
        "name: broken\ntasks:\n  - {id: a, kind: command, argv: [x], depends_on: [nope]}\n",
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("flows.yaml"), "{}", bad.message());
    assert!(bad.message().contains("depends_on"), "{}", bad.message());

    let unchanged = apply(client, FLOW).await.unwrap();
    assert_eq!(
        unchanged.changes[0].action(),
        pb::PipelineChangeAction::Unchanged,
        "{unchanged:?}"
    );
    assert_eq!(unchanged.changes[0].version, 1);
    let first = trigger(client, "flow", &[]).await;
    let changed = FLOW.replace("default: 0.9", "default: 0.5");
    let applied = apply(client, &changed).await.unwrap();
    assert_eq!(
        (applied.changes[0].action(), applied.changes[0].version),
        (pb::PipelineChangeAction::Update, 2)
    );
    let second = trigger(client, "flow", &[]).await;
    assert_eq!((first.pipeline_version, second.pipeline_version), (1, 2));
    assert_eq!(second.params["min_accuracy"], "0.5");

    for (params, says) in [
        (vec![("speed", "1")], "unknown parameter 'speed'"),
        (
            vec![("min_accuracy", "high")],
            "parameter 'min_accuracy' must be float",
        ),
    ] {
        let refused = client
            .trigger_run(pb::TriggerRunRequest {
                project: PROJECT.into(),
                pipeline: "flow".into(),
                params: params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains(says), "{}", refused.message());
    }
    let missing = client
        .trigger_run(pb::TriggerRunRequest {
            project: PROJECT.into(),
            pipeline: "flaky".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        missing
            .message()
            .contains("parameter 'dir' (string) has no default"),
        "{missing:?}"
    );
    let unknown = client
        .trigger_run(pb::TriggerRunRequest {
            project: PROJECT.into(),
            pipeline: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    let listed = client
        .list_runs(pb::ListRunsRequest {
            project: PROJECT.into(),
            pipeline: "flow".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.runs.len(), 2);
    assert!(!listed.next_page_token.is_empty());
    assert_eq!(listed.runs[0].run_id, second.run_id, "newest first");
    let rest = client
        .list_runs(pb::ListRunsRequest {
            project: PROJECT.into(),
            pipeline: "flow".into(),
            page_token: listed.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut all: Vec<String> = listed
        .runs
        .iter()
        .chain(&rest.runs)
        .map(|r| r.run_id.clone())
        .collect();
    let count = all.len();
    all.dedup();
    assert_eq!(all.len(), count, "pages do not overlap");
    assert_eq!(count, 4, "two runs here, two by outputs_conditions_and_skips");
    wait_for(client, &second.run_id, finished).await;
}

const RELEASE: &str = r#"
name: release
params: [{name: run_id, type: string}]
tasks:
  - id: register
    kind: registry.register
    model: churn
    run_id: "{{ params.run_id }}"
    artifact_path: model
    tags: {source: "pipeline {{ run.id }}"}
    signature:
      inputs: ["driver_stats:trips", "driver_stats:conv_rate"]
      output: churned
      defaults: {"driver_stats:conv_rate": 0.5}
  - id: promote
    kind: registry.promote
    depends_on: [register]
    model: churn
    version: "{{ tasks.register.outputs.version }}"
    stage: Staging
    reason: "run {{ run.id }}"
  - id: champion
    kind: registry.set_alias
    depends_on: [promote]
    model: churn
    alias: champion
    version: "{{ tasks.promote.outputs.version }}"
    reason: "release {{ run.id }}"
"#;

const PIN: &str = r#"
name: pin
params: [{name: version, type: string}]
tasks:
  - id: pin
    kind: registry.set_alias
    model: churn
    alias: champion
    version: "{{ params.version }}"
"#;

/// A tracking run logged with `accuracy`, with its model artifact uploaded.
async fn tracked_run(t: &TestPlatform, accuracy: f64) -> String {
    let api = |path: &str| format!("/api/v1/projects/{PROJECT}{path}");
    let admin = t.admin();
    let experiment = t
        .post_json(
            &api("/experiments"),
            &admin,
            &serde_json::json!({"name": format!("e{accuracy}")}),
        )
        .await;
    let run = t
        .post_json(
            &api("/runs"),
            &admin,
            &serde_json::json!({"experiment_id": experiment["experiment_id"]}),
        )
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let logged = t
        .post(
            &api(&format!("/runs/{run_id}/log-batch")),
            &admin,
            &serde_json::json!({"metrics": [{"key": "accuracy", "value": accuracy}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(logged.status().is_success());
    let uploaded = t
        .http
        .put(format!(
            "{}{}",
            t.url,
            api(&format!("/runs/{run_id}/artifacts/model/model.bin"))
        ))
        .bearer_auth(&admin)
        .body(vec![7u8; 64])
        .send()
        .await
        .unwrap();
    assert!(uploaded.status().is_success());
    run_id
}

/// The model's aliases, as `GET …/models/churn` gives them.
async fn aliases_of_churn(t: &TestPlatform) -> Json {
    let model: Json = t
        .get(&format!("/api/v1/projects/{PROJECT}/models/churn"), &t.admin())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    model["aliases"].clone()
}

/// The `alias_set` events of `churn`'s audit log that the pipeline run `run_id` made.
async fn alias_moves_by(t: &TestPlatform, run_id: &str) -> Vec<Json> {
    let audit: Json = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/models/churn/audit"),
            &t.admin(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actor = format!("pipeline-run:{run_id}");
    audit["events"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit log: {audit}"))
        .iter()
        .filter(|e| e["action"] == "alias_set" && e["actor"] == actor.as_str())
        .cloned()
        .collect()
}

/// Built-in tasks call the registry as the run: a version registered with the run in its
/// lineage, promoted when the model's gate holds and refused, with why, when it does not;
/// the `champion` alias moved to it only when it was promoted, each move in the audit log
/// under the run's name, and a move to a version that does not exist refused.
async fn registry_tasks(t: &TestPlatform, client: &mut Client) {
    let policies = serde_json::json!([
        {"stage": "Staging", "conditions": [{"metric": {"key": "accuracy", "op": ">", "value": 0.9}}]}
    ]);
    let model = t
        .post(
            &format!("/api/v1/projects/{PROJECT}/models"),
            &t.admin(),
            &serde_json::json!({"name": "churn", "policies": policies}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(model.status(), 201);
    let good = tracked_run(t, 0.95).await;
    let run = trigger(client, "release", &[("run_id", &good)]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    let promoted: Json = serde_json::from_str(&task(&run, "promote").outputs_json).unwrap();
    assert_eq!(
        (promoted["version"].as_u64(), promoted["stage"].as_str()),
        (Some(1), Some("Staging"))
    );
    let version: Json = t
        .get(
            &format!("/api/v1/projects/{PROJECT}/models/churn/versions/1"),
            &t.admin(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["stage"], "Staging", "{version}");
    assert_eq!(
        version["lineage"]["orchestrator_run"],
        run.run_id.as_str(),
        "{version}"
    );
    assert_eq!(
        version["tags"]["source"],
        format!("pipeline {}", run.run_id),
        "{version}"
    );
    assert_eq!(
        version["signature"],
        serde_json::json!({
            "inputs": ["driver_stats:trips", "driver_stats:conv_rate"],
            "output": "churned",
            "defaults": {"driver_stats:conv_rate": 0.5},
        }),
        "the version is servable: {version}"
    );
    assert_eq!(
        (
            &version["lineage"]["feature_service"],
            &version["lineage"]["feature_views"]
        ),
        (&serde_json::json!(""), &serde_json::json!([])),
        "no features.historical task upstream: {version}"
    );

    let pointed: Json = serde_json::from_str(&task(&run, "champion").outputs_json).unwrap();
    assert_eq!(
        pointed,
        serde_json::json!({"model": "churn", "alias": "champion", "version": 1})
    );
    assert_eq!(version["aliases"], serde_json::json!(["champion"]), "{version}");
    assert_eq!(aliases_of_churn(t).await, serde_json::json!({"champion": 1}));
    let moves = alias_moves_by(t, &run.run_id).await;
    assert_eq!(moves.len(), 1, "{moves:#?}");
    assert_eq!(
        (&moves[0]["version"], &moves[0]["from"], &moves[0]["to"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(""),
            &serde_json::json!("champion@v1")
        ),
        "{moves:#?}"
    );
    assert_eq!(
        moves[0]["reason"],
        format!("release {}", run.run_id),
        "{moves:#?}"
    );

    let weak = tracked_run(t, 0.5).await;
    let run = trigger(client, "release", &[("run_id", &weak)]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Failed, "{run:#?}");
    assert_eq!(
        states(&run),
        [
            ("register", pb::TaskState::Success),
            ("promote", pb::TaskState::Failed),
            ("champion", pb::TaskState::UpstreamFailed),
        ]
    );
    let refusal = &task(&run, "promote").message;
    assert!(
        refusal.contains("accuracy"),
        "the unmet condition is named: {refusal}"
    );
    assert_eq!(
        aliases_of_churn(t).await,
        serde_json::json!({"champion": 1}),
        "version 2 failed its gate: the alias stays"
    );
    assert!(alias_moves_by(t, &run.run_id).await.is_empty());

    // A better run moves the alias on from the version it pointed at.
    let better = tracked_run(t, 0.97).await;
    let run = trigger(client, "release", &[("run_id", &better)]).await;
    let run = wait_for(client, &run.run_id, finished).await;
    assert_eq!(run.state(), pb::RunState::Success, "{run:#?}");
    let pointed: Json = serde_json::from_str(&task(&run, "champion").outputs_json).unwrap();
    assert_eq!(pointed["version"], 3, "{pointed}");
    assert_eq!(aliases_of_churn(t).await, serde_json::json!({"champion": 3}));
    let moves = alias_moves_by(t, &run.run_id).await;
    assert_eq!(
        moves
            .iter()
            .map(|m| (m["from"].as_str(), m["to"].as_str()))
            .collect::<Vec<_>>(),
        [(Some("champion@v1"), Some("champion@v3"))],
        "{moves:#?}"
    );

    // A version the model does not have, or no version at all: the registry's refusal, or
    // the task's own, fails the task; the alias stays where it was.
    let missing = trigger(client, "pin", &[("version", "99")]).await;
    let not_a_number = trigger(client, "pin", &[("version", "v9")]).await;
    for (run_id, says) in [
        (&missing.run_id, "model 'churn' has no version 99"),
        (&not_a_number.run_id, "version: 'v9' is not a version number"),
    ] {
        let run = wait_for(client, run_id, finished).await;
        assert_eq!(run.state(), pb::RunState::Failed, "{run:#?}");
        let pin = task(&run, "pin");
        assert_eq!(pin.state(), pb::TaskState::Failed, "{run:#?}");
        assert!(pin.message.contains(says), "{pin:#?}");
        assert!(alias_moves_by(t, run_id).await.is_empty());
    }
    assert!(
        task(&get_run(client, &missing.run_id).await, "pin")
            .message
            .starts_with("not found: "),
        "the registry's code is named"
    );
    assert_eq!(aliases_of_churn(t).await, serde_json::json!({"champion": 3}));
}

async fn pipelines_run(backend: Backend) {
    let bin = tempfile::tempdir().unwrap();
    let Some((t, _pg)) = platform(backend, worker_env(bin.path())).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let channel = t.grpc_channel("orchestrator", &t.admin()).await;
    let mut client: Client = OrchestratorServiceClient::new(channel);
    for yaml in [FLOW, HANDOFF, WORKER_ENV, FLAKY, SLOW, LONG, RELEASE, PIN] {
        let applied = apply(&mut client, yaml).await.unwrap();
        assert_eq!(applied.changes[0].action(), pb::PipelineChangeAction::Create);
    }
    let dir = tempfile::tempdir().unwrap();
    let objects = t.orchestrator_objects();
    let (mut a, mut b, mut c, mut d) = (client.clone(), client.clone(), client.clone(), client.clone());
    tokio::join!(
        async {
            outputs_conditions_and_skips(&mut a, objects.as_ref()).await;
            definitions_params_and_versions(&mut a).await;
        },
        retries_and_rerun(&mut b, dir.path()),
        timeout_and_cancel_kill_the_group(&mut c, dir.path()),
        async {
            inputs_between_tasks(&mut d).await;
            worker_env_reaches_command_tasks(&mut d).await;
        },
    );
    registry_tasks(&t, &mut client).await;
    let pipelines = client
        .list_pipelines(pb::ListPipelinesRequest {
            project: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = pipelines.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "flaky",
            "flow",
            "handoff",
            "long",
            "pin",
            "release",
            "slow",
            "worker_env"
        ]
    );
}

#[tokio::test]
async fn pipelines_run_on_sqlite() {
    pipelines_run(Backend::Embedded).await;
}

#[tokio::test]
async fn pipelines_run_on_postgres() {
    pipelines_run(Backend::Production).await;
}
