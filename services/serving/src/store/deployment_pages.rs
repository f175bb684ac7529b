//! One page of a project's deployments from the deployments table, by name: a keyset on the
//! name (the table's key is project and name), so pages never overlap or skip when
//! deployments come and go between them. `Definitions` lists a whole project only; this reads
//! the same table and columns.

use lathe_common::definitions::Stored;
use lathe_common::{Error, Result};
use lathe_contract::serving::v1 as pb;
use prost::Message;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};

use super::DEPLOYMENTS_TABLE;

/// Up to `limit` deployments of `project` named after `after` (from the first when `None`),
/// by name.
pub async fn page(
    db: &DatabaseConnection,
    project: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Stored<pb::DeployRequest>>> {
    let mut select = Query::select()
        .columns(["version", "spec", "create_time", "update_time"].map(Alias::new))
        .from(Alias::new(DEPLOYMENTS_TABLE))
        .and_where(Expr::col(Alias::new("project")).eq(project))
        .order_by(Alias::new("name"), Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(after) = after {
        select.and_where(Expr::col(Alias::new("name")).gt(after));
    }
    db.query_all(&select).await?.iter().map(decode).collect()
}

fn decode(row: &QueryResult) -> Result<Stored<pb::DeployRequest>> {
    let bytes: Vec<u8> = row.try_get("", "spec")?;
    let version: i64 = row.try_get("", "version")?;
    let spec = pb::DeployRequest::decode(bytes.as_slice())
        .map_err(|e| Error::internal(format_args!("{DEPLOYMENTS_TABLE}: undecodable spec: {e}")))?;
    Ok(Stored {
        spec,
        version: u64::try_from(version).unwrap_or(0),
        create_time: row.try_get("", "create_time")?,
        update_time: row.try_get("", "update_time")?,
    })
}
