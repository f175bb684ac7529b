//! A numeric column's two samples prepared once for every statistic asked of it: missing
//! values and the pooled range counted in one pass, and only when a statistic needs them the
//! sorted finite values (one sorted copy per sample), the binned or per-value counts and the
//! merge of the two ECDFs, each made once and shared.

use super::sample::{
    Counts, MAX_DISTINCT_UNBINNED, count_distinct_finite_up_to, count_distinct_up_to, equal_width_histogram,
    sorted_histogram, sturges_edges,
};
use super::sort::sorted_finite;
use super::statistics::{self, EcdfGaps};
use super::{ColumnKind, ColumnOptions, Method, default_method, kolmogorov};

/// The finite values of one sample: how many, and their range.
struct Scan {
    finite: usize,
    min: f64,
    max: f64,
}

impl Scan {
    fn new(raw: &[f64]) -> Scan {
        let mut scan = Scan {
            finite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        };
        for &value in raw.iter().filter(|value| value.is_finite()) {
            scan.finite += 1;
            scan.min = scan.min.min(value);
            scan.max = scan.max.max(value);
        }
        scan
    }
}

/// Both samples of a numeric column, and what the statistics asked so far have derived.
pub(super) struct NumericColumns<'a> {
    raw_reference: &'a [f64],
    raw_current: &'a [f64],
    reference: Scan,
    current: Scan,
    /// Both samples' finite values, sorted.
    sorted: Option<(Vec<f64>, Vec<f64>)>,
    ecdf: Option<EcdfGaps>,
    binned: Option<Counts>,
    per_value: Option<Counts>,
}

impl<'a> NumericColumns<'a> {
    pub(super) fn new(raw_reference: &'a [f64], raw_current: &'a [f64]) -> NumericColumns<'a> {
        NumericColumns {
            raw_reference,
            raw_current,
            reference: Scan::new(raw_reference),
            current: Scan::new(raw_current),
            sorted: None,
            ecdf: None,
            binned: None,
            per_value: None,
        }
    }

    /// The shares of missing values in the reference and current samples.
    pub(super) fn missing_shares(&self) -> (f64, f64) {
        (
            super::missing_share(
                self.raw_reference.len() - self.reference.finite,
                self.raw_reference.len(),
            ),
            super::missing_share(
                self.raw_current.len() - self.current.finite,
                self.raw_current.len(),
            ),
        )
    }

    /// Whether either sample has no finite value, so nothing can be computed.
    pub(super) fn empty(&self) -> Option<bool> {
        if self.reference.finite == 0 {
            Some(true)
        } else if self.current.finite == 0 {
            Some(false)
        } else {
            None
        }
    }

    /// The method `options` asks for, or the default for this column.
    pub(super) fn method(&self, options: &ColumnOptions) -> Method {
        options.method.unwrap_or_else(|| {
            // The choice only asks whether there are at most 5 distinct values: stop at 6.
            let distinct = match &self.sorted {
                Some((reference, current)) => super::sample::pooled_runs(reference, current).take(6).count(),
                None => count_distinct_finite_up_to(&[self.raw_reference, self.raw_current], 6),
            };
            default_method(ColumnKind::Numeric, self.reference.finite, distinct)
        })
    }

    /// Whether PSI, KL and Jensen–Shannon bin the column (more than 20 distinct reference
    /// values) rather than count each distinct value.
    fn binned_by_sturges(&self) -> bool {
        let limit = MAX_DISTINCT_UNBINNED + 1;
        let distinct = match &self.sorted {
            Some((reference, _)) => count_distinct_up_to(reference, limit),
            None => count_distinct_finite_up_to(&[self.raw_reference], limit),
        };
        distinct > MAX_DISTINCT_UNBINNED
    }

    /// Whether `method` works on the sorted samples. Equal-width bins do not need them.
    pub(super) fn needs_sorted(&self, method: Method) -> bool {
        match method {
            Method::Psi | Method::Kl | Method::JensenShannon => !self.binned_by_sturges(),
            Method::Wasserstein | Method::Ks | Method::ChiSquare | Method::ZTest | Method::Hellinger => true,
        }
    }

    /// Both samples' finite values sorted, made on the first call. Whoever needs them for
    /// any of several statistics calls this before binning, so the bins come from them.
    pub(super) fn sorted(&mut self) -> (&[f64], &[f64]) {
        let sorted = match self.sorted.take() {
            Some(sorted) => sorted,
            None => (sorted_finite(self.raw_reference), sorted_finite(self.raw_current)),
        };
        let (reference, current) = self.sorted.insert(sorted);
        (reference, current)
    }

    fn ecdf(&mut self) -> EcdfGaps {
        if let Some(ecdf) = self.ecdf {
            return ecdf;
        }
        let (reference, current) = self.sorted();
        let ecdf = statistics::ecdf_gaps(reference, current);
        *self.ecdf.insert(ecdf)
    }

    /// Evidently's `get_binned_data`, as [`super::sample::binned_counts`] computes it: from
    /// the sorted samples when there are some, else by arithmetic over the raw ones.
    fn binned(&mut self) -> &Counts {
        let counts = match self.binned.take() {
            Some(counts) => counts,
            None if self.binned_by_sturges() => {
                let min = self.reference.min.min(self.current.min);
                let max = self.reference.max.max(self.current.max);
                let edges = sturges_edges(min, max, self.reference.finite + self.current.finite);
                match &self.sorted {
                    Some((reference, current)) => Counts::from_bins(
                        sorted_histogram(reference, &edges),
                        sorted_histogram(current, &edges),
                    ),
                    None => Counts::from_bins(
                        equal_width_histogram(self.raw_reference, &edges),
                        equal_width_histogram(self.raw_current, &edges),
                    ),
                }
            }
            None => {
                let (reference, current) = self.sorted();
                Counts::from_sorted_values(reference, current)
            }
        };
        self.binned.insert(counts)
    }

    fn per_value(&mut self) -> &Counts {
        let counts = match self.per_value.take() {
            Some(counts) => counts,
            None => {
                let (reference, current) = self.sorted();
                Counts::from_sorted_values(reference, current)
            }
        };
        self.per_value.insert(counts)
    }

    /// The statistic of `method`; both samples have finite values.
    pub(super) fn statistic(&mut self, method: Method) -> f64 {
        match method {
            Method::Psi => statistics::psi(self.binned()),
            Method::Kl => statistics::kl_divergence(self.binned()),
            Method::JensenShannon => statistics::jensen_shannon(self.binned()),
            Method::Wasserstein => {
                let area = self.ecdf().area;
                statistics::normalise_wasserstein(area, self.sorted().0)
            }
            Method::Ks => {
                let d = self.ecdf().supremum;
                kolmogorov::ks_from_statistic(self.reference.finite, self.current.finite, d).p_value
            }
            Method::ChiSquare => statistics::chi_square_p_value(self.per_value()),
            Method::ZTest => statistics::z_test_p_value(self.per_value()),
            Method::Hellinger => {
                let (reference, current) = self.sorted();
                statistics::hellinger_numeric(reference, current)
            }
        }
    }
}
