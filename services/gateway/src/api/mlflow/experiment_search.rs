//! `experiments/search` in the gateway: the registry lists a project's experiments, and this
//! module applies MLflow's experiment filter (`name = 'e'`, `name LIKE 'churn%'`,
//! `tags.team = 'x'`, `creation_time > 1700000000000`, joined by AND), its order-by clauses and
//! its offset page tokens (base64 of `{"offset": N}`, as MLflow's own server issues them).

use std::cmp::Ordering;

use base64::Engine;

use super::entities::Experiment;
use super::error::MlflowError;

/// What a condition compares.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Name,
    CreationTime,
    LastUpdateTime,
    RunId,
    VersionNumber,
    SourcePath,
    Tag(String),
}

/// What a filter searches: experiments and registered models have names, times and tags;
/// model versions names, run ids, version numbers and tags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Subject {
    Experiments,
    ModelVersions,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Number(i64),
    /// The quoted strings of `IN ('a', 'b')`, never empty.
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    field: Field,
    op: Op,
    value: Value,
}

/// A parsed experiment filter: every condition must hold.
#[derive(Debug, Default)]
pub struct ExperimentFilter(Vec<Condition>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(i64),
    Compare(&'static str),
    /// `(`, `,` or `)` of a list.
    Punct(char),
}

fn tokens(input: &str) -> Result<Vec<Token>, MlflowError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..].iter().position(|&d| d == c).ok_or_else(|| {
                MlflowError::invalid(format!("Invalid filter '{input}': unterminated string"))
            })?;
            out.push(Token::Text(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c == '`' {
            // A quoted key, as in tags.`my key`: part of the word before it.
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '`')
                .ok_or_else(|| MlflowError::invalid(format!("Invalid filter '{input}': unterminated `")))?;
            let key: String = chars[i + 1..i + 1 + end].iter().collect();
            match out.last_mut() {
                Some(Token::Word(word)) if word.ends_with('.') => word.push_str(&key),
                _ => out.push(Token::Word(key)),
            }
            i += end + 2;
        } else if matches!(c, '(' | ',' | ')') {
            out.push(Token::Punct(c));
            i += 1;
        } else if matches!(c, '=' | '!' | '<' | '>') {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = match two.as_str() {
                "!=" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ if c == '=' => "=",
                _ if c == '<' => "<",
                _ if c == '>' => ">",
                _ => {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': unexpected '{c}'"
                    )));
                }
            };
            out.push(Token::Compare(op));
            i += op.len();
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let number = text.parse().map_err(|_| {
                MlflowError::invalid(format!("Invalid filter '{input}': bad number '{text}'"))
            })?;
            out.push(Token::Number(number));
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(
                    chars[i],
                    '=' | '!' | '<' | '>' | '\'' | '"' | '`' | '(' | ',' | ')'
                )
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        }
    }
    Ok(out)
}

fn field_of(word: &str, subject: Subject) -> Result<Field, MlflowError> {
    let (prefix, key) = word.split_once('.').unwrap_or(("attributes", word));
    let names = match subject {
        Subject::Experiments => "name, creation_time, last_update_time or tags.<key>",
        Subject::ModelVersions => "name, run_id, version_number, source_path or tags.<key>",
    };
    match (prefix.to_ascii_lowercase().as_str(), key, subject) {
        ("tags" | "tag", _, _) if !key.is_empty() => Ok(Field::Tag(key.to_owned())),
        ("attributes" | "attribute", "name", _) => Ok(Field::Name),
        ("attributes" | "attribute", "creation_time", Subject::Experiments) => Ok(Field::CreationTime),
        ("attributes" | "attribute", "last_update_time", Subject::Experiments) => Ok(Field::LastUpdateTime),
        ("attributes" | "attribute", "run_id", Subject::ModelVersions) => Ok(Field::RunId),
        ("attributes" | "attribute", "version_number", Subject::ModelVersions) => Ok(Field::VersionNumber),
        ("attributes" | "attribute", "source_path", Subject::ModelVersions) => Ok(Field::SourcePath),
        ("attributes" | "attribute", _, _) => Err(MlflowError::invalid(format!(
            "Invalid attribute key '{key}' in this filter; use {names}"
        ))),
        _ => Err(MlflowError::invalid(format!(
            "Invalid entity '{word}' in this filter; use {names}"
        ))),
    }
}

/// The list after IN: `('a', 'b', …)`, and the tokens after it.
fn list<'t>(input: &str, tokens: &'t [Token]) -> Result<(Value, &'t [Token]), MlflowError> {
    let malformed = || {
        MlflowError::invalid(format!(
            "Invalid filter '{input}': IN takes a list of quoted strings, as ('a', 'b')"
        ))
    };
    let [Token::Punct('('), after_open @ ..] = tokens else {
        return Err(malformed());
    };
    let mut rest = after_open;
    let mut items = Vec::new();
    loop {
        let [Token::Text(item), Token::Punct(next), more @ ..] = rest else {
            return Err(malformed());
        };
        items.push(item.clone());
        rest = more;
        match next {
            ',' => {}
            ')' => return Ok((Value::List(items), rest)),
            _ => return Err(malformed()),
        }
    }
}

impl ExperimentFilter {
    /// Parses MLflow's experiment filter; empty is no condition.
    pub fn parse(input: &str) -> Result<ExperimentFilter, MlflowError> {
        ExperimentFilter::parse_for(input, Subject::Experiments)
    }

    /// Parses a filter over `subject`'s fields.
    pub fn parse_for(input: &str, subject: Subject) -> Result<ExperimentFilter, MlflowError> {
        let tokens = tokens(input)?;
        let mut conditions = Vec::new();
        let mut rest = tokens.as_slice();
        while !rest.is_empty() {
            let [Token::Word(word), after_field @ ..] = rest else {
                return Err(MlflowError::invalid(format!(
                    "Invalid filter '{input}': expected <field> <operator> <value>"
                )));
            };
            let field = field_of(word, subject)?;
            let (op, after_op) = match after_field {
                [Token::Compare("="), more @ ..] => (Op::Eq, more),
                [Token::Compare("!="), more @ ..] => (Op::Ne, more),
                [Token::Compare("<"), more @ ..] => (Op::Lt, more),
                [Token::Compare("<="), more @ ..] => (Op::Le, more),
                [Token::Compare(">"), more @ ..] => (Op::Gt, more),
                [Token::Compare(">="), more @ ..] => (Op::Ge, more),
                [Token::Word(w), more @ ..] if w.eq_ignore_ascii_case("like") => (Op::Like, more),
                [Token::Word(w), more @ ..] if w.eq_ignore_ascii_case("ilike") => (Op::ILike, more),
                [Token::Word(w), more @ ..] if w.eq_ignore_ascii_case("in") => (Op::In, more),
                [Token::Word(not), Token::Word(w), more @ ..]
                    if not.eq_ignore_ascii_case("not") && w.eq_ignore_ascii_case("in") =>
                {
                    (Op::NotIn, more)
                }
                _ => {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': unsupported operator after '{word}'"
                    )));
                }
            };
            let numeric = matches!(
                field,
                Field::CreationTime | Field::LastUpdateTime | Field::VersionNumber
            );
            let (value, tail) = if matches!(op, Op::In | Op::NotIn) {
                if !matches!(field, Field::Name | Field::RunId) || subject != Subject::ModelVersions {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': IN and NOT IN compare only a model version's name or run_id"
                    )));
                }
                list(input, after_op)?
            } else {
                let Some((value, tail)) = after_op.split_first() else {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': expected a value after '{word}'s operator"
                    )));
                };
                let value = match (value, numeric) {
                    (Token::Number(n), true) => Value::Number(*n),
                    (Token::Text(s), false) => Value::Text(s.clone()),
                    (
                        Token::Word(_)
                        | Token::Compare(_)
                        | Token::Text(_)
                        | Token::Number(_)
                        | Token::Punct(_),
                        _,
                    ) => {
                        return Err(MlflowError::invalid(format!(
                            "Invalid filter '{input}': '{word}' compares with {}",
                            if numeric { "a number" } else { "a quoted string" }
                        )));
                    }
                };
                let allowed = if numeric {
                    matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge)
                } else {
                    matches!(op, Op::Eq | Op::Ne | Op::Like | Op::ILike)
                };
                if !allowed {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': this operator is not supported for '{word}'"
                    )));
                }
                (value, tail)
            };
            conditions.push(Condition { field, op, value });
            rest = match tail {
                [] => tail,
                [Token::Word(and), more @ ..] if and.eq_ignore_ascii_case("and") && !more.is_empty() => more,
                [Token::Word(or), ..] if or.eq_ignore_ascii_case("or") => {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': OR is not supported"
                    )));
                }
                _ => {
                    return Err(MlflowError::invalid(format!(
                        "Invalid filter '{input}': expected AND between conditions"
                    )));
                }
            };
        }
        Ok(ExperimentFilter(conditions))
    }

    /// Whether `item` meets every condition; a condition on a tag the item lacks does not hold.
    /// The model an exact `name = '…'` condition names, if any.
    pub fn exact_name(&self) -> Option<&str> {
        self.0.iter().find_map(|condition| {
            if let (Field::Name, Op::Eq, Value::Text(name)) =
                (&condition.field, condition.op, &condition.value)
            {
                Some(name.as_str())
            } else {
                None
            }
        })
    }

    /// Whether the filter is one `name = '…'` condition and nothing else.
    pub fn is_exact_name_only(&self) -> bool {
        self.0.len() == 1 && self.exact_name().is_some()
    }

    pub fn matches(&self, item: &impl Searched) -> bool {
        self.0.iter().all(|condition| condition.holds(item, false))
    }

    /// As [`ExperimentFilter::matches`], except that `tags.k != 'v'` holds when the tag is
    /// missing: MLflow's client appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every
    /// registered-model search, which must keep the models without that tag.
    pub fn matches_missing_tags_unequal(&self, item: &impl Searched) -> bool {
        self.0.iter().all(|condition| condition.holds(item, true))
    }
}

/// What a filter reads of an experiment or a registered model.
pub trait Searched {
    fn name(&self) -> &str;
    fn tag(&self, key: &str) -> Option<&str>;
    fn creation_time(&self) -> i64;
    fn last_update_time(&self) -> i64;
    fn run_id(&self) -> &str {
        ""
    }
    fn version_number(&self) -> i64 {
        0
    }
    fn source(&self) -> &str {
        ""
    }
}

impl Searched for Experiment {
    fn name(&self) -> &str {
        &self.name
    }
    fn tag(&self, key: &str) -> Option<&str> {
        super::request::value_of(&self.tags, key)
    }
    fn creation_time(&self) -> i64 {
        self.creation_time
    }
    fn last_update_time(&self) -> i64 {
        self.last_update_time
    }
}

impl Condition {
    fn holds(&self, item: &impl Searched, missing_tag_unequal: bool) -> bool {
        match (&self.field, &self.value) {
            (Field::Name, Value::Text(v)) => compare_text(item.name(), self.op, v),
            (Field::Tag(key), Value::Text(v)) => match item.tag(key) {
                Some(value) => compare_text(value, self.op, v),
                None => missing_tag_unequal && self.op == Op::Ne,
            },
            (Field::CreationTime, Value::Number(n)) => compare_number(item.creation_time(), self.op, *n),
            (Field::LastUpdateTime, Value::Number(n)) => compare_number(item.last_update_time(), self.op, *n),
            (Field::RunId, Value::Text(v)) => compare_text(item.run_id(), self.op, v),
            (Field::SourcePath, Value::Text(v)) => compare_text(item.source(), self.op, v),
            (Field::VersionNumber, Value::Number(n)) => compare_number(item.version_number(), self.op, *n),
            (Field::Name, Value::List(items)) => {
                (self.op == Op::In) == items.iter().any(|i| i == item.name())
            }
            (Field::RunId, Value::List(items)) => {
                (self.op == Op::In) == items.iter().any(|i| i == item.run_id())
            }
            (Field::Name | Field::Tag(_) | Field::RunId | Field::SourcePath, Value::Number(_))
            | (Field::CreationTime | Field::LastUpdateTime | Field::VersionNumber, Value::Text(_))
            | (
                Field::Tag(_)
                | Field::SourcePath
                | Field::CreationTime
                | Field::LastUpdateTime
                | Field::VersionNumber,
                Value::List(_),
            ) => false,
        }
    }
}

fn compare_text(have: &str, op: Op, want: &str) -> bool {
    match op {
        Op::Eq => have == want,
        Op::Ne => have != want,
        Op::Like => like(have, want),
        Op::ILike => like(&have.to_lowercase(), &want.to_lowercase()),
        Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::In | Op::NotIn => false,
    }
}

fn compare_number(have: i64, op: Op, want: i64) -> bool {
    match op {
        Op::Eq => have == want,
        Op::Ne => have != want,
        Op::Lt => have < want,
        Op::Le => have <= want,
        Op::Gt => have > want,
        Op::Ge => have >= want,
        Op::Like | Op::ILike | Op::In | Op::NotIn => false,
    }
}

/// SQL LIKE: `%` any run of characters, `_` one character.
pub fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // matched[j]: the text so far matches the first j pattern characters.
    let mut matched = vec![false; pattern.len() + 1];
    matched[0] = true;
    for j in 1..=pattern.len() {
        matched[j] = matched[j - 1] && pattern[j - 1] == '%';
    }
    for &c in &text {
        let mut next = vec![false; pattern.len() + 1];
        for j in 1..=pattern.len() {
            next[j] = match pattern[j - 1] {
                '%' => next[j - 1] || matched[j],
                '_' => matched[j - 1],
                p => matched[j - 1] && p == c,
            };
        }
        matched = next;
    }
    matched[pattern.len()]
}

/// One order-by clause over experiments.
pub struct ExperimentOrder {
    key: OrderKey,
    descending: bool,
}

enum OrderKey {
    Name,
    ExperimentId,
    CreationTime,
    LastUpdateTime,
}

impl ExperimentOrder {
    pub fn parse(input: &str) -> Result<ExperimentOrder, MlflowError> {
        let mut words = input.split_whitespace();
        let field = words.next().unwrap_or("");
        let descending = match words.next() {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("asc") => false,
            Some(d) if d.eq_ignore_ascii_case("desc") => true,
            Some(other) => {
                return Err(MlflowError::invalid(format!(
                    "Invalid order_by clause '{input}': unexpected '{other}'"
                )));
            }
        };
        if words.next().is_some() {
            return Err(MlflowError::invalid(format!("Invalid order_by clause '{input}'")));
        }
        let name = field
            .strip_prefix("attributes.")
            .or_else(|| field.strip_prefix("attribute."))
            .unwrap_or(field);
        let key = match name {
            "name" => OrderKey::Name,
            "experiment_id" => OrderKey::ExperimentId,
            "creation_time" => OrderKey::CreationTime,
            "last_update_time" => OrderKey::LastUpdateTime,
            _ => {
                return Err(MlflowError::invalid(format!(
                    "Invalid order_by clause '{input}': experiments sort by name, experiment_id, creation_time or last_update_time"
                )));
            }
        };
        Ok(ExperimentOrder { key, descending })
    }

    fn compare(&self, a: &Experiment, b: &Experiment) -> Ordering {
        let ordering = match self.key {
            OrderKey::Name => a.name.cmp(&b.name),
            OrderKey::ExperimentId => compare_ids(&a.experiment_id, &b.experiment_id),
            OrderKey::CreationTime => a.creation_time.cmp(&b.creation_time),
            OrderKey::LastUpdateTime => a.last_update_time.cmp(&b.last_update_time),
        };
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }
}

/// Numeric ids in numeric order, others after them as text.
fn compare_ids(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Sorts by the clauses, then, as MLflow does by default, newest first and by id.
pub fn sort(experiments: &mut [Experiment], orders: &[ExperimentOrder]) {
    experiments.sort_by(|a, b| {
        orders
            .iter()
            .map(|order| order.compare(a, b))
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| {
                b.creation_time
                    .cmp(&a.creation_time)
                    .then_with(|| compare_ids(&a.experiment_id, &b.experiment_id))
            })
    });
}

/// The offset a page token of [`page_token`] stands for; 0 for none.
pub fn offset_of(token: Option<&str>) -> Result<usize, MlflowError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|json| json.get("offset").and_then(serde_json::Value::as_u64))
        .and_then(|offset| usize::try_from(offset).ok())
        .ok_or_else(|| MlflowError::invalid(format!("Invalid page token '{token}'")))
}

/// MLflow's page token: base64 of `{"offset": N}`.
pub fn page_token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(name: &str, team: &str, created: i64) -> Experiment {
        Experiment {
            experiment_id: created.to_string(),
            name: name.to_owned(),
            artifact_location: String::new(),
            lifecycle_stage: "active",
            creation_time: created,
            last_update_time: created,
            tags: vec![super::super::request::KeyValue {
                key: "team".to_owned(),
                value: team.to_owned(),
            }],
        }
    }

    #[test]
    fn like_follows_sql() {
        assert!(like("churn-model", "churn%"));
        assert!(like("churn", "ch_rn"));
        assert!(!like("churn", "ch_n"));
        assert!(like("", "%"));
        assert!(!like("xchurn", "churn%"));
    }

    #[test]
    fn filters_by_name_tags_and_times() {
        let e = experiment("Churn-2026", "growth", 100);
        let holds = |filter: &str| ExperimentFilter::parse(filter).unwrap().matches(&e);
        assert!(holds("name = 'Churn-2026'"));
        assert!(holds("name ILIKE 'churn%' and tags.team = \"growth\""));
        assert!(holds("attributes.creation_time >= 100 AND tags.`team` != 'ops'"));
        assert!(!holds("name LIKE 'churn%'"));
        assert!(!holds("tags.owner = 'x'"));
        assert!(holds(""));
    }

    #[test]
    fn refuses_what_it_cannot_evaluate_naming_it() {
        for (filter, named) in [
            ("params.x = 'a'", "params.x"),
            ("attributes.lifecycle_stage = 'active'", "lifecycle_stage"),
            ("name = 'a' or name = 'b'", "OR"),
            ("name > 'a'", "name"),
        ] {
            let err = ExperimentFilter::parse(filter).unwrap_err();
            assert_eq!(err.code, "INVALID_PARAMETER_VALUE");
            assert!(err.message.contains(named), "{filter}: {}", err.message);
        }
    }

    /// A model version as the version filter reads it.
    struct Version {
        name: &'static str,
        run_id: &'static str,
        source: &'static str,
    }

    impl Searched for Version {
        fn name(&self) -> &str {
            self.name
        }
        fn tag(&self, _key: &str) -> Option<&str> {
            None
        }
        fn creation_time(&self) -> i64 {
            0
        }
        fn last_update_time(&self) -> i64 {
            0
        }
        fn run_id(&self) -> &str {
            self.run_id
        }
        fn source(&self) -> &str {
            self.source
        }
    }

    #[test]
    fn versions_filter_by_lists_and_source_path() {
        let v = Version {
            name: "churn",
            run_id: "r2",
            source: "runs:/r2/model",
        };
        let holds = |filter: &str| {
            ExperimentFilter::parse_for(filter, Subject::ModelVersions)
                .unwrap()
                .matches(&v)
        };
        assert!(holds("name = 'churn' and run_id IN ('r1', 'r2')"));
        assert!(!holds("run_id IN ('r1')"));
        assert!(holds("run_id NOT IN ('r1','r3')"));
        assert!(!holds("name not in ('churn')"));
        assert!(holds("source_path = 'runs:/r2/model'"));
        assert!(holds("source_path LIKE 'runs:/%'"));
        for (filter, named) in [
            ("run_id IN ()", "IN takes a list"),
            ("run_id IN ('a' 'b')", "IN takes a list"),
            ("run_id IN 'a'", "IN takes a list"),
            ("tags.k IN ('a')", "IN and NOT IN"),
            ("version_number IN ('1')", "IN and NOT IN"),
        ] {
            let err = ExperimentFilter::parse_for(filter, Subject::ModelVersions).unwrap_err();
            assert!(err.message.contains(named), "{filter}: {}", err.message);
        }
        let err = ExperimentFilter::parse("name IN ('a')").unwrap_err();
        assert!(err.message.contains("IN and NOT IN"), "{}", err.message);
    }

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(offset_of(Some(&page_token(42))).unwrap(), 42);
        assert_eq!(offset_of(None).unwrap(), 0);
        assert!(offset_of(Some("not base64!")).is_err());
    }

    #[test]
    fn sorts_newest_first_by_default() {
        let mut all = vec![
            experiment("a", "", 1),
            experiment("b", "", 3),
            experiment("c", "", 2),
        ];
        sort(&mut all, &[]);
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        sort(&mut all, &[ExperimentOrder::parse("name ASC").unwrap()]);
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
