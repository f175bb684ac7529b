//! Registered models and versions, stages under promotion gates, aliases, the audit log and
//! lineage. Reads of a model cost a fixed number of indexed queries however many versions
//! it has.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use lathe_common::access::{self, Caller};
use lathe_common::auth::Role;
use lathe_common::{Error, ErrorCode, Result};
use lathe_common::{db, validate};
use lathe_contract::registry::v1 as pb;
use lathe_contract::registry::v1::model_registry_service_server::ModelRegistryService;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, OnConflict, Order, Query, SelectStatement, UnionType,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition as Cond, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, IdenStatic, IntoActiveModel, JoinType, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    RelationDef, SelectA, SelectB, Set, SqlErr,
};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::tracking::TrackingApi;
use super::{decode_token, edit_tags, finish_page, json_to_map, map_to_json, page_size, validate_tags};
use crate::domain::gates::{self, Policy, Stage, Transition};
use crate::domain::names;
use crate::store::models::{alias, audit_event, lineage, model, pending_deletion, version};
use crate::store::project;
use crate::store::tracking::{artifact, latest_metric};

pub struct ModelsApi {
    tracking: TrackingApi,
}

/// The column that carries one of a version's aliases in [`ModelsApi::find_version`]'s rows.
const ALIAS_COLUMN: &str = "alias_name";

/// `(SELECT id FROM registry_models WHERE project = … AND name = …)`: the id of a model by its
/// name, as a subquery that does not depend on the outer query's rows, so PostgreSQL evaluates
/// it once and then probes the outer table's key with it. Joined by name instead, a table
/// without statistics (a fresh database, a bulk load before autovacuum) got a plan that scanned
/// every version of every model for the number asked.
fn model_id(project: &str, name: &str) -> Expr {
    let m = Alias::new("by_name");
    let mut id = Query::select();
    id.column((m.clone(), model::Column::Id))
        .from_as(model::Entity, m.clone())
        .and_where(Expr::col((m.clone(), model::Column::Project)).eq(project))
        .and_where(Expr::col((m, model::Column::Name)).eq(name));
    Expr::SubQuery(None, Box::new(id.into()))
}

/// A version's lineage links, for finding versions by what they were trained on.
fn version_lineage() -> RelationDef {
    version::Entity::belongs_to(lineage::Entity)
        .from((version::Column::ModelId, version::Column::Version))
        .to((lineage::Column::ModelId, lineage::Column::Version))
        .into()
}

/// A version's model, for reads that find a version by its model's name in one query.
fn version_model() -> RelationDef {
    version::Entity::belongs_to(model::Entity)
        .from(version::Column::ModelId)
        .to(model::Column::Id)
        .into()
}

impl ModelsApi {
    pub fn new(tracking: TrackingApi) -> Self {
        ModelsApi { tracking }
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.tracking.db
    }

    async fn model<C: ConnectionTrait>(&self, db: &C, project: &str, name: &str) -> Result<model::Model> {
        self.find_model(db, project, name, false).await
    }

    /// The model, its row locked until `txn` ends (PostgreSQL's `FOR UPDATE`; SQLite's write
    /// transactions hold the whole database already): changes to one model's stages and
    /// aliases run one after another, so two promotions cannot both archive the other's
    /// version, and they cannot deadlock over its versions' rows.
    async fn model_for_update(
        &self,
        txn: &DatabaseTransaction,
        project: &str,
        name: &str,
    ) -> Result<model::Model> {
        self.find_model(txn, project, name, true).await
    }

    async fn find_model<C: ConnectionTrait>(
        &self,
        db: &C,
        project: &str,
        name: &str,
        for_update: bool,
    ) -> Result<model::Model> {
        let mut query = model::Entity::find()
            .filter(model::Column::Project.eq(project))
            .filter(model::Column::Name.eq(name));
        if for_update {
            query = query.lock_exclusive();
        }
        match query.one(db).await? {
            Some(found) => Ok(found),
            None => {
                project::require(db, project).await?;
                Err(Error::not_found(
                    "model_not_found",
                    format!("model '{name}' does not exist in project '{project}'"),
                ))
            }
        }
    }

    async fn version<C: ConnectionTrait>(
        &self,
        db: &C,
        model: &model::Model,
        number: u64,
    ) -> Result<version::Model> {
        version::Entity::find_by_id((model.id, i64::try_from(number).unwrap_or(i64::MAX)))
            .one(db)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "model_version_not_found",
                    format!("model '{}' has no version {number}", model.name),
                )
            })
    }

    async fn alias<C: ConnectionTrait>(
        &self,
        db: &C,
        model: &model::Model,
        name: &str,
    ) -> Result<alias::Model> {
        alias::Entity::find_by_id((model.id, name.to_owned()))
            .one(db)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "alias_not_found",
                    format!("model '{}' has no alias '{name}'", model.name),
                )
            })
    }

    /// Aliases of the given models' versions: model id → version → alias names, in name order.
    async fn aliases_of<C: ConnectionTrait>(
        &self,
        db: &C,
        model_ids: &[i64],
    ) -> Result<HashMap<i64, BTreeMap<i64, Vec<String>>>> {
        let mut by_model: HashMap<i64, BTreeMap<i64, Vec<String>>> = HashMap::new();
        for a in alias::Entity::find()
            .filter(alias::Column::ModelId.is_in(model_ids.iter().copied()))
            .order_by_asc(alias::Column::ModelId)
            .order_by_asc(alias::Column::Alias)
            .all(db)
            .await?
        {
            by_model
                .entry(a.model_id)
                .or_default()
                .entry(a.version)
                .or_default()
                .push(a.alias);
        }
        Ok(by_model)
    }

    /// Each model with its aliases and its newest version per stage, in two queries
    /// whatever the number of models and versions: one for the aliases of every model, one for
    /// the newest versions (see [`newest_per_stage`]).
    async fn models_to_proto<C: ConnectionTrait>(
        &self,
        db: &C,
        models: Vec<model::Model>,
    ) -> Result<Vec<pb::Model>> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
        let mut aliases_by_model = self.aliases_of(db, &ids).await?;

        let backend = db.get_database_backend();
        let statement = backend.build(&newest_per_stage(backend, ids));
        let mut newest_rows: HashMap<i64, Vec<version::Model>> = HashMap::new();
        for v in version::Entity::find().from_raw_sql(statement).all(db).await? {
            newest_rows.entry(v.model_id).or_default().push(v);
        }

        models
            .into_iter()
            .map(|m| {
                let alias_map = aliases_by_model.remove(&m.id).unwrap_or_default();
                let mut latest_rows = newest_rows.remove(&m.id).unwrap_or_default();
                latest_rows.sort_by_key(|v| v.version);
                assemble_model(m, alias_map, latest_rows)
            })
            .collect()
    }

    async fn model_to_proto<C: ConnectionTrait>(&self, db: &C, m: model::Model) -> Result<pb::Model> {
        let mut one = self.models_to_proto(db, vec![m]).await?;
        Ok(one.pop().expect("one model in, one out"))
    }

    async fn one_version_to_proto<C: ConnectionTrait>(
        &self,
        db: &C,
        m: &model::Model,
        v: version::Model,
    ) -> Result<pb::ModelVersion> {
        let aliases: Vec<String> = alias::Entity::find()
            .filter(alias::Column::ModelId.eq(m.id))
            .filter(alias::Column::Version.eq(v.version))
            .order_by_asc(alias::Column::Alias)
            .all(db)
            .await?
            .into_iter()
            .map(|a| a.alias)
            .collect();
        let mut with_aliases = BTreeMap::new();
        with_aliases.insert(v.version, aliases);
        version_to_proto(m, v, &with_aliases)
    }

    /// The version that `pick` narrows to, of the model `name` in `project`, with its aliases
    /// (by name): one query, a row per alias. `None` when the model, or such a version of it,
    /// does not exist.
    async fn find_version(
        &self,
        project: &str,
        name: &str,
        pick: impl FnOnce(&mut SelectStatement),
    ) -> Result<Option<pb::ModelVersion>> {
        let mut query = version::Entity::find()
            .join(JoinType::InnerJoin, version_model())
            .select_also(model::Entity)
            .into_query();
        query.and_where(Expr::col((version::Entity, version::Column::ModelId)).eq(model_id(project, name)));
        pick(&mut query);
        let named = Alias::new("named");
        query
            .join_as(
                JoinType::LeftJoin,
                alias::Entity,
                named.clone(),
                Cond::all()
                    .add(
                        Expr::col((named.clone(), alias::Column::ModelId))
                            .equals((version::Entity, version::Column::ModelId)),
                    )
                    .add(
                        Expr::col((named.clone(), alias::Column::Version))
                            .equals((version::Entity, version::Column::Version)),
                    ),
            )
            .expr_as(
                Expr::col((named.clone(), alias::Column::Alias)),
                Alias::new(ALIAS_COLUMN),
            )
            .order_by((named, alias::Column::Alias), Order::Asc);
        let db = self.db();
        let rows = db.query_all_raw(db.get_database_backend().build(&query)).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let v = version::Model::from_query_result(first, IdenStatic::as_str(&SelectA))?;
        let m = model::Model::from_query_result(first, IdenStatic::as_str(&SelectB))?;
        let aliases = rows
            .iter()
            .filter_map(|row| row.try_get::<Option<String>>("", ALIAS_COLUMN).transpose())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let number = v.version;
        version_to_proto(&m, v, &BTreeMap::from([(number, aliases)])).map(Some)
    }

    /// Copies a run's artifact (a file or a directory) into the version's own prefix and
    /// returns the version's artifact URI and the sha256 of its tree.
    async fn snapshot_artifacts(
        &self,
        run: &crate::store::tracking::run::Model,
        artifact_path: &str,
        target_prefix: &str,
    ) -> Result<(String, String)> {
        let files = artifact::Entity::find()
            .filter(artifact::Column::RunId.eq(&run.id))
            .filter(
                sea_orm::Condition::any()
                    .add(artifact::Column::Path.eq(artifact_path))
                    .add(artifact::Column::Path.starts_with(format!("{artifact_path}/"))),
            )
            .order_by_asc(artifact::Column::Path)
            .all(self.db())
            .await?;
        if files.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "run '{}' has no artifact at '{artifact_path}'; upload the model files first",
                    run.id
                ),
            )
            .with_reason("artifact_not_found"));
        }
        let base = artifact_path.rsplit_once('/').map_or("", |(parent, _)| parent);
        let mut tree = Sha256::new();
        for file in &files {
            let relative = file
                .path
                .strip_prefix(base)
                .unwrap_or(&file.path)
                .trim_start_matches('/');
            let from = Path::from(format!(
                "{}/artifacts/{}",
                TrackingApi::run_prefix(run),
                file.path
            ));
            let to = Path::from(format!("{target_prefix}/{relative}"));
            self.tracking.objects.copy(&from, &to).await?;
            tree.update(format!("{relative} {}\n", file.sha256).as_bytes());
        }
        let uri = format!(
            "{}/{target_prefix}",
            self.tracking.objects_url.trim_end_matches('/')
        );
        Ok((uri, hex::encode(tree.finalize())))
    }

    async fn audit(&self, txn: &DatabaseTransaction, entry: AuditEntry<'_>) -> Result<()> {
        audit_event::ActiveModel {
            model_id: Set(entry.model_id),
            version: Set(entry.version),
            action: Set(entry.action.to_owned()),
            from_value: Set(entry.from),
            to_value: Set(entry.to),
            actor: Set(entry
                .actor
                .as_ref()
                .map(|a| a.subject.clone())
                .unwrap_or_default()),
            reason: Set(entry.reason.to_owned()),
            time: Set(Utc::now()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }
}

/// One line of the audit log: who moved what, from where, to where, and why.
struct AuditEntry<'a> {
    model_id: i64,
    version: i64,
    action: &'a str,
    from: String,
    to: String,
    actor: &'a Option<pb::Actor>,
    reason: &'a str,
}

/// The newest version in each stage of each model in `ids`: for every (model, stage) pair, the
/// last entry of the `(stage, model_id, version)` index and that version's row. A grouped MAX
/// would read every version of each model. PostgreSQL gets a `LATERAL`
/// subquery with `LIMIT 1`, which it can only run as one index probe per pair: written as a
/// join on the pairs, it planned a hash join over every version of every model (4 ms at 2,500
/// versions, growing with them). SQLite has no `LATERAL` and runs the join form as an index
/// probe per pair, then one by primary key.
fn newest_per_stage(backend: sea_orm::DbBackend, ids: Vec<i64>) -> SelectStatement {
    let (m, s, w) = (Alias::new("m"), Alias::new("s"), Alias::new("w"));
    let stage_col = Alias::new("stage");
    let mut stages: Option<SelectStatement> = None;
    for stage in Stage::ALL {
        let one = Query::select()
            .expr_as(Expr::val(stage.as_str()), stage_col.clone())
            .to_owned();
        stages = Some(match stages {
            None => one,
            Some(mut union) => union.union(UnionType::All, one).to_owned(),
        });
    }
    let stages = stages.expect("there are four stages");
    let in_stage = |select: &mut SelectStatement| {
        select
            .from_as(version::Entity, w.clone())
            .and_where(Expr::col((w.clone(), version::Column::Stage)).equals((s.clone(), stage_col.clone())))
            .and_where(
                Expr::col((w.clone(), version::Column::ModelId)).equals((m.clone(), model::Column::Id)),
            )
            .order_by((w.clone(), version::Column::Version), Order::Desc)
            .limit(1);
    };
    if backend == sea_orm::DbBackend::Postgres {
        let v = Alias::new("v");
        let mut newest = Query::select();
        newest.column(Asterisk);
        in_stage(&mut newest);
        return Query::select()
            .column((v.clone(), Asterisk))
            .from_as(model::Entity, m.clone())
            .join_subquery(JoinType::InnerJoin, stages, s, Expr::value(true))
            .join_lateral(JoinType::InnerJoin, newest, v, Expr::value(true))
            .and_where(Expr::col((m, model::Column::Id)).is_in(ids))
            .to_owned();
    }
    let (newest, model_col, version_col) = (
        Alias::new("newest"),
        Alias::new("model_id"),
        Alias::new("version"),
    );
    let mut newest_version = Query::select();
    newest_version.column((w.clone(), version::Column::Version));
    in_stage(&mut newest_version);
    let pairs = Query::select()
        .expr_as(Expr::col((m.clone(), model::Column::Id)), model_col.clone())
        .expr_as(
            Expr::SubQuery(None, Box::new(newest_version.into())),
            version_col.clone(),
        )
        .from_as(model::Entity, m.clone())
        .from_subquery(stages, s)
        .and_where(Expr::col((m, model::Column::Id)).is_in(ids))
        .to_owned();
    Query::select()
        .column((version::Entity, Asterisk))
        .from(version::Entity)
        .join_subquery(
            JoinType::InnerJoin,
            pairs,
            newest.clone(),
            Expr::col((version::Entity, version::Column::ModelId))
                .equals((newest.clone(), model_col))
                .and(Expr::col((version::Entity, version::Column::Version)).equals((newest, version_col))),
        )
        .to_owned()
}

/// A model with its aliases (version → names) and its newest version per stage (in version
/// order).
fn assemble_model(
    m: model::Model,
    alias_map: BTreeMap<i64, Vec<String>>,
    latest_rows: Vec<version::Model>,
) -> Result<pb::Model> {
    let aliases: HashMap<String, u64> = alias_map
        .iter()
        .flat_map(|(version, names)| {
            names
                .iter()
                .map(move |name| (name.clone(), u64::try_from(*version).unwrap_or(0)))
        })
        .collect();
    let latest_versions = latest_rows
        .into_iter()
        .map(|v| version_to_proto(&m, v, &alias_map))
        .collect::<Result<Vec<_>>>()?;
    let policies: Vec<Policy> = serde_json::from_value(m.policies.clone()).unwrap_or_default();
    Ok(pb::Model {
        project: m.project,
        name: m.name,
        description: m.description,
        tags: json_to_map(m.tags),
        policies: policies.iter().map(Policy::to_proto).collect(),
        aliases,
        latest_versions,
        create_time: Some(validate::timestamp(m.create_time)),
        update_time: Some(validate::timestamp(m.update_time)),
    })
}

fn version_to_proto(
    m: &model::Model,
    v: version::Model,
    aliases: &BTreeMap<i64, Vec<String>>,
) -> Result<pb::ModelVersion> {
    let signature: StoredSignature = serde_json::from_value(v.signature).unwrap_or_default();
    let lineage: StoredLineage = serde_json::from_value(v.lineage).unwrap_or_default();
    Ok(pb::ModelVersion {
        project: m.project.clone(),
        model: m.name.clone(),
        version: u64::try_from(v.version).unwrap_or(0),
        stage: Stage::parse(&v.stage)?.to_proto() as i32,
        aliases: aliases.get(&v.version).cloned().unwrap_or_default(),
        description: v.description,
        tags: json_to_map(v.tags),
        run_id: v.run_id,
        artifact_uri: v.artifact_uri,
        artifact_sha256: v.artifact_sha256,
        metrics: serde_json::from_value(v.metrics).unwrap_or_default(),
        signature: Some(pb::Signature {
            inputs: signature.inputs,
            output: signature.output,
        }),
        lineage: Some(pb::Lineage {
            feature_views: lineage.feature_views,
            feature_service: lineage.feature_service,
            training_dataset: lineage.training_dataset,
            orchestrator_run: lineage.orchestrator_run,
        }),
        created_by: v.created_by,
        create_time: Some(validate::timestamp(v.create_time)),
        update_time: Some(validate::timestamp(v.update_time)),
    })
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct StoredSignature {
    inputs: Vec<String>,
    output: String,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct StoredLineage {
    feature_views: Vec<String>,
    feature_service: String,
    training_dataset: String,
    orchestrator_run: String,
}

fn parse_policies(policies: &[pb::PromotionPolicy]) -> Result<serde_json::Value> {
    let parsed = policies
        .iter()
        .enumerate()
        .map(|(i, p)| Policy::from_proto(p, i))
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_json::to_value(parsed).unwrap_or_default())
}

/// The actor the audit log and the gates see: the verified caller.
fn actor_of(caller: &Caller) -> Option<pb::Actor> {
    Some(pb::Actor {
        subject: caller.subject().to_owned(),
        role: caller.role().map_or("", Role::as_str).to_owned(),
    })
}

fn actor_role(actor: &Option<pb::Actor>) -> Option<Role> {
    actor.as_ref().and_then(|a| a.role.parse().ok())
}

fn require_admin_for_policies(actor: &Option<pb::Actor>) -> Result<()> {
    if actor_role(actor) == Some(Role::Admin) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::PermissionDenied,
            "changing promotion policies needs role 'admin'",
        )
        .with_reason("role_too_low"))
    }
}

fn unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

#[tonic::async_trait]
impl ModelRegistryService for ModelsApi {
    async fn create_model(
        &self,
        request: Request<pb::CreateModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        validate::project_name("project", &request.project)?;
        names::display_name("name", &request.name)?;
        validate_tags(&request.tags)?;
        let policies = parse_policies(&request.policies)?;
        if !request.policies.is_empty() {
            require_admin_for_policies(&request.actor)?;
        }
        let now = Utc::now();
        let txn = db::begin_write(self.db()).await.map_err(Error::from)?;
        project::require_shared(&txn, &request.project).await?;
        let inserted = model::ActiveModel {
            project: Set(request.project.clone()),
            name: Set(request.name.clone()),
            description: Set(request.description),
            tags: Set(map_to_json(&request.tags)),
            policies: Set(policies),
            last_version: Set(0),
            create_time: Set(now),
            update_time: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let inserted = match inserted {
            Ok(m) => txn.commit().await.map(|()| m),
            Err(err) => Err(err),
        };
        match inserted {
            Ok(m) => Ok(Response::new(self.model_to_proto(self.db(), m).await?)),
            Err(err) if unique_violation(&err) => Err(Error::already_exists(
                "model_already_exists",
                format!(
                    "model '{}' already exists in project '{}'",
                    request.name, request.project
                ),
            )
            .into()),
            Err(err) => Err(Error::from(err).into()),
        }
    }

    async fn get_model(&self, request: Request<pb::ModelRef>) -> Result<Response<pb::Model>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let m = self.model(self.db(), &request.project, &request.name).await?;
        Ok(Response::new(self.model_to_proto(self.db(), m).await?))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let limit = page_size(request.page_size)?;
        let mut query = model::Entity::find()
            .filter(model::Column::Project.eq(&request.project))
            .order_by_asc(model::Column::Id);
        if let Some(after) = decode_token(&request.page_token)? {
            query = query.filter(model::Column::Id.gt(after));
        }
        let mut rows = query.limit(limit + 1).all(self.db()).await.map_err(Error::from)?;
        let next_page_token = finish_page(&mut rows, limit, |m| m.id);
        if rows.is_empty() {
            project::require(self.db(), &request.project).await?;
        }
        let models = self.models_to_proto(self.db(), rows).await?;
        Ok(Response::new(pb::ListModelsResponse {
            models,
            next_page_token,
        }))
    }

    async fn update_model(
        &self,
        request: Request<pb::UpdateModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        let found = self.model(self.db(), &request.project, &request.name).await?;
        let tags = edit_tags(found.tags.clone(), &request.set_tags, &request.delete_tags)?;
        let mut active = found.into_active_model();
        if let Some(description) = request.description {
            active.description = Set(description);
        }
        if request.replace_policies {
            require_admin_for_policies(&request.actor)?;
            active.policies = Set(parse_policies(&request.policies)?);
        }
        active.tags = Set(tags);
        active.update_time = Set(Utc::now());
        let updated = active.update(self.db()).await.map_err(Error::from)?;
        Ok(Response::new(self.model_to_proto(self.db(), updated).await?))
    }

    async fn delete_model(
        &self,
        request: Request<pb::ModelRef>,
    ) -> Result<Response<pb::DeleteModelResponse>, Status> {
        access::require(&request, Role::Admin, &request.get_ref().project)?;
        let request = request.into_inner();
        let found = self.model(self.db(), &request.project, &request.name).await?;
        let txn = db::begin_write(self.db()).await.map_err(Error::from)?;
        alias::Entity::delete_many()
            .filter(alias::Column::ModelId.eq(found.id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        lineage::Entity::delete_many()
            .filter(lineage::Column::ModelId.eq(found.id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        audit_event::Entity::delete_many()
            .filter(audit_event::Column::ModelId.eq(found.id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        version::Entity::delete_many()
            .filter(version::Column::ModelId.eq(found.id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        model::Entity::delete_by_id(found.id)
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        pending_deletion::ActiveModel {
            prefix: Set(format!("models/{}/", found.id)),
            create_time: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(Error::from)?;
        txn.commit().await.map_err(Error::from)?;
        self.tracking.cleanup.wake();
        tracing::info!(project = %request.project, model = %request.name, "model deleted");
        Ok(Response::new(pb::DeleteModelResponse {}))
    }

    async fn create_model_version(
        &self,
        request: Request<pb::CreateModelVersionRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        validate_tags(&request.tags)?;
        let found = self.model(self.db(), &request.project, &request.model).await?;
        let run = self.tracking.run(&request.project, &request.run_id).await?;
        let artifact_path = names::artifact_path(&request.artifact_path, false)?;
        let signature = request.signature.unwrap_or_default();
        for (i, input) in signature.inputs.iter().enumerate() {
            if input.is_empty() || input.len() > 256 {
                return Err(Error::invalid(format!(
                    "signature.inputs[{i}]: name a feature as `view:feature`"
                ))
                .into());
            }
        }
        let lineage_in = request.lineage.unwrap_or_default();

        // The number is taken in its own transaction, so it is never handed out twice, even
        // when the rest of the registration fails.
        let txn = db::begin_write(self.db()).await.map_err(Error::from)?;
        model::Entity::update_many()
            .col_expr(
                model::Column::LastVersion,
                Expr::col(model::Column::LastVersion).add(1),
            )
            .filter(model::Column::Id.eq(found.id))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        let number = model::Entity::find_by_id(found.id)
            .one(&txn)
            .await
            .map_err(Error::from)?
            .map(|m| m.last_version)
            .ok_or_else(|| Error::internal("model vanished while numbering a version"))?;
        txn.commit().await.map_err(Error::from)?;

        let prefix = format!("models/{}/versions/{number}", found.id);
        let (artifact_uri, artifact_sha256) =
            match self.snapshot_artifacts(&run, &artifact_path, &prefix).await {
                Ok(snapshot) => snapshot,
                Err(err) => {
                    // Remove whatever part of the copy was made.
                    pending_deletion::ActiveModel {
                        prefix: Set(format!("{prefix}/")),
                        create_time: Set(Utc::now()),
                        ..Default::default()
                    }
                    .insert(self.db())
                    .await
                    .map_err(Error::from)?;
                    self.tracking.cleanup.wake();
                    return Err(err.into());
                }
            };
        let metrics: BTreeMap<String, f64> = latest_metric::Entity::find()
            .filter(latest_metric::Column::RunId.eq(&run.id))
            .all(self.db())
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|m| (m.key, m.value))
            .collect();
        let now = Utc::now();
        let row = version::Model {
            model_id: found.id,
            version: number,
            stage: Stage::None.as_str().to_owned(),
            description: request.description,
            tags: map_to_json(&request.tags),
            run_id: run.id.clone(),
            artifact_uri,
            artifact_sha256,
            metrics: serde_json::to_value(&metrics).unwrap_or_default(),
            signature: serde_json::to_value(StoredSignature {
                inputs: signature.inputs,
                output: signature.output,
            })
            .unwrap_or_default(),
            lineage: serde_json::to_value(StoredLineage {
                feature_views: lineage_in.feature_views.clone(),
                feature_service: lineage_in.feature_service.clone(),
                training_dataset: lineage_in.training_dataset.clone(),
                orchestrator_run: lineage_in.orchestrator_run.clone(),
            })
            .unwrap_or_default(),
            created_by: request
                .actor
                .as_ref()
                .map(|a| a.subject.clone())
                .unwrap_or_default(),
            create_time: now,
            update_time: now,
        };
        let mut lineage_rows: Vec<(&str, String)> = lineage_in
            .feature_views
            .iter()
            .map(|v| ("feature_view", v.clone()))
            .collect();
        for (kind, value) in [
            ("feature_service", lineage_in.feature_service),
            ("training_dataset", lineage_in.training_dataset),
            ("orchestrator_run", lineage_in.orchestrator_run),
        ] {
            if !value.is_empty() {
                lineage_rows.push((kind, value));
            }
        }
        lineage_rows.sort();
        lineage_rows.dedup();
        let txn = db::begin_write(self.db()).await.map_err(Error::from)?;
        row.clone()
            .into_active_model()
            .insert(&txn)
            .await
            .map_err(Error::from)?;
        if !lineage_rows.is_empty() {
            lineage::Entity::insert_many(lineage_rows.into_iter().map(|(kind, value)| {
                lineage::ActiveModel {
                    model_id: Set(found.id),
                    version: Set(number),
                    kind: Set(kind.to_owned()),
                    value: Set(value),
                }
            }))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        }
        txn.commit().await.map_err(Error::from)?;
        tracing::info!(project = %request.project, model = %found.name, version = number, "model version registered");
        Ok(Response::new(version_to_proto(&found, row, &BTreeMap::new())?))
    }

    async fn get_model_version(
        &self,
        request: Request<pb::ModelVersionRef>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let number = i64::try_from(request.version).unwrap_or(i64::MAX);
        // One query finds the version by its model's name, with its aliases; only a miss asks
        // which is missing.
        let found = self
            .find_version(&request.project, &request.model, |query| {
                query.and_where(Expr::col((version::Entity, version::Column::Version)).eq(number));
            })
            .await?;
        if let Some(found) = found {
            return Ok(Response::new(found));
        }
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let v = self.version(self.db(), &m, request.version).await?;
        // Created since the first look.
        Ok(Response::new(self.one_version_to_proto(self.db(), &m, v).await?))
    }

    async fn list_model_versions(
        &self,
        request: Request<pb::ListModelVersionsRequest>,
    ) -> Result<Response<pb::ListModelVersionsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let limit = page_size(request.page_size)?;
        // Newest first; the token is the last version of the previous page.
        let mut query = version::Entity::find()
            .filter(version::Column::ModelId.eq(m.id))
            .order_by_desc(version::Column::Version);
        if let Some(before) = decode_token(&request.page_token)? {
            query = query.filter(version::Column::Version.lt(before));
        }
        let mut rows = query.limit(limit + 1).all(self.db()).await.map_err(Error::from)?;
        let next_page_token = finish_page(&mut rows, limit, |v| v.version);
        let aliases = self
            .aliases_of(self.db(), &[m.id])
            .await?
            .remove(&m.id)
            .unwrap_or_default();
        let versions = rows
            .into_iter()
            .map(|v| version_to_proto(&m, v, &aliases))
            .collect::<Result<Vec<_>>>()?;
        Ok(Response::new(pb::ListModelVersionsResponse {
            versions,
            next_page_token,
        }))
    }

    async fn update_model_version(
        &self,
        request: Request<pb::UpdateModelVersionRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let v = self.version(self.db(), &m, request.version).await?;
        let tags = edit_tags(v.tags.clone(), &request.set_tags, &request.delete_tags)?;
        let mut active = v.into_active_model();
        if let Some(description) = request.description {
            active.description = Set(description);
        }
        active.tags = Set(tags);
        active.update_time = Set(Utc::now());
        let updated = active.update(self.db()).await.map_err(Error::from)?;
        Ok(Response::new(
            self.one_version_to_proto(self.db(), &m, updated).await?,
        ))
    }

    async fn transition_stage(
        &self,
        request: Request<pb::TransitionStageRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        let request = &request;
        let target = Stage::from_proto(request.stage)?;
        let (m, updated, current) = db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let v = self.version(&txn, &m, request.version).await?;
            let current = Stage::parse(&v.stage)?;
            let policies: Vec<Policy> = serde_json::from_value(m.policies.clone()).unwrap_or_default();
            let metrics: HashMap<String, f64> = serde_json::from_value(v.metrics.clone()).unwrap_or_default();
            gates::require_role(&policies, target, actor_role(&request.actor))?;
            let unmet = gates::unmet_conditions(
                &policies,
                &Transition {
                    target,
                    current,
                    metrics: &metrics,
                    actor_role: actor_role(&request.actor),
                },
            );
            if !unmet.is_empty() {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "version {} of '{}' cannot move to {}: unmet: {}",
                        v.version,
                        m.name,
                        target.as_str(),
                        unmet.join("; ")
                    ),
                )
                .with_reason("promotion_gate_failed"));
            }
            if request.archive_existing && matches!(target, Stage::Staging | Stage::Production) {
                let others = version::Entity::find()
                    .filter(version::Column::ModelId.eq(m.id))
                    .filter(version::Column::Stage.eq(target.as_str()))
                    .filter(version::Column::Version.ne(v.version))
                    .all(&txn)
                    .await
                    .map_err(Error::from)?;
                for other in others {
                    let number = other.version;
                    let mut active = other.into_active_model();
                    active.stage = Set(Stage::Archived.as_str().to_owned());
                    active.update_time = Set(Utc::now());
                    active.update(&txn).await.map_err(Error::from)?;
                    let reason = format!("archived when version {} moved to {}", v.version, target.as_str());
                    self.audit(
                        &txn,
                        AuditEntry {
                            model_id: m.id,
                            version: number,
                            action: "stage_transition",
                            from: target.as_str().into(),
                            to: "Archived".into(),
                            actor: &request.actor,
                            reason: &reason,
                        },
                    )
                    .await?;
                }
            }
            let number = v.version;
            let mut active = v.into_active_model();
            active.stage = Set(target.as_str().to_owned());
            active.update_time = Set(Utc::now());
            let updated = active.update(&txn).await.map_err(Error::from)?;
            self.audit(
                &txn,
                AuditEntry {
                    model_id: m.id,
                    version: number,
                    action: "stage_transition",
                    from: current.as_str().into(),
                    to: target.as_str().into(),
                    actor: &request.actor,
                    reason: &request.reason,
                },
            )
            .await?;
            txn.commit().await?;
            Ok((m, updated, current))
        })
        .await?;
        let number = updated.version;
        tracing::info!(model = %m.name, version = number, from = current.as_str(), to = target.as_str(), "stage changed");
        Ok(Response::new(
            self.one_version_to_proto(self.db(), &m, updated).await?,
        ))
    }

    async fn set_alias(
        &self,
        request: Request<pb::SetAliasRequest>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        let request = &request;
        names::alias(&request.alias)?;
        let (m, v) = db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let v = self.version(&txn, &m, request.version).await?;
            let previous = alias::Entity::find_by_id((m.id, request.alias.clone()))
                .one(&txn)
                .await
                .map_err(Error::from)?;
            alias::Entity::insert(alias::ActiveModel {
                model_id: Set(m.id),
                alias: Set(request.alias.clone()),
                version: Set(v.version),
            })
            .on_conflict(
                OnConflict::columns([alias::Column::ModelId, alias::Column::Alias])
                    .update_column(alias::Column::Version)
                    .to_owned(),
            )
            .exec(&txn)
            .await
            .map_err(Error::from)?;
            let from = previous
                .map(|p| format!("{}@v{}", request.alias, p.version))
                .unwrap_or_default();
            let to = format!("{}@v{}", request.alias, v.version);
            self.audit(
                &txn,
                AuditEntry {
                    model_id: m.id,
                    version: v.version,
                    action: "alias_set",
                    from,
                    to,
                    actor: &request.actor,
                    reason: &request.reason,
                },
            )
            .await?;
            txn.commit().await?;
            Ok((m, v))
        })
        .await?;
        Ok(Response::new(self.one_version_to_proto(self.db(), &m, v).await?))
    }

    async fn delete_alias(
        &self,
        request: Request<pb::DeleteAliasRequest>,
    ) -> Result<Response<pb::DeleteAliasResponse>, Status> {
        let caller = access::require(&request, Role::Editor, &request.get_ref().project)?;
        let mut request = request.into_inner();
        // Who acts is the token's subject and role, never what the message says.
        request.actor = actor_of(&caller);
        let request = &request;
        db::retry_conflicts(|| async move {
            let txn = db::begin_write(self.db()).await?;
            let m = self
                .model_for_update(&txn, &request.project, &request.model)
                .await?;
            let existing = self.alias(&txn, &m, &request.alias).await?;
            alias::Entity::delete_by_id((m.id, request.alias.clone()))
                .exec(&txn)
                .await
                .map_err(Error::from)?;
            let from = format!("{}@v{}", request.alias, existing.version);
            self.audit(
                &txn,
                AuditEntry {
                    model_id: m.id,
                    version: existing.version,
                    action: "alias_deleted",
                    from,
                    to: String::new(),
                    actor: &request.actor,
                    reason: &request.reason,
                },
            )
            .await?;
            txn.commit().await?;
            Ok(())
        })
        .await?;
        Ok(Response::new(pb::DeleteAliasResponse {}))
    }

    async fn get_version_by_alias(
        &self,
        request: Request<pb::AliasRef>,
    ) -> Result<Response<pb::ModelVersion>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        // One query: the alias's version number is an uncorrelated subquery, evaluated once
        // through the model's and the alias's keys, and the version is then found by its key,
        // with its aliases (see `model_id`).
        let by_alias = Alias::new("by_alias");
        let mut number = Query::select();
        number
            .column((by_alias.clone(), alias::Column::Version))
            .from_as(alias::Entity, by_alias.clone())
            .and_where(
                Expr::col((by_alias.clone(), alias::Column::ModelId))
                    .eq(model_id(&request.project, &request.model)),
            )
            .and_where(Expr::col((by_alias, alias::Column::Alias)).eq(&request.alias));
        let found = self
            .find_version(&request.project, &request.model, |query| {
                query.and_where(
                    Expr::col((version::Entity, version::Column::Version))
                        .eq(Expr::SubQuery(None, Box::new(number.into()))),
                );
            })
            .await?;
        if let Some(found) = found {
            return Ok(Response::new(found));
        }
        // Which is missing, the model or the alias; or the alias was set since.
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let a = self.alias(self.db(), &m, &request.alias).await?;
        let v = self
            .version(self.db(), &m, u64::try_from(a.version).unwrap_or(0))
            .await?;
        Ok(Response::new(self.one_version_to_proto(self.db(), &m, v).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let limit = page_size(request.page_size)?;
        let mut query = audit_event::Entity::find()
            .filter(audit_event::Column::ModelId.eq(m.id))
            .order_by_desc(audit_event::Column::Id);
        if let Some(before) = decode_token(&request.page_token)? {
            query = query.filter(audit_event::Column::Id.lt(before));
        }
        let mut rows = query.limit(limit + 1).all(self.db()).await.map_err(Error::from)?;
        let next_page_token = finish_page(&mut rows, limit, |e| e.id);
        let events = rows
            .into_iter()
            .map(|e| pb::AuditEvent {
                id: u64::try_from(e.id).unwrap_or(0),
                model: m.name.clone(),
                version: u64::try_from(e.version).unwrap_or(0),
                action: e.action,
                from: e.from_value,
                to: e.to_value,
                actor: e.actor,
                reason: e.reason,
                time: Some(validate::timestamp(e.time)),
            })
            .collect();
        Ok(Response::new(pb::ListAuditEventsResponse {
            events,
            next_page_token,
        }))
    }

    async fn find_versions_by_lineage(
        &self,
        request: Request<pb::FindVersionsByLineageRequest>,
    ) -> Result<Response<pb::FindVersionsByLineageResponse>, Status> {
        access::require(&request, Role::Viewer, &request.get_ref().project)?;
        let request = request.into_inner();
        let given: Vec<(&str, &str)> = [
            ("feature_view", request.feature_view.as_str()),
            ("feature_service", request.feature_service.as_str()),
            ("training_dataset", request.training_dataset.as_str()),
            ("orchestrator_run", request.orchestrator_run.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let [(kind, value)] = given.as_slice() else {
            return Err(Error::invalid(
                "set exactly one of feature_view, feature_service, training_dataset, orchestrator_run",
            )
            .into());
        };
        // One query for the linked versions with their models, one for their aliases.
        let rows = version::Entity::find()
            .join(JoinType::InnerJoin, version_model())
            .join(JoinType::InnerJoin, version_lineage())
            .select_also(model::Entity)
            .filter(lineage::Column::Kind.eq(*kind))
            .filter(lineage::Column::Value.eq(*value))
            .filter(model::Column::Project.eq(&request.project))
            .all(self.db())
            .await
            .map_err(Error::from)?;
        if rows.is_empty() {
            project::require(self.db(), &request.project).await?;
        }
        let mut model_ids: Vec<i64> = rows.iter().map(|(v, _)| v.model_id).collect();
        model_ids.sort_unstable();
        model_ids.dedup();
        let aliases = self.aliases_of(self.db(), &model_ids).await?;
        let no_aliases = BTreeMap::new();
        let mut versions = Vec::with_capacity(rows.len());
        for (v, m) in rows {
            let m = m.ok_or_else(|| Error::internal("a lineage row's version has no model"))?;
            let model_aliases = aliases.get(&m.id).unwrap_or(&no_aliases);
            versions.push(version_to_proto(&m, v, model_aliases)?);
        }
        versions.sort_by(|a, b| (a.model.as_str(), a.version).cmp(&(b.model.as_str(), b.version)));
        Ok(Response::new(pb::FindVersionsByLineageResponse { versions }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL reads each (model, stage) pair's newest version through a `LATERAL` probe;
    /// SQLite, which has no `LATERAL`, through the join on the pairs.
    #[test]
    fn newest_per_stage_is_lateral_on_postgres_only() {
        let sql =
            |backend: sea_orm::DbBackend| backend.build(&newest_per_stage(backend, vec![1, 2])).to_string();
        let pg = sql(sea_orm::DbBackend::Postgres);
        assert!(pg.contains("INNER JOIN LATERAL"), "{pg}");
        let sqlite = sql(sea_orm::DbBackend::Sqlite);
        assert!(!sqlite.contains("LATERAL"), "{sqlite}");
    }
}
