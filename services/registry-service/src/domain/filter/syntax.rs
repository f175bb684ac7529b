//! The parsed forms of filters and order-by clauses, and the canonical text they print as.

use std::fmt;

pub(super) const NUMERIC_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le];
pub(super) const TEXT_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Like, Op::ILike, Op::In, Op::NotIn];

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

impl Field {
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
    pub(super) fn kind_name(&self) -> String {
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

pub(super) fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(super) fn is_word_continue(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')
}
