//! The two parts of a traced thread's wakeup latency, read from the kernel's own trace events
//! (tracefs): the scheduler's — from `sched_waking` of the thread to the `sched_switch` that runs
//! it — and the timer's — how late each of the thread's sleeps until a set time ended
//! (`hrtimer_start` of an absolute `hrtimer_wakeup` timer by the thread, from the time it asked
//! for, to the timer's `hrtimer_expire_entry`).
//!
//! *Why beside cyclictest's own numbers:* cyclictest measures from when its timer should have
//! fired to when its thread ran. Under single-threaded TCG emulation the emulated timer interrupt
//! itself arrives late — measured (2026-11-30): EEVDF ran the woken thread 71–83 µs (p50) after
//! its wakeup, yet cyclictest reported 2.2–3.5 ms p50 under EEVDF too — so cyclictest's figure is
//! mostly the emulator's, and the part a scheduler decides is the first one; the second shows
//! how much of the figure is the timer.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::parse::Histogram;

/// Where the kernel's trace file system is mounted (mounted there if it is not).
const TRACEFS: &str = "/sys/kernel/tracing";

/// Per-CPU trace buffer, KiB: 15 s of a 1 kHz thread is ~60,000 events (waking, switch in,
/// switch out, timer start), with every timer expiry of the CPU (ticks included) a few thousand
/// more, well under this; a loss is still counted and fails the run.
const BUFFER_KB: u32 = 8192;

/// The trace events turned on, each with the filter that keeps it to the traced threads (none:
/// a timer expires in whatever context the interrupt found, so its events are paired by timer).
const EVENTS: [(&str, &str); 4] = [
    ("sched/sched_waking", "comm == \"{comm}\""),
    ("sched/sched_switch", "next_comm == \"{comm}\" || prev_comm == \"{comm}\""),
    ("timer/hrtimer_start", "comm == \"{comm}\""),
    ("timer/hrtimer_expire_entry", ""),
];

/// Tracing of one command name's wakeups, switches and sleep timers, on from
/// [`LatencyTrace::start`] until it is dropped ([`LatencyTrace::finish`] reads the trace first):
/// dropping it turns tracing off and resets it.
pub struct LatencyTrace {
    root: PathBuf,
    comm: String,
}

/// What one traced run measured, µs.
pub struct Traced {
    /// From each wakeup the caller asked for to the switch that ran the thread: the
    /// scheduler's part.
    pub wake_to_run: Histogram,
    /// How late each of the thread's sleeps until a set time ended, past the time it asked for
    /// (see [`timer_late_us`]); `None` when no such sleep was traced.
    pub timer_late: Option<Histogram>,
}

impl LatencyTrace {
    /// Trace the wakeups, switches and sleep timers of threads named `comm` (the kernel's comm,
    /// ≤ 15 bytes).
    pub fn start(comm: &str) -> Result<LatencyTrace> {
        if comm.is_empty() || comm.len() > 15 || !comm.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            bail!("cannot trace the wakeups of {comm:?}: a comm of 1–15 letters, digits, '_' or '-' is needed");
        }
        let root = PathBuf::from(TRACEFS);
        mount_tracefs(&root)?;
        let t = LatencyTrace { root, comm: comm.to_string() };
        t.write("tracing_on", "0")?;
        t.write("trace", "")?;
        t.write("buffer_size_kb", &BUFFER_KB.to_string())?;
        for (event, filter) in EVENTS {
            if !filter.is_empty() {
                t.write(&format!("events/{event}/filter"), &filter.replace("{comm}", comm))?;
            }
            t.write(&format!("events/{event}/enable"), "1")?;
        }
        t.write("tracing_on", "1")?;
        Ok(t)
    }

    /// Stop tracing; the wakeup-to-running latencies of the `which` wakeups and the timer
    /// lateness (µs) of the traced threads. Fails if the kernel dropped events (the pairs would
    /// be wrong) or if no such wakeup was seen.
    pub fn finish(self, which: Wakeups) -> Result<Traced> {
        self.write("tracing_on", "0")?;
        let text = std::fs::read_to_string(self.root.join("trace")).context("reading the trace (tracefs)")?;
        let lost = self.lost_events()?;
        if lost > 0 {
            bail!("the kernel's trace buffer lost {lost} events while tracing {}: wakeup latencies not reported", self.comm);
        }
        // Parsed once, read twice.
        let events = events(&text);
        let lat = wake_to_run_us(&events, which);
        if lat.is_empty() {
            bail!("no wakeup ({which:?}) of a thread named {} was traced ({} bytes of trace)", self.comm, text.len());
        }
        let late = timer_late_us(&events);
        Ok(Traced {
            wake_to_run: Histogram::from_samples(&lat, 1),
            timer_late: (!late.is_empty()).then(|| Histogram::from_samples(&late, 1)),
        })
    }

    /// Events the kernel overwrote or dropped, summed over the CPUs.
    fn lost_events(&self) -> Result<u64> {
        let mut lost = 0;
        let dir = self.root.join("per_cpu");
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let stats = e?.path().join("stats");
            let text = std::fs::read_to_string(&stats).with_context(|| format!("reading {}", stats.display()))?;
            lost += parse_lost(&text);
        }
        Ok(lost)
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let p = self.root.join(file);
        std::fs::write(&p, value).with_context(|| format!("writing {value:?} to {}", p.display()))
    }
}

impl Drop for LatencyTrace {
    /// Events off, filters cleared, buffer emptied (errors ignored: best effort on the way out).
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        for (event, _) in EVENTS {
            let _ = self.write(&format!("events/{event}/enable"), "0");
            let _ = self.write(&format!("events/{event}/filter"), "0");
        }
        let _ = self.write("trace", "");
    }
}

/// Mount tracefs at `root` unless it is there already.
fn mount_tracefs(root: &Path) -> Result<()> {
    if root.join("trace").exists() {
        return Ok(());
    }
    let target = CString::new(root.as_os_str().as_encoded_bytes()).context("tracefs path")?;
    let (src, fs) = (CString::new("nodev").unwrap(), CString::new("tracefs").unwrap());
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::mount(src.as_ptr(), target.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } != 0 {
        bail!("mounting tracefs at {}: {}", root.display(), std::io::Error::last_os_error());
    }
    Ok(())
}

/// The events one per-CPU stats file counts as lost: "overrun", "commit overrun" and
/// "dropped events".
fn parse_lost(stats: &str) -> u64 {
    stats.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(k.trim(), "overrun" | "commit overrun" | "dropped events"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// One event of the text trace, for the events in [`EVENTS`] only.
struct Event<'a> {
    /// Timestamp, µs.
    us: u64,
    name: &'static str,
    /// The task that was current when the event fired ("comm-pid"; for a wakeup, the waker or
    /// the task an interrupt found).
    task: &'a str,
    /// Whether the event fired in an interrupt (hard or soft: the flags' third letter).
    in_interrupt: bool,
    fields: &'a str,
}

impl<'a> Event<'a> {
    /// The current task's command name and pid, split at the last dash (a name may hold one).
    fn task_comm_pid(&self) -> Option<(&'a str, &'a str)> {
        self.task.rsplit_once('-')
    }

    /// Whether this is the start of a sleep until a set time: an `hrtimer_wakeup` timer (a
    /// thread's sleep) started in absolute mode (`mode=ABS…`; a relative `usleep` is not).
    fn starts_timed_sleep(&self) -> bool {
        self.name == "hrtimer_start" && is_sleep_timer(self.fields)
            && field(self.fields, "mode").is_some_and(|m| m.starts_with("ABS"))
    }
}

/// Whether a timer event's timer is a thread's sleep (function `hrtimer_wakeup`).
fn is_sleep_timer(fields: &str) -> bool {
    field(fields, "function") == Some("hrtimer_wakeup")
}

/// The events of a text trace that are in [`EVENTS`], in trace order.
fn events(trace: &str) -> Vec<Event<'_>> {
    trace.lines().filter_map(event).collect()
}

/// Parse one line of the text trace: "<comm>-<pid> [<cpu>] <flags> <secs>.<µs>: <name>: <fields>".
fn event(line: &str) -> Option<Event<'_>> {
    for (path, _) in EVENTS {
        let name = path.rsplit_once('/').map_or(path, |(_, n)| n);
        // ": name: " rather than the first ": " of the line: a comm may hold one.
        if let Some((head, fields)) = line.split_once(&format!(": {name}: ")) {
            let (task, rest) = head.rsplit_once(" [")?;
            let mut words = rest.split_whitespace().skip(1); // "<cpu>]"
            let flags = words.next()?;
            let ts = words.last()?;
            let (s, frac) = ts.split_once('.')?;
            if frac.len() != 6 {
                return None;
            }
            let us = s.parse::<u64>().ok()?.checked_mul(1_000_000)?.checked_add(frac.parse::<u64>().ok()?)?;
            let in_interrupt = matches!(flags.chars().nth(2), Some('h' | 's' | 'H'));
            return Some(Event { us, name, task: task.trim(), in_interrupt, fields });
        }
    }
    None
}

/// The value of `key=` in an event's fields (the first match at a word start).
fn field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    fields.split_whitespace().find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Which wakeups [`wake_to_run_us`] counts (a wakeup it leaves out still marks its thread as
/// woken until it runs).
#[derive(Debug, Clone, Copy)]
pub enum Wakeups<'a> {
    /// Every wakeup of a traced thread (what the other two are compared with in the tests).
    #[cfg(test)]
    All,
    /// Wakeups of the threads seen sleeping until a set time (arming an absolute
    /// `hrtimer_wakeup` timer, see [`timer_late_us`]): cyclictest's measuring thread, not its
    /// main thread's `usleep`s — the threads whose timers `timer_late` measures.
    OfTimedSleepers,
    /// Wakeups made by another thread of this name (the traced program's own) outside an
    /// interrupt: a message passed between its threads. A timer's wakeup fires in an interrupt,
    /// whatever task it found running.
    ByPeer(&'a str),
}

/// The pids (as the trace prints them) of the threads that armed an absolute sleep timer.
fn timed_sleepers<'a>(events: &[Event<'a>]) -> HashSet<&'a str> {
    events.iter().filter(|e| e.starts_timed_sleep()).filter_map(|e| e.task_comm_pid().map(|(_, pid)| pid)).collect()
}

/// Wakeup-to-running latencies (µs) in a trace of `sched_waking` and `sched_switch`:
/// each wakeup of a thread that is not running, to the next switch that runs it. A wakeup of a
/// running thread (the kernel traces one when a thread about to sleep is woken first) starts
/// nothing; a second wakeup before the thread ran keeps the first. `which` says which wakeups
/// count.
fn wake_to_run_us(events: &[Event], which: Wakeups) -> Vec<u64> {
    let sleepers = match which {
        Wakeups::OfTimedSleepers => timed_sleepers(events),
        _ => HashSet::new(),
    };
    let counts = |e: &Event, pid: &str| match which {
        #[cfg(test)]
        Wakeups::All => true,
        Wakeups::OfTimedSleepers => sleepers.contains(pid),
        Wakeups::ByPeer(comm) => !e.in_interrupt && e.task_comm_pid().is_some_and(|(c, _)| c == comm),
    };
    let mut waking: HashMap<&str, (u64, bool)> = HashMap::new();
    let mut running: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for e in events {
        let (ts, name, fields) = (e.us, e.name, e.fields);
        if name == "sched_waking" {
            if let Some(pid) = field(fields, "pid") {
                if !running.contains(pid) {
                    waking.entry(pid).or_insert((ts, counts(e, pid)));
                }
            }
        } else {
            // "prev_comm=a prev_pid=1 prev_prio=120 prev_state=S ==> next_comm=b next_pid=2 ..."
            let Some((prev, next)) = fields.split_once("==>") else { continue };
            if let Some(pid) = field(prev, "prev_pid") {
                running.remove(pid);
            }
            if let Some(pid) = field(next, "next_pid") {
                running.insert(pid);
                if let Some((w, counted)) = waking.remove(pid) {
                    if counted {
                        out.push(ts.saturating_sub(w));
                    }
                }
            }
        }
    }
    out
}

/// How late (µs) each sleep until a set time ended, in a trace of `hrtimer_start` and
/// `hrtimer_expire_entry`: a timer of function `hrtimer_wakeup` (a thread's sleep) started in
/// absolute mode (`mode=ABS…`: cyclictest's measuring thread sleeps until its next period; its
/// main thread's relative `usleep`s, same name, are left out), from the `softexpires` of its
/// latest start (the time asked for; the kernel may fire it up to the timer slack later) to the
/// `now` of its expiry, both on the timer's own clock. Timers of other functions (the tick, a
/// scheduler's) and expiries of timers not seen starting are left out.
fn timer_late_us(events: &[Event]) -> Vec<u64> {
    let mut armed: HashMap<&str, u64> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        let (name, fields) = (e.name, e.fields);
        if !is_sleep_timer(fields) {
            continue;
        }
        let Some(timer) = field(fields, "hrtimer") else { continue };
        if name == "hrtimer_start" {
            if !e.starts_timed_sleep() {
                armed.remove(timer);
                continue;
            }
            if let Some(asked) = field(fields, "softexpires").and_then(|v| v.parse::<u64>().ok()) {
                armed.insert(timer, asked);
            }
        } else if name == "hrtimer_expire_entry" {
            let now = field(fields, "now").and_then(|v| v.parse::<u64>().ok());
            if let (Some(now), Some(asked)) = (now, armed.remove(timer)) {
                out.push(now.saturating_sub(asked) / 1000);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waking(ts: &str, pid: u32) -> String {
        format!("      stress-ng-301     [001] d.h2.  {ts}: sched_waking: comm=cyclictest pid={pid} prio=120 target_cpu=000")
    }
    fn switch(ts: &str, prev: (&str, u32, &str), next: (&str, u32)) -> String {
        format!("          <idle>-0       [000] d..2.  {ts}: sched_switch: prev_comm={} prev_pid={} prev_prio=120 prev_state={} ==> next_comm={} next_pid={} next_prio=120",
                prev.0, prev.1, prev.2, next.0, next.1)
    }

    #[test]
    fn a_wakeup_counts_until_the_switch_that_runs_the_thread() {
        let t = [
            "# tracer: nop".to_string(),
            waking("100.000010", 7),
            switch("100.000090", ("stress-ng", 301, "R"), ("cyclictest", 7)),
            switch("100.000200", ("cyclictest", 7, "S"), ("stress-ng", 301)),
            waking("100.001000", 7),
            // Another thread's switch in between changes nothing.
            switch("100.001500", ("stress-ng", 301, "R"), ("cyclictest", 8)),
            switch("100.004000", ("stress-ng", 302, "R"), ("cyclictest", 7)),
        ].join("\n");
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::All), vec![80, 3000]);
    }

    #[test]
    fn a_wakeup_of_a_running_thread_starts_nothing_and_a_second_wakeup_keeps_the_first() {
        let t = [
            switch("5.000000", ("stress-ng", 301, "R"), ("cyclictest", 7)),
            // Woken while still on its CPU (about to sleep): no latency to measure.
            waking("5.000050", 7),
            switch("5.000100", ("cyclictest", 7, "S"), ("stress-ng", 301)),
            waking("5.002000", 7),
            waking("5.002500", 7),
            switch("5.003000", ("stress-ng", 301, "R"), ("cyclictest", 7)),
        ].join("\n");
        // Without the running set the first waking would pair with the switch at 5.003 (2950);
        // keeping the latest waking instead of the first would give 500.
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::All), vec![1000]);
    }

    #[test]
    fn lines_that_are_not_events_are_skipped_not_misread() {
        let t = [
            "# entries-in-buffer/entries-written: 4/4   #P:2".to_string(),
            "garbage: sched_waking: pid=9".to_string(),                          // no timestamp
            "  x-1 [000] d..2. 12.34: sched_waking: comm=c pid=9 prio=120".to_string(), // 2 decimals
            waking("12.000000", 9),
            switch("12.000400", ("a", 1, "R"), ("cyclictest", 9)),
        ].join("\n");
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::All), vec![400]);
        assert!(wake_to_run_us(&events(""), Wakeups::All).is_empty());
    }

    /// A wakeup of `pid` made by `task` ("comm-pid"), in an interrupt or not.
    fn woken_by(ts: &str, task: &str, interrupt: bool, pid: u32) -> String {
        let flags = if interrupt { "d.h2." } else { "d..2." };
        format!("  {task:>16}     [000] {flags}  {ts}: sched_waking: comm=pmqtest pid={pid} prio=120 target_cpu=001")
    }

    #[test]
    fn peer_wakeups_are_those_another_thread_of_the_program_made_outside_an_interrupt() {
        let run = |ts: &str, pid: u32| switch(ts, ("stress-ng", 301, "R"), ("pmqtest", pid));
        let sleep = |ts: &str, pid: u32| switch(ts, ("pmqtest", pid, "S"), ("stress-ng", 301));
        let t = [
            // The sender (11) wakes the receiver (12): counted, 300.
            woken_by("7.000100", "pmqtest-11", false, 12), run("7.000400", 12), sleep("7.000500", 12),
            // The sender's own timer, in an interrupt that found the receiver running: not counted
            // (a peer's name, but not a peer's wakeup).
            woken_by("7.001000", "pmqtest-12", true, 11), run("7.001700", 11), sleep("7.001800", 11),
            // Another program woke it: not counted, and its later peer wakeup before it ran does
            // not start a new wait (the first wakeup keeps the thread's wait).
            woken_by("7.002000", "bash-5", false, 12), woken_by("7.002100", "pmqtest-11", false, 12), run("7.002900", 12),
            sleep("7.003000", 12),
            // A peer under a name with a dash is read from the last dash: counted for "rt-app" below.
            woken_by("7.004000", "rt-app-13", false, 12), run("7.004050", 12),
        ].join("\n");
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::ByPeer("pmqtest")), vec![300]);
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::All), vec![300, 700, 900, 50]);
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::ByPeer("rt-app")), vec![50]);
    }

    #[test]
    fn the_timed_sleepers_wakeups_are_those_of_threads_that_armed_an_absolute_sleep() {
        // cyclictest's main thread (7) usleeps (a relative timer); its measuring thread (8)
        // sleeps until its next period (absolute). Both are woken by timers, in interrupts.
        let arm = |ts: &str, pid: u32, mode: &str| format!(
            "      cyclictest-{pid}     [000] d..1.  {ts}: hrtimer_start: hrtimer=00000000000{pid} function=hrtimer_wakeup expires=1 softexpires=1 mode={mode} was_armed=0");
        let t = [
            arm("9.000000", 7, "REL"), arm("9.000010", 8, "ABS"),
            waking("9.001000", 8), switch("9.001300", ("stress-ng", 301, "R"), ("cyclictest", 8)),
            waking("9.002000", 7), switch("9.002900", ("stress-ng", 301, "R"), ("cyclictest", 7)),
        ].join("\n");
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::OfTimedSleepers), vec![300]);
        assert_eq!(wake_to_run_us(&events(&t), Wakeups::All), vec![300, 900]);
        // No absolute sleeper traced: nothing counted (finish then fails, saying so).
        assert!(wake_to_run_us(&events(&t.replace("mode=ABS", "mode=REL")), Wakeups::OfTimedSleepers).is_empty());
    }

    /// A timer started to fire at `asked` (softexpires; expires is 50 µs of slack later).
    fn start(ts: &str, timer: &str, function: &str, asked: u64) -> String {
        start_mode(ts, timer, function, asked, "ABS")
    }
    fn start_mode(ts: &str, timer: &str, function: &str, asked: u64, mode: &str) -> String {
        format!("      cyclictest-168     [001] d..1.  {ts}: hrtimer_start: hrtimer={timer} function={function} expires={} softexpires={asked} mode={mode} was_armed=0",
                asked + 50_000)
    }
    fn expire(ts: &str, timer: &str, function: &str, now: u64) -> String {
        format!("   stress-ng-cpu-166     [001] dNh..  {ts}: hrtimer_expire_entry: hrtimer={timer} function={function} now={now}")
    }

    #[test]
    fn a_sleep_timer_is_late_from_its_latest_start_to_when_it_fired() {
        let t = [
            start("31.000000", "00000000aaaa", "hrtimer_wakeup", 31_001_000_000),
            // The tick, started in the same context: not a sleep, left out.
            start("31.000001", "00000000cccc", "tick_nohz_handler", 31_004_000_000),
            // Another thread's timer firing first: paired by timer, not by order.
            expire("31.000900", "00000000bbbb", "hrtimer_wakeup", 31_000_900_000),
            expire("31.003300", "00000000aaaa", "hrtimer_wakeup", 31_003_250_000),
            expire("31.004000", "00000000cccc", "tick_nohz_handler", 31_004_000_000),
            // Started again (a new sleep) before it fired: the latest start counts; and an
            // expiry read before the time asked for (the two are read apart) is 0 late, not
            // negative.
            start("31.010000", "00000000aaaa", "hrtimer_wakeup", 31_011_000_000),
            start("31.010100", "00000000aaaa", "hrtimer_wakeup", 31_012_000_000),
            expire("31.011990", "00000000aaaa", "hrtimer_wakeup", 31_011_990_000),
        ].join("\n");
        assert_eq!(timer_late_us(&events(&t)), vec![2250, 0]);
        // The wakeup pairs do not mistake timer events for theirs.
        assert!(wake_to_run_us(&events(&t), Wakeups::All).is_empty());
    }

    #[test]
    fn only_sleeps_until_a_set_time_count_and_from_the_time_asked_for() {
        let t = [
            // cyclictest's main thread: usleep, a relative sleep of the same name — left out,
            // even when its timer is the one the measuring thread used before.
            start_mode("40.000000", "00000000dddd", "hrtimer_wakeup", 40_010_000_000, "REL"),
            expire("40.010500", "00000000dddd", "hrtimer_wakeup", 40_010_500_000),
            start("40.011000", "00000000eeee", "hrtimer_wakeup", 40_012_000_000),
            start_mode("40.011100", "00000000eeee", "hrtimer_wakeup", 40_013_000_000, "REL"),
            expire("40.013200", "00000000eeee", "hrtimer_wakeup", 40_013_200_000),
            // Absolute, pinned: counted, from softexpires (30 µs), not expires (0).
            start_mode("40.020000", "00000000ffff", "hrtimer_wakeup", 40_021_000_000, "ABS|PINNED"),
            expire("40.021030", "00000000ffff", "hrtimer_wakeup", 40_021_030_000),
        ].join("\n");
        assert_eq!(timer_late_us(&events(&t)), vec![30]);
    }

    #[test]
    fn lost_events_are_read_from_every_counter_of_a_stats_file() {
        let stats = "entries: 10\noverrun: 3\ncommit overrun: 1\nbytes: 400\ndropped events: 2\nread events: 7\n";
        assert_eq!(parse_lost(stats), 6);
        assert_eq!(parse_lost("entries: 10\noverrun: 0\ndropped events: 0\n"), 0);
    }

    #[test]
    fn a_comm_that_could_escape_the_filter_is_refused() {
        for bad in ["", "a\" || 1", "sixteen-chars-xx", "two words"] {
            assert!(LatencyTrace::start(bad).is_err(), "{bad:?} accepted");
        }
    }
}
