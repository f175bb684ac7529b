//! The `OrchestratorService` methods: check the caller, convert, delegate. Viewers read,
//! editors trigger, cancel and re-run, admins apply and delete pipelines.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::DateTime;
use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::projects::ProjectCheck;
use lathe_common::{Error, reasons, validate};
use lathe_contract::orchestrator::v1 as pb;
use lathe_contract::orchestrator::v1::orchestrator_service_server::OrchestratorService;
use object_store::ObjectStore;
use tonic::{Request, Response, Status};

use super::convert;
use crate::engine::logs::read_log;
use crate::engine::runs::{NewRun, Runs, Trigger, now_ms, pipeline_not_found};
use crate::engine::states::{RunState, TaskState};
use crate::store::pipelines::Action;
use crate::store::{project_data, run_queries};

pub struct PipelinesApi {
    runs: Runs,
    objects: Arc<dyn ObjectStore>,
    projects: ProjectCheck,
}

impl PipelinesApi {
    pub fn new(runs: Runs, objects: Arc<dyn ObjectStore>, projects: ProjectCheck) -> Self {
        PipelinesApi {
            runs,
            objects,
            projects,
        }
    }

    /// The error for a pipeline not found: `project_not_found` when the project is what is missing.
    async fn missing(&self, project: &str, name: &str) -> Error {
        match self.projects.require(project).await {
            Ok(()) => pipeline_not_found(project, name),
            Err(err) => err,
        }
    }

    async fn run_answer(&self, project: &str, run_id: &str) -> Result<pb::PipelineRun, Error> {
        let row = self.runs.run_row(project, run_id).await?;
        let tasks = self.runs.tasks(run_id).await?;
        let order: Vec<String> = self
            .runs
            .pipelines
            .version(&row.project, &row.pipeline, row.pipeline_version)
            .await
            .map(|p| p.tasks.iter().map(|t| t.id.clone()).collect())
            .unwrap_or_default();
        Ok(convert::run(&row, &tasks, &order))
    }
}

fn time_filter(field: &str, text: &str) -> Result<Option<i64>, Error> {
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|e| Error::invalid(format!("{field}: '{text}' is not an RFC 3339 time ({e})")))
}

#[tonic::async_trait]
impl OrchestratorService for PipelinesApi {
    async fn apply_pipelines(
        &self,
        request: Request<pb::ApplyPipelinesRequest>,
    ) -> Result<Response<pb::ApplyPipelinesResponse>, Status> {
        let project = request.get_ref().project.clone();
        let caller = access::require(
            &request,
            if request.get_ref().dry_run {
                Role::Viewer
            } else {
                Role::Admin
            },
            &project,
        )?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        if request.files.is_empty() {
            return Err(Error::invalid("files: give at least one file of pipeline definitions").into());
        }
        self.projects.require(&request.project).await?;
        let files: Vec<(String, String)> = request.files.into_iter().map(|f| (f.path, f.content)).collect();
        let actor = if request.actor.is_empty() {
            caller.subject().to_owned()
        } else {
            request.actor
        };
        let changes = self
            .runs
            .pipelines
            .apply(&request.project, &files, request.dry_run, &actor, now_ms())
            .await?;
        Ok(Response::new(pb::ApplyPipelinesResponse {
            changes: changes
                .into_iter()
                .map(|c| pb::PipelineChange {
                    name: c.name,
                    action: match c.action {
                        Action::Unchanged => pb::PipelineChangeAction::Unchanged,
                        Action::Create => pb::PipelineChangeAction::Create,
                        Action::Update => pb::PipelineChangeAction::Update,
                    }
                    .into(),
                    version: u64::try_from(c.version).unwrap_or(0),
                    file: c.file,
                })
                .collect(),
            applied: !request.dry_run,
        }))
    }

    async fn get_pipeline(
        &self,
        request: Request<pb::PipelineRef>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        match self
            .runs
            .pipelines
            .current(&request.project, &request.name)
            .await?
        {
            Some(current) => Ok(Response::new(convert::pipeline(&current))),
            None => Err(self.missing(&request.project, &request.name).await.into()),
        }
    }

    async fn list_pipelines(
        &self,
        request: Request<pb::ListPipelinesRequest>,
    ) -> Result<Response<pb::ListPipelinesResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let (page, next_page_token) = self
            .runs
            .pipelines
            .page(&request.project, request.page_size, &request.page_token)
            .await?;
        if page.is_empty() {
            self.projects.require(&request.project).await?;
        }
        Ok(Response::new(pb::ListPipelinesResponse {
            pipelines: page.iter().map(convert::pipeline).collect(),
            next_page_token,
        }))
    }

    async fn delete_pipeline(
        &self,
        request: Request<pb::PipelineRef>,
    ) -> Result<Response<pb::DeletePipelineResponse>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        if !self
            .runs
            .pipelines
            .delete(&request.project, &request.name)
            .await?
        {
            return Err(self.missing(&request.project, &request.name).await.into());
        }
        Ok(Response::new(pb::DeletePipelineResponse {}))
    }

    async fn trigger_run(
        &self,
        request: Request<pb::TriggerRunRequest>,
    ) -> Result<Response<pb::PipelineRun>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let logical_date = time_filter("logical_date", &request.logical_date)?;
        let params: BTreeMap<String, String> = request.params.into_iter().collect();
        let actor = if request.actor.is_empty() {
            caller.subject().to_owned()
        } else {
            request.actor
        };
        let triggered = self
            .runs
            .trigger(
                NewRun {
                    project: &request.project,
                    pipeline: &request.pipeline,
                    params: &params,
                    logical_date,
                    trigger: Trigger::Api,
                    actor: &actor,
                },
                now_ms(),
            )
            .await;
        let run = match triggered {
            Ok(run) => run,
            Err(err) if err.reason == reasons::PIPELINE_NOT_FOUND.name => {
                return Err(self.missing(&request.project, &request.pipeline).await.into());
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(project = %run.project, pipeline = %run.pipeline, run = %run.id, "run triggered");
        Ok(Response::new(self.run_answer(&request.project, &run.id).await?))
    }

    async fn get_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::PipelineRun>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        Ok(Response::new(
            self.run_answer(&request.project, &request.run_id).await?,
        ))
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let state = pb::RunState::try_from(request.state)
            .map_err(|_| Error::invalid(format!("state: {} is not a run state", request.state)))?;
        let query = run_queries::RunQuery {
            project: request.project.clone(),
            pipeline: (!request.pipeline.is_empty()).then_some(request.pipeline),
            state: RunState::from_proto(state),
            created_after: time_filter("created_after", &request.created_after)?,
            created_before: time_filter("created_before", &request.created_before)?,
            page_size: request.page_size,
            page_token: request.page_token,
        };
        let (rows, next_page_token) = run_queries::list(self.runs.pipelines.db(), &query).await?;
        if rows.is_empty() {
            self.projects.require(&query.project).await?;
        }
        Ok(Response::new(pb::ListRunsResponse {
            runs: rows.iter().map(|r| convert::run(r, &[], &[])).collect(),
            next_page_token,
        }))
    }

    async fn cancel_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::PipelineRun>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.runs
            .cancel(&request.project, &request.run_id, now_ms())
            .await?;
        Ok(Response::new(
            self.run_answer(&request.project, &request.run_id).await?,
        ))
    }

    async fn rerun_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::PipelineRun>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        self.runs
            .rerun(&request.project, &request.run_id, now_ms())
            .await?;
        Ok(Response::new(
            self.run_answer(&request.project, &request.run_id).await?,
        ))
    }

    async fn read_task_log(
        &self,
        request: Request<pb::ReadTaskLogRequest>,
    ) -> Result<Response<pb::ReadTaskLogResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        self.runs.run_row(&request.project, &request.run_id).await?;
        let instance = self
            .runs
            .tasks(&request.run_id)
            .await?
            .into_iter()
            .find(|t| t.task_id == request.task_id)
            .ok_or_else(|| {
                Error::of(
                    reasons::TASK_NOT_FOUND,
                    format!("run {} has no task '{}'", request.run_id, request.task_id),
                )
            })?;
        let latest = instance.try_number.max(1);
        let try_number = match request.try_number {
            0 => latest,
            n => i32::try_from(n).unwrap_or(i32::MAX),
        };
        if try_number > latest {
            return Err(Error::invalid(format!(
                "try_number: task '{}' has had {} tries",
                request.task_id, instance.try_number
            ))
            .into());
        }
        let part = read_log(
            self.runs.pipelines.db(),
            &self.objects,
            &request.run_id,
            &request.task_id,
            try_number,
            request.offset,
        )
        .await?;
        // A try that never started (skipped, upstream_failed) has no log and never will.
        let never = instance.try_number == 0 && TaskState::parse(&instance.state).is_finished();
        Ok(Response::new(pb::ReadTaskLogResponse {
            next_offset: request.offset + part.data.len() as u64,
            data: part.data,
            complete: part.complete || never,
            try_number: u32::try_from(try_number).unwrap_or(0),
        }))
    }

    async fn notify_alert(
        &self,
        request: Request<pb::NotifyAlertRequest>,
    ) -> Result<Response<pb::NotifyAlertResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let started = self
            .runs
            .on_alert(
                &request.project,
                &request.monitor,
                (!request.pipeline.is_empty()).then(|| {
                    (
                        request.pipeline.as_str(),
                        std::time::Duration::from_secs(u64::from(request.cooldown_seconds)),
                    )
                }),
                now_ms(),
            )
            .await?;
        Ok(Response::new(pb::NotifyAlertResponse {
            pipelines: started
                .into_iter()
                .map(|(pipeline, run)| pb::AlertedPipeline {
                    pipeline,
                    run_id: run.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn project_data(
        &self,
        request: Request<pb::ProjectDataRequest>,
    ) -> Result<Response<pb::ProjectDataResponse>, Status> {
        // Counting and purging a project's data are steps of its deletion: admins only.
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        let counts = project_data::count_or_delete(
            self.runs.pipelines.db(),
            &self.objects,
            &request.project,
            request.delete,
        )
        .await?;
        Ok(Response::new(pb::ProjectDataResponse { counts }))
    }
}
