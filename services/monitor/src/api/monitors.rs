//! Monitor definitions: which columns to compare between a reference and live windows, with
//! which drift statistic and threshold, and what to retrain when drift is raised.

use std::collections::HashSet;

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::definitions::{Definitions, Stored};
use lathe_common::projects::ProjectCheck;
use lathe_common::reasons;
use lathe_common::validate;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::monitor_service_server::MonitorService;
use lathe_contract::monitor::v1::{
    DeleteMonitorRequest, DeleteMonitorResponse, DriftMetric, FeatureCheck, GetMonitorRequest,
    ListMonitorsRequest, ListMonitorsResponse, Monitor, ProjectDataRequest, ProjectDataResponse,
    PutMonitorRequest,
};
use tonic::{Request, Response, Status};

pub struct MonitorsApi {
    monitors: Definitions<Monitor>,
    projects: ProjectCheck,
}

impl MonitorsApi {
    pub fn new(monitors: Definitions<Monitor>, projects: ProjectCheck) -> Self {
        MonitorsApi { monitors, projects }
    }

    /// The error for a monitor not found: `project_not_found` when the project is what is missing.
    async fn missing(&self, project: &str, name: &str) -> Error {
        match self.projects.require(project).await {
            Ok(()) => not_found(project, name),
            Err(err) => err,
        }
    }
}

fn with_metadata(stored: Stored<Monitor>) -> Monitor {
    Monitor {
        version: stored.version,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
        ..stored.spec
    }
}

fn not_found(project: &str, name: &str) -> Error {
    Error::of(
        reasons::MONITOR_NOT_FOUND,
        format!("monitor '{name}' does not exist in project '{project}'"),
    )
}

fn validate_checks(checks: &[FeatureCheck]) -> Result<()> {
    if checks.is_empty() {
        return Err(Error::invalid("checks: a monitor needs at least one check"));
    }
    let mut seen = HashSet::new();
    for (i, check) in checks.iter().enumerate() {
        if check.column.is_empty() || check.column.len() > 256 {
            return Err(Error::invalid(format!(
                "checks[{i}].column: name the feature (`view:feature`) or column"
            )));
        }
        let metric = match DriftMetric::try_from(check.metric) {
            Ok(DriftMetric::Unspecified) | Err(_) => {
                return Err(Error::invalid(format!(
                    "checks[{i}].metric: set one of psi, kl_divergence, js_distance, wasserstein, ks, chi_square"
                )));
            }
            Ok(metric) => metric,
        };
        if !seen.insert((check.column.as_str(), check.metric)) {
            return Err(Error::invalid(format!(
                "checks[{i}]: column '{}' already has a {} check",
                check.column,
                metric.as_str_name()
            )));
        }
        let threshold_ok = match metric {
            // p-value thresholds.
            DriftMetric::Ks | DriftMetric::ChiSquare => check.threshold > 0.0 && check.threshold < 1.0,
            // The JS distance is bounded by 1 (log base 2).
            DriftMetric::JsDistance => check.threshold > 0.0 && check.threshold <= 1.0,
            DriftMetric::Psi
            | DriftMetric::KlDivergence
            | DriftMetric::Wasserstein
            | DriftMetric::Unspecified => check.threshold > 0.0 && check.threshold.is_finite(),
        };
        if !threshold_ok {
            return Err(Error::invalid(format!(
                "checks[{i}].threshold: {} is out of range for {} (p-value tests take 0 < t < 1, JS 0 < t <= 1, \
                 others t > 0)",
                check.threshold,
                metric.as_str_name()
            )));
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl MonitorService for MonitorsApi {
    async fn put_monitor(&self, request: Request<PutMonitorRequest>) -> Result<Response<Monitor>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        validate::identifier("name", &request.name)?;
        validate_checks(&request.checks)?;
        if request.window_seconds == 0 {
            return Err(
                Error::invalid("window_seconds: a live window must be at least 1 second long").into(),
            );
        }
        if !request.retrain_pipeline.is_empty() {
            validate::identifier("retrain_pipeline", &request.retrain_pipeline)?;
        }
        self.projects.require(&request.project).await?;
        let spec = Monitor {
            project: request.project,
            name: request.name,
            description: request.description,
            checks: request.checks,
            window_seconds: request.window_seconds,
            retrain_pipeline: request.retrain_pipeline,
            ..Monitor::default()
        };
        let stored = self.monitors.put(&spec.project, &spec.name, &spec).await?;
        tracing::info!(project = %spec.project, monitor = %spec.name, version = stored.version, "monitor stored");
        Ok(Response::new(with_metadata(stored)))
    }

    async fn get_monitor(&self, request: Request<GetMonitorRequest>) -> Result<Response<Monitor>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let stored = self.monitors.get(&request.project, &request.name).await?;
        match stored {
            Some(stored) => Ok(Response::new(with_metadata(stored))),
            None => Err(self.missing(&request.project, &request.name).await.into()),
        }
    }

    async fn list_monitors(
        &self,
        request: Request<ListMonitorsRequest>,
    ) -> Result<Response<ListMonitorsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let project = request.into_inner().project;
        let monitors: Vec<_> = self
            .monitors
            .list(&project)
            .await?
            .into_iter()
            .map(with_metadata)
            .collect();
        if monitors.is_empty() {
            self.projects.require(&project).await?;
        }
        Ok(Response::new(ListMonitorsResponse { monitors }))
    }

    async fn delete_monitor(
        &self,
        request: Request<DeleteMonitorRequest>,
    ) -> Result<Response<DeleteMonitorResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        if !self.monitors.delete(&request.project, &request.name).await? {
            return Err(self.missing(&request.project, &request.name).await.into());
        }
        Ok(Response::new(DeleteMonitorResponse {}))
    }

    async fn project_data(
        &self,
        request: Request<ProjectDataRequest>,
    ) -> Result<Response<ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        let n = self
            .monitors
            .project_data(&request.project, request.delete, "monitors")
            .await?;
        Ok(Response::new(ProjectDataResponse {
            counts: [("monitors".to_owned(), n)].into(),
        }))
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
        validate_checks(&[
            check("d:conv_rate", DriftMetric::Psi, 0.2),
            check("d:conv_rate", DriftMetric::Ks, 0.05),
        ])
        .unwrap();
        for bad in [
            check("x", DriftMetric::Ks, 1.5),
            check("x", DriftMetric::Psi, -1.0),
            check("x", DriftMetric::JsDistance, 2.0),
            check("x", DriftMetric::Unspecified, 0.1),
            check("", DriftMetric::Psi, 0.1),
        ] {
            assert!(validate_checks(std::slice::from_ref(&bad)).is_err(), "{bad:?}");
        }
        let dup = [
            check("x", DriftMetric::Psi, 0.1),
            check("x", DriftMetric::Psi, 0.2),
        ];
        assert!(validate_checks(&dup).unwrap_err().message.contains("already has"));
    }
}
