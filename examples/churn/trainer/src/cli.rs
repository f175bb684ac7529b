//! `churn-trainer`'s command line, as a library function: the `churn-trainer` binary and the
//! `lathe` binary (invoked under that name) both call [`cli_main`]. It reads only its
//! arguments and the environment variables its flags fall back to, and never exits the
//! process.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use crate::tracking::{self, Connection, LoggedRun, RunRecord, TrackingError};
use crate::{DEFAULT_HOLDOUT, DEFAULT_SEED, Metrics, TrainError, TrainRun};

/// Where the model goes in the tracking run's artifacts: `model/model.onnx`, so a version
/// registered from the run's `model` directory is one serving deploys as it is.
pub const MODEL_ARTIFACT: &str = "model/model.onnx";
/// Where the holdout metrics go in the tracking run's artifacts.
pub const METRICS_ARTIFACT: &str = "metrics.json";
/// The tracking run's tag naming the pipeline run that trained it.
pub const PIPELINE_RUN_TAG: &str = "lathe.pipeline_run";
/// The tracking run's tag naming the pipeline task that trained it.
pub const PIPELINE_TASK_TAG: &str = "lathe.pipeline_task";
/// The learner, as the tracking run's `learner` param names it.
pub const LEARNER: &str = "smartcore.LogisticRegression";

/// Trains a logistic regression on a Lathe training set and writes `model.onnx` and
/// `metrics.json` into the output folder; with --experiment, also logs the run to Lathe's
/// experiment tracking.
#[derive(Debug, Parser)]
#[command(name = "churn-trainer", version)]
pub struct Args {
    /// The training set: a Parquet file from Lathe's historical retrieval (in a pipeline task,
    /// the input `training_set`).
    #[arg(long, env = "LATHE_INPUT_TRAINING_SET")]
    pub train: PathBuf,
    /// The feature columns, comma-separated, in the order the model takes them.
    #[arg(long, value_delimiter = ',', required = true)]
    pub features: Vec<String>,
    /// The label column: boolean, or integer 0/1.
    #[arg(long)]
    pub label: String,
    /// The folder to write `model.onnx` and `metrics.json` into (in a pipeline task: its
    /// artifacts folder, kept with the run).
    #[arg(long, env = "LATHE_ARTIFACTS_DIR")]
    pub out: PathBuf,
    /// The share of rows held out for evaluation.
    #[arg(long, default_value_t = DEFAULT_HOLDOUT)]
    pub holdout: f64,
    /// The seed of the train/holdout split.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Log the run to this experiment of Lathe's tracking (created if missing): params,
    /// metrics, and `model/model.onnx` and `metrics.json` as artifacts.
    #[arg(long, env = "LATHE_EXPERIMENT")]
    pub experiment: Option<String>,
    /// The tracking run's name.
    #[arg(long, default_value = "churn-trainer")]
    pub run_name: String,
    /// The Lathe gateway's base URL (with --experiment).
    #[arg(long, env = "LATHE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A bearer token of an editor of the project (with --experiment).
    #[arg(long, env = "LATHE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The Lathe project (with --experiment).
    #[arg(long, env = "LATHE_PROJECT")]
    pub project: Option<String>,
    /// The pipeline run this training is part of, tagged on the tracking run.
    #[arg(long, env = "LATHE_RUN_ID")]
    pub pipeline_run: Option<String>,
    /// The pipeline task this training is, tagged on the tracking run.
    #[arg(long, env = "LATHE_TASK_ID")]
    pub pipeline_task: Option<String>,
    /// Write the task's outputs here, as a JSON object: the holdout metrics and the row
    /// counts, and `run_id` when a tracking run was logged.
    #[arg(long, env = "LATHE_OUTPUTS")]
    pub outputs: Option<PathBuf>,
}

/// What a successful invocation did.
#[derive(Clone, Debug)]
pub struct Report {
    pub metrics: Metrics,
    /// The `model.onnx` written.
    pub model: PathBuf,
    /// The tracking run, with --experiment.
    pub tracked: Option<TrackedRun>,
}

/// A tracking run logged by the trainer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedRun {
    pub experiment: String,
    pub experiment_id: String,
    pub run_id: String,
}

impl fmt::Display for Report {
    /// The one summary line the trainer prints.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let metrics = &self.metrics;
        write!(
            formatter,
            "trained on {} rows, held out {} ({} dropped for nulls): accuracy {:.4}, log loss {:.4}, AUC {:.4}; wrote {}",
            metrics.train_rows,
            metrics.holdout_rows,
            metrics.dropped_rows,
            metrics.accuracy,
            metrics.log_loss,
            metrics.auc,
            self.model.display(),
        )?;
        if let Some(tracked) = &self.tracked {
            write!(
                formatter,
                "; logged run {} in experiment `{}`",
                tracked.run_id, tracked.experiment
            )?;
        }
        Ok(())
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments, or `--help`/`--version` (clap prints those itself).
    #[error("{0}")]
    Usage(clap::Error),
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Training succeeded and its files are written; logging the run did not.
    #[error("{source} (the model and metrics are written to {})", .out.display())]
    Tracking {
        out: PathBuf,
        // Boxed: a tracking error is large and rare.
        source: Box<TrackingError>,
    },
    /// Checked before training: tracking cannot work with these settings.
    #[error(transparent)]
    TrackingSettings(TrackingError),
    #[error("cannot write the task outputs to {}: {source}", .path.display())]
    Outputs { path: PathBuf, source: std::io::Error },
}

/// Runs the trainer on `args` (the program name first) and answers the process's exit code:
/// prints the summary line, or the error on stderr. Logging a run blocks on a runtime of its
/// own, so call this outside any async runtime (e.g. from `spawn_blocking`).
pub fn cli_main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match try_main(args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(CliError::Usage(error)) => {
            // Help and version print to stdout and exit 0; bad arguments to stderr with 2.
            if let Err(print_error) = error.print() {
                eprintln!("churn-trainer: {print_error}");
            }
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
        }
        Err(error) => {
            eprintln!("churn-trainer: {error}");
            ExitCode::FAILURE
        }
    }
}

/// [`cli_main`] without the printing: parses `args`, trains, logs the run with --experiment,
/// and writes the task outputs when asked.
pub fn try_main<I, T>(args: I) -> Result<Report, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::try_parse_from(args).map_err(CliError::Usage)?;
    execute(&args)
}

/// Runs parsed arguments; see [`try_main`].
pub fn execute(args: &Args) -> Result<Report, CliError> {
    // Tracking settings are checked before training, which may take a while.
    let tracking_target = match non_empty(&args.experiment) {
        Some(experiment) => Some((
            experiment.to_owned(),
            connection(args).map_err(CliError::TrackingSettings)?,
        )),
        None => None,
    };

    let training = TrainRun {
        training_set: args.train.clone(),
        features: args.features.clone(),
        label: args.label.clone(),
        out: args.out.clone(),
        holdout: args.holdout,
        seed: args.seed,
    };
    let metrics = crate::run(&training)?;

    let tracked = match tracking_target {
        Some((experiment, connection)) => {
            let record = run_record(args, &experiment, &metrics);
            let LoggedRun {
                experiment_id,
                run_id,
            } = tracking::log_run(&connection, &record).map_err(|source| CliError::Tracking {
                out: args.out.clone(),
                source: Box::new(source),
            })?;
            Some(TrackedRun {
                experiment,
                experiment_id,
                run_id,
            })
        }
        None => None,
    };

    if let Some(path) = &args.outputs {
        let mut outputs = json!({
            "accuracy": metrics.accuracy,
            "auc": metrics.auc,
            "log_loss": metrics.log_loss,
            "train_rows": metrics.train_rows,
            "holdout_rows": metrics.holdout_rows,
        });
        if let Some(tracked) = &tracked {
            outputs["run_id"] = json!(tracked.run_id);
        }
        let bytes = serde_json::to_vec(&outputs).expect("outputs serialize to JSON");
        std::fs::write(path, bytes).map_err(|source| CliError::Outputs {
            path: path.clone(),
            source,
        })?;
    }

    Ok(Report {
        metrics,
        model: args.out.join("model.onnx"),
        tracked,
    })
}

/// A flag or environment value, unless empty (an unset variable in a task's environment may
/// arrive as an empty one).
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

fn connection(args: &Args) -> Result<Connection, TrackingError> {
    let token = non_empty(&args.token).ok_or(TrackingError::MissingSetting {
        flag: "--token",
        env: "LATHE_TOKEN",
    })?;
    let project = non_empty(&args.project).ok_or(TrackingError::MissingSetting {
        flag: "--project",
        env: "LATHE_PROJECT",
    })?;
    Connection::new(&args.url, token.to_owned(), project.to_owned())
}

/// The tracking run of a training: its params, metrics, tags and files.
fn run_record(args: &Args, experiment: &str, metrics: &Metrics) -> RunRecord {
    let mut tags = BTreeMap::new();
    if let Some(run) = non_empty(&args.pipeline_run) {
        tags.insert(PIPELINE_RUN_TAG.to_owned(), run.to_owned());
    }
    if let Some(task) = non_empty(&args.pipeline_task) {
        tags.insert(PIPELINE_TASK_TAG.to_owned(), task.to_owned());
    }
    RunRecord {
        experiment: experiment.to_owned(),
        run_name: args.run_name.clone(),
        tags,
        params: vec![
            ("features".to_owned(), args.features.join(",")),
            ("label".to_owned(), args.label.clone()),
            ("holdout".to_owned(), args.holdout.to_string()),
            ("seed".to_owned(), args.seed.to_string()),
            ("learner".to_owned(), LEARNER.to_owned()),
        ],
        metrics: vec![
            ("accuracy".to_owned(), metrics.accuracy),
            ("log_loss".to_owned(), metrics.log_loss),
            ("auc".to_owned(), metrics.auc),
            ("train_rows".to_owned(), metrics.train_rows as f64),
            ("holdout_rows".to_owned(), metrics.holdout_rows as f64),
        ],
        artifacts: vec![
            (MODEL_ARTIFACT.to_owned(), args.out.join("model.onnx")),
            (METRICS_ARTIFACT.to_owned(), args.out.join("metrics.json")),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_settings_are_checked_before_training() {
        // The training set does not exist: a missing token must be reported first.
        let error = try_main([
            "churn-trainer",
            "--train",
            "/nonexistent/training.parquet",
            "--features",
            "a,b",
            "--label",
            "y",
            "--out",
            "/nonexistent/out",
            "--experiment",
            "churn",
            "--token",
            "",
            "--project",
            "churn",
        ])
        .expect_err("no token");
        assert!(
            matches!(
                error,
                CliError::TrackingSettings(TrackingError::MissingSetting { flag: "--token", .. })
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("LATHE_TOKEN"), "{error}");
    }

    #[test]
    fn help_is_a_usage_answer_not_a_process_exit() {
        let error = try_main(["churn-trainer", "--help"]).expect_err("help is clap's error");
        let CliError::Usage(usage) = error else {
            panic!("{error:?}");
        };
        assert_eq!(usage.exit_code(), 0);
        assert!(usage.to_string().contains("--experiment"), "{usage}");
    }
}
