//! The trainer on a synthetic training set with a known logistic relation, written as Lathe's
//! historical retrieval writes one (entity, `event_timestamp`, features of mixed numeric
//! types with nulls, a boolean label), and its model served by Lathe serving's own runtime.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lathe_example_trainer::{Dataset, Metrics, TrainError, TrainRun, onnx, run, train};
use lathe_serving::runtime::{Label, Model, ModelKind, Predictions};
use parquet::arrow::ArrowWriter;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto};

const ROWS: usize = 3000;
/// Rows where one feature is null (every 50th row, each feature in turn) or the label is.
const NULL_EVERY: usize = 50;
/// The float32 runtime against the trainer's float64 arithmetic.
const TOLERANCE: f64 = 1e-5;

fn features() -> Vec<String> {
    ["conv_rate", "acc_rate", "avg_daily_trips"]
        .map(String::from)
        .to_vec()
}

fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `rows` rows whose churn follows `sigmoid(6·z(conv) − 4·z(acc) + 5·z(trips))`, the `z`s
/// being the features standardised by their generating distributions: conv_rate uniform on
/// [0, 1] (float64), acc_rate normal(50, 15) (float32), avg_daily_trips normal(500, 200)
/// rounded (int32). With `one_class`, every label is `false`.
fn training_set(rows: usize, seed: u64, one_class: bool) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut conv = Vec::with_capacity(rows);
    let mut acc = Vec::with_capacity(rows);
    let mut trips = Vec::with_capacity(rows);
    let mut churned = Vec::with_capacity(rows);
    for row in 0..rows {
        let conv_rate: f64 = rng.random();
        let acc_rate = 50.0 + 15.0 * standard_normal(&mut rng);
        let avg_daily_trips = (500.0 + 200.0 * standard_normal(&mut rng)).round();
        let logit = 6.0 * (conv_rate - 0.5) / (1.0 / 12f64).sqrt() - 4.0 * (acc_rate - 50.0) / 15.0
            + 5.0 * (avg_daily_trips - 500.0) / 200.0;
        let label = !one_class && rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp());
        let null = if row % NULL_EVERY == 0 {
            Some((row / NULL_EVERY) % 4)
        } else {
            None
        };
        conv.push((null != Some(0)).then_some(conv_rate));
        acc.push((null != Some(1)).then_some(acc_rate as f32));
        trips.push((null != Some(2)).then_some(avg_daily_trips as i32));
        churned.push((null != Some(3)).then_some(label));
    }
    let schema = Schema::new(vec![
        Field::new("driver_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("conv_rate", DataType::Float64, true),
        Field::new("acc_rate", DataType::Float32, true),
        Field::new("avg_daily_trips", DataType::Int32, true),
        Field::new("churned", DataType::Boolean, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(1000..1000 + rows as i64)),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (0..rows as i64).map(|row| 1_764_000_000_000_000 + row * 60_000_000),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from(conv)),
        Arc::new(Float32Array::from(acc)),
        Arc::new(Int32Array::from(trips)),
        Arc::new(BooleanArray::from(churned)),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("a valid batch")
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = File::create(path).expect("create the training set");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("a Parquet writer");
    writer.write(batch).expect("write the batch");
    writer.close().expect("close the Parquet file");
}

fn dataset(rows: usize) -> Dataset {
    let batch = training_set(rows, 11, false);
    Dataset::from_batches(&batch.schema(), &[batch], &features(), "churned").expect("the training set reads")
}

#[test]
fn learns_the_logistic_relation_and_evaluates_on_the_holdout() {
    let dataset = dataset(ROWS);
    assert_eq!(dataset.dropped_rows, ROWS / NULL_EVERY);

    let trained = train(&dataset, 0.2, 7).expect("trains");
    let metrics = &trained.metrics;
    assert_eq!(metrics.dropped_rows, ROWS / NULL_EVERY);
    assert_eq!(
        metrics.holdout_rows,
        ((ROWS - ROWS / NULL_EVERY) as f64 * 0.2).round() as usize
    );
    assert_eq!(
        metrics.train_rows + metrics.holdout_rows,
        ROWS - ROWS / NULL_EVERY
    );
    assert!(metrics.accuracy > 0.9, "holdout accuracy {}", metrics.accuracy);
    assert!(metrics.auc > 0.95, "holdout AUC {}", metrics.auc);
    assert!(metrics.log_loss < 0.3, "holdout log loss {}", metrics.log_loss);

    // The folded coefficients are per raw unit: the generating ones divided by each
    // feature's scale (√(1/12), 15, 200), within the noise of 2,400 rows.
    let expected = [6.0 / (1.0 / 12f64).sqrt(), -4.0 / 15.0, 5.0 / 200.0];
    for (learned, expected) in trained.model.coefficients.iter().zip(expected) {
        let ratio = learned / expected;
        assert!(
            (0.7..1.3).contains(&ratio),
            "coefficient {learned}, generated with {expected}"
        );
    }

    // The same seed gives the same split; another seed another one.
    assert_eq!(train(&dataset, 0.2, 7).expect("trains").split, trained.split);
    assert_ne!(train(&dataset, 0.2, 8).expect("trains").split, trained.split);
}

#[test]
fn serving_loads_the_model_and_answers_the_trainers_probabilities() {
    let dataset = dataset(ROWS);
    let trained = train(&dataset, 0.2, 7).expect("trains");
    let model = Model::load(&onnx::export(&trained.model)).expect("serving loads the model");
    assert_eq!(model.inputs(), 3);
    assert_eq!(
        model.kind(),
        &ModelKind::Classifier {
            classes: vec![Label::Int(0), Label::Int(1)]
        }
    );

    let rows: Vec<f32> = trained
        .split
        .holdout
        .iter()
        .flat_map(|&row| dataset.row(row).iter().map(|&value| value as f32))
        .collect();
    let Predictions::Classes(predictions) = model.predict(&rows).expect("predicts") else {
        panic!("a classifier answers classes");
    };
    assert_eq!(predictions.len(), trained.split.holdout.len());
    for (prediction, &probability) in predictions.iter().zip(&trained.holdout_probabilities) {
        let served = &prediction.probabilities;
        assert_eq!(served.len(), 2);
        assert!(
            (f64::from(served[1]) - probability).abs() < TOLERANCE,
            "{served:?} vs {probability}"
        );
        assert!(
            (f64::from(served[0]) - (1.0 - probability)).abs() < TOLERANCE,
            "{served:?} vs {probability}"
        );
        let expected_label = Label::Int(i64::from(probability > 0.5));
        assert_eq!(prediction.label, expected_label, "probability {probability}");
    }
}

fn linear_classifier(model: &ModelProto) -> &NodeProto {
    let graph = model.graph.as_ref().expect("a graph");
    assert_eq!(graph.node.len(), 1, "one node");
    &graph.node[0]
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> &'a AttributeProto {
    node.attribute
        .iter()
        .find(|attribute| attribute.name == name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

/// Our export against skl2onnx's for scikit-learn's binary `LogisticRegression`
/// (services/serving/tests/fixtures/logreg.onnx, zipmap off): same operator, domain, opsets,
/// attribute names and types, and the same two-model coefficient convention.
#[test]
fn the_export_is_laid_out_as_skl2onnx_lays_out_a_binary_logistic_regression() {
    let fixture_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../services/serving/tests/fixtures/logreg.onnx");
    let fixture = ModelProto::decode(std::fs::read(&fixture_path).expect("the fixture").as_slice())
        .expect("the fixture decodes");
    let trained = train(&dataset(600), 0.2, 7).expect("trains");
    let ours = ModelProto::decode(onnx::export(&trained.model).as_slice()).expect("ours decodes");

    // skl2onnx declares the lowest ai.onnx.ml version the operator needs (1; LinearClassifier
    // has not changed since); we declare 3, as serving's recommended export does.
    let opsets = |model: &ModelProto| {
        let mut opsets: Vec<(String, i64)> = model
            .opset_import
            .iter()
            .map(|opset| (opset.domain.clone(), opset.version))
            .collect();
        opsets.sort();
        opsets.dedup();
        opsets
    };
    assert_eq!(opsets(&ours), [("".to_owned(), 17), ("ai.onnx.ml".to_owned(), 3)]);
    let domains = |model: &ModelProto| {
        opsets(model)
            .into_iter()
            .map(|(domain, _)| domain)
            .collect::<Vec<_>>()
    };
    assert_eq!(domains(&ours), domains(&fixture));

    let (ours, theirs) = (linear_classifier(&ours), linear_classifier(&fixture));
    assert_eq!((&ours.op_type, &ours.domain), (&theirs.op_type, &theirs.domain));
    let layout = |node: &NodeProto| {
        let mut layout: Vec<(String, i32)> = node
            .attribute
            .iter()
            .map(|attribute| (attribute.name.clone(), attribute.r#type))
            .collect();
        layout.sort();
        layout
    };
    assert_eq!(layout(ours), layout(theirs));
    for name in ["classlabels_ints", "multi_class", "post_transform"] {
        assert_eq!(attribute(ours, name), attribute(theirs, name), "attribute {name}");
    }

    // Both features-wide rows, class 0's the negation of class 1's; intercepts likewise.
    for node in [ours, theirs] {
        let coefficients = &attribute(node, "coefficients").floats;
        let (class_0, class_1) = coefficients.split_at(coefficients.len() / 2);
        assert_eq!(class_0.len(), 3);
        for (negative, positive) in class_0.iter().zip(class_1) {
            assert_eq!(*negative, -*positive);
        }
        let intercepts = &attribute(node, "intercepts").floats;
        assert_eq!(intercepts.len(), 2);
        assert_eq!(intercepts[0], -intercepts[1]);
    }
}

#[test]
fn a_training_set_with_one_class_is_refused() {
    let batch = training_set(500, 3, true);
    let error = Dataset::from_batches(&batch.schema(), &[batch], &features(), "churned")
        .expect_err("one class cannot train a classifier");
    assert!(matches!(error, TrainError::SingleClass { class: 0 }), "{error:?}");
    assert!(
        error.to_string().contains("needs both classes (0 and 1)"),
        "{error}"
    );
}

#[test]
fn a_training_set_without_the_label_column_is_refused() {
    let batch = training_set(500, 3, false);
    let error = Dataset::from_batches(&batch.schema(), &[batch], &features(), "is_churned")
        .expect_err("no such label column");
    assert!(
        matches!(&error, TrainError::MissingColumn { column, option: "label", .. } if column == "is_churned"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("no column `is_churned`"), "{message}");
    assert!(
        message.contains("avg_daily_trips, churned)"),
        "lists the columns: {message}"
    );
    assert!(message.contains("--label"), "{message}");
}

#[test]
fn a_non_numeric_feature_and_a_non_binary_label_are_refused() {
    let batch = training_set(200, 3, false);
    let error = Dataset::from_batches(
        &batch.schema(),
        std::slice::from_ref(&batch),
        &["conv_rate".to_owned(), "event_timestamp".to_owned()],
        "churned",
    )
    .expect_err("a timestamp is no feature");
    assert!(
        matches!(&error, TrainError::NonNumericFeature { column, .. } if column == "event_timestamp"),
        "{error:?}"
    );

    let error = Dataset::from_batches(&batch.schema(), &[batch], &features(), "driver_id")
        .expect_err("ids are no label");
    assert!(
        matches!(&error, TrainError::LabelValue { column, .. } if column == "driver_id"),
        "{error:?}"
    );
}

#[test]
fn the_binary_trains_from_parquet_and_writes_model_and_metrics() {
    let folder = tempfile::tempdir().expect("a temp dir");
    let training = folder.path().join("training.parquet");
    write_parquet(&training, &training_set(ROWS, 11, false));
    let out = folder.path().join("model");

    let output = Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .arg("--train")
        .arg(&training)
        .args([
            "--features",
            "conv_rate,acc_rate,avg_daily_trips",
            "--label",
            "churned",
        ])
        .arg("--out")
        .arg(&out)
        .args(["--holdout", "0.25", "--seed", "3"])
        .output()
        .expect("the trainer runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    assert!(stdout.contains("AUC"), "{stdout}");

    let metrics: Metrics =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).expect("metrics.json"))
            .expect("metrics.json parses");
    let usable = ROWS - ROWS / NULL_EVERY;
    assert_eq!(metrics.dropped_rows, ROWS / NULL_EVERY);
    assert_eq!(metrics.holdout_rows, (usable as f64 * 0.25).round() as usize);
    assert_eq!(metrics.train_rows + metrics.holdout_rows, usable);
    assert!(metrics.accuracy > 0.9 && metrics.auc > 0.95, "{metrics:?}");

    // The library run with the same inputs reports the same numbers, and the model file
    // is the one serving loads.
    let expected = run(&TrainRun {
        training_set: training.clone(),
        features: features(),
        label: "churned".to_owned(),
        out: folder.path().join("library"),
        holdout: 0.25,
        seed: 3,
    })
    .expect("the library trains");
    // JSON keeps the floats to the last digit or so, not bit for bit.
    assert_eq!(
        (metrics.train_rows, metrics.holdout_rows, metrics.dropped_rows),
        (expected.train_rows, expected.holdout_rows, expected.dropped_rows)
    );
    for (written, computed) in [
        (metrics.accuracy, expected.accuracy),
        (metrics.log_loss, expected.log_loss),
        (metrics.auc, expected.auc),
    ] {
        assert!((written - computed).abs() < 1e-12, "{metrics:?} vs {expected:?}");
    }
    let model = Model::load(&std::fs::read(out.join("model.onnx")).expect("model.onnx"))
        .expect("serving loads model.onnx");
    assert_eq!(model.inputs(), 3);
}

#[test]
fn the_binary_says_what_to_fix_and_exits_non_zero() {
    let folder = tempfile::tempdir().expect("a temp dir");
    let training = folder.path().join("training.parquet");
    write_parquet(&training, &training_set(300, 5, false));

    let output = Command::new(env!("CARGO_BIN_EXE_churn-trainer"))
        .arg("--train")
        .arg(&training)
        .args(["--features", "conv_rate,acc_rate", "--label", "churn"])
        .arg("--out")
        .arg(folder.path().join("model"))
        .output()
        .expect("the trainer runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no column `churn`") && stderr.contains("--label"),
        "{stderr}"
    );
    assert!(
        !folder.path().join("model").exists(),
        "nothing written on failure"
    );
}

/// The environment of a pipeline `command` task, with the training set as its input.
const TASK_ENVIRONMENT: [&str; 8] = [
    "LATHE_INPUT_TRAINING_SET",
    "LATHE_EXPERIMENT",
    "LATHE_URL",
    "LATHE_TOKEN",
    "LATHE_PROJECT",
    "LATHE_RUN_ID",
    "LATHE_TASK_ID",
    "LATHE_OUTPUTS",
];

/// The binary with the task environment cleared, training on `--features`/`--label` only.
fn task_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_churn-trainer"));
    for name in TASK_ENVIRONMENT {
        command.env_remove(name);
    }
    command.args([
        "--features",
        "conv_rate,acc_rate,avg_daily_trips",
        "--label",
        "churned",
    ]);
    command
}

#[test]
fn in_a_task_the_training_set_comes_from_the_input_and_the_outputs_go_to_lathe_outputs() {
    let folder = tempfile::tempdir().expect("a temp dir");
    let training = folder.path().join("training.parquet");
    write_parquet(&training, &training_set(ROWS, 11, false));
    let outputs = folder.path().join("outputs.json");

    let output = task_command()
        .arg("--out")
        .arg(folder.path().join("model"))
        .env("LATHE_INPUT_TRAINING_SET", &training)
        .env("LATHE_OUTPUTS", &outputs)
        .output()
        .expect("the trainer runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metrics: Metrics = serde_json::from_slice(
        &std::fs::read(folder.path().join("model/metrics.json")).expect("metrics.json"),
    )
    .expect("metrics.json parses");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&outputs).expect("the outputs")).expect("JSON");
    let mut keys: Vec<&str> = written
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["accuracy", "auc", "holdout_rows", "log_loss", "train_rows"],
        "no run_id without --experiment: {written}"
    );
    assert_eq!(written["train_rows"], metrics.train_rows);
    assert_eq!(written["holdout_rows"], metrics.holdout_rows);
    let accuracy = written["accuracy"].as_f64().expect("a number");
    assert!((accuracy - metrics.accuracy).abs() < 1e-12, "{written}");
}

#[test]
fn an_unreachable_tracking_server_fails_the_task_naming_the_step() {
    let folder = tempfile::tempdir().expect("a temp dir");
    let training = folder.path().join("training.parquet");
    write_parquet(&training, &training_set(600, 5, false));
    let outputs = folder.path().join("outputs.json");
    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");

    let output = task_command()
        .arg("--out")
        .arg(folder.path().join("model"))
        .env("LATHE_INPUT_TRAINING_SET", &training)
        .env("LATHE_OUTPUTS", &outputs)
        .env("LATHE_EXPERIMENT", "churn")
        .env("LATHE_URL", format!("http://{closed}"))
        .env("LATHE_TOKEN", "a-token")
        .env("LATHE_PROJECT", "churn")
        .output()
        .expect("the trainer runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("getting or creating experiment `churn`") && stderr.contains("no answer from"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("a-token"),
        "the token is never printed: {stderr}"
    );
    assert!(
        folder.path().join("model/model.onnx").exists(),
        "the training is kept"
    );
    assert!(!outputs.exists(), "no outputs for a failed task");

    // Without a token, tracking is refused before training.
    let output = task_command()
        .arg("--out")
        .arg(folder.path().join("untrained"))
        .arg("--train")
        .arg(&training)
        .args(["--experiment", "churn", "--project", "churn"])
        .output()
        .expect("the trainer runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--experiment needs --token (or env LATHE_TOKEN)"),
        "{stderr}"
    );
    assert!(!folder.path().join("untrained").exists(), "nothing trained");
}
