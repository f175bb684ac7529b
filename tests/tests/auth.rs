//! Every route under /api/ requires a valid bearer token with enough role and project scope.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lathe_tests::{SECRET, TestPlatform, TokenRole, error_of};
use serde_json::json;

fn claims(exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": "mallory", "roles": ["admin"], "projects": ["*"], "iss": "lathe", "iat": now, "exp": now + exp_offset })
}

fn sign(alg: Algorithm, secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn b64(value: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn bad_tokens_get_401_with_the_json_error_body() {
    let t = TestPlatform::embedded().await;
    let whoami = format!("{}/api/v1/whoami", t.url);

    let missing = t.http.get(&whoami).send().await.unwrap();
    assert_eq!(missing.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(error_of(missing).await.0, 401);

    let cases: Vec<(&str, String)> = vec![
        ("not bearer", "Basic dXNlcjpwYXNz".to_owned()),
        ("empty bearer", "Bearer ".to_owned()),
        ("garbage", "Bearer not-a-jwt".to_owned()),
        (
            "bad signature",
            format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    b"another-secret-another-secret-xx",
                    &claims(600)
                )
            ),
        ),
        (
            "expired",
            format!(
                "Bearer {}",
                sign(Algorithm::HS256, SECRET.as_bytes(), &claims(-3600))
            ),
        ),
        (
            "unexpected algorithm",
            format!(
                "Bearer {}",
                sign(Algorithm::HS512, SECRET.as_bytes(), &claims(600))
            ),
        ),
        (
            "alg none",
            format!(
                "Bearer {}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(600))
            ),
        ),
        ("wrong issuer", {
            let mut c = claims(600);
            c["iss"] = json!("someone-else");
            format!("Bearer {}", sign(Algorithm::HS256, SECRET.as_bytes(), &c))
        }),
    ];
    for (case, header) in cases {
        let response = t
            .http
            .get(&whoami)
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        let (status, code, message) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "unauthenticated"),
            "{case}: {message}"
        );
    }

    // Unknown API routes do not reveal themselves to anonymous callers.
    let unknown = t
        .http
        .get(format!("{}/api/v1/nothing-here", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(unknown).await.0, 401);
    let unknown = t.get("/api/v1/nothing-here", &t.admin()).send().await.unwrap();
    assert_eq!(error_of(unknown).await.1, "route_not_found");
    // Inside the project's route scopes too: an unknown path or a method a route lacks.
    for path in [
        "/api/v1/projects/p/nothing-here",
        "/api/v1/projects/p/models/m/nothing-here",
    ] {
        let unknown = t.get(path, &t.admin()).send().await.unwrap();
        assert_eq!(error_of(unknown).await.1, "route_not_found", "{path}");
    }
    let wrong_method = t
        .http
        .put(format!("{}/api/v1/projects/p/models", t.url))
        .bearer_auth(t.admin())
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(wrong_method).await;
    assert_eq!((status, code.as_str()), (404, "route_not_found"));
    t.shutdown().await;
}

#[tokio::test]
async fn valid_token_identifies_the_caller() {
    let t = TestPlatform::embedded().await;
    let token = t.token(TokenRole::Editor, &["churn"]);
    let body: serde_json::Value = t
        .get("/api/v1/whoami", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["subject"], "tester");
    assert_eq!(body["role"], "editor");
    assert_eq!(body["projects"], json!(["churn"]));
    t.shutdown().await;
}

#[tokio::test]
async fn roles_and_project_scope_get_403() {
    let t = TestPlatform::embedded().await;
    t.create_project("churn").await;
    t.create_project("fraud").await;

    // Writes to projects are admin-only.
    let editor = t.token(TokenRole::Editor, &["*"]);
    let (status, code, _) = error_of(
        t.post("/api/v1/projects", &editor, &json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    let delete = t
        .http
        .delete(format!("{}/api/v1/projects/churn", t.url))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(delete).await.0, 403);

    // A viewer may read but not write entities.
    let viewer = t.token(TokenRole::Viewer, &["churn"]);
    assert_eq!(
        t.get("/api/v1/projects/churn", &viewer)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let entity = json!({"join_keys": [{"name": "driver_id", "value_type": "int64"}]});
    let put = t
        .put("/api/v1/projects/churn/entities/driver", &viewer, &entity)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(put).await.1, "role_too_low");

    // A token scoped to churn cannot touch fraud, and does not even see it listed.
    let (status, code, _) = error_of(t.get("/api/v1/projects/fraud", &viewer).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "project_not_in_token"));
    let scoped_editor = t.token(TokenRole::Editor, &["churn"]);
    let put = t
        .put("/api/v1/projects/fraud/entities/driver", &scoped_editor, &entity)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(put).await.1, "project_not_in_token");
    let list: serde_json::Value = t
        .get("/api/v1/projects", &viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["churn"]);

    // A valid token without any role may not even read.
    let no_role = t.token_with_roles(&[], &["*"]);
    let (status, code, _) = error_of(t.get("/api/v1/projects", &no_role).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"));
    t.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = lathe_tests::embedded_settings(dir.path());
    settings.gateway.body_limit_bytes = 4096;
    let t = TestPlatform::start(settings, dir).await;
    let big = json!({ "name": "big", "description": "x".repeat(10_000) });
    let (status, code, message) =
        error_of(t.post("/api/v1/projects", &t.admin(), &big).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"), "{message}");
    assert!(message.contains("4096"), "{message}");
    // Chunked (no Content-Length) bodies are cut off too.
    let chunks =
        futures::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1000]))));
    let response = t
        .http
        .post(format!("{}/api/v1/projects", t.url))
        .bearer_auth(t.admin())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 413);
    let missing = t.get("/api/v1/projects/big", &t.admin()).send().await.unwrap();
    assert_eq!(error_of(missing).await.0, 404);
    t.shutdown().await;
}

#[tokio::test]
async fn service_errors_reach_the_client_with_their_status_and_code() {
    let t = TestPlatform::embedded().await;
    let admin = t.admin();
    t.create_project("churn").await;

    let cases = [
        (
            t.post("/api/v1/projects", &admin, &json!({"name": "churn"})),
            409,
            "project_already_exists",
        ),
        (
            t.post("/api/v1/projects", &admin, &json!({"name": "Not Valid"})),
            400,
            "invalid_name",
        ),
        (
            t.post(
                "/api/v1/projects",
                &admin,
                &json!({"name": "ok", "colour": "red"}),
            ),
            400,
            "invalid_body",
        ),
        (t.get("/api/v1/projects/ghost", &admin), 404, "project_not_found"),
        // Raised by the registry-service, relayed by the feature-service, then the gateway.
        (
            t.put(
                "/api/v1/projects/ghost/entities/driver",
                &admin,
                &json!({"join_keys": [{"name": "driver_id", "value_type": "int64"}]}),
            ),
            404,
            "project_not_found",
        ),
        (
            t.put(
                "/api/v1/projects/churn/entities/driver",
                &admin,
                &json!({"join_keys": []}),
            ),
            400,
            "invalid_argument",
        ),
        (
            t.get("/api/v1/projects/churn/entities/nobody", &admin),
            404,
            "entity_not_found",
        ),
    ];
    for (request, want_status, want_code) in cases {
        let (status, code, message) = error_of(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (want_status, want_code), "{message}");
        assert!(!message.is_empty());
    }

    // Changing an entity's join keys would orphan stored rows: refused with 412.
    let v1 = json!({"join_keys": [{"name": "driver_id", "value_type": "int64"}]});
    assert_eq!(
        t.put("/api/v1/projects/churn/entities/driver", &admin, &v1)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let v2 = json!({"join_keys": [{"name": "driver_id", "value_type": "string"}]});
    let (status, code, _) = error_of(
        t.put("/api/v1/projects/churn/entities/driver", &admin, &v2)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (412, "join_keys_changed"));
    t.shutdown().await;
}

#[tokio::test]
async fn a_token_not_valid_yet_gets_401_every_time() {
    let t = TestPlatform::embedded().await;
    let whoami = format!("{}/api/v1/whoami", t.url);
    let mut tomorrow = claims(3 * 86_400);
    tomorrow["nbf"] = json!(chrono::Utc::now().timestamp() + 86_400);
    let token = sign(Algorithm::HS256, SECRET.as_bytes(), &tomorrow);
    // Twice: a refusal is never remembered as a verified token.
    for attempt in 0..2 {
        let response = t.http.get(&whoami).bearer_auth(&token).send().await.unwrap();
        let (status, code, message) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "unauthenticated"),
            "{attempt}: {message}"
        );
        assert!(message.contains("not valid yet"), "{message}");
    }
    // A token whose nbf has passed is as good as one without.
    let mut yesterday = claims(600);
    yesterday["nbf"] = json!(chrono::Utc::now().timestamp() - 86_400);
    let token = sign(Algorithm::HS256, SECRET.as_bytes(), &yesterday);
    let response = t.http.get(&whoami).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    t.shutdown().await;
}

/// Creates `project`, an experiment and a finished run that logged `accuracy` and uploaded
/// `model/model.bin`; returns the experiment and run ids.
async fn finished_run(t: &TestPlatform, project: &str, accuracy: f64) -> (String, String) {
    let admin = t.admin();
    t.create_project(project).await;
    let base = format!("/api/v1/projects/{project}");
    let experiment = t
        .post_json(&format!("{base}/experiments"), &admin, &json!({ "name": "e" }))
        .await;
    let run = t
        .post_json(
            &format!("{base}/runs"),
            &admin,
            &json!({ "experiment_id": experiment["experiment_id"] }),
        )
        .await;
    let run_id = run["run_id"].as_str().expect("run_id").to_owned();
    let logged = t
        .post(
            &format!("{base}/runs/{run_id}/log-batch"),
            &admin,
            &json!({ "metrics": [{ "key": "accuracy", "value": accuracy }] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), 204);
    let uploaded = t
        .http
        .put(format!("{}{base}/runs/{run_id}/artifacts/model/model.bin", t.url))
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .body(b"weights".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let experiment_id = experiment["experiment_id"].as_str().expect("experiment_id");
    (experiment_id.to_owned(), run_id)
}

#[tokio::test]
async fn an_editor_asking_for_production_is_refused_for_the_role_first() {
    let t = TestPlatform::embedded().await;
    let (_, run_id) = finished_run(&t, "churn", 0.8).await;
    let admin = t.admin();
    let editor = t.token(TokenRole::Editor, &["churn"]);
    let models = "/api/v1/projects/churn/models";
    // The Production gate names no role (so it needs an admin) and a metric the version fails.
    let strict = json!([{ "stage": "Production", "conditions": [
        { "metric": { "key": "accuracy", "op": ">=", "value": 0.99 } },
    ] }]);
    // The same metric condition, with Production delegated to editors.
    let delegated = json!([{ "stage": "Production", "conditions": [
        { "role": "editor" },
        { "metric": { "key": "accuracy", "op": ">=", "value": 0.99 } },
    ] }]);
    for (name, policies) in [("strict", &strict), ("delegated", &delegated)] {
        let created = t
            .post(models, &admin, &json!({ "name": name, "policies": policies }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let version = t
            .post(
                &format!("{models}/{name}/versions"),
                &admin,
                &json!({ "run_id": run_id, "artifact_path": "model" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(version.status(), 201);
    }
    let promote = |model: &str, token: &str| {
        t.post(
            &format!("{models}/{model}/versions/1/stage"),
            token,
            &json!({ "stage": "Production" }),
        )
    };

    // The role is what the editor can act on: ask an admin. The metric is not the answer.
    let (status, code, message) = error_of(promote("strict", &editor).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "role_too_low"), "{message}");
    assert!(
        message.contains("Production") && message.contains("admin"),
        "{message}"
    );
    // An admin passes the role and meets the metric gate.
    let (status, code, message) = error_of(promote("strict", &admin).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (412, "promotion_gate_failed"),
        "{message}"
    );
    assert!(message.contains("accuracy"), "{message}");
    // Where a policy lets editors promote, an editor meets only the metric gate.
    let (status, code, message) = error_of(promote("delegated", &editor).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (412, "promotion_gate_failed"),
        "{message}"
    );
    assert!(!message.contains("role"), "{message}");
    t.shutdown().await;
}

#[tokio::test]
async fn run_times_out_of_order_or_negative_get_400() {
    let t = TestPlatform::embedded().await;
    let (experiment_id, _) = finished_run(&t, "churn", 0.8).await;
    let admin = t.admin();
    let runs = "/api/v1/projects/churn/runs";

    let negative = t
        .post(
            runs,
            &admin,
            &json!({ "experiment_id": experiment_id, "start_time_ms": -5 }),
        )
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(negative).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("start_time_ms"), "{message}");

    let started_ms = 1_700_000_000_000_i64;
    let run = t
        .post_json(
            runs,
            &admin,
            &json!({ "experiment_id": experiment_id, "start_time_ms": started_ms }),
        )
        .await;
    assert_eq!(run["start_time_ms"], started_ms, "{run}");
    let run_id = run["run_id"].as_str().unwrap();
    for end_time_ms in [started_ms - 1, -1] {
        let ended = t
            .http
            .patch(format!("{}{runs}/{run_id}", t.url))
            .bearer_auth(&admin)
            .json(&json!({ "status": "FINISHED", "end_time_ms": end_time_ms }))
            .send()
            .await
            .unwrap();
        let (status, _, message) = error_of(ended).await;
        assert_eq!(status, 400, "{end_time_ms}: {message}");
        assert!(message.contains("end_time_ms"), "{message}");
    }
    let ended = t
        .http
        .patch(format!("{}{runs}/{run_id}", t.url))
        .bearer_auth(&admin)
        .json(&json!({ "status": "FINISHED", "end_time_ms": started_ms }))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 200);
    t.shutdown().await;
}

#[tokio::test]
async fn names_with_bidi_overrides_or_control_characters_get_400() {
    let t = TestPlatform::embedded().await;
    let (experiment_id, run_id) = finished_run(&t, "churn", 0.8).await;
    let admin = t.admin();
    let base = "/api/v1/projects/churn";
    // "report\u{202E}exe.pdf" shows as "reportfdp.exe".
    for (character, code_point) in [
        ('\u{202E}', "U+202E"),
        ('\u{2066}', "U+2066"),
        ('\u{200F}', "U+200F"),
        ('\u{061C}', "U+061C"),
        ('\u{1B}', "U+001B"),
    ] {
        let name = format!("report{character}exe.pdf");
        let requests = [
            (
                "experiment name",
                t.post(&format!("{base}/experiments"), &admin, &json!({ "name": name })),
            ),
            (
                "model name",
                t.post(&format!("{base}/models"), &admin, &json!({ "name": name })),
            ),
            (
                "run name",
                t.post(
                    &format!("{base}/runs"),
                    &admin,
                    &json!({ "experiment_id": experiment_id, "name": name }),
                ),
            ),
            (
                "metric key",
                t.post(
                    &format!("{base}/runs/{run_id}/log-batch"),
                    &admin,
                    &json!({ "metrics": [{ "key": name, "value": 1.0 }] }),
                ),
            ),
            (
                "artifact path",
                t.http
                    .put(format!("{}{base}/runs/{run_id}/artifacts/{name}", t.url))
                    .bearer_auth(&admin)
                    .header("content-type", "application/octet-stream")
                    .body(b"x".to_vec()),
            ),
        ];
        for (what, request) in requests {
            let (status, _, message) = error_of(request.send().await.unwrap()).await;
            assert_eq!(status, 400, "{what} with {code_point}: {message}");
            assert!(message.contains(code_point), "{what}: {message}");
            assert!(
                !message.contains(character),
                "the refusal echoes the character: {message}"
            );
        }
    }
    t.shutdown().await;
}

/// Sends one raw HTTP/1.1 request and returns the status and body of the answer.
async fn raw_request(addr: &str, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn an_overlong_url_gets_414_with_the_json_error_body() {
    let t = TestPlatform::embedded().await;
    let addr = t.url.trim_start_matches("http://").to_owned();
    for length in [20_000, 100_000, 200_000] {
        let request = format!(
            "GET /api/v1/projects?q={} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            "a".repeat(length)
        );
        let (status, body) = raw_request(&addr, request.as_bytes()).await;
        assert_eq!(status, 414, "{length}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(body["code"], "uri_too_long", "{body}");
        assert_eq!(body["type"], "invalid_request", "{body}");
        assert!(body["message"].as_str().unwrap().contains("8192"), "{body}");
    }
    // Over a kept-alive connection, after a first request that was fine.
    let query = "a".repeat(20_000);
    let first = t.get("/healthz", "").send().await.unwrap();
    assert_eq!(first.status(), 200);
    let second = t
        .get(&format!("/api/v1/projects?q={query}"), "")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(second).await;
    assert_eq!((status, code.as_str()), (414, "uri_too_long"));
    // A URL under the limit is served as before.
    let fine = t
        .get(&format!("/healthz?q={}", "a".repeat(8_000)), "")
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    t.shutdown().await;
}
