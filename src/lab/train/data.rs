//! Loading datasets for training: Parquet tables → feature rows, labels, runs, phases and times,
//! and the reproducible train/test split.

use std::path::PathBuf;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::dataset::{self, Table};
use scx_mimic::features::{FEATURE_NAMES, N_FEATURES};
use scx_mimic::model::slice_class;

/// Which slice rows to learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SliceRows {
    /// Every stint (a blocked stint's length stands for the slice it needed).
    All,
    /// Only stints that ended by preemption: exactly the slices EEVDF gave.
    Preempted,
}

/// Which placement rows to learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementRows {
    /// Only wakeups where EEVDF had a choice: the task was not on a run queue and may run on
    /// more than one CPU.
    Choice,
    /// Every wakeup (a pinned or still-queued task "stays" where it is by necessity).
    All,
}

/// Rows of one table, in file order.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    pub x: Vec<[f32; N_FEATURES]>,
    pub y: Vec<usize>,
    pub run: Vec<String>,
    /// The workload phase (0: none recorded).
    pub phase: Vec<u32>,
    pub ts: Vec<u64>,
    /// Slice rows: the stint ended by blocking (false: EEVDF preempted it). Others: false.
    pub blocked: Vec<bool>,
    /// Slice rows: the stint's length, ns. Others: 0.
    pub stint_ns: Vec<u64>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(&mut self, x: [f32; N_FEATURES], y: usize, run: &str, phase: u32, ts: u64, blocked: bool, stint_ns: u64) {
        self.x.push(x);
        self.y.push(y);
        self.run.push(run.to_string());
        self.phase.push(phase);
        self.ts.push(ts);
        self.blocked.push(blocked);
        self.stint_ns.push(stint_ns);
    }

    pub fn select(&self, idx: &[usize]) -> Rows {
        Rows {
            x: idx.iter().map(|&i| self.x[i]).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            run: idx.iter().map(|&i| self.run[i].clone()).collect(),
            phase: idx.iter().map(|&i| self.phase[i]).collect(),
            ts: idx.iter().map(|&i| self.ts[i]).collect(),
            blocked: idx.iter().map(|&i| self.blocked[i]).collect(),
            stint_ns: idx.iter().map(|&i| self.stint_ns[i]).collect(),
        }
    }
}

fn f32_col<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Float32Chunked> {
    Ok(df.column(name)?.f32()?)
}

/// Load one table from every dataset folder, with its labels: the slice class (the budget that
/// covers the stint), the placement class, or preempted (1) or not (0).
pub fn load(datasets: &[PathBuf], table: Table, slice_rows: SliceRows, placement_rows: PlacementRows) -> Result<Rows> {
    let mut rows = Rows::default();
    for dir in datasets {
        let path = dir.join(table.file());
        let df = dataset::read_table(&path, table)?;
        let feats: Vec<&Float32Chunked> = FEATURE_NAMES.iter().map(|n| f32_col(&df, n)).collect::<Result<_>>()?;
        let runs = df.column("run")?.str()?;
        let ts = df.column("ts_ns")?.u64()?;
        let phases = df.column("phase")?.u32()?;
        let (ran, vol, place, choice, preempted) = match table {
            Table::Slice => (Some(df.column("ran_ns")?.u64()?), Some(df.column("voluntary")?.bool()?), None, None, None),
            Table::Placement => (None, None, Some(df.column("placement")?.u32()?), Some(df.column("had_choice")?.bool()?), None),
            Table::Preempt => (None, None, None, None, Some(df.column("preempted")?.bool()?)),
        };
        for i in 0..df.height() {
            let mut x = [0f32; N_FEATURES];
            for (k, c) in feats.iter().enumerate() {
                x[k] = c.get(i).with_context(|| format!("{}: null in column '{}' row {i}", path.display(), FEATURE_NAMES[k]))?;
                anyhow::ensure!(x[k].is_finite(), "{}: column '{}' row {i} is {}", path.display(), FEATURE_NAMES[k], x[k]);
            }
            let (mut blocked, mut stint_ns) = (false, 0);
            let y = match table {
                Table::Slice => {
                    blocked = vol.unwrap().get(i).unwrap_or(false);
                    if slice_rows == SliceRows::Preempted && blocked {
                        continue;
                    }
                    stint_ns = ran.unwrap().get(i).unwrap_or(0);
                    slice_class(stint_ns)
                }
                Table::Placement => {
                    if placement_rows == PlacementRows::Choice && !choice.unwrap().get(i).unwrap_or(false) {
                        continue;
                    }
                    let c = place.unwrap().get(i).unwrap_or(0) as usize;
                    anyhow::ensure!(c < 4, "{}: column 'placement' row {i} is {c} (0..=3 expected)", path.display());
                    c
                }
                Table::Preempt => usize::from(preempted.unwrap().get(i).unwrap_or(false)),
            };
            rows.push(x, y, runs.get(i).unwrap_or(""), phases.get(i).unwrap_or(0), ts.get(i).unwrap_or(0), blocked, stint_ns);
        }
    }
    Ok(rows)
}

/// A deterministic generator (splitmix64) for seeded subsampling.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Time blocks per run for the split.
pub const SPLIT_BLOCKS: u64 = 20;

/// Split by time within each phase of each run: each phase's time span is cut into
/// [`SPLIT_BLOCKS`] equal blocks, and the blocks spread evenly through it (every k-th,
/// `test_frac` of them) are the test set. Test rows thus come from their own windows of seconds —
/// never interleaved with training rows, so never their near-duplicates — and every phase of
/// every mix is in the test set in proportion (a mix runs its loads one after the other: a test
/// set cut from the end would hold only the last one, and blocks of the whole run could miss a
/// short phase). Then, if the training part has more than `max_train` rows, a seeded random
/// subset.
pub fn split(rows: &Rows, test_frac: f64, max_train: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut spans: std::collections::BTreeMap<(&str, u32), (u64, u64)> = Default::default();
    for ((r, &p), &t) in rows.run.iter().zip(&rows.phase).zip(&rows.ts) {
        let e = spans.entry((r.as_str(), p)).or_insert((t, t));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
    }
    let n_test_blocks = (SPLIT_BLOCKS as f64 * test_frac).round() as u64;
    // k of the B blocks, evenly spaced (for 4 of 20: blocks 4, 9, 14, 19).
    let is_test_block = |b: u64| (b + 1) * n_test_blocks / SPLIT_BLOCKS > b * n_test_blocks / SPLIT_BLOCKS;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for i in 0..rows.len() {
        let (lo, hi) = spans[&(rows.run[i].as_str(), rows.phase[i])];
        let width = ((hi - lo) / SPLIT_BLOCKS).max(1);
        let block = ((rows.ts[i] - lo) / width).min(SPLIT_BLOCKS - 1);
        if is_test_block(block) {
            test.push(i);
        } else {
            train.push(i);
        }
    }
    if train.len() > max_train {
        let mut rng = SplitMix(seed);
        for k in 0..max_train {
            let j = k + (rng.next() % (train.len() - k) as u64) as usize;
            train.swap(k, j);
        }
        train.truncate(max_train);
        train.sort_unstable();
    }
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_by_time_blocks_within_each_run_and_reproducible() {
        let mut rows = Rows::default();
        for run in ["a", "b"] {
            for t in 0..1000u64 {
                rows.push([0.0; N_FEATURES], 0, run, 0, 1_000_000 + t * 1000, false, 0);
            }
        }
        let (train, test) = split(&rows, 0.2, usize::MAX, 1);
        assert_eq!(train.len() + test.len(), 2000);
        assert!((390..=410).contains(&test.len()), "about 20% test rows, got {}", test.len());
        // Test rows form whole blocks spread over the run: 4 windows per run, not one at the end.
        let test_blocks: std::collections::BTreeSet<u64> = test.iter().map(|&i| ((rows.ts[i] - 1_000_000) / 49_950).min(19)).collect();
        assert_eq!(test_blocks.len(), 4, "{test_blocks:?}");
        assert!(test_blocks.iter().next().unwrap() < &10, "a test window in the first half");
        let (none_train, none_test) = split(&rows, 0.0, usize::MAX, 1);
        assert_eq!((none_train.len(), none_test.len()), (2000, 0));
        let (a, _) = split(&rows, 0.2, 50, 7);
        let (b, _) = split(&rows, 0.2, 50, 7);
        let (c, _) = split(&rows, 0.2, 50, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 50);
    }

    #[test]
    fn every_phase_is_in_the_test_set() {
        // A long phase and a short one: blocks of the whole run would put the short phase (3% of
        // the run) in one block, train or test by chance; per phase, it is in both.
        let mut rows = Rows::default();
        for t in 0..970u64 {
            rows.push([0.0; N_FEATURES], 0, "a", 1, t * 1000, false, 0);
        }
        for t in 970..1000u64 {
            rows.push([0.0; N_FEATURES], 1, "a", 2, t * 1000, false, 0);
        }
        let (train, test) = split(&rows, 0.2, usize::MAX, 1);
        for phase in [1, 2] {
            let n_test = test.iter().filter(|&&i| rows.phase[i] == phase).count();
            let n_train = train.iter().filter(|&&i| rows.phase[i] == phase).count();
            assert!(n_test > 0 && n_train > n_test, "phase {phase}: {n_train} train, {n_test} test");
        }
    }
}
