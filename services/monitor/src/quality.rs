//! Model quality over (prediction, label) pairs, the numbers scikit-learn reports.
//!
//! Classification ([`classification`]):
//! * A pair whose prediction or label is a non-finite number is dropped and not counted in
//!   `labelled_rows`. No pair left: every metric unset.
//! * Classes: when every value involved is a number, classes are numbers (`-0` = `0`);
//!   otherwise numbers are read as their shortest text (`1`, `2.5`), so a label `"1"` and a
//!   prediction `1` are the same class.
//! * Predictions are *scores* when they are all numbers in [0, 1], not all 0 or 1, and the
//!   labels hold at most two classes: the predicted class is the positive one when the
//!   score is at least 0.5, and ROC AUC is computed from the scores (scikit-learn's
//!   `roc_auc_score`: the trapezoid over distinct thresholds, so tied scores count half).
//!   Otherwise predictions are classes and ROC AUC is unset.
//! * The positive class of two or fewer classes (the labels' with scores, else those of
//!   labels and predictions together): for numbers the greater one, except that classes
//!   within {0, 1} always have 1 as the positive class, even when only 0 occurs; for text
//!   the first of `1`, `true`, `yes`, `positive` (ASCII case ignored) present, else — a
//!   lone `0`, `false`, `no` or `negative` being the negative class — the greatest.
//! * Accuracy: the share of pairs whose predicted class is the label. With two classes or
//!   fewer, precision, recall and F1 are those of the positive class; with more, their
//!   unweighted means over the classes of labels and predictions (`average='macro'`). A
//!   ratio with a zero denominator is 0 (`zero_division=0`). ROC AUC is unset unless both
//!   classes occur among the labels. No metric is ever NaN.
//!
//! Regression ([`regression`]): MAE and RMSE over the pairs whose prediction and label are
//! both finite; `labelled_rows` counts those pairs.

use std::cmp::Ordering;

use lathe_contract::monitor::v1::Performance;

use crate::report::format_number;

/// A prediction or a label.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::Number(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::Text(value)
    }
}

/// Text classes that are positive, in order of preference (ASCII case ignored).
const POSITIVE_NAMES: [&str; 4] = ["1", "true", "yes", "positive"];
/// Text classes that, alone, are the negative class.
const NEGATIVE_NAMES: [&str; 4] = ["0", "false", "no", "negative"];

/// The distinct classes of some values, ascending, and each value's index among them.
enum Classes {
    Numbers(Vec<f64>),
    Texts(Vec<String>),
}

impl Classes {
    fn len(&self) -> usize {
        match self {
            Classes::Numbers(classes) => classes.len(),
            Classes::Texts(classes) => classes.len(),
        }
    }

    /// The index of the positive class, `None` when it does not occur (see the module docs).
    fn positive(&self) -> Option<usize> {
        match self {
            Classes::Numbers(classes) => {
                if classes.iter().all(|&c| c == 0.0 || c == 1.0) {
                    classes.iter().position(|&c| c == 1.0)
                } else {
                    classes.len().checked_sub(1)
                }
            }
            Classes::Texts(classes) => {
                let named =
                    |names: &[&str], class: &String| names.iter().any(|n| class.eq_ignore_ascii_case(n));
                for name in POSITIVE_NAMES {
                    if let Some(index) = classes.iter().position(|c| c.eq_ignore_ascii_case(name)) {
                        return Some(index);
                    }
                }
                match classes.as_slice() {
                    [only] if named(&NEGATIVE_NAMES, only) => None,
                    _ => classes.len().checked_sub(1),
                }
            }
        }
    }
}

/// The classes of `values` and the class index of each value.
fn encode(values: &[&Value]) -> (Classes, Vec<usize>) {
    let numbers: Option<Vec<f64>> = values
        .iter()
        .map(|value| match value {
            // -0.0 and 0.0 are one class.
            Value::Number(number) => Some(*number + 0.0),
            Value::Text(_) => None,
        })
        .collect();
    match numbers {
        Some(numbers) => {
            let mut classes = numbers.clone();
            classes.sort_unstable_by(f64::total_cmp);
            classes.dedup();
            let indices = numbers
                .iter()
                .map(|n| classes.partition_point(|c| c.total_cmp(n) == Ordering::Less))
                .collect();
            (Classes::Numbers(classes), indices)
        }
        None => {
            let texts: Vec<String> = values
                .iter()
                .map(|value| match value {
                    Value::Number(number) => format_number(*number),
                    Value::Text(text) => text.clone(),
                })
                .collect();
            let mut classes = texts.clone();
            classes.sort_unstable();
            classes.dedup();
            let indices = texts
                .iter()
                .map(|t| classes.partition_point(|c| c.as_str() < t.as_str()))
                .collect();
            (Classes::Texts(classes), indices)
        }
    }
}

fn is_missing(value: &Value) -> bool {
    matches!(value, Value::Number(number) if !number.is_finite())
}

/// The predictions as scores, when they are numbers in [0, 1] not all 0 or 1.
fn scores(predictions: &[&Value]) -> Option<Vec<f64>> {
    let scores: Vec<f64> = predictions
        .iter()
        .map(|prediction| match prediction {
            Value::Number(score) if (0.0..=1.0).contains(score) => Some(*score),
            Value::Number(_) | Value::Text(_) => None,
        })
        .collect::<Option<_>>()?;
    scores
        .iter()
        .any(|&score| score != 0.0 && score != 1.0)
        .then_some(scores)
}

/// Accuracy, precision, recall and F1 (and ROC AUC for scores) of a classifier, following
/// the rules of the module docs.
pub fn classification(pairs: &[(Value, Value)]) -> Performance {
    let (predictions, labels): (Vec<&Value>, Vec<&Value>) = pairs
        .iter()
        .filter(|(prediction, label)| !is_missing(prediction) && !is_missing(label))
        .map(|(prediction, label)| (prediction, label))
        .unzip();
    let mut performance = Performance {
        labelled_rows: labels.len() as u64,
        ..Performance::default()
    };
    if labels.is_empty() {
        return performance;
    }
    if let Some(scores) = scores(&predictions) {
        let (classes, label_classes) = encode(&labels);
        if classes.len() <= 2 {
            let positive = classes.positive();
            let actual: Vec<bool> = label_classes.iter().map(|&c| Some(c) == positive).collect();
            let predicted: Vec<bool> = scores.iter().map(|&score| score >= 0.5).collect();
            binary_metrics(&mut performance, &predicted, &actual);
            performance.roc_auc = roc_auc(&scores, &actual);
            return performance;
        }
    }
    let values: Vec<&Value> = labels.iter().chain(&predictions).copied().collect();
    let (classes, indices) = encode(&values);
    let (actual, predicted) = indices.split_at(labels.len());
    if classes.len() <= 2 {
        let positive = classes.positive();
        let is_positive =
            |classes: &[usize]| -> Vec<bool> { classes.iter().map(|&c| Some(c) == positive).collect() };
        binary_metrics(&mut performance, &is_positive(predicted), &is_positive(actual));
    } else {
        macro_metrics(&mut performance, classes.len(), predicted, actual);
    }
    let correct = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    performance.accuracy = Some(ratio(correct as u64, labels.len() as u64));
    performance
}

/// A ratio that is 0 when the denominator is (scikit-learn's `zero_division=0`).
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Precision, recall and F1 from a class's true positives, false positives and false
/// negatives.
fn precision_recall_f1(true_positives: u64, false_positives: u64, false_negatives: u64) -> (f64, f64, f64) {
    (
        ratio(true_positives, true_positives + false_positives),
        ratio(true_positives, true_positives + false_negatives),
        ratio(
            2 * true_positives,
            2 * true_positives + false_positives + false_negatives,
        ),
    )
}

fn binary_metrics(performance: &mut Performance, predicted: &[bool], actual: &[bool]) {
    let (mut true_positives, mut false_positives, mut false_negatives, mut correct) = (0, 0, 0, 0);
    for (&predicted, &actual) in predicted.iter().zip(actual) {
        match (predicted, actual) {
            (true, true) => true_positives += 1,
            (true, false) => false_positives += 1,
            (false, true) => false_negatives += 1,
            (false, false) => {}
        }
        correct += u64::from(predicted == actual);
    }
    let (precision, recall, f1) = precision_recall_f1(true_positives, false_positives, false_negatives);
    performance.accuracy = Some(ratio(correct, predicted.len() as u64));
    performance.precision = Some(precision);
    performance.recall = Some(recall);
    performance.f1 = Some(f1);
}

fn macro_metrics(performance: &mut Performance, classes: usize, predicted: &[usize], actual: &[usize]) {
    // Per class: true positives, predicted count, actual count.
    let mut counts = vec![(0u64, 0u64, 0u64); classes];
    for (&predicted, &actual) in predicted.iter().zip(actual) {
        counts[predicted].1 += 1;
        counts[actual].2 += 1;
        if predicted == actual {
            counts[actual].0 += 1;
        }
    }
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for &(true_positives, predicted, actual) in &counts {
        let (p, r, f) = precision_recall_f1(
            true_positives,
            predicted - true_positives,
            actual - true_positives,
        );
        precision += p;
        recall += r;
        f1 += f;
    }
    let classes = classes as f64;
    performance.precision = Some(precision / classes);
    performance.recall = Some(recall / classes);
    performance.f1 = Some(f1 / classes);
}

/// The area under the ROC curve of `scores` for the `actual` positives: the trapezoid over
/// the distinct thresholds; `None` unless both classes occur.
fn roc_auc(scores: &[f64], actual: &[bool]) -> Option<f64> {
    let positives = actual.iter().filter(|&&a| a).count() as f64;
    let negatives = actual.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut true_positives, mut false_positives) = (0.0, 0.0);
    let (mut previous_tpr, mut previous_fpr) = (0.0, 0.0);
    let mut area = 0.0;
    let mut i = 0;
    while i < order.len() {
        let threshold = scores[order[i]];
        while i < order.len() && scores[order[i]] == threshold {
            if actual[order[i]] {
                true_positives += 1.0;
            } else {
                false_positives += 1.0;
            }
            i += 1;
        }
        let (tpr, fpr) = (true_positives / positives, false_positives / negatives);
        area += (fpr - previous_fpr) * (tpr + previous_tpr) / 2.0;
        (previous_tpr, previous_fpr) = (tpr, fpr);
    }
    Some(area)
}

/// Mean absolute error and root mean squared error of (prediction, label) pairs; pairs with
/// a non-finite member are dropped and not counted.
pub fn regression(pairs: &[(f64, f64)]) -> Performance {
    let errors: Vec<f64> = pairs
        .iter()
        .filter(|(prediction, label)| prediction.is_finite() && label.is_finite())
        .map(|(prediction, label)| prediction - label)
        .collect();
    let mut performance = Performance {
        labelled_rows: errors.len() as u64,
        ..Performance::default()
    };
    if errors.is_empty() {
        return performance;
    }
    let n = errors.len() as f64;
    performance.mae = Some(compensated_sum(errors.iter().map(|e| e.abs())) / n);
    performance.rmse = Some((compensated_sum(errors.iter().map(|e| e * e)) / n).sqrt());
    performance
}

/// Neumaier's compensated sum, so long sums do not drift from numpy's pairwise ones.
fn compensated_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for value in values {
        let total = sum + value;
        compensation += if sum.abs() >= value.abs() {
            (sum - total) + value
        } else {
            (value - total) + sum
        };
        sum = total;
    }
    sum + compensation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(predictions: &[Value], labels: &[Value]) -> Vec<(Value, Value)> {
        predictions.iter().cloned().zip(labels.iter().cloned()).collect()
    }

    fn numbers(values: &[f64]) -> Vec<Value> {
        values.iter().map(|&v| Value::Number(v)).collect()
    }

    fn texts(values: &[&str]) -> Vec<Value> {
        values.iter().map(|&v| Value::from(v)).collect()
    }

    #[test]
    fn tied_scores_count_half() {
        // One positive and one negative tied at 0.5, one positive above: AUC = (1 + 0.5) / 2.
        let performance = classification(&pairs(&numbers(&[0.5, 0.5, 0.9]), &numbers(&[1.0, 0.0, 1.0])));
        assert_eq!(performance.roc_auc, Some(0.75));
        // Both tied scores reach 0.5: predicted positive.
        assert_eq!(performance.precision, Some(2.0 / 3.0));
        assert_eq!(performance.recall, Some(1.0));
    }

    #[test]
    fn one_class_leaves_roc_auc_unset_and_zero_divisions_zero() {
        let performance = classification(&pairs(&numbers(&[0.2, 0.3]), &numbers(&[0.0, 0.0])));
        assert_eq!(performance.roc_auc, None);
        assert_eq!(performance.accuracy, Some(1.0));
        assert_eq!(
            (performance.precision, performance.recall, performance.f1),
            (Some(0.0), Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn hard_predictions_have_no_roc_auc() {
        let performance = classification(&pairs(&numbers(&[0.0, 1.0, 1.0]), &numbers(&[0.0, 1.0, 0.0])));
        assert_eq!(performance.roc_auc, None);
        assert_eq!(performance.accuracy, Some(2.0 / 3.0));
        assert_eq!(performance.precision, Some(0.5));
    }

    #[test]
    fn text_labels_prefer_named_positive_classes() {
        let performance = classification(&pairs(
            &texts(&["yes", "no", "no"]),
            &texts(&["yes", "yes", "no"]),
        ));
        assert_eq!(performance.precision, Some(1.0));
        assert_eq!(performance.recall, Some(0.5));
        let alone = classification(&pairs(&texts(&["No", "No"]), &texts(&["No", "No"])));
        assert_eq!(
            alone.recall,
            Some(0.0),
            "a lone negative name is not the positive class"
        );
        let other = classification(&pairs(&texts(&["cat", "dog"]), &texts(&["dog", "dog"])));
        assert_eq!(other.precision, Some(1.0), "dog > cat is positive");
        assert_eq!(other.recall, Some(0.5));
    }

    #[test]
    fn numbers_and_text_compare_as_text() {
        let performance = classification(&pairs(&numbers(&[1.0, 0.0]), &texts(&["1", "1"])));
        assert_eq!(performance.accuracy, Some(0.5));
        assert_eq!(performance.recall, Some(0.5));
    }

    #[test]
    fn many_classes_average_over_classes() {
        // a: precision 1, recall 1/2; b: 1/2 and 1; c (only predicted) and d (only a label): 0.
        let performance = classification(&pairs(
            &texts(&["a", "b", "b", "c"]),
            &texts(&["a", "a", "b", "d"]),
        ));
        assert_eq!(performance.accuracy, Some(0.5));
        assert_eq!(performance.precision, Some((1.0 + 0.5) / 4.0));
        assert_eq!(performance.recall, Some((0.5 + 1.0) / 4.0));
        assert_eq!(performance.roc_auc, None);
    }

    #[test]
    fn missing_values_are_dropped_and_not_counted() {
        let performance = classification(&pairs(&numbers(&[f64::NAN, 1.0]), &numbers(&[1.0, 1.0])));
        assert_eq!(performance.labelled_rows, 1);
        assert_eq!(classification(&[]), Performance::default());
        let regression = regression(&[(1.0, 2.0), (f64::INFINITY, 0.0), (3.0, 0.0), (0.0, f64::NAN)]);
        assert_eq!(regression.labelled_rows, 2);
        assert_eq!(regression.mae, Some(2.0));
        assert_eq!(regression.rmse, Some(5.0f64.sqrt()));
        assert_eq!(super::regression(&[]).mae, None);
    }
}
