//! Run search in SQL: a parsed filter (`metrics.accuracy > 0.9 and params.solver = 'lbfgs'`)
//! and its order-by clauses as one query over the runs, their latest metrics, params and tags,
//! so it runs in the database on both SQLite and PostgreSQL.

use lathe_common::{Error, Result};
use sea_orm::sea_query::{
    Alias, Asterisk, BinOper, Cond, Expr, ExprTrait, Func, IntoCondition, JoinType, LogicalChainOper,
    NullOrdering, Order, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{DatabaseConnection, EntityTrait};

use super::tracking::run;
use crate::domain::filter::{self, Attribute, Clause, Field, Op, OrderBy, Value};

const RUNS: &str = "registry_runs";
const METRICS: &str = "registry_latest_metrics";

/// What one search page selects, checked and parsed from the request.
pub struct RunSearch<'a> {
    pub project: &'a str,
    pub experiment_ids: Vec<i64>,
    /// The stored lifecycle stage, or `None` for all.
    pub stage: Option<&'static str>,
    pub filter: filter::Filter,
    pub orders: Vec<OrderBy>,
    pub limit: u64,
    pub offset: u64,
}

/// The runs of one page of `search`, one more than its limit when another page follows.
pub async fn page(db: &DatabaseConnection, search: &RunSearch<'_>) -> Result<Vec<run::Model>> {
    let select = search.select()?;
    let backend = db.get_database_backend();
    Ok(run::Entity::find()
        .from_raw_sql(backend.build(&select))
        .all(db)
        .await?)
}

fn runs_col(name: &str) -> Expr {
    Expr::col((Alias::new(RUNS), Alias::new(name)))
}

fn attribute_column(attribute: &Attribute) -> &'static str {
    match attribute {
        Attribute::RunId => "id",
        Attribute::RunName => "name",
        Attribute::Status => "status",
        Attribute::UserId => "user_id",
        Attribute::StartTime => "start_time",
        Attribute::EndTime => "end_time",
    }
}

/// `left <op> value` for one clause; the parser has already matched operators to value kinds.
fn compare(left: Expr, op: &Op, value: &Value) -> Result<SimpleExpr> {
    let text = |v: &Value| match v {
        Value::Text(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::List(_) => Err(Error::invalid("a list is only allowed with IN and NOT IN")),
    };
    let comparison = match op {
        Op::Eq => BinOper::Equal,
        Op::Ne => BinOper::NotEqual,
        Op::Gt => BinOper::GreaterThan,
        Op::Ge => BinOper::GreaterThanOrEqual,
        Op::Lt => BinOper::SmallerThan,
        Op::Le => BinOper::SmallerThanOrEqual,
        Op::In | Op::NotIn => {
            let Value::List(items) = value else {
                return Err(Error::invalid("IN and NOT IN take a list: ('a', 'b')"));
            };
            let items = items.clone();
            return Ok(if matches!(op, Op::In) {
                left.is_in(items)
            } else {
                left.is_not_in(items)
            });
        }
        Op::Like => return Ok(left.like(text(value)?)),
        Op::ILike => return Ok(Expr::expr(Func::lower(left)).like(text(value)?.to_lowercase())),
    };
    let right: SimpleExpr = match value {
        Value::Number(n) => Expr::val(*n),
        Value::Text(s) => Expr::val(s.clone()),
        Value::List(_) => return Err(Error::invalid("a list is only allowed with IN and NOT IN")),
    };
    Ok(left.binary(comparison, right))
}

/// `(SELECT t.value FROM table t WHERE t.run_id = runs.id AND t.key = key) <op> value`: a run
/// without the key has NULL there, which no comparison keeps. A scalar subquery rather than
/// `EXISTS`: PostgreSQL turns `EXISTS` into a join whose plan follows the table statistics,
/// and on tables not yet analyzed (a fresh database, a bulk load before autovacuum) it picked
/// a nested loop that rescans every matching metric row per run, quadratic in the runs
/// (28 ms for 500). The scalar subquery is always one primary-key probe per run.
/// A NaN metric (stored as 0, flagged) reads as NULL there too: like NaN itself, it satisfies
/// no comparison.
fn value_of(table: &str, key: &str, op: &Op, value: &Value) -> Result<SimpleExpr> {
    let t = Alias::new("t");
    let mut sub = Query::select();
    sub.column((t.clone(), Alias::new("value")))
        .from_as(Alias::new(table), t.clone())
        .and_where(Expr::col((t.clone(), Alias::new("run_id"))).equals((Alias::new(RUNS), Alias::new("id"))))
        .and_where(Expr::col((t.clone(), Alias::new("key"))).eq(key));
    if table == METRICS {
        sub.and_where(Expr::col((t, Alias::new("is_nan"))).eq(false));
    }
    compare(Expr::SubQuery(None, Box::new(sub.into())), op, value)
}

fn clause_condition(clause: &Clause) -> Result<SimpleExpr> {
    match &clause.field {
        Field::Metric(key) => value_of(METRICS, key, &clause.op, &clause.value),
        Field::Param(key) => value_of("registry_run_params", key, &clause.op, &clause.value),
        Field::Tag(key) => value_of("registry_run_tags", key, &clause.op, &clause.value),
        Field::Attribute(attribute) => {
            compare(runs_col(attribute_column(attribute)), &clause.op, &clause.value)
        }
    }
}

/// Adds the ORDER BY of one clause, joining the metric/param/tag table it sorts on.
fn add_order(select: &mut SelectStatement, index: usize, order: &OrderBy) {
    let direction = if order.descending { Order::Desc } else { Order::Asc };
    let joined = |select: &mut SelectStatement, table: &str, key: &str| {
        let alias = Alias::new(format!("o{index}"));
        let mut on = Cond::all()
            .add(
                Expr::col((alias.clone(), Alias::new("run_id"))).equals((Alias::new(RUNS), Alias::new("id"))),
            )
            .add(Expr::col((alias.clone(), Alias::new("key"))).eq(key.to_owned()));
        if table == METRICS {
            // A NaN sorts with the missing values, last.
            on = on.add(Expr::col((alias.clone(), Alias::new("is_nan"))).eq(false));
        }
        select.join_as(
            JoinType::LeftJoin,
            Alias::new(table),
            alias.clone(),
            on.into_condition(),
        );
        Expr::col((alias, Alias::new("value")))
    };
    let expr = match &order.field {
        Field::Metric(key) => joined(select, METRICS, key),
        Field::Param(key) => joined(select, "registry_run_params", key),
        Field::Tag(key) => joined(select, "registry_run_tags", key),
        Field::Attribute(attribute) => runs_col(attribute_column(attribute)),
    };
    // Runs without the sorted value come last either way, as MLflow does.
    select.order_by_expr_with_nulls(expr, direction, NullOrdering::Last);
}

impl RunSearch<'_> {
    /// The SELECT for one page, fetching one row more than the page to tell if another follows.
    ///
    /// The conditions form a flat `AND` chain, which sea-query writes in a loop. `and_where`
    /// and `Cond::all()` would turn them into a left-deep tree of binary `AND`s that it writes
    /// recursively, a few stack frames per condition: 15,000 conditions overflowed a worker
    /// thread's stack and aborted the process.
    fn select(&self) -> Result<SelectStatement> {
        let mut conditions = vec![runs_col("project").eq(self.project)];
        if !self.experiment_ids.is_empty() {
            conditions.push(runs_col("experiment_id").is_in(self.experiment_ids.iter().copied()));
        }
        if let Some(stage) = self.stage {
            conditions.push(runs_col("lifecycle_stage").eq(stage));
        }
        for clause in &self.filter.clauses {
            conditions.push(clause_condition(clause)?);
        }
        let mut select = Query::select();
        select.column((Alias::new(RUNS), Asterisk)).from(Alias::new(RUNS));
        for condition in conditions {
            select.and_or_where(LogicalChainOper::And(condition));
        }
        for (i, order) in self.orders.iter().enumerate() {
            add_order(&mut select, i, order);
        }
        if self.orders.is_empty() {
            select.order_by_expr(runs_col("start_time"), Order::Desc);
        }
        // A total order, so pages never overlap or skip.
        select.order_by_expr(runs_col("id"), Order::Asc);
        select.limit(self.limit + 1).offset(self.offset);
        Ok(select)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DatabaseBackend;

    /// Writing the SQL takes the same stack whatever the number of conditions: far past the
    /// filter limits, on a thread with half a tokio worker's stack.
    #[test]
    fn search_sql_for_any_number_of_conditions_fits_a_small_stack() {
        let clause = Clause {
            field: Field::Metric("accuracy".into()),
            op: Op::Gt,
            value: Value::Number(0.0),
        };
        let query = RunSearch {
            project: "churn",
            experiment_ids: vec![1, 2],
            stage: Some("active"),
            filter: filter::Filter {
                clauses: vec![clause; 20_000],
            },
            orders: vec![],
            limit: 10,
            offset: 0,
        };
        let sql = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                let select = query.select().expect("a valid query");
                [DatabaseBackend::Sqlite, DatabaseBackend::Postgres].map(|backend| backend.build(&select))
            })
            .expect("thread starts")
            .join()
            .expect("the SQL is written");
        for statement in sql {
            assert_eq!(statement.sql.matches(" AND ").count(), 3 * 20_000 + 2);
            // Each metric clause binds its key, that it is not NaN, and its value.
            assert_eq!(
                statement.values.map_or(0, |values| values.0.len()),
                6 + 3 * 20_000
            );
        }
    }
}
