//! The pipeline definition language: YAML parsed into a validated [`Pipeline`], with every
//! problem refused before acceptance (file, path in the YAML, reason); the `when:`
//! expression language and `{{ }}` argument templates, parsed at validation and evaluated
//! later against a run's [`Context`].
//!
//! # The format
//! A file holds one or more YAML documents; a document is one pipeline, or `pipelines:` with
//! a list of them. Unknown keys are refused everywhere, with the nearest known key.
//!
//! ```yaml
//! name: retrain-churn                 # required, an identifier
//! description: text
//! params:                             # run parameters; without a default, triggers must give one
//!   - {name: threshold, type: float, default: 0.9, description: text}   # string|int|float|bool
//! schedule: {cron: "0 3 * * *", timezone: Europe/Paris, catch_up: false}  # timezone default UTC
//! max_active_runs: 1                  # default 16
//! max_parallel_tasks: 4               # default 16
//! triggers:
//!   - on_alert: {monitor: churn-drift, cooldown: 1h}   # cooldown default 1h
//! tasks:                              # a list of tasks with `id`, or a mapping id -> task
//!   - id: train
//!     kind: command
//!     depends_on: [build]
//!     retries: {count: 3, delay: 30s, max_delay: 10m}   # or `retries: 3`; delay doubles each try
//!     timeout: 2h                     # units ms, s, m, h, d
//!     when: "params.threshold > 0.5"  # false means skipped
//!     trigger_rule: all_success       # all_done, all_failed, one_success, one_failed, none_failed
//! ```
//!
//! # Task kinds and their arguments
//! Arguments sit beside the task's own keys. Every text argument is a template.
//! - `command`: `argv` (list, required), `env` (mapping), `working_dir`, `inputs` (a mapping
//!   `NAME: location`, NAME of lowercase letters, digits and `_` starting with a letter; a
//!   location is a key of the orchestrator's object store, as an upstream task's `path` output
//!   names one, or an absolute local path). Before the command starts, each input is fetched
//!   into the try's own directory (`inputs/NAME/FILE`) and `LATHE_INPUT_NAME` (uppercased) set
//!   to its absolute path; one that cannot be read fails the try, naming the input and where.
//! - `features.historical` (a training set, as Feast's `get_historical_features`): `entities`
//!   (object-store path of the entity frame, required), `features` (list of `view:feature`) or
//!   `feature_service` (exactly one of the two), `full_feature_names` (bool), `output` (path
//!   under the run's artifacts, default `training_set.parquet`).
//! - `features.materialize`: `feature_views` (list, empty for all), `start` and `end`
//!   (RFC 3339), or `incremental: true`.
//! - `registry.register` (as MLflow's `register_model`): `model`, `run_id` (both required),
//!   `artifact_path` (default `model`), `description`, `tags` (mapping), `signature`
//!   (`{inputs: [view:feature, ...], output: NAME, defaults: {view:feature: number}}`, the
//!   version's signature for serving: `inputs` required and not empty, a default only for one
//!   of the inputs). The version's lineage names the run and, from an upstream
//!   `features.historical` task (the first written, if several), the training set and the
//!   feature service, or the views of its `view:feature` list.
//! - `registry.promote` (as MLflow's stage transition; the registry's gates decide): `model`,
//!   `version`, `stage` (`Staging`, `Production` or `Archived`), `archive_existing` (bool),
//!   `reason`.
//! - `registry.set_alias` (as MLflow's `set_registered_model_alias`): `model`, `alias`,
//!   `version` (all required), `reason`.
//! - `monitor.set_reference`: `monitor`, `dataset` (object-store path), both required.
//! - `monitor.check`: `monitor` (required), `fail_on_alert` (bool, default false).
//!
//! # Expressions and templates
//! See [`expr`] for the grammar. References: `params.NAME` (a declared parameter),
//! `tasks.ID.outputs.KEY` (ID must be upstream of the task: in its `depends_on`, directly or
//! transitively), `run.id`, `run.logical_date`. A template is text with `{{ expr }}` holes.

mod cron;
mod duration;
mod error;
mod eval;
pub mod expr;
mod graph;
mod kinds;
mod model;
mod parse;
mod reader;
mod task;
mod template;

pub use cron::CronSchedule;
pub use duration::parse_duration;
pub use error::{Problem, Problems};
pub use eval::{Context, EvalError};
pub use expr::{ExprError, Expression, Reference};
pub use model::{
    Command, EventTrigger, FeaturesHistorical, FeaturesMaterialize, MonitorCheck, MonitorSetReference, Param,
    ParamType, Pipeline, RegistryPromote, RegistryRegister, RegistrySetAlias, Retries, Schedule, Signature,
    Stage, Task, TaskKind, TriggerRule,
};
pub use parse::parse_files;
pub use template::{Template, TemplateError};

#[cfg(test)]
mod tests;
