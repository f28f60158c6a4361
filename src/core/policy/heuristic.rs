//! The heuristic policy: the plain, rustland-like baseline the learned policy is compared with.
//!
//! * **Order**: the virtual deadline vruntime + runtime since the last wakeup, both scaled by
//!   weight ([`VirtualClock::deadline`]): tasks that sleep often come before CPU hogs.
//! * **Placement**: an idle CPU found by `select_cpu` (the BPF built-in idle picker, which
//!   prefers the previous CPU and its cache siblings); if none is idle, "any CPU" (the shared
//!   queue, in deadline order: the first CPU to free up takes it).
//! * **Slice**: fixed.
//! * **Preemption** ([`PreemptRule`]): with `Deadline`, every eligible *waking* task asks the BPF side
//!   to preempt a CPU running a later deadline (EEVDF's wakeup rule).

use super::{Context, Decision, Notice, Policy, PreemptRule, Target, TaskVtime, VirtualClock, TASK_TABLE_SLOTS};
use crate::stats::SchedCounters;
use crate::table::TaskTable;
use crate::task::Task;

pub struct Heuristic {
    clock: VirtualClock,
    tasks: TaskTable<TaskVtime>,
    preempt: PreemptRule,
}

impl Heuristic {
    /// A heuristic that gives every task `slice_ns` and asks to preempt by `preempt`.
    pub fn new(slice_ns: u64, preempt: PreemptRule) -> Self {
        Self { clock: VirtualClock::new(slice_ns), tasks: TaskTable::with_capacity(TASK_TABLE_SLOTS), preempt }
    }
}

/// Where the heuristic runs a task, given the idle CPU `select_cpu` found (negative: none).
///
/// Only two targets, on purpose. The BPF side serves a CPU's own queue *before* the shared
/// one, so a task put on a busy CPU's own queue can overtake the shared queue indefinitely:
/// in the VM gate, with pinned affinity stressors filling CPU 1's queue, an unbound kworker
/// (the one that runs the sched_ext watchdog) waited 2+ s in the shared queue with the
/// earliest deadline of all, and the kernel ejected us ("watchdog failed to check in").
/// So a CPU's own queue only ever gets a task when that CPU is idle (it drains at once), and
/// everything else, pinned tasks included, goes to the shared queue in deadline order; a
/// CPU skips shared-queue tasks it may not run, so pinned tasks still land on their CPU.
pub fn target(idle_cpu: i32) -> Target {
    if idle_cpu >= 0 {
        // An idle CPU: run there now (select_cpu already preferred the previous CPU).
        Target::Cpu(idle_cpu)
    } else {
        // All busy: the shared queue, in deadline order; the first CPU to free up takes it.
        Target::Any
    }
}

impl Policy for Heuristic {
    const NAME: &'static str = "heuristic";

    fn decide(&mut self, task: &Task, ctx: &Context) -> Decision {
        let (state, new) = self.tasks.entry(task.pid);
        let deadline = self.clock.deadline(task, state, new);
        Decision {
            target: target(ctx.idle_cpu),
            slice_ns: self.clock.slice_ns(),
            deadline,
            preempt: self.preempt != PreemptRule::Off && self.clock.wants_preempt(task, state),
            // Its rule at the next wakeup, when the previous CPU is idle: that CPU (select_cpu
            // prefers it) and the same fixed slice — the fast path decides exactly as it would.
            idle_prev: true,
            // Its rule at the next wakeup, with the previous CPU busy and none idle: preempt a
            // later deadline (the BPF side compares the deadlines; it does not test
            // eligibility, which a waking task lifted to the clock nearly always has).
            preempt_prev: self.preempt != PreemptRule::Off,
        }
    }

    fn report(&self, c: &mut SchedCounters) {
        c.tasks_tracked = self.tasks.len() as u64;
        c.tasks_evicted = self.tasks.evicted();
    }

    fn forget(&mut self, pid: i32) -> bool {
        self.tasks.remove(pid)
    }

    fn observe(&mut self, task: &Task, notice: Notice, _now_ns: u64) {
        let (state, new) = self.tasks.entry(task.pid);
        self.clock.observe(task, state, new, notice);
    }

    fn follow_clock(&mut self, bpf_vtime_now: u64) {
        self.clock.follow(bpf_vtime_now);
    }

    fn vtime_now(&self) -> u64 {
        self.clock.vtime_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::SystemView;

    fn task(pid: i32, cpu: i32, nr_cpus_allowed: u64) -> Task {
        Task { cpu, nr_cpus_allowed, ..Task::new(pid, "x") }
    }

    #[test]
    fn placement_is_the_idle_cpu_or_the_shared_queue_even_for_pinned_tasks() {
        assert_eq!(target(1), Target::Cpu(1));
        assert_eq!(target(-16), Target::Any);
        let mut h = Heuristic::new(1_500_000, PreemptRule::Deadline);
        let ctx = |idle_cpu| Context { idle_cpu, sys: SystemView::default(), now_ns: 0 };
        // Pinned tasks too: a busy CPU's own queue would let them overtake the shared queue.
        assert_eq!(h.decide(&task(7, 1, 1), &ctx(-16)).target, Target::Any);
        let d = h.decide(&task(8, 0, 2), &ctx(0));
        assert_eq!((d.target, d.slice_ns), (Target::Cpu(0), 1_500_000));
    }

    #[test]
    fn it_owns_its_task_table_and_reports_it() {
        let mut h = Heuristic::new(1_500_000, PreemptRule::Deadline);
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 0 };
        for pid in 1..=5 {
            h.decide(&task(pid, 0, 2), &ctx);
        }
        h.decide(&task(3, 0, 2), &ctx);
        let mut c = SchedCounters::default();
        h.report(&mut c);
        assert_eq!((c.tasks_tracked, c.tasks_evicted), (5, 0));
    }

    fn ran(pid: i32, burst_ns: u64) -> Task {
        Task { start_ts: 1_000, stop_ts: 1_000 + burst_ns, ..task(pid, 0, 2) }
    }

    #[test]
    fn only_an_eligible_waking_task_asks_to_preempt_and_only_under_the_deadline_rule() {
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 0 };
        let woke = |pid, burst| Task { flags: crate::features::SCX_ENQ_WAKEUP, ..ran(pid, burst) };
        for rule in [PreemptRule::Off, PreemptRule::Deadline] {
            let mut h = Heuristic::new(1_500_000, rule);
            h.decide(&ran(1, 0), &ctx);
            h.decide(&ran(2, 0), &ctx);
            // Task 1 runs 2 ms and wakes: it is now the front-runner, not eligible.
            assert!(!h.decide(&woke(1, 2_000_000), &ctx).preempt, "{rule:?}: the front-runner");
            // Task 2 ran 0.1 ms: behind the clock, eligible; it asks only when it wakes.
            assert!(!h.decide(&ran(2, 100_000), &ctx).preempt, "{rule:?}: a slice end is not a wakeup");
            assert_eq!(h.decide(&woke(2, 100_000), &ctx).preempt, rule == PreemptRule::Deadline, "{rule:?}");
        }
    }

    #[test]
    fn the_standing_decision_preempts_only_under_the_deadline_rule() {
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 0 };
        for rule in [PreemptRule::Off, PreemptRule::Deadline] {
            let d = Heuristic::new(1_500_000, rule).decide(&ran(1, 0), &ctx);
            assert!(d.idle_prev, "{rule:?}");
            assert_eq!(d.preempt_prev, rule == PreemptRule::Deadline, "{rule:?}");
        }
    }

    #[test]
    fn a_run_we_only_observe_is_charged_like_a_decided_one() {
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 0 };
        let (mut decided, mut observed) = (Heuristic::new(1_500_000, PreemptRule::Off), Heuristic::new(1_500_000, PreemptRule::Off));
        for h in [&mut decided, &mut observed] {
            h.decide(&ran(1, 0), &ctx);
            h.decide(&ran(2, 0), &ctx);
        }
        decided.decide(&ran(1, 1_000_000), &ctx);
        observed.observe(&ran(1, 1_000_000), Notice::Requeued, 0);
        // The next decision for task 1 sees the same virtual runtime either way.
        assert_eq!(decided.decide(&ran(1, 0), &ctx), observed.decide(&ran(1, 0), &ctx));
        // And observing is not free of effect: without it, task 1 would come earlier.
        let mut ignorant = Heuristic::new(1_500_000, PreemptRule::Off);
        ignorant.decide(&ran(1, 0), &ctx);
        ignorant.decide(&ran(2, 0), &ctx);
        assert!(ignorant.decide(&ran(1, 0), &ctx).deadline < decided.decide(&ran(1, 0), &ctx).deadline);
    }

    #[test]
    fn a_pid_reused_after_an_exit_starts_with_an_empty_history() {
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 0 };
        let mut h = Heuristic::new(1_500_000, PreemptRule::Deadline);
        // Task 7 sleeps a lot (early deadlines); task 8 is a hog that pushes the clock.
        for _ in 0..20 {
            h.decide(&ran(7, 10_000), &ctx);
            h.decide(&ran(8, 3_000_000), &ctx);
        }
        let remembered = h.decide(&ran(7, 0), &ctx).deadline;
        assert!(h.forget(7), "task 7 was known");
        assert!(!h.forget(7), "and is forgotten");
        // The new task 7 starts at the clock, like any new task: not with the old one's credit.
        let fresh = h.decide(&ran(7, 0), &ctx).deadline;
        assert!(fresh > remembered, "reused pid deadline {fresh} should be later than the old task's {remembered}");
        let mut c = SchedCounters::default();
        h.report(&mut c);
        assert_eq!(c.tasks_tracked, 2);
    }
}
