//! The heuristic policy: the plain, rustland-like baseline the learned policy is compared with.
//!
//! * **Order**: the virtual deadline vruntime + runtime since the last wakeup, both scaled by
//!   weight ([`VirtualClock::deadline`]): tasks that sleep often come before CPU hogs.
//! * **Placement**: an idle CPU found by `select_cpu` (the BPF built-in idle picker, which
//!   prefers the previous CPU and its cache siblings); if none is idle, "any CPU" (the shared
//!   queue, in deadline order: the first CPU to free up takes it).
//! * **Slice**: fixed.

use super::{Context, Decision, Policy, Target, TaskVtime, VirtualClock, TASK_TABLE_SLOTS};
use crate::stats::SchedCounters;
use crate::table::TaskTable;
use crate::task::Task;

pub struct Heuristic {
    clock: VirtualClock,
    tasks: TaskTable<TaskVtime>,
}

impl Heuristic {
    /// A heuristic that gives every task `slice_ns`.
    pub fn new(slice_ns: u64) -> Self {
        Self { clock: VirtualClock::new(slice_ns), tasks: TaskTable::with_capacity(TASK_TABLE_SLOTS) }
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
        Decision {
            target: target(ctx.idle_cpu),
            slice_ns: self.clock.slice_ns(),
            deadline: self.clock.deadline(task, state, new),
        }
    }

    fn report(&self, c: &mut SchedCounters) {
        c.tasks_tracked = self.tasks.len() as u64;
        c.tasks_evicted = self.tasks.evicted();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::SystemView;

    fn task(pid: i32, cpu: i32, nr_cpus_allowed: u64) -> Task {
        Task { pid, cpu, nr_cpus_allowed, flags: 0, start_ts: 0, stop_ts: 0, exec_runtime: 0, weight: 100, vtime: 0,
               comm: Task::comm_from("x"), kthread: false }
    }

    #[test]
    fn placement_is_the_idle_cpu_or_the_shared_queue_even_for_pinned_tasks() {
        assert_eq!(target(1), Target::Cpu(1));
        assert_eq!(target(-16), Target::Any);
        let mut h = Heuristic::new(1_500_000);
        let ctx = |idle_cpu| Context { idle_cpu, sys: SystemView::default(), now_ns: 0 };
        // Pinned tasks too: a busy CPU's own queue would let them overtake the shared queue.
        assert_eq!(h.decide(&task(7, 1, 1), &ctx(-16)).target, Target::Any);
        let d = h.decide(&task(8, 0, 2), &ctx(0));
        assert_eq!((d.target, d.slice_ns), (Target::Cpu(0), 1_500_000));
    }

    #[test]
    fn it_owns_its_task_table_and_reports_it() {
        let mut h = Heuristic::new(1_500_000);
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 0 };
        for pid in 1..=5 {
            h.decide(&task(pid, 0, 2), &ctx);
        }
        h.decide(&task(3, 0, 2), &ctx);
        let mut c = SchedCounters::default();
        h.report(&mut c);
        assert_eq!((c.tasks_tracked, c.tasks_evicted), (5, 0));
    }
}
