//! Flat-tree inference speed: `make bench-model` (cargo bench -p scx_mimic --bench predict).
//! Goal: ≤ 50 ns median per decision for a depth-12 tree.
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

use scx_mimic::features::{FEATURE_NAMES, N_FEATURES};
use scx_mimic::model::{ClassInfo, FlatTree, Model, ModelKind, FORMAT_NAME, FORMAT_VERSION};

/// xorshift, so the benchmark needs no rand crate.
fn rng(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// A complete tree of the given depth with random splits (worst case: every path is full depth).
fn full_tree(depth: u32, seed: u64) -> Model {
    let mut s = seed;
    let internal = (1usize << depth) - 1;
    let n = (1usize << (depth + 1)) - 1;
    let mut t = FlatTree { feature: vec![0; n], threshold: vec![0.0; n], left: vec![0; n], right: vec![0; n], leaf: vec![-1; n] };
    for i in 0..n {
        if i < internal {
            t.feature[i] = (rng(&mut s) % N_FEATURES as u64) as u32;
            t.threshold[i] = (rng(&mut s) % 1000) as f32;
            t.left[i] = (2 * i + 1) as u32;
            t.right[i] = (2 * i + 2) as u32;
        } else {
            t.leaf[i] = (rng(&mut s) % 4) as i32;
        }
    }
    let m = Model {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        kind: ModelKind::Placement,
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        classes: (0..4).map(|i| ClassInfo { name: format!("c{i}"), slice_ns: 0 }).collect(),
        tree: t,
        meta: serde_json::Value::Null,
    };
    m.validate().expect("benchmark tree is valid");
    m
}

fn bench(c: &mut Criterion) {
    let model = full_tree(12, 0x5eed);
    let mut s = 7u64;
    let inputs: Vec<[f32; N_FEATURES]> = (0..4096)
        .map(|_| {
            let mut x = [0f32; N_FEATURES];
            for v in x.iter_mut() {
                *v = (rng(&mut s) % 1000) as f32;
            }
            x
        })
        .collect();
    let mut k = 0usize;
    c.bench_function("predict/depth-12-full-tree", |b| {
        b.iter(|| {
            k = (k + 1) & 4095;
            black_box(model.predict(black_box(&inputs[k])))
        })
    });
    // The shipped models, if present (depth as trained).
    for name in ["slice", "placement"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../models/{name}.model"));
        if let Ok(m) = Model::load(&path) {
            c.bench_function(&format!("predict/shipped-{name}-depth-{}", m.depth()), |b| {
                b.iter(|| {
                    k = (k + 1) & 4095;
                    black_box(m.predict(black_box(&inputs[k])))
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
