//! Run search in SQL: a parsed filter (`metrics.accuracy > 0.9 and params.solver = 'lbfgs'`)
//! and its order-by clauses as one query over the runs, their latest metrics, params and tags,
//! so it runs in the database on both SQLite and PostgreSQL.

use lathe_common::{Error, Result};
use sea_orm::sea_query::{
    Alias, Asterisk, BinOper, Cond, Expr, ExprTrait, Func, IntoCondition, JoinType, LogicalChainOper,
    NullOrdering, Order, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};

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
///
/// A page sorted by one metric is first read along the metric's index
/// ([`RunSearch::select_by_metric_index`]) instead of sorting every run; when that read cannot
/// tell the page, the general query answers it, with the same rows.
pub async fn page(db: &DatabaseConnection, search: &RunSearch<'_>) -> Result<Vec<run::Model>> {
    let backend = db.get_database_backend();
    if let Some(bound) = search.select_metric_bound()
        && let Some(row) = db.query_one(&bound).await?
    {
        let bound = MetricBound {
            value: row.try_get("", "value")?,
            run_id: row.try_get("", "run_id")?,
        };
        let select = search.select_by_metric_index(&bound)?;
        let rows = run::Entity::find()
            .from_raw_sql(backend.build(&select))
            .all(db)
            .await?;
        if rows.len() as u64 > search.limit {
            return Ok(rows);
        }
    }
    let select = search.select()?;
    Ok(run::Entity::find()
        .from_raw_sql(backend.build(&select))
        .all(db)
        .await?)
}

/// How many of a metric's rows, in sort order, the index-driven read of a page may walk for
/// each row it needs: enough for filters that keep a quarter of the runs, and a bounded waste
/// (then the general query) when they keep fewer.
const METRIC_ROWS_PER_NEEDED_ROW: u64 = 4;
/// Walked on top, so that the first pages under a selective filter still find their rows.
const METRIC_ROWS_SLACK: u64 = 256;

/// The last row, in sort order, that the index-driven read of a page may walk.
#[derive(Debug, Clone, PartialEq)]
struct MetricBound {
    value: f64,
    run_id: String,
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
    /// The conditions on a selected run: its project, experiments, stage and filter clauses.
    fn conditions(&self) -> Result<Vec<SimpleExpr>> {
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
        Ok(conditions)
    }

    /// The SELECT for one page, fetching one row more than the page to tell if another follows.
    ///
    /// The conditions form a flat `AND` chain, which sea-query writes in a loop. `and_where`
    /// and `Cond::all()` would turn them into a left-deep tree of binary `AND`s that it writes
    /// recursively, a few stack frames per condition: 15,000 conditions overflowed a worker
    /// thread's stack and aborted the process.
    fn select(&self) -> Result<SelectStatement> {
        let mut select = Query::select();
        select.column((Alias::new(RUNS), Asterisk)).from(Alias::new(RUNS));
        for condition in self.conditions()? {
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

    /// The metric and direction of a search sorted by exactly one metric.
    fn metric_order(&self) -> Option<(&str, Order)> {
        let [order] = self.orders.as_slice() else {
            return None;
        };
        let Field::Metric(key) = &order.field else {
            return None;
        };
        Some((key, if order.descending { Order::Desc } else { Order::Asc }))
    }

    /// For a search sorted by one metric, the query for the last of the metric's non-NaN rows,
    /// in sort order, that reading the page along the index may walk; `None` for other orders.
    /// It reads `registry_latest_metrics_key_value_run` (or its descending twin) alone. No row:
    /// the metric has fewer rows than that, and the general query answers.
    fn select_metric_bound(&self) -> Option<SelectStatement> {
        let (key, direction) = self.metric_order()?;
        let walked = self
            .offset
            .saturating_add(self.limit)
            .saturating_add(1)
            .saturating_mul(METRIC_ROWS_PER_NEEDED_ROW)
            .saturating_add(METRIC_ROWS_SLACK);
        // An offset no database holds: the general query answers it, as before.
        if i64::try_from(walked).is_err() {
            return None;
        }
        let m = Alias::new("m");
        let mut select = Query::select();
        select
            .column((m.clone(), Alias::new("value")))
            .column((m.clone(), Alias::new("run_id")))
            .from_as(Alias::new(METRICS), m.clone())
            .and_where(Expr::col((m.clone(), Alias::new("key"))).eq(key))
            .and_where(Expr::col((m.clone(), Alias::new("is_nan"))).eq(false))
            .order_by((m.clone(), Alias::new("value")), direction)
            .order_by((m, Alias::new("run_id")), Order::Asc)
            .limit(1)
            .offset(walked - 1);
        Some(select)
    }

    /// The page of a search sorted by one metric, read along the metric's index up to `bound`.
    /// Its rows are the page only when there are `limit + 1` of them.
    ///
    /// The general query joins every selected run to its value and sorts them all (200 ms at
    /// 100,000 runs). In its order the runs with a (non-NaN) value come first, by value then run
    /// id ascending, which is the order of the index `(key, value, run_id)` (for DESC, of
    /// `(key, value DESC, run_id)`: a backward read of the first would give ties in descending
    /// run id). Here the metric's rows up to `bound` in that order are walked, joined to their
    /// runs and filtered: a prefix of the general order, so when it holds
    /// `offset + limit + 1` rows its page is the general one, and when it holds fewer (a filter
    /// that keeps few runs, or the runs without the value reached) the caller asks the general
    /// query. The walk is bounded because a metric's key spans every experiment and project: a
    /// small experiment among many runs would otherwise walk them all. `value` bounds it as a
    /// range of the index; the run id settles the ties at the bound.
    fn select_by_metric_index(&self, bound: &MetricBound) -> Result<SelectStatement> {
        let Some((key, direction)) = self.metric_order() else {
            return Err(Error::internal(
                "the index read needs a search sorted by one metric",
            ));
        };
        let o = Alias::new("o0");
        let value = || Expr::col((o.clone(), Alias::new("value")));
        let within = if matches!(direction, Order::Desc) {
            value().gte(bound.value)
        } else {
            value().lte(bound.value)
        };
        let mut conditions = vec![
            Expr::col((o.clone(), Alias::new("key"))).eq(key),
            Expr::col((o.clone(), Alias::new("is_nan"))).eq(false),
            within,
            value()
                .ne(bound.value)
                .or(Expr::col((o.clone(), Alias::new("run_id"))).lte(bound.run_id.clone())),
        ];
        conditions.extend(self.conditions()?);
        let mut select = Query::select();
        select
            .column((Alias::new(RUNS), Asterisk))
            .from_as(Alias::new(METRICS), o.clone())
            .join(
                JoinType::InnerJoin,
                Alias::new(RUNS),
                Expr::col((Alias::new(RUNS), Alias::new("id"))).equals((o.clone(), Alias::new("run_id"))),
            );
        for condition in conditions {
            select.and_or_where(LogicalChainOper::And(condition));
        }
        select
            .order_by((o.clone(), Alias::new("value")), direction)
            .order_by((o, Alias::new("run_id")), Order::Asc)
            .limit(self.limit + 1)
            .offset(self.offset);
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

    /// A database with the registry's schema and `runs` runs in experiment 1 (and a few in
    /// experiment 2 sharing the metric): every tenth without `accuracy`, every tenth NaN, the
    /// rest on 7 values, so ties are many.
    async fn seeded(runs: u32) -> DatabaseConnection {
        use sea_orm_migration::MigratorTrait;
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        super::super::migration::Migrator::up(&db, None)
            .await
            .expect("migrations apply");
        let mut statements = Vec::new();
        for i in 0..runs + 10 {
            let (id, experiment) = (
                format!("{:08x}", i.wrapping_mul(2_654_435_761) ^ 0x5bd1),
                1 + i / runs,
            );
            statements.push(format!(
                "INSERT INTO registry_runs VALUES ('{id}', 'churn', {experiment}, 'r{i}', \
                 'FINISHED', {i}, NULL, 'ana', 'active', 'file:///a')"
            ));
            let (value, is_nan) = match i % 10 {
                0 => continue,
                1 => (0.0, true),
                _ => (f64::from(i % 7) / 7.0, false),
            };
            statements.push(format!(
                "INSERT INTO registry_latest_metrics VALUES ('{id}', 'accuracy', 1, 1, {value}, {is_nan})"
            ));
        }
        for statement in statements {
            db.execute_unprepared(&statement).await.expect("seed row");
        }
        db
    }

    fn sorted_by_accuracy(
        descending: bool,
        clauses: Vec<Clause>,
        limit: u64,
        offset: u64,
    ) -> RunSearch<'static> {
        RunSearch {
            project: "churn",
            experiment_ids: vec![1],
            stage: Some("active"),
            filter: filter::Filter { clauses },
            orders: vec![OrderBy {
                field: Field::Metric("accuracy".into()),
                descending,
            }],
            limit,
            offset,
        }
    }

    async fn ids(db: &DatabaseConnection, select: &SelectStatement) -> Vec<String> {
        run::Entity::find()
            .from_raw_sql(db.get_database_backend().build(select))
            .all(db)
            .await
            .expect("query runs")
            .into_iter()
            .map(|run| run.id)
            .collect()
    }

    /// Whatever the bound of the index read, a page it fills is the general query's page, and
    /// one it cannot fill is refused: every bound, direction, filter, offset and size.
    #[tokio::test]
    async fn a_page_read_along_the_metric_index_is_the_general_page() {
        let db = seeded(60).await;
        let above = Clause {
            field: Field::Metric("accuracy".into()),
            op: Op::Gt,
            value: Value::Number(0.2),
        };
        let (mut filled, mut refused) = (0, 0);
        for descending in [false, true] {
            for clauses in [vec![], vec![above.clone()]] {
                let direction = if descending { "DESC" } else { "ASC" };
                let bounds: Vec<(f64, String)> = db
                    .query_all_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Sqlite,
                        format!(
                            "SELECT value, run_id FROM registry_latest_metrics WHERE key = 'accuracy' \
                             AND NOT is_nan ORDER BY value {direction}, run_id ASC"
                        ),
                    ))
                    .await
                    .expect("metric rows")
                    .into_iter()
                    .map(|row| {
                        (
                            row.try_get("", "value").unwrap(),
                            row.try_get("", "run_id").unwrap(),
                        )
                    })
                    .collect();
                for (value, run_id) in bounds {
                    let bound = MetricBound { value, run_id };
                    for limit in [1, 4, 9] {
                        for offset in [0, 1, 3, 8, 20] {
                            let search = sorted_by_accuracy(descending, clauses.clone(), limit, offset);
                            let general = ids(&db, &search.select().unwrap()).await;
                            let read = ids(&db, &search.select_by_metric_index(&bound).unwrap()).await;
                            if read.len() as u64 > limit {
                                assert_eq!(read, general, "{direction} {bound:?} {limit} {offset}");
                                filled += 1;
                            } else {
                                refused += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(
            filled > 100 && refused > 100,
            "{filled} filled, {refused} refused"
        );
    }

    /// The bound is the metric's row the walk may reach last, in sort order; none when the
    /// metric has fewer rows, and the search then goes to the general query.
    #[tokio::test]
    async fn the_bound_is_the_last_row_the_walk_may_read() {
        let db = seeded(400).await;
        let search = sorted_by_accuracy(true, vec![], 2, 0);
        let bound = db
            .query_one(&search.select_metric_bound().unwrap())
            .await
            .unwrap()
            .expect("the metric has more rows than the walk");
        let value: f64 = bound.try_get("", "value").unwrap();
        let run_id: String = bound.try_get("", "run_id").unwrap();
        // In DESC order: the rows of higher values, then the ties up to the bound's run id.
        let before = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                format!(
                    "SELECT COUNT(*) AS n FROM registry_latest_metrics WHERE key = 'accuracy' \
                     AND NOT is_nan AND (value > {value} OR (value = {value} AND run_id <= '{run_id}'))"
                ),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        let walked = (2 + 1) * METRIC_ROWS_PER_NEEDED_ROW + METRIC_ROWS_SLACK;
        assert_eq!(before as u64, walked);
        let far = sorted_by_accuracy(true, vec![], 50, 400);
        assert!(
            db.query_one(&far.select_metric_bound().unwrap())
                .await
                .unwrap()
                .is_none()
        );
        let mut by_time = sorted_by_accuracy(true, vec![], 50, 0);
        by_time.orders[0].field = Field::Attribute(Attribute::StartTime);
        assert!(by_time.select_metric_bound().is_none());
    }

    /// On SQLite both directions read their page, and the bound, from an index in order: no
    /// sort of the runs.
    #[tokio::test]
    async fn the_metric_page_is_read_from_the_index_without_a_sort() {
        let db = seeded(400).await;
        for (descending, index) in [
            (false, "registry_latest_metrics_key_value_run"),
            (true, "registry_latest_metrics_key_value_desc_run"),
        ] {
            let search = sorted_by_accuracy(descending, vec![], 50, 0);
            let bound = MetricBound {
                value: 0.5,
                run_id: "80000000".into(),
            };
            for select in [
                search.select_metric_bound().unwrap(),
                search.select_by_metric_index(&bound).unwrap(),
            ] {
                let sql = DatabaseBackend::Sqlite.build(&select);
                let explain = sea_orm::Statement::from_sql_and_values(
                    DatabaseBackend::Sqlite,
                    format!("EXPLAIN QUERY PLAN {}", sql.sql),
                    sql.values.map_or_else(Vec::new, |values| values.0),
                );
                let plan: Vec<String> = db
                    .query_all_raw(explain)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|row| row.try_get::<String>("", "detail").unwrap())
                    .collect();
                let plan = plan.join("\n");
                assert!(plan.contains(&format!("COVERING INDEX {index} ")), "{plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
        }
    }
}
