//! `mimic train`: datasets → decision trees → validated model files, with a report.
//!
//! For each model (slice, placement, preempt): load every dataset's table with polars, split by
//! time within each phase of each run (evenly spaced time blocks, --test-frac of them, are the
//! test set; see `data::split`), optionally grid-search the tree's hyper-parameters on a
//! validation split carved the same way from the training part (by balanced accuracy), fit a
//! linfa-trees decision tree (classes weighted by inverse frequency unless told otherwise),
//! flatten it, check that the flat tree predicts exactly what linfa predicts on every row, and
//! write `<kind>.model` (validated by reloading it), `<kind>.report.json` and two PNGs. All files
//! go through a temp file and a rename.
//!
//! The report says what accuracy hides: beside it, balanced accuracy, macro-F1 and per-class
//! recall, the same for the majority-class baseline, and a breakdown per workload phase (and,
//! for slices, by how the stint ended).

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
use data::{PlacementRows, SliceRows};
use fit::Params;
use scx_mimic::features::{FEATURE_DOCS, FEATURE_NAMES};
use scx_mimic::model::{slice_classes, ClassInfo, Model, ModelKind, FORMAT_NAME, FORMAT_VERSION, PREEMPT_CLASSES};
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
    pub placement_rows: PlacementRows,
    /// Grid of (max_depth, min_samples_leaf) to try; empty: just `params`.
    pub grid: Vec<(usize, f32)>,
    pub kinds: Vec<ModelKind>,
    pub plots: bool,
}

pub fn kind_name(k: ModelKind) -> &'static str {
    match k {
        ModelKind::Slice => "slice",
        ModelKind::Placement => "placement",
        ModelKind::Preempt => "preempt",
    }
}

fn classes(kind: ModelKind) -> Vec<ClassInfo> {
    match kind {
        ModelKind::Slice => slice_classes(),
        ModelKind::Placement => PLACEMENT_CLASSES.iter().map(|n| ClassInfo { name: n.to_string(), slice_ns: 0 }).collect(),
        ModelKind::Preempt => PREEMPT_CLASSES.iter().map(|n| ClassInfo { name: n.to_string(), slice_ns: 0 }).collect(),
    }
}

/// Phase names by (run, phase index), from each dataset's meta.json (`phases`, in order: phase
/// K is the K-th); a dataset without them has unnamed phases.
fn phase_names(datasets: &[PathBuf]) -> std::collections::BTreeMap<(String, u32), String> {
    let mut out = std::collections::BTreeMap::new();
    for d in datasets {
        let Ok(text) = std::fs::read_to_string(d.join(crate::dataset::META_FILE)) else { continue };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let run = meta["run"].as_str().unwrap_or_default().to_string();
        for (k, name) in meta["phases"].as_array().into_iter().flatten().enumerate() {
            out.insert((run.clone(), k as u32 + 1), name.as_str().unwrap_or_default().to_string());
        }
    }
    out
}

/// Permutation importance on the test rows: for each feature, the drop in balanced accuracy when
/// that feature's column is shuffled (seeded) — what the model loses without it. A feature whose
/// drop is ~0 does not earn its place (the tree's own importance only says where it split).
fn permutation_importance(model: &Model, rows: &data::Rows, idx: &[usize], class_names: &[String], base: f64, seed: u64) -> Vec<f64> {
    let truth: Vec<usize> = idx.iter().map(|&i| rows.y[i]).collect();
    (0..FEATURE_NAMES.len())
        .map(|k| {
            let mut order: Vec<usize> = idx.to_vec();
            let mut rng = data::SplitMix(seed ^ (0x5EED_0000 + k as u64));
            for j in (1..order.len()).rev() {
                order.swap(j, (rng.next() % (j as u64 + 1)) as usize);
            }
            let pred: Vec<usize> = idx.iter().zip(&order).map(|(&i, &donor)| {
                let mut x = rows.x[i];
                x[k] = rows.x[donor][k];
                model.predict(&x)
            }).collect();
            base - metrics::evaluate(&truth, &pred, class_names).balanced_accuracy
        })
        .collect()
}

/// Metrics of `pred` on the rows `idx` grouped by `key` (e.g. by phase).
fn breakdown<K: Ord + Clone>(rows: &data::Rows, idx: &[usize], pred: &[usize], majority: usize, class_names: &[String],
                             key: impl Fn(usize) -> K, label: impl Fn(&K) -> serde_json::Value) -> Vec<serde_json::Value> {
    let mut groups: std::collections::BTreeMap<K, (Vec<usize>, Vec<usize>)> = Default::default();
    for (k, &i) in idx.iter().enumerate() {
        let g = groups.entry(key(i)).or_default();
        g.0.push(rows.y[i]);
        g.1.push(pred[k]);
    }
    groups.iter().map(|(k, (truth, p))| {
        let m = metrics::evaluate(truth, p, class_names);
        let base = metrics::evaluate(truth, &vec![majority; truth.len()], class_names);
        json!({"group": label(k), "rows": m.rows, "accuracy": m.accuracy, "balanced_accuracy": m.balanced_accuracy,
               "macro_f1": m.macro_f1, "majority_accuracy": base.accuracy,
               "recall": m.per_class.iter().filter(|c| c.support > 0).map(|c| json!({"class": c.class, "support": c.support, "recall": c.recall})).collect::<Vec<_>>()})
    }).collect()
}

/// Train one model; returns its report (also written next to it).
pub fn train_one(opts: &TrainOpts, kind: ModelKind) -> Result<serde_json::Value> {
    let name = kind_name(kind);
    let table = match kind {
        ModelKind::Slice => Table::Slice,
        ModelKind::Placement => Table::Placement,
        ModelKind::Preempt => Table::Preempt,
    };
    let t_load = Instant::now();
    let rows = data::load(&opts.datasets, table, opts.slice_rows, opts.placement_rows)?;
    if rows.is_empty() {
        bail!("{name}: the datasets hold no usable rows");
    }
    let load_s = t_load.elapsed().as_secs_f64();
    let (train_idx, test_idx) = data::split(&rows, opts.test_frac, opts.max_train_rows, opts.seed);
    info!("{name}: {} rows loaded in {load_s:.2}s: {} train, {} test", rows.len(), train_idx.len(), test_idx.len());
    let cls = classes(kind);
    let class_names: Vec<String> = cls.iter().map(|c| c.name.clone()).collect();
    let cls_budgets: Vec<u64> = cls.iter().map(|c| c.slice_ns).collect();

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
            let m = metrics::evaluate(&truth, &pred, &class_names);
            grid_results.push(json!({"max_depth": depth, "min_samples_leaf": leaf, "validation_accuracy": m.accuracy,
                                     "validation_balanced_accuracy": m.balanced_accuracy, "fit_s": t.elapsed().as_secs_f64()}));
            // Chosen by balanced accuracy: plain accuracy rewards answering the majority class.
            if best.as_ref().is_none_or(|(b, _)| m.balanced_accuracy > *b) {
                best = Some((m.balanced_accuracy, p));
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
            "placement_rows": opts.placement_rows,
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
    let majority = metrics::majority_class(&truth_train, class_names.len());
    let baseline_m = metrics::majority_baseline(&truth_train, &truth_test, &class_names);
    let names = phase_names(&opts.datasets);
    let per_phase = breakdown(&rows, &test_idx, &flat_test, majority, &class_names,
                              |i| (rows.run[i].clone(), rows.phase[i]),
                              |(run, p)| json!({"run": run, "phase": p, "name": names.get(&(run.clone(), *p)).cloned().unwrap_or_default()}));
    let permutation = permutation_importance(&model, &rows, &test_idx, &class_names, test_m.balanced_accuracy, opts.seed);
    // The slice model read as a regression: is the budget it gives within a factor of 2 of the
    // stint, for stints of 100 µs or more? Beside it, the same for the majority class's budget
    // and for the heuristic's fixed 1.5 ms slice.
    let within_2x = if kind == ModelKind::Slice {
        let stints: Vec<u64> = test_idx.iter().map(|&i| rows.stint_ns[i]).collect();
        let budget = |c: usize| cls_budgets[c];
        let share = |b: Vec<u64>| metrics::within_factor_2(&stints, &b, 100_000);
        json!({
            "min_stint_us": 100,
            "stints": stints.iter().filter(|&&s| s >= 100_000).count(),
            "model": share(flat_test.iter().map(|&c| budget(c)).collect()),
            "majority": share(vec![budget(majority); stints.len()]),
            "fixed_1500us": share(vec![1_500_000; stints.len()]),
        })
    } else {
        serde_json::Value::Null
    };
    let per_stint_end = if kind == ModelKind::Slice {
        breakdown(&rows, &test_idx, &flat_test, majority, &class_names, |i| rows.blocked[i],
                  |&b| json!(if b { "blocked" } else { "preempted" }))
    } else {
        Vec::new()
    };

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
        "majority_baseline": {"class": class_names[majority], "test": baseline_m},
        "test_per_phase": per_phase,
        "test_per_stint_end": per_stint_end,
        "test_within_factor_2": within_2x,
        "flat_vs_linfa_disagreements": 0,
        "feature_importance": FEATURE_NAMES.iter().zip(&importance).map(|(n, v)| json!({"feature": n, "importance": v})).collect::<Vec<_>>(),
        "permutation_importance": FEATURE_NAMES.iter().zip(&permutation)
            .map(|(n, v)| json!({"feature": n, "balanced_accuracy_drop": v})).collect::<Vec<_>>(),
        "features": FEATURE_NAMES.iter().zip(FEATURE_DOCS.iter()).map(|(n, d)| json!({"name": n, "doc": d})).collect::<Vec<_>>(),
        "tree": {"depth": model.depth(), "nodes": model.nodes(), "leaves": model.tree.leaf.iter().filter(|&&l| l >= 0).count()},
        "timing": {"load_s": load_s, "fit_s": fit_s, "flat_predict_ns_per_row": flat_ns},
    });
    write_atomic(&opts.out.join(format!("{name}.report.json")), &serde_json::to_vec_pretty(&report)?)?;
    if opts.plots {
        plot::confusion_png(&opts.out.join(format!("{name}.confusion.png")),
                            &format!("{name} model: test confusion ({} rows, accuracy {:.1}%, balanced {:.1}%)", test_m.rows,
                                     test_m.accuracy * 100.0, test_m.balanced_accuracy * 100.0),
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
    println!("test      accuracy {}   balanced accuracy {}   macro-F1 {}   (train accuracy {})",
             pct(&r["test"]["accuracy"]), pct(&r["test"]["balanced_accuracy"]), pct(&r["test"]["macro_f1"]), pct(&r["train"]["accuracy"]));
    let b = &r["majority_baseline"]["test"];
    println!("majority  accuracy {}   balanced accuracy {}   macro-F1 {}   (always '{}')",
             pct(&b["accuracy"]), pct(&b["balanced_accuracy"]), pct(&b["macro_f1"]), r["majority_baseline"]["class"].as_str().unwrap_or("?"));
    let w = &r["test_within_factor_2"];
    if !w.is_null() {
        println!("budget within 2x of the stint (stints >= 100 µs, {}): model {}   majority {}   fixed 1.5 ms {}",
                 w["stints"], pct(&w["model"]), pct(&w["majority"]), pct(&w["fixed_1500us"]));
    }
    for p in r["test_per_phase"].as_array().into_iter().flatten() {
        let name = format!("{}/{} {}", p["group"]["run"].as_str().unwrap_or(""), p["group"]["phase"], p["group"]["name"].as_str().unwrap_or(""));
        println!("  {:<34} {:>7} rows  accuracy {:>6}  balanced {:>6}  (majority {:>6})", name, p["rows"], pct(&p["accuracy"]),
                 pct(&p["balanced_accuracy"]), pct(&p["majority_accuracy"]));
    }
    println!("{:<16} {:>8} {:>10} {:>8} {:>8}", "class", "support", "precision", "recall", "F1");
    for c in r["test"]["per_class"].as_array().into_iter().flatten() {
        if c["support"].as_u64().unwrap_or(0) == 0 && c["precision"].as_f64().unwrap_or(0.0) == 0.0 {
            continue;
        }
        println!("{:<16} {:>8} {:>10} {:>8} {:>8}", c["class"].as_str().unwrap_or(""), c["support"], pct(&c["precision"]), pct(&c["recall"]), pct(&c["f1"]));
    }
    let mut imp: Vec<(String, f64)> = r["feature_importance"].as_array().into_iter().flatten()
        .map(|f| (f["feature"].as_str().unwrap_or("").to_string(), f["importance"].as_f64().unwrap_or(0.0))).collect();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("top features: {}", imp.iter().take(5).map(|(n, v)| format!("{n} {:.2}", v)).collect::<Vec<_>>().join(", "));
    let mut perm: Vec<(String, f64)> = r["permutation_importance"].as_array().into_iter().flatten()
        .map(|f| (f["feature"].as_str().unwrap_or("").to_string(), f["balanced_accuracy_drop"].as_f64().unwrap_or(0.0))).collect();
    perm.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("permutation importance (balanced accuracy lost when shuffled): {}",
             perm.iter().map(|(n, v)| format!("{n} {:+.1}", v * 100.0)).collect::<Vec<_>>().join(", "));
}

/// `--only`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnlyKind {
    Slice,
    Placement,
    Preempt,
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
            params: Params { max_depth: 10, min_samples_split: 2.0, min_samples_leaf: 20.0, entropy: false, class_weight_power: 0.75 },
            test_frac: 0.2,
            max_train_rows: 30_000,
            seed: 3,
            slice_rows: SliceRows::All,
            placement_rows: PlacementRows::Choice,
            grid: vec![],
            kinds: vec![ModelKind::Slice, ModelKind::Placement, ModelKind::Preempt],
            plots: false,
        };
        let (a, b) = (out("a"), out("b"));
        run(&opts(a.clone())).unwrap();
        run(&opts(b.clone())).unwrap();
        for name in ["slice.model", "placement.model", "preempt.model"] {
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
