//! The lifecycle stages of experiments and runs and the statuses of runs: their stored names
//! and their proto values.

use lathe_common::{Error, Result};
use lathe_contract::registry::v1 as pb;

/// Stored lifecycle stages.
pub const ACTIVE: &str = "active";
pub const DELETED: &str = "deleted";

pub fn lifecycle(stage: &str) -> pb::LifecycleStage {
    if stage == DELETED {
        pb::LifecycleStage::Deleted
    } else {
        pb::LifecycleStage::Active
    }
}

/// The stored lifecycle stage a listing's view keeps, or `None` for all.
pub fn view_stage(view: i32) -> Result<Option<&'static str>> {
    match pb::ViewType::try_from(view) {
        Ok(pb::ViewType::ActiveOnly) => Ok(Some(ACTIVE)),
        Ok(pb::ViewType::DeletedOnly) => Ok(Some(DELETED)),
        Ok(pb::ViewType::All) => Ok(None),
        Err(_) => Err(Error::invalid("view: use ACTIVE_ONLY, DELETED_ONLY or ALL")),
    }
}

pub fn status_from_str(status: &str) -> pb::RunStatus {
    pb::RunStatus::from_str_name(&format!("RUN_STATUS_{status}")).unwrap_or(pb::RunStatus::Unspecified)
}

/// The stored name of a run status.
pub fn status_name(status: pb::RunStatus) -> Result<&'static str> {
    match status {
        pb::RunStatus::Running => Ok("RUNNING"),
        pb::RunStatus::Finished => Ok("FINISHED"),
        pb::RunStatus::Failed => Ok("FAILED"),
        pb::RunStatus::Killed => Ok("KILLED"),
        pb::RunStatus::Scheduled => Ok("SCHEDULED"),
        pb::RunStatus::Unspecified => Err(Error::invalid(
            "status: use RUNNING, FINISHED, FAILED, KILLED or SCHEDULED",
        )),
    }
}
