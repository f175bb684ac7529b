//! The monitor's gRPC API: definitions (which columns to compare, with which statistic and
//! threshold, over which window; where alerts go and what they retrain), and the engine's
//! operations behind access checks.

use std::collections::HashSet;

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::definitions::Stored;
use lathe_common::projects::ProjectCheck;
use lathe_common::reasons;
use lathe_common::validate;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::monitor_service_server::MonitorService;
use lathe_contract::monitor::v1::{
    CheckWindowRequest, CompareRequest, Dataset, DeleteMonitorRequest, DeleteMonitorResponse, DriftMetric,
    FeatureCheck, GetMonitorRequest, GetReferenceRequest, GetReportRequest, ListAlertsRequest,
    ListAlertsResponse, ListMonitorsRequest, ListMonitorsResponse, ListWindowsRequest, ListWindowsResponse,
    LogLabelsRequest, LogLabelsResponse, LogRowsRequest, LogRowsResponse, ModelTask, Monitor,
    ProjectDataRequest, ProjectDataResponse, PutMonitorRequest, Reference, Report, SetReferenceRequest,
    WindowResult, dataset, set_reference_request,
};
use tonic::{Request, Response, Status};

use crate::compare::{checks_of, compare_frames, method_of, render_html};
use crate::engine::ingest::ReferenceSource;
use crate::engine::{Engine, millis};
use crate::store::monitor_pages::monitors_page;

pub struct MonitorsApi {
    engine: Engine,
    projects: ProjectCheck,
}

impl MonitorsApi {
    pub fn new(engine: Engine, projects: ProjectCheck) -> Self {
        MonitorsApi { engine, projects }
    }

    /// The error for a monitor not found: `project_not_found` when the project is what is missing.
    async fn missing(&self, project: &str, name: &str) -> Error {
        match self.projects.require(project).await {
            Ok(()) => not_found(project, name),
            Err(err) => err,
        }
    }

    /// The monitor, or the reason it cannot be found.
    async fn existing(&self, project: &str, name: &str) -> Result<Monitor> {
        match self.engine.monitor(project, name).await {
            Ok(monitor) => Ok(monitor),
            Err(err) if err.reason == reasons::MONITOR_NOT_FOUND.name => {
                Err(self.missing(project, name).await)
            }
            Err(err) => Err(err),
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored monitor as answered: metadata filled in, the webhook's secret withheld.
fn with_metadata(stored: Stored<Monitor>) -> Monitor {
    let mut monitor = Monitor {
        version: stored.version,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
        ..stored.spec
    };
    if let Some(webhook) = &mut monitor.webhook {
        webhook.secret_set = !webhook.secret.is_empty();
        webhook.secret.clear();
    }
    monitor
}

fn not_found(project: &str, name: &str) -> Error {
    Error::of(
        reasons::MONITOR_NOT_FOUND,
        format!("monitor '{name}' does not exist in project '{project}'"),
    )
}

/// Checks of a monitor or a comparison: named columns, each method once per column, and
/// thresholds in the method's range (0 means the default).
fn validate_checks(checks: &[FeatureCheck], field: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, check) in checks.iter().enumerate() {
        if check.column.is_empty() || check.column.len() > 256 {
            return Err(Error::invalid(format!(
                "{field}[{i}].column: name the logged column (1 to 256 characters)"
            )));
        }
        let Ok(metric) = DriftMetric::try_from(check.metric) else {
            return Err(Error::invalid(format!(
                "{field}[{i}].metric: one of psi, kl_divergence, js_distance, wasserstein, ks, chi_square, z_test, \
                 hellinger, or unset for the default"
            )));
        };
        if !seen.insert((check.column.as_str(), check.metric)) {
            return Err(Error::invalid(format!(
                "{field}[{i}]: column '{}' already has a {} check",
                check.column,
                metric.as_str_name()
            )));
        }
        if check.threshold == 0.0 {
            continue;
        }
        let p_value = method_of(metric).is_some_and(crate::drift::Method::is_p_value);
        let threshold_ok = match metric {
            // Unspecified: the method is chosen per window; any positive threshold is taken.
            DriftMetric::Unspecified => check.threshold > 0.0 && check.threshold.is_finite(),
            _ if p_value => check.threshold > 0.0 && check.threshold < 1.0,
            // Both are bounded by 1 (JS with the natural log by sqrt(ln 2)).
            DriftMetric::JsDistance | DriftMetric::Hellinger => {
                check.threshold > 0.0 && check.threshold <= 1.0
            }
            DriftMetric::Psi
            | DriftMetric::KlDivergence
            | DriftMetric::Wasserstein
            | DriftMetric::Ks
            | DriftMetric::ChiSquare
            | DriftMetric::ZTest => check.threshold > 0.0 && check.threshold.is_finite(),
        };
        if !threshold_ok {
            return Err(Error::invalid(format!(
                "{field}[{i}].threshold: {} is out of range for {} (p-value tests take 0 < t < 1, JS and \
                 Hellinger 0 < t <= 1, others t > 0; 0 means the default)",
                check.threshold,
                metric.as_str_name()
            )));
        }
    }
    Ok(())
}

fn validate_share(share: f64, field: &str) -> Result<()> {
    if share == 0.0 || (share > 0.0 && share <= 1.0) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field}: {share} is not a share; give 0 < share <= 1 (0 means 0.5)"
        )))
    }
}

fn validate_monitor(request: &PutMonitorRequest) -> Result<()> {
    validate::project_name("project", &request.project)?;
    validate::identifier("name", &request.name)?;
    if request.checks.is_empty() {
        return Err(Error::invalid("checks: a monitor needs at least one check"));
    }
    validate_checks(&request.checks, "checks")?;
    if request.window_seconds == 0 {
        return Err(Error::invalid(
            "window_seconds: a live window must be at least 1 second long",
        ));
    }
    if !request.retrain_pipeline.is_empty() {
        validate::identifier("retrain_pipeline", &request.retrain_pipeline)?;
    }
    if request.prediction_column.len() > 256 {
        return Err(Error::invalid("prediction_column: at most 256 characters"));
    }
    if ModelTask::try_from(request.task).is_err() {
        return Err(Error::invalid("task: classification, regression or unset"));
    }
    validate_share(request.drift_share, "drift_share")?;
    if let Some(webhook) = &request.webhook
        && !webhook.url.is_empty()
    {
        let parsed = url::Url::parse(&webhook.url)
            .map_err(|e| Error::invalid(format!("webhook.url: '{}' is not a URL: {e}", webhook.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid("webhook.url: give an http:// or https:// URL"));
        }
    }
    Ok(())
}

fn time_of(field: &str, timestamp: Option<&prost_types::Timestamp>) -> Result<Option<i64>> {
    match timestamp {
        None => Ok(None),
        Some(t) if (0..1_000_000_000).contains(&t.nanos) => Ok(Some(millis(t))),
        Some(_) => Err(Error::invalid(format!("{field}: nanos out of range"))),
    }
}

impl MonitorsApi {
    async fn dataset(&self, field: &str, dataset: Option<Dataset>) -> Result<crate::data::Frame> {
        match dataset.and_then(|d| d.source) {
            Some(dataset::Source::Path(path)) => self.engine.read_dataset(&path).await,
            Some(dataset::Source::Parquet(bytes)) => crate::engine::parse_parquet(bytes).await,
            None => Err(Error::invalid(format!(
                "{field}: give a dataset path on the object store or Parquet bytes"
            ))),
        }
    }
}

#[tonic::async_trait]
impl MonitorService for MonitorsApi {
    async fn put_monitor(&self, request: Request<PutMonitorRequest>) -> Result<Response<Monitor>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        validate_monitor(&request)?;
        self.projects.require(&request.project).await?;
        let mut webhook = request.webhook;
        if let Some(hook) = &mut webhook {
            hook.secret_set = false;
            // An update that leaves the secret out keeps the stored one.
            if hook.secret.is_empty()
                && let Some(stored) = self
                    .engine
                    .definitions()
                    .get(&request.project, &request.name)
                    .await?
                && let Some(old) = stored.spec.webhook
                && old.url == hook.url
            {
                hook.secret = old.secret;
            }
        }
        let spec = Monitor {
            project: request.project,
            name: request.name,
            description: request.description,
            checks: request.checks,
            window_seconds: request.window_seconds,
            retrain_pipeline: request.retrain_pipeline,
            model: request.model,
            prediction_column: request.prediction_column,
            task: request.task,
            drift_share: request.drift_share,
            lateness_seconds: request.lateness_seconds,
            paused: request.paused,
            webhook,
            retrain_cooldown_seconds: request.retrain_cooldown_seconds,
            ..Monitor::default()
        };
        let stored = self
            .engine
            .definitions()
            .put(&spec.project, &spec.name, &spec)
            .await?;
        tracing::info!(project = %spec.project, monitor = %spec.name, version = stored.version, "monitor stored");
        Ok(Response::new(with_metadata(stored)))
    }

    async fn get_monitor(&self, request: Request<GetMonitorRequest>) -> Result<Response<Monitor>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        match self
            .engine
            .definitions()
            .get(&request.project, &request.name)
            .await?
        {
            Some(stored) => Ok(Response::new(with_metadata(stored))),
            None => Err(self.missing(&request.project, &request.name).await.into()),
        }
    }

    async fn list_monitors(
        &self,
        request: Request<ListMonitorsRequest>,
    ) -> Result<Response<ListMonitorsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let page = monitors_page(
            &self.engine.db,
            &request.project,
            request.page_size,
            &request.page_token,
        )
        .await?;
        if page.monitors.is_empty() {
            self.projects.require(&request.project).await?;
        }
        Ok(Response::new(ListMonitorsResponse {
            monitors: page.monitors.into_iter().map(with_metadata).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn delete_monitor(
        &self,
        request: Request<DeleteMonitorRequest>,
    ) -> Result<Response<DeleteMonitorResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        if !self
            .engine
            .definitions()
            .delete(&request.project, &request.name)
            .await?
        {
            return Err(self.missing(&request.project, &request.name).await.into());
        }
        self.engine
            .delete_monitor_data(&request.project, &request.name)
            .await?;
        Ok(Response::new(DeleteMonitorResponse {}))
    }

    async fn set_reference(
        &self,
        request: Request<SetReferenceRequest>,
    ) -> Result<Response<Reference>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        let source = match request.source {
            Some(set_reference_request::Source::DatasetPath(path)) => ReferenceSource::Path(path),
            Some(set_reference_request::Source::Parquet(bytes)) => ReferenceSource::Parquet(bytes),
            Some(set_reference_request::Source::FeatureView(range)) => {
                validate::identifier("feature_view.feature_view", &range.feature_view)?;
                let start = time_of("feature_view.start", range.start.as_ref())?;
                let end = time_of("feature_view.end", range.end.as_ref())?;
                match (start, end) {
                    (Some(start), Some(end)) if start < end => {}
                    _ => {
                        return Err(
                            Error::invalid("feature_view: give start and end with start before end").into(),
                        );
                    }
                }
                ReferenceSource::FeatureView(range)
            }
            None => {
                return Err(Error::invalid("source: give dataset_path, feature_view or parquet").into());
            }
        };
        let reference = self
            .engine
            .set_reference(&request.project, &request.monitor, source, now())
            .await?;
        Ok(Response::new(reference))
    }

    async fn get_reference(
        &self,
        request: Request<GetReferenceRequest>,
    ) -> Result<Response<Reference>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        match self.engine.reference(&request.project, &request.monitor).await? {
            Some((_, reference)) => Ok(Response::new(reference)),
            None => Err(Error::of(
                reasons::REFERENCE_NOT_SET,
                format!("monitor '{}' has no reference sample yet", request.monitor),
            )
            .into()),
        }
    }

    async fn log_rows(&self, request: Request<LogRowsRequest>) -> Result<Response<LogRowsResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        let format = request.format();
        let response = self
            .engine
            .log_rows(&request.project, &request.monitor, request.data, format, now())
            .await?;
        Ok(Response::new(response))
    }

    async fn log_labels(
        &self,
        request: Request<LogLabelsRequest>,
    ) -> Result<Response<LogLabelsResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        let labels = self
            .engine
            .log_labels(&request.project, &request.monitor, request.labels, now())
            .await?;
        Ok(Response::new(LogLabelsResponse { labels }))
    }

    async fn check_window(
        &self,
        request: Request<CheckWindowRequest>,
    ) -> Result<Response<WindowResult>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        let at = time_of("window", request.window.as_ref())?;
        let result = self
            .engine
            .check_window(&request.project, &request.monitor, at, now())
            .await?;
        Ok(Response::new(result))
    }

    async fn list_windows(
        &self,
        request: Request<ListWindowsRequest>,
    ) -> Result<Response<ListWindowsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        let (windows, next_page_token) = self
            .engine
            .list_windows(
                &request.project,
                &request.monitor,
                time_of("start", request.start.as_ref())?,
                time_of("end", request.end.as_ref())?,
                request.page_size,
                &request.page_token,
            )
            .await?;
        Ok(Response::new(ListWindowsResponse {
            windows,
            next_page_token,
        }))
    }

    async fn get_report(&self, request: Request<GetReportRequest>) -> Result<Response<Report>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        self.existing(&request.project, &request.monitor).await?;
        let Some(at) = time_of("window", request.window.as_ref())? else {
            return Err(Error::invalid("window: give an instant in the window").into());
        };
        let report = self
            .engine
            .report(&request.project, &request.monitor, at, request.html)
            .await?;
        Ok(Response::new(report))
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        if !request.monitor.is_empty() {
            self.existing(&request.project, &request.monitor).await?;
        } else {
            self.projects.require(&request.project).await?;
        }
        let (alerts, next_page_token) = self
            .engine
            .list_alerts(
                &request.project,
                &request.monitor,
                request.page_size,
                &request.page_token,
            )
            .await?;
        Ok(Response::new(ListAlertsResponse {
            alerts,
            next_page_token,
        }))
    }

    async fn compare(&self, request: Request<CompareRequest>) -> Result<Response<Report>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        validate_checks(&request.checks, "checks")?;
        validate_share(request.drift_share, "drift_share")?;
        self.projects.require(&request.project).await?;
        let reference = self.dataset("reference", request.reference).await?;
        let current = self.dataset("current", request.current).await?;
        let checks = checks_of(&request.checks);
        let share = Some(request.drift_share);
        let mut report =
            tokio::task::spawn_blocking(move || compare_frames(&reference, &current, &checks, share))
                .await
                .map_err(|e| Error::internal(format_args!("the comparison stopped: {e}")))??;
        if let Some(result) = &mut report.result {
            result.project = request.project.clone();
        }
        if request.html {
            report.html = render_html(&report, "Drift comparison");
        }
        Ok(Response::new(report))
    }

    async fn project_data(
        &self,
        request: Request<ProjectDataRequest>,
    ) -> Result<Response<ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        let n = self
            .engine
            .definitions()
            .project_data(&request.project, request.delete, "monitors")
            .await?;
        let mut counts: std::collections::HashMap<String, u64> = self
            .engine
            .project_data(&request.project, request.delete)
            .await?
            .into_iter()
            .map(|(kind, n)| (kind.to_owned(), n))
            .collect();
        counts.insert("monitors".to_owned(), n);
        Ok(Response::new(ProjectDataResponse { counts }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(column: &str, metric: DriftMetric, threshold: f64) -> FeatureCheck {
        FeatureCheck {
            column: column.to_owned(),
            metric: metric as i32,
            threshold,
        }
    }

    #[test]
    fn thresholds_are_checked_per_metric() {
        validate_checks(
            &[
                check("conv_rate", DriftMetric::Psi, 0.2),
                check("conv_rate", DriftMetric::Ks, 0.05),
                check("conv_rate", DriftMetric::Unspecified, 0.0),
                check("trips", DriftMetric::Hellinger, 0.0),
            ],
            "checks",
        )
        .unwrap();
        for bad in [
            check("x", DriftMetric::Ks, 1.5),
            check("x", DriftMetric::ZTest, 1.0),
            check("x", DriftMetric::Psi, -1.0),
            check("x", DriftMetric::JsDistance, 2.0),
            check("x", DriftMetric::Hellinger, 1.5),
            check("", DriftMetric::Psi, 0.1),
        ] {
            assert!(
                validate_checks(std::slice::from_ref(&bad), "checks").is_err(),
                "{bad:?}"
            );
        }
        let dup = [
            check("x", DriftMetric::Psi, 0.1),
            check("x", DriftMetric::Psi, 0.2),
        ];
        assert!(
            validate_checks(&dup, "checks")
                .unwrap_err()
                .message
                .contains("already has")
        );
        let unknown = FeatureCheck {
            column: "x".into(),
            metric: 99,
            threshold: 0.0,
        };
        assert!(
            validate_checks(&[unknown], "checks")
                .unwrap_err()
                .message
                .contains("checks[0].metric")
        );
    }

    #[test]
    fn monitors_are_validated_with_the_field_named() {
        let good = PutMonitorRequest {
            project: "p".into(),
            name: "m".into(),
            checks: vec![check("x", DriftMetric::Unspecified, 0.0)],
            window_seconds: 60,
            ..PutMonitorRequest::default()
        };
        validate_monitor(&good).unwrap();
        let cases: [(&str, PutMonitorRequest); 4] = [
            (
                "window_seconds",
                PutMonitorRequest {
                    window_seconds: 0,
                    ..good.clone()
                },
            ),
            (
                "drift_share",
                PutMonitorRequest {
                    drift_share: 1.5,
                    ..good.clone()
                },
            ),
            (
                "webhook.url",
                PutMonitorRequest {
                    webhook: Some(lathe_contract::monitor::v1::Webhook {
                        url: "ftp://x".into(),
                        ..Default::default()
                    }),
                    ..good.clone()
                },
            ),
            (
                "checks",
                PutMonitorRequest {
                    checks: vec![],
                    ..good.clone()
                },
            ),
        ];
        for (field, bad) in cases {
            let err = validate_monitor(&bad).unwrap_err();
            assert!(err.message.starts_with(field), "{field}: {}", err.message);
        }
    }
}
