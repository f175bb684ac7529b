//! The holdout evaluation written to `metrics.json`.

use serde::{Deserialize, Serialize};

/// How the model did on the held-out rows, and how many rows went where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of holdout rows whose label is predicted at the 0.5 threshold.
    pub accuracy: f64,
    /// Mean negative log-likelihood of the holdout labels (natural log).
    pub log_loss: f64,
    /// Area under the ROC curve of the class-1 probability.
    pub auc: f64,
    pub train_rows: usize,
    pub holdout_rows: usize,
    pub dropped_rows: usize,
}

/// Probabilities are clipped this far from 0 and 1 in the log loss, as scikit-learn does.
const LOG_LOSS_EPSILON: f64 = 1e-15;

pub fn accuracy(labels: &[u8], probabilities: &[f64]) -> f64 {
    let correct = labels
        .iter()
        .zip(probabilities)
        .filter(|&(&label, &probability)| (probability > 0.5) == (label == 1))
        .count();
    correct as f64 / labels.len() as f64
}

pub fn log_loss(labels: &[u8], probabilities: &[f64]) -> f64 {
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&label, &probability)| {
            let probability = probability.clamp(LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON);
            if label == 1 {
                -probability.ln()
            } else {
                -(1.0 - probability).ln()
            }
        })
        .sum();
    total / labels.len() as f64
}

/// ROC AUC as the Mann–Whitney statistic: the chance a random positive scores above a random
/// negative, ties counting half (average ranks). NaN when one class is absent.
pub fn roc_auc(labels: &[u8], probabilities: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && probabilities[order[end + 1]] == probabilities[order[start]] {
            end += 1;
        }
        // Ranks are 1-based; tied rows share the mean of their ranks.
        let rank = (start + end) as f64 / 2.0 + 1.0;
        positive_rank_sum += rank * order[start..=end].iter().filter(|&&row| labels[row] == 1).count() as f64;
        start = end + 1;
    }
    let positives = labels.iter().filter(|&&label| label == 1).count() as f64;
    let negatives = labels.len() as f64 - positives;
    (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half_and_orders_pairs() {
        // Pairs (positive, negative): (0.9, 0.1) win, (0.9, 0.5) win, (0.5, 0.1) win,
        // (0.5, 0.5) tie: 3.5 / 4.
        let labels = [1, 1, 0, 0];
        let probabilities = [0.9, 0.5, 0.5, 0.1];
        assert!((roc_auc(&labels, &probabilities) - 0.875).abs() < 1e-12);
        assert!((roc_auc(&[0, 1], &[0.2, 0.8]) - 1.0).abs() < 1e-12);
        assert!(roc_auc(&[0, 1], &[0.8, 0.2]).abs() < 1e-12);
    }

    #[test]
    fn log_loss_and_accuracy_match_hand_computation() {
        let labels = [1, 0];
        let probabilities = [0.8, 0.6];
        let expected = -(0.8f64.ln() + 0.4f64.ln()) / 2.0;
        assert!((log_loss(&labels, &probabilities) - expected).abs() < 1e-12);
        assert!((accuracy(&labels, &probabilities) - 0.5).abs() < 1e-12);
    }
}
