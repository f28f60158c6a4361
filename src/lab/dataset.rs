//! Datasets on disk: the Parquet files `mimic trace` writes and `mimic train` reads.
//!
//! A dataset is a folder with `slice.parquet`, `placement.parquet`, `preempt.parquet` and
//! `meta.json`; the schema
//! is documented in datasets/README.md. Every feature column is named after
//! `scx_mimic::features::FEATURE_NAMES`. Writes go to a temp file and are renamed into place;
//! reads check every expected column and its type and name the file and column on error.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use polars::prelude::*;

use scx_mimic::features::{FEATURE_NAMES, N_FEATURES};
use scx_mimic::replay::{EventKind, PlacementRow, PreemptRow, SliceRow, TraceEvent};
use scx_mimic::task::TASK_COMM_LEN;

pub const SLICE_FILE: &str = "slice.parquet";
pub const PLACEMENT_FILE: &str = "placement.parquet";
pub const PREEMPT_FILE: &str = "preempt.parquet";
/// The tracer's raw events, in time order (what every table above was replayed from).
pub const EVENTS_FILE: &str = "events.parquet";
pub const META_FILE: &str = "meta.json";

/// Columns every table has besides the features: (name, type).
pub const COMMON_COLUMNS: [(&str, DataType); 5] = [
    ("run", DataType::String),
    ("ts_ns", DataType::UInt64),
    ("phase", DataType::UInt32),
    ("pid", DataType::Int32),
    ("comm", DataType::String),
];
/// Label columns of slice.parquet.
pub const SLICE_LABELS: [(&str, DataType); 2] = [("ran_ns", DataType::UInt64), ("voluntary", DataType::Boolean)];
/// Label columns of placement.parquet.
pub const PLACEMENT_LABELS: [(&str, DataType); 6] = [
    ("prev_cpu", DataType::Int32),
    ("waker_cpu", DataType::Int32),
    ("chosen_cpu", DataType::Int32),
    ("chosen_idle", DataType::Boolean),
    ("placement", DataType::UInt32),
    ("had_choice", DataType::Boolean),
];
/// Label columns of preempt.parquet.
pub const PREEMPT_LABELS: [(&str, DataType); 3] =
    [("cpu", DataType::Int32), ("curr_pid", DataType::Int32), ("preempted", DataType::Boolean)];

fn comm_str(c: &[u8; TASK_COMM_LEN]) -> String {
    let end = c.iter().position(|&b| b == 0).unwrap_or(TASK_COMM_LEN);
    String::from_utf8_lossy(&c[..end]).into_owned()
}

fn feature_columns<'a>(n: usize, feats: impl Fn(usize) -> &'a [f32; N_FEATURES]) -> Vec<Column> {
    (0..N_FEATURES)
        .map(|k| Column::new(FEATURE_NAMES[k].into(), (0..n).map(|i| feats(i)[k]).collect::<Vec<f32>>()))
        .collect()
}

/// The columns every table starts with: run, ts_ns, phase, pid, comm, then the features.
fn leading_columns<'a>(run: &str, n: usize, key: impl Fn(usize) -> (u64, u32, i32, &'a [u8; TASK_COMM_LEN]),
                       feats: impl Fn(usize) -> &'a [f32; N_FEATURES]) -> Vec<Column> {
    let mut cols = vec![
        Column::new("run".into(), vec![run; n]),
        Column::new("ts_ns".into(), (0..n).map(|i| key(i).0).collect::<Vec<u64>>()),
        Column::new("phase".into(), (0..n).map(|i| key(i).1).collect::<Vec<u32>>()),
        Column::new("pid".into(), (0..n).map(|i| key(i).2).collect::<Vec<i32>>()),
        Column::new("comm".into(), (0..n).map(|i| comm_str(key(i).3)).collect::<Vec<String>>()),
    ];
    cols.extend(feature_columns(n, feats));
    cols
}

pub fn slice_frame(run: &str, rows: &[SliceRow]) -> Result<DataFrame> {
    let n = rows.len();
    let mut cols = leading_columns(run, n, |i| (rows[i].ts_ns, rows[i].phase, rows[i].pid, &rows[i].comm), |i| &rows[i].features);
    cols.push(Column::new("ran_ns".into(), rows.iter().map(|r| r.ran_ns).collect::<Vec<u64>>()));
    cols.push(Column::new("voluntary".into(), rows.iter().map(|r| r.voluntary).collect::<Vec<bool>>()));
    Ok(DataFrame::new(n, cols)?)
}

pub fn placement_frame(run: &str, rows: &[PlacementRow]) -> Result<DataFrame> {
    let n = rows.len();
    let mut cols = leading_columns(run, n, |i| (rows[i].ts_ns, rows[i].phase, rows[i].pid, &rows[i].comm), |i| &rows[i].features);
    cols.push(Column::new("prev_cpu".into(), rows.iter().map(|r| r.prev_cpu).collect::<Vec<i32>>()));
    cols.push(Column::new("waker_cpu".into(), rows.iter().map(|r| r.waker_cpu).collect::<Vec<i32>>()));
    cols.push(Column::new("chosen_cpu".into(), rows.iter().map(|r| r.chosen_cpu).collect::<Vec<i32>>()));
    cols.push(Column::new("chosen_idle".into(), rows.iter().map(|r| r.chosen_idle).collect::<Vec<bool>>()));
    cols.push(Column::new("placement".into(), rows.iter().map(|r| r.class as u32).collect::<Vec<u32>>()));
    cols.push(Column::new("had_choice".into(), rows.iter().map(|r| r.had_choice).collect::<Vec<bool>>()));
    Ok(DataFrame::new(n, cols)?)
}

pub fn preempt_frame(run: &str, rows: &[PreemptRow]) -> Result<DataFrame> {
    let n = rows.len();
    let mut cols = leading_columns(run, n, |i| (rows[i].ts_ns, rows[i].phase, rows[i].pid, &rows[i].comm), |i| &rows[i].features);
    cols.push(Column::new("cpu".into(), rows.iter().map(|r| r.cpu).collect::<Vec<i32>>()));
    cols.push(Column::new("curr_pid".into(), rows.iter().map(|r| r.curr_pid).collect::<Vec<i32>>()));
    cols.push(Column::new("preempted".into(), rows.iter().map(|r| r.preempted).collect::<Vec<bool>>()));
    Ok(DataFrame::new(n, cols)?)
}

/// The `kind` column's code of each event kind (written and read by this one table).
const KIND_CODES: [(EventKind, u32); 4] =
    [(EventKind::Stop, 1), (EventKind::Wakeup, 2), (EventKind::WakeupNew, 3), (EventKind::Exit, 4)];

/// The code an event kind is stored as (events.parquet, the tracer's spill files).
pub fn kind_code(k: EventKind) -> u32 {
    KIND_CODES.iter().find(|(kind, _)| *kind == k).map_or(0, |&(_, c)| c)
}

/// The event kind a stored code stands for (None: not a kind).
pub fn kind_of(code: u32) -> Option<EventKind> {
    KIND_CODES.iter().find(|(_, c)| *c == code).map(|&(k, _)| k)
}

/// The raw events as a frame: one column per `TraceEvent` field (`kind`: 1 stop, 2 wakeup, 3
/// new task's wakeup, 4 exit). Recordings made while the tracer still scanned the run queues
/// also carry its `nr_runnable`, `idle_cpus` and `prev_cpu_idle` columns, no longer read.
pub fn events_frame(events: &[TraceEvent]) -> Result<DataFrame> {
    let n = events.len();
    macro_rules! col {
        ($name:expr, $f:expr) => {
            Column::new($name.into(), events.iter().map($f).collect::<Vec<_>>())
        };
    }
    let cols = vec![
        col!("ts_ns", |e: &TraceEvent| e.ts_ns),
        col!("kind", |e: &TraceEvent| kind_code(e.kind)),
        col!("pid", |e: &TraceEvent| e.pid),
        col!("cpu", |e: &TraceEvent| e.cpu),
        col!("prev_cpu", |e: &TraceEvent| e.prev_cpu),
        col!("waker_cpu", |e: &TraceEvent| e.waker_cpu),
        col!("voluntary", |e: &TraceEvent| e.voluntary),
        col!("ran_ns", |e: &TraceEvent| e.ran_ns),
        col!("chosen_idle", |e: &TraceEvent| e.chosen_idle),
        col!("next_pid", |e: &TraceEvent| e.next_pid),
        col!("curr_pid", |e: &TraceEvent| e.curr_pid),
        col!("queued", |e: &TraceEvent| e.queued),
        col!("resched", |e: &TraceEvent| e.resched),
        col!("nice", |e: &TraceEvent| e.nice),
        col!("nr_cpus_allowed", |e: &TraceEvent| e.nr_cpus_allowed),
        Column::new("comm".into(), events.iter().map(|e| comm_str(&e.comm)).collect::<Vec<String>>()),
    ];
    Ok(DataFrame::new(n, cols)?)
}

/// A dataset's `meta.json`: its path (for messages) and its contents; errors name the file.
pub fn read_meta(dir: &Path) -> Result<(std::path::PathBuf, serde_json::Value)> {
    let path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let meta = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    Ok((path, meta))
}

/// A dataset's raw events, in the order the replay uses (a dataset recorded before a change of
/// that order keeps its file order, so the order is made here, not trusted).
pub fn read_events_in_replay_order(dir: &Path) -> Result<Vec<TraceEvent>> {
    let mut events = read_events(&dir.join(EVENTS_FILE))?;
    crate::trace::sort_by_time(&mut events);
    Ok(events)
}

/// Read the raw events back; errors name the file and the column.
pub fn read_events(path: &Path) -> Result<Vec<TraceEvent>> {
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let df = ParquetReader::new(f).finish().map_err(anyhow::Error::from)
        .with_context(|| format!("{}: not a readable Parquet file (truncated or corrupt?)", path.display()))?;
    // A null would otherwise read as 0 (a pid, a CPU): refuse it, naming the column.
    if let Some(c) = df.columns().iter().find(|c| c.null_count() > 0) {
        bail!("{}: column '{}' has {} null value(s)", path.display(), c.name(), c.null_count());
    }
    let ctx = |c: &str| format!("{}: column '{c}'", path.display());
    let u64c = |c: &str| anyhow::Context::with_context(df.column(c).and_then(|x| x.u64().cloned()), || ctx(c));
    let u32c = |c: &str| anyhow::Context::with_context(df.column(c).and_then(|x| x.u32().cloned()), || ctx(c));
    let i32c = |c: &str| anyhow::Context::with_context(df.column(c).and_then(|x| x.i32().cloned()), || ctx(c));
    let boolc = |c: &str| anyhow::Context::with_context(df.column(c).and_then(|x| x.bool().cloned()), || ctx(c));
    let (ts, kind, pid, cpu, prev, waker) = (u64c("ts_ns")?, u32c("kind")?, i32c("pid")?, i32c("cpu")?, i32c("prev_cpu")?, i32c("waker_cpu")?);
    let (vol, ran, idle, next, curr, queued, resched) =
        (boolc("voluntary")?, u64c("ran_ns")?, boolc("chosen_idle")?, i32c("next_pid")?, i32c("curr_pid")?, boolc("queued")?, boolc("resched")?);
    let (nice, allowed) = (i32c("nice")?, u32c("nr_cpus_allowed")?);
    let comm = anyhow::Context::with_context(df.column("comm").and_then(|x| x.str().cloned()), || ctx("comm"))?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let code = kind.get(i);
        let Some(kind) = code.and_then(kind_of) else {
            bail!("{}: row {i}: column 'kind' is {code:?} (1..=4 expected)", path.display())
        };
        out.push(TraceEvent {
            ts_ns: ts.get(i).unwrap_or(0), kind, pid: pid.get(i).unwrap_or(0), cpu: cpu.get(i).unwrap_or(0),
            prev_cpu: prev.get(i).unwrap_or(0), waker_cpu: waker.get(i).unwrap_or(0), voluntary: vol.get(i).unwrap_or(false),
            ran_ns: ran.get(i).unwrap_or(0), chosen_idle: idle.get(i).unwrap_or(false), next_pid: next.get(i).unwrap_or(0),
            curr_pid: curr.get(i).unwrap_or(0), queued: queued.get(i).unwrap_or(false), resched: resched.get(i).unwrap_or(false),
            nice: nice.get(i).unwrap_or(0), nr_cpus_allowed: allowed.get(i).unwrap_or(0),
            comm: scx_mimic::task::Task::comm_from(comm.get(i).unwrap_or("")),
        });
    }
    Ok(out)
}

/// Write a frame as zstd-compressed Parquet, atomically (temp file in the same folder, fsync,
/// rename): an interrupted write never leaves a half file under the final name.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut s = ParquetStream::create(path, df.schema())?;
    s.write(df)?;
    s.finish()
}

/// A zstd-compressed Parquet file written in batches as they come (one row group or more each),
/// so a long trace's tables never have to be in memory at once. It goes to a temp file in the
/// same folder, which `finish` syncs and renames into place; one never finished is removed.
pub struct ParquetStream {
    path: PathBuf,
    tmp: PathBuf,
    file: SharedFile,
    writer: polars::io::parquet::write::BatchedWriter<SharedFile>,
    finished: bool,
}

/// The temp file behind a large buffer — the Parquet writer makes many small writes, each a round
/// trip on a guest's 9p folder — shared with that writer so that `finish` can flush and sync it.
#[derive(Clone)]
struct SharedFile(std::sync::Arc<std::sync::Mutex<std::io::BufWriter<File>>>);

impl SharedFile {
    fn with<T>(&self, f: impl FnOnce(&mut std::io::BufWriter<File>) -> std::io::Result<T>) -> std::io::Result<T> {
        f(&mut *self.0.lock().map_err(|_| std::io::Error::other("a writer panicked"))?)
    }
}

impl std::io::Write for SharedFile {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.with(|w| std::io::Write::write(w, b))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.with(std::io::Write::flush)
    }
}

impl ParquetStream {
    /// A stream of frames with `schema` to `path`.
    pub fn create(path: &Path, schema: &Schema) -> Result<ParquetStream> {
        let tmp = path.with_extension(format!("parquet.tmp.{}", std::process::id()));
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let file = SharedFile(std::sync::Arc::new(std::sync::Mutex::new(std::io::BufWriter::with_capacity(1 << 20, f))));
        match ParquetWriter::new(file.clone()).with_compression(ParquetCompression::Zstd(None)).batched(schema) {
            Ok(writer) => Ok(ParquetStream { path: path.to_path_buf(), tmp, file, writer, finished: false }),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(anyhow::Error::from(e)).with_context(|| format!("cannot write Parquet to {}", tmp.display()))
            }
        }
    }

    /// Append a frame (the schema given at creation).
    pub fn write(&mut self, df: &mut DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        df.align_chunks();
        self.writer.write_batch(df).map_err(anyhow::Error::from).with_context(|| format!("cannot write Parquet to {}", self.tmp.display()))
    }

    /// Close the file and rename it into place.
    pub fn finish(self) -> Result<()> {
        self.seal()?.commit()
    }

    /// Close the file (footer, flush, sync) without renaming it yet: a dataset's files are all
    /// sealed before any is renamed, so an error on one leaves the others as they were.
    pub fn seal(mut self) -> Result<Sealed> {
        self.writer.finish().map_err(anyhow::Error::from).with_context(|| format!("cannot write Parquet to {}", self.tmp.display()))?;
        self.file.with(|w| {
            std::io::Write::flush(w)?;
            w.get_ref().sync_all()
        }).with_context(|| format!("cannot write {}", self.tmp.display()))?;
        self.finished = true;
        Ok(Sealed { tmp: std::mem::take(&mut self.tmp), path: std::mem::take(&mut self.path), committed: false })
    }
}

impl Drop for ParquetStream {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A complete Parquet file under its temp name; removed unless committed.
pub struct Sealed {
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl Sealed {
    /// Rename it into place.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.path).with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.path.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Which table a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Slice,
    Placement,
    Preempt,
}

impl Table {
    pub fn file(self) -> &'static str {
        match self {
            Table::Slice => SLICE_FILE,
            Table::Placement => PLACEMENT_FILE,
            Table::Preempt => PREEMPT_FILE,
        }
    }

    /// Every column the table must have, with its type.
    pub fn schema(self) -> Vec<(String, DataType)> {
        let mut s: Vec<(String, DataType)> = COMMON_COLUMNS.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
        s.extend(FEATURE_NAMES.iter().map(|n| (n.to_string(), DataType::Float32)));
        let labels: &[(&str, DataType)] = match self {
            Table::Slice => &SLICE_LABELS,
            Table::Placement => &PLACEMENT_LABELS,
            Table::Preempt => &PREEMPT_LABELS,
        };
        s.extend(labels.iter().map(|(n, t)| (n.to_string(), t.clone())));
        s
    }
}

/// Read a table and check its schema; errors name the file and the column.
pub fn read_table(path: &Path, table: Table) -> Result<DataFrame> {
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let df = ParquetReader::new(f)
        .finish()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{}: not a readable Parquet file (truncated or corrupt?)", path.display()))?;
    check_schema(&df, table).with_context(|| format!("{}", path.display()))?;
    Ok(df)
}

pub fn check_schema(df: &DataFrame, table: Table) -> Result<()> {
    for (name, dtype) in table.schema() {
        let col = df
            .column(&name)
            .map_err(|_| anyhow::anyhow!("missing column '{name}' (expected {dtype}) in the {} table", table.file()))?;
        if col.dtype() != &dtype {
            bail!("column '{name}' has type {}, expected {dtype}", col.dtype());
        }
        if col.null_count() > 0 {
            bail!("column '{name}' has {} null value(s)", col.null_count());
        }
    }
    Ok(())
}

/// Dataset folders given on the command line: a folder with the tables, or a folder of such
/// folders (e.g. `datasets/`).
pub fn find_datasets(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.join(SLICE_FILE).exists() || p.join(PLACEMENT_FILE).exists() {
            out.push(p.clone());
            continue;
        }
        let rd = std::fs::read_dir(p).with_context(|| format!("{}: not a dataset folder", p.display()))?;
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join(SLICE_FILE).exists() || d.join(PLACEMENT_FILE).exists())
            .collect();
        subs.sort();
        if subs.is_empty() {
            bail!("{}: no dataset here (expected {SLICE_FILE} / {PLACEMENT_FILE}, or folders holding them)", p.display());
        }
        out.extend(subs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scx_mimic::task::Task;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mimic-ds-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn slices(n: usize) -> Vec<SliceRow> {
        (0..n)
            .map(|i| SliceRow { ts_ns: i as u64, phase: 1, pid: 7, comm: Task::comm_from("t"), features: [i as f32; N_FEATURES],
                                ran_ns: 1000 * i as u64, voluntary: i % 2 == 0 })
            .collect()
    }

    #[test]
    fn round_trip_keeps_every_value() {
        let d = tmpdir("rt");
        let p = d.join(SLICE_FILE);
        write_parquet(&mut slice_frame("r1", &slices(100)).unwrap(), &p).unwrap();
        let df = read_table(&p, Table::Slice).unwrap();
        assert_eq!(df.height(), 100);
        let ran: Vec<u64> = df.column("ran_ns").unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!(ran[99], 99_000);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "temp file left behind");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_stream_of_batches_reads_back_as_one_table_and_appears_only_when_finished() {
        let d = tmpdir("stream");
        let p = d.join(SLICE_FILE);
        let rows = slices(250);
        let mut s = ParquetStream::create(&p, slice_frame("r1", &[]).unwrap().schema()).unwrap();
        for chunk in rows.chunks(100) {
            s.write(&mut slice_frame("r1", chunk).unwrap()).unwrap();
        }
        s.write(&mut slice_frame("r1", &[]).unwrap()).unwrap();
        assert!(!p.exists(), "nothing under the final name before finish");
        s.finish().unwrap();
        let df = read_table(&p, Table::Slice).unwrap();
        let ran: Vec<u64> = df.column("ran_ns").unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!(ran, rows.iter().map(|r| r.ran_ns).collect::<Vec<_>>());
        // A stream dropped before it finished (an error on the way) leaves neither file.
        let q = d.join(PLACEMENT_FILE);
        let mut s = ParquetStream::create(&q, slice_frame("r1", &[]).unwrap().schema()).unwrap();
        s.write(&mut slice_frame("r1", &rows).unwrap()).unwrap();
        drop(s);
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "only the finished file: {names:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn raw_events_round_trip() {
        let d = tmpdir("ev");
        let e = TraceEvent { ts_ns: 5, kind: EventKind::Wakeup, pid: 9, cpu: 1, prev_cpu: 0, waker_cpu: 1, voluntary: false, ran_ns: 0,
                             chosen_idle: true, next_pid: 0, curr_pid: 4, queued: true, resched: true, nice: -3, nr_cpus_allowed: 2,
                             comm: Task::comm_from("ab") };
        let evs = vec![e, TraceEvent { kind: EventKind::Stop, ts_ns: 7, voluntary: true, next_pid: 11, ..e }];
        let p = d.join(EVENTS_FILE);
        write_parquet(&mut events_frame(&evs).unwrap(), &p).unwrap();
        assert_eq!(read_events(&p).unwrap(), evs);
        // A null pid must not read as pid 0, nor an unknown kind as any kind.
        let mut df = events_frame(&evs).unwrap();
        df.replace("pid", Column::new("pid".into(), vec![Some(9i32), None])).unwrap();
        write_parquet(&mut df, &p).unwrap();
        let e = format!("{:#}", read_events(&p).unwrap_err());
        assert!(e.contains("events.parquet") && e.contains("column 'pid' has 1 null"), "{e}");
        let mut df = events_frame(&evs).unwrap();
        df.replace("kind", Column::new("kind".into(), vec![2u32, 7])).unwrap();
        write_parquet(&mut df, &p).unwrap();
        let e = format!("{:#}", read_events(&p).unwrap_err());
        assert!(e.contains("row 1: column 'kind' is Some(7)"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn malformed_inputs_name_the_file_and_column() {
        let d = tmpdir("bad");
        // Missing column.
        let mut df = slice_frame("r", &slices(10)).unwrap();
        let mut missing = df.drop("ran_ns").unwrap();
        let p = d.join("missing.parquet");
        write_parquet(&mut missing, &p).unwrap();
        let e = format!("{:#}", read_table(&p, Table::Slice).unwrap_err());
        assert!(e.contains("missing.parquet") && e.contains("'ran_ns'"), "{e}");
        // Wrong type.
        df.replace("pid", Column::new("pid".into(), vec![1.5f64; 10])).unwrap();
        let p = d.join("wrongtype.parquet");
        write_parquet(&mut df, &p).unwrap();
        let e = format!("{:#}", read_table(&p, Table::Slice).unwrap_err());
        assert!(e.contains("wrongtype.parquet") && e.contains("'pid'") && e.contains("f64"), "{e}");
        // Truncated file.
        let good = d.join("good.parquet");
        write_parquet(&mut slice_frame("r", &slices(1000)).unwrap(), &good).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let p = d.join("truncated.parquet");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = format!("{:#}", read_table(&p, Table::Slice).unwrap_err());
        assert!(e.contains("truncated.parquet") && e.contains("truncated or corrupt"), "{e}");
        // A placement file read as a slice table names the first missing slice column.
        let p = d.join(PLACEMENT_FILE);
        write_parquet(&mut placement_frame("r", &[]).unwrap(), &p).unwrap();
        let e = format!("{:#}", read_table(&p, Table::Slice).unwrap_err());
        assert!(e.contains("'ran_ns'"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
