//! Drift monitoring through the REST API, with real tokens: a monitor's definition and its
//! refusals, a reference uploaded as Parquet, rows logged as JSON and as Arrow IPC (a batch
//! of the wrong shape refused whole, naming the column), labels, a window checked into a
//! drift alert, the windows as a time series, the report as JSON and as an HTML page, alerts,
//! and the ad hoc comparison of two uploaded datasets.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use base64::Engine as _;
use lathe_tests::{Backend, TestPlatform, TokenRole, error_of, names_of};
use serde_json::{Value, json};

const PROJECT: &str = "churn";
const PARQUET: &str = "application/vnd.apache.parquet";
const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The live window the logged rows fall in (monitors of an hour), and an instant inside it.
const WINDOW_START: &str = "2026-01-01T10:00:00Z";
const IN_WINDOW: &str = "2026-01-01T10:30:00Z";
/// 2026-01-01T10:00:00Z in milliseconds since the epoch.
const WINDOW_START_MS: i64 = 1_767_261_600_000;

fn api(path: &str) -> String {
    format!("/api/v1/projects/{PROJECT}{path}")
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

/// A request with a raw body of `content_type`.
fn raw(
    t: &TestPlatform,
    method: reqwest::Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", t.url))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
}

/// A batch of `rows` rows: `distance` spread over [offset, offset + 100), `city` cycling
/// through `cities`, a binary `prediction`, ids `{id_prefix}{i}`, timestamps a second apart
/// from the window's start.
fn batch(rows: usize, offset: f64, cities: &[&str], id_prefix: &str) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("distance", DataType::Float64, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("prediction", DataType::Int64, false),
        Field::new("prediction_id", DataType::Utf8, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let distance: Vec<f64> = (0..rows).map(|i| offset + (i % 100) as f64).collect();
    let city: Vec<&str> = (0..rows).map(|i| cities[i % cities.len()]).collect();
    let prediction: Vec<i64> = (0..rows).map(|i| (i % 2) as i64).collect();
    let ids: Vec<String> = (0..rows).map(|i| format!("{id_prefix}{i}")).collect();
    let times: Vec<i64> = (0..rows).map(|i| WINDOW_START_MS + 1000 * i as i64).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(distance)),
            Arc::new(StringArray::from(city)),
            Arc::new(Int64Array::from(prediction)),
            Arc::new(StringArray::from(ids)),
            Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
        ],
    )
    .unwrap()
}

fn arrow_stream_of(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

/// `rows` JSON row objects drifted far from the reference: distances from 1,000 and every
/// city `c`, ids `{id_prefix}{i}`.
fn drifted_rows(rows: usize, id_prefix: &str) -> Vec<Value> {
    (0..rows)
        .map(|i| {
            json!({
                "distance": 1000.0 + (i % 100) as f64,
                "city": "c",
                "prediction": i % 2,
                "prediction_id": format!("{id_prefix}{i}"),
                "timestamp": format!("2026-01-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            })
        })
        .collect()
}

fn monitor_body() -> Value {
    json!({
        "description": "Trip features against the training set",
        "model": "churn-classifier",
        "task": "classification",
        "checks": [
            {"column": "distance", "metric": "psi"},
            {"column": "city"},
        ],
        "window_seconds": 3600,
        "drift_share": 0.5,
        "webhook": {"url": "http://127.0.0.1:9/hook", "secret": "s3cret"},
    })
}

async fn monitors_end_to_end(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let editor = t.token(TokenRole::Editor, &[PROJECT]);

    // The definition: refusals name what is wrong; a viewer may not write.
    let unknown_method =
        json!({"checks": [{"column": "distance", "metric": "median"}], "window_seconds": 60});
    let message = expect_error(
        t.put(&api("/monitors/trips"), &editor, &unknown_method),
        400,
        "invalid_body",
    )
    .await;
    assert!(message.contains("median"), "{message}");
    let bad_share = json!({"checks": [{"column": "distance"}], "window_seconds": 60, "drift_share": 1.5});
    let message = expect_error(
        t.put(&api("/monitors/trips"), &editor, &bad_share),
        400,
        "invalid_argument",
    )
    .await;
    assert!(message.contains("drift_share"), "{message}");
    let no_checks = json!({"checks": [], "window_seconds": 60});
    let message = expect_error(
        t.put(&api("/monitors/trips"), &editor, &no_checks),
        400,
        "invalid_argument",
    )
    .await;
    assert!(message.contains("checks"), "{message}");
    expect_error(
        t.put(&api("/monitors/trips"), &viewer, &monitor_body()),
        403,
        "role_too_low",
    )
    .await;

    let monitor = expect_json(t.put(&api("/monitors/trips"), &editor, &monitor_body()), 200).await;
    assert_eq!(monitor["name"], "trips");
    assert_eq!(monitor["project"], PROJECT);
    assert_eq!(monitor["task"], "classification");
    assert_eq!(monitor["checks"][0]["metric"], "psi");
    assert_eq!(
        monitor["checks"][1]["metric"], "default",
        "an omitted method is the default"
    );
    assert_eq!(monitor["webhook"]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(monitor["webhook"]["secret_set"], true);
    assert_ne!(
        monitor["webhook"]["secret"], "s3cret",
        "a webhook's secret is never returned"
    );
    assert!(
        monitor["create_time"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z')),
        "{monitor}"
    );

    let read = expect_json(t.get(&api("/monitors/trips"), &viewer), 200).await;
    assert_eq!(read, monitor);
    let listed = expect_json(t.get(&api("/monitors"), &viewer), 200).await;
    assert_eq!(listed["monitors"], json!([monitor]));
    expect_error(t.get(&api("/monitors/nope"), &viewer), 404, "monitor_not_found").await;

    // The reference: none yet, then 200 rows uploaded as Parquet.
    expect_error(
        t.get(&api("/monitors/trips/reference"), &viewer),
        412,
        "reference_not_set",
    )
    .await;
    let reference = batch(200, 0.0, &["a", "b", "c"], "ref-");
    let message = expect_error(
        raw(
            &t,
            reqwest::Method::PUT,
            &api("/monitors/trips/reference"),
            &editor,
            "text/csv",
            b"a\n1\n".to_vec(),
        ),
        400,
        "unsupported_content_type",
    )
    .await;
    assert!(message.contains(PARQUET), "{message}");
    let set = expect_json(
        raw(
            &t,
            reqwest::Method::PUT,
            &api("/monitors/trips/reference"),
            &editor,
            PARQUET,
            lathe_tests::parquet_bytes(&reference),
        ),
        200,
    )
    .await;
    assert_eq!(set["rows"], 200);
    let kinds: Vec<(&str, &str)> = set["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("distance", "numeric")), "{kinds:?}");
    assert!(kinds.contains(&("city", "categorical")), "{kinds:?}");
    assert_eq!(
        expect_json(t.get(&api("/monitors/trips/reference"), &viewer), 200).await,
        set
    );

    // Logged rows: JSON (an array, and the envelope) and Arrow IPC, all in one window.
    let logged = expect_json(
        raw(
            &t,
            reqwest::Method::POST,
            &api("/monitors/trips/log"),
            &editor,
            "application/json",
            serde_json::to_vec(&drifted_rows(60, "json-")).unwrap(),
        ),
        200,
    )
    .await;
    assert_eq!(logged, json!({"rows": 60, "windows": [WINDOW_START]}));
    let enveloped = expect_json(
        t.post(
            &api("/monitors/trips/log"),
            &editor,
            &json!({"rows": drifted_rows(40, "env-")}),
        ),
        200,
    )
    .await;
    assert_eq!(enveloped["rows"], 40);
    let arrow = arrow_stream_of(&batch(100, 1000.0, &["c"], "arrow-"));
    let logged = expect_json(
        raw(
            &t,
            reqwest::Method::POST,
            &api("/monitors/trips/log"),
            &editor,
            ARROW_STREAM,
            arrow,
        ),
        200,
    )
    .await;
    assert_eq!(logged, json!({"rows": 100, "windows": [WINDOW_START]}));

    // A batch of the wrong shape is refused whole, naming the column; other bodies are not rows.
    let mut bad = drifted_rows(3, "bad-");
    bad[2]["distance"] = json!("far");
    let message = expect_error(
        t.post(&api("/monitors/trips/log"), &editor, &Value::Array(bad)),
        422,
        "log_schema_mismatch",
    )
    .await;
    assert!(message.contains("distance"), "{message}");
    expect_error(
        raw(
            &t,
            reqwest::Method::POST,
            &api("/monitors/trips/log"),
            &editor,
            "text/plain",
            b"hi".to_vec(),
        ),
        400,
        "unsupported_content_type",
    )
    .await;
    expect_error(
        t.post(&api("/monitors/trips/log"), &viewer, &json!([])),
        403,
        "role_too_low",
    )
    .await;

    // Labels by prediction id: numbers or text.
    let labels = json!({"labels": [
        {"prediction_id": "json-0", "label": 0},
        {"prediction_id": "json-1", "label": 1},
        {"prediction_id": "arrow-2", "label": 1.0},
    ]});
    let answer = expect_json(t.post(&api("/monitors/trips/labels"), &editor, &labels), 200).await;
    assert_eq!(answer, json!({"labels": 3}));

    // Checking the window: the distances and cities moved, so it drifts and raises an alert.
    let result = expect_json(
        t.post(
            &api("/monitors/trips/check"),
            &editor,
            &json!({"window": IN_WINDOW}),
        ),
        200,
    )
    .await;
    assert_eq!(result["window_start"], WINDOW_START);
    assert_eq!(result["window_end"], "2026-01-01T11:00:00Z");
    assert_eq!(
        result["rows"], 200,
        "the rows of the refused batch are not in the window"
    );
    assert_eq!(result["reference_rows"], 200);
    let distance = result["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "distance")
        .expect("distance is checked")
        .clone();
    assert_eq!(distance["method"], "psi");
    assert!(distance["statistic"].as_f64().unwrap() >= 0.1, "{distance}");
    assert_eq!(distance["drifted"], true);
    assert_eq!(result["drifted"], true);
    assert_eq!(result["performance"]["labelled_rows"], 3);
    // Predictions 0, 1, 0 against labels 0, 1, 1.
    let accuracy = result["performance"]["accuracy"].as_f64().unwrap();
    assert!((accuracy - 2.0 / 3.0).abs() < 1e-12, "{result}");
    assert_eq!(result["performance"]["recall"], 0.5, "{result}");
    let alert_id = result["alert_id"].as_str().unwrap().to_owned();
    assert!(
        !alert_id.is_empty(),
        "a drifting window raises an alert: {result}"
    );
    let message = expect_error(
        t.post(&api("/monitors/trips/check"), &editor, &json!({"window": "noon"})),
        400,
        "invalid_argument",
    )
    .await;
    assert!(message.contains("window"), "{message}");

    // The windows as a time series.
    let windows = expect_json(t.get(&api("/monitors/trips/windows"), &viewer), 200).await;
    assert_eq!(windows["windows"].as_array().unwrap().len(), 1, "{windows}");
    assert_eq!(windows["windows"][0]["window_start"], WINDOW_START);
    assert_eq!(windows["windows"][0]["drifted"], true);
    let later = expect_json(
        t.get(
            &api("/monitors/trips/windows?start=2026-01-01T11:00:00Z"),
            &viewer,
        ),
        200,
    )
    .await;
    assert_eq!(later["windows"], json!([]));
    let message = expect_error(
        t.get(&api("/monitors/trips/windows?start=today"), &viewer),
        400,
        "invalid_argument",
    )
    .await;
    assert!(message.contains("start"), "{message}");

    // The report, as JSON and as a page that loads nothing from elsewhere.
    let report = expect_json(
        t.get(
            &api(&format!("/monitors/trips/windows/{IN_WINDOW}/report")),
            &viewer,
        ),
        200,
    )
    .await;
    assert_eq!(report["result"]["window_start"], WINDOW_START);
    let distribution = report["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["column"] == "distance")
        .expect("distance's distributions")
        .clone();
    assert_eq!(distribution["kind"], "numeric");
    let total = |side: &str| -> u64 {
        distribution[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (total("reference"), total("current")),
        (200, 200),
        "{distribution}"
    );
    let page = t
        .get(
            &api(&format!("/monitors/trips/windows/{IN_WINDOW}/report.html")),
            &viewer,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<html") && html.contains("distance"), "{html}");
    assert!(!html.contains("<script"), "the report runs no script");
    expect_error(
        t.get(
            &api("/monitors/trips/windows/2025-06-01T00:00:00Z/report"),
            &viewer,
        ),
        404,
        "window_not_found",
    )
    .await;
    expect_error(
        t.get(&api("/monitors/trips/windows/yesterday/report"), &viewer),
        400,
        "invalid_argument",
    )
    .await;

    // The alert the window raised.
    let alerts = expect_json(t.get(&api("/alerts?monitor=trips"), &viewer), 200).await;
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["id"], alert_id.as_str());
    assert_eq!(alert["monitor"], "trips");
    assert_eq!(alert["window_start"], WINDOW_START);
    assert!(
        alert["drifted_columns"]
            .as_array()
            .unwrap()
            .contains(&json!("distance")),
        "{alert}"
    );
    let all = expect_json(t.get(&api("/alerts"), &viewer), 200).await;
    assert_eq!(all["alerts"].as_array().unwrap().len(), 1, "{all}");

    // Ad hoc: two uploaded datasets, as JSON and as the page; a missing dataset is a 404.
    let encode = |batch: &RecordBatch| {
        base64::engine::general_purpose::STANDARD.encode(lathe_tests::parquet_bytes(batch))
    };
    let same = encode(&batch(200, 0.0, &["a", "b", "c"], "x-"));
    let moved = encode(&batch(200, 1000.0, &["c"], "y-"));
    let body = json!({
        "reference": {"parquet_base64": same},
        "current": {"parquet_base64": moved},
        "checks": [{"column": "distance", "metric": "ks"}, {"column": "city", "threshold": 0.2}],
    });
    let compared = expect_json(t.post(&api("/drift/compare"), &viewer, &body), 200).await;
    let columns = compared["result"]["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 2, "{compared}");
    assert_eq!(columns[0]["method"], "ks");
    assert_eq!(columns[0]["drifted"], true);
    assert_eq!(columns[1]["threshold"], 0.2);
    assert_eq!(compared["result"]["drifted"], true);
    let unchanged = json!({"reference": {"parquet_base64": same}, "current": {"parquet_base64": same}});
    let compared = expect_json(t.post(&api("/drift/compare"), &viewer, &unchanged), 200).await;
    assert_eq!(compared["result"]["drifted"], false, "{compared}");
    let page = t
        .post(&api("/drift/compare?format=html"), &viewer, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.text().await.unwrap().contains("distance"));
    let missing = json!({"reference": {"path": "nowhere/a.parquet"}, "current": {"parquet_base64": same}});
    expect_error(
        t.post(&api("/drift/compare"), &viewer, &missing),
        404,
        "dataset_not_found",
    )
    .await;
    let both =
        json!({"reference": {"path": "a.parquet", "parquet_base64": same}, "current": {"path": "b.parquet"}});
    let message = expect_error(
        t.post(&api("/drift/compare"), &viewer, &both),
        400,
        "invalid_body",
    )
    .await;
    assert!(message.contains("reference"), "{message}");

    // Deleting takes the monitor with everything it held.
    expect_error(
        reqwest::Client::new()
            .delete(format!("{}{}", t.url, api("/monitors/trips")))
            .bearer_auth(&viewer),
        403,
        "role_too_low",
    )
    .await;
    let deleted = reqwest::Client::new()
        .delete(format!("{}{}", t.url, api("/monitors/trips")))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    expect_error(t.get(&api("/monitors/trips"), &viewer), 404, "monitor_not_found").await;
    let alerts = expect_json(t.get(&api("/alerts"), &viewer), 200).await;
    assert_eq!(
        alerts["alerts"],
        json!([]),
        "a deleted monitor's alerts go with it"
    );

    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn monitors_on_sqlite_and_local_files() {
    monitors_end_to_end(Backend::Embedded).await;
}

#[tokio::test]
async fn monitors_on_postgres_and_s3() {
    monitors_end_to_end(Backend::Production).await;
}

/// The monitor list pages on the server, by name: seven monitors in pages of three come back
/// 3 + 3 + 1, in name order, each once, the last token empty; a monitor deleted between two
/// pages moves nothing (a keyset, not an offset); a page over 1000 and a token the server did
/// not issue are refused.
async fn monitor_list_pages_by_name(backend: Backend) {
    let Some((t, pg)) = TestPlatform::on(backend).await else {
        return;
    };
    t.create_project(PROJECT).await;
    let viewer = t.token(TokenRole::Viewer, &[PROJECT]);
    let editor = t.token(TokenRole::Editor, &[PROJECT]);
    // Created out of order: the listing sorts.
    let names = ["trips", "churn", "basket", "tenure", "latency", "uplift", "fraud"];
    let body = json!({"checks": [{"column": "distance"}], "window_seconds": 3600});
    for name in names {
        expect_json(t.put(&api(&format!("/monitors/{name}")), &editor, &body), 200).await;
    }
    let mut sorted = names.to_vec();
    sorted.sort_unstable();

    let (listed, sizes) = t.page_names(&api("/monitors"), &viewer, "monitors", 3).await;
    assert_eq!(sizes, [3, 3, 1], "{listed:?}");
    assert_eq!(listed, sorted);

    // Deleting the last monitor of the first page neither skips nor repeats one.
    let first = t.list_page(&api("/monitors"), &viewer, 3, "").await;
    assert_eq!(names_of(&first, "monitors"), ["basket", "churn", "fraud"]);
    let response = t
        .http
        .delete(format!("{}{}", t.url, api("/monitors/fraud")))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let second = t
        .list_page(
            &api("/monitors"),
            &viewer,
            3,
            first["next_page_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(names_of(&second, "monitors"), ["latency", "tenure", "trips"]);

    // Without page_size, one page of up to 100 holds them all.
    let all = expect_json(t.get(&api("/monitors"), &viewer), 200).await;
    assert_eq!(names_of(&all, "monitors").len(), 6, "{all:#}");
    assert_eq!(all["next_page_token"], "");

    expect_error(
        t.get(&api("/monitors?page_size=1001"), &viewer),
        400,
        "invalid_argument",
    )
    .await;
    for forged in ["not-a-token", "zz", "ff"] {
        expect_error(
            t.get(&api(&format!("/monitors?page_token={forged}")), &viewer),
            400,
            "invalid_page_token",
        )
        .await;
    }
    t.shutdown().await;
    drop(pg);
}

#[tokio::test]
async fn the_monitor_list_pages_by_name_on_sqlite() {
    monitor_list_pages_by_name(Backend::Embedded).await;
}

#[tokio::test]
async fn the_monitor_list_pages_by_name_on_postgres() {
    monitor_list_pages_by_name(Backend::Production).await;
}

#[tokio::test]
async fn monitoring_routes_are_documented() {
    let t = TestPlatform::embedded().await;
    let doc = t.openapi_document().await;
    let expected = [
        ("/monitors", &["get"][..]),
        ("/monitors/{monitor}", &["get", "put", "delete"]),
        ("/monitors/{monitor}/reference", &["get", "put"]),
        ("/monitors/{monitor}/log", &["post"]),
        ("/monitors/{monitor}/labels", &["post"]),
        ("/monitors/{monitor}/check", &["post"]),
        ("/monitors/{monitor}/windows", &["get"]),
        ("/monitors/{monitor}/windows/{window}/report", &["get"]),
        ("/monitors/{monitor}/windows/{window}/report.html", &["get"]),
        ("/alerts", &["get"]),
        ("/drift/compare", &["post"]),
    ];
    for (path, methods) in expected {
        let full = format!("/api/v1/projects/{{project}}{path}");
        for method in methods {
            let operation = &doc["paths"][&full][*method];
            assert!(
                operation.is_object(),
                "{method} {full} missing from the OpenAPI paths"
            );
            assert_eq!(operation["tags"], json!(["monitoring"]), "{method} {full}");
            assert_eq!(operation["security"], json!([{"bearer": []}]), "{method} {full}");
        }
    }
    // The default method and thresholds are documented where a monitor is written.
    let put = &doc["paths"]["/api/v1/projects/{project}/monitors/{monitor}"]["put"];
    let description = put["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("1,000 reference rows") && description.contains("0.05"),
        "{put}"
    );
    let log = &doc["paths"]["/api/v1/projects/{project}/monitors/{monitor}/log"]["post"];
    assert!(log["requestBody"]["content"][ARROW_STREAM].is_object(), "{log}");
    assert!(log["responses"]["422"].is_object(), "{log}");
    let methods = &doc["components"]["schemas"]["DriftMethod"]["enum"];
    assert_eq!(
        methods,
        &json!([
            "default",
            "psi",
            "kl_divergence",
            "js_distance",
            "wasserstein",
            "ks",
            "chi_square",
            "z_test",
            "hellinger"
        ])
    );
    t.shutdown().await;
}
