//! Reads and writes of `registry_model_versions` and `registry_lineage`.

use std::collections::HashMap;

use chrono::Utc;
use lathe_common::{Result, db};
use lathe_contract::json::JsonEnum;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, SelectStatement, UnionType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, FromQueryResult, IdenStatic, IntoActiveModel, JoinType, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, RelationDef, SelectA, SelectB, Set,
};

use super::models::{alias, lineage, model, version};
use super::registered_models;
use crate::domain::gates::Stage;

/// The column that carries one of a version's aliases in [`find_with_aliases`]'s rows.
const ALIAS_COLUMN: &str = "alias_name";

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

pub async fn find<C: ConnectionTrait>(db: &C, model_id: i64, number: u64) -> Result<Option<version::Model>> {
    Ok(
        version::Entity::find_by_id((model_id, i64::try_from(number).unwrap_or(i64::MAX)))
            .one(db)
            .await?,
    )
}

/// A version found with its model and its aliases (in name order).
pub struct Found {
    pub version: version::Model,
    pub model: model::Model,
    pub aliases: Vec<String>,
}

/// The version `number` of the model `name` in `project`, with its model and aliases, in one
/// query; `None` when the model, or such a version of it, does not exist.
pub async fn find_by_number(
    db: &DatabaseConnection,
    project: &str,
    name: &str,
    number: u64,
) -> Result<Option<Found>> {
    let number = i64::try_from(number).unwrap_or(i64::MAX);
    find_with_aliases(db, project, name, |query| {
        query.and_where(Expr::col((version::Entity, version::Column::Version)).eq(number));
    })
    .await
}

/// The version the alias `alias_name` of the model `name` in `project` points at, with its
/// model and aliases; `None` when the model, the alias or the version does not exist.
///
/// One query: the alias's version number is an uncorrelated subquery, evaluated once through
/// the model's and the alias's keys, and the version is then found by its key, with its
/// aliases (see [`registered_models::id_of`]).
pub async fn find_by_alias(
    db: &DatabaseConnection,
    project: &str,
    name: &str,
    alias_name: &str,
) -> Result<Option<Found>> {
    let by_alias = Alias::new("by_alias");
    let mut number = Query::select();
    number
        .column((by_alias.clone(), alias::Column::Version))
        .from_as(alias::Entity, by_alias.clone())
        .and_where(
            Expr::col((by_alias.clone(), alias::Column::ModelId)).eq(registered_models::id_of(project, name)),
        )
        .and_where(Expr::col((by_alias, alias::Column::Alias)).eq(alias_name));
    find_with_aliases(db, project, name, |query| {
        query.and_where(
            Expr::col((version::Entity, version::Column::Version))
                .eq(Expr::SubQuery(None, Box::new(number.into()))),
        );
    })
    .await
}

/// The version that `pick` narrows to, of the model `name` in `project`, with its aliases
/// (by name): one query, a row per alias.
async fn find_with_aliases(
    db: &DatabaseConnection,
    project: &str,
    name: &str,
    pick: impl FnOnce(&mut SelectStatement),
) -> Result<Option<Found>> {
    let mut query = version::Entity::find()
        .join(JoinType::InnerJoin, version_model())
        .select_also(model::Entity)
        .into_query();
    query.and_where(
        Expr::col((version::Entity, version::Column::ModelId)).eq(registered_models::id_of(project, name)),
    );
    pick(&mut query);
    let named = Alias::new("named");
    query
        .join_as(
            JoinType::LeftJoin,
            alias::Entity,
            named.clone(),
            Condition::all()
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
    let rows = db.query_all_raw(db.get_database_backend().build(&query)).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let version = version::Model::from_query_result(first, IdenStatic::as_str(&SelectA))?;
    let model = model::Model::from_query_result(first, IdenStatic::as_str(&SelectB))?;
    let aliases = rows
        .iter()
        .filter_map(|row| row.try_get::<Option<String>>("", ALIAS_COLUMN).transpose())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Some(Found {
        version,
        model,
        aliases,
    }))
}

/// A page of the model's versions, newest first, before the version `before`: `limit + 1`
/// rows at most, to tell whether another page follows.
pub async fn page(
    db: &DatabaseConnection,
    model_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<version::Model>> {
    let mut query = version::Entity::find()
        .filter(version::Column::ModelId.eq(model_id))
        .order_by_desc(version::Column::Version);
    if let Some(before) = before {
        query = query.filter(version::Column::Version.lt(before));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

/// The newest version in each stage of each model in `ids`, by model id, in one query (see
/// [`newest_per_stage`]).
pub async fn newest_per_stage_of<C: ConnectionTrait>(
    db: &C,
    ids: Vec<i64>,
) -> Result<HashMap<i64, Vec<version::Model>>> {
    let backend = db.get_database_backend();
    let statement = backend.build(&newest_per_stage(backend, ids));
    let mut newest: HashMap<i64, Vec<version::Model>> = HashMap::new();
    for v in version::Entity::find().from_raw_sql(statement).all(db).await? {
        newest.entry(v.model_id).or_default().push(v);
    }
    Ok(newest)
}

/// The versions of `project`'s models linked to `value` as a `kind` (feature_view,
/// feature_service, training_dataset or orchestrator_run), each with its model.
pub async fn by_lineage(
    db: &DatabaseConnection,
    project: &str,
    kind: &str,
    value: &str,
) -> Result<Vec<(version::Model, Option<model::Model>)>> {
    Ok(version::Entity::find()
        .join(JoinType::InnerJoin, version_model())
        .join(JoinType::InnerJoin, version_lineage())
        .select_also(model::Entity)
        .filter(lineage::Column::Kind.eq(kind))
        .filter(lineage::Column::Value.eq(value))
        .filter(model::Column::Project.eq(project))
        .all(db)
        .await?)
}

/// Writes a new version and its lineage links, `(kind, value)` pairs.
pub async fn insert(db: &DatabaseConnection, row: version::Model, links: Vec<(&str, String)>) -> Result<()> {
    let (model_id, number) = (row.model_id, row.version);
    let txn = db::begin_write(db).await?;
    row.into_active_model().insert(&txn).await?;
    if !links.is_empty() {
        lineage::Entity::insert_many(links.into_iter().map(|(kind, value)| lineage::ActiveModel {
            model_id: Set(model_id),
            version: Set(number),
            kind: Set(kind.to_owned()),
            value: Set(value),
        }))
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Changes the version's description when given, and sets its tags.
pub async fn update(
    db: &DatabaseConnection,
    found: version::Model,
    description: Option<String>,
    tags: serde_json::Value,
) -> Result<version::Model> {
    let mut active = found.into_active_model();
    if let Some(description) = description {
        active.description = Set(description);
    }
    active.tags = Set(tags);
    active.update_time = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// The model's versions in `stage` other than `except`.
pub async fn others_in_stage(
    txn: &DatabaseTransaction,
    model_id: i64,
    stage: Stage,
    except: i64,
) -> Result<Vec<version::Model>> {
    Ok(version::Entity::find()
        .filter(version::Column::ModelId.eq(model_id))
        .filter(version::Column::Stage.eq(stage.name()))
        .filter(version::Column::Version.ne(except))
        .all(txn)
        .await?)
}

pub async fn set_stage(
    txn: &DatabaseTransaction,
    found: version::Model,
    stage: Stage,
) -> Result<version::Model> {
    let mut active = found.into_active_model();
    active.stage = Set(stage.name().to_owned());
    active.update_time = Set(Utc::now());
    Ok(active.update(txn).await?)
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
    for stage in Stage::VALUES {
        let one = Query::select()
            .expr_as(Expr::val(stage.name()), stage_col.clone())
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
