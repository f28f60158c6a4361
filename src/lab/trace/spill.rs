//! Bounded memory for long traces: events go to disk while tracing and come back in time order.
//!
//! While tracing, every [`RUN_EVENTS`] events the consumer has drained from the rings are decoded
//! and written, as they came, to a *run* file of their own (no sorting while the workload runs:
//! work done then is taken from the workload). After tracing stops, each run is read back, sorted into replay order
//! ([`sort_by_time`]) and written again, and a k-way merge of the sorted runs yields every event
//! in exactly the order one sort of all of them would give: at equal keys the earlier run first,
//! which is read order, as the stable sort keeps it. Memory: one run while it is sorted, one
//! buffered reader per run while merging — not the whole trace.
//!
//! The run files live in a hidden folder of the dataset folder (on the disk the dataset goes to)
//! and are removed when the [`Spill`] is dropped, whatever happened. They are read and written
//! through 1 MiB buffers: in the guest that folder is the host's, over 9p, where every system call
//! is a round trip.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{replay_key as key, sort_by_time};
use scx_mimic::replay::TraceEvent;
use scx_mimic::task::TASK_COMM_LEN;

/// Bytes of one event on disk (fixed size, little endian; see [`encode`]).
const RECORD: usize = 8 + 1 + 4 * 4 + 1 + 8 + 1 + 4 + 4 + 1 + 1 + 4 + 4 + TASK_COMM_LEN;

/// Events of a run the consumer holds before it appends them to disk (about 24 MiB decoded).
pub const RUN_EVENTS: usize = 1 << 18;

fn encode(e: &TraceEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(&e.ts_ns.to_le_bytes());
    out.push(crate::dataset::kind_code(e.kind) as u8);
    for v in [e.pid, e.cpu, e.prev_cpu, e.waker_cpu] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(u8::from(e.voluntary));
    out.extend_from_slice(&e.ran_ns.to_le_bytes());
    out.push(u8::from(e.chosen_idle));
    out.extend_from_slice(&e.next_pid.to_le_bytes());
    out.extend_from_slice(&e.curr_pid.to_le_bytes());
    out.push(u8::from(e.queued));
    out.push(u8::from(e.resched));
    out.extend_from_slice(&e.nice.to_le_bytes());
    out.extend_from_slice(&e.nr_cpus_allowed.to_le_bytes());
    out.extend_from_slice(&e.comm);
}

/// One record back; None if its kind byte is not an event kind (a damaged file).
fn decode(b: &[u8; RECORD]) -> Option<TraceEvent> {
    let mut at = 0;
    let mut take = |n: usize| {
        let s = &b[at..at + n];
        at += n;
        s
    };
    let u64_ = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
    let i32_ = |s: &[u8]| i32::from_le_bytes(s.try_into().unwrap_or_default());
    let ts_ns = u64_(take(8));
    let kind = crate::dataset::kind_of(u32::from(take(1)[0]))?;
    let (pid, cpu, prev_cpu, waker_cpu) = (i32_(take(4)), i32_(take(4)), i32_(take(4)), i32_(take(4)));
    let voluntary = take(1)[0] != 0;
    let ran_ns = u64_(take(8));
    let chosen_idle = take(1)[0] != 0;
    let (next_pid, curr_pid) = (i32_(take(4)), i32_(take(4)));
    let (queued, resched) = (take(1)[0] != 0, take(1)[0] != 0);
    let nice = i32_(take(4));
    let nr_cpus_allowed = i32_(take(4)) as u32;
    let mut comm = [0u8; TASK_COMM_LEN];
    comm.copy_from_slice(take(TASK_COMM_LEN));
    Some(TraceEvent { ts_ns, kind, pid, cpu, prev_cpu, waker_cpu, voluntary, ran_ns, chosen_idle, next_pid, curr_pid, queued, resched,
                      nice, nr_cpus_allowed, comm })
}

/// A trace's events on disk, as runs.
pub struct Spill {
    dir: PathBuf,
    runs: Vec<PathBuf>,
    events: u64,
}

impl Spill {
    /// A spill folder inside `parent` (created; removed again on drop).
    pub fn create(parent: &Path) -> Result<Spill> {
        let dir = parent.join(format!(".spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Spill { dir, runs: Vec::new(), events: 0 })
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Append `events` (in the order read) as the next run.
    pub fn add_run(&mut self, events: &[TraceEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!("run-{}", self.runs.len()));
        write_run(&path, events)?;
        self.runs.push(path);
        self.events += events.len() as u64;
        Ok(())
    }

    /// Sort every run into replay order, then merge them: the events in the order one sort of
    /// all of them gives.
    pub fn merged(&self) -> Result<Merge> {
        let mut buf = Vec::new();
        for path in &self.runs {
            buf.clear();
            read_run(path, &mut buf)?;
            sort_by_time(&mut buf);
            write_run(path, &buf)?;
        }
        drop(buf);
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::new();
        for (i, path) in self.runs.iter().enumerate() {
            let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let mut r = RunReader { path: path.clone(), r: BufReader::with_capacity(1 << 18, f) };
            if let Some(e) = r.next_event()? {
                heap.push(Reverse(Head { key: key(&e), run: i, ev: e }));
            }
            readers.push(r);
        }
        Ok(Merge { readers, heap })
    }
}

impl Spill {
    /// Remove the run files, saying so if that fails (drop removes them too, silently).
    pub fn remove(mut self) -> Result<()> {
        let dir = std::mem::take(&mut self.dir);
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {} (the trace's spilled events; delete it by hand)", dir.display()))
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn write_run(path: &Path, events: &[TraceEvent]) -> Result<()> {
    let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut rec = Vec::with_capacity(RECORD);
    for e in events {
        rec.clear();
        encode(e, &mut rec);
        w.write_all(&rec).with_context(|| format!("cannot write {}", path.display()))?;
    }
    w.flush().with_context(|| format!("cannot write {}", path.display()))
}

fn read_run(path: &Path, out: &mut Vec<TraceEvent>) -> Result<()> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = RunReader { path: path.to_path_buf(), r: BufReader::with_capacity(1 << 20, f) };
    while let Some(e) = r.next_event()? {
        out.push(e);
    }
    Ok(())
}

struct RunReader {
    path: PathBuf,
    r: BufReader<File>,
}

impl RunReader {
    fn next_event(&mut self) -> Result<Option<TraceEvent>> {
        let mut b = [0u8; RECORD];
        let mut got = 0;
        while got < RECORD {
            match self.r.read(&mut b[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => bail!("{}: truncated record ({got} of {RECORD} bytes)", self.path.display()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.path.display())),
            }
        }
        decode(&b).map(Some).with_context(|| format!("{}: a record with no event kind", self.path.display()))
    }
}

/// The next event of one run, ordered by (key, run).
struct Head {
    key: (u64, u8),
    run: usize,
    ev: TraceEvent,
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.run) == (o.key, o.run)
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key, self.run).cmp(&(o.key, o.run))
    }
}

/// The merge of a spill's sorted runs.
pub struct Merge {
    readers: Vec<RunReader>,
    heap: BinaryHeap<Reverse<Head>>,
}

impl Merge {
    /// The next event in replay order (None at the end).
    pub fn next_event(&mut self) -> Result<Option<TraceEvent>> {
        let Some(Reverse(h)) = self.heap.pop() else { return Ok(None) };
        if let Some(e) = self.readers[h.run].next_event()? {
            self.heap.push(Reverse(Head { key: key(&e), run: h.run, ev: e }));
        }
        Ok(Some(h.ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scx_mimic::replay::EventKind;
    use scx_mimic::task::Task;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mimic-spill-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Events with many equal timestamps and every kind, in an order no sort would give.
    fn events(n: u64) -> Vec<TraceEvent> {
        let kinds = [EventKind::Stop, EventKind::Wakeup, EventKind::Exit, EventKind::WakeupNew];
        (0..n).map(|i| TraceEvent {
            ts_ns: (i * 7919) % 50, kind: kinds[(i % 4) as usize], pid: i as i32, cpu: (i % 3) as i32, prev_cpu: -1, waker_cpu: 2,
            voluntary: i % 2 == 0, ran_ns: u64::MAX - i, chosen_idle: i % 5 == 0, next_pid: -(i as i32), curr_pid: 7, queued: true,
            resched: i % 3 == 0, nice: -20 + (i % 40) as i32, nr_cpus_allowed: u32::MAX, comm: Task::comm_from("0123456789abcdef"),
        }).collect()
    }

    #[test]
    fn a_record_round_trips() {
        for e in events(8) {
            let mut b = Vec::new();
            encode(&e, &mut b);
            assert_eq!(b.len(), RECORD);
            assert_eq!(decode(&b.try_into().unwrap()), Some(e));
        }
    }

    #[test]
    fn the_merge_of_runs_is_one_sort_of_everything() {
        let dir = tmp("merge");
        let all = events(1000);
        let mut expected = all.clone();
        sort_by_time(&mut expected);
        let mut spill = Spill::create(&dir).unwrap();
        // Runs of uneven sizes, as drains come.
        for chunk in all.chunks(137) {
            spill.add_run(chunk).unwrap();
        }
        spill.add_run(&[]).unwrap();
        assert_eq!(spill.events(), 1000);
        let mut m = spill.merged().unwrap();
        let mut got = Vec::new();
        while let Some(e) = m.next_event().unwrap() {
            got.push(e);
        }
        assert_eq!(got, expected, "same order, ties included");
        let spill_dir = spill.dir.clone();
        drop(m);
        drop(spill);
        assert!(!spill_dir.exists(), "run files removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_run_is_an_error_naming_the_file() {
        let dir = tmp("damaged");
        let mut spill = Spill::create(&dir).unwrap();
        spill.add_run(&events(3)).unwrap();
        let run = spill.runs[0].clone();
        let mut bytes = std::fs::read(&run).unwrap();
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&run, &bytes).unwrap();
        let e = format!("{:#}", spill.merged().err().unwrap());
        assert!(e.contains("run-0") && e.contains("truncated"), "{e}");
        bytes[8] = 9; // the first record's kind
        bytes.truncate(RECORD);
        std::fs::write(&run, &bytes).unwrap();
        let e = format!("{:#}", spill.merged().err().unwrap());
        assert!(e.contains("run-0") && e.contains("no event kind"), "{e}");
        drop(spill);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
