//! Model-quality metrics against scikit-learn, from the fixture `scripts/fixtures/quality.py`
//! writes: relative 1e-12, and an unset metric exactly where scikit-learn's is undefined.

use lathe_contract::monitor::v1::Performance;
use lathe_monitor::quality::{self, Value};

const FIXTURE: &str = include_str!("fixtures/quality.json");
const RELATIVE: f64 = 1e-12;

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "any other JSON value in a sample is a broken fixture"
)]
fn value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Number(f64::NAN),
        serde_json::Value::Number(number) => Value::Number(number.as_f64().expect("a double")),
        serde_json::Value::String(text) => Value::Text(text.clone()),
        serde_json::Value::Object(object) => Value::Number(number(&object["number"])),
        other => panic!("unexpected sample value {other}"),
    }
}

/// A number written as text, so that it reads back exactly.
fn number(json: &serde_json::Value) -> f64 {
    let text = json
        .as_str()
        .unwrap_or_else(|| panic!("{json} is not a number as text"));
    text.parse().unwrap_or_else(|_| panic!("{text} is not a number"))
}

fn list(case: &serde_json::Value, key: &str) -> Vec<serde_json::Value> {
    case[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {}", case["name"]))
        .clone()
}

fn check(name: &str, metric: &str, actual: Option<f64>, expected: &serde_json::Value) -> Result<(), String> {
    match (actual, expected.as_f64()) {
        (None, None) => Ok(()),
        (Some(actual), Some(expected)) if (actual - expected).abs() <= RELATIVE * expected.abs() => Ok(()),
        (actual, expected) => Err(format!(
            "{name}: {metric} is {actual:?}, scikit-learn says {expected:?}"
        )),
    }
}

fn check_performance(name: &str, performance: &Performance, expected: &serde_json::Value) -> Vec<String> {
    let mut failures = Vec::new();
    if Some(performance.labelled_rows) != expected["labelled_rows"].as_u64() {
        failures.push(format!(
            "{name}: {} labelled rows, expected {}",
            performance.labelled_rows, expected["labelled_rows"]
        ));
    }
    let metrics = [
        ("accuracy", performance.accuracy),
        ("precision", performance.precision),
        ("recall", performance.recall),
        ("f1", performance.f1),
        ("roc_auc", performance.roc_auc),
        ("mae", performance.mae),
        ("rmse", performance.rmse),
    ];
    for (metric, actual) in metrics {
        if let Err(failure) = check(name, metric, actual, &expected[metric]) {
            failures.push(failure);
        }
    }
    failures
}

#[test]
fn metrics_match_scikit_learn() {
    let fixture: serde_json::Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "the fixture lost its cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let predictions = list(case, "predictions");
        let labels = list(case, "labels");
        let performance = match case["kind"].as_str() {
            Some("classification") => {
                let pairs: Vec<(Value, Value)> = predictions
                    .iter()
                    .map(value)
                    .zip(labels.iter().map(value))
                    .collect();
                quality::classification(&pairs)
            }
            Some("regression") => {
                let pairs: Vec<(f64, f64)> = predictions
                    .iter()
                    .map(number)
                    .zip(labels.iter().map(number))
                    .collect();
                quality::regression(&pairs)
            }
            other => panic!("unknown kind {other:?}"),
        };
        failures.extend(check_performance(name, &performance, &case["expected"]));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
