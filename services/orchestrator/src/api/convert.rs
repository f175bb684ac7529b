//! Rows to contract messages.

use lathe_common::validate;
use lathe_contract::orchestrator::v1 as pb;

use crate::definition::Task;
use crate::engine::states::{RunState, TaskState};
use crate::store::pipelines::Current;
use crate::store::tables::{run, task};

pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    validate::timestamp(chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

fn maybe(ms: Option<i64>) -> Option<prost_types::Timestamp> {
    ms.map(timestamp)
}

pub fn pipeline(current: &Current) -> pb::Pipeline {
    let definition = &current.pipeline;
    pb::Pipeline {
        project: current.head.project.clone(),
        name: current.head.name.clone(),
        description: definition.description.clone(),
        version: u64::try_from(current.head.version).unwrap_or(0),
        source: current.version.source.clone(),
        schedule: definition
            .schedule
            .as_ref()
            .map_or(String::new(), |s| s.cron.source.clone()),
        timezone: definition
            .schedule
            .as_ref()
            .map_or(String::new(), |s| s.time_zone.name().to_owned()),
        tasks: definition.tasks.iter().map(task_summary).collect(),
        create_time: Some(timestamp(current.head.create_time)),
        update_time: Some(timestamp(current.head.update_time)),
        actor: current.version.actor.clone(),
    }
}

fn task_summary(task: &Task) -> pb::TaskSummary {
    pb::TaskSummary {
        id: task.id.clone(),
        kind: task.kind.name().to_owned(),
        depends_on: task.depends_on.clone(),
        trigger_rule: task.trigger_rule.name().to_owned(),
        when: task.when.as_ref().map_or(String::new(), |w| w.source.clone()),
        retries: task.retries.count,
        timeout_ms: task
            .timeout
            .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
    }
}

/// A run, with its task instances in the pipeline's order when `tasks` is given.
pub fn run(row: &run::Model, tasks: &[task::Model], order: &[String]) -> pb::PipelineRun {
    let params: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&row.params).unwrap_or_default();
    let mut instances: Vec<&task::Model> = tasks.iter().collect();
    instances.sort_by_key(|t| order.iter().position(|id| *id == t.task_id).unwrap_or(usize::MAX));
    pb::PipelineRun {
        run_id: row.id.clone(),
        project: row.project.clone(),
        pipeline: row.pipeline.clone(),
        pipeline_version: u64::try_from(row.pipeline_version).unwrap_or(0),
        state: RunState::parse(&row.state).proto().into(),
        params: params.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        logical_date: Some(timestamp(row.logical_date)),
        trigger: row.trigger.clone(),
        create_time: Some(timestamp(row.create_time)),
        start_time: maybe(row.start_time),
        end_time: maybe(row.end_time),
        tasks: instances.into_iter().map(task_instance).collect(),
        actor: row.actor.clone(),
    }
}

fn task_instance(row: &task::Model) -> pb::TaskInstance {
    let state = TaskState::parse(&row.state);
    pb::TaskInstance {
        task_id: row.task_id.clone(),
        state: state.proto().into(),
        try_number: u32::try_from(row.try_number).unwrap_or(0),
        max_tries: u32::try_from(row.max_tries).unwrap_or(0),
        start_time: maybe(row.start_time),
        end_time: maybe(row.end_time),
        outputs_json: row.outputs.clone(),
        message: row.message.clone(),
        worker: row.worker.clone(),
        retry_time: if state == TaskState::UpForRetry {
            maybe(row.retry_time)
        } else {
            None
        },
        kind: row.kind.clone(),
    }
}
