//! Experiment tracking, run artifacts and the model registry through the REST API, with real
//! tokens of each role: what a data scientist does from the first run to a model in production.

use lathe_tests::{Backend, TestPlatform, TokenRole, error_of};
use serde_json::{Value, json};

const PROJECT: &str = "churn";

/// Content of the large artifact: byte `i` is `(31 i + 7) mod 251`.
const LARGE_ARTIFACT_BYTES: usize = 3 * 1024 * 1024 + 12345;
/// sha256 of that content, computed independently (Python's hashlib).
const LARGE_ARTIFACT_SHA256: &str = "cae1fc4fa88f9584ff5bbc1b0a59a0970515b10cb4517a979dacb35d2d2c1987";
/// sha256 of `b"weights"`.
const WEIGHTS_SHA256: &str = "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c";

fn large_artifact() -> Vec<u8> {
    (0..LARGE_ARTIFACT_BYTES)
        .map(|i| u8::try_from((i * 31 + 7) % 251).expect("below 251"))
        .collect()
}

fn api(path: &str) -> String {
    format!("/api/v1/projects/{PROJECT}{path}")
}

struct Tokens {
    viewer: String,
    editor: String,
    admin: String,
}

async fn platform_with_project() -> (TestPlatform, Tokens) {
    let t = TestPlatform::embedded().await;
    t.create_project(PROJECT).await;
    let tokens = Tokens {
        viewer: t.token(TokenRole::Viewer, &[PROJECT]),
        editor: t.token(TokenRole::Editor, &[PROJECT]),
        admin: t.admin(),
    };
    (t, tokens)
}

/// Sends a request and returns its JSON body, asserting the status.
async fn expect_json(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("request");
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Sends a request and asserts an empty 204.
async fn expect_no_content(request: reqwest::RequestBuilder) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(status, 204, "unexpected status; body: {text}");
}

fn patch(t: &TestPlatform, path: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
    t.http
        .patch(format!("{}{path}", t.url))
        .bearer_auth(token)
        .json(body)
}

fn delete(t: &TestPlatform, path: &str, token: &str) -> reqwest::RequestBuilder {
    t.http.delete(format!("{}{path}", t.url)).bearer_auth(token)
}

fn upload(
    t: &TestPlatform,
    run_id: &str,
    path: &str,
    token: &str,
    content: Vec<u8>,
) -> reqwest::RequestBuilder {
    t.http
        .put(format!(
            "{}{}",
            t.url,
            api(&format!("/runs/{run_id}/artifacts/{path}"))
        ))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(content)
}

async fn create_experiment(t: &TestPlatform, token: &str, name: &str) -> String {
    let experiment = expect_json(t.post(&api("/experiments"), token, &json!({ "name": name })), 201).await;
    experiment["experiment_id"]
        .as_str()
        .expect("experiment_id")
        .to_owned()
}

/// A run that logged `accuracy` (and a solver param), with `model/model.bin` uploaded.
async fn trained_run(t: &TestPlatform, token: &str, experiment_id: &str, accuracy: f64) -> String {
    let run = expect_json(
        t.post(
            &api("/runs"),
            token,
            &json!({ "experiment_id": experiment_id, "name": format!("acc-{accuracy}") }),
        ),
        201,
    )
    .await;
    let run_id = run["run_id"].as_str().expect("run_id").to_owned();
    expect_no_content(t.post(
        &api(&format!("/runs/{run_id}/log-batch")),
        token,
        &json!({ "metrics": [{ "key": "accuracy", "value": accuracy }], "params": [{ "key": "solver", "value": "lbfgs" }] }),
    ))
    .await;
    let stored = expect_json(
        upload(t, &run_id, "model/model.bin", token, b"weights".to_vec())
            .header("x-lathe-sha256", WEIGHTS_SHA256),
        201,
    )
    .await;
    assert_eq!(stored["sha256"], WEIGHTS_SHA256);
    expect_json(
        patch(
            t,
            &api(&format!("/runs/{run_id}")),
            token,
            &json!({ "status": "FINISHED" }),
        ),
        200,
    )
    .await;
    run_id
}

#[tokio::test]
async fn registry_api_tracks_experiments_runs_metrics_and_searches() {
    let (t, tokens) = platform_with_project().await;

    // Viewers read, editors write; another project's token sees nothing here.
    let (status, code, _) = error_of(
        t.post(&api("/experiments"), &tokens.viewer, &json!({ "name": "nope" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    let outsider = t.token(TokenRole::Admin, &["other"]);
    let (status, code, _) = error_of(t.get(&api("/experiments"), &outsider).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "project_not_in_token"));
    let unauthenticated = t
        .http
        .get(format!("{}{}", t.url, api("/experiments")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(unauthenticated).await.0, 401);
    let (status, code, message) = error_of(
        t.post(
            &api("/experiments"),
            &tokens.editor,
            &json!({ "name": "x", "colour": "red" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_body"), "{message}");
    assert!(message.contains("colour"), "{message}");

    let experiment = expect_json(
        t.post(
            &api("/experiments"),
            &tokens.editor,
            &json!({ "name": "baseline", "tags": { "team": "retention" } }),
        ),
        201,
    )
    .await;
    assert_eq!(experiment["name"], "baseline");
    assert_eq!(experiment["lifecycle_stage"], "active");
    assert_eq!(experiment["tags"]["team"], "retention");
    let experiment_id = experiment["experiment_id"].as_str().unwrap().to_owned();

    let run = expect_json(
        t.post(
            &api("/runs"),
            &tokens.editor,
            &json!({ "experiment_id": experiment_id, "name": "lbfgs-1" }),
        ),
        201,
    )
    .await;
    assert_eq!(run["status"], "RUNNING");
    assert_eq!(run["user_id"], "tester", "user_id defaults to the token subject");
    assert_eq!(run["experiment_id"], experiment_id.as_str());
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    expect_no_content(t.post(
        &api(&format!("/runs/{run_id}/log-batch")),
        &tokens.editor,
        &json!({
            "metrics": [
                { "key": "accuracy", "value": 0.81, "step": 0, "timestamp_ms": 1_000 },
                { "key": "accuracy", "value": 0.93, "step": 1, "timestamp_ms": 2_000 },
                { "key": "loss", "value": 0.2 },
            ],
            "params": [{ "key": "solver", "value": "lbfgs" }],
            "tags": [{ "key": "phase", "value": "tuning" }],
        }),
    ))
    .await;

    let run = expect_json(t.get(&api(&format!("/runs/{run_id}")), &tokens.viewer), 200).await;
    let latest = |run: &Value, key: &str| -> Value {
        run["latest_metrics"]
            .as_array()
            .expect("latest_metrics")
            .iter()
            .find(|m| m["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no latest {key} in {run}"))
    };
    let accuracy = latest(&run, "accuracy");
    assert_eq!(accuracy["value"], 0.93, "the highest step wins: {run}");
    assert_eq!(accuracy["step"], 1);
    assert_eq!(accuracy["timestamp_ms"], 2_000);
    let loss = latest(&run, "loss");
    assert_eq!(loss["step"], 0, "step defaults to 0");
    assert!(
        loss["timestamp_ms"].as_i64().unwrap() > 1_600_000_000_000,
        "timestamp defaults to now: {loss}"
    );
    assert_eq!(run["params"]["solver"], "lbfgs");
    assert_eq!(run["tags"]["phase"], "tuning");

    let history = expect_json(
        t.get(
            &api(&format!("/runs/{run_id}/metrics/accuracy/history")),
            &tokens.viewer,
        ),
        200,
    )
    .await;
    let values: Vec<f64> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{history}");
    assert!(values.contains(&0.81) && values.contains(&0.93), "{history}");

    // A second run that does worse with another solver.
    let other = expect_json(
        t.post(
            &api("/runs"),
            &tokens.editor,
            &json!({ "experiment_id": experiment_id, "name": "adam-1", "user_id": "ci-bot" }),
        ),
        201,
    )
    .await;
    assert_eq!(other["user_id"], "ci-bot");
    let other_id = other["run_id"].as_str().unwrap().to_owned();
    expect_no_content(t.post(
        &api(&format!("/runs/{other_id}/log-batch")),
        &tokens.editor,
        &json!({
            "metrics": [{ "key": "accuracy", "value": 0.95 }],
            "params": [{ "key": "solver", "value": "adam" }],
        }),
    ))
    .await;

    let found = expect_json(
        t.post(
            &api("/runs/search"),
            &tokens.viewer,
            &json!({
                "experiment_ids": [experiment_id],
                "filter": "metrics.accuracy > 0.9 and params.solver = 'lbfgs'",
            }),
        ),
        200,
    )
    .await;
    let ids: Vec<&str> = found["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![run_id.as_str()], "{found}");

    let ordered = expect_json(
        t.post(
            &api("/runs/search"),
            &tokens.viewer,
            &json!({ "filter": "metrics.accuracy > 0.5", "order_by": ["metrics.accuracy DESC"] }),
        ),
        200,
    )
    .await;
    let ids: Vec<&str> = ordered["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![other_id.as_str(), run_id.as_str()], "{ordered}");

    // `==` is not an operator: the error names it and where it is (character 42).
    let (status, _, message) = error_of(
        t.post(
            &api("/runs/search"),
            &tokens.viewer,
            &json!({ "filter": "metrics.accuracy > 0.9 and params.solver == 'lbfgs'" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{message}");
    assert!(
        message.contains("'=='") && message.contains("42"),
        "the message should point at '==' (character 42): {message}"
    );

    // Finishing a run records its end.
    let finished = expect_json(
        patch(
            &t,
            &api(&format!("/runs/{run_id}")),
            &tokens.editor,
            &json!({ "status": "finished" }),
        ),
        200,
    )
    .await;
    assert_eq!(finished["status"], "FINISHED");
    assert!(finished["end_time_ms"].as_i64().unwrap() > 0, "{finished}");
    let (status, _, message) = error_of(
        patch(
            &t,
            &api(&format!("/runs/{run_id}")),
            &tokens.editor,
            &json!({ "status": "DONE" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("DONE"), "{message}");

    // Soft delete and restore of the experiment.
    let deleted = expect_json(
        delete(&t, &api(&format!("/experiments/{experiment_id}")), &tokens.editor),
        200,
    )
    .await;
    assert_eq!(deleted["lifecycle_stage"], "deleted");
    let active = expect_json(t.get(&api("/experiments"), &tokens.viewer), 200).await;
    assert!(active["experiments"].as_array().unwrap().is_empty(), "{active}");
    let listed = expect_json(t.get(&api("/experiments?view=deleted"), &tokens.viewer), 200).await;
    assert_eq!(listed["experiments"][0]["experiment_id"], experiment_id.as_str());
    let restored = expect_json(
        t.post(
            &api(&format!("/experiments/{experiment_id}/restore")),
            &tokens.editor,
            &json!({}),
        ),
        200,
    )
    .await;
    assert_eq!(restored["lifecycle_stage"], "active");
    let renamed = expect_json(
        patch(
            &t,
            &api(&format!("/experiments/{experiment_id}")),
            &tokens.editor,
            &json!({ "name": "baseline-v2", "set_tags": { "owner": "ana" }, "delete_tags": ["team"] }),
        ),
        200,
    )
    .await;
    assert_eq!(renamed["name"], "baseline-v2");
    assert_eq!(renamed["tags"], json!({ "owner": "ana" }));

    // Deleting a run makes it disappear.
    expect_no_content(delete(&t, &api(&format!("/runs/{other_id}")), &tokens.editor)).await;
    let (status, _, _) = error_of(
        t.get(&api(&format!("/runs/{other_id}")), &tokens.viewer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    t.shutdown().await;
}

#[tokio::test]
async fn registry_api_streams_artifacts_with_checksums() {
    let (t, tokens) = platform_with_project().await;
    let experiment_id = create_experiment(&t, &tokens.editor, "artifacts").await;
    let run = expect_json(
        t.post(
            &api("/runs"),
            &tokens.editor,
            &json!({ "experiment_id": experiment_id }),
        ),
        201,
    )
    .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let content = large_artifact();

    let stored = expect_json(
        upload(&t, &run_id, "model/model.bin", &tokens.editor, content.clone())
            .header("x-lathe-sha256", LARGE_ARTIFACT_SHA256),
        201,
    )
    .await;
    assert_eq!(stored["path"], "model/model.bin");
    assert_eq!(stored["size"], LARGE_ARTIFACT_BYTES);
    assert_eq!(stored["sha256"], LARGE_ARTIFACT_SHA256);
    assert_eq!(stored["is_dir"], false);

    let response = t
        .get(
            &api(&format!("/runs/{run_id}/artifacts/model/model.bin")),
            &tokens.viewer,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("content-length"), LARGE_ARTIFACT_BYTES.to_string());
    assert_eq!(header("x-lathe-sha256"), LARGE_ARTIFACT_SHA256);
    assert_eq!(header("content-type"), "application/octet-stream");
    let downloaded = response.bytes().await.unwrap();
    assert!(downloaded.as_ref() == content.as_slice(), "content differs");

    let listed = expect_json(
        t.get(
            &api(&format!("/runs/{run_id}/artifacts?path=model")),
            &tokens.viewer,
        ),
        200,
    )
    .await;
    let entry = listed["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == "model/model.bin")
        .unwrap_or_else(|| panic!("model/model.bin not listed: {listed}"));
    assert_eq!(entry["sha256"], LARGE_ARTIFACT_SHA256);
    assert_eq!(entry["size"], LARGE_ARTIFACT_BYTES);
    let root = expect_json(
        t.get(&api(&format!("/runs/{run_id}/artifacts")), &tokens.viewer),
        200,
    )
    .await;
    assert!(
        root["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "model" && a["is_dir"] == true),
        "the root lists the model directory: {root}"
    );

    // A checksum mismatch is refused and nothing is stored.
    let response = upload(&t, &run_id, "model/bad.bin", &tokens.editor, b"weights".to_vec())
        .header("x-lathe-sha256", LARGE_ARTIFACT_SHA256)
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(response).await;
    assert!(
        (400..500).contains(&status),
        "mismatch accepted? {status} {code} {message}"
    );
    let (status, _, _) = error_of(
        t.get(
            &api(&format!("/runs/{run_id}/artifacts/model/bad.bin")),
            &tokens.viewer,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "a refused upload must not be stored");

    // A client that vanishes halfway through an upload leaves nothing behind, not even a part.
    {
        use tokio::io::AsyncWriteExt;
        let addr = t.url.trim_start_matches("http://").to_owned();
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PUT {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            api(&format!("/runs/{run_id}/artifacts/model/partial.bin")),
            tokens.editor,
            LARGE_ARTIFACT_BYTES,
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket
            .write_all(&content[..LARGE_ARTIFACT_BYTES / 2])
            .await
            .unwrap();
        drop(socket);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let response = t
        .get(
            &api(&format!("/runs/{run_id}/artifacts/model/partial.bin")),
            &tokens.viewer,
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let stored = response.bytes().await.unwrap().len();
    assert_eq!(
        status, 404,
        "a truncated upload was stored as complete ({stored} bytes)"
    );

    // Paths may not climb out of the run's tree (`%2F` keeps the client from normalising `..`).
    for path in ["..%2Fx", "model%2F..%2F..%2Fx"] {
        let (status, code, message) = error_of(
            upload(&t, &run_id, path, &tokens.editor, b"x".to_vec())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{path}: {code} {message}");
    }

    // Missing artifacts get the JSON 404; viewers cannot upload.
    let (status, _, _) = error_of(
        t.get(
            &api(&format!("/runs/{run_id}/artifacts/nope.bin")),
            &tokens.viewer,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, code, _) = error_of(
        upload(&t, &run_id, "x.bin", &tokens.viewer, b"x".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    t.shutdown().await;
}

#[tokio::test]
async fn registry_api_gates_stages_moves_aliases_and_records_lineage() {
    let (t, tokens) = platform_with_project().await;
    let experiment_id = create_experiment(&t, &tokens.editor, "training").await;
    let weak_run = trained_run(&t, &tokens.editor, &experiment_id, 0.80).await;
    let strong_run = trained_run(&t, &tokens.editor, &experiment_id, 0.95).await;

    let policies = json!([
        { "stage": "Staging", "conditions": [{ "metric": { "key": "accuracy", "op": ">", "value": 0.9 } }] },
        { "stage": "Production", "conditions": [{ "current_stage": "Staging" }] },
    ]);
    // Gates are for admins to set, even on a new model.
    let (status, code, _) = error_of(
        t.post(
            &api("/models"),
            &tokens.editor,
            &json!({ "name": "churn-clf", "policies": policies }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    let model = expect_json(
        t.post(
            &api("/models"),
            &tokens.admin,
            &json!({ "name": "churn-clf", "description": "who leaves", "policies": policies }),
        ),
        201,
    )
    .await;
    assert_eq!(model["name"], "churn-clf");
    assert_eq!(model["policies"], policies, "policies round-trip");

    // Changing the gates is for admins, even for an editor of the project.
    let stricter = json!([
        { "stage": "Staging", "conditions": [{ "metric": { "key": "accuracy", "op": ">", "value": 0.9 } }] },
        { "stage": "Production", "conditions": [
            { "current_stage": "Staging" },
            { "metric": { "key": "accuracy", "op": ">=", "value": 0.95 } },
        ] },
    ]);
    let (status, code, _) = error_of(
        patch(
            &t,
            &api("/models/churn-clf"),
            &tokens.editor,
            &json!({ "policies": stricter }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    let updated = expect_json(
        patch(
            &t,
            &api("/models/churn-clf"),
            &tokens.admin,
            &json!({ "policies": stricter, "set_tags": { "owner": "ana" } }),
        ),
        200,
    )
    .await;
    assert_eq!(updated["policies"], stricter);
    assert_eq!(updated["tags"]["owner"], "ana");
    let (status, _, message) = error_of(
        t.post(
            &api("/models"),
            &tokens.editor,
            &json!({ "name": "bad-gate", "policies": [{ "stage": "Live", "conditions": [] }] }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("Live"), "{message}");

    let weak = expect_json(
        t.post(
            &api("/models/churn-clf/versions"),
            &tokens.editor,
            &json!({ "run_id": weak_run, "artifact_path": "model", "description": "first try" }),
        ),
        201,
    )
    .await;
    assert_eq!(weak["version"], 1);
    assert_eq!(weak["stage"], "None");
    assert_eq!(weak["metrics"]["accuracy"], 0.80);
    assert_eq!(weak["run_id"], weak_run.as_str());
    assert!(!weak["artifact_sha256"].as_str().unwrap().is_empty(), "{weak}");

    let lineage = json!({
        "feature_views": ["customer_stats", "billing_events"],
        "feature_service": "churn_features",
        "training_dataset": "s3://lathe/training/2026-11-29.parquet",
        "orchestrator_run": "retrain-churn-42",
    });
    let strong = expect_json(
        t.post(
            &api("/models/churn-clf/versions"),
            &tokens.editor,
            &json!({
                "run_id": strong_run,
                "artifact_path": "model/model.bin",
                "tags": { "candidate": "yes" },
                "signature": { "inputs": ["customer_stats:tenure_days"], "output": "churned" },
                "lineage": lineage,
            }),
        ),
        201,
    )
    .await;
    assert_eq!(strong["version"], 2);
    assert_eq!(strong["metrics"]["accuracy"], 0.95);
    assert_eq!(strong["created_by"], "tester");

    // The Staging gate: accuracy > 0.9.
    let (status, _, message) = error_of(
        t.post(
            &api("/models/churn-clf/versions/1/stage"),
            &tokens.editor,
            &json!({ "stage": "staging" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 412, "{message}");
    assert!(
        message.contains("accuracy"),
        "the refusal should list the unmet metric condition: {message}"
    );
    let staged = expect_json(
        t.post(
            &api("/models/churn-clf/versions/2/stage"),
            &tokens.editor,
            &json!({ "stage": "Staging", "reason": "beats baseline" }),
        ),
        200,
    )
    .await;
    assert_eq!(staged["stage"], "Staging");

    // Production: admins only.
    let response = t
        .post(
            &api("/models/churn-clf/versions/2/stage"),
            &tokens.editor,
            &json!({ "stage": "Production" }),
        )
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(response).await;
    assert!(
        status == 403 || status == 412,
        "an editor promoted to Production? {status} {code} {message}"
    );
    let promoted = expect_json(
        t.post(
            &api("/models/churn-clf/versions/2/stage"),
            &tokens.admin,
            &json!({ "stage": "PRODUCTION", "archive_existing": true, "reason": "go live" }),
        ),
        200,
    )
    .await;
    assert_eq!(promoted["stage"], "Production");
    let model = expect_json(t.get(&api("/models/churn-clf"), &tokens.viewer), 200).await;
    assert!(
        model["latest_versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["version"] == 2 && v["stage"] == "Production"),
        "{model}"
    );

    // Aliases: set, move, read, delete.
    let first = expect_json(
        t.put(
            &api("/models/churn-clf/aliases/champion"),
            &tokens.editor,
            &json!({ "version": 1, "reason": "only one" }),
        ),
        200,
    )
    .await;
    assert_eq!(first["version"], 1);
    assert!(first["aliases"].as_array().unwrap().contains(&json!("champion")));
    let moved = expect_json(
        t.put(
            &api("/models/churn-clf/aliases/champion"),
            &tokens.editor,
            &json!({ "version": 2, "reason": "better auc" }),
        ),
        200,
    )
    .await;
    assert_eq!(moved["version"], 2);
    let by_alias = expect_json(
        t.get(&api("/models/churn-clf/aliases/champion"), &tokens.viewer),
        200,
    )
    .await;
    assert_eq!(by_alias["version"], 2);
    assert_eq!(by_alias["aliases"], json!(["champion"]), "{by_alias}");
    let by_number = expect_json(t.get(&api("/models/churn-clf/versions/2"), &tokens.viewer), 200).await;
    assert_eq!(by_number["aliases"], json!(["champion"]), "{by_number}");
    // A miss says which part is missing: the model, its version, or the alias.
    for (path, code, needle) in [
        (
            "/models/no-such-model/versions/1",
            "model_not_found",
            "no-such-model",
        ),
        (
            "/models/no-such-model/aliases/champion",
            "model_not_found",
            "no-such-model",
        ),
        ("/models/churn-clf/versions/99", "model_version_not_found", "99"),
        (
            "/models/churn-clf/aliases/no-such-alias",
            "alias_not_found",
            "no-such-alias",
        ),
    ] {
        let (status, found_code, message) =
            error_of(t.get(&api(path), &tokens.viewer).send().await.unwrap()).await;
        assert_eq!((status, found_code.as_str()), (404, code), "{path}: {message}");
        assert!(message.contains(needle), "{path}: {message}");
    }
    let model = expect_json(t.get(&api("/models/churn-clf"), &tokens.viewer), 200).await;
    assert_eq!(model["aliases"], json!({ "champion": 2 }));
    let old = expect_json(t.get(&api("/models/churn-clf/versions/1"), &tokens.viewer), 200).await;
    assert!(
        !old["aliases"].as_array().unwrap().contains(&json!("champion")),
        "{old}"
    );
    expect_no_content(
        delete(&t, &api("/models/churn-clf/aliases/champion"), &tokens.editor)
            .json(&json!({ "reason": "retired" })),
    )
    .await;
    let (status, _, _) = error_of(
        t.get(&api("/models/churn-clf/aliases/champion"), &tokens.viewer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    // The audit log says who moved what, from where, to where, and why.
    let audit = expect_json(t.get(&api("/models/churn-clf/audit"), &tokens.viewer), 200).await;
    let events = audit["events"].as_array().unwrap();
    let find = |action: &str, reason: &str| -> &Value {
        events
            .iter()
            .find(|e| e["action"] == action && e["reason"] == reason)
            .unwrap_or_else(|| panic!("no {action} event with reason '{reason}': {audit}"))
    };
    let same =
        |value: &Value, expected: &str| value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(expected));
    let staging = find("stage_transition", "beats baseline");
    assert_eq!(staging["version"], 2);
    assert_eq!(staging["actor"], "tester");
    assert!(
        same(&staging["from"], "None") && same(&staging["to"], "Staging"),
        "{staging}"
    );
    let production = find("stage_transition", "go live");
    assert!(
        same(&production["from"], "Staging") && same(&production["to"], "Production"),
        "{production}"
    );
    let alias_move = find("alias_set", "better auc");
    assert_eq!(alias_move["actor"], "tester");
    let target = |value: &Value, version: char| value.as_str().is_some_and(|v| v.ends_with(version));
    assert!(
        target(&alias_move["from"], '1') && target(&alias_move["to"], '2'),
        "{alias_move}"
    );
    let alias_delete = find("alias_deleted", "retired");
    assert!(
        target(&alias_delete["from"], '2') && alias_delete["to"] == "",
        "{alias_delete}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["action"] == "stage_transition" && e["version"] == 1),
        "a refused transition is not a move: {audit}"
    );

    // Lineage both ways.
    let version = expect_json(t.get(&api("/models/churn-clf/versions/2"), &tokens.viewer), 200).await;
    assert_eq!(version["lineage"], lineage);
    assert_eq!(
        version["signature"],
        json!({ "inputs": ["customer_stats:tenure_days"], "output": "churned", "defaults": {} })
    );
    for query in [
        "feature_view=billing_events",
        "feature_service=churn_features",
        "training_dataset=s3%3A%2F%2Flathe%2Ftraining%2F2026-11-29.parquet",
        "orchestrator_run=retrain-churn-42",
    ] {
        let found = expect_json(t.get(&api(&format!("/lineage?{query}")), &tokens.viewer), 200).await;
        let versions: Vec<(&str, u64)> = found["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["model"].as_str().unwrap(), v["version"].as_u64().unwrap()))
            .collect();
        assert_eq!(versions, vec![("churn-clf", 2)], "{query}: {found}");
    }
    let none = expect_json(
        t.get(&api("/lineage?feature_view=unused_view"), &tokens.viewer),
        200,
    )
    .await;
    assert_eq!(none["versions"], json!([]));
    for query in ["", "?feature_view=a&feature_service=b"] {
        let (status, _, message) = error_of(
            t.get(&api(&format!("/lineage{query}")), &tokens.viewer)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "'{query}': {message}");
    }

    // Versions list and description edits; deleting the model is for admins.
    let versions = expect_json(t.get(&api("/models/churn-clf/versions"), &tokens.viewer), 200).await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let edited = expect_json(
        patch(
            &t,
            &api("/models/churn-clf/versions/1"),
            &tokens.editor,
            &json!({ "description": "superseded", "delete_tags": [] }),
        ),
        200,
    )
    .await;
    assert_eq!(edited["description"], "superseded");
    let (status, code, _) = error_of(
        delete(&t, &api("/models/churn-clf"), &tokens.editor)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    expect_no_content(delete(&t, &api("/models/churn-clf"), &tokens.admin)).await;
    let (status, _, _) = error_of(
        t.get(&api("/models/churn-clf"), &tokens.viewer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    t.shutdown().await;
}

/// The gates of a version as `token`'s caller would meet them now.
async fn gates_of(t: &TestPlatform, model: &str, version: u64, token: &str) -> Value {
    let path = api(&format!("/models/{model}/versions/{version}/gates"));
    expect_json(t.get(&path, token), 200).await
}

/// The `allowed` of the gate into `stage`, if that stage has one.
fn allowed_into(report: &Value, stage: &str) -> Option<bool> {
    report["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .find(|gate| gate["stage"] == stage)
        .map(|gate| gate["allowed"].as_bool().expect("allowed"))
}

/// A dry run of the promotion gates: each gate judged for the caller with a reason per
/// condition, nothing changed by it, and the transitions that follow decided alike.
#[tokio::test]
async fn registry_api_dry_runs_promotion_gates_as_the_transition_judges_them() {
    let (t, tokens) = platform_with_project().await;
    let experiment_id = create_experiment(&t, &tokens.editor, "gates").await;
    let weak_run = trained_run(&t, &tokens.editor, &experiment_id, 0.80).await;
    let strong_run = trained_run(&t, &tokens.editor, &experiment_id, 0.95).await;
    let accuracy_gate = json!({ "metric": { "key": "accuracy", "op": ">", "value": 0.9 } });
    let f1_gate = json!({ "metric": { "key": "f1", "op": ">=", "value": 0.5 } });
    let policies = json!([
        { "stage": "Staging", "conditions": [accuracy_gate] },
        { "stage": "Production", "conditions": [{ "role": "editor" }, { "current_stage": "Staging" }] },
        { "stage": "Archived", "conditions": [f1_gate] },
    ]);
    let body = json!({ "name": "gated", "policies": policies });
    expect_json(t.post(&api("/models"), &tokens.admin, &body), 201).await;
    for run in [&weak_run, &strong_run] {
        let body = json!({ "run_id": run, "artifact_path": "model" });
        expect_json(t.post(&api("/models/gated/versions"), &tokens.editor, &body), 201).await;
    }
    let audit_before = expect_json(t.get(&api("/models/gated/audit"), &tokens.viewer), 200).await;

    // A viewer sees every gate fail for version 1, each condition with its reason.
    let viewer_view = gates_of(&t, "gated", 1, &tokens.viewer).await;
    assert_eq!(
        viewer_view,
        json!({ "gates": [
            { "stage": "Staging", "allowed": false, "conditions": [
                { "condition": accuracy_gate, "passed": false, "reason": "accuracy is 0.8, needs > 0.9", "implied": false },
            ] },
            { "stage": "Production", "allowed": false, "conditions": [
                { "condition": { "role": "editor" }, "passed": false, "reason": "needs role editor, you are viewer", "implied": false },
                { "condition": { "current_stage": "Staging" }, "passed": false, "reason": "version is in None, needs Staging", "implied": false },
            ] },
            { "stage": "Archived", "allowed": false, "conditions": [
                { "condition": f1_gate, "passed": false, "reason": "metric f1 was not logged for this version", "implied": false },
            ] },
        ] })
    );
    // The editor meets the role; the other conditions are the version's.
    let editor_view = gates_of(&t, "gated", 1, &tokens.editor).await;
    assert_eq!(
        editor_view["gates"][1]["conditions"][0]["reason"],
        "needs role editor, you are editor"
    );
    assert_eq!(editor_view["gates"][1]["conditions"][0]["passed"], true);
    assert_eq!(allowed_into(&editor_view, "Staging"), Some(false));

    // The dry runs changed nothing: same stage, no new audit event.
    let version = expect_json(t.get(&api("/models/gated/versions/1"), &tokens.viewer), 200).await;
    assert_eq!(version["stage"], "None");
    let audit_after = expect_json(t.get(&api("/models/gated/audit"), &tokens.viewer), 200).await;
    assert_eq!(audit_after, audit_before, "a dry run is not a move");

    // The transition agrees with the dry run both ways: refused where it said no...
    let (status, code, message) = error_of(
        t.post(
            &api("/models/gated/versions/1/stage"),
            &tokens.editor,
            &json!({ "stage": "Staging" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (412, "promotion_gate_failed"),
        "{message}"
    );
    assert!(message.contains("accuracy"), "{message}");
    // ... made where it said yes.
    let strong_view = gates_of(&t, "gated", 2, &tokens.editor).await;
    assert_eq!(allowed_into(&strong_view, "Staging"), Some(true), "{strong_view}");
    assert_eq!(
        allowed_into(&strong_view, "Production"),
        Some(false),
        "{strong_view}"
    );
    let staged = expect_json(
        t.post(
            &api("/models/gated/versions/2/stage"),
            &tokens.editor,
            &json!({ "stage": "Staging" }),
        ),
        200,
    )
    .await;
    assert_eq!(staged["stage"], "Staging");
    // Now in Staging, version 2 may go on to Production, delegated to editors by the policy.
    let staged_view = gates_of(&t, "gated", 2, &tokens.editor).await;
    assert_eq!(
        allowed_into(&staged_view, "Production"),
        Some(true),
        "{staged_view}"
    );
    let promoted = expect_json(
        t.post(
            &api("/models/gated/versions/2/stage"),
            &tokens.editor,
            &json!({ "stage": "Production" }),
        ),
        200,
    )
    .await;
    assert_eq!(promoted["stage"], "Production");

    // Without any policy, Production still needs an admin: the dry run says so, as the
    // transition does; the other stages have no gate.
    expect_json(
        t.post(&api("/models"), &tokens.editor, &json!({ "name": "open" })),
        201,
    )
    .await;
    let body = json!({ "run_id": strong_run, "artifact_path": "model" });
    expect_json(t.post(&api("/models/open/versions"), &tokens.editor, &body), 201).await;
    let open_view = gates_of(&t, "open", 1, &tokens.editor).await;
    assert_eq!(
        open_view,
        json!({ "gates": [{ "stage": "Production", "allowed": false, "conditions": [{
            "condition": { "role": "admin" },
            "passed": false,
            "reason": "Production needs role admin when no policy for it names a role, you are editor",
            "implied": true,
        }] }] })
    );
    let (status, code, _) = error_of(
        t.post(
            &api("/models/open/versions/1/stage"),
            &tokens.editor,
            &json!({ "stage": "Production" }),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    assert_eq!(
        allowed_into(&gates_of(&t, "open", 1, &tokens.admin).await, "Production"),
        Some(true)
    );

    // A miss names what is missing, as reading the version does.
    for (path, code) in [
        ("/models/gated/versions/99/gates", "model_version_not_found"),
        ("/models/ghost/versions/1/gates", "model_not_found"),
    ] {
        let (status, found, message) =
            error_of(t.get(&api(path), &tokens.viewer).send().await.unwrap()).await;
        assert_eq!((status, found.as_str()), (404, code), "{path}: {message}");
    }
    t.shutdown().await;
}

#[tokio::test]
async fn registry_api_routes_are_documented() {
    let t = TestPlatform::embedded().await;
    let doc = t.openapi_document().await;
    let expected = [
        ("/experiments", &["get", "post"][..], "tracking"),
        (
            "/experiments/{experiment_id}",
            &["get", "patch", "delete"],
            "tracking",
        ),
        ("/experiments/{experiment_id}/restore", &["post"], "tracking"),
        ("/runs", &["post"], "tracking"),
        ("/runs/search", &["post"], "tracking"),
        ("/runs/{run_id}", &["get", "patch", "delete"], "tracking"),
        ("/runs/{run_id}/log-batch", &["post"], "tracking"),
        ("/runs/{run_id}/metrics/{key}/history", &["get"], "tracking"),
        ("/runs/{run_id}/artifacts", &["get"], "artifacts"),
        ("/runs/{run_id}/artifacts/{path}", &["get", "put"], "artifacts"),
        ("/models", &["get", "post"], "models"),
        ("/models/{name}", &["get", "patch", "delete"], "models"),
        ("/models/{name}/versions", &["get", "post"], "models"),
        ("/models/{name}/versions/{version}", &["get", "patch"], "models"),
        ("/models/{name}/versions/{version}/stage", &["post"], "models"),
        ("/models/{name}/versions/{version}/gates", &["get"], "models"),
        (
            "/models/{name}/aliases/{alias}",
            &["get", "put", "delete"],
            "models",
        ),
        ("/models/{name}/audit", &["get"], "models"),
        ("/lineage", &["get"], "models"),
    ];
    for (path, methods, tag) in expected {
        let full = format!("/api/v1/projects/{{project}}{path}");
        let item = &doc["paths"][&full];
        for method in methods {
            let operation = &item[*method];
            assert!(
                operation.is_object(),
                "{method} {full} missing from the OpenAPI paths"
            );
            assert_eq!(operation["tags"], json!([tag]), "{method} {full}");
            assert!(
                operation["security"].to_string().contains("bearer"),
                "{method} {full} lacks bearer security"
            );
        }
    }
    let upload = &doc["paths"]["/api/v1/projects/{project}/runs/{run_id}/artifacts/{path}"]["put"];
    assert!(
        upload["requestBody"]["content"]["application/octet-stream"].is_object(),
        "uploads are raw bytes: {upload}"
    );
    t.shutdown().await;
}

/// The gateway reads a model or a version through an in-process channel to the registry
/// (embedded, the standalone default) or over loopback gRPC (production, as the separate
/// services of the dev stack): both answer alike, errors included.
#[tokio::test]
async fn model_reads_answer_alike_in_process_and_over_grpc() {
    let mut answers = Vec::new();
    for backend in [Backend::Embedded, Backend::Production] {
        let Some((t, pg)) = TestPlatform::on(backend).await else {
            continue;
        };
        t.create_project(PROJECT).await;
        let (admin, viewer) = (t.admin(), t.token(TokenRole::Viewer, &[PROJECT]));
        let experiment = create_experiment(&t, &admin, "reads").await;
        let run = trained_run(&t, &admin, &experiment, 0.93).await;
        expect_json(t.post(&api("/models"), &admin, &json!({ "name": "reader" })), 201).await;
        for _ in 0..2 {
            let body = json!({ "run_id": run, "artifact_path": "model" });
            expect_json(t.post(&api("/models/reader/versions"), &admin, &body), 201).await;
        }
        let alias = t
            .http
            .put(format!("{}{}", t.url, api("/models/reader/aliases/champion")))
            .bearer_auth(&admin)
            .json(&json!({ "version": 1 }));
        expect_json(alias, 200).await;

        let model = expect_json(t.get(&api("/models/reader"), &viewer), 200).await;
        let version = expect_json(t.get(&api("/models/reader/versions/1"), &viewer), 200).await;
        let by_alias = expect_json(t.get(&api("/models/reader/aliases/champion"), &viewer), 200).await;
        assert_eq!(version, by_alias);
        assert_eq!(
            (
                &version["version"],
                &version["aliases"],
                &version["metrics"]["accuracy"]
            ),
            (&json!(1), &json!(["champion"]), &json!(0.93))
        );
        assert_eq!(model["aliases"], json!({ "champion": 1 }));
        let latest: Vec<&Value> = model["latest_versions"]
            .as_array()
            .expect("latest_versions")
            .iter()
            .map(|v| &v["version"])
            .collect();
        assert_eq!(latest, [&json!(2)]);
        let mut errors = Vec::new();
        for path in [
            "/models/ghost",
            "/models/reader/versions/9",
            "/models/reader/aliases/nobody",
        ] {
            let (status, code, message) = error_of(t.get(&api(path), &viewer).send().await.unwrap()).await;
            errors.push((status, code, message));
        }
        assert!(errors.iter().all(|(status, _, _)| *status == 404), "{errors:?}");
        answers.push(errors);
        t.shutdown().await;
        drop(pg);
    }
    assert!(!answers.is_empty());
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[tokio::test]
async fn registry_api_search_runs_a_request_at_every_limit() {
    use lathe_registry_service::api::search::MAX_EXPERIMENT_IDS;
    use lathe_registry_service::domain::filter::MAX_ORDER_BY_CLAUSES;
    let (t, tokens) = platform_with_project().await;
    let experiment_id = create_experiment(&t, &tokens.editor, "limits").await;
    let kept = trained_run(&t, &tokens.editor, &experiment_id, 0.9).await;
    trained_run(&t, &tokens.editor, &experiment_id, 0.3).await;

    let experiment_ids: Vec<String> = std::iter::once(experiment_id)
        .chain((1..MAX_EXPERIMENT_IDS).map(|i| (1_000_000 + i).to_string()))
        .collect();
    let order_by: Vec<String> = (0..MAX_ORDER_BY_CLAUSES)
        .map(|i| format!("metrics.m{i} DESC"))
        .collect();
    let found = expect_json(
        t.post(
            &api("/runs/search"),
            &tokens.viewer,
            &json!({
                "experiment_ids": experiment_ids,
                "filter": lathe_tests::filter_at_the_limits(),
                "order_by": order_by,
            }),
        ),
        200,
    )
    .await;
    let ids: Vec<&str> = found["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_str().expect("run_id"))
        .collect();
    assert_eq!(ids, [kept.as_str()], "{found}");
}

#[tokio::test]
async fn registry_api_search_refuses_oversized_requests_and_keeps_serving() {
    let (t, tokens) = platform_with_project().await;
    let experiment_id = create_experiment(&t, &tokens.editor, "oversized").await;
    let run_id = trained_run(&t, &tokens.editor, &experiment_id, 0.9).await;

    let list = |items: usize| {
        let items: Vec<String> = (0..items).map(|i| format!("'{i}'")).collect();
        format!("params.solver IN ({})", items.join(", "))
    };
    let refused = [
        // The reported crash: 15,000 conditions overflowed a worker's stack.
        (
            json!({ "filter": vec!["metrics.accuracy > 0"; 15_000].join(" and ") }),
            "invalid_filter",
            vec!["at most 100000 characters", "this one has 374995"],
        ),
        // SQLite's expression tree is at most 1,000 deep.
        (
            json!({ "filter": vec!["metrics.accuracy > 0"; 1_000].join(" and ") }),
            "invalid_filter",
            vec!["at most 100 conditions", "this one has 1000"],
        ),
        // Too many SQL variables for SQLite, and far too long.
        (
            json!({ "filter": list(32_000) }),
            "invalid_filter",
            vec!["at most 100000 characters", "this one has 276907"],
        ),
        (
            json!({ "filter": list(1_001) }),
            "invalid_filter",
            vec!["at most 1000 strings", "this one has 1001"],
        ),
        (
            json!({ "filter": vec![list(1_000); 11].join(" and ") }),
            "invalid_filter",
            vec!["at most 10000 values", "this one has 11000"],
        ),
        // SQLite joins at most 64 tables.
        (
            json!({ "order_by": (0..65).map(|i| format!("metrics.m{i}")).collect::<Vec<_>>() }),
            "invalid_filter",
            vec!["at most 10 order-by clauses", "this one has 65"],
        ),
        (
            json!({ "experiment_ids": (0..40_000).map(|i| i.to_string()).collect::<Vec<_>>() }),
            "invalid_argument",
            vec!["at most 1000 experiments", "this one names 40000"],
        ),
    ];
    for (body, expected_code, fragments) in refused {
        let response = t
            .post(&api("/runs/search"), &tokens.viewer, &body)
            .send()
            .await
            .expect("the service answers");
        let (status, code, message) = error_of(response).await;
        assert_eq!((status, code.as_str()), (400, expected_code), "{message}");
        for fragment in fragments {
            assert!(message.contains(fragment), "expected {fragment:?} in: {message}");
        }
    }

    // The service is still up and searching.
    let found = expect_json(
        t.post(
            &api("/runs/search"),
            &tokens.viewer,
            &json!({ "filter": "metrics.accuracy > 0.5" }),
        ),
        200,
    )
    .await;
    assert_eq!(found["runs"][0]["run_id"], run_id.as_str(), "{found}");
}

/// A refusal names the request field it is about (`ErrorBody.field`), so a form can show it
/// beside that field; and a refused create leaves nothing behind.
#[tokio::test]
async fn registry_api_refusals_name_their_field_and_create_nothing() {
    let (t, tokens) = platform_with_project().await;
    let cases = [
        (
            "/api/v1/projects".to_owned(),
            json!({ "name": "Bad Name" }),
            "name",
            "invalid_name",
            "lowercase",
        ),
        (
            api("/experiments"),
            json!({ "name": "runs/of/today" }),
            "name",
            "invalid_name",
            "no '/'",
        ),
        (
            api("/models"),
            json!({ "name": "a/b" }),
            "name",
            "invalid_name",
            "no '/'",
        ),
        (
            api("/models"),
            json!({ "name": "half-saved", "policies": [
                { "stage": "Staging", "conditions": [{ "metric": { "key": "accuracy", "op": ">", "value": 0.9 } }] },
                { "stage": "Production", "conditions": [{ "metric": { "key": "", "op": ">", "value": 0.9 } }] },
            ] }),
            "policies[1].conditions[0].metric.key",
            "invalid_argument",
            "needs the metric's key",
        ),
        (
            api("/models"),
            json!({ "name": "half-saved", "policies": [
                { "stage": "Staging", "conditions": [{ "metric": { "key": "accuracy", "op": "~", "value": 0.9 } }] },
            ] }),
            "policies[0].conditions[0].metric.op",
            "invalid_argument",
            "invalid comparison '~'",
        ),
        (
            api("/models"),
            json!({ "name": "half-saved", "policies": [{ "stage": "Staging", "conditions": [] }] }),
            "policies[0].conditions",
            "invalid_argument",
            "at least one condition",
        ),
    ];
    for (path, body, field, code, says) in cases {
        let error = expect_json(t.post(&path, &tokens.admin, &body), 400).await;
        assert_eq!(error["field"], field, "{path} {body}: {error}");
        assert_eq!(error["code"], code, "{path} {body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "the message should say {says:?}: {error}"
        );
    }
    // Nothing of the refused requests exists.
    let missing = expect_json(t.get(&api("/models/half-saved"), &tokens.viewer), 404).await;
    assert_eq!(missing["code"], "model_not_found", "{missing}");
    let projects = expect_json(t.get("/api/v1/projects", &tokens.admin), 200).await;
    assert_eq!(projects["projects"].as_array().unwrap().len(), 1, "{projects}");
    let experiments = expect_json(t.get(&api("/experiments"), &tokens.viewer), 200).await;
    assert!(
        experiments["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "runs/of/today"),
        "{experiments}"
    );
    // An error about no one field has none.
    let error = expect_json(t.get(&api("/models/nothing-here"), &tokens.viewer), 404).await;
    assert!(error.get("field").is_none(), "{error}");
}
