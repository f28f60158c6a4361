//! Classification metrics: accuracy, per-class precision/recall, confusion matrix.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Rows of this class in the evaluated set.
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub rows: usize,
    pub accuracy: f64,
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
    let per_class = (0..n)
        .map(|c| {
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = (0..n).map(|t| confusion[t][c]).sum();
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            ClassMetrics { class: class_names[c].clone(), support, precision: ratio(confusion[c][c], predicted),
                           recall: ratio(confusion[c][c], support) }
        })
        .collect();
    Metrics { rows: truth.len(), accuracy: if truth.is_empty() { 0.0 } else { correct as f64 / truth.len() as f64 }, per_class, confusion }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_right() {
        let names: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let m = evaluate(&[0, 0, 1, 1], &[0, 1, 1, 1], &names);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 2]]);
        assert_eq!(m.per_class[0].recall, 0.5);
        assert_eq!(m.per_class[1].precision, 2.0 / 3.0);
        assert_eq!(m.per_class[0].precision, 1.0);
    }
}
