//! Drift monitoring, run by the monitor service: monitor definitions, their reference sample,
//! logged rows and labels, window checks, the windows as a time series, drift reports (JSON
//! and an HTML page), alerts, and the ad hoc comparison of two datasets. Viewers read and
//! compare, editors change; every route needs the project in the token. Bodies and answers
//! are the contract's messages (`lathe_contract::json`) where their shapes match; the types
//! here say how theirs differ.

use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lathe_common::{Error, ErrorCode, reasons};
use lathe_contract::monitor::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::{ListQuery, MonitorPath, MonitorWindowPath, ProjectPath};
use super::requests::{Change, Target};
use super::{Reply, Services, ok};
use crate::auth::{Editor, ProjectAccess, Viewer};
use crate::error::{ApiError, ErrorBody};

/// The most a logged batch, an uploaded reference or a comparison's body may hold: far above
/// the gateway's JSON limit, as a batch of rows or a Parquet sample is data, not a command.
pub const UPLOAD_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// Content type of a Parquet body.
pub const PARQUET: &str = "application/vnd.apache.parquet";
/// Content type of an Arrow IPC stream body.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// The report page draws with inline styles and data-URL images only: no script, font or
/// request leaves it.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Creates or replaces a monitor (editor).
///
/// Each check names a logged column (a feature or the prediction); `metric` omitted (or `default`) picks the statistic by the column's kind and
/// the reference's size (Evidently's rule): at most 1,000 reference rows, `ks` for numeric
/// columns (`chi_square` with at most 5 distinct values, `z_test` with at most 2),
/// `chi_square` for categorical ones (`z_test` when binary); more rows, normalised
/// `wasserstein` for numeric (`js_distance` with at most 5 distinct values), `js_distance` for
/// categorical. `threshold` 0 (or omitted) is the method's default: 0.1 for distances (drift
/// when the distance is at least this), 0.05 for p-values (drift when the p-value is below
/// this). The window's dataset drifts, and an alert is raised, when the share of drifted
/// columns reaches `drift_share` (0: 0.5).
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    request_body = pb::PutMonitorRequest,
    responses(
        (status = 200, body = pb::Monitor),
        (status = 400, body = ErrorBody, description = "A field is invalid; the message names it"),
        (status = 404, body = ErrorBody, description = "No such project"),
    ),
)]
#[put("/{monitor}")]
pub async fn put_monitor(change: Change<MonitorPath, pb::PutMonitorRequest>, backends: Services) -> Reply {
    ok(backends.monitor().put_monitor(change.request).await?)
}

/// One monitor; a webhook's secret is never returned (`secret_set` says whether one is set).
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    responses((status = 200, body = pb::Monitor), (status = 404, body = ErrorBody)),
)]
#[get("/{monitor}")]
pub async fn get_monitor(
    target: Target<Viewer, MonitorPath, pb::GetMonitorRequest>,
    backends: Services,
) -> Reply {
    ok(backends.monitor().get_monitor(target.request).await?)
}

/// The project's monitors, by name, a page at a time.
#[utoipa::path(
    tag = "monitoring",
    params(ProjectPath, ListQuery),
    responses(
        (status = 200, body = pb::ListMonitorsResponse),
        (status = 400, body = ErrorBody, description = "`page_size` over 1000, or a `page_token` this server did not issue"),
        (status = 404, body = ErrorBody, description = "No such project"),
    ),
)]
#[get("")]
pub async fn list_monitors(
    access: ProjectAccess<Viewer>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::ListMonitorsRequest {
        project: access.project,
        page_size,
        page_token,
    };
    ok(backends.monitor().list_monitors(request).await?)
}

/// Deletes a monitor with its reference, logged rows, labels, windows and alerts (editor).
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    responses((status = 204), (status = 404, body = ErrorBody)),
)]
#[delete("/{monitor}")]
pub async fn delete_monitor(
    target: Target<Editor, MonitorPath, pb::DeleteMonitorRequest>,
    backends: Services,
) -> Reply {
    backends.monitor().delete_monitor(target.request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The JSON form of a reference: exactly one of a dataset on the object store or a feature
/// view's rows over a time range. (The proto's `oneof`; a Parquet upload is the body itself.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetMonitorReference)]
pub struct ReferenceBody {
    /// Object store path of a Parquet file or a directory of Parquet files.
    #[schema(example = "datasets/churn/training.parquet")]
    pub dataset_path: Option<String>,
    pub feature_view: Option<FeatureViewRange>,
}

/// A feature view's rows with event timestamps in [start, end).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureViewRange {
    /// Feature view name
    pub name: String,
    /// RFC 3339
    #[schema(value_type = String, format = DateTime)]
    pub start: String,
    /// RFC 3339
    #[schema(value_type = String, format = DateTime)]
    pub end: String,
}

impl ReferenceBody {
    fn source(self) -> Result<pb::set_reference_request::Source, Error> {
        use pb::set_reference_request::Source;
        match (self.dataset_path, self.feature_view) {
            (Some(path), None) => Ok(Source::DatasetPath(path)),
            (None, Some(view)) => Ok(Source::FeatureView(pb::FeatureViewRange {
                feature_view: view.name,
                start: Some(instant("feature_view.start", &view.start)?),
                end: Some(instant("feature_view.end", &view.end)?),
            })),
            (Some(_), Some(_)) | (None, None) => Err(Error::invalid(
                "reference: give exactly one of dataset_path and feature_view, or send Parquet \
                 with Content-Type: application/vnd.apache.parquet",
            )
            .with_reason(reasons::INVALID_BODY)),
        }
    }
}

/// Sets (replaces) the monitor's reference sample (editor): a Parquet dataset on the object
/// store or a feature view over a time range (JSON), or Parquet in the body
/// (`Content-Type: application/vnd.apache.parquet`, up to 64 MiB).
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    request_body(content(
        (ReferenceBody = "application/json"),
        (Vec<u8> = "application/vnd.apache.parquet"),
    )),
    responses(
        (status = 200, body = pb::Reference),
        (status = 400, body = ErrorBody, description = "Not a readable dataset, or an unsupported content type"),
        (status = 404, body = ErrorBody, description = "No such monitor, dataset or feature view"),
        (status = 413, body = ErrorBody),
    ),
)]
#[put("/{monitor}/reference")]
pub async fn set_reference(
    _access: ProjectAccess<Editor>,
    path: web::Path<MonitorPath>,
    request: HttpRequest,
    payload: web::Payload,
    backends: Services,
) -> Reply {
    let (project, monitor) = path.into_inner().parts();
    let source = match media_type(&request).as_deref() {
        Some("application/json") => {
            let body = read_body(payload, "the reference").await?;
            json_body::<ReferenceBody>(&body)?.source()?
        }
        Some(PARQUET) => {
            pb::set_reference_request::Source::Parquet(read_body(payload, "the reference").await?)
        }
        other => return Err(unsupported(other, &["application/json", PARQUET]).into()),
    };
    let request = pb::SetReferenceRequest {
        project,
        monitor,
        source: Some(source),
    };
    ok(backends.monitor().set_reference(request).await?)
}

/// The monitor's reference sample: its rows, columns with their kinds and missing counts, and
/// where it came from.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    responses(
        (status = 200, body = pb::Reference),
        (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "No reference is set"),
    ),
)]
#[get("/{monitor}/reference")]
pub async fn get_reference(
    target: Target<Viewer, MonitorPath, pb::GetReferenceRequest>,
    backends: Services,
) -> Reply {
    ok(backends.monitor().get_reference(target.request).await?)
}

/// What logging rows did. (The proto's `LogRowsResponse`, whose repeated timestamps the
/// contract's JSON derives do not cover.)
#[derive(Serialize, ToSchema)]
#[schema(as = LogResult)]
pub struct LogResult {
    /// Rows stored.
    pub rows: u64,
    /// Start of each window the rows fell in.
    pub windows: Vec<DateTime<Utc>>,
}

/// The JSON envelope form of a logged batch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowsEnvelope {
    rows: Vec<serde_json::Value>,
}

/// Appends a batch of rows to the live windows (editor).
///
/// Rows hold every checked column, the prediction column when monitored, optional
/// `prediction_id` (string) and `timestamp` (RFC 3339 in JSON; an Arrow timestamp or
/// milliseconds since the epoch in Arrow; the time of receipt when absent); other columns are
/// ignored. JSON is an array of row objects or `{"rows": [...]}`;
/// Arrow is an IPC stream (`Content-Type: application/vnd.apache.arrow.stream`); up to 64 MiB.
/// The batch is stored whole or refused whole: a column of the wrong type or missing is a 422
/// `log_schema_mismatch` naming the column.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    request_body(content(
        (Vec<serde_json::Value> = "application/json"),
        (Vec<u8> = "application/vnd.apache.arrow.stream"),
    )),
    responses(
        (status = 200, body = LogResult),
        (status = 400, body = ErrorBody, description = "Unreadable rows or an unsupported content type"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`log_schema_mismatch`: a column does not match the monitor's; the message names it"),
    ),
)]
#[post("/{monitor}/log")]
pub async fn log_rows(
    _access: ProjectAccess<Editor>,
    path: web::Path<MonitorPath>,
    request: HttpRequest,
    payload: web::Payload,
    backends: Services,
) -> Reply {
    let (project, monitor) = path.into_inner().parts();
    let (data, format) = match media_type(&request).as_deref() {
        Some("application/json") => (
            json_rows(read_body(payload, "the batch").await?)?,
            pb::LogFormat::Json,
        ),
        Some(ARROW_STREAM) => (read_body(payload, "the batch").await?, pb::LogFormat::ArrowIpc),
        other => return Err(unsupported(other, &["application/json", ARROW_STREAM]).into()),
    };
    let request = pb::LogRowsRequest {
        project,
        monitor,
        data,
        format: format.into(),
    };
    let answer = backends.monitor().log_rows(request).await?.into_inner();
    let windows = answer
        .windows
        .into_iter()
        .filter_map(|ts| super::rfc3339(Some(ts)))
        .collect();
    Ok(HttpResponse::Ok().json(LogResult {
        rows: answer.rows,
        windows,
    }))
}

/// The JSON array of a batch: the body itself when it is one, else the envelope's `rows`.
fn json_rows(body: Bytes) -> Result<Bytes, Error> {
    match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'[') => Ok(body),
        Some(b'{') => {
            let envelope: RowsEnvelope = json_body(&body)?;
            let rows = serde_json::to_vec(&envelope.rows).map_err(Error::internal)?;
            Ok(Bytes::from(rows))
        }
        Some(_) | None => Err(Error::invalid(
            "the batch must be a JSON array of row objects or {\"rows\": [...]}",
        )
        .with_reason(reasons::INVALID_BODY)),
    }
}

/// Ground truth for logged predictions.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LogLabels)]
pub struct LabelsBody {
    pub labels: Vec<LabelBody>,
}

/// One label. (The proto's `Label`, whose `oneof` of a number or a text is here the JSON
/// value's own type.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Label)]
pub struct LabelBody {
    #[schema(example = "req-0001")]
    pub prediction_id: String,
    /// A class name or number, or a regression target.
    pub label: LabelValue,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LabelValue {
    Number(f64),
    Text(String),
}

/// Attaches ground truth to logged predictions by prediction id (editor); a later label for
/// the same prediction replaces the earlier one.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    responses(
        (status = 200, body = pb::LogLabelsResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
#[post("/{monitor}/labels")]
pub async fn log_labels(
    _access: ProjectAccess<Editor>,
    path: web::Path<MonitorPath>,
    body: web::Json<LabelsBody>,
    backends: Services,
) -> Reply {
    let (project, monitor) = path.into_inner().parts();
    let labels = body
        .into_inner()
        .labels
        .into_iter()
        .map(|label| pb::Label {
            prediction_id: label.prediction_id,
            value: Some(match label.label {
                LabelValue::Number(number) => pb::label::Value::Number(number),
                LabelValue::Text(text) => pb::label::Value::Text(text),
            }),
        })
        .collect();
    let request = pb::LogLabelsRequest {
        project,
        monitor,
        labels,
    };
    ok(backends.monitor().log_labels(request).await?)
}

/// Which window to check.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CheckWindow)]
pub struct CheckBody {
    /// Any instant in the window; absent: the latest window with logged rows.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub window: Option<String>,
}

/// Checks one window now, again if it was checked before (editor): drift per column,
/// performance when labels exist, and an alert when the dataset drifts. The body is optional.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath),
    request_body(content = Option<CheckBody>, content_type = "application/json"),
    responses(
        (status = 200, body = pb::WindowResult),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such monitor, or no rows in the window"),
        (status = 412, body = ErrorBody, description = "`reference_not_set`"),
    ),
)]
#[post("/{monitor}/check")]
pub async fn check_window(
    _access: ProjectAccess<Editor>,
    path: web::Path<MonitorPath>,
    body: web::Bytes,
    backends: Services,
) -> Reply {
    let (project, monitor) = path.into_inner().parts();
    let window = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let window = json_body::<CheckBody>(&body)?.window;
        window
            .as_deref()
            .map(|text| instant("window", text))
            .transpose()?
    };
    let request = pb::CheckWindowRequest {
        project,
        monitor,
        window,
    };
    ok(backends.monitor().check_window(request).await?)
}

/// Which windows a listing includes, and its page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WindowsQuery {
    /// Only windows starting at or after this time (RFC 3339).
    pub start: Option<String>,
    /// Only windows starting before this time (RFC 3339).
    pub end: Option<String>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// The monitor's checked windows, oldest first: its drift as a time series.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorPath, WindowsQuery),
    responses(
        (status = 200, body = pb::ListWindowsResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
#[get("/{monitor}/windows")]
pub async fn list_windows(
    _access: ProjectAccess<Viewer>,
    path: web::Path<MonitorPath>,
    query: web::Query<WindowsQuery>,
    backends: Services,
) -> Reply {
    let (project, monitor) = path.into_inner().parts();
    let query = query.into_inner();
    let request = pb::ListWindowsRequest {
        project,
        monitor,
        start: query.start.as_deref().map(|t| instant("start", t)).transpose()?,
        end: query.end.as_deref().map(|t| instant("end", t)).transpose()?,
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    ok(backends.monitor().list_windows(request).await?)
}

/// One checked window's drift report: its result with both distributions per column over the
/// same bins.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorWindowPath),
    responses(
        (status = 200, body = pb::Report),
        (status = 400, body = ErrorBody, description = "The window is not an RFC 3339 time"),
        (status = 404, body = ErrorBody, description = "No such monitor, or `window_not_found`"),
    ),
)]
#[get("/{monitor}/windows/{window}/report")]
pub async fn get_report(
    _access: ProjectAccess<Viewer>,
    path: web::Path<MonitorWindowPath>,
    backends: Services,
) -> Reply {
    ok(backends
        .monitor()
        .get_report(report_request(path.into_inner(), false)?)
        .await?)
}

/// One checked window's drift report as a self-contained HTML page (no scripts, fonts or
/// requests): per column, both distributions side by side, the statistic, the threshold and
/// the verdict.
#[utoipa::path(
    tag = "monitoring",
    params(MonitorWindowPath),
    responses(
        (status = 200, body = String, content_type = "text/html",
            headers(("content-security-policy" = String, description = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"))),
        (status = 400, body = ErrorBody, description = "The window is not an RFC 3339 time"),
        (status = 404, body = ErrorBody, description = "No such monitor, or `window_not_found`"),
    ),
)]
#[get("/{monitor}/windows/{window}/report.html")]
pub async fn get_report_html(
    _access: ProjectAccess<Viewer>,
    path: web::Path<MonitorWindowPath>,
    backends: Services,
) -> Reply {
    let report = backends
        .monitor()
        .get_report(report_request(path.into_inner(), true)?)
        .await?
        .into_inner();
    Ok(html_page(report.html))
}

fn report_request(path: MonitorWindowPath, html: bool) -> Result<pb::GetReportRequest, Error> {
    let (project, monitor, window) = path.parts();
    Ok(pb::GetReportRequest {
        project,
        monitor,
        window: Some(instant("window", &window)?),
        html,
    })
}

/// Which alerts a listing includes, and its page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only this monitor's alerts.
    pub monitor: Option<String>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// The project's alerts, newest first, with their webhook delivery and the pipeline runs they
/// triggered.
#[utoipa::path(
    tag = "monitoring",
    params(ProjectPath, AlertsQuery),
    responses(
        (status = 200, body = pb::ListAlertsResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
#[get("")]
pub async fn list_alerts(
    access: ProjectAccess<Viewer>,
    query: web::Query<AlertsQuery>,
    backends: Services,
) -> Reply {
    let query = query.into_inner();
    let request = pb::ListAlertsRequest {
        project: access.project,
        monitor: query.monitor.unwrap_or_default(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    ok(backends.monitor().list_alerts(request).await?)
}

/// A dataset to compare: exactly one of a Parquet file (or directory) on the object store, or
/// Parquet bytes in base64. (The proto's `Dataset` `oneof`; JSON carries bytes as base64.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CompareDataset)]
pub struct DatasetBody {
    #[schema(example = "datasets/churn/2026-01.parquet")]
    pub path: Option<String>,
    /// A Parquet file, base64 (standard alphabet, padded).
    pub parquet_base64: Option<String>,
}

impl DatasetBody {
    fn dataset(self, field: &str) -> Result<pb::Dataset, Error> {
        use pb::dataset::Source;
        let source = match (self.path, self.parquet_base64) {
            (Some(path), None) => Source::Path(path),
            (None, Some(encoded)) => Source::Parquet(Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .map_err(|e| {
                        Error::invalid(format!("{field}.parquet_base64: not base64: {e}"))
                            .with_reason(reasons::INVALID_BODY)
                    })?,
            )),
            (Some(_), Some(_)) | (None, None) => {
                return Err(
                    Error::invalid(format!("{field}: give exactly one of path and parquet_base64"))
                        .with_reason(reasons::INVALID_BODY),
                );
            }
        };
        Ok(pb::Dataset { source: Some(source) })
    }
}

/// Two datasets to compare, and how. (The proto's `CompareRequest` with its datasets as JSON.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CompareDatasets)]
pub struct CompareBody {
    pub reference: DatasetBody,
    pub current: DatasetBody,
    /// Empty: every column the two datasets share, with the default methods and thresholds.
    #[serde(default)]
    pub checks: Vec<pb::FeatureCheck>,
    /// Share of drifted columns at which the dataset drifts (0: 0.5).
    #[serde(default)]
    pub drift_share: f64,
}

/// The form of a comparison's answer.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    /// `json` (the default) or `html` (the report page).
    pub format: Option<String>,
}

/// The drift between two datasets, nothing stored (viewer).
///
/// Each dataset is on the object store (`path`)
/// or uploaded as base64 Parquet (`parquet_base64`), the body up to 64 MiB. Checks and
/// defaults are a monitor's (see `PUT …/monitors/{monitor}`). `?format=html` answers the
/// report page.
#[utoipa::path(
    tag = "monitoring",
    params(ProjectPath, CompareQuery),
    request_body = CompareBody,
    responses(
        (status = 200, description = "The report; the page with `?format=html`", content(
            (pb::Report = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, body = ErrorBody, description = "`invalid_dataset`, or a check names no shared column"),
        (status = 404, body = ErrorBody, description = "`dataset_not_found`, or no such project"),
        (status = 413, body = ErrorBody),
    ),
)]
#[post("/compare")]
pub async fn compare(
    access: ProjectAccess<Viewer>,
    query: web::Query<CompareQuery>,
    request: HttpRequest,
    payload: web::Payload,
    backends: Services,
) -> Reply {
    let html = match query.into_inner().format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => {
            return Err(Error::invalid(format!("format: '{other}' is neither json nor html")).into());
        }
    };
    if media_type(&request).as_deref() != Some("application/json") {
        return Err(unsupported(media_type(&request).as_deref(), &["application/json"]).into());
    }
    let body: CompareBody = json_body(&read_body(payload, "the comparison").await?)?;
    let request = pb::CompareRequest {
        project: access.project,
        reference: Some(body.reference.dataset("reference")?),
        current: Some(body.current.dataset("current")?),
        checks: body.checks,
        drift_share: body.drift_share,
        html,
    };
    let report = backends.monitor().compare(request).await?.into_inner();
    if html {
        Ok(html_page(report.html))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}

/// A report page, locked down by [`REPORT_CSP`].
fn html_page(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, REPORT_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(html)
}

/// The request's media type, lowercase, without parameters.
fn media_type(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

fn unsupported(given: Option<&str>, accepted: &[&str]) -> Error {
    Error::invalid(format!(
        "Content-Type {} is not taken here: send {}",
        given.map_or_else(|| "(none)".to_owned(), |given| format!("'{given}'")),
        accepted.join(" or ")
    ))
    .with_reason(reasons::UNSUPPORTED_CONTENT_TYPE)
}

/// The whole body, refused with 413 past [`UPLOAD_LIMIT_BYTES`].
async fn read_body(mut payload: web::Payload, what: &str) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::invalid(format!("cannot read {what}: {e}")))?;
        if body.len() + chunk.len() > UPLOAD_LIMIT_BYTES {
            return Err(ApiError(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("{what} is larger than the limit of {UPLOAD_LIMIT_BYTES} bytes; split it"),
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A JSON body, refused as the gateway's JSON extractor refuses one.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("invalid JSON body: {e}")).with_reason(reasons::INVALID_BODY))
}

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An RFC 3339 instant of a path or query parameter, refused with a message naming it.
fn instant(field: &str, text: &str) -> Result<prost_types::Timestamp, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| timestamp(time.with_timezone(&Utc)))
        .map_err(|e| Error::invalid(format!("{field}: '{text}' is not an RFC 3339 time ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_of_rows_becomes_the_array_and_an_array_passes_as_sent() {
        let array = Bytes::from_static(b" [{\"a\": 1}]");
        assert_eq!(json_rows(array.clone()).unwrap(), array);
        let rows = json_rows(Bytes::from_static(b"{\"rows\": [{\"a\": 1}, {\"a\": 2.5}]}")).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&rows).unwrap(),
            serde_json::json!([{"a": 1}, {"a": 2.5}])
        );
        let refused = json_rows(Bytes::from_static(b"\"rows\"")).unwrap_err();
        assert_eq!(refused.reason, reasons::INVALID_BODY.name);
        let unknown = json_rows(Bytes::from_static(b"{\"rowz\": []}")).unwrap_err();
        assert!(unknown.to_string().contains("rowz"), "{unknown}");
    }

    #[test]
    fn a_reference_is_exactly_one_source() {
        let by_path: ReferenceBody = json_body(br#"{"dataset_path": "d/train.parquet"}"#).unwrap();
        assert!(matches!(
            by_path.source().unwrap(),
            pb::set_reference_request::Source::DatasetPath(path) if path == "d/train.parquet"
        ));
        let by_view: ReferenceBody = json_body(
            br#"{"feature_view": {"name": "trips", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00+01:00"}}"#,
        )
        .unwrap();
        let pb::set_reference_request::Source::FeatureView(range) = by_view.source().unwrap() else {
            panic!("a feature view range");
        };
        assert_eq!(range.feature_view, "trips");
        assert_eq!(range.start.unwrap().seconds, 1_767_225_600);
        assert_eq!(range.end.unwrap().seconds, 1_767_225_600 + 23 * 3600);
        let neither: ReferenceBody = json_body(b"{}").unwrap();
        assert!(neither.source().is_err());
        let late: ReferenceBody = json_body(
            br#"{"feature_view": {"name": "trips", "start": "2026-01-01T00:00:00Z", "end": "soon"}}"#,
        )
        .unwrap();
        let refused = late.source().unwrap_err();
        assert!(refused.to_string().contains("feature_view.end"), "{refused}");
    }

    #[test]
    fn a_label_is_a_number_or_a_text() {
        let body: LabelsBody =
            json_body(br#"{"labels": [{"prediction_id": "a", "label": 1}, {"prediction_id": "b", "label": "churned"}]}"#)
                .unwrap();
        assert!(matches!(body.labels[0].label, LabelValue::Number(n) if n == 1.0));
        assert!(matches!(&body.labels[1].label, LabelValue::Text(t) if t == "churned"));
    }

    #[test]
    fn checks_take_method_names_and_default_when_omitted() {
        let body: CompareBody = json_body(
            br#"{"reference": {"path": "a.parquet"}, "current": {"parquet_base64": "UEFSMQ=="},
                 "checks": [{"column": "x", "metric": "psi", "threshold": 0.2}, {"column": "y"}]}"#,
        )
        .unwrap();
        assert_eq!(body.checks[0].metric, i32::from(pb::DriftMetric::Psi));
        assert_eq!(body.checks[1].metric, i32::from(pb::DriftMetric::Unspecified));
        let current = body.current.dataset("current").unwrap();
        assert!(matches!(current.source, Some(pb::dataset::Source::Parquet(bytes)) if &bytes[..] == b"PAR1"));
        let unknown = json_body::<CompareBody>(
            br#"{"reference": {"path": "a"}, "current": {"path": "b"}, "checks": [{"column": "x", "metric": "median"}]}"#,
        );
        assert!(unknown.is_err_and(|e| e.to_string().contains("median")));
    }

    #[test]
    fn a_monitor_goes_out_with_method_task_and_time_names() {
        let monitor = pb::Monitor {
            name: "trips".to_owned(),
            checks: vec![
                pb::FeatureCheck {
                    column: "distance".to_owned(),
                    metric: pb::DriftMetric::JsDistance.into(),
                    threshold: 0.2,
                },
                pb::FeatureCheck {
                    column: "city".to_owned(),
                    ..Default::default()
                },
            ],
            task: pb::ModelTask::Regression.into(),
            create_time: Some(timestamp(DateTime::from_timestamp(1_767_225_600, 0).unwrap())),
            webhook: Some(pb::Webhook {
                url: "http://hook".to_owned(),
                secret: String::new(),
                secret_set: true,
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&monitor).unwrap();
        assert_eq!(json["checks"][0]["metric"], "js_distance");
        assert_eq!(json["checks"][1]["metric"], "default");
        assert_eq!(json["task"], "regression");
        assert_eq!(json["create_time"], "2026-01-01T00:00:00Z");
        assert_eq!(json["update_time"], serde_json::Value::Null);
        assert_eq!(json["webhook"]["secret_set"], true);
        let statistic = serde_json::to_value(pb::ColumnResult::default()).unwrap();
        assert_eq!(
            statistic["statistic"],
            serde_json::Value::Null,
            "an untested column has no statistic"
        );
    }

    #[test]
    fn a_monitor_comes_in_without_its_address() {
        let request: pb::PutMonitorRequest = json_body(
            br#"{"checks": [{"column": "x", "metric": "wasserstein"}], "window_seconds": 60, "task": "classification",
                 "webhook": {"url": "http://hook", "secret": "s"}}"#,
        )
        .unwrap();
        assert_eq!(request.checks[0].metric, i32::from(pb::DriftMetric::Wasserstein));
        assert_eq!(request.task, i32::from(pb::ModelTask::Classification));
        assert_eq!(request.webhook.unwrap().secret, "s");
        assert!(json_body::<pb::PutMonitorRequest>(br#"{"project": "other"}"#).is_err());
        assert!(json_body::<pb::PutMonitorRequest>(br#"{"task": "ranking"}"#).is_err());
    }

    /// The gateway's OpenAPI document, as `/api-docs/openapi.json` serves it.
    fn openapi_document() -> serde_json::Value {
        use utoipa::OpenApi as _;
        use utoipa_actix_web::AppExt as _;
        let (_, doc) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(crate::api::openapi::ApiDoc::openapi())
            .configure(crate::api::routes)
            .split_for_parts();
        serde_json::to_value(crate::api::openapi::finish(doc)).unwrap()
    }

    #[test]
    fn every_monitoring_route_is_documented_with_its_rules() {
        let doc = openapi_document();
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
                assert!(operation.is_object(), "{method} {full} missing");
                assert_eq!(
                    operation["tags"],
                    serde_json::json!(["monitoring"]),
                    "{method} {full}"
                );
                assert!(operation["responses"]["403"].is_object(), "{method} {full}");
            }
        }
        let put = &doc["paths"]["/api/v1/projects/{project}/monitors/{monitor}"]["put"];
        let description = put["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("1,000 reference rows") && description.contains("0.05 for p-values"),
            "{put}"
        );
        assert!(
            put["requestBody"]["content"]["application/json"].is_object(),
            "{put}"
        );
        let log = &doc["paths"]["/api/v1/projects/{project}/monitors/{monitor}/log"]["post"];
        assert!(log["requestBody"]["content"][ARROW_STREAM].is_object(), "{log}");
        assert!(log["responses"]["422"].is_object(), "{log}");
        let comparison = &doc["paths"]["/api/v1/projects/{project}/drift/compare"]["post"];
        let answers = &comparison["responses"]["200"]["content"];
        assert!(
            answers["application/json"].is_object() && answers["text/html"].is_object(),
            "{comparison}"
        );
        let reference = &doc["paths"]["/api/v1/projects/{project}/monitors/{monitor}/reference"]["put"];
        assert!(
            reference["requestBody"]["content"][PARQUET].is_object(),
            "{reference}"
        );
        assert_eq!(
            doc["components"]["schemas"]["DriftMethod"]["enum"],
            serde_json::json!([
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
        fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        found.push(target.clone());
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                serde_json::Value::Null
                | serde_json::Value::Bool(_)
                | serde_json::Value::Number(_)
                | serde_json::Value::String(_) => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        for target in found {
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling {target}"
            );
        }
        for schema in [
            "PutMonitor",
            "Monitor",
            "DriftReport",
            "WindowList",
            "AlertList",
            "CompareDatasets",
            "LogResult",
        ] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "schema {schema}"
            );
        }
    }

    #[test]
    fn a_window_must_be_rfc_3339() {
        assert_eq!(
            instant("window", "2026-01-01T00:00:00Z").unwrap().seconds,
            1_767_225_600
        );
        let refused = instant("window", "yesterday").unwrap_err();
        assert!(refused.to_string().contains("window"), "{refused}");
    }
}
