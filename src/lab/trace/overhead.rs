//! `mimic trace-overhead`: what tracing costs a workload. In one boot, the same benchmark runs
//! alternately without and with `mimic trace` attached (interleaved, so drift does not favour
//! either), and the medians of its own reported times are compared, with a bootstrap interval
//! for the noise. A last, separate run with the kernel's BPF run-time statistics on says how much
//! of that is the tracer's BPF programs themselves.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::ProgStats;
use crate::util::{now_rfc3339, write_atomic};

#[derive(Debug, Serialize)]
pub struct Overhead {
    pub date: String,
    pub kernel: String,
    pub benchmark: String,
    pub reps: usize,
    pub cpus: usize,
    pub plain_s: Vec<f64>,
    pub traced_s: Vec<f64>,
    pub plain_median_s: f64,
    pub traced_median_s: f64,
    /// (traced - plain) / plain, percent (positive: tracing slowed the benchmark).
    pub overhead_pct: f64,
    /// 90% bootstrap interval of overhead_pct (repetitions resampled 2000 times).
    pub ci90_pct: [f64; 2],
    /// Median over repetitions of traced/plain - 1, percent (each traced run against the plain
    /// run just before it).
    pub paired_median_pct: f64,
    /// The tracer's BPF programs in one more traced run, with run-time statistics on.
    pub bpf: Option<BpfCost>,
}

#[derive(Debug, Serialize)]
pub struct BpfCost {
    /// The benchmark's own time in that run.
    pub benchmark_s: f64,
    pub cpus: usize,
    pub programs: Vec<ProgCost>,
    /// Over the programs that run with preemption off (all but sched_process_exit's).
    pub total_run_time_ns: u64,
    /// total_run_time_ns / (benchmark_s × cpus), percent. An upper bound: the statistics add two
    /// clock reads to every call, and the programs also run while the tracer starts and stops.
    pub cpu_share_pct: f64,
    /// CPU time the tracer process spent draining the rings during that run, s, and as a share
    /// of the run's CPU time.
    pub consumer_cpu_s: f64,
    pub consumer_share_pct: f64,
}

#[derive(Debug, Serialize)]
pub struct ProgCost {
    pub name: String,
    pub runs: u64,
    pub run_time_ns: u64,
    pub avg_ns: f64,
    /// Attached where the kernel may preempt the program (sched_process_exit): its run time is
    /// wall time that includes other tasks' turns, so it is left out of cpu_share_pct.
    pub preemptible: bool,
}

/// Programs on tracepoints that run with preemption enabled.
const PREEMPTIBLE: [&str; 1] = ["mimic_exit"];

/// hackbench prints "Time: 1.234", perf bench "Total time: 1.234 [sec]"; take the last such number.
pub fn parse_time(output: &str) -> Option<f64> {
    output
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("Time:").or_else(|| l.strip_prefix("Total time:")).map(str::trim)
        })
        .filter_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let m = s.len() / 2;
    if s.len() % 2 == 1 { s[m] } else { (s[m - 1] + s[m]) / 2.0 }
}

/// (percent) overhead of the traced medians over the plain ones.
pub fn overhead_pct(plain: &[f64], traced: &[f64]) -> f64 {
    let (p, t) = (median(plain), median(traced));
    (t - p) / p * 100.0
}

/// 90% bootstrap interval of overhead_pct: both samples resampled with replacement, `rounds`
/// times, with a fixed seed (the same times give the same interval).
pub fn bootstrap_ci90(plain: &[f64], traced: &[f64], rounds: usize) -> [f64; 2] {
    if plain.is_empty() || traced.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        // xorshift64*: plenty for resampling indices.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    };
    let mut est: Vec<f64> = (0..rounds).map(|_| {
        let p: Vec<f64> = (0..plain.len()).map(|_| plain[next(plain.len())]).collect();
        let t: Vec<f64> = (0..traced.len()).map(|_| traced[next(traced.len())]).collect();
        overhead_pct(&p, &t)
    }).collect();
    est.sort_by(f64::total_cmp);
    let at = |q: f64| est[((q * (est.len() - 1) as f64).round() as usize).min(est.len() - 1)];
    [at(0.05), at(0.95)]
}

/// Median over pairs of traced/plain - 1, percent.
pub fn paired_median_pct(plain: &[f64], traced: &[f64]) -> f64 {
    let r: Vec<f64> = plain.iter().zip(traced).map(|(p, t)| (t / p - 1.0) * 100.0).collect();
    median(&r)
}

/// Per-program averages and the share of the run's CPU time.
pub fn bpf_cost(progs: &[ProgStats], consumer_cpu_s: f64, benchmark_s: f64, cpus: usize) -> BpfCost {
    let programs: Vec<ProgCost> = progs.iter().map(|p| ProgCost {
        name: p.name.clone(),
        runs: p.runs,
        run_time_ns: p.run_time_ns,
        avg_ns: if p.runs > 0 { p.run_time_ns as f64 / p.runs as f64 } else { 0.0 },
        preemptible: PREEMPTIBLE.contains(&p.name.as_str()),
    }).collect();
    let total: u64 = programs.iter().filter(|p| !p.preemptible).map(|p| p.run_time_ns).sum();
    let cpu_ns = benchmark_s * 1e9 * cpus.max(1) as f64;
    BpfCost {
        benchmark_s,
        cpus,
        programs,
        total_run_time_ns: total,
        cpu_share_pct: total as f64 / cpu_ns * 100.0,
        consumer_cpu_s,
        consumer_share_pct: consumer_cpu_s * 1e9 / cpu_ns * 100.0,
    }
}

fn timed(argv: &[String]) -> Result<f64> {
    let out = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).stderr(Stdio::inherit()).output()
        .with_context(|| format!("cannot run {}", argv[0]))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("{} failed ({}): {text}", argv.join(" "), out.status);
    }
    parse_time(&text).with_context(|| format!("no 'Time:' line in the output of {}: {text}", argv.join(" ")))
}

pub fn run(benchmark: &str, reps: usize, out: &std::path::Path) -> Result<Overhead> {
    let me = std::env::current_exe()?.display().to_string();
    let bench: Vec<String> = benchmark.split_whitespace().map(String::from).collect();
    anyhow::ensure!(!bench.is_empty(), "empty benchmark command");
    let scratch = std::env::temp_dir().join(format!("mimic-overhead-{}", std::process::id()));
    let traced_cmd = |extra: &[&str]| {
        let mut v = vec![me.clone(), "trace".into(), "--out".into(), scratch.display().to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push("--".into());
        v.extend(bench.iter().cloned());
        v
    };
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    timed(&bench)?; // warm-up
    for k in 0..reps {
        eprintln!("trace-overhead: repetition {}/{reps}", k + 1);
        // Alternate which goes first, so a drift within the boot favours neither.
        if k % 2 == 0 {
            plain.push(timed(&bench)?);
            traced.push(timed(&traced_cmd(&[]))?);
        } else {
            traced.push(timed(&traced_cmd(&[]))?);
            plain.push(timed(&bench)?);
        }
    }
    eprintln!("trace-overhead: one more traced run with BPF run-time statistics");
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let bpf = match timed(&traced_cmd(&["--bpf-stats"])) {
        Ok(secs) => {
            let meta = scratch.join(crate::dataset::META_FILE);
            let text = std::fs::read_to_string(&meta).with_context(|| format!("cannot read {}", meta.display()))?;
            #[derive(serde::Deserialize)]
            struct Meta {
                #[serde(default)]
                bpf_programs: Vec<ProgStats>,
                consumer_cpu_s: f64,
            }
            let m: Meta = serde_json::from_str(&text).with_context(|| format!("{}: bad JSON", meta.display()))?;
            Some(bpf_cost(&m.bpf_programs, m.consumer_cpu_s, secs, cpus))
        }
        Err(e) => {
            log::warn!("the run with BPF statistics failed ({e:#}); no per-program costs");
            None
        }
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let o = Overhead {
        date: now_rfc3339(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
        benchmark: benchmark.to_string(),
        reps,
        cpus,
        plain_median_s: median(&plain),
        traced_median_s: median(&traced),
        overhead_pct: overhead_pct(&plain, &traced),
        ci90_pct: bootstrap_ci90(&plain, &traced, 2000),
        paired_median_pct: paired_median_pct(&plain, &traced),
        plain_s: plain,
        traced_s: traced,
        bpf,
    };
    write_atomic(out, &serde_json::to_vec_pretty(&o)?)?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_benchmark_times_and_medians() {
        let hb = "Running in process mode with 4 groups using 40 file descriptors each (== 160 tasks)\nEach sender will pass 200 messages of 100 bytes\nTime: 1.618\n";
        assert_eq!(parse_time(hb), Some(1.618));
        let perf = "# Running 'sched/messaging' benchmark:\n# 20 sender and receiver processes per group\n     Total time: 0.123 [sec]\n";
        assert_eq!(parse_time(perf), Some(0.123));
        assert_eq!(parse_time("Time: n/a\n"), None);
        assert_eq!(parse_time("mimic trace: 10 events\nTime: 2.5\n"), Some(2.5));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn the_interval_brackets_the_estimate_and_shrinks_without_noise() {
        // No noise: every resample gives the same +10%.
        let ci = bootstrap_ci90(&[1.0; 8], &[1.1; 8], 500);
        assert!((ci[0] - 10.0).abs() < 1e-9 && (ci[1] - 10.0).abs() < 1e-9, "{ci:?}");
        // Noisy samples: the interval contains the point estimate and is not degenerate.
        let plain = [5.2, 5.9, 4.8, 6.3, 5.5, 5.0, 6.1, 5.4, 4.9, 5.7];
        let traced = [5.5, 6.4, 5.0, 6.6, 5.9, 5.3, 6.2, 5.8, 5.1, 6.0];
        let est = overhead_pct(&plain, &traced);
        let ci = bootstrap_ci90(&plain, &traced, 2000);
        assert!(ci[0] < est && est < ci[1], "{ci:?} vs {est}");
        assert!(ci[1] - ci[0] > 1.0, "{ci:?}");
        // Deterministic: the same times give the same interval.
        assert_eq!(ci, bootstrap_ci90(&plain, &traced, 2000));
        assert!((paired_median_pct(&[2.0, 4.0, 5.0], &[2.2, 4.0, 5.5]) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn bpf_cost_is_a_share_of_the_runs_cpu_time() {
        let progs = vec![
            ProgStats { name: "mimic_switch".into(), runs: 1000, run_time_ns: 2_000_000 },
            ProgStats { name: "mimic_exit".into(), runs: 0, run_time_ns: 0 },
            ProgStats { name: "mimic_exit".into(), runs: 10, run_time_ns: 9_000_000 },
        ];
        let c = bpf_cost(&progs, 0.04, 2.0, 2);
        assert_eq!(c.total_run_time_ns, 2_000_000);
        assert!((c.consumer_share_pct - 1.0).abs() < 1e-9, "{}", c.consumer_share_pct);
        assert!((c.programs[0].avg_ns - 2000.0).abs() < 1e-9);
        assert_eq!(c.programs[1].avg_ns, 0.0);
        assert!(c.programs[2].preemptible && !c.programs[0].preemptible, "exit's time includes preemption: not counted");
        // 2 ms of BPF in a 2 s run on 2 CPUs = 0.05% of the CPU time.
        assert!((c.cpu_share_pct - 0.05).abs() < 1e-9, "{}", c.cpu_share_pct);
    }
}
