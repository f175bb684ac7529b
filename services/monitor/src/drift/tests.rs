//! The defaults a user relies on: method choice, thresholds, missing values, dataset share.

use super::*;

fn numeric(values: &[f64]) -> Column<'_> {
    Column::Numeric(values)
}

fn spread(n: usize, offset: f64) -> Vec<f64> {
    (0..n)
        .map(|i| offset + (i % 97) as f64 * 0.37 + (i % 13) as f64)
        .collect()
}

#[test]
fn default_method_by_size_kind_and_distinct_values() {
    use ColumnKind::{Categorical, Numeric};
    assert_eq!(default_method(Numeric, 1_000, 2), Method::ZTest);
    assert_eq!(default_method(Numeric, 1_000, 5), Method::ChiSquare);
    assert_eq!(default_method(Numeric, 1_000, 6), Method::Ks);
    assert_eq!(default_method(Numeric, 1_001, 5), Method::JensenShannon);
    assert_eq!(default_method(Numeric, 1_001, 6), Method::Wasserstein);
    assert_eq!(default_method(Categorical, 1_000, 2), Method::ZTest);
    assert_eq!(default_method(Categorical, 1_000, 3), Method::ChiSquare);
    assert_eq!(default_method(Categorical, 1_001, 2), Method::JensenShannon);
}

#[test]
fn default_method_counts_rows_after_dropping_missing_values() {
    let mut reference = spread(1_001, 0.0);
    reference[0] = f64::NAN;
    let current = spread(500, 0.0);
    let drift = column_drift(numeric(&reference), numeric(&current), &ColumnOptions::default());
    assert_eq!(drift.method, Method::Ks);
    let reference = spread(1_001, 0.0);
    let drift = column_drift(numeric(&reference), numeric(&current), &ColumnOptions::default());
    assert_eq!(drift.method, Method::Wasserstein);
}

#[test]
fn default_thresholds_and_their_direction() {
    assert_eq!(Method::Ks.default_threshold(), 0.05);
    assert_eq!(Method::Wasserstein.default_threshold(), 0.1);
    assert!(Method::Ks.is_drift(0.049, 0.05));
    assert!(!Method::Ks.is_drift(0.05, 0.05));
    assert!(Method::Psi.is_drift(0.1, 0.1));
    assert!(!Method::Psi.is_drift(0.099, 0.1));
}

#[test]
fn names_round_trip() {
    for method in Method::ALL {
        assert_eq!(Method::from_name(method.name()), Some(method));
    }
    assert_eq!(Method::from_name("t_test"), None);
}

#[test]
fn a_shifted_column_drifts_and_a_same_one_does_not() {
    let reference = spread(2_000, 0.0);
    let same = spread(1_500, 0.0);
    let shifted = spread(1_500, 5.0);
    let options = ColumnOptions::default();
    let drift = column_drift(numeric(&reference), numeric(&shifted), &options);
    assert_eq!(drift.method, Method::Wasserstein);
    assert!(drift.drifted, "{drift:?}");
    let drift = column_drift(numeric(&reference), numeric(&same), &options);
    assert!(!drift.drifted, "{drift:?}");
}

#[test]
fn method_and_threshold_are_chosen_per_column() {
    let reference = spread(300, 0.0);
    let current = spread(300, 0.5);
    let options = ColumnOptions {
        method: Some(Method::Psi),
        threshold: Some(1e-9),
    };
    let drift = column_drift(numeric(&reference), numeric(&current), &options);
    assert_eq!(drift.method, Method::Psi);
    assert_eq!(drift.threshold, 1e-9);
    assert!(drift.drifted);
}

#[test]
fn missing_shares_are_reported() {
    let reference = [1.0, f64::NAN, 2.0, f64::INFINITY];
    let current = [1.0, 2.0, 3.0, 4.0, f64::NEG_INFINITY];
    let drift = column_drift(numeric(&reference), numeric(&current), &ColumnOptions::default());
    assert_eq!(drift.missing_share_reference, 0.5);
    assert_eq!(drift.missing_share_current, 0.2);
    let reference = [Some("a"), None, Some("b"), None];
    let current = [Some("a"), Some("b")];
    let drift = column_drift(
        Column::Categorical(&reference),
        Column::Categorical(&current),
        &ColumnOptions::default(),
    );
    assert_eq!(drift.missing_share_reference, 0.5);
    assert_eq!(drift.missing_share_current, 0.0);
    assert!(drift.statistic.is_some());
}

#[test]
fn all_missing_or_empty_columns_are_untestable_not_errors() {
    let all_missing = [f64::NAN, f64::INFINITY];
    let fine = [1.0, 2.0];
    let drift = column_drift(numeric(&all_missing), numeric(&fine), &ColumnOptions::default());
    assert_eq!(drift.statistic, None);
    assert!(!drift.drifted);
    assert_eq!(drift.missing_share_reference, 1.0);
    assert!(drift.note.as_deref().unwrap_or_default().contains("reference"));
    let drift = column_drift(numeric(&fine), numeric(&[]), &ColumnOptions::default());
    assert_eq!(drift.statistic, None);
    assert!(drift.note.as_deref().unwrap_or_default().contains("current"));
    let none: [Option<&str>; 2] = [None, None];
    let drift = column_drift(
        Column::Categorical(&[Some("a")]),
        Column::Categorical(&none),
        &ColumnOptions::default(),
    );
    assert_eq!(drift.statistic, None);
    assert_eq!(drift.missing_share_current, 1.0);
}

#[test]
fn numeric_only_methods_refuse_categorical_columns() {
    let column = [Some("a"), Some("b")];
    let options = ColumnOptions {
        method: Some(Method::Ks),
        threshold: None,
    };
    let drift = column_drift(
        Column::Categorical(&column),
        Column::Categorical(&column),
        &options,
    );
    assert_eq!(drift.statistic, None);
    assert!(!drift.drifted);
}

#[test]
fn unseen_category_in_current_drifts_under_chi_square() {
    let reference: Vec<Option<&str>> = ["a", "b", "c"]
        .iter()
        .cycle()
        .take(90)
        .map(|s| Some(*s))
        .collect();
    let mut current = reference.clone();
    current.extend(std::iter::repeat_n(Some("d"), 5));
    let drift = column_drift(
        Column::Categorical(&reference),
        Column::Categorical(&current),
        &ColumnOptions::default(),
    );
    assert_eq!(drift.method, Method::ChiSquare);
    assert_eq!(drift.statistic, Some(0.0));
    assert!(drift.drifted);
}

#[test]
fn dataset_drifts_at_the_configured_share() {
    let reference = spread(200, 0.0);
    let shifted = spread(200, 20.0);
    let options = ColumnOptions::default();
    let columns = [
        ("a", numeric(&reference), numeric(&shifted), options),
        ("b", numeric(&reference), numeric(&reference), options),
    ];
    let drift = dataset_drift(&columns, DEFAULT_DRIFT_SHARE);
    assert_eq!(drift.drifted_columns, 1);
    assert_eq!(drift.drifted_share, 0.5);
    assert!(drift.drifted);
    assert!(!dataset_drift(&columns, 0.6).drifted);
    assert!(!dataset_drift(&[], DEFAULT_DRIFT_SHARE).drifted);
    assert_eq!(drift.columns[0].0, "a");
}

#[test]
fn columns_of_different_kinds_are_untestable_with_their_missing_shares() {
    let numbers = [1.0, f64::NAN];
    let labels = [Some("a"), Some("b"), None, None];
    let drift = column_drift(
        numeric(&numbers),
        Column::Categorical(&labels),
        &ColumnOptions::default(),
    );
    assert_eq!(drift.statistic, None);
    assert!(!drift.drifted);
    assert_eq!(
        (drift.missing_share_reference, drift.missing_share_current),
        (0.5, 0.5)
    );
    assert!(drift.note.is_some());
}
