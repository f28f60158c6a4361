//! Model files: our own small, versioned JSON format, and fast inference on it.
//!
//! A model is one decision tree flattened to arrays (node `i`: `feature[i]`, `threshold[i]`,
//! `left[i]`, `right[i]`, `leaf[i]`; a node is a leaf when `leaf[i] >= 0`, and an internal node
//! sends `x[feature] < threshold` left, as linfa-trees does), plus what it predicts (classes, each
//! with its slice or placement meaning) and the feature names it was trained with, which must be
//! the feature contract's. [`Model::from_json`] validates everything before anything can use it;
//! [`Model::predict`] is then a bounded, allocation-free walk.

mod format;

pub use format::*;
