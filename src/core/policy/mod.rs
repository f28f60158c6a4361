//! The policies: for each task queued to user space, *where* it runs (a CPU or the shared
//! queue), *in what order* (a virtual deadline) and *for how long* (a time slice).
//!
//! Two implementations of one interface, [`Policy`]: the [`Heuristic`] (a plain, rustland-like
//! baseline) and the [`Learned`] policy (the trained models). Each owns its per-task state and
//! its counters; the scheduler only hands it the task and what it knows of the system.
//!
//! A trait rather than an enum: the scheduler is generic over it, so the hot path is statically
//! dispatched and allocates nothing (the scheduler's heap is a fixed arena), and a new policy is
//! a new type here, not a new arm in every match of the scheduler.

pub mod heuristic;
pub mod learned;
pub mod vtime;

pub use heuristic::Heuristic;
pub use learned::{Learned, Models};
pub use vtime::{TaskVtime, VirtualClock};

use crate::features::SystemView;
use crate::stats::SchedCounters;
use crate::task::Task;

/// Where to dispatch a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A specific CPU's local queue.
    Cpu(i32),
    /// The shared queue: whichever allowed CPU frees up first.
    Any,
}

/// Decision for one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub target: Target,
    pub slice_ns: u64,
    /// Dispatch key: the task's virtual deadline.
    pub deadline: u64,
    /// Ask the BPF side to preempt the target CPU (for [`Target::Any`]: the allowed CPU running
    /// the latest deadline) if what runs there has a later deadline than this task.
    pub preempt: bool,
    /// A standing decision for the task's next wakeups, applied by the BPF side's idle fast path
    /// (if on): when its previous CPU is idle, run it there at once with this slice, until we
    /// decide for it again. Set when the policy, asked with that CPU idle, would choose it too
    /// (select_cpu prefers it; every placement class of the model but "busy"), so the round trip
    /// through us is all it saves. False: every wakeup of the task comes to us.
    pub idle_prev: bool,
    /// With `idle_prev`, a standing decision to preempt (if the BPF side's fast preemption is
    /// on): when the task next wakes, no CPU it may use is idle and its previous CPU (else the
    /// CPU running the latest deadline) runs a task with a later deadline, run it there at once,
    /// ahead of that task — EEVDF's wakeup preemption without the round trip through us. Set
    /// when the policy, asked at a wakeup, would ask to preempt: always under EEVDF's rule, the
    /// preemption model's last verdict for the task under the model's.
    pub preempt_prev: bool,
}

/// What the BPF side did by itself and told us afterwards (see [`Policy::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The BPF side ran the task under our standing decision: on its idle previous CPU
    /// ([`Decision::idle_prev`]), or ahead of a later deadline ([`Decision::preempt_prev`]).
    Placed,
    /// Its slice ended, an earlier deadline took the CPU, and it went back in line.
    Requeued,
}

/// When a policy asks to preempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreemptRule {
    /// Never: a queued task waits for a slice end (what scx_rustland_core could do).
    Off,
    /// EEVDF's wakeup preemption: a task that wakes up and is eligible (it has not run ahead of
    /// the virtual clock) asks, and the BPF side preempts only a CPU whose running task has a
    /// later deadline. (Asking for every queued task — slice ends too — was measured: it
    /// doubled the context switches between CPU hogs and made cyclictest's p99 worse.)
    #[default]
    Deadline,
    /// The learned policy's preemption model decides at each wakeup (the BPF side still
    /// preempts only a CPU whose running task has a later deadline). The heuristic has no model
    /// and uses [`PreemptRule::Deadline`].
    Model,
}

/// How the learned policy orders its tasks in the shared queue (the virtual deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// EEVDF's deadline: vruntime + the model's slice scaled by weight
    /// ([`VirtualClock::deadline_with_slice`]) — a short slice means an early deadline.
    #[default]
    Slice,
    /// The heuristic's order: vruntime + CPU time since the last wakeup (at most 4 slices of
    /// it), both scaled by weight ([`VirtualClock::deadline`]). Measured on `hackbench -g 4`
    /// (2026-11-30, three boots): faster than [`Order::Slice`] in two (2.84 s against 3.12 s,
    /// heuristic 2.95 s), not in the third (3.26 s against 3.33 s, heuristic 2.93 s); and in
    /// the VM gate it made the model's latency probe slower in five runs of five (p50 7.6–8.8 ms
    /// against 5.5–5.8 ms; heuristic 5.9–6.6 ms): a long model slice no longer puts its task's
    /// deadline far ahead. Not the default.
    Runtime,
}

/// What the scheduler knows when it asks about a task, besides the task itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The idle CPU the BPF idle picker claimed for the task (negative: none is idle).
    pub idle_cpu: i32,
    /// The system as the BPF side reports it (see [`crate::bpf_view`]).
    pub sys: SystemView,
    /// Now, ns since the scheduler attached.
    pub now_ns: u64,
}

/// A scheduling policy.
pub trait Policy {
    /// Its name in the counters and the logs.
    const NAME: &'static str;

    /// Decide for one queued task.
    fn decide(&mut self, task: &Task, ctx: &Context) -> Decision;

    /// Write this policy's own counters (its task table, its model statistics) into `c`.
    fn report(&self, c: &mut SchedCounters);

    /// Task `pid` exited: forget it now, so that a new task given the same pid starts with no
    /// history. Returns whether the pid was known.
    fn forget(&mut self, pid: i32) -> bool;

    /// The BPF side ran or queued `task` by itself (`notice`: the idle fast path under our
    /// standing decision, or a re-queue at a slice end): keep the books — its virtual runtime,
    /// its history — as if we had decided, except that a re-queued run does not move our clock
    /// (the BPF side's does, see [`Policy::follow_clock`]). `now_ns` as in [`Context::now_ns`].
    fn observe(&mut self, task: &Task, notice: Notice, now_ns: u64);

    /// The virtual clock the deadlines are given by (the BPF side bounds the deadlines of the
    /// tasks it re-queues around it).
    fn vtime_now(&self) -> u64;

    /// Move the virtual clock to the BPF side's, which the runs of the tasks it re-queues move
    /// (see [`vtime::VirtualClock::follow`]).
    fn follow_clock(&mut self, bpf_vtime_now: u64);
}

/// Comm prefixes of unbound kernel threads that keep the system (and the sched_ext watchdog)
/// alive. Per-CPU kthreads never reach user space (the BPF side dispatches them directly), but
/// unbound kworkers do, and one of them runs the sched_ext watchdog work: if it waits, the
/// kernel ejects the scheduler with "watchdog failed to check in".
const CRITICAL_COMM_PREFIXES: &[&[u8]] = &[b"kworker/", b"rcu_", b"kswapd", b"khugepaged", b"kcompactd"];

/// Whether a task should jump the queue: a kernel thread (the kernel's PF_KTHREAD, which no
/// process can set) of one of the kinds in `CRITICAL_COMM_PREFIXES` (kworker/, rcu_, kswapd,
/// khugepaged, kcompactd). The name alone grants nothing: any process can call itself
/// "kworker/0:1".
pub fn is_critical(task: &Task) -> bool {
    task.kthread && may_be_critical(task.comm_bytes())
}

/// Whether a command name is one of the critical kinds — a cheap filter before asking the
/// kernel whether the task really is a kernel thread.
pub fn may_be_critical(comm: &[u8]) -> bool {
    CRITICAL_COMM_PREFIXES.iter().any(|p| comm.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_kernel_thread_with_a_critical_name_is_critical() {
        let mut t = Task { kthread: true, ..Task::new(9, "kworker/0:1") };
        assert!(is_critical(&t));
        t.kthread = false;
        assert!(!is_critical(&t), "a user process named like a kworker gets nothing");
        t = Task { comm: Task::comm_from("ksoftirqd/0"), kthread: true, ..t };
        assert!(!is_critical(&t), "kthreads of other kinds are ordinary");
    }
}

/// Size of each policy's per-task table: enough for ~6000 live tasks, allocated up front.
pub const TASK_TABLE_SLOTS: usize = 8192;
