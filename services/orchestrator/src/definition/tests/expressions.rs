//! The `when:` language: precedence, types and errors.

use serde_json::json;

use super::super::expr::{CompareOp, Expr, Literal};
use super::super::{Context, EvalError, Expression, Reference};

fn context() -> Context {
    let mut context = Context {
        run_id: "run-1".to_owned(),
        logical_date: "2026-12-05".to_owned(),
        ..Context::default()
    };
    context.params.insert("n".to_owned(), json!(3));
    context.params.insert("rate".to_owned(), json!(0.5));
    context.params.insert("name".to_owned(), json!("churn"));
    context.params.insert("flag".to_owned(), json!(true));
    context.outputs.insert(
        "eval".to_owned(),
        json!({"accuracy": 0.93, "report": {"f1": 0.8}})
            .as_object()
            .unwrap()
            .clone(),
    );
    context
}

fn eval(source: &str) -> Result<serde_json::Value, EvalError> {
    Expression::parse(source).unwrap().evaluate(&context())
}

#[test]
fn precedence_is_not_then_and_then_or() {
    assert_eq!(eval("true or false and false").unwrap(), json!(true));
    assert_eq!(eval("(true or false) and false").unwrap(), json!(false));
    assert_eq!(eval("not false and false").unwrap(), json!(false));
    assert_eq!(eval("not params.n > 5").unwrap(), json!(true));
    let parsed = Expression::parse("not a_is_not_here == 1").err();
    assert!(parsed.is_some_and(|e| e.message.contains("unknown name 'a_is_not_here'")));
    let tree = Expression::parse("params.n >= 2 or run.id != 'x'").unwrap().root;
    let Expr::Or(left, _) = tree else {
        panic!("or at the top: {tree:?}")
    };
    assert_eq!(
        *left,
        Expr::Compare(
            CompareOp::Ge,
            Box::new(Expr::Reference(Reference::Param("n".to_owned()))),
            Box::new(Expr::Literal(Literal::Int(2)))
        )
    );
}

#[test]
fn comparisons_of_numbers_strings_and_booleans() {
    for (source, expected) in [
        ("tasks.eval.outputs.accuracy > 0.9", true),
        ("tasks.eval.outputs.accuracy <= 0.9", false),
        ("tasks.eval.outputs.report.f1 < 1", true),
        ("params.n == 3.0", true),
        ("params.n != 3", false),
        ("params.rate >= -1", true),
        ("params.name == \"churn\"", true),
        ("params.name < 'd'", true),
        ("params.flag == true", true),
        ("run.id == 'run-1' and run.logical_date == '2026-12-05'", true),
        ("'it\\'s' == \"it's\"", true),
    ] {
        assert_eq!(eval(source).unwrap(), json!(expected), "{source}");
    }
}

#[test]
fn evaluation_errors_are_clear() {
    assert_eq!(
        eval("params.name > 1").unwrap_err().to_string(),
        "cannot compare a string with a number using '>' in `params.name > 1`"
    );
    assert_eq!(
        eval("params.flag > false").unwrap_err().to_string(),
        "cannot compare a boolean with a boolean using '>' in `params.flag > false`"
    );
    assert_eq!(
        eval("tasks.eval.outputs.loss < 1").unwrap_err().to_string(),
        "tasks.eval.outputs.loss does not exist: task 'eval' wrote accuracy, report"
    );
    assert_eq!(
        eval("tasks.train.outputs.x == 1").unwrap_err(),
        EvalError::MissingTaskOutputs("train".to_owned())
    );
    assert_eq!(
        eval("params.missing == 1").unwrap_err(),
        EvalError::MissingParam("missing".to_owned())
    );
    assert!(
        eval("params.n and true")
            .unwrap_err()
            .to_string()
            .contains("'and' needs true or false, found a number")
    );
    let condition = Expression::parse("params.n").unwrap();
    assert!(
        condition
            .evaluate_condition(&context())
            .unwrap_err()
            .to_string()
            .contains("'when' needs true or false")
    );
    // Short-circuit: the right side is never evaluated.
    assert_eq!(eval("false and params.missing == 1").unwrap(), json!(false));
}

#[test]
fn parse_errors_name_the_column() {
    for (source, column, message) in [
        ("params.n = 1", 10, "compare with '=='"),
        ("params.n > 1 > 0", 14, "comparisons do not chain"),
        ("(params.n > 1", 14, "expected ')'"),
        ("params.n > 'open", 12, "never closed"),
        ("params.n >", 11, "expected a value at the end"),
        ("params.n 1", 10, "unexpected '1' after a complete expression"),
        ("params.n > 1.2.3", 12, "'1.2.3' is not a number"),
        ("params.a.b == 1", 1, "params.NAME"),
        ("tasks.a.result == 1", 1, "tasks.ID.outputs.KEY"),
        ("run.date == 1", 1, "run.id and run.logical_date"),
        ("params.n > 1 && true", 14, "unexpected character '&'"),
        ("and", 1, "expected a value, found 'and'"),
    ] {
        let error = Expression::parse(source).unwrap_err();
        assert_eq!(error.column, column, "{source}: {error}");
        assert!(error.message.contains(message), "{source}: {error}");
    }
}
