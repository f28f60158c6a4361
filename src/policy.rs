//! The heuristic policy: the plain, rustland-like baseline that the learned policy is compared
//! with, and that it falls back to.
//!
//! * **Ordering**: each task carries a virtual runtime (CPU time scaled by 100/weight). Its
//!   dispatch key is a virtual *deadline* = vruntime + (runtime since last wakeup, scaled by
//!   weight): tasks that sleep often (interactive) get early deadlines, CPU hogs later ones.
//! * **Placement**: an idle CPU found by `select_cpu` (the BPF built-in idle picker, which
//!   prefers the previous CPU and its cache siblings); if none is idle, "any CPU" (the shared
//!   queue, in deadline order: the first CPU to free up takes it).
//! * **Slice**: fixed.
//!
//! Every bound below exists so that no task can wait for longer than a few slices behind the
//! others: the sched_ext watchdog ejects a scheduler that leaves a task runnable for 5 s, and
//! under emulation (TCG) a loop iteration can be very slow, so the margin must be wide.

use crate::task::{Task, WEIGHT_NICE0};

/// Where to dispatch a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A specific CPU's local queue.
    Cpu(i32),
    /// The shared queue: whichever allowed CPU frees up first.
    Any,
}

/// Per-task state the heuristic keeps in user space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskVtime {
    /// Virtual runtime, ns scaled by 100/weight.
    pub vruntime: u64,
}

/// Decision for one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub target: Target,
    pub slice_ns: u64,
    /// Dispatch key: the task's virtual deadline.
    pub deadline: u64,
}

/// Tunables of the heuristic.
#[derive(Debug, Clone, Copy)]
pub struct HeuristicConfig {
    /// Time slice given to every task, ns.
    pub slice_ns: u64,
}

impl Default for HeuristicConfig {
    fn default() -> Self {
        Self { slice_ns: 5_000_000 }
    }
}

/// The heuristic's global state.
#[derive(Debug, Clone)]
pub struct Heuristic {
    cfg: HeuristicConfig,
    /// The global virtual clock: the largest vruntime handed out so far. Monotonic.
    vtime_now: u64,
}

/// Comm prefixes of unbound kernel threads that keep the system (and the sched_ext watchdog)
/// alive. Per-CPU kthreads never reach user space (the BPF side dispatches them directly), but
/// unbound kworkers do, and one of them runs the sched_ext watchdog work: if it waits, the
/// kernel ejects the scheduler with "watchdog failed to check in".
const CRITICAL_COMM_PREFIXES: &[&[u8]] = &[b"kworker/", b"rcu_", b"kswapd", b"khugepaged", b"kcompactd"];

/// Whether a task should jump the queue (see [`CRITICAL_COMM_PREFIXES`]).
pub fn is_critical(task: &Task) -> bool {
    let c = task.comm_bytes();
    CRITICAL_COMM_PREFIXES.iter().any(|p| c.starts_with(p))
}

impl Heuristic {
    pub fn new(cfg: HeuristicConfig) -> Self {
        Self { cfg, vtime_now: 0 }
    }

    pub fn config(&self) -> &HeuristicConfig {
        &self.cfg
    }

    /// The global virtual clock.
    pub fn vtime_now(&self) -> u64 {
        self.vtime_now
    }

    /// Scale a CPU time by the task's weight (nice 0 = 1:1, heavier tasks age slower).
    fn scale(ns: u64, weight: u64) -> u64 {
        ns.saturating_mul(WEIGHT_NICE0) / weight.clamp(1, 10_000)
    }

    /// Charge the task's last burst to its vruntime and return its virtual deadline.
    ///
    /// `state` is the task's entry in the per-task table (`new` if just created).
    pub fn deadline(&mut self, task: &Task, state: &mut TaskVtime, new: bool) -> u64 {
        self.charge(task, state, new);
        // Critical kernel threads get a deadline earlier than any vruntime can be (vruntimes
        // never fall more than one slice behind the clock).
        if is_critical(task) {
            return self.vtime_now.saturating_sub(2 * self.cfg.slice_ns);
        }
        // Deadline = vruntime + runtime since wakeup (bounded): tasks that run long without
        // sleeping are served after the ones that sleep often.
        state.vruntime + Self::scale(task.exec_runtime, task.weight).min(4 * self.cfg.slice_ns)
    }

    /// EEVDF's rule with a given slice: deadline = vruntime + slice scaled by weight, so the
    /// order follows the slice the model chose (a short slice means an early deadline). The
    /// vruntime is charged and bounded exactly as in [`Heuristic::deadline`]; critical kernel
    /// threads still jump the queue.
    pub fn deadline_with_slice(&mut self, task: &Task, state: &mut TaskVtime, new: bool, slice_ns: u64) -> u64 {
        self.charge(task, state, new);
        if is_critical(task) {
            return self.vtime_now.saturating_sub(2 * self.cfg.slice_ns);
        }
        state.vruntime + Self::scale(slice_ns, task.weight).min(4 * self.cfg.slice_ns)
    }

    /// Charge the last burst to the task's vruntime, within the bounds that prevent starvation.
    fn charge(&mut self, task: &Task, state: &mut TaskVtime, new: bool) {
        let slice = self.cfg.slice_ns;
        // A new task starts at the global clock: it gets no credit for time it did not exist.
        if new {
            state.vruntime = self.vtime_now;
        }
        // Charge the last burst, but at most 2 slices: a burst longer than that means the task
        // ran alone with nothing else to do; charging it all would push it far behind.
        state.vruntime += Self::scale(task.last_burst_ns().min(2 * slice), task.weight);
        // A task that slept keeps at most one slice of credit: otherwise a long sleeper would
        // come back with a huge lead and monopolise a CPU.
        state.vruntime = state.vruntime.max(self.vtime_now.saturating_sub(slice));
        // And nobody runs more than 4 slices ahead of the clock (low-weight tasks age fast):
        // this bounds how long a queued task can be overtaken, which is what keeps the watchdog
        // happy.
        state.vruntime = state.vruntime.min(self.vtime_now + 4 * slice);
        self.vtime_now = self.vtime_now.max(state.vruntime);
    }

    /// Where to run the task, given the idle CPU `select_cpu` found (negative: none idle).
    ///
    /// Only two targets, on purpose. The BPF side serves a CPU's own queue *before* the shared
    /// one, so a task put on a busy CPU's own queue can overtake the shared queue indefinitely:
    /// in the VM gate, with pinned affinity stressors filling CPU 1's queue, an unbound kworker
    /// (the one that runs the sched_ext watchdog) waited 2+ s in the shared queue with the
    /// earliest deadline of all, and the kernel ejected us ("watchdog failed to check in").
    /// So a CPU's own queue only ever gets a task when that CPU is idle (it drains at once), and
    /// everything else, pinned tasks included, goes to the shared queue in deadline order; a
    /// CPU skips shared-queue tasks it may not run, so pinned tasks still land on their CPU.
    pub fn target(&self, _task: &Task, idle_cpu: i32) -> Target {
        if idle_cpu >= 0 {
            // An idle CPU: run there now (select_cpu already preferred the previous CPU).
            Target::Cpu(idle_cpu)
        } else {
            // All busy: the shared queue, in deadline order; the first CPU to free up takes it.
            Target::Any
        }
    }

    /// Where the placement model's class sends a task. The tracer's classes are where EEVDF put
    /// it: 0 its previous CPU, 1 the waker's CPU, 2 another idle CPU, 3 another busy CPU. User
    /// space does not know the waker's CPU, and a busy CPU's own queue starves the shared one (see
    /// [`Heuristic::target`]), so the classes map onto the two safe targets:
    /// * 0 (previous CPU): that CPU if it is the idle one select_cpu found, else the shared queue;
    /// * 1, 2 (a CPU that was idle or about to run the task): the idle CPU if there is one;
    /// * 3 (a busy CPU: EEVDF chose to queue rather than to move): the shared queue.
    pub fn placement_target(class: usize, prev_cpu: i32, idle_cpu: i32) -> Target {
        match class {
            0 if idle_cpu >= 0 && idle_cpu == prev_cpu => Target::Cpu(prev_cpu),
            1 | 2 if idle_cpu >= 0 => Target::Cpu(idle_cpu),
            _ => Target::Any,
        }
    }

    /// Full decision for one task.
    pub fn decide(&mut self, task: &Task, state: &mut TaskVtime, new: bool, idle_cpu: i32) -> Decision {
        Decision {
            target: self.target(task, idle_cpu),
            slice_ns: self.cfg.slice_ns,
            deadline: self.deadline(task, state, new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(pid: i32, comm: &str, burst: u64, exec: u64, weight: u64) -> Task {
        Task { pid, cpu: 0, nr_cpus_allowed: 2, flags: 0, start_ts: 1_000, stop_ts: 1_000 + burst,
               exec_runtime: exec, weight, vtime: 0, comm: Task::comm_from(comm) }
    }

    #[test]
    fn interactive_task_gets_an_earlier_deadline_than_a_hog() {
        let mut h = Heuristic::new(HeuristicConfig::default());
        let (mut hog, mut ui) = (TaskVtime::default(), TaskVtime::default());
        let mut d_hog = h.deadline(&task(1, "hog", 5_000_000, 50_000_000, 100), &mut hog, true);
        let mut d_ui = h.deadline(&task(2, "ui", 100_000, 100_000, 100), &mut ui, true);
        for _ in 0..50 {
            d_hog = h.deadline(&task(1, "hog", 5_000_000, 50_000_000, 100), &mut hog, false);
            d_ui = h.deadline(&task(2, "ui", 100_000, 100_000, 100), &mut ui, false);
        }
        assert!(d_ui < d_hog, "ui {d_ui} should come before hog {d_hog}");
    }

    #[test]
    fn deadlines_stay_within_a_bounded_window_of_the_clock() {
        // Whatever mix of weights, bursts and sleeps, every deadline stays within a few slices
        // of the global clock, so no queued task is overtaken forever (the stall guarantee).
        let cfg = HeuristicConfig::default();
        let s = cfg.slice_ns;
        let mut h = Heuristic::new(cfg);
        let mut st = [TaskVtime::default(); 8];
        let mut seed = 0x1234_5678u64;
        for round in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let k = (seed % 8) as usize;
            let weight = [1, 15, 100, 1024, 10_000, 100, 100, 3][k];
            let burst = seed % (40 * s);
            let exec = (seed >> 8) % (1_000 * s);
            let d = h.deadline(&task(k as i32 + 1, "t", burst, exec, weight), &mut st[k], round < 8);
            let now = h.vtime_now();
            assert!(d + 2 * s >= now, "deadline {d} too far behind clock {now}");
            assert!(d <= now + 4 * s, "deadline {d} too far ahead of clock {now}");
        }
    }

    #[test]
    fn heavier_tasks_age_slower() {
        let mut h = Heuristic::new(HeuristicConfig::default());
        let (mut light, mut heavy) = (TaskVtime::default(), TaskVtime::default());
        h.deadline(&task(1, "l", 0, 0, 100), &mut light, true);
        h.deadline(&task(2, "h", 0, 0, 200), &mut heavy, true);
        let (l0, h0) = (light.vruntime, heavy.vruntime);
        h.deadline(&task(1, "l", 1_000_000, 0, 100), &mut light, false);
        h.deadline(&task(2, "h", 1_000_000, 0, 200), &mut heavy, false);
        assert_eq!(light.vruntime - l0, 1_000_000);
        assert_eq!(heavy.vruntime - h0, 500_000);
    }

    #[test]
    fn learned_slice_orders_tasks_and_placement_maps_to_safe_targets() {
        let mut h = Heuristic::new(HeuristicConfig::default());
        let (mut a, mut b) = (TaskVtime::default(), TaskVtime::default());
        let short = h.deadline_with_slice(&task(1, "a", 0, 0, 100), &mut a, true, 100_000);
        let long = h.deadline_with_slice(&task(2, "b", 0, 0, 100), &mut b, true, 10_000_000);
        assert!(short < long, "a shorter learned slice means an earlier deadline");
        assert_eq!(Heuristic::placement_target(0, 1, 1), Target::Cpu(1));
        assert_eq!(Heuristic::placement_target(0, 1, 0), Target::Any, "prev busy: never queue on it");
        assert_eq!(Heuristic::placement_target(2, 1, 0), Target::Cpu(0));
        assert_eq!(Heuristic::placement_target(1, 1, -16), Target::Any);
        assert_eq!(Heuristic::placement_target(3, 1, 0), Target::Any);
        assert_eq!(Heuristic::placement_target(99, 1, 0), Target::Any);
    }

    #[test]
    fn kworkers_jump_the_queue_and_placement_follows_the_rules() {
        let mut h = Heuristic::new(HeuristicConfig::default());
        let mut a = TaskVtime::default();
        let mut k = TaskVtime::default();
        for _ in 0..10 {
            h.deadline(&task(1, "hog", 5_000_000, 5_000_000, 100), &mut a, false);
        }
        let d_hog = h.deadline(&task(1, "hog", 5_000_000, 0, 100), &mut a, false);
        let d_kw = h.deadline(&task(3, "kworker/u8:1", 5_000_000, 50_000_000, 100), &mut k, true);
        assert!(d_kw < d_hog);
        let t = task(1, "x", 0, 0, 100);
        assert_eq!(h.target(&t, 1), Target::Cpu(1));
        assert_eq!(h.target(&t, -16), Target::Any);
        // Pinned tasks too: a busy CPU's own queue would let them overtake the shared queue.
        let pinned = Task { nr_cpus_allowed: 1, cpu: 1, ..t };
        assert_eq!(h.target(&pinned, -16), Target::Any);
    }
}
