//! A wakeup-latency probe: a thread that sleeps for a fixed period again and again and records
//! how late it woke up. It is an ordinary task, scheduled by whatever scheduler is in charge, so
//! its worst lateness says how responsive the guest stayed (cyclictest's idea, without needing
//! real-time priority).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long the probe sleeps each round.
pub const PERIOD: Duration = Duration::from_millis(5);

/// The probe's findings: lateness beyond the requested sleep, µs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeStats {
    pub samples: usize,
    pub period_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl ProbeStats {
    /// Summarize lateness samples (µs).
    pub fn from_samples(mut lateness_us: Vec<u64>) -> ProbeStats {
        lateness_us.sort_unstable();
        let q = |p: f64| -> u64 {
            if lateness_us.is_empty() {
                return 0;
            }
            let i = ((lateness_us.len() - 1) as f64 * p).round() as usize;
            lateness_us[i]
        };
        ProbeStats {
            samples: lateness_us.len(),
            period_us: PERIOD.as_micros() as u64,
            p50_us: q(0.5),
            p99_us: q(0.99),
            max_us: lateness_us.last().copied().unwrap_or(0),
        }
    }
}

/// A running probe; `stop` ends it and returns what it saw.
pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u64>>,
}

impl Probe {
    pub fn start() -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("latency-probe".into())
            .spawn(move || {
                let mut v = Vec::with_capacity(16_384);
                while !flag.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    std::thread::sleep(PERIOD);
                    let late = t.elapsed().saturating_sub(PERIOD);
                    v.push(late.as_micros() as u64);
                }
                v
            })
            .expect("spawn the latency probe thread");
        Probe { stop, handle }
    }

    pub fn stop(self) -> ProbeStats {
        ProbeStats::from_samples(self.stop_samples())
    }

    /// Stop and return every lateness sample, µs, in the order taken.
    pub fn stop_samples(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_known_samples() {
        let s = ProbeStats::from_samples((1..=100).rev().collect());
        assert_eq!((s.samples, s.p50_us, s.p99_us, s.max_us), (100, 51, 99, 100));
        assert_eq!(ProbeStats::from_samples(vec![]).max_us, 0);
    }

    #[test]
    fn the_probe_measures_real_sleeps() {
        let p = Probe::start();
        std::thread::sleep(Duration::from_millis(60));
        let s = p.stop();
        // 60 ms of 5 ms sleeps: a handful of samples, each at least 0 late, none absurd.
        assert!(s.samples >= 3 && s.samples <= 13, "{s:?}");
        assert!(s.max_us >= s.p99_us && s.p99_us >= s.p50_us);
    }
}
