//! Reads and writes of `registry_aliases`.

use std::collections::{BTreeMap, HashMap};

use lathe_common::Result;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set};

use super::models::alias;

pub async fn find<C: ConnectionTrait>(db: &C, model_id: i64, name: &str) -> Result<Option<alias::Model>> {
    Ok(alias::Entity::find_by_id((model_id, name.to_owned()))
        .one(db)
        .await?)
}

/// Aliases of the given models' versions: model id → version → alias names, in name order.
pub async fn of_models<C: ConnectionTrait>(
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

/// The aliases of one version, in name order.
pub async fn of_version<C: ConnectionTrait>(db: &C, model_id: i64, version: i64) -> Result<Vec<String>> {
    Ok(alias::Entity::find()
        .filter(alias::Column::ModelId.eq(model_id))
        .filter(alias::Column::Version.eq(version))
        .order_by_asc(alias::Column::Alias)
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.alias)
        .collect())
}

/// Points the model's alias `name` at `version`; returns the alias as it was before, if it
/// existed.
pub async fn set(
    txn: &DatabaseTransaction,
    model_id: i64,
    name: &str,
    version: i64,
) -> Result<Option<alias::Model>> {
    let previous = find(txn, model_id, name).await?;
    alias::Entity::insert(alias::ActiveModel {
        model_id: Set(model_id),
        alias: Set(name.to_owned()),
        version: Set(version),
    })
    .on_conflict(
        OnConflict::columns([alias::Column::ModelId, alias::Column::Alias])
            .update_column(alias::Column::Version)
            .to_owned(),
    )
    .exec(txn)
    .await?;
    Ok(previous)
}

pub async fn delete(txn: &DatabaseTransaction, model_id: i64, name: &str) -> Result<()> {
    alias::Entity::delete_by_id((model_id, name.to_owned()))
        .exec(txn)
        .await?;
    Ok(())
}
