//! What the orchestrator does on its own, on a clock: takes back expired leases, fires cron
//! schedules, and starts the pipelines a monitor alert names (with their cooldown).

use std::time::Duration;

use lathe_common::reasons;
use lathe_common::{Error, Result};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::runs::{NewRun, Runs, Trigger, now_ms};
use super::schedule::{fires_between, next_fire};
use crate::definition::EventTrigger;
use crate::store::tables::pipeline;

/// Catch-up starts at most this many missed runs of one schedule at once.
const CATCH_UP_LIMIT: usize = 100;

impl Runs {
    /// Starts the runs of every schedule due at `now` (ms). A schedule fires once per due
    /// time with `catch_up`, else once for the latest; the head's `next_fire_time` moves by
    /// compare-and-set, so orchestrators sharing a database never fire one time twice.
    pub async fn fire_schedules(&self, now: i64) -> Result<Vec<String>> {
        let due = pipeline::Entity::find()
            .filter(pipeline::Column::NextFireTime.lte(now))
            .all(self.pipelines.db())
            .await?;
        let mut started = Vec::new();
        for head in due {
            let Some(missed) = head.next_fire_time else {
                continue;
            };
            let Some(current) = self.pipelines.current(&head.project, &head.name).await? else {
                continue;
            };
            let Some(schedule) = &current.pipeline.schedule else {
                continue;
            };
            let next = next_fire(schedule, now);
            let moved = pipeline::Entity::update_many()
                .col_expr(pipeline::Column::NextFireTime, next.into())
                .filter(pipeline::Column::Project.eq(head.project.as_str()))
                .filter(pipeline::Column::Name.eq(head.name.as_str()))
                .filter(pipeline::Column::NextFireTime.eq(missed))
                .exec(self.pipelines.db())
                .await?;
            if moved.rows_affected != 1 {
                continue;
            }
            let mut fires = vec![missed];
            fires.extend(fires_between(schedule, missed, now, CATCH_UP_LIMIT));
            if !schedule.catch_up {
                fires.drain(..fires.len() - 1);
            }
            let params = Default::default();
            for fire in fires {
                let run = self
                    .trigger(
                        NewRun {
                            project: &head.project,
                            pipeline: &head.name,
                            params: &params,
                            logical_date: Some(fire),
                            trigger: Trigger::Schedule,
                            actor: "schedule",
                        },
                        now,
                    )
                    .await;
                match run {
                    Ok(run) => started.push(run.id),
                    Err(err) => {
                        tracing::warn!(pipeline = %head.name, error = %err, "a scheduled run could not start")
                    }
                }
            }
        }
        Ok(started)
    }

    /// Starts every pipeline of the project whose `on_alert` names `monitor`, and the pipeline
    /// the monitor itself names (`named`, with the monitor's cooldown, unless its own
    /// `on_alert` sets one), unless its cooldown since the last run an alert started has not
    /// passed. A named pipeline that does not exist is an error, and nothing starts.
    pub async fn on_alert(
        &self,
        project: &str,
        monitor: &str,
        named: Option<(&str, Duration)>,
        now: i64,
    ) -> Result<Vec<(String, Option<String>)>> {
        let pipelines = self.pipelines.list(project).await?;
        if let Some((name, _)) = named
            && !pipelines.iter().any(|p| p.head.name == name)
        {
            return Err(Error::of(
                reasons::PIPELINE_NOT_FOUND,
                format!(
                    "monitor '{monitor}' names pipeline '{name}', which does not exist in project '{project}'"
                ),
            ));
        }
        let mut answers = Vec::new();
        for current in pipelines {
            let subscribed = current.pipeline.triggers.iter().find_map(|t| match t {
                EventTrigger::OnAlert { monitor: m, cooldown } if m == monitor => Some(*cooldown),
                EventTrigger::OnAlert { .. } => None,
            });
            let named_here = named
                .filter(|(name, _)| *name == current.head.name)
                .map(|(_, cooldown)| cooldown);
            let Some(cooldown) = subscribed.or(named_here) else {
                continue;
            };
            let cooldown_ms = i64::try_from(cooldown.as_millis()).unwrap_or(i64::MAX / 4);
            let last = current.head.last_alert_time;
            if last.is_some_and(|last| now - last < cooldown_ms) {
                answers.push((current.head.name.clone(), None));
                continue;
            }
            let claimed = pipeline::Entity::update_many()
                .col_expr(pipeline::Column::LastAlertTime, Some(now).into())
                .filter(pipeline::Column::Project.eq(project))
                .filter(pipeline::Column::Name.eq(current.head.name.as_str()))
                .filter(match last {
                    Some(last) => pipeline::Column::LastAlertTime.eq(last),
                    None => pipeline::Column::LastAlertTime.is_null(),
                })
                .exec(self.pipelines.db())
                .await?;
            if claimed.rows_affected != 1 {
                answers.push((current.head.name.clone(), None));
                continue;
            }
            let params = Default::default();
            let run = self
                .trigger(
                    NewRun {
                        project,
                        pipeline: &current.head.name,
                        params: &params,
                        logical_date: None,
                        trigger: Trigger::Alert(monitor.to_owned()),
                        actor: &format!("monitor:{monitor}"),
                    },
                    now,
                )
                .await?;
            answers.push((current.head.name.clone(), Some(run.id)));
        }
        Ok(answers)
    }

    /// The sweeper's loop, until `shutdown`.
    pub async fn sweep(self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut shutdown => return,
            }
            let now = now_ms();
            if let Err(err) = self.expire_leases(now).await {
                tracing::warn!(error = %err, "cannot take back expired leases");
            }
            if let Err(err) = self.fire_schedules(now).await {
                tracing::warn!(error = %err, "cannot fire schedules");
            }
        }
    }
}
