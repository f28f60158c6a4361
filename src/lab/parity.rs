//! `mimic parity`: replay each dataset's recorded events through the tracer's and the
//! scheduler's feature paths (`scx_mimic::parity`) and report the mismatch per feature; the
//! result goes to `<dataset>/parity.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::dataset::{self, EVENTS_FILE, META_FILE};
use crate::util::write_atomic;
use scx_mimic::parity::{measure, Parity};

/// The most a feature may disagree between the two paths (share of compared decisions).
pub const MAX_MISMATCH: f64 = 0.01;

/// Measure one dataset (its `events.parquet`, its CPU count from `meta.json`).
pub fn measure_dataset(dir: &Path) -> Result<Parity> {
    let events = dataset::read_events(&dir.join(EVENTS_FILE))?;
    let meta_path = dir.join(META_FILE);
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&meta_path)
        .with_context(|| format!("{}: cannot read", meta_path.display()))?)
        .with_context(|| format!("{}: not JSON", meta_path.display()))?;
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
                println!("  {:<16} {:>7} of {:>7} disagree ({:>5.1}%)  mean: tracer {:>10.2}, scheduler {:>10.2}{}", f.feature,
                         f.mismatched, f.compared, f.share * 100.0, f.mean_tracer, f.mean_scheduler, if bad { "  > 1%" } else { "" });
            }
            write_atomic(&dir.join("parity.json"), &serde_json::to_vec_pretty(&p)?)?;
        }
        Ok(ok)
    }
}
