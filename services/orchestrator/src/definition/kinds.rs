//! The arguments of each task kind, read from the task's own keys.

use std::collections::BTreeMap;

use lathe_contract::json::JsonEnum;
use serde_yaml::Value;

use super::error::{Collector, key_path, suggestion};
use super::expr::Reference;
use super::model::{
    Command, FeaturesHistorical, FeaturesMaterialize, MonitorCheck, MonitorSetReference, PROMOTION_STAGES,
    RegistryPromote, RegistryRegister, RegistrySetAlias, Signature, Stage, TaskKind,
};
use super::reader::{self, Fields};
use super::template::Template;

/// The references of a task's templates and condition, with where they were written.
pub(crate) type Uses = Vec<(String, Reference)>;

/// The argument keys a kind accepts, beside the keys every task has.
pub(crate) fn argument_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "command" => &["argv", "env", "working_dir", "inputs"],
        "features.historical" => &[
            "entities",
            "features",
            "feature_service",
            "full_feature_names",
            "output",
        ],
        "features.materialize" => &["feature_views", "start", "end", "incremental"],
        "registry.register" => &[
            "model",
            "run_id",
            "artifact_path",
            "description",
            "tags",
            "signature",
        ],
        "registry.promote" => &["model", "version", "stage", "archive_existing", "reason"],
        "registry.set_alias" => &["model", "alias", "version", "reason"],
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

    /// A command's `inputs`: templates by name, each name fit for `LATHE_INPUT_NAME`.
    fn inputs(&mut self) -> BTreeMap<String, Template> {
        let inputs = self.template_map("inputs");
        if let Some(Value::Mapping(entries)) = self.fields.get("inputs") {
            let path = self.fields.path_of("inputs");
            for name in entries.keys().filter_map(Value::as_str) {
                if !is_input_name(name) {
                    self.out.report(
                        &key_path(&path, name),
                        format!(
                            "input name '{name}' is invalid: start with a lowercase letter, then use lowercase letters, digits or '_' (at most 64)"
                        ),
                    );
                    self.complete = false;
                }
            }
        }
        inputs
    }

    /// `registry.register`'s `signature`: `{inputs: [view:feature, ...], output, defaults}`.
    fn signature(&mut self) -> Option<Signature> {
        let value = self.fields.get("signature")?;
        let path = self.fields.path_of("signature");
        let read = read_signature(self.out, self.uses, &path, value);
        self.note(read)
    }

    fn flag(&mut self, key: &str, default: bool) -> bool {
        let Some(value) = self.fields.get(key) else {
            return default;
        };
        let read = reader::boolean(self.out, &self.fields.path_of(key), value);
        self.note(read).unwrap_or(default)
    }
}

/// Input names become environment variables (`LATHE_INPUT_` and the name uppercased).
fn is_input_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn read_signature(out: &mut Collector, uses: &mut Uses, path: &str, value: &Value) -> Option<Signature> {
    let fields = reader::mapping(out, path, value, &["inputs", "output", "defaults"])?;
    let inputs_path = fields.path_of("inputs");
    let inputs = reader::required(out, &fields, "inputs").and_then(|value| {
        reader::list(out, &inputs_path, value, |out, path, item| {
            let input = template(out, uses, path, item)?;
            let literal = input.references().is_empty();
            if literal && !is_feature_reference(&input.source) {
                out.report(
                    path,
                    format!("'{}' is not a feature: name one as view:feature", input.source),
                );
                return None;
            }
            Some(input)
        })
    });
    if inputs.as_ref().is_some_and(Vec::is_empty) {
        out.report(&inputs_path, "a signature needs at least one input");
        return None;
    }
    let output = fields
        .get("output")
        .map(|value| template(out, uses, &fields.path_of("output"), value));
    let defaults = fields.get("defaults").map(|value| {
        reader::map(out, &fields.path_of("defaults"), value, |out, path, item| {
            let number = item.as_f64().filter(|n| n.is_finite());
            if number.is_none() {
                out.report(
                    path,
                    format!("expected a finite number, found {}", reader::describe(item)),
                );
            }
            number
        })
    });
    let (inputs, output) = (inputs?, output.map_or(Some(None), |o| o.map(Some))?);
    let defaults = defaults.unwrap_or(Some(BTreeMap::new()))?;
    // Inputs with holes are known when the task runs: the registry checks those defaults.
    if inputs.iter().all(|input| input.references().is_empty()) {
        let names: Vec<&str> = inputs.iter().map(|input| input.source.as_str()).collect();
        let mut complete = true;
        for name in defaults.keys().filter(|name| !names.contains(&name.as_str())) {
            out.report(
                &key_path(&fields.path_of("defaults"), name),
                format!(
                    "'{name}' is not one of the signature's inputs: {}",
                    suggestion(name, &names)
                ),
            );
            complete = false;
        }
        if !complete {
            return None;
        }
    }
    Some(Signature {
        inputs,
        output,
        defaults,
    })
}

/// `view:feature`, both parts non-empty.
fn is_feature_reference(text: &str) -> bool {
    text.split_once(':')
        .is_some_and(|(view, feature)| !view.is_empty() && !feature.is_empty() && !feature.contains(':'))
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
                inputs: args.inputs(),
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
                signature: args.signature(),
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
        "registry.set_alias" => {
            let model = args.required_template("model");
            let alias = args.required_template("alias");
            let version = args.required_template("version");
            TaskKind::RegistrySetAlias(RegistrySetAlias {
                model: model?,
                alias: alias?,
                version: version?,
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
