//! The ONNX export: one `LinearClassifier` (domain `ai.onnx.ml`), laid out as skl2onnx writes
//! a binary scikit-learn `LogisticRegression` with `zipmap` off, so Lathe serving (and
//! onnxruntime) read it like any scikit-learn model.
//!
//! Layout: input `input` float `[N, F]`; outputs `label` int64 `[N]` and `probabilities`
//! float `[N, 2]`; opsets `""` 17 and `ai.onnx.ml` 3. The node has `classlabels_ints = [0, 1]`,
//! `multi_class = 0`, `post_transform = "LOGISTIC"`, and one model per class: `coefficients =
//! [−w…, w…]` (class 0's row, then class 1's, row-major `[2, F]`) and `intercepts = [−b, b]`,
//! so the probabilities are `[sigmoid(−s), sigmoid(s)] = [1 − p, p]`.

use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{self, Tensor};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

use crate::learner::LogisticModel;

/// The name of the model's input, as serving's signatures refer to it.
pub const INPUT: &str = "input";
/// ONNX IR version 8 is the one that goes with opset 17.
const IR_VERSION: i64 = 8;
const ML_DOMAIN: &str = "ai.onnx.ml";

/// The serialized ONNX model of `model`.
pub fn export(model: &LogisticModel) -> Vec<u8> {
    let width = model.coefficients.len();
    let negated = model.coefficients.iter().map(|&coefficient| -coefficient);
    let coefficients: Vec<f32> = negated
        .chain(model.coefficients.iter().copied())
        .map(|coefficient| coefficient as f32)
        .collect();
    let intercepts = vec![-model.intercept as f32, model.intercept as f32];

    let node = NodeProto {
        input: vec![INPUT.to_owned()],
        output: vec!["label".to_owned(), "probabilities".to_owned()],
        name: "LinearClassifier".to_owned(),
        op_type: "LinearClassifier".to_owned(),
        domain: ML_DOMAIN.to_owned(),
        attribute: vec![
            ints("classlabels_ints", vec![0, 1]),
            floats("coefficients", coefficients),
            floats("intercepts", intercepts),
            int("multi_class", 0),
            string("post_transform", "LOGISTIC"),
        ],
        ..NodeProto::default()
    };
    let graph = GraphProto {
        node: vec![node],
        name: "churn_logistic_regression".to_owned(),
        input: vec![tensor_value(
            INPUT,
            DataType::Float,
            &[Dim::Rows, Dim::Fixed(width as i64)],
        )],
        output: vec![
            tensor_value("label", DataType::Int64, &[Dim::Rows]),
            tensor_value("probabilities", DataType::Float, &[Dim::Rows, Dim::Fixed(2)]),
        ],
        ..GraphProto::default()
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![opset("", 17), opset(ML_DOMAIN, 3)],
        producer_name: env!("CARGO_PKG_NAME").to_owned(),
        producer_version: env!("CARGO_PKG_VERSION").to_owned(),
        doc_string: "binary logistic regression, standardisation folded into the coefficients".to_owned(),
        graph: Some(graph),
        ..ModelProto::default()
    };
    model.encode_to_vec()
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto {
        domain: domain.to_owned(),
        version,
    }
}

/// A dimension of a declared tensor shape.
enum Dim {
    /// The batch: the symbolic row count `N`.
    Rows,
    Fixed(i64),
}

fn tensor_value(name: &str, elem_type: DataType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|dim| Dimension {
            value: Some(match dim {
                Dim::Rows => dimension::Value::DimParam("N".to_owned()),
                Dim::Fixed(size) => dimension::Value::DimValue(*size),
            }),
            ..Dimension::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(Tensor {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Ints as i32,
        ints,
        ..AttributeProto::default()
    }
}

fn floats(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Floats as i32,
        floats,
        ..AttributeProto::default()
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Int as i32,
        i,
        ..AttributeProto::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..AttributeProto::default()
    }
}
