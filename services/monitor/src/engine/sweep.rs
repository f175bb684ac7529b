//! The monitor's background work, on every replica: check the windows that have closed (a
//! window is due `lateness` after its end, and is claimed in the database so only one
//! replica checks it), retry alert deliveries, and set the Prometheus gauges from the
//! database.

use std::collections::HashMap;
use std::time::Duration;

use lathe_common::Result;
use lathe_contract::monitor::v1::{Monitor, WindowResult};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::check::STATE_DONE;
use super::{DEFAULT_LATENESS_SECONDS, Engine};
use crate::metrics::Latest;
use crate::store::tables::{alert, batch, reference, window};

impl Engine {
    /// One round of the background work at `now`.
    pub async fn sweep_once(&self, now: i64) -> Result<()> {
        let monitors: Vec<Monitor> = self
            .monitors
            .list_all()
            .await?
            .into_iter()
            .map(|stored| stored.spec)
            .collect();
        for monitor in monitors.iter().filter(|m| !m.paused) {
            if let Err(err) = self.check_due(monitor, now).await {
                tracing::warn!(project = %monitor.project, monitor = %monitor.name, error = %err, "scheduled check failed");
            }
        }
        if let Err(err) = self.deliver_due(now).await {
            tracing::warn!(error = %err, "alert deliveries failed");
        }
        self.refresh_metrics(&monitors).await
    }

    /// The sweeper's loop, until `shutdown`.
    pub async fn sweep(self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut shutdown => return,
            }
            if let Err(err) = self.sweep_once(chrono::Utc::now().timestamp_millis()).await {
                tracing::warn!(error = %err, "monitor sweep failed");
            }
        }
    }

    /// Checks the monitor's closed windows that have logged rows and no result yet.
    async fn check_due(&self, monitor: &Monitor, now: i64) -> Result<()> {
        let has_reference = reference::Entity::find_by_id((monitor.project.clone(), monitor.name.clone()))
            .one(&self.db)
            .await?
            .is_some();
        if !has_reference {
            return Ok(());
        }
        let lateness = i64::from(if monitor.lateness_seconds == 0 {
            DEFAULT_LATENESS_SECONDS
        } else {
            monitor.lateness_seconds
        }) * 1000;
        let checked = Query::select()
            .column(window::Column::WindowStart)
            .from(window::Entity)
            .and_where(Expr::col(window::Column::Project).eq(monitor.project.as_str()))
            .and_where(Expr::col(window::Column::Monitor).eq(monitor.name.as_str()))
            .and_where(Expr::col(window::Column::State).eq(STATE_DONE))
            .to_owned();
        let due: Vec<(i64, i64)> = batch::Entity::find()
            .select_only()
            .column(batch::Column::WindowStart)
            .column_as(batch::Column::WindowEnd.max(), "window_end")
            .filter(batch::Column::Project.eq(monitor.project.as_str()))
            .filter(batch::Column::Monitor.eq(monitor.name.as_str()))
            .filter(batch::Column::WindowEnd.lte(now - lateness))
            .filter(batch::Column::WindowStart.not_in_subquery(checked))
            .group_by(batch::Column::WindowStart)
            .order_by_asc(batch::Column::WindowStart)
            .limit(self.tuning.windows_per_sweep as u64)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (start, end) in due {
            if self.claim_window(monitor, start, end, now).await? {
                self.check(monitor, start, now).await?;
            }
        }
        Ok(())
    }

    /// Sets the gauges from every monitor's latest checked window and alert count.
    pub async fn refresh_metrics(&self, monitors: &[Monitor]) -> Result<()> {
        let counts: Vec<(String, String, i64)> = alert::Entity::find()
            .select_only()
            .column(alert::Column::Project)
            .column(alert::Column::Monitor)
            .column_as(alert::Column::Id.count(), "n")
            .group_by(alert::Column::Project)
            .group_by(alert::Column::Monitor)
            .into_tuple()
            .all(&self.db)
            .await?;
        let counts: HashMap<(String, String), u64> = counts
            .into_iter()
            .map(|(p, m, n)| ((p, m), u64::try_from(n).unwrap_or(0)))
            .collect();
        let mut latest: Vec<Option<WindowResult>> = Vec::with_capacity(monitors.len());
        for monitor in monitors {
            let row = window::Entity::find()
                .filter(window::Column::Project.eq(monitor.project.as_str()))
                .filter(window::Column::Monitor.eq(monitor.name.as_str()))
                .filter(window::Column::State.eq(STATE_DONE))
                .order_by_desc(window::Column::WindowStart)
                .one(&self.db)
                .await?;
            latest.push(
                row.and_then(|r| r.result)
                    .and_then(|bytes| <WindowResult as prost::Message>::decode(bytes.as_slice()).ok()),
            );
        }
        let shown: Vec<Latest<'_>> = monitors
            .iter()
            .zip(&latest)
            .map(|(monitor, window)| Latest {
                project: &monitor.project,
                monitor: &monitor.name,
                window: window.as_ref(),
                alerts: counts
                    .get(&(monitor.project.clone(), monitor.name.clone()))
                    .copied()
                    .unwrap_or(0),
            })
            .collect();
        self.metrics.set(&shown);
        Ok(())
    }
}
