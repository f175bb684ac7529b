//! `lathe monitors apply|list|show|reference|log|check|windows|report|alerts`: drift monitors
//! on a running Lathe, as text for people or the API's JSON with `--json`; and
//! `lathe monitor compare`, the drift between two local Parquet files, computed here with the
//! monitor's own statistics (no server).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Api, BoxError, print, segment};

const PARQUET: &str = "application/vnd.apache.parquet";
const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Subcommand)]
pub enum MonitorsCommand {
    /// Create or replace the monitors of a YAML file: `monitors:` a list of monitors, each
    /// with its `name` and the fields of `PUT …/monitors/{name}` (checks, window_seconds…).
    Apply { file: PathBuf },
    /// List the project's monitors.
    List,
    /// Show a monitor with its checks.
    Show { name: String },
    /// Set a monitor's reference sample: a dataset on the object store, a feature view over
    /// [start, end), or a local Parquet file uploaded with the request.
    Reference {
        name: String,
        /// Object store path of a Parquet file or directory.
        #[arg(long, conflicts_with_all = ["feature_view", "file"])]
        dataset: Option<String>,
        /// Feature view whose rows with event timestamps in [--start, --end) are the sample.
        #[arg(long, requires_all = ["start", "end"], conflicts_with = "file")]
        feature_view: Option<String>,
        /// RFC 3339.
        #[arg(long, requires = "feature_view")]
        start: Option<String>,
        /// RFC 3339.
        #[arg(long, requires = "feature_view")]
        end: Option<String>,
        /// A local Parquet file.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Log a batch of rows: a `.json` file (an array of row objects) or an Arrow IPC stream
    /// (`.arrow`, `.arrows`, `.ipc`).
    Log { name: String, file: PathBuf },
    /// Check a window now (the latest window with rows when --window is absent) and print its
    /// drift. Exits 0 whether or not the window drifts.
    Check {
        name: String,
        /// Any instant in the window (RFC 3339).
        #[arg(long)]
        window: Option<String>,
    },
    /// The monitor's checked windows, oldest first.
    Windows {
        name: String,
        /// Only windows starting at or after this time (RFC 3339).
        #[arg(long)]
        start: Option<String>,
        /// Only windows starting before this time (RFC 3339).
        #[arg(long)]
        end: Option<String>,
        /// How many windows to show.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// A checked window's drift report; with --html, the report page saved to a file.
    Report {
        name: String,
        /// Any instant in the window (RFC 3339).
        #[arg(long)]
        window: String,
        /// Save the HTML report here instead of printing the report.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Alerts, newest first.
    Alerts {
        /// Only this monitor's alerts.
        #[arg(long)]
        monitor: Option<String>,
        /// How many alerts to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

pub async fn monitors(api: &Api, command: MonitorsCommand, as_json: bool) -> Result<(), BoxError> {
    let (answer, text) = match command {
        MonitorsCommand::Apply { file } => {
            let mut applied = Vec::new();
            for (name, body) in monitors_of(&file)? {
                applied.push(api.put(&format!("/monitors/{}", segment(&name)), body).await?);
            }
            let text = applied
                .iter()
                .map(|monitor| format!("monitor {} v{}", text_of(monitor, "name"), monitor["version"]))
                .collect::<Vec<_>>()
                .join("\n");
            (Value::Array(applied), text)
        }
        MonitorsCommand::List => {
            let answer = api.every_page("/monitors", "monitors").await?;
            let text = render_monitors(&answer);
            (answer, text)
        }
        MonitorsCommand::Show { name } => {
            let answer = api.get(&format!("/monitors/{}", segment(&name))).await?;
            let text = render_monitor(&answer);
            (answer, text)
        }
        MonitorsCommand::Reference {
            name,
            dataset,
            feature_view,
            start,
            end,
            file,
        } => {
            let path = format!("/monitors/{}/reference", segment(&name));
            let request = match (dataset, feature_view, file) {
                (Some(dataset), None, None) => api
                    .request(reqwest::Method::PUT, &path)
                    .json(&json!({ "dataset_path": dataset })),
                (None, Some(view), None) => api
                    .request(reqwest::Method::PUT, &path)
                    .json(&json!({ "feature_view": { "name": view, "start": start, "end": end } })),
                (None, None, Some(file)) => api
                    .request(reqwest::Method::PUT, &path)
                    .header(reqwest::header::CONTENT_TYPE, PARQUET)
                    .body(read(&file)?),
                _ => {
                    return Err(
                        "give one of --dataset, --feature-view (with --start and --end) or --file".into(),
                    );
                }
            };
            let answer = api.send(request).await?;
            let text = format!(
                "reference of {name}: {} rows, {} columns ({})",
                answer["rows"],
                answer["columns"].as_array().map_or(0, Vec::len),
                text_of(&answer, "source")
            );
            (answer, text)
        }
        MonitorsCommand::Log { name, file } => {
            let content_type = match file.extension().and_then(|e| e.to_str()) {
                Some("json") => "application/json",
                Some("arrow" | "arrows" | "ipc") => ARROW_STREAM,
                _ => {
                    return Err(format!(
                        "{}: expected a .json file or an Arrow IPC stream (.arrow)",
                        file.display()
                    )
                    .into());
                }
            };
            let request = api
                .request(
                    reqwest::Method::POST,
                    &format!("/monitors/{}/log", segment(&name)),
                )
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(read(&file)?);
            let answer = api.send(request).await?;
            let windows: Vec<&str> = answer["windows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let text = format!(
                "logged {} rows into windows {}",
                answer["rows"],
                windows.join(", ")
            );
            (answer, text)
        }
        MonitorsCommand::Check { name, window } => {
            let answer = api
                .post(
                    &format!("/monitors/{}/check", segment(&name)),
                    json!({ "window": window }),
                )
                .await?;
            let text = render_result(&answer);
            (answer, text)
        }
        MonitorsCommand::Windows {
            name,
            start,
            end,
            limit,
        } => {
            let mut query = vec![("page_size", limit.to_string())];
            query.extend(start.map(|s| ("start", s)));
            query.extend(end.map(|e| ("end", e)));
            let request = api
                .request(
                    reqwest::Method::GET,
                    &format!("/monitors/{}/windows", segment(&name)),
                )
                .query(&query);
            let answer = api.send(request).await?;
            let text = render_windows(&answer);
            (answer, text)
        }
        MonitorsCommand::Report { name, window, html } => {
            let path = format!("/monitors/{}/windows/{}/report", segment(&name), segment(&window));
            if let Some(file) = html {
                let response = api
                    .request(reqwest::Method::GET, &format!("{path}.html"))
                    .send()
                    .await?;
                let page = Api::successful(response).await?.text().await?;
                write(&file, page.as_bytes())?;
                println!("report saved to {}", file.display());
                return Ok(());
            }
            let answer = api.get(&path).await?;
            let text = render_result(&answer["result"]);
            (answer, text)
        }
        MonitorsCommand::Alerts { monitor, limit } => {
            let mut query = vec![("page_size", limit.to_string())];
            query.extend(monitor.map(|m| ("monitor", m)));
            let answer = api
                .send(api.request(reqwest::Method::GET, "/alerts").query(&query))
                .await?;
            let text = render_alerts(&answer);
            (answer, text)
        }
    };
    if as_json {
        print(&answer)
    } else {
        println!("{text}");
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// The drift between two local Parquet files, computed here (no server): one line per
    /// column and the dataset's verdict, or the report as JSON (--json) or an HTML page
    /// (--html). Without --column, every column the files share, with the default methods
    /// and thresholds. Exits 0 whether or not the data drifts (1 on an error).
    Compare {
        /// The reference sample (Parquet).
        #[arg(long)]
        reference: PathBuf,
        /// The current sample (Parquet).
        #[arg(long)]
        current: PathBuf,
        /// A column to check; repeatable.
        #[arg(long = "column")]
        columns: Vec<String>,
        /// psi, kl_divergence, js_distance, wasserstein, ks, chi_square, z_test or hellinger:
        /// one for every --column, or one per --column in their order; the default by the
        /// column's kind and the reference's size when absent.
        #[arg(long = "method")]
        methods: Vec<String>,
        /// Drift threshold: one for every --column, or one per --column in their order; the
        /// method's default when absent (0.1 for distances, 0.05 for p-values).
        #[arg(long = "threshold")]
        thresholds: Vec<f64>,
        /// Share of drifted columns at which the dataset drifts (default 0.5).
        #[arg(long)]
        drift_share: Option<f64>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also save the report as an HTML page.
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

pub async fn monitor(command: MonitorCommand) -> Result<(), BoxError> {
    let MonitorCommand::Compare {
        reference,
        current,
        columns,
        methods,
        thresholds,
        drift_share,
        json,
        html,
    } = command;
    let checks = local_checks(columns, &methods, &thresholds)?;
    let title = format!("Drift: {} vs {}", reference.display(), current.display());
    let reference_bytes = read(&reference)?;
    let current_bytes = read(&current)?;
    // Reading Parquet and the statistics are CPU work: off the runtime's threads.
    let report = tokio::task::spawn_blocking(move || {
        let reference = lathe_monitor::data::read_parquet(reference_bytes.into())
            .map_err(|e| format!("{}: {e}", reference.display()))?;
        let current = lathe_monitor::data::read_parquet(current_bytes.into())
            .map_err(|e| format!("{}: {e}", current.display()))?;
        lathe_monitor::compare::compare_frames(&reference, &current, &checks, drift_share)
            .map_err(|e| BoxError::from(e.to_string()))
    })
    .await??;
    if let Some(file) = html {
        write(
            &file,
            lathe_monitor::compare::render_html(&report, &title).as_bytes(),
        )?;
        if !json {
            println!("report saved to {}", file.display());
        }
    }
    let answer = serde_json::to_value(&report)?;
    if json {
        print(&answer)
    } else {
        println!("{}", render_result(&answer["result"]));
        Ok(())
    }
}

/// The checks of `compare`: each `--column` with the one method and threshold given for all,
/// or the one at its position.
fn local_checks(
    columns: Vec<String>,
    methods: &[String],
    thresholds: &[f64],
) -> Result<Vec<lathe_monitor::compare::Check>, BoxError> {
    fn nth<'a, T>(values: &'a [T], at: usize, count: usize, flag: &str) -> Result<Option<&'a T>, BoxError> {
        match values.len() {
            0 => Ok(None),
            1 => Ok(values.first()),
            n if n == count => Ok(values.get(at)),
            n => {
                Err(format!("{n} {flag} for {count} --column: give one for all, or one per --column").into())
            }
        }
    }
    if columns.is_empty() && !(methods.is_empty() && thresholds.is_empty()) {
        return Err("--method and --threshold apply to --column: name the columns to check".into());
    }
    let count = columns.len();
    columns
        .into_iter()
        .enumerate()
        .map(|(at, column)| {
            let method = nth(methods, at, count, "--method")?
                .map(|name| {
                    lathe_monitor::compare::parse_method(name).ok_or_else(|| {
                        format!(
                            "--method: unknown method '{name}': expected psi, kl_divergence, js_distance, \
                             wasserstein, ks, chi_square, z_test or hellinger"
                        )
                    })
                })
                .transpose()?;
            let threshold = nth(thresholds, at, count, "--threshold")?.copied();
            Ok(lathe_monitor::compare::Check {
                column,
                method,
                threshold,
            })
        })
        .collect()
}

/// The monitors of an `apply` file, each as its name and the body of its `PUT`.
fn monitors_of(file: &Path) -> Result<Vec<(String, Value)>, BoxError> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let document: Value = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let Some(monitors) = document.get("monitors").and_then(Value::as_array) else {
        return Err(format!("{}: expected `monitors:` with a list of monitors", file.display()).into());
    };
    monitors
        .iter()
        .enumerate()
        .map(|(at, monitor)| {
            let mut body = monitor.clone();
            let name = body
                .as_object_mut()
                .and_then(|fields| fields.remove("name"))
                .and_then(|name| name.as_str().map(str::to_owned))
                .ok_or_else(|| format!("{}: monitors[{at}] has no name", file.display()))?;
            Ok((name, body))
        })
        .collect()
}

fn read(file: &Path) -> Result<Vec<u8>, BoxError> {
    std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()).into())
}

fn write(file: &Path, content: &[u8]) -> Result<(), BoxError> {
    std::fs::write(file, content).map_err(|e| format!("{}: {e}", file.display()).into())
}

fn render_monitors(answer: &Value) -> String {
    let monitors = answer["monitors"].as_array().cloned().unwrap_or_default();
    if monitors.is_empty() {
        return "no monitors".to_owned();
    }
    monitors
        .iter()
        .map(|m| {
            format!(
                "{:<24} v{:<4} {} checks, {} s windows{}{}",
                text_of(m, "name"),
                m["version"],
                m["checks"].as_array().map_or(0, Vec::len),
                m["window_seconds"],
                if text_of(m, "model").is_empty() {
                    String::new()
                } else {
                    format!(", model {}", text_of(m, "model"))
                },
                if m["paused"].as_bool() == Some(true) {
                    ", paused"
                } else {
                    ""
                },
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_monitor(m: &Value) -> String {
    let mut lines = vec![
        format!("monitor {} v{}", text_of(m, "name"), m["version"]),
        format!("  description: {}", or_dash(text_of(m, "description"))),
        format!(
            "  model: {} ({})",
            or_dash(text_of(m, "model")),
            text_of(m, "task")
        ),
        format!(
            "  window: {} s, checked {} s after it ends{}",
            m["window_seconds"],
            m["lateness_seconds"],
            if m["paused"].as_bool() == Some(true) {
                " (paused)"
            } else {
                ""
            }
        ),
        format!("  retrain pipeline: {}", or_dash(text_of(m, "retrain_pipeline"))),
        format!("  webhook: {}", or_dash(text_of(&m["webhook"], "url"))),
        "  checks:".to_owned(),
    ];
    for check in m["checks"].as_array().into_iter().flatten() {
        lines.push(format!(
            "    {:<24} {:<14} threshold {}",
            text_of(check, "column"),
            text_of(check, "metric"),
            match check["threshold"].as_f64() {
                Some(t) if t != 0.0 => t.to_string(),
                _ => "default".to_owned(),
            }
        ));
    }
    lines.join("\n")
}

/// A checked window or a comparison: one line per column, then the dataset's verdict.
pub fn render_result(result: &Value) -> String {
    let mut lines = Vec::new();
    if let (Some(start), Some(end)) = (result["window_start"].as_str(), result["window_end"].as_str()) {
        lines.push(format!("window {start} .. {end}: {} rows", result["rows"]));
    }
    lines.push(format!(
        "{:<24} {:<14} {:>12} {:>10}  {:<6} missing (reference / current)",
        "column", "method", "statistic", "threshold", "drift"
    ));
    for column in result["columns"].as_array().into_iter().flatten() {
        let statistic = column["statistic"]
            .as_f64()
            .map_or_else(|| "-".to_owned(), number);
        let mut line = format!(
            "{:<24} {:<14} {:>12} {:>10}  {:<6} {:.1}% / {:.1}%",
            text_of(column, "column"),
            text_of(column, "method"),
            statistic,
            column["threshold"].as_f64().unwrap_or_default(),
            if column["drifted"].as_bool() == Some(true) {
                "DRIFT"
            } else {
                "ok"
            },
            100.0 * column["missing_share_reference"].as_f64().unwrap_or_default(),
            100.0 * column["missing_share_current"].as_f64().unwrap_or_default(),
        );
        if !text_of(column, "note").is_empty() {
            line.push_str(&format!("  ({})", text_of(column, "note")));
        }
        lines.push(line);
    }
    let total = result["columns"].as_array().map_or(0, Vec::len);
    lines.push(format!(
        "dataset: {} of {total} columns drifted ({:.0}%, threshold {:.0}%): {}",
        result["drifted_columns"],
        100.0 * result["drifted_share"].as_f64().unwrap_or_default(),
        100.0 * result["share_threshold"].as_f64().unwrap_or_default(),
        if result["drifted"].as_bool() == Some(true) {
            "DRIFT"
        } else {
            "no drift"
        }
    ));
    if !text_of(result, "alert_id").is_empty() {
        lines.push(format!("alert {}", text_of(result, "alert_id")));
    }
    lines.join("\n")
}

/// A statistic with six decimals, or three significant digits when it is smaller than that
/// shows (a p-value of 1e-12 is not 0).
fn number(value: f64) -> String {
    if value != 0.0 && value.abs() < 1e-4 {
        format!("{value:.3e}")
    } else {
        format!("{value:.6}")
    }
}

fn render_windows(answer: &Value) -> String {
    let windows = answer["windows"].as_array().cloned().unwrap_or_default();
    if windows.is_empty() {
        return "no checked windows".to_owned();
    }
    windows
        .iter()
        .map(|w| {
            format!(
                "{}  {:>8} rows  {}/{} columns drifted  {}",
                text_of(w, "window_start"),
                w["rows"],
                w["drifted_columns"],
                w["columns"].as_array().map_or(0, Vec::len),
                if w["drifted"].as_bool() == Some(true) {
                    "DRIFT"
                } else {
                    "ok"
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_alerts(answer: &Value) -> String {
    let alerts = answer["alerts"].as_array().cloned().unwrap_or_default();
    if alerts.is_empty() {
        return "no alerts".to_owned();
    }
    alerts
        .iter()
        .map(|a| {
            let columns: Vec<&str> = a["drifted_columns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "{}  {}  window {}  drifted: {}  webhook {}  {}",
                text_of(a, "create_time"),
                text_of(a, "monitor"),
                text_of(a, "window_start"),
                columns.join(", "),
                text_of(a, "webhook"),
                text_of(a, "message")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn text_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apply_file_names_each_monitor_and_keeps_its_fields() {
        let dir = std::env::temp_dir().join(format!("lathe-monitors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("monitors.yaml");
        std::fs::write(
            &file,
            "monitors:\n  - name: churn\n    window_seconds: 3600\n    checks:\n      - {column: tenure, metric: psi}\n",
        )
        .unwrap();
        let monitors = monitors_of(&file).unwrap();
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].0, "churn");
        assert_eq!(
            monitors[0].1,
            json!({"window_seconds": 3600, "checks": [{"column": "tenure", "metric": "psi"}]})
        );
        std::fs::write(&file, "monitors:\n  - window_seconds: 60\n").unwrap();
        assert!(
            monitors_of(&file)
                .unwrap_err()
                .to_string()
                .contains("monitors[0] has no name")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_result_prints_a_line_per_column_and_the_verdict() {
        let text = render_result(&json!({
            "columns": [
                {"column": "x", "method": "psi", "statistic": 0.25, "threshold": 0.1, "drifted": true,
                 "missing_share_reference": 0.0, "missing_share_current": 0.5, "note": ""},
                {"column": "y", "method": "ks", "statistic": null, "threshold": 0.05, "drifted": false,
                 "missing_share_reference": 1.0, "missing_share_current": 1.0, "note": "all values missing"},
            ],
            "drifted_columns": 1, "drifted_share": 0.5, "share_threshold": 0.5, "drifted": true,
        }));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("x ") && lines[1].contains("0.250000") && lines[1].contains("DRIFT"));
        assert!(lines[1].contains("0.0% / 50.0%"), "{}", lines[1]);
        assert!(
            lines[2].contains(" - ") && lines[2].contains("all values missing"),
            "{}",
            lines[2]
        );
        assert_eq!(
            (number(0.0), number(2.5e-12), number(0.05)),
            ("0.000000".into(), "2.500e-12".into(), "0.050000".into())
        );
        assert!(lines[3].starts_with("dataset: 1 of 2 columns drifted (50%") && lines[3].ends_with("DRIFT"));
    }
}
