//! `{{ }}` templates in task arguments: parsing, references and rendering.

use serde_json::json;

use super::super::{Context, EvalError, Reference, Template, TemplateError};

#[test]
fn renders_strings_raw_and_other_values_as_json() {
    let mut context = Context {
        run_id: "r-9".to_owned(),
        ..Context::default()
    };
    context.params.insert("epochs".to_owned(), json!(5));
    context.params.insert("name".to_owned(), json!("churn"));
    context.outputs.insert(
        "eval".to_owned(),
        json!({"ok": true}).as_object().unwrap().clone(),
    );
    let template = Template::parse("{{params.name}}-{{ run.id }}: {{ params.epochs }} {{ tasks.eval.outputs.ok }} {{ params.epochs > 3 }}").unwrap();
    assert_eq!(template.render(&context).unwrap(), "churn-r-9: 5 true true");
    assert_eq!(
        template.references(),
        [
            &Reference::Param("name".to_owned()),
            &Reference::RunId,
            &Reference::Param("epochs".to_owned()),
            &Reference::TaskOutput {
                task: "eval".to_owned(),
                key: "ok".to_owned(),
                path: Vec::new()
            },
            &Reference::Param("epochs".to_owned()),
        ]
    );
    assert_eq!(
        Template::parse("plain {text}").unwrap().render(&context).unwrap(),
        "plain {text}"
    );
    assert_eq!(
        Template::parse("{{ '{{' }}").unwrap().render(&context).unwrap(),
        "{{"
    );
    assert_eq!(
        Template::parse("{{ params.other }}")
            .unwrap()
            .render(&context)
            .unwrap_err(),
        EvalError::MissingParam("other".to_owned())
    );
}

#[test]
fn bad_templates_say_where() {
    assert_eq!(
        Template::parse("ab {{ run.id").unwrap_err(),
        TemplateError::Unclosed(4)
    );
    assert_eq!(Template::parse("é{{  }}").unwrap_err(), TemplateError::Empty(2));
    let TemplateError::Expression { hole, error } =
        Template::parse("x {{ run.id }} {{ run.id == }}").unwrap_err()
    else {
        panic!("an expression error");
    };
    assert_eq!(hole, 16);
    assert!(error.message.contains("expected a value"), "{error}");
}
