//! Classification metrics: accuracy, and what accuracy hides when one class dominates —
//! balanced accuracy (mean recall over the classes present), macro-F1, per-class precision,
//! recall and F1 — plus the confusion matrix and the majority-class baseline.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Rows of this class in the evaluated set.
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub rows: usize,
    pub accuracy: f64,
    /// Mean recall over the classes that occur in the truth (scikit-learn's
    /// `balanced_accuracy_score`): always answering one class scores 1 / (classes present).
    pub balanced_accuracy: f64,
    /// Mean F1 over the classes that occur in the truth or the predictions (scikit-learn's
    /// `f1_score(average="macro")` with its default labels).
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<usize>>,
}

pub fn evaluate(truth: &[usize], pred: &[usize], class_names: &[String]) -> Metrics {
    let n = class_names.len();
    let mut confusion = vec![vec![0usize; n]; n];
    for (&t, &p) in truth.iter().zip(pred) {
        if t < n && p < n {
            confusion[t][p] += 1;
        }
    }
    let correct: usize = (0..n).map(|i| confusion[i][i]).sum();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_class: Vec<ClassMetrics> = (0..n)
        .map(|c| {
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = (0..n).map(|t| confusion[t][c]).sum();
            let (precision, recall) = (ratio(confusion[c][c], predicted), ratio(confusion[c][c], support));
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            ClassMetrics { class: class_names[c].clone(), support, precision, recall, f1 }
        })
        .collect();
    let predicted = |c: usize| (0..n).any(|t| confusion[t][c] > 0);
    let in_truth: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
    let in_either: Vec<&ClassMetrics> = per_class.iter().enumerate().filter(|(c, m)| m.support > 0 || predicted(*c)).map(|(_, m)| m).collect();
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    Metrics {
        rows: truth.len(),
        accuracy: ratio(correct, truth.len()),
        balanced_accuracy: mean(&in_truth.iter().map(|m| m.recall).collect::<Vec<_>>()),
        macro_f1: mean(&in_either.iter().map(|m| m.f1).collect::<Vec<_>>()),
        per_class,
        confusion,
    }
}

/// The most frequent class in `labels` (the lowest index on a tie; 0 if empty).
pub fn majority_class(labels: &[usize], n_classes: usize) -> usize {
    let mut counts = vec![0usize; n_classes];
    for &y in labels {
        if y < n_classes {
            counts[y] += 1;
        }
    }
    // max_by_key keeps the last maximum: search from the end to keep the lowest index.
    (0..n_classes).rev().max_by_key(|&c| counts[c]).unwrap_or(0)
}

/// The majority baseline: always answer the training set's most frequent class.
pub fn majority_baseline(train_y: &[usize], test_y: &[usize], class_names: &[String]) -> Metrics {
    let c = majority_class(train_y, class_names.len());
    evaluate(test_y, &vec![c; test_y.len()], class_names)
}

/// Of the stints of at least `min_ns`, the share whose predicted budget is within a factor of 2
/// of the stint (stint/2 ≤ budget ≤ 2·stint): the learning issue's measure for a slice model
/// read as a regression. `stints` and `budgets` in ns, row for row. None when no stint qualifies.
pub fn within_factor_2(stints: &[u64], budgets: &[u64], min_ns: u64) -> Option<f64> {
    let (mut n, mut ok) = (0u64, 0u64);
    for (&s, &b) in stints.iter().zip(budgets) {
        if s < min_ns {
            continue;
        }
        n += 1;
        ok += u64::from(b.saturating_mul(2) >= s && b <= s.saturating_mul(2));
    }
    (n > 0).then(|| ok as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_a_factor_of_2_counts_both_sides_and_skips_short_stints() {
        // Stints 1 ms: budgets 0.5 and 2 ms are in (the edges), 0.49 and 2.01 ms are not; the
        // 50 µs stint is below the 100 µs floor and not counted at all.
        let stints = [1_000_000, 1_000_000, 1_000_000, 1_000_000, 50_000];
        let budgets = [500_000, 2_000_000, 490_000, 2_010_000, 20_000_000];
        assert_eq!(within_factor_2(&stints, &budgets, 100_000), Some(0.5));
        assert_eq!(within_factor_2(&[50_000], &[50_000], 100_000), None);
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metrics_are_right() {
        let m = evaluate(&[0, 0, 1, 1], &[0, 1, 1, 1], &names(&["a", "b"]));
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 2]]);
        assert_eq!(m.per_class[0].recall, 0.5);
        assert_eq!(m.per_class[1].precision, 2.0 / 3.0);
        assert_eq!(m.per_class[0].precision, 1.0);
        assert_eq!(m.balanced_accuracy, 0.75);
        // F1: a = 2·1·0.5/1.5 = 2/3, b = 2·(2/3)·1/(5/3) = 0.8.
        assert!((m.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12, "{}", m.macro_f1);
    }

    #[test]
    fn the_majority_class_scores_high_accuracy_and_nothing_else() {
        // 98 rows of class 0, 2 of class 1: answering 0 always is 98% accurate, and balanced
        // accuracy says what it is worth — one class of two found.
        let truth: Vec<usize> = (0..100).map(|i| usize::from(i >= 98)).collect();
        let base = majority_baseline(&truth, &truth, &names(&["stay", "move", "never-seen"]));
        assert_eq!(base.accuracy, 0.98);
        assert_eq!(base.balanced_accuracy, 0.5, "the absent class does not count");
        assert!((base.macro_f1 - (2.0 * 0.98 / 1.98) / 2.0).abs() < 1e-12, "{}", base.macro_f1);
        // A model that finds the minority class scores higher balanced accuracy at lower accuracy.
        let mut pred = vec![0usize; 100];
        pred[98] = 1;
        pred[0] = 1;
        pred[1] = 1;
        let m = evaluate(&truth, &pred, &names(&["stay", "move", "never-seen"]));
        assert!(m.accuracy < base.accuracy && m.balanced_accuracy > base.balanced_accuracy, "{m:?}");
        assert_eq!(majority_class(&[2, 2, 1, 1], 3), 1, "a tie goes to the lower class");
        assert_eq!(majority_class(&[], 3), 0);
    }
}
