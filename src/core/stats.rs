//! Counters the scheduler reports with `--stats` and in its final JSON report.

use serde::{Deserialize, Serialize};

/// One snapshot of the scheduler's counters (cumulative since start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedCounters {
    /// Seconds since the scheduler attached.
    pub uptime_s: f64,
    /// Online CPUs as seen by the BPF side.
    pub nr_cpus: u64,
    /// Tasks waiting in the ring buffer for the user-space scheduler right now.
    pub nr_queued: u64,
    /// Tasks the user-space scheduler holds right now.
    pub nr_scheduled: u64,
    /// Tasks running right now.
    pub nr_running: u64,
    /// Dispatches to a chosen CPU made by user space (BPF counter).
    pub dispatched_user: u64,
    /// Dispatches the BPF side made on its own (per-CPU kthreads, congestion, idle fast path).
    pub dispatched_kernel: u64,
    /// User dispatches the BPF side dropped because the task changed state meanwhile.
    pub dispatched_cancel: u64,
    /// User dispatches bounced to the previous CPU (affinity changed meanwhile).
    pub dispatched_bounce: u64,
    /// Failed dispatches.
    pub dispatched_failed: u64,
    /// Times the queue to user space was full (the BPF side then dispatched by itself).
    pub congested: u64,
    /// Decisions made by user space (one per dequeued task).
    pub decisions: u64,
    /// Decisions that went to "any CPU" (the shared queue).
    pub decisions_any_cpu: u64,
    /// Decisions that found an idle CPU.
    pub decisions_idle_cpu: u64,
    /// Decisions that used the critical-kthread fast path.
    pub decisions_critical: u64,
    /// Dispatches user space could not submit (ring full); the task is retried.
    pub submit_errors: u64,
    /// Minor / major page faults of the scheduler process (should stay flat after start).
    pub minor_faults: u64,
    pub major_faults: u64,
    /// Per-task table: live entries and entries evicted as stale.
    pub tasks_tracked: u64,
    pub tasks_evicted: u64,
    /// Decisions that asked the BPF side to preempt (the policy's preemption rule).
    pub decisions_preempt: u64,
    /// BPF side: dispatches that asked to preempt, CPUs it preempted for them, and CPUs it
    /// preempted to make room for the scheduler process.
    pub preempt_requests: u64,
    pub preemptions: u64,
    pub room_kicks: u64,
    /// Ticks at which the scheduler process's slice ran out while tasks waited for its
    /// decisions, and the BPF side gave it another instead of queueing it behind them.
    pub usersched_holds: u64,
    /// Exit notices: queued by the BPF side, those it lost (ring full), those we read, and the
    /// pids they freed in the policy's task table.
    pub exit_notices: u64,
    pub exit_notices_seen: u64,
    pub exit_notices_lost: u64,
    pub tasks_forgotten: u64,
    /// CPUs that went online or offline while attached, and tasks the BPF side moved off the
    /// queue of an offline CPU.
    pub hotplug_events: u64,
    pub offline_moved: u64,
    /// Times the queue of a CPU that had not dispatched for a heartbeat (going offline: inactive
    /// before the kernel says so) was handed to the other CPUs.
    pub stalled_cpu_rescues: u64,
    /// Idle fast path: tasks the BPF side ran on their idle previous CPU (also counted in
    /// `dispatched_kernel`), the notices we read, and those lost (ring full).
    pub fast_dispatches: u64,
    pub placed_notices: u64,
    pub placed_notices_lost: u64,
    /// Fast preemption: waking tasks the BPF side ran at once ahead of a later deadline, on their
    /// previous CPU or else the one running the latest deadline (also counted in
    /// `dispatched_kernel`; their notices are placement notices).
    pub fast_preempts: u64,
    /// Queue fast path: waking tasks the BPF side put in the shared queue itself, no CPU being
    /// idle (also counted in `dispatched_kernel`; their notices are placement notices).
    pub fast_queued: u64,
    /// Slices the BPF side ended on time (a per-CPU timer) because a task waited, instead of
    /// at the next scheduler tick.
    pub slice_timer_kicks: u64,
    /// Slice ends where the BPF side kept the expiring task, its deadline still the earliest.
    pub kept: u64,
    /// Slice ends where another task's deadline was earlier and the BPF side put the expiring
    /// task back in line itself (deadline advanced, the base slice), the notices of
    /// them we read, and those lost (ring full). Like `kept`, a continuation of our last
    /// decision for the task, not a decision: neither side chose anything new.
    pub requeued: u64,
    pub requeue_notices: u64,
    pub requeue_notices_lost: u64,
    /// How long queued tasks waited for their decision (queued → dispatch back in BPF): log2
    /// buckets, bucket i = [2^i, 2^(i+1)) ns.
    pub decision_wait_hist: Vec<u64>,
    /// Which policy decided: "heuristic" or "model".
    pub policy: String,
    /// What the learned policy counted (all zero for the heuristic); flat in the JSON.
    #[serde(flatten)]
    pub model: ModelStats,
}

impl SchedCounters {
    /// The one-line form printed every `--stats` interval.
    pub fn line(&self) -> String {
        format!(
            "t={:.0}s cpus={} queued={} sched={} running={} | dispatched user={} kernel={} any={} \
             cancel={} bounce={} fail={} cong={} | decisions={} idle={} critical={} | \
             pf={}/{} tasks={} evicted={}",
            self.uptime_s, self.nr_cpus, self.nr_queued, self.nr_scheduled, self.nr_running,
            self.dispatched_user, self.dispatched_kernel, self.decisions_any_cpu,
            self.dispatched_cancel, self.dispatched_bounce, self.dispatched_failed, self.congested,
            self.decisions, self.decisions_idle_cpu, self.decisions_critical,
            self.minor_faults, self.major_faults, self.tasks_tracked, self.tasks_evicted
        ) + &format!(
            " | preempt asked={} done={} room={} hold={} | fast={} fast_preempt={} fast_queue={} slice_timer={} kept={} requeued={} | exits={} lost={} | hotplug={} moved={} stalled={} | wait p50<={}us p99<={}us",
            self.decisions_preempt, self.preemptions, self.room_kicks, self.usersched_holds, self.fast_dispatches, self.fast_preempts, self.fast_queued, self.slice_timer_kicks, self.kept, self.requeued, self.exit_notices,
            self.exit_notices_lost, self.hotplug_events, self.offline_moved, self.stalled_cpu_rescues,
            self.decision_wait_quantile_ns(0.5).map_or(0, |n| n / 1000),
            self.decision_wait_quantile_ns(0.99).map_or(0, |n| n / 1000)
        ) + &self.model_line()
    }

    /// The `q` quantile (0..1) of the decision wait, ns: the upper edge of the log2 bucket it
    /// falls in (None before the first decision).
    pub fn decision_wait_quantile_ns(&self, q: f64) -> Option<u64> {
        log2_quantile(&self.decision_wait_hist, q)
    }

    /// Every scheduling decision of the run: those user space made (one per task it dequeued)
    /// and the dispatches the BPF side made on its own (per-CPU kthreads, congestion, the idle
    /// fast path).
    pub fn all_decisions(&self) -> u64 {
        self.decisions + self.dispatched_kernel
    }

    /// Share of all scheduling decisions made by the models, 0..1 (0 for the heuristic): their
    /// decisions when asked, and the idle fast path's placements under a standing decision of
    /// theirs (a placement class that takes the idle previous CPU, with its slice: see
    /// `policy::Decision::idle_prev`). A task the BPF side dispatched by itself otherwise, or one
    /// user space decided without the models, counts against it.
    pub fn model_share(&self) -> f64 {
        ratio(self.model.model_decisions + self.model.standing_placements, self.all_decisions())
    }

    /// The same, counting only the decisions the models made when asked (the fast path's
    /// placements against it): how often the models were asked.
    pub fn fresh_model_share(&self) -> f64 {
        ratio(self.model.model_decisions, self.all_decisions())
    }

    /// Share of the model's decisions whose slice the ceiling overrode, 0..1.
    pub fn slice_capped_share(&self) -> f64 {
        ratio(self.model.slice_capped, self.model.model_decisions)
    }

    /// Share of model decisions whose placement equals the heuristic's, 0..1.
    pub fn placement_agree_share(&self) -> f64 {
        ratio(self.model.placement_agree, self.model.model_decisions)
    }

    /// The model part of the stats line (empty for the heuristic).
    pub fn model_line(&self) -> String {
        if self.policy != "model" {
            return String::new();
        }
        format!(
            " | model {} + {} standing ({:.2}% of all decisions, {:.2}% when asked) overrides {} slices capped {} ({:.1}%) | infer median < {} ns, mean {:.0} ns, max {} ns | placement agrees with heuristic {:.1}% | slice classes {:?} placement classes {:?}",
            self.model.model_decisions, self.model.standing_placements, self.model_share() * 100.0,
            self.fresh_model_share() * 100.0, self.model.safety_overrides, self.model.slice_capped,
            self.slice_capped_share() * 100.0,
            self.model.inference_ns_median_bound(), self.model.inference_ns_mean(), self.model.inference_ns_max,
            self.placement_agree_share() * 100.0, self.model.slice_class_hist, self.model.placement_class_hist
        )
    }

    /// Tasks user space actually dispatched (to a CPU or to the shared queue).
    pub fn user_dispatched_total(&self) -> u64 {
        self.dispatched_user + self.decisions_any_cpu
    }
}

/// The learned policy's own counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelStats {
    /// Decisions whose slice and placement came from the models.
    pub model_decisions: u64,
    /// Model decisions whose order the critical-kthread rule overrode (slice/placement kept).
    pub safety_overrides: u64,
    /// Placement decisions where the model's target equals the heuristic's.
    pub placement_agree: u64,
    /// Tasks the idle fast path ran under the model's standing decision (its last placement class
    /// for the task takes the idle previous CPU): counted beside `model_decisions` in the model
    /// share.
    #[serde(default)]
    pub standing_placements: u64,
    /// Model slices longer than the configured slice, cut to it (a user-space scheduler cannot
    /// preempt a running task when another wakes up, as EEVDF does; the ceiling stands in).
    pub slice_capped: u64,
    /// Wakeups the preemption model said to preempt for (with `--preempt model`).
    pub preempt_yes: u64,
    /// Slice model classes chosen (index = class), and placement model classes chosen.
    pub slice_class_hist: Vec<u64>,
    pub placement_class_hist: Vec<u64>,
    /// Sampled timing of feature computation + both predictions, ns.
    pub inference_samples: u64,
    pub inference_ns_total: u64,
    pub inference_ns_max: u64,
    /// Sampled inference times by power of two: bucket k counts samples in [2^k, 2^(k+1)) ns.
    pub inference_ns_log2_hist: Vec<u64>,
    /// What one pair of clock reads costs here, ns (subtracted from each sample).
    pub timer_overhead_ns: u64,
}

impl ModelStats {
    /// Mean sampled inference time, ns.
    pub fn inference_ns_mean(&self) -> f64 {
        if self.inference_samples == 0 { 0.0 } else { self.inference_ns_total as f64 / self.inference_samples as f64 }
    }

    /// Record one sampled inference time (ns, timer overhead already subtracted).
    pub fn record_inference(&mut self, ns: u64) {
        self.inference_samples += 1;
        self.inference_ns_total += ns;
        self.inference_ns_max = self.inference_ns_max.max(ns);
        if self.inference_ns_log2_hist.len() < 40 {
            self.inference_ns_log2_hist.resize(40, 0);
        }
        self.inference_ns_log2_hist[(63 - ns.max(1).leading_zeros()) as usize] += 1;
    }

    /// Median sampled inference time: the upper bound of the power-of-two bucket holding it, ns.
    pub fn inference_ns_median_bound(&self) -> u64 {
        log2_quantile(&self.inference_ns_log2_hist, 0.5).unwrap_or(0)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The `q` quantile of a log2 histogram (bucket i = [2^i, 2^(i+1))), as the upper edge of the
/// bucket it falls in; None if the histogram is empty.
pub fn log2_quantile(hist: &[u64], q: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(1u64 << (i + 1).min(63));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_quantiles_name_the_bucket_edge() {
        assert_eq!(log2_quantile(&[], 0.5), None);
        assert_eq!(log2_quantile(&[0, 0, 0], 0.99), None);
        // 90 waits of [1024, 2048) ns and 10 of [2^20, 2^21) ns.
        let mut h = vec![0u64; 32];
        h[10] = 90;
        h[20] = 10;
        assert_eq!(log2_quantile(&h, 0.5), Some(2048));
        assert_eq!(log2_quantile(&h, 0.9), Some(2048));
        assert_eq!(log2_quantile(&h, 0.91), Some(1 << 21));
        assert_eq!(log2_quantile(&h, 1.0), Some(1 << 21));
        let c = SchedCounters { decision_wait_hist: h, ..Default::default() };
        assert_eq!(c.decision_wait_quantile_ns(0.99), Some(1 << 21));
    }

    #[test]
    fn inference_median_bucket() {
        let mut c = ModelStats::default();
        for ns in [40, 45, 50, 60, 5000] {
            c.record_inference(ns);
        }
        assert_eq!(c.inference_ns_median_bound(), 64, "median 50 ns lies in [32, 64)");
        assert_eq!(c.inference_ns_max, 5000);
        assert_eq!(ModelStats::default().inference_ns_median_bound(), 0);
    }

    #[test]
    fn the_model_share_counts_what_the_bpf_side_dispatched_by_itself() {
        let c = SchedCounters { decisions: 950, dispatched_kernel: 50,
                                model: ModelStats { model_decisions: 950, slice_capped: 95, ..Default::default() },
                                ..Default::default() };
        assert_eq!(c.model_share(), 0.95);
        assert_eq!(c.slice_capped_share(), 0.1);
        let c = SchedCounters { decisions: 1000, model: ModelStats { model_decisions: 990, ..Default::default() },
                                ..Default::default() };
        assert_eq!(c.model_share(), 0.99);
        assert_eq!(SchedCounters::default().model_share(), 0.0);
    }
}
