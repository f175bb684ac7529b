//! Why a model was refused at load, or a batch at prediction.

/// A model that cannot be served. Each message says what to change in the model or its export.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not an ONNX model ({reason}): upload the .onnx file written by skl2onnx or onnxmltools")]
    NotOnnx { reason: String },

    #[error(
        "the model has {count} inputs ({names}); serving feeds one float tensor [rows, features]: \
         export with a single FloatTensorType input"
    )]
    InputCount { count: usize, names: String },

    #[error(
        "input `{name}` is {found}; serving feeds float32 [rows, features]: export with \
         FloatTensorType([None, n_features])"
    )]
    InputType { name: String, found: String },

    #[error(
        "input `{name}` does not declare its number of features (shape {shape}); export with \
         FloatTensorType([None, n_features])"
    )]
    UndeclaredFeatureCount { name: String, shape: String },

    #[error(
        "the model takes {model} features but {expected} were declared for it: retrain on the \
         declared features or fix the declaration"
    )]
    FeatureCountMismatch { model: usize, expected: usize },

    #[error("operator {domain}.{op_type} (node `{node}`) is not supported by the serving runtime: {hint}")]
    UnsupportedOperator {
        domain: String,
        op_type: String,
        node: String,
        hint: &'static str,
    },

    #[error("the {op_type} cannot be served: {reason}")]
    InvalidTreeEnsemble { op_type: String, reason: String },

    #[error(
        "a tree ensemble is served only as the whole model (with Identity nodes), but this one \
         also has {op_type}: export the trees without preprocessing (trees need no scaling)"
    )]
    TreesWithOtherOperators { op_type: String },

    #[error("the model's outputs cannot be served: {reason}")]
    Outputs { reason: String },

    #[error("the model cannot be run: {reason}")]
    Runtime { reason: String },
}

/// A batch that could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error("{values} feature values are not whole rows of {features} features")]
    RowWidth { values: usize, features: usize },

    #[error("the model failed on this batch: {reason}")]
    Runtime { reason: String },
}
