//! Reads and writes of `registry_audit_events`, the log of stage and alias changes.

use chrono::Utc;
use lathe_common::Result;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::models::audit_event;

/// One line of the audit log: who moved what, from where, to where, and why.
pub struct AuditEntry<'a> {
    pub model_id: i64,
    pub version: i64,
    pub action: &'a str,
    pub from: String,
    pub to: String,
    /// The subject of the caller.
    pub actor: String,
    pub reason: &'a str,
}

/// Writes `entry` in `txn`, with the time now.
pub async fn record(txn: &DatabaseTransaction, entry: AuditEntry<'_>) -> Result<()> {
    audit_event::ActiveModel {
        model_id: Set(entry.model_id),
        version: Set(entry.version),
        action: Set(entry.action.to_owned()),
        from_value: Set(entry.from),
        to_value: Set(entry.to),
        actor: Set(entry.actor),
        reason: Set(entry.reason.to_owned()),
        time: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// A page of the model's audit log, newest first, before the event `before`: `limit + 1`
/// rows at most, to tell whether another page follows.
pub async fn page(
    db: &DatabaseConnection,
    model_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_event::Model>> {
    let mut query = audit_event::Entity::find()
        .filter(audit_event::Column::ModelId.eq(model_id))
        .order_by_desc(audit_event::Column::Id);
    if let Some(before) = before {
        query = query.filter(audit_event::Column::Id.lt(before));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}
