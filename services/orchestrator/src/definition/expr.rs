//! The expression language of `when:` conditions and `{{ }}` templates: parsed once at
//! validation, evaluated later against a run's values (see `eval`).
//!
//! ```text
//! expr       := or
//! or         := and ("or" and)*
//! and        := not ("and" not)*
//! not        := "not" not | comparison
//! comparison := primary (("==" | "!=" | ">" | ">=" | "<" | "<=") primary)?
//! primary    := number | string | "true" | "false" | reference | "(" expr ")"
//! reference  := "params." NAME | "tasks." ID ".outputs." KEY ("." FIELD)* | "run.id" | "run.logical_date"
//! ```
//! Strings are quoted with `'` or `"` (escapes `\\`, `\'`, `\"`, `\n`, `\t`). Comparisons do
//! not chain: `a < b < c` is refused.

use std::fmt;

/// A parsed expression with the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub source: String,
    pub root: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    Reference(Reference),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(CompareOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    String(String),
    Bool(bool),
}

/// A value the run supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Param(String),
    /// `tasks.ID.outputs.KEY`, with `path` reaching into a JSON object output.
    TaskOutput {
        task: String,
        key: String,
        path: Vec<String>,
    },
    RunId,
    RunLogicalDate,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Param(name) => write!(f, "params.{name}"),
            Reference::TaskOutput { task, key, path } => {
                write!(f, "tasks.{task}.outputs.{key}")?;
                path.iter().try_for_each(|field| write!(f, ".{field}"))
            }
            Reference::RunId => f.write_str("run.id"),
            Reference::RunLogicalDate => f.write_str("run.logical_date"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }
}

/// Why an expression does not parse, and where (1-based character column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl Expression {
    pub fn parse(source: &str) -> Result<Expression, ExprError> {
        let tokens = lex(source)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            end: source.chars().count() + 1,
        };
        let root = parser.or()?;
        if let Some((token, column)) = parser.tokens.get(parser.at) {
            return Err(error(
                *column,
                format!("unexpected {token} after a complete expression"),
            ));
        }
        Ok(Expression {
            source: source.to_owned(),
            root,
        })
    }

    /// Every reference, in the order written.
    pub fn references(&self) -> Vec<&Reference> {
        fn walk<'e>(expr: &'e Expr, found: &mut Vec<&'e Reference>) {
            match expr {
                Expr::Literal(_) => {}
                Expr::Reference(reference) => found.push(reference),
                Expr::Not(inner) => walk(inner, found),
                Expr::And(left, right) | Expr::Or(left, right) | Expr::Compare(_, left, right) => {
                    walk(left, found);
                    walk(right, found);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.root, &mut found);
        found
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(Literal),
    String(String),
    Word(String),
    Op(CompareOp),
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(Literal::Int(n)) => write!(f, "'{n}'"),
            Token::Number(Literal::Float(n)) => write!(f, "'{n}'"),
            Token::Number(Literal::String(_) | Literal::Bool(_)) | Token::String(_) => {
                f.write_str("a string")
            }
            Token::Word(word) => write!(f, "'{word}'"),
            Token::Op(op) => write!(f, "'{}'", op.symbol()),
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
        }
    }
}

fn error(column: usize, message: impl Into<String>) -> ExprError {
    ExprError {
        column,
        message: message.into(),
    }
}

fn lex(source: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                tokens.push((Token::Open, column));
                i += 1;
            }
            ')' => {
                tokens.push((Token::Close, column));
                i += 1;
            }
            '=' | '!' | '<' | '>' => {
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (CompareOp::Eq, 2),
                    ('!', Some('=')) => (CompareOp::Ne, 2),
                    ('>', Some('=')) => (CompareOp::Ge, 2),
                    ('<', Some('=')) => (CompareOp::Le, 2),
                    ('>', _) => (CompareOp::Gt, 1),
                    ('<', _) => (CompareOp::Lt, 1),
                    ('=', _) => return Err(error(column, "'=' is not an operator; compare with '=='")),
                    (_, _) => return Err(error(column, "'!' is not an operator; use 'not' or '!='")),
                };
                tokens.push((Token::Op(op), column));
                i += len;
            }
            '\'' | '"' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(error(column, "this string is never closed")),
                        Some(&end) if end == c => break,
                        Some('\\') => {
                            let escaped = match chars.get(j + 1) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some(&same @ ('\\' | '\'' | '"')) => same,
                                Some(_) | None => {
                                    return Err(error(
                                        j + 1,
                                        "unknown escape; use \\\\, \\', \\\", \\n or \\t",
                                    ));
                                }
                            };
                            text.push(escaped);
                            j += 2;
                        }
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                tokens.push((Token::String(text), column));
                i = j + 1;
            }
            '-' | '0'..='9' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let literal = if text.contains('.') {
                    text.parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .map(Literal::Float)
                } else {
                    text.parse::<i64>().ok().map(Literal::Int)
                };
                let literal = literal.ok_or_else(|| error(column, format!("'{text}' is not a number")))?;
                tokens.push((Token::Number(literal), column));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '-' | '.')) {
                    j += 1;
                }
                tokens.push((Token::Word(chars[i..j].iter().collect()), column));
                i = j;
            }
            other => return Err(error(column, format!("unexpected character '{other}'"))),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    /// The column just past the end, for "expected … at the end".
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(token, _)| token)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(_, column)| *column)
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w == word);
        if found {
            self.at += 1;
        }
        found
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.primary()?;
        let Some(Token::Op(op)) = self.peek().cloned() else {
            return Ok(left);
        };
        self.at += 1;
        let right = self.primary()?;
        if let Some(Token::Op(_)) = self.peek() {
            return Err(error(
                self.column(),
                "comparisons do not chain; join them with 'and'",
            ));
        }
        Ok(Expr::Compare(op, Box::new(left), Box::new(right)))
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let column = self.column();
        let Some((token, _)) = self.tokens.get(self.at).cloned() else {
            return Err(error(column, "expected a value at the end of the expression"));
        };
        self.at += 1;
        match token {
            Token::Number(literal) => Ok(Expr::Literal(literal)),
            Token::String(text) => Ok(Expr::Literal(Literal::String(text))),
            Token::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(error(
                        self.column(),
                        "expected ')' to close the '(' at column ".to_owned() + &column.to_string(),
                    ));
                }
                self.at += 1;
                Ok(inner)
            }
            Token::Word(word) => match word.as_str() {
                "true" => Ok(Expr::Literal(Literal::Bool(true))),
                "false" => Ok(Expr::Literal(Literal::Bool(false))),
                "and" | "or" | "not" => Err(error(column, format!("expected a value, found '{word}'"))),
                _ => reference(&word)
                    .map(Expr::Reference)
                    .map_err(|message| error(column, message)),
            },
            Token::Op(_) | Token::Close => Err(error(column, format!("expected a value, found {token}"))),
        }
    }
}

fn reference(word: &str) -> Result<Reference, String> {
    let parts: Vec<&str> = word.split('.').collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(format!("'{word}' has an empty name between dots"));
    }
    match parts.as_slice() {
        ["params", name] => Ok(Reference::Param((*name).to_owned())),
        ["params", ..] => Err(format!("'{word}': write a parameter as params.NAME")),
        ["run", "id"] => Ok(Reference::RunId),
        ["run", "logical_date"] => Ok(Reference::RunLogicalDate),
        ["run", ..] => Err(format!("'{word}': a run offers run.id and run.logical_date")),
        ["tasks", task, "outputs", key, path @ ..] => Ok(Reference::TaskOutput {
            task: (*task).to_owned(),
            key: (*key).to_owned(),
            path: path.iter().map(|field| (*field).to_owned()).collect(),
        }),
        ["tasks", ..] => Err(format!("'{word}': write a task's output as tasks.ID.outputs.KEY")),
        [first, ..] => Err(format!(
            "unknown name '{first}': a value is a number, a quoted string, true, false, params.NAME, tasks.ID.outputs.KEY, run.id or run.logical_date"
        )),
        [] => Err(format!("'{word}' is not a value")),
    }
}
