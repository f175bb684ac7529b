//! What a model answers: per row a class with its probabilities, or a value.

use std::fmt;

/// A class label, as the model declares its classes (scikit-learn's `classes_`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Int(i64),
    Text(String),
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Int(value) => write!(f, "{value}"),
            Label::Text(value) => f.write_str(value),
        }
    }
}

/// What a loaded model predicts.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelKind {
    /// A label per row, and a probability per class, in the order of `classes`.
    Classifier { classes: Vec<Label> },
    /// One value per row.
    Regressor,
}

/// One row's answer from a classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassPrediction {
    pub label: Label,
    /// One per class, in the order of [`ModelKind::Classifier`]'s `classes`.
    pub probabilities: Vec<f32>,
}

/// The answers for a batch, one per row, in row order.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    Classes(Vec<ClassPrediction>),
    Values(Vec<f32>),
}

impl Predictions {
    /// The number of rows answered.
    pub fn len(&self) -> usize {
        match self {
            Predictions::Classes(rows) => rows.len(),
            Predictions::Values(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
