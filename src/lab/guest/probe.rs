//! A wakeup-latency probe: a thread that sleeps for a fixed period again and again and records
//! how late it woke up. It is an ordinary task, scheduled by whatever scheduler is in charge, so
//! its worst lateness says how responsive the guest stayed (cyclictest's idea, without needing
//! real-time priority).
//!
//! A probe that sleeps again only after it woke up would record a 1 s stall as *one* late
//! sample, and the 199 wakeups that should have happened meanwhile would vanish (coordinated
//! omission). So every late wakeup also stands for the wakeups it made the probe miss: a
//! lateness L adds L − P, L − 2P, … (each > 0) for period P, as HdrHistogram's
//! expected-interval correction does.

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
    /// Samples, the missed wakeups included.
    pub samples: usize,
    /// Of those, wakeups the probe missed because it was late (coordinated-omission correction).
    #[serde(default)]
    pub missed: usize,
    pub period_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// The samples with the wakeups each late one made the probe miss (see the module comment).
pub fn with_missed_wakeups(lateness_us: &[u64], period_us: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(lateness_us.len());
    for &late in lateness_us {
        out.push(late);
        let mut missed = late;
        while period_us > 0 && missed > period_us {
            missed -= period_us;
            out.push(missed);
        }
    }
    out
}

impl ProbeStats {
    /// Summarize raw lateness samples (µs), adding the wakeups they made the probe miss.
    pub fn from_raw(raw_us: &[u64]) -> ProbeStats {
        let all = with_missed_wakeups(raw_us, PERIOD.as_micros() as u64);
        let missed = all.len() - raw_us.len();
        ProbeStats { missed, ..ProbeStats::from_samples(all) }
    }

    /// Summarize lateness samples (µs), as they are.
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
            missed: 0,
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
        ProbeStats::from_raw(&self.stop_raw())
    }

    /// Stop and return every lateness sample, µs, the missed wakeups included.
    pub fn stop_samples(self) -> Vec<u64> {
        with_missed_wakeups(&self.stop_raw(), PERIOD.as_micros() as u64)
    }

    fn stop_raw(self) -> Vec<u64> {
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
    fn a_stall_weighs_what_it_cost() {
        // 99 punctual wakeups and one 1 s stall: uncorrected, the stall is 1% of the samples and
        // p99 looks fine; corrected, it stands for the 199 wakeups that did not happen.
        let mut raw = vec![10; 99];
        raw.push(1_000_000);
        let naive = ProbeStats::from_samples(raw.clone());
        assert_eq!(naive.p99_us, 10, "{naive:?}");
        let s = ProbeStats::from_raw(&raw);
        assert_eq!((s.samples, s.missed, s.max_us), (299, 199, 1_000_000));
        assert!(s.p50_us >= 5_000 && s.p99_us >= 980_000, "{s:?}");
        assert_eq!(with_missed_wakeups(&[4_999, 5_000, 5_001, 12_000], 5_000), [4_999, 5_000, 5_001, 1, 12_000, 7_000, 2_000]);
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
