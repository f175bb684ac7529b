//! The validated pipeline model that definitions parse into.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;
use serde_json::Value as Json;

use super::cron::CronSchedule;
use super::expr::Expression;
use super::template::Template;

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub name: String,
    pub description: String,
    pub params: Vec<Param>,
    pub schedule: Option<Schedule>,
    /// Runs of this pipeline that may be active at once (default 16, as Airflow).
    pub max_active_runs: u32,
    /// Tasks of one run that may run at once (default 16, as Airflow's max_active_tasks).
    pub max_parallel_tasks: u32,
    pub triggers: Vec<EventTrigger>,
    /// In the order written; dependencies are known to form a DAG.
    pub tasks: Vec<Task>,
}

impl Pipeline {
    /// The tasks upstream of `task` (in its `depends_on`, directly or transitively), in the
    /// order written.
    pub fn upstream_of(&self, task: &str) -> Vec<&Task> {
        let mut upstream = std::collections::BTreeSet::new();
        let mut pending = vec![task];
        while let Some(id) = pending.pop() {
            let Some(found) = self.tasks.iter().find(|t| t.id == id) else {
                continue;
            };
            for dependency in &found.depends_on {
                if upstream.insert(dependency.as_str()) {
                    pending.push(dependency);
                }
            }
        }
        self.tasks
            .iter()
            .filter(|t| upstream.contains(t.id.as_str()))
            .collect()
    }
}

/// A run parameter; without a default, every trigger must give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub kind: ParamType,
    /// Of the declared type (an int default of a float parameter is kept as written).
    pub default: Option<Json>,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Int,
    Float,
    Bool,
}

impl ParamType {
    pub const NAMES: [&'static str; 4] = ["string", "int", "float", "bool"];

    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
        }
    }

    pub fn from_name(name: &str) -> Option<ParamType> {
        match name {
            "string" => Some(ParamType::String),
            "int" => Some(ParamType::Int),
            "float" => Some(ParamType::Float),
            "bool" => Some(ParamType::Bool),
            _ => None,
        }
    }

    /// Whether a JSON value is of this type.
    pub fn accepts(self, value: &Json) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Int => value.is_i64() || value.is_u64(),
            ParamType::Float => value.is_number(),
            ParamType::Bool => value.is_boolean(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub cron: CronSchedule,
    pub time_zone: Tz,
    /// After downtime: start every missed run (true) or only the latest (false, the default).
    pub catch_up: bool,
}

/// Something other than a person or a clock that starts a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTrigger {
    /// An alert of the named monitor, at most once per cooldown (default 1h).
    OnAlert { monitor: String, cooldown: Duration },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub kind: TaskKind,
    pub depends_on: Vec<String>,
    pub retries: Retries,
    pub timeout: Option<Duration>,
    /// False means the task is skipped.
    pub when: Option<Expression>,
    pub trigger_rule: TriggerRule,
}

/// Retries with exponential backoff: try n+1 waits `delay * 2^(n-1)`, at most `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub count: u32,
    pub delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retries {
    fn default() -> Retries {
        Retries {
            count: 0,
            delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl Retries {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay_before(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// When a task runs, given the states of its direct upstream tasks (Airflow's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerRule {
    #[default]
    AllSuccess,
    AllDone,
    AllFailed,
    OneSuccess,
    OneFailed,
    NoneFailed,
}

impl TriggerRule {
    pub const NAMES: [&'static str; 6] = [
        "all_success",
        "all_done",
        "all_failed",
        "one_success",
        "one_failed",
        "none_failed",
    ];

    pub fn name(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllDone => "all_done",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::NoneFailed => "none_failed",
        }
    }

    pub fn from_name(name: &str) -> Option<TriggerRule> {
        match name {
            "all_success" => Some(TriggerRule::AllSuccess),
            "all_done" => Some(TriggerRule::AllDone),
            "all_failed" => Some(TriggerRule::AllFailed),
            "one_success" => Some(TriggerRule::OneSuccess),
            "one_failed" => Some(TriggerRule::OneFailed),
            "none_failed" => Some(TriggerRule::NoneFailed),
            _ => None,
        }
    }
}

/// What a task does, with its typed arguments (templates are rendered when it runs).
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    Command(Command),
    FeaturesHistorical(FeaturesHistorical),
    FeaturesMaterialize(FeaturesMaterialize),
    RegistryRegister(RegistryRegister),
    RegistryPromote(RegistryPromote),
    RegistrySetAlias(RegistrySetAlias),
    MonitorSetReference(MonitorSetReference),
    MonitorCheck(MonitorCheck),
}

impl TaskKind {
    pub const NAMES: [&'static str; 8] = [
        "command",
        "features.historical",
        "features.materialize",
        "registry.register",
        "registry.promote",
        "registry.set_alias",
        "monitor.set_reference",
        "monitor.check",
    ];

    /// The kind's name as written in definitions.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Command(_) => "command",
            TaskKind::FeaturesHistorical(_) => "features.historical",
            TaskKind::FeaturesMaterialize(_) => "features.materialize",
            TaskKind::RegistryRegister(_) => "registry.register",
            TaskKind::RegistryPromote(_) => "registry.promote",
            TaskKind::RegistrySetAlias(_) => "registry.set_alias",
            TaskKind::MonitorSetReference(_) => "monitor.set_reference",
            TaskKind::MonitorCheck(_) => "monitor.check",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub argv: Vec<Template>,
    pub env: BTreeMap<String, Template>,
    pub working_dir: Option<Template>,
    /// Files fetched into the try's directory before it starts, by name (`LATHE_INPUT_NAME`):
    /// each an object-store key of the orchestrator's store, a location an upstream task's
    /// output names, or an absolute local path.
    pub inputs: BTreeMap<String, Template>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeaturesHistorical {
    /// Object-store path of the entity frame (join keys and `event_timestamp`).
    pub entities: Template,
    /// `view:feature` references; empty when `feature_service` is given.
    pub features: Vec<Template>,
    pub feature_service: Option<Template>,
    pub full_feature_names: bool,
    /// Where the training set goes, under the run's artifacts.
    pub output: Template,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeaturesMaterialize {
    /// Empty for every online feature view.
    pub feature_views: Vec<Template>,
    pub start: Option<Template>,
    pub end: Option<Template>,
    pub incremental: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegistryRegister {
    pub model: Template,
    pub run_id: Template,
    pub artifact_path: Template,
    pub description: Option<Template>,
    pub tags: BTreeMap<String, Template>,
    /// What the version takes and gives, for serving; none when not given.
    pub signature: Option<Signature>,
}

/// A model version's signature: the registry's, with its feature references as templates.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// `view:feature` references, in the model's input order.
    pub inputs: Vec<Template>,
    /// Empty when not given.
    pub output: Option<Template>,
    /// The value serving uses for an input the online store lacks, by input.
    pub defaults: BTreeMap<String, f64>,
}

/// A version's stage: the contract's, as the registry and the REST API name it.
pub use lathe_contract::registry::v1::Stage;

/// The stages a `registry.promote` task may move a version to.
pub const PROMOTION_STAGES: [Stage; 3] = [Stage::Staging, Stage::Production, Stage::Archived];

#[derive(Debug, Clone, PartialEq)]
pub struct RegistryPromote {
    pub model: Template,
    pub version: Template,
    pub stage: Stage,
    pub archive_existing: bool,
    pub reason: Option<Template>,
}

/// Points an alias of a model at a version (as MLflow's `set_registered_model_alias`); a
/// deployment following the alias serves the version next.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrySetAlias {
    pub model: Template,
    pub alias: Template,
    pub version: Template,
    pub reason: Option<Template>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSetReference {
    pub monitor: Template,
    /// Object-store path of the reference data set.
    pub dataset: Template,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorCheck {
    pub monitor: Template,
    /// Fail the task when the check raises an alert.
    pub fail_on_alert: bool,
}
