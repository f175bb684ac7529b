//! Both samples of a column over the same bins, for drawing them side by side.
//!
//! The bins are the ones the drift statistics compare (Evidently's rule, see
//! [`crate::drift`]):
//! * a numeric column with more than [`MAX_DISTINCT_UNBINNED`] distinct reference values gets
//!   equal-width Sturges bins over the finite values of both samples (`edges`, one more than
//!   the counts; numpy's `histogram`: `[e_i, e_{i+1})`, the last bin closed);
//! * any other numeric column one bin per distinct value of either sample, ascending,
//!   labelled with the value's shortest round-trip text (`1`, `2.5`);
//! * a categorical column one bin per category of either sample, by reference count
//!   descending then name, at most [`MAX_CATEGORY_BINS`] bins: the rest are summed into a
//!   last [`OTHER_LABEL`] bin.
//!
//! Missing values (NaN, ±inf, `None`) are not counted. When the two samples are of different
//! kinds, the numbers are taken as categories written as text, so both can still be drawn.

use std::collections::HashMap;

use lathe_contract::monitor::v1::{ColumnKind, Distribution};

use super::format_number;
use crate::drift::Column;
use crate::drift::sample::{MAX_DISTINCT_UNBINNED, NumericSample, histogram, pooled_runs, sturges_edges};

/// The most bins a categorical column is drawn with, [`OTHER_LABEL`] included.
pub const MAX_CATEGORY_BINS: usize = 30;
/// The label of the bin that sums the categories beyond the first `MAX_CATEGORY_BINS - 1`.
pub const OTHER_LABEL: &str = "(other)";

/// Both samples of the column `name` over the same bins (see the module docs).
pub fn distribution(name: &str, reference: Column<'_>, current: Column<'_>) -> Distribution {
    match (reference, current) {
        (Column::Numeric(reference), Column::Numeric(current)) => numeric(name, reference, current),
        (Column::Categorical(reference), Column::Categorical(current)) => categorical(
            name,
            reference.iter().flatten().copied(),
            current.iter().flatten().copied(),
        ),
        (Column::Numeric(_), Column::Categorical(_)) | (Column::Categorical(_), Column::Numeric(_)) => {
            let reference = as_text(reference);
            let current = as_text(current);
            categorical(
                name,
                reference.iter().map(String::as_str),
                current.iter().map(String::as_str),
            )
        }
    }
}

/// The non-missing values of a column as text.
fn as_text(column: Column<'_>) -> Vec<String> {
    match column {
        Column::Numeric(values) => values
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| format_number(v))
            .collect(),
        Column::Categorical(values) => values.iter().flatten().map(|&v| v.to_owned()).collect(),
    }
}

fn numeric(name: &str, reference: &[f64], current: &[f64]) -> Distribution {
    let reference = NumericSample::new(reference);
    let current = NumericSample::new(current);
    let mut distribution = Distribution {
        column: name.to_owned(),
        kind: ColumnKind::Numeric.into(),
        ..Distribution::default()
    };
    if reference.distinct() > MAX_DISTINCT_UNBINNED {
        // More than 20 distinct values: the reference is not empty.
        let pooled_min = reference.values[0].min(current.values.first().copied().unwrap_or(f64::INFINITY));
        let pooled_max = reference.values[reference.values.len() - 1]
            .max(current.values.last().copied().unwrap_or(f64::NEG_INFINITY));
        let edges = sturges_edges(
            pooled_min,
            pooled_max,
            reference.values.len() + current.values.len(),
        );
        distribution.reference = histogram(&reference.values, &edges);
        distribution.current = histogram(&current.values, &edges);
        distribution.edges = edges;
    } else {
        let values = distinct_values(&reference.values, &current.values);
        distribution.labels = values.iter().map(|&v| format_number(v)).collect();
        (distribution.reference, distribution.current) =
            pooled_runs(&reference.values, &current.values).unzip();
    }
    distribution
}

/// The distinct values of two sorted samples, ascending, `-0.0` and `0.0` as one value: the
/// bins that [`pooled_runs`] counts, in the same order.
fn distinct_values(reference: &[f64], current: &[f64]) -> Vec<f64> {
    let mut values: Vec<f64> = reference.iter().chain(current).copied().collect();
    values.sort_unstable_by(f64::total_cmp);
    values.dedup_by(|a, b| a == b);
    values
}

fn categorical<'a>(
    name: &str,
    reference: impl Iterator<Item = &'a str>,
    current: impl Iterator<Item = &'a str>,
) -> Distribution {
    let mut table: HashMap<&str, (u64, u64)> = HashMap::new();
    for category in reference {
        table.entry(category).or_default().0 += 1;
    }
    for category in current {
        table.entry(category).or_default().1 += 1;
    }
    let mut categories: Vec<(&str, (u64, u64))> = table.into_iter().collect();
    categories.sort_unstable_by(|(a, (a_count, _)), (b, (b_count, _))| b_count.cmp(a_count).then(a.cmp(b)));

    let mut distribution = Distribution {
        column: name.to_owned(),
        kind: ColumnKind::Categorical.into(),
        ..Distribution::default()
    };
    let kept = if categories.len() > MAX_CATEGORY_BINS {
        MAX_CATEGORY_BINS - 1
    } else {
        categories.len()
    };
    for &(category, (reference, current)) in &categories[..kept] {
        distribution.labels.push(category.to_owned());
        distribution.reference.push(reference);
        distribution.current.push(current);
    }
    if kept < categories.len() {
        let rest = &categories[kept..];
        distribution.labels.push(OTHER_LABEL.to_owned());
        distribution
            .reference
            .push(rest.iter().map(|(_, (r, _))| r).sum());
        distribution.current.push(rest.iter().map(|(_, (_, c))| c).sum());
    }
    distribution
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::drift::sample::binned_counts;

    fn numeric_case(reference: &[f64], current: &[f64]) -> Distribution {
        distribution("x", Column::Numeric(reference), Column::Numeric(current))
    }

    #[test]
    fn few_distinct_numbers_get_one_labelled_bin_each_in_ascending_order() {
        let d = numeric_case(&[2.5, 1.0, 1.0, f64::NAN, -0.0], &[0.0, 3.0, f64::INFINITY]);
        assert_eq!(d.kind, i32::from(ColumnKind::Numeric));
        assert_eq!(d.labels, ["0", "1", "2.5", "3"]);
        assert!(d.edges.is_empty());
        assert_eq!(d.reference, [1, 2, 1, 0]);
        assert_eq!(d.current, [1, 0, 0, 1]);
    }

    #[test]
    fn many_distinct_numbers_get_sturges_bins_over_both_samples() {
        let reference: Vec<f64> = (0..21).map(f64::from).collect();
        let current = [-10.0, 30.0, f64::NEG_INFINITY];
        let d = numeric_case(&reference, &current);
        assert!(d.labels.is_empty());
        // 23 finite values: ceil(log2(23) + 1) = 6 bins over [-10, 30].
        assert_eq!(d.edges.len(), 7);
        assert_eq!((d.edges[0], d.edges[6]), (-10.0, 30.0));
        assert_eq!(d.reference.iter().sum::<u64>(), 21);
        assert_eq!(d.current, [1, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn twenty_distinct_reference_values_stay_unbinned() {
        let reference: Vec<f64> = (0..20).map(f64::from).collect();
        let d = numeric_case(&reference, &[100.5]);
        assert_eq!(d.labels.len(), 21);
        assert_eq!(d.labels.last().map(String::as_str), Some("100.5"));
    }

    #[test]
    fn empty_samples_give_zero_counts_of_the_right_length() {
        let reference: Vec<f64> = (0..50).map(f64::from).collect();
        let d = numeric_case(&reference, &[f64::NAN]);
        assert_eq!(d.current, vec![0; d.edges.len() - 1]);
        let d = numeric_case(&[], &[1.0, 2.0]);
        assert_eq!((d.reference, d.current), (vec![0, 0], vec![1, 1]));
        let d = numeric_case(&[], &[]);
        assert!(d.reference.is_empty() && d.current.is_empty() && d.labels.is_empty());
        let d = distribution(
            "c",
            Column::Categorical(&[None]),
            Column::Categorical(&[Some("a")]),
        );
        assert_eq!((d.reference, d.current), (vec![0], vec![1]));
    }

    #[test]
    fn categories_are_ordered_by_reference_count_then_name() {
        let reference = [Some("b"), Some("a"), Some("c"), Some("c"), None];
        let current = [Some("z"), Some("a"), Some("y"), None, None];
        let d = distribution(
            "c",
            Column::Categorical(&reference),
            Column::Categorical(&current),
        );
        assert_eq!(d.kind, i32::from(ColumnKind::Categorical));
        assert_eq!(d.labels, ["c", "a", "b", "y", "z"]);
        assert_eq!(d.reference, [2, 1, 1, 0, 0]);
        assert_eq!(d.current, [0, 1, 0, 1, 1]);
    }

    #[test]
    fn categories_beyond_thirty_bins_are_summed_into_other() {
        let names: Vec<String> = (0..40).map(|i| format!("c{i:02}")).collect();
        // c00 once, c01 twice, ...: the most frequent reference categories come first.
        let reference: Vec<Option<&str>> = names
            .iter()
            .enumerate()
            .flat_map(|(i, name)| std::iter::repeat_n(Some(name.as_str()), i + 1))
            .collect();
        let current: Vec<Option<&str>> = names.iter().map(|name| Some(name.as_str())).collect();
        let d = distribution(
            "c",
            Column::Categorical(&reference),
            Column::Categorical(&current),
        );
        assert_eq!(d.labels.len(), MAX_CATEGORY_BINS);
        assert_eq!(d.labels[0], "c39");
        assert_eq!(d.labels[28], "c11");
        assert_eq!(d.labels[29], OTHER_LABEL);
        // c00..c10: 1 + 2 + ... + 11 reference rows, one current row each.
        assert_eq!(d.reference[29], 66);
        assert_eq!(d.current[29], 11);
        assert_eq!(d.reference.iter().sum::<u64>(), reference.len() as u64);
    }

    #[test]
    fn columns_of_different_kinds_are_drawn_as_categories() {
        let d = distribution(
            "x",
            Column::Numeric(&[1.0, 1.0, f64::NAN]),
            Column::Categorical(&[Some("1"), Some("a")]),
        );
        assert_eq!(d.kind, i32::from(ColumnKind::Categorical));
        assert_eq!(d.labels, ["1", "a"]);
        assert_eq!((d.reference, d.current), (vec![2, 0], vec![1, 1]));
    }

    /// The bin of `value` by a linear scan: `[e_i, e_{i+1})`, the last bin closed.
    fn naive_bin(edges: &[f64], value: f64) -> Option<usize> {
        let last = edges.len() - 2;
        (0..=last)
            .find(|&i| edges[i] <= value && (value < edges[i + 1] || (i == last && value == edges[i + 1])))
    }

    fn numeric_values() -> impl Strategy<Value = Vec<f64>> {
        let value = prop_oneof![
            8 => (-1000i32..1000).prop_map(|v| f64::from(v) / 8.0),
            2 => -1e6f64..1e6,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
        ];
        prop::collection::vec(value, 0..120)
    }

    proptest! {
        #[test]
        fn numeric_counts_match_the_drift_bins_and_a_linear_scan(
            reference in numeric_values(),
            current in numeric_values(),
        ) {
            let d = numeric_case(&reference, &current);
            let finite = |values: &[f64]| values.iter().filter(|v| v.is_finite()).count() as u64;
            prop_assert_eq!(d.reference.iter().sum::<u64>(), finite(&reference));
            prop_assert_eq!(d.current.iter().sum::<u64>(), finite(&current));
            prop_assert_eq!(d.reference.len(), d.current.len());
            if d.edges.is_empty() {
                prop_assert_eq!(d.labels.len(), d.reference.len());
            } else {
                prop_assert!(d.labels.is_empty());
                prop_assert_eq!(d.edges.len(), d.reference.len() + 1);
                for (values, counts) in [(&reference, &d.reference), (&current, &d.current)] {
                    let mut expected = vec![0u64; d.edges.len() - 1];
                    for &value in values.iter().filter(|v| v.is_finite()) {
                        expected[naive_bin(&d.edges, value).expect("the edges span the data")] += 1;
                    }
                    prop_assert_eq!(&expected, counts);
                }
            }
            let reference_sample = NumericSample::new(&reference);
            let current_sample = NumericSample::new(&current);
            if !reference_sample.values.is_empty() {
                let drift_bins = binned_counts(&reference_sample, &current_sample);
                prop_assert_eq!(&drift_bins.reference, &d.reference);
                prop_assert_eq!(&drift_bins.current, &d.current);
            }
        }

        #[test]
        fn categorical_counts_cover_every_present_value(
            reference in prop::collection::vec(prop::option::weighted(0.9, "[a-z]{1,2}"), 0..200),
            current in prop::collection::vec(prop::option::weighted(0.9, "[a-z]{1,2}"), 0..200),
        ) {
            let reference: Vec<Option<&str>> = reference.iter().map(Option::as_deref).collect();
            let current: Vec<Option<&str>> = current.iter().map(Option::as_deref).collect();
            let d = distribution("c", Column::Categorical(&reference), Column::Categorical(&current));
            prop_assert_eq!(d.reference.iter().sum::<u64>(), reference.iter().flatten().count() as u64);
            prop_assert_eq!(d.current.iter().sum::<u64>(), current.iter().flatten().count() as u64);
            prop_assert_eq!(d.labels.len(), d.reference.len());
            prop_assert_eq!(d.labels.len(), d.current.len());
            prop_assert!(d.labels.len() <= MAX_CATEGORY_BINS);
            let kept = if d.labels.last().map(String::as_str) == Some(OTHER_LABEL) {
                d.labels.len() - 1
            } else {
                d.labels.len()
            };
            for pair in (0..kept).collect::<Vec<_>>().windows(2) {
                let (a, b) = (pair[0], pair[1]);
                prop_assert!(
                    d.reference[a] > d.reference[b]
                        || (d.reference[a] == d.reference[b] && d.labels[a] < d.labels[b])
                );
            }
            for (i, label) in d.labels[..kept].iter().enumerate() {
                let count = |values: &[Option<&str>]| values.iter().filter(|v| **v == Some(label.as_str())).count() as u64;
                prop_assert_eq!(d.reference[i], count(&reference));
                prop_assert_eq!(d.current[i], count(&current));
            }
        }
    }
}
