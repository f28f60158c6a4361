//! `mimic train`: datasets → decision trees → validated model files, with a report.
//!
//! For each model (slice, placement): load every dataset's table with polars, split by time
//! within each run (evenly spaced time blocks, --test-frac of them, are the test set; see
//! `data::split`), optionally grid-search the
//! tree's hyper-parameters on a validation split carved the same way from the training part, fit
//! a linfa-trees decision tree, flatten it, check that the flat tree predicts exactly what
//! linfa predicts on every test row, and write `<kind>.model` (validated by reloading it),
//! `<kind>.report.json` and two PNGs. All files go through a temp file and a rename.

pub mod cli;
pub mod data;
pub mod fit;
pub mod metrics;
pub mod plot;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use log::info;
use serde_json::json;

use crate::dataset::Table;
use crate::util::{now_rfc3339, write_atomic};
use data::SliceRows;
use fit::Params;
use scx_mimic::features::{FEATURE_DOCS, FEATURE_NAMES};
use scx_mimic::model::{slice_classes, ClassInfo, Model, ModelKind, FORMAT_NAME, FORMAT_VERSION};
use scx_mimic::replay::PLACEMENT_CLASSES;

#[derive(Debug, Clone)]
pub struct TrainOpts {
    pub datasets: Vec<PathBuf>,
    pub out: PathBuf,
    pub params: Params,
    pub test_frac: f64,
    pub max_train_rows: usize,
    pub seed: u64,
    pub slice_rows: SliceRows,
    /// Grid of (max_depth, min_samples_leaf) to try; empty: just `params`.
    pub grid: Vec<(usize, f32)>,
    pub kinds: Vec<ModelKind>,
    pub plots: bool,
}

pub fn kind_name(k: ModelKind) -> &'static str {
    match k {
        ModelKind::Slice => "slice",
        ModelKind::Placement => "placement",
    }
}

fn classes(kind: ModelKind) -> Vec<ClassInfo> {
    match kind {
        ModelKind::Slice => slice_classes(),
        ModelKind::Placement => PLACEMENT_CLASSES.iter().map(|n| ClassInfo { name: n.to_string(), slice_ns: 0 }).collect(),
    }
}

/// Train one model; returns its report (also written next to it).
pub fn train_one(opts: &TrainOpts, kind: ModelKind) -> Result<serde_json::Value> {
    let name = kind_name(kind);
    let table = match kind {
        ModelKind::Slice => Table::Slice,
        ModelKind::Placement => Table::Placement,
    };
    let t_load = Instant::now();
    let rows = data::load(&opts.datasets, table, opts.slice_rows)?;
    if rows.is_empty() {
        bail!("{name}: the datasets hold no usable rows");
    }
    let load_s = t_load.elapsed().as_secs_f64();
    let (train_idx, test_idx) = data::split(&rows, opts.test_frac, opts.max_train_rows, opts.seed);
    info!("{name}: {} rows loaded in {load_s:.2}s: {} train, {} test", rows.len(), train_idx.len(), test_idx.len());
    let cls = classes(kind);
    let class_names: Vec<String> = cls.iter().map(|c| c.name.clone()).collect();

    // Hyper-parameters: a grid search on a validation split of the training part.
    let mut params = opts.params;
    let mut grid_results = Vec::new();
    if !opts.grid.is_empty() {
        let train_rows = rows.select(&train_idx);
        let (fit_idx, val_idx) = data::split(&train_rows, 0.2, usize::MAX, opts.seed);
        let pb = ProgressBar::new(opts.grid.len() as u64);
        pb.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}").unwrap_or_else(|_| ProgressStyle::default_bar()));
        pb.set_message(format!("{name}: grid search"));
        let mut best: Option<(f64, Params)> = None;
        for &(depth, leaf) in &opts.grid {
            let p = Params { max_depth: depth, min_samples_leaf: leaf, ..opts.params };
            let t = Instant::now();
            let tree = fit::fit(&train_rows, &fit_idx, &p)?;
            let pred = fit::linfa_predict(&tree, &train_rows, &val_idx);
            let truth: Vec<usize> = val_idx.iter().map(|&i| train_rows.y[i]).collect();
            let acc = metrics::evaluate(&truth, &pred, &class_names).accuracy;
            grid_results.push(json!({"max_depth": depth, "min_samples_leaf": leaf, "validation_accuracy": acc,
                                     "fit_s": t.elapsed().as_secs_f64()}));
            if best.as_ref().is_none_or(|(b, _)| acc > *b) {
                best = Some((acc, p));
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        params = best.map(|b| b.1).unwrap_or(params);
        info!("{name}: grid search chose max_depth={} min_samples_leaf={}", params.max_depth, params.min_samples_leaf);
    }

    let t_fit = Instant::now();
    let tree = fit::fit(&rows, &train_idx, &params)?;
    let fit_s = t_fit.elapsed().as_secs_f64();
    let flat = fit::flatten(&tree);
    let importance: Vec<f64> = tree.feature_importance();

    let model = Model {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        kind,
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        classes: cls,
        tree: flat,
        meta: json!({
            "datasets": opts.datasets.iter().map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect::<Vec<_>>(),
            "rows": {"train": train_idx.len(), "test": test_idx.len()},
            "seed": opts.seed,
            "test_frac": opts.test_frac,
            "slice_rows": opts.slice_rows,
            "params": params,
        }),
    };
    model.validate().map_err(|e| anyhow::anyhow!("internal error: the trained {name} model does not validate: {e}"))?;

    // The flat tree must predict exactly what linfa predicts, on every test and train row.
    let truth_test: Vec<usize> = test_idx.iter().map(|&i| rows.y[i]).collect();
    let linfa_test = fit::linfa_predict(&tree, &rows, &test_idx);
    let t_pred = Instant::now();
    let flat_test: Vec<usize> = test_idx.iter().map(|&i| model.predict(&rows.x[i])).collect();
    let flat_ns = t_pred.elapsed().as_nanos() as f64 / test_idx.len().max(1) as f64;
    let disagree = linfa_test.iter().zip(&flat_test).filter(|(a, b)| a != b).count();
    if disagree > 0 {
        bail!("{name}: the flattened tree disagrees with linfa on {disagree} of {} test rows", test_idx.len());
    }
    let linfa_train = fit::linfa_predict(&tree, &rows, &train_idx);
    let flat_train_disagree = train_idx.iter().zip(&linfa_train).filter(|(&i, &l)| model.predict(&rows.x[i]) != l).count();
    if flat_train_disagree > 0 {
        bail!("{name}: the flattened tree disagrees with linfa on {flat_train_disagree} training rows");
    }
    let truth_train: Vec<usize> = train_idx.iter().map(|&i| rows.y[i]).collect();
    let train_m = metrics::evaluate(&truth_train, &linfa_train, &class_names);
    let test_m = metrics::evaluate(&truth_test, &flat_test, &class_names);

    std::fs::create_dir_all(&opts.out).with_context(|| format!("cannot create {}", opts.out.display()))?;
    let model_path = opts.out.join(format!("{name}.model"));
    write_atomic(&model_path, model.to_json().as_bytes())?;
    // Reload what was written: the file on disk must pass the same validation the scheduler does.
    let back = Model::load(&model_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(back == model, "{}: reloaded model differs from the trained one", model_path.display());

    let mut class_hist = vec![0usize; class_names.len()];
    for &y in &rows.y {
        class_hist[y] += 1;
    }
    let report = json!({
        "model": model_path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "kind": name,
        "date": now_rfc3339(),
        "datasets": model.meta["datasets"],
        "rows": {"total": rows.len(), "train": train_idx.len(), "test": test_idx.len()},
        "class_histogram": class_names.iter().zip(&class_hist).map(|(n, c)| json!({"class": n, "rows": c})).collect::<Vec<_>>(),
        "params": params,
        "grid_search": grid_results,
        "train": train_m,
        "test": test_m,
        "flat_vs_linfa_disagreements": 0,
        "feature_importance": FEATURE_NAMES.iter().zip(&importance).map(|(n, v)| json!({"feature": n, "importance": v})).collect::<Vec<_>>(),
        "features": FEATURE_NAMES.iter().zip(FEATURE_DOCS.iter()).map(|(n, d)| json!({"name": n, "doc": d})).collect::<Vec<_>>(),
        "tree": {"depth": model.depth(), "nodes": model.nodes(), "leaves": model.tree.leaf.iter().filter(|&&l| l >= 0).count()},
        "timing": {"load_s": load_s, "fit_s": fit_s, "flat_predict_ns_per_row": flat_ns},
    });
    write_atomic(&opts.out.join(format!("{name}.report.json")), &serde_json::to_vec_pretty(&report)?)?;
    if opts.plots {
        plot::confusion_png(&opts.out.join(format!("{name}.confusion.png")),
                            &format!("{name} model: test confusion ({} rows, accuracy {:.1}%)", test_m.rows, test_m.accuracy * 100.0),
                            &class_names, &test_m.confusion)?;
        plot::importance_png(&opts.out.join(format!("{name}.importance.png")), &format!("{name} model: feature importance"),
                             &FEATURE_NAMES, &importance)?;
    }
    print_report(&report);
    Ok(report)
}

pub fn print_report(r: &serde_json::Value) {
    let pct = |v: &serde_json::Value| format!("{:.1}%", v.as_f64().unwrap_or(0.0) * 100.0);
    println!("\n== {} model ({}) ==", r["kind"].as_str().unwrap_or("?"), r["model"].as_str().unwrap_or(""));
    println!("rows      {} train / {} test   tree depth {} nodes {}   fit {:.2}s",
             r["rows"]["train"], r["rows"]["test"], r["tree"]["depth"], r["tree"]["nodes"], r["timing"]["fit_s"].as_f64().unwrap_or(0.0));
    println!("accuracy  train {}   test {}", pct(&r["train"]["accuracy"]), pct(&r["test"]["accuracy"]));
    println!("{:<16} {:>8} {:>10} {:>8}", "class", "support", "precision", "recall");
    for c in r["test"]["per_class"].as_array().into_iter().flatten() {
        if c["support"].as_u64().unwrap_or(0) == 0 && c["precision"].as_f64().unwrap_or(0.0) == 0.0 {
            continue;
        }
        println!("{:<16} {:>8} {:>10} {:>8}", c["class"].as_str().unwrap_or(""), c["support"], pct(&c["precision"]), pct(&c["recall"]));
    }
    let mut imp: Vec<(String, f64)> = r["feature_importance"].as_array().into_iter().flatten()
        .map(|f| (f["feature"].as_str().unwrap_or("").to_string(), f["importance"].as_f64().unwrap_or(0.0))).collect();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("top features: {}", imp.iter().take(5).map(|(n, v)| format!("{n} {:.2}", v)).collect::<Vec<_>>().join(", "));
}

/// `--only`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnlyKind {
    Slice,
    Placement,
}

/// Parse `6,8,10:1,5,20` into (depth, leaf) pairs.
pub fn parse_grid(s: &str) -> Result<Vec<(usize, f32)>> {
    let (d, l) = s.split_once(':').context("--grid: expected DEPTHS:LEAVES, e.g. 6,8,10,12:1,5,20")?;
    let depths: Vec<usize> = d.split(',').map(|v| v.trim().parse().with_context(|| format!("--grid: bad depth '{v}'"))).collect::<Result<_>>()?;
    let leaves: Vec<f32> = l.split(',').map(|v| v.trim().parse().with_context(|| format!("--grid: bad leaf size '{v}'"))).collect::<Result<_>>()?;
    Ok(depths.iter().flat_map(|&d| leaves.iter().map(move |&l| (d, l))).collect())
}

pub fn run(opts: &TrainOpts) -> Result<Vec<serde_json::Value>> {
    opts.kinds.iter().map(|&k| train_one(opts, k)).collect()
}

/// `mimic inspect`: the tree as readable rules, or Graphviz dot.
pub fn inspect(path: &Path, dot: bool) -> Result<String> {
    let m = Model::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = &m.tree;
    let label = |c: usize| -> String {
        let ci = &m.classes[c];
        if m.kind == ModelKind::Slice { format!("slice {} ({} µs)", ci.name, ci.slice_ns / 1000) } else { ci.name.clone() }
    };
    let mut out = String::new();
    if dot {
        out.push_str("digraph model {\n  node [shape=box, fontname=\"DejaVu Sans\"];\n");
        for i in 0..t.leaf.len() {
            if t.leaf[i] >= 0 {
                out.push_str(&format!("  n{i} [label=\"{}\", style=filled, fillcolor=\"#e8f0ff\"];\n", label(t.leaf[i] as usize)));
            } else {
                out.push_str(&format!("  n{i} [label=\"{} < {}\"];\n", FEATURE_NAMES[t.feature[i] as usize], t.threshold[i]));
                out.push_str(&format!("  n{i} -> n{} [label=\"yes\"];\n  n{i} -> n{} [label=\"no\"];\n", t.left[i], t.right[i]));
            }
        }
        out.push_str("}\n");
    } else {
        out.push_str(&format!("# {} model: {} classes, depth {}, {} nodes\n", kind_name(m.kind), m.classes.len(), m.depth(), m.nodes()));
        fn rules(m: &Model, i: usize, depth: usize, out: &mut String, label: &dyn Fn(usize) -> String) {
            let t = &m.tree;
            let pad = "  ".repeat(depth);
            if t.leaf[i] >= 0 {
                out.push_str(&format!("{pad}-> {}\n", label(t.leaf[i] as usize)));
                return;
            }
            let (f, th) = (FEATURE_NAMES[t.feature[i] as usize], t.threshold[i]);
            out.push_str(&format!("{pad}if {f} < {th}:\n"));
            rules(m, t.left[i] as usize, depth + 1, out, label);
            out.push_str(&format!("{pad}else ({f} >= {th}):\n"));
            rules(m, t.right[i] as usize, depth + 1, out, label);
        }
        rules(&m, 0, 0, &mut out, &label);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same datasets + same seed → byte-identical model files, trained twice in one process
    /// (every linfa-trees fit builds its hash maps with fresh random keys, so hash order differs
    /// between the two runs just as it would between two processes).
    #[test]
    fn training_is_deterministic_to_the_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        let datasets = crate::dataset::find_datasets(&[root]).expect("shipped datasets");
        let out = |tag: &str| std::env::temp_dir().join(format!("mimic-det-{tag}-{}", std::process::id()));
        let opts = |o: PathBuf| TrainOpts {
            datasets: datasets.clone(),
            out: o,
            params: Params { max_depth: 10, min_samples_split: 2.0, min_samples_leaf: 20.0, entropy: false },
            test_frac: 0.2,
            max_train_rows: 30_000,
            seed: 3,
            slice_rows: SliceRows::All,
            grid: vec![],
            kinds: vec![ModelKind::Slice, ModelKind::Placement],
            plots: false,
        };
        let (a, b) = (out("a"), out("b"));
        run(&opts(a.clone())).unwrap();
        run(&opts(b.clone())).unwrap();
        for name in ["slice.model", "placement.model"] {
            let (x, y) = (std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap());
            assert!(x == y, "{name} differs between two trainings");
        }
        // A different seed picks a different training subset, hence a different model.
        let c = out("c");
        run(&TrainOpts { seed: 4, ..opts(c.clone()) }).unwrap();
        assert_ne!(std::fs::read(a.join("slice.model")).unwrap(), std::fs::read(c.join("slice.model")).unwrap());
        for d in [a, b, c] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }
}
