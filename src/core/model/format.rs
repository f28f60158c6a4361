use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::features::{FEATURE_NAMES, N_FEATURES};

/// The format name in every model file.
pub const FORMAT_NAME: &str = "scx_mimic-model";
/// The format version this build reads and writes.
/// Version 2: slice classes are budgets (a class covers the stints up to its slice), and a third
/// kind of model decides wakeup preemption.
pub const FORMAT_VERSION: u32 = 2;
/// Trees deeper than this are refused (inference cost is bounded by depth).
pub const MAX_DEPTH: usize = 32;
/// At most this many nodes.
pub const MAX_NODES: usize = 1 << 20;
/// At most this many classes.
pub const MAX_CLASSES: usize = 256;

/// What a model decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The time slice: classes are slice lengths.
    Slice,
    /// The CPU: classes are placement choices (see `replay::PLACEMENT_CLASSES`).
    Placement,
    /// Wakeup preemption: class 1 ([`PREEMPT_YES`]) preempts the running task.
    Preempt,
}

/// The preemption model's classes: 0 let the running task go on, 1 preempt it.
pub const PREEMPT_CLASSES: [&str; 2] = ["no", "preempt"];
/// The class that preempts.
pub const PREEMPT_YES: usize = 1;

/// One class: its name and, for slice models, the slice it stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassInfo {
    pub name: String,
    /// Slice models: the slice to give, ns. Placement models: 0.
    pub slice_ns: u64,
}

/// The flattened tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatTree {
    pub feature: Vec<u32>,
    pub threshold: Vec<f32>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Class index for leaves, -1 for internal nodes.
    pub leaf: Vec<i32>,
}

/// A model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub version: u32,
    pub kind: ModelKind,
    pub features: Vec<String>,
    pub classes: Vec<ClassInfo>,
    pub tree: FlatTree,
    /// Free-form provenance (datasets, seed, hyper-parameters, accuracy); not used to predict.
    #[serde(default)]
    pub meta: serde_json::Value,
}

/// Why a model file was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError(msg.into()))
}

impl Model {
    /// Parse and validate a model from JSON text.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        // Check the header first, so an unknown version says so rather than failing on a field.
        let head: serde_json::Value = serde_json::from_str(text).map_err(|e| ModelError(format!("not valid JSON: {e}")))?;
        match head.get("format").and_then(|v| v.as_str()) {
            Some(FORMAT_NAME) => {}
            Some(other) => return err(format!("field 'format' is '{other}', expected '{FORMAT_NAME}'")),
            None => return err(format!("field 'format' missing: not a {FORMAT_NAME} file")),
        }
        match head.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => return err(format!("field 'version' is {v}: this build reads version {FORMAT_VERSION} only")),
            None => return err("field 'version' missing or not a number"),
        }
        // NaN and infinities cannot be written as JSON numbers (serde writes null): name them.
        if let Some(th) = head.pointer("/tree/threshold").and_then(|v| v.as_array()) {
            if let Some(i) = th.iter().position(|v| !v.as_f64().is_some_and(|f| f.is_finite() && (f as f32).is_finite())) {
                return err(format!("tree.threshold[{i}] is {}, not a finite number", th[i]));
            }
        }
        let m: Model = serde_json::from_value(head).map_err(|e| ModelError(format!("bad model file: {e}")))?;
        m.validate()?;
        Ok(m)
    }

    /// Read, parse and validate a model file; errors name the file.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let meta = std::fs::metadata(path).map_err(|e| ModelError(format!("{}: {e}", path.display())))?;
        if meta.len() > 64 << 20 {
            return err(format!("{}: {} bytes is too large for a model file", path.display(), meta.len()));
        }
        let bytes = std::fs::read(path).map_err(|e| ModelError(format!("{}: {e}", path.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| ModelError(format!("{}: not valid JSON: binary data at byte {}", path.display(), e.utf8_error().valid_up_to())))?;
        Model::from_json(&text).map_err(|e| ModelError(format!("{}: {e}", path.display())))
    }

    /// Serialize (deterministically: fixed field order, no maps with random order).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a model always serializes");
        s.push('\n');
        s
    }

    /// Check everything [`Model::predict`] relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.features.len() != N_FEATURES || self.features.iter().zip(FEATURE_NAMES.iter()).any(|(a, b)| a != b) {
            return err(format!(
                "field 'features' is {:?}, but this build's feature contract is {:?}: retrain the model",
                self.features, FEATURE_NAMES
            ));
        }
        let nc = self.classes.len();
        if nc == 0 || nc > MAX_CLASSES {
            return err(format!("field 'classes' has {nc} entries (1..={MAX_CLASSES} allowed)"));
        }
        if self.kind == ModelKind::Slice {
            if let Some((i, c)) = self.classes.iter().enumerate().find(|(_, c)| c.slice_ns == 0 || c.slice_ns > 1_000_000_000) {
                return err(format!("classes[{i}] ('{}'): slice_ns {} out of range (1 ns ..= 1 s)", c.name, c.slice_ns));
            }
        }
        let t = &self.tree;
        let n = t.leaf.len();
        if n == 0 {
            return err("tree has no nodes");
        }
        if n > MAX_NODES {
            return err(format!("tree has {n} nodes (at most {MAX_NODES})"));
        }
        for (name, len) in [("feature", t.feature.len()), ("threshold", t.threshold.len()), ("left", t.left.len()), ("right", t.right.len())] {
            if len != n {
                return err(format!("tree.{name} has {len} entries, tree.leaf has {n}"));
            }
        }
        for i in 0..n {
            let leaf = t.leaf[i];
            if leaf >= 0 {
                if leaf as usize >= nc {
                    return err(format!("node {i}: leaf class {leaf} out of range (model has {nc} classes)"));
                }
                continue;
            }
            if leaf != -1 {
                return err(format!("node {i}: leaf is {leaf} (a class index, or -1 for an internal node)"));
            }
            if t.feature[i] as usize >= N_FEATURES {
                return err(format!("node {i}: feature index {} out of range (0..{N_FEATURES})", t.feature[i]));
            }
            if !t.threshold[i].is_finite() {
                return err(format!("node {i}: threshold {} is not finite", t.threshold[i]));
            }
            for (side, c) in [("left", t.left[i]), ("right", t.right[i])] {
                if c as usize >= n {
                    return err(format!("node {i}: {side} child {c} out of range (tree has {n} nodes)"));
                }
                if c == 0 {
                    return err(format!("node {i}: {side} child points back to the root (cycle)"));
                }
            }
        }
        // Walk from the root: every node must be reached exactly once (no cycles, no sharing,
        // nothing unreachable) and no deeper than MAX_DEPTH.
        let mut seen = vec![false; n];
        let mut stack = vec![(0usize, 0usize)];
        seen[0] = true;
        let mut reached = 1;
        while let Some((i, depth)) = stack.pop() {
            if depth > MAX_DEPTH {
                return err(format!("tree deeper than {MAX_DEPTH} (node {i} at depth {depth})"));
            }
            if t.leaf[i] >= 0 {
                continue;
            }
            for c in [t.left[i] as usize, t.right[i] as usize] {
                if seen[c] {
                    return err(format!("node {c} is reached twice (cycle or shared subtree), again from node {i}"));
                }
                seen[c] = true;
                reached += 1;
                stack.push((c, depth + 1));
            }
        }
        if reached != n {
            let first = seen.iter().position(|s| !s).unwrap_or(0);
            return err(format!("{} node(s) unreachable from the root (first: node {first})", n - reached));
        }
        Ok(())
    }

    /// The class for a feature vector. Allocation-free; at most depth steps (validated).
    #[inline]
    pub fn predict(&self, x: &[f32; N_FEATURES]) -> usize {
        let t = &self.tree;
        let mut i = 0usize;
        loop {
            let leaf = t.leaf[i];
            if leaf >= 0 {
                return leaf as usize;
            }
            i = if x[t.feature[i] as usize] < t.threshold[i] { t.left[i] } else { t.right[i] } as usize;
        }
    }

    /// Depth of the tree (a lone leaf has depth 0).
    pub fn depth(&self) -> usize {
        let t = &self.tree;
        let mut best = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, d)) = stack.pop() {
            best = best.max(d);
            if t.leaf[i] < 0 {
                stack.push((t.left[i] as usize, d + 1));
                stack.push((t.right[i] as usize, d + 1));
            }
        }
        best
    }

    pub fn nodes(&self) -> usize {
        self.tree.leaf.len()
    }
}

/// Slice classes: log2 budgets from 50 µs to 20 ms. A stint of `t` belongs to the smallest class
/// whose slice covers it (`t` ≤ slice; the last class takes everything longer), so a predicted
/// class is a budget a scheduler can execute: a task that needs 90 µs gets 100 µs, not 50 µs and
/// a second round trip.
pub const SLICE_CLASSES_US: [u64; 10] = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12_800, 20_000];

pub fn slice_class(ran_ns: u64) -> usize {
    SLICE_CLASSES_US.iter().position(|&c| ran_ns <= c * 1000).unwrap_or(SLICE_CLASSES_US.len() - 1)
}

pub fn slice_classes() -> Vec<ClassInfo> {
    SLICE_CLASSES_US
        .iter()
        .map(|&us| ClassInfo { name: if us < 1000 { format!("{us}us") } else { format!("{}ms", us as f64 / 1000.0) }, slice_ns: us * 1000 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x[0] < 10 ? (x[1] < 0.5 ? class 0 : class 1) : class 2
    pub fn small() -> Model {
        Model {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            kind: ModelKind::Placement,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            classes: vec![ClassInfo { name: "a".into(), slice_ns: 0 }, ClassInfo { name: "b".into(), slice_ns: 0 },
                          ClassInfo { name: "c".into(), slice_ns: 0 }],
            tree: FlatTree {
                feature: vec![0, 1, 0, 0, 0],
                threshold: vec![10.0, 0.5, 0.0, 0.0, 0.0],
                left: vec![1, 3, 0, 0, 0],
                right: vec![2, 4, 0, 0, 0],
                leaf: vec![-1, -1, 2, 0, 1],
            },
            meta: serde_json::Value::Null,
        }
    }

    #[test]
    fn predicts_and_round_trips() {
        let m = small();
        m.validate().unwrap();
        let mut x = [0f32; N_FEATURES];
        assert_eq!(m.predict(&x), 0);
        x[1] = 0.7;
        assert_eq!(m.predict(&x), 1);
        x[0] = 10.0;
        assert_eq!(m.predict(&x), 2, "x[f] == threshold goes right");
        let back = Model::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.depth(), 2);
    }

    fn refused(m: &Model, expect: &str) {
        let e = Model::from_json(&m.to_json()).unwrap_err().0;
        assert!(e.contains(expect), "error {e:?} should mention {expect:?}");
    }

    #[test]
    fn every_malformed_case_is_refused_with_a_reason() {
        let mut m = small(); m.version = FORMAT_VERSION + 1; refused(&m, &format!("version' is {}", FORMAT_VERSION + 1));
        let mut m = small(); m.version = 1; refused(&m, "version' is 1: this build reads version 2 only");
        let mut m = small(); m.format = "x".into(); refused(&m, "field 'format' is 'x'");
        let mut m = small(); m.features.swap(0, 1); refused(&m, "feature contract");
        let mut m = small(); m.features.pop(); refused(&m, "feature contract");
        let mut m = small(); m.tree.feature[0] = 99; refused(&m, "feature index 99 out of range");
        let mut m = small(); m.tree.left[0] = 7; refused(&m, "left child 7 out of range");
        let mut m = small(); m.tree.right[1] = 0; refused(&m, "points back to the root");
        let mut m = small(); m.tree.right[1] = 1; refused(&m, "reached twice");
        let mut m = small(); m.tree.left[1] = 2; refused(&m, "reached twice");
        let mut m = small(); m.tree.threshold[0] = f32::NAN; refused(&m, "tree.threshold[0] is null");
        let mut m = small(); m.tree.threshold[1] = f32::INFINITY; refused(&m, "tree.threshold[1] is null");
        let mut m = small(); m.tree.leaf[3] = 3; refused(&m, "leaf class 3 out of range");
        let mut m = small(); m.tree.leaf[3] = -2; refused(&m, "leaf is -2");
        let mut m = small(); m.tree.threshold.pop(); refused(&m, "tree.threshold has 4 entries");
        let mut m = small(); m.classes.clear(); refused(&m, "'classes' has 0 entries");
        let mut m = small();
        // An extra node nobody points at.
        m.tree.feature.push(0); m.tree.threshold.push(0.0); m.tree.left.push(0); m.tree.right.push(0); m.tree.leaf.push(0);
        refused(&m, "unreachable");
        let mut m = small(); m.kind = ModelKind::Slice; refused(&m, "slice_ns 0 out of range");
        // A chain deeper than MAX_DEPTH.
        let n = MAX_DEPTH + 3;
        let mut m = small();
        m.tree = FlatTree { feature: vec![0; n], threshold: vec![1.0; n], left: vec![0; n], right: vec![0; n], leaf: vec![-1; n] };
        for i in 0..n - 2 {
            m.tree.left[i] = (i + 1) as u32; // chain down the left
            m.tree.right[i] = (n - 1) as u32; // (shared leaf — also refused, but depth first)
        }
        m.tree.leaf[n - 2] = 0; m.tree.leaf[n - 1] = 1;
        assert!(Model::from_json(&m.to_json()).is_err());
        assert!(Model::from_json("{").unwrap_err().0.contains("not valid JSON"));
        assert!(Model::from_json("{\"version\":1}").unwrap_err().0.contains("'format' missing"));
    }

    #[test]
    fn inf_and_nan_thresholds_are_refused_even_if_the_json_has_them_as_numbers() {
        let mut v: serde_json::Value = serde_json::from_str(&small().to_json()).unwrap();
        v["tree"]["threshold"][0] = serde_json::json!(1e39);
        let e = Model::from_json(&v.to_string()).unwrap_err().0;
        assert!(e.contains("tree.threshold[0] is 1e+39, not a finite number"), "{e}");
    }

    #[test]
    fn slice_buckets() {
        assert_eq!(slice_class(0), 0);
        assert_eq!(slice_class(50_000), 0);
        assert_eq!(slice_class(50_001), 1, "90 µs needs the 100 µs budget");
        assert_eq!(slice_class(99_999), 1);
        assert_eq!(slice_class(100_000), 1);
        assert_eq!(slice_class(3_000_000), 6);
        assert_eq!(slice_class(3_200_000), 6);
        assert_eq!(slice_class(20_000_000), 9);
        assert_eq!(slice_class(1_000_000_000), 9);
        // Every stint up to the last class fits its class's budget, and not the one below.
        for ns in [1, 49_999, 77_000, 150_000, 1_600_001, 19_999_999] {
            let c = slice_class(ns);
            assert!(ns <= slice_classes()[c].slice_ns && (c == 0 || ns > slice_classes()[c - 1].slice_ns), "{ns} -> {c}");
        }
        assert_eq!(slice_classes()[9].slice_ns, 20_000_000);
        assert_eq!(slice_classes()[0].name, "50us");
    }
}
