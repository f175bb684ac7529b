//! The in-process model runtime: [`Model::load`] checks an ONNX model and prepares it,
//! [`Model::predict`] scores a batch of rows.
//!
//! # Engines
//! Everything is pure Rust; nothing is downloaded at build or run time.
//! - [tract](https://github.com/sonos/tract) (`tract-onnx` 0.23, default features off) runs
//!   every model but tree ensembles. Of the `ai.onnx.ml` domain it implements
//!   `LinearClassifier`, `LinearRegressor`, `Normalizer`, `CategoryMapper` and
//!   `TreeEnsembleClassifier`; it has no `Scaler`, `ZipMap`, `TreeEnsembleRegressor`, SVM or
//!   `TreeEnsemble` (ai.onnx.ml opset 5). We rewrite `Scaler` (scikit-learn's
//!   `StandardScaler`) into the standard `Sub` and `Mul` before tract parses the model.
//! - Our own evaluator (`trees.rs`) runs a model that is one `TreeEnsembleClassifier` or
//!   `TreeEnsembleRegressor` (plus `Identity`/`Cast` pass-throughs), with onnxruntime's
//!   semantics. tract's `TreeEnsembleClassifier` refuses scikit-learn's binary gradient
//!   boosting (one `base_values` for two classes) and it has no regressor; trees need no
//!   preprocessing, so a tree model with other operators is refused rather than split
//!   between engines.
//!
//! # What can be served
//! Models as skl2onnx exports them, with one float input `[rows, features]` whose width is
//! declared:
//! - classifiers (label + probabilities) with integer or string classes: logistic regression
//!   (`LinearClassifier`, alone or after a `StandardScaler`), gradient boosting and random
//!   forests (`TreeEnsembleClassifier`);
//! - single-target regressors: linear regression, gradient boosting and random forests.
//!
//! Recommended export: `to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False},
//! target_opset={"": 17, "ai.onnx.ml": 3})`. A classifier exported with skl2onnx's default
//! `ZipMap` (probabilities as a sequence of maps) is accepted too: a `ZipMap` that produces a
//! graph output is dropped at load and its input, the `[rows, classes]` probability tensor,
//! served instead — the same numbers without the maps. The tests compare every answer with
//! scikit-learn's own (`scripts/serving/make-fixtures.py`: scikit-learn 1.7.2, skl2onnx 1.20).
//!
//! # Refused at load, with the reason
//! Bytes that are not an ONNX model, an operator neither engine has (e.g. `SVMClassifier`),
//! trees mixed with other operators, tree attributes we do not implement (double-precision
//! `*_as_tensor`, `PROBIT`), more than one input, a non-float input, an undeclared or
//! mismatching number of features, and outputs that are neither `(label, probabilities)` nor
//! one value per row. [`LoadError`] says which and what to change. A model that loads has
//! already run once (a warm-up on zeros), so a model that fails to run fails at load, and the
//! first request is not slower than the rest.
//!
//! Loading is CPU work (parsing, optimisation, warm-up): call it off the async runtime.

mod error;
mod inspect;
mod model;
mod predictions;
mod trees;

pub use error::{LoadError, PredictError};
pub use model::Model;
pub use predictions::{ClassPrediction, Label, ModelKind, Predictions};
