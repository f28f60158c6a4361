//! What the BPF side reports, turned into the feature contract's [`SystemView`]: the one
//! adapter the scheduler uses for every decision.
//!
//! scx_rustland_core counts, globally, the CPUs online, the tasks running, the tasks queued to
//! user space and the tasks user space holds; with the idle CPU `select_cpu` claimed for the
//! task, that is all the scheduler knows of the system when it decides.

use crate::features::SystemView;
use crate::task::Task;

/// The BPF side's global counters at decision time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BpfCounts {
    pub nr_online_cpus: u64,
    pub nr_running: u64,
    /// Tasks waiting in the ring buffer for user space.
    pub nr_queued: u64,
    /// Tasks user space holds (dequeued, not dispatched yet).
    pub nr_scheduled: u64,
}

impl BpfCounts {
    /// The system as the feature contract describes it, for a task whose previous CPU is
    /// `prev_cpu`, for which `select_cpu` found `idle_cpu` (negative: none idle) and whose CPU
    /// the kernel selected on `waker_cpu` (negative: nothing was selected, e.g. a preempted task).
    /// * runnable = running + queued to user space + held by user space;
    /// * idle CPUs = online − running (never negative: the counters are read one at a time);
    /// * the previous CPU is idle when it is the idle CPU select_cpu found;
    /// * the previous CPU is the waker's when the selection ran there;
    /// * what runs on the previous CPU is what the BPF side sent with the task.
    pub fn system_view(&self, task: &Task, idle_cpu: i32) -> SystemView {
        let (prev_cpu, waker_cpu) = (task.cpu, task.waker_cpu);
        let sat = |v: u64| v.min(u32::MAX as u64) as u32;
        SystemView {
            nr_runnable: sat(self.nr_running + self.nr_queued + self.nr_scheduled),
            idle_cpus: sat(self.nr_online_cpus.saturating_sub(self.nr_running)),
            prev_cpu_idle: idle_cpu >= 0 && idle_cpu == prev_cpu,
            prev_is_waker_cpu: waker_cpu >= 0 && waker_cpu == prev_cpu,
            prev_cpu_curr_run_ns: task.prev_curr_run_ns,
            prev_cpu_curr_exec_ns: task.prev_curr_exec_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_the_contracts_view() {
        let task = |prev, waker| Task { cpu: prev, waker_cpu: waker, prev_curr_run_ns: 7_000, prev_curr_exec_ns: 9_000, ..Task::new(1, "t") };
        let c = BpfCounts { nr_online_cpus: 4, nr_running: 3, nr_queued: 2, nr_scheduled: 1 };
        assert_eq!(c.system_view(&task(2, 2), 2), SystemView { nr_runnable: 6, idle_cpus: 1, prev_cpu_idle: true, prev_is_waker_cpu: true,
                                                              prev_cpu_curr_run_ns: 7_000, prev_cpu_curr_exec_ns: 9_000 });
        assert!(!c.system_view(&task(2, 2), 1).prev_cpu_idle, "another CPU is idle, not the previous one");
        assert!(!c.system_view(&task(0, 0), -16).prev_cpu_idle, "no idle CPU (select_cpu's -EBUSY)");
        assert!(!c.system_view(&task(2, 1), 2).prev_is_waker_cpu, "woken from another CPU");
        assert!(!c.system_view(&task(0, -1), 0).prev_is_waker_cpu, "nothing selected: CPU 0 is not 'no CPU'");
        // Counters read while they change can say more running tasks than CPUs.
        let racy = BpfCounts { nr_online_cpus: 2, nr_running: 3, ..Default::default() };
        assert_eq!(racy.system_view(&task(0, -1), -1).idle_cpus, 0);
    }
}
