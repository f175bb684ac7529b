//! Alerts: raised when a checked window drifts, then delivered twice over, each with its own
//! retries: posted to the monitor's webhook (signed), and told to the orchestrator, which
//! starts the pipelines that wait for this monitor's alerts (and the one the monitor names),
//! each at most once per cooldown.

use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::{Alert, DeliveryState, Monitor, TriggeredRun, WindowResult};
use lathe_contract::orchestrator::v1::NotifyAlertRequest;
use lathe_contract::orchestrator::v1::orchestrator_service_client::OrchestratorServiceClient;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::{DEFAULT_RETRAIN_COOLDOWN_SECONDS, Engine, millis, timestamp};
use crate::store::tables::alert;
use crate::webhook;

/// Alerts in one page at most.
const MAX_PAGE: u32 = 1000;
/// Deliveries tried per sweep at most.
const DELIVERIES_PER_SWEEP: u64 = 64;

fn ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Engine {
    /// Stores an alert for a drifted window and starts its deliveries; returns its id.
    pub(crate) async fn raise(&self, monitor: &Monitor, result: &WindowResult, now: i64) -> Result<String> {
        let drifted: Vec<String> = result
            .columns
            .iter()
            .filter(|c| c.drifted)
            .map(|c| c.column.clone())
            .collect();
        let details: Vec<String> = result
            .columns
            .iter()
            .filter(|c| c.drifted)
            .map(|c| {
                let statistic = c.statistic.map_or("-".to_owned(), |s| format!("{s:.4}"));
                let relation = if is_p_value(&c.method) { "<" } else { ">=" };
                format!(
                    "{} ({} {statistic} {relation} {})",
                    c.column, c.method, c.threshold
                )
            })
            .collect();
        let id = uuid::Uuid::now_v7().to_string();
        let raised = Alert {
            id: id.clone(),
            project: monitor.project.clone(),
            monitor: monitor.name.clone(),
            window_start: result.window_start,
            window_end: result.window_end,
            create_time: Some(timestamp(now)),
            drifted_columns: drifted,
            drifted_share: result.drifted_share,
            message: format!(
                "{} of {} columns drifted (share {:.2} >= {:.2}): {}",
                result.drifted_columns,
                result.columns.len(),
                result.drifted_share,
                result.share_threshold,
                details.join(", ")
            ),
            ..Alert::default()
        };
        let webhook = monitor.webhook.as_ref().is_some_and(|w| !w.url.is_empty());
        let notify = self.links.orchestrator.is_some();
        let row = alert::ActiveModel {
            id: Set(id.clone()),
            project: Set(monitor.project.clone()),
            monitor: Set(monitor.name.clone()),
            window_start: Set(result.window_start.as_ref().map_or(0, millis)),
            create_time: Set(now),
            alert: Set(prost::Message::encode_to_vec(&raised)),
            webhook_state: Set(if webhook {
                DeliveryState::Pending
            } else {
                DeliveryState::None
            } as i32),
            webhook_attempts: Set(0),
            webhook_error: Set(String::new()),
            webhook_next: Set(webhook.then_some(now)),
            runs: Set("[]".to_owned()),
            trigger_error: Set(String::new()),
            notify_attempts: Set(0),
            notify_next: Set(notify.then_some(now)),
        };
        alert::Entity::insert(row).exec(&self.db).await?;
        self.metrics.alert_raised(&monitor.project, &monitor.name);
        tracing::warn!(project = %monitor.project, monitor = %monitor.name, alert = %id, message = %raised.message, "drift alert");
        // Deliver now, off the check's path; the sweeper retries what fails.
        let engine = self.clone();
        let alert_id = id.clone();
        tokio::spawn(async move {
            if let Err(err) = engine.deliver(&alert_id, now).await {
                tracing::warn!(error = %err, alert = %alert_id, "alert delivery failed; the sweeper retries");
            }
        });
        Ok(id)
    }

    /// Delivers what is due of every alert (the sweeper's part).
    pub(crate) async fn deliver_due(&self, now: i64) -> Result<()> {
        let due = alert::Entity::find()
            .select_only()
            .column(alert::Column::Id)
            .filter(
                Condition::any()
                    .add(alert::Column::WebhookNext.lte(now))
                    .add(alert::Column::NotifyNext.lte(now)),
            )
            .order_by_asc(alert::Column::CreateTime)
            .limit(DELIVERIES_PER_SWEEP)
            .into_tuple::<String>()
            .all(&self.db)
            .await?;
        for id in due {
            self.deliver(&id, now).await?;
        }
        Ok(())
    }

    /// Tries the due deliveries of one alert, each under a claim so that two sweepers never
    /// post the same attempt.
    async fn deliver(&self, id: &str, now: i64) -> Result<()> {
        let Some(row) = alert::Entity::find_by_id(id.to_owned()).one(&self.db).await? else {
            return Ok(());
        };
        let lease = now + ms(self.tuning.claim_timeout);
        if let Some(next) = row.webhook_next.filter(|next| *next <= now)
            && self.claim(id, alert::Column::WebhookNext, next, lease).await?
        {
            self.post_webhook(&row, now).await?;
        }
        if let Some(next) = row.notify_next.filter(|next| *next <= now)
            && self.claim(id, alert::Column::NotifyNext, next, lease).await?
        {
            self.notify(&row, now).await?;
        }
        Ok(())
    }

    async fn claim(&self, id: &str, column: alert::Column, seen: i64, lease: i64) -> Result<bool> {
        let claimed = alert::Entity::update_many()
            .col_expr(column, Expr::value(lease))
            .filter(alert::Column::Id.eq(id))
            .filter(column.eq(seen))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    fn retry_at(&self, now: i64, attempts: u32) -> Option<i64> {
        (attempts < self.tuning.max_attempts)
            .then(|| now + ms(webhook::backoff(self.tuning.retry_base, attempts)))
    }

    async fn post_webhook(&self, row: &alert::Model, now: i64) -> Result<()> {
        let raised = decode(row)?;
        let monitor = self.monitors.get(&row.project, &row.monitor).await?;
        let Some(hook) = monitor.and_then(|m| m.spec.webhook).filter(|w| !w.url.is_empty()) else {
            // The monitor or its webhook is gone: nothing left to post.
            alert::Entity::update_many()
                .col_expr(alert::Column::WebhookNext, Expr::value(Option::<i64>::None))
                .col_expr(
                    alert::Column::WebhookState,
                    Expr::value(DeliveryState::Failed as i32),
                )
                .col_expr(
                    alert::Column::WebhookError,
                    Expr::value("the monitor no longer has a webhook"),
                )
                .filter(alert::Column::Id.eq(row.id.as_str()))
                .exec(&self.db)
                .await?;
            return Ok(());
        };
        let body = serde_json::to_vec(&payload(&raised)).unwrap_or_default();
        let outcome = webhook::post(&self.links.http, &hook.url, &hook.secret, &raised.id, body).await;
        let attempts = u32::try_from(row.webhook_attempts).unwrap_or(0) + 1;
        let (state, next, error) = match outcome {
            Ok(()) => (DeliveryState::Delivered, None, String::new()),
            Err(error) => {
                let next = self.retry_at(now, attempts);
                tracing::warn!(alert = %row.id, attempts, error = %error, retry = next.is_some(), "webhook delivery failed");
                let state = if next.is_some() {
                    DeliveryState::Pending
                } else {
                    DeliveryState::Failed
                };
                (state, next, error)
            }
        };
        alert::Entity::update_many()
            .col_expr(alert::Column::WebhookState, Expr::value(state as i32))
            .col_expr(alert::Column::WebhookAttempts, Expr::value(attempts as i32))
            .col_expr(alert::Column::WebhookError, Expr::value(error))
            .col_expr(alert::Column::WebhookNext, Expr::value(next))
            .filter(alert::Column::Id.eq(row.id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn notify(&self, row: &alert::Model, now: i64) -> Result<()> {
        let Some(channel) = self.links.orchestrator.clone() else {
            return Ok(());
        };
        let monitor = self
            .monitors
            .get(&row.project, &row.monitor)
            .await?
            .map(|s| s.spec);
        let (pipeline, cooldown) = match &monitor {
            Some(m) if !m.retrain_pipeline.is_empty() => (
                m.retrain_pipeline.clone(),
                if m.retrain_cooldown_seconds == 0 {
                    DEFAULT_RETRAIN_COOLDOWN_SECONDS
                } else {
                    m.retrain_cooldown_seconds
                },
            ),
            Some(_) | None => (String::new(), 0),
        };
        let request = NotifyAlertRequest {
            project: row.project.clone(),
            monitor: row.monitor.clone(),
            pipeline,
            cooldown_seconds: cooldown,
        };
        let call = async move {
            OrchestratorServiceClient::new(channel)
                .notify_alert(request)
                .await
        };
        let outcome = match self.as_monitor(&row.project, &row.monitor, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
            Err(error) => Err(error),
        };
        let attempts = row.notify_attempts + 1;
        match outcome {
            Ok(response) => {
                let runs: Vec<TriggeredRun> = response
                    .pipelines
                    .into_iter()
                    .map(|p| TriggeredRun {
                        pipeline: p.pipeline,
                        run_id: p.run_id,
                    })
                    .collect();
                let runs_json = serde_json::to_string(
                    &runs
                        .iter()
                        .map(|r| json!({"pipeline": r.pipeline, "run_id": r.run_id}))
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_else(|_| "[]".to_owned());
                alert::Entity::update_many()
                    .col_expr(alert::Column::Runs, Expr::value(runs_json))
                    .col_expr(alert::Column::TriggerError, Expr::value(String::new()))
                    .col_expr(alert::Column::NotifyAttempts, Expr::value(attempts))
                    .col_expr(alert::Column::NotifyNext, Expr::value(Option::<i64>::None))
                    .filter(alert::Column::Id.eq(row.id.as_str()))
                    .exec(&self.db)
                    .await?;
                tracing::info!(alert = %row.id, runs = ?runs, "orchestrator told of the alert");
            }
            Err(error) => {
                let next = self.retry_at(now, u32::try_from(attempts).unwrap_or(u32::MAX));
                tracing::warn!(alert = %row.id, attempts, error = %error, retry = next.is_some(), "orchestrator not told of the alert");
                alert::Entity::update_many()
                    .col_expr(alert::Column::TriggerError, Expr::value(error))
                    .col_expr(alert::Column::NotifyAttempts, Expr::value(attempts))
                    .col_expr(alert::Column::NotifyNext, Expr::value(next))
                    .filter(alert::Column::Id.eq(row.id.as_str()))
                    .exec(&self.db)
                    .await?;
            }
        }
        Ok(())
    }

    /// Alerts of a project (of one monitor when `monitor` is not empty), newest first.
    pub async fn list_alerts(
        &self,
        project: &str,
        monitor: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Alert>, String)> {
        let size = if page_size == 0 {
            100
        } else {
            page_size.min(MAX_PAGE)
        };
        let mut select = alert::Entity::find().filter(alert::Column::Project.eq(project));
        if !monitor.is_empty() {
            select = select.filter(alert::Column::Monitor.eq(monitor));
        }
        if !page_token.is_empty() {
            let (time, id) = page_token
                .split_once('.')
                .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    Error::of(
                        reasons::INVALID_PAGE_TOKEN,
                        "page_token: not a token this server issued",
                    )
                })?;
            select = select.filter(
                Condition::any().add(alert::Column::CreateTime.lt(time)).add(
                    Condition::all()
                        .add(alert::Column::CreateTime.eq(time))
                        .add(alert::Column::Id.lt(id)),
                ),
            );
        }
        let mut rows = select
            .order_by_desc(alert::Column::CreateTime)
            .order_by_desc(alert::Column::Id)
            .limit(u64::from(size) + 1)
            .all(&self.db)
            .await?;
        let next = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last()
                .map_or(String::new(), |r| format!("{}.{}", r.create_time, r.id))
        } else {
            String::new()
        };
        let alerts = rows.iter().map(assemble).collect::<Result<Vec<_>>>()?;
        Ok((alerts, next))
    }
}

fn is_p_value(method: &str) -> bool {
    crate::compare::parse_method(method).is_some_and(crate::drift::Method::is_p_value)
}

fn decode(row: &alert::Model) -> Result<Alert> {
    <Alert as prost::Message>::decode(row.alert.as_slice())
        .map_err(|e| Error::internal(format_args!("undecodable alert {}: {e}", row.id)))
}

/// The alert as stored, with its deliveries.
fn assemble(row: &alert::Model) -> Result<Alert> {
    let mut assembled = decode(row)?;
    assembled.webhook = row.webhook_state;
    assembled.webhook_attempts = u32::try_from(row.webhook_attempts).unwrap_or(0);
    assembled.webhook_error = row.webhook_error.clone();
    assembled.trigger_error = row.trigger_error.clone();
    let runs: Vec<serde_json::Value> = serde_json::from_str(&row.runs).unwrap_or_default();
    assembled.runs = runs
        .iter()
        .map(|r| TriggeredRun {
            pipeline: r["pipeline"].as_str().unwrap_or_default().to_owned(),
            run_id: r["run_id"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    Ok(assembled)
}

/// The webhook's JSON body.
fn payload(raised: &Alert) -> serde_json::Value {
    let time = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| super::check::rfc3339(millis(t)));
    json!({
        "event": "drift_alert",
        "id": raised.id,
        "project": raised.project,
        "monitor": raised.monitor,
        "window_start": time(&raised.window_start),
        "window_end": time(&raised.window_end),
        "created": time(&raised.create_time),
        "drifted_columns": raised.drifted_columns,
        "drifted_share": raised.drifted_share,
        "message": raised.message,
    })
}
