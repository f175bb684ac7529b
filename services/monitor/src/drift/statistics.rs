//! The statistics themselves, on prepared samples (see [`super::sample`]). Each follows the
//! Evidently implementation named in its doc comment, down to scipy's normalisations.

use super::sample::{Counts, NumericSample, histogram, smooth_empty_bins, sturges_edges};
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
/// distinct pooled values (not the pooled data), densities times the mean bin width.
pub fn hellinger_numeric(reference: &NumericSample, current: &NumericSample) -> f64 {
    let distinct = Counts::from_sorted_values(&reference.values, &current.values).len();
    let min = reference.values[0].min(current.values[0]);
    let max = reference.values[reference.values.len() - 1].max(current.values[current.values.len() - 1]);
    let edges = sturges_edges(min, max, distinct);
    let h1 = histogram(&reference.values, &edges);
    let h2 = histogram(&current.values, &edges);
    let bins = edges.len() - 1;
    let bin_width = (edges[bins] - edges[0]) / bins as f64;
    let (n1, n2) = (reference.values.len() as f64, current.values.len() as f64);
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

/// The first Wasserstein distance between the empirical distributions (scipy's
/// `wasserstein_distance`: `∫ |F_r - F_c|`), divided by `max(std(reference), 0.001)`
/// (Evidently `wasserstein`). Both samples sorted.
pub fn wasserstein_normalised(reference: &[f64], current: &[f64]) -> f64 {
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
            // ECDFs are constant on [previous, value): i and j count values <= previous.
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
    distance / standard_deviation(reference).max(0.001)
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
        assert!((wasserstein_normalised(&reference, &current) - 0.5 / std).abs() < 1e-15);
    }
}
