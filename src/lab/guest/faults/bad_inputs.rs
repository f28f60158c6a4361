//! Bad inputs (models, datasets, names, paths): refused with a clear error, nothing written.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::*;
use crate::guest::system::scx_state;
use anyhow::Context;
use std::path::PathBuf;
use crate::child::run_output;

/// One bad-input case: a command that must fail cleanly.
pub(super) struct BadInput {
    pub(super) name: &'static str,
    pub(super) what: String,
    pub(super) argv: Vec<String>,
    pub(super) env: Vec<(&'static str, String)>,
    /// Substrings the error output must contain (the file, the column, the name).
    pub(super) expect: Vec<String>,
    /// Paths that must not exist afterwards (nothing half written).
    pub(super) must_not_exist: Vec<PathBuf>,
    /// A scheduler run: sched_ext must stay disabled.
    pub(super) scheduler: bool,
}

pub(super) fn run_bad_input(b: &BadInput) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    let mut cmd = Command::new(&b.argv[0]);
    cmd.args(&b.argv[1..]).envs(b.env.iter().map(|(k, v)| (*k, v.as_str())));
    let (st, text) = run_output(cmd, Duration::from_secs(120)).with_context(|| format!("starting {}", b.argv[0]))?;
    if st.is_none() {
        reasons.push("did not finish within 120 s".into());
    }
    let code = st.and_then(|s| s.code());
    match code {
        Some(0) => reasons.push("exit code 0: the bad input was accepted".into()),
        Some(101) => reasons.push("exit code 101: it panicked".into()),
        None => reasons.push("killed by a signal".into()),
        Some(_) => {}
    }
    if text.contains("panicked") {
        reasons.push("the output says it panicked".into());
    }
    for e in &b.expect {
        if !text.contains(e.as_str()) {
            reasons.push(format!("the message does not mention {e:?}"));
        }
    }
    for p in &b.must_not_exist {
        let left = if p.is_dir() { fs::read_dir(p).map(|d| d.count()).unwrap_or(0) > 0 } else { p.exists() };
        if left {
            reasons.push(format!("{} was written (or left half written)", p.display()));
        }
    }
    if b.scheduler {
        if scx_state() != "disabled" {
            reasons.push(format!("sched_ext state is '{}' after the refused start", scx_state()));
        }
        if enables_since(dmesg0) > 0 {
            reasons.push("the kernel log shows the scheduler attached".into());
        }
    }
    let message = text.lines().rev().find(|l| l.contains("error")).unwrap_or("").trim().to_string();
    let summary = format!("{}: exit {code:?}, said: {}", b.what, if message.is_empty() { "(nothing)".into() } else { message.clone() });
    Ok(check(b.name, started, summary, reasons, json!({ "exit_code": code, "message": message, "argv": b.argv })))
}

/// A valid one-split model of `kind`, as JSON (the bad models are made from it).
pub(super) fn stump(kind: &str) -> serde_json::Value {
    let classes = if kind == "slice" {
        json!([{"name": "1ms", "slice_ns": 1_000_000}, {"name": "5ms", "slice_ns": 5_000_000}])
    } else {
        json!([{"name": "prev_cpu", "slice_ns": 0}, {"name": "other_busy_cpu", "slice_ns": 0}])
    };
    json!({
        "format": "scx_mimic-model", "version": scx_mimic::model::FORMAT_VERSION, "kind": kind,
        "features": scx_mimic::features::FEATURE_NAMES, "classes": classes,
        "tree": {"feature": [0, 0, 0], "threshold": [100.0, 0.0, 0.0], "left": [1, 0, 0], "right": [2, 0, 0], "leaf": [-1, 0, 1]},
    })
}

/// A small valid dataset of `n` synthetic rows in `dir` (all three tables).
pub(super) fn write_dataset(dir: &Path, n: usize) -> Result<()> {
    use scx_mimic::replay::{PlacementRow, PreemptRow, SliceRow};
    use scx_mimic::task::Task;
    fs::create_dir_all(dir)?;
    let f = |i: usize| [i as f32; scx_mimic::features::N_FEATURES];
    let slices: Vec<SliceRow> = (0..n).map(|i| SliceRow { ts_ns: i as u64, phase: 1, pid: 7, comm: Task::comm_from("t"), features: f(i),
                                                          ran_ns: 1000 * (i as u64 % 50), voluntary: i % 2 == 0 }).collect();
    let places: Vec<PlacementRow> = (0..n).map(|i| PlacementRow { ts_ns: i as u64, phase: 1, pid: 7, comm: Task::comm_from("t"), features: f(i),
                                                                  prev_cpu: 0, waker_cpu: 1, chosen_cpu: (i % 2) as i32,
                                                                  chosen_idle: true, class: (i % 2) as u8, had_choice: true }).collect();
    let preempts: Vec<PreemptRow> = (0..n).map(|i| PreemptRow { ts_ns: i as u64, phase: 1, pid: 7, comm: Task::comm_from("t"), features: f(i),
                                                                cpu: 0, curr_pid: 8, preempted: i % 3 == 0 }).collect();
    crate::dataset::write_parquet(&mut crate::dataset::slice_frame("bad", &slices)?, &dir.join(crate::dataset::SLICE_FILE))?;
    crate::dataset::write_parquet(&mut crate::dataset::placement_frame("bad", &places)?, &dir.join(crate::dataset::PLACEMENT_FILE))?;
    crate::dataset::write_parquet(&mut crate::dataset::preempt_frame("bad", &preempts)?, &dir.join(crate::dataset::PREEMPT_FILE))?;
    Ok(())
}

/// Make the bad inputs (in a scratch folder) and the commands that must refuse them.
pub(super) fn bad_inputs(cfg: &FaultsConfig) -> Result<Vec<BadInput>> {
    use polars::prelude::*;
    let scratch = std::env::temp_dir().join("mimic-faults");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)?;
    let sched = cfg.sched.display().to_string();
    let mimic = std::env::current_exe()?.display().to_string();
    let s = |p: &Path| p.display().to_string();
    let mut v = Vec::new();

    // Models.
    let model_dir = |tag: &str, slice: &str| -> Result<PathBuf> {
        let d = scratch.join(tag);
        fs::create_dir_all(&d)?;
        fs::write(d.join("slice.model"), slice)?;
        fs::write(d.join("placement.model"), stump("placement").to_string())?;
        fs::write(d.join("preempt.model"), stump("preempt").to_string())?;
        Ok(d)
    };
    let none = scratch.join("no-models");
    v.push(BadInput { name: "bad-model-missing", what: "scx_mimic --model on a folder without models".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&none)], env: vec![],
                      expect: vec!["refusing to start".into(), format!("{}/slice.model", s(&none))],
                      must_not_exist: vec![], scheduler: true });
    let good = stump("slice").to_string();
    let d = model_dir("truncated", &good[..good.len() / 2])?;
    v.push(BadInput { name: "bad-model-truncated", what: "a slice.model cut in half".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&d)], env: vec![],
                      expect: vec!["refusing to start".into(), format!("{}/slice.model", s(&d))],
                      must_not_exist: vec![], scheduler: true });
    let mut m = stump("slice");
    m["tree"]["left"][0] = json!(0);
    let d = model_dir("cycle", &m.to_string())?;
    v.push(BadInput { name: "bad-model-hostile", what: "a slice.model whose tree loops back to its root".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&d)], env: vec![],
                      expect: vec!["slice.model".into(), "points back to the root".into()],
                      must_not_exist: vec![], scheduler: true });
    let mut m = stump("slice");
    m["features"][0] = json!("nice");
    let d = model_dir("features", &m.to_string())?;
    v.push(BadInput { name: "bad-model-features", what: "a slice.model trained on other features".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&d)], env: vec![],
                      expect: vec!["slice.model".into(), "feature contract".into()],
                      must_not_exist: vec![], scheduler: true });

    // Datasets: a good one, then one broken way at a time (only slice.parquet is broken).
    let train = |tag: &str, ds: &Path| -> BadInput {
        let out = scratch.join(format!("models-{tag}"));
        BadInput { name: "", what: String::new(),
                   argv: vec![mimic.clone(), "train".into(), s(ds), "--out".into(), s(&out), "--only".into(), "slice".into(), "--no-plots".into()],
                   env: vec![], expect: vec![], must_not_exist: vec![out], scheduler: false }
    };
    let ds = scratch.join("ds-missing-column");
    write_dataset(&ds, 400)?;
    let p = ds.join(crate::dataset::SLICE_FILE);
    let mut df = crate::dataset::read_table(&p, crate::dataset::Table::Slice)?.drop("ran_ns")?;
    crate::dataset::write_parquet(&mut df, &p)?;
    v.push(BadInput { name: "bad-dataset-missing-column", what: "a slice.parquet without its ran_ns column".into(),
                      expect: vec![s(&p), "missing column 'ran_ns'".into()], ..train("missing", &ds) });
    let ds = scratch.join("ds-wrong-type");
    write_dataset(&ds, 400)?;
    let p = ds.join(crate::dataset::SLICE_FILE);
    let mut df = crate::dataset::read_table(&p, crate::dataset::Table::Slice)?;
    let as_text = df.column("pid")?.cast(&DataType::String)?;
    df.with_column(as_text)?;
    crate::dataset::write_parquet(&mut df, &p)?;
    v.push(BadInput { name: "bad-dataset-wrong-type", what: "a slice.parquet whose pid column holds text".into(),
                      expect: vec![s(&p), "column 'pid' has type str".into()], ..train("wrongtype", &ds) });
    let ds = scratch.join("ds-truncated");
    write_dataset(&ds, 400)?;
    let p = ds.join(crate::dataset::SLICE_FILE);
    let bytes = fs::read(&p)?;
    fs::write(&p, &bytes[..bytes.len() / 2])?;
    v.push(BadInput { name: "bad-dataset-truncated", what: "a slice.parquet cut in half".into(),
                      expect: vec![s(&p), "truncated or corrupt".into()], ..train("truncated", &ds) });

    // Names and paths.
    let trace_out = scratch.join("trace-out");
    v.push(BadInput { name: "bad-workload-name", what: "mimic trace --mix with an unknown workload".into(),
                      argv: vec![mimic.clone(), "trace".into(), "--out".into(), s(&trace_out), "--mix".into(), "no-such-mix".into(),
                                 "--workloads".into(), s(&cfg.repo.join("vm/workloads"))],
                      env: vec![], expect: vec!["unknown workload 'no-such-mix'".into(), "known: ".into()],
                      must_not_exist: vec![trace_out], scheduler: false });
    let cache = scratch.join("cache");
    let nokernel = scratch.join("no-such-kernel/bzImage");
    v.push(BadInput { name: "bad-kernel-path", what: "KERNEL= pointing at a file that does not exist".into(),
                      argv: vec!["bash".into(), s(&cfg.repo.join("vm/kernel.sh"))],
                      env: vec![("KERNEL", s(&nokernel)), ("MIMIC_CACHE", s(&cache))],
                      expect: vec![s(&nokernel), "no such file".into()],
                      must_not_exist: vec![cache.join("kernel/current.env")], scheduler: false });
    let noenv = scratch.join("no-such-kernel.env");
    let results = scratch.join("results");
    v.push(BadInput { name: "bad-kernel-env", what: "mimic vm-test --kernel-env naming a missing file".into(),
                      argv: vec![mimic, "vm-test".into(), "--kernel-env".into(), s(&noenv), "--results".into(), s(&results)],
                      env: vec![], expect: vec![s(&noenv)], must_not_exist: vec![results], scheduler: false });
    Ok(v)
}
