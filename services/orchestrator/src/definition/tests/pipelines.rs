//! Whole pipelines that parse clean, and the shapes a file may take.

use std::time::Duration;

use serde_json::json;

use super::super::{Context, EventTrigger, ParamType, Stage, TaskKind, TriggerRule, parse_files};

const RETRAIN_CHURN: &str = include_str!("../../../tests/fixtures/retrain-churn.yaml");

#[test]
fn retrain_churn_parses_clean() {
    let pipelines = parse_files([("retrain-churn.yaml", RETRAIN_CHURN)]).unwrap();
    assert_eq!(pipelines.len(), 1);
    let pipeline = &pipelines[0];
    assert_eq!(pipeline.name, "retrain-churn");
    assert_eq!(pipeline.max_active_runs, 1);
    assert_eq!(pipeline.max_parallel_tasks, 4);
    assert_eq!(pipeline.params[0].kind, ParamType::Float);
    assert_eq!(pipeline.params[0].default, Some(json!(0.9)));
    let schedule = pipeline.schedule.as_ref().unwrap();
    assert_eq!(schedule.time_zone, chrono_tz::Europe::Paris);
    assert_eq!(schedule.cron.hours, [3]);
    assert_eq!(schedule.cron.minutes, [0]);
    assert!(!schedule.catch_up);
    assert_eq!(
        pipeline.triggers,
        [EventTrigger::OnAlert {
            monitor: "churn-drift".to_owned(),
            cooldown: Duration::from_secs(6 * 3600)
        }]
    );
    let ids: Vec<&str> = pipeline.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "build_training_set",
            "train",
            "evaluate",
            "register",
            "promote",
            "notify"
        ]
    );

    let train = &pipeline.tasks[1];
    assert_eq!(train.retries.count, 2);
    assert_eq!(train.retries.delay_before(1), Duration::from_secs(60));
    assert_eq!(train.retries.delay_before(2), Duration::from_secs(120));
    assert_eq!(train.retries.delay_before(10), Duration::from_secs(600));
    assert_eq!(train.timeout, Some(Duration::from_secs(7200)));
    assert_eq!(pipeline.tasks[5].trigger_rule, TriggerRule::AllDone);

    let mut context = Context {
        run_id: "run-7".to_owned(),
        logical_date: "2026-12-05T03:00:00+01:00".to_owned(),
        ..Context::default()
    };
    context.params.insert("epochs".to_owned(), json!(20));
    context.params.insert("min_accuracy".to_owned(), json!(0.9));
    context.params.insert("dry_run".to_owned(), json!(false));
    context.outputs.insert(
        "build_training_set".to_owned(),
        json!({"path": "s3://b/ts.parquet"}).as_object().unwrap().clone(),
    );
    context.outputs.insert(
        "train".to_owned(),
        json!({"run_id": "r1"}).as_object().unwrap().clone(),
    );
    context.outputs.insert(
        "evaluate".to_owned(),
        json!({"accuracy": 0.93}).as_object().unwrap().clone(),
    );
    context.outputs.insert(
        "register".to_owned(),
        json!({"version": 4}).as_object().unwrap().clone(),
    );

    let TaskKind::Command(command) = &train.kind else {
        panic!("train is a command")
    };
    let argv: Vec<String> = command.argv.iter().map(|a| a.render(&context).unwrap()).collect();
    assert_eq!(
        argv,
        [
            "python",
            "train.py",
            "--training-set=s3://b/ts.parquet",
            "--epochs=20",
            "--run=run-7"
        ]
    );
    let promote = &pipeline.tasks[4];
    assert!(
        promote
            .when
            .as_ref()
            .unwrap()
            .evaluate_condition(&context)
            .unwrap()
    );
    let TaskKind::RegistryPromote(args) = &promote.kind else {
        panic!("promote promotes")
    };
    assert_eq!(args.stage, Stage::Staging);
    assert_eq!(args.version.render(&context).unwrap(), "4");

    context.outputs.insert(
        "evaluate".to_owned(),
        json!({"accuracy": 0.85}).as_object().unwrap().clone(),
    );
    assert!(
        !promote
            .when
            .as_ref()
            .unwrap()
            .evaluate_condition(&context)
            .unwrap()
    );
}

#[test]
fn a_file_may_hold_several_documents_or_a_list_and_tasks_may_be_a_mapping() {
    let documents = "name: a\ntasks: [{id: t, kind: command, argv: [\"true\"]}]\n---\nname: b\ntasks:\n  t:\n    kind: command\n    argv: [\"true\"]\n";
    let listed = "pipelines:\n  - name: c\n    tasks: [{id: t, kind: monitor.check, monitor: m}]\n";
    let pipelines = parse_files([("docs.yaml", documents), ("list.yaml", listed)]).unwrap();
    let names: Vec<&str> = pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(pipelines[1].tasks[0].id, "t");
    assert_eq!(pipelines[0].max_active_runs, 16);
    assert_eq!(pipelines[0].tasks[0].trigger_rule, TriggerRule::AllSuccess);
}

#[test]
fn command_inputs_and_signatures_render_from_the_run() {
    let yaml = "name: quickstart\ntasks:\n  - id: build\n    kind: features.historical\n    entities: entities.csv\n    features: [\"stats:trips\", \"stats:rate\", \"profile:age\"]\n  - id: train\n    kind: command\n    depends_on: [build]\n    argv: [python, train.py]\n    inputs:\n      training_set: \"{{ tasks.build.outputs.path }}\"\n      labels: \"runs/{{ run.id }}/build/labels.csv\"\n  - id: register\n    kind: registry.register\n    depends_on: [train]\n    model: m\n    run_id: \"{{ tasks.train.outputs.run_id }}\"\n    signature:\n      inputs: [\"stats:trips\", \"{{ tasks.train.outputs.second }}\"]\n      output: \"churned\"\n      defaults: {\"stats:trips\": 0, \"stats:rate\": 0.5}\n";
    let pipelines = parse_files([("q.yaml", yaml)]).unwrap();
    let pipeline = &pipelines[0];
    let mut context = Context {
        run_id: "run-9".to_owned(),
        ..Context::default()
    };
    context.outputs.insert(
        "build".to_owned(),
        json!({"path": "/data/runs/run-9/build/artifacts/training_set.parquet"})
            .as_object()
            .unwrap()
            .clone(),
    );
    context.outputs.insert(
        "train".to_owned(),
        json!({"second": "stats:rate"}).as_object().unwrap().clone(),
    );
    let TaskKind::Command(train) = &pipeline.tasks[1].kind else {
        panic!("train is a command")
    };
    let inputs: Vec<(&str, String)> = train
        .inputs
        .iter()
        .map(|(name, t)| (name.as_str(), t.render(&context).unwrap()))
        .collect();
    assert_eq!(
        inputs,
        [
            ("labels", "runs/run-9/build/labels.csv".to_owned()),
            (
                "training_set",
                "/data/runs/run-9/build/artifacts/training_set.parquet".to_owned()
            ),
        ]
    );
    let TaskKind::RegistryRegister(register) = &pipeline.tasks[2].kind else {
        panic!("register registers")
    };
    let signature = register.signature.as_ref().unwrap();
    let rendered: Vec<String> = signature
        .inputs
        .iter()
        .map(|t| t.render(&context).unwrap())
        .collect();
    assert_eq!(rendered, ["stats:trips", "stats:rate"]);
    assert_eq!(signature.output.as_ref().unwrap().source, "churned");
    assert_eq!(
        signature
            .defaults
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("stats:rate", 0.5), ("stats:trips", 0.0)],
        "defaults of inputs known only when the task runs are the registry's to check"
    );
    let upstream: Vec<&str> = pipeline
        .upstream_of("register")
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(upstream, ["build", "train"]);
    assert!(pipeline.upstream_of("build").is_empty());
}

#[test]
fn set_alias_renders_its_arguments_from_the_run() {
    let yaml = "name: release\nparams: [{name: alias, type: string, default: champion}]\ntasks:\n  - {id: register, kind: registry.register, model: churn, run_id: r}\n  - id: point\n    kind: registry.set_alias\n    depends_on: [register]\n    model: \"{{ tasks.register.outputs.model }}\"\n    alias: \"{{ params.alias }}\"\n    version: \"{{ tasks.register.outputs.version }}\"\n    reason: \"run {{ run.id }}\"\n  - {id: pin, kind: registry.set_alias, model: churn, alias: stable, version: '3'}\n";
    let pipelines = parse_files([("release.yaml", yaml)]).unwrap();
    let pipeline = &pipelines[0];
    let mut context = Context {
        run_id: "run-4".to_owned(),
        ..Context::default()
    };
    context.params.insert("alias".to_owned(), json!("champion"));
    context.outputs.insert(
        "register".to_owned(),
        json!({"model": "churn", "version": 7})
            .as_object()
            .unwrap()
            .clone(),
    );
    let TaskKind::RegistrySetAlias(point) = &pipeline.tasks[1].kind else {
        panic!("point sets an alias: {:?}", pipeline.tasks[1].kind)
    };
    let rendered = [&point.model, &point.alias, &point.version].map(|t| t.render(&context).unwrap());
    assert_eq!(rendered, ["churn", "champion", "7"]);
    assert_eq!(
        point.reason.as_ref().map(|r| r.render(&context).unwrap()),
        Some("run run-4".to_owned())
    );
    assert_eq!(pipeline.tasks[1].kind.name(), "registry.set_alias");
    let TaskKind::RegistrySetAlias(pin) = &pipeline.tasks[2].kind else {
        panic!("pin sets an alias: {:?}", pipeline.tasks[2].kind)
    };
    assert_eq!(
        (pin.alias.source.as_str(), pin.version.source.as_str()),
        ("stable", "3")
    );
    assert!(pin.reason.is_none());
}
