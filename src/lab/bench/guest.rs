//! The guest side of `make bench`: in one boot, every benchmark under every scheduler, the
//! schedulers interleaved per repetition (and their order rotated each time) so that drift in
//! the guest (page cache, emulation noise, a busy host) spreads over all of them alike.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::parse::{self, Histogram};
use super::latency_trace::{LatencyTrace, Wakeups};
use crate::child::{kill_and_reap, run_output};
use crate::guest::probe::Probe;
use crate::guest::sched::SchedProcess;
use crate::guest::system::{nproc, scx_state, start_job, wait_for};
use crate::util::{now_rfc3339, write_atomic};

/// Printed first thing in the guest.
pub const START_MARKER: &str = "mimic-bench: start";
pub const RAW_FILE: &str = "raw.json";

#[derive(Debug, Clone)]
pub struct GuestConfig {
    pub sched: PathBuf,
    pub models: Option<PathBuf>,
    /// The published scx_rustland binary, if it was built.
    pub rustland: Option<PathBuf>,
    /// Why scx_rustland is missing, for the report.
    pub rustland_note: String,
    pub out: PathBuf,
    pub reps: u32,
    pub quick: bool,
    pub kconfig: Option<PathBuf>,
}

/// A scheduler under test: EEVDF is the kernel's own (no command).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchedulerInfo {
    pub name: String,
    pub command: Vec<String>,
    pub available: bool,
    pub note: String,
    /// scx_mimic: started with `--report FILE`, from which the bench reads its decision waits.
    #[serde(default)]
    pub reports: bool,
}

/// One number from one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub bench: String,
    pub metric: String,
    pub unit: String,
    pub lower_is_better: bool,
    pub scheduler: String,
    pub rep: u32,
    pub warmup: bool,
    pub value: f64,
}

/// The latency distribution of one run of a latency benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyRun {
    pub bench: String,
    pub scheduler: String,
    pub rep: u32,
    pub warmup: bool,
    pub hist: Histogram,
}

/// How long the tasks scx_mimic decided for waited for their decisions in one block (from
/// queueing to user space to the dispatch arriving back in BPF), from the scheduler's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionWaits {
    pub scheduler: String,
    pub rep: u32,
    pub warmup: bool,
    /// log2 buckets of ns: bucket i = [2^i, 2^(i+1)).
    pub hist: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchInfo {
    pub name: String,
    pub description: String,
}

/// Everything the guest measured; rewritten after every scheduler block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Raw {
    pub date: String,
    pub kernel_release: String,
    pub guest_cpus: usize,
    pub quick: bool,
    pub reps: u32,
    pub schedulers: Vec<SchedulerInfo>,
    pub benchmarks: Vec<BenchInfo>,
    /// The order the blocks ran in: "rep 1: model, eevdf, heuristic".
    pub order: Vec<String>,
    pub samples: Vec<Sample>,
    pub latency: Vec<LatencyRun>,
    /// scx_mimic's decision waits per block (none for EEVDF or scx_rustland, which do not report
    /// them; none in runs made before they were recorded).
    #[serde(default)]
    pub decision_waits: Vec<DecisionWaits>,
    /// Runs that failed or schedulers that lost charge: their numbers are not in `samples`.
    pub problems: Vec<String>,
    pub finished: bool,
    pub wall_s: f64,
}

/// What one benchmark run produced.
struct Outcome {
    metrics: Vec<(&'static str, &'static str, bool, f64)>,
    hist: Option<Histogram>,
}

/// Run a command, capture stdout+stderr, fail on a non-zero exit (naming the command).
fn run_capture(argv: &[String], limit: Duration) -> Result<String> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    let (st, text) = run_output(cmd, limit).with_context(|| format!("cannot start {}", argv[0]))?;
    match st {
        None => bail!("`{}` did not finish within {}s", argv.join(" "), limit.as_secs()),
        Some(s) if !s.success() => bail!("`{}` exited {:?}: {}", argv.join(" "), s.code(),
                                         text.lines().rev().take(3).collect::<Vec<_>>().join(" | ")),
        Some(_) => Ok(text),
    }
}

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn hog(secs: u64) -> Result<Child> {
    Command::new("stress-ng")
        .args(["-c", &nproc().to_string(), "-t", &format!("{secs}s"), "--temp-path", "/tmp"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the stress-ng CPU hog")
}

/// The benchmarks, in the order they run within a block.
pub fn benchmarks(quick: bool) -> Vec<BenchInfo> {
    let lat = latency_secs(quick);
    let perf = crate::workload::perf_binary();
    vec![
        BenchInfo { name: "messaging".into(), description: format!("{perf} bench sched messaging -g 2 -l 100 (s, lower is better)") },
        BenchInfo { name: "pipe".into(), description: format!("{perf} bench sched pipe -l 10000 (µs per op, lower is better)") },
        BenchInfo { name: "hackbench-g1".into(), description: "hackbench -g 1 -l 200 (s)".into() },
        BenchInfo { name: "hackbench-g4".into(), description: "hackbench -g 4 -l 100 (s)".into() },
        BenchInfo { name: "cyclictest".into(), description: format!(
            "cyclictest -q -m -t 1 -i 1000 -D {lat}s -h 20000 (SCHED_OTHER, wakeup latency µs) while stress-ng -c <vCPUs> hogs every CPU; \
             timer_late: the emulator's part, how late the measuring thread's sleep timer fired past the time it asked for (hrtimer_start to hrtimer_expire_entry, ftrace), µs; \
             wake_to_run: the scheduler's part, sched_waking to the sched_switch that runs cyclictest's thread (ftrace), µs") },
        BenchInfo { name: "mixed".into(), description: format!(
            "the lab's interactive-vs-build scenario, {lat}s: a task that wakes every 5 ms (the latency probe) while 2 workers per vCPU \
             run a build-like load — short-lived `sh` processes, each a CPU burst — back to back; probe lateness µs and build jobs/s") },
        // Held out: programs that appear in no training mix (vm/workloads/), so the model's
        // result here says whether it generalises beyond what it was trained on.
        BenchInfo { name: "heldout-gzip".into(), description: format!("held out: `{HELDOUT_GZIP}`, a four-process pipeline (s)") },
        BenchInfo { name: "heldout-sort".into(), description: format!("held out: `{HELDOUT_SORT}`, pipes and sorting (s)") },
        BenchInfo { name: "heldout-pmq".into(), description: format!(
            "held out: `{}` (SCHED_OTHER) while stress-ng -c <vCPUs> hogs every CPU: a thread sends a POSIX message every ms, \
             another waits for it; p50/p99: the receiver's wakeup to running, woken by the sender (ftrace, µs); avg and max: \
             pmqtest's own figure, from the send to the return from mq_receive (µs)", pmq_command(lat, "FILE")) },
    ]
}

/// The held-out benchmarks' commands: no program of theirs is in a training mix.
const HELDOUT_GZIP: &str = "seq 1 2000000 | gzip -1 | gzip -dc | wc -c";
const HELDOUT_SORT: &str = "seq 1 50000 | sort -R --random-source=/dev/zero | sort -n | tail -1";

/// The held-out latency benchmark: one unpinned sender/receiver pair of rt-tests' pmqtest, a
/// program in no training mix (cyclictest, its sibling in rt-tests, wakes from a timer; here a
/// thread wakes another).
fn pmq_command(secs: u64, json: &str) -> String {
    format!("pmqtest -q -t 1 -i 1000 -d 500 -D {secs} --json={json}")
}

/// Run `cmd` (a latency run of `lat` s) while a CPU hog runs on every vCPU, tracing the
/// wakeups, switches and sleep timers of the threads named `comm`: its output, and the trace to
/// finish (an error starting it is the caller's to report after the command's own).
fn traced_under_hogs(cmd: &str, comm: &str, lat: u64, limit: Duration) -> Result<(String, Result<LatencyTrace>)> {
    let mut h = hog(lat + 10)?;
    sleep(Duration::from_millis(500));
    let trace = LatencyTrace::start(comm);
    let res = run_capture(&argv(cmd), limit);
    kill_and_reap(&mut h);
    Ok((res?, trace))
}

/// Run a shell pipeline; its wall time, s.
fn timed_pipeline(cmd: &str, limit: Duration) -> Result<f64> {
    let t = Instant::now();
    run_capture(&["sh".to_string(), "-c".to_string(), cmd.to_string()], limit)?;
    Ok(t.elapsed().as_secs_f64())
}

/// Length of the latency runs, s.
fn latency_secs(quick: bool) -> u64 {
    if quick { 5 } else { 15 }
}

fn run_bench(name: &str, quick: bool) -> Result<Outcome> {
    let lat = latency_secs(quick);
    let perf = crate::workload::perf_binary();
    let limit = Duration::from_secs(600);
    Ok(match name {
        "messaging" => {
            let out = run_capture(&argv(&format!("{perf} bench sched messaging -g 2 -l 100")), limit)?;
            Outcome { metrics: vec![("time", "s", true, parse::perf_total_seconds(&out)?)], hist: None }
        }
        "pipe" => {
            let out = run_capture(&argv(&format!("{perf} bench sched pipe -l 10000")), limit)?;
            Outcome { metrics: vec![("per_op", "µs", true, parse::perf_usecs_per_op(&out)?)], hist: None }
        }
        "hackbench-g1" | "hackbench-g4" => {
            let cmd = if name == "hackbench-g1" { "hackbench -g 1 -l 200" } else { "hackbench -g 4 -l 100" };
            let out = run_capture(&argv(cmd), limit)?;
            Outcome { metrics: vec![("time", "s", true, parse::hackbench_seconds(&out)?)], hist: None }
        }
        "cyclictest" => {
            // The scheduler's part of each wakeup, beside cyclictest's own figure (which under
            // TCG is mostly the emulated timer's lateness: see latency_trace).
            let cmd = format!("cyclictest -q -m -t 1 -p 0 --policy=other -i 1000 -D {lat}s -h 20000");
            let (out, trace) = traced_under_hogs(&cmd, "cyclictest", lat, limit)?;
            let hist = parse::cyclictest(&out)?;
            let traced = trace.and_then(|t| t.finish(Wakeups::OfTimedSleepers))?;
            let sched = &traced.wake_to_run;
            let mut metrics = vec![("p50", "µs", true, hist.quantile(0.5) as f64), ("p99", "µs", true, hist.quantile(0.99) as f64),
                                   ("max", "µs", true, hist.max_us as f64)];
            // Without a traced sleep timer (a kernel that prints timer functions as addresses),
            // the rest of the run still stands: the two rows are left out, and the log says why.
            match &traced.timer_late {
                Some(timer) => metrics.extend([("timer_late_p50", "µs", true, timer.quantile(0.5) as f64),
                                               ("timer_late_p99", "µs", true, timer.quantile(0.99) as f64)]),
                None => log::warn!("cyclictest: no sleep timer of its measuring thread was traced: timer_late not reported"),
            }
            metrics.extend([("wake_to_run_p50", "µs", true, sched.quantile(0.5) as f64),
                            ("wake_to_run_p99", "µs", true, sched.quantile(0.99) as f64)]);
            Outcome { metrics, hist: Some(hist) }
        }
        "mixed" => mixed(Duration::from_secs(lat))?,
        "heldout-gzip" => Outcome { metrics: vec![("time", "s", true, timed_pipeline(HELDOUT_GZIP, limit)?)], hist: None },
        "heldout-sort" => Outcome { metrics: vec![("time", "s", true, timed_pipeline(HELDOUT_SORT, limit)?)], hist: None },
        "heldout-pmq" => {
            let json = std::env::temp_dir().join(format!("mimic-pmqtest-{}.json", std::process::id()));
            let _ = std::fs::remove_file(&json);
            let (_, trace) = traced_under_hogs(&pmq_command(lat, &json.display().to_string()), "pmqtest", lat, limit)?;
            let text = std::fs::read_to_string(&json).with_context(|| format!("reading pmqtest's results {}", json.display()))?;
            let (avg, max) = parse::pmqtest_json(&text)?;
            // The receiver's wakeups by the sender (the sender's own come from its timer).
            let peer = trace.and_then(|t| t.finish(Wakeups::ByPeer("pmqtest")))?.wake_to_run;
            Outcome { metrics: vec![("p50", "µs", true, peer.quantile(0.5) as f64), ("p99", "µs", true, peer.quantile(0.99) as f64),
                                    ("avg", "µs", true, avg), ("max", "µs", true, max)],
                      hist: Some(peer) }
        }
        other => bail!("unknown benchmark {other}"),
    })
}

/// The interactive-vs-build scenario (see `benchmarks`).
fn mixed(len: Duration) -> Result<Outcome> {
    // One job: a short-lived shell whose loop is a CPU burst of a few ms natively (a compiler
    // process, in miniature).
    const JOB: &str = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done";
    let stop = Arc::new(AtomicBool::new(false));
    let jobs = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2 * nproc())
        .map(|_| {
            let (stop, jobs) = (stop.clone(), jobs.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if Command::new("sh").args(["-c", JOB]).status().map(|s| s.success()).unwrap_or(false) {
                        jobs.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    sleep(Duration::from_millis(500)); // let the build get going
    let t = Instant::now();
    let j0 = jobs.load(Ordering::Relaxed);
    let probe = Probe::start();
    sleep(len);
    let samples = probe.stop_samples();
    let done = jobs.load(Ordering::Relaxed) - j0;
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    if samples.is_empty() {
        bail!("the latency probe took no samples");
    }
    let hist = Histogram::from_samples(&samples, 10);
    Ok(Outcome {
        metrics: vec![("p50", "µs", true, hist.quantile(0.5) as f64), ("p99", "µs", true, hist.quantile(0.99) as f64),
                      ("max", "µs", true, hist.max_us as f64), ("build_jobs", "jobs/s", false, done as f64 / secs)],
        hist: Some(hist),
    })
}

/// Start a scheduler and wait until sched_ext says it is in charge.
fn start_scheduler(s: &SchedulerInfo, log: &Path, report: Option<&Path>) -> Result<SchedProcess> {
    if scx_state() != "disabled" {
        bail!("sched_ext state is '{}' before starting {}", scx_state(), s.name);
    }
    let mut command = s.command.clone();
    if let Some(r) = report {
        command.extend(["--report".into(), r.display().to_string()]);
    }
    let mut p = SchedProcess::start(&command, log, None)?;
    p.wait_attached(Duration::from_secs(40)).map_err(|why| anyhow::anyhow!("{}: {why}", s.name))?;
    Ok(p)
}

/// The decision-wait histogram of a scheduler report (`scx_mimic --report`).
pub fn decision_wait_hist(report: &Path) -> Result<Vec<u64>> {
    let text = std::fs::read_to_string(report).with_context(|| format!("reading {}", report.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", report.display()))?;
    let hist = doc["counters"]["decision_wait_hist"].as_array()
        .with_context(|| format!("{}: no counters.decision_wait_hist", report.display()))?;
    hist.iter().enumerate()
        .map(|(i, v)| v.as_u64().with_context(|| format!("{}: decision_wait_hist[{i}] is not a count: {v}", report.display())))
        .collect()
}

/// SIGINT; wait for the exit (0 expected) and for sched_ext to be disabled again.
fn stop_scheduler(s: &SchedulerInfo, mut p: SchedProcess) -> Result<()> {
    let code = p.stop(Duration::from_secs(30));
    if p.was_killed() {
        bail!("{} did not stop within 30 s of SIGINT", s.name);
    }
    let _ = wait_for(Duration::from_secs(15), || scx_state() == "disabled");
    if code != Some(0) {
        bail!("{} exited with {code:?} (expected 0 after SIGINT)", s.name);
    }
    Ok(())
}

pub fn schedulers(cfg: &GuestConfig) -> Vec<SchedulerInfo> {
    let sched = cfg.sched.display().to_string();
    let mut v = vec![
        SchedulerInfo { name: "eevdf".into(), command: vec![], available: true, note: "the kernel's default scheduler, no sched_ext scheduler loaded".into(),
                        reports: false },
        SchedulerInfo { name: "heuristic".into(), command: vec![sched.clone()], available: true, note: "scx_mimic, heuristic policy".into(),
                        reports: true },
    ];
    match &cfg.models {
        Some(m) => v.push(SchedulerInfo { name: "model".into(), command: vec![sched, "--model".into(), m.display().to_string()],
                                          available: true, note: format!("scx_mimic --model {}", m.display()), reports: true }),
        None => v.push(SchedulerInfo { name: "model".into(), command: vec![], available: false, note: "no trained models (run make train)".into(),
                                       reports: false }),
    }
    match &cfg.rustland {
        Some(r) => v.push(SchedulerInfo { name: "scx_rustland".into(), command: vec![r.display().to_string()], available: true,
                                          note: "the published scx_rustland (crates.io), default options".into(), reports: false }),
        None => v.push(SchedulerInfo { name: "scx_rustland".into(), command: vec![], available: false, note: cfg.rustland_note.clone(),
                                       reports: false }),
    }
    v
}

/// The block order of repetition `rep`. Repetition 0 (the warm-up) runs the schedulers as
/// listed; measured repetition r ≥ 1 runs row r − 1 (cyclically) of a balanced Latin square
/// (Williams' design): over every n consecutive measured repetitions each of the n schedulers
/// runs once in each position, and — for an even n — follows each other scheduler exactly once,
/// so neither a position nor a predecessor's after-effects favour anyone.
pub fn rotation(names: &[String], rep: u32) -> Vec<String> {
    let n = names.len();
    if rep == 0 || n == 0 {
        return names.to_vec();
    }
    let rows = williams(n);
    rows[(rep as usize - 1) % rows.len()].iter().map(|&i| names[i].clone()).collect()
}

/// Williams' balanced Latin square for n treatments: first row 0, 1, n−1, 2, n−2, …, then each
/// row adds 1 (mod n). For an odd n the mirrored rows follow (2n rows); the first n alone still
/// balance the positions.
fn williams(n: usize) -> Vec<Vec<usize>> {
    let first: Vec<usize> = (0..n).map(|j| if j % 2 == 1 { j.div_ceil(2) } else { (n - j / 2) % n }).collect();
    let mut rows: Vec<Vec<usize>> = (0..n).map(|r| first.iter().map(|&x| (x + r) % n).collect()).collect();
    if n % 2 == 1 {
        let mirrored: Vec<Vec<usize>> = rows.iter().map(|r| r.iter().rev().copied().collect()).collect();
        rows.extend(mirrored);
    }
    rows
}

/// Measured repetitions, rounded up to a multiple of the scheduler count so that the positions
/// balance (see `rotation`).
pub fn balanced_reps(reps: u32, schedulers: usize) -> u32 {
    let n = schedulers.max(1) as u32;
    reps.max(1).div_ceil(n) * n
}

pub fn run(cfg: &GuestConfig) -> Result<bool> {
    let started = Instant::now();
    let release = start_job(START_MARKER, &cfg.out, cfg.kconfig.as_deref())?;
    let scheds = schedulers(cfg);
    let names: Vec<String> = scheds.iter().filter(|s| s.available).map(|s| s.name.clone()).collect();
    let reps = balanced_reps(cfg.reps, names.len());
    if reps != cfg.reps {
        println!("[bench] {} repetitions over {} schedulers rounded up to {reps}: every scheduler then runs \
                  in every position equally often", cfg.reps, names.len());
    }
    let benches = benchmarks(cfg.quick);
    let mut raw = Raw {
        date: now_rfc3339(), kernel_release: release, guest_cpus: nproc(), quick: cfg.quick, reps,
        schedulers: scheds.clone(), benchmarks: benches.clone(), order: vec![], samples: vec![], latency: vec![],
        decision_waits: vec![], problems: vec![], finished: false, wall_s: 0.0,
    };
    let save = |raw: &mut Raw| -> Result<()> {
        raw.wall_s = started.elapsed().as_secs_f64();
        Ok(write_atomic(&cfg.out.join(RAW_FILE), &serde_json::to_vec_pretty(raw)?)?)
    };
    let total_blocks = (reps + 1) * names.len() as u32;
    let mut block = 0;
    // Repetition 0 is the warm-up: measured, kept in the raw data, left out of the summary.
    for rep in 0..=reps {
        let order = rotation(&names, rep);
        raw.order.push(format!("rep {rep}{}: {}", if rep == 0 { " (warm-up)" } else { "" }, order.join(", ")));
        for name in &order {
            block += 1;
            let s = scheds.iter().find(|s| &s.name == name).expect("listed");
            let tag = if rep == 0 { "warm-up".to_string() } else { format!("rep {rep}/{reps}") };
            println!("[bench {:>5.0}s] block {block}/{total_blocks}: {tag}, scheduler {name}", started.elapsed().as_secs_f64());
            let report = s.reports.then(|| cfg.out.join(format!("sched-{name}-rep{rep}.json")));
            let child = if s.command.is_empty() {
                if scx_state() != "disabled" {
                    raw.problems.push(format!("{tag} eevdf: sched_ext state '{}' instead of disabled; block skipped", scx_state()));
                    continue;
                }
                None
            } else {
                match start_scheduler(s, &cfg.out.join(format!("sched-{name}-rep{rep}.log")), report.as_deref()) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        println!("[bench] {tag} {name}: {e:#}");
                        raw.problems.push(format!("{tag} {name}: {e:#}; block skipped"));
                        continue;
                    }
                }
            };
            for b in &benches {
                let t = Instant::now();
                let res = run_bench(&b.name, cfg.quick);
                // A number only counts if the scheduler was still in charge when it was taken.
                let in_charge = match &child {
                    None => scx_state() == "disabled",
                    Some(_) => scx_state() == "enabled",
                };
                match res {
                    Ok(o) if in_charge => {
                        let shown: Vec<String> = o.metrics.iter().map(|(m, u, _, v)| format!("{m} {v:.3} {u}")).collect();
                        println!("[bench {:>5.0}s]   {tag} {name:<12} {:<13} {}  ({:.1}s)", started.elapsed().as_secs_f64(), b.name,
                                 shown.join(", "), t.elapsed().as_secs_f64());
                        for (metric, unit, lower, value) in o.metrics {
                            raw.samples.push(Sample { bench: b.name.clone(), metric: metric.into(), unit: unit.into(),
                                                      lower_is_better: lower, scheduler: name.clone(), rep, warmup: rep == 0, value });
                        }
                        if let Some(hist) = o.hist {
                            raw.latency.push(LatencyRun { bench: b.name.clone(), scheduler: name.clone(), rep, warmup: rep == 0, hist });
                        }
                    }
                    Ok(_) => {
                        let msg = format!("{tag} {name} {}: the scheduler was no longer in charge (state '{}'); result dropped", b.name, scx_state());
                        println!("[bench] {msg}");
                        raw.problems.push(msg);
                    }
                    Err(e) => {
                        let msg = format!("{tag} {name} {}: {e:#}", b.name);
                        println!("[bench] {msg}");
                        raw.problems.push(msg);
                    }
                }
            }
            if let Some(c) = child {
                match stop_scheduler(s, c) {
                    Err(e) => raw.problems.push(format!("{tag} {name}: {e:#}")),
                    // The report is written at a clean stop.
                    Ok(()) => if let Some(r) = &report {
                        match decision_wait_hist(r) {
                            Ok(hist) => raw.decision_waits.push(DecisionWaits { scheduler: name.clone(), rep, warmup: rep == 0, hist }),
                            Err(e) => raw.problems.push(format!("{tag} {name}: decision waits: {e:#}")),
                        }
                    },
                }
            }
            save(&mut raw)?;
        }
    }
    raw.finished = true;
    save(&mut raw)?;
    Ok(raw.problems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How often each scheduler runs in each position, and right after each other one, over
    /// the measured repetitions 1..=reps.
    fn tallies(names: &[String], reps: u32) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let n = names.len();
        let (mut pos, mut next) = (vec![vec![0; n]; n], vec![vec![0; n]; n]);
        for rep in 1..=reps {
            let order: Vec<usize> = rotation(names, rep).iter().map(|x| names.iter().position(|y| y == x).unwrap()).collect();
            for (p, &s) in order.iter().enumerate() {
                pos[s][p] += 1;
            }
            for w in order.windows(2) {
                next[w[0]][w[1]] += 1;
            }
        }
        (pos, next)
    }

    #[test]
    fn positions_and_predecessors_are_balanced() {
        for n in 2..=5 {
            let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            let reps = balanced_reps(5, n);
            assert_eq!(reps % n as u32, 0);
            let (pos, next) = tallies(&names, reps);
            let each = reps / n as u32;
            assert!(pos.iter().flatten().all(|&c| c == each), "n={n}: positions {pos:?}");
            if n % 2 == 0 {
                for (a, row) in next.iter().enumerate() {
                    for (b, &c) in row.iter().enumerate() {
                        assert_eq!(c, if a == b { 0 } else { each }, "n={n}: {a} before {b}: {next:?}");
                    }
                }
            }
        }
        let four: Vec<String> = ["eevdf", "heuristic", "model", "scx_rustland"].iter().map(|s| s.to_string()).collect();
        assert_eq!(rotation(&four, 0), four, "the warm-up runs them as listed");
        assert_eq!(rotation(&four, 1), ["eevdf", "heuristic", "scx_rustland", "model"]);
    }

    #[test]
    fn the_decision_waits_are_read_from_the_report_and_a_bad_one_is_named() {
        let dir = std::env::temp_dir().join(format!("mimic-dw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"policy": "heuristic", "counters": {"decisions": 3, "decision_wait_hist": [0, 2, 1]}}"#).unwrap();
        assert_eq!(decision_wait_hist(&good).unwrap(), [0, 2, 1]);
        let missing = dir.join("missing.json");
        std::fs::write(&missing, r#"{"counters": {"decisions": 3}}"#).unwrap();
        let e = format!("{:#}", decision_wait_hist(&missing).unwrap_err());
        assert!(e.contains("missing.json") && e.contains("decision_wait_hist"), "{e}");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"counters": {"decision_wait_hist": [1, -2]}}"#).unwrap();
        let e = format!("{:#}", decision_wait_hist(&bad).unwrap_err());
        assert!(e.contains("bad.json") && e.contains("decision_wait_hist[1]"), "{e}");
        assert!(decision_wait_hist(&dir.join("absent.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unavailable_schedulers_say_why() {
        let cfg = GuestConfig { sched: "/x/scx_mimic".into(), models: None, rustland: None, rustland_note: "did not build: E".into(),
                                out: "/o".into(), reps: 1, quick: true, kconfig: None };
        let s = schedulers(&cfg);
        let names: Vec<&str> = s.iter().filter(|s| s.available).map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["eevdf", "heuristic"]);
        assert!(s.iter().any(|s| s.name == "scx_rustland" && s.note == "did not build: E"));
        assert!(s.iter().any(|s| s.name == "model" && s.note.contains("make train")));
    }

    #[test]
    fn only_scx_mimic_is_started_with_a_report_to_read() {
        let cfg = GuestConfig { sched: "/x/scx_mimic".into(), models: Some("/m".into()), rustland: Some("/x/scx_rustland".into()),
                                rustland_note: String::new(), out: "/o".into(), reps: 1, quick: true, kconfig: None };
        let all = schedulers(&cfg);
        let reporting: Vec<&str> = all.iter().filter(|s| s.reports).map(|s| s.name.as_str()).collect();
        assert_eq!(reporting, ["heuristic", "model"]);
        // A report is read only from a scheduler that writes one (the published scx_rustland has
        // no --report): one more name is not enough.
        assert!(all.iter().all(|s| s.reports == s.command.first().is_some_and(|c| c.ends_with("scx_mimic"))));
    }
}
