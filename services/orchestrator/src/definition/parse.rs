//! Reads pipeline files: their YAML documents, each pipeline's settings, parameters,
//! schedule and triggers; then hands tasks to `task` and the dependency graph to `graph`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value;

use super::cron::CronSchedule;
use super::error::{Collector, Problem, Problems, closest, key_path};
use super::graph::{self, Node};
use super::model::{EventTrigger, Param, ParamType, Pipeline, Schedule, Task};
use super::reader::{self, describe};
use super::task::{self, ReadTask, task_path};

const PIPELINE_KEYS: [&str; 8] = [
    "name",
    "description",
    "params",
    "schedule",
    "max_active_runs",
    "max_parallel_tasks",
    "triggers",
    "tasks",
];

/// Parses every file (name, text) and checks every pipeline in them; nothing is returned
/// unless all of it is valid, and every problem is reported at once.
pub fn parse_files<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<Pipeline>, Problems> {
    let mut pipelines: Vec<Pipeline> = Vec::new();
    let mut defined_in: BTreeMap<String, String> = BTreeMap::new();
    let mut problems: Vec<Problem> = Vec::new();
    for (file, text) in files {
        let mut documents: Vec<Result<Value, serde_yaml::Error>> = Vec::new();
        for document in serde_yaml::Deserializer::from_str(text) {
            let read = Value::deserialize(document);
            let failed = read.is_err();
            documents.push(read);
            // After a syntax error the reader cannot find the next document (it would repeat the error).
            if failed {
                break;
            }
        }
        let numbered = documents.len() > 1;
        let mut found_any = false;
        for (i, document) in documents.iter().enumerate() {
            let mut out = Collector::new(file, numbered.then_some(i + 1));
            match document {
                Err(error) => out.report("", format!("not valid YAML: {error}")),
                Ok(Value::Null) => {}
                Ok(value) => {
                    found_any = true;
                    for (path, pipeline) in read_document(&mut out, value) {
                        let Some(pipeline) = pipeline else { continue };
                        let label = if file.is_empty() {
                            "<input>".to_owned()
                        } else {
                            file.to_owned()
                        };
                        if let Some(other) = defined_in.insert(pipeline.name.clone(), label) {
                            out.report(
                                &key_path(&path, "name"),
                                format!("pipeline '{}' is also defined in {other}", pipeline.name),
                            );
                        } else {
                            pipelines.push(pipeline);
                        }
                    }
                }
            }
            problems.append(&mut out.problems);
        }
        if !found_any && problems.iter().all(|problem| problem.file != file) {
            Collector::new(file, None).report_into(&mut problems, "", "the file holds no pipeline");
        }
    }
    if problems.is_empty() {
        Ok(pipelines)
    } else {
        Err(Problems(problems))
    }
}

impl Collector {
    fn report_into(mut self, problems: &mut Vec<Problem>, path: &str, reason: &str) {
        self.report(path, reason);
        problems.append(&mut self.problems);
    }
}

/// One document: a pipeline, or `pipelines:` with a list of them. Returns each pipeline's path.
fn read_document(out: &mut Collector, value: &Value) -> Vec<(String, Option<Pipeline>)> {
    if value.get("pipelines").is_some() {
        let Some(fields) = reader::mapping(out, "", value, &["pipelines"]) else {
            return Vec::new();
        };
        let Some(Value::Sequence(items)) = fields.get("pipelines") else {
            out.report("pipelines", "expected a list of pipelines");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("pipelines[{i}]");
                let pipeline = read_pipeline(out, &path, item);
                (path, pipeline)
            })
            .collect()
    } else {
        vec![(String::new(), read_pipeline(out, "", value))]
    }
}

fn read_pipeline(out: &mut Collector, path: &str, value: &Value) -> Option<Pipeline> {
    let before = out.problems.len();
    let fields = reader::mapping(out, path, value, &PIPELINE_KEYS)?;
    let name =
        reader::required(out, &fields, "name").and_then(|v| reader::string(out, &fields.path_of("name"), v));
    if let Some(name) = &name
        && let Err(error) = lathe_common::validate::identifier("name", name)
    {
        out.report(&fields.path_of("name"), error.message);
    }
    let description = fields
        .get("description")
        .and_then(|v| reader::string(out, &fields.path_of("description"), v))
        .unwrap_or_default();
    let params = fields
        .get("params")
        .and_then(|v| reader::list(out, &fields.path_of("params"), v, read_param))
        .unwrap_or_default();
    let schedule = fields
        .get("schedule")
        .and_then(|v| read_schedule(out, &fields.path_of("schedule"), v));
    let max_active_runs = fields
        .get("max_active_runs")
        .and_then(|v| reader::count(out, &fields.path_of("max_active_runs"), v, 1))
        .unwrap_or(16);
    let max_parallel_tasks = fields
        .get("max_parallel_tasks")
        .and_then(|v| reader::count(out, &fields.path_of("max_parallel_tasks"), v, 1))
        .unwrap_or(16);
    let triggers = fields
        .get("triggers")
        .and_then(|v| reader::list(out, &fields.path_of("triggers"), v, read_trigger))
        .unwrap_or_default();
    let tasks = read_tasks(out, &fields.path_of("tasks"), fields.get("tasks"), &params);
    (out.problems.len() == before).then_some(Pipeline {
        name: name?,
        description,
        params,
        schedule,
        max_active_runs,
        max_parallel_tasks,
        triggers,
        tasks: tasks?,
    })
}

fn read_tasks(out: &mut Collector, path: &str, value: Option<&Value>, params: &[Param]) -> Option<Vec<Task>> {
    let read: Vec<ReadTask> = match value {
        None => {
            out.report(path, "a pipeline needs at least one task");
            return None;
        }
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| task::read(out, &task_path(path, None, i), item, None))
            .collect(),
        Some(Value::Mapping(entries)) => entries
            .iter()
            .enumerate()
            .filter_map(|(i, (key, item))| {
                let Value::String(id) = key else {
                    out.report(&task_path(path, None, i), "task ids must be strings");
                    return None;
                };
                task::read(out, &task_path(path, Some(id), i), item, Some(id))
            })
            .collect(),
        Some(other) => {
            out.report(
                path,
                format!("expected a list of tasks, found {}", reader::type_name(other)),
            );
            return None;
        }
    };
    if read.is_empty()
        && value.is_some_and(|v| {
            v.as_sequence().is_some_and(Vec::is_empty) || v.as_mapping().is_some_and(|m| m.is_empty())
        })
    {
        out.report(path, "a pipeline needs at least one task");
        return None;
    }
    let nodes: Vec<Node> = read
        .iter()
        .map(|task| Node {
            id: task.id.clone(),
            path: task.path.clone(),
            depends_on: task.depends_on.clone(),
        })
        .collect();
    let upstream = graph::upstream_tasks(out, &nodes)?;
    let ids: Vec<&str> = read.iter().map(|task| task.id.as_str()).collect();
    for (task, upstream) in read.iter().zip(&upstream) {
        task::check_uses(out, task, params, &ids, upstream);
    }
    read.into_iter().map(|task| task.task).collect()
}

fn read_param(out: &mut Collector, path: &str, value: &Value) -> Option<Param> {
    let fields = reader::mapping(out, path, value, &["name", "type", "default", "description"])?;
    let name =
        reader::required(out, &fields, "name").and_then(|v| reader::string(out, &fields.path_of("name"), v));
    if let Some(name) = &name
        && !is_param_name(name)
    {
        out.report(
            &fields.path_of("name"),
            format!("parameter name '{name}' is invalid: start with a letter or '_', then use letters, digits or '_'"),
        );
    }
    let kind = reader::required(out, &fields, "type").and_then(|v| {
        let path = fields.path_of("type");
        let type_name = reader::string(out, &path, v)?;
        let kind = ParamType::from_name(&type_name);
        if kind.is_none() {
            out.report(
                &path,
                format!(
                    "unknown parameter type '{type_name}': {}",
                    super::error::suggestion(&type_name, &ParamType::NAMES)
                ),
            );
        }
        kind
    });
    let description = fields
        .get("description")
        .and_then(|v| reader::string(out, &fields.path_of("description"), v))
        .unwrap_or_default();
    let default = match (fields.get("default"), kind) {
        (Some(value), Some(kind)) => {
            let json = to_json(value).filter(|json| kind.accepts(json));
            if json.is_none() {
                out.report(
                    &fields.path_of("default"),
                    format!("the default {} is not of type {}", describe(value), kind.name()),
                );
            }
            Some(json?)
        }
        (Some(_) | None, _) => None,
    };
    Some(Param {
        name: name.filter(|name| is_param_name(name))?,
        kind: kind?,
        default,
        description,
    })
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A YAML scalar as JSON; `None` for anything else.
fn to_json(value: &Value) -> Option<Json> {
    match value {
        Value::Bool(flag) => Some(Json::Bool(*flag)),
        Value::String(text) => Some(Json::String(text.clone())),
        Value::Number(number) => number
            .as_i64()
            .map(Json::from)
            .or_else(|| number.as_u64().map(Json::from))
            .or_else(|| {
                number
                    .as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
            }),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

fn read_schedule(out: &mut Collector, path: &str, value: &Value) -> Option<Schedule> {
    let fields = reader::mapping(out, path, value, &["cron", "timezone", "catch_up"])?;
    let cron = reader::required(out, &fields, "cron").and_then(|v| {
        let path = fields.path_of("cron");
        let text = reader::string(out, &path, v)?;
        CronSchedule::parse(&text)
            .map_err(|reason| out.report(&path, format!("bad cron: {reason}")))
            .ok()
    });
    let time_zone = match fields.get("timezone") {
        None => Some(Tz::UTC),
        Some(v) => {
            let path = fields.path_of("timezone");
            reader::string(out, &path, v).and_then(|name| {
                let zone = name.parse::<Tz>().ok();
                if zone.is_none() {
                    let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
                    let hint = closest(&name, &names)
                        .map(|best| format!(" (did you mean '{best}'?)"))
                        .unwrap_or_default();
                    out.report(
                        &path,
                        format!(
                            "unknown time zone '{name}'{hint}: use an IANA name like Europe/Paris or UTC"
                        ),
                    );
                }
                zone
            })
        }
    };
    let catch_up = fields.get("catch_up").map_or(Some(false), |v| {
        reader::boolean(out, &fields.path_of("catch_up"), v)
    });
    Some(Schedule {
        cron: cron?,
        time_zone: time_zone?,
        catch_up: catch_up?,
    })
}

fn read_trigger(out: &mut Collector, path: &str, value: &Value) -> Option<EventTrigger> {
    let fields = reader::mapping(out, path, value, &["on_alert"])?;
    let Some(alert) = fields.get("on_alert") else {
        out.report(path, "a trigger needs one event: on_alert");
        return None;
    };
    let path = fields.path_of("on_alert");
    let alert = reader::mapping(out, &path, alert, &["monitor", "cooldown"])?;
    let monitor = reader::required(out, &alert, "monitor")
        .and_then(|v| reader::string(out, &alert.path_of("monitor"), v));
    let cooldown = alert
        .get("cooldown")
        .map_or(Some(Duration::from_secs(3600)), |v| {
            task::duration(out, &alert.path_of("cooldown"), v)
        });
    Some(EventTrigger::OnAlert {
        monitor: monitor?,
        cooldown: cooldown?,
    })
}
