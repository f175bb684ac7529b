//! Everything that stops a training run, each with what to change.

use std::path::PathBuf;

/// Why a training run failed; the message names the column, file or option to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot read the training set {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(
        "the training set has no column `{column}` (it has: {available}); pass the right name to --{option}"
    )]
    MissingColumn {
        column: String,
        option: &'static str,
        available: String,
    },
    #[error(
        "feature column `{column}` is {data_type}, not numeric; train on numeric features only (encode it first, or drop it from --features)"
    )]
    NonNumericFeature { column: String, data_type: String },
    #[error("label column `{column}` is {data_type}; the label must be a boolean or an integer 0/1 column")]
    LabelType { column: String, data_type: String },
    #[error("label column `{column}` holds {value}; the label must be 0 or 1 (or a boolean)")]
    LabelValue { column: String, value: i64 },
    #[error(
        "the training set has no complete rows ({dropped} dropped for a null feature or label); check the retrieval that wrote it"
    )]
    Empty { dropped: usize },
    #[error(
        "every usable row has label {class}; a classifier needs both classes (0 and 1) in the training set — widen its time range or check the label"
    )]
    SingleClass { class: u8 },
    #[error(
        "--holdout {holdout} leaves {train} training and {holdout_rows} holdout rows out of {rows}; pick a fraction that leaves rows on both sides"
    )]
    Split {
        holdout: f64,
        rows: usize,
        train: usize,
        holdout_rows: usize,
    },
    #[error(
        "the training split has only class {class} (the other class is all in the holdout); use another --seed or a smaller --holdout"
    )]
    SplitSingleClass { class: u8 },
    #[error("--holdout must be a fraction strictly between 0 and 1, got {0}")]
    HoldoutFraction(f64),
    #[error("--features names no column; give at least one feature")]
    NoFeatures,
    #[error("the learner failed: {0}")]
    Fit(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}
