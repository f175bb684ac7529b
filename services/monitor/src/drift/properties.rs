//! The prepared, shared and faster paths against the straightforward ones they replace: the
//! arithmetic and binary-search histograms against the per-value search, the one-merge ECDF
//! gaps against the two separate walks, and every statistic of `column_drifts` against
//! `column_drift` one method at a time and against the comparison-sort pipeline.

use proptest::prelude::*;

use super::sample::{
    Counts, MAX_DISTINCT_UNBINNED, equal_width_histogram, histogram, pooled_runs, sorted_histogram,
    sturges_edges,
};
use super::*;

/// The Wasserstein area as the first implementation walked it.
fn walked_area(reference: &[f64], current: &[f64]) -> f64 {
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut distance = 0.0;
    let mut previous: Option<f64> = None;
    while i < reference.len() || j < current.len() {
        let value = match (reference.get(i), current.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        if let Some(previous) = previous {
            distance += (i as f64 / n1 - j as f64 / n2).abs() * (value - previous);
        }
        while i < reference.len() && reference[i] <= value {
            i += 1;
        }
        while j < current.len() && current[j] <= value {
            j += 1;
        }
        previous = Some(value);
    }
    distance
}

/// The KS statistic as the first implementation walked it.
fn walked_ks_statistic(reference: &[f64], current: &[f64]) -> f64 {
    let step1 = 1.0 / reference.len() as f64;
    let step2 = 1.0 / current.len() as f64;
    let level = |count: usize, len: usize, step: f64| if count == len { 1.0 } else { count as f64 * step };
    let (mut i, mut j) = (0, 0);
    let (mut max_diff, mut min_diff) = (0.0_f64, 0.0_f64);
    while i < reference.len() || j < current.len() {
        let value = match (reference.get(i), current.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        while i < reference.len() && reference[i] <= value {
            i += 1;
        }
        while j < current.len() && current[j] <= value {
            j += 1;
        }
        let diff = level(i, reference.len(), step1) - level(j, current.len(), step2);
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff { min_s } else { max_diff }
}

fn comparison_sorted(raw: &[f64]) -> Vec<f64> {
    let mut values: Vec<f64> = raw.iter().copied().filter(|v| v.is_finite()).collect();
    values.sort_unstable_by(f64::total_cmp);
    values
}

fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// Each statistic the way the first implementation computed it: comparison sort, the
/// per-value search histogram, one walk per statistic.
fn first_implementation(reference: &[f64], current: &[f64], method: Method) -> f64 {
    let (r, c) = (comparison_sorted(reference), comparison_sorted(current));
    let binned = || {
        let distinct = pooled_runs(&r, &[]).count();
        if distinct > MAX_DISTINCT_UNBINNED {
            let edges = sturges_edges(
                r[0].min(c[0]),
                r[r.len() - 1].max(c[c.len() - 1]),
                r.len() + c.len(),
            );
            Counts::from_bins(histogram(&r, &edges), histogram(&c, &edges))
        } else {
            Counts::from_sorted_values(&r, &c)
        }
    };
    match method {
        Method::Psi => statistics::psi(&binned()),
        Method::Kl => statistics::kl_divergence(&binned()),
        Method::JensenShannon => statistics::jensen_shannon(&binned()),
        Method::Wasserstein => walked_area(&r, &c) / population_std(&r).max(0.001),
        Method::Ks => kolmogorov::ks_from_statistic(r.len(), c.len(), walked_ks_statistic(&r, &c)).p_value,
        Method::ChiSquare => statistics::chi_square_p_value(&Counts::from_sorted_values(&r, &c)),
        Method::ZTest => statistics::z_test_p_value(&Counts::from_sorted_values(&r, &c)),
        Method::Hellinger => {
            let distinct = pooled_runs(&r, &c).count();
            let edges = sturges_edges(r[0].min(c[0]), r[r.len() - 1].max(c[c.len() - 1]), distinct);
            let (h1, h2) = (histogram(&r, &edges), histogram(&c, &edges));
            let bins = edges.len() - 1;
            let bin_width = (edges[bins] - edges[0]) / bins as f64;
            let mut coefficient = 0.0;
            for i in 0..bins {
                let db = edges[i + 1] - edges[i];
                let d1 = h1[i] as f64 / db / r.len() as f64;
                let d2 = h2[i] as f64 / db / c.len() as f64;
                coefficient += (d1 * d2).sqrt() * bin_width;
            }
            (1.0 - coefficient.clamp(0.0, 1.0)).sqrt()
        }
    }
}

/// Values with ties, both zeros, missing values, few or many distinct values.
fn sample() -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        6 => -50.0_f64..50.0,
        3 => (-4_i32..4).prop_map(f64::from),
        1 => prop::sample::select(vec![0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-310]),
    ];
    prop_oneof![
        proptest::collection::vec(value, 0..300),
        // Few distinct values: the unbinned and chi-square / z-test defaults.
        proptest::collection::vec(prop::sample::select(vec![1.0, 2.0, 3.0, -0.0]), 1..300),
        // Past the comparison-sort cut-off, so the radix passes run.
        proptest::collection::vec(-1e6_f64..1e6, 1_025..1_500),
    ]
}

fn same_bits(a: Option<f64>, b: Option<f64>) -> bool {
    a.map(f64::to_bits) == b.map(f64::to_bits)
}

proptest! {
    #[test]
    fn histograms_agree_with_the_per_value_search(
        values in proptest::collection::vec(-10.0_f64..10.0, 1..400),
        on_edges in proptest::collection::vec(0_usize..64, 0..40),
        missing in 0_usize..4,
    ) {
        let mut sorted = comparison_sorted(&values);
        let edges = sturges_edges(sorted[0], sorted[sorted.len() - 1], sorted.len() + on_edges.len());
        // Values exactly on edges: they belong to the bin on their right, the last edge to
        // the last bin.
        sorted.extend(on_edges.iter().map(|&i| edges[i % edges.len()]));
        sorted.sort_unstable_by(f64::total_cmp);
        let expected = histogram(&sorted, &edges);
        prop_assert_eq!(&sorted_histogram(&sorted, &edges), &expected);
        let mut raw = sorted.clone();
        raw.reverse();
        raw.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY].iter().take(missing));
        prop_assert_eq!(&equal_width_histogram(&raw, &edges), &expected);
        // Values outside the edges are not counted.
        let narrow = sturges_edges(-1.0, 1.0, 50);
        let inside: Vec<f64> = sorted.iter().copied().filter(|v| (-1.0..=1.0).contains(v)).collect();
        prop_assert_eq!(equal_width_histogram(&raw, &narrow), histogram(&inside, &narrow));
        prop_assert_eq!(sorted_histogram(&sorted, &narrow), histogram(&inside, &narrow));
    }

    #[test]
    fn one_merge_gives_both_walks_results_bit_for_bit(reference in sample(), current in sample()) {
        let (r, c) = (comparison_sorted(&reference), comparison_sorted(&current));
        prop_assume!(!r.is_empty() && !c.is_empty());
        let gaps = statistics::ecdf_gaps(&r, &c);
        prop_assert_eq!(gaps.area.to_bits(), walked_area(&r, &c).to_bits());
        prop_assert_eq!(gaps.supremum.to_bits(), walked_ks_statistic(&r, &c).to_bits());
    }

    #[test]
    fn column_drifts_equals_column_drift_per_method_and_the_first_implementation(
        reference in sample(),
        current in sample(),
        picks in proptest::collection::vec(0_usize..9, 1..6),
    ) {
        // 8 means the default method.
        let options: Vec<ColumnOptions> = picks
            .iter()
            .map(|&pick| ColumnOptions { method: Method::ALL.get(pick).copied(), threshold: None })
            .collect();
        let together = column_drifts(Column::Numeric(&reference), Column::Numeric(&current), &options);
        prop_assert_eq!(together.len(), options.len());
        for (drift, options) in together.iter().zip(&options) {
            let alone = column_drift(Column::Numeric(&reference), Column::Numeric(&current), options);
            prop_assert_eq!(&drift.method, &alone.method);
            prop_assert!(same_bits(drift.statistic, alone.statistic), "{drift:?} vs {alone:?}");
            prop_assert_eq!(drift.drifted, alone.drifted);
            prop_assert_eq!(&drift.note, &alone.note);
            prop_assert_eq!(drift.missing_share_reference, alone.missing_share_reference);
            prop_assert_eq!(drift.missing_share_current, alone.missing_share_current);
            if let Some(statistic) = drift.statistic {
                let first = first_implementation(&reference, &current, drift.method);
                prop_assert_eq!(statistic.to_bits(), first.to_bits(), "{:?}: {} vs {}", drift.method, statistic, first);
            }
        }
    }

    #[test]
    fn dataset_drift_shares_columns_and_keeps_the_order(
        reference in sample(),
        current in sample(),
        picks in proptest::collection::vec(0_usize..9, 1..6),
    ) {
        let other = [1.0, 2.0, 3.0];
        let mut columns = Vec::new();
        for (k, &pick) in picks.iter().enumerate() {
            let options = ColumnOptions { method: Method::ALL.get(pick).copied(), threshold: None };
            let name = if k % 2 == 0 { "shared" } else { "other" };
            let (r, c) = if k % 2 == 0 { (&reference[..], &current[..]) } else { (&other[..], &current[..]) };
            columns.push((name, Column::Numeric(r), Column::Numeric(c), options));
        }
        let drift = dataset_drift(&columns, DEFAULT_DRIFT_SHARE);
        prop_assert_eq!(drift.columns.len(), columns.len());
        for ((name, column), (expected_name, r, c, options)) in drift.columns.iter().zip(&columns) {
            prop_assert_eq!(name.as_str(), *expected_name);
            let alone = column_drift(*r, *c, options);
            prop_assert!(same_bits(column.statistic, alone.statistic));
            prop_assert_eq!(column.method, alone.method);
        }
    }
}
