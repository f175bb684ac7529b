//! Pipelines, run by the orchestrator: applying YAML definitions, reading them, triggering,
//! cancelling and re-running runs, and reading a task's log (whole, or followed as it grows).
//! Viewers read and plan, editors trigger, cancel and re-run, admins apply and delete
//! pipelines; every route needs the project in the token. Bodies and answers are the
//! contract's messages (`lathe_contract::json`), except the log, which is its raw bytes.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, delete, get, post, web};
use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::grpc::TracedChannel;
use lathe_contract::orchestrator::v1 as pb;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;
use utoipa::IntoParams;

use super::params::{ListQuery, PipelinePath, PipelineRunPath, ProjectPath, TaskLogPath};
use super::requests::{Change, Target};
use super::{Reply, Services, created, ok};
use crate::auth::{Admin, Editor, ProjectAccess, Viewer};
use crate::error::ErrorBody;

/// Response header: the offset to read the log from next.
pub const NEXT_OFFSET_HEADER: &str = "x-lathe-next-offset";
/// Response header: `true` when the try has ended and the answer reaches the end of its log.
pub const LOG_COMPLETE_HEADER: &str = "x-lathe-log-complete";

/// How often a followed log asks the orchestrator for more.
const FOLLOW_POLL: Duration = Duration::from_millis(300);

/// Parts of a followed log in flight to the client; bounds what a slow reader holds up.
const FOLLOW_QUEUE: usize = 4;

/// Plans (`dry_run`, viewer) or applies (admin) pipeline definitions. A definition with any
/// problem refuses the whole request, naming each file, path and reason.
#[utoipa::path(
    tag = "pipelines",
    params(ProjectPath),
    responses(
        (status = 200, body = pb::ApplyPipelinesResponse),
        (status = 400, body = ErrorBody, description = "Every problem, with its file and path"),
        (status = 404, body = ErrorBody, description = "No such project"),
    ),
)]
#[post("/apply")]
pub async fn apply_pipelines(
    access: ProjectAccess<Viewer>,
    body: web::Json<pb::ApplyPipelinesRequest>,
    backends: Services,
) -> Reply {
    if !body.dry_run {
        access.claims.require_role(Role::Admin)?;
    }
    let request = pb::ApplyPipelinesRequest {
        actor: access.claims.sub.clone(),
        project: access.project,
        ..body.into_inner()
    };
    ok(backends.orchestrator().apply_pipelines(request).await?)
}

/// The project's pipelines, current versions, by name, a page at a time.
#[utoipa::path(
    tag = "pipelines",
    params(ProjectPath, ListQuery),
    responses(
        (status = 200, body = pb::ListPipelinesResponse),
        (status = 400, body = ErrorBody, description = "`page_size` over 1000, or a `page_token` this server did not issue"),
        (status = 404, body = ErrorBody, description = "No such project"),
    ),
)]
#[get("")]
pub async fn list_pipelines(
    access: ProjectAccess<Viewer>,
    query: web::Query<ListQuery>,
    backends: Services,
) -> Reply {
    let (page_size, page_token) = query.into_inner().page();
    let request = pb::ListPipelinesRequest {
        project: access.project,
        page_size,
        page_token,
    };
    ok(backends.orchestrator().list_pipelines(request).await?)
}

/// One pipeline, current version, with its tasks and source.
#[utoipa::path(
    tag = "pipelines",
    params(PipelinePath),
    responses((status = 200, body = pb::Pipeline), (status = 404, body = ErrorBody)),
)]
#[get("/{name}")]
pub async fn get_pipeline(
    target: Target<Viewer, PipelinePath, pb::PipelineRef>,
    backends: Services,
) -> Reply {
    ok(backends.orchestrator().get_pipeline(target.request).await?)
}

/// Deletes a pipeline (admin); its runs stay readable.
#[utoipa::path(
    tag = "pipelines",
    params(PipelinePath),
    responses((status = 204), (status = 404, body = ErrorBody)),
)]
#[delete("/{name}")]
pub async fn delete_pipeline(
    target: Target<Admin, PipelinePath, pb::PipelineRef>,
    backends: Services,
) -> Reply {
    backends.orchestrator().delete_pipeline(target.request).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Starts a run of the pipeline's current version (editor).
#[utoipa::path(
    tag = "pipelines",
    params(PipelinePath),
    request_body = pb::TriggerRunRequest,
    responses(
        (status = 201, body = pb::PipelineRun),
        (status = 400, body = ErrorBody, description = "A parameter is unknown, missing or of the wrong type"),
        (status = 404, body = ErrorBody),
    ),
)]
#[post("/{name}/runs")]
pub async fn trigger_run(change: Change<PipelinePath, pb::TriggerRunRequest>, backends: Services) -> Reply {
    created(backends.orchestrator().trigger_run(change.request).await?)
}

/// Which runs a listing includes, and its page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only this pipeline's runs.
    pub pipeline: Option<String>,
    /// Only runs in this state.
    #[param(inline)]
    pub state: Option<pb::RunState>,
    /// Only runs created at or after this time (RFC 3339).
    pub created_after: Option<String>,
    /// Only runs created before this time (RFC 3339).
    pub created_before: Option<String>,
    /// 1 to 1000; default 100.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// The project's pipeline runs, newest first, without their task instances.
#[utoipa::path(
    tag = "pipelines",
    params(ProjectPath, RunsQuery),
    responses(
        (status = 200, body = pb::ListRunsResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such project"),
    ),
)]
#[get("")]
pub async fn list_runs(
    access: ProjectAccess<Viewer>,
    query: web::Query<RunsQuery>,
    backends: Services,
) -> Reply {
    let query = query.into_inner();
    let request = pb::ListRunsRequest {
        project: access.project,
        pipeline: query.pipeline.unwrap_or_default(),
        state: query.state.unwrap_or(pb::RunState::Unspecified).into(),
        created_after: query.created_after.unwrap_or_default(),
        created_before: query.created_before.unwrap_or_default(),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    };
    ok(backends.orchestrator().list_runs(request).await?)
}

/// One run with its task instances.
#[utoipa::path(
    tag = "pipelines",
    operation_id = "get_pipeline_run",
    params(PipelineRunPath),
    responses((status = 200, body = pb::PipelineRun), (status = 404, body = ErrorBody)),
)]
#[get("/{run_id}")]
pub async fn get_run(target: Target<Viewer, PipelineRunPath, pb::RunRef>, backends: Services) -> Reply {
    ok(backends.orchestrator().get_run(target.request).await?)
}

/// Cancels a queued or running run (editor): running tasks are killed, the others skipped.
#[utoipa::path(
    tag = "pipelines",
    params(PipelineRunPath),
    responses(
        (status = 200, body = pb::PipelineRun), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The run has finished"),
    ),
)]
#[post("/{run_id}/cancel")]
pub async fn cancel_run(target: Target<Editor, PipelineRunPath, pb::RunRef>, backends: Services) -> Reply {
    ok(backends.orchestrator().cancel_run(target.request).await?)
}

/// Runs a failed or cancelled run again from its failed, upstream_failed and skipped tasks
/// (editor); the tasks that succeeded keep their outputs.
#[utoipa::path(
    tag = "pipelines",
    params(PipelineRunPath),
    responses(
        (status = 200, body = pb::PipelineRun), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The run is neither failed nor cancelled"),
    ),
)]
#[post("/{run_id}/rerun")]
pub async fn rerun_run(target: Target<Editor, PipelineRunPath, pb::RunRef>, backends: Services) -> Reply {
    ok(backends.orchestrator().rerun_run(target.request).await?)
}

/// Which part of a task's log to read.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// The try whose log to read; the latest when absent.
    pub try_number: Option<u32>,
    /// Byte offset to read from; 0 when absent.
    pub offset: Option<u64>,
    /// Stream the log as it grows, until the try ends.
    #[serde(default)]
    pub follow: bool,
}

/// A task's log (stdout and stderr interleaved as written) from a byte offset. Without
/// `follow`, what is written so far, with the offset to ask for next and whether the log is
/// complete in headers; with `follow=true`, a chunked stream that ends when the try does.
#[utoipa::path(
    tag = "pipelines",
    params(TaskLogPath, LogQuery),
    responses(
        (status = 200, body = String, content_type = "text/plain", description = "The log's bytes from `offset`",
            headers(
                ("x-lathe-next-offset" = u64, description = "The offset to ask for next (not when following)"),
                ("x-lathe-log-complete" = bool, description = "Whether the try has ended and the answer reaches the end of its log (not when following)"),
            )),
        (status = 400, body = ErrorBody, description = "No such try"),
        (status = 404, body = ErrorBody, description = "No such run or task"),
    ),
)]
#[get("/{run_id}/tasks/{task_id}/log")]
pub async fn read_task_log(
    _access: ProjectAccess<Viewer>,
    path: web::Path<TaskLogPath>,
    query: web::Query<LogQuery>,
    backends: Services,
) -> Reply {
    let (project, run_id, task_id) = path.into_inner().parts();
    let query = query.into_inner();
    let request = pb::ReadTaskLogRequest {
        project,
        run_id,
        task_id,
        try_number: query.try_number.unwrap_or(0),
        offset: query.offset.unwrap_or(0),
    };
    let mut client = backends.orchestrator();
    // The first part is read here, so a request that fails its checks gets its HTTP status.
    let first = client.read_task_log(request.clone()).await?.into_inner();
    if !query.follow {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain")
            .insert_header((NEXT_OFFSET_HEADER, first.next_offset.to_string()))
            .insert_header((LOG_COMPLETE_HEADER, first.complete.to_string()))
            .body(first.data));
    }
    let (sender, receiver) = mpsc::channel(FOLLOW_QUEUE);
    // The follower runs on its own task with the caller in scope, as the body is streamed
    // after the handler (and the caller's scope) has returned.
    tokio::spawn(access::carry_caller(
        follow_log(client, request, first, sender).instrument(tracing::Span::current()),
    ));
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .streaming(ReceiverStream::new(receiver)))
}

/// Sends `first` and then every new part of the log, polling every [`FOLLOW_POLL`], until the
/// try's log is complete or the client has gone. Later parts read the try `first` was from, so
/// a retry starting meanwhile does not splice two logs.
async fn follow_log(
    mut client: OrchestratorServiceClient<TracedChannel>,
    mut request: pb::ReadTaskLogRequest,
    first: pb::ReadTaskLogResponse,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    request.try_number = first.try_number;
    let mut part = first;
    loop {
        request.offset = part.next_offset;
        if !part.data.is_empty() && sender.send(Ok(part.data)).await.is_err() {
            return;
        }
        if part.complete {
            return;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
        if sender.is_closed() {
            return;
        }
        part = match client.read_task_log(request.clone()).await {
            Ok(answer) => answer.into_inner(),
            Err(status) => {
                tracing::warn!(run = %request.run_id, task = %request.task_id, error = %status.message(), "following a task log failed");
                // An error item aborts the chunked answer, so the client sees a broken stream
                // rather than a log that looks complete.
                let _ = sender
                    .send(Err(std::io::Error::other(status.message().to_owned())))
                    .await;
                return;
            }
        };
    }
}
