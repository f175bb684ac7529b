//! A store for named, versioned definitions scoped to a project (entities, pipelines,
//! monitors…): the spec is kept as its encoded protobuf message, as Feast's SQL registry does,
//! so adding a field to a definition needs no migration. Each service owns its own table.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, Func, Index, OnConflict, Order, Query, Table, TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult};

use crate::error::{Error, Result};

const PROJECT: &str = "project";
const NAME: &str = "name";
const VERSION: &str = "version";
const SPEC: &str = "spec";
const CREATE_TIME: &str = "create_time";
const UPDATE_TIME: &str = "update_time";

/// The `CREATE TABLE` of a definitions table, for a service's migration.
pub fn create_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(table))
        .if_not_exists()
        .col(ColumnDef::new(Alias::new(PROJECT)).string().not_null())
        .col(ColumnDef::new(Alias::new(NAME)).string().not_null())
        .col(ColumnDef::new(Alias::new(VERSION)).big_integer().not_null())
        .col(ColumnDef::new(Alias::new(SPEC)).blob().not_null())
        .col(
            ColumnDef::new(Alias::new(CREATE_TIME))
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new(UPDATE_TIME))
                .timestamp_with_time_zone()
                .not_null(),
        )
        .primary_key(Index::create().col(Alias::new(PROJECT)).col(Alias::new(NAME)))
        .to_owned()
}

/// One stored definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<M> {
    pub spec: M,
    pub version: u64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// Project-scoped definitions of message type `M` in one table.
#[derive(Clone)]
pub struct Definitions<M> {
    db: DatabaseConnection,
    table: &'static str,
    _spec: std::marker::PhantomData<fn() -> M>,
}

impl<M: prost::Message + Default> Definitions<M> {
    pub fn new(db: DatabaseConnection, table: &'static str) -> Self {
        Definitions {
            db,
            table,
            _spec: std::marker::PhantomData,
        }
    }

    /// Creates or replaces; the version goes up only when the spec really changed, so
    /// applying the same definition twice is a no-op.
    pub async fn put(&self, project: &str, name: &str, spec: &M) -> Result<Stored<M>> {
        let now = Utc::now();
        let bytes = spec.encode_to_vec();
        let table = Alias::new(self.table);
        let insert = Query::insert()
            .into_table(table.clone())
            .columns([PROJECT, NAME, VERSION, SPEC, CREATE_TIME, UPDATE_TIME].map(Alias::new))
            .values_panic([
                project.into(),
                name.into(),
                1i64.into(),
                bytes.clone().into(),
                now.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns([Alias::new(PROJECT), Alias::new(NAME)])
                    .value(
                        Alias::new(SPEC),
                        Expr::col((Alias::new("excluded"), Alias::new(SPEC))),
                    )
                    .value(
                        Alias::new(UPDATE_TIME),
                        Expr::col((Alias::new("excluded"), Alias::new(UPDATE_TIME))),
                    )
                    .value(
                        Alias::new(VERSION),
                        Expr::col((table.clone(), Alias::new(VERSION))).add(1),
                    )
                    .action_and_where(
                        Expr::col((table.clone(), Alias::new(SPEC)))
                            .ne(Expr::col((Alias::new("excluded"), Alias::new(SPEC)))),
                    )
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(&insert).await?;
        self.get(project, name).await?.ok_or_else(|| {
            Error::internal(format_args!(
                "{}: row {project}/{name} vanished after upsert",
                self.table
            ))
        })
    }

    pub async fn get(&self, project: &str, name: &str) -> Result<Option<Stored<M>>> {
        let select = self
            .select()
            .and_where(Expr::col(Alias::new(PROJECT)).eq(project))
            .and_where(Expr::col(Alias::new(NAME)).eq(name))
            .to_owned();
        match self.db.query_one(&select).await? {
            Some(row) => Ok(Some(self.decode(&row)?)),
            None => Ok(None),
        }
    }

    /// Every definition of a project, by name.
    pub async fn list(&self, project: &str) -> Result<Vec<Stored<M>>> {
        let select = self
            .select()
            .and_where(Expr::col(Alias::new(PROJECT)).eq(project))
            .order_by(Alias::new(NAME), Order::Asc)
            .to_owned();
        self.db
            .query_all(&select)
            .await?
            .iter()
            .map(|row| self.decode(row))
            .collect()
    }

    /// Every definition of every project (for a service's background sweep), by project and
    /// name.
    pub async fn list_all(&self) -> Result<Vec<Stored<M>>> {
        let select = self
            .select()
            .order_by(Alias::new(PROJECT), Order::Asc)
            .order_by(Alias::new(NAME), Order::Asc)
            .to_owned();
        self.db
            .query_all(&select)
            .await?
            .iter()
            .map(|row| self.decode(row))
            .collect()
    }

    /// Returns whether a definition was deleted.
    pub async fn delete(&self, project: &str, name: &str) -> Result<bool> {
        let delete = Query::delete()
            .from_table(Alias::new(self.table))
            .and_where(Expr::col(Alias::new(PROJECT)).eq(project))
            .and_where(Expr::col(Alias::new(NAME)).eq(name))
            .to_owned();
        Ok(self.db.execute(&delete).await?.rows_affected() > 0)
    }

    /// How many definitions the project holds.
    pub async fn count(&self, project: &str) -> Result<u64> {
        let select = Query::select()
            .expr_as(Func::count(Expr::col(Alias::new(NAME))), Alias::new("n"))
            .from(Alias::new(self.table))
            .and_where(Expr::col(Alias::new(PROJECT)).eq(project))
            .to_owned();
        let n: i64 = match self.db.query_one(&select).await? {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes every definition of the project (when the project is deleted); returns how many.
    pub async fn delete_project(&self, project: &str) -> Result<u64> {
        let delete = Query::delete()
            .from_table(Alias::new(self.table))
            .and_where(Expr::col(Alias::new(PROJECT)).eq(project))
            .to_owned();
        Ok(self.db.execute(&delete).await?.rows_affected())
    }

    /// A service's answer to its `ProjectData` call: how many definitions the project holds,
    /// or, when `delete`, how many it held before they were all deleted (`kind` names them
    /// in the log).
    pub async fn project_data(&self, project: &str, delete: bool, kind: &str) -> Result<u64> {
        crate::validate::project_name("project", project)?;
        if !delete {
            return self.count(project).await;
        }
        let n = self.delete_project(project).await?;
        tracing::info!(project, kind, deleted = n, "project's definitions deleted");
        Ok(n)
    }

    fn select(&self) -> sea_orm::sea_query::SelectStatement {
        Query::select()
            .columns([VERSION, SPEC, CREATE_TIME, UPDATE_TIME].map(Alias::new))
            .from(Alias::new(self.table))
            .to_owned()
    }

    fn decode(&self, row: &QueryResult) -> Result<Stored<M>> {
        let bytes: Vec<u8> = row.try_get("", SPEC)?;
        let version: i64 = row.try_get("", VERSION)?;
        let spec = M::decode(bytes.as_slice())
            .map_err(|e| Error::internal(format_args!("{}: undecodable spec: {e}", self.table)))?;
        Ok(Stored {
            spec,
            version: u64::try_from(version).unwrap_or(0),
            create_time: row.try_get("", CREATE_TIME)?,
            update_time: row.try_get("", UPDATE_TIME)?,
        })
    }
}
