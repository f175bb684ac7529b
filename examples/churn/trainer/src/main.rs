//! `churn-trainer`: trains the quickstart's churn model; see the library docs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lathe_example_trainer::{DEFAULT_HOLDOUT, DEFAULT_SEED, TrainRun, run};

/// Trains a logistic regression on a Lathe training set and writes `model.onnx` and
/// `metrics.json` into the output folder.
#[derive(Parser)]
#[command(name = "churn-trainer", version)]
struct Args {
    /// The training set: a Parquet file from Lathe's historical retrieval.
    #[arg(long)]
    train: PathBuf,
    /// The feature columns, comma-separated, in the order the model takes them.
    #[arg(long, value_delimiter = ',', required = true)]
    features: Vec<String>,
    /// The label column: boolean, or integer 0/1.
    #[arg(long)]
    label: String,
    /// The folder to write `model.onnx` and `metrics.json` into.
    #[arg(long)]
    out: PathBuf,
    /// The share of rows held out for evaluation.
    #[arg(long, default_value_t = DEFAULT_HOLDOUT)]
    holdout: f64,
    /// The seed of the train/holdout split.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let training = TrainRun {
        training_set: args.train,
        features: args.features,
        label: args.label,
        out: args.out,
        holdout: args.holdout,
        seed: args.seed,
    };
    match run(&training) {
        Ok(metrics) => {
            println!(
                "trained on {} rows, held out {} ({} dropped for nulls): accuracy {:.4}, log loss {:.4}, AUC {:.4}; wrote {}",
                metrics.train_rows,
                metrics.holdout_rows,
                metrics.dropped_rows,
                metrics.accuracy,
                metrics.log_loss,
                metrics.auc,
                training.out.join("model.onnx").display(),
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("churn-trainer: {error}");
            ExitCode::FAILURE
        }
    }
}
