//! Loading datasets for training: Parquet tables → feature rows, labels, runs and times, and
//! the reproducible train/test split.

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

/// Rows of one table, in file order.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    pub x: Vec<[f32; N_FEATURES]>,
    pub y: Vec<usize>,
    pub run: Vec<String>,
    pub ts: Vec<u64>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn push(&mut self, x: [f32; N_FEATURES], y: usize, run: &str, ts: u64) {
        self.x.push(x);
        self.y.push(y);
        self.run.push(run.to_string());
        self.ts.push(ts);
    }

    pub fn select(&self, idx: &[usize]) -> Rows {
        Rows {
            x: idx.iter().map(|&i| self.x[i]).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            run: idx.iter().map(|&i| self.run[i].clone()).collect(),
            ts: idx.iter().map(|&i| self.ts[i]).collect(),
        }
    }
}

fn f32_col<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Float32Chunked> {
    Ok(df.column(name)?.f32()?)
}

/// Load one table from every dataset folder; labels are computed by `label` from the frame.
pub fn load(datasets: &[PathBuf], table: Table, slice_rows: SliceRows) -> Result<Rows> {
    let mut rows = Rows::default();
    for dir in datasets {
        let path = dir.join(table.file());
        let df = dataset::read_table(&path, table)?;
        let feats: Vec<&Float32Chunked> = FEATURE_NAMES.iter().map(|n| f32_col(&df, n)).collect::<Result<_>>()?;
        let runs = df.column("run")?.str()?;
        let ts = df.column("ts_ns")?.u64()?;
        let (ran, vol, place) = match table {
            Table::Slice => (Some(df.column("ran_ns")?.u64()?), Some(df.column("voluntary")?.bool()?), None),
            Table::Placement => (None, None, Some(df.column("placement")?.u32()?)),
        };
        for i in 0..df.height() {
            let mut x = [0f32; N_FEATURES];
            for (k, c) in feats.iter().enumerate() {
                x[k] = c.get(i).with_context(|| format!("{}: null in column '{}' row {i}", path.display(), FEATURE_NAMES[k]))?;
                anyhow::ensure!(x[k].is_finite(), "{}: column '{}' row {i} is {}", path.display(), FEATURE_NAMES[k], x[k]);
            }
            let y = match table {
                Table::Slice => {
                    let voluntary = vol.unwrap().get(i).unwrap_or(false);
                    if slice_rows == SliceRows::Preempted && voluntary {
                        continue;
                    }
                    slice_class(ran.unwrap().get(i).unwrap_or(0))
                }
                Table::Placement => {
                    let c = place.unwrap().get(i).unwrap_or(0) as usize;
                    anyhow::ensure!(c < 4, "{}: column 'placement' row {i} is {c} (0..=3 expected)", path.display());
                    c
                }
            };
            rows.push(x, y, runs.get(i).unwrap_or(""), ts.get(i).unwrap_or(0));
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

/// Split by time within each run: each run's time span is cut into [`SPLIT_BLOCKS`] equal
/// blocks, and the blocks spread evenly through it (every k-th, `test_frac` of them) are the test
/// set. Test rows thus come from their own windows of seconds — never interleaved with training
/// rows, so never their near-duplicates — while covering every phase of a workload mix (a mix
/// runs its loads one after the other: a test set cut from the end would hold only the last
/// one). Then, if the training part has more than `max_train` rows, a seeded random subset.
pub fn split(rows: &Rows, test_frac: f64, max_train: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut spans: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for (r, &t) in rows.run.iter().zip(&rows.ts) {
        let e = spans.entry(r.as_str()).or_insert((t, t));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
    }
    let n_test_blocks = (SPLIT_BLOCKS as f64 * test_frac).round() as u64;
    // k of the B blocks, evenly spaced (for 4 of 20: blocks 4, 9, 14, 19).
    let is_test_block = |b: u64| (b + 1) * n_test_blocks / SPLIT_BLOCKS > b * n_test_blocks / SPLIT_BLOCKS;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for i in 0..rows.len() {
        let (lo, hi) = spans[rows.run[i].as_str()];
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
                rows.push([0.0; N_FEATURES], 0, run, 1_000_000 + t * 1000);
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
}
