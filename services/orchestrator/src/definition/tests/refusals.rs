//! Every refusal names the file, the path in the YAML and the reason.

use super::super::parse_files;
use super::{assert_problem, problems};

#[test]
fn unknown_task_references_name_the_path_and_the_nearest_task() {
    let found = problems(
        "pipelines:\n  - name: p\n    tasks:\n      - {id: train, kind: command, argv: [a]}\n      - {id: evaluate, kind: command, argv: [a]}\n      - {id: register, kind: command, argv: [a], depends_on: [evaluate, trian]}\n",
    );
    assert_problem(
        &found,
        "pipelines[0].tasks[2].depends_on[1]",
        "unknown task 'trian' (did you mean 'train'?)",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn duplicate_task_ids_and_self_dependencies_are_refused() {
    let found = problems(
        "name: p\ntasks:\n  - {id: a, kind: command, argv: [x]}\n  - {id: a, kind: command, argv: [x]}\n  - {id: b, kind: command, argv: [x], depends_on: [b]}\n",
    );
    assert_problem(
        &found,
        "tasks[1].id",
        "duplicate task id 'a': tasks[0] has it too",
    );
    assert_problem(&found, "tasks[2].depends_on[0]", "task 'b' depends on itself");
}

#[test]
fn cycles_name_their_tasks() {
    let found = problems(
        "name: p\ntasks:\n  - {id: a, kind: command, argv: [x], depends_on: [c]}\n  - {id: b, kind: command, argv: [x], depends_on: [a]}\n  - {id: c, kind: command, argv: [x], depends_on: [b]}\n  - {id: d, kind: command, argv: [x], depends_on: [c]}\n  - {id: e, kind: command, argv: [x], depends_on: [f]}\n  - {id: f, kind: command, argv: [x], depends_on: [e]}\n",
    );
    assert_problem(
        &found,
        "tasks[0].depends_on",
        "the dependencies form a cycle: a -> b -> c -> a",
    );
    assert_problem(
        &found,
        "tasks[4].depends_on",
        "the dependencies form a cycle: e -> f -> e",
    );
    assert_eq!(found.len(), 2, "d only waits on a cycle: {found:#?}");
}

#[test]
fn unknown_task_kinds_name_the_closest_kind() {
    let found = problems(
        "name: p\ntasks:\n  - {id: a, kind: registry.promot, model: m}\n  - {id: b, kind: shell, argv: [x]}\n",
    );
    assert_problem(
        &found,
        "tasks[0].kind",
        "unknown task kind 'registry.promot': the closest known kind is 'registry.promote'",
    );
    assert_problem(&found, "tasks[1].kind", "unknown task kind 'shell'");
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
fn unknown_keys_name_the_closest_key() {
    let found = problems(
        "name: p\nmax_active_run: 2\nschedule: {cron: '@daily', timezon: UTC}\ntasks:\n  - {id: a, kind: command, argv: [x], dependson: [b], model: m}\n",
    );
    assert_problem(
        &found,
        "max_active_run",
        "unknown key 'max_active_run': did you mean 'max_active_runs'?",
    );
    assert_problem(&found, "schedule.timezon", "did you mean 'timezone'?");
    assert_problem(&found, "tasks[0].dependson", "did you mean 'depends_on'?");
    // `model` is an argument of other kinds, not of a command.
    assert_problem(&found, "tasks[0].model", "unknown key 'model'");
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn bad_templates_and_expressions_are_refused_with_their_column() {
    let found = problems(
        "name: p\ntasks:\n  train:\n    kind: command\n    argv: [\"--x={{ params.a\", \"{{ }}\", \"{{ params.a > }}\"]\n    when: tasks.x.outputs.y >\n  check:\n    kind: command\n    argv: [x]\n    when: \"(run.id == 'a'\"\n    env: {A: \"{{ run.date }}\"}\n",
    );
    assert_problem(
        &found,
        "tasks.train.argv[0]",
        "bad template: the '{{' at column 5 is never closed with '}}'",
    );
    assert_problem(
        &found,
        "tasks.train.argv[1]",
        "bad template: the '{{ }}' at column 1 holds no expression",
    );
    assert_problem(
        &found,
        "tasks.train.argv[2]",
        "bad template: in the '{{ }}' at column 1: at column 11: expected a value at the end",
    );
    assert_problem(
        &found,
        "tasks.train.when",
        "bad expression: at column 20: expected a value at the end",
    );
    assert_problem(
        &found,
        "tasks.check.when",
        "bad expression: at column 15: expected ')' to close the '(' at column 1",
    );
    assert_problem(&found, "tasks.check.env.A", "run.id and run.logical_date");
}

#[test]
fn references_must_name_declared_params_and_upstream_tasks() {
    let found = problems(
        "name: p\nparams: [{name: threshold, type: float, default: 0.5}]\ntasks:\n  a: {kind: command, argv: [x]}\n  b: {kind: command, argv: [\"{{ tasks.a.outputs.path }}\"], depends_on: [a]}\n  c: {kind: command, argv: [\"{{ tasks.b.outputs.p }}\"], depends_on: [b], when: params.treshold > 1}\n  d: {kind: command, argv: [x], when: \"tasks.c.outputs.ok == true or tasks.zz.outputs.x == 1\"}\n  e: {kind: command, argv: [\"{{ tasks.e.outputs.x }}\"]}\n",
    );
    assert_problem(
        &found,
        "tasks.c.when",
        "unknown parameter 'treshold': did you mean 'threshold'?",
    );
    assert_problem(
        &found,
        "tasks.d.when",
        "tasks.c.outputs.ok reads task 'c', which is not upstream of task 'd': add it to depends_on",
    );
    assert_problem(
        &found,
        "tasks.d.when",
        "tasks.zz.outputs.x names unknown task 'zz'",
    );
    assert_problem(&found, "tasks.e.argv[0]", "task 'e' cannot read its own outputs");
    assert_eq!(
        found.len(),
        4,
        "b reads a, c reads b (transitively fine): {found:#?}"
    );
}

#[test]
fn bad_cron_and_unknown_time_zones_are_refused() {
    for (cron, reason) in [
        (
            "0 25 * * *",
            "bad cron: hour field '25': '25' is not a value from 0 to 23",
        ),
        ("0 3 * *", "a cron expression has 5 fields"),
        ("*/0 * * * *", "step '0' must be a whole number above 0"),
        ("@nightly", "unknown cron shorthand '@nightly'"),
        ("0 3 * FOO *", "month field 'FOO'"),
    ] {
        let found = problems(&format!(
            "name: p\nschedule: {{cron: '{cron}'}}\ntasks: [{{id: a, kind: command, argv: [x]}}]\n"
        ));
        assert_problem(&found, "schedule.cron", reason);
    }
    let found = problems(
        "name: p\nschedule: {cron: '0 3 * * MON-FRI', timezone: Europe/Pari}\ntasks: [{id: a, kind: command, argv: [x]}]\n",
    );
    assert_problem(
        &found,
        "schedule.timezone",
        "unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)",
    );
    assert_eq!(found.len(), 1, "MON-FRI is fine: {found:#?}");
}

#[test]
fn bad_durations_are_refused() {
    let found = problems(
        "name: p\ntriggers: [{on_alert: {monitor: m, cooldown: 1y}}]\ntasks:\n  - {id: a, kind: command, argv: [x], timeout: 10}\n  - {id: b, kind: command, argv: [x], retries: {count: 2, delay: soon}}\n  - {id: c, kind: command, argv: [x], retries: {count: 2, delay: 10m, max_delay: 1m}}\n",
    );
    assert_problem(
        &found,
        "triggers[0].on_alert.cooldown",
        "bad duration: '1y' has an unknown unit 'y'",
    );
    assert_problem(&found, "tasks[0].timeout", "bad duration 10: give a unit");
    assert_problem(
        &found,
        "tasks[1].retries.delay",
        "bad duration: 'soon' is not a duration",
    );
    assert_problem(
        &found,
        "tasks[2].retries.max_delay",
        "max_delay is shorter than delay",
    );
}

#[test]
fn params_of_the_wrong_type_are_refused() {
    let found = problems(
        "name: p\nparams:\n  - {name: epochs, type: int, default: 2.5}\n  - {name: rate, type: float, default: fast}\n  - {name: on, type: bool, default: 'yes'}\n  - {name: n, type: integer}\n  - {name: ok, type: float, default: 3}\ntasks: [{id: a, kind: command, argv: [x]}]\n",
    );
    assert_problem(&found, "params[0].default", "the default 2.5 is not of type int");
    assert_problem(
        &found,
        "params[1].default",
        "the default \"fast\" is not of type float",
    );
    assert_problem(
        &found,
        "params[2].default",
        "the default \"yes\" is not of type bool",
    );
    assert_problem(
        &found,
        "params[3].type",
        "unknown parameter type 'integer': expected one of: string, int, float, bool",
    );
    assert_eq!(found.len(), 4, "an int default of a float is fine: {found:#?}");
}

#[test]
fn built_in_arguments_are_typed_and_required() {
    let found = problems(
        "name: p\ntasks:\n  - {id: a, kind: registry.promote, model: m, stage: Prod}\n  - {id: b, kind: features.historical, entities: e, features: [v:f], feature_service: s}\n  - {id: c, kind: features.materialize}\n  - {id: d, kind: monitor.check, monitor: m, fail_on_alert: maybe}\n  - {id: e, kind: command, argv: []}\n",
    );
    assert_problem(&found, "tasks[0]", "'version' is required");
    assert_problem(&found, "tasks[0].stage", "unknown stage 'Prod'");
    assert_problem(&found, "tasks[1]", "give either 'features'");
    assert_problem(&found, "tasks[2]", "'start' and 'end', or 'incremental: true'");
    assert_problem(&found, "tasks[3].fail_on_alert", "expected true or false");
    assert_problem(&found, "tasks[4].argv", "a command task needs a non-empty argv");
}

#[test]
fn every_problem_of_every_file_is_reported_with_its_file_and_document() {
    let first = "name: p\ntasks: [{id: a, kind: command, argv: [x]}]\n---\nname: q\ntasks: [{id: a, kind: comand, argv: [x]}]\n";
    let second = "name: p\ntasks: [{id: a, kind: command, argv: [x]}]\n";
    let third = "name: [unclosed\n";
    let found = parse_files([("one.yaml", first), ("two.yaml", second), ("three.yaml", third)])
        .unwrap_err()
        .0;
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(
        (found[0].file.as_str(), found[0].document, found[0].path.as_str()),
        ("one.yaml", Some(2), "tasks[0].kind")
    );
    assert!(found[0].reason.contains("closest known kind is 'command'"));
    assert_eq!(
        (found[1].file.as_str(), found[1].path.as_str()),
        ("two.yaml", "name")
    );
    assert_eq!(found[1].reason, "pipeline 'p' is also defined in one.yaml");
    assert_eq!(found[2].file, "three.yaml");
    assert!(found[2].reason.starts_with("not valid YAML"), "{found:#?}");
    assert_eq!(
        found[0].to_string(),
        "one.yaml (document 2): tasks[0].kind: unknown task kind 'comand': the closest known kind is 'command'"
    );
}

#[test]
fn command_inputs_need_good_names_and_upstream_references() {
    let found = problems(
        "name: p\ntasks:\n  a: {kind: command, argv: [x]}\n  b: {kind: command, argv: [x]}\n  c:\n    kind: command\n    argv: [x]\n    depends_on: [a]\n    inputs:\n      Data: k\n      9lives: k\n      has-dash: k\n      fine_1: \"{{ tasks.a.outputs.path }}\"\n      other: \"runs/{{ run.id }}/{{ tasks.b.outputs.file }}\"\n      broken: \"{{ tasks.a.outputs\"\n  d: {kind: command, argv: [x], inputs: [k]}\n",
    );
    for name in ["Data", "9lives", "has-dash"] {
        assert_problem(
            &found,
            &format!("tasks.c.inputs.{name}"),
            &format!("input name '{name}' is invalid: start with a lowercase letter"),
        );
    }
    assert_problem(
        &found,
        "tasks.c.inputs.other",
        "tasks.b.outputs.file reads task 'b', which is not upstream of task 'c'",
    );
    assert_problem(&found, "tasks.c.inputs.broken", "bad template");
    assert_problem(&found, "tasks.d.inputs", "expected a mapping, found a list");
    assert_eq!(found.len(), 6, "fine_1 reads an upstream task: {found:#?}");
}

#[test]
fn signatures_name_features_and_defaults_of_their_inputs() {
    let found = problems(
        "name: p\ntasks:\n  a: {kind: command, argv: [x]}\n  r1:\n    kind: registry.register\n    model: m\n    run_id: r\n    signature:\n      inputs: [\"stats:trips\", trips]\n      defaults: {\"stats:trips\": .nan}\n      outptu: y\n  r2: {kind: registry.register, model: m, run_id: r, signature: {inputs: []}}\n  r3: {kind: registry.register, model: m, run_id: r, signature: {inputs: [\"stats:trips\"], defaults: {\"stats:trip\": 1}}}\n  r4: {kind: registry.register, model: m, run_id: r, signature: {output: y}}\n  r5: {kind: registry.register, model: m, run_id: r, signature: {inputs: [\"{{ tasks.a.outputs.f }}\"]}}\n",
    );
    assert_problem(
        &found,
        "tasks.r1.signature.inputs[1]",
        "'trips' is not a feature: name one as view:feature",
    );
    assert_problem(
        &found,
        "tasks.r1.signature.defaults.stats:trips",
        "expected a finite number",
    );
    assert_problem(
        &found,
        "tasks.r1.signature.outptu",
        "unknown key 'outptu': did you mean 'output'?",
    );
    assert_problem(
        &found,
        "tasks.r2.signature.inputs",
        "a signature needs at least one input",
    );
    assert_problem(
        &found,
        "tasks.r3.signature.defaults.stats:trip",
        "'stats:trip' is not one of the signature's inputs: did you mean 'stats:trips'?",
    );
    assert_problem(&found, "tasks.r4.signature", "'inputs' is required");
    assert_problem(
        &found,
        "tasks.r5.signature.inputs[0]",
        "tasks.a.outputs.f reads task 'a', which is not upstream of task 'r5'",
    );
    assert_eq!(found.len(), 7, "{found:#?}");
}

#[test]
fn set_alias_needs_a_model_an_alias_and_a_version() {
    let found = problems(
        "name: p\ntasks:\n  - {id: a, kind: registry.set_alias, alias: champion, version: '1'}\n  - {id: b, kind: registry.set_alias, model: m, version: '1'}\n  - {id: c, kind: registry.set_alias, model: m, alias: champion}\n  - {id: d, kind: registry.set_alias, reason: none of the three}\n",
    );
    assert_problem(&found, "tasks[0]", "'model' is required");
    assert_problem(&found, "tasks[1]", "'alias' is required");
    assert_problem(&found, "tasks[2]", "'version' is required");
    for key in ["model", "alias", "version"] {
        assert_problem(&found, "tasks[3]", &format!("'{key}' is required"));
    }
    assert_eq!(found.len(), 6, "one problem per missing argument: {found:#?}");
}

#[test]
fn set_alias_refuses_keys_it_does_not_take() {
    let found = problems(
        "name: p\ntasks:\n  - {id: a, kind: command, argv: [x]}\n  - {id: b, kind: registry.set_alias, model: m, alias: champion, version: '1', stage: Production}\n  - {id: c, kind: registry.set_alias, model: m, aliass: champion, version: '1'}\n  - {id: d, kind: registry.set_alias, model: m, alias: champion, version: '{{ tasks.a.outputs.version }}', reson: why}\n",
    );
    // `stage` is an argument of registry.promote, not of registry.set_alias.
    assert_problem(&found, "tasks[1].stage", "unknown key 'stage'");
    assert_problem(
        &found,
        "tasks[2].aliass",
        "unknown key 'aliass': did you mean 'alias'?",
    );
    assert_problem(&found, "tasks[2]", "'alias' is required");
    assert_problem(
        &found,
        "tasks[3].reson",
        "unknown key 'reson': did you mean 'reason'?",
    );
    assert_problem(
        &found,
        "tasks[3].version",
        "tasks.a.outputs.version reads task 'a', which is not upstream of task 'd'",
    );
    assert_eq!(found.len(), 5, "{found:#?}");
}
