//! Reads one task: its kind and arguments, dependencies, retries, timeout, condition and
//! trigger rule; and checks the values its templates and condition reach.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::duration::parse_duration;
use super::error::{Collector, edit_distance, key_path, suggestion};
use super::expr::{Expression, Reference};
use super::kinds::{self, Uses};
use super::model::{Param, Retries, Task, TaskKind, TriggerRule};
use super::reader::{self, Fields};

const TASK_KEYS: [&str; 7] = [
    "id",
    "kind",
    "depends_on",
    "retries",
    "timeout",
    "when",
    "trigger_rule",
];

/// A task as read, before the graph and references are checked.
pub(crate) struct ReadTask {
    pub(crate) id: String,
    pub(crate) path: String,
    pub(crate) depends_on: Vec<(String, String)>,
    pub(crate) uses: Uses,
    /// `None` when something in it was wrong (already reported).
    pub(crate) task: Option<Task>,
}

/// Reads a task at `path`; `id` is its key when `tasks` is a mapping.
pub(crate) fn read(out: &mut Collector, path: &str, value: &Value, id: Option<&str>) -> Option<ReadTask> {
    let kind_name = match value.get("kind") {
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(_) | None => None,
    };
    let arguments = kind_name.and_then(kinds::argument_keys);
    let mut known: Vec<&str> = TASK_KEYS
        .iter()
        .copied()
        .filter(|key| id.is_none() || *key != "id")
        .collect();
    match arguments {
        Some(arguments) => known.extend_from_slice(arguments),
        // With no known kind, any kind's argument may be meant: do not call them unknown.
        None => TaskKind::NAMES
            .iter()
            .filter_map(|kind| kinds::argument_keys(kind))
            .for_each(|arguments| known.extend_from_slice(arguments)),
    }
    let fields = reader::mapping(out, path, value, &known)?;
    let id = match id {
        Some(id) => Some(id.to_owned()),
        None => {
            reader::required(out, &fields, "id").and_then(|v| reader::string(out, &fields.path_of("id"), v))
        }
    }?;
    if !is_task_id(&id) {
        out.report(
            &fields.path_of("id"),
            format!("task id '{id}' is invalid: start with a letter or '_', then use letters, digits, '_' or '-' (at most 128)"),
        );
    }
    let mut uses = Uses::new();
    let kind = read_kind(out, &mut uses, &fields);
    let depends_on = fields
        .get("depends_on")
        .and_then(|v| {
            reader::list(out, &fields.path_of("depends_on"), v, |out, path, item| {
                reader::string(out, path, item).map(|dep| (path.to_owned(), dep))
            })
        })
        .unwrap_or_default();
    let retries = fields
        .get("retries")
        .map(|v| read_retries(out, &fields.path_of("retries"), v));
    let timeout = fields
        .get("timeout")
        .map(|v| duration(out, &fields.path_of("timeout"), v));
    let when = fields.get("when").map(|v| {
        let path = fields.path_of("when");
        let text = reader::scalar_text(out, &path, v)?;
        match Expression::parse(&text) {
            Ok(expression) => {
                uses.extend(
                    expression
                        .references()
                        .into_iter()
                        .map(|r| (path.clone(), r.clone())),
                );
                Some(expression)
            }
            Err(error) => {
                out.report(&path, format!("bad expression: {error}"));
                None
            }
        }
    });
    let trigger_rule = fields.get("trigger_rule").map(|v| {
        let path = fields.path_of("trigger_rule");
        let name = reader::string(out, &path, v)?;
        let rule = TriggerRule::from_name(&name);
        if rule.is_none() {
            out.report(
                &path,
                format!(
                    "unknown trigger rule '{name}': {}",
                    suggestion(&name, &TriggerRule::NAMES)
                ),
            );
        }
        rule
    });
    let task = (|| {
        Some(Task {
            id: id.clone(),
            kind: kind?,
            depends_on: depends_on.iter().map(|(_, dep)| dep.clone()).collect(),
            retries: retries.unwrap_or(Some(Retries::default()))?,
            timeout: timeout.map_or(Some(None), |t| t.map(Some))?,
            when: when.map_or(Some(None), |w| w.map(Some))?,
            trigger_rule: trigger_rule.unwrap_or(Some(TriggerRule::default()))?,
        })
    })();
    Some(ReadTask {
        id,
        path: path.to_owned(),
        depends_on,
        uses,
        task,
    })
}

fn is_task_id(id: &str) -> bool {
    let mut chars = id.chars();
    (1..=128).contains(&id.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn read_kind(out: &mut Collector, uses: &mut Uses, fields: &Fields<'_>) -> Option<TaskKind> {
    let path = fields.path_of("kind");
    let name = reader::required(out, fields, "kind").and_then(|v| reader::string(out, &path, v))?;
    if kinds::argument_keys(&name).is_none() {
        let nearest = TaskKind::NAMES
            .iter()
            .min_by_key(|known| edit_distance(&name, known))
            .copied()
            .unwrap_or("command");
        out.report(
            &path,
            format!("unknown task kind '{name}': the closest known kind is '{nearest}'"),
        );
        return None;
    }
    kinds::read(out, uses, &name, fields)
}

/// `retries: 3`, or `retries: {count: 3, delay: 30s, max_delay: 10m}`.
fn read_retries(out: &mut Collector, path: &str, value: &Value) -> Option<Retries> {
    let defaults = Retries::default();
    if !value.is_mapping() {
        let count = reader::count(out, path, value, 0)?;
        return Some(Retries { count, ..defaults });
    }
    let fields = reader::mapping(out, path, value, &["count", "delay", "max_delay"])?;
    let count = reader::required(out, &fields, "count")
        .and_then(|v| reader::count(out, &fields.path_of("count"), v, 0));
    let delay = fields.get("delay").map_or(Some(defaults.delay), |v| {
        duration(out, &fields.path_of("delay"), v)
    });
    let max_delay = fields
        .get("max_delay")
        .map_or(Some(defaults.max_delay.max(delay.unwrap_or_default())), |v| {
            duration(out, &fields.path_of("max_delay"), v)
        });
    let (count, delay, max_delay) = (count?, delay?, max_delay?);
    if max_delay < delay {
        out.report(&fields.path_of("max_delay"), "max_delay is shorter than delay");
        return None;
    }
    Some(Retries {
        count,
        delay,
        max_delay,
    })
}

/// A duration written as text (`30s`, `1h30m`).
pub(crate) fn duration(out: &mut Collector, path: &str, value: &Value) -> Option<std::time::Duration> {
    let text = match value {
        Value::Number(_) => {
            out.report(
                path,
                format!(
                    "bad duration {}: give a unit, like 30s, 10m or 1h",
                    reader::describe(value)
                ),
            );
            return None;
        }
        Value::Null
        | Value::Bool(_)
        | Value::String(_)
        | Value::Sequence(_)
        | Value::Mapping(_)
        | Value::Tagged(_) => reader::string(out, path, value)?,
    };
    parse_duration(&text)
        .map_err(|reason| out.report(path, format!("bad duration: {reason}")))
        .ok()
}

/// Refuses references to undeclared parameters, unknown tasks and tasks that are not upstream.
pub(crate) fn check_uses(
    out: &mut Collector,
    task: &ReadTask,
    params: &[Param],
    task_ids: &[&str],
    upstream: &BTreeSet<String>,
) {
    for (path, reference) in &task.uses {
        match reference {
            Reference::Param(name) => {
                if !params.iter().any(|param| &param.name == name) {
                    let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
                    let hint = if names.is_empty() {
                        "the pipeline declares no parameters".to_owned()
                    } else {
                        suggestion(name, &names)
                    };
                    out.report(path, format!("unknown parameter '{name}': {hint}"));
                }
            }
            Reference::TaskOutput { task: other, .. } => {
                if other == &task.id {
                    out.report(path, format!("task '{other}' cannot read its own outputs"));
                } else if !task_ids.contains(&other.as_str()) {
                    out.report(
                        path,
                        format!(
                            "{reference} names unknown task '{other}': {}",
                            suggestion(other, task_ids)
                        ),
                    );
                } else if !upstream.contains(other) {
                    out.report(
                        path,
                        format!(
                            "{reference} reads task '{other}', which is not upstream of task '{}': add it to depends_on (directly or through another task)",
                            task.id
                        ),
                    );
                }
            }
            Reference::RunId | Reference::RunLogicalDate => {}
        }
    }
}

/// `tasks[2]` or, for a mapping of tasks, `tasks.train`.
pub(crate) fn task_path(tasks_path: &str, id: Option<&str>, index: usize) -> String {
    match id {
        Some(id) => key_path(tasks_path, id),
        None => format!("{tasks_path}[{index}]"),
    }
}
