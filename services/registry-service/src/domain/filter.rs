//! The search filter language for experiment runs, after MLflow's `search_runs`: filters such as
//! `metrics.accuracy > 0.9 and params.solver = 'lbfgs'` and order-by clauses such as
//! `metrics.acc DESC`.
//!
//! A hand-written lexer feeds a recursive-descent parser. Every error names the offending token
//! and its 1-based character position, so a user can find the mistake in what they typed.

use std::fmt;

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

const OR_NOT_SUPPORTED: &str = "OR is not supported; combine conditions with AND";
const EXPECTED_FIELD: &str = "expected a field: metrics.<key>, params.<key>, tags.<key> or attributes.<name>";
const NUMERIC_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le];
const TEXT_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Like, Op::ILike, Op::In, Op::NotIn];

/// A parsed filter: a run matches when every clause holds. No clauses matches every run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

/// One comparison `field op value`; the parser guarantees the operator and the value suit the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// What a clause or an ordering looks at. Keys are kept exactly as written (unquoted).
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(Attribute),
}

/// The run columns a filter may name with `attributes.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    RunId,
    RunName,
    Status,
    UserId,
    StartTime,
    EndTime,
}

/// A comparison operator; which ones a field accepts is [`Field::allowed_ops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    ILike,
    In,
    NotIn,
}

/// The right-hand side of a clause: `Number` is always finite, `List` never empty.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

/// One ordering key for a run search.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub field: Field,
    pub descending: bool,
}

/// Why a filter or order-by clause was rejected, and where (1-based character position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at character {position} near '{token}': {message}")]
pub struct FilterError {
    pub position: usize,
    pub token: String,
    pub message: String,
}

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

    /// Whether the field compares with numbers (metrics, start and end time) rather than strings.
    pub fn is_numeric(&self) -> bool {
        match self {
            Field::Metric(_) => true,
            Field::Param(_) | Field::Tag(_) => false,
            Field::Attribute(attribute) => attribute.is_numeric(),
        }
    }

    /// The operators a clause on this field may use.
    pub fn allowed_ops(&self) -> &'static [Op] {
        if self.is_numeric() {
            &NUMERIC_OPS
        } else {
            &TEXT_OPS
        }
    }

    /// How error messages name the field's kind.
    fn kind_name(&self) -> String {
        match self {
            Field::Metric(_) => "metrics".to_string(),
            Field::Param(_) => "params".to_string(),
            Field::Tag(_) => "tags".to_string(),
            Field::Attribute(attribute) => format!("attribute {}", attribute.name()),
        }
    }
}

impl Attribute {
    pub const ALL: [Attribute; 6] = [
        Attribute::RunId,
        Attribute::RunName,
        Attribute::Status,
        Attribute::UserId,
        Attribute::StartTime,
        Attribute::EndTime,
    ];

    /// The name used after `attributes.` (and in canonical filter text).
    pub fn name(self) -> &'static str {
        match self {
            Attribute::RunId => "run_id",
            Attribute::RunName => "run_name",
            Attribute::Status => "status",
            Attribute::UserId => "user_id",
            Attribute::StartTime => "start_time",
            Attribute::EndTime => "end_time",
        }
    }

    /// Looks an attribute up by name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Attribute> {
        Attribute::ALL
            .into_iter()
            .find(|attribute| attribute.name().eq_ignore_ascii_case(name))
    }

    /// Start and end time are milliseconds since the epoch; the others are strings.
    pub fn is_numeric(self) -> bool {
        match self {
            Attribute::StartTime | Attribute::EndTime => true,
            Attribute::RunId | Attribute::RunName | Attribute::Status | Attribute::UserId => false,
        }
    }
}

impl Op {
    /// The operator as written in canonical filter text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, clause) in self.clauses.iter().enumerate() {
            if index > 0 {
                f.write_str(" AND ")?;
            }
            write!(f, "{clause}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.field, self.op, self.value)
    }
}

impl fmt::Display for Field {
    /// Canonical prefixes; a key is backquoted unless it is a bare identifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, key) = match self {
            Field::Metric(key) => ("metrics", key.as_str()),
            Field::Param(key) => ("params", key.as_str()),
            Field::Tag(key) => ("tags", key.as_str()),
            Field::Attribute(attribute) => ("attributes", attribute.name()),
        };
        write!(f, "{prefix}.")?;
        if !key.is_empty() && key.chars().all(is_word_continue) {
            f.write_str(key)
        } else {
            write_quoted(f, key, '`')
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Value {
    /// Numbers use `{:?}`, which prints the shortest text that parses back to the same `f64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(number) => write!(f, "{number:?}"),
            Value::Text(text) => write_quoted(f, text, '\''),
            Value::List(items) => {
                f.write_str("(")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write_quoted(f, item, '\'')?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = if self.descending { "DESC" } else { "ASC" };
        write!(f, "{} {direction}", self.field)
    }
}

/// Writes `text` between `quote`s, doubling any `quote` inside (the lexer's escape rule).
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str, quote: char) -> fmt::Result {
    write!(f, "{quote}")?;
    for c in text.chars() {
        if c == quote {
            write!(f, "{quote}")?;
        }
        write!(f, "{c}")?;
    }
    write!(f, "{quote}")
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_continue(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')
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

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    /// A bare word: a keyword, or a field whose key needs no quotes.
    Word,
    /// `prefix.` directly followed by a backquoted or double-quoted key.
    QuotedField {
        prefix: String,
        key: String,
    },
    Number(f64),
    Text(String),
    Compare(Op),
    OpenParen,
    CloseParen,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: TokenKind,
    /// 0-based character offset of the token's first character.
    start: usize,
    /// The source text of the token, or "end of input".
    text: String,
}

impl Token {
    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            position: self.start + 1,
            token: self.text.clone(),
            message: message.into(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.kind, TokenKind::Word) && self.text.eq_ignore_ascii_case(keyword)
    }
}

/// How many tokens of a kind the rest of the input holds, for errors about limits.
struct Tally {
    count: usize,
    /// False when a malformed token stopped the count, so there may be more.
    complete: bool,
}

impl Tally {
    /// `base` plus the tally, as an error message states it.
    fn plus(&self, base: usize) -> String {
        let total = base + self.count;
        if self.complete {
            total.to_string()
        } else {
            format!("at least {total}")
        }
    }
}

/// Splits input into tokens on demand, so the first error reported is the leftmost one.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn new(input: &str) -> Lexer {
        Lexer {
            chars: input.chars().collect(),
            pos: 0,
        }
    }

    fn char_at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn text(&self, start: usize, end: usize) -> String {
        self.chars
            .get(start..end)
            .map(|chars| chars.iter().collect())
            .unwrap_or_default()
    }

    fn token(&self, kind: TokenKind, start: usize) -> Token {
        Token {
            kind,
            start,
            text: self.text(start, self.pos),
        }
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position: start + 1,
            token: self.text(start, end),
            message: message.into(),
        }
    }

    fn next_token(&mut self) -> Result<Token, FilterError> {
        while self.char_at(self.pos).is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.char_at(start) else {
            return Ok(Token {
                kind: TokenKind::End,
                start,
                text: "end of input".to_string(),
            });
        };
        let next = self.char_at(start + 1);
        let (kind, width) = match c {
            '\'' | '"' => {
                return match self.read_quoted(c) {
                    Some(text) => Ok(self.token(TokenKind::Text(text), start)),
                    None => Err(self.error(
                        start,
                        self.pos,
                        format!("unterminated string: missing closing {c}"),
                    )),
                };
            }
            '(' => (TokenKind::OpenParen, 1),
            ')' => (TokenKind::CloseParen, 1),
            ',' => (TokenKind::Comma, 1),
            '=' if next == Some('=') => {
                return Err(self.error(
                    start,
                    start + 2,
                    "'==' is not an operator; use '=' to test equality",
                ));
            }
            '=' => (TokenKind::Compare(Op::Eq), 1),
            '!' if next == Some('=') => (TokenKind::Compare(Op::Ne), 2),
            '!' => {
                return Err(self.error(start, start + 1, "unexpected '!'; the not-equal operator is '!='"));
            }
            '>' if next == Some('=') => (TokenKind::Compare(Op::Ge), 2),
            '>' => (TokenKind::Compare(Op::Gt), 1),
            '<' if next == Some('=') => (TokenKind::Compare(Op::Le), 2),
            '<' if next == Some('>') => {
                return Err(self.error(start, start + 2, "'<>' is not an operator; use '!='"));
            }
            '<' => (TokenKind::Compare(Op::Lt), 1),
            '&' => return Err(self.error(start, start + 1, "unexpected '&'; combine conditions with AND")),
            '|' => return Err(self.error(start, start + 1, OR_NOT_SUPPORTED)),
            '`' => {
                return Err(self.error(
                    start,
                    start + 1,
                    "a backquoted key must directly follow its prefix, as in metrics.`my key`",
                ));
            }
            c if is_word_start(c) => return self.word(start),
            c if c.is_ascii_digit() || matches!(c, '.' | '+' | '-') => return self.number(start),
            c => return Err(self.error(start, start + 1, format!("unexpected character '{c}'"))),
        };
        self.pos += width;
        Ok(self.token(kind, start))
    }

    /// Reads a `quote`-delimited string starting at `self.pos`, where a doubled quote stands for
    /// one quote. `None` if the input ends first.
    fn read_quoted(&mut self, quote: char) -> Option<String> {
        self.pos += 1;
        let mut content = String::new();
        while let Some(c) = self.char_at(self.pos) {
            self.pos += 1;
            if c != quote {
                content.push(c);
            } else if self.char_at(self.pos) == Some(quote) {
                content.push(quote);
                self.pos += 1;
            } else {
                return Some(content);
            }
        }
        None
    }

    fn word(&mut self, start: usize) -> Result<Token, FilterError> {
        while self.char_at(self.pos).is_some_and(is_word_continue) {
            self.pos += 1;
        }
        let word = self.text(start, self.pos);
        if let Some(quote @ ('`' | '"')) = self.char_at(self.pos)
            && let Some(prefix) = word.strip_suffix('.')
            && !prefix.contains('.')
        {
            let prefix = prefix.to_string();
            return match self.read_quoted(quote) {
                Some(key) => Ok(self.token(TokenKind::QuotedField { prefix, key }, start)),
                None => Err(self.error(
                    start,
                    self.pos,
                    format!("unterminated key: missing closing {quote}"),
                )),
            };
        }
        Ok(self.token(TokenKind::Word, start))
    }

    /// Reads `[+-] digits [. digits] [e [+-] digits]`; a number running into a word is an error.
    fn number(&mut self, start: usize) -> Result<Token, FilterError> {
        if matches!(self.char_at(self.pos), Some('+' | '-')) {
            self.pos += 1;
        }
        let mut digits = self.skip_digits();
        if self.char_at(self.pos) == Some('.') {
            self.pos += 1;
            digits += self.skip_digits();
        }
        if digits == 0 {
            let text = self.text(start, start + 1);
            return Err(self.error(start, start + 1, format!("unexpected character '{text}'")));
        }
        if matches!(self.char_at(self.pos), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.char_at(self.pos + 1), Some('+' | '-')));
            if self
                .char_at(self.pos + 1 + sign)
                .is_some_and(|c| c.is_ascii_digit())
            {
                self.pos += 1 + sign;
                self.skip_digits();
            }
        }
        if self.char_at(self.pos).is_some_and(is_word_continue) {
            while self.char_at(self.pos).is_some_and(is_word_continue) {
                self.pos += 1;
            }
            return Err(self.error(start, self.pos, "invalid number"));
        }
        match self.text(start, self.pos).parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(self.token(TokenKind::Number(number), start)),
            Ok(_) => Err(self.error(start, self.pos, "number is out of range")),
            Err(_) => Err(self.error(start, self.pos, "invalid number")),
        }
    }

    /// Reads on to the end of the input, or to the first token `stop` accepts, counting the
    /// tokens `counted` accepts; keeps none of them, so a huge remainder costs no memory.
    fn count_rest(&mut self, counted: impl Fn(&Token) -> bool, stop: impl Fn(&Token) -> bool) -> Tally {
        let mut count = 0;
        loop {
            match self.next_token() {
                Ok(token) if matches!(token.kind, TokenKind::End) || stop(&token) => {
                    return Tally {
                        count,
                        complete: true,
                    };
                }
                Ok(token) => count += usize::from(counted(&token)),
                Err(_) => {
                    return Tally {
                        count,
                        complete: false,
                    };
                }
            }
        }
    }

    fn skip_digits(&mut self) -> usize {
        let from = self.pos;
        while self.char_at(self.pos).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - from
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clause(field: Field, op: Op, value: Value) -> Clause {
        Clause { field, op, value }
    }

    fn single(input: &str) -> Clause {
        let filter = parse_filter(input).unwrap_or_else(|error| panic!("{input:?}: {error}"));
        assert_eq!(filter.clauses.len(), 1, "{input:?}");
        filter.clauses.into_iter().next().expect("one clause")
    }

    fn text(value: &str) -> Value {
        Value::Text(value.to_string())
    }

    fn metric(key: &str) -> Field {
        Field::Metric(key.to_string())
    }

    fn param(key: &str) -> Field {
        Field::Param(key.to_string())
    }

    #[track_caller]
    fn assert_error(input: &str, position: usize, token: &str, fragment: &str) {
        match parse_filter(input) {
            Ok(filter) => panic!("{input:?} parsed as {filter:?}"),
            Err(error) => {
                assert_eq!(
                    (error.position, error.token.as_str()),
                    (position, token),
                    "{input:?}: {error}"
                );
                assert!(error.message.contains(fragment), "{input:?}: {error}");
            }
        }
    }

    #[track_caller]
    fn assert_order_by_error(input: &str, position: usize, token: &str, fragment: &str) {
        match parse_order_by(input) {
            Ok(order_by) => panic!("{input:?} parsed as {order_by:?}"),
            Err(error) => {
                assert_eq!(
                    (error.position, error.token.as_str()),
                    (position, token),
                    "{input:?}: {error}"
                );
                assert!(error.message.contains(fragment), "{input:?}: {error}");
            }
        }
    }

    #[test]
    fn filter_empty_and_blank_inputs_are_the_empty_filter() {
        for input in ["", "   ", "\t\n "] {
            assert_eq!(parse_filter(input), Ok(Filter { clauses: vec![] }), "{input:?}");
        }
    }

    #[test]
    fn filter_parses_the_mlflow_example() {
        let filter = parse_filter("metrics.accuracy > 0.9 and params.solver = 'lbfgs'").expect("valid");
        assert_eq!(
            filter.clauses,
            vec![
                clause(metric("accuracy"), Op::Gt, Value::Number(0.9)),
                clause(param("solver"), Op::Eq, text("lbfgs")),
            ]
        );
        assert_eq!(
            filter.to_string(),
            "metrics.accuracy > 0.9 AND params.solver = 'lbfgs'"
        );
    }

    #[test]
    fn filter_metrics_take_every_comparison() {
        for (op_text, op) in [
            ("=", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            (">=", Op::Ge),
            ("<", Op::Lt),
            ("<=", Op::Le),
        ] {
            let input = format!("metrics.loss {op_text} 1");
            assert_eq!(
                single(&input),
                clause(metric("loss"), op, Value::Number(1.0)),
                "{input}"
            );
        }
    }

    #[test]
    fn filter_params_and_tags_take_every_string_operator() {
        for (op_text, op) in [
            ("=", Op::Eq),
            ("!=", Op::Ne),
            ("LIKE", Op::Like),
            ("ILIKE", Op::ILike),
        ] {
            let input = format!("params.model {op_text} 'x%'");
            assert_eq!(single(&input), clause(param("model"), op, text("x%")), "{input}");
            let input = format!("tags.team {op_text} 'x%'");
            assert_eq!(
                single(&input),
                clause(Field::Tag("team".into()), op, text("x%")),
                "{input}"
            );
        }
        let list = Value::List(vec!["a".into(), "b".into()]);
        assert_eq!(
            single("params.p IN ('a', 'b')"),
            clause(param("p"), Op::In, list.clone())
        );
        assert_eq!(
            single("tags.t NOT IN ('a','b')"),
            clause(Field::Tag("t".into()), Op::NotIn, list)
        );
    }

    #[test]
    fn filter_accepts_every_attribute_and_prefix_alias() {
        for prefix in ["attributes", "attribute", "attr", "run", "ATTRIBUTES", "Run"] {
            assert_eq!(
                single(&format!("{prefix}.run_id = 'abc'")),
                clause(Field::Attribute(Attribute::RunId), Op::Eq, text("abc"))
            );
        }
        assert_eq!(
            single("attributes.run_name LIKE 'exp-%'").field,
            Field::Attribute(Attribute::RunName)
        );
        assert_eq!(
            single("attributes.user_id != 'ann'").field,
            Field::Attribute(Attribute::UserId)
        );
        assert_eq!(
            single("attributes.start_time >= 1700000000000"),
            clause(
                Field::Attribute(Attribute::StartTime),
                Op::Ge,
                Value::Number(1.7e12)
            )
        );
        assert_eq!(
            single("attributes.END_TIME < 5").field,
            Field::Attribute(Attribute::EndTime)
        );
        for (prefix, field) in [
            ("metric", metric("k")),
            ("METRICS", metric("k")),
            ("param", param("k")),
            ("Params", param("k")),
            ("tag", Field::Tag("k".into())),
            ("TAGS", Field::Tag("k".into())),
        ] {
            let value = if field.is_numeric() { "1" } else { "'v'" };
            assert_eq!(single(&format!("{prefix}.k = {value}")).field, field, "{prefix}");
        }
    }

    #[test]
    fn filter_status_is_checked_and_normalised() {
        assert_eq!(
            single("attributes.status = 'running'"),
            clause(Field::Attribute(Attribute::Status), Op::Eq, text("RUNNING"))
        );
        assert_eq!(
            single("attributes.status IN ('Failed', 'KILLED', 'scheduled', 'finished')").value,
            Value::List(vec![
                "FAILED".into(),
                "KILLED".into(),
                "SCHEDULED".into(),
                "FINISHED".into()
            ])
        );
        // A LIKE pattern is not a status, so it is kept as written.
        assert_eq!(single("attributes.status LIKE 'RUN%'").value, text("RUN%"));
    }

    #[test]
    fn filter_keywords_are_case_insensitive() {
        let filter = parse_filter(
            "params.a like 'x' AnD params.b iLiKe 'y' and params.c Not In ('z') AND params.d in ('w')",
        )
        .expect("valid");
        let ops: Vec<Op> = filter.clauses.iter().map(|clause| clause.op).collect();
        assert_eq!(ops, vec![Op::Like, Op::ILike, Op::NotIn, Op::In]);
    }

    #[test]
    fn filter_keys_may_be_bare_or_quoted() {
        assert_eq!(
            single("metrics.val-loss/epoch:3.x > 1").field,
            metric("val-loss/epoch:3.x")
        );
        assert_eq!(single("metrics.`my metric` > 1").field, metric("my metric"));
        assert_eq!(
            single("tags.`mlflow.source.name` = 'x'").field,
            Field::Tag("mlflow.source.name".into())
        );
        assert_eq!(single("params.\"model class\" = 'x'").field, param("model class"));
        assert_eq!(single("params.`a``b` = 'x'").field, param("a`b"));
        assert_eq!(single("params.ключ = 'x'").field, param("ключ"));
        assert_eq!(
            single("attributes.`status` = 'FAILED'").field,
            Field::Attribute(Attribute::Status)
        );
    }

    #[test]
    fn filter_numbers_in_every_form() {
        for (input, expected) in [
            ("0", 0.0),
            ("42", 42.0),
            ("-3", -3.0),
            ("+3", 3.0),
            ("0.25", 0.25),
            (".5", 0.5),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1.5E-3", 0.0015),
            ("-2e+2", -200.0),
        ] {
            assert_eq!(
                single(&format!("metrics.m = {input}")).value,
                Value::Number(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn filter_strings_in_both_quotes_with_escapes() {
        assert_eq!(single("params.p = 'it''s'").value, text("it's"));
        assert_eq!(single("params.p = \"say \"\"hi\"\"\"").value, text("say \"hi\""));
        assert_eq!(single("params.p = \"it's\"").value, text("it's"));
        assert_eq!(single("params.p = ''").value, text(""));
        assert_eq!(single("params.p = 'a and b or c'").value, text("a and b or c"));
    }

    #[test]
    fn filter_needs_no_spaces_around_symbols() {
        assert_eq!(
            parse_filter("metrics.a>=-1 and params.b!='x'and params.c IN('y','z')")
                .expect("valid")
                .clauses,
            vec![
                clause(metric("a"), Op::Ge, Value::Number(-1.0)),
                clause(param("b"), Op::Ne, text("x")),
                clause(param("c"), Op::In, Value::List(vec!["y".into(), "z".into()])),
            ]
        );
    }

    #[test]
    fn filter_display_is_canonical() {
        let filter = parse_filter(
            "metric.`a b` <= 1e-7 and param.x not in ('it''s', \"q\") and attr.status = 'failed' and tag.t ilike '%'",
        )
        .expect("valid");
        assert_eq!(
            filter.to_string(),
            "metrics.`a b` <= 1e-7 AND params.x NOT IN ('it''s', 'q') AND attributes.status = 'FAILED' \
             AND tags.t ILIKE '%'"
        );
        assert_eq!(parse_filter(&filter.to_string()), Ok(filter));
    }

    #[test]
    fn filter_error_display_names_position_and_token() {
        let error = parse_filter("metrics.a > 1 or metrics.b > 2").expect_err("OR is rejected");
        assert_eq!(
            error.to_string(),
            "invalid filter at character 15 near 'or': OR is not supported; combine conditions with AND"
        );
    }

    #[test]
    fn filter_rejects_or_at_the_or_token() {
        assert_error("metrics.a > 1 OR metrics.b > 2", 15, "OR", "OR is not supported");
        assert_error("params.a = 'x' or", 16, "or", "combine conditions with AND");
        assert_error("params.a = 'x' || params.b = 'y'", 16, "|", "OR is not supported");
    }

    #[test]
    fn filter_rejects_unterminated_strings_and_keys() {
        assert_error("params.a = 'abc", 12, "'abc", "unterminated string");
        assert_error("params.a = \"it''s", 12, "\"it''s", "unterminated string");
        assert_error("params.`a b = 'x'", 1, "params.`a b = 'x'", "unterminated key");
    }

    #[test]
    fn filter_rejects_missing_values_at_end_of_input() {
        assert_error("metrics.a >", 12, "end of input", "expected a number");
        assert_error("params.a =", 11, "end of input", "expected a quoted string");
        assert_error("params.a IN", 12, "end of input", "parenthesised list");
        assert_error("metrics.a > 1 and", 18, "end of input", "expected a field");
        assert_error("metrics.a", 10, "end of input", "expected an operator");
    }

    #[test]
    fn filter_rejects_trailing_garbage_and_missing_operators() {
        assert_error("metrics.a > 1 params.b = 'x'", 15, "params.b", "expected AND");
        assert_error("metrics.a > 1 )", 15, ")", "expected AND");
        assert_error("metrics.a 1", 11, "1", "expected an operator");
        assert_error("params.a is 'x'", 10, "is", "expected an operator");
        assert_error("params.a not like 'x'", 14, "like", "expected IN after NOT");
        assert_error("params.a == 'x'", 10, "==", "use '='");
        assert_error("params.a <> 'x'", 10, "<>", "use '!='");
        assert_error("params.a ! 'x'", 10, "!", "'!='");
        assert_error("params.a = 'x' && params.b = 'y'", 16, "&", "AND");
        assert_error("params.a = 'x' # note", 16, "#", "unexpected character '#'");
    }

    #[test]
    fn filter_rejects_bad_fields() {
        let allowed = "metrics, params, tags or attributes";
        assert_error("foo.bar = 1", 1, "foo.bar", allowed);
        assert_error(
            "metrics.a > 1 and datasets.`x` = 'y'",
            19,
            "datasets.`x`",
            allowed,
        );
        assert_error("accuracy > 1", 1, "accuracy", "expected a field");
        assert_error("and metrics.a > 1", 1, "and", "expected a field");
        assert_error("'x' = 1", 1, "'x'", "expected a field");
        assert_error("metrics. > 1", 1, "metrics.", "missing key after 'metrics.'");
        assert_error("metrics.`` > 1", 1, "metrics.``", "missing key");
        assert_error(
            "attributes.color = 'red'",
            1,
            "attributes.color",
            "unknown attribute 'color'; use one of run_id, run_name, status, user_id, start_time, end_time",
        );
        assert_error("metrics.a`b` > 1", 10, "`", "backquoted key");
    }

    #[test]
    fn filter_rejects_operators_the_field_does_not_support() {
        assert_error(
            "metrics.a LIKE '1'",
            11,
            "LIKE",
            "allowed operators: =, !=, >, >=, <, <=",
        );
        assert_error(
            "metrics.a not in ('1')",
            11,
            "not in",
            "not supported for metrics",
        );
        assert_error(
            "params.a > 'x'",
            10,
            ">",
            "allowed operators: =, !=, LIKE, ILIKE, IN, NOT IN",
        );
        assert_error("tags.a <= 'x'", 8, "<=", "not supported for tags");
        assert_error("attributes.run_name >= 'x'", 21, ">=", "attribute run_name");
        assert_error(
            "attributes.start_time ILIKE '1%'",
            23,
            "ILIKE",
            "attribute start_time",
        );
    }

    #[test]
    fn filter_rejects_values_of_the_wrong_type() {
        assert_error(
            "metrics.a = 'x'",
            13,
            "'x'",
            "expected a number, as required for metrics",
        );
        assert_error(
            "attributes.end_time > '5'",
            23,
            "'5'",
            "milliseconds since the epoch",
        );
        assert_error(
            "params.a = 1",
            12,
            "1",
            "expected a quoted string, as required for params",
        );
        assert_error("params.solver = lbfgs", 17, "lbfgs", "write 'lbfgs'");
        assert_error("tags.a = ('x')", 10, "(", "only allowed after IN or NOT IN");
        assert_error("params.a IN 'x'", 13, "'x'", "such as ('a', 'b')");
        assert_error(
            "attributes.status = 'DONE'",
            21,
            "'DONE'",
            "RUNNING, FINISHED, FAILED, KILLED, SCHEDULED",
        );
        assert_error(
            "attributes.status IN ('FAILED', 'done')",
            33,
            "'done'",
            "unknown run status 'done'",
        );
    }

    #[test]
    fn filter_rejects_malformed_lists() {
        assert_error("params.a IN ()", 14, ")", "at least one string");
        assert_error(
            "params.a IN ('x',)",
            18,
            ")",
            "expected a quoted string in the list",
        );
        assert_error("params.a IN ('x', 1)", 19, "1", "in the list");
        assert_error("params.a IN ('x' 'y')", 18, "'y'", "expected ',' or ')'");
        assert_error("params.a IN ('x'", 17, "end of input", "expected ',' or ')'");
    }

    #[test]
    fn filter_rejects_malformed_numbers() {
        assert_error("metrics.a > 1.2.3", 13, "1.2.3", "invalid number");
        assert_error("metrics.a > 1e", 13, "1e", "invalid number");
        assert_error("metrics.a > 1and metrics.b > 2", 13, "1and", "invalid number");
        assert_error("metrics.a > 1e400", 13, "1e400", "out of range");
        assert_error("metrics.a > -", 13, "-", "unexpected character '-'");
        assert_error("metrics.a > inf", 13, "inf", "expected a number");
    }

    #[test]
    fn filter_error_positions_count_characters_not_bytes() {
        assert_error("params.ключ = 'значение' or", 26, "or", "OR is not supported");
    }

    #[test]
    fn filter_reports_the_leftmost_error() {
        assert_error("metrics.a 1 'unterminated", 11, "1", "expected an operator");
    }

    #[test]
    fn filter_order_by_parses_direction() {
        assert_eq!(
            parse_order_by("metrics.acc"),
            Ok(OrderBy {
                field: metric("acc"),
                descending: false
            })
        );
        assert_eq!(
            parse_order_by(" metrics.acc DESC "),
            Ok(OrderBy {
                field: metric("acc"),
                descending: true
            })
        );
        assert_eq!(
            parse_order_by("params.p asc"),
            Ok(OrderBy {
                field: param("p"),
                descending: false
            })
        );
        assert_eq!(
            parse_order_by("attributes.start_time desc"),
            Ok(OrderBy {
                field: Field::Attribute(Attribute::StartTime),
                descending: true
            })
        );
        assert_eq!(
            parse_order_by("tags.`my tag` Desc").map(|order_by| order_by.to_string()),
            Ok("tags.`my tag` DESC".to_string())
        );
    }

    #[test]
    fn filter_order_by_rejects_bad_input() {
        assert_order_by_error("", 1, "end of input", "expected a field");
        assert_order_by_error("acc DESC", 1, "acc", "expected a field");
        assert_order_by_error("metrics.acc sideways", 13, "sideways", "expected ASC, DESC");
        assert_order_by_error(
            "metrics.acc DESC, params.p",
            17,
            ",",
            "expected the end of the order-by",
        );
        assert_order_by_error("foo.acc", 1, "foo.acc", "metrics, params, tags or attributes");
    }

    #[test]
    fn filter_field_parse_accepts_exactly_one_field() {
        assert_eq!(Field::parse("metrics.acc"), Some(metric("acc")));
        assert_eq!(
            Field::parse(" run.status "),
            Some(Field::Attribute(Attribute::Status))
        );
        assert_eq!(Field::parse("params.`a b`"), Some(param("a b")));
        assert_eq!(Field::parse("metrics.acc DESC"), None);
        assert_eq!(Field::parse("attributes.nope"), None);
        assert_eq!(Field::parse(""), None);
    }

    /// `count` conditions `metrics.a > 1` joined with AND; each is 18 characters with its AND.
    fn conditions(count: usize) -> String {
        vec!["metrics.a > 1"; count].join(" and ")
    }

    /// `params.p IN ('0', '1', …)` with `count` strings.
    fn list(count: usize) -> String {
        let items: Vec<String> = (0..count).map(|i| format!("'{i}'")).collect();
        format!("params.p IN ({})", items.join(", "))
    }

    #[test]
    fn filter_length_is_limited_in_characters() {
        // Two bytes a character: only a count of characters keeps this within the limit.
        let prefix = "params.p = '";
        let fill = MAX_FILTER_CHARS - prefix.len() - 1;
        let at_limit = format!("{prefix}{}'", "é".repeat(fill));
        assert_eq!(at_limit.chars().count(), MAX_FILTER_CHARS);
        assert_eq!(single(&at_limit).value, text(&"é".repeat(fill)));
        assert_eq!(
            parse_filter(&format!("{at_limit} ")),
            Err(FilterError {
                position: MAX_FILTER_CHARS + 1,
                token: " ".into(),
                message: "a filter may be at most 100000 characters long; this one has 100001".into(),
            })
        );
        let long_key = format!("metrics.{}", "k".repeat(MAX_FILTER_CHARS - "metrics.".len()));
        assert!(parse_order_by(&long_key).is_ok());
        let error = parse_order_by(&format!("{long_key} DESC")).expect_err("too long");
        assert_eq!(
            error.message,
            "an order-by clause may be at most 100000 characters long; this one has 100005"
        );
    }

    #[test]
    fn filter_conditions_are_limited() {
        let at_limit = parse_filter(&conditions(MAX_FILTER_CONDITIONS)).expect("at the limit");
        assert_eq!(at_limit.clauses.len(), MAX_FILTER_CONDITIONS);
        assert_error(
            &conditions(MAX_FILTER_CONDITIONS + 1),
            18 * MAX_FILTER_CONDITIONS + 1,
            "metrics.a",
            "a filter may have at most 100 conditions; this one has 101",
        );
        assert_error(
            &conditions(5_000),
            1801,
            "metrics.a",
            "at most 100 conditions; this one has 5000",
        );
        // Past a malformed token (here the 201st condition) the count is a lower bound.
        assert_error(
            &format!("{} and 'oops", conditions(200)),
            1801,
            "metrics.a",
            "this one has at least 201",
        );
    }

    #[test]
    fn filter_in_lists_are_limited() {
        let at_limit = single(&list(MAX_IN_LIST_ITEMS));
        assert!(matches!(at_limit.value, Value::List(items) if items.len() == MAX_IN_LIST_ITEMS));
        let past = list(MAX_IN_LIST_ITEMS + 1);
        let position = past.find("'1000'").expect("the 1001st string") + 1;
        assert_error(
            &past,
            position,
            "'1000'",
            "the list after IN may hold at most 1000 strings; this one has 1001",
        );
        let not_in = format!("{} and metrics.a > 1", list(5_000).replace(" IN ", " NOT IN "));
        let error = parse_filter(&not_in).expect_err("too many strings");
        assert!(
            error
                .message
                .contains("the list after NOT IN may hold at most 1000 strings; this one has 5000"),
            "{error}"
        );
    }

    #[test]
    fn filter_values_are_limited_in_all() {
        let full_lists = vec![list(MAX_IN_LIST_ITEMS); MAX_FILTER_VALUES / MAX_IN_LIST_ITEMS].join(" and ");
        let at_limit = parse_filter(&full_lists).expect("at the limit");
        let values: usize = at_limit.clauses.iter().map(|clause| clause.value.count()).sum();
        assert_eq!(values, MAX_FILTER_VALUES);
        let past = format!("{full_lists} and metrics.a > 1 and params.q = 'x'");
        let position = past.find("metrics.a").expect("the last value's condition") + 1;
        assert_error(
            &past,
            position,
            "metrics.a",
            "a filter may compare with at most 10000 values in all; this one has 10002",
        );
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9_./:-]{1,12}", "[a-z `'\".()=<>,!]{1,12}", "(?s).{1,8}",]
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9 %_'\"`]{0,10}", "(?s).{0,8}"]
    }

    fn number() -> impl Strategy<Value = f64> {
        use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        prop_oneof![
            (-10_000i64..10_000).prop_map(|n| n as f64),
            POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
        ]
    }

    fn status() -> impl Strategy<Value = String> {
        prop::sample::select(RUN_STATUSES.to_vec()).prop_map(str::to_string)
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            key().prop_map(Field::Metric),
            key().prop_map(Field::Param),
            key().prop_map(Field::Tag),
            prop::sample::select(Attribute::ALL.to_vec()).prop_map(Field::Attribute),
        ]
    }

    fn value_for(field: &Field, op: Op) -> BoxedStrategy<Value> {
        let is_status = *field == Field::Attribute(Attribute::Status);
        match op {
            Op::Gt | Op::Ge | Op::Lt | Op::Le => number().prop_map(Value::Number).boxed(),
            Op::Eq | Op::Ne if field.is_numeric() => number().prop_map(Value::Number).boxed(),
            Op::Eq | Op::Ne if is_status => status().prop_map(Value::Text).boxed(),
            Op::Eq | Op::Ne | Op::Like | Op::ILike => string().prop_map(Value::Text).boxed(),
            Op::In | Op::NotIn if is_status => prop::collection::vec(status(), 1..4)
                .prop_map(Value::List)
                .boxed(),
            Op::In | Op::NotIn => prop::collection::vec(string(), 1..4)
                .prop_map(Value::List)
                .boxed(),
        }
    }

    fn any_clause() -> impl Strategy<Value = Clause> {
        field()
            .prop_flat_map(|field| {
                let op = prop::sample::select(field.allowed_ops().to_vec());
                (Just(field), op)
            })
            .prop_flat_map(|(field, op)| {
                let value = value_for(&field, op);
                (Just(field), Just(op), value)
            })
            .prop_map(|(field, op, value)| Clause { field, op, value })
    }

    /// Fragments that make up mostly-plausible filters, to reach deep into the parser.
    fn fragment_soup() -> impl Strategy<Value = String> {
        let fragments = vec![
            "metrics.a",
            "params.b",
            "tags.`c d`",
            "attributes.status",
            "attr.start_time",
            " ",
            " ",
            "=",
            "!=",
            ">",
            "<=",
            "LIKE",
            "in",
            "not",
            "and",
            "or",
            "(",
            ")",
            ",",
            "'x'",
            "'RUNNING'",
            "\"y",
            "1.5",
            "-2",
            "1e",
            "`",
            "é",
            "foo.bar",
        ];
        prop::collection::vec(prop::sample::select(fragments), 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn filter_display_round_trips(clauses in prop::collection::vec(any_clause(), 0..5)) {
            let filter = Filter { clauses };
            let text = filter.to_string();
            prop_assert_eq!(parse_filter(&text), Ok(filter), "text: {}", text);
        }

        #[test]
        fn filter_order_by_display_round_trips(field in field(), descending in any::<bool>()) {
            let order_by = OrderBy { field, descending };
            let text = order_by.to_string();
            prop_assert_eq!(parse_order_by(&text), Ok(order_by), "text: {}", text);
        }

        #[test]
        fn filter_any_input_parses_or_points_inside_it(
            input in prop_oneof![fragment_soup(), "(?s).{0,40}"]
        ) {
            match parse_filter(&input) {
                Ok(filter) => prop_assert_eq!(parse_filter(&filter.to_string()), Ok(filter)),
                Err(error) => {
                    let end = input.chars().count() + 1;
                    prop_assert!((1..=end).contains(&error.position), "{:?}: {}", input, error);
                    prop_assert!(!error.token.is_empty(), "{:?}: {}", input, error);
                }
            }
        }
    }
}
