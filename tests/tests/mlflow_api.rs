//! The MLflow-compatible REST API, driven over raw HTTP exactly as the `mlflow` 3.x client
//! sends it (shapes from MLflow 3.17.2's traffic): a data scientist's workflow from an
//! experiment to artifacts and run search, MLflow's error codes and statuses, and the run
//! visible through Lathe's own API too. On SQLite + local files and on PostgreSQL + S3.

use lathe_tests::{Backend, TestPlatform, TokenRole};
use serde_json::{Value, json};

const PROJECT: &str = "churn";

fn mlflow(path: &str) -> String {
    format!("/api/2.0/mlflow{path}")
}

fn artifacts(path: &str) -> String {
    format!("/api/2.0/mlflow-artifacts/artifacts{path}")
}

/// Sends a request and returns its JSON body, asserting a 200.
async fn ok(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "unexpected status; body: {text}");
    if text.is_empty() {
        return json!({});
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Sends a request and returns MLflow's (status, error_code, message).
async fn mlflow_error(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let code = body["error_code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error_code: {text}"));
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {text}"));
    (status, code.to_owned(), message.to_owned())
}

/// A GET with its fields in the query string, as the client sends them.
fn get(t: &TestPlatform, path: &str, token: &str, query: &[(&str, &str)]) -> reqwest::RequestBuilder {
    t.get(path, token).query(query)
}

/// Content of the large artifact: byte `i` is `(31 i + 7) mod 251`, over three 1 MiB chunks.
fn large_artifact() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 12345)
        .map(|i: usize| u8::try_from((i * 31 + 7) % 251).expect("below 251"))
        .collect()
}

async fn create_run(t: &TestPlatform, token: &str, experiment_id: &str, name: &str) -> Value {
    let body = json!({
        "experiment_id": experiment_id,
        "user_id": "root",
        "run_name": name,
        "start_time": 1_767_225_600_000_i64,
        "tags": [{"key": "mlflow.user", "value": "root"}, {"key": "mlflow.runName", "value": name},
                 {"key": "mlflow.source.type", "value": "LOCAL"}],
    });
    ok(t.post(&mlflow("/runs/create"), token, &body)).await["run"].clone()
}

async fn workflow(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    // Tokens naming one project work in it.
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);

    // The server's own endpoints.
    let health = t.http.get(format!("{}/health", t.url)).send().await.unwrap();
    assert_eq!(
        (health.status().as_u16(), health.text().await.unwrap()),
        (200, "OK".to_owned())
    );
    let version = t.http.get(format!("{}/version", t.url)).send().await.unwrap();
    assert_eq!(version.text().await.unwrap(), "3.17.2");
    assert_eq!(
        ok(t.get("/api/3.0/mlflow/server-info", &viewer)).await,
        json!({"store_type": "SqlStore", "multipart_uploads_enabled": false, "multipart_downloads_enabled": false})
    );

    // set_experiment("churn-baseline"): get-by-name misses, then create and get.
    let (status, code, _) = mlflow_error(get(
        &t,
        &mlflow("/experiments/get-by-name"),
        &viewer,
        &[("experiment_name", "churn-baseline")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    let created = ok(t.post(
        &mlflow("/experiments/create"),
        &editor,
        &json!({"name": "churn-baseline", "tags": [{"key": "team", "value": "growth"}]}),
    ))
    .await;
    let experiment_id = created["experiment_id"]
        .as_str()
        .expect("experiment_id is a string")
        .to_owned();
    let experiment = ok(get(
        &t,
        &mlflow("/experiments/get"),
        &viewer,
        &[("experiment_id", &experiment_id)],
    ))
    .await["experiment"]
        .clone();
    assert_eq!(experiment["name"], "churn-baseline");
    assert_eq!(
        experiment["artifact_location"],
        format!("mlflow-artifacts:/{experiment_id}")
    );
    assert_eq!(experiment["lifecycle_stage"], "active");
    assert!(experiment["creation_time"].is_i64(), "{experiment}");
    assert_eq!(experiment["tags"], json!([{"key": "team", "value": "growth"}]));
    let by_name = ok(get(
        &t,
        &mlflow("/experiments/get-by-name"),
        &viewer,
        &[("experiment_name", "churn-baseline")],
    ))
    .await;
    assert_eq!(by_name["experiment"]["experiment_id"], experiment_id.as_str());

    // A taken name is MLflow's 400 RESOURCE_ALREADY_EXISTS, not a 409.
    let (status, code, _) = mlflow_error(t.post(
        &mlflow("/experiments/create"),
        &editor,
        &json!({"name": "churn-baseline"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (400, "RESOURCE_ALREADY_EXISTS"));

    // A second experiment, renamed and tagged; search filters by name and pages.
    let other_id = ok(t.post(
        &mlflow("/experiments/create"),
        &editor,
        &json!({"name": "scratch"}),
    ))
    .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(t.post(
        &mlflow("/experiments/update"),
        &editor,
        &json!({"experiment_id": other_id, "new_name": "churn-scratch"}),
    ))
    .await;
    ok(t.post(
        &mlflow("/experiments/set-experiment-tag"),
        &editor,
        &json!({"experiment_id": other_id, "key": "team", "value": "ops"}),
    ))
    .await;
    let found = ok(t.post(
        &mlflow("/experiments/search"),
        &viewer,
        &json!({"max_results": 1000, "filter": "name = 'churn-scratch'", "view_type": "ACTIVE_ONLY"}),
    ))
    .await;
    assert_eq!(found["experiments"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(
        found["experiments"][0]["tags"],
        json!([{"key": "team", "value": "ops"}])
    );
    let first = ok(t.post(
        &mlflow("/experiments/search"),
        &viewer,
        &json!({"max_results": 1, "filter": "name LIKE 'churn-%'", "order_by": ["name ASC"]}),
    ))
    .await;
    assert_eq!(first["experiments"][0]["name"], "churn-baseline", "{first}");
    let token = first["next_page_token"].as_str().expect("a next page").to_owned();
    let second = ok(t.post(&mlflow("/experiments/search"), &viewer, &json!({"max_results": 1, "filter": "name LIKE 'churn-%'", "order_by": ["name ASC"], "page_token": token}))).await;
    assert_eq!(second["experiments"][0]["name"], "churn-scratch", "{second}");
    assert!(
        second.get("next_page_token").is_none(),
        "the last page has no token: {second}"
    );
    let (status, code, message) = mlflow_error(t.post(
        &mlflow("/experiments/search"),
        &viewer,
        &json!({"filter": "params.x = 'a'"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    assert!(message.contains("params.x"), "{message}");
    // Deleted experiments leave the active view, and come back when restored.
    ok(t.post(
        &mlflow("/experiments/delete"),
        &editor,
        &json!({"experiment_id": other_id}),
    ))
    .await;
    let active = ok(t.post(
        &mlflow("/experiments/search"),
        &viewer,
        &json!({"filter": "name = 'churn-scratch'"}),
    ))
    .await;
    assert_eq!(active, json!({}), "nothing matches: {active}");
    let deleted = ok(get(
        &t,
        &mlflow("/experiments/get"),
        &viewer,
        &[("experiment_id", &other_id)],
    ))
    .await;
    assert_eq!(deleted["experiment"]["lifecycle_stage"], "deleted");
    ok(t.post(
        &mlflow("/experiments/restore"),
        &editor,
        &json!({"experiment_id": other_id}),
    ))
    .await;

    // A run with params, tags and stepped metrics, as start_run / log_* / end_run send them.
    let run = create_run(&t, &editor, &experiment_id, "baseline-lbfgs").await;
    let run_id = run["info"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run["info"]["run_uuid"], run_id.as_str());
    assert_eq!(run["info"]["status"], "RUNNING");
    assert_eq!(run["info"]["run_name"], "baseline-lbfgs");
    assert_eq!(run["info"]["start_time"], 1_767_225_600_000_i64);
    assert_eq!(
        run["info"]["artifact_uri"],
        format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
    );
    assert!(
        run["info"].get("end_time").is_none(),
        "a running run has no end_time: {run}"
    );
    let ids = json!({"run_id": run_id, "run_uuid": run_id});
    let with_ids = |fields: Value| {
        let mut body = ids.clone();
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        body
    };
    ok(t.post(
        &mlflow("/runs/log-parameter"),
        &editor,
        &with_ids(json!({"key": "solver", "value": "lbfgs"})),
    ))
    .await;
    ok(t.post(
        &mlflow("/runs/log-batch"),
        &editor,
        &json!({
            "run_id": run_id,
            "metrics": (0..5).map(|step| json!({"key": "loss", "value": 1.0 / f64::from(step + 1), "timestamp": 1_767_225_600_000_i64 + i64::from(step), "step": step})).collect::<Vec<_>>(),
            "params": [{"key": "C", "value": "0.5"}],
            "tags": [{"key": "stage", "value": "baseline"}],
        }),
    ))
    .await;
    ok(t.post(
        &mlflow("/runs/log-metric"),
        &editor,
        &with_ids(json!({"key": "acc", "value": 0.91, "timestamp": 1_767_225_601_000_i64, "step": 0})),
    ))
    .await;
    ok(t.post(
        &mlflow("/runs/set-tag"),
        &editor,
        &with_ids(json!({"key": "owner", "value": "ada"})),
    ))
    .await;

    let fetched = ok(get(
        &t,
        &mlflow("/runs/get"),
        &viewer,
        &[("run_uuid", &run_id), ("run_id", &run_id)],
    ))
    .await["run"]
        .clone();
    let data = &fetched["data"];
    assert_eq!(
        data["metrics"],
        json!([
            {"key": "acc", "value": 0.91, "timestamp": 1_767_225_601_000_i64, "step": 0},
            {"key": "loss", "value": 0.2, "timestamp": 1_767_225_600_004_i64, "step": 4},
        ]),
        "the latest value per key"
    );
    assert_eq!(
        data["params"],
        json!([{"key": "C", "value": "0.5"}, {"key": "solver", "value": "lbfgs"}])
    );
    let tags = data["tags"].as_array().unwrap();
    for (key, value) in [
        ("mlflow.user", "root"),
        ("mlflow.runName", "baseline-lbfgs"),
        ("stage", "baseline"),
        ("owner", "ada"),
    ] {
        assert!(
            tags.contains(&json!({"key": key, "value": value})),
            "{key} in {tags:?}"
        );
    }
    let history = ok(get(
        &t,
        &mlflow("/metrics/get-history"),
        &viewer,
        &[
            ("run_uuid", &run_id),
            ("run_id", &run_id),
            ("metric_key", "loss"),
            ("max_results", "25000"),
        ],
    ))
    .await;
    let steps: Vec<i64> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [0, 1, 2, 3, 4]);
    assert_eq!(
        history["metrics"][2],
        json!({"key": "loss", "value": 1.0 / 3.0, "timestamp": 1_767_225_600_002_i64, "step": 2})
    );

    // Artifacts through the proxy: upload, list relative to the listed directory, download
    // byte-identical.
    let base = format!("/{experiment_id}/{run_id}/artifacts");
    let report = b"precision 0.9\nrecall 0.8\n".to_vec();
    let large = large_artifact();
    for (path, content, content_type) in [
        ("report.txt", report.clone(), "text/plain"),
        ("plots/roc.bin", large.clone(), "application/octet-stream"),
    ] {
        let response = t
            .http
            .put(format!("{}{}", t.url, artifacts(&format!("{base}/{path}"))))
            .bearer_auth(&editor)
            .header("Content-Type", content_type)
            .body(content)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            "",
            "an upload answers an empty body"
        );
    }
    let root = ok(get(&t, &artifacts(""), &viewer, &[("path", &base[1..])])).await;
    assert_eq!(
        root,
        json!({"files": [{"path": "plots", "is_dir": true}, {"path": "report.txt", "is_dir": false, "file_size": report.len()}]})
    );
    let plots = ok(get(
        &t,
        &artifacts(""),
        &viewer,
        &[("path", &format!("{}/plots", &base[1..]))],
    ))
    .await;
    assert_eq!(
        plots,
        json!({"files": [{"path": "roc.bin", "is_dir": false, "file_size": large.len()}]})
    );
    let missing = ok(get(
        &t,
        &artifacts(""),
        &viewer,
        &[("path", &format!("{}/nothing", &base[1..]))],
    ))
    .await;
    assert_eq!(missing, json!({}));
    for (path, content) in [("report.txt", &report), ("plots/roc.bin", &large)] {
        let response = t
            .get(&artifacts(&format!("{base}/{path}")), &viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body = response.bytes().await.unwrap();
        assert!(
            body.as_ref() == content.as_slice(),
            "{path} comes back byte-identical"
        );
    }
    let (status, code, message) = mlflow_error(t.get(&artifacts(&format!("{base}/nope.txt")), &viewer)).await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    assert!(message.contains("nope.txt"), "{message}");
    let (status, code, message) = mlflow_error(get(
        &t,
        &artifacts(""),
        &viewer,
        &[("path", &format!("{}/../../etc", &base[1..]))],
    ))
    .await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (400, "INVALID_PARAMETER_VALUE", "Invalid path")
    );

    // end_run.
    let ended = ok(t.post(
        &mlflow("/runs/update"),
        &editor,
        &with_ids(json!({"status": "FINISHED", "end_time": 1_767_225_700_000_i64})),
    ))
    .await;
    assert_eq!(ended["run_info"]["status"], "FINISHED");
    assert_eq!(ended["run_info"]["end_time"], 1_767_225_700_000_i64);

    // Two more runs; search with MLflow's filter syntax, ordered, in pages.
    for (name, solver, acc) in [("newton", "newton-cg", 0.95), ("weak", "lbfgs", 0.40)] {
        let id = create_run(&t, &editor, &experiment_id, name).await["info"]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        ok(t.post(
            &mlflow("/runs/log-batch"),
            &editor,
            &json!({"run_id": id, "metrics": [{"key": "acc", "value": acc, "timestamp": 1_767_225_601_000_i64, "step": 0}], "params": [{"key": "solver", "value": solver}]}),
        ))
        .await;
    }
    let search = |filter: &str, max_results: i64, page_token: Option<&str>| {
        let mut body = json!({"experiment_ids": [experiment_id], "filter": filter, "run_view_type": "ACTIVE_ONLY", "max_results": max_results, "order_by": ["metrics.acc DESC"]});
        if let Some(token) = page_token {
            body["page_token"] = json!(token);
        }
        t.post(&mlflow("/runs/search"), &viewer, &body)
    };
    let names = |page: &Value| -> Vec<String> {
        page["runs"].as_array().map_or_else(Vec::new, |runs| {
            runs.iter()
                .map(|r| r["info"]["run_name"].as_str().unwrap().to_owned())
                .collect()
        })
    };
    let filtered = ok(search(
        "params.solver = 'lbfgs' and metrics.acc > 0.5",
        1000,
        None,
    ))
    .await;
    assert_eq!(names(&filtered), ["baseline-lbfgs"]);
    let page1 = ok(search("attributes.status != 'KILLED'", 2, None)).await;
    assert_eq!(names(&page1), ["newton", "baseline-lbfgs"]);
    let token = page1["next_page_token"]
        .as_str()
        .expect("another page")
        .to_owned();
    let page2 = ok(search("attributes.status != 'KILLED'", 2, Some(&token))).await;
    assert_eq!(names(&page2), ["weak"]);
    assert!(page2.get("next_page_token").is_none(), "{page2}");
    assert_eq!(ok(search("tags.stage = 'nope'", 10, None)).await, json!({}));
    let (status, code, message) =
        mlflow_error(search("attributes.lifecycle_stage = 'active'", 10, None)).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    assert!(
        message.contains("lifecycle_stage"),
        "the message names what it cannot filter on: {message}"
    );

    // One data model, two faces: Lathe's own API shows the run MLflow logged.
    let lathe = ok(t.get(&format!("/api/v1/projects/{PROJECT}/runs/{run_id}"), &viewer)).await;
    assert_eq!(lathe["name"], "baseline-lbfgs");
    assert_eq!(lathe["params"]["solver"], "lbfgs");
    assert_eq!(lathe["experiment_id"], experiment_id.as_str());

    errors(&t, &editor, &viewer, &run_id).await;
    t.shutdown().await;
    drop(pg);
}

/// Each error the client branches on, with MLflow's code and status.
async fn errors(t: &TestPlatform, editor: &str, viewer: &str, run_id: &str) {
    // No token: 401 UNAUTHENTICATED; a viewer writing: 403 PERMISSION_DENIED.
    let response = t
        .http
        .get(format!("{}{}", t.url, mlflow("/runs/get")))
        .query(&[("run_id", run_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "UNAUTHENTICATED");
    let (status, code, _) =
        mlflow_error(t.post(&mlflow("/experiments/create"), viewer, &json!({"name": "nope"}))).await;
    assert_eq!((status, code.as_str()), (403, "PERMISSION_DENIED"));

    // A run that does not exist: 404 RESOURCE_DOES_NOT_EXIST.
    let (status, code, _) = mlflow_error(get(
        t,
        &mlflow("/runs/get"),
        viewer,
        &[("run_id", "0123456789abcdef0123456789abcdef")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    let (status, code, _) = mlflow_error(get(
        t,
        &mlflow("/experiments/get"),
        viewer,
        &[("experiment_id", "987654")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));

    // A POST without Content-Type: application/json.
    let response = t
        .http
        .post(format!("{}{}", t.url, mlflow("/experiments/create")))
        .bearer_auth(editor)
        .body(r#"{"name":"plain"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error_code": "INVALID_PARAMETER_VALUE", "message": "Content-Type must be one of ['application/json']"})
    );

    // Missing fields, MLflow's batch limits, a param that would change value.
    let (status, code, message) =
        mlflow_error(t.post(&mlflow("/experiments/create"), editor, &json!({}))).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    assert!(message.contains("'name'"), "{message}");
    let metric = |i: usize| json!({"key": format!("m{i}"), "value": 1.0, "timestamp": 1, "step": 0});
    let param = |i: usize, value: String| json!({"key": format!("p{i}"), "value": value});
    for (body, named) in [
        (
            json!({"run_id": run_id, "metrics": (0..1001).map(metric).collect::<Vec<_>>()}),
            "1000 metrics",
        ),
        (
            json!({"run_id": run_id, "params": (0..101).map(|i| param(i, "x".to_owned())).collect::<Vec<_>>()}),
            "100 params",
        ),
        (
            json!({"run_id": run_id, "tags": (0..101).map(|i| param(i, "x".to_owned())).collect::<Vec<_>>()}),
            "100 tags",
        ),
        (
            json!({"run_id": run_id, "params": [param(0, "v".repeat(6001))]}),
            "6000",
        ),
        (
            json!({"run_id": run_id, "metrics": [{"key": "k".repeat(251), "value": 1.0, "timestamp": 1, "step": 0}]}),
            "250",
        ),
        (
            json!({"run_id": run_id, "params": [{"key": "solver", "value": "sgd"}]}),
            "solver",
        ),
    ] {
        let (status, code, message) = mlflow_error(t.post(&mlflow("/runs/log-batch"), editor, &body)).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "INVALID_PARAMETER_VALUE"),
            "{message}"
        );
        assert!(message.contains(named), "{named}: {message}");
    }

    // A body over the gateway's limit (1 MiB) is refused in MLflow's shape, naming the limit.
    let huge = json!({"run_id": run_id, "params": [param(0, "v".repeat(1_100_000))]});
    let (status, code, message) = mlflow_error(t.post(&mlflow("/runs/log-batch"), editor, &huge)).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "INVALID_PARAMETER_VALUE"),
        "{message}"
    );
    assert!(message.contains("1048576 bytes"), "{message}");

    // A call this server does not have: 404 ENDPOINT_NOT_FOUND, which the client understands.
    let (status, code, _) = mlflow_error(t.post(&mlflow("/datasets/create"), viewer, &json!({}))).await;
    assert_eq!((status, code.as_str()), (404, "ENDPOINT_NOT_FOUND"));
    // No logged models exist there, so their search finds none (the client asks on every listing).
    let none = t.post(
        &mlflow("/logged-models/search"),
        viewer,
        &json!({"experiment_ids": ["0"]}),
    );
    let none = none.send().await.unwrap();
    assert_eq!(none.status(), 200);
    assert_eq!(none.text().await.unwrap(), "{}");
}

/// A finished run with `accuracy` logged and its model files under `model/`, through MLflow.
async fn trained_run(
    t: &TestPlatform,
    token: &str,
    experiment_id: &str,
    name: &str,
    accuracy: f64,
) -> String {
    let run_id = create_run(t, token, experiment_id, name).await["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(t.post(
        &mlflow("/runs/log-batch"),
        token,
        &json!({"run_id": run_id, "metrics": [{"key": "accuracy", "value": accuracy, "timestamp": 1_767_225_601_000_i64, "step": 0}]}),
    ))
    .await;
    let upload = t
        .http
        .put(format!(
            "{}{}",
            t.url,
            artifacts(&format!("/{experiment_id}/{run_id}/artifacts/model/model.pkl"))
        ))
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .body(b"weights".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 200);
    ok(t.post(
        &mlflow("/runs/update"),
        token,
        &json!({"run_id": run_id, "status": "FINISHED", "end_time": 1_767_225_700_000_i64}),
    ))
    .await;
    run_id
}

/// Registered models, versions, stages and aliases through MLflow's calls, with the registry's
/// gates applied and MLflow's error codes.
async fn model_registry(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let experiment_id = ok(t.post(
        &mlflow("/experiments/create"),
        &editor,
        &json!({"name": "registry"}),
    ))
    .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_run = trained_run(&t, &editor, &experiment_id, "first", 0.93).await;
    let second_run = trained_run(&t, &editor, &experiment_id, "second", 0.95).await;

    // register_model: create (a taken name is 400 RESOURCE_ALREADY_EXISTS), then versions.
    let created = ok(t.post(
        &mlflow("/registered-models/create"),
        &editor,
        &json!({"name": "churn-clf", "tags": [{"key": "team", "value": "growth"}], "description": "who leaves"}),
    ))
    .await;
    assert_eq!(created["registered_model"]["name"], "churn-clf");
    assert_eq!(created["registered_model"]["description"], "who leaves");
    let (status, code, _) = mlflow_error(t.post(
        &mlflow("/registered-models/create"),
        &editor,
        &json!({"name": "churn-clf"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (400, "RESOURCE_ALREADY_EXISTS"));
    let (status, code, _) = mlflow_error(get(
        &t,
        &mlflow("/registered-models/get"),
        &viewer,
        &[("name", "nope-x")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));

    let v1 = ok(t.post(
        &mlflow("/model-versions/create"),
        &editor,
        &json!({"name": "churn-clf", "source": format!("runs:/{first_run}/model"), "run_id": first_run}),
    ))
    .await["model_version"]
        .clone();
    assert_eq!(
        (
            v1["version"].as_str(),
            v1["status"].as_str(),
            v1["current_stage"].as_str()
        ),
        (Some("1"), Some("READY"), Some("None"))
    );
    assert_eq!(v1["run_id"], first_run.as_str());
    let v2 = ok(t.post(
        &mlflow("/model-versions/create"),
        &editor,
        &json!({"name": "churn-clf", "source": format!("mlflow-artifacts:/{experiment_id}/{second_run}/artifacts/model"), "run_id": second_run}),
    ))
    .await["model_version"]
        .clone();
    assert_eq!(v2["version"], "2");
    let (status, code, _) = mlflow_error(t.post(
        &mlflow("/model-versions/create"),
        &editor,
        &json!({"name": "churn-clf", "source": "s3://bucket/model"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    let (status, code, _) = mlflow_error(get(
        &t,
        &mlflow("/model-versions/get"),
        &viewer,
        &[("name", "churn-clf"), ("version", "99")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));

    // Aliases: set, move, an unset one is 400, reserved names are refused, delete.
    let alias = |version: &str| json!({"name": "churn-clf", "alias": "champion", "version": version});
    ok(t.post(&mlflow("/registered-models/alias"), &editor, &alias("1"))).await;
    let by_alias = ok(get(
        &t,
        &mlflow("/registered-models/alias"),
        &viewer,
        &[("name", "churn-clf"), ("alias", "champion")],
    ))
    .await;
    assert_eq!(
        (
            by_alias["model_version"]["version"].as_str(),
            &by_alias["model_version"]["aliases"]
        ),
        (Some("1"), &json!(["champion"]))
    );
    ok(t.post(&mlflow("/registered-models/alias"), &editor, &alias("2"))).await;
    let moved = ok(get(
        &t,
        &mlflow("/registered-models/alias"),
        &viewer,
        &[("name", "churn-clf"), ("alias", "champion")],
    ))
    .await;
    assert_eq!(moved["model_version"]["version"], "2");
    let (status, code, message) = mlflow_error(get(
        &t,
        &mlflow("/registered-models/alias"),
        &viewer,
        &[("name", "churn-clf"), ("alias", "challenger")],
    ))
    .await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            400,
            "INVALID_PARAMETER_VALUE",
            "Registered model alias challenger not found."
        )
    );
    let (status, code, message) = mlflow_error(t.post(
        &mlflow("/registered-models/alias"),
        &editor,
        &json!({"name": "churn-clf", "alias": "v1", "version": "1"}),
    ))
    .await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            400,
            "INVALID_PARAMETER_VALUE",
            "Version alias name 'v1' is reserved."
        )
    );

    // Stages, matched case-insensitively; a bad one is MLflow's message.
    let staged = ok(t.post(
        &mlflow("/model-versions/transition-stage"),
        &editor,
        &json!({"name": "churn-clf", "version": "1", "stage": "staging", "archive_existing_versions": false}),
    ))
    .await;
    assert_eq!(staged["model_version"]["current_stage"], "Staging");
    let (status, code, message) = mlflow_error(t.post(
        &mlflow("/model-versions/transition-stage"),
        &editor,
        &json!({"name": "churn-clf", "version": "1", "stage": "NotAStage"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    assert_eq!(
        message,
        "Invalid Model Version stage: NotAStage. Value must be one of None, Staging, Production, Archived."
    );

    // Descriptions and tags.
    let updated = ok(t
        .http
        .patch(format!("{}{}", t.url, mlflow("/registered-models/update")))
        .bearer_auth(&editor)
        .json(&json!({"name": "churn-clf", "description": "churn classifier"})))
    .await;
    assert_eq!(updated["registered_model"]["description"], "churn classifier");
    ok(t.post(
        &mlflow("/registered-models/set-tag"),
        &editor,
        &json!({"name": "churn-clf", "key": "owner", "value": "ada"}),
    ))
    .await;
    ok(t.http
        .delete(format!("{}{}", t.url, mlflow("/registered-models/delete-tag")))
        .bearer_auth(&editor)
        .json(&json!({"name": "churn-clf", "key": "team"})))
    .await;
    ok(t.post(
        &mlflow("/model-versions/set-tag"),
        &editor,
        &json!({"name": "churn-clf", "version": "2", "key": "validated", "value": "yes"}),
    ))
    .await;
    let v2 = ok(get(
        &t,
        &mlflow("/model-versions/get"),
        &viewer,
        &[("name", "churn-clf"), ("version", "2")],
    ))
    .await;
    assert_eq!(
        v2["model_version"]["tags"],
        json!([{"key": "validated", "value": "yes"}])
    );
    assert_eq!(v2["model_version"]["aliases"], json!(["champion"]));
    let model = ok(get(
        &t,
        &mlflow("/registered-models/get"),
        &viewer,
        &[("name", "churn-clf")],
    ))
    .await["registered_model"]
        .clone();
    assert_eq!(model["tags"], json!([{"key": "owner", "value": "ada"}]));
    assert_eq!(model["aliases"], json!([{"alias": "champion", "version": "2"}]));

    // One data model: Lathe's API shows what MLflow registered.
    let lathe = ok(t.get(&format!("/api/v1/projects/{PROJECT}/models/churn-clf"), &viewer)).await;
    assert_eq!(lathe["description"], "churn classifier");

    // A gate set through Lathe applies to MLflow's transition-stage, its condition in the message.
    let gated = t
        .post(
            &format!("/api/v1/projects/{PROJECT}/models"),
            &t.admin(),
            &json!({"name": "gated", "policies": [{"stage": "Staging", "conditions": [{"metric": {"key": "accuracy", "op": ">", "value": 0.99}}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gated.status().as_u16(), 201);
    ok(t.post(
        &mlflow("/model-versions/create"),
        &editor,
        &json!({"name": "gated", "source": format!("runs:/{first_run}/model")}),
    ))
    .await;
    let (status, code, message) = mlflow_error(t.post(
        &mlflow("/model-versions/transition-stage"),
        &editor,
        &json!({"name": "gated", "version": "1", "stage": "Staging"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    assert!(
        message.contains("accuracy"),
        "the unmet condition is named: {message}"
    );

    // search_registered_models: the client appends its prompt clause to every filter.
    let search = |filter: &str, page_token: Option<&str>| {
        let mut query = vec![
            (
                "filter",
                format!("{filter} AND tag.`mlflow.prompt.is_prompt` != 'true'"),
            ),
            ("max_results", "1".to_owned()),
        ];
        if let Some(token) = page_token {
            query.push(("page_token", token.to_owned()));
        }
        t.get(&mlflow("/registered-models/search"), &viewer).query(&query)
    };
    let first = ok(search("name LIKE '%'", None)).await;
    assert_eq!(first["registered_models"][0]["name"], "churn-clf", "{first}");
    let token = first["next_page_token"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = ok(search("name LIKE '%'", Some(&token))).await;
    assert_eq!(second["registered_models"][0]["name"], "gated", "{second}");
    assert!(second.get("next_page_token").is_none(), "{second}");
    let owned = ok(search("tags.owner = 'ada'", None)).await;
    assert_eq!(
        owned["registered_models"].as_array().map(Vec::len),
        Some(1),
        "{owned}"
    );

    // get_latest_versions: the highest version per requested stage (POST first, as the client).
    let latest = ok(t.post(
        &mlflow("/registered-models/get-latest-versions"),
        &viewer,
        &json!({"name": "churn-clf", "stages": ["Staging"]}),
    ))
    .await;
    let found: Vec<(&str, &str)> = latest["model_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["current_stage"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [("1", "Staging")]);
    let every_stage = ok(get(
        &t,
        &mlflow("/registered-models/get-latest-versions"),
        &viewer,
        &[("name", "churn-clf")],
    ))
    .await;
    assert_eq!(
        every_stage["model_versions"].as_array().map(Vec::len),
        Some(2),
        "{every_stage}"
    );
    let (status, code, _) = mlflow_error(t.post(
        &mlflow("/registered-models/get-latest-versions"),
        &viewer,
        &json!({"name": "nope-x"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));

    // search_model_versions: by model (newest first) in pages, by run across models.
    let versions = |filter: String, page_token: Option<&str>| {
        let mut query = vec![("filter", filter), ("max_results", "1".to_owned())];
        if let Some(token) = page_token {
            query.push(("page_token", token.to_owned()));
        }
        t.get(&mlflow("/model-versions/search"), &viewer).query(&query)
    };
    let newest = ok(versions("name = 'churn-clf'".to_owned(), None)).await;
    assert_eq!(newest["model_versions"][0]["version"], "2", "{newest}");
    let token = newest["next_page_token"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let older = ok(versions("name = 'churn-clf'".to_owned(), Some(&token))).await;
    assert_eq!(older["model_versions"][0]["version"], "1", "{older}");
    assert!(older.get("next_page_token").is_none(), "{older}");
    let by_run = ok(t
        .get(&mlflow("/model-versions/search"), &viewer)
        .query(&[("filter", format!("run_id = '{first_run}'"))]))
    .await;
    let found: Vec<(&str, &str)> = by_run["model_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["version"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [("churn-clf", "1"), ("gated", "1")]);
    let in_list = ok(versions(
        format!("run_id IN ('{first_run}', 'other') and name NOT IN ('gated')"),
        None,
    ))
    .await;
    assert_eq!(
        in_list["model_versions"].as_array().map(Vec::len),
        Some(1),
        "{in_list}"
    );
    assert_eq!(in_list["model_versions"][0]["name"], "churn-clf", "{in_list}");
    let none = ok(versions("source_path = 'nowhere'".to_owned(), None)).await;
    assert_eq!(none, json!({}));
    let (status, code, message) = mlflow_error(versions("version_number IN ('1')".to_owned(), None)).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    assert!(message.contains("IN"), "{message}");

    // delete_registered_model: a DELETE with a JSON body; Lathe's roles apply (admins delete).
    let delete = |token: &str| {
        t.http
            .delete(format!("{}{}", t.url, mlflow("/registered-models/delete")))
            .bearer_auth(token)
            .json(&json!({"name": "churn-clf"}))
    };
    let (status, code, _) = mlflow_error(delete(&editor)).await;
    assert_eq!((status, code.as_str()), (403, "PERMISSION_DENIED"));
    ok(delete(&t.token(TokenRole::Admin, &[PROJECT]))).await;
    let (status, code, _) = mlflow_error(get(
        &t,
        &mlflow("/registered-models/get"),
        &viewer,
        &[("name", "churn-clf")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn mlflow_model_registry_on_sqlite_and_local_files() {
    model_registry(Backend::Embedded).await;
}

#[tokio::test]
async fn mlflow_model_registry_on_postgres_and_s3() {
    model_registry(Backend::Production).await;
}

#[tokio::test]
async fn mlflow_workflow_over_raw_http_on_sqlite_and_local_files() {
    workflow(Backend::Embedded).await;
}

#[tokio::test]
async fn mlflow_workflow_over_raw_http_on_postgres_and_s3() {
    workflow(Backend::Production).await;
}

/// The project: the token's one project, else `gateway.mlflow_project`, which the token must
/// cover.
#[tokio::test]
async fn mlflow_calls_work_in_the_tokens_project_or_the_configured_default() {
    let (t, _) = TestPlatform::on_with(Backend::Embedded, |settings| {
        settings.gateway.mlflow_project = PROJECT.to_owned();
    })
    .await
    .expect("embedded");
    t.create_project(PROJECT).await;
    t.create_project("other").await;
    let everywhere = t.token(TokenRole::Editor, &["*"]);
    let created = ok(t.post(
        &mlflow("/experiments/create"),
        &everywhere,
        &json!({"name": "in-default"}),
    ))
    .await;
    let id = created["experiment_id"].as_str().unwrap().to_owned();
    let churn_only = t.token(TokenRole::Viewer, &[PROJECT]);
    let seen = ok(get(
        &t,
        &mlflow("/experiments/get"),
        &churn_only,
        &[("experiment_id", &id)],
    ))
    .await;
    assert_eq!(seen["experiment"]["name"], "in-default");
    // A token of one other project works there, and does not see the default's experiment.
    let other_only = t.token(TokenRole::Viewer, &["other"]);
    let (status, code, _) = mlflow_error(get(
        &t,
        &mlflow("/experiments/get-by-name"),
        &other_only,
        &[("experiment_name", "in-default")],
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    // A token of two projects, neither the default: 403.
    let two = t.token(TokenRole::Viewer, &["other", "third"]);
    let (status, code, message) = mlflow_error(get(
        &t,
        &mlflow("/experiments/get"),
        &two,
        &[("experiment_id", &id)],
    ))
    .await;
    assert_eq!((status, code.as_str()), (403, "PERMISSION_DENIED"), "{message}");
    assert!(message.contains(PROJECT), "{message}");
    t.shutdown().await;
}
