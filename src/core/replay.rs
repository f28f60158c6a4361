//! Replay of the tracer's kernel events into decision rows, through the feature contract.
//!
//! The tracer (`bpf/tracer.bpf.c`) records, under the kernel's default scheduler (EEVDF):
//! * **stop** events (`sched_switch`, for the task switched out): how long it ran since it was
//!   picked (the CPU time the kernel accounted) and whether it left voluntarily (blocked) or was
//!   preempted;
//! * **wakeup** events (`sched_waking` + `sched_wakeup`/`sched_wakeup_new`): the task's previous
//!   CPU, the waker's CPU, the CPU EEVDF chose and whether that CPU was idle;
//! * **exit** events.
//!
//! A *decision* happens whenever a task becomes runnable: at a wakeup (placement + slice +
//! preemption) and when it is preempted and goes back to the run queue (slice). The features of a
//! decision are those known at that moment. The labels:
//! * **slice**: the length of the task's *next* stint (and how it ended);
//! * **placement**: where EEVDF put a waking task — with a flag saying whether there was a choice
//!   at all (not for a task still on a run queue, nor for one allowed on a single CPU);
//! * **preemption**: for a wakeup onto a CPU that was running another task, whether EEVDF
//!   preempted it for the woken one: the running task was told to reschedule by the wakeup (the
//!   tracer reads the flag after `wakeup_preempt()`), and the CPU's next switch went from that
//!   task, still runnable, to the woken one.
//!
//! Phases: a workload mix marks the start of its phase K by a thread named `mimic-phase-K` that
//! exits at once (see `workload::run`); the tracer sees its exit on the same clock as everything
//! else, and every row after it carries phase K (0: before the first marker).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::features::{scx_weight_from_nice, vector, History, SystemView, TaskAttrs, N_FEATURES};
use crate::task::TASK_COMM_LEN;

/// Kinds of tracer events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The task stopped running (it was switched out).
    Stop,
    /// The task woke up and EEVDF placed it.
    Wakeup,
    /// A new task was placed for the first time.
    WakeupNew,
    /// The task exited.
    Exit,
}

/// One tracer event, decoded from the tracer's per-CPU rings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceEvent {
    pub ts_ns: u64,
    pub kind: EventKind,
    pub pid: i32,
    /// Stop: the CPU it ran on. Wakeup: the CPU EEVDF chose.
    pub cpu: i32,
    /// Wakeup: the task's CPU before the wakeup.
    pub prev_cpu: i32,
    /// Wakeup: the CPU of the waking context.
    pub waker_cpu: i32,
    /// Stop: the task blocked (true) or was preempted (false).
    pub voluntary: bool,
    /// Stop: time since it was switched in, ns.
    pub ran_ns: u64,
    /// Wakeup: the chosen CPU was idle.
    pub chosen_idle: bool,
    /// Stop: the task switched in (0: the idle task).
    pub next_pid: i32,
    /// Wakeup: the task running on the chosen CPU (0: idle).
    pub curr_pid: i32,
    /// Wakeup: the task was still on a run queue (nothing was placed).
    pub queued: bool,
    /// Wakeup: the chosen CPU's running task was told to reschedule (by this wakeup).
    pub resched: bool,
    /// Task's nice value.
    pub nice: i32,
    pub nr_cpus_allowed: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

/// Placement classes (the labels of the placement model).
pub const PLACEMENT_CLASSES: [&str; 4] = ["prev_cpu", "waker_cpu", "other_idle_cpu", "other_busy_cpu"];

/// The placement class of a wakeup: stay on the previous CPU, go to the waker's CPU, or move to
/// another CPU that was idle / busy.
pub fn placement_class(prev_cpu: i32, waker_cpu: i32, chosen_cpu: i32, chosen_idle: bool) -> u8 {
    if chosen_cpu == prev_cpu {
        0
    } else if chosen_cpu == waker_cpu {
        1
    } else if chosen_idle {
        2
    } else {
        3
    }
}

/// Why a task became runnable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Wakeup,
    /// Preempted, straight back to the run queue.
    Requeue,
}

/// A decision point: the features known when the task became runnable.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub ts_ns: u64,
    pub pid: i32,
    pub cause: Cause,
    pub features: [f32; N_FEATURES],
}

/// The thread name that marks the start of a workload phase: `mimic-phase-K`.
pub const PHASE_MARKER: &str = "mimic-phase-";

/// The phase a marker thread's name stands for, if it is one.
pub fn phase_marker(comm: &[u8]) -> Option<u32> {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    std::str::from_utf8(&comm[..end]).ok()?.strip_prefix(PHASE_MARKER)?.parse().ok()
}

/// A slice row: a decision and the length of the stint that followed it.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRow {
    pub ts_ns: u64,
    pub phase: u32,
    pub pid: i32,
    pub comm: [u8; TASK_COMM_LEN],
    pub features: [f32; N_FEATURES],
    pub ran_ns: u64,
    pub voluntary: bool,
}

/// A placement row: a wakeup decision and where EEVDF put the task.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementRow {
    pub ts_ns: u64,
    pub phase: u32,
    pub pid: i32,
    pub comm: [u8; TASK_COMM_LEN],
    pub features: [f32; N_FEATURES],
    pub prev_cpu: i32,
    pub waker_cpu: i32,
    pub chosen_cpu: i32,
    pub chosen_idle: bool,
    pub class: u8,
    /// EEVDF had a choice: the task was not on a run queue and may run on more than one CPU.
    pub had_choice: bool,
}

/// A preemption row: a wakeup onto a CPU running another task, and whether EEVDF preempted it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreemptRow {
    pub ts_ns: u64,
    pub phase: u32,
    pub pid: i32,
    pub comm: [u8; TASK_COMM_LEN],
    pub features: [f32; N_FEATURES],
    /// The CPU the task was placed on, and the task running there.
    pub cpu: i32,
    pub curr_pid: i32,
    pub preempted: bool,
}

/// A wakeup onto a busy CPU whose outcome is known at that CPU's next switch.
#[derive(Debug, Clone)]
struct PendingPreempt {
    row: PreemptRow,
    resched: bool,
}

#[derive(Default)]
struct TaskState {
    history: History,
    /// CPU time since the task last became runnable (its stints since; what the scheduler's BPF
    /// side measures from `ops.runnable`, which a task woken while still running never passes).
    exec_since_runnable: u64,
    pending: Option<Decision>,
}

/// Turns a stream of tracer events into decisions and rows.
pub struct Replayer {
    tasks: HashMap<i32, TaskState>,
    /// Per CPU: wakeups onto it waiting for its next switch.
    pending_preempt: HashMap<i32, Vec<PendingPreempt>>,
    /// The workload phase now (from the markers; 0 before the first).
    phase: u32,
    pub decisions: Vec<Decision>,
    pub slices: Vec<SliceRow>,
    pub placements: Vec<PlacementRow>,
    pub preempts: Vec<PreemptRow>,
    /// Preemption rows dropped because the CPU's next switch was not from the task that ran at
    /// the wakeup (it was not a recorded task, e.g. a real-time one).
    pub preempt_unresolved: u64,
    /// Keep every decision in `decisions` (for tests); rows are always kept.
    pub keep_decisions: bool,
    /// Per CPU: the task running there (0: idle) and when it was switched in.
    running: HashMap<i32, (i32, u64)>,
    /// CPUs of the machine (0..nr_cpus), and how many of them run a task.
    nr_cpus: u32,
    busy_cpus: u32,
    /// Tasks waiting for a CPU: woken or preempted, not switched in since.
    waiting: HashSet<i32>,
    /// Tasks seen exiting. A task can still block and be woken on its way out, so its last
    /// switch-out is not known when it comes; each of its switch-outs after the exit brings its
    /// state back (as the scheduler keeps a task's state until the task is freed).
    exited: HashSet<i32>,
    /// Exited tasks by their latest blocking switch-out, oldest first: once [`DEAD_KEPT`] more
    /// have come, a task still not woken since is forgotten — the table does not grow with
    /// every task a trace sees exit.
    dead: VecDeque<(i32, u64)>,
    /// Per task in `dead`: the number of its latest entry there.
    dead_latest: HashMap<i32, u64>,
    dead_seq: u64,
}

/// Exited tasks whose state is kept after their last seen switch-out (see `Replayer::dead`).
const DEAD_KEPT: usize = 4096;

impl Replayer {
    /// A replay of a trace recorded on a machine of `nr_cpus` CPUs.
    pub fn new(nr_cpus: u32) -> Self {
        Replayer {
            tasks: HashMap::new(),
            pending_preempt: HashMap::new(),
            phase: 0,
            decisions: Vec::new(),
            slices: Vec::new(),
            placements: Vec::new(),
            preempts: Vec::new(),
            preempt_unresolved: 0,
            keep_decisions: false,
            running: HashMap::new(),
            nr_cpus,
            busy_cpus: 0,
            waiting: HashSet::new(),
            exited: HashSet::new(),
            dead: VecDeque::new(),
            dead_latest: HashMap::new(),
            dead_seq: 0,
        }
    }

    /// The system when `pid` is decided, counted from the events the way the scheduler's BPF side
    /// counts it (`BpfCounts`): runnable = CPUs running a task + tasks waiting for one, the
    /// deciding task left out unless it is still running; idle CPUs = the others. The tracer does
    /// not scan the run queues for it, so its cost per event does not grow with the CPUs. A CPU
    /// not seen yet in the trace counts as idle (a busy one is seen at its next switch).
    fn system_view(&self, pid: i32, prev_cpu: i32) -> SystemView {
        let waiting_others = self.waiting.len() - usize::from(self.waiting.contains(&pid));
        SystemView {
            nr_runnable: self.busy_cpus + waiting_others as u32,
            idle_cpus: self.nr_cpus.saturating_sub(self.busy_cpus),
            prev_cpu_idle: (0..self.nr_cpus as i32).contains(&prev_cpu)
                && self.running.get(&prev_cpu).is_none_or(|&(p, _)| p == 0),
            ..Default::default()
        }
    }

    /// An exited task blocked (maybe for the last time): forget the oldest such task once
    /// [`DEAD_KEPT`] have come after it, if nothing was heard of it since.
    fn forget_the_dead(&mut self, pid: i32) {
        self.dead_seq += 1;
        self.dead.push_back((pid, self.dead_seq));
        self.dead_latest.insert(pid, self.dead_seq);
        while self.dead.len() > DEAD_KEPT {
            let Some((old, seq)) = self.dead.pop_front() else { break };
            // Its latest blocking switch-out, and still exited and not queued again since.
            if self.dead_latest.get(&old) == Some(&seq) {
                self.dead_latest.remove(&old);
                if self.exited.contains(&old) && !self.waiting.contains(&old) {
                    self.exited.remove(&old);
                    self.tasks.remove(&old);
                }
            }
        }
    }

    /// A switch on `cpu` at `ts`: `next` (0: the idle task) runs there from now.
    fn switch_in(&mut self, cpu: i32, next: i32, ts: u64) {
        let old = self.running.insert(cpu, (next, ts)).map_or(0, |(p, _)| p);
        if (0..self.nr_cpus as i32).contains(&cpu) {
            self.busy_cpus = self.busy_cpus + u32::from(next > 0) - u32::from(old > 0);
        }
        self.waiting.remove(&next);
    }

    fn decide(&mut self, ev: &TraceEvent, cause: Cause, sys: &SystemView) -> Decision {
        let st = self.tasks.entry(ev.pid).or_default();
        let attrs = TaskAttrs {
            weight: scx_weight_from_nice(ev.nice),
            nr_cpus_allowed: ev.nr_cpus_allowed as u64,
            comm: ev.comm,
        };
        let d = Decision { ts_ns: ev.ts_ns, pid: ev.pid, cause, features: vector(&st.history, &attrs, sys) };
        st.pending = Some(d.clone());
        if self.keep_decisions {
            self.decisions.push(d.clone());
        }
        d
    }

    /// Feed one event (events must come in time order per task).
    pub fn push(&mut self, ev: &TraceEvent) {
        if ev.kind == EventKind::Stop {
            // Every switch is recorded (from an unrecorded task as pid 0): the incoming task
            // runs on this CPU from now.
            self.switch_in(ev.cpu, ev.next_pid, ev.ts_ns);
        }
        if ev.pid <= 0 {
            return; // the idle task
        }
        match ev.kind {
            EventKind::Stop => {
                self.resolve_preemptions(ev);
                if ev.voluntary && self.exited.contains(&ev.pid) {
                    self.forget_the_dead(ev.pid);
                }
                let st = self.tasks.entry(ev.pid).or_default();
                st.history.on_stop(ev.ran_ns, ev.voluntary, ev.ts_ns);
                st.exec_since_runnable += ev.ran_ns;
                if let Some(d) = st.pending.take() {
                    self.slices.push(SliceRow {
                        ts_ns: d.ts_ns,
                        phase: self.phase,
                        pid: ev.pid,
                        comm: ev.comm,
                        features: d.features,
                        ran_ns: ev.ran_ns,
                        voluntary: ev.voluntary,
                    });
                }
                if ev.voluntary {
                    self.waiting.remove(&ev.pid);
                } else {
                    // Preempted: it is runnable again at once, waiting, a new slice decision.
                    self.waiting.insert(ev.pid);
                    let sys = self.system_view(ev.pid, ev.cpu);
                    self.decide(ev, Cause::Requeue, &sys);
                }
            }
            EventKind::Wakeup | EventKind::WakeupNew => {
                if ev.kind == EventKind::WakeupNew {
                    // A pid reused by a new task: no longer the exited one.
                    self.exited.remove(&ev.pid);
                }
                let running = self.running.values().any(|&(p, _)| p == ev.pid);
                let st = self.tasks.entry(ev.pid).or_default();
                st.history.on_wakeup(ev.ts_ns);
                if !running {
                    st.exec_since_runnable = 0;
                    // A task woken while still on its CPU (it had not finished going to sleep)
                    // is running, not waiting.
                    self.waiting.insert(ev.pid);
                }
                let mut sys = self.system_view(ev.pid, ev.prev_cpu);
                // The kernel selects a CPU on the waking side, except for a task allowed on one.
                sys.prev_is_waker_cpu = ev.nr_cpus_allowed > 1 && ev.waker_cpu >= 0 && ev.prev_cpu == ev.waker_cpu;
                (sys.prev_cpu_curr_run_ns, sys.prev_cpu_curr_exec_ns) = self.curr_run(ev.prev_cpu, ev.pid, ev.ts_ns);
                let d = self.decide(ev, Cause::Wakeup, &sys);
                if !ev.chosen_idle && ev.curr_pid > 0 && ev.curr_pid != ev.pid {
                    let row = PreemptRow { ts_ns: ev.ts_ns, phase: self.phase, pid: ev.pid, comm: ev.comm, features: d.features,
                                           cpu: ev.cpu, curr_pid: ev.curr_pid, preempted: false };
                    self.pending_preempt.entry(ev.cpu).or_default().push(PendingPreempt { row, resched: ev.resched });
                }
                self.placements.push(PlacementRow {
                    ts_ns: ev.ts_ns,
                    phase: self.phase,
                    pid: ev.pid,
                    comm: ev.comm,
                    features: d.features,
                    prev_cpu: ev.prev_cpu,
                    waker_cpu: ev.waker_cpu,
                    chosen_cpu: ev.cpu,
                    chosen_idle: ev.chosen_idle,
                    class: placement_class(ev.prev_cpu, ev.waker_cpu, ev.cpu, ev.chosen_idle),
                    had_choice: !ev.queued && ev.nr_cpus_allowed > 1,
                });
            }
            EventKind::Exit => {
                self.tasks.remove(&ev.pid);
                self.waiting.remove(&ev.pid);
                self.exited.insert(ev.pid);
                if let Some(k) = phase_marker(&ev.comm) {
                    self.phase = k;
                }
            }
        }
    }

    /// The task running on `cpu` at `now_ns`: how long it has run since it was switched in, and
    /// its CPU time since it became runnable (this stint included); (0, 0) when the CPU is idle,
    /// runs `pid` itself, or its task is not known yet.
    fn curr_run(&self, cpu: i32, pid: i32, now_ns: u64) -> (u64, u64) {
        match self.running.get(&cpu) {
            Some(&(curr, since)) if curr > 0 && curr != pid => {
                let run = now_ns.saturating_sub(since);
                let before = self.tasks.get(&curr).map_or(0, |t| t.exec_since_runnable);
                (run, before + run)
            }
            _ => (0, 0),
        }
    }

    /// A switch on `stop.cpu`: the wakeups onto that CPU get their preemption label. EEVDF
    /// preempted for the woken task if the wakeup told the running task to reschedule and this
    /// switch is from that task, still runnable, to the woken one.
    fn resolve_preemptions(&mut self, stop: &TraceEvent) {
        let Some(pending) = self.pending_preempt.remove(&stop.cpu) else { return };
        for p in pending {
            if p.row.curr_pid != stop.pid {
                self.preempt_unresolved += 1;
                continue;
            }
            let preempted = p.resched && !stop.voluntary && stop.next_pid == p.row.pid;
            self.preempts.push(PreemptRow { preempted, ..p.row });
        }
    }

    /// Wakeups still waiting for their CPU's next switch (at the end of a trace: unresolved).
    pub fn preempt_pending(&self) -> usize {
        self.pending_preempt.values().map(Vec::len).sum()
    }

    /// Tasks currently tracked.
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf_view::BpfCounts;
    use crate::features::{QueuedView, FEATURE_NAMES, SCX_ENQ_WAKEUP};
    use crate::task::Task;

    /// What a task does in a synthetic scenario.
    #[derive(Clone, Copy)]
    enum Act {
        /// Wake up at t.
        Wake(u64),
        /// Run from start to stop, then block (true) or be preempted (false).
        Run(u64, u64, bool),
    }

    struct Scenario {
        pid: i32,
        nice: i32,
        cpus: u32,
        comm: &'static str,
        acts: Vec<Act>,
    }

    /// The scenarios' machine: two CPUs.
    const CPUS: u32 = 2;

    fn scenarios() -> Vec<Scenario> {
        vec![
            // An interactive task: short runs, always blocks.
            Scenario { pid: 10, nice: 0, cpus: 2, comm: "ui-thread", acts: vec![
                Act::Wake(1_000), Act::Run(2_000, 52_000, true), Act::Wake(1_000_000),
                Act::Run(1_001_000, 1_031_000, true), Act::Wake(2_000_000), Act::Run(2_000_500, 2_090_500, true)] },
            // A hog at nice 5: long runs, preempted, then finally blocks.
            Scenario { pid: 11, nice: 5, cpus: 1, comm: "stress-ng-cpu", acts: vec![
                Act::Wake(3_000), Act::Run(4_000, 3_004_000, false), Act::Run(3_500_000, 6_500_000, false),
                Act::Run(7_000_000, 9_000_000, true), Act::Wake(12_000_000), Act::Run(12_100_000, 14_000_000, false)] },
            // A high-priority task with mixed behaviour.
            Scenario { pid: 12, nice: -10, cpus: 4, comm: "kworker/u8:3", acts: vec![
                Act::Wake(5_000), Act::Run(6_000, 106_000, false), Act::Run(200_000, 260_000, true),
                Act::Wake(400_000), Act::Run(401_000, 402_000, true), Act::Wake(3_000_000), Act::Run(3_000_100, 3_700_100, true)] },
        ]
    }

    /// The CPU that wakes each scenario task: 0, its previous CPU, for pids 11 (allowed on one
    /// CPU, so nothing is selected) and 12; 1 for pid 10.
    fn waker_of(pid: i32) -> i32 {
        if pid == 10 { 1 } else { 0 }
    }

    /// The tracer's view of a scenario: kernel events, merged in time order.
    fn trace_events(sc: &[Scenario]) -> Vec<TraceEvent> {
        let mut evs = Vec::new();
        for s in sc {
            let base = TraceEvent {
                ts_ns: 0, kind: EventKind::Stop, pid: s.pid, cpu: 0, prev_cpu: 0, waker_cpu: waker_of(s.pid), voluntary: false,
                ran_ns: 0, chosen_idle: true, next_pid: 0, curr_pid: 0, queued: false, resched: false,
                nice: s.nice, nr_cpus_allowed: s.cpus, comm: Task::comm_from(s.comm),
            };
            let mut first = true;
            for a in &s.acts {
                match *a {
                    Act::Wake(t) => {
                        evs.push(TraceEvent { ts_ns: t, kind: if first { EventKind::WakeupNew } else { EventKind::Wakeup }, ..base });
                        first = false;
                    }
                    // The switch-out is seen at `stop`; a preempted task is re-queued then.
                    Act::Run(start, stop, block) => evs.push(TraceEvent {
                        ts_ns: stop, kind: EventKind::Stop, ran_ns: stop - start, voluntary: block, ..base }),
                }
            }
        }
        evs.sort_by_key(|e| e.ts_ns);
        evs
    }

    /// Whether scenario task `s` waits for a CPU at `now`: its last act before `now` woke it, or
    /// was a run that ended preempted. (The scenarios record no switch-ins, so no CPU is ever seen
    /// running a task and a task waits until its run is seen ending.)
    fn waiting_at(s: &Scenario, now: u64) -> bool {
        let last = s.acts.iter().filter(|a| match **a { Act::Wake(t) => t < now, Act::Run(_, stop, _) => stop < now }).last();
        matches!(last, Some(Act::Wake(_)) | Some(Act::Run(_, _, false)))
    }

    /// The scheduler's view of the same scenario: one QueuedTask per time the task becomes
    /// runnable, carrying its last stint (start/stop), its wakeup flag, weight and comm, and the
    /// BPF side's counters at that moment (no CPU running a task, the other tasks' waiting ones
    /// queued to user space).
    fn scheduler_vectors(sc: &[Scenario]) -> Vec<(i32, u64, [f32; N_FEATURES])> {
        let mut out = Vec::new();
        for s in sc {
            let mut view = QueuedView::default();
            let (mut start_ts, mut stop_ts) = (0, 0);
            for a in &s.acts {
                let mut first_enqueue = start_ts == 0 && stop_ts == 0;
                let (now, flags) = match *a {
                    // A new task's first enqueue has no wakeup flag (wake_up_new_task()).
                    Act::Wake(t) if std::mem::take(&mut first_enqueue) => (t, 0),
                    Act::Wake(t) => (t, SCX_ENQ_WAKEUP),
                    Act::Run(start, stop, block) => {
                        start_ts = start;
                        stop_ts = stop;
                        if block { continue } // it sleeps; its next enqueue is the wakeup
                        (stop, 0)
                    }
                };
                let task = Task { nr_cpus_allowed: s.cpus as u64, flags, start_ts, stop_ts, weight: scx_weight_from_nice(s.nice), enq_ts: now,
                                  waker_cpu: if matches!(a, Act::Wake(_)) && s.cpus > 1 { waker_of(s.pid) } else { -1 },
                                  ..Task::new(s.pid, s.comm) };
                view.observe(&task, now);
                let queued = sc.iter().filter(|o| o.pid != s.pid && waiting_at(o, now)).count() as u64;
                let counts = BpfCounts { nr_online_cpus: CPUS as u64, nr_running: 0, nr_queued: queued, nr_scheduled: 0 };
                // select_cpu finds the task's previous CPU (0) idle.
                out.push((s.pid, now, view.vector(&task, &counts.system_view(&task, 0))));
            }
        }
        out.sort_by_key(|&(pid, t, _)| (t, pid));
        out
    }

    #[test]
    fn tracer_and_scheduler_compute_identical_feature_vectors() {
        let sc = scenarios();
        let mut r = Replayer { keep_decisions: true, ..Replayer::new(CPUS) };
        for ev in trace_events(&sc) {
            r.push(&ev);
        }
        let mut traced: Vec<(i32, u64, [f32; N_FEATURES])> = r.decisions.iter().map(|d| (d.pid, d.ts_ns, d.features)).collect();
        traced.sort_by_key(|&(pid, t, _)| (t, pid));
        let sched = scheduler_vectors(&sc);
        assert_eq!(traced.len(), sched.len(), "different number of decisions");
        assert!(traced.len() >= 12);
        for (a, b) in traced.iter().zip(&sched) {
            assert_eq!(a, b, "tracer and scheduler disagree");
        }
        // And the vectors are not trivially equal: history really moved them.
        assert!(traced.windows(2).any(|w| w[0].2[3] != w[1].2[3]));
        let runnable = FEATURE_NAMES.iter().position(|&n| n == "nr_runnable").unwrap();
        assert!(traced.iter().any(|t| t.2[runnable] > 0.0), "the counts moved too");
    }

    #[test]
    fn system_counts_come_from_the_switches_and_wakeups() {
        let mut r = Replayer { keep_decisions: true, ..Replayer::new(CPUS) };
        let wake = |ts, pid, prev| ev(ts, EventKind::Wakeup, pid, prev);
        let stop = |ts, pid, cpu, voluntary, next| TraceEvent { voluntary, next_pid: next, ..ev(ts, EventKind::Stop, pid, cpu) };
        let k = |name| FEATURE_NAMES.iter().position(|&f| f == name).unwrap();
        // (runnable others, idle CPUs, previous CPU idle) at `pid`'s last decision.
        let at = |r: &Replayer, pid: i32| {
            let f = r.decisions.iter().rev().find(|d| d.pid == pid).unwrap().features;
            (f[k("nr_runnable")], f[k("idle_cpus")], f[k("prev_cpu_idle")])
        };
        r.push(&wake(100, 5, 0));
        assert_eq!(at(&r, 5), (0.0, 2.0, 1.0), "nothing known yet: CPUs count as idle, the task itself is left out");
        r.push(&stop(200, 0, 0, true, 5)); // CPU 0: idle -> 5
        r.push(&wake(300, 6, 0));
        assert_eq!(at(&r, 6), (1.0, 1.0, 0.0), "5 runs on CPU 0");
        r.push(&wake(400, 7, 1));
        assert_eq!(at(&r, 7), (2.0, 1.0, 1.0), "5 runs, 6 waits; CPU 1 idle");
        r.push(&stop(500, 5, 0, false, 6)); // 5 preempted by 6
        assert_eq!(at(&r, 5), (2.0, 1.0, 0.0), "its requeue: 6 runs, 7 waits");
        r.push(&wake(600, 6, 0));
        assert_eq!(at(&r, 6), (3.0, 1.0, 0.0), "woken while running: its CPU counts, 5 and 7 wait");
        r.push(&ev(700, EventKind::Exit, 7, 1));
        r.push(&stop(800, 6, 0, true, 0)); // 6 blocks, CPU 0 idle
        r.push(&stop(850, 0, 5, true, 9)); // a CPU beyond the machine's: not counted
        r.push(&wake(900, 8, 0));
        assert_eq!(at(&r, 8), (1.0, 2.0, 1.0), "only 5 waits; the exited task is gone");
    }

    #[test]
    fn slice_rows_pair_each_decision_with_the_next_stint() {
        let mut r = Replayer::new(CPUS);
        for ev in trace_events(&scenarios()) {
            r.push(&ev);
        }
        // pid 11: decisions at wake(3000), requeue(3_004_000), requeue(6_500_000), wake(12_000_000)
        let rows: Vec<_> = r.slices.iter().filter(|s| s.pid == 11).collect();
        let ran: Vec<u64> = rows.iter().map(|s| s.ran_ns).collect();
        assert_eq!(ran, vec![3_000_000, 3_000_000, 2_000_000, 1_900_000]);
        assert_eq!(rows.iter().map(|s| s.voluntary).collect::<Vec<_>>(), vec![false, false, true, false]);
        assert_eq!(r.placements.iter().filter(|p| p.pid == 10).count(), 3);
    }

    #[test]
    fn placement_classes() {
        assert_eq!(placement_class(1, 0, 1, false), 0);
        assert_eq!(placement_class(1, 0, 0, true), 1);
        assert_eq!(placement_class(1, 0, 2, true), 2);
        assert_eq!(placement_class(1, 0, 2, false), 3);
    }

    fn ev(ts_ns: u64, kind: EventKind, pid: i32, cpu: i32) -> TraceEvent {
        TraceEvent { ts_ns, kind, pid, cpu, prev_cpu: cpu, waker_cpu: 1, voluntary: false, ran_ns: 1000, chosen_idle: false,
                     next_pid: 0, curr_pid: 0, queued: false, resched: false, nice: 0, nr_cpus_allowed: 2,
                     comm: Task::comm_from("t") }
    }

    #[test]
    fn what_runs_on_the_previous_cpu_comes_from_the_switches() {
        let mut r = Replayer { keep_decisions: true, ..Replayer::new(CPUS) };
        let wake = |ts, pid, cpu| ev(ts, EventKind::Wakeup, pid, cpu);
        let stop = |ts, pid, ran_ns, voluntary, next| TraceEvent { ran_ns, voluntary, next_pid: next, ..ev(ts, EventKind::Stop, pid, 0) };
        let at = |r: &Replayer, pid: i32| {
            let d = r.decisions.iter().rev().find(|d| d.pid == pid).unwrap();
            let k = |name| FEATURE_NAMES.iter().position(|&f| f == name).unwrap();
            (d.features[k("prev_cpu_curr_run_us")], d.features[k("prev_cpu_curr_exec_us")])
        };
        r.push(&wake(500_000, 5, 0));
        r.push(&stop(1_000_000, 0, 0, true, 5)); // the idle task leaves CPU 0 for task 5
        r.push(&stop(1_300_000, 5, 300_000, false, 6)); // 5 is preempted by 6 after 300 µs
        r.push(&stop(1_500_000, 6, 200_000, true, 5)); // 6 blocks, 5 comes back
        // A task whose previous CPU is 0: task 5 has run 500 µs there, 800 µs since it woke.
        r.push(&wake(2_000_000, 7, 0));
        assert_eq!(at(&r, 7), (500.0, 800.0));
        // Nothing known of CPU 1 yet.
        r.push(&wake(2_100_000, 8, 1));
        assert_eq!(at(&r, 8), (0.0, 0.0));
        // Task 5 woken while it still runs: nothing about itself, and it never stopped being
        // runnable, so its CPU time keeps counting (the scheduler's BPF side sees no ops.runnable).
        r.push(&wake(2_200_000, 5, 0));
        assert_eq!(at(&r, 5), (0.0, 0.0));
        r.push(&wake(2_300_000, 9, 0));
        assert_eq!(at(&r, 9), (800.0, 1_100.0));
        // A preempted task's requeue: the next task has only just come in.
        r.push(&stop(2_400_000, 5, 1_400_000, false, 9));
        assert_eq!(at(&r, 5), (0.0, 0.0));
    }

    #[test]
    fn preemption_labels_come_from_the_resched_flag_and_the_next_switch() {
        let mut r = Replayer::new(CPUS);
        let wake = |ts, pid, curr, resched| TraceEvent { curr_pid: curr, resched, ..ev(ts, EventKind::Wakeup, pid, 0) };
        let stop = |ts, pid, voluntary, next| TraceEvent { voluntary, next_pid: next, ..ev(ts, EventKind::Stop, pid, 0) };
        // 1. Told to reschedule, and the CPU switched from the running task (preempted) to the woken one.
        r.push(&wake(100, 20, 10, true));
        r.push(&stop(110, 10, false, 20));
        // 2. Not told to reschedule: the woken task got the CPU when the runner blocked.
        r.push(&wake(200, 21, 20, false));
        r.push(&stop(210, 20, true, 21));
        // 3. Told to reschedule, but the switch went to another task: not a preemption for this one.
        r.push(&wake(300, 22, 21, true));
        r.push(&stop(310, 21, false, 23));
        // 4. The running task blocked right after the flag was set: it left on its own.
        r.push(&wake(400, 24, 23, true));
        r.push(&stop(410, 23, true, 24));
        // 5. The next switch on that CPU is not from the task seen at the wakeup: unknown, dropped.
        r.push(&wake(500, 25, 24, true));
        r.push(&stop(510, 99, false, 25));
        // 6. An idle CPU, or the woken task itself running there: no row.
        r.push(&TraceEvent { chosen_idle: true, ..wake(600, 26, 0, false) });
        r.push(&wake(700, 27, 27, true));
        let labels: Vec<(i32, bool)> = r.preempts.iter().map(|p| (p.pid, p.preempted)).collect();
        assert_eq!(labels, vec![(20, true), (21, false), (22, false), (24, false)]);
        assert_eq!(r.preempt_unresolved, 1);
        assert_eq!(r.preempt_pending(), 0);
        // A switch on another CPU resolves nothing here.
        r.push(&wake(800, 28, 25, true));
        r.push(&TraceEvent { cpu: 1, ..stop(810, 25, false, 28) });
        assert_eq!(r.preempt_pending(), 1);
    }

    #[test]
    fn placement_rows_say_whether_there_was_a_choice() {
        let mut r = Replayer::new(CPUS);
        r.push(&ev(100, EventKind::Wakeup, 30, 0));
        r.push(&TraceEvent { queued: true, ..ev(200, EventKind::Wakeup, 31, 0) });
        r.push(&TraceEvent { nr_cpus_allowed: 1, ..ev(300, EventKind::Wakeup, 32, 0) });
        let choice: Vec<bool> = r.placements.iter().map(|p| p.had_choice).collect();
        assert_eq!(choice, vec![true, false, false]);
    }

    #[test]
    fn phase_markers_tag_the_rows_that_follow() {
        assert_eq!(phase_marker(&Task::comm_from("mimic-phase-3")), Some(3));
        assert_eq!(phase_marker(&Task::comm_from("mimic-phase-x")), None);
        assert_eq!(phase_marker(&Task::comm_from("stress-ng")), None);
        let mut r = Replayer::new(CPUS);
        r.push(&TraceEvent { voluntary: true, ..ev(50, EventKind::Wakeup, 40, 0) });
        r.push(&TraceEvent { comm: Task::comm_from("mimic-phase-2"), ..ev(100, EventKind::Exit, 41, 0) });
        r.push(&ev(200, EventKind::Wakeup, 42, 0));
        let phases: Vec<u32> = r.placements.iter().map(|p| p.phase).collect();
        assert_eq!(phases, vec![0, 2]);
    }

    #[test]
    fn exited_tasks_are_forgotten_once_enough_others_have_died() {
        let mut r = Replayer::new(CPUS);
        // Task 50 exits, blocks on its way out and is woken (it is still going), then blocks
        // for the last time: its state is kept for now, as the scheduler keeps it until freed.
        r.push(&ev(100, EventKind::Wakeup, 50, 0));
        r.push(&ev(200, EventKind::Exit, 50, 0));
        r.push(&TraceEvent { voluntary: true, ..ev(210, EventKind::Stop, 50, 0) });
        r.push(&ev(220, EventKind::Wakeup, 50, 0));
        r.push(&TraceEvent { voluntary: true, ..ev(230, EventKind::Stop, 50, 0) });
        assert_eq!(r.live_tasks(), 1);
        // DEAD_KEPT other tasks live and die: task 50, dead before them all, is forgotten; the
        // table holds at most DEAD_KEPT dead tasks however many died.
        for k in 0..DEAD_KEPT as i32 + 10 {
            let (pid, t) = (1000 + k, 1_000 + k as u64 * 10);
            r.push(&ev(t, EventKind::WakeupNew, pid, 0));
            r.push(&ev(t + 1, EventKind::Exit, pid, 0));
            r.push(&TraceEvent { voluntary: true, ..ev(t + 2, EventKind::Stop, pid, 0) });
        }
        assert_eq!(r.live_tasks(), DEAD_KEPT, "bounded");
        assert!(!r.tasks.contains_key(&50), "the oldest dead task went first");
    }

    #[test]
    fn exit_forgets_the_task() {
        let mut r = Replayer::new(CPUS);
        let evs = trace_events(&scenarios());
        for ev in &evs {
            r.push(ev);
        }
        assert_eq!(r.live_tasks(), 3);
        r.push(&TraceEvent { kind: EventKind::Exit, ..evs[0] });
        assert_eq!(r.live_tasks(), 2);
    }
}
