//! The arguments of each task kind, read from the task's own keys.

use std::collections::BTreeMap;

use lathe_contract::json::JsonEnum;
use serde_yaml::Value;

use super::error::{Collector, suggestion};
use super::expr::Reference;
use super::model::{
    Command, FeaturesHistorical, FeaturesMaterialize, MonitorCheck, MonitorSetReference, PROMOTION_STAGES,
    RegistryPromote, RegistryRegister, Stage, TaskKind,
};
use super::reader::{self, Fields};
use super::template::Template;

/// The references of a task's templates and condition, with where they were written.
pub(crate) type Uses = Vec<(String, Reference)>;

/// The argument keys a kind accepts, beside the keys every task has.
pub(crate) fn argument_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "command" => &["argv", "env", "working_dir"],
        "features.historical" => &[
            "entities",
            "features",
            "feature_service",
            "full_feature_names",
            "output",
        ],
        "features.materialize" => &["feature_views", "start", "end", "incremental"],
        "registry.register" => &["model", "run_id", "artifact_path", "description", "tags"],
        "registry.promote" => &["model", "version", "stage", "archive_existing", "reason"],
        "monitor.set_reference" => &["monitor", "dataset"],
        "monitor.check" => &["monitor", "fail_on_alert"],
        _ => return None,
    })
}

/// Parses a template argument and records its references.
pub(crate) fn template(out: &mut Collector, uses: &mut Uses, path: &str, value: &Value) -> Option<Template> {
    let text = reader::scalar_text(out, path, value)?;
    match Template::parse(&text) {
        Ok(template) => {
            uses.extend(
                template
                    .references()
                    .into_iter()
                    .map(|r| (path.to_owned(), r.clone())),
            );
            Some(template)
        }
        Err(error) => {
            out.report(path, format!("bad template: {error}"));
            None
        }
    }
}

struct Args<'f, 'v, 'o> {
    out: &'o mut Collector,
    uses: &'o mut Uses,
    fields: &'f Fields<'v>,
    complete: bool,
}

impl Args<'_, '_, '_> {
    fn note<T>(&mut self, read: Option<T>) -> Option<T> {
        self.complete &= read.is_some();
        read
    }

    fn template(&mut self, key: &str) -> Option<Template> {
        let value = self.fields.get(key)?;
        let read = template(self.out, self.uses, &self.fields.path_of(key), value);
        self.note(read)
    }

    fn required_template(&mut self, key: &str) -> Option<Template> {
        let read = reader::required(self.out, self.fields, key)
            .and_then(|value| template(self.out, self.uses, &self.fields.path_of(key), value));
        self.note(read)
    }

    fn templates(&mut self, key: &str) -> Vec<Template> {
        let Some(value) = self.fields.get(key) else {
            return Vec::new();
        };
        let uses = &mut *self.uses;
        let read = reader::list(self.out, &self.fields.path_of(key), value, |out, path, item| {
            template(out, uses, path, item)
        });
        self.note(read).unwrap_or_default()
    }

    fn template_map(&mut self, key: &str) -> BTreeMap<String, Template> {
        let Some(value) = self.fields.get(key) else {
            return BTreeMap::new();
        };
        let uses = &mut *self.uses;
        let read = reader::map(self.out, &self.fields.path_of(key), value, |out, path, item| {
            template(out, uses, path, item)
        });
        self.note(read).unwrap_or_default()
    }

    fn flag(&mut self, key: &str, default: bool) -> bool {
        let Some(value) = self.fields.get(key) else {
            return default;
        };
        let read = reader::boolean(self.out, &self.fields.path_of(key), value);
        self.note(read).unwrap_or(default)
    }
}

/// Reads the arguments of a known kind; `None` when any is wrong (each problem reported).
pub(crate) fn read(
    out: &mut Collector,
    uses: &mut Uses,
    kind: &str,
    fields: &Fields<'_>,
) -> Option<TaskKind> {
    let mut args = Args {
        out,
        uses,
        fields,
        complete: true,
    };
    let kind = match kind {
        "command" => {
            let argv = args.templates("argv");
            if fields.get("argv").is_none() || (argv.is_empty() && args.complete) {
                args.out
                    .report(&fields.path_of("argv"), "a command task needs a non-empty argv");
                args.complete = false;
            }
            TaskKind::Command(Command {
                argv,
                env: args.template_map("env"),
                working_dir: args.template("working_dir"),
            })
        }
        "features.historical" => {
            let features = args.templates("features");
            let feature_service = args.template("feature_service");
            if features.is_empty() == feature_service.is_none() && args.complete {
                args.out.report(
                    &fields.path,
                    "give either 'features' (a list of view:feature) or 'feature_service', not both",
                );
                args.complete = false;
            }
            let entities = args.required_template("entities");
            TaskKind::FeaturesHistorical(FeaturesHistorical {
                entities: entities?,
                features,
                feature_service,
                full_feature_names: args.flag("full_feature_names", false),
                output: args
                    .template("output")
                    .unwrap_or_else(|| Template::literal("training_set.parquet")),
            })
        }
        "features.materialize" => {
            let incremental = args.flag("incremental", false);
            let start = args.template("start");
            let end = args.template("end");
            if !incremental && (start.is_none() || end.is_none()) && args.complete {
                args.out.report(
                    &fields.path,
                    "a materialization needs 'start' and 'end', or 'incremental: true'",
                );
                args.complete = false;
            }
            TaskKind::FeaturesMaterialize(FeaturesMaterialize {
                feature_views: args.templates("feature_views"),
                start,
                end,
                incremental,
            })
        }
        "registry.register" => {
            let model = args.required_template("model");
            let run_id = args.required_template("run_id");
            TaskKind::RegistryRegister(RegistryRegister {
                model: model?,
                run_id: run_id?,
                artifact_path: args
                    .template("artifact_path")
                    .unwrap_or_else(|| Template::literal("model")),
                description: args.template("description"),
                tags: args.template_map("tags"),
            })
        }
        "registry.promote" => {
            let model = args.required_template("model");
            let version = args.required_template("version");
            let stage = reader::required(args.out, fields, "stage").and_then(|value| {
                let path = fields.path_of("stage");
                let name = reader::string(args.out, &path, value)?;
                let stage = Stage::from_json_name(&name).filter(|stage| PROMOTION_STAGES.contains(stage));
                if stage.is_none() {
                    let names = PROMOTION_STAGES.map(Stage::name);
                    args.out.report(
                        &path,
                        format!("unknown stage '{name}': {}", suggestion(&name, &names)),
                    );
                }
                stage
            });
            let stage = args.note(stage);
            TaskKind::RegistryPromote(RegistryPromote {
                model: model?,
                version: version?,
                stage: stage?,
                archive_existing: args.flag("archive_existing", false),
                reason: args.template("reason"),
            })
        }
        "monitor.set_reference" => {
            let monitor = args.required_template("monitor");
            let dataset = args.required_template("dataset");
            TaskKind::MonitorSetReference(MonitorSetReference {
                monitor: monitor?,
                dataset: dataset?,
            })
        }
        "monitor.check" => TaskKind::MonitorCheck(MonitorCheck {
            monitor: args.required_template("monitor")?,
            fail_on_alert: args.flag("fail_on_alert", false),
        }),
        _ => return None,
    };
    args.complete.then_some(kind)
}
