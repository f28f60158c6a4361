//! The feature contract: one definition of what the model sees about a task at decision time.
//!
//! Both sides compute it with the code in this file:
//! * the **tracer** (`mimic trace`), replaying the kernel's scheduling events recorded under
//!   EEVDF (see [`crate::replay`]), and
//! * the **scheduler** (`scx_mimic`), from the `QueuedTask` that scx_rustland_core hands it
//!   (see [`QueuedView`]).
//!
//! Per-task history ([`History`]) is updated from the same two canonical events on both sides:
//! a task *stopped* running after a stint of `ran_ns` (voluntarily: it blocked; or not: it was
//! preempted), and a task *woke up*. The vector is then built by [`vector`] from the history,
//! the task's static attributes ([`TaskAttrs`]) and a view of the system ([`SystemView`]).

use crate::task::{Task, TASK_COMM_LEN};

/// Number of features.
pub const N_FEATURES: usize = 15;

/// Feature names, in vector order (they are the column names in datasets and model files).
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "weight",
    "exec_runtime_us",
    "last_burst_us",
    "avg_burst_us",
    "wake_freq_hz",
    "slept_us",
    "voluntary_ratio",
    "nr_cpus_allowed",
    "nr_runnable",
    "idle_cpus",
    "prev_cpu_idle",
    "prev_is_waker_cpu",
    "prev_cpu_curr_run_us",
    "prev_cpu_curr_exec_us",
    "comm_class",
];

/// Unit and meaning of each feature, for documentation and reports.
pub const FEATURE_DOCS: [&str; N_FEATURES] = [
    "scheduling weight on sched_ext's scale (1..10000, nice 0 = 100, nice -20 = 8668, nice 19 = 1)",
    "CPU time since the task last woke up, µs (0 at a wakeup)",
    "length of the task's last stint on a CPU, µs",
    "exponentially weighted average of stint lengths (α = 1/4), µs",
    "wakeup frequency: 1 / EWMA of the time between wakeups (α = 1/4), Hz (0 before 2 wakeups)",
    "at a wakeup: how long the task slept (its last stop to this wakeup), µs; 0 when it was preempted or nothing is known",
    "EWMA (α = 1/4) of how often a stint ended voluntarily (blocked) rather than preempted, 0..1",
    "number of CPUs the task may run on",
    "tasks running on a CPU or waiting for one at decision time, the deciding task not counted (the scheduler's BPF counters: running + queued + held by user space; the tracer counts the same from the switches and wakeups)",
    "CPUs not running a task at decision time (CPUs online minus CPUs running one)",
    "1 if the task's previous CPU was idle at decision time, else 0",
    "1 at a wakeup when the task may run on more than one CPU and its previous CPU is the waker's (the CPU that selected one for it), else 0",
    "how long the task running on the previous CPU has run since it was switched in, µs; 0 when that CPU is idle or runs the deciding task",
    "the CPU time the task running on the previous CPU has had since it became runnable, this stint included, µs; 0 when prev_cpu_curr_run_us is",
    "stable class of the command name: FNV-1a of comm with digits removed, mod 4096",
];

/// EWMA weight of a new sample, as a shift: new = old + (sample - old) / 4.
const EWMA_SHIFT: f64 = 0.25;

/// Per-task history, updated from canonical events only.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct History {
    /// CPU time since the last wakeup, ns.
    pub exec_runtime_ns: u64,
    /// Last stint, ns.
    pub last_burst_ns: u64,
    /// EWMA of stints, ns.
    pub avg_burst_ns: f64,
    /// Time of the last wakeup, ns (0: none seen).
    pub last_wakeup_ns: u64,
    /// EWMA of the time between wakeups, ns (0: fewer than 2 wakeups seen).
    pub avg_wake_interval_ns: f64,
    /// EWMA of voluntary (1) vs preempted (0) stops.
    pub voluntary_ratio: f64,
    /// When the task last stopped running, ns (0: never seen).
    pub last_stop_ns: u64,
    /// At a wakeup: how long the task slept, ns (0 otherwise).
    pub slept_ns: u64,
    /// Stops seen.
    pub stops: u64,
}

impl History {
    /// The task stopped running at `stop_ns` after `ran_ns` on a CPU; `voluntary` if it blocked.
    pub fn on_stop(&mut self, ran_ns: u64, voluntary: bool, stop_ns: u64) {
        self.exec_runtime_ns = self.exec_runtime_ns.saturating_add(ran_ns);
        self.last_stop_ns = stop_ns;
        self.slept_ns = 0;
        self.last_burst_ns = ran_ns;
        let v = if voluntary { 1.0 } else { 0.0 };
        if self.stops == 0 {
            self.avg_burst_ns = ran_ns as f64;
            self.voluntary_ratio = v;
        } else {
            self.avg_burst_ns += (ran_ns as f64 - self.avg_burst_ns) * EWMA_SHIFT;
            self.voluntary_ratio += (v - self.voluntary_ratio) * EWMA_SHIFT;
        }
        self.stops += 1;
    }

    /// The task woke up at `now_ns`.
    pub fn on_wakeup(&mut self, now_ns: u64) {
        if self.last_wakeup_ns != 0 && now_ns > self.last_wakeup_ns {
            let dt = (now_ns - self.last_wakeup_ns) as f64;
            self.avg_wake_interval_ns = if self.avg_wake_interval_ns == 0.0 {
                dt
            } else {
                self.avg_wake_interval_ns + (dt - self.avg_wake_interval_ns) * EWMA_SHIFT
            };
        }
        self.last_wakeup_ns = now_ns;
        self.slept_ns = if self.last_stop_ns != 0 { now_ns.saturating_sub(self.last_stop_ns) } else { 0 };
        self.exec_runtime_ns = 0;
    }
}

/// Attributes of the task itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskAttrs {
    /// sched_ext weight (1..10000).
    pub weight: u64,
    pub nr_cpus_allowed: u64,
    pub comm: [u8; TASK_COMM_LEN],
}

/// What the system looked like when the decision was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemView {
    pub nr_runnable: u32,
    pub idle_cpus: u32,
    pub prev_cpu_idle: bool,
    /// A wakeup whose CPU was selected on the task's previous CPU: the waker runs there
    /// (`try_to_wake_up()` selects on the waking side). False for anything else, and for a task
    /// allowed on one CPU (the kernel selects nothing for it).
    pub prev_is_waker_cpu: bool,
    /// How long the task running on the previous CPU has run since it was switched in, ns (0:
    /// that CPU is idle, runs the deciding task, or nothing is known).
    pub prev_cpu_curr_run_ns: u64,
    /// The CPU time that task has had since it became runnable, this stint included, ns (0 when
    /// `prev_cpu_curr_run_ns` is): how far ahead it has run, which EEVDF's wakeup preemption
    /// weighs against the waking task.
    pub prev_cpu_curr_exec_ns: u64,
}

/// The kernel's nice → load weight table (kernel/sched/core.c, sched_prio_to_weight).
const PRIO_TO_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110,
    87, 70, 56, 45, 36, 29, 23, 18, 15,
];

/// sched_ext's weight for a nice value: the CFS weight rescaled so nice 0 = 100, clamped to
/// 1..10000 (as `sched_weight_to_cgroup()` does for `p->scx.weight`).
pub fn scx_weight_from_nice(nice: i32) -> u64 {
    let w = PRIO_TO_WEIGHT[(nice.clamp(-20, 19) + 20) as usize];
    ((w * 100 + 512) / 1024).clamp(1, 10_000)
}

/// Stable class of a command name: digits are dropped (so `kworker/u8:3` and `kworker/u8:1`
/// are one class), then FNV-1a, mod 4096 (exact in f32).
pub fn comm_class(comm: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in comm.iter().take_while(|&&b| b != 0) {
        if b.is_ascii_digit() {
            continue;
        }
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h % 4096
}

/// The feature vector.
pub fn vector(h: &History, t: &TaskAttrs, s: &SystemView) -> [f32; N_FEATURES] {
    let us = |ns: f64| (ns / 1000.0) as f32;
    let wake_freq = if h.avg_wake_interval_ns > 0.0 { 1e9 / h.avg_wake_interval_ns } else { 0.0 };
    [
        t.weight as f32,
        us(h.exec_runtime_ns as f64),
        us(h.last_burst_ns as f64),
        us(h.avg_burst_ns),
        wake_freq as f32,
        us(h.slept_ns as f64),
        h.voluntary_ratio as f32,
        t.nr_cpus_allowed as f32,
        s.nr_runnable as f32,
        s.idle_cpus as f32,
        if s.prev_cpu_idle { 1.0 } else { 0.0 },
        if s.prev_is_waker_cpu { 1.0 } else { 0.0 },
        us(s.prev_cpu_curr_run_ns as f64),
        us(s.prev_cpu_curr_exec_ns as f64),
        comm_class(&t.comm) as f32,
    ]
}

/// sched_ext's SCX_ENQ_WAKEUP enqueue flag: the task is being enqueued because it woke up.
pub const SCX_ENQ_WAKEUP: u64 = 1;

/// The scheduler's side: turn each `QueuedTask` into canonical history events.
///
/// A queued task carries the start and stop time of its last stint, and its enqueue flags tell
/// whether it is enqueued because it woke up (so the last stint ended by blocking: voluntary)
/// or because it was preempted while still runnable (involuntary). A task can be enqueued again
/// without having run in between (e.g. an affinity change); the stint is then not counted twice.
/// Times are the BPF side's clock (`stop_ts`, `enq_ts`: scx_bpf_now, the run-queue clock), the
/// timeline the tracer records on; `now_ns` stands in only when `enq_ts` is unknown (0).
///
/// A stint's length is what the tracer records: the CPU time the kernel accounted to it
/// (`stint_exec_ns`), not the wall time from `start_ts` to `stop_ts`, which also holds
/// interrupts and differed by more than 1% for 61% of recorded stints (`mimic parity`). The wall
/// time stands in only when the account is unknown (0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueuedView {
    pub history: History,
    /// stop_ts of the last stint already counted.
    last_stop_ts: u64,
}

impl QueuedView {
    /// Feed one queued task (at time `now_ns`); returns whether this enqueue is a wakeup.
    ///
    /// A wakeup is an enqueue with `SCX_ENQ_WAKEUP`, or a new task's first enqueue, which
    /// `wake_up_new_task()` makes without that flag (after selecting a CPU on the parent's, or
    /// not at all for a task allowed on one CPU): the tracer sees both as wakeups
    /// (`sched_wakeup`, `sched_wakeup_new`). A first enqueue is one for which a CPU was selected
    /// without the flag, or the first this view sees of a task that never ran.
    pub fn observe(&mut self, task: &Task, now_ns: u64) -> bool {
        let never_seen = self.history.stops == 0 && self.history.last_wakeup_ns == 0 && task.stop_ts == 0;
        let wakeup = task.flags & SCX_ENQ_WAKEUP != 0 || task.waker_cpu >= 0 || never_seen;
        if task.stop_ts > task.start_ts && task.stop_ts != self.last_stop_ts {
            let ran = if task.stint_exec_ns != 0 { task.stint_exec_ns } else { task.stop_ts - task.start_ts };
            self.history.on_stop(ran, wakeup, task.stop_ts);
            self.last_stop_ts = task.stop_ts;
        }
        if wakeup {
            self.history.on_wakeup(if task.enq_ts != 0 { task.enq_ts } else { now_ns });
        }
        wakeup
    }

    /// The vector for this task now.
    pub fn vector(&self, task: &Task, sys: &SystemView) -> [f32; N_FEATURES] {
        let attrs = TaskAttrs { weight: task.weight, nr_cpus_allowed: task.nr_cpus_allowed, comm: task.comm };
        vector(&self.history, &attrs, sys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_sched_ext() {
        assert_eq!(scx_weight_from_nice(0), 100);
        assert_eq!(scx_weight_from_nice(-20), 8668);
        assert_eq!(scx_weight_from_nice(19), 1);
        assert_eq!(scx_weight_from_nice(5), 33);
        assert_eq!(scx_weight_from_nice(99), 1, "out-of-range nice is clamped");
    }

    #[test]
    fn comm_class_ignores_digits_and_is_stable() {
        assert_eq!(comm_class(b"kworker/u8:3"), comm_class(b"kworker/u16:1"));
        assert_ne!(comm_class(b"kworker/u8:3"), comm_class(b"stress-ng-cpu"));
        assert_eq!(comm_class(b"bash\0\0\0"), comm_class(b"bash"));
        // Pinned values: a change here silently invalidates every trained model.
        assert_eq!(comm_class(b"bash"), 31);
        assert!(comm_class(b"anything") < 4096);
    }

    #[test]
    fn history_tracks_runtime_bursts_and_ratios() {
        let mut h = History::default();
        h.on_wakeup(1_000_000);
        h.on_stop(400_000, false, 1_400_000);
        assert_eq!(h.slept_ns, 0);
        h.on_stop(800_000, true, 2_200_000);
        assert_eq!(h.exec_runtime_ns, 1_200_000);
        assert_eq!(h.last_burst_ns, 800_000);
        assert_eq!(h.avg_burst_ns, 500_000.0);
        assert_eq!(h.voluntary_ratio, 0.25);
        h.on_wakeup(11_000_000);
        assert_eq!(h.exec_runtime_ns, 0);
        assert_eq!(h.avg_wake_interval_ns, 10_000_000.0);
        assert_eq!(h.slept_ns, 8_800_000, "slept from its last stop (2.2 ms) to the wakeup (11 ms)");
        let v = vector(&h, &TaskAttrs { weight: 100, nr_cpus_allowed: 2, comm: [0; 16] }, &SystemView::default());
        assert_eq!(v[4], 100.0, "10 ms between wakeups is 100 Hz");
        assert_eq!(v[5], 8_800.0, "slept_us");
        assert_eq!(FEATURE_NAMES.len(), FEATURE_DOCS.len());
    }
}
