//! Checking a window: its logged rows against the reference, per column; model quality when
//! labels exist; the result and report stored; an alert when the dataset drifts.

use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::{ModelTask, Monitor, Performance, Report, WindowResult};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{DEFAULT_PREDICTION_COLUMN, Engine, timestamp};
use crate::compare::{checks_of, compare_frames};
use crate::data::{Frame, PREDICTION_ID, Values};
use crate::quality;
use crate::store::tables::{batch, window};

pub const STATE_CHECKING: &str = "checking";
pub const STATE_DONE: &str = "done";

/// Windows in one page at most.
const MAX_PAGE: u32 = 1000;

impl Engine {
    /// Checks the window holding `at` (the latest window with logged rows when `None`) now.
    pub async fn check_window(
        &self,
        project: &str,
        name: &str,
        at: Option<i64>,
        now: i64,
    ) -> Result<WindowResult> {
        let monitor = self.monitor(project, name).await?;
        let mut select = batch::Entity::find()
            .filter(batch::Column::Project.eq(project))
            .filter(batch::Column::Monitor.eq(name));
        if let Some(at) = at {
            select = select
                .filter(batch::Column::WindowStart.lte(at))
                .filter(batch::Column::WindowEnd.gt(at));
        }
        let Some(found) = select
            .order_by_desc(batch::Column::WindowStart)
            .one(&self.db)
            .await?
        else {
            return Err(Error::of(
                reasons::WINDOW_NOT_FOUND,
                match at {
                    Some(at) => format!(
                        "monitor '{name}' has no rows logged in the window of {}",
                        rfc3339(at)
                    ),
                    None => format!("monitor '{name}' has no logged rows yet"),
                },
            ));
        };
        let result = self.check(&monitor, found.window_start, now).await?;
        // The gauges show this window now, not at the next sweep (which refreshes them after
        // its own checks).
        match self.monitors.list_all().await {
            Ok(all) => {
                let all: Vec<Monitor> = all.into_iter().map(|stored| stored.spec).collect();
                if let Err(err) = self.refresh_metrics(&all).await {
                    tracing::warn!(error = %err, "drift gauges not refreshed");
                }
            }
            Err(err) => tracing::warn!(error = %err, "drift gauges not refreshed"),
        }
        Ok(result)
    }

    /// Checks one window and stores its result (replacing an earlier one); raises an alert
    /// when the dataset drifts and the window has none yet.
    pub(crate) async fn check(&self, monitor: &Monitor, window_start: i64, now: i64) -> Result<WindowResult> {
        let (project, name) = (monitor.project.as_str(), monitor.name.as_str());
        let Some((reference_row, _)) = self.reference(project, name).await? else {
            return Err(Error::of(
                reasons::REFERENCE_NOT_SET,
                format!("monitor '{name}' has no reference sample; set one before checking a window"),
            ));
        };
        let batches = batch::Entity::find()
            .filter(batch::Column::Project.eq(project))
            .filter(batch::Column::Monitor.eq(name))
            .filter(batch::Column::WindowStart.eq(window_start))
            .order_by_asc(batch::Column::Id)
            .all(&self.db)
            .await?;
        let window_end = batches
            .iter()
            .map(|b| b.window_end)
            .max()
            .ok_or_else(|| Error::of(reasons::WINDOW_NOT_FOUND, "the window has no logged rows"))?;
        let reference = self.read_object(&reference_row.path).await?;
        let mut current = Frame::default();
        for batch in &batches {
            current.append(self.read_object(&batch.path).await?)?;
        }
        let checks = checks_of(&monitor.checks);
        let share = Some(monitor.drift_share);
        let (mut report, current) = tokio::task::spawn_blocking(move || {
            compare_frames(&reference, &current, &checks, share).map(|report| (report, current))
        })
        .await
        .map_err(|e| Error::internal(format_args!("the drift computation stopped: {e}")))??;
        let performance = self.performance(monitor, &current).await?;
        let result = report.result.get_or_insert_with(WindowResult::default);
        result.project = project.to_owned();
        result.monitor = name.to_owned();
        result.window_start = Some(timestamp(window_start));
        result.window_end = Some(timestamp(window_end));
        result.checked_at = Some(timestamp(now));
        result.performance = performance;
        let existing = window::Entity::find_by_id((project.to_owned(), name.to_owned(), window_start))
            .one(&self.db)
            .await?;
        let earlier_alert = existing
            .and_then(|row| row.result)
            .and_then(|bytes| <WindowResult as prost::Message>::decode(bytes.as_slice()).ok())
            .map(|earlier| earlier.alert_id)
            .unwrap_or_default();
        result.alert_id = earlier_alert;
        if result.drifted && result.alert_id.is_empty() {
            result.alert_id = self.raise(monitor, result, now).await?;
        }
        let result = result.clone();
        self.store_window(&result, &report, window_start, window_end, now)
            .await?;
        tracing::info!(
            project,
            monitor = name,
            window_start,
            rows = result.rows,
            drifted = result.drifted,
            "window checked"
        );
        Ok(result)
    }

    async fn store_window(
        &self,
        result: &WindowResult,
        report: &Report,
        window_start: i64,
        window_end: i64,
        now: i64,
    ) -> Result<()> {
        let row = window::ActiveModel {
            project: Set(result.project.clone()),
            monitor: Set(result.monitor.clone()),
            window_start: Set(window_start),
            window_end: Set(window_end),
            state: Set(STATE_DONE.to_owned()),
            claim_time: Set(now),
            result: Set(Some(prost::Message::encode_to_vec(result))),
            report: Set(Some(prost::Message::encode_to_vec(report))),
            checked_at: Set(Some(now)),
        };
        window::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    window::Column::Project,
                    window::Column::Monitor,
                    window::Column::WindowStart,
                ])
                .update_columns([
                    window::Column::WindowEnd,
                    window::Column::State,
                    window::Column::ClaimTime,
                    window::Column::Result,
                    window::Column::Report,
                    window::Column::CheckedAt,
                ])
                .to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Model quality over the window's rows that have a prediction id with a label.
    async fn performance(&self, monitor: &Monitor, current: &Frame) -> Result<Option<Performance>> {
        let task = monitor.task();
        if task == ModelTask::Unspecified {
            return Ok(None);
        }
        let column = if monitor.prediction_column.is_empty() {
            DEFAULT_PREDICTION_COLUMN
        } else {
            monitor.prediction_column.as_str()
        };
        let (Some(predictions), Some(Values::Categorical(ids))) =
            (current.column(column), current.column(PREDICTION_ID))
        else {
            return Ok(Some(Performance::default()));
        };
        let wanted: Vec<&str> = ids.iter().flatten().map(String::as_str).collect();
        let labels = self.labels_of(&monitor.project, &monitor.name, &wanted).await?;
        let performance = match task {
            ModelTask::Regression => {
                let Values::Numeric(predicted) = predictions else {
                    return Ok(Some(Performance::default()));
                };
                let pairs: Vec<(f64, f64)> = ids
                    .iter()
                    .zip(predicted)
                    .filter_map(|(id, p)| {
                        let label = labels.get(id.as_deref()?)?;
                        Some((*p, label.number?))
                    })
                    .collect();
                quality::regression(&pairs)
            }
            ModelTask::Classification | ModelTask::Unspecified => {
                let pairs: Vec<(quality::Value, quality::Value)> = ids
                    .iter()
                    .enumerate()
                    .filter_map(|(i, id)| {
                        let label = labels.get(id.as_deref()?)?;
                        let predicted = match predictions {
                            Values::Numeric(numbers) if numbers[i].is_finite() => {
                                quality::Value::Number(numbers[i])
                            }
                            Values::Categorical(texts) => quality::Value::Text(texts[i].clone()?),
                            Values::Numeric(_) => return None,
                        };
                        let truth = match (&label.number, &label.text) {
                            (Some(n), _) => quality::Value::Number(*n),
                            (None, Some(t)) => quality::Value::Text(t.clone()),
                            (None, None) => return None,
                        };
                        Some((predicted, truth))
                    })
                    .collect();
                quality::classification(&pairs)
            }
        };
        Ok(Some(performance))
    }

    /// Checked windows starting in [start, end), oldest first.
    pub async fn list_windows(
        &self,
        project: &str,
        name: &str,
        start: Option<i64>,
        end: Option<i64>,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<WindowResult>, String)> {
        self.monitor(project, name).await?;
        let size = if page_size == 0 {
            100
        } else {
            page_size.min(MAX_PAGE)
        };
        let mut select = window::Entity::find()
            .filter(window::Column::Project.eq(project))
            .filter(window::Column::Monitor.eq(name))
            .filter(window::Column::State.eq(STATE_DONE));
        if let Some(start) = start {
            select = select.filter(window::Column::WindowStart.gte(start));
        }
        if let Some(end) = end {
            select = select.filter(window::Column::WindowStart.lt(end));
        }
        if !page_token.is_empty() {
            let after: i64 = page_token.parse().map_err(|_| {
                Error::of(
                    reasons::INVALID_PAGE_TOKEN,
                    "page_token: not a token this server issued",
                )
            })?;
            select = select.filter(window::Column::WindowStart.gt(after));
        }
        let mut rows = select
            .order_by_asc(window::Column::WindowStart)
            .limit(u64::from(size) + 1)
            .all(&self.db)
            .await?;
        let next = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last().map_or(String::new(), |r| r.window_start.to_string())
        } else {
            String::new()
        };
        let windows = rows
            .iter()
            .filter_map(|row| row.result.as_deref())
            .map(|bytes| {
                <WindowResult as prost::Message>::decode(bytes)
                    .map_err(|e| Error::internal(format_args!("undecodable window result: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((windows, next))
    }

    /// The report of the checked window holding `at`.
    pub async fn report(&self, project: &str, name: &str, at: i64, html: bool) -> Result<Report> {
        self.monitor(project, name).await?;
        let row = window::Entity::find()
            .filter(window::Column::Project.eq(project))
            .filter(window::Column::Monitor.eq(name))
            .filter(window::Column::State.eq(STATE_DONE))
            .filter(
                Condition::all()
                    .add(window::Column::WindowStart.lte(at))
                    .add(window::Column::WindowEnd.gt(at)),
            )
            .one(&self.db)
            .await?;
        let Some(bytes) = row.and_then(|row| row.report) else {
            return Err(Error::of(
                reasons::WINDOW_NOT_FOUND,
                format!("monitor '{name}' has no checked window holding {}", rfc3339(at)),
            ));
        };
        let mut report = <Report as prost::Message>::decode(bytes.as_slice())
            .map_err(|e| Error::internal(format_args!("undecodable report: {e}")))?;
        if html {
            let title = format!("Drift report: {project} / {name}");
            report.html = crate::compare::render_html(&report, &title);
        }
        Ok(report)
    }

    /// Claims a due window for this sweeper: inserts it as `checking`, or takes over a claim
    /// older than the claim timeout. False when another sweeper has it or it is done.
    pub(crate) async fn claim_window(
        &self,
        monitor: &Monitor,
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<bool> {
        let row = window::ActiveModel {
            project: Set(monitor.project.clone()),
            monitor: Set(monitor.name.clone()),
            window_start: Set(start),
            window_end: Set(end),
            state: Set(STATE_CHECKING.to_owned()),
            claim_time: Set(now),
            result: Set(None),
            report: Set(None),
            checked_at: Set(None),
        };
        let inserted = window::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    window::Column::Project,
                    window::Column::Monitor,
                    window::Column::WindowStart,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        if inserted == 1 {
            return Ok(true);
        }
        let stale = now - i64::try_from(self.tuning.claim_timeout.as_millis()).unwrap_or(i64::MAX / 4);
        let taken = window::Entity::update_many()
            .col_expr(window::Column::ClaimTime, Expr::value(now))
            .filter(window::Column::Project.eq(monitor.project.as_str()))
            .filter(window::Column::Monitor.eq(monitor.name.as_str()))
            .filter(window::Column::WindowStart.eq(start))
            .filter(window::Column::State.eq(STATE_CHECKING))
            .filter(window::Column::ClaimTime.lt(stale))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }
}

pub(crate) fn rfc3339(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| millis.to_string())
}
