//! `make bench`: boot the guest once, run every benchmark under EEVDF, the heuristic, the model
//! (and the published scx_rustland when it is built), interleaved, then turn the raw numbers
//! into a table and plots on the host.

pub mod guest;
pub mod parse;
pub mod report;
pub mod latency_trace;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::util::write_atomic;
use crate::vm::host::{Accel, VmConfig};

pub struct BenchHost {
    pub vm: VmConfig,
    pub limits: crate::vm::host::Limits,
    pub sched: PathBuf,
    pub mimic: PathBuf,
    pub models: Option<PathBuf>,
    pub rustland: Option<PathBuf>,
    pub rustland_note: String,
    pub results: PathBuf,
    pub reps: u32,
    pub quick: bool,
    pub requested_accel: Accel,
}

/// Write a run's report into `dir` from its raw numbers: summary.md, results.csv, the plots,
/// and result.json (`env`, the run's envelope, with the table, the goals and the decision waits
/// added). Returns the Markdown summary.
fn write_report(dir: &Path, raw: &guest::Raw, env: &mut serde_json::Value) -> Result<String> {
    let rows = report::summarize(raw);
    let md = report::markdown(raw, &rows, env);
    write_atomic(&dir.join("summary.md"), md.as_bytes())?;
    write_atomic(&dir.join("results.csv"), report::csv(raw).as_bytes())?;
    let scheds: Vec<&str> = raw.schedulers.iter().filter(|s| s.available).map(|s| s.name.as_str()).collect();
    let mode = env["vm"]["accel"].as_str().unwrap_or("?").to_uppercase()
        + if env["vm"]["icount"] == true { ", icount" } else { "" }
        + if env["vm"]["tcg_threads"] == "multi" { ", a thread per vCPU" } else { "" };
    let title = format!("scx_mimic benchmarks, {} ({} vCPUs, {mode}), median with min–max", raw.date, raw.guest_cpus);
    let mut plots = Vec::new();
    for (name, res) in [("bars.png", report::bars_png(&dir.join("bars.png"), &rows, &scheds, &title)),
                        ("latency_cdf.png", report::cdf_png(&dir.join("latency_cdf.png"), &raw.latency, &scheds,
                                                           &format!("wakeup latency CDFs, {} ({mode})", raw.date)))] {
        match res {
            Ok(()) => plots.push(name),
            Err(e) => log::warn!("plot {name}: {e:#}"),
        }
    }
    env["summary"] = json!(rows);
    env["goals"] = json!(report::goals(&rows));
    env["decision_waits"] = json!(report::decision_waits(raw));
    env["files"] = json!({"raw": guest::RAW_FILE, "csv": "results.csv", "summary": "summary.md", "plots": plots});
    write_atomic(&dir.join("result.json"), &serde_json::to_vec_pretty(env)?)?;
    Ok(md)
}

/// Render a finished run's report again from its raw.json (after the report itself changed):
/// its result.json keeps the run's envelope (kernel, VM, host facts, outcome) and gets the new
/// table and goals. Errors name the file.
pub fn rerender(dir: &Path) -> Result<String> {
    let read = |name: &str| -> Result<String> {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read (is {} a bench run's folder?)", path.display(), dir.display()))
    };
    let raw: guest::Raw = serde_json::from_str(&read(guest::RAW_FILE)?)
        .with_context(|| format!("{}: not a bench run's raw numbers", dir.join(guest::RAW_FILE).display()))?;
    let mut env: serde_json::Value = serde_json::from_str(&read("result.json")?)
        .with_context(|| format!("{}: not JSON", dir.join("result.json").display()))?;
    anyhow::ensure!(env.is_object() && env["vm"].is_object(), "{}: has no \"vm\" section (not a bench run's result)",
                    dir.join("result.json").display());
    write_report(dir, &raw, &mut env)
}

/// Boot, benchmark, report. Ok(true) when every planned run produced its numbers.
pub fn run(t: &BenchHost) -> Result<bool> {
    let (dir, vm) = crate::vm::result_dir(&t.results, "bench", &t.vm)?;
    let mut argv = vec![t.mimic.display().to_string(), "guest".into(), "bench".into(), "--sched".into(), t.sched.display().to_string(),
                        "--out".into(), dir.display().to_string(), "--reps".into(), t.reps.to_string(),
                        "--rustland-note".into(), t.rustland_note.clone()];
    if t.quick {
        argv.push("--quick".into());
    }
    if let Some(m) = &t.models {
        argv.extend(["--models".into(), m.display().to_string()]);
    }
    if let Some(r) = &t.rustland {
        argv.extend(["--rustland".into(), r.display().to_string()]);
    }
    let crate::vm::GuestRun { outcome, report: raw, host: host_facts, mut reasons } =
        crate::vm::run_guest::<guest::Raw>(&vm, argv, &dir, guest::START_MARKER, guest::RAW_FILE, "the benchmarks", t.limits)?;
    let Some(raw) = raw else {
        let env = crate::vm::envelope("bench", &vm, t.requested_accel, &outcome, host_facts, &reasons);
        write_atomic(&dir.join("result.json"), &serde_json::to_vec_pretty(&env)?)?;
        anyhow::bail!("{}", reasons.join("; "));
    };
    if !raw.finished {
        reasons.push("the benchmark run did not finish (see console.log)".into());
    }
    reasons.extend(raw.problems.iter().cloned());
    let mut env = crate::vm::envelope("bench", &vm, t.requested_accel, &outcome, host_facts, &reasons);
    let md = write_report(&dir, &raw, &mut env)?;
    println!("\n{md}");
    println!("results  {}", dir.display());
    Ok(reasons.is_empty())
}
