//! The filter and order of a logged-model search, after MLflow's `search_logged_models`:
//! `name = 'model' and tags.stage = 'prod'`, `creation_timestamp DESC`. The same lexer and value
//! rules as the run filter; the fields are the logged model's.

use super::lexer::{Lexer, OR_NOT_SUPPORTED, Token, TokenKind};
use super::syntax::{Attribute, Field, FilterError, Op, Value};
use super::{check_length, parse_op, parse_value};

/// What a clause of a logged-model filter compares.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedModelField {
    Name,
    ModelId,
    SourceRunId,
    /// PENDING, READY or FAILED (MLflow's `LOGGED_MODEL_` prefix is accepted and dropped).
    Status,
    ModelType,
    /// Milliseconds since the epoch.
    CreationTime,
    UpdateTime,
    Tag(String),
    Param(String),
}

impl LoggedModelField {
    fn attribute(name: &str) -> Option<LoggedModelField> {
        match name.to_ascii_lowercase().as_str() {
            "name" => Some(LoggedModelField::Name),
            "model_id" => Some(LoggedModelField::ModelId),
            "source_run_id" => Some(LoggedModelField::SourceRunId),
            "status" => Some(LoggedModelField::Status),
            "model_type" => Some(LoggedModelField::ModelType),
            "creation_timestamp" | "creation_time" => Some(LoggedModelField::CreationTime),
            "last_updated_timestamp" | "last_update_time" => Some(LoggedModelField::UpdateTime),
            _ => None,
        }
    }

    /// Parses `name`, `attributes.name`, `tags.<key>`, `params.<key>` (keys may be quoted).
    fn parse(token: &Token) -> Result<LoggedModelField, FilterError> {
        let expected = "expected name, model_id, source_run_id, status, model_type, creation_timestamp, \
                        last_updated_timestamp, tags.<key> or params.<key>";
        let (prefix, key) = match &token.kind {
            TokenKind::Word => match token.text.split_once('.') {
                Some((prefix, key)) => (prefix.to_owned(), key.to_owned()),
                None => {
                    return LoggedModelField::attribute(&token.text).ok_or_else(|| token.error(expected));
                }
            },
            TokenKind::QuotedField { prefix, key } => (prefix.clone(), key.clone()),
            TokenKind::End
            | TokenKind::Number(_)
            | TokenKind::Text(_)
            | TokenKind::Compare(_)
            | TokenKind::OpenParen
            | TokenKind::CloseParen
            | TokenKind::Comma => return Err(token.error(expected)),
        };
        if key.is_empty() {
            return Err(token.error(format!("missing key after '{prefix}.'")));
        }
        match prefix.to_ascii_lowercase().as_str() {
            "tags" | "tag" => Ok(LoggedModelField::Tag(key)),
            "params" | "param" => Ok(LoggedModelField::Param(key)),
            "attributes" | "attribute" | "attr" => {
                LoggedModelField::attribute(&key).ok_or_else(|| token.error(expected))
            }
            _ => Err(token.error(expected)),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(
            self,
            LoggedModelField::CreationTime | LoggedModelField::UpdateTime
        )
    }

    /// A run-filter field with the same value rules, so values parse as in run filters.
    fn value_rules(&self) -> Field {
        if self.is_numeric() {
            Field::Attribute(Attribute::StartTime)
        } else {
            Field::Tag(String::new())
        }
    }
}

/// One condition of a logged-model filter.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModelClause {
    pub field: LoggedModelField,
    pub op: Op,
    pub value: Value,
}

/// Parses a logged-model filter: conditions joined by AND; empty input is no condition.
pub fn parse_logged_model_filter(input: &str) -> Result<Vec<LoggedModelClause>, FilterError> {
    check_length(input, "a filter")?;
    let mut lexer = Lexer::new(input);
    let mut clauses = Vec::new();
    let mut field_token = lexer.next_token()?;
    if let TokenKind::End = field_token.kind {
        return Ok(clauses);
    }
    loop {
        let field = LoggedModelField::parse(&field_token)?;
        let rules = field.value_rules();
        let (op, op_token) = parse_op(&mut lexer)?;
        if !rules.allowed_ops().contains(&op) {
            return Err(op_token.error(format!("operator {op} is not supported for this field")));
        }
        let mut value = parse_value(&mut lexer, &rules, op)?;
        if field == LoggedModelField::Status {
            value = match value {
                Value::Text(text) => Value::Text(status_value(&text)),
                Value::List(items) => Value::List(items.iter().map(|t| status_value(t)).collect()),
                number @ Value::Number(_) => number,
            };
        }
        clauses.push(LoggedModelClause { field, op, value });
        let joiner = lexer.next_token()?;
        match &joiner.kind {
            TokenKind::End => return Ok(clauses),
            TokenKind::Word if joiner.is_keyword("and") => field_token = lexer.next_token()?,
            TokenKind::Word if joiner.is_keyword("or") => return Err(joiner.error(OR_NOT_SUPPORTED)),
            TokenKind::Word
            | TokenKind::QuotedField { .. }
            | TokenKind::Number(_)
            | TokenKind::Text(_)
            | TokenKind::Compare(_)
            | TokenKind::OpenParen
            | TokenKind::CloseParen
            | TokenKind::Comma => {
                return Err(joiner.error("expected AND or the end of the filter after a complete condition"));
            }
        }
    }
}

/// A status as stored: upper case, without MLflow's `LOGGED_MODEL_` prefix.
fn status_value(text: &str) -> String {
    let upper = text.to_ascii_uppercase();
    upper.strip_prefix("LOGGED_MODEL_").unwrap_or(&upper).to_owned()
}

/// Parses an order-by clause of a logged-model search: an attribute, then ASC or DESC.
pub fn parse_logged_model_order(input: &str) -> Result<(LoggedModelField, bool), FilterError> {
    check_length(input, "an order-by clause")?;
    let mut lexer = Lexer::new(input);
    let token = lexer.next_token()?;
    let field = LoggedModelField::parse(&token)?;
    if matches!(field, LoggedModelField::Tag(_) | LoggedModelField::Param(_)) {
        return Err(token.error("logged models are ordered by an attribute, not a tag or param"));
    }
    let direction = lexer.next_token()?;
    let descending = match &direction.kind {
        TokenKind::End => return Ok((field, false)),
        TokenKind::Word if direction.is_keyword("asc") => false,
        TokenKind::Word if direction.is_keyword("desc") => true,
        TokenKind::Word
        | TokenKind::QuotedField { .. }
        | TokenKind::Number(_)
        | TokenKind::Text(_)
        | TokenKind::Compare(_)
        | TokenKind::OpenParen
        | TokenKind::CloseParen
        | TokenKind::Comma => return Err(direction.error("expected ASC, DESC or the end of the order-by")),
    };
    let rest = lexer.next_token()?;
    match rest.kind {
        TokenKind::End => Ok((field, descending)),
        TokenKind::Word
        | TokenKind::QuotedField { .. }
        | TokenKind::Number(_)
        | TokenKind::Text(_)
        | TokenKind::Compare(_)
        | TokenKind::OpenParen
        | TokenKind::CloseParen
        | TokenKind::Comma => Err(rest.error("expected the end of the order-by after ASC or DESC")),
    }
}

/// SQL's LIKE: `%` any run of characters, `_` one character; `fold` compares without case.
pub fn like(text: &str, pattern: &str, fold: bool) -> bool {
    let (text, pattern): (Vec<char>, Vec<char>) = if fold {
        (
            text.to_lowercase().chars().collect(),
            pattern.to_lowercase().chars().collect(),
        )
    } else {
        (text.chars().collect(), pattern.chars().collect())
    };
    // Greedy match with backtracking to the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

impl LoggedModelClause {
    /// Whether the clause holds for a value of its field (`None`: a tag or param not set).
    pub fn holds_for_text(&self, actual: Option<&str>) -> bool {
        match (&self.value, actual) {
            (Value::Text(expected), Some(actual)) => match self.op {
                Op::Eq => actual == expected,
                Op::Ne => actual != expected,
                Op::Like => like(actual, expected, false),
                Op::ILike => like(actual, expected, true),
                Op::Gt | Op::Ge | Op::Lt | Op::Le | Op::In | Op::NotIn => false,
            },
            (Value::List(items), Some(actual)) => match self.op {
                Op::In => items.iter().any(|item| item == actual),
                Op::NotIn => !items.iter().any(|item| item == actual),
                Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le | Op::Like | Op::ILike => false,
            },
            // As in MLflow's SQL, a comparison with a missing tag is false, except `!=`.
            (Value::Text(_) | Value::List(_), None) => matches!(self.op, Op::Ne | Op::NotIn),
            (Value::Number(_), _) => false,
        }
    }

    /// Whether the clause holds for a number of its (numeric) field.
    pub fn holds_for_number(&self, actual: i64) -> bool {
        let Value::Number(expected) = self.value else {
            return false;
        };
        let actual = actual as f64;
        match self.op {
            Op::Eq => actual == expected,
            Op::Ne => actual != expected,
            Op::Gt => actual > expected,
            Op::Ge => actual >= expected,
            Op::Lt => actual < expected,
            Op::Le => actual <= expected,
            Op::Like | Op::ILike | Op::In | Op::NotIn => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_tags_and_statuses() {
        let clauses = parse_logged_model_filter(
            "name = 'model' and tags.`a b` LIKE 'x%' and status = 'LOGGED_MODEL_READY'",
        )
        .unwrap();
        assert_eq!(clauses[0].field, LoggedModelField::Name);
        assert_eq!(clauses[1].field, LoggedModelField::Tag("a b".to_owned()));
        assert_eq!(clauses[2].value, Value::Text("READY".to_owned()));
        assert!(clauses[1].holds_for_text(Some("xyz")));
        assert!(!clauses[1].holds_for_text(None));
        let numeric = parse_logged_model_filter("attributes.creation_timestamp > 5").unwrap();
        assert!(numeric[0].holds_for_number(6) && !numeric[0].holds_for_number(5));
        for bad in [
            "nope = 'x'",
            "name = 'a' or name = 'b'",
            "name > 'a'",
            "creation_timestamp = 'x'",
        ] {
            assert!(parse_logged_model_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_follows_sql() {
        assert!(like("model-1", "model%", false));
        assert!(like("model-1", "%-_", false));
        assert!(!like("Model", "model", false));
        assert!(like("Model", "model", true));
        assert!(like("abcabc", "%b%c", false));
        assert!(!like("abc", "a_", false));
    }

    #[test]
    fn orders_by_attributes_only() {
        assert_eq!(
            parse_logged_model_order("creation_timestamp DESC").unwrap(),
            (LoggedModelField::CreationTime, true)
        );
        assert_eq!(
            parse_logged_model_order("name").unwrap(),
            (LoggedModelField::Name, false)
        );
        assert!(parse_logged_model_order("tags.x").is_err());
    }
}
