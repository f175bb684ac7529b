//! Templates in task arguments: text with `{{ expr }}` holes, parsed at validation and
//! rendered from a run's values.

use serde_json::Value as Json;

use super::eval::{Context, EvalError};
use super::expr::{ExprError, Expression, Reference};

/// A parsed template; text without `{{` is a template with no holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Hole(Expression),
}

/// Why a template does not parse; the column counts characters of the whole template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the '{{{{' at column {0} is never closed with '}}}}'")]
    Unclosed(usize),
    #[error("the '{{{{ }}}}' at column {0} holds no expression")]
    Empty(usize),
    #[error("in the '{{{{ }}}}' at column {hole}: {error}")]
    Expression { hole: usize, error: ExprError },
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let hole_column = source[..offset + open].chars().count() + 1;
            let inside = &rest[open + 2..];
            let close = inside.find("}}").ok_or(TemplateError::Unclosed(hole_column))?;
            let text = &inside[..close];
            if text.trim().is_empty() {
                return Err(TemplateError::Empty(hole_column));
            }
            let expression = Expression::parse(text.trim()).map_err(|error| TemplateError::Expression {
                hole: hole_column,
                error,
            })?;
            parts.push(Part::Hole(expression));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// A template of fixed text, with no holes.
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.to_owned(),
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// Every reference of every hole, in the order written.
    pub fn references(&self) -> Vec<&Reference> {
        self.parts
            .iter()
            .flat_map(|part| match part {
                Part::Text(_) => Vec::new(),
                Part::Hole(expression) => expression.references(),
            })
            .collect()
    }

    /// The text with each hole replaced by its value: strings as they are, other values as JSON.
    pub fn render(&self, context: &Context) -> Result<String, EvalError> {
        let mut rendered = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => rendered.push_str(text),
                Part::Hole(expression) => match expression.evaluate(context)? {
                    Json::String(text) => rendered.push_str(&text),
                    other @ (Json::Null
                    | Json::Bool(_)
                    | Json::Number(_)
                    | Json::Array(_)
                    | Json::Object(_)) => {
                        rendered.push_str(&other.to_string());
                    }
                },
            }
        }
        Ok(rendered)
    }
}
