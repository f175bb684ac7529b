//! Tests of the definition language: refusals, expressions, templates and whole pipelines.

mod expressions;
mod pipelines;
mod refusals;
mod robustness;
mod templates;

use super::{Problem, parse_files};

/// The problems of one file named `p.yaml`; panics if it parses clean.
fn problems(yaml: &str) -> Vec<Problem> {
    match parse_files([("p.yaml", yaml)]) {
        Ok(pipelines) => panic!("expected problems, parsed {pipelines:?}"),
        Err(problems) => problems.0,
    }
}

/// Asserts one problem has exactly this path and a reason containing `reason`.
#[track_caller]
fn assert_problem(problems: &[Problem], path: &str, reason: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.file == "p.yaml" && p.path == path && p.reason.contains(reason)),
        "no problem at '{path}' containing '{reason}' in {problems:#?}"
    );
}
