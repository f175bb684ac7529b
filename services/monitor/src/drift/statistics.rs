//! The statistics themselves, on prepared samples (see [`super::sample`]). Each follows the
//! Evidently implementation named in its doc comment, down to scipy's normalisations.

use super::sample::{Counts, pooled_runs, smooth_empty_bins, sorted_histogram, sturges_edges};
use super::special::{chi2_sf, normal_cdf};

/// Population stability index over smoothed shares: `Σ (r - c) ln(r / c)` (Evidently `psi`).
pub fn psi(counts: &Counts) -> f64 {
    let (mut reference, mut current) = counts.shares();
    smooth_empty_bins(&mut reference);
    smooth_empty_bins(&mut current);
    reference
        .iter()
        .zip(&current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// `KL(reference ‖ current)` in nats over smoothed shares, both renormalised to sum to one
/// as `scipy.stats.entropy` does (Evidently `kl_div`).
pub fn kl_divergence(counts: &Counts) -> f64 {
    let (mut reference, mut current) = counts.shares();
    smooth_empty_bins(&mut reference);
    smooth_empty_bins(&mut current);
    let (sum_r, sum_c): (f64, f64) = (reference.iter().sum(), current.iter().sum());
    reference
        .iter()
        .zip(&current)
        .map(|(r, c)| relative_entropy(r / sum_r, c / sum_c))
        .sum()
}

/// `scipy.special.rel_entr`: `x ln(x / y)`, zero when `x` is zero.
fn relative_entropy(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if y == 0.0 {
        f64::INFINITY
    } else {
        x * (x / y).ln()
    }
}

/// Jensen–Shannon distance with the natural logarithm, unsmoothed shares
/// (`scipy.spatial.distance.jensenshannon`, Evidently `jensenshannon`); in `[0, sqrt(ln 2)]`.
pub fn jensen_shannon(counts: &Counts) -> f64 {
    let (reference, current) = counts.shares();
    let (sum_r, sum_c): (f64, f64) = (reference.iter().sum(), current.iter().sum());
    let mut divergence = 0.0;
    for (r, c) in reference.iter().zip(&current) {
        let (p, q) = (r / sum_r, c / sum_c);
        let m = (p + q) / 2.0;
        divergence += relative_entropy(p, m) + relative_entropy(q, m);
    }
    (divergence / 2.0).sqrt()
}

/// Hellinger distance of categorical shares: `sqrt(1 - Σ sqrt(r c))` (Evidently `hellinger`).
pub fn hellinger_categorical(counts: &Counts) -> f64 {
    let (reference, current) = counts.shares();
    let coefficient: f64 = reference.iter().zip(&current).map(|(r, c)| (r * c).sqrt()).sum();
    (1.0 - coefficient.clamp(0.0, 1.0)).sqrt()
}

/// Hellinger distance of numeric columns as Evidently computes it: Sturges bins over the
/// distinct pooled values (not the pooled data), densities times the mean bin width. Both
/// samples sorted, finite, non-empty.
pub fn hellinger_numeric(reference: &[f64], current: &[f64]) -> f64 {
    let distinct = pooled_runs(reference, current).count();
    let min = reference[0].min(current[0]);
    let max = reference[reference.len() - 1].max(current[current.len() - 1]);
    let edges = sturges_edges(min, max, distinct);
    let h1 = sorted_histogram(reference, &edges);
    let h2 = sorted_histogram(current, &edges);
    let bins = edges.len() - 1;
    let bin_width = (edges[bins] - edges[0]) / bins as f64;
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let mut coefficient = 0.0;
    for i in 0..bins {
        let db = edges[i + 1] - edges[i];
        let d1 = h1[i] as f64 / db / n1;
        let d2 = h2[i] as f64 / db / n2;
        coefficient += (d1 * d2).sqrt() * bin_width;
    }
    (1.0 - coefficient.clamp(0.0, 1.0)).sqrt()
}

/// Population standard deviation (numpy's `std`, ddof 0).
fn standard_deviation(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// What one merge of two sorted samples gives: the area between their ECDFs (scipy's
/// `wasserstein_distance`, `∫ |F_r - F_c|`) and the largest gap between them (the KS
/// statistic).
#[derive(Clone, Copy, Debug)]
pub struct EcdfGaps {
    pub area: f64,
    pub supremum: f64,
}

/// [`EcdfGaps`] of two sorted, finite, non-empty samples in one pass over their distinct
/// pooled values. The area sums `|F_r - F_c|` times each step's width; the KS gap compares
/// the ECDF levels formed like numpy's `linspace(0, 1, n + 1)`, as `ks_2samp` does.
pub fn ecdf_gaps(reference: &[f64], current: &[f64]) -> EcdfGaps {
    let (n1, n2) = (reference.len(), current.len());
    let (n1_f, n2_f) = (n1 as f64, n2 as f64);
    let (step1, step2) = (1.0 / n1_f, 1.0 / n2_f);
    let level = |count: usize, len: usize, step: f64| if count == len { 1.0 } else { count as f64 * step };
    let (mut i, mut j) = (0, 0);
    let mut area = 0.0;
    // At the first value both ECDFs are 0 below it: the first step adds 0 × 0.
    let mut previous = reference[0].min(current[0]);
    let (mut max_diff, mut min_diff) = (0.0_f64, 0.0_f64);
    while i < n1 || j < n2 {
        // An exhausted sample reads as +inf, above every finite value.
        let a = if i < n1 { reference[i] } else { f64::INFINITY };
        let b = if j < n2 { current[j] } else { f64::INFINITY };
        let value = a.min(b);
        // ECDFs are constant on [previous, value): i and j count values <= previous.
        area += (i as f64 / n1_f - j as f64 / n2_f).abs() * (value - previous);
        // Without branches on which sample holds the value: on interleaved samples a branch
        // would be mispredicted half the time. `a <= b` is `a == value` one step earlier in
        // the chain from one index to the next. Runs of ties are rare and take the loops.
        i += usize::from(a <= b);
        j += usize::from(b <= a);
        while i < n1 && reference[i] == value {
            i += 1;
        }
        while j < n2 && current[j] == value {
            j += 1;
        }
        let diff = level(i, n1, step1) - level(j, n2, step2);
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
        previous = value;
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    EcdfGaps {
        area,
        supremum: if min_s > max_diff { min_s } else { max_diff },
    }
}

/// The first Wasserstein distance between the empirical distributions (scipy's
/// `wasserstein_distance`: the `area` of [`ecdf_gaps`]), divided by `max(std(reference),
/// 0.001)` (Evidently `wasserstein`). `reference` sorted, so the sums always run in one order.
pub fn normalise_wasserstein(area: f64, reference: &[f64]) -> f64 {
    area / standard_deviation(reference).max(0.001)
}

/// Pearson's chi-square p-value of the current counts against the reference shares scaled to
/// the current size (Evidently `chisquare`, scipy's `chisquare(f_obs, f_exp)`). A category
/// the reference never saw makes the statistic infinite and the p-value zero. With a single
/// category there is nothing to test: the p-value is 1.
pub fn chi_square_p_value(counts: &Counts) -> f64 {
    if counts.len() < 2 {
        return 1.0;
    }
    let scale = counts.current_total as f64 / counts.reference_total as f64;
    let mut statistic = 0.0;
    for (&r, &c) in counts.reference.iter().zip(&counts.current) {
        let expected = r as f64 * scale;
        let difference = c as f64 - expected;
        statistic += difference * difference / expected;
    }
    chi2_sf(statistic, (counts.len() - 1) as f64)
}

/// Two-proportion z-test p-value (Evidently `z`): the share of values other than the first
/// key in each sample, pooled variance, two-sided `2 (1 - Φ(|z|))`. Both samples holding the
/// same single value give 1.
pub fn z_test_p_value(counts: &Counts) -> f64 {
    if counts.len() < 2 {
        return 1.0;
    }
    let (n1, n2) = (counts.reference_total as f64, counts.current_total as f64);
    let p1 = (counts.reference_total - counts.reference[0]) as f64 / n1;
    let p2 = (counts.current_total - counts.current[0]) as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    2.0 * (1.0 - normal_cdf(z.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(reference: &[u64], current: &[u64]) -> Counts {
        let keys: Vec<String> = (0..reference.len()).map(|i| format!("k{i:03}")).collect();
        let expand = |counts: &[u64]| -> Vec<&str> {
            counts
                .iter()
                .zip(&keys)
                .flat_map(|(&c, k)| std::iter::repeat_n(k.as_str(), c as usize))
                .collect()
        };
        let (r, c) = (expand(reference), expand(current));
        Counts::from_categories(r.into_iter(), c.into_iter())
    }

    #[test]
    fn identical_distributions_have_no_distance() {
        let same = counts(&[10, 20, 30], &[1, 2, 3]);
        assert!(psi(&same).abs() < 1e-15);
        assert!(kl_divergence(&same).abs() < 1e-15);
        assert!(jensen_shannon(&same).abs() < 1e-7);
        assert!(hellinger_categorical(&same).abs() < 1e-7);
        assert!((chi_square_p_value(&same) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn disjoint_distributions_reach_the_maximum_distance() {
        let disjoint = counts(&[5, 0], &[0, 5]);
        assert!((jensen_shannon(&disjoint) - 2.0_f64.ln().sqrt()).abs() < 1e-15);
        assert!((hellinger_categorical(&disjoint) - 1.0).abs() < 1e-15);
        assert_eq!(chi_square_p_value(&disjoint), 0.0);
    }

    #[test]
    fn psi_matches_the_direct_formula() {
        let c = counts(&[50, 30, 20], &[40, 40, 20]);
        let expected = (0.5 - 0.4) * (0.5_f64 / 0.4).ln() + (0.3 - 0.4) * (0.3_f64 / 0.4).ln();
        assert!((psi(&c) - expected).abs() < 1e-15);
    }

    #[test]
    fn wasserstein_of_a_shift_is_the_shift() {
        let reference = [0.0, 1.0, 2.0, 3.0];
        let current = [0.5, 1.5, 2.5, 3.5];
        let std = standard_deviation(&reference);
        let area = ecdf_gaps(&reference, &current).area;
        assert!((normalise_wasserstein(area, &reference) - 0.5 / std).abs() < 1e-15);
    }
}
