//! Drift statistics against slow, obvious oracles on random inputs: the exact KS p-value by
//! enumerating every split of the pooled sample, Wasserstein and PSI by their direct formulas.

use lathe_monitor::drift::{Column, ColumnOptions, Method, column_drift, kolmogorov};
use proptest::prelude::*;

/// `sup |F1 - F2|` by evaluating both ECDFs at every pooled value.
fn naive_ks_statistic(reference: &[f64], current: &[f64]) -> f64 {
    let ecdf =
        |sample: &[f64], at: f64| sample.iter().filter(|&&v| v <= at).count() as f64 / sample.len() as f64;
    reference
        .iter()
        .chain(current)
        .map(|&v| (ecdf(reference, v) - ecdf(current, v)).abs())
        .fold(0.0, f64::max)
}

/// `P(D >= d)` under the null: the share of the `C(n1 + n2, n1)` ways to split the pooled
/// (tie-free) values whose statistic reaches `d`.
fn enumerated_p_value(pooled: &[f64], n1: usize, d: f64) -> f64 {
    let total = pooled.len();
    let (mut reaching, mut splits) = (0_u64, 0_u64);
    for mask in 0_u32..(1 << total) {
        if mask.count_ones() as usize != n1 {
            continue;
        }
        let (mut reference, mut current) = (Vec::new(), Vec::new());
        for (i, &value) in pooled.iter().enumerate() {
            if mask & (1 << i) != 0 {
                reference.push(value);
            } else {
                current.push(value);
            }
        }
        splits += 1;
        if naive_ks_statistic(&reference, &current) >= d - 1e-12 {
            reaching += 1;
        }
    }
    reaching as f64 / splits as f64
}

fn population_std(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

proptest! {
    #[test]
    fn exact_ks_p_value_is_the_share_of_splits_reaching_d(
        n1 in 1_usize..=7,
        n2 in 1_usize..=7,
        order in proptest::collection::vec(any::<u32>(), 14),
    ) {
        // Distinct pooled values; `order` decides which go to the reference.
        let mut ranked: Vec<(u32, f64)> = order.iter().take(n1 + n2).enumerate().map(|(i, &k)| (k, i as f64)).collect();
        ranked.sort_by_key(|(k, _)| *k);
        let pooled: Vec<f64> = ranked.iter().map(|(_, v)| *v).collect();
        let mut reference = pooled[..n1].to_vec();
        let mut current = pooled[n1..].to_vec();
        reference.sort_by(f64::total_cmp);
        current.sort_by(f64::total_cmp);
        let result = kolmogorov::ks_two_sample(&reference, &current);
        let d = naive_ks_statistic(&reference, &current);
        prop_assert!((result.statistic - d).abs() < 1e-12);
        // Where scipy's exact computation leaves [0, 1] it falls back to the asymptotic
        // distribution (7 against 7 at D = 1/7 gives 0.99996), and so does Lathe: no
        // enumeration to compare with there.
        prop_assume!(kolmogorov::exact_p_value(n1, n2, d).is_some());
        let expected = enumerated_p_value(&pooled, n1, d);
        prop_assert!((result.p_value - expected).abs() < 1e-12, "{} vs {expected}", result.p_value);
    }

    #[test]
    fn wasserstein_of_equal_sizes_is_the_mean_sorted_gap(
        reference in proptest::collection::vec(-1e3_f64..1e3, 1..60),
        noise in proptest::collection::vec(-50.0_f64..50.0, 60),
    ) {
        let current: Vec<f64> = reference.iter().zip(&noise).map(|(r, n)| r + n).collect();
        let options = ColumnOptions { method: Some(Method::Wasserstein), threshold: None };
        let actual = column_drift(Column::Numeric(&reference), Column::Numeric(&current), &options)
            .statistic
            .expect("a statistic");
        let (mut a, mut b) = (reference.clone(), current.clone());
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let gap = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64;
        let expected = gap / population_std(&reference).max(0.001);
        prop_assert!((actual - expected).abs() <= 1e-9 * expected.abs() + 1e-12, "{actual} vs {expected}");
    }

    #[test]
    fn psi_without_empty_bins_is_the_direct_sum(
        reference_counts in proptest::collection::vec(1_usize..40, 2..6),
        current_counts in proptest::collection::vec(1_usize..40, 6),
    ) {
        let names = ["a", "b", "c", "d", "e", "f"];
        let expand = |counts: &[usize]| -> Vec<Option<&str>> {
            counts.iter().zip(names).flat_map(|(&c, name)| std::iter::repeat_n(Some(name), c)).collect()
        };
        let current_counts = &current_counts[..reference_counts.len()];
        let (reference, current) = (expand(&reference_counts), expand(current_counts));
        let options = ColumnOptions { method: Some(Method::Psi), threshold: None };
        let actual = column_drift(Column::Categorical(&reference), Column::Categorical(&current), &options)
            .statistic
            .expect("a statistic");
        let (nr, nc) = (reference.len() as f64, current.len() as f64);
        let expected: f64 = reference_counts
            .iter()
            .zip(current_counts)
            .map(|(&r, &c)| {
                let (r, c) = (r as f64 / nr, c as f64 / nc);
                (r - c) * (r / c).ln()
            })
            .sum();
        prop_assert!((actual - expected).abs() <= 1e-12 + 1e-12 * expected.abs(), "{actual} vs {expected}");
    }
}
