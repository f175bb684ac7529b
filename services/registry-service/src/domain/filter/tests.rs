//! The filter language's parser, printer and limits, against examples and properties.

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
