//! The dev stack's Grafana dashboard queries only metrics Lathe exports, and its Prometheus
//! scrapes every service that exports them.
//!
//! A renamed metric or a typo in a panel would otherwise show up only as an empty graph.

use std::collections::{BTreeMap, BTreeSet};

use lathe_tests::TestPlatform;
use serde_json::{Value, json};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const DASHBOARD: &str = include_str!("../../deploy/grafana/dashboards/lathe.json");
const DATASOURCE: &str = include_str!("../../deploy/grafana/provisioning/datasources/prometheus.yaml");
const PROMETHEUS_CONFIG: &str = include_str!("../../deploy/prometheus/prometheus.yml");
const COMPOSE: &str = include_str!("../../docker-compose.yml");

/// The uid the provisioned data source has and every panel names.
const DATASOURCE_UID: &str = "lathe-prometheus";

/// Series Prometheus writes itself for every target; no service exports them.
const WRITTEN_BY_PROMETHEUS: &[&str] = &["up"];

/// PromQL functions, and the `start()`/`end()` of the `@` modifier.
#[rustfmt::skip]
const FUNCTIONS: &[&str] = &[
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "end", "exp", "floor", "histogram_avg", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
    "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh",
    "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "start",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
    "vector", "year",
];

/// Aggregation operators: followed by `(` or by a `by`/`without` list.
#[rustfmt::skip]
const AGGREGATIONS: &[&str] = &[
    "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min",
    "quantile", "stddev", "stdvar", "sum", "topk",
];

/// Keywords followed by a parenthesised list of label names (`group_left` may have none).
const LABEL_LIST_KEYWORDS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Binary operators and modifiers spelled as words.
const WORD_OPERATORS: &[&str] = &["and", "or", "unless", "bool", "offset", "atan2"];

/// The series names (as written, `_bucket` suffix and all) a PromQL expression selects.
///
/// Skips strings, label matchers (`{…}`), ranges and subqueries (`[…]`), label lists after
/// `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, numbers and durations, Grafana
/// variables (`$__rate_interval`, `${project}`) and comments. A word followed by `(` that is
/// no PromQL function is an error, and so is a selector by `__name__`, which this would miss.
fn selected_series(expr: &str) -> Result<BTreeSet<String>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i)?,
            '{' => {
                let end = skip_group(&chars, i, '{', '}')?;
                let matchers: String = chars[i..end].iter().collect();
                if matchers.contains("__name__") {
                    return Err(format!("selects by __name__, which is not checked: {expr}"));
                }
                i = end;
            }
            '[' => i = skip_group(&chars, i, '[', ']')?,
            '#' => {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i = skip_group(&chars, i, '{', '}')?;
                } else {
                    while chars.get(i).is_some_and(|&c| is_name_char(c)) {
                        i += 1;
                    }
                }
            }
            // Numbers and durations: 0.95, 5m, 1h30m, 1e3, 0x1f.
            c if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                while chars
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while chars.get(i).is_some_and(|&c| is_name_char(c)) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while chars.get(next).is_some_and(|c| c.is_whitespace()) {
                    next += 1;
                }
                let opens_call = chars.get(next) == Some(&'(');
                let keyword = word.as_str();
                if LABEL_LIST_KEYWORDS.contains(&keyword) {
                    if opens_call {
                        i = skip_group(&chars, next, '(', ')')?;
                    }
                } else if FUNCTIONS.contains(&keyword)
                    || AGGREGATIONS.contains(&keyword)
                    || WORD_OPERATORS.contains(&keyword)
                    || keyword.eq_ignore_ascii_case("inf")
                    || keyword.eq_ignore_ascii_case("nan")
                {
                    // Not a metric.
                } else if opens_call {
                    return Err(format!("`{word}(` is no PromQL function: {expr}"));
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    Ok(names)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the string literal opening at `start`.
fn skip_string(chars: &[char], start: usize) -> Result<usize, String> {
    let quote = chars[start];
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        if c == '\\' && quote != '`' {
            i += 2;
        } else if c == quote {
            return Ok(i + 1);
        } else {
            i += 1;
        }
    }
    Err(format!("unterminated string at {start}"))
}

/// The index just past the `close` matching the `open` at `start`, skipping strings inside.
fn skip_group(chars: &[char], start: usize, open: char, close: char) -> Result<usize, String> {
    let mut depth = 0_usize;
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(chars, i)?;
            continue;
        }
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Ok(i + 1);
            }
        }
        i += 1;
    }
    Err(format!("unclosed `{open}` at {start}"))
}

/// The PromQL inside a Grafana variable query: `label_values(selector, label)` or
/// `query_result(expr)`; `None` for `label_values(label)`, which names no metric.
fn variable_expr(query: &str) -> Result<Option<&str>, String> {
    let query = query.trim();
    if let Some(args) = query
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return Ok(args.rsplit_once(',').map(|(selector, _label)| selector));
    }
    if let Some(expr) = query
        .strip_prefix("query_result(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return Ok(Some(expr));
    }
    Err(format!("a variable query this test does not read: {query}"))
}

/// Every PromQL expression of the dashboard with where it is (panel title or variable name):
/// panel targets (rows' nested panels included) and query variables.
fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(panels: &[serde_json::Value], out: &mut Vec<(String, String)>) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("untitled").to_owned();
            if panel["type"] == "row" {
                walk(panel["panels"].as_array().map_or(&[][..], Vec::as_slice), out);
                continue;
            }
            let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
            assert!(!targets.is_empty(), "panel {title:?} queries nothing");
            for target in targets {
                let expr = target["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("panel {title:?} has a target without a PromQL expr"));
                out.push((format!("panel {title:?}"), expr.to_owned()));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        dashboard["panels"].as_array().expect("the dashboard has panels"),
        &mut out,
    );
    for variable in dashboard["templating"]["list"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap_or("unnamed");
        // Grafana stores a query variable's query as a string or as {"query": "..."}.
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_else(|| panic!("variable {name:?} has no query"));
        if let Some(expr) = variable_expr(query).unwrap_or_else(|e| panic!("variable {name:?}: {e}")) {
            out.push((format!("variable {name:?}"), expr.to_owned()));
        }
    }
    out
}

/// Every series the dashboard selects, with the places that select it.
fn dashboard_series() -> BTreeMap<String, Vec<String>> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut series: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (place, expr) in dashboard_exprs(&dashboard) {
        for name in selected_series(&expr).unwrap_or_else(|e| panic!("{place}: {e}")) {
            series.entry(name).or_default().push(place.clone());
        }
    }
    series
}

/// Metric families (`# TYPE name kind` lines) of a Prometheus text exposition, with their kind.
fn exposed_families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("# TYPE ")?.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

/// Whether some family provides `series`: a counter or gauge by its name, a histogram by its
/// `_bucket`, `_sum` and `_count` series, a summary by its name, `_sum` and `_count`.
fn is_exported(series: &str, families: &BTreeMap<String, String>) -> bool {
    if families.get(series).is_some_and(|kind| kind != "histogram") {
        return true;
    }
    [
        ("_bucket", &["histogram"][..]),
        ("_sum", &["histogram", "summary"][..]),
        ("_count", &["histogram", "summary"][..]),
    ]
    .iter()
    .any(|(suffix, kinds)| {
        series
            .strip_suffix(suffix)
            .and_then(|family| families.get(family))
            .is_some_and(|kind| kinds.contains(&kind.as_str()))
    })
}

/// The series of `wanted` that neither Lathe nor Prometheus provides, each with where it is used.
fn missing_series(
    wanted: &BTreeMap<String, Vec<String>>,
    families: &BTreeMap<String, String>,
) -> Vec<String> {
    wanted
        .iter()
        .filter(|(name, _)| !WRITTEN_BY_PROMETHEUS.contains(&name.as_str()) && !is_exported(name, families))
        .map(|(name, places)| format!("{name} (in {})", places.join(", ")))
        .collect()
}

/// The monitor's drift metrics: they exist only once a monitor has checked a window.
fn needs_a_drift_check(series: &str) -> bool {
    series.starts_with("lathe_drift_")
}

/// Makes requests that every service counts (a REST call through the gateway, a health check
/// on each gRPC port), then reads the families of the gateway's and every service's /metrics.
async fn exported_families(t: &TestPlatform) -> BTreeMap<String, String> {
    t.create_project("dashboards").await;
    let found = t
        .get("/api/v1/projects/dashboards", &t.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);

    let mut families = BTreeMap::new();
    for (service, addr) in &t.platform.grpc_addrs {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"));
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service} health: {e}"));
        families.extend(scrape(t, &format!("http://{addr}/metrics")).await);
    }
    families.extend(scrape(t, &format!("{}/metrics", t.url)).await);
    families
}

async fn scrape(t: &TestPlatform, url: &str) -> BTreeMap<String, String> {
    let response = t.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    let families = exposed_families(&response.text().await.unwrap());
    assert!(!families.is_empty(), "{url} exports no metric");
    families
}

/// Logs rows that drift from a monitor's reference through the REST API and runs the
/// monitor's check, so that the monitor exports its drift gauges and alert counter.
async fn induce_drift(t: &TestPlatform) {
    let project = "drifting";
    t.create_project(project).await;
    let token = t.admin();
    let api = |path: &str| format!("/api/v1/projects/{project}/monitors/drift{path}");
    let monitor = json!({"checks": [{"column": "x"}], "window_seconds": 3600});
    let sent = t.put(&api(""), &token, &monitor).send().await.unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    let rows = |shift: f64| json!({"rows": (0..200).map(|i| json!({"x": f64::from(i % 50) + shift})).collect::<Vec<_>>()});
    // The reference as uploaded Parquet; the logged rows are shifted far from it.
    let reference = t
        .http
        .put(format!("{}{}", t.url, api("/reference")))
        .bearer_auth(&token)
        .header("content-type", "application/vnd.apache.parquet")
        .body(parquet_of_x(
            &(0..200).map(|i| f64::from(i % 50)).collect::<Vec<_>>(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reference.status(), 200, "{}", reference.text().await.unwrap());
    let logged = t.post(&api("/log"), &token, &rows(100.0)).send().await.unwrap();
    assert_eq!(logged.status(), 200, "{}", logged.text().await.unwrap());
    let checked = t.post(&api("/check"), &token, &json!({})).send().await.unwrap();
    assert_eq!(checked.status(), 200, "{}", checked.text().await.unwrap());
    let result: Value = checked.json().await.unwrap();
    assert_eq!(result["drifted"], true, "{result}");
}

/// A Parquet file of one f64 column `x`.
fn parquet_of_x(values: &[f64]) -> Vec<u8> {
    let column: arrow::array::ArrayRef =
        std::sync::Arc::new(arrow::array::Float64Array::from(values.to_vec()));
    let batch = arrow::array::RecordBatch::try_from_iter([("x", column)]).unwrap();
    lathe_tests::parquet_bytes(&batch)
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let wanted = dashboard_series();
    assert!(
        wanted.keys().any(|name| needs_a_drift_check(name)),
        "the dashboard shows no drift metric"
    );
    assert!(
        wanted.keys().any(|name| !needs_a_drift_check(name)),
        "the dashboard shows no request metric"
    );
    let t = TestPlatform::embedded().await;
    induce_drift(&t).await;
    let families = exported_families(&t).await;
    let missing = missing_series(&wanted, &families);
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics Lathe does not export:\n  {}\nexported: {:?}",
        missing.join("\n  "),
        families.keys().collect::<Vec<_>>()
    );
    t.shutdown().await;
}

/// The compose service and port of each Lathe component, from its `LATHE_<SECTION>__GRPC_ADDR`
/// (or the gateway's `HTTP_ADDR`) in docker-compose.yml: compose services are named after
/// their settings section.
fn compose_target(section: &str) -> Option<String> {
    let key = if section == "gateway" {
        "LATHE_GATEWAY__HTTP_ADDR:".to_owned()
    } else {
        format!("LATHE_{}__GRPC_ADDR:", section.to_uppercase())
    };
    let addr = COMPOSE
        .lines()
        .find_map(|line| line.trim().strip_prefix(key.as_str()))?;
    let port = addr.trim().trim_matches('"').rsplit_once(':')?.1;
    Some(format!("{section}:{port}"))
}

/// `targets: ["host:port", …]` entries of the Prometheus configuration.
fn scrape_targets(config: &str) -> BTreeSet<String> {
    config
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- targets:"))
        .flat_map(|list| {
            list.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|target| target.trim().trim_matches('"').to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn prometheus_scrapes_every_service() {
    let t = TestPlatform::embedded().await;
    let targets = scrape_targets(PROMETHEUS_CONFIG);
    let sections = std::iter::once("gateway").chain(t.platform.grpc_addrs.iter().map(|(name, _)| *name));
    for section in sections {
        let target = compose_target(section)
            .unwrap_or_else(|| panic!("{section} has no address in docker-compose.yml"));
        assert!(
            targets.contains(&target),
            "prometheus.yml does not scrape {target}; it scrapes {targets:?}"
        );
    }
    t.shutdown().await;
}

#[test]
fn panels_use_the_provisioned_datasource() {
    assert!(
        DATASOURCE.contains(&format!("uid: {DATASOURCE_UID}")),
        "{DATASOURCE}"
    );
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut uids = Vec::new();
    fn collect(value: &serde_json::Value, uids: &mut Vec<String>) {
        if let Some(uid) = value["datasource"]["uid"].as_str() {
            uids.push(uid.to_owned());
        }
        for child in value
            .as_object()
            .into_iter()
            .flat_map(|object| object.values())
            .chain(value.as_array().into_iter().flatten())
        {
            collect(child, uids);
        }
    }
    collect(&dashboard, &mut uids);
    assert!(uids.len() > 10, "{uids:?}");
    assert!(uids.iter().all(|uid| uid == DATASOURCE_UID), "{uids:?}");
}

fn series(expr: &str) -> Vec<String> {
    selected_series(expr)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .collect()
}

#[test]
fn reads_series_out_of_promql() {
    assert_eq!(
        series("rate(lathe_http_requests_total[5m])"),
        ["lathe_http_requests_total"]
    );
    assert_eq!(
        series("histogram_quantile(0.95, sum by (le, route) (rate(x_bucket[5m])))"),
        ["x_bucket"]
    );
    assert_eq!(
        series("sum(rate(x_bucket{route=~\"/api/v1/.*\", status!~\"5..|4..\"}[$__rate_interval])) by (le)"),
        ["x_bucket"]
    );
    assert_eq!(
        series("a_total offset 1h / on (job) group_left (instance) b offset -5m"),
        ["a_total", "b"]
    );
    assert_eq!(
        series("sum without (method) (rate(a{job=\"x, y {z}\"}[1h:30s] @ end())) > bool 1e3"),
        ["a"]
    );
    assert_eq!(
        series("count(up{job=~\"$job\"} == 1) or vector(0) unless ${other_var}"),
        ["up"]
    );
    assert_eq!(
        series("sum by (service) (rate(d_sum[5m])) / sum by (service) (rate(d_count[5m]))"),
        ["d_count", "d_sum"]
    );
    assert_eq!(
        series("label_replace(nan_ratio, \"dst\", \"$1\", \"src\", \"(.*)\") * Inf"),
        ["nan_ratio"]
    );
    assert_eq!(
        series("lathe:rule:rate5m # a comment naming not_a_metric"),
        ["lathe:rule:rate5m"]
    );

    assert!(
        selected_series("rat(x[5m])").is_err(),
        "a misspelt function is refused"
    );
    assert!(selected_series("{__name__=~\"lathe_.*\"}").is_err());
    assert!(selected_series("x{a=\"unterminated}").is_err());
}

#[test]
fn reads_variable_queries() {
    assert_eq!(
        variable_expr("label_values(m{project=~\"$project\"}, monitor)"),
        Ok(Some("m{project=~\"$project\"}"))
    );
    assert_eq!(variable_expr("label_values(project)"), Ok(None));
    assert_eq!(variable_expr("query_result(sum(m))"), Ok(Some("sum(m)")));
    assert!(variable_expr("metrics(lathe_.*)").is_err());
}

#[test]
fn reports_series_no_family_provides() {
    let families = exposed_families(
        "# HELP lathe_http_requests_total HTTP requests\n\
         # TYPE lathe_http_requests_total counter\n\
         lathe_http_requests_total{route=\"/\"} 3\n\
         # TYPE lathe_http_request_duration_seconds histogram\n\
         lathe_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n\
         # TYPE lathe_drift_score gauge\n",
    );
    let wanted = |expr: &str| -> BTreeMap<String, Vec<String>> {
        series(expr)
            .into_iter()
            .map(|name| (name, vec!["sample".to_owned()]))
            .collect()
    };
    assert_eq!(
        missing_series(
            &wanted(
                "histogram_quantile(0.9, rate(lathe_http_request_duration_seconds_bucket[5m])) \
                 + rate(lathe_http_requests_total[5m]) + lathe_drift_score + up"
            ),
            &families
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        missing_series(
            &wanted("rate(lathe_http_requests_total[5m]) / rate(lathe_made_up_total[5m])"),
            &families
        ),
        ["lathe_made_up_total (in sample)"]
    );
    // A histogram has no series by its bare name, a counter no `_bucket`.
    assert_eq!(
        missing_series(
            &wanted("lathe_http_request_duration_seconds + lathe_http_requests_total_bucket"),
            &families
        ),
        [
            "lathe_http_request_duration_seconds (in sample)",
            "lathe_http_requests_total_bucket (in sample)"
        ]
    );
}

#[test]
fn reads_every_dashboard_series() {
    let names: Vec<String> = dashboard_series().into_keys().collect();
    assert_eq!(
        names,
        [
            "lathe_drift_alerts_total",
            "lathe_drift_column_detected",
            "lathe_drift_detected",
            "lathe_drift_score",
            "lathe_grpc_server_request_duration_seconds_bucket",
            "lathe_grpc_server_request_duration_seconds_count",
            "lathe_grpc_server_request_duration_seconds_sum",
            "lathe_grpc_server_requests_total",
            "lathe_http_request_duration_seconds_bucket",
            "lathe_http_requests_total",
            "up",
        ]
    );
}
