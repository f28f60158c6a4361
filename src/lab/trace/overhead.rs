//! `mimic trace-overhead`: what tracing costs a workload. In one boot, the same benchmark runs
//! alternately without and with `mimic trace` attached (interleaved, so drift does not favour
//! either), and the medians of its own reported times are compared.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::util::{now_rfc3339, write_atomic};

#[derive(Debug, Serialize)]
pub struct Overhead {
    pub date: String,
    pub kernel: String,
    pub benchmark: String,
    pub reps: usize,
    pub plain_s: Vec<f64>,
    pub traced_s: Vec<f64>,
    pub plain_median_s: f64,
    pub traced_median_s: f64,
    /// (traced - plain) / plain, percent (positive: tracing slowed the benchmark).
    pub overhead_pct: f64,
}

/// hackbench and perf bench print "Time: 1.234"; take the last such number.
pub fn parse_time(output: &str) -> Option<f64> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Time:").map(str::trim))
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
    let mut traced_cmd = vec![me, "trace".into(), "--out".into(), scratch.display().to_string(), "--".into()];
    traced_cmd.extend(bench.iter().cloned());
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    timed(&bench)?; // warm-up
    for k in 0..reps {
        eprintln!("trace-overhead: repetition {}/{reps}", k + 1);
        plain.push(timed(&bench)?);
        traced.push(timed(&traced_cmd)?);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let (p, t) = (median(&plain), median(&traced));
    let o = Overhead {
        date: now_rfc3339(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
        benchmark: benchmark.to_string(),
        reps,
        plain_s: plain,
        traced_s: traced,
        plain_median_s: p,
        traced_median_s: t,
        overhead_pct: (t - p) / p * 100.0,
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
        assert_eq!(parse_time(perf), None, "perf prints 'Total time:', not 'Time:'");
        assert_eq!(parse_time("mimic trace: 10 events\nTime: 2.5\n"), Some(2.5));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
