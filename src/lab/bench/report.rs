//! From the raw numbers to what a reader looks at: per benchmark, metric and scheduler the
//! median, the spread (min–max and the interquartile range) and the ratio to EEVDF; a Markdown
//! summary, a CSV of every run, and PNG plots (bars with error bars, latency CDFs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::Serialize;

use super::guest::{LatencyRun, Raw, Sample};
use scx_mimic::stats::log2_quantile;
use super::parse::Histogram;

/// One scheduler's numbers for one metric.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stat {
    pub scheduler: String,
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub q1: f64,
    pub q3: f64,
    /// median / EEVDF's median (None when EEVDF has no number).
    pub ratio: Option<f64>,
    /// The repetitions' values, sorted (raw.json has them already; not repeated in result.json).
    #[serde(skip)]
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub bench: String,
    pub metric: String,
    pub unit: String,
    pub lower_is_better: bool,
    pub stats: Vec<Stat>,
}

/// How long one scx_mimic policy's tasks waited for their decisions over the measured
/// repetitions: the blocks' histograms added, quantiles as log2 bucket edges.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionWait {
    pub scheduler: String,
    pub decisions: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
}

/// The decision waits per scheduler, warm-up left out, in the order the schedulers are listed.
pub fn decision_waits(raw: &Raw) -> Vec<DecisionWait> {
    let mut out = Vec::new();
    for s in &raw.schedulers {
        let mut hist: Vec<u64> = Vec::new();
        for d in raw.decision_waits.iter().filter(|d| d.scheduler == s.name && !d.warmup) {
            if hist.len() < d.hist.len() {
                hist.resize(d.hist.len(), 0);
            }
            for (h, n) in hist.iter_mut().zip(&d.hist) {
                *h += n;
            }
        }
        let decisions: u64 = hist.iter().sum();
        let us = |q| log2_quantile(&hist, q).map_or(f64::NAN, |ns| ns as f64 / 1000.0);
        if decisions > 0 {
            out.push(DecisionWait { scheduler: s.name.clone(), decisions, p50_us: us(0.5), p90_us: us(0.9), p99_us: us(0.99) });
        }
    }
    out
}

/// Linear-interpolated quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn stat(scheduler: &str, values: &[f64]) -> Stat {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Stat {
        scheduler: scheduler.into(),
        n: v.len(),
        median: quantile(&v, 0.5),
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
        q1: quantile(&v, 0.25),
        q3: quantile(&v, 0.75),
        ratio: None,
        values: v,
    }
}

/// The one-sided p-value of a Mann–Whitney U test that the values in `a` tend to be larger
/// than those in `b` (None when either is empty): the share of all ways to split the pooled
/// values into groups of those sizes whose U (pairs with a > b, ties counting ½) is at least
/// the observed one. Exact up to 20 values in all (4 repetitions each: the smallest p is
/// 1/70 ≈ 0.014, when every value of `a` is above every value of `b`); beyond that, the normal
/// approximation with a continuity correction.
pub fn p_larger(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (n, total) = (a.len(), pooled.len());
    // Twice U of a split of the pooled values (`in_a(i)`: value i is in the first group), so
    // that ties count as whole numbers.
    let u2 = |in_a: &dyn Fn(usize) -> bool| -> u64 {
        let mut u = 0;
        for i in (0..total).filter(|&i| in_a(i)) {
            for j in (0..total).filter(|&j| !in_a(j)) {
                u += 2 * u64::from(pooled[i] > pooled[j]) + u64::from(pooled[i] == pooled[j]);
            }
        }
        u
    };
    let observed = u2(&|i| i < n);
    if total <= 20 {
        let splits = (0u32..(1 << total)).filter(|mask| mask.count_ones() as usize == n);
        let (mut at_least, mut count) = (0u64, 0u64);
        for mask in splits {
            count += 1;
            at_least += u64::from(u2(&|i| mask & (1 << i) != 0) >= observed);
        }
        return Some(at_least as f64 / count as f64);
    }
    let (n, m) = (n as f64, b.len() as f64);
    let mean = n * m / 2.0;
    let sd = (n * m * (n + m + 1.0) / 12.0).sqrt();
    let z = (observed as f64 / 2.0 - mean - 0.5) / sd;
    Some(0.5 * erfc(z / std::f64::consts::SQRT_2))
}

/// The complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Below this p-value a model row is called worse than the heuristic beyond the run's spread.
pub const WORSE_P: f64 = 0.05;

/// How many of the C(n+m, n) ways to split n + m distinct values into groups of n and m give
/// each Mann–Whitney U (0..=n·m): the null distribution, by the recurrence on the largest value
/// (in the first group it adds m to U, in the second nothing).
fn u_counts(n: usize, m: usize) -> Vec<f64> {
    // table[i][j]: the counts for groups of i and j.
    let mut table: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); m + 1]; n + 1];
    for i in 0..=n {
        for j in 0..=m {
            table[i][j] = if i == 0 || j == 0 {
                vec![1.0]
            } else {
                let mut c = vec![0.0; i * j + 1];
                for (u, v) in table[i - 1][j].iter().enumerate() {
                    c[u + j] += v;
                }
                for (u, v) in table[i][j - 1].iter().enumerate() {
                    c[u] += v;
                }
                c
            };
        }
    }
    std::mem::take(&mut table[n][m])
}

/// A distribution-free interval for how many times larger `a`'s values are than `b`'s (the
/// Hodges–Lehmann estimator's interval, taken on the ratios): of the n·m ratios a_i / b_j,
/// sorted, the k-th smallest to the k-th largest, with k the largest count for which
/// P(U < k) ≤ 5% when both groups come from one distribution. Returns (low, high, coverage):
/// with 4 and 4 repetitions k = 2 and the coverage is 1 − 4/70 ≈ 94%. None when a value is not
/// positive, or the groups are too small for a 90% interval (2 and 2: P(U = 0) = 1/6).
pub fn ratio_interval(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|v| !v.is_finite() || *v <= 0.0) {
        return None;
    }
    let counts = u_counts(a.len(), b.len());
    let total: f64 = counts.iter().sum();
    // cum = P(U < k) as k grows; keep the last k whose tail is within 5%.
    let (mut k, mut cum) = (0, 0.0);
    while k < counts.len() && (cum + counts[k]) / total <= 0.05 {
        cum += counts[k];
        k += 1;
    }
    if k == 0 {
        return None;
    }
    let mut ratios: Vec<f64> = a.iter().flat_map(|x| b.iter().map(move |y| x / y)).collect();
    ratios.sort_by(f64::total_cmp);
    Some((ratios[k - 1], ratios[ratios.len() - k], 1.0 - 2.0 * cum / total))
}

/// What the repetitions say of a goal "model/EEVDF ≤ limit": the interval of the ratio
/// (`ratio_interval`), and whether it lies below the limit (the goal reached beyond the spread),
/// above it (missed beyond it), or across it. `part` names the limit when the goal has another
/// condition the interval does not judge (pipe's, against scx_rustland). Empty when there is no
/// interval (too few repetitions, or a value that is not positive).
fn goal_spread(model: &Stat, eevdf: &Stat, limit: f64, part: &str) -> String {
    match ratio_interval(&model.values, &eevdf.values) {
        None => String::new(),
        Some((lo, hi, cov)) => {
            let what = if hi <= limit {
                format!("≤ {limit:.2} beyond the spread")
            } else if lo > limit {
                format!("> {limit:.2} beyond the spread")
            } else {
                format!("{limit:.2} inside it: the repetitions cannot tell")
            };
            format!("; repetitions{part}: {:.0}% interval {lo:.2}–{hi:.2}, {what}", 100.0 * cov)
        }
    }
}

/// Rows in benchmark order, schedulers in the raw file's order; warm-up runs left out.
pub fn summarize(raw: &Raw) -> Vec<Row> {
    let scheds: Vec<&str> = raw.schedulers.iter().filter(|s| s.available).map(|s| s.name.as_str()).collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut by: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut meta: BTreeMap<(String, String), &Sample> = BTreeMap::new();
    for s in raw.samples.iter().filter(|s| !s.warmup) {
        let k = (s.bench.clone(), s.metric.clone());
        if !keys.contains(&k) {
            keys.push(k.clone());
        }
        meta.entry(k).or_insert(s);
        by.entry((s.bench.clone(), s.metric.clone(), s.scheduler.clone())).or_default().push(s.value);
    }
    // Benchmarks in the order they ran.
    let bench_pos = |b: &str| raw.benchmarks.iter().position(|x| x.name == b).unwrap_or(usize::MAX);
    keys.sort_by_key(|(b, _)| bench_pos(b));
    keys.into_iter()
        .map(|(bench, metric)| {
            let m = meta[&(bench.clone(), metric.clone())];
            let mut stats: Vec<Stat> = scheds
                .iter()
                .filter_map(|s| by.get(&(bench.clone(), metric.clone(), s.to_string())).map(|v| stat(s, v)))
                .collect();
            let base = stats.iter().find(|s| s.scheduler == "eevdf").map(|s| s.median);
            for s in &mut stats {
                s.ratio = base.filter(|b| *b > 0.0).map(|b| s.median / b);
            }
            Row { bench, metric, unit: m.unit.clone(), lower_is_better: m.lower_is_better, stats }
        })
        .collect()
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The preemption issue's goals: (benchmark, metric, the most the model's median may be as a
/// multiple of EEVDF's). Every row is lower-is-better.
const GOALS: &[(&str, &str, f64)] = &[("messaging", "time", 1.05), ("pipe", "per_op", 2.0), ("hackbench-g1", "time", 1.05),
                                      ("hackbench-g4", "time", 1.05), ("cyclictest", "p99", 1.3), ("mixed", "p99", 1.3)];

/// The goal that is also measured against scx_rustland's number (pipe: what its idle fast path
/// reaches is the bar).
const PEER_GOAL: &str = "pipe";

/// The held-out rows (programs in no training mix) the learning issue judges the model by: no
/// worse than the heuristic on each, p99 latency and time (lower is better).
const HELDOUT: &[(&str, &str)] = &[("heldout-gzip", "time"), ("heldout-sort", "time"), ("heldout-pmq", "p99")];

/// The preemption issue's goals, checked for the model scheduler: throughput within 5% of
/// EEVDF, cyclictest's and mixed's p99 within 1.3×, pipe within 2× and not worse than
/// scx_rustland's, and the model no worse than the heuristic on each of those rows (all lower
/// is better); then the learning issue's: the model no worse than the heuristic on the held-out
/// rows.
pub fn goals(rows: &[Row]) -> Vec<String> {
    let stat = |bench: &str, metric: &str, sched: &str| -> Option<&Stat> {
        rows.iter().find(|r| r.bench == bench && r.metric == metric)
            .and_then(|r| r.stats.iter().find(|s| s.scheduler == sched))
    };
    let ratio = |bench: &str, metric: &str, sched: &str| stat(bench, metric, sched).and_then(|s| s.ratio);
    let verdict = |ok: bool| if ok { "reached" } else { "not reached" };
    let mut out = Vec::new();
    for &(bench, metric, limit) in GOALS {
        let peer = (bench == PEER_GOAL).then(|| ratio(bench, metric, "scx_rustland"));
        let spread = match (stat(bench, metric, "model"), stat(bench, metric, "eevdf")) {
            // Pipe's second condition (against scx_rustland's median) is judged by the medians.
            (Some(m), Some(e)) => goal_spread(m, e, limit, if bench == PEER_GOAL { " (the EEVDF part)" } else { "" }),
            _ => String::new(),
        };
        out.push(match (ratio(bench, metric, "model"), peer) {
            (None, _) => format!("{bench} {metric}: no model number"),
            (Some(r), None) => format!("{bench} {metric}: model/EEVDF = {r:.2} (goal ≤ {limit:.2}): {}{spread}", verdict(r <= limit)),
            (Some(r), Some(Some(p))) => format!("{bench} {metric}: model/EEVDF = {r:.2} (goal ≤ {limit:.2} and ≤ scx_rustland's {p:.2}): {}{spread}",
                                                verdict(r <= limit && r <= p)),
            (Some(r), Some(None)) => format!("{bench} {metric}: model/EEVDF = {r:.2} (goal ≤ {limit:.2} and ≤ scx_rustland's): \
                                              not judged, no scx_rustland number"),
        });
    }
    // The model against the heuristic, row by row (lower is better on every row listed): `judge`
    // gives a row's cell and whether it is worse; returns the verdict and the rows not worse
    // and worse.
    let against = |rows: &[(&str, &str)], judge: &dyn Fn(&Stat, &Stat) -> Option<(String, bool)>| {
        let (mut fine, mut worse) = (Vec::new(), Vec::new());
        for &(bench, metric) in rows {
            if let (Some(m), Some(h)) = (stat(bench, metric, "model"), stat(bench, metric, "heuristic")) {
                if let Some((cell, is_worse)) = judge(m, h) {
                    let cell = format!("{bench} {metric} {cell}");
                    if is_worse { worse.push(cell) } else { fine.push(cell) }
                }
            }
        }
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        (if fine.is_empty() && worse.is_empty() { "no numbers" } else { verdict(worse.is_empty()) }, list(&fine), list(&worse))
    };
    // By the medians.
    let by_median = |m: &Stat, h: &Stat| Some((format!("{:.2}×", m.median / h.median), m.median > h.median));
    // Tested: a median above the heuristic's is not evidence by itself — with 4 repetitions and
    // a 10–20% spread between runs of one scheduler, two equal schedulers differ in every row,
    // half the time one way. A row counts as worse beyond the spread only if the repetitions
    // say so (one-sided Mann–Whitney, p < WORSE_P).
    let tested = |m: &Stat, h: &Stat| {
        p_larger(&m.values, &h.values).map(|p| (format!("{:.2}× (p = {p:.3})", m.median / h.median), p < WORSE_P))
    };
    let goal_rows: Vec<(&str, &str)> = GOALS.iter().map(|&(b, m, _)| (b, m)).collect();
    let row_sets = [("model against heuristic", &goal_rows[..]), ("held out, model against heuristic", HELDOUT)];
    for (what, rows) in row_sets {
        let (v, fine, worse) = against(rows, &by_median);
        out.push(format!("{what} (model/heuristic, goal: no worse on each): {v} — no worse on {fine}; worse on {worse}"));
    }
    for (what, rows) in row_sets {
        let (v, fine, worse) = against(rows, &tested);
        out.push(format!("{what}, tested (one-sided Mann–Whitney on the repetitions, worse if p < {WORSE_P}): {v} — \
                          worse beyond the spread on {worse}; not beyond it on {fine}"));
    }
    out
}

/// The Markdown summary. `env` holds kernel/vm/host facts (the result envelope).
pub fn markdown(raw: &Raw, rows: &[Row], env: &serde_json::Value) -> String {
    let mut md = String::new();
    let accel = env["vm"]["accel"].as_str().unwrap_or("?").to_uppercase();
    let _ = writeln!(md, "# scx_mimic benchmarks — {}\n", raw.date);
    let _ = writeln!(md, "- guest: kernel {} ({}), {} vCPUs, {}, {}", raw.kernel_release,
                     env["guest_kernel"]["pkg_version"].as_str().unwrap_or(""), raw.guest_cpus,
                     env["vm"]["mem"].as_str().unwrap_or("?"), accel);
    let _ = writeln!(md, "- host: {} ({} CPUs, load at start {})", env["host"]["cpu_model"].as_str().unwrap_or("?"),
                     env["host"]["cpus"], env["host"]["loadavg_at_start"].as_str().unwrap_or("?"));
    let _ = writeln!(md, "- {} repetitions{} after one warm-up round, schedulers interleaved and rotated each repetition \
                          ({}); wall time {:.0} s",
                     raw.reps, if raw.quick { " (BENCH_QUICK)" } else { "" }, raw.order.join("; "), raw.wall_s);
    if accel == "TCG" {
        let _ = writeln!(md, "- **TCG: the guest is emulated, so absolute numbers are emulated too** ({}); compare the \
                              ratios, not the values, with native runs.", crate::vm::tcg_threads_words(&env["vm"]));
    }
    if env["vm"]["icount"] == true {
        let _ = writeln!(md, "- **The guest's clock counted instructions** (QEMU `-icount shift=auto,sleep=on`, `--icount`): \
                              timers fire on time, and a duration is the instructions run, not the host time their \
                              emulation took; compare with runs of the same clock only.");
    }
    let _ = writeln!(md, "\nEach cell: median [min–max] and, in bold, the ratio to EEVDF's median \
                          (for latency and time lower is better; for jobs/s higher is better).\n");
    let scheds: Vec<&str> = raw.schedulers.iter().filter(|s| s.available).map(|s| s.name.as_str()).collect();
    let _ = write!(md, "| benchmark | metric |");
    for s in &scheds {
        let _ = write!(md, " {s} |");
    }
    let _ = write!(md, "\n|---|---|");
    for _ in &scheds {
        let _ = write!(md, "---|");
    }
    md.push('\n');
    for r in rows {
        let _ = write!(md, "| {} | {} ({}) |", r.bench, r.metric, r.unit);
        for s in &scheds {
            match r.stats.iter().find(|x| x.scheduler == *s) {
                Some(st) => {
                    let ratio = st.ratio.map(|x| format!(" **{x:.2}×**")).unwrap_or_default();
                    let _ = write!(md, " {} [{}–{}]{ratio} |", fmt_num(st.median), fmt_num(st.min), fmt_num(st.max));
                }
                None => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
    let _ = writeln!(md, "\nGoals (model scheduler):");
    for g in goals(rows) {
        let _ = writeln!(md, "- {g}");
    }
    let waits = decision_waits(raw);
    if !waits.is_empty() {
        let _ = writeln!(md, "\nHow long a task queued to scx_mimic waited for its decision (queued to user space → its \
                              dispatch back in BPF), all measured repetitions, upper edges of log2 buckets:");
        for w in &waits {
            let _ = writeln!(md, "- {}: {} decisions, p50 ≤ {} µs, p90 ≤ {} µs, p99 ≤ {} µs", w.scheduler, w.decisions,
                             fmt_num(w.p50_us), fmt_num(w.p90_us), fmt_num(w.p99_us));
        }
    }
    let _ = writeln!(md, "\nSchedulers:");
    for s in &raw.schedulers {
        let _ = writeln!(md, "- **{}**: {}{}", s.name, s.note, if s.available { "" } else { " — not run" });
    }
    let _ = writeln!(md, "\nBenchmarks:");
    for b in &raw.benchmarks {
        let _ = writeln!(md, "- **{}**: {}", b.name, b.description);
    }
    if !raw.problems.is_empty() {
        let _ = writeln!(md, "\nProblems (these runs are not in the table):");
        for p in &raw.problems {
            let _ = writeln!(md, "- {p}");
        }
    }
    if !raw.finished {
        let _ = writeln!(md, "\n**The run did not finish**: the table holds what was measured before it stopped.");
    }
    md
}

/// Every run as CSV: bench,metric,unit,lower_is_better,scheduler,rep,warmup,value.
pub fn csv(raw: &Raw) -> String {
    let mut s = String::from("bench,metric,unit,lower_is_better,scheduler,rep,warmup,value\n");
    for x in &raw.samples {
        let _ = writeln!(s, "{},{},{},{},{},{},{},{}", x.bench, x.metric, x.unit, x.lower_is_better, x.scheduler, x.rep, x.warmup, x.value);
    }
    s
}

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 5] = [RGBColor(90, 90, 90), RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];
    C[i % C.len()]
}

/// One panel per (benchmark, metric): a bar per scheduler at its median, min–max whiskers.
pub fn bars_png(path: &Path, rows: &[Row], scheds: &[&str], title: &str) -> Result<()> {
    // Drawn to a temp file and renamed into place, like every file the lab writes.
    scx_mimic::fsutil::write_atomic_with(path, |tmp| draw_bars_png(tmp, rows, scheds, title))
}

fn draw_bars_png(path: &Path, rows: &[Row], scheds: &[&str], title: &str) -> Result<()> {
    crate::font::ensure()?;
    let cols = 3usize;
    let nrows = rows.len().div_ceil(cols).max(1);
    let root = BitMapBackend::new(path, (1200, 60 + 300 * nrows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(50);
    top.draw(&Text::new(title.to_string(), (10, 12), ("sans-serif", 20).into_font()))?;
    let panels = body.split_evenly((nrows, cols));
    for (row, area) in rows.iter().zip(panels.iter()) {
        let ymax = row.stats.iter().map(|s| s.max).fold(0.0f64, f64::max).max(1e-9) * 1.15;
        let n = scheds.len();
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} {} ({}{})", row.bench, row.metric, row.unit, if row.lower_is_better { ", lower better" } else { ", higher better" }),
                     ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0.0..ymax)?;
        let labels: Vec<String> = scheds.iter().map(|s| s.to_string()).collect();
        chart.configure_mesh().disable_x_mesh().x_labels(n).y_labels(5)
            .x_label_formatter(&|x| {
                let r = x.round();
                if (x - r).abs() > 0.01 || r < 0.0 { return String::new(); }
                labels.get(r as usize).cloned().unwrap_or_default()
            })
            .draw()?;
        for (i, s) in scheds.iter().enumerate() {
            let Some(st) = row.stats.iter().find(|x| x.scheduler == *s) else { continue };
            let x = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new([(x - 0.3, 0.0), (x + 0.3, st.median)], color(i).mix(0.75).filled())))?;
            chart.draw_series(std::iter::once(PathElement::new(vec![(x, st.min), (x, st.max)], BLACK.stroke_width(2))))?;
            for y in [st.min, st.max] {
                chart.draw_series(std::iter::once(PathElement::new(vec![(x - 0.1, y), (x + 0.1, y)], BLACK.stroke_width(2))))?;
            }
        }
    }
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Latency CDFs (all measured repetitions pooled), one panel per latency benchmark, x on a log
/// scale.
pub fn cdf_png(path: &Path, latency: &[LatencyRun], scheds: &[&str], title: &str) -> Result<()> {
    // Drawn to a temp file and renamed into place, like every file the lab writes.
    scx_mimic::fsutil::write_atomic_with(path, |tmp| draw_cdf_png(tmp, latency, scheds, title))
}

fn draw_cdf_png(path: &Path, latency: &[LatencyRun], scheds: &[&str], title: &str) -> Result<()> {
    crate::font::ensure()?;
    let mut benches: Vec<&str> = Vec::new();
    for l in latency.iter().filter(|l| !l.warmup) {
        if !benches.contains(&l.bench.as_str()) {
            benches.push(&l.bench);
        }
    }
    let root = BitMapBackend::new(path, (1200, 60 + 420 * benches.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(50);
    top.draw(&Text::new(title.to_string(), (10, 12), ("sans-serif", 20).into_font()))?;
    let panels = body.split_evenly((benches.len().max(1), 1));
    for (bench, area) in benches.iter().zip(panels.iter()) {
        let pooled: Vec<(usize, Histogram)> = scheds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut h = Histogram::default();
                for l in latency.iter().filter(|l| !l.warmup && l.bench == *bench && l.scheduler == *s) {
                    h.merge(&l.hist);
                }
                (i, h)
            })
            .filter(|(_, h)| h.total() > 0)
            .collect();
        let xmax = pooled.iter().map(|(_, h)| h.max_us).max().unwrap_or(10).max(10) as f64 * 1.2;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{bench}: wakeup latency CDF (µs, log scale)"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d((1f64..xmax).log_scale(), 0f64..1.0)?;
        chart.configure_mesh().x_desc("latency (µs)").y_desc("fraction ≤ x").draw()?;
        for (i, h) in &pooled {
            let total = h.total() as f64;
            let mut acc = 0u64;
            let mut pts = Vec::with_capacity(h.buckets.len() + 1);
            for &(us, n) in &h.buckets {
                acc += n;
                pts.push(((us as f64).max(1.0), acc as f64 / total));
            }
            pts.push((h.max_us.max(1) as f64, 1.0));
            let c = color(*i);
            chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(scheds[*i].to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::guest::{BenchInfo, SchedulerInfo};

    fn sample(bench: &str, metric: &str, sched: &str, rep: u32, value: f64) -> Sample {
        Sample { bench: bench.into(), metric: metric.into(), unit: "s".into(), lower_is_better: true, scheduler: sched.into(),
                 rep, warmup: rep == 0, value }
    }

    fn raw(samples: Vec<Sample>) -> Raw {
        let sched = |n: &str| SchedulerInfo { name: n.into(), command: vec![], available: true, note: String::new(), reports: false };
        Raw { date: "d".into(), kernel_release: "k".into(), guest_cpus: 2, quick: true, reps: 3,
              schedulers: vec![sched("eevdf"), sched("heuristic"), sched("model")],
              benchmarks: vec![BenchInfo { name: "messaging".into(), description: String::new() },
                               BenchInfo { name: "cyclictest".into(), description: String::new() }],
              order: vec![], samples, latency: vec![], decision_waits: vec![], problems: vec![], finished: true, wall_s: 1.0 }
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[5.0], 0.9), 5.0);
        let s = stat("x", &[3.0, 1.0, 2.0, 10.0, 4.0]);
        assert_eq!((s.median, s.min, s.max, s.q1, s.q3), (3.0, 1.0, 10.0, 2.0, 4.0));
    }

    #[test]
    fn ratios_are_to_eevdf_and_warmups_are_left_out() {
        let mut v = vec![sample("messaging", "time", "eevdf", 0, 100.0)]; // warm-up: ignored
        for (rep, e, h, m) in [(1, 2.0, 2.2, 1.9), (2, 2.1, 2.4, 2.0), (3, 1.9, 2.3, 2.2)] {
            v.push(sample("messaging", "time", "eevdf", rep, e));
            v.push(sample("messaging", "time", "heuristic", rep, h));
            v.push(sample("messaging", "time", "model", rep, m));
        }
        v.push(sample("cyclictest", "p99", "eevdf", 1, 100.0));
        v.push(sample("cyclictest", "p99", "model", 1, 80.0));
        let rows = summarize(&raw(v));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].bench, "messaging");
        let e = &rows[0].stats[0];
        assert_eq!((e.scheduler.as_str(), e.n, e.median, e.max), ("eevdf", 3, 2.0, 2.1));
        let h = &rows[0].stats[1];
        assert!((h.ratio.unwrap() - 1.15).abs() < 1e-9, "{h:?}");
        let g = goals(&rows);
        assert!(g[0].starts_with("messaging time: model/EEVDF = 1.00")
                && g[0].ends_with(": reached; repetitions: 90% interval 0.90–1.16, 1.05 inside it: the repetitions cannot tell"), "{g:?}");
        assert!(g[4].contains("0.80") && g[4].ends_with(": reached"), "{g:?}");
        assert!(g[1].contains("no model number"));
        let md = markdown(&raw(vec![]), &rows, &serde_json::json!({"vm": {"accel": "tcg"}}));
        assert!(md.contains("| messaging | time (s) | 2.000 [1.900–2.100] **1.00×** | 2.300 [2.200–2.400] **1.15×** |"), "{md}");
        assert!(md.contains("absolute numbers are emulated"));
        assert!(!md.contains("counted instructions"), "{md}");
        let md = markdown(&raw(vec![]), &rows, &serde_json::json!({"vm": {"accel": "tcg", "icount": true}}));
        assert!(md.contains("The guest's clock counted instructions"), "{md}");
    }

    #[test]
    fn decision_waits_add_the_measured_blocks_per_scheduler_and_leave_out_the_warm_up() {
        use crate::bench::guest::DecisionWaits;
        let block = |sched: &str, rep: u32, hist: Vec<u64>| DecisionWaits { scheduler: sched.into(), rep, warmup: rep == 0, hist };
        let mut r = raw(vec![]);
        // Warm-up: a million waits of [2^24, 2^25) ns that must not count.
        let mut slow = vec![0u64; 26];
        slow[24] = 1_000_000;
        // Two measured blocks (histograms of different lengths): 98 + 98 waits of [2^19, 2^20) ns
        // (≤ 1049 µs), 2 + 2 of [2^23, 2^24).
        let mut fast = vec![0u64; 25];
        fast[19] = 98;
        fast[23] = 2;
        r.decision_waits = vec![block("heuristic", 0, slow), block("heuristic", 1, fast.clone()), block("heuristic", 2, fast[..24].to_vec()),
                                block("model", 1, vec![0; 30])];
        let w = decision_waits(&r);
        assert_eq!(w.len(), 1, "a scheduler without waits is left out: {w:?}");
        assert_eq!((w[0].scheduler.as_str(), w[0].decisions), ("heuristic", 200), "{w:?}");
        assert_eq!((w[0].p50_us, w[0].p90_us), (1048.576, 1048.576));
        // The 99th percentile of 200 is the 198th wait: past the 196 fast ones.
        assert_eq!(w[0].p99_us, 16777.216);
        let md = markdown(&r, &[], &serde_json::json!({"vm": {"accel": "tcg"}}));
        assert!(md.contains("- heuristic: 200 decisions, p50 ≤ 1049 µs, p90 ≤ 1049 µs, p99 ≤ 16777 µs"), "{md}");
        assert!(!markdown(&raw(vec![]), &[], &serde_json::json!({"vm": {"accel": "tcg"}})).contains("waited for its decision"));
    }

    fn row(bench: &str, metric: &str, cells: &[(&str, f64, f64)]) -> Row {
        Row { bench: bench.into(), metric: metric.into(), unit: "µs".into(), lower_is_better: true,
              stats: cells.iter().map(|&(s, median, ratio)| Stat { ratio: Some(ratio), ..stat(s, &[median]) }).collect() }
    }

    #[test]
    fn the_goals_are_the_preemption_issues_and_each_can_be_missed() {
        let ok = vec![row("messaging", "time", &[("eevdf", 2.0, 1.0), ("heuristic", 2.1, 1.05), ("model", 2.0, 1.0)]),
                      row("cyclictest", "p99", &[("eevdf", 100.0, 1.0), ("heuristic", 130.0, 1.3), ("model", 125.0, 1.25)]),
                      row("pipe", "per_op", &[("eevdf", 50.0, 1.0), ("heuristic", 95.0, 1.9), ("model", 90.0, 1.8),
                                              ("scx_rustland", 100.0, 2.0)])];
        let g = goals(&ok);
        assert!(g[4].starts_with("cyclictest p99: model/EEVDF = 1.25 (goal ≤ 1.30): reached"), "{g:?}");
        assert!(g[1].ends_with("): reached") && g[1].contains("scx_rustland's 2.00"), "{g:?}");
        assert!(g[6].starts_with("model against heuristic") && g[6].contains(": reached") && g[6].ends_with("worse on none"), "{g:?}");
        // Over 1.3×, worse than scx_rustland on pipe, worse than the heuristic: each says so.
        let bad = vec![row("cyclictest", "p99", &[("eevdf", 100.0, 1.0), ("heuristic", 120.0, 1.2), ("model", 131.0, 1.31)]),
                       row("pipe", "per_op", &[("eevdf", 50.0, 1.0), ("heuristic", 80.0, 1.6), ("model", 85.0, 1.7),
                                               ("scx_rustland", 80.0, 1.6)])];
        let g = goals(&bad);
        assert!(g[4].ends_with("not reached"), "{g:?}");
        assert!(g[1].ends_with("not reached"), "pipe under 2× but worse than scx_rustland: {g:?}");
        assert!(g[6].contains("not reached") && g[6].contains("worse on pipe per_op 1.06×, cyclictest p99 1.09×"), "{g:?}");
        // Without scx_rustland the pipe goal cannot be judged, and is not called reached.
        let g = goals(&[row("pipe", "per_op", &[("eevdf", 50.0, 1.0), ("model", 60.0, 1.2)])]);
        assert!(g[1].contains("not judged"), "{g:?}");
        assert!(g[7].starts_with("held out, model against heuristic") && g[7].contains("no numbers"), "{g:?}");
    }

    #[test]
    fn the_test_of_worse_counts_how_the_repetitions_fall() {
        let close = |p: Option<f64>, want: f64| (p.unwrap() - want).abs() < 1e-9;
        // Every model value above every heuristic value: 1 split in C(8,4) = 70 does that.
        assert!(close(p_larger(&[2.0, 2.1, 2.2, 2.3], &[1.0, 1.1, 1.2, 1.3]), 1.0 / 70.0));
        // One pair out of order (U = 15 of 16): 2 splits in 70 reach it.
        assert!(close(p_larger(&[1.0, 1.1, 1.2, 1.3], &[1.05, 0.9, 0.8, 0.7]), 2.0 / 70.0));
        // All below, or all equal: no evidence at all.
        assert!(close(p_larger(&[1.0, 1.1], &[2.0, 2.1]), 1.0));
        assert!(close(p_larger(&[3.0; 4], &[3.0; 4]), 1.0));
        assert_eq!(p_larger(&[], &[1.0]), None);
        // Past 20 values, the normal approximation: all above is very unlikely, interleaved is not.
        let (lo, hi): (Vec<f64>, Vec<f64>) = ((0..12).map(f64::from).collect(), (100..112).map(f64::from).collect());
        assert!(p_larger(&hi, &lo).unwrap() < 1e-4, "{:?}", p_larger(&hi, &lo));
        let (odd, even): (Vec<f64>, Vec<f64>) = ((0..12).map(|i| f64::from(2 * i + 1)).collect(), (0..12).map(|i| f64::from(2 * i)).collect());
        let p = p_larger(&odd, &even).unwrap();
        assert!((0.3..0.6).contains(&p), "{p}");
        assert!((erfc(0.0) - 1.0).abs() < 1e-6 && (erfc(1.0) - 0.157299).abs() < 1e-6 && (erfc(-1.0) - 1.842701).abs() < 1e-6);
    }

    /// A row from each scheduler's repetitions, with ratios to EEVDF's median when it has one.
    fn reps(bench: &str, metric: &str, cells: &[(&str, &[f64])]) -> Row {
        let mut stats: Vec<Stat> = cells.iter().map(|&(s, v)| stat(s, v)).collect();
        let eevdf = stats.iter().find(|s| s.scheduler == "eevdf").map(|s| s.median);
        for s in &mut stats {
            s.ratio = eevdf.map(|e| s.median / e);
        }
        Row { bench: bench.into(), metric: metric.into(), unit: "s".into(), lower_is_better: true, stats }
    }

    #[test]
    fn a_median_above_the_heuristics_is_worse_only_beyond_the_spread() {
        // Medians 1.07× apart, the repetitions interleaved: not beyond the spread.
        let within = vec![reps("hackbench-g1", "time", &[("heuristic", &[1.344, 1.353, 1.394, 1.453]), ("model", &[1.339, 1.469, 1.476, 1.768])])];
        let g = goals(&within);
        assert!(g[6].contains("not reached") && g[6].contains("worse on hackbench-g1 time 1.07×"), "the strict line stays: {g:?}");
        assert!(g[8].starts_with("model against heuristic, tested") && g[8].contains(": reached")
                && g[8].contains("worse beyond the spread on none; not beyond it on hackbench-g1 time 1.07× (p = 0.171)"), "{g:?}");
        // Every model repetition slower: worse beyond the spread, and the goal is missed.
        let worse = vec![reps("hackbench-g4", "time", &[("heuristic", &[2.78, 2.80, 2.99, 3.13]), ("model", &[3.12, 3.35, 3.51, 3.58])])];
        let g = goals(&worse);
        assert!(g[8].contains("not reached") && g[8].contains("worse beyond the spread on hackbench-g4 time 1.18× (p = 0.029)"), "{g:?}");
        assert!(g[9].starts_with("held out, model against heuristic, tested") && g[9].contains("no numbers"), "{g:?}");
        let held = vec![reps("heldout-sort", "time", &[("heuristic", &[1.0, 1.0, 1.01, 1.02]), ("model", &[1.1, 1.1, 1.2, 1.2])])];
        assert!(goals(&held)[9].contains("not reached") && goals(&held)[9].contains("heldout-sort time"), "{:?}", goals(&held));
    }

    #[test]
    fn the_interval_of_a_goals_ratio_says_whether_the_repetitions_can_tell() {
        // The null distribution of U: C(8,4) = 70 splits, C(4,2) = 6.
        assert_eq!(u_counts(4, 4), [1., 1., 2., 3., 5., 5., 7., 7., 8., 7., 7., 5., 5., 3., 2., 1., 1.]);
        assert_eq!(u_counts(2, 2), [1., 1., 2., 1., 1.]);
        assert_eq!(u_counts(3, 1), [1., 1., 1., 1.]);
        // 4 and 4: the second smallest and second largest of the 16 ratios, 1 − 4/70 coverage.
        let (lo, hi, cov) = ratio_interval(&[2.0, 2.2, 2.4, 2.6], &[1.0, 1.1, 1.2, 1.3]).unwrap();
        assert!((lo - 2.0 / 1.2).abs() < 1e-12 && (hi - 2.4).abs() < 1e-12 && (cov - 66.0 / 70.0).abs() < 1e-12, "{lo} {hi} {cov}");
        assert_eq!(ratio_interval(&[1.0, 2.0], &[1.0, 2.0]), None, "2 and 2 cannot give 90%");
        assert_eq!(ratio_interval(&[0.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]), None, "a ratio needs positive values");
        // The goal line: below, above, or across the limit.
        let goal = |bench: &str, metric: &str, model: &[f64], eevdf: &[f64]| goals(&[reps(bench, metric, &[("eevdf", eevdf), ("model", model)])]);
        let spread = [100.0, 105.0, 110.0, 115.0];
        let g = goal("cyclictest", "p99", &[150.0, 155.0, 160.0, 170.0], &spread);
        assert!(g[4].contains("not reached; repetitions: 94% interval 1.35–1.62, > 1.30 beyond the spread"), "{g:?}");
        let g = goal("cyclictest", "p99", &[120.0, 130.0, 140.0, 150.0], &spread);
        assert!(g[4].contains("= 1.26 (goal ≤ 1.30): reached; repetitions: 94% interval 1.09–1.43, 1.30 inside it"), "{g:?}");
        // A 15% spread cannot show a 5% goal; a 3% one can.
        let g = goal("messaging", "time", &spread, &spread);
        assert!(g[0].ends_with("reached; repetitions: 94% interval 0.91–1.10, 1.05 inside it: the repetitions cannot tell"), "{g:?}");
        let tight = [100.0, 101.0, 102.0, 103.0];
        let g = goal("messaging", "time", &tight, &tight);
        assert!(g[0].ends_with("reached; repetitions: 94% interval 0.98–1.02, ≤ 1.05 beyond the spread"), "{g:?}");
        let g = goal("messaging", "time", &[100.0, 101.0, 106.0, 108.0], &tight);
        assert!(g[0].contains("= 1.02 (goal ≤ 1.05): reached; repetitions: 94% interval 0.98–1.07, 1.05 inside it"), "{g:?}");
        // Pipe: the interval judges the 2× part only; worse than scx_rustland stays not reached.
        let g = goals(&[reps("pipe", "per_op", &[("eevdf", &tight), ("model", &[160.0, 162.0, 164.0, 166.0]), ("scx_rustland", &[150.0; 4])])]);
        assert!(g[1].contains("≤ scx_rustland's 1.48): not reached; repetitions (the EEVDF part): 94% interval 1.57–1.64, ≤ 2.00 beyond the spread"), "{g:?}");
    }

    #[test]
    fn the_held_out_rows_are_judged_apart_model_against_heuristic() {
        let rows = vec![row("heldout-gzip", "time", &[("eevdf", 2.0, 1.0), ("heuristic", 2.2, 1.1), ("model", 2.1, 1.05)]),
                        // pmq's average is not a held-out goal row: the model's worse average changes nothing.
                        row("heldout-pmq", "avg", &[("eevdf", 50.0, 1.0), ("heuristic", 60.0, 1.2), ("model", 90.0, 1.8)]),
                        row("heldout-pmq", "p99", &[("eevdf", 900.0, 1.0), ("heuristic", 1000.0, 1.1), ("model", 1000.0, 1.1)])];
        let g = goals(&rows);
        assert_eq!(g.len(), 10, "{g:?}");
        assert!(g[6].contains("no numbers"), "held-out rows are not the preemption goals': {g:?}");
        assert!(g[7].starts_with("held out, model against heuristic") && g[7].contains(": reached")
                && g[7].contains("no worse on heldout-gzip time 0.95×, heldout-pmq p99 1.00×"), "{g:?}");
        let worse = vec![row("heldout-sort", "time", &[("eevdf", 1.0, 1.0), ("heuristic", 1.0, 1.0), ("model", 1.1, 1.1)])];
        let g = goals(&worse);
        assert!(g[7].contains("not reached") && g[7].ends_with("worse on heldout-sort time 1.10×"), "{g:?}");
    }
}
