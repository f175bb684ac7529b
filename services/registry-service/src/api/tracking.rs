//! Experiments, runs, params, tags and metrics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use futures::Stream;
use lathe_common::access;
use lathe_common::auth::Role;
use lathe_common::{Error, ErrorCode, Result};
use lathe_common::{db, validate};
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::tracking_service_server::TrackingService;
use object_store::ObjectStore;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, IntoTableRef, OnConflict, Query, SelectStatement, TableRef, UnionType,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use tonic::{Request, Response, Status, Streaming};

use super::{
    decode_token, edit_tags, finish_page, json_to_map, map_to_json, now_ms, page_size, validate_tags,
};
use crate::domain::names;
use crate::store::cleanup::CleanupSignal;
use crate::store::models::pending_deletion;
use crate::store::project;
use crate::store::tracking::{artifact, experiment, latest_metric, metric_history, run, run_param, run_tag};

pub const ACTIVE: &str = "active";
pub const DELETED: &str = "deleted";

/// Limits of one log-batch call (MLflow's).
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;

#[derive(Clone)]
pub struct TrackingApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) objects_url: String,
    pub(crate) cleanup: CleanupSignal,
}

impl TrackingApi {
    pub fn new(
        db: DatabaseConnection,
        objects: Arc<dyn ObjectStore>,
        objects_url: String,
        cleanup: CleanupSignal,
    ) -> Self {
        TrackingApi {
            db,
            objects,
            objects_url,
            cleanup,
        }
    }

    pub(crate) async fn experiment(&self, project: &str, id: &str) -> Result<experiment::Model> {
        let not_found = || {
            Error::not_found(
                "experiment_not_found",
                format!("experiment '{id}' does not exist in project '{project}'"),
            )
        };
        let found = match id.parse::<i64>() {
            Ok(id) => experiment::Entity::find_by_id(id).one(&self.db).await?,
            Err(_) => None,
        };
        match found.filter(|e| e.project == project) {
            Some(found) => Ok(found),
            None => self.missing(project, not_found()).await,
        }
    }

    /// `err` (an experiment, run or model not found), or `project_not_found` when the project
    /// is what is missing: asked only after a read found nothing, so hits cost no query more.
    pub(crate) async fn missing<T>(&self, project: &str, err: Error) -> Result<T> {
        project::require(&self.db, project).await?;
        Err(err)
    }

    /// The run, if it exists in `project`.
    pub(crate) async fn run(&self, project: &str, run_id: &str) -> Result<run::Model> {
        let found = run::Entity::find_by_id(run_id.to_owned()).one(&self.db).await?;
        match found.filter(|r| r.project == project) {
            Some(found) => Ok(found),
            None => {
                let err = Error::not_found(
                    "run_not_found",
                    format!("run '{run_id}' does not exist in project '{project}'"),
                );
                self.missing(project, err).await
            }
        }
    }

    /// The run, refusing writes to runs of deleted experiments.
    pub(crate) async fn writable_run(&self, project: &str, run_id: &str) -> Result<run::Model> {
        let run = self.run(project, run_id).await?;
        if run.lifecycle_stage != ACTIVE {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("run '{run_id}' belongs to a deleted experiment; restore the experiment first"),
            )
            .with_reason("run_deleted"));
        }
        Ok(run)
    }

    /// Object-store prefix of a run's files.
    pub(crate) fn run_prefix(run: &run::Model) -> String {
        format!("experiments/{}/runs/{}", run.experiment_id, run.id)
    }

    /// The runs with their params, tags and latest metrics, read in one query (see
    /// [`details_query`]) whatever the number of runs.
    pub(crate) async fn hydrate(&self, runs: Vec<run::Model>) -> Result<Vec<pb::Run>> {
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let mut params: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut tags: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut metrics: HashMap<String, Vec<pb::Metric>> = HashMap::new();
        if !ids.is_empty() {
            let statement = self.db.get_database_backend().build(&details_query(&ids));
            for detail in RunDetail::find_by_statement(statement).all(&self.db).await? {
                match (detail.kind, detail.text, detail.value) {
                    (DETAIL_PARAM, Some(text), _) => {
                        params.entry(detail.run_id).or_default().insert(detail.key, text);
                    }
                    (DETAIL_TAG, Some(text), _) => {
                        tags.entry(detail.run_id).or_default().insert(detail.key, text);
                    }
                    (DETAIL_METRIC, _, Some(value)) => {
                        metrics.entry(detail.run_id).or_default().push(pb::Metric {
                            key: detail.key,
                            value,
                            timestamp_ms: detail.timestamp.unwrap_or(0),
                            step: detail.step.unwrap_or(0),
                        });
                    }
                    (kind, ..) => {
                        return Err(Error::internal(format!(
                            "run detail of kind {kind} for run {} has no value",
                            detail.run_id
                        )));
                    }
                }
            }
        }
        for list in metrics.values_mut() {
            list.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        }
        Ok(runs
            .into_iter()
            .map(|r| pb::Run {
                params: params.remove(&r.id).unwrap_or_default(),
                tags: tags.remove(&r.id).unwrap_or_default(),
                latest_metrics: metrics.remove(&r.id).unwrap_or_default(),
                project: r.project,
                experiment_id: r.experiment_id.to_string(),
                name: r.name,
                status: status_from_str(&r.status) as i32,
                start_time_ms: r.start_time,
                end_time_ms: r.end_time.unwrap_or(0),
                user_id: r.user_id,
                lifecycle_stage: lifecycle(&r.lifecycle_stage) as i32,
                artifact_uri: r.artifact_uri,
                run_id: r.id,
            })
            .collect())
    }

    async fn set_experiment_stage(
        &self,
        reference: pb::ExperimentRef,
        stage: &str,
    ) -> Result<pb::Experiment> {
        let found = self
            .experiment(&reference.project, &reference.experiment_id)
            .await?;
        let txn = db::begin_write(&self.db).await?;
        let id = found.id;
        let mut model = found.into_active_model();
        model.lifecycle_stage = Set(stage.to_owned());
        model.update_time = Set(Utc::now());
        let updated = model.update(&txn).await?;
        // A deleted experiment's runs are deleted with it, and come back with it.
        run::Entity::update_many()
            .col_expr(run::Column::LifecycleStage, Expr::value(stage))
            .filter(run::Column::ExperimentId.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        tracing::info!(project = %updated.project, experiment = %updated.name, stage, "experiment lifecycle changed");
        Ok(experiment_to_proto(updated))
    }
}

/// The rows of one log-batch, written in `txn`: new params (a changed one is refused), tags
/// (last value wins), metric history and each key's latest value.
async fn log_batch_rows(
    txn: &DatabaseTransaction,
    run_id: &str,
    request: &pb::LogBatchRequest,
    metrics: &[pb::Metric],
) -> Result<()> {
    if !request.params.is_empty() {
        let keys: Vec<&str> = request.params.iter().map(|p| p.key.as_str()).collect();
        let existing: HashMap<String, String> = run_param::Entity::find()
            .filter(run_param::Column::RunId.eq(run_id))
            .filter(run_param::Column::Key.is_in(keys))
            .all(txn)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect();
        let mut fresh = Vec::new();
        for p in &request.params {
            match existing.get(&p.key) {
                Some(old) if old != &p.value => {
                    return Err(Error::invalid(format!(
                        "param '{}' was already logged as '{old}'; params cannot change (log '{}' under a new key)",
                        p.key, p.value
                    ))
                    .with_reason("param_changed"));
                }
                Some(_) => {}
                None => fresh.push(run_param::ActiveModel {
                    run_id: Set(run_id.to_owned()),
                    key: Set(p.key.clone()),
                    value: Set(p.value.clone()),
                }),
            }
        }
        if !fresh.is_empty() {
            // A concurrent batch may have logged one of these keys since the read: run
            // again, to compare with what it logged.
            run_param::Entity::insert_many(fresh)
                .exec(txn)
                .await
                .map_err(|err| match err.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => db::write_conflict(&err),
                    _ => Error::from(err),
                })?;
        }
    }

    // Last tag value in the batch wins; rows go in key order so that concurrent batches lock
    // them in the same order and cannot deadlock.
    let tags: BTreeMap<&str, &str> = request
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    if !tags.is_empty() {
        run_tag::Entity::insert_many(tags.iter().map(|(k, v)| run_tag::ActiveModel {
            run_id: Set(run_id.to_owned()),
            key: Set((*k).to_owned()),
            value: Set((*v).to_owned()),
        }))
        .on_conflict(
            OnConflict::columns([run_tag::Column::RunId, run_tag::Column::Key])
                .update_column(run_tag::Column::Value)
                .to_owned(),
        )
        .exec(txn)
        .await
        .map_err(Error::from)?;
    }

    if !metrics.is_empty() {
        metric_history::Entity::insert_many(metrics.iter().map(|m| metric_history::ActiveModel {
            run_id: Set(run_id.to_owned()),
            key: Set(m.key.clone()),
            step: Set(m.step),
            timestamp: Set(m.timestamp_ms),
            value: Set(m.value),
            ..Default::default()
        }))
        .exec(txn)
        .await
        .map_err(Error::from)?;
        // The newest of the batch per key, then merged with what is stored: only a
        // higher step (or the same step, later) replaces the latest value.
        // Key order, for the same reason as the tags.
        let mut newest: BTreeMap<&str, &pb::Metric> = BTreeMap::new();
        for m in metrics {
            let entry = newest.entry(m.key.as_str()).or_insert(m);
            if (m.step, m.timestamp_ms) >= (entry.step, entry.timestamp_ms) {
                *entry = m;
            }
        }
        let newer = Expr::cust(
            "excluded.step > registry_latest_metrics.step OR (excluded.step = registry_latest_metrics.step \
             AND excluded.timestamp >= registry_latest_metrics.timestamp)",
        );
        latest_metric::Entity::insert_many(newest.values().map(|m| latest_metric::ActiveModel {
            run_id: Set(run_id.to_owned()),
            key: Set(m.key.clone()),
            step: Set(m.step),
            timestamp: Set(m.timestamp_ms),
            value: Set(m.value),
        }))
        .on_conflict(
            OnConflict::columns([latest_metric::Column::RunId, latest_metric::Column::Key])
                .update_columns([
                    latest_metric::Column::Step,
                    latest_metric::Column::Timestamp,
                    latest_metric::Column::Value,
                ])
                .action_and_where(newer)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(Error::from)?;
    }
    Ok(())
}

const DETAIL_PARAM: i32 = 0;
const DETAIL_TAG: i32 = 1;
const DETAIL_METRIC: i32 = 2;

/// One param, tag or latest metric of a run, as [`details_query`] returns it.
#[derive(FromQueryResult)]
struct RunDetail {
    run_id: String,
    kind: i32,
    key: String,
    /// A param's or tag's value.
    text: Option<String>,
    /// A metric's value, step and time.
    value: Option<f64>,
    step: Option<i64>,
    timestamp: Option<i64>,
}

/// The params, tags and latest metrics of the runs `ids` as one `UNION ALL`: one round trip
/// instead of three for a page of runs. The NULLs are typed, because PostgreSQL resolves the
/// type of an untyped NULL column of a union's first branches to text before it sees the
/// metrics' numbers.
fn details_query(ids: &[String]) -> SelectStatement {
    let null = |sql_type: &str| Expr::cust(format!("CAST(NULL AS {sql_type})"));
    let branch = |table: TableRef, kind: i32| {
        let mut select = Query::select();
        select
            .column(Alias::new("run_id"))
            .expr_as(Expr::val(kind), Alias::new("kind"))
            .column(Alias::new("key"));
        if kind == DETAIL_METRIC {
            select
                .expr_as(null("TEXT"), Alias::new("text"))
                .column(Alias::new("value"))
                .column(Alias::new("step"))
                .column(Alias::new("timestamp"));
        } else {
            select
                .expr_as(Expr::col(Alias::new("value")), Alias::new("text"))
                .expr_as(null("DOUBLE PRECISION"), Alias::new("value"))
                .expr_as(null("BIGINT"), Alias::new("step"))
                .expr_as(null("BIGINT"), Alias::new("timestamp"));
        }
        select
            .from(table)
            .and_where(Expr::col(Alias::new("run_id")).is_in(ids.iter().cloned()));
        select
    };
    let mut query = branch(run_param::Entity.into_table_ref(), DETAIL_PARAM);
    query
        .union(
            UnionType::All,
            branch(run_tag::Entity.into_table_ref(), DETAIL_TAG),
        )
        .union(
            UnionType::All,
            branch(latest_metric::Entity.into_table_ref(), DETAIL_METRIC),
        );
    query
}

pub fn lifecycle(stage: &str) -> pb::LifecycleStage {
    if stage == DELETED {
        pb::LifecycleStage::Deleted
    } else {
        pb::LifecycleStage::Active
    }
}

pub fn status_from_str(status: &str) -> pb::RunStatus {
    pb::RunStatus::from_str_name(&format!("RUN_STATUS_{status}")).unwrap_or(pb::RunStatus::Unspecified)
}

fn status_name(status: pb::RunStatus) -> Result<&'static str> {
    match status {
        pb::RunStatus::Running => Ok("RUNNING"),
        pb::RunStatus::Finished => Ok("FINISHED"),
        pb::RunStatus::Failed => Ok("FAILED"),
        pb::RunStatus::Killed => Ok("KILLED"),
        pb::RunStatus::Scheduled => Ok("SCHEDULED"),
        pb::RunStatus::Unspecified => Err(Error::invalid(
            "status: use RUNNING, FINISHED, FAILED, KILLED or SCHEDULED",
        )),
    }
}

fn experiment_to_proto(e: experiment::Model) -> pb::Experiment {
    pb::Experiment {
        project: e.project,
        experiment_id: e.id.to_string(),
        name: e.name,
        lifecycle_stage: lifecycle(&e.lifecycle_stage) as i32,
        tags: json_to_map(e.tags),
        artifact_location: e.artifact_location,
        create_time: Some(validate::timestamp(e.create_time)),
        update_time: Some(validate::timestamp(e.update_time)),
    }
}

pub(crate) fn view_stage(view: i32) -> Result<Option<&'static str>> {
    match pb::ViewType::try_from(view) {
        Ok(pb::ViewType::ActiveOnly) => Ok(Some(ACTIVE)),
        Ok(pb::ViewType::DeletedOnly) => Ok(Some(DELETED)),
        Ok(pb::ViewType::All) => Ok(None),
        Err(_) => Err(Error::invalid("view: use ACTIVE_ONLY, DELETED_ONLY or ALL")),
    }
}

fn validate_batch(request: &pb::LogBatchRequest) -> Result<()> {
    if request.metrics.len() > MAX_BATCH_METRICS
        || request.params.len() > MAX_BATCH_PARAMS
        || request.tags.len() > MAX_BATCH_TAGS
    {
        return Err(Error::invalid(format!(
            "a batch holds at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} params and {MAX_BATCH_TAGS} tags"
        )));
    }
    for (i, m) in request.metrics.iter().enumerate() {
        names::key(&format!("metrics[{i}].key"), &m.key)?;
        if !m.value.is_finite() {
            return Err(Error::invalid(format!(
                "metrics[{i}].value: '{}' must be a finite number",
                m.key
            )));
        }
    }
    let mut seen = HashSet::new();
    for (i, p) in request.params.iter().enumerate() {
        names::key(&format!("params[{i}].key"), &p.key)?;
        if p.value.len() > names::MAX_PARAM_VALUE_LEN {
            return Err(Error::invalid(format!(
                "params[{i}].value: at most {} bytes",
                names::MAX_PARAM_VALUE_LEN
            )));
        }
        if !seen.insert(p.key.as_str()) {
            return Err(Error::invalid(format!(
                "params[{i}].key: '{}' appears twice in the batch",
                p.key
            )));
        }
    }
    for (i, t) in request.tags.iter().enumerate() {
        names::key(&format!("tags[{i}].key"), &t.key)?;
        if t.value.len() > names::MAX_TAG_VALUE_LEN {
            return Err(Error::invalid(format!(
                "tags[{i}].value: at most {} bytes",
                names::MAX_TAG_VALUE_LEN
            )));
        }
    }
    Ok(())
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadArtifactResponse, Status>> + Send>>;

#[tonic::async_trait]
impl TrackingService for TrackingApi {
    async fn create_experiment(
        &self,
        request: Request<pb::CreateExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        validate::project_name("project", &request.project)?;
        names::display_name("name", &request.name)?;
        validate_tags(&request.tags)?;
        let now = Utc::now();
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        project::require_shared(&txn, &request.project).await?;
        let inserted = experiment::ActiveModel {
            project: Set(request.project.clone()),
            name: Set(request.name.clone()),
            lifecycle_stage: Set(ACTIVE.to_owned()),
            tags: Set(map_to_json(&request.tags)),
            artifact_location: Set(String::new()),
            create_time: Set(now),
            update_time: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let inserted = match inserted {
            Ok(model) => model,
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::already_exists(
                    "experiment_already_exists",
                    format!(
                        "experiment '{}' already exists in project '{}'",
                        request.name, request.project
                    ),
                )
                .into());
            }
            Err(err) => return Err(Error::from(err).into()),
        };
        let location = format!(
            "{}/experiments/{}",
            self.objects_url.trim_end_matches('/'),
            inserted.id
        );
        let mut model = inserted.into_active_model();
        model.artifact_location = Set(location);
        let model = model.update(&txn).await.map_err(Error::from)?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(experiment_to_proto(model)))
    }

    async fn get_experiment(
        &self,
        request: Request<pb::GetExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let found = if request.experiment_id.is_empty() {
            let by_name = experiment::Entity::find()
                .filter(experiment::Column::Project.eq(&request.project))
                .filter(experiment::Column::Name.eq(&request.name))
                .one(&self.db)
                .await
                .map_err(Error::from)?;
            match by_name {
                Some(found) => found,
                None => {
                    let err = Error::not_found(
                        "experiment_not_found",
                        format!(
                            "experiment '{}' does not exist in project '{}'",
                            request.name, request.project
                        ),
                    );
                    self.missing(&request.project, err).await?
                }
            }
        } else {
            self.experiment(&request.project, &request.experiment_id).await?
        };
        Ok(Response::new(experiment_to_proto(found)))
    }

    async fn list_experiments(
        &self,
        request: Request<pb::ListExperimentsRequest>,
    ) -> Result<Response<pb::ListExperimentsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size)?;
        let mut query = experiment::Entity::find()
            .filter(experiment::Column::Project.eq(&request.project))
            .order_by_asc(experiment::Column::Id);
        if let Some(stage) = view_stage(request.view)? {
            query = query.filter(experiment::Column::LifecycleStage.eq(stage));
        }
        if let Some(after) = decode_token(&request.page_token)? {
            query = query.filter(experiment::Column::Id.gt(after));
        }
        let mut rows = query.limit(limit + 1).all(&self.db).await.map_err(Error::from)?;
        let next_page_token = finish_page(&mut rows, limit, |e| e.id);
        if rows.is_empty() {
            project::require(&self.db, &request.project).await?;
        }
        Ok(Response::new(pb::ListExperimentsResponse {
            experiments: rows.into_iter().map(experiment_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_experiment(
        &self,
        request: Request<pb::UpdateExperimentRequest>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let found = self.experiment(&request.project, &request.experiment_id).await?;
        let tags = edit_tags(found.tags.clone(), &request.set_tags, &request.delete_tags)?;
        let mut model = found.into_active_model();
        if let Some(name) = &request.new_name {
            names::display_name("new_name", name)?;
            model.name = Set(name.clone());
        }
        model.tags = Set(tags);
        model.update_time = Set(Utc::now());
        match model.update(&self.db).await {
            Ok(model) => Ok(Response::new(experiment_to_proto(model))),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(Error::already_exists(
                    "experiment_already_exists",
                    format!(
                        "an experiment named '{}' already exists",
                        request.new_name.unwrap_or_default()
                    ),
                )
                .into())
            }
            Err(err) => Err(Error::from(err).into()),
        }
    }

    async fn delete_experiment(
        &self,
        request: Request<pb::ExperimentRef>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.set_experiment_stage(request.into_inner(), DELETED).await?,
        ))
    }

    async fn restore_experiment(
        &self,
        request: Request<pb::ExperimentRef>,
    ) -> Result<Response<pb::Experiment>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        Ok(Response::new(
            self.set_experiment_stage(request.into_inner(), ACTIVE).await?,
        ))
    }

    async fn create_run(&self, request: Request<pb::CreateRunRequest>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let experiment = self.experiment(&request.project, &request.experiment_id).await?;
        if experiment.lifecycle_stage != ACTIVE {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "experiment '{}' is deleted; restore it before starting runs",
                    experiment.name
                ),
            )
            .with_reason("experiment_deleted")
            .into());
        }
        validate_tags(&request.tags)?;
        names::run_name("name", &request.name)?;
        validate::visible("user_id", &request.user_id)?;
        if request.start_time_ms < 0 {
            return Err(Error::invalid(format!(
                "start_time_ms {} is negative: send milliseconds since the epoch, or 0 for now",
                request.start_time_ms
            ))
            .into());
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let model = run::Model {
            id: id.clone(),
            project: request.project.clone(),
            experiment_id: experiment.id,
            name: if request.name.is_empty() {
                format!("run-{}", &id[..8])
            } else {
                request.name
            },
            status: "RUNNING".to_owned(),
            start_time: if request.start_time_ms > 0 {
                request.start_time_ms
            } else {
                now_ms()
            },
            end_time: None,
            user_id: request.user_id,
            lifecycle_stage: ACTIVE.to_owned(),
            artifact_uri: String::new(),
        };
        let artifact_uri = format!(
            "{}/{}/artifacts",
            self.objects_url.trim_end_matches('/'),
            TrackingApi::run_prefix(&model)
        );
        let model = run::Model {
            artifact_uri,
            ..model
        };
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        project::require_shared(&txn, &request.project).await?;
        model
            .clone()
            .into_active_model()
            .insert(&txn)
            .await
            .map_err(Error::from)?;
        if !request.tags.is_empty() {
            run_tag::Entity::insert_many(request.tags.iter().map(|(k, v)| run_tag::ActiveModel {
                run_id: Set(id.clone()),
                key: Set(k.clone()),
                value: Set(v.clone()),
            }))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        }
        txn.commit().await.map_err(Error::from)?;
        let run = self
            .hydrate(vec![model])
            .await?
            .pop()
            .ok_or_else(|| Error::internal("created run vanished"))?;
        Ok(Response::new(run))
    }

    async fn get_run(&self, request: Request<pb::RunRef>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let found = self.run(&request.project, &request.run_id).await?;
        let run = self
            .hydrate(vec![found])
            .await?
            .pop()
            .ok_or_else(|| Error::internal("run vanished"))?;
        Ok(Response::new(run))
    }

    async fn update_run(&self, request: Request<pb::UpdateRunRequest>) -> Result<Response<pb::Run>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let found = self.writable_run(&request.project, &request.run_id).await?;
        let started_ms = found.start_time;
        let status =
            pb::RunStatus::try_from(request.status).map_err(|_| Error::invalid("status: unknown value"))?;
        let mut model = found.into_active_model();
        if status != pb::RunStatus::Unspecified {
            let name = status_name(status)?;
            model.status = Set(name.to_owned());
            let terminal = matches!(
                status,
                pb::RunStatus::Finished | pb::RunStatus::Failed | pb::RunStatus::Killed
            );
            model.end_time = Set(match (terminal, request.end_time_ms) {
                (true, 0) => Some(now_ms()),
                (true, t) if t < started_ms => {
                    return Err(Error::invalid(format!(
                        "end_time_ms {t} is before the run's start_time_ms {started_ms}"
                    ))
                    .into());
                }
                (true, t) => Some(t),
                (false, _) => None,
            });
        }
        if let Some(name) = request.name {
            names::run_name("name", &name)?;
            model.name = Set(name);
        }
        let updated = model.update(&self.db).await.map_err(Error::from)?;
        let run = self
            .hydrate(vec![updated])
            .await?
            .pop()
            .ok_or_else(|| Error::internal("run vanished"))?;
        Ok(Response::new(run))
    }

    async fn delete_run(
        &self,
        request: Request<pb::RunRef>,
    ) -> Result<Response<pb::DeleteRunResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        let found = self.run(&request.project, &request.run_id).await?;
        let id = found.id.clone();
        let txn = db::begin_write(&self.db).await.map_err(Error::from)?;
        run_param::Entity::delete_many()
            .filter(run_param::Column::RunId.eq(&id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        run_tag::Entity::delete_many()
            .filter(run_tag::Column::RunId.eq(&id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        metric_history::Entity::delete_many()
            .filter(metric_history::Column::RunId.eq(&id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        latest_metric::Entity::delete_many()
            .filter(latest_metric::Column::RunId.eq(&id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        artifact::Entity::delete_many()
            .filter(artifact::Column::RunId.eq(&id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        run::Entity::delete_by_id(id.clone())
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        pending_deletion::ActiveModel {
            prefix: Set(format!("{}/", TrackingApi::run_prefix(&found))),
            create_time: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(Error::from)?;
        txn.commit().await.map_err(Error::from)?;
        self.cleanup.wake();
        tracing::info!(project = %request.project, run = %id, "run deleted");
        Ok(Response::new(pb::DeleteRunResponse {}))
    }

    async fn log_batch(
        &self,
        request: Request<pb::LogBatchRequest>,
    ) -> Result<Response<pb::LogBatchResponse>, Status> {
        access::require(&request, Role::Editor, &request.get_ref().project)?;
        let request = request.into_inner();
        validate_batch(&request)?;
        let run = self.writable_run(&request.project, &request.run_id).await?;
        // Metrics without a time are stamped once, so a retried transaction logs the same rows.
        let now = now_ms();
        let metrics: Vec<pb::Metric> = request
            .metrics
            .iter()
            .map(|m| pb::Metric {
                timestamp_ms: if m.timestamp_ms == 0 { now } else { m.timestamp_ms },
                ..m.clone()
            })
            .collect();
        let (run, request, metrics) = (&run, &request, &metrics);
        db::retry_conflicts(|| async move {
            let txn = db::begin_write(&self.db).await?;
            log_batch_rows(&txn, &run.id, request, metrics).await?;
            Ok(txn.commit().await?)
        })
        .await?;
        Ok(Response::new(pb::LogBatchResponse {}))
    }

    async fn get_metric_history(
        &self,
        request: Request<pb::GetMetricHistoryRequest>,
    ) -> Result<Response<pb::GetMetricHistoryResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let run = self.run(&request.project, &request.run_id).await?;
        let limit = page_size(request.page_size)?;
        let mut query = metric_history::Entity::find()
            .filter(metric_history::Column::RunId.eq(&run.id))
            .filter(metric_history::Column::Key.eq(&request.key))
            .order_by_asc(metric_history::Column::Id);
        if let Some(after) = decode_token(&request.page_token)? {
            query = query.filter(metric_history::Column::Id.gt(after));
        }
        let mut rows = query.limit(limit + 1).all(&self.db).await.map_err(Error::from)?;
        let next_page_token = finish_page(&mut rows, limit, |m| m.id);
        let metrics = rows
            .into_iter()
            .map(|m| pb::Metric {
                key: m.key,
                value: m.value,
                timestamp_ms: m.timestamp,
                step: m.step,
            })
            .collect();
        Ok(Response::new(pb::GetMetricHistoryResponse {
            metrics,
            next_page_token,
        }))
    }

    async fn search_runs(
        &self,
        request: Request<pb::SearchRunsRequest>,
    ) -> Result<Response<pb::SearchRunsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            super::search::search_runs(self, request.into_inner()).await?,
        ))
    }

    async fn upload_artifact(
        &self,
        request: Request<Streaming<pb::UploadArtifactRequest>>,
    ) -> Result<Response<pb::Artifact>, Status> {
        // The project is in the stream's first message: the upload checks it there.
        let caller = access::Caller::of(&request)?;
        Ok(Response::new(
            super::artifacts::upload(self, &caller, request.into_inner()).await?,
        ))
    }

    type DownloadArtifactStream = ChunkStream;

    async fn download_artifact(
        &self,
        request: Request<pb::ArtifactRef>,
    ) -> Result<Response<Self::DownloadArtifactStream>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            super::artifacts::download(self, request.into_inner()).await?,
        ))
    }

    async fn list_artifacts(
        &self,
        request: Request<pb::ListArtifactsRequest>,
    ) -> Result<Response<pb::ListArtifactsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        Ok(Response::new(
            super::artifacts::list(self, request.into_inner()).await?,
        ))
    }
}
