//! Loads a feature repository (YAML files) into one checked desired state. Every problem is
//! reported, each with its file and path (`features/driver.yaml: feature_views[0] (driver_stats).schema[1].type: …`),
//! so a user fixes them all in one pass. Error messages stay small whatever the input: a
//! quoted value is cut at 200 characters and a list stops at 50 problems.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use lathe_common::reasons;
use lathe_common::{Error, Result};

use super::model::{DATA_SOURCE, ENTITY, FEATURE_VIEW, Spec};
use super::spec::{
    FeatureType, FeatureViewSpec, FieldSpec, LoggingSpec, ParseError, TYPE_HELP, parse_file, window_label,
};

/// A definition and the file that declared it.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub spec: Spec,
    pub origin: String,
}

/// The desired state: every definition by (kind, name).
#[derive(Debug, Default)]
pub struct Repository {
    pub definitions: BTreeMap<(&'static str, String), Declared>,
}

impl Repository {
    pub fn get(&self, kind: &'static str, name: &str) -> Option<&Spec> {
        self.definitions.get(&(kind, name.to_owned())).map(|d| &d.spec)
    }
}

/// How many characters of a user-given value an error message quotes.
const QUOTED_CHARS: usize = 200;
/// How many problems an error message lists, and how many characters each may take.
const LISTED_PROBLEMS: usize = 50;
const PROBLEM_CHARS: usize = 1_000;

/// `text` cut to `max` characters, with "…" when it was longer.
fn clipped(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// A user-given value (a name, a type, a path…) as an error message quotes it: at most 200
/// characters, so a message never echoes an input's bulk.
pub fn quoted(text: &str) -> Cow<'_, str> {
    clipped(text, QUOTED_CHARS)
}

/// `header`, then the first 50 of `total` problems one a line (each cut at 1,000 characters),
/// then how many more there are: at most about 50 KB however many problems there are.
pub fn problem_list(header: &str, listed: &[String], total: usize) -> String {
    let mut message = header.to_owned();
    for problem in listed.iter().take(LISTED_PROBLEMS) {
        message.push('\n');
        message.push_str(&clipped(problem, PROBLEM_CHARS));
    }
    let shown = listed.len().min(LISTED_PROBLEMS);
    if total > shown {
        message.push_str(&format!("\nand {} more", total - shown));
    }
    message
}

/// The problems found so far: all are counted, the first 50 kept.
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    total: usize,
}

impl Problems {
    fn add(&mut self, at: &str, message: impl std::fmt::Display) {
        self.total += 1;
        if self.listed.len() < LISTED_PROBLEMS {
            self.listed.push(format!("{at}: {message}"));
        }
    }
}

fn check_name(problems: &mut Problems, at: &str, name: &str) {
    // The check's message quotes the name; a quoted (cut) name is judged alike, as every name
    // long enough to be cut is already too long.
    if let Err(err) = lathe_common::validate::identifier("name", &quoted(name)) {
        problems.add(at, err.message);
    }
}

fn canonical_type(problems: &mut Problems, at: &str, text: &str, allow_list: bool) -> String {
    match FeatureType::parse(text) {
        Some(t) if t.list && !allow_list => {
            problems.add(
                at,
                format!(
                    "'{}': join keys must be scalar ({TYPE_HELP}, without list)",
                    quoted(text)
                ),
            );
            text.to_owned()
        }
        Some(t) => t.name(),
        None => {
            problems.add(at, format!("unknown type '{}': {TYPE_HELP}", quoted(text)));
            text.to_owned()
        }
    }
}

fn check_relative_path(problems: &mut Problems, at: &str, path: &str) {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.split('/').any(|s| s == ".." || s == ".")
        || path.contains("://");
    if bad {
        problems.add(
            at,
            format!(
                "'{}' must be a path relative to the feature store's object store, without '..'",
                quoted(path)
            ),
        );
    }
}

fn check_logging(problems: &mut Problems, at: &str, logging: &LoggingSpec) {
    check_name(problems, &format!("{at}.monitor"), &logging.monitor);
    let rate = logging.sample_rate;
    // Written so that NaN fails too.
    if !(rate > 0.0 && rate <= 1.0) {
        problems.add(
            &format!("{at}.sample_rate"),
            format!(
                "{rate} is not a share of the served rows: give a number above 0 and at most 1 \
                 (0.1 logs about one row in ten, 1 every row)"
            ),
        );
    }
}

/// Parses and checks the files of a repository for `project`.
pub fn load(project: &str, files: &[(String, String)]) -> Result<Repository> {
    let mut problems = Problems::default();
    let mut repo = Repository::default();
    if files.is_empty() {
        return Err(Error::invalid(
            "the repository has no files: give at least one YAML file",
        ));
    }
    for (path, content) in files {
        let shown_path = quoted(path);
        let parsed = match parse_file(content) {
            Ok(parsed) => parsed,
            Err(err @ ParseError::TooLarge { .. }) => {
                problems.add(&shown_path, err);
                continue;
            }
            // serde_yaml's messages may quote the offending value.
            Err(ParseError::Yaml(err)) => {
                problems.add(&shown_path, quoted(&err.to_string()));
                continue;
            }
        };
        if let Some(declared) = &parsed.project
            && declared != project
        {
            problems.add(
                &shown_path,
                format!(
                    "declares project '{}' but is applied to project '{project}'",
                    quoted(declared)
                ),
            );
        }
        let mut declare = |problems: &mut Problems, at: String, spec: Spec| {
            let key = (spec.kind(), spec.name().to_owned());
            if let Some(first) = repo.definitions.get(&key) {
                problems.add(
                    &at,
                    format!(
                        "{} '{}' is already declared in {}",
                        key.0,
                        quoted(&key.1),
                        quoted(&first.origin)
                    ),
                );
            } else {
                repo.definitions.insert(
                    key,
                    Declared {
                        spec,
                        origin: path.clone(),
                    },
                );
            }
        };
        for (i, mut entity) in parsed.entities.into_iter().enumerate() {
            let at = format!("{shown_path}: entities[{i}] ({})", quoted(&entity.name));
            check_name(&mut problems, &at, &entity.name);
            if entity.join_keys.is_empty() {
                problems.add(&at, "join_keys: an entity needs at least one join key");
            }
            let mut seen = BTreeSet::new();
            for (k, key) in entity.join_keys.iter_mut().enumerate() {
                let key_at = format!("{at}.join_keys[{k}]");
                check_name(&mut problems, &key_at, &key.name);
                if !seen.insert(key.name.clone()) {
                    problems.add(&key_at, format!("'{}' appears twice", quoted(&key.name)));
                }
                key.dtype = canonical_type(&mut problems, &format!("{key_at}.type"), &key.dtype, false);
            }
            declare(&mut problems, at, Spec::Entity(entity));
        }
        for (i, source) in parsed.sources.into_iter().enumerate() {
            let at = format!("{shown_path}: sources[{i}] ({})", quoted(&source.name));
            check_name(&mut problems, &at, &source.name);
            match (&source.file, &source.push) {
                (Some(file), None) => {
                    check_relative_path(&mut problems, &format!("{at}.file.path"), &file.path)
                }
                (None, Some(_)) => {}
                _ => problems.add(
                    &at,
                    "set exactly one of `file` (a Parquet file or prefix) or `push`",
                ),
            }
            check_name(
                &mut problems,
                &format!("{at}.timestamp_field"),
                &source.timestamp_field,
            );
            if let Some(created) = &source.created_timestamp_field {
                check_name(&mut problems, &format!("{at}.created_timestamp_field"), created);
            }
            declare(&mut problems, at, Spec::Source(source));
        }
        for (i, mut view) in parsed.feature_views.into_iter().enumerate() {
            let at = format!("{shown_path}: feature_views[{i}] ({})", quoted(&view.name));
            check_name(&mut problems, &at, &view.name);
            if view.entities.is_empty() {
                problems.add(
                    &at,
                    "entities: a feature view needs at least one entity to join on",
                );
            }
            if !view.aggregations.is_empty() {
                derive_aggregated_schema(&mut problems, &at, &mut view);
            } else if view.schema.is_empty() {
                problems.add(
                    &at,
                    "schema: declare at least one feature (or `aggregations` over the source's events)",
                );
            } else if view.allowed_lateness.is_some() {
                problems.add(
                    &at,
                    "allowed_lateness: only a view with `aggregations` has late events",
                );
            }
            let mut seen = BTreeSet::new();
            for (f, field) in view.schema.iter_mut().enumerate() {
                let field_at = format!("{at}.schema[{f}]");
                check_name(&mut problems, &field_at, &field.name);
                if !seen.insert(field.name.clone()) {
                    problems.add(
                        &field_at,
                        format!("feature '{}' appears twice", quoted(&field.name)),
                    );
                }
                field.dtype = canonical_type(&mut problems, &format!("{field_at}.type"), &field.dtype, true);
            }
            declare(&mut problems, at, Spec::View(view));
        }
        for (i, service) in parsed.feature_services.into_iter().enumerate() {
            let at = format!("{shown_path}: feature_services[{i}] ({})", quoted(&service.name));
            check_name(&mut problems, &at, &service.name);
            if service.features.is_empty() {
                problems.add(&at, "features: list at least one `view:feature`");
            }
            if let Some(logging) = &service.logging {
                check_logging(&mut problems, &format!("{at}.logging"), logging);
            }
            declare(&mut problems, at, Spec::Service(service));
        }
    }
    check_references(&repo, &mut problems);
    if problems.total == 0 {
        Ok(repo)
    } else {
        let count = problems.total;
        let header = format!(
            "the feature repository has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        );
        Err(Error::invalid(problem_list(&header, &problems.listed, count))
            .with_reason(reasons::INVALID_REPOSITORY))
    }
}

/// An aggregated view's features are its aggregations' outputs: checks them and fills the
/// view's `schema` with them (a `schema` of its own or a ttl is refused: the windows bound
/// each value).
fn derive_aggregated_schema(problems: &mut Problems, at: &str, view: &mut FeatureViewSpec) {
    if !view.schema.is_empty() {
        problems.add(
            at,
            "schema: an aggregated view's features are its aggregations (named like `fare_sum_1h`); remove `schema`",
        );
    }
    if view.ttl_seconds != 0 {
        problems.add(
            at,
            "ttl: an aggregated view's windows already bound its values; remove `ttl`",
        );
    }
    let mut seen = BTreeSet::new();
    let mut schema = Vec::with_capacity(view.aggregations.len());
    for (a, aggregation) in view.aggregations.iter().enumerate() {
        let agg_at = format!("{at}.aggregations[{a}]");
        check_name(problems, &format!("{agg_at}.column"), &aggregation.column);
        if aggregation.window == 0 {
            problems.add(&agg_at, "window: give a window longer than zero, e.g. 1h or 7d");
        }
        let name = aggregation.output_name();
        if !seen.insert(name.clone()) {
            problems.add(&agg_at, format!("'{}' appears twice", quoted(&name)));
        }
        schema.push(FieldSpec {
            name,
            dtype: aggregation.function.output_type().name().to_owned(),
            description: format!(
                "{} of {} over the last {}",
                aggregation.function.name(),
                aggregation.column,
                window_label(aggregation.window)
            ),
        });
    }
    view.schema = schema;
}

/// References between definitions must resolve within the desired state.
fn check_references(repo: &Repository, problems: &mut Problems) {
    for declared in repo.definitions.values() {
        let at = format!(
            "{}: {} '{}'",
            quoted(&declared.origin),
            declared.spec.kind(),
            quoted(declared.spec.name())
        );
        match &declared.spec {
            Spec::Entity(_) => {}
            Spec::Source(source) => {
                if let Some(batch) = source.push.as_ref().and_then(|p| p.batch_source.as_ref()) {
                    match repo.get(DATA_SOURCE, batch) {
                        Some(Spec::Source(target)) if target.file.is_some() => {}
                        Some(_) => problems.add(
                            &format!("{at}.push.batch_source"),
                            format!("'{}' is not a file source", quoted(batch)),
                        ),
                        None => problems.add(
                            &format!("{at}.push.batch_source"),
                            format!("no data source named '{}'", quoted(batch)),
                        ),
                    }
                }
            }
            Spec::View(view) => {
                let mut keys = BTreeSet::new();
                for entity in &view.entities {
                    match repo.get(ENTITY, entity) {
                        Some(Spec::Entity(e)) => keys.extend(e.join_keys.iter().map(|k| k.name.clone())),
                        _ => problems.add(
                            &format!("{at}.entities"),
                            format!("no entity named '{}'", quoted(entity)),
                        ),
                    }
                }
                for field in &view.schema {
                    if keys.contains(&field.name) {
                        problems.add(
                            &format!("{at}.schema"),
                            format!("'{}' is a join key, not a feature", quoted(&field.name)),
                        );
                    }
                }
                if repo.get(DATA_SOURCE, &view.source).is_none() {
                    problems.add(
                        &format!("{at}.source"),
                        format!("no data source named '{}'", quoted(&view.source)),
                    );
                }
            }
            Spec::Service(service) => {
                for reference in &service.features {
                    let Some((view_name, feature)) = reference.split_once(':') else {
                        problems.add(
                            &format!("{at}.features"),
                            format!("'{}' is not `view:feature`", quoted(reference)),
                        );
                        continue;
                    };
                    match repo.get(FEATURE_VIEW, view_name) {
                        Some(Spec::View(view)) if view.schema.iter().any(|f| f.name == feature) => {}
                        Some(_) => problems.add(
                            &format!("{at}.features"),
                            format!(
                                "feature view '{}' has no feature '{}'",
                                quoted(view_name),
                                quoted(feature)
                            ),
                        ),
                        None => problems.add(
                            &format!("{at}.features"),
                            format!("no feature view named '{}'", quoted(view_name)),
                        ),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: INT64}]
sources:
  - name: driver_stats_source
    file: {path: data/driver_stats.parquet}
    created_timestamp_field: created
  - name: driver_push
    push: {batch_source: driver_stats_source}
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_stats_source
    ttl: 1d
    schema:
      - {name: conv_rate, type: float32}
      - {name: acc_rate, type: float32}
      - {name: avg_daily_trips, type: int64}
feature_services:
  - name: driver_activity
    features: [driver_stats:conv_rate, driver_stats:avg_daily_trips]
"#;

    #[test]
    fn a_good_repository_loads_canonically() {
        let repo = load("churn", &[("features.yaml".into(), GOOD.into())]).unwrap();
        assert_eq!(repo.definitions.len(), 5);
        let Some(Spec::Entity(driver)) = repo.get(ENTITY, "driver") else {
            panic!("no driver")
        };
        assert_eq!(driver.join_keys[0].dtype, "int64");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: float}]
feature_views:
  - name: stats
    entities: [rider]
    source: nowhere
    schema:
      - {name: conv_rate, type: float32}
      - {name: conv_rate, type: list<int64>}
feature_services:
  - name: svc
    features: [stats:missing, bogus]
"#;
        let err = load("churn", &[("repo/bad.yaml".into(), bad.into())]).unwrap_err();
        let message = err.message;
        for expected in [
            "repo/bad.yaml: entities[0] (driver).join_keys[0].type: unknown type 'float'",
            "feature_views[0] (stats).schema[1]: feature 'conv_rate' appears twice",
            "feature_view 'stats'.entities: no entity named 'rider'",
            "feature_view 'stats'.source: no data source named 'nowhere'",
            "feature_service 'svc'.features: feature view 'stats' has no feature 'missing'",
            "'bogus' is not `view:feature`",
        ] {
            assert!(message.contains(expected), "missing «{expected}» in:\n{message}");
        }
    }

    /// GOOD with `logging` (a YAML flow mapping, or nothing) on its feature service.
    fn with_logging(logging: &str) -> String {
        GOOD.replace(
            "    features: [driver_stats:conv_rate, driver_stats:avg_daily_trips]\n",
            &format!("    features: [driver_stats:conv_rate, driver_stats:avg_daily_trips]\n    logging: {logging}\n"),
        )
    }

    #[test]
    fn a_logging_block_is_kept_with_its_service() {
        let repo = load(
            "churn",
            &[(
                "f.yaml".into(),
                with_logging("{monitor: churn-drift, sample_rate: 0.1}"),
            )],
        )
        .unwrap();
        let Some(Spec::Service(service)) = repo.get(super::super::model::FEATURE_SERVICE, "driver_activity")
        else {
            panic!("no service")
        };
        let logging = service.logging.as_ref().expect("logging kept");
        assert_eq!(
            (logging.monitor.as_str(), logging.sample_rate),
            ("churn-drift", 0.1)
        );
        assert_eq!(
            Spec::Service(service.clone()).to_json()["logging"],
            serde_json::json!({"monitor": "churn-drift", "sample_rate": 0.1}),
            "stored with the definition"
        );
        let without = load("churn", &[("f.yaml".into(), GOOD.into())]).unwrap();
        let Some(Spec::Service(service)) =
            without.get(super::super::model::FEATURE_SERVICE, "driver_activity")
        else {
            panic!("no service")
        };
        assert!(
            Spec::Service(service.clone()).to_json().get("logging").is_none(),
            "a service without logging stores no `logging` key, so existing definitions stay unchanged"
        );
    }

    #[test]
    fn bad_logging_blocks_are_reported_with_their_path() {
        let at = "f.yaml: feature_services[0] (driver_activity).logging";
        for (logging, expected) in [
            (
                "{monitor: m, sample_rate: 0}",
                format!("{at}.sample_rate: 0 is not a share of the served rows"),
            ),
            (
                "{monitor: m, sample_rate: -0.5}",
                format!("{at}.sample_rate: -0.5 is not a share"),
            ),
            (
                "{monitor: m, sample_rate: 1.5}",
                format!("{at}.sample_rate: 1.5 is not a share"),
            ),
            (
                "{monitor: m, sample_rate: .nan}",
                format!("{at}.sample_rate: NaN is not a share"),
            ),
            (
                "{monitor: '9lives', sample_rate: 0.5}",
                format!("{at}.monitor: name '9lives' is invalid"),
            ),
            ("{monitor: m}", "missing field `sample_rate`".to_owned()),
            ("{sample_rate: 0.5}", "missing field `monitor`".to_owned()),
            (
                "{monitor: m, sample_rate: 0.5, every: 2}",
                "unknown field `every`".to_owned(),
            ),
            ("{monitor: m, sample_rate: half}", "sample_rate".to_owned()),
        ] {
            let err = load("churn", &[("f.yaml".into(), with_logging(logging))]).unwrap_err();
            assert_eq!(err.code, lathe_common::ErrorCode::InvalidArgument, "{logging}");
            assert_eq!(err.reason, reasons::INVALID_REPOSITORY.name, "{logging}");
            assert!(
                err.message.contains(&expected),
                "{logging}: missing «{expected}» in\n{}",
                err.message
            );
        }
        for good in [
            "{monitor: m, sample_rate: 1}",
            "{monitor: m, sample_rate: 0.0001}",
        ] {
            load("churn", &[("f.yaml".into(), with_logging(good))]).unwrap();
        }
    }

    const AGGREGATED: &str = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: trips
    file: {path: trips/}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    aggregations:
      - {column: fare, function: sum, window: 1h}
      - {column: trip_id, function: count, window: 1d}
feature_services:
  - name: trips_model
    features: [driver_trips:fare_sum_1h, driver_trips:trip_id_count_1d]
"#;

    #[test]
    fn an_aggregated_view_gets_its_schema_from_its_aggregations() {
        let repo = load("churn", &[("f.yaml".into(), AGGREGATED.into())]).unwrap();
        let Some(Spec::View(view)) = repo.get(FEATURE_VIEW, "driver_trips") else {
            panic!("the view is declared");
        };
        let schema: Vec<(&str, &str)> = view
            .schema
            .iter()
            .map(|f| (f.name.as_str(), f.dtype.as_str()))
            .collect();
        assert_eq!(
            schema,
            [("fare_sum_1h", "float64"), ("trip_id_count_1d", "int64")]
        );

        let at = "f.yaml: feature_views[0] (driver_trips)";
        for (change, expected) in [
            (
                "    ttl: 1d\n",
                format!("{at}: ttl: an aggregated view's windows already bound its values"),
            ),
            (
                "    schema: [{name: fare, type: float64}]\n",
                format!("{at}: schema: an aggregated view's features are its aggregations"),
            ),
            (
                "      - {column: fare, function: sum, window: 60m}\n",
                format!("{at}.aggregations[2]: 'fare_sum_1h' appears twice"),
            ),
            (
                "      - {column: fare, function: max, window: 0}\n",
                format!("{at}.aggregations[2]: window: give a window longer than zero"),
            ),
        ] {
            let doc = if change.starts_with("      -") {
                AGGREGATED.replace("feature_services:", &format!("{change}feature_services:"))
            } else {
                AGGREGATED.replace("    aggregations:", &format!("{change}    aggregations:"))
            };
            let err = load("churn", &[("f.yaml".into(), doc)]).unwrap_err().message;
            assert!(err.contains(&expected), "{expected}\n in\n{err}");
        }
        let plain_lateness = GOOD.replace("    ttl: 1d\n", "    ttl: 1d\n    allowed_lateness: 1h\n");
        assert_ne!(plain_lateness, GOOD, "the plain view has a ttl line to follow");
        let err = load("churn", &[("f.yaml".into(), plain_lateness)])
            .unwrap_err()
            .message;
        assert!(
            err.contains("allowed_lateness: only a view with `aggregations`"),
            "{err}"
        );
    }

    #[test]
    fn duplicates_across_files_and_project_mismatch() {
        let entity = "entities:\n  - name: driver\n    join_keys: [{name: id, type: int64}]\n";
        let err = load(
            "churn",
            &[
                ("a.yaml".into(), entity.into()),
                ("b.yaml".into(), format!("project: fraud\n{entity}")),
            ],
        )
        .unwrap_err()
        .message;
        assert!(err.contains("already declared in a.yaml"), "{err}");
        assert!(err.contains("declares project 'fraud'"), "{err}");
    }

    /// Ten levels of ten references each: under 2 KB of YAML naming 10^10 strings.
    fn billion_laughs() -> String {
        let leaf = format!("\"{}\"", "lol".repeat(20));
        let mut doc = format!(
            "feature_services:\n  - name: l0\n    features: &l0 [{}]\n",
            vec![leaf; 10].join(", ")
        );
        for level in 1..10 {
            let references = vec![format!("*l{}", level - 1); 10].join(", ");
            doc.push_str(&format!(
                "  - name: l{level}\n    features: &l{level} [{references}]\n"
            ));
        }
        doc
    }

    #[test]
    fn nested_aliases_are_refused_at_the_expansion_limit() {
        let doc = billion_laughs();
        assert!(doc.len() < 2_000, "{} bytes", doc.len());
        let err = load("churn", &[("laughs.yaml".into(), doc)]).unwrap_err();
        assert_eq!(err.code, lathe_common::ErrorCode::InvalidArgument);
        assert!(
            err.message
                .contains("laughs.yaml: expands to more than 1048576 bytes through its aliases"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_large_anchor_reused_many_times_is_refused() {
        // 20 KB named 3,000 times: 60 MB once expanded, from 32 KB of YAML.
        let doc = format!(
            "feature_services:\n  - name: svc\n    features: [&big {}, {}]\n",
            "v".repeat(20_000),
            vec!["*big"; 3_000].join(", ")
        );
        let err = load("churn", &[("big.yaml".into(), doc)]).unwrap_err();
        assert!(
            err.message
                .contains("big.yaml: expands to more than 1048576 bytes"),
            "{}…",
            &err.message[..err.message.len().min(300)]
        );
    }

    #[test]
    fn small_anchors_for_shared_blocks_still_load() {
        let doc = r#"
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
    tags: &team {team: rides, tier: gold}
  - name: rider
    join_keys: [{name: rider_id, type: int64}]
    tags: *team
"#;
        let repo = load("churn", &[("shared.yaml".into(), doc.into())]).unwrap();
        let Some(Spec::Entity(rider)) = repo.get(ENTITY, "rider") else {
            panic!("no rider")
        };
        assert_eq!(rider.tags.get("tier").map(String::as_str), Some("gold"));
    }

    #[test]
    fn a_long_bad_value_is_quoted_shortened() {
        let name = "x-".repeat(50_000);
        let doc =
            format!("entities:\n  - name: '{name}'\n    join_keys: [{{name: '{name}', type: '{name}'}}]\n");
        let err = load("churn", &[(format!("{name}.yaml"), doc)]).unwrap_err();
        assert!(err.message.len() < 4_000, "{} bytes", err.message.len());
        assert!(
            err.message.contains(&format!("'{}…'", &name[..200])),
            "{}",
            err.message
        );
    }

    #[test]
    fn many_problems_are_listed_up_to_a_count() {
        let services: String = (0..500)
            .map(|i| format!("  - name: svc{i}\n    features: [nowhere]\n"))
            .collect();
        let err = load(
            "churn",
            &[("many.yaml".into(), format!("feature_services:\n{services}"))],
        )
        .unwrap_err()
        .message;
        assert!(
            err.starts_with("the feature repository has 500 problems:"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1 + 50 + 1, "{err}");
        assert!(err.ends_with("\nand 450 more"), "{err}");
    }

    #[test]
    fn yaml_errors_name_the_file_and_line() {
        let err = load("churn", &[("x.yaml".into(), "entities:\n  - name: [\n".into())])
            .unwrap_err()
            .message;
        assert!(err.contains("x.yaml:") && err.contains("line"), "{err}");
    }
}
