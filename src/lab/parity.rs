//! `mimic parity`: replay each dataset's recorded events through the tracer's and the
//! scheduler's feature paths (`scx_mimic::parity`) and report the mismatch per feature; the
//! result goes to `<dataset>/parity.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::dataset::{self, EVENTS_FILE};
use crate::util::write_atomic;
use scx_mimic::parity::{measure, Parity};

/// The most a feature may disagree between the two paths (share of compared decisions).
pub const MAX_MISMATCH: f64 = 0.01;

/// Measure one dataset (its `events.parquet`, its CPU count from `meta.json`).
pub fn measure_dataset(dir: &Path) -> Result<Parity> {
    let events = dataset::read_events_in_replay_order(dir)?;
    let (meta_path, meta) = dataset::read_meta(dir)?;
    let cpus = meta["cpus"].as_u64().filter(|&c| c > 0).with_context(|| format!("{}: field 'cpus' missing", meta_path.display()))?;
    Ok(measure(&events, cpus as usize))
}

#[derive(Debug, clap::Args)]
pub struct ParityArgs {
    /// Dataset folders (with events.parquet), or folders of them.
    #[arg(default_values = ["datasets"])]
    pub datasets: Vec<PathBuf>,
}

impl ParityArgs {
    /// Exits non-zero if a feature disagrees on more than 1% of the compared decisions.
    pub fn run(self) -> Result<bool> {
        let mut ok = true;
        for dir in dataset::find_datasets(&self.datasets)? {
            if !dir.join(EVENTS_FILE).exists() {
                println!("{}: no {EVENTS_FILE} (recorded before raw events were kept): skipped", dir.display());
                continue;
            }
            let p = measure_dataset(&dir)?;
            println!("{}: {} decisions, {} compared", dir.display(), p.decisions, p.compared);
            for f in &p.features {
                let bad = f.share > MAX_MISMATCH;
                ok &= !bad;
                println!("  {:<16} {:>7} of {:>7} disagree ({:>5.1}%; by more than 1: {:>6})  mean: tracer {:>10.2}, scheduler {:>10.2}{}",
                         f.feature, f.mismatched, f.compared, f.share * 100.0, f.beyond_one, f.mean_tracer, f.mean_scheduler,
                         if bad { "  > 1%" } else { "" });
            }
            write_atomic(&dir.join("parity.json"), &serde_json::to_vec_pretty(&p)?)?;
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped traces, replayed through both feature paths: every feature agrees on all but
    /// at most 1% of the decisions.
    #[test]
    fn shipped_traces_have_feature_parity() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        let mut measured = 0;
        for dir in dataset::find_datasets(&[root]).expect("shipped datasets") {
            if !dir.join(EVENTS_FILE).exists() {
                continue;
            }
            let p = measure_dataset(&dir).unwrap();
            assert!(p.compared > 1000, "{}: only {} decisions compared", dir.display(), p.compared);
            for f in &p.features {
                assert!(f.share <= MAX_MISMATCH, "{}: {} disagrees on {:.2}% of {} decisions",
                        dir.display(), f.feature, f.share * 100.0, f.compared);
            }
            measured += 1;
        }
        assert!(measured >= 1, "no shipped dataset has events.parquet");
    }
}
