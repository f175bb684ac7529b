//! Every drift statistic against numpy/scipy (and Evidently's use of them), from the
//! fixture `scripts/fixtures/drift.py` writes: relative 1e-9, absolute 1e-12 near zero.

use lathe_monitor::drift::{Column, ColumnOptions, Method, column_drift, kolmogorov};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/drift.json");
const RELATIVE: f64 = 1e-9;
const ABSOLUTE: f64 = 1e-12;

/// The 64-bit LCG of the fixture script; `u = (state >> 11) * 2^-53`.
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 * 2.0_f64.powi(-53)
    }
}

fn number(spec: &Value, key: &str) -> f64 {
    spec[key].as_f64().unwrap_or_else(|| panic!("{key} in {spec}"))
}

fn generate(spec: &Value) -> Vec<f64> {
    let mut lcg = Lcg(spec["seed"].as_u64().expect("seed"));
    let n = spec["n"].as_u64().expect("n") as usize;
    let loc = number(spec, "loc");
    match spec["generator"].as_str() {
        Some("irwin_hall") => {
            let scale = number(spec, "scale");
            (0..n)
                .map(|_| loc + scale * (lcg.uniform() + lcg.uniform() + lcg.uniform() - 1.5))
                .collect()
        }
        Some("discrete") => {
            let k = number(spec, "k");
            (0..n).map(|_| loc + (lcg.uniform() * k).floor()).collect()
        }
        other => panic!("unknown generator {other:?}"),
    }
}

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "any other JSON value in a numeric sample is a broken fixture"
)]
fn numeric(sample: &Value) -> Vec<f64> {
    if sample.is_object() {
        return generate(sample);
    }
    let values = sample
        .as_array()
        .expect("a numeric sample is a list or a generator");
    values
        .iter()
        .map(|v| match v {
            Value::Null => f64::NAN,
            Value::String(s) if s == "inf" => f64::INFINITY,
            Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            Value::Number(n) => n.as_f64().expect("finite"),
            other => panic!("unexpected numeric value {other}"),
        })
        .collect()
}

fn categorical(sample: &Value) -> Vec<Option<&str>> {
    sample
        .as_array()
        .expect("a list")
        .iter()
        .map(Value::as_str)
        .collect()
}

fn close(actual: f64, expected: f64) -> bool {
    let difference = (actual - expected).abs();
    difference <= ABSOLUTE || difference <= RELATIVE * expected.abs()
}

#[test]
fn statistics_match_scipy() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (ref_numeric, cur_numeric, ref_categorical, cur_categorical);
        let (reference, current) = if case["kind"] == "numeric" {
            ref_numeric = numeric(&case["reference"]);
            cur_numeric = numeric(&case["current"]);
            (Column::Numeric(&ref_numeric), Column::Numeric(&cur_numeric))
        } else {
            ref_categorical = categorical(&case["reference"]);
            cur_categorical = categorical(&case["current"]);
            (
                Column::Categorical(&ref_categorical),
                Column::Categorical(&cur_categorical),
            )
        };
        let default = column_drift(reference, current, &ColumnOptions::default());
        if default.method.name() != case["default_method"] {
            failures.push(format!(
                "{name}: default {} != {}",
                default.method.name(),
                case["default_method"]
            ));
        }
        let statistics = case["statistics"].as_object().expect("statistics");
        for (method_name, expected) in statistics {
            let method = Method::from_name(method_name).expect("known method");
            let options = ColumnOptions {
                method: Some(method),
                threshold: None,
            };
            let actual = column_drift(reference, current, &options).statistic;
            // scipy has no value (NaN) for a chi-square over one category.
            let Some(expected) = expected.as_f64() else {
                continue;
            };
            compared += 1;
            match actual {
                Some(actual) if close(actual, expected) => {}
                Some(actual) => failures.push(format!(
                    "{name} {method_name}: {actual:e} != {expected:e} (relative {:e})",
                    (actual - expected).abs() / expected.abs()
                )),
                None => failures.push(format!(
                    "{name} {method_name}: no statistic, expected {expected:e}"
                )),
            }
        }
    }
    assert!(compared > 150, "only {compared} comparisons");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn kolmogorov_distribution_matches_scipy_kstwo() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let rows = fixture["kolmogorov_sf"].as_array().expect("kolmogorov_sf");
    assert!(rows.len() > 200);
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let (n, x, expected) = (row[0].as_u64()?, row[1].as_f64()?, row[2].as_f64()?);
            let actual = kolmogorov::kolmogorov_sf(n, x);
            (!close(actual, expected)).then(|| format!("n={n} x={x:e}: {actual:e} != {expected:e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ks_two_sample_matches_scipy_on_every_branch() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let pairs = fixture["ks_pairs"].as_array().expect("ks_pairs");
    let mut failures = Vec::new();
    for pair in pairs {
        let mut reference = generate(&pair["reference"]);
        let mut current = generate(&pair["current"]);
        reference.sort_by(f64::total_cmp);
        current.sort_by(f64::total_cmp);
        let result = kolmogorov::ks_two_sample(&reference, &current);
        let (statistic, p_value) = (number(pair, "statistic"), number(pair, "p_value"));
        if !close(result.statistic, statistic) || !close(result.p_value, p_value) {
            failures.push(format!(
                "n1={} n2={}: D {} vs {statistic}, p {} vs {p_value}",
                reference.len(),
                current.len(),
                result.statistic,
                result.p_value
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
