//! Reliability under concurrent writers: eight clients at once log batches, move aliases,
//! change stages and register versions, on the embedded default (SQLite, local files) and on
//! PostgreSQL + S3. No request may fail with a server error, and every write the server
//! acknowledged must be readable afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lathe_tests::{Backend, TestPlatform};
use serde_json::{Value, json};

const PROJECT: &str = "rel";
const CLIENTS: usize = 8;
const ROUNDS: usize = 6;

fn api(path: &str) -> String {
    format!("/api/v1/projects/{PROJECT}{path}")
}

/// Sends `request`; a 2xx answer's JSON (or null for an empty body), else the failure as text.
async fn send(request: reqwest::RequestBuilder, what: &str) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("{what}: {status} {text}"));
    }
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{what}: not JSON ({e}): {text}"))?
    })
}

/// The step of a run's latest value of metric `key`.
fn latest_step(run: &Value, key: &str) -> Option<u64> {
    run["latest_metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)?["step"]
        .as_u64()
}

/// What one client's requests were acknowledged for.
#[derive(Default)]
struct Acknowledged {
    run_id: String,
    /// Rounds whose log-batch to the client's own run and to the shared run were acknowledged.
    batches: Vec<usize>,
    shared_batches: Vec<usize>,
    /// Reasons of acknowledged alias moves and stage transitions.
    alias_moves: Vec<String>,
    transitions: Vec<String>,
    registered: Vec<u64>,
}

async fn client(
    t: Arc<TestPlatform>,
    token: String,
    i: usize,
    shared_run: String,
    experiment: String,
) -> (Acknowledged, Vec<String>) {
    let mut failures = Vec::new();
    let mut done = Acknowledged::default();
    let run = match send(
        t.post(
            &api("/runs"),
            &token,
            &json!({ "experiment_id": experiment, "name": format!("client-{i}") }),
        ),
        "create run",
    )
    .await
    {
        Ok(run) => run,
        Err(failure) => return (done, vec![failure]),
    };
    done.run_id = run["run_id"].as_str().expect("run_id").to_owned();
    for round in 0..ROUNDS {
        let own = json!({
            "params": [{ "key": format!("p{round}"), "value": format!("v{i}-{round}") }],
            "tags": [{ "key": format!("t{round}"), "value": "x" }, { "key": "last", "value": round.to_string() }],
            "metrics": [{ "key": "loss", "value": 1.0 / (round as f64 + 1.0), "step": round }],
        });
        match send(
            t.post(&api(&format!("/runs/{}/log-batch", done.run_id)), &token, &own),
            "log-batch",
        )
        .await
        {
            Ok(_) => done.batches.push(round),
            Err(failure) => failures.push(failure),
        }
        // Every client also writes to one shared run: params, tags and metrics of its own keys,
        // and one param key all of them log with the same value.
        let shared = json!({
            "params": [{ "key": format!("c{i}r{round}"), "value": "1" }, { "key": "common", "value": "same" }],
            "tags": [{ "key": format!("c{i}"), "value": round.to_string() }],
            "metrics": [{ "key": format!("c{i}"), "value": round as f64, "step": round }],
        });
        match send(
            t.post(&api(&format!("/runs/{shared_run}/log-batch")), &token, &shared),
            "shared log-batch",
        )
        .await
        {
            Ok(_) => done.shared_batches.push(round),
            Err(failure) => failures.push(failure),
        }
        let reason = format!("c{i}r{round}");
        let version = 1 + (i + round) % 2;
        let alias = format!("a{}", i % 3);
        match send(
            t.put(
                &api(&format!("/models/m/aliases/{alias}")),
                &token,
                &json!({ "version": version, "reason": reason }),
            ),
            "alias move",
        )
        .await
        {
            Ok(_) => done.alias_moves.push(reason.clone()),
            Err(failure) => failures.push(failure),
        }
        let stage = if (i + round).is_multiple_of(2) {
            "Staging"
        } else {
            "None"
        };
        match send(
            t.post(
                &api(&format!("/models/m/versions/{version}/stage")),
                &token,
                &json!({ "stage": stage, "archive_existing": true, "reason": reason }),
            ),
            "stage transition",
        )
        .await
        {
            Ok(_) => done.transitions.push(reason.clone()),
            Err(failure) => failures.push(failure),
        }
        if round.is_multiple_of(2) {
            match send(
                t.post(
                    &api("/models/m/versions"),
                    &token,
                    &json!({ "run_id": shared_run, "artifact_path": "model" }),
                ),
                "register",
            )
            .await
            {
                Ok(version) => done
                    .registered
                    .push(version["version"].as_u64().expect("version number")),
                Err(failure) => failures.push(failure),
            }
        }
    }
    (done, failures)
}

async fn concurrent_writers_lose_nothing(backend: Backend) {
    let Some((t, _pg)) = TestPlatform::on(backend).await else {
        return;
    };
    let t = Arc::new(t);
    t.create_project(PROJECT).await;
    let token = t.admin();
    let experiment = send(
        t.post(&api("/experiments"), &token, &json!({ "name": "load" })),
        "experiment",
    )
    .await
    .unwrap();
    let experiment = experiment["experiment_id"].as_str().unwrap().to_owned();
    let shared = send(
        t.post(&api("/runs"), &token, &json!({ "experiment_id": experiment })),
        "run",
    )
    .await
    .unwrap();
    let shared_run = shared["run_id"].as_str().unwrap().to_owned();
    send(
        t.http
            .put(format!(
                "{}{}",
                t.url,
                api(&format!("/runs/{shared_run}/artifacts/model/model.bin"))
            ))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .body(b"weights".to_vec()),
        "upload",
    )
    .await
    .unwrap();
    send(t.post(&api("/models"), &token, &json!({ "name": "m" })), "model")
        .await
        .unwrap();
    for _ in 0..2 {
        send(
            t.post(
                &api("/models/m/versions"),
                &token,
                &json!({ "run_id": shared_run, "artifact_path": "model" }),
            ),
            "register",
        )
        .await
        .unwrap();
    }

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(client(
                t.clone(),
                token.clone(),
                i,
                shared_run.clone(),
                experiment.clone(),
            ))
        })
        .collect();
    let mut acknowledged = Vec::new();
    let mut failures = Vec::new();
    for handle in clients {
        let (done, failed) = handle.await.expect("client task");
        acknowledged.push(done);
        failures.extend(failed);
    }
    // Every write here is valid: any refusal, and above all any 5xx, is a defect.
    assert!(
        failures.is_empty(),
        "{} failed requests under concurrency: {failures:#?}",
        failures.len()
    );

    // Every acknowledged batch is there.
    let shared = send(t.get(&api(&format!("/runs/{shared_run}")), &token), "shared run")
        .await
        .unwrap();
    for (i, done) in acknowledged.iter().enumerate() {
        let run = send(t.get(&api(&format!("/runs/{}", done.run_id)), &token), "run")
            .await
            .unwrap();
        let params = &run["params"];
        for round in &done.batches {
            assert_eq!(
                params[format!("p{round}")],
                format!("v{i}-{round}"),
                "client {i}: {run}"
            );
            assert_eq!(run["tags"][format!("t{round}")], "x", "client {i}: {run}");
        }
        assert_eq!(run["tags"]["last"], (ROUNDS - 1).to_string(), "{run}");
        assert_eq!(latest_step(&run, "loss"), Some(ROUNDS as u64 - 1), "{run}");
        for round in &done.shared_batches {
            assert_eq!(shared["params"][format!("c{i}r{round}")], "1", "{shared}");
        }
        assert_eq!(
            latest_step(&shared, &format!("c{i}")),
            Some(ROUNDS as u64 - 1),
            "{shared}"
        );
        let history = send(
            t.get(&api(&format!("/runs/{shared_run}/metrics/c{i}/history")), &token),
            "history",
        )
        .await
        .unwrap();
        let steps: BTreeSet<u64> = history["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, (0..ROUNDS as u64).collect(), "client {i}: {history}");
    }
    assert_eq!(shared["params"]["common"], "same");

    // Every registration got its own number, and the versions are exactly those.
    let mut numbers: Vec<u64> = acknowledged
        .iter()
        .flat_map(|d| d.registered.iter().copied())
        .collect();
    numbers.extend([1, 2]);
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "version numbers handed out");
    let versions = send(
        t.get(&api("/models/m/versions?page_size=1000"), &token),
        "versions",
    )
    .await
    .unwrap();
    let listed: BTreeSet<u64> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, expected.iter().copied().collect(), "{versions}");

    // Every acknowledged alias move and stage transition is in the audit log, once; at most one
    // version is in Staging (each transition archived the others).
    let audit = send(t.get(&api("/models/m/audit?page_size=1000"), &token), "audit")
        .await
        .unwrap();
    assert_eq!(audit["next_page_token"], "", "one page holds the log");
    let mut logged: BTreeMap<(String, String), usize> = BTreeMap::new();
    for event in audit["events"].as_array().expect("events") {
        let key = (
            event["action"].as_str().unwrap().to_owned(),
            event["reason"].as_str().unwrap().to_owned(),
        );
        *logged.entry(key).or_default() += 1;
    }
    for done in &acknowledged {
        for reason in &done.alias_moves {
            assert_eq!(
                logged.get(&("alias_set".to_owned(), reason.clone())),
                Some(&1),
                "alias move {reason}"
            );
        }
        for reason in &done.transitions {
            assert_eq!(
                logged.get(&("stage_transition".to_owned(), reason.clone())),
                Some(&1),
                "transition {reason}"
            );
        }
    }
    let staging = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["stage"] == "Staging")
        .count();
    assert!(staging <= 1, "{staging} versions in Staging: {versions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing_on_sqlite() {
    concurrent_writers_lose_nothing(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing_on_postgres() {
    concurrent_writers_lose_nothing(Backend::Production).await;
}
