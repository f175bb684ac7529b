//! The drift of one frame against another, as a [`Report`]: what a window's check and an ad
//! hoc comparison both compute.

use lathe_common::reasons;
use lathe_common::{Error, Result};
use lathe_contract::monitor::v1::{ColumnResult, DriftMetric, FeatureCheck, Report, WindowResult};

use crate::data::{Frame, PREDICTION_ID, Values, categories};
use crate::drift::{self, Column, ColumnOptions, DatasetColumn, Method};

/// One column to compare, with its method and threshold (`None`: the default).
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub column: String,
    pub method: Option<Method>,
    pub threshold: Option<f64>,
}

/// The drift method of a contract metric; `None` for unspecified (the default).
pub fn method_of(metric: DriftMetric) -> Option<Method> {
    match metric {
        DriftMetric::Unspecified => None,
        DriftMetric::Psi => Some(Method::Psi),
        DriftMetric::KlDivergence => Some(Method::Kl),
        DriftMetric::JsDistance => Some(Method::JensenShannon),
        DriftMetric::Wasserstein => Some(Method::Wasserstein),
        DriftMetric::Ks => Some(Method::Ks),
        DriftMetric::ChiSquare => Some(Method::ChiSquare),
        DriftMetric::ZTest => Some(Method::ZTest),
        DriftMetric::Hellinger => Some(Method::Hellinger),
    }
}

/// The API's name of a method, as results and gauges label it: `psi`, `kl_divergence`,
/// `js_distance`, `wasserstein`, `ks`, `chi_square`, `z_test`, `hellinger`.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Psi => "psi",
        Method::Kl => "kl_divergence",
        Method::JensenShannon => "js_distance",
        Method::Wasserstein => "wasserstein",
        Method::Ks => "ks",
        Method::ChiSquare => "chi_square",
        Method::ZTest => "z_test",
        Method::Hellinger => "hellinger",
    }
}

/// The method named `name`: Evidently's stattest name (`kl_div`, `jensenshannon`,
/// `chisquare`, `z`…) or the API's (`kl_divergence`, `js_distance`, `chi_square`, `z_test`…).
pub fn parse_method(name: &str) -> Option<Method> {
    Method::from_name(name).or_else(|| {
        let upper = format!("DRIFT_METRIC_{}", name.to_ascii_uppercase());
        DriftMetric::from_str_name(&upper).and_then(method_of)
    })
}

/// The checks of a monitor or a comparison request; an out-of-range threshold is refused.
pub fn checks_of(checks: &[FeatureCheck]) -> Vec<Check> {
    checks
        .iter()
        .map(|check| Check {
            column: check.column.clone(),
            method: DriftMetric::try_from(check.metric).ok().and_then(method_of),
            threshold: (check.threshold > 0.0).then_some(check.threshold),
        })
        .collect()
}

/// Whether a column is data to compare (not the row's id or time).
fn comparable(name: &str) -> bool {
    name != PREDICTION_ID && name != crate::data::TIMESTAMP
}

/// The drift of `current` against `reference` over `checks` (every column both share, with
/// the defaults, when empty). A checked column missing from either side is reported with a
/// note and no statistic, and does not count in the share of drifted columns.
pub fn compare_frames(
    reference: &Frame,
    current: &Frame,
    checks: &[Check],
    drift_share: Option<f64>,
) -> Result<Report> {
    let checks: Vec<Check> = if checks.is_empty() {
        reference
            .columns
            .iter()
            .filter(|(name, _)| comparable(name) && current.column(name).is_some())
            .map(|(name, _)| Check {
                column: name.clone(),
                method: None,
                threshold: None,
            })
            .collect()
    } else {
        checks.to_vec()
    };
    if checks.is_empty() {
        return Err(Error::of(
            reasons::INVALID_DATASET,
            "the two datasets share no column to compare",
        ));
    }
    let share = drift_share
        .filter(|s| *s > 0.0)
        .unwrap_or(drift::DEFAULT_DRIFT_SHARE);
    let mut testable = Vec::new();
    let mut untestable = Vec::new();
    for check in &checks {
        match (reference.column(&check.column), current.column(&check.column)) {
            (Some(r), Some(c)) => testable.push((check, r, c)),
            (r, _) => {
                let side = if r.is_none() { "reference" } else { "current data" };
                untestable.push(ColumnResult {
                    column: check.column.clone(),
                    method: check.method.map(method_name).unwrap_or_default().to_owned(),
                    statistic: None,
                    threshold: check.threshold.unwrap_or(0.0),
                    drifted: false,
                    missing_share_reference: 0.0,
                    missing_share_current: 0.0,
                    note: format!("the {side} has no column '{}'", check.column),
                });
            }
        }
    }
    // Categorical columns are borrowed as `Option<&str>`; their buffers must outlive the call.
    let buffers: Vec<(Borrowed<'_>, Borrowed<'_>)> = testable
        .iter()
        .map(|(_, r, c)| (borrowed(r), borrowed(c)))
        .collect();
    let columns: Vec<DatasetColumn<'_>> = testable
        .iter()
        .zip(&buffers)
        .map(|((check, r, c), (rb, cb))| {
            (
                check.column.as_str(),
                column(r, rb.as_deref()),
                column(c, cb.as_deref()),
                ColumnOptions {
                    method: check.method,
                    threshold: check.threshold,
                },
            )
        })
        .collect();
    let drift = drift::dataset_drift(&columns, share);
    let distributions = columns
        .iter()
        .map(|(name, r, c, _)| crate::report::distribution::distribution(name, *r, *c))
        .collect();
    let mut results: Vec<ColumnResult> = drift
        .columns
        .iter()
        .map(|(name, column)| ColumnResult {
            column: name.clone(),
            method: method_name(column.method).to_owned(),
            statistic: column.statistic,
            threshold: column.threshold,
            drifted: column.drifted,
            missing_share_reference: column.missing_share_reference,
            missing_share_current: column.missing_share_current,
            note: column.note.clone().unwrap_or_default(),
        })
        .collect();
    results.extend(untestable);
    Ok(Report {
        result: Some(WindowResult {
            rows: current.rows as u64,
            reference_rows: reference.rows as u64,
            columns: results,
            drifted_columns: u32::try_from(drift.drifted_columns).unwrap_or(u32::MAX),
            drifted_share: drift.drifted_share,
            share_threshold: share,
            drifted: drift.drifted,
            ..WindowResult::default()
        }),
        distributions,
        html: String::new(),
    })
}

/// A categorical column's values borrowed as the statistics take them; `None` for numbers.
type Borrowed<'a> = Option<Vec<Option<&'a str>>>;

fn borrowed(values: &Values) -> Borrowed<'_> {
    match values {
        Values::Numeric(_) => None,
        Values::Categorical(texts) => Some(categories(texts)),
    }
}

fn column<'a>(values: &'a Values, buffer: Option<&'a [Option<&'a str>]>) -> Column<'a> {
    match (values, buffer) {
        (Values::Categorical(_), Some(buffer)) => Column::Categorical(buffer),
        (Values::Numeric(numbers), _) => Column::Numeric(numbers),
        (Values::Categorical(_), None) => Column::Categorical(&[]),
    }
}

/// The report as a self-contained HTML page.
pub fn render_html(report: &Report, title: &str) -> String {
    crate::report::html::render(report, title)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::read_json_rows;

    #[test]
    fn methods_parse_by_either_name() {
        assert_eq!(parse_method("kl_div"), Some(Method::Kl));
        assert_eq!(parse_method("kl_divergence"), Some(Method::Kl));
        assert_eq!(parse_method("js_distance"), Some(Method::JensenShannon));
        assert_eq!(parse_method("chi_square"), Some(Method::ChiSquare));
        assert_eq!(parse_method("z_test"), Some(Method::ZTest));
        assert_eq!(parse_method("wasserstein"), Some(Method::Wasserstein));
        assert_eq!(parse_method("median"), None);
        for method in Method::ALL {
            assert_eq!(parse_method(method_name(method)), Some(method));
        }
    }

    #[test]
    fn a_shifted_column_drifts_and_a_missing_one_is_noted() {
        let reference: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"x": {}, "c": "{}"}}"#, i % 50, ["a", "b"][i % 2]))
            .collect();
        let current: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"x": {}, "c": "{}"}}"#, 40 + i % 50, ["a", "b"][i % 2]))
            .collect();
        let reference = read_json_rows(format!("[{}]", reference.join(",")).as_bytes()).unwrap();
        let current = read_json_rows(format!("[{}]", current.join(",")).as_bytes()).unwrap();
        let report = compare_frames(&reference, &current, &[], None).unwrap();
        let result = report.result.unwrap();
        assert_eq!(result.columns.len(), 2);
        let x = result.columns.iter().find(|c| c.column == "x").unwrap();
        assert!(x.drifted, "{x:?}");
        let c = result.columns.iter().find(|c| c.column == "c").unwrap();
        assert!(!c.drifted, "{c:?}");
        assert_eq!(result.drifted_columns, 1);
        assert!(result.drifted, "1 of 2 reaches the default share 0.5");
        assert_eq!(report.distributions.len(), 2);

        let checks = [
            Check {
                column: "x".into(),
                method: Some(Method::Psi),
                threshold: Some(100.0),
            },
            Check {
                column: "nope".into(),
                method: None,
                threshold: None,
            },
        ];
        let result = compare_frames(&reference, &current, &checks, None)
            .unwrap()
            .result
            .unwrap();
        assert!(!result.drifted);
        assert_eq!(result.columns[0].method, "psi");
        assert!(result.columns[1].note.contains("no column 'nope'"));
        assert_eq!(result.columns[1].statistic, None);
    }
}
