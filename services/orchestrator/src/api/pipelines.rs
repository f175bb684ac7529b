//! Pipeline definitions: DAGs of tasks with an optional cron schedule.

use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::definitions::{Definitions, Stored};
use lathe_common::projects::ProjectCheck;
use lathe_common::reasons;
use lathe_common::validate;
use lathe_common::{Error, Result};
use lathe_contract::orchestrator::v1::orchestrator_service_server::OrchestratorService;
use lathe_contract::orchestrator::v1::{
    DeletePipelineRequest, DeletePipelineResponse, GetPipelineRequest, ListPipelinesRequest,
    ListPipelinesResponse, Pipeline, ProjectDataRequest, ProjectDataResponse, PutPipelineRequest,
};
use tonic::{Request, Response, Status};

use super::dag;

pub struct PipelinesApi {
    pipelines: Definitions<Pipeline>,
    projects: ProjectCheck,
}

impl PipelinesApi {
    pub fn new(pipelines: Definitions<Pipeline>, projects: ProjectCheck) -> Self {
        PipelinesApi { pipelines, projects }
    }

    /// The error for a pipeline not found: `project_not_found` when the project is what is missing.
    async fn missing(&self, project: &str, name: &str) -> Error {
        match self.projects.require(project).await {
            Ok(()) => not_found(project, name),
            Err(err) => err,
        }
    }
}

fn with_metadata(stored: Stored<Pipeline>) -> Pipeline {
    Pipeline {
        version: stored.version,
        create_time: Some(validate::timestamp(stored.create_time)),
        update_time: Some(validate::timestamp(stored.update_time)),
        ..stored.spec
    }
}

fn not_found(project: &str, name: &str) -> Error {
    Error::of(
        reasons::PIPELINE_NOT_FOUND,
        format!("pipeline '{name}' does not exist in project '{project}'"),
    )
}

/// A five-field cron expression: minute hour day-of-month month day-of-week.
fn validate_schedule(schedule: &str) -> Result<()> {
    if schedule.is_empty() {
        return Ok(());
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    let ranges = [
        (0, 59, "minute"),
        (0, 23, "hour"),
        (1, 31, "day of month"),
        (1, 12, "month"),
        (0, 7, "day of week"),
    ];
    if fields.len() != ranges.len() {
        return Err(Error::invalid(format!(
            "schedule '{schedule}': expected 5 fields (minute hour day-of-month month day-of-week), got {}",
            fields.len()
        )));
    }
    for (field, (min, max, what)) in fields.iter().zip(ranges) {
        for part in field.split(',') {
            let (range, step) = part.split_once('/').map_or((part, None), |(r, s)| (r, Some(s)));
            if let Some(step) = step
                && !step.parse::<u32>().is_ok_and(|s| s > 0)
            {
                return Err(Error::invalid(format!(
                    "schedule '{schedule}': bad step '{step}' in the {what} field"
                )));
            }
            if range == "*" {
                continue;
            }
            for bound in range.split('-') {
                if !bound.parse::<u32>().is_ok_and(|v| (min..=max).contains(&v)) {
                    return Err(Error::invalid(format!(
                        "schedule '{schedule}': '{bound}' is not a {what} ({min}-{max})"
                    )));
                }
            }
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl OrchestratorService for PipelinesApi {
    async fn put_pipeline(&self, request: Request<PutPipelineRequest>) -> Result<Response<Pipeline>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        validate::identifier("name", &request.name)?;
        validate_schedule(&request.schedule)?;
        dag::topological_order(&request.tasks)?;
        self.projects.require(&request.project).await?;
        let spec = Pipeline {
            project: request.project,
            name: request.name,
            description: request.description,
            schedule: request.schedule,
            tasks: request.tasks,
            ..Pipeline::default()
        };
        let stored = self.pipelines.put(&spec.project, &spec.name, &spec).await?;
        tracing::info!(project = %spec.project, pipeline = %spec.name, version = stored.version, "pipeline stored");
        Ok(Response::new(with_metadata(stored)))
    }

    async fn get_pipeline(&self, request: Request<GetPipelineRequest>) -> Result<Response<Pipeline>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let stored = self.pipelines.get(&request.project, &request.name).await?;
        match stored {
            Some(stored) => Ok(Response::new(with_metadata(stored))),
            None => Err(self.missing(&request.project, &request.name).await.into()),
        }
    }

    async fn list_pipelines(
        &self,
        request: Request<ListPipelinesRequest>,
    ) -> Result<Response<ListPipelinesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let project = request.into_inner().project;
        let pipelines: Vec<_> = self
            .pipelines
            .list(&project)
            .await?
            .into_iter()
            .map(with_metadata)
            .collect();
        if pipelines.is_empty() {
            self.projects.require(&project).await?;
        }
        Ok(Response::new(ListPipelinesResponse { pipelines }))
    }

    async fn delete_pipeline(
        &self,
        request: Request<DeletePipelineRequest>,
    ) -> Result<Response<DeletePipelineResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        if !self.pipelines.delete(&request.project, &request.name).await? {
            return Err(self.missing(&request.project, &request.name).await.into());
        }
        Ok(Response::new(DeletePipelineResponse {}))
    }

    async fn project_data(
        &self,
        request: Request<ProjectDataRequest>,
    ) -> Result<Response<ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        let n = self
            .pipelines
            .project_data(&request.project, request.delete, "pipelines")
            .await?;
        Ok(Response::new(ProjectDataResponse {
            counts: [("pipelines".to_owned(), n)].into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_schedule;

    #[test]
    fn schedules() {
        for good in ["", "0 * * * *", "*/15 2-4 1,15 * 1-5"] {
            validate_schedule(good).unwrap();
        }
        for bad in ["* * * *", "60 * * * *", "*/0 * * * *", "a b c d e"] {
            assert!(validate_schedule(bad).is_err(), "{bad}");
        }
    }
}
