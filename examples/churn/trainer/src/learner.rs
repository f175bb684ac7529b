//! The split, the standardisation and the fit: a logistic regression by smartcore on
//! standardised training rows, folded back into one linear model over the raw features.

use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use crate::dataset::Dataset;
use crate::error::TrainError;

/// A binary logistic model over the raw (unstandardised) features:
/// `P(label = 1) = sigmoid(coefficients · x + intercept)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticModel {
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

impl LogisticModel {
    /// The probability of class 1 for one row of raw features.
    pub fn probability(&self, row: &[f64]) -> f64 {
        let score: f64 = self
            .coefficients
            .iter()
            .zip(row)
            .map(|(coefficient, value)| coefficient * value)
            .sum::<f64>()
            + self.intercept;
        sigmoid(score)
    }
}

fn sigmoid(score: f64) -> f64 {
    1.0 / (1.0 + (-score).exp())
}

/// Which rows train and which are held out, as row indices of the dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub holdout: Vec<usize>,
}

/// A deterministic shuffle of the rows by `seed` (Fisher–Yates over SplitMix64, so the split
/// does not change with a dependency's random generator), the first `round(rows × holdout)`
/// held out.
pub fn split(rows: usize, holdout: f64, seed: u64) -> Result<Split, TrainError> {
    if !(holdout > 0.0 && holdout < 1.0) {
        return Err(TrainError::HoldoutFraction(holdout));
    }
    let mut order: Vec<usize> = (0..rows).collect();
    let mut state = seed;
    for last in (1..rows).rev() {
        let pick = (split_mix64(&mut state) % (last as u64 + 1)) as usize;
        order.swap(last, pick);
    }
    let holdout_rows = (rows as f64 * holdout).round() as usize;
    let train = order.split_off(holdout_rows.min(rows));
    if train.is_empty() || order.is_empty() {
        return Err(TrainError::Split {
            holdout,
            rows,
            train: train.len(),
            holdout_rows: order.len(),
        });
    }
    Ok(Split {
        train,
        holdout: order,
    })
}

fn split_mix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Each feature's mean and standard deviation over the training rows; a constant feature
/// gets scale 1 (as scikit-learn's `StandardScaler`), so it contributes nothing, not NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardiser {
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
}

impl Standardiser {
    pub fn fit(dataset: &Dataset, rows: &[usize]) -> Standardiser {
        let width = dataset.width();
        let count = rows.len() as f64;
        let mut means = vec![0.0; width];
        for &row in rows {
            for (mean, value) in means.iter_mut().zip(dataset.row(row)) {
                *mean += value / count;
            }
        }
        let mut variances = vec![0.0; width];
        for &row in rows {
            for ((variance, mean), value) in variances.iter_mut().zip(&means).zip(dataset.row(row)) {
                *variance += (value - mean).powi(2) / count;
            }
        }
        let scales = variances
            .into_iter()
            .map(|variance| if variance > 0.0 { variance.sqrt() } else { 1.0 })
            .collect();
        Standardiser { means, scales }
    }

    fn apply(&self, row: &[f64]) -> impl Iterator<Item = f64> {
        row.iter()
            .zip(self.means.iter().zip(&self.scales))
            .map(|(value, (mean, scale))| (value - mean) / scale)
    }

    /// The model over raw features equal to `standardised` over standardised ones:
    /// `w·(x − m)/s + b = (w/s)·x + (b − Σ w·m/s)`.
    fn fold(&self, standardised: &LogisticModel) -> LogisticModel {
        let coefficients: Vec<f64> = standardised
            .coefficients
            .iter()
            .zip(&self.scales)
            .map(|(coefficient, scale)| coefficient / scale)
            .collect();
        let shift: f64 = coefficients
            .iter()
            .zip(&self.means)
            .map(|(coefficient, mean)| coefficient * mean)
            .sum();
        LogisticModel {
            coefficients,
            intercept: standardised.intercept - shift,
        }
    }
}

/// Fits a logistic regression on the standardised `rows` of the dataset and returns it folded
/// over the raw features.
pub fn fit(dataset: &Dataset, rows: &[usize]) -> Result<LogisticModel, TrainError> {
    let standardiser = Standardiser::fit(dataset, rows);
    let labels: Vec<i32> = rows.iter().map(|&row| i32::from(dataset.labels[row])).collect();
    if let Some(&first) = labels.first()
        && labels.iter().all(|&label| label == first)
    {
        return Err(TrainError::SplitSingleClass { class: first as u8 });
    }
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|&row| standardiser.apply(dataset.row(row)))
        .collect();
    let matrix = DenseMatrix::new(rows.len(), dataset.width(), values, false)
        .map_err(|error| TrainError::Fit(error.to_string()))?;
    let learned = LogisticRegression::fit(&matrix, &labels, LogisticRegressionParameters::default())
        .map_err(|error| TrainError::Fit(error.to_string()))?;
    // For two classes smartcore keeps one row of coefficients, for the larger class (1).
    let coefficients = learned.coefficients();
    let standardised = LogisticModel {
        coefficients: (0..dataset.width())
            .map(|column| *coefficients.get((0, column)))
            .collect(),
        intercept: *learned.intercept().get((0, 0)),
    };
    if standardised
        .coefficients
        .iter()
        .chain([&standardised.intercept])
        .any(|value| !value.is_finite())
    {
        return Err(TrainError::Fit(
            "the fit diverged (a coefficient is not finite); are the classes perfectly separable by one feature?".to_owned(),
        ));
    }
    Ok(standardiser.fold(&standardised))
}
