//! Run and task-instance states, as stored and as the contract names them (Airflow's names).

use lathe_contract::orchestrator::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn parse(stored: &str) -> RunState {
        match stored {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "success" => RunState::Success,
            "failed" => RunState::Failed,
            _ => RunState::Cancelled,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed | RunState::Cancelled)
    }

    pub fn proto(self) -> pb::RunState {
        match self {
            RunState::Queued => pb::RunState::Queued,
            RunState::Running => pb::RunState::Running,
            RunState::Success => pb::RunState::Success,
            RunState::Failed => pb::RunState::Failed,
            RunState::Cancelled => pb::RunState::Cancelled,
        }
    }

    pub fn from_proto(state: pb::RunState) -> Option<RunState> {
        match state {
            pb::RunState::Unspecified => None,
            pb::RunState::Queued => Some(RunState::Queued),
            pb::RunState::Running => Some(RunState::Running),
            pb::RunState::Success => Some(RunState::Success),
            pb::RunState::Failed => Some(RunState::Failed),
            pb::RunState::Cancelled => Some(RunState::Cancelled),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Airflow's "none": waiting for its upstream tasks.
    Pending,
    /// Its upstream tasks allow it; waiting for a slot of the run's `max_parallel_tasks`.
    Scheduled,
    /// Waiting for a worker.
    Queued,
    Running,
    Success,
    Failed,
    /// Failed with tries left; claimed again after its backoff.
    UpForRetry,
    Skipped,
    UpstreamFailed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
        }
    }

    pub fn parse(stored: &str) -> TaskState {
        match stored {
            "pending" => TaskState::Pending,
            "scheduled" => TaskState::Scheduled,
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "success" => TaskState::Success,
            "up_for_retry" => TaskState::UpForRetry,
            "skipped" => TaskState::Skipped,
            "upstream_failed" => TaskState::UpstreamFailed,
            _ => TaskState::Failed,
        }
    }

    /// Done for good: no transition leaves it (but a re-run).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Skipped | TaskState::UpstreamFailed
        )
    }

    /// Holds one of the run's parallel slots.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TaskState::Queued | TaskState::Running | TaskState::UpForRetry
        )
    }

    pub fn proto(self) -> pb::TaskState {
        match self {
            TaskState::Pending => pb::TaskState::Pending,
            TaskState::Scheduled => pb::TaskState::Scheduled,
            TaskState::Queued => pb::TaskState::Queued,
            TaskState::Running => pb::TaskState::Running,
            TaskState::Success => pb::TaskState::Success,
            TaskState::Failed => pb::TaskState::Failed,
            TaskState::UpForRetry => pb::TaskState::UpForRetry,
            TaskState::Skipped => pb::TaskState::Skipped,
            TaskState::UpstreamFailed => pb::TaskState::UpstreamFailed,
        }
    }
}
