//! The quickstart's example trainer (`churn-trainer`): a logistic regression trained on a
//! Lathe training set (the Parquet file historical retrieval writes), evaluated on a held-out
//! share of it, and exported as an ONNX model that Lathe serving deploys as it is.
//!
//! # Steps
//! [`Dataset::read_parquet`] keeps the feature and label columns (any numeric feature type,
//! a boolean or 0/1 integer label) and drops rows with a null among them; [`learner::split`]
//! shuffles the rows by the seed and holds out a fraction; [`learner::fit`] standardises the
//! features on the training rows only, fits, and folds the standardisation back into the
//! coefficients; [`onnx::export`] writes that model as one `LinearClassifier` (layout in
//! [`onnx`]); [`Metrics`] are the holdout's accuracy, log loss and ROC AUC.
//!
//! # Command line and tracking
//! [`cli_main`] is the `churn-trainer` command (the `lathe` binary runs it under that name
//! too). With `--experiment` it logs the run to Lathe's experiment tracking ([`tracking`]):
//! params, metrics, and `model/model.onnx` with `metrics.json` as artifacts, so the model can
//! be registered from the run's `model` directory. In a pipeline `command` task its flags fall
//! back to the task's environment (`LATHE_URL`, `LATHE_TOKEN`, `LATHE_PROJECT`, `LATHE_RUN_ID`,
//! `LATHE_INPUT_TRAINING_SET`) and it writes the task's outputs to `LATHE_OUTPUTS`.
//!
//! # The learner: smartcore, not linfa-logistic
//! Both fit a plain (optionally L2-regularised) logistic regression with L-BFGS. smartcore
//! 0.7 with default features off builds on its own (`num`, `ordered-float`, `approx`, a
//! `rand_core`): a clean debug build of it and its dependencies took 4 s here.
//! linfa-logistic 0.8 brings linfa, ndarray 0.16 (the workspace already has 0.17 through
//! tract, so a second copy), sprs, argmin with argmin-math, ndarray-stats, two `rand`
//! versions and anyhow: 20 s for the same build. smartcore keeps the trainer the leaner.

pub mod cli;
pub mod dataset;
mod error;
pub mod learner;
pub mod metrics;
pub mod onnx;
pub mod tracking;

use std::path::{Path, PathBuf};

pub use cli::cli_main;
pub use dataset::Dataset;
pub use error::TrainError;
pub use learner::{LogisticModel, Split};
pub use metrics::Metrics;

/// The default share of rows held out for evaluation.
pub const DEFAULT_HOLDOUT: f64 = 0.2;
/// The default seed of the train/holdout split.
pub const DEFAULT_SEED: u64 = 7;

/// A trained model with the split it came from and its holdout evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Trained {
    pub model: LogisticModel,
    pub split: Split,
    /// The model's class-1 probability of each holdout row, in `split.holdout` order.
    pub holdout_probabilities: Vec<f64>,
    pub metrics: Metrics,
}

/// Splits `dataset`, fits on the training rows and evaluates on the holdout.
pub fn train(dataset: &Dataset, holdout: f64, seed: u64) -> Result<Trained, TrainError> {
    let split = learner::split(dataset.rows(), holdout, seed)?;
    let model = learner::fit(dataset, &split.train)?;
    let holdout_probabilities: Vec<f64> = split
        .holdout
        .iter()
        .map(|&row| model.probability(dataset.row(row)))
        .collect();
    let holdout_labels: Vec<u8> = split.holdout.iter().map(|&row| dataset.labels[row]).collect();
    let metrics = Metrics {
        accuracy: metrics::accuracy(&holdout_labels, &holdout_probabilities),
        log_loss: metrics::log_loss(&holdout_labels, &holdout_probabilities),
        auc: metrics::roc_auc(&holdout_labels, &holdout_probabilities),
        train_rows: split.train.len(),
        holdout_rows: split.holdout.len(),
        dropped_rows: dataset.dropped_rows,
    };
    Ok(Trained {
        model,
        split,
        holdout_probabilities,
        metrics,
    })
}

/// One training run, as `churn-trainer`'s flags give it.
#[derive(Clone, Debug)]
pub struct TrainRun {
    pub training_set: PathBuf,
    pub features: Vec<String>,
    pub label: String,
    pub out: PathBuf,
    pub holdout: f64,
    pub seed: u64,
}

/// Reads the training set, trains, and writes `model.onnx` and `metrics.json` into `out`
/// (created if missing).
pub fn run(run: &TrainRun) -> Result<Metrics, TrainError> {
    let dataset = Dataset::read_parquet(&run.training_set, &run.features, &run.label)?;
    let trained = train(&dataset, run.holdout, run.seed)?;
    std::fs::create_dir_all(&run.out).map_err(|source| TrainError::Write {
        path: run.out.clone(),
        source,
    })?;
    write(&run.out.join("model.onnx"), &onnx::export(&trained.model))?;
    let metrics_json = serde_json::to_vec_pretty(&trained.metrics).expect("metrics serialize to JSON");
    write(&run.out.join("metrics.json"), &metrics_json)?;
    Ok(trained.metrics)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    std::fs::write(path, bytes).map_err(|source| TrainError::Write {
        path: path.to_owned(),
        source,
    })
}
