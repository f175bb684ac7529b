//! A loaded model: tract's optimised plan or our tree ensemble, and what it predicts.

use std::fmt;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use super::error::{LoadError, PredictError};
use super::inspect::{self, Engine};
use super::predictions::{ClassPrediction, Label, ModelKind, Predictions};
use super::trees::TreeEnsemble;

/// An ONNX model checked, optimised for any batch size and warmed up. Cheap to clone and
/// safe to share across threads: each [`Model::predict`] runs on its own state.
#[derive(Clone)]
pub struct Model {
    evaluator: Evaluator,
    features: usize,
    kind: ModelKind,
}

#[derive(Clone)]
enum Evaluator {
    Tract(Arc<TypedRunnableModel>),
    Trees(Arc<TreeEnsemble>),
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("features", &self.features)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Model {
    /// Loads the ONNX model in `bytes`, or says why it cannot be served (see the module docs).
    pub fn load(bytes: &[u8]) -> Result<Model, LoadError> {
        Self::load_checked(bytes, None)
    }

    /// Like [`Model::load`], and refuses a model whose input width is not `features` (the
    /// number of features its signature names).
    pub fn load_with_features(bytes: &[u8], features: usize) -> Result<Model, LoadError> {
        Self::load_checked(bytes, Some(features))
    }

    fn load_checked(bytes: &[u8], expected_features: Option<usize>) -> Result<Model, LoadError> {
        let mut proto = inspect::decode(bytes)?;
        let onnx = tract_onnx::onnx();
        let inspected = inspect::inspect(&mut proto, &onnx, expected_features)?;
        let features = inspected.features;
        let (evaluator, kind) = match inspected.engine {
            Engine::Tract { classes } => tract_plan(&onnx, &proto, features, classes)?,
            Engine::Trees { node } => {
                let trees = TreeEnsemble::from_node(&node, features)?;
                let kind = match trees.classes() {
                    Some(classes) => ModelKind::Classifier { classes },
                    None => ModelKind::Regressor,
                };
                (Evaluator::Trees(Arc::new(trees)), kind)
            }
        };

        let model = Model {
            evaluator,
            features,
            kind,
        };
        // Runs every operator once, so a model that cannot run fails here, not on a request,
        // and the first request does not pay for lazy initialisation.
        model
            .predict(&vec![0.0; features])
            .map_err(|error| LoadError::Runtime {
                reason: format!("warm-up on a row of zeros failed: {error}"),
            })?;
        Ok(model)
    }

    /// The number of features of a row.
    pub fn inputs(&self) -> usize {
        self.features
    }

    pub fn kind(&self) -> &ModelKind {
        &self.kind
    }

    /// Scores `rows`: feature values row after row, [`Model::inputs`] per row.
    pub fn predict(&self, rows: &[f32]) -> Result<Predictions, PredictError> {
        if !rows.len().is_multiple_of(self.features) {
            return Err(PredictError::RowWidth {
                values: rows.len(),
                features: self.features,
            });
        }
        let n_rows = rows.len() / self.features;
        if n_rows == 0 {
            return Ok(match self.kind {
                ModelKind::Classifier { .. } => Predictions::Classes(Vec::new()),
                ModelKind::Regressor => Predictions::Values(Vec::new()),
            });
        }
        match &self.evaluator {
            Evaluator::Trees(trees) => Ok(trees.predict(rows, self.features)),
            Evaluator::Tract(plan) => self.predict_with_tract(plan, rows, n_rows),
        }
    }

    fn predict_with_tract(
        &self,
        plan: &Arc<TypedRunnableModel>,
        rows: &[f32],
        n_rows: usize,
    ) -> Result<Predictions, PredictError> {
        let input = Tensor::from_shape(&[n_rows, self.features], rows).map_err(predict_error)?;
        let outputs = plan.run(tvec![input.into_tvalue()]).map_err(predict_error)?;
        match &self.kind {
            ModelKind::Classifier { classes } => {
                let labels = labels(&outputs[0]).map_err(predict_error)?;
                let probabilities = outputs[1].to_plain_array_view::<f32>().map_err(predict_error)?;
                let probabilities = probabilities.as_slice().ok_or_else(|| PredictError::Runtime {
                    reason: "probabilities are not contiguous".to_owned(),
                })?;
                Ok(Predictions::Classes(
                    labels
                        .into_iter()
                        .zip(probabilities.chunks_exact(classes.len()))
                        .map(|(label, row)| ClassPrediction {
                            label,
                            probabilities: row.to_vec(),
                        })
                        .collect(),
                ))
            }
            ModelKind::Regressor => {
                let values = outputs[0].to_plain_array_view::<f32>().map_err(predict_error)?;
                Ok(Predictions::Values(values.iter().copied().collect()))
            }
        }
    }
}

/// Parses, optimises for any number of rows, and checks the outputs of a model for tract.
fn tract_plan(
    onnx: &tract_onnx::Onnx,
    proto: &tract_onnx::pb::ModelProto,
    features: usize,
    classes: Option<Vec<Label>>,
) -> Result<(Evaluator, ModelKind), LoadError> {
    let parsed = onnx.parse(proto, None).map_err(runtime_error)?;
    if let Some(name) = parsed.unresolved_inputs.first() {
        return Err(LoadError::Runtime {
            reason: format!("tensor `{name}` is used but never produced"),
        });
    }
    let mut model = parsed.model;
    let rows = model.symbols.sym("rows");
    model
        .set_input_fact(
            0,
            InferenceFact::dt_shape(f32::datum_type(), tvec![rows.to_dim(), features.to_dim()]),
        )
        .map_err(runtime_error)?;
    let typed = model.into_optimized().map_err(runtime_error)?;
    let kind = output_kind(&typed, classes)?;
    let plan = typed.into_runnable().map_err(runtime_error)?;
    Ok((Evaluator::Tract(plan), kind))
}

/// What the model's outputs are: `(label [rows], probabilities [rows, classes])` for a
/// classifier that declares its classes, one float per row for a regressor.
fn output_kind(model: &TypedModel, classes: Option<Vec<Label>>) -> Result<ModelKind, LoadError> {
    let facts = (0..model.outputs.len())
        .map(|ix| model.output_fact(ix).cloned())
        .collect::<TractResult<Vec<_>>>()
        .map_err(runtime_error)?;
    let described = facts
        .iter()
        .map(|fact| format!("{fact:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let refuse = |why: &str| LoadError::Outputs {
        reason: format!("{why}; it has [{described}]"),
    };

    match (classes, facts.as_slice()) {
        (Some(classes), [label, probabilities]) => {
            let label_type_matches = match classes.first() {
                // tract types an int64 `Cast` as TDim (symbolic dimensions are int64 in ONNX).
                Some(Label::Int(_)) => {
                    label.datum_type == i64::datum_type() || label.datum_type == TDim::datum_type()
                }
                Some(Label::Text(_)) => label.datum_type == String::datum_type(),
                None => false,
            };
            if !label_type_matches || label.rank() != 1 {
                return Err(refuse(
                    "a classifier's first output must be one label per row, of the type of its classes",
                ));
            }
            let width = second_dim(probabilities);
            if probabilities.datum_type != f32::datum_type()
                || probabilities.rank() != 2
                || width != Some(classes.len())
            {
                return Err(refuse(&format!(
                    "a classifier's second output must be float probabilities [rows, {}]",
                    classes.len()
                )));
            }
            Ok(ModelKind::Classifier { classes })
        }
        (None, [value]) => {
            let one_per_row = value.rank() == 1 || (value.rank() == 2 && second_dim(value) == Some(1));
            if value.datum_type != f32::datum_type() || !one_per_row {
                return Err(refuse("a regressor must answer one float per row"));
            }
            Ok(ModelKind::Regressor)
        }
        (Some(_), _) => Err(refuse("a classifier must output a label and probabilities")),
        (None, _) => Err(refuse(
            "a model without declared class labels must output one float per row",
        )),
    }
}

fn second_dim(fact: &TypedFact) -> Option<usize> {
    fact.shape.get(1).and_then(|dim| dim.to_usize().ok())
}

fn labels(tensor: &Tensor) -> TractResult<Vec<Label>> {
    if tensor.datum_type() == String::datum_type() {
        Ok(tensor
            .to_plain_array_view::<String>()?
            .iter()
            .cloned()
            .map(Label::Text)
            .collect())
    } else {
        Ok(tensor
            .cast_to::<i64>()?
            .to_plain_array_view::<i64>()?
            .iter()
            .copied()
            .map(Label::Int)
            .collect())
    }
}

fn runtime_error(error: TractError) -> LoadError {
    LoadError::Runtime {
        reason: format!("{error:#}"),
    }
}

fn predict_error(error: TractError) -> PredictError {
    PredictError::Runtime {
        reason: format!("{error:#}"),
    }
}
