//! Pipelines through the REST API, with real tokens of each role: applying YAML definitions,
//! triggering runs that the platform's worker executes, reading and following task logs,
//! listing, cancelling and re-running runs.

use std::time::{Duration, Instant};

use lathe_tests::{Backend, TestPlatform, TokenRole, error_of, names_of};
use serde_json::{Value, json};

const PROJECT: &str = "churn";

/// Two command tasks: `hello` says hi, `evaluate` (after it) writes its outputs.
const TRAIN_YAML: &str = r#"
name: train
description: Say hi, then evaluate
params:
  - {name: epochs, type: int, default: 3}
tasks:
  - id: hello
    kind: command
    argv: [sh, -c, "echo hi"]
  - id: evaluate
    kind: command
    depends_on: [hello]
    argv: [sh, -c, "echo '{\"accuracy\": 0.95}' > \"$LATHE_OUTPUTS\""]
"#;

/// One task that writes three lines, half a second apart.
const SLOW_ECHO_YAML: &str = r#"
name: slow-echo
tasks:
  - id: count
    kind: command
    argv: [sh, -c, "for i in 1 2 3; do echo line$i; sleep 0.5; done"]
"#;

/// One task that sleeps long enough to be cancelled.
const SLEEPER_YAML: &str = r#"
name: sleeper
tasks:
  - id: nap
    kind: command
    argv: [sleep, "30"]
"#;

/// Succeeds once the file named by its `marker` parameter exists.
const FLAKY_YAML: &str = r#"
name: flaky
params:
  - {name: marker, type: string}
tasks:
  - id: prepare
    kind: command
    argv: [sh, -c, "echo ready"]
  - id: check
    kind: command
    depends_on: [prepare]
    argv: [test, -f, "{{ params.marker }}"]
"#;

fn api(path: &str) -> String {
    format!("/api/v1/projects/{PROJECT}{path}")
}

struct Tokens {
    viewer: String,
    editor: String,
    admin: String,
}

/// The platform with a project, its worker quick to pick up work; the database (production)
/// lives as long as the third part.
async fn platform_with_project(
    backend: Backend,
) -> Option<(TestPlatform, Tokens, Option<lathe_testkit::PgDatabase>)> {
    let (t, pg) = TestPlatform::on_with(backend, |settings| {
        let worker = &mut settings.orchestrator.worker;
        worker.poll_ms = 50;
        worker.heartbeat_ms = 100;
        settings.orchestrator.sweep_interval_ms = 100;
    })
    .await?;
    t.create_project(PROJECT).await;
    let tokens = Tokens {
        viewer: t.token(TokenRole::Viewer, &[PROJECT]),
        editor: t.token(TokenRole::Editor, &[PROJECT]),
        admin: t.admin(),
    };
    Some((t, tokens, pg))
}

/// Sends a request and returns its JSON body, asserting the status.
async fn expect_json(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the request fails with `status` and `code`, and returns the message.
async fn expect_error(request: reqwest::RequestBuilder, status: u16, code: &str) -> String {
    let (actual, actual_code, message) = error_of(request.send().await.expect("request")).await;
    assert_eq!((actual, actual_code.as_str()), (status, code), "{message}");
    message
}

fn apply_body(files: &[(&str, &str)], dry_run: bool) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|(path, content)| json!({ "path": path, "content": content }))
        .collect();
    json!({ "files": files, "dry_run": dry_run })
}

async fn apply(t: &TestPlatform, token: &str, files: &[(&str, &str)]) -> Value {
    expect_json(
        t.post(&api("/pipelines/apply"), token, &apply_body(files, false)),
        200,
    )
    .await
}

async fn trigger(t: &TestPlatform, token: &str, pipeline: &str, params: Value) -> Value {
    let run = expect_json(
        t.post(
            &api(&format!("/pipelines/{pipeline}/runs")),
            token,
            &json!({ "params": params }),
        ),
        201,
    )
    .await;
    assert_eq!(run["pipeline"], pipeline);
    run
}

/// Polls the run until `done` holds of it (bounded), and returns it.
async fn wait_run(t: &TestPlatform, token: &str, run_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = expect_json(t.get(&api(&format!("/pipeline-runs/{run_id}")), token), 200).await;
        if done(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "run never got there: {run:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_state(t: &TestPlatform, token: &str, run_id: &str, state: &str) -> Value {
    let run = wait_run(t, token, run_id, |run| {
        matches!(run["state"].as_str(), Some("success" | "failed" | "cancelled"))
    })
    .await;
    assert_eq!(run["state"], state, "{run:#}");
    run
}

fn task<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|task| task["task_id"] == id))
        .unwrap_or_else(|| panic!("run has no task {id}: {run:#}"))
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_owned()
}

/// Apply, trigger, run to success, logs (read and followed) and the filtered listing, on
/// both transports: in-process channels (embedded) and loopback gRPC (production).
#[tokio::test]
async fn a_pipeline_applied_and_triggered_over_rest_runs_to_success() {
    for backend in [Backend::Embedded, Backend::Production] {
        let Some((t, tokens, _pg)) = platform_with_project(backend).await else {
            continue;
        };
        let applied = apply(
            &t,
            &tokens.admin,
            &[
                ("pipelines/train.yaml", TRAIN_YAML),
                ("pipelines/slow.yaml", SLOW_ECHO_YAML),
            ],
        )
        .await;
        assert_eq!(applied["applied"], true);
        let change = &applied["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "train")
            .unwrap_or_else(|| panic!("{applied:#}"));
        assert_eq!(
            (&change["action"], &change["version"], &change["file"]),
            (&json!("create"), &json!(1), &json!("pipelines/train.yaml"))
        );

        let listed = expect_json(t.get(&api("/pipelines"), &tokens.viewer), 200).await;
        let mut names: Vec<&str> = listed["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["slow-echo", "train"]);
        let pipeline = expect_json(t.get(&api("/pipelines/train"), &tokens.viewer), 200).await;
        assert_eq!(pipeline["version"], 1);
        assert_eq!(pipeline["description"], "Say hi, then evaluate");
        let evaluate = &pipeline["tasks"][1];
        assert_eq!(
            (&evaluate["id"], &evaluate["kind"], &evaluate["depends_on"]),
            (&json!("evaluate"), &json!("command"), &json!(["hello"]))
        );
        assert_eq!(evaluate["trigger_rule"], "all_success");
        assert!(
            pipeline["create_time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{pipeline:#}"
        );

        let run = trigger(&t, &tokens.editor, "train", json!({ "epochs": "5" })).await;
        assert!(
            matches!(run["state"].as_str(), Some("queued" | "running")),
            "{run:#}"
        );
        assert_eq!(run["trigger"], "api");
        assert_eq!(run["params"]["epochs"], "5");
        let run_id = run["run_id"].as_str().unwrap().to_owned();
        let done = wait_state(&t, &tokens.viewer, &run_id, "success").await;
        assert_eq!(task(&done, "hello")["state"], "success");
        let outputs: Value =
            serde_json::from_str(task(&done, "evaluate")["outputs_json"].as_str().unwrap()).unwrap();
        assert_eq!(outputs, json!({ "accuracy": 0.95 }));

        // The whole log, then the rest of it from an offset.
        let log = t
            .get(
                &api(&format!("/pipeline-runs/{run_id}/tasks/hello/log")),
                &tokens.viewer,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(log.status(), 200);
        assert!(header(&log, "content-type").starts_with("text/plain"));
        let (next_offset, complete) = (
            header(&log, "x-lathe-next-offset"),
            header(&log, "x-lathe-log-complete"),
        );
        let whole = log.text().await.unwrap();
        assert!(whole.starts_with("hi\n"), "{whole}");
        assert_eq!(
            (next_offset, complete.as_str()),
            (whole.len().to_string(), "true")
        );
        let rest = t
            .get(
                &api(&format!(
                    "/pipeline-runs/{run_id}/tasks/hello/log?offset=1&try_number=1"
                )),
                &tokens.viewer,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(rest.text().await.unwrap(), whole[1..]);
        let future_try = t.get(
            &api(&format!("/pipeline-runs/{run_id}/tasks/hello/log?try_number=2")),
            &tokens.viewer,
        );
        expect_error(future_try, 400, "invalid_argument").await;

        // Followed from before the task starts: every line, then the end of the answer.
        let slow = trigger(&t, &tokens.editor, "slow-echo", json!({})).await;
        let slow_id = slow["run_id"].as_str().unwrap().to_owned();
        let followed = t
            .get(
                &api(&format!("/pipeline-runs/{slow_id}/tasks/count/log?follow=true")),
                &tokens.viewer,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), 200);
        assert!(
            followed.headers().get("x-lathe-log-complete").is_none(),
            "a followed log's end is the end of the answer"
        );
        let followed = followed.text().await.unwrap();
        assert!(followed.starts_with("line1\nline2\nline3\n"), "{followed}");
        assert!(
            followed.ends_with("succeeded\n"),
            "to the end of the try: {followed}"
        );
        wait_state(&t, &tokens.viewer, &slow_id, "success").await;

        // Filters of the listing.
        let successes = expect_json(
            t.get(
                &api("/pipeline-runs?pipeline=train&state=success"),
                &tokens.viewer,
            ),
            200,
        )
        .await;
        let ids: Vec<&str> = successes["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [run_id.as_str()]);
        assert_eq!(successes["runs"][0]["pipeline"], "train");
        let all = expect_json(t.get(&api("/pipeline-runs"), &tokens.viewer), 200).await;
        assert_eq!(all["runs"].as_array().unwrap().len(), 2);
        let failed = expect_json(t.get(&api("/pipeline-runs?state=failed"), &tokens.viewer), 200).await;
        assert_eq!(failed["runs"], json!([]));
        let later = expect_json(
            t.get(
                &api("/pipeline-runs?created_after=2999-01-01T00:00:00Z"),
                &tokens.viewer,
            ),
            200,
        )
        .await;
        assert_eq!(later["runs"], json!([]));
        let paged = expect_json(t.get(&api("/pipeline-runs?page_size=1"), &tokens.viewer), 200).await;
        assert_eq!(paged["runs"].as_array().unwrap().len(), 1);
        assert!(
            !paged["next_page_token"].as_str().unwrap().is_empty(),
            "{paged:#}"
        );
        expect_error(
            t.get(&api("/pipeline-runs?state=done"), &tokens.viewer),
            400,
            "invalid_argument",
        )
        .await;
        t.shutdown().await;
    }
}

#[tokio::test]
async fn a_running_run_is_cancelled_and_a_failed_run_reruns_from_its_failures() {
    let (t, tokens, _) = platform_with_project(Backend::Embedded).await.unwrap();
    apply(
        &t,
        &tokens.admin,
        &[("sleeper.yaml", SLEEPER_YAML), ("flaky.yaml", FLAKY_YAML)],
    )
    .await;

    let run = trigger(&t, &tokens.editor, "sleeper", json!({})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    wait_run(&t, &tokens.viewer, &run_id, |run| {
        task(run, "nap")["state"] == "running"
    })
    .await;
    let cancelled = expect_json(
        t.post(
            &api(&format!("/pipeline-runs/{run_id}/cancel")),
            &tokens.editor,
            &json!({}),
        ),
        200,
    )
    .await;
    assert_eq!(cancelled["state"], "cancelled");
    let read = wait_state(&t, &tokens.viewer, &run_id, "cancelled").await;
    assert_eq!(task(&read, "nap")["state"], "failed", "{read:#}");
    expect_error(
        t.post(
            &api(&format!("/pipeline-runs/{run_id}/cancel")),
            &tokens.editor,
            &json!({}),
        ),
        412,
        "run_finished",
    )
    .await;
    expect_error(
        t.post(
            &api(&format!("/pipeline-runs/{run_id}/cancel")),
            &tokens.viewer,
            &json!({}),
        ),
        403,
        "role_too_low",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ready");
    let run = trigger(
        &t,
        &tokens.editor,
        "flaky",
        json!({ "marker": marker.to_str().unwrap() }),
    )
    .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let failed = wait_state(&t, &tokens.viewer, &run_id, "failed").await;
    assert_eq!(task(&failed, "prepare")["state"], "success");
    assert_eq!(task(&failed, "check")["state"], "failed");
    expect_error(
        t.post(
            &api(&format!("/pipeline-runs/{run_id}/rerun")),
            &tokens.viewer,
            &json!({}),
        ),
        403,
        "role_too_low",
    )
    .await;

    std::fs::write(&marker, "").unwrap();
    let rerun = expect_json(
        t.post(
            &api(&format!("/pipeline-runs/{run_id}/rerun")),
            &tokens.editor,
            &json!({}),
        ),
        200,
    )
    .await;
    assert_eq!(rerun["run_id"], run_id.as_str());
    let done = wait_state(&t, &tokens.viewer, &run_id, "success").await;
    let prepare = task(&done, "prepare");
    assert_eq!(
        (&prepare["state"], &prepare["try_number"]),
        (&json!("success"), &json!(1)),
        "a task that succeeded is not run again: {done:#}"
    );
    assert_eq!(task(&done, "check")["state"], "success");
    expect_error(
        t.post(
            &api(&format!("/pipeline-runs/{run_id}/rerun")),
            &tokens.editor,
            &json!({}),
        ),
        412,
        "run_not_rerunnable",
    )
    .await;
    t.shutdown().await;
}

#[tokio::test]
async fn roles_decide_who_plans_applies_triggers_and_deletes() {
    let (t, tokens, _) = platform_with_project(Backend::Embedded).await.unwrap();
    let files = [("pipelines/train.yaml", TRAIN_YAML)];

    // An editor (and a viewer) may plan, not apply.
    for token in [&tokens.editor, &tokens.viewer] {
        let plan = expect_json(
            t.post(&api("/pipelines/apply"), token, &apply_body(&files, true)),
            200,
        )
        .await;
        assert_eq!(plan["applied"], false);
        assert_eq!(plan["changes"][0]["action"], "create", "{plan:#}");
        assert_eq!(plan["changes"][0]["version"], 1);
    }
    expect_error(
        t.post(
            &api("/pipelines/apply"),
            &tokens.editor,
            &apply_body(&files, false),
        ),
        403,
        "role_too_low",
    )
    .await;
    expect_error(
        t.get(&api("/pipelines/train"), &tokens.viewer),
        404,
        "pipeline_not_found",
    )
    .await;

    apply(&t, &tokens.admin, &files).await;
    let again = apply(&t, &tokens.admin, &files).await;
    assert_eq!(
        (&again["changes"][0]["action"], &again["changes"][0]["version"]),
        (&json!("unchanged"), &json!(1))
    );
    let changed = TRAIN_YAML.replace("Say hi, then evaluate", "Say hello");
    let plan = expect_json(
        t.post(
            &api("/pipelines/apply"),
            &tokens.viewer,
            &apply_body(&[("pipelines/train.yaml", &changed)], true),
        ),
        200,
    )
    .await;
    assert_eq!(
        (&plan["changes"][0]["action"], &plan["changes"][0]["version"]),
        (&json!("update"), &json!(2))
    );

    expect_error(
        t.post(&api("/pipelines/train/runs"), &tokens.viewer, &json!({})),
        403,
        "role_too_low",
    )
    .await;
    let other = t.token(TokenRole::Admin, &["other"]);
    expect_error(t.get(&api("/pipelines"), &other), 403, "project_not_in_token").await;
    let run = trigger(&t, &tokens.editor, "train", json!({})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    let delete = |token: &str| {
        t.http
            .delete(format!("{}{}", t.url, api("/pipelines/train")))
            .bearer_auth(token)
    };
    expect_error(delete(&tokens.editor), 403, "role_too_low").await;
    let deleted = delete(&tokens.admin).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    expect_error(
        t.get(&api("/pipelines/train"), &tokens.viewer),
        404,
        "pipeline_not_found",
    )
    .await;
    expect_error(delete(&tokens.admin), 404, "pipeline_not_found").await;
    // Its runs stay readable.
    let kept = expect_json(
        t.get(&api(&format!("/pipeline-runs/{run_id}")), &tokens.viewer),
        200,
    )
    .await;
    assert_eq!(kept["pipeline"], "train");
    t.shutdown().await;
}

#[tokio::test]
async fn bad_definitions_parameters_and_ids_are_refused_with_their_reason() {
    let (t, tokens, _) = platform_with_project(Backend::Embedded).await.unwrap();
    let bad = "name: bad\ntasks:\n  - {id: a, kind: command, argv: [x]}\n  - {id: b, kind: command, argv: [x], depends_on: [c]}\n";
    let message = expect_error(
        t.post(
            &api("/pipelines/apply"),
            &tokens.admin,
            &apply_body(
                &[("pipelines/good.yaml", TRAIN_YAML), ("pipelines/bad.yaml", bad)],
                false,
            ),
        ),
        400,
        "invalid_pipeline",
    )
    .await;
    assert!(
        message.contains("pipelines/bad.yaml: tasks[1].depends_on[0]"),
        "names the file and the path: {message}"
    );
    // Nothing of a refused request is applied.
    let listed = expect_json(t.get(&api("/pipelines"), &tokens.viewer), 200).await;
    assert_eq!(listed["pipelines"], json!([]));
    let message = expect_error(
        t.post(
            &api("/pipelines/apply"),
            &tokens.admin,
            &apply_body(&[("broken.yaml", "name: [unclosed")], true),
        ),
        400,
        "invalid_pipeline",
    )
    .await;
    assert!(message.contains("broken.yaml"), "{message}");

    apply(&t, &tokens.admin, &[("train.yaml", TRAIN_YAML)]).await;
    let message = expect_error(
        t.post(
            &api("/pipelines/train/runs"),
            &tokens.editor,
            &json!({ "params": { "learning_rate": "0.1" } }),
        ),
        400,
        "invalid_run_params",
    )
    .await;
    assert!(message.contains("learning_rate"), "{message}");
    expect_error(
        t.post(
            &api("/pipelines/train/runs"),
            &tokens.editor,
            &json!({ "params": { "epochs": "many" } }),
        ),
        400,
        "invalid_run_params",
    )
    .await;
    expect_error(
        t.post(&api("/pipelines/missing/runs"), &tokens.editor, &json!({})),
        404,
        "pipeline_not_found",
    )
    .await;
    expect_error(
        t.post(
            &api("/pipelines/train/runs"),
            &tokens.editor,
            &json!({ "project": "x" }),
        ),
        400,
        "invalid_body",
    )
    .await;

    let unknown = "0195f0c2-0000-7000-8000-000000000000";
    for request in [
        t.get(&api(&format!("/pipeline-runs/{unknown}")), &tokens.viewer),
        t.post(
            &api(&format!("/pipeline-runs/{unknown}/cancel")),
            &tokens.editor,
            &json!({}),
        ),
        t.post(
            &api(&format!("/pipeline-runs/{unknown}/rerun")),
            &tokens.editor,
            &json!({}),
        ),
        t.get(
            &api(&format!("/pipeline-runs/{unknown}/tasks/hello/log")),
            &tokens.viewer,
        ),
    ] {
        expect_error(request, 404, "pipeline_run_not_found").await;
    }
    let run = trigger(&t, &tokens.editor, "train", json!({})).await;
    let run_id = run["run_id"].as_str().unwrap();
    expect_error(
        t.get(
            &api(&format!("/pipeline-runs/{run_id}/tasks/nope/log")),
            &tokens.viewer,
        ),
        404,
        "task_not_found",
    )
    .await;
    t.shutdown().await;
}

/// The pipeline list pages on the server, by name: seven pipelines in pages of three come
/// back 3 + 3 + 1, in name order, each once, the last token empty; a pipeline deleted between
/// two pages moves nothing (a keyset, not an offset); a page over 1000 and a token the server
/// did not issue are refused.
#[tokio::test]
async fn the_pipeline_list_pages_by_name() {
    for backend in [Backend::Embedded, Backend::Production] {
        let Some((t, tokens, _pg)) = platform_with_project(backend).await else {
            continue;
        };
        // Applied out of order: the listing sorts.
        let names = [
            "report", "clean", "backfill", "score", "ingest", "train", "export",
        ];
        let documents: Vec<String> = names
            .iter()
            .map(|name| format!("name: {name}\ntasks:\n  - {{id: run, kind: command, argv: [echo, hi]}}\n"))
            .collect();
        let files: Vec<(String, &str)> = names
            .iter()
            .zip(&documents)
            .map(|(name, yaml)| (format!("pipelines/{name}.yaml"), yaml.as_str()))
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(path, yaml)| (path.as_str(), *yaml)).collect();
        apply(&t, &tokens.admin, &files).await;
        let mut sorted = names.to_vec();
        sorted.sort_unstable();

        let (listed, sizes) = t
            .page_names(&api("/pipelines"), &tokens.viewer, "pipelines", 3)
            .await;
        assert_eq!(sizes, [3, 3, 1], "{listed:?}");
        assert_eq!(listed, sorted);

        // Deleting the last pipeline of the first page neither skips nor repeats one.
        let first = t.list_page(&api("/pipelines"), &tokens.viewer, 3, "").await;
        assert_eq!(names_of(&first, "pipelines"), ["backfill", "clean", "export"]);
        let response = t
            .http
            .delete(format!("{}{}", t.url, api("/pipelines/export")))
            .bearer_auth(&tokens.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        let second = t
            .list_page(
                &api("/pipelines"),
                &tokens.viewer,
                3,
                first["next_page_token"].as_str().unwrap(),
            )
            .await;
        assert_eq!(names_of(&second, "pipelines"), ["ingest", "report", "score"]);

        // Without page_size, one page of up to 100 holds them all.
        let all = expect_json(t.get(&api("/pipelines"), &tokens.viewer), 200).await;
        assert_eq!(names_of(&all, "pipelines").len(), 6, "{all:#}");
        assert_eq!(all["next_page_token"], "");

        expect_error(
            t.get(&api("/pipelines?page_size=1001"), &tokens.viewer),
            400,
            "invalid_argument",
        )
        .await;
        for forged in ["not-a-token", "zz", "ff"] {
            expect_error(
                t.get(&api(&format!("/pipelines?page_token={forged}")), &tokens.viewer),
                400,
                "invalid_page_token",
            )
            .await;
        }
        t.shutdown().await;
    }
}

#[tokio::test]
async fn pipeline_routes_are_documented() {
    let t = TestPlatform::embedded().await;
    let doc = t.openapi_document().await;
    let expected = [
        ("/pipelines", &["get"][..]),
        ("/pipelines/apply", &["post"]),
        ("/pipelines/{name}", &["get", "delete"]),
        ("/pipelines/{name}/runs", &["post"]),
        ("/pipeline-runs", &["get"]),
        ("/pipeline-runs/{run_id}", &["get"]),
        ("/pipeline-runs/{run_id}/cancel", &["post"]),
        ("/pipeline-runs/{run_id}/rerun", &["post"]),
        ("/pipeline-runs/{run_id}/tasks/{task_id}/log", &["get"]),
    ];
    for (path, methods) in expected {
        let full = format!("/api/v1/projects/{{project}}{path}");
        let item = &doc["paths"][&full];
        for method in methods {
            let operation = &item[*method];
            assert!(
                operation.is_object(),
                "{method} {full} missing from the OpenAPI paths"
            );
            assert_eq!(operation["tags"], json!(["pipelines"]), "{method} {full}");
            assert!(
                operation["security"].to_string().contains("bearer"),
                "{method} {full} lacks bearer security"
            );
            for status in ["401", "403"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {full} lacks {status}"
                );
            }
        }
    }
    let log = &doc["paths"]["/api/v1/projects/{project}/pipeline-runs/{run_id}/tasks/{task_id}/log"]["get"];
    assert!(
        log["responses"]["200"]["content"]["text/plain"].is_object(),
        "logs are text: {log}"
    );
    assert!(
        log["responses"]["200"]["headers"]["x-lathe-next-offset"].is_object(),
        "{log}"
    );
    let run_state = &doc["components"]["schemas"]["PipelineRunState"]["enum"];
    assert_eq!(
        run_state,
        &json!(["queued", "running", "success", "failed", "cancelled"])
    );
    let trigger = &doc["paths"]["/api/v1/projects/{project}/pipelines/{name}/runs"]["post"];
    assert!(
        trigger["requestBody"].to_string().contains("TriggerPipelineRun"),
        "{trigger}"
    );
    t.shutdown().await;
}
