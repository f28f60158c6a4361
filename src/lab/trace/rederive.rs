//! `mimic rederive`: derive a dataset's decision tables again from its recorded events.
//!
//! A dataset keeps the tracer's raw events (`events.parquet`); the slice, placement and
//! preemption tables are what the feature contract (`scx_mimic::replay`) made of them. When the
//! contract changes — a feature added or redefined — the tables are derived again from the same
//! events, on the host, without recording anew: the decisions are still EEVDF's, only what is
//! computed from them changes. `meta.json` keeps everything the recording said and gets the new
//! row counts, plus when and with how many features the tables were derived.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use polars::prelude::DataFrame;

use crate::dataset::{self, ParquetStream, EVENTS_FILE};
use crate::util::{now_rfc3339, write_atomic};
use scx_mimic::features::N_FEATURES;
use scx_mimic::replay::{Replayer, TraceEvent};

/// Events replayed between two writes of the rows made meanwhile.
const BATCH: usize = 1 << 16;

/// How many rows of each kind a replay made (what meta.json carries, by these names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RowCounts {
    pub slice_rows: usize,
    pub placement_rows: usize,
    /// Placement rows where EEVDF had a choice (task not on a run queue, more than one CPU).
    pub placement_rows_with_choice: usize,
    pub preempt_rows: usize,
    /// Of the preemption rows, those where EEVDF preempted.
    pub preempted: usize,
    /// Wakeups onto a busy CPU left without a label: the CPU's next switch was not from the task
    /// seen running at the wakeup, or the trace ended first.
    pub preempt_unresolved: u64,
}

/// A dataset's three tables (and, for a recording, its raw events), written as the replay makes
/// their rows: memory holds a batch, not the trace.
struct Tables {
    run: String,
    slice: ParquetStream,
    placement: ParquetStream,
    preempt: ParquetStream,
    events: Option<(ParquetStream, Vec<TraceEvent>)>,
    counts: RowCounts,
}

impl Tables {
    fn create(out: &Path, run: &str, keep_events: bool) -> Result<Tables> {
        let stream = |file: &str, df: DataFrame| ParquetStream::create(&out.join(file), df.schema());
        Ok(Tables {
            run: run.to_string(),
            slice: stream(dataset::SLICE_FILE, dataset::slice_frame(run, &[])?)?,
            placement: stream(dataset::PLACEMENT_FILE, dataset::placement_frame(run, &[])?)?,
            preempt: stream(dataset::PREEMPT_FILE, dataset::preempt_frame(run, &[])?)?,
            events: match keep_events {
                true => Some((stream(EVENTS_FILE, dataset::events_frame(&[])?)?, Vec::with_capacity(BATCH))),
                false => None,
            },
            counts: RowCounts::default(),
        })
    }

    /// Write the rows the replayer made since the last call (and the events kept), and forget them.
    fn flush(&mut self, r: &mut Replayer) -> Result<()> {
        let c = &mut self.counts;
        c.slice_rows += r.slices.len();
        c.placement_rows += r.placements.len();
        c.placement_rows_with_choice += r.placements.iter().filter(|p| p.had_choice).count();
        c.preempt_rows += r.preempts.len();
        c.preempted += r.preempts.iter().filter(|p| p.preempted).count();
        self.slice.write(&mut dataset::slice_frame(&self.run, &std::mem::take(&mut r.slices))?)?;
        self.placement.write(&mut dataset::placement_frame(&self.run, &std::mem::take(&mut r.placements))?)?;
        self.preempt.write(&mut dataset::preempt_frame(&self.run, &std::mem::take(&mut r.preempts))?)?;
        if let Some((stream, evs)) = self.events.as_mut() {
            stream.write(&mut dataset::events_frame(evs)?)?;
            evs.clear();
        }
        Ok(())
    }
}

/// Replay `events` (in time order, recorded on `nr_cpus` CPUs) through the feature contract and
/// write the dataset's tables into `out` as the rows come — with `keep_events`, `events.parquet`
/// too. Every file goes through a temp file and a rename; all are complete before the first
/// rename, so an error while writing leaves none renamed.
pub fn derive(events: impl Iterator<Item = Result<TraceEvent>>, nr_cpus: u32, out: &Path, run: &str, keep_events: bool) -> Result<RowCounts> {
    let mut r = Replayer::new(nr_cpus);
    let mut t = Tables::create(out, run, keep_events)?;
    for (i, ev) in events.enumerate() {
        let ev = ev?;
        r.push(&ev);
        if let Some((_, evs)) = t.events.as_mut() {
            evs.push(ev);
        }
        if i % BATCH == BATCH - 1 {
            t.flush(&mut r)?;
            // A sign of life for a long trace (a guest's console watchdog wants one).
            if (i + 1) % (BATCH * 4) == 0 {
                log::info!("replayed {} events", i + 1);
            }
        }
    }
    t.flush(&mut r)?;
    t.counts.preempt_unresolved = r.preempt_unresolved + r.preempt_pending() as u64;
    // Every file complete before any is renamed: an error leaves the dataset as it was.
    let Tables { slice, placement, preempt, events, counts, .. } = t;
    let mut sealed = vec![slice.seal()?, placement.seal()?, preempt.seal()?];
    if let Some((stream, _)) = events {
        sealed.push(stream.seal()?);
    }
    for s in sealed {
        s.commit()?;
    }
    Ok(counts)
}

/// Derive one dataset's tables again; returns its updated meta.json.
pub fn rederive_dataset(dir: &Path) -> Result<Value> {
    let (meta_path, mut meta) = dataset::read_meta(dir)?;
    let run = meta["run"].as_str().filter(|r| !r.is_empty())
        .with_context(|| format!("{}: field 'run' missing", meta_path.display()))?.to_string();
    let cpus = meta["cpus"].as_u64().filter(|&c| c > 0 && c <= u32::MAX as u64)
        .with_context(|| format!("{}: field 'cpus' missing or not a CPU count", meta_path.display()))?;
    let events_path = dir.join(EVENTS_FILE);
    if !events_path.exists() {
        anyhow::bail!("{}: missing (recorded before raw events were kept): record this dataset again", events_path.display());
    }
    let events = dataset::read_events_in_replay_order(dir)?;
    let counts = derive(events.into_iter().map(Ok), cpus as u32, dir, &run, false)?;
    let obj = meta.as_object_mut().with_context(|| format!("{}: not a JSON object", meta_path.display()))?;
    if let Value::Object(fields) = serde_json::to_value(counts)? {
        obj.extend(fields);
    }
    obj.insert("rederived".into(), json!({ "date": now_rfc3339(), "features": N_FEATURES }));
    write_atomic(&meta_path, &serde_json::to_vec_pretty(&meta)?)?;
    Ok(meta)
}

#[derive(Debug, clap::Args)]
pub struct RederiveArgs {
    /// Dataset folders (with events.parquet and meta.json), or folders of them.
    #[arg(required = true)]
    pub datasets: Vec<PathBuf>,
}

impl RederiveArgs {
    pub fn run(self) -> Result<()> {
        for dir in dataset::find_datasets(&self.datasets)? {
            let m = rederive_dataset(&dir)?;
            println!("{}: {} slice rows, {} placement rows ({} with a choice), {} preemption rows ({} preempted)",
                     dir.display(), m["slice_rows"], m["placement_rows"], m["placement_rows_with_choice"],
                     m["preempt_rows"], m["preempted"]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scx_mimic::replay::EventKind;
    use scx_mimic::task::Task;
    use crate::dataset::META_FILE;

    fn ev(ts_ns: u64, kind: EventKind, pid: i32, voluntary: bool) -> TraceEvent {
        TraceEvent { ts_ns, kind, pid, cpu: 0, prev_cpu: 0, waker_cpu: 0, voluntary, ran_ns: 50_000, chosen_idle: true,
                     next_pid: 0, curr_pid: 0, queued: false, resched: false, nice: 0, nr_cpus_allowed: 2,
                     comm: Task::comm_from("t") }
    }

    #[test]
    fn tables_are_derived_again_and_meta_keeps_the_recording() {
        let dir = std::env::temp_dir().join(format!("mimic-rederive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Two wakeups of one task, each followed by a stint that ends by blocking.
        let events = vec![ev(1_000, EventKind::Wakeup, 5, false), ev(60_000, EventKind::Stop, 5, true),
                          ev(100_000, EventKind::Wakeup, 5, false), ev(160_000, EventKind::Stop, 5, true)];
        dataset::write_parquet(&mut dataset::events_frame(&events).unwrap(), &dir.join(EVENTS_FILE)).unwrap();
        std::fs::write(dir.join(META_FILE), r#"{"run": "r1", "kernel": "k", "cpus": 2, "slice_rows": 99, "dropped": 0}"#).unwrap();
        let m = rederive_dataset(&dir).unwrap();
        assert_eq!(m["slice_rows"], 2);
        assert_eq!(m["placement_rows_with_choice"], 2);
        assert_eq!(m["kernel"], "k", "what the recording said is kept");
        assert_eq!(m["rederived"]["features"], N_FEATURES);
        let placement = dataset::read_table(&dir.join(dataset::PLACEMENT_FILE), dataset::Table::Placement).unwrap();
        assert_eq!(placement.height(), 2);
        // Woken on its previous CPU by a task there, allowed on two CPUs: the new feature says so.
        let col = placement.column("prev_is_waker_cpu").unwrap().f32().unwrap().to_vec();
        assert_eq!(col, vec![Some(1.0), Some(1.0)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dataset_without_events_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("mimic-rederive-none-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(META_FILE), r#"{"run": "r1", "cpus": 2}"#).unwrap();
        let e = format!("{:#}", rederive_dataset(&dir).unwrap_err());
        assert!(e.contains("events.parquet") && e.contains("missing"), "{e}");
        std::fs::write(dir.join(META_FILE), r#"{"run": "r1"}"#).unwrap();
        let e = format!("{:#}", rederive_dataset(&dir).unwrap_err());
        assert!(e.contains("meta.json") && e.contains("'cpus'"), "{e}");
        std::fs::write(dir.join(META_FILE), r#"{"kernel": "k"}"#).unwrap();
        let e = format!("{:#}", rederive_dataset(&dir).unwrap_err());
        assert!(e.contains("meta.json") && e.contains("'run'"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
