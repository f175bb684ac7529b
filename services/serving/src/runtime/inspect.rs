//! Checks on the ONNX protobuf before tract sees it: what serving needs of a model's
//! input, operators and classes, answered with a [`LoadError`] that says what to fix.

use std::collections::HashSet;

use prost::Message as _;
use tract_onnx::Onnx;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto, type_proto};

use super::error::LoadError;
use super::predictions::Label;

/// What the checks learnt about a model.
pub(super) struct Inspected {
    /// The declared width of the model's one input.
    pub features: usize,
    pub engine: Engine,
}

/// Which evaluator runs the model.
pub(super) enum Engine {
    /// tract, with the class labels of the model's classifier operator (if it has one) in
    /// the order of the probability columns.
    Tract { classes: Option<Vec<Label>> },
    /// Our tree-ensemble evaluator, for a model that is one tree-ensemble operator.
    Trees { node: NodeProto },
}

const TREE_ENSEMBLES: [&str; 2] = ["TreeEnsembleClassifier", "TreeEnsembleRegressor"];

/// Decodes `bytes` as an ONNX model; anything that is not one is [`LoadError::NotOnnx`].
pub(super) fn decode(bytes: &[u8]) -> Result<ModelProto, LoadError> {
    let not_onnx = |reason: &str| LoadError::NotOnnx {
        reason: reason.to_owned(),
    };
    let proto = ModelProto::decode(bytes).map_err(|error| not_onnx(&error.to_string()))?;
    // Protobuf decoding is lenient: a few arbitrary bytes can decode into an empty message.
    if proto.ir_version <= 0 {
        return Err(not_onnx("no IR version"));
    }
    match &proto.graph {
        Some(graph) if !graph.node.is_empty() => Ok(proto),
        Some(_) => Err(not_onnx("the graph has no operators")),
        None => Err(not_onnx("no graph")),
    }
}

/// Checks `proto` against what serving needs, after dropping the `ZipMap`s that produce
/// graph outputs (see the module docs). `expected_features`, when given, must be the input's
/// declared width.
pub(super) fn inspect(
    proto: &mut ModelProto,
    onnx: &Onnx,
    expected_features: Option<usize>,
) -> Result<Inspected, LoadError> {
    let Some(graph) = proto.graph.as_mut() else {
        return Err(LoadError::NotOnnx {
            reason: "no graph".to_owned(),
        });
    };
    drop_output_zipmaps(graph);
    let (input, features) = input_width(graph)?;
    if let Some(expected) = expected_features
        && expected != features
    {
        return Err(LoadError::FeatureCountMismatch {
            model: features,
            expected,
        });
    }
    let engine = if graph.node.iter().any(is_tree_ensemble) {
        Engine::Trees {
            node: tree_ensemble(graph, &input)?,
        }
    } else {
        expand_scalers(graph);
        check_operators(graph, onnx)?;
        Engine::Tract {
            classes: class_labels(graph),
        }
    };
    Ok(Inspected { features, engine })
}

fn is_tree_ensemble(node: &NodeProto) -> bool {
    node.domain == "ai.onnx.ml" && TREE_ENSEMBLES.contains(&node.op_type.as_str())
}

/// Nodes that hand their input on unchanged, as far as serving is concerned: skl2onnx puts an
/// `Identity` before its outputs and a `Cast` to int64 on a label it zips.
fn is_passthrough(node: &NodeProto) -> bool {
    let cast_to = node
        .attribute
        .iter()
        .find(|attribute| attribute.name == "to")
        .map(|to| to.i);
    let same_types = [
        DataType::Float as i64,
        DataType::Int64 as i64,
        DataType::String as i64,
    ];
    node.domain.is_empty()
        && node.input.len() == 1
        && node.output.len() == 1
        && (node.op_type == "Identity"
            || (node.op_type == "Cast" && cast_to.is_some_and(|to| same_types.contains(&to))))
}

/// The model's one tree-ensemble node, fed by the graph input, whose outputs (through
/// pass-through nodes) are the graph outputs in order.
fn tree_ensemble(graph: &GraphProto, input: &str) -> Result<NodeProto, LoadError> {
    if let Some(other) = graph
        .node
        .iter()
        .find(|node| !is_tree_ensemble(node) && !is_passthrough(node))
    {
        let domain = if other.domain.is_empty() {
            "ai.onnx"
        } else {
            other.domain.as_str()
        };
        return Err(LoadError::TreesWithOtherOperators {
            op_type: format!("{domain}.{}", other.op_type),
        });
    }
    let mut trees = graph.node.iter().filter(|node| is_tree_ensemble(node));
    let (Some(trees_node), None) = (trees.next(), trees.next()) else {
        return Err(LoadError::TreesWithOtherOperators {
            op_type: "a second tree ensemble".to_owned(),
        });
    };
    if trees_node.input.as_slice() != [input] {
        return Err(LoadError::Outputs {
            reason: format!("the {} does not read the model's input", trees_node.op_type),
        });
    }
    let producer_output = |name: &str| {
        let mut name = name.to_owned();
        // Pass-through nodes form chains at most as long as the graph.
        for _ in 0..=graph.node.len() {
            if let Some(ix) = trees_node.output.iter().position(|output| *output == name) {
                return Some(ix);
            }
            let node = graph
                .node
                .iter()
                .find(|node| node.output.first() == Some(&name))?;
            if !is_passthrough(node) {
                return None;
            }
            name.clone_from(&node.input[0]);
        }
        None
    };
    let outputs: Vec<Option<usize>> = graph
        .output
        .iter()
        .map(|output| producer_output(&output.name))
        .collect();
    let expected: &[Option<usize>] = if trees_node.op_type == "TreeEnsembleClassifier" {
        &[Some(0), Some(1)]
    } else {
        &[Some(0)]
    };
    if outputs != expected {
        return Err(LoadError::Outputs {
            reason: format!(
                "the outputs of a {} must be its own outputs, in order ({} of them)",
                trees_node.op_type,
                expected.len()
            ),
        });
    }
    Ok(trees_node.clone())
}

/// Replaces each graph output made by a `ZipMap` with the `ZipMap`'s input: the probability
/// tensor the maps were built from.
fn drop_output_zipmaps(graph: &mut GraphProto) {
    let outputs: HashSet<String> = graph.output.iter().map(|output| output.name.clone()).collect();
    let mut renamed = Vec::new();
    graph.node.retain(|node| {
        let droppable = node.op_type == "ZipMap"
            && node.input.len() == 1
            && node.output.len() == 1
            && outputs.contains(&node.output[0]);
        if droppable {
            renamed.push((node.output[0].clone(), node.input[0].clone()));
        }
        !droppable
    });
    for output in &mut graph.output {
        if let Some((_, probabilities)) = renamed.iter().find(|(zipmap, _)| *zipmap == output.name) {
            output.name = probabilities.clone();
            // The declared type was the sequence of maps.
            output.r#type = None;
        }
    }
}

/// Rewrites each `ai.onnx.ml` `Scaler` (scikit-learn's `StandardScaler`, which tract lacks)
/// into the standard `Sub` and `Mul` it stands for: `(x - offset) * scale`.
fn expand_scalers(graph: &mut GraphProto) {
    let mut nodes = Vec::with_capacity(graph.node.len());
    for (ix, node) in std::mem::take(&mut graph.node).into_iter().enumerate() {
        let is_scaler = node.domain == "ai.onnx.ml"
            && node.op_type == "Scaler"
            && node.input.len() == 1
            && node.output.len() == 1;
        if !is_scaler {
            nodes.push(node);
            continue;
        }
        let floats = |name: &str| {
            node.attribute
                .iter()
                .find(|attribute| attribute.name == name)
                .map(|attribute| attribute.floats.clone())
                .filter(|values| !values.is_empty())
        };
        let prefix = format!("lathe_scaler_{ix}");
        let offset = format!("{prefix}_offset");
        let scale = format!("{prefix}_scale");
        let centred = format!("{prefix}_centred");
        for (name, values) in [
            (&offset, floats("offset").unwrap_or_else(|| vec![0.0])),
            (&scale, floats("scale").unwrap_or_else(|| vec![1.0])),
        ] {
            graph.initializer.push(TensorProto {
                name: name.clone(),
                dims: vec![i64::try_from(values.len()).unwrap_or(i64::MAX)],
                data_type: DataType::Float as i32,
                float_data: values,
                ..TensorProto::default()
            });
        }
        let standard = |op_type: &str, inputs: [&String; 2], output: &String| NodeProto {
            op_type: op_type.to_owned(),
            name: format!("{prefix}_{op_type}"),
            input: inputs.into_iter().cloned().collect(),
            output: vec![output.clone()],
            ..NodeProto::default()
        };
        nodes.push(standard("Sub", [&node.input[0], &offset], &centred));
        nodes.push(standard("Mul", [&centred, &scale], &node.output[0]));
    }
    graph.node = nodes;
}

fn check_operators(graph: &GraphProto, onnx: &Onnx) -> Result<(), LoadError> {
    for node in &graph.node {
        let domain = if node.domain.is_empty() {
            "ai.onnx"
        } else {
            node.domain.as_str()
        };
        let known_domain = domain == "ai.onnx" || domain == "ai.onnx.ml";
        if !known_domain || !onnx.op_register.0.contains_key(&node.op_type) {
            return Err(LoadError::UnsupportedOperator {
                domain: domain.to_owned(),
                op_type: node.op_type.clone(),
                node: node.name.clone(),
                hint: unsupported_hint(domain, &node.op_type),
            });
        }
    }
    Ok(())
}

fn unsupported_hint(domain: &str, op_type: &str) -> &'static str {
    match (domain, op_type) {
        ("ai.onnx.ml", "TreeEnsemble") => {
            "this is the tree operator of ai.onnx.ml opset 5: export with \
             target_opset={\"\": 17, \"ai.onnx.ml\": 3}"
        }
        ("ai.onnx.ml", "ZipMap") => {
            "only a ZipMap that makes a graph output can be dropped: export with \
             options={\"zipmap\": False}"
        }
        ("ai.onnx" | "ai.onnx.ml", _) => {
            "the runtime has tract-onnx's operators (scikit-learn's linear models as skl2onnx \
             exports them, and standard ONNX operators) and its own tree ensembles"
        }
        _ => "custom operator domains cannot be served",
    }
}

/// The name and the declared width of the model's one input.
fn input_width(graph: &GraphProto) -> Result<(String, usize), LoadError> {
    let initializers: HashSet<&str> = graph
        .initializer
        .iter()
        .map(|tensor| tensor.name.as_str())
        .collect();
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|input| !initializers.contains(input.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(LoadError::InputCount {
            count: inputs.len(),
            names: inputs
                .iter()
                .map(|input| input.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let name = input.name.clone();
    let Some(type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|declared| declared.value.as_ref())
    else {
        return Err(LoadError::InputType {
            name,
            found: "not a tensor".to_owned(),
        });
    };
    if tensor.elem_type != DataType::Float as i32 {
        let element = DataType::try_from(tensor.elem_type).map_or_else(
            |_| format!("type {}", tensor.elem_type),
            |dt| dt.as_str_name().to_owned(),
        );
        return Err(LoadError::InputType {
            name,
            found: format!("a tensor of {element}"),
        });
    }
    let dims = tensor
        .shape
        .as_ref()
        .map(|shape| shape.dim.as_slice())
        .unwrap_or_default();
    let width = match dims {
        [_, width] => width.value.as_ref(),
        _ => None,
    };
    match width {
        Some(dimension::Value::DimValue(width)) if *width > 0 => {
            Ok((name, usize::try_from(*width).unwrap_or(usize::MAX)))
        }
        Some(dimension::Value::DimValue(_) | dimension::Value::DimParam(_)) | None => {
            let shape = dims
                .iter()
                .map(|dim| match &dim.value {
                    Some(dimension::Value::DimValue(value)) => value.to_string(),
                    Some(dimension::Value::DimParam(param)) => param.clone(),
                    None => "?".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            Err(LoadError::UndeclaredFeatureCount {
                name,
                shape: format!("[{shape}]"),
            })
        }
    }
}

/// The labels of the first operator that declares class labels (skl2onnx classifiers,
/// `ZipMap`), in the order of its probability columns.
fn class_labels(graph: &GraphProto) -> Option<Vec<Label>> {
    graph.node.iter().find_map(declared_labels)
}

fn declared_labels(node: &NodeProto) -> Option<Vec<Label>> {
    node.attribute
        .iter()
        .find_map(|attribute| match attribute.name.as_str() {
            "classlabels_ints" | "classlabels_int64s" => {
                Some(attribute.ints.iter().copied().map(Label::Int).collect())
            }
            "classlabels_strings" => Some(
                attribute
                    .strings
                    .iter()
                    .map(|bytes| Label::Text(String::from_utf8_lossy(bytes).into_owned()))
                    .collect(),
            ),
            _ => None,
        })
}
