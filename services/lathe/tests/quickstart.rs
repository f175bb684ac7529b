//! `lathe quickstart` as a user runs it: twice in the same folder (the second run replaces what
//! the first made and tells the story again), and refusing loudly, naming the step, when it
//! cannot go on. The README test runs it once more, serving, with the README's commands against it.

mod common;

use std::process::Output;

fn quickstart(dir: &std::path::Path, args: &[&str]) -> Output {
    common::lathe(dir).arg("quickstart").args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_second_run_in_the_same_folder_tells_the_story_again() {
    let dir = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let output = quickstart(dir.path(), &["--exit", "--http-addr", "127.0.0.1:0"]);
        let said = text(&output);
        assert!(output.status.success(), "run {run} failed:\n{said}");
        for step in 1..=7 {
            assert!(
                said.contains(&format!("[{step}/7]")),
                "run {run} lacks step {step}:\n{said}"
            );
        }
        assert!(
            said.contains("the deployment switched from v1 to v2"),
            "run {run}: the retrained version did not take over:\n{said}"
        );
        assert_eq!(
            said.contains("replaced the churn project an earlier quickstart left here"),
            run == 2,
            "run {run}:\n{said}"
        );
    }
}

#[test]
fn a_folder_it_did_not_make_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mine");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "keep me").unwrap();
    let output = quickstart(dir.path(), &["--exit", "--data-dir", "mine"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("was not made by `lathe quickstart`: pass another --data-dir"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_to_string(data.join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn a_step_that_fails_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = quickstart(dir.path(), &["--exit", "--http-addr", &addr]);
    assert!(!output.status.success());
    let said = text(&output);
    assert!(
        said.contains("quickstart failed at step 1/7 (Start Lathe on embedded stores)"),
        "{said}"
    );
    assert!(said.contains(&addr), "the error should name the address: {said}");
}
