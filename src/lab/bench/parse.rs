//! Parsers for what the benchmark tools print. Each names the tool and quotes the output when
//! the number it needs is not there.

use anyhow::{anyhow, bail, Result};

fn excerpt(out: &str) -> String {
    let t: String = out.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
    if t.is_empty() { "(no output)".into() } else { t }
}

/// `perf bench sched messaging|pipe`: "Total time: 0.123 [sec]" → seconds.
pub fn perf_total_seconds(out: &str) -> Result<f64> {
    for l in out.lines() {
        if let Some(rest) = l.trim().strip_prefix("Total time:") {
            let v = rest.split_whitespace().next().unwrap_or("");
            return v.parse().map_err(|_| anyhow!("perf bench: cannot read the total time from {l:?}"));
        }
    }
    bail!("perf bench printed no 'Total time:' line: {}", excerpt(out))
}

/// `perf bench sched pipe`: "61.700 usecs/op" → µs per operation.
pub fn perf_usecs_per_op(out: &str) -> Result<f64> {
    for l in out.lines() {
        let mut w = l.split_whitespace();
        if let (Some(v), Some("usecs/op")) = (w.next(), w.next()) {
            return v.parse().map_err(|_| anyhow!("perf bench: cannot read usecs/op from {l:?}"));
        }
    }
    bail!("perf bench printed no 'usecs/op' line: {}", excerpt(out))
}

/// rt-tests `hackbench`: "Time: 0.456" → seconds.
pub fn hackbench_seconds(out: &str) -> Result<f64> {
    for l in out.lines() {
        if let Some(rest) = l.trim().strip_prefix("Time:") {
            return rest.trim().parse().map_err(|_| anyhow!("hackbench: cannot read the time from {l:?}"));
        }
    }
    bail!("hackbench printed no 'Time:' line: {}", excerpt(out))
}

/// rt-tests `pmqtest --json=FILE`, one thread pair: the receiver's average and largest latency
/// (µs, from the sender's send to the receiver's return from `mq_receive`).
pub fn pmqtest_json(text: &str) -> Result<(f64, f64)> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| anyhow!("pmqtest --json: not JSON ({e}): {}", excerpt(text)))?;
    let rx = &v["thread"]["0"]["receiver"];
    let num = |k: &str| rx[k].as_f64().ok_or_else(|| anyhow!("pmqtest --json: no number at thread.0.receiver.{k}: {}", excerpt(text)));
    Ok((num("avg")?, num("max")?))
}

/// A latency histogram: (latency µs, count) in increasing latency, plus samples beyond it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Histogram {
    pub buckets: Vec<(u64, u64)>,
    /// Samples above the last bucket, and the largest latency seen (µs).
    pub overflows: u64,
    pub max_us: u64,
}

impl Histogram {
    /// From raw samples (µs), at `resolution_us`.
    pub fn from_samples(samples: &[u64], resolution_us: u64) -> Histogram {
        let r = resolution_us.max(1);
        let mut m = std::collections::BTreeMap::new();
        for &s in samples {
            *m.entry(s / r * r).or_insert(0u64) += 1;
        }
        Histogram { buckets: m.into_iter().collect(), overflows: 0, max_us: samples.iter().copied().max().unwrap_or(0) }
    }

    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.1).sum::<u64>() + self.overflows
    }

    /// The latency below which a fraction `q` of the samples lie (overflows count at `max_us`).
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.total();
        if total == 0 {
            return 0;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for &(us, n) in &self.buckets {
            seen += n;
            if seen >= want {
                return us;
            }
        }
        self.max_us
    }

    /// Merge another histogram into this one.
    pub fn merge(&mut self, o: &Histogram) {
        let mut m: std::collections::BTreeMap<u64, u64> = self.buckets.iter().copied().collect();
        for &(us, n) in &o.buckets {
            *m.entry(us).or_insert(0) += n;
        }
        self.buckets = m.into_iter().collect();
        self.overflows += o.overflows;
        self.max_us = self.max_us.max(o.max_us);
    }
}

/// `cyclictest -q -h N` with one thread: the histogram lines ("000012 000345"), the overflow
/// count and the maximum.
pub fn cyclictest(out: &str) -> Result<Histogram> {
    let mut h = Histogram::default();
    let mut max = None;
    for l in out.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("# Histogram Overflows:") {
            h.overflows = rest.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
        } else if let Some(rest) = l.strip_prefix("# Max Latencies:") {
            max = rest.split_whitespace().next().and_then(|v| v.parse::<u64>().ok());
        } else if !l.starts_with('#') {
            let mut w = l.split_whitespace();
            if let (Some(a), Some(b), None) = (w.next(), w.next(), w.next()) {
                if let (Ok(us), Ok(n)) = (a.parse::<u64>(), b.parse::<u64>()) {
                    if n > 0 {
                        h.buckets.push((us, n));
                    }
                }
            }
        }
    }
    h.max_us = max.ok_or_else(|| anyhow!("cyclictest printed no '# Max Latencies:' line (was it run with -h?): {}", excerpt(out)))?;
    if h.total() == 0 {
        bail!("cyclictest recorded no samples: {}", excerpt(out));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_outputs() {
        let msg = "# Running 'sched/messaging' benchmark:\n# 20 sender and receiver processes per group\n\n     Total time: 1.234 [sec]\n";
        assert_eq!(perf_total_seconds(msg).unwrap(), 1.234);
        let pipe = "# Executed 20000 pipe operations between two processes\n\n     Total time: 2.500 [sec]\n\n      125.000 usecs/op\n        8000 ops/sec\n";
        assert_eq!(perf_usecs_per_op(pipe).unwrap(), 125.0);
        assert_eq!(perf_total_seconds(pipe).unwrap(), 2.5);
        let e = perf_total_seconds("perf: command not found").unwrap_err().to_string();
        assert!(e.contains("no 'Total time:'") && e.contains("command not found"), "{e}");
    }

    #[test]
    fn hackbench_output() {
        let out = "Running in process mode with 2 groups using 40 file descriptors each (== 80 tasks)\nEach sender will pass 100 messages of 100 bytes\nTime: 0.456\n";
        assert_eq!(hackbench_seconds(out).unwrap(), 0.456);
        assert!(hackbench_seconds("Time: soon").is_err());
    }

    #[test]
    fn cyclictest_histogram() {
        let out = "# /dev/cpu_dma_latency set to 0us\n# Histogram\n000000 000000\n000001 000005\n000002 000090\n000003 000004\n\
                   # Total: 000000100\n# Min Latencies: 00001\n# Avg Latencies: 00002\n# Max Latencies: 00250\n\
                   # Histogram Overflows: 00001\n# Histogram Overflow at cycle number:\n# Thread 0: 00042\n";
        let h = cyclictest(out).unwrap();
        assert_eq!(h.buckets, vec![(1, 5), (2, 90), (3, 4)]);
        assert_eq!((h.overflows, h.max_us, h.total()), (1, 250, 100));
        assert_eq!(h.quantile(0.5), 2);
        assert_eq!(h.quantile(0.99), 3);
        assert_eq!(h.quantile(1.0), 250); // the overflow
        assert!(cyclictest("T: 0 ( 12) P: 0").is_err());
    }

    #[test]
    fn pmqtest_json_gives_the_receivers_average_and_maximum() {
        // rt-tests 2.40's file, abridged: the sender's numbers must not be taken for the receiver's.
        let out = r#"{"file_version": 1, "num_threads": 1, "thread": {"0": {
            "sender": {"cpu": 1, "priority": 0, "samples": 2645, "interval": 1000},
            "receiver": {"cpu": 1, "priority": 0, "timeoutcount": 0, "min": 3, "avg": 23.24, "max": 4732}}}}"#;
        assert_eq!(pmqtest_json(out).unwrap(), (23.24, 4732.0));
        let e = pmqtest_json(r#"{"thread": {"0": {"sender": {"samples": 5}}}}"#).unwrap_err().to_string();
        assert!(e.contains("thread.0.receiver.avg"), "{e}");
        assert!(pmqtest_json("pmqtest: command not found").unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn histogram_from_samples_and_merge() {
        let mut a = Histogram::from_samples(&[5, 12, 17, 101], 10);
        assert_eq!(a.buckets, vec![(0, 1), (10, 2), (100, 1)]);
        assert_eq!(a.max_us, 101);
        a.merge(&Histogram::from_samples(&[13, 400], 10));
        assert_eq!(a.buckets, vec![(0, 1), (10, 3), (100, 1), (400, 1)]);
        assert_eq!(a.total(), 6);
        assert_eq!(a.max_us, 400);
    }
}
