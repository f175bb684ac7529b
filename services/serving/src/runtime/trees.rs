//! Our own evaluator of ONNX tree ensembles (`ai.onnx.ml` `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`, opset 1–3 attributes), with onnxruntime's semantics.
//!
//! tract 0.23 has no `TreeEnsembleRegressor`, and its `TreeEnsembleClassifier` refuses
//! scikit-learn's binary gradient boosting (one score for the positive class and a single
//! `base_values`), which is the most common tree model there is. A tree ensemble is a
//! plain data structure, so we read the node attributes and walk the trees ourselves.

use std::collections::HashMap;

use tract_onnx::pb::{AttributeProto, NodeProto};

use super::error::LoadError;
use super::predictions::{ClassPrediction, Label, Predictions};

/// A tree ensemble read from an ONNX node, checked for `features` inputs.
#[derive(Debug)]
pub(super) struct TreeEnsemble {
    /// Index in `nodes` of each tree's root.
    roots: Vec<usize>,
    nodes: Vec<TreeNode>,
    /// `(target or class index, weight)`, a contiguous range per leaf.
    leaves: Vec<(usize, f32)>,
    base_values: Vec<f32>,
    aggregate: Aggregate,
    post_transform: PostTransform,
    output: Output,
}

#[derive(Debug)]
enum TreeNode {
    Branch {
        feature: usize,
        threshold: f32,
        mode: Mode,
        missing_goes_true: bool,
        yes: usize,
        no: usize,
    },
    Leaf {
        start: usize,
        end: usize,
    },
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

#[derive(Clone, Copy, Debug)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug)]
enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

#[derive(Debug)]
enum Output {
    /// Two classes scored by one value, the positive class's (scikit-learn's binary
    /// gradient boosting); `all_positive` weights make that value a probability.
    Binary {
        classes: [Label; 2],
        all_positive: bool,
        scored_class: usize,
        base: f32,
    },
    /// One score per class.
    Classes(Vec<Label>),
    /// One value per row.
    Value,
}

impl TreeEnsemble {
    /// Reads `node` (a `TreeEnsembleClassifier` or `TreeEnsembleRegressor`) for rows of
    /// `features` values, or says why it cannot be served.
    pub(super) fn from_node(node: &NodeProto, features: usize) -> Result<TreeEnsemble, LoadError> {
        let invalid = |reason: String| LoadError::InvalidTreeEnsemble {
            op_type: node.op_type.clone(),
            reason,
        };
        let attributes = Attributes(node);
        let is_classifier = node.op_type == "TreeEnsembleClassifier";
        let prefix = if is_classifier { "class" } else { "target" };

        let node_ids = attributes.ints("nodes_nodeids")?;
        let tree_ids = attributes.ints("nodes_treeids")?;
        let feature_ids = attributes.ints("nodes_featureids")?;
        let true_ids = attributes.ints("nodes_truenodeids")?;
        let false_ids = attributes.ints("nodes_falsenodeids")?;
        let thresholds = attributes.floats("nodes_values")?;
        let modes = attributes.strings("nodes_modes")?;
        let missing = attributes.optional_ints("nodes_missing_value_tracks_true");
        let leaf_tree_ids = attributes.ints(&format!("{prefix}_treeids"))?;
        let leaf_node_ids = attributes.ints(&format!("{prefix}_nodeids"))?;
        let leaf_targets = attributes.ints(&format!("{prefix}_ids"))?;
        let leaf_weights = attributes.floats(&format!("{prefix}_weights"))?;

        let n_nodes = node_ids.len();
        let node_lengths = [
            tree_ids.len(),
            feature_ids.len(),
            true_ids.len(),
            false_ids.len(),
            thresholds.len(),
            modes.len(),
        ];
        if node_lengths.iter().any(|&len| len != n_nodes) || missing.is_some_and(|m| m.len() != n_nodes) {
            return Err(invalid("the nodes_* attributes differ in length".to_owned()));
        }
        let n_leaves = leaf_tree_ids.len();
        if [leaf_node_ids.len(), leaf_targets.len(), leaf_weights.len()]
            .iter()
            .any(|&len| len != n_leaves)
        {
            return Err(invalid(format!("the {prefix}_* attributes differ in length")));
        }
        if n_nodes == 0 {
            return Err(invalid("it has no nodes".to_owned()));
        }

        let (targets, labels) = if is_classifier {
            let labels = attributes.labels().ok_or_else(|| {
                invalid("it declares neither classlabels_int64s nor classlabels_strings".to_owned())
            })?;
            (labels.len(), Some(labels))
        } else {
            let n_targets = attributes.optional_int("n_targets").unwrap_or(1);
            (usize::try_from(n_targets).unwrap_or(0), None)
        };
        if targets == 0 {
            return Err(invalid("it has no classes or targets".to_owned()));
        }

        // The leaves' weights, grouped by (tree, node).
        let mut weights_by_leaf: HashMap<(i64, i64), Vec<(usize, f32)>> = HashMap::new();
        for ix in 0..n_leaves {
            let target = usize::try_from(leaf_targets[ix])
                .ok()
                .filter(|&target| target < targets)
                .ok_or_else(|| {
                    invalid(format!(
                        "leaf weight {ix} is for {prefix} {} of {targets}",
                        leaf_targets[ix]
                    ))
                })?;
            weights_by_leaf
                .entry((leaf_tree_ids[ix], leaf_node_ids[ix]))
                .or_default()
                .push((target, leaf_weights[ix]));
        }

        let index: HashMap<(i64, i64), usize> = (0..n_nodes)
            .map(|ix| ((tree_ids[ix], node_ids[ix]), ix))
            .collect();
        if index.len() != n_nodes {
            return Err(invalid("a (tree, node) id appears twice".to_owned()));
        }
        let child = |ix: usize, id: i64| {
            index.get(&(tree_ids[ix], id)).copied().ok_or_else(|| {
                invalid(format!(
                    "node {} of tree {} points to missing node {id}",
                    node_ids[ix], tree_ids[ix]
                ))
            })
        };
        let mut nodes = Vec::with_capacity(n_nodes);
        let mut leaves = Vec::with_capacity(n_leaves);
        for ix in 0..n_nodes {
            let mode = match modes[ix].as_str() {
                "LEAF" => None,
                "BRANCH_LEQ" => Some(Mode::Leq),
                "BRANCH_LT" => Some(Mode::Lt),
                "BRANCH_GTE" => Some(Mode::Gte),
                "BRANCH_GT" => Some(Mode::Gt),
                "BRANCH_EQ" => Some(Mode::Eq),
                "BRANCH_NEQ" => Some(Mode::Neq),
                other => return Err(invalid(format!("node mode {other} is unknown"))),
            };
            let tree_node = match mode {
                None => {
                    let start = leaves.len();
                    if let Some(weights) = weights_by_leaf.get(&(tree_ids[ix], node_ids[ix])) {
                        leaves.extend_from_slice(weights);
                    }
                    TreeNode::Leaf {
                        start,
                        end: leaves.len(),
                    }
                }
                Some(mode) => {
                    let feature = usize::try_from(feature_ids[ix])
                        .ok()
                        .filter(|&f| f < features)
                        .ok_or_else(|| {
                            invalid(format!(
                                "a node splits on feature {} but the input has {features}",
                                feature_ids[ix]
                            ))
                        })?;
                    TreeNode::Branch {
                        feature,
                        threshold: thresholds[ix],
                        mode,
                        missing_goes_true: missing.is_some_and(|m| m[ix] != 0),
                        yes: child(ix, true_ids[ix])?,
                        no: child(ix, false_ids[ix])?,
                    }
                }
            };
            nodes.push(tree_node);
        }

        let mut tree_order: Vec<i64> = tree_ids.to_vec();
        tree_order.sort_unstable();
        tree_order.dedup();
        let roots = tree_order
            .iter()
            .map(|&tree| {
                index
                    .get(&(tree, 0))
                    .copied()
                    .ok_or_else(|| invalid(format!("tree {tree} has no node 0")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_acyclic(&roots, &nodes).map_err(invalid)?;

        let base_values = attributes
            .optional_floats("base_values")
            .map(<[f32]>::to_vec)
            .unwrap_or_default();
        let post_transform = match attributes.optional_string("post_transform").as_deref() {
            None | Some("NONE") => PostTransform::None,
            Some("LOGISTIC") => PostTransform::Logistic,
            Some("SOFTMAX") => PostTransform::Softmax,
            Some("SOFTMAX_ZERO") => PostTransform::SoftmaxZero,
            Some(other) => return Err(invalid(format!("post_transform {other} is not supported"))),
        };
        let aggregate = match attributes.optional_string("aggregate_function").as_deref() {
            None | Some("SUM") => Aggregate::Sum,
            Some("AVERAGE") => Aggregate::Average,
            Some("MIN") => Aggregate::Min,
            Some("MAX") => Aggregate::Max,
            Some(other) => return Err(invalid(format!("aggregate_function {other} is unknown"))),
        };

        let output = match labels {
            None => {
                if targets != 1 {
                    return Err(invalid(format!(
                        "it has {targets} targets; serving answers one value per row"
                    )));
                }
                if !matches!(post_transform, PostTransform::None) {
                    return Err(invalid("a regressor's post_transform must be NONE".to_owned()));
                }
                Output::Value
            }
            Some(labels) => {
                let first_class = leaves.first().map_or(0, |&(class, _)| class);
                let one_class_scored = leaves.iter().all(|&(class, _)| class == first_class);
                match <[Label; 2]>::try_from(labels) {
                    Ok(classes) if one_class_scored => {
                        if !matches!(post_transform, PostTransform::None | PostTransform::Logistic) {
                            return Err(invalid(
                                "two classes scored by one value need post_transform NONE or LOGISTIC"
                                    .to_owned(),
                            ));
                        }
                        let base = match base_values.as_slice() {
                            [base] => *base,
                            [first, second] => {
                                if first_class == 0 {
                                    *first
                                } else {
                                    *second
                                }
                            }
                            _ => 0.0,
                        };
                        Output::Binary {
                            classes,
                            all_positive: leaves.iter().all(|&(_, weight)| weight >= 0.0),
                            scored_class: first_class,
                            base,
                        }
                    }
                    Ok(classes) => Output::Classes(classes.to_vec()),
                    Err(labels) => Output::Classes(labels),
                }
            }
        };
        let expected_base = match output {
            Output::Binary { .. } => [0, 1, 2],
            Output::Classes(_) | Output::Value => [0, targets, targets],
        };
        if !expected_base.contains(&base_values.len()) {
            return Err(invalid(format!("it has {} base_values", base_values.len())));
        }
        Ok(TreeEnsemble {
            roots,
            nodes,
            leaves,
            base_values,
            aggregate,
            post_transform,
            output,
        })
    }

    /// The classes, in the order of the probabilities (classifiers only).
    pub(super) fn classes(&self) -> Option<Vec<Label>> {
        match &self.output {
            Output::Binary { classes, .. } => Some(classes.to_vec()),
            Output::Classes(classes) => Some(classes.clone()),
            Output::Value => None,
        }
    }

    /// Scores rows of `features` values; `rows.len()` is a multiple of `features`.
    pub(super) fn predict(&self, rows: &[f32], features: usize) -> Predictions {
        let targets = match &self.output {
            Output::Binary { .. } => 2,
            Output::Value => 1,
            Output::Classes(classes) => classes.len(),
        };
        let mut scores = vec![0.0f32; targets];
        let mut scored = vec![false; targets];
        let mut classes = Vec::new();
        let mut values = Vec::new();
        for row in rows.chunks_exact(features) {
            self.aggregate_row(row, &mut scores, &mut scored);
            match &self.output {
                Output::Value => values.push(scores[0] + self.base_values.first().copied().unwrap_or(0.0)),
                Output::Binary {
                    classes: labels,
                    all_positive,
                    scored_class,
                    base,
                } => {
                    classes.push(self.binary(scores[*scored_class] + base, labels, *all_positive));
                }
                Output::Classes(labels) => classes.push(self.multiclass(&mut scores, labels)),
            }
        }
        match self.output {
            Output::Value => Predictions::Values(values),
            Output::Binary { .. } | Output::Classes(_) => Predictions::Classes(classes),
        }
    }

    fn aggregate_row(&self, row: &[f32], scores: &mut [f32], scored: &mut [bool]) {
        scores.fill(0.0);
        scored.fill(false);
        for &root in &self.roots {
            let TreeNode::Leaf { start, end } = self.leaf(root, row) else {
                continue;
            };
            for &(target, weight) in &self.leaves[*start..*end] {
                let slot = &mut scores[target];
                *slot = match (self.aggregate, scored[target]) {
                    (Aggregate::Sum | Aggregate::Average, _) => *slot + weight,
                    (Aggregate::Min | Aggregate::Max, false) => weight,
                    (Aggregate::Min, true) => slot.min(weight),
                    (Aggregate::Max, true) => slot.max(weight),
                };
                scored[target] = true;
            }
        }
        if matches!(self.aggregate, Aggregate::Average) {
            let trees = self.roots.len() as f32;
            scores.iter_mut().for_each(|score| *score /= trees);
        }
    }

    fn leaf(&self, root: usize, row: &[f32]) -> &TreeNode {
        let mut at = root;
        loop {
            match &self.nodes[at] {
                TreeNode::Branch {
                    feature,
                    threshold,
                    mode,
                    missing_goes_true,
                    yes,
                    no,
                } => {
                    let x = row[*feature];
                    let goes_true = (x.is_nan() && *missing_goes_true)
                        || match mode {
                            Mode::Leq => x <= *threshold,
                            Mode::Lt => x < *threshold,
                            Mode::Gte => x >= *threshold,
                            Mode::Gt => x > *threshold,
                            Mode::Eq => x == *threshold,
                            Mode::Neq => x != *threshold,
                        };
                    at = if goes_true { *yes } else { *no };
                }
                leaf @ TreeNode::Leaf { .. } => return leaf,
            }
        }
    }

    fn binary(&self, score: f32, labels: &[Label; 2], all_positive: bool) -> ClassPrediction {
        let (probabilities, positive) = match (self.post_transform, all_positive) {
            (PostTransform::Logistic, _) => ([logistic(-score), logistic(score)], score > 0.0),
            (PostTransform::None, true) => ([1.0 - score, score], score > 0.5),
            // Checked at load: only NONE and LOGISTIC reach here.
            (PostTransform::None, false) | (PostTransform::Softmax | PostTransform::SoftmaxZero, _) => {
                ([-score, score], score > 0.0)
            }
        };
        let label = if positive {
            labels[1].clone()
        } else {
            labels[0].clone()
        };
        ClassPrediction {
            label,
            probabilities: probabilities.to_vec(),
        }
    }

    fn multiclass(&self, scores: &mut [f32], labels: &[Label]) -> ClassPrediction {
        for (score, base) in scores.iter_mut().zip(&self.base_values) {
            *score += base;
        }
        match self.post_transform {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|score| *score = logistic(*score)),
            PostTransform::Softmax => softmax(scores, false),
            PostTransform::SoftmaxZero => softmax(scores, true),
        }
        // The first of equal maxima, as numpy's argmax.
        let best = scores.iter().enumerate().fold(
            0,
            |best, (ix, score)| if *score > scores[best] { ix } else { best },
        );
        ClassPrediction {
            label: labels[best].clone(),
            probabilities: scores.to_vec(),
        }
    }
}

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Softmax in place; with `keep_zeros`, zero scores stay zero (ONNX's SOFTMAX_ZERO).
fn softmax(scores: &mut [f32], keep_zeros: bool) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for score in scores.iter_mut() {
        if !(keep_zeros && *score == 0.0) {
            *score = (*score - max).exp();
            sum += *score;
        }
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|score| *score /= sum);
    }
}

/// Refuses trees in which a node can be reached twice from its root: a cycle would make a
/// prediction loop forever.
fn check_acyclic(roots: &[usize], nodes: &[TreeNode]) -> Result<(), String> {
    let mut seen = vec![false; nodes.len()];
    for &root in roots {
        let mut stack = vec![root];
        while let Some(at) = stack.pop() {
            if std::mem::replace(&mut seen[at], true) {
                return Err("a node is reached twice (the trees have a cycle or share nodes)".to_owned());
            }
            if let TreeNode::Branch { yes, no, .. } = &nodes[at] {
                stack.extend([*yes, *no]);
            }
        }
    }
    Ok(())
}

/// A node's attributes by name.
struct Attributes<'a>(&'a NodeProto);

impl<'a> Attributes<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.attribute.iter().find(|attribute| attribute.name == name)
    }

    fn missing(&self, name: &str) -> LoadError {
        LoadError::InvalidTreeEnsemble {
            op_type: self.0.op_type.clone(),
            reason: format!(
                "attribute {name} is missing (double-precision `*_as_tensor` attributes are not supported)"
            ),
        }
    }

    fn ints(&self, name: &str) -> Result<&'a [i64], LoadError> {
        self.optional_ints(name).ok_or_else(|| self.missing(name))
    }

    fn optional_ints(&self, name: &str) -> Option<&'a [i64]> {
        self.get(name).map(|attribute| attribute.ints.as_slice())
    }

    fn floats(&self, name: &str) -> Result<&'a [f32], LoadError> {
        self.optional_floats(name).ok_or_else(|| self.missing(name))
    }

    fn optional_floats(&self, name: &str) -> Option<&'a [f32]> {
        self.get(name).map(|attribute| attribute.floats.as_slice())
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, LoadError> {
        let attribute = self.get(name).ok_or_else(|| self.missing(name))?;
        Ok(attribute
            .strings
            .iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .collect())
    }

    fn optional_string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|attribute| String::from_utf8_lossy(&attribute.s).into_owned())
    }

    fn optional_int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|attribute| attribute.i)
    }

    fn labels(&self) -> Option<Vec<Label>> {
        if let Some(ints) = self.optional_ints("classlabels_int64s") {
            return Some(ints.iter().copied().map(Label::Int).collect());
        }
        let strings = self.get("classlabels_strings")?;
        Some(
            strings
                .strings
                .iter()
                .map(|bytes| Label::Text(String::from_utf8_lossy(bytes).into_owned()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{AttributeProto, NodeProto};

    use super::TreeEnsemble;
    use crate::runtime::{LoadError, Predictions};

    fn ints(name: &str, values: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.to_owned(),
            ints: values.to_vec(),
            ..AttributeProto::default()
        }
    }

    fn floats(name: &str, values: &[f32]) -> AttributeProto {
        AttributeProto {
            name: name.to_owned(),
            floats: values.to_vec(),
            ..AttributeProto::default()
        }
    }

    fn strings(name: &str, values: &[&str]) -> AttributeProto {
        AttributeProto {
            name: name.to_owned(),
            strings: values.iter().map(|value| value.as_bytes().to_vec()).collect(),
            ..AttributeProto::default()
        }
    }

    /// One stump on feature 0: `x <= 0.5` (or missing, when `missing_goes_true`) scores 10,
    /// otherwise 20; `true_child` lets a test point the root at itself.
    fn stump(missing_goes_true: bool, true_child: i64) -> NodeProto {
        NodeProto {
            op_type: "TreeEnsembleRegressor".to_owned(),
            domain: "ai.onnx.ml".to_owned(),
            attribute: vec![
                ints("nodes_nodeids", &[0, 1, 2]),
                ints("nodes_treeids", &[0, 0, 0]),
                ints("nodes_featureids", &[0, 0, 0]),
                ints("nodes_truenodeids", &[true_child, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0]),
                floats("nodes_values", &[0.5, 0.0, 0.0]),
                strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
                ints(
                    "nodes_missing_value_tracks_true",
                    &[i64::from(missing_goes_true), 0, 0],
                ),
                ints("target_treeids", &[0, 0]),
                ints("target_nodeids", &[1, 2]),
                ints("target_ids", &[0, 0]),
                floats("target_weights", &[10.0, 20.0]),
                AttributeProto {
                    name: "n_targets".to_owned(),
                    i: 1,
                    ..AttributeProto::default()
                },
            ],
            ..NodeProto::default()
        }
    }

    fn values(trees: &TreeEnsemble, rows: &[f32]) -> Vec<f32> {
        match trees.predict(rows, 1) {
            Predictions::Values(values) => values,
            Predictions::Classes(_) => panic!("a regressor"),
        }
    }

    #[test]
    fn a_missing_value_follows_the_branch_the_model_says() {
        let tracks_true = TreeEnsemble::from_node(&stump(true, 1), 1).expect("valid");
        assert_eq!(
            values(&tracks_true, &[0.0, 0.5, 1.0, f32::NAN]),
            [10.0, 10.0, 20.0, 10.0]
        );
        let tracks_false = TreeEnsemble::from_node(&stump(false, 1), 1).expect("valid");
        assert_eq!(values(&tracks_false, &[f32::NAN]), [20.0]);
    }

    #[test]
    fn a_tree_with_a_cycle_is_refused_at_load() {
        let error = TreeEnsemble::from_node(&stump(false, 0), 1).expect_err("node 0 -> node 0");
        assert!(
            matches!(&error, LoadError::InvalidTreeEnsemble { reason, .. } if reason.contains("cycle")),
            "{error}"
        );
    }

    #[test]
    fn a_split_on_a_feature_the_input_lacks_is_refused_at_load() {
        let mut node = stump(false, 1);
        node.attribute[2] = ints("nodes_featureids", &[4, 0, 0]);
        let error = TreeEnsemble::from_node(&node, 1).expect_err("feature 4 of 1");
        assert!(
            error
                .to_string()
                .contains("splits on feature 4 but the input has 1"),
            "{error}"
        );
    }
}
