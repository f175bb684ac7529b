//! One column's values made ready for every statistic, once: missing values dropped (NaN,
//! ±inf, `None`), numeric values sorted, and the shares per bin or per distinct value.

use std::collections::BTreeMap;

use super::sort::sorted_finite;

/// Distinct reference values up to which a numeric column keeps one bin per distinct value
/// (Evidently's `get_binned_data` bins only above 20).
pub const MAX_DISTINCT_UNBINNED: usize = 20;

/// A numeric column without its missing values, sorted ascending.
pub struct NumericSample {
    pub values: Vec<f64>,
    pub missing: usize,
    pub total: usize,
}

impl NumericSample {
    pub fn new(raw: &[f64]) -> NumericSample {
        let values = sorted_finite(raw);
        NumericSample {
            missing: raw.len() - values.len(),
            total: raw.len(),
            values,
        }
    }

    /// Distinct values (with `-0.0 == 0.0`, as pandas counts them).
    pub fn distinct(&self) -> usize {
        count_distinct(&self.values)
    }
}

fn count_distinct(sorted: &[f64]) -> usize {
    count_distinct_up_to(sorted, usize::MAX)
}

/// Distinct values of a sorted sample (`-0.0 == 0.0`), the count stopping at `limit`.
pub fn count_distinct_up_to(sorted: &[f64], limit: usize) -> usize {
    let mut count = 0;
    let mut previous: Option<f64> = None;
    for &value in sorted {
        if count == limit {
            break;
        }
        if previous != Some(value) {
            count += 1;
            previous = Some(value);
        }
    }
    count
}

/// Distinct finite values of `samples` together, in any order (`-0.0 == 0.0`), the count
/// stopping at `limit`: a scan against the values seen so far, for a small `limit`.
pub fn count_distinct_finite_up_to(samples: &[&[f64]], limit: usize) -> usize {
    let mut seen: Vec<f64> = Vec::with_capacity(limit);
    for &value in samples.iter().flat_map(|sample| sample.iter()) {
        if seen.len() == limit {
            break;
        }
        if value.is_finite() && !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen.len()
}

/// Counts per category (or per distinct numeric value) in both samples, in ascending key
/// order: the order Evidently's z-test uses to pick its reference category.
pub struct Counts {
    pub reference: Vec<u64>,
    pub current: Vec<u64>,
    pub reference_total: u64,
    pub current_total: u64,
}

impl Counts {
    pub fn from_categories<'a>(
        reference: impl Iterator<Item = &'a str>,
        current: impl Iterator<Item = &'a str>,
    ) -> Counts {
        let mut table: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for key in reference {
            table.entry(key).or_default().0 += 1;
        }
        for key in current {
            table.entry(key).or_default().1 += 1;
        }
        Counts::from_pairs(table.into_values())
    }

    /// One entry per distinct value of the two sorted samples.
    pub fn from_sorted_values(reference: &[f64], current: &[f64]) -> Counts {
        Counts::from_pairs(pooled_runs(reference, current))
    }

    /// Counts per bin of the two samples, bin by bin.
    pub fn from_bins(reference: Vec<u64>, current: Vec<u64>) -> Counts {
        Counts {
            reference_total: reference.iter().sum(),
            current_total: current.iter().sum(),
            reference,
            current,
        }
    }

    fn from_pairs(pairs: impl Iterator<Item = (u64, u64)>) -> Counts {
        let (reference, current): (Vec<u64>, Vec<u64>) = pairs.unzip();
        Counts::from_bins(reference, current)
    }

    /// The number of categories (or bins).
    pub fn len(&self) -> usize {
        self.reference.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reference.is_empty()
    }

    /// Each bin's share of its sample.
    pub fn shares(&self) -> (Vec<f64>, Vec<f64>) {
        let share = |counts: &[u64], total: u64| counts.iter().map(|&c| c as f64 / total as f64).collect();
        (
            share(&self.reference, self.reference_total),
            share(&self.current, self.current_total),
        )
    }
}

/// numpy's `histogram_bin_edges(data, bins="sturges")` for sorted finite `data`:
/// `ceil(ptp / (ptp / (log2(n) + 1)))` equal-width bins over min..max, or one bin over
/// `value ± 0.5` when all values are equal.
pub fn sturges_edges(min: f64, max: f64, n: usize) -> Vec<f64> {
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let ptp = max - min;
    let width = ptp / ((n as f64).log2() + 1.0);
    let bins = if width != 0.0 {
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    // numpy's linspace: start + i * step, the last edge set to the stop exactly.
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| first + i as f64 * step).collect();
    edges[bins] = last;
    edges
}

/// numpy's `histogram` counts over `edges`: bins are `[e_i, e_{i+1})`, the last one closed.
pub fn histogram(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len() - 1;
    let mut counts = vec![0; bins];
    for &value in sorted {
        if value < edges[0] || value > edges[bins] {
            continue;
        }
        let bin = edges
            .partition_point(|&edge| edge <= value)
            .saturating_sub(1)
            .min(bins - 1);
        counts[bin] += 1;
    }
    counts
}

/// [`histogram`] of a sorted sample by one binary search per edge.
pub fn sorted_histogram(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len() - 1;
    // A value is in bin i < bins - 1 when e_i <= value < e_{i+1}, in the last bin when
    // e_{bins-1} <= value <= e_bins: bounds are counts of values below each edge, the last
    // one of values up to it.
    let below = |edge: f64| sorted.partition_point(|&value| value < edge);
    let mut bounds: Vec<usize> = edges[..bins].iter().map(|&edge| below(edge)).collect();
    bounds.push(sorted.partition_point(|&value| value <= edges[bins]));
    bounds.windows(2).map(|pair| (pair[1] - pair[0]) as u64).collect()
}

/// [`histogram`] of values in any order over equal-width `edges` (as [`sturges_edges`] makes
/// them), by arithmetic instead of a search: each value's bin is computed from its offset,
/// then moved by the comparisons with its edges that decide it (a value on an edge belongs to
/// the bin on the right, the last bin is closed), as numpy's `histogram` does. Non-finite
/// values are skipped, as missing ones.
pub fn equal_width_histogram(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len() - 1;
    let (first, last) = (edges[0], edges[bins]);
    let scale = bins as f64 / (last - first);
    if !(scale.is_finite() && scale > 0.0) || edges.iter().any(|edge| !edge.is_finite()) {
        // Edges that do not span a finite range: count as the search does.
        let finite: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
        return histogram(&finite, edges);
    }
    let mut counts = vec![0; bins];
    for &value in values {
        // Also false for NaN; ±inf lie outside finite edges.
        if !(value >= first && value <= last) {
            continue;
        }
        let mut bin = (((value - first) * scale) as usize).min(bins - 1);
        while bin > 0 && value < edges[bin] {
            bin -= 1;
        }
        while bin + 1 < bins && value >= edges[bin + 1] {
            bin += 1;
        }
        counts[bin] += 1;
    }
    counts
}

/// Evidently's `get_binned_data`: Sturges bins over the pooled data when the column is
/// numeric with more than 20 distinct reference values, else one bin per distinct value.
pub fn binned_counts(reference: &NumericSample, current: &NumericSample) -> Counts {
    if count_distinct_up_to(&reference.values, MAX_DISTINCT_UNBINNED + 1) > MAX_DISTINCT_UNBINNED {
        let min = reference.values[0].min(current.values.first().copied().unwrap_or(f64::INFINITY));
        let max = reference.values[reference.values.len() - 1]
            .max(current.values.last().copied().unwrap_or(f64::NEG_INFINITY));
        let edges = sturges_edges(min, max, reference.values.len() + current.values.len());
        Counts::from_bins(
            sorted_histogram(&reference.values, &edges),
            sorted_histogram(&current.values, &edges),
        )
    } else {
        Counts::from_sorted_values(&reference.values, &current.values)
    }
}

/// Evidently's `feel_zeroes` smoothing for PSI and KL: empty bins get the smallest non-zero
/// share divided by 10^6 when that share is at most 1e-4, else 1e-4. Each sample is smoothed
/// on its own.
pub fn smooth_empty_bins(shares: &mut [f64]) {
    let smallest = shares
        .iter()
        .copied()
        .filter(|&s| s != 0.0)
        .fold(f64::INFINITY, f64::min);
    if !smallest.is_finite() {
        return;
    }
    let fill = if smallest <= 1e-4 { smallest / 1e6 } else { 1e-4 };
    for share in shares.iter_mut().filter(|s| **s == 0.0) {
        *share = fill;
    }
}

/// The distinct values of two sorted samples together, in order, as (count in the reference,
/// count in the current sample): one pass, nothing allocated.
pub fn pooled_runs<'a>(reference: &'a [f64], current: &'a [f64]) -> impl Iterator<Item = (u64, u64)> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let value = match (reference.get(i), current.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => return None,
        };
        let (start_i, start_j) = (i, j);
        while i < reference.len() && reference[i] == value {
            i += 1;
        }
        while j < current.len() && current[j] == value {
            j += 1;
        }
        Some(((i - start_i) as u64, (j - start_j) as u64))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_dropped_and_counted() {
        let sample = NumericSample::new(&[3.0, f64::NAN, f64::INFINITY, 1.0, f64::NEG_INFINITY, 2.0]);
        assert_eq!(sample.values, vec![1.0, 2.0, 3.0]);
        assert_eq!(sample.missing, 3);
        assert_eq!(sample.total, 6);
    }

    #[test]
    fn sturges_uses_log2_of_the_pooled_size() {
        // 100 values: ceil(log2(100) + 1) = 8 bins.
        let edges = sturges_edges(0.0, 8.0, 100);
        assert_eq!(edges.len(), 9);
        assert_eq!(edges[0], 0.0);
        assert_eq!(edges[8], 8.0);
        assert_eq!(sturges_edges(2.0, 2.0, 10), vec![1.5, 2.5]);
    }

    #[test]
    fn histogram_closes_only_the_last_bin() {
        let counts = histogram(&[0.0, 1.0, 1.5, 2.0], &[0.0, 1.0, 2.0]);
        assert_eq!(counts, vec![1, 3]);
    }

    #[test]
    fn smoothing_fills_empty_bins() {
        let mut shares = vec![0.5, 0.0, 0.5];
        smooth_empty_bins(&mut shares);
        assert_eq!(shares, vec![0.5, 1e-4, 0.5]);
        let mut tiny = vec![0.00005, 0.0, 0.99995];
        smooth_empty_bins(&mut tiny);
        assert_eq!(tiny[1], 0.00005 / 1e6);
    }

    #[test]
    fn counts_merge_distinct_values_in_order() {
        let counts = Counts::from_sorted_values(&[1.0, 1.0, 2.0], &[2.0, 3.0]);
        assert_eq!(counts.reference, vec![2, 1, 0]);
        assert_eq!(counts.current, vec![0, 1, 1]);
    }
}
