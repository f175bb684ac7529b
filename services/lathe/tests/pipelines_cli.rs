//! `lathe pipelines …` as a user runs it against `lathe standalone`: plan and apply a
//! directory of definitions, trigger and wait for runs (the exit status says how they ended),
//! list runs, print a task's log; the server's refusals are shown with their reason; `list`
//! shows every pipeline, past the listing's first page.

use std::path::Path;
use std::process::Output;

mod common;

use common::{create_token, lathe, start_standalone, terminate, wait_ready};

const TRAIN_YAML: &str = r#"
name: train
description: Say hi, then evaluate
params:
  - {name: epochs, type: int, default: 3}
tasks:
  - id: hello
    kind: command
    argv: [sh, -c, "echo hi"]
  - id: evaluate
    kind: command
    depends_on: [hello]
    when: params.epochs > 1
    argv: [sh, -c, "echo '{\"accuracy\": 0.95}' > \"$LATHE_OUTPUTS\""]
"#;

const FAILS_YAML: &str = r#"
name: fails
tasks:
  - id: boom
    kind: command
    argv: [sh, -c, "exit 3"]
"#;

/// Runs `lathe pipelines <args>` in project `churn` with `token`.
fn pipelines(dir: &Path, url: &str, token: &str, args: &[&str]) -> Output {
    lathe(dir)
        .env("LATHE_URL", url)
        .env("LATHE_TOKEN", token)
        .env("LATHE_PROJECT", "churn")
        .arg("pipelines")
        .args(args)
        .output()
        .unwrap()
}

/// The standard output of a command that must succeed.
fn succeeds(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The standard error of a command that must fail.
fn fails(output: Output) -> String {
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn pipelines_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (admin, editor) = (create_token(d, "admin"), create_token(d, "editor"));
    std::fs::create_dir_all(d.join("flows/more")).unwrap();
    std::fs::write(d.join("flows/train.yaml"), TRAIN_YAML).unwrap();
    std::fs::write(d.join("flows/more/fails.yml"), FAILS_YAML).unwrap();
    std::fs::write(d.join("flows/notes.txt"), "not a definition").unwrap();
    let (child, url) = start_standalone(d);
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    let created = http
        .post(format!("{url}/api/v1/projects"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "churn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // An editor plans; applying needs an admin.
    let plan = succeeds(pipelines(d, &url, &editor, &["plan", "flows"]));
    assert!(plan.contains("+ create train v1 (flows/train.yaml)"), "{plan}");
    assert!(
        plan.contains("+ create fails v1 (flows/more/fails.yml)"),
        "{plan}"
    );
    assert!(plan.contains("2 changes to apply"), "{plan}");
    let refused = fails(pipelines(d, &url, &editor, &["apply", "flows"]));
    assert!(
        refused.contains("403") && refused.contains("role_too_low"),
        "{refused}"
    );
    let applied = succeeds(pipelines(d, &url, &admin, &["apply", "flows"]));
    assert!(applied.contains("applied 2 changes"), "{applied}");
    let again = succeeds(pipelines(d, &url, &admin, &["apply", "flows/train.yaml"]));
    assert!(again.contains("no changes (1 up to date)"), "{again}");

    let list = succeeds(pipelines(d, &url, &editor, &["list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("train ") && l.contains("Say hi")),
        "{list}"
    );
    let show = succeeds(pipelines(d, &url, &editor, &["show", "train"]));
    let evaluate = show
        .lines()
        .find(|l| l.starts_with("evaluate"))
        .unwrap_or_else(|| panic!("{show}"));
    for part in ["command", "hello", "all_success", "params.epochs > 1"] {
        assert!(evaluate.contains(part), "{part} in: {evaluate}");
    }

    // `--wait` shows the tasks as they change and exits as the run ended.
    let waited = succeeds(pipelines(
        d,
        &url,
        &editor,
        &["trigger", "train", "--param", "epochs=5", "--wait"],
    ));
    assert!(waited.contains("  hello: success"), "{waited}");
    assert!(waited.contains("  evaluate: success"), "{waited}");
    let last = waited.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("run ") && last.ends_with(": success"),
        "{waited}"
    );
    let run_id = last
        .trim_start_matches("run ")
        .trim_end_matches(": success")
        .to_owned();
    let failed = fails(pipelines(d, &url, &editor, &["trigger", "fails", "--wait"]));
    assert!(failed.contains("ended failed"), "{failed}");
    let unknown = fails(pipelines(
        d,
        &url,
        &editor,
        &["trigger", "train", "--param", "learning_rate=0.1"],
    ));
    assert!(unknown.contains("invalid_run_params"), "{unknown}");

    let runs: serde_json::Value = serde_json::from_str(&succeeds(pipelines(
        d,
        &url,
        &editor,
        &["runs", "--pipeline", "train", "--json"],
    )))
    .unwrap();
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{runs:#}");
    assert_eq!(
        (&listed[0]["run_id"], &listed[0]["state"]),
        (&serde_json::json!(run_id), &serde_json::json!("success"))
    );
    let failures = succeeds(pipelines(d, &url, &editor, &["runs", "--state", "failed"]));
    let rows: Vec<&str> = failures.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{failures}");
    assert!(
        rows[0].contains(" fails ") && rows[0].contains(" failed "),
        "{failures}"
    );
    let limited = succeeds(pipelines(d, &url, &editor, &["runs", "--limit", "1"]));
    assert_eq!(limited.lines().count(), 2, "a header and one run: {limited}");

    let log = succeeds(pipelines(d, &url, &editor, &["logs", &run_id, "hello"]));
    assert!(log.starts_with("hi\n"), "{log}");
    let followed = succeeds(pipelines(
        d,
        &url,
        &editor,
        &["logs", &run_id, "hello", "--follow", "--try", "1"],
    ));
    assert_eq!(followed, log);

    // More pipelines than the listing's default page of 100: `list` shows each once.
    let bulk: Vec<String> = (0..100)
        .map(|i| format!("name: bulk-{i:03}\ntasks:\n  - {{id: run, kind: command, argv: [echo, hi]}}\n"))
        .collect();
    std::fs::create_dir_all(d.join("bulk")).unwrap();
    std::fs::write(d.join("bulk/many.yaml"), bulk.join("---\n")).unwrap();
    let applied = succeeds(pipelines(d, &url, &admin, &["apply", "bulk"]));
    assert!(applied.contains("applied 100 changes"), "{applied}");
    let mut names: Vec<String> = (0..100).map(|i| format!("bulk-{i:03}")).collect();
    names.extend(["fails".to_owned(), "train".to_owned()]);
    let list = succeeds(pipelines(d, &url, &editor, &["list"]));
    let listed: Vec<&str> = list
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(listed, names, "{list}");
    let answer: serde_json::Value =
        serde_json::from_str(&succeeds(pipelines(d, &url, &editor, &["list", "--json"]))).unwrap();
    assert_eq!(answer["pipelines"].as_array().unwrap().len(), 102);
    assert_eq!(answer["next_page_token"], "");
    terminate(child);
}
