//! The search filter language for experiment runs, after MLflow's `search_runs`: filters such as
//! `metrics.accuracy > 0.9 and params.solver = 'lbfgs'` and order-by clauses such as
//! `metrics.acc DESC`.
//!
//! A hand-written lexer feeds a recursive-descent parser. Every error names the offending token
//! and its 1-based character position, so a user can find the mistake in what they typed.

mod lexer;
pub mod logged_models;
mod syntax;
#[cfg(test)]
mod tests;

use lexer::{Lexer, OR_NOT_SUPPORTED, Token, TokenKind};
pub use syntax::{Attribute, Clause, Field, Filter, FilterError, Op, OrderBy, Value};

/// The longest filter accepted, in characters (and the longest order-by clause): room for
/// 100 conditions with long keys, or 1,000 run ids (about 36 characters each) in an IN list,
/// while a filter of hundreds of kilobytes is refused before it is tokenized.
pub const MAX_FILTER_CHARS: usize = 100_000;

/// The most conditions one filter may join with AND. Each condition is one more level of
/// the SQL expression tree, which SQLite caps at a depth of 1,000, and one more lookup per
/// candidate run; real filters have a handful of conditions.
pub const MAX_FILTER_CONDITIONS: usize = 100;

/// The most strings one IN or NOT IN list may hold: enough to pick 1,000 runs by id.
pub const MAX_IN_LIST_ITEMS: usize = 1_000;

/// The most values (numbers, strings and list items) one filter may compare with in all.
/// Each is one bound SQL parameter; with one key per condition and a search's own few
/// parameters a query stays far below SQLite's 32,766 and PostgreSQL's 65,535.
pub const MAX_FILTER_VALUES: usize = 10_000;

/// The most order-by clauses one search may sort by: each on a metric, param or tag joins one
/// more table, and SQLite joins at most 64.
pub const MAX_ORDER_BY_CLAUSES: usize = 10;

/// Run statuses a filter on `attributes.status` may compare with (upper case, as stored).
pub const RUN_STATUSES: [&str; 5] = ["RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"];

const EXPECTED_FIELD: &str = "expected a field: metrics.<key>, params.<key>, tags.<key> or attributes.<name>";

/// Parses a filter such as `metrics.acc > 0.9 and params.solver = 'lbfgs'`.
/// Empty or whitespace-only input is the empty filter. A filter past one of the limits
/// ([`MAX_FILTER_CHARS`], [`MAX_FILTER_CONDITIONS`], [`MAX_IN_LIST_ITEMS`],
/// [`MAX_FILTER_VALUES`]) is refused as soon as the parser reaches the excess, with an error
/// naming the limit and how far the filter goes past it.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    check_length(input, "a filter")?;
    let mut lexer = Lexer::new(input);
    let mut clauses = Vec::new();
    let mut values = 0;
    let mut field_token = lexer.next_token()?;
    if let TokenKind::End = field_token.kind {
        return Ok(Filter { clauses });
    }
    loop {
        let clause = parse_clause(&mut lexer, &field_token)?;
        if clauses.len() == MAX_FILTER_CONDITIONS {
            let count = lexer.count_rest(|token| token.is_keyword("and"), |_| false);
            return Err(field_token.error(format!(
                "a filter may have at most {MAX_FILTER_CONDITIONS} conditions; this one has {}",
                count.plus(MAX_FILTER_CONDITIONS + 1)
            )));
        }
        values += clause.value.count();
        if values > MAX_FILTER_VALUES {
            let is_value = |token: &Token| matches!(token.kind, TokenKind::Number(_) | TokenKind::Text(_));
            let count = lexer.count_rest(is_value, |_| false);
            return Err(field_token.error(format!(
                "a filter may compare with at most {MAX_FILTER_VALUES} values in all; this one has {}",
                count.plus(values)
            )));
        }
        clauses.push(clause);
        let joiner = lexer.next_token()?;
        match &joiner.kind {
            TokenKind::End => return Ok(Filter { clauses }),
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

/// Parses an order-by clause `<field> [ASC|DESC]`; without a direction it is ascending.
/// It may be at most [`MAX_FILTER_CHARS`] long.
pub fn parse_order_by(input: &str) -> Result<OrderBy, FilterError> {
    check_length(input, "an order-by clause")?;
    let mut lexer = Lexer::new(input);
    let field = field_from_token(&lexer.next_token()?)?;
    let direction = lexer.next_token()?;
    let descending = match &direction.kind {
        TokenKind::End => {
            return Ok(OrderBy {
                field,
                descending: false,
            });
        }
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
        TokenKind::End => Ok(OrderBy { field, descending }),
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

impl Value {
    /// How many values the right-hand side compares with: one, or the length of the list.
    fn count(&self) -> usize {
        match self {
            Value::Number(_) | Value::Text(_) => 1,
            Value::List(items) => items.len(),
        }
    }
}

/// Refuses input longer than [`MAX_FILTER_CHARS`] before it is tokenized; `what` names it.
fn check_length(input: &str, what: &str) -> Result<(), FilterError> {
    // A character takes at least one byte, so short input needs no count.
    if input.len() <= MAX_FILTER_CHARS {
        return Ok(());
    }
    let length = input.chars().count();
    if length <= MAX_FILTER_CHARS {
        return Ok(());
    }
    let first_excess = input.chars().nth(MAX_FILTER_CHARS).map(String::from);
    Err(FilterError {
        position: MAX_FILTER_CHARS + 1,
        token: first_excess.unwrap_or_default(),
        message: format!("{what} may be at most {MAX_FILTER_CHARS} characters long; this one has {length}"),
    })
}

impl Field {
    /// Parses a lone field such as `metrics.acc` or ``tags.`my tag` ``; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Field> {
        let mut lexer = Lexer::new(text);
        let field = field_from_token(&lexer.next_token().ok()?).ok()?;
        match lexer.next_token().ok()?.kind {
            TokenKind::End => Some(field),
            TokenKind::Word
            | TokenKind::QuotedField { .. }
            | TokenKind::Number(_)
            | TokenKind::Text(_)
            | TokenKind::Compare(_)
            | TokenKind::OpenParen
            | TokenKind::CloseParen
            | TokenKind::Comma => None,
        }
    }
}

fn parse_clause(lexer: &mut Lexer, field_token: &Token) -> Result<Clause, FilterError> {
    let field = field_from_token(field_token)?;
    let (op, op_token) = parse_op(lexer)?;
    let allowed = field.allowed_ops();
    if !allowed.contains(&op) {
        let allowed = allowed
            .iter()
            .map(|op| op.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(op_token.error(format!(
            "operator {op} is not supported for {}; allowed operators: {allowed}",
            field.kind_name()
        )));
    }
    let value = parse_value(lexer, &field, op)?;
    Ok(Clause { field, op, value })
}

/// Turns a `prefix.key` token into a field, checking the prefix and attribute names.
fn field_from_token(token: &Token) -> Result<Field, FilterError> {
    let (prefix, key) = match &token.kind {
        TokenKind::Word => match token.text.split_once('.') {
            Some(parts) => parts,
            None => return Err(token.error(EXPECTED_FIELD)),
        },
        TokenKind::QuotedField { prefix, key } => (prefix.as_str(), key.as_str()),
        TokenKind::End
        | TokenKind::Number(_)
        | TokenKind::Text(_)
        | TokenKind::Compare(_)
        | TokenKind::OpenParen
        | TokenKind::CloseParen
        | TokenKind::Comma => return Err(token.error(EXPECTED_FIELD)),
    };
    let Some(kind) = FieldKind::from_prefix(prefix) else {
        return Err(token.error(format!(
            "unknown field type '{prefix}'; use metrics, params, tags or attributes"
        )));
    };
    if key.is_empty() {
        return Err(token.error(format!("missing key after '{prefix}.'")));
    }
    match kind {
        FieldKind::Metric => Ok(Field::Metric(key.to_string())),
        FieldKind::Param => Ok(Field::Param(key.to_string())),
        FieldKind::Tag => Ok(Field::Tag(key.to_string())),
        FieldKind::Attribute => Attribute::from_name(key).map(Field::Attribute).ok_or_else(|| {
            let names = Attribute::ALL.map(Attribute::name).join(", ");
            token.error(format!("unknown attribute '{key}'; use one of {names}"))
        }),
    }
}

/// The part of a field before the first dot.
enum FieldKind {
    Metric,
    Param,
    Tag,
    Attribute,
}

impl FieldKind {
    fn from_prefix(prefix: &str) -> Option<FieldKind> {
        match prefix.to_ascii_lowercase().as_str() {
            "metrics" | "metric" => Some(FieldKind::Metric),
            "params" | "param" => Some(FieldKind::Param),
            "tags" | "tag" => Some(FieldKind::Tag),
            "attributes" | "attribute" | "attr" | "run" => Some(FieldKind::Attribute),
            _ => None,
        }
    }
}

/// Reads an operator; the returned token spans `NOT IN` as one for error reporting.
fn parse_op(lexer: &mut Lexer) -> Result<(Op, Token), FilterError> {
    let token = lexer.next_token()?;
    let expected = "expected an operator: =, !=, >, >=, <, <=, LIKE, ILIKE, IN or NOT IN";
    let op = match &token.kind {
        TokenKind::Compare(op) => *op,
        TokenKind::Word => match token.text.to_ascii_lowercase().as_str() {
            "like" => Op::Like,
            "ilike" => Op::ILike,
            "in" => Op::In,
            "not" => {
                let next = lexer.next_token()?;
                if !next.is_keyword("in") {
                    return Err(next.error("expected IN after NOT"));
                }
                let text = format!("{} {}", token.text, next.text);
                return Ok((
                    Op::NotIn,
                    Token {
                        kind: TokenKind::Word,
                        start: token.start,
                        text,
                    },
                ));
            }
            _ => return Err(token.error(expected)),
        },
        TokenKind::End
        | TokenKind::QuotedField { .. }
        | TokenKind::Number(_)
        | TokenKind::Text(_)
        | TokenKind::OpenParen
        | TokenKind::CloseParen
        | TokenKind::Comma => return Err(token.error(expected)),
    };
    Ok((op, token))
}

/// Reads the value for `field op`; the operator is already known to suit the field.
fn parse_value(lexer: &mut Lexer, field: &Field, op: Op) -> Result<Value, FilterError> {
    match op {
        Op::Gt | Op::Ge | Op::Lt | Op::Le => parse_number(lexer, field),
        Op::Eq | Op::Ne if field.is_numeric() => parse_number(lexer, field),
        Op::Eq | Op::Ne => {
            let token = lexer.next_token()?;
            let text = expect_text(&token, field, "")?;
            Ok(Value::Text(checked_text(field, &token, text)?))
        }
        // A LIKE pattern is not a value, so it is not checked against the run statuses.
        Op::Like | Op::ILike => {
            let token = lexer.next_token()?;
            Ok(Value::Text(expect_text(&token, field, "")?.to_string()))
        }
        Op::In | Op::NotIn => parse_list(lexer, field, op),
    }
}

fn parse_number(lexer: &mut Lexer, field: &Field) -> Result<Value, FilterError> {
    let token = lexer.next_token()?;
    match token.kind {
        TokenKind::Number(number) => Ok(Value::Number(number)),
        TokenKind::Word
        | TokenKind::End
        | TokenKind::QuotedField { .. }
        | TokenKind::Text(_)
        | TokenKind::Compare(_)
        | TokenKind::OpenParen
        | TokenKind::CloseParen
        | TokenKind::Comma => {
            let unit = if matches!(field, Field::Attribute(_)) {
                " (milliseconds since the epoch)"
            } else {
                ""
            };
            Err(token.error(format!(
                "expected a number{unit}, as required for {}",
                field.kind_name()
            )))
        }
    }
}

/// The string in `token`, or an error saying a quoted string was expected `context`.
fn expect_text<'a>(token: &'a Token, field: &Field, context: &str) -> Result<&'a str, FilterError> {
    let kind = field.kind_name();
    match &token.kind {
        TokenKind::Text(text) => Ok(text),
        TokenKind::Word => Err(token.error(format!(
            "expected a quoted string{context}, as required for {kind}; write '{}'",
            token.text
        ))),
        TokenKind::OpenParen => Err(token.error(format!(
            "expected a quoted string{context}; a parenthesised list is only allowed after IN or NOT IN"
        ))),
        TokenKind::End
        | TokenKind::QuotedField { .. }
        | TokenKind::Number(_)
        | TokenKind::Compare(_)
        | TokenKind::CloseParen
        | TokenKind::Comma => Err(token.error(format!(
            "expected a quoted string{context}, as required for {kind}"
        ))),
    }
}

fn parse_list(lexer: &mut Lexer, field: &Field, op: Op) -> Result<Value, FilterError> {
    let open = lexer.next_token()?;
    match open.kind {
        TokenKind::OpenParen => {}
        TokenKind::Word
        | TokenKind::End
        | TokenKind::QuotedField { .. }
        | TokenKind::Number(_)
        | TokenKind::Text(_)
        | TokenKind::Compare(_)
        | TokenKind::CloseParen
        | TokenKind::Comma => {
            return Err(open.error(format!(
                "expected a parenthesised list of quoted strings after {op}, such as ('a', 'b')"
            )));
        }
    }
    let mut items = Vec::new();
    loop {
        let item = lexer.next_token()?;
        if items.is_empty() && matches!(item.kind, TokenKind::CloseParen) {
            return Err(item.error(format!("the list after {op} needs at least one string")));
        }
        let text = expect_text(&item, field, " in the list")?;
        if items.len() == MAX_IN_LIST_ITEMS {
            let is_text = |token: &Token| matches!(token.kind, TokenKind::Text(_));
            let count = lexer.count_rest(is_text, |token| matches!(token.kind, TokenKind::CloseParen));
            return Err(item.error(format!(
                "the list after {op} may hold at most {MAX_IN_LIST_ITEMS} strings; this one has {}",
                count.plus(MAX_IN_LIST_ITEMS + 1)
            )));
        }
        items.push(checked_text(field, &item, text)?);
        let separator = lexer.next_token()?;
        match separator.kind {
            TokenKind::Comma => {}
            TokenKind::CloseParen => return Ok(Value::List(items)),
            TokenKind::Word
            | TokenKind::End
            | TokenKind::QuotedField { .. }
            | TokenKind::Number(_)
            | TokenKind::Text(_)
            | TokenKind::Compare(_)
            | TokenKind::OpenParen => return Err(separator.error("expected ',' or ')' in the list")),
        }
    }
}

/// Checks a value for `field`: statuses must be known, and are normalised to upper case.
fn checked_text(field: &Field, token: &Token, text: &str) -> Result<String, FilterError> {
    if *field != Field::Attribute(Attribute::Status) {
        return Ok(text.to_string());
    }
    RUN_STATUSES
        .into_iter()
        .find(|status| status.eq_ignore_ascii_case(text))
        .map(str::to_string)
        .ok_or_else(|| {
            token.error(format!(
                "unknown run status '{text}'; use one of {}",
                RUN_STATUSES.join(", ")
            ))
        })
}
