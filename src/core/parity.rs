//! Feature parity, measured: one recorded trace replayed through both feature paths.
//!
//! The **tracer's path** is [`Replayer`]: stints as the kernel accounted them (`ran_ns`), times
//! on the run-queue clock, the system counts from the switches and wakeups it has replayed.
//!
//! The **scheduler's path** rebuilds, from the same events, what scx_mimic is handed at each
//! decision and computes the vector the way it does ([`QueuedView`], [`BpfCounts`]):
//! * `start_ts`/`stop_ts` are the switch-in (the previous switch on that CPU, the idle task's
//!   included, that brought the task in) and the switch-out, and `stint_exec_ns` is the kernel's account of the
//!   last stint — what scx_rustland_core's `ops.running`/`ops.stopping` stamp and our patch adds;
//! * the wakeup time is the enqueue time (`enq_ts`), the weight sched_ext's for the nice level;
//! * the system view comes from counters: CPUs running a task (each CPU's current task, from the
//!   switches) and tasks waiting for a CPU other than the deciding one (woken or preempted, not
//!   switched in yet) — the BPF side's `nr_running` and `nr_queued`, which never count the task
//!   being decided (user space has taken it off the queue).
//!
//! Both paths count the system from the same events (the tracer stopped scanning every run
//! queue so that its cost per event does not grow with the CPUs), so for the counts this measures
//! whether the two ways of counting agree. What neither sees: tasks that are not recorded
//! (real-time ones, the tracer itself) while they wait, and tasks woken before the trace began;
//! and under sched_ext the real counters also miss tasks already dispatched to a queue but not
//! running yet.
//!
//! A decision is compared once the scheduler's path can know it: every CPU's current task has
//! been seen, the task has been switched in at least once inside the trace (before that the
//! scheduler has no stint to count, the tracer already does), and the trace's first second (the
//! warm-up, [`WARMUP_NS`]) is over.

use std::collections::{HashMap, HashSet};

use crate::bpf_view::BpfCounts;
use crate::features::{scx_weight_from_nice, QueuedView, FEATURE_NAMES, N_FEATURES, SCX_ENQ_WAKEUP};
use crate::replay::{EventKind, Replayer, TraceEvent};
use crate::task::Task;

/// How far two values of a feature may differ and still agree: 1% of the larger, and at least
/// `abs` in the feature's unit (a µs of a stint, a hundredth of a Hz).
pub fn agree(feature: usize, a: f32, b: f32) -> bool {
    let abs: f32 = match FEATURE_NAMES[feature] {
        "wake_freq_hz" | "voluntary_ratio" => 0.01,
        n if n.ends_with("_us") => 1.0,
        _ => 0.0,
    };
    (a - b).abs() <= abs.max(0.01 * a.abs().max(b.abs()))
}

/// Per feature: decisions compared, and how many disagreed beyond [`agree`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FeatureParity {
    pub feature: &'static str,
    pub compared: u64,
    pub mismatched: u64,
    /// mismatched / compared.
    pub share: f64,
    /// Of the mismatches, those that differ by more than 1 in the feature's unit (for the counts
    /// of tasks and CPUs: more than one task or CPU apart).
    pub beyond_one: u64,
    /// Means over the compared decisions on each path (where they differ, which way).
    pub mean_tracer: f64,
    pub mean_scheduler: f64,
}

/// The parity of a whole trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Parity {
    /// Decisions in the trace, and those compared (see the module's warm-up rule).
    pub decisions: u64,
    pub compared: u64,
    pub features: Vec<FeatureParity>,
}

/// Decisions in the trace's first second are not compared: tasks already runnable when it began
/// are unknown to the rebuilt counters until they run.
pub const WARMUP_NS: u64 = 1_000_000_000;

/// What the scheduler's path keeps per task: the stamps scx_rustland_core would send.
#[derive(Default)]
struct SchedTask {
    start_ts: u64,
    stop_ts: u64,
    last_ran: u64,
    /// CPU time since the task last became runnable (the BPF side's `runnable_exec` difference).
    exec_since_runnable: u64,
    ran_once: bool,
    view: QueuedView,
}

/// Replay `events` (time order) through both paths on a machine of `nr_cpus` CPUs.
pub fn measure(events: &[TraceEvent], nr_cpus: usize) -> Parity {
    let mut tracer = Replayer::new(nr_cpus as u32);
    tracer.keep_decisions = true;
    let mut tasks: HashMap<i32, SchedTask> = HashMap::new();
    let mut curr: Vec<Option<i32>> = vec![None; nr_cpus];
    // Per CPU, as the BPF side's cpu_run: when its task was switched in, and the CPU time that
    // task had had since it became runnable.
    let mut curr_since: Vec<(u64, u64)> = vec![(0, 0); nr_cpus];
    let mut waiting: HashSet<i32> = HashSet::new();
    let mut mismatched = [0u64; N_FEATURES];
    let mut beyond_one = [0u64; N_FEATURES];
    let (mut sum_tracer, mut sum_sched) = ([0f64; N_FEATURES], [0f64; N_FEATURES]);
    let (mut decisions, mut compared) = (0u64, 0u64);

    let t0 = events.first().map_or(0, |e| e.ts_ns);
    for ev in events {
        let before = tracer.decisions.len();
        tracer.push(ev);
        let traced = (tracer.decisions.len() > before).then(|| tracer.decisions[before].features);
        if ev.pid == 0 && ev.kind == EventKind::Stop {
            // The idle task left the CPU: who came in.
            if let Some(c) = usize::try_from(ev.cpu).ok().filter(|&c| c < nr_cpus) {
                curr[c] = Some(ev.next_pid);
                waiting.remove(&ev.next_pid);
                let n = tasks.entry(ev.next_pid).or_default();
                n.start_ts = ev.ts_ns;
                n.ran_once = true;
                curr_since[c] = (ev.ts_ns, n.exec_since_runnable);
            }
            continue;
        }
        if ev.pid <= 0 {
            continue;
        }
        let cpu = usize::try_from(ev.cpu).ok().filter(|&c| c < nr_cpus);
        // The scheduler's stamps and counters, as of this event.
        let wakeup = matches!(ev.kind, EventKind::Wakeup | EventKind::WakeupNew);
        // What select_cpu saw: it runs for a wakeup or a new task on the waker's (parent's) CPU,
        // and the kernel skips it for a task allowed on one CPU.
        let waker_cpu = if wakeup && ev.nr_cpus_allowed > 1 { ev.waker_cpu } else { -1 };
        match ev.kind {
            EventKind::Stop => {
                let t = tasks.entry(ev.pid).or_default();
                t.stop_ts = ev.ts_ns;
                t.last_ran = ev.ran_ns;
                t.exec_since_runnable += ev.ran_ns;
                if !ev.voluntary {
                    waiting.insert(ev.pid);
                }
                if let Some(c) = cpu {
                    curr[c] = Some(ev.next_pid);
                }
                if ev.next_pid > 0 {
                    waiting.remove(&ev.next_pid);
                    let n = tasks.entry(ev.next_pid).or_default();
                    n.start_ts = ev.ts_ns;
                    n.ran_once = true;
                    if let Some(c) = cpu {
                        curr_since[c] = (ev.ts_ns, n.exec_since_runnable);
                    }
                }
            }
            EventKind::Wakeup | EventKind::WakeupNew => {
                // A task woken while still on its CPU (it had not finished going to sleep) is
                // running, not waiting.
                if !curr.contains(&Some(ev.pid)) {
                    waiting.insert(ev.pid);
                    // ops.runnable: it became runnable (a running task never stopped being).
                    tasks.entry(ev.pid).or_default().exec_since_runnable = 0;
                }
            }
            EventKind::Exit => {
                waiting.remove(&ev.pid);
                tasks.remove(&ev.pid);
            }
        }
        let Some(traced) = traced else { continue };
        decisions += 1;
        let prev = if wakeup { ev.prev_cpu } else { ev.cpu };
        let prev_cpu = usize::try_from(prev).ok().filter(|&c| c < nr_cpus);
        let prev_curr = prev_cpu.and_then(|c| curr[c]);
        // get_task_info: what runs on the previous CPU, unless it is idle or the task itself.
        let (prev_curr_run_ns, prev_curr_exec_ns) = match (prev_cpu, prev_curr) {
            (Some(c), Some(p)) if p > 0 && p != ev.pid && ev.ts_ns > curr_since[c].0 => {
                let run = ev.ts_ns - curr_since[c].0;
                (run, curr_since[c].1 + run)
            }
            _ => (0, 0),
        };
        let t = tasks.entry(ev.pid).or_default();
        // What scx_rustland_core hands user space for this enqueue.
        let task = Task {
            pid: ev.pid,
            cpu: prev,
            nr_cpus_allowed: ev.nr_cpus_allowed as u64,
            // wake_up_new_task() enqueues without the wakeup flag.
            flags: if ev.kind == EventKind::Wakeup { SCX_ENQ_WAKEUP } else { 0 },
            start_ts: t.start_ts,
            stop_ts: t.stop_ts,
            exec_runtime: 0,
            weight: scx_weight_from_nice(ev.nice),
            vtime: 0,
            enq_ts: ev.ts_ns,
            stint_exec_ns: t.last_ran,
            waker_cpu,
            comm: ev.comm,
            kthread: false,
            prev_curr_run_ns,
            prev_curr_exec_ns,
        };
        t.view.observe(&task, ev.ts_ns);
        let known = t.ran_once && curr.iter().all(Option::is_some) && ev.ts_ns >= t0.saturating_add(WARMUP_NS);
        let running = curr.iter().filter(|c| matches!(c, Some(p) if *p > 0)).count() as u64;
        let counts = BpfCounts {
            nr_online_cpus: nr_cpus as u64,
            nr_running: running,
            nr_queued: waiting.iter().filter(|&&p| p != ev.pid).count() as u64,
            nr_scheduled: 0,
        };
        let prev_idle = prev_curr == Some(0);
        let sched = t.view.vector(&task, &counts.system_view(&task, if prev_idle { prev } else { -1 }));
        if !known {
            continue;
        }
        compared += 1;
        for k in 0..N_FEATURES {
            mismatched[k] += u64::from(!agree(k, traced[k], sched[k]));
            beyond_one[k] += u64::from(!agree(k, traced[k], sched[k]) && (traced[k] - sched[k]).abs() > 1.0);
            sum_tracer[k] += traced[k] as f64;
            sum_sched[k] += sched[k] as f64;
        }
    }
    let features = (0..N_FEATURES)
        .map(|k| FeatureParity {
            feature: FEATURE_NAMES[k],
            compared,
            mismatched: mismatched[k],
            beyond_one: beyond_one[k],
            share: if compared == 0 { 0.0 } else { mismatched[k] as f64 / compared as f64 },
            mean_tracer: sum_tracer[k] / compared.max(1) as f64,
            mean_scheduler: sum_sched[k] / compared.max(1) as f64,
        })
        .collect();
    Parity { decisions, compared, features }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts_ns: u64, kind: EventKind, pid: i32, cpu: i32) -> TraceEvent {
        TraceEvent { ts_ns, kind, pid, cpu, prev_cpu: cpu, waker_cpu: cpu, voluntary: true, ran_ns: 0, chosen_idle: false,
                     next_pid: 0, curr_pid: 0, queued: false, resched: false, nice: 0, nr_cpus_allowed: 1,
                     comm: Task::comm_from("t") }
    }

    /// One CPU: task 7 runs 100 µs stints between sleeps (nothing else runnable, the CPU idle at
    /// each wakeup).
    fn trace(ran_ns: u64) -> Vec<TraceEvent> {
        let mut v = vec![TraceEvent { next_pid: 0, ..ev(0, EventKind::Stop, 99, 0) }];
        for k in 0..20u64 {
            let t = WARMUP_NS + 1_000_000 + k * 1_000_000;
            v.push(ev(t, EventKind::Wakeup, 7, 0));
            // Switched in at t + 10 µs (a switch-out of the idle task is not recorded, so the
            // switch-in comes from another task's stop: a 1-µs helper, pid 8).
            v.push(TraceEvent { next_pid: 7, ran_ns: 1_000, ..ev(t + 10_000, EventKind::Stop, 8, 0) });
            v.push(TraceEvent { ran_ns, next_pid: 0, ..ev(t + 110_000, EventKind::Stop, 7, 0) });
        }
        v
    }

    #[test]
    fn paths_that_agree_measure_no_mismatch() {
        // The kernel accounted exactly the wall-clock stint: every feature agrees.
        let p = measure(&trace(100_000), 1);
        assert!(p.compared >= 15, "{p:?}");
        for f in &p.features {
            assert_eq!(f.mismatched, 0, "{f:?}");
        }
    }

    #[test]
    fn the_wakers_cpu_agrees_for_tasks_that_may_move() {
        // The same trace for a task allowed on two CPUs, woken from its own CPU: the tracer
        // says "previous CPU is the waker's" and so does select_cpu's CPU on the scheduler's path.
        let mut t = trace(100_000);
        for e in t.iter_mut().filter(|e| e.pid == 7) {
            e.nr_cpus_allowed = 2;
        }
        let p = measure(&t, 1);
        let f = p.features.iter().find(|f| f.feature == "prev_is_waker_cpu").unwrap();
        assert_eq!(f.mismatched, 0, "{p:?}");
        assert!(f.mean_tracer > 0.4, "the wakeups count as woken on the previous CPU: {f:?}");
    }

    #[test]
    fn stints_are_the_kernels_account_on_both_paths() {
        // The kernel accounted 80 µs of the 100 µs between switch-in and switch-out (interrupts
        // excluded): the scheduler's path counts the account too, so they agree.
        let p = measure(&trace(80_000), 1);
        assert!(p.features.iter().all(|f| f.mismatched == 0), "{p:?}");
    }

    #[test]
    fn a_difference_in_the_system_view_is_measured() {
        // A switch-in lost from the trace (a full ring): task 9 is seen woken, then blocking,
        // never running. The tracer's path stops counting it as waiting when it blocks; the
        // rebuilt counters learn that a task stopped waiting only from its switch-in, so they
        // count it as waiting from then on: every later decision's nr_runnable differs, the
        // task's own features do not.
        let mut t = trace(100_000);
        t.push(ev(WARMUP_NS + 500_000, EventKind::Wakeup, 9, 0));
        t.push(TraceEvent { ran_ns: 50_000, ..ev(WARMUP_NS + 600_000, EventKind::Stop, 9, 0) });
        t.sort_by_key(|e| e.ts_ns);
        let p = measure(&t, 1);
        let share = |n: &str| p.features.iter().find(|f| f.feature == n).unwrap().share;
        assert_eq!(share("nr_runnable"), 1.0, "{p:?}");
        assert_eq!(share("last_burst_us"), 0.0);
        assert_eq!(share("weight"), 0.0);
        // Without the loss, the same events agree.
        t.insert(t.iter().position(|e| e.pid == 9 && e.kind == EventKind::Stop).unwrap(),
                 TraceEvent { next_pid: 9, ran_ns: 1_000, ..ev(WARMUP_NS + 550_000, EventKind::Stop, 8, 0) });
        assert_eq!(measure(&t, 1).features.iter().find(|f| f.feature == "nr_runnable").unwrap().mismatched, 0);
    }

    #[test]
    fn tolerance() {
        let k = FEATURE_NAMES.iter().position(|&n| n == "last_burst_us").unwrap();
        assert!(agree(k, 100.0, 100.9) && agree(k, 1000.0, 1009.0) && !agree(k, 1000.0, 1011.0));
        let w = FEATURE_NAMES.iter().position(|&n| n == "nr_runnable").unwrap();
        assert!(agree(w, 3.0, 3.0) && !agree(w, 3.0, 4.0));
    }
}
