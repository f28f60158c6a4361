//! Fitting linfa-trees decision trees and flattening them into our model format.

use anyhow::{Context, Result};
use linfa::prelude::*;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2};

use super::data::Rows;
use scx_mimic::features::N_FEATURES;
use scx_mimic::model::FlatTree;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Params {
    pub max_depth: usize,
    /// Minimum samples (weight) a node needs to be split.
    pub min_samples_split: f32,
    /// Minimum samples (weight) in each leaf.
    pub min_samples_leaf: f32,
    pub entropy: bool,
    /// Class weights, as a power α of the balanced ones: w_c = (n / (classes × n_c))^α.
    /// α = 1 is scikit-learn's `class_weight="balanced"` (a rare class counts as much as a common
    /// one in every split, so the tree learns the minority decisions instead of the majority
    /// class); α = 0 weighs every row 1; in between tempers the rare classes' weight, trading a
    /// little recall on them for precision. Min-sample limits are in weight.
    pub class_weight_power: f32,
}

/// Per-row weights: the balanced weight of the row's class raised to `power` (0: all 1).
pub fn class_weights(y: &[usize], power: f32) -> Vec<f32> {
    if power == 0.0 {
        return vec![1.0; y.len()];
    }
    let mut counts: std::collections::BTreeMap<usize, usize> = Default::default();
    for &c in y {
        *counts.entry(c).or_default() += 1;
    }
    let (n, k) = (y.len() as f64, counts.len() as f64);
    y.iter().map(|c| (n / (k * counts[c] as f64)).powf(power as f64) as f32).collect()
}

pub type Tree = DecisionTree<f64, usize>;

pub fn records(rows: &Rows, idx: &[usize]) -> Array2<f64> {
    Array2::from_shape_fn((idx.len(), N_FEATURES), |(i, k)| rows.x[idx[i]][k] as f64)
}

pub fn fit(rows: &Rows, idx: &[usize], p: &Params) -> Result<Tree> {
    anyhow::ensure!(!idx.is_empty(), "no training rows");
    let x = records(rows, idx);
    let labels: Vec<usize> = idx.iter().map(|&i| rows.y[i]).collect();
    let weights = Array1::from(class_weights(&labels, p.class_weight_power));
    let ds = Dataset::new(x, Array1::from(labels)).with_weights(weights);
    DecisionTree::params()
        .split_quality(if p.entropy { SplitQuality::Entropy } else { SplitQuality::Gini })
        .max_depth(Some(p.max_depth))
        .min_weight_split(p.min_samples_split)
        .min_weight_leaf(p.min_samples_leaf)
        .fit(&ds)
        .context("linfa-trees could not fit the tree")
}

/// The smallest f32 that is >= t. For every f32 x: `x < t` ⇔ `x < ceil_f32(t)`, so the flat
/// tree, which compares f32 features, routes exactly like linfa's f64 tree.
pub fn ceil_f32(t: f64) -> f32 {
    let f = t as f32;
    if (f as f64) < t {
        f.next_up()
    } else {
        f
    }
}

/// Flatten in pre-order (root = node 0, then the left subtree, then the right).
pub fn flatten(tree: &Tree) -> FlatTree {
    let mut flat = FlatTree { feature: vec![], threshold: vec![], left: vec![], right: vec![], leaf: vec![] };
    fn walk(n: &TreeNode<f64, usize>, flat: &mut FlatTree) -> u32 {
        let me = flat.leaf.len();
        flat.feature.push(0);
        flat.threshold.push(0.0);
        flat.left.push(0);
        flat.right.push(0);
        flat.leaf.push(-1);
        match n.prediction() {
            Some(class) => flat.leaf[me] = class as i32,
            None => {
                let (f, t, _) = n.split();
                flat.feature[me] = f as u32;
                flat.threshold[me] = ceil_f32(t);
                let kids = n.children();
                let l = kids[0].as_ref().expect("an internal linfa node has a left child");
                let r = kids[1].as_ref().expect("an internal linfa node has a right child");
                flat.left[me] = walk(l, flat);
                flat.right[me] = walk(r, flat);
            }
        }
        me as u32
    }
    walk(tree.root_node(), &mut flat);
    flat
}

/// linfa's own predictions for some rows.
pub fn linfa_predict(tree: &Tree, rows: &Rows, idx: &[usize]) -> Vec<usize> {
    tree.predict(&records(rows, idx)).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_keeps_every_comparison() {
        for t in [0.5f64, 1.0, 1.0 + 1e-9, 3.4028e38, -2.5, 1e-40, 100.00000001] {
            let c = ceil_f32(t);
            assert!(c as f64 >= t, "{c} < {t}");
            let below = c.next_down();
            assert!((below as f64) < t || below as f64 == t && c as f64 == t);
        }
    }

    #[test]
    fn flat_tree_agrees_with_linfa_on_every_row() {
        // Classes depend on two features with boundaries that fall between f32 values.
        let mut rows = Rows::default();
        let mut rng = super::super::data::SplitMix(42);
        for _ in 0..3000 {
            let mut x = [0f32; N_FEATURES];
            for v in x.iter_mut() {
                *v = (rng.next() % 10_000) as f32 / 7.0;
            }
            let y = if x[1] < 500.3 { 0 } else if x[4] < 900.1 { 1 } else { 2 };
            rows.push(x, y, "r", 0, 0, false, 0);
        }
        let idx: Vec<usize> = (0..rows.x.len()).collect();
        let tree = fit(&rows, &idx[..2000], &Params { max_depth: 8, min_samples_split: 2.0, min_samples_leaf: 1.0, entropy: false, class_weight_power: 0.0 }).unwrap();
        let flat = flatten(&tree);
        let model = scx_mimic::model::Model {
            format: scx_mimic::model::FORMAT_NAME.into(),
            version: scx_mimic::model::FORMAT_VERSION,
            kind: scx_mimic::model::ModelKind::Placement,
            features: scx_mimic::features::FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            classes: (0..3).map(|i| scx_mimic::model::ClassInfo { name: format!("c{i}"), slice_ns: 0 }).collect(),
            tree: flat,
            meta: serde_json::Value::Null,
        };
        model.validate().unwrap();
        let linfa = linfa_predict(&tree, &rows, &idx);
        for (i, &l) in linfa.iter().enumerate() {
            assert_eq!(model.predict(&rows.x[i]), l, "row {i} disagrees");
        }
        let acc = idx[2000..].iter().filter(|&&i| linfa[i] == rows.y[i]).count() as f64 / 1000.0;
        assert!(acc > 0.95, "held-out accuracy {acc}");
    }

    #[test]
    fn balanced_weights_make_a_rare_class_count_as_much_as_a_common_one() {
        let y = [0, 0, 0, 0, 0, 0, 0, 1];
        let w = class_weights(&y, 1.0);
        assert_eq!((w[0], w[7]), (8.0 / 14.0, 4.0));
        let total = |c: usize| y.iter().zip(&w).filter(|(&k, _)| k == c).map(|(_, &v)| v).sum::<f32>();
        assert!((total(0) - total(1)).abs() < 1e-6, "each class weighs n/2");
        assert_eq!(class_weights(&y, 0.0), vec![1.0; 8]);
        // Tempered (α = 0.5): the square roots, so the rare class weighs more than a row, less
        // than balanced.
        let t = class_weights(&y, 0.5);
        assert!((t[7] - 2.0).abs() < 1e-6 && (t[0] - (8.0f32 / 14.0).sqrt()).abs() < 1e-6, "{t:?}");
        // And it changes what the tree learns: a 2% class that a plain tree never predicts
        // (its leaves vote by count) is found with balanced weights.
        let mut rows = Rows::default();
        let mut rng = super::super::data::SplitMix(7);
        for i in 0..5000 {
            let mut x = [0f32; N_FEATURES];
            x[0] = (rng.next() % 1000) as f32;
            // Class 1 is 2% of rows; where x0 >= 900 it is a third of them, never the majority.
            let y = usize::from(x[0] >= 900.0 && i % 3 == 0 && rng.next() % 100 < 60);
            rows.push(x, y, "r", 0, 0, false, 0);
        }
        let idx: Vec<usize> = (0..rows.x.len()).collect();
        let p = Params { max_depth: 4, min_samples_split: 2.0, min_samples_leaf: 20.0, entropy: false, class_weight_power: 0.0 };
        let found = |p: &Params| linfa_predict(&fit(&rows, &idx, p).unwrap(), &rows, &idx).iter().filter(|&&c| c == 1).count();
        assert_eq!(found(&p), 0, "unweighted: the rare class is never the majority of a leaf");
        assert!(found(&Params { class_weight_power: 1.0, ..p }) > 0, "balanced: the region where it lives is predicted as it");
    }
}
