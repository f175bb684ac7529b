//! `lathe monitor compare` as a user runs it on two local Parquet files, with no server: a
//! line per column and the dataset's verdict, the report as JSON or an HTML page, chosen
//! methods and thresholds, and the exit status (0 whether or not the data drifts); and
//! `lathe monitors list` against `lathe standalone`, which shows every monitor, past the
//! listing's first page.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

mod common;

use common::{lathe, standalone_with_project, terminate};

/// `rows` rows: `distance` spread over [offset, offset + 100) and `city` cycling through
/// `cities`, written as Parquet to `file`.
fn write_parquet(file: &Path, rows: usize, offset: f64, cities: &[&str]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("distance", DataType::Float64, true),
        Field::new("city", DataType::Utf8, true),
    ]));
    let distance: Vec<f64> = (0..rows).map(|i| offset + (i % 100) as f64).collect();
    let city: Vec<&str> = (0..rows).map(|i| cities[i % cities.len()]).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float64Array::from(distance)),
            Arc::new(StringArray::from(city)),
        ],
    )
    .unwrap();
    let out = std::fs::File::create(file).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(out, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn compare(dir: &Path, args: &[&str]) -> Output {
    lathe(dir)
        .args(["monitor", "compare"])
        .args(args)
        .output()
        .unwrap()
}

fn succeeds(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn fails(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "should fail: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

/// The output line of a column in the text report.
fn line_of<'a>(text: &'a str, column: &str) -> &'a str {
    text.lines()
        .find(|line| line.split_whitespace().next() == Some(column))
        .unwrap_or_else(|| panic!("no line for {column} in:\n{text}"))
}

#[test]
fn compare_reports_drift_between_local_parquet_files() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    let same = dir.path().join("same.parquet");
    let moved = dir.path().join("moved.parquet");
    write_parquet(&reference, 500, 0.0, &["a", "b", "c"]);
    write_parquet(&same, 500, 0.0, &["a", "b", "c"]);
    write_parquet(&moved, 500, 1000.0, &["c"]);
    let (reference, same, moved) = (
        reference.to_str().unwrap(),
        same.to_str().unwrap(),
        moved.to_str().unwrap(),
    );

    // Every shared column with its default; drift still exits 0.
    let text = succeeds(compare(
        dir.path(),
        &["--reference", reference, "--current", moved],
    ));
    assert!(line_of(&text, "distance").contains("DRIFT"), "{text}");
    assert!(line_of(&text, "city").contains("DRIFT"), "{text}");
    let verdict = text.lines().last().unwrap();
    assert!(
        verdict.starts_with("dataset: 2 of 2 columns drifted") && verdict.ends_with("DRIFT"),
        "{text}"
    );
    let text = succeeds(compare(
        dir.path(),
        &["--reference", reference, "--current", same],
    ));
    assert!(line_of(&text, "distance").contains(" ok "), "{text}");
    assert!(text.lines().last().unwrap().ends_with("no drift"), "{text}");

    // Chosen methods and thresholds, one per column, as JSON.
    let json = succeeds(compare(
        dir.path(),
        &[
            "--reference",
            reference,
            "--current",
            moved,
            "--column",
            "distance",
            "--method",
            "psi",
            "--threshold",
            "0.2",
            "--column",
            "city",
            "--method",
            "chi_square",
            "--threshold",
            "0.01",
            "--json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let columns = report["result"]["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 2, "{report}");
    assert_eq!(
        (&columns[0]["column"], &columns[0]["method"]),
        (&"distance".into(), &"psi".into())
    );
    assert_eq!(columns[0]["threshold"], 0.2);
    assert_eq!(columns[1]["method"], "chi_square");
    assert_eq!(columns[1]["threshold"], 0.01);
    assert_eq!(report["result"]["drifted"], true);
    assert!(
        report["distributions"].as_array().is_some_and(|d| d.len() == 2),
        "{report}"
    );

    // The HTML page, self-contained.
    let page = dir.path().join("report.html");
    succeeds(compare(
        dir.path(),
        &[
            "--reference",
            reference,
            "--current",
            moved,
            "--html",
            page.to_str().unwrap(),
        ],
    ));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<html") && html.contains("distance"), "{html}");
    assert!(!html.contains("<script"), "the page runs no script");

    // Refusals name what is wrong.
    let error = fails(compare(
        dir.path(),
        &[
            "--reference",
            reference,
            "--current",
            moved,
            "--column",
            "distance",
            "--method",
            "median",
        ],
    ));
    assert!(error.contains("median"), "{error}");
    let error = fails(compare(
        dir.path(),
        &[
            "--reference",
            reference,
            "--current",
            moved,
            "--column",
            "distance",
            "--column",
            "city",
            "--threshold",
            "0.1",
            "--threshold",
            "0.2",
            "--threshold",
            "0.3",
        ],
    ));
    assert!(error.contains("--threshold"), "{error}");
    let error = fails(compare(
        dir.path(),
        &["--reference", "missing.parquet", "--current", moved],
    ));
    assert!(error.contains("missing.parquet"), "{error}");
}

/// More monitors than the listing's default page of 100: `list` follows the pages and shows
/// each once, as text and as JSON.
#[tokio::test]
async fn list_shows_every_monitor_past_the_first_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, url, admin) = standalone_with_project(d, "churn").await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({"checks": [{"column": "distance"}], "window_seconds": 3600});
    let names: Vec<String> = (0..101).map(|i| format!("trips-{i:03}")).collect();
    for name in &names {
        let put = http
            .put(format!("{url}/api/v1/projects/churn/monitors/{name}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{name}");
    }
    let list = |json: bool| {
        let mut command = lathe(d);
        command
            .env("LATHE_URL", &url)
            .env("LATHE_TOKEN", &admin)
            .env("LATHE_PROJECT", "churn")
            .args(["monitors", "list"]);
        if json {
            command.arg("--json");
        }
        succeeds(command.output().unwrap())
    };

    let text = list(false);
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(listed, names, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&list(true)).unwrap();
    let listed: Vec<&str> = answer["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, names);
    assert_eq!(answer["next_page_token"], "");
    terminate(child);
}
