//! Evaluation of parsed expressions against the values of one run.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::expr::{CompareOp, Expr, Expression, Literal, Reference};

/// The values an expression or a template can reach while a run executes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// The run's parameters, defaults filled in.
    pub params: BTreeMap<String, Json>,
    /// The outputs each finished task wrote (the JSON object of `$LATHE_OUTPUTS`).
    pub outputs: BTreeMap<String, Map<String, Json>>,
    pub run_id: String,
    /// RFC 3339.
    pub logical_date: String,
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("parameter '{0}' has no value")]
    MissingParam(String),
    #[error("task '{0}' has no outputs: it has not run or wrote none")]
    MissingTaskOutputs(String),
    #[error("{reference} does not exist: task '{task}' wrote {available}")]
    MissingOutput {
        reference: String,
        task: String,
        available: String,
    },
    #[error("cannot compare {left} with {right} using '{op}' in `{expression}`")]
    TypeMismatch {
        op: &'static str,
        left: &'static str,
        right: &'static str,
        expression: String,
    },
    #[error("'{operator}' needs true or false, found {found} in `{expression}`")]
    NotABoolean {
        operator: &'static str,
        found: &'static str,
        expression: String,
    },
}

impl Expression {
    /// The value of the expression.
    pub fn evaluate(&self, context: &Context) -> Result<Json, EvalError> {
        evaluate(&self.root, context, &self.source)
    }

    /// The value of a `when:` condition, which must be true or false.
    pub fn evaluate_condition(&self, context: &Context) -> Result<bool, EvalError> {
        let value = self.evaluate(context)?;
        as_bool(&value, "when", &self.source)
    }
}

fn evaluate(expr: &Expr, context: &Context, source: &str) -> Result<Json, EvalError> {
    match expr {
        Expr::Literal(literal) => Ok(match literal {
            Literal::Int(n) => Json::from(*n),
            Literal::Float(n) => Json::from(*n),
            Literal::String(text) => Json::from(text.as_str()),
            Literal::Bool(flag) => Json::from(*flag),
        }),
        Expr::Reference(reference) => resolve(reference, context),
        Expr::Not(inner) => {
            let value = evaluate(inner, context, source)?;
            Ok(Json::Bool(!as_bool(&value, "not", source)?))
        }
        Expr::And(left, right) => {
            let left = evaluate(left, context, source)?;
            if !as_bool(&left, "and", source)? {
                return Ok(Json::Bool(false));
            }
            let right = evaluate(right, context, source)?;
            Ok(Json::Bool(as_bool(&right, "and", source)?))
        }
        Expr::Or(left, right) => {
            let left = evaluate(left, context, source)?;
            if as_bool(&left, "or", source)? {
                return Ok(Json::Bool(true));
            }
            let right = evaluate(right, context, source)?;
            Ok(Json::Bool(as_bool(&right, "or", source)?))
        }
        Expr::Compare(op, left, right) => {
            let left = evaluate(left, context, source)?;
            let right = evaluate(right, context, source)?;
            compare(*op, &left, &right, source).map(Json::Bool)
        }
    }
}

/// The value a reference names in the context.
pub fn resolve(reference: &Reference, context: &Context) -> Result<Json, EvalError> {
    match reference {
        Reference::Param(name) => context
            .params
            .get(name)
            .cloned()
            .ok_or_else(|| EvalError::MissingParam(name.clone())),
        Reference::RunId => Ok(Json::from(context.run_id.as_str())),
        Reference::RunLogicalDate => Ok(Json::from(context.logical_date.as_str())),
        Reference::TaskOutput { task, key, path } => {
            let outputs = context
                .outputs
                .get(task)
                .ok_or_else(|| EvalError::MissingTaskOutputs(task.clone()))?;
            let missing = |available: &Map<String, Json>| EvalError::MissingOutput {
                reference: reference.to_string(),
                task: task.clone(),
                available: if available.is_empty() {
                    "no outputs".to_owned()
                } else {
                    available
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            };
            let mut value = outputs.get(key).ok_or_else(|| missing(outputs))?;
            for field in path {
                value = value
                    .as_object()
                    .and_then(|object| object.get(field))
                    .ok_or_else(|| missing(outputs))?;
            }
            Ok(value.clone())
        }
    }
}

fn as_bool(value: &Json, operator: &'static str, source: &str) -> Result<bool, EvalError> {
    value.as_bool().ok_or_else(|| EvalError::NotABoolean {
        operator,
        found: json_type(value),
        expression: source.to_owned(),
    })
}

fn compare(op: CompareOp, left: &Json, right: &Json, source: &str) -> Result<bool, EvalError> {
    let mismatch = || EvalError::TypeMismatch {
        op: op.symbol(),
        left: json_type(left),
        right: json_type(right),
        expression: source.to_owned(),
    };
    let ordering = match (left, right) {
        (Json::Number(a), Json::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_) | None, Some(_) | None) => {
                let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
                a.partial_cmp(&b).ok_or_else(mismatch)?
            }
        },
        (Json::String(a), Json::String(b)) => a.cmp(b),
        (Json::Bool(a), Json::Bool(b)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => a.cmp(b),
        (Json::Null, Json::Null) if matches!(op, CompareOp::Eq | CompareOp::Ne) => Ordering::Equal,
        (
            Json::Null | Json::Bool(_) | Json::Number(_) | Json::String(_) | Json::Array(_) | Json::Object(_),
            Json::Null | Json::Bool(_) | Json::Number(_) | Json::String(_) | Json::Array(_) | Json::Object(_),
        ) => return Err(mismatch()),
    };
    Ok(match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
    })
}

/// The name of a JSON value's type, for messages.
pub fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}
