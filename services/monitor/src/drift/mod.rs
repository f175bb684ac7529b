//! Drift statistics between a reference and a current sample of each column, with
//! Evidently's defaults (legacy `stattests`), the p-values matching scipy.
//!
//! * Missing values — NaN, ±inf and `None` — are dropped before anything else; their share
//!   of each sample is reported. A column empty or all missing on either side gets a result
//!   without a statistic that is not drifted, and a note saying why.
//! * Default method ([`default_method`]), from the reference size after dropping missing
//!   values and the distinct values of both samples together: at most 1,000 reference rows
//!   → Kolmogorov–Smirnov for numeric columns (chi-square at most 5 distinct values, z-test
//!   at most 2), chi-square for categorical ones (z-test at most 2 categories); more rows →
//!   normalised Wasserstein for numeric columns (Jensen–Shannon at most 5 distinct values),
//!   Jensen–Shannon for categorical ones.
//! * Thresholds: 0.1 for distances (drift when the distance is at least the threshold),
//!   0.05 for p-values (drift when the p-value is below it). Both per column.
//! * PSI, KL and Jensen–Shannon compare binned shares: a numeric column with more than 20
//!   distinct reference values gets equal-width Sturges bins over the pooled min..max (numpy's
//!   `histogram_bin_edges(bins="sturges")`), anything else one bin per distinct value. PSI
//!   and KL smooth empty bins (see [`sample::smooth_empty_bins`]); Jensen–Shannon uses the
//!   natural logarithm.
//! * A dataset drifts when the share of drifted columns is at least the configured share
//!   ([`DEFAULT_DRIFT_SHARE`] = 0.5).
//!
//! Where this departs from Evidently, on purpose: an empty or all-missing column is a result
//! with a note, not an error; KS drifts when `p < threshold` like every other test
//! (Evidently's KS alone uses `<=`); chi-square over a single category gives p = 1 (scipy
//! gives NaN). Hellinger on numeric columns keeps Evidently's quirk of Sturges bins over the
//! distinct pooled values.
//!
//! The computations are CPU-bound: call them from `spawn_blocking` or rayon, not the runtime.

pub mod kolmogorov;
mod prepared;
pub mod sample;
pub mod sort;
mod special;
mod statistics;

use std::collections::HashMap;

use prepared::NumericColumns;
use sample::Counts;

/// Reference sizes above which the defaults switch to distances (Evidently: 1,000 rows).
pub const SMALL_REFERENCE_ROWS: usize = 1_000;
/// Threshold of the distance methods: drift when the distance is at least this.
pub const DEFAULT_DISTANCE_THRESHOLD: f64 = 0.1;
/// Threshold of the test methods: drift when the p-value is below this.
pub const DEFAULT_P_VALUE_THRESHOLD: f64 = 0.05;
/// Share of drifted columns at which the whole dataset drifts.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.5;

/// One column of one sample.
#[derive(Clone, Copy, Debug)]
pub enum Column<'a> {
    /// NaN and ±inf are missing.
    Numeric(&'a [f64]),
    /// `None` is missing.
    Categorical(&'a [Option<&'a str>]),
}

/// A drift method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Population stability index over smoothed binned shares (distance).
    Psi,
    /// Kullback–Leibler divergence of reference from current, nats, smoothed (distance).
    Kl,
    /// Jensen–Shannon distance, natural logarithm (distance).
    JensenShannon,
    /// First Wasserstein distance over the reference standard deviation; numeric only (distance).
    Wasserstein,
    /// Two-sample Kolmogorov–Smirnov test, two-sided; numeric only (p-value).
    Ks,
    /// Pearson's chi-square test of current counts against reference shares (p-value).
    ChiSquare,
    /// Two-proportion z-test of the first category against the rest (p-value).
    ZTest,
    /// Hellinger distance (distance).
    Hellinger,
}

impl Method {
    pub const ALL: [Method; 8] = [
        Method::Psi,
        Method::Kl,
        Method::JensenShannon,
        Method::Wasserstein,
        Method::Ks,
        Method::ChiSquare,
        Method::ZTest,
        Method::Hellinger,
    ];

    /// The stable name (Evidently's stattest names).
    pub fn name(self) -> &'static str {
        match self {
            Method::Psi => "psi",
            Method::Kl => "kl_div",
            Method::JensenShannon => "jensenshannon",
            Method::Wasserstein => "wasserstein",
            Method::Ks => "ks",
            Method::ChiSquare => "chisquare",
            Method::ZTest => "z",
            Method::Hellinger => "hellinger",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the statistic is a p-value (drift below the threshold) rather than a distance
    /// (drift at or above it).
    pub fn is_p_value(self) -> bool {
        match self {
            Method::Ks | Method::ChiSquare | Method::ZTest => true,
            Method::Psi | Method::Kl | Method::JensenShannon | Method::Wasserstein | Method::Hellinger => {
                false
            }
        }
    }

    pub fn default_threshold(self) -> f64 {
        if self.is_p_value() {
            DEFAULT_P_VALUE_THRESHOLD
        } else {
            DEFAULT_DISTANCE_THRESHOLD
        }
    }

    /// Whether the method is defined on categorical columns.
    pub fn accepts_categorical(self) -> bool {
        match self {
            Method::Wasserstein | Method::Ks => false,
            Method::Psi
            | Method::Kl
            | Method::JensenShannon
            | Method::ChiSquare
            | Method::ZTest
            | Method::Hellinger => true,
        }
    }

    /// Whether `statistic` means drift under `threshold`.
    pub fn is_drift(self, statistic: f64, threshold: f64) -> bool {
        if self.is_p_value() {
            statistic < threshold
        } else {
            statistic >= threshold
        }
    }
}

/// The kind of a column, for [`default_method`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    Numeric,
    Categorical,
}

/// Evidently's default method for a column, from the non-missing reference rows and the
/// distinct non-missing values of both samples together.
pub fn default_method(kind: ColumnKind, reference_rows: usize, distinct_values: usize) -> Method {
    let small = reference_rows <= SMALL_REFERENCE_ROWS;
    match (kind, small) {
        (ColumnKind::Numeric, true) if distinct_values <= 2 => Method::ZTest,
        (ColumnKind::Numeric, true) if distinct_values <= 5 => Method::ChiSquare,
        (ColumnKind::Numeric, true) => Method::Ks,
        (ColumnKind::Numeric, false) if distinct_values <= 5 => Method::JensenShannon,
        (ColumnKind::Numeric, false) => Method::Wasserstein,
        (ColumnKind::Categorical, true) if distinct_values <= 2 => Method::ZTest,
        (ColumnKind::Categorical, true) => Method::ChiSquare,
        (ColumnKind::Categorical, false) => Method::JensenShannon,
    }
}

/// Per-column choices; `None` means the default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ColumnOptions {
    pub method: Option<Method>,
    pub threshold: Option<f64>,
}

/// The drift of one column.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDrift {
    pub method: Method,
    /// The distance or p-value; `None` when it could not be computed (see `note`).
    pub statistic: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
    /// Share of NaN/±inf/`None` in the reference sample (0 for an empty sample).
    pub missing_share_reference: f64,
    pub missing_share_current: f64,
    /// Why there is no statistic, or the columns' kinds differ.
    pub note: Option<String>,
}

/// The drift of a whole dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetDrift {
    /// Per column, in the order given.
    pub columns: Vec<(String, ColumnDrift)>,
    pub drifted_columns: usize,
    /// Drifted columns over all columns (0 with no columns).
    pub drifted_share: f64,
    /// The share at which the dataset drifts.
    pub share_threshold: f64,
    pub drifted: bool,
}

fn missing_share(missing: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        missing as f64 / total as f64
    }
}

/// The drift of one column between its reference and current samples. Never fails: a
/// column that cannot be tested gets `statistic: None`, `drifted: false` and a note.
pub fn column_drift(reference: Column<'_>, current: Column<'_>, options: &ColumnOptions) -> ColumnDrift {
    let mut drifts = column_drifts(reference, current, std::slice::from_ref(options));
    // One result per options entry: exactly one here.
    drifts.swap_remove(0)
}

/// The drift of one column under several options at once (several methods or thresholds):
/// one result per entry of `options`, in order, each the same as [`column_drift`] with that
/// entry. The column is prepared once for all of them: missing values dropped, numeric
/// samples sorted only if a method needs it (one sorted copy per sample), counts and the
/// merge of the two samples shared between the methods that use them.
pub fn column_drifts(
    reference: Column<'_>,
    current: Column<'_>,
    options: &[ColumnOptions],
) -> Vec<ColumnDrift> {
    match (reference, current) {
        (Column::Numeric(reference), Column::Numeric(current)) => numeric_drifts(reference, current, options),
        (Column::Categorical(reference), Column::Categorical(current)) => {
            categorical_drifts(reference, current, options)
        }
        (Column::Numeric(_), Column::Categorical(_)) | (Column::Categorical(_), Column::Numeric(_)) => {
            let missing = (missing_share_of(reference), missing_share_of(current));
            options
                .iter()
                .map(|options| {
                    let method = options.method.unwrap_or(Method::ChiSquare);
                    untestable(
                        method,
                        options,
                        missing,
                        "the reference and current columns are of different kinds",
                    )
                })
                .collect()
        }
    }
}

fn missing_share_of(column: Column<'_>) -> f64 {
    match column {
        Column::Numeric(values) => {
            missing_share(values.iter().filter(|v| !v.is_finite()).count(), values.len())
        }
        Column::Categorical(values) => {
            missing_share(values.iter().filter(|v| v.is_none()).count(), values.len())
        }
    }
}

fn untestable(method: Method, options: &ColumnOptions, missing: (f64, f64), note: &str) -> ColumnDrift {
    ColumnDrift {
        method,
        statistic: None,
        threshold: options.threshold.unwrap_or(method.default_threshold()),
        drifted: false,
        missing_share_reference: missing.0,
        missing_share_current: missing.1,
        note: Some(note.to_owned()),
    }
}

fn finish(method: Method, statistic: f64, options: &ColumnOptions, missing: (f64, f64)) -> ColumnDrift {
    let threshold = options.threshold.unwrap_or(method.default_threshold());
    ColumnDrift {
        method,
        statistic: Some(statistic),
        threshold,
        drifted: method.is_drift(statistic, threshold),
        missing_share_reference: missing.0,
        missing_share_current: missing.1,
        note: None,
    }
}

fn empty_note(reference_empty: bool) -> &'static str {
    if reference_empty {
        "the reference sample has no non-missing values"
    } else {
        "the current sample has no non-missing values"
    }
}

fn numeric_drifts(reference: &[f64], current: &[f64], options: &[ColumnOptions]) -> Vec<ColumnDrift> {
    let mut columns = NumericColumns::new(reference, current);
    let missing = columns.missing_shares();
    let methods: Vec<Method> = options.iter().map(|options| columns.method(options)).collect();
    if let Some(reference_empty) = columns.empty() {
        let note = empty_note(reference_empty);
        return methods
            .iter()
            .zip(options)
            .map(|(&method, options)| untestable(method, options, missing, note))
            .collect();
    }
    // Sorting first when any method needs it lets the others reuse the sorted samples.
    if methods.iter().any(|&method| columns.needs_sorted(method)) {
        columns.sorted();
    }
    methods
        .iter()
        .zip(options)
        .map(|(&method, options)| finish(method, columns.statistic(method), options, missing))
        .collect()
}

fn categorical_drifts(
    reference: &[Option<&str>],
    current: &[Option<&str>],
    options: &[ColumnOptions],
) -> Vec<ColumnDrift> {
    let counts = Counts::from_categories(
        reference.iter().flatten().copied(),
        current.iter().flatten().copied(),
    );
    let missing = (
        missing_share(reference.len() - counts.reference_total as usize, reference.len()),
        missing_share(current.len() - counts.current_total as usize, current.len()),
    );
    options
        .iter()
        .map(|options| categorical_drift(&counts, missing, options))
        .collect()
}

fn categorical_drift(counts: &Counts, missing: (f64, f64), options: &ColumnOptions) -> ColumnDrift {
    let method = options.method.unwrap_or_else(|| {
        default_method(
            ColumnKind::Categorical,
            counts.reference_total as usize,
            counts.len(),
        )
    });
    let empty = counts.reference_total == 0 || counts.current_total == 0;
    if empty && method.accepts_categorical() {
        return untestable(method, options, missing, empty_note(counts.reference_total == 0));
    }
    let statistic = match method {
        Method::Psi => statistics::psi(counts),
        Method::Kl => statistics::kl_divergence(counts),
        Method::JensenShannon => statistics::jensen_shannon(counts),
        Method::ChiSquare => statistics::chi_square_p_value(counts),
        Method::ZTest => statistics::z_test_p_value(counts),
        Method::Hellinger => statistics::hellinger_categorical(counts),
        Method::Wasserstein | Method::Ks => {
            let note = format!("{} applies to numeric columns only", method.name());
            return untestable(method, options, missing, &note);
        }
    };
    finish(method, statistic, options, missing)
}

/// One column of a dataset: its name, reference and current samples, and options.
pub type DatasetColumn<'a> = (&'a str, Column<'a>, Column<'a>, ColumnOptions);

/// The drift of every column and of the dataset: it drifts when at least `share` of its
/// columns drift (columns without a statistic count as not drifted). Entries over the same
/// reference and current slices (one column asked for several methods) are prepared once.
pub fn dataset_drift(columns: &[DatasetColumn<'_>], share: f64) -> DatasetDrift {
    let mut drifts: Vec<Option<ColumnDrift>> = vec![None; columns.len()];
    for group in same_samples(columns) {
        let (_, reference, current, _) = columns[group[0]];
        let options: Vec<ColumnOptions> = group.iter().map(|&index| columns[index].3).collect();
        for (index, drift) in group.into_iter().zip(column_drifts(reference, current, &options)) {
            drifts[index] = Some(drift);
        }
    }
    let columns: Vec<(String, ColumnDrift)> = columns
        .iter()
        .zip(drifts)
        .map(|((name, ..), drift)| ((*name).to_owned(), drift.expect("every column is in one group")))
        .collect();
    let drifted_columns = columns.iter().filter(|(_, drift)| drift.drifted).count();
    let drifted_share = if columns.is_empty() {
        0.0
    } else {
        drifted_columns as f64 / columns.len() as f64
    };
    DatasetDrift {
        drifted: !columns.is_empty() && drifted_share >= share,
        columns,
        drifted_columns,
        drifted_share,
        share_threshold: share,
    }
}

/// The indices of `columns` grouped by the slices of their samples (the same memory, so the
/// same values), each group in order, the groups in order of first appearance.
fn same_samples(columns: &[DatasetColumn<'_>]) -> Vec<Vec<usize>> {
    fn identity(column: Column<'_>) -> (ColumnKind, usize, usize) {
        match column {
            Column::Numeric(values) => (ColumnKind::Numeric, values.as_ptr().addr(), values.len()),
            Column::Categorical(values) => (ColumnKind::Categorical, values.as_ptr().addr(), values.len()),
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of = HashMap::new();
    for (index, (_, reference, current, _)) in columns.iter().enumerate() {
        let key = (identity(*reference), identity(*current));
        let group = *group_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(index);
    }
    groups
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
