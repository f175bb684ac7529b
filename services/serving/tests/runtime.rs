//! The runtime against scikit-learn itself: the fixtures and `expected.json` are made by
//! `scripts/serving/make-fixtures.py`, which records sklearn's `predict` / `predict_proba`.

use std::collections::HashMap;
use std::path::PathBuf;

use lathe_serving::runtime::{Label, LoadError, Model, ModelKind, PredictError, Predictions};
use serde::Deserialize;
use serde_json::Value;

/// Probabilities are computed in float32 by the runtime and in float64 by scikit-learn.
const TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct Expected {
    features: usize,
    rows: Vec<Vec<f32>>,
    models: HashMap<String, ExpectedModel>,
}

#[derive(Deserialize)]
struct ExpectedModel {
    file: String,
    classes: Option<Vec<Value>>,
    labels: Option<Vec<Value>>,
    probabilities: Option<Vec<Vec<f64>>>,
    values: Option<Vec<f64>>,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn expected() -> Expected {
    serde_json::from_slice(&fixture("expected.json")).expect("expected.json parses")
}

fn label(value: &Value) -> Label {
    match value {
        Value::Number(number) => Label::Int(number.as_i64().expect("integer label")),
        Value::String(text) => Label::Text(text.clone()),
        other @ (Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_)) => {
            panic!("unexpected label {other}")
        }
    }
}

fn flat(rows: &[Vec<f32>]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

fn assert_matches_sklearn(name: &str) {
    let expected = expected();
    let sklearn = &expected.models[name];
    let model = Model::load(&fixture(&sklearn.file)).expect("the model loads");
    assert_eq!(model.inputs(), expected.features);

    let classes: Vec<Label> = sklearn
        .classes
        .as_ref()
        .expect("a classifier")
        .iter()
        .map(label)
        .collect();
    assert_eq!(
        model.kind(),
        &ModelKind::Classifier {
            classes: classes.clone()
        }
    );

    let Predictions::Classes(predictions) = model.predict(&flat(&expected.rows)).expect("predicts") else {
        panic!("a classifier answers classes");
    };
    let labels = sklearn.labels.as_ref().expect("labels");
    let probabilities = sklearn.probabilities.as_ref().expect("probabilities");
    assert_eq!(predictions.len(), expected.rows.len());
    for (row, prediction) in predictions.iter().enumerate() {
        assert_eq!(
            prediction.label,
            label(&labels[row]),
            "{name}: label of row {row}"
        );
        assert_eq!(prediction.probabilities.len(), classes.len());
        for (class, (&ours, &theirs)) in prediction
            .probabilities
            .iter()
            .zip(&probabilities[row])
            .enumerate()
        {
            assert!(
                (f64::from(ours) - theirs).abs() <= TOLERANCE,
                "{name}: row {row} class {class}: {ours} vs scikit-learn's {theirs}"
            );
        }
    }
}

#[test]
fn logistic_regression_answers_as_sklearn() {
    assert_matches_sklearn("logreg");
}

#[test]
fn logistic_regression_exported_with_zipmap_answers_as_sklearn() {
    assert_matches_sklearn("logreg_zipmap");
}

#[test]
fn gradient_boosted_trees_answer_as_sklearn() {
    assert_matches_sklearn("gbc");
}

#[test]
fn gradient_boosted_trees_with_three_string_classes_answer_as_sklearn() {
    assert_matches_sklearn("gbc_tiers");
}

#[test]
fn a_scaler_then_logistic_regression_answers_as_sklearn() {
    assert_matches_sklearn("scaled_logreg");
}

#[test]
fn linear_regression_answers_as_sklearn() {
    assert_values_match_sklearn("linreg");
}

#[test]
fn gradient_boosted_regression_trees_answer_as_sklearn() {
    assert_values_match_sklearn("gbr");
}

fn assert_values_match_sklearn(name: &str) {
    let expected = expected();
    let sklearn = &expected.models[name];
    let model = Model::load(&fixture(&sklearn.file)).expect("the model loads");
    assert_eq!(model.kind(), &ModelKind::Regressor);
    let Predictions::Values(values) = model.predict(&flat(&expected.rows)).expect("predicts") else {
        panic!("a regressor answers values");
    };
    let theirs = sklearn.values.as_ref().expect("values");
    assert_eq!(values.len(), theirs.len());
    for (row, (&ours, &theirs)) in values.iter().zip(theirs).enumerate() {
        // float32 arithmetic on values in the hundreds: a relative tolerance.
        assert!(
            (f64::from(ours) - theirs).abs() <= TOLERANCE * theirs.abs().max(1.0),
            "{name}: row {row}: {ours} vs scikit-learn's {theirs}"
        );
    }
}

#[test]
fn a_row_alone_gets_the_answer_it_gets_in_a_batch() {
    let expected = expected();
    for name in ["logreg", "gbc", "gbc_tiers"] {
        let model = Model::load(&fixture(&expected.models[name].file)).expect("the model loads");
        let batch = model.predict(&flat(&expected.rows)).expect("predicts");
        let Predictions::Classes(batch) = batch else {
            panic!("a classifier")
        };
        for (row, values) in expected.rows.iter().enumerate() {
            let Predictions::Classes(alone) = model.predict(values).expect("predicts") else {
                panic!("a classifier")
            };
            assert_eq!(alone, vec![batch[row].clone()], "{name}: row {row}");
        }
    }
}

#[test]
fn an_empty_batch_gets_no_answers_and_a_ragged_one_is_refused() {
    let model = Model::load(&fixture("logreg.onnx")).expect("the model loads");
    assert!(model.predict(&[]).expect("predicts").is_empty());
    let error = model
        .predict(&[1.0, 2.0, 3.0, 4.0])
        .expect_err("4 values are not rows of 3");
    assert!(
        matches!(
            error,
            PredictError::RowWidth {
                values: 4,
                features: 3
            }
        ),
        "{error:?}"
    );
}

#[test]
fn bytes_that_are_not_onnx_are_refused_at_load() {
    for bytes in [&b""[..], b"this is a pickle, not an ONNX model", &[0x08, 0x07]] {
        let error = Model::load(bytes).expect_err("not a model");
        assert!(matches!(error, LoadError::NotOnnx { .. }), "{error:?}");
        assert!(error.to_string().contains("not an ONNX model"), "{error}");
    }
}

#[test]
fn a_model_with_an_operator_the_runtime_lacks_is_refused_at_load_with_its_name() {
    // scikit-learn's SVC, as skl2onnx exports it.
    let error = Model::load(&fixture("svc.onnx")).expect_err("SVMClassifier is unsupported");
    let LoadError::UnsupportedOperator { domain, op_type, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        (domain.as_str(), op_type.as_str()),
        ("ai.onnx.ml", "SVMClassifier")
    );
    assert!(
        error.to_string().contains("operator ai.onnx.ml.SVMClassifier"),
        "{error}"
    );
}

#[test]
fn trees_after_preprocessing_are_refused_at_load() {
    // StandardScaler then GradientBoostingClassifier.
    let error = Model::load(&fixture("scaled_gbc.onnx")).expect_err("trees are served alone");
    assert!(
        matches!(&error, LoadError::TreesWithOtherOperators { op_type } if op_type == "ai.onnx.ml.Scaler"),
        "{error:?}"
    );
    assert!(error.to_string().contains("without preprocessing"), "{error}");
}

#[test]
fn a_model_whose_width_differs_from_the_declared_features_is_refused_at_load() {
    let bytes = fixture("logreg.onnx");
    let error = Model::load_with_features(&bytes, 4).expect_err("3 features, not 4");
    assert!(
        matches!(
            error,
            LoadError::FeatureCountMismatch {
                model: 3,
                expected: 4
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("takes 3 features but 4 were declared"),
        "{error}"
    );
    assert_eq!(
        Model::load_with_features(&bytes, 3).expect("3 features").inputs(),
        3
    );
}

#[test]
fn a_model_that_does_not_declare_its_width_is_refused_at_load() {
    let error = Model::load(&fixture("open_width.onnx")).expect_err("width [N, F]");
    assert!(
        matches!(error, LoadError::UndeclaredFeatureCount { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("shape [N, F]"), "{error}");
}

#[test]
fn a_model_is_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Model>();
}
