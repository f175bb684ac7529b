//! MLflow 3's logged models over raw HTTP, as the `mlflow` 3.x client sends them: create, get,
//! finalize, tags, search, run outputs, the logged model's files through the artifact proxy, a
//! version registered from `models:/m-…`, and its own files through `get-download-uri`,
//! byte-identical; MLflow's error codes. On SQLite + local files and on PostgreSQL + S3.

use lathe_tests::{Backend, TestPlatform, TokenRole};
use serde_json::{Value, json};

const PROJECT: &str = "churn";

fn mlflow(path: &str) -> String {
    format!("/api/2.0/mlflow{path}")
}

fn artifacts(path: &str) -> String {
    format!("/api/2.0/mlflow-artifacts/artifacts{path}")
}

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

async fn mlflow_error(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON error body");
    (status, body["error_code"].as_str().unwrap_or_default().to_owned())
}

fn large_file() -> Vec<u8> {
    (0..2 * 1024 * 1024 + 4321)
        .map(|i: usize| u8::try_from((i * 7 + 3) % 251).expect("below 251"))
        .collect()
}

async fn scenario(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let url = |path: String| format!("{}{path}", t.url);

    let experiment_id =
        ok(t.post(&mlflow("/experiments/create"), &editor, &json!({"name": "lm"}))).await["experiment_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let run = ok(t.post(
        &mlflow("/runs/create"),
        &editor,
        &json!({"experiment_id": experiment_id, "run_name": "r", "start_time": 1_767_225_600_000_i64}),
    ))
    .await["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Create, as log_model does.
    let created = ok(t.post(
        &mlflow("/logged-models"),
        &editor,
        &json!({"experiment_id": experiment_id, "name": "model", "source_run_id": run,
                "model_type": "", "params": [{"key": "C", "value": "0.5"}],
                "tags": [{"key": "mlflow.source.type", "value": "LOCAL"}]}),
    ))
    .await;
    let info = &created["model"]["info"];
    let id = info["model_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("m-"), "{created}");
    assert_eq!(info["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(info["experiment_id"], experiment_id.as_str());
    assert_eq!(info["source_run_id"], run.as_str());
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/{experiment_id}/models/{id}/artifacts")
    );
    assert!(info["creation_timestamp_ms"].as_i64().unwrap() > 0);
    assert_eq!(
        created["model"]["data"]["params"],
        json!([{"key": "C", "value": "0.5"}])
    );

    // Its files, through the artifact proxy at its artifact_uri.
    let base = format!("/{experiment_id}/models/{id}/artifacts");
    let large = large_file();
    let mlmodel = b"artifact_path: model\nflavors: {}\n".to_vec();
    for (path, content) in [("MLmodel", mlmodel.clone()), ("data/model.pkl", large.clone())] {
        let response = t
            .http
            .put(url(artifacts(&format!("{base}/{path}"))))
            .bearer_auth(&editor)
            .header("Content-Type", "application/octet-stream")
            .body(content)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let listed = ok(t.get(&artifacts(""), &viewer).query(&[("path", &base[1..])])).await;
    assert_eq!(
        listed,
        json!({"files": [{"path": "MLmodel", "is_dir": false, "file_size": mlmodel.len()},
                          {"path": "data", "is_dir": true}]})
    );
    let downloaded = t
        .get(&artifacts(&format!("{base}/data/model.pkl")), &viewer)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.as_ref(), large.as_slice());

    // Finalize, get, tags.
    let finalized = ok(t
        .http
        .patch(url(mlflow(&format!("/logged-models/{id}"))))
        .bearer_auth(&editor)
        .json(&json!({"model_id": id, "status": "LOGGED_MODEL_READY"})))
    .await;
    assert_eq!(finalized["model"]["info"]["status"], "LOGGED_MODEL_READY");
    let tags = json!({"tags": [{"key": "mlflow.modelVersions", "value": "[]"}, {"key": "k", "value": "v"}]});
    assert_eq!(
        ok(t.http
            .patch(url(mlflow(&format!("/logged-models/{id}/tags"))))
            .bearer_auth(&editor)
            .json(&tags))
        .await,
        json!({})
    );
    ok(t.http
        .delete(url(mlflow(&format!("/logged-models/{id}/tags/k"))))
        .bearer_auth(&editor))
    .await;
    let got = ok(t.get(&mlflow(&format!("/logged-models/{id}")), &viewer)).await;
    assert_eq!(
        got["model"]["info"]["tags"],
        json!([{"key": "mlflow.modelVersions", "value": "[]"}, {"key": "mlflow.source.type", "value": "LOCAL"}])
    );

    // Search: by name (what the client asks on downloads), by tag; none is `{}`.
    let search = |filter: &str| {
        t.post(
            &mlflow("/logged-models/search"),
            &viewer,
            &json!({"experiment_ids": [experiment_id], "filter": filter}),
        )
    };
    let found = ok(search("name = 'model'")).await;
    assert_eq!(found["models"][0]["info"]["model_id"], id.as_str());
    assert_eq!(
        ok(search("tags.`mlflow.modelVersions` = '[]'")).await["models"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(ok(search("name = 'plots'")).await, json!({}));
    let ordered = ok(t.post(
        &mlflow("/logged-models/search"),
        &viewer,
        &json!({"experiment_ids": [experiment_id], "max_results": 1,
                "order_by": [{"field_name": "creation_timestamp", "ascending": false}]}),
    ))
    .await;
    assert_eq!(ordered["models"].as_array().unwrap().len(), 1);

    // Run outputs, answered in the run.
    ok(t.post(
        &mlflow("/runs/outputs"),
        &editor,
        &json!({"run_id": run, "models": [{"model_id": id, "step": 0}]}),
    ))
    .await;
    let got_run = ok(t.get(&mlflow("/runs/get"), &viewer).query(&[("run_id", &run)])).await;
    assert_eq!(
        got_run["run"]["outputs"],
        json!({"model_outputs": [{"model_id": id, "step": 0}]})
    );

    // register_model("models:/m-…"): the version keeps the source, names the run.
    ok(t.post(
        &mlflow("/registered-models/create"),
        &editor,
        &json!({"name": "clf"}),
    ))
    .await;
    let source = format!("models:/{id}");
    let version = ok(t.post(
        &mlflow("/model-versions/create"),
        &editor,
        &json!({"name": "clf", "source": source, "model_id": id}),
    ))
    .await["model_version"]
        .clone();
    assert_eq!(version["source"], source.as_str());
    assert_eq!(version["run_id"], run.as_str());
    assert_eq!(version["model_id"], id.as_str());
    assert_eq!(version["status"], "READY");

    // get-download-uri, then list and download the version's own copy, byte-identical.
    let uri = ok(t
        .get(&mlflow("/model-versions/get-download-uri"), &viewer)
        .query(&[("name", "clf"), ("version", "1")]))
    .await["artifact_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(uri, "mlflow-artifacts:/model-versions/clf/1/artifacts");
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap().to_owned();
    let listed = ok(t.get(&artifacts(""), &viewer).query(&[("path", &root)])).await;
    assert_eq!(listed["files"][0]["path"], "MLmodel");
    let copy = t
        .get(&artifacts(&format!("/{root}/data/model.pkl")), &viewer)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(copy.as_ref(), large.as_slice());
    // The copy is read-only.
    let (status, code) = mlflow_error(
        t.http
            .put(url(artifacts(&format!("/{root}/MLmodel"))))
            .bearer_auth(&editor)
            .body("x"),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));

    // Errors in MLflow's codes.
    let (status, code) = mlflow_error(t.get(&mlflow("/logged-models/m-0123"), &viewer)).await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    let (status, code) =
        mlflow_error(t.post(&mlflow("/logged-models"), &editor, &json!({"name": "x"}))).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    let (status, code) = mlflow_error(t.post(
        &mlflow("/logged-models"),
        &viewer,
        &json!({"experiment_id": experiment_id}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (403, "PERMISSION_DENIED"));
    let (status, code) = mlflow_error(search("name = 'a' or name = 'b'")).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    let (status, code) = mlflow_error(
        t.http
            .patch(url(mlflow(&format!("/logged-models/{id}"))))
            .bearer_auth(&editor)
            .json(&json!({"status": "DONE"})),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_PARAMETER_VALUE"));
    let (status, code) = mlflow_error(t.post(
        &mlflow("/model-versions/create"),
        &editor,
        &json!({"name": "clf", "source": "models:/m-0123"}),
    ))
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    let (status, code) = mlflow_error(
        t.get(&mlflow("/model-versions/get-download-uri"), &viewer)
            .query(&[("name", "clf"), ("version", "9")]),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    let (status, code) = mlflow_error(t.get(&artifacts(&format!("{base}/nope")), &viewer)).await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));

    // Delete.
    ok(t.http
        .delete(url(mlflow(&format!("/logged-models/{id}"))))
        .bearer_auth(&editor))
    .await;
    let (status, code) = mlflow_error(t.get(&mlflow(&format!("/logged-models/{id}")), &viewer)).await;
    assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"));
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn mlflow_logged_models_on_sqlite_and_local_files() {
    scenario(Backend::Embedded).await;
}

#[tokio::test]
async fn mlflow_logged_models_on_postgres_and_s3() {
    scenario(Backend::Production).await;
}
