//! Pages of a project's monitors, by name: each page starts strictly after the last name of
//! the page before (a keyset, not an offset), so pages neither overlap nor skip while monitors
//! are created or deleted between calls.
//!
//! The rows are read straight from the definitions table ([`MONITORS_TABLE`], laid out by
//! `lathe_common::definitions`), which lists a project whole but does not page.

use chrono::{DateTime, Utc};
use lathe_common::definitions::Stored;
use lathe_common::{Error, Result, paging};
use lathe_contract::monitor::v1::Monitor;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::MONITORS_TABLE;

/// One page of monitors, by name, and the token of the next page (empty on the last).
pub struct MonitorPage {
    pub monitors: Vec<Stored<Monitor>>,
    pub next_page_token: String,
}

/// The page of `project`'s monitors that `page_size` and `page_token` ask for: size 0 is the
/// default, more than [`paging::MAX_PAGE_SIZE`] is refused, and so is a token this server did not issue.
pub async fn monitors_page(
    db: &DatabaseConnection,
    project: &str,
    page_size: u32,
    page_token: &str,
) -> Result<MonitorPage> {
    let limit = paging::page_size(page_size)?;
    let after = paging::decode_token(page_token)?;
    let mut select = Query::select()
        .columns(["name", "version", "spec", "create_time", "update_time"].map(Alias::new))
        .from(Alias::new(MONITORS_TABLE))
        .and_where(Expr::col(Alias::new("project")).eq(project))
        .order_by(Alias::new("name"), Order::Asc)
        .limit(limit + 1)
        .to_owned();
    if let Some(after) = after {
        select.and_where(Expr::col(Alias::new("name")).gt(after));
    }
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        let name: String = row.try_get("", "name")?;
        let bytes: Vec<u8> = row.try_get("", "spec")?;
        let version: i64 = row.try_get("", "version")?;
        let create_time: DateTime<Utc> = row.try_get("", "create_time")?;
        let update_time: DateTime<Utc> = row.try_get("", "update_time")?;
        let spec = <Monitor as prost::Message>::decode(bytes.as_slice())
            .map_err(|e| Error::internal(format_args!("{MONITORS_TABLE}: undecodable spec: {e}")))?;
        let stored = Stored {
            spec,
            version: u64::try_from(version).unwrap_or(0),
            create_time,
            update_time,
        };
        rows.push((name, stored));
    }
    let next_page_token = paging::finish_page(&mut rows, limit, |(name, _)| name.clone());
    Ok(MonitorPage {
        monitors: rows.into_iter().map(|(_, stored)| stored).collect(),
        next_page_token,
    })
}
