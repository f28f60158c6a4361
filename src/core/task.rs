//! What the scheduler knows about a task when it has to decide for it.
//!
//! A copy of the fields scx_rustland_core's `QueuedTask` carries, so the policy code here can be
//! unit-tested (and later fed from traces) without linking the BPF framework.

/// Length of the kernel's `task_struct::comm`.
pub const TASK_COMM_LEN: usize = 16;

/// Default task weight for nice 0 (sched_ext scales weights to 1..=10000, nice 0 = 100).
pub const WEIGHT_NICE0: u64 = 100;

/// A task queued to the user-space scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// Thread id.
    pub pid: i32,
    /// CPU the task last ran on (its "previous CPU").
    pub cpu: i32,
    /// Number of CPUs in the task's affinity mask.
    pub nr_cpus_allowed: u64,
    /// sched_ext enqueue flags (SCX_ENQ_*).
    pub flags: u64,
    /// When the task last started running, ns (scx_bpf_now clock).
    pub start_ts: u64,
    /// When the task last stopped running, ns (scx_bpf_now clock).
    pub stop_ts: u64,
    /// CPU time consumed since the task last woke up, ns.
    pub exec_runtime: u64,
    /// Scheduling weight, 1..=10000, 100 at nice 0.
    pub weight: u64,
    /// The ordering key the scheduler gave this task last time (p->scx.dsq_vtime).
    pub vtime: u64,
    /// When the task was queued to user space, ns (scx_bpf_now clock, like start_ts/stop_ts);
    /// 0 if unknown.
    pub enq_ts: u64,
    /// The CPU time the kernel accounted to the task's last stint (the growth of
    /// `p->se.sum_exec_runtime` while it ran), ns; 0 if unknown. The stint the tracer records.
    pub stint_exec_ns: u64,
    /// The CPU on which the kernel selected this enqueue's CPU (`ops.select_cpu` runs on the
    /// waking side: the waker's CPU; for a new task, its parent's), negative when nothing was
    /// selected (a preempted task, a task allowed on one CPU).
    pub waker_cpu: i32,
    /// Executable name, NUL-padded. Any process can choose it (`prctl(PR_SET_NAME)`, or a write
    /// to /proc/self/comm), so it never grants anything by itself.
    pub comm: [u8; TASK_COMM_LEN],
    /// The kernel says this task is a kernel thread (PF_KTHREAD, sent by the BPF side with the
    /// queued task): no process can fake that.
    pub kthread: bool,
    /// The task running on the task's previous CPU when it was queued: how long it had run since
    /// it was switched in, ns (0: the CPU was idle, ran this task, or ran the scheduler).
    pub prev_curr_run_ns: u64,
    /// And the CPU time that task had had since it became runnable, this stint included, ns.
    pub prev_curr_exec_ns: u64,
}

impl Task {
    /// A task known only by its pid and name: weight 100 (nice 0), allowed on every CPU of a
    /// 2-CPU machine, no CPU selected, nothing measured yet.
    pub fn new(pid: i32, comm: &str) -> Self {
        Task { pid, cpu: 0, nr_cpus_allowed: 2, flags: 0, start_ts: 0, stop_ts: 0, exec_runtime: 0, weight: 100, vtime: 0, enq_ts: 0,
               stint_exec_ns: 0, waker_cpu: -1, comm: Task::comm_from(comm), kthread: false, prev_curr_run_ns: 0, prev_curr_exec_ns: 0 }
    }

    /// The comm as a byte string without the NUL padding.
    pub fn comm_bytes(&self) -> &[u8] {
        let end = self.comm.iter().position(|&b| b == 0).unwrap_or(TASK_COMM_LEN);
        &self.comm[..end]
    }

    /// Length of the task's last burst on a CPU (stop - start), ns; 0 if unknown.
    pub fn last_burst_ns(&self) -> u64 {
        self.stop_ts.saturating_sub(self.start_ts)
    }

    /// Build a comm array from a string (truncated to 15 bytes + NUL, as the kernel does).
    pub fn comm_from(name: &str) -> [u8; TASK_COMM_LEN] {
        let mut c = [0u8; TASK_COMM_LEN];
        let b = name.as_bytes();
        let n = b.len().min(TASK_COMM_LEN - 1);
        c[..n].copy_from_slice(&b[..n]);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_truncated_like_the_kernel_and_read_back_without_padding() {
        let c = Task::comm_from("a-very-long-command-name");
        assert_eq!(c[15], 0);
        let t = Task { start_ts: 10, stop_ts: 4, comm: c, ..Task::new(1, "") };
        assert_eq!(t.comm_bytes(), b"a-very-long-com");
        assert_eq!(t.last_burst_ns(), 0, "stop before start means unknown, not a huge burst");
    }
}
