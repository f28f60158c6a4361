//! The learned policy: the trained models decide.
//!
//! * **Slice**: the slice model's class, from the task's feature vector (the same contract the
//!   tracer used, see [`crate::features`]) — capped by the configured slice (see `decide`).
//! * **Placement**: the placement model's class, mapped onto the two safe targets
//!   ([`model_target`]).
//! * **Preemption**: at a wakeup, the preemption model's verdict (did EEVDF preempt the running
//!   task for a task like this one?) with `PreemptRule::Model`; the BPF side still preempts only
//!   a CPU whose running task has a later deadline.
//! * **Order** ([`Order`]): EEVDF's deadline, vruntime + the chosen slice scaled by weight; or
//!   the heuristic's, vruntime + CPU time since the last wakeup.

use std::path::Path;
use std::time::Instant;

use super::{heuristic, is_critical, Context, Decision, Notice, Order, Policy, PreemptRule, Target, TaskVtime, VirtualClock,
            TASK_TABLE_SLOTS};
use crate::features::QueuedView;
use crate::model::{Model, ModelKind, PREEMPT_YES};
use crate::stats::{ModelStats, SchedCounters};
use crate::table::TaskTable;
use crate::task::Task;

/// Time one decision in this many (the clock read costs more than the inference).
pub const INFERENCE_SAMPLE_EVERY: u64 = 64;

/// The model files a models folder holds.
pub const MODEL_FILES: [&str; 3] = ["slice.model", "placement.model", "preempt.model"];

/// The trained models.
pub struct Models {
    pub slice: Model,
    pub placement: Model,
    pub preempt: Model,
}

impl Models {
    /// Whether `dir` holds every model file (not whether they are valid: see [`Models::load`]).
    pub fn present(dir: &Path) -> bool {
        MODEL_FILES.iter().all(|f| dir.join(f).exists())
    }

    /// Load and validate `dir/slice.model`, `dir/placement.model` and `dir/preempt.model`;
    /// errors name the file.
    /// (The scheduler calls this before it attaches: it allocates and reads files.)
    pub fn load(dir: &Path) -> Result<Models, String> {
        let load = |name: &str, kind: ModelKind| -> Result<Model, String> {
            let path = dir.join(format!("{name}.model"));
            let m = Model::load(&path).map_err(|e| e.to_string())?;
            if m.kind != kind {
                return Err(format!("{}: is a {:?} model, expected {kind:?}", path.display(), m.kind));
            }
            Ok(m)
        };
        let (slice, placement) = (load("slice", ModelKind::Slice)?, load("placement", ModelKind::Placement)?);
        let preempt = load("preempt", ModelKind::Preempt)?;
        if preempt.classes.len() <= PREEMPT_YES {
            return Err(format!("{}: has {} classes; a preemption model needs 2 (no, preempt)", dir.join("preempt.model").display(),
                               preempt.classes.len()));
        }
        Ok(Models { slice, placement, preempt })
    }
}

/// What the learned policy keeps per task: its place on the virtual clock and the feature history.
#[derive(Debug, Clone, Copy, Default)]
struct TaskState {
    vtime: TaskVtime,
    view: QueuedView,
    /// The last decision left a standing decision for the idle fast path (see `decide`).
    idle_prev: bool,
    /// The preemption model's verdict at the task's last wakeup (the standing preemption under
    /// the model's rule).
    model_preempt: bool,
}

pub struct Learned<'m> {
    models: &'m Models,
    clock: VirtualClock,
    tasks: TaskTable<TaskState>,
    stats: ModelStats,
    decisions: u64,
    /// When to ask for preemption: the preemption model's verdict, or the heuristic's rule.
    preempt: PreemptRule,
    /// How its tasks are ordered (the deadline).
    order: Order,
}

/// Where the placement model's class sends a task. The tracer's classes are where EEVDF put
/// it: 0 its previous CPU, 1 the waker's CPU, 2 another idle CPU, 3 another busy CPU. User
/// space does not know the waker's CPU, and a busy CPU's own queue starves the shared one (see
/// [`heuristic::target`]), so the classes map onto the two safe targets:
/// * 0 (previous CPU): the idle CPU select_cpu found — the previous CPU when that is idle (it is
///   preferred); when it is busy, where EEVDF's own idle search (`select_idle_sibling`) goes
///   next, another idle CPU. (Sending it to the shared queue instead let two tasks that wake each
///   other, `perf bench sched pipe`, settle on one CPU: the CPU the waker left took the wakee
///   from the shared queue, the other stayed idle, and every wakeup came through us.)
/// * 1, 2 (a CPU that was idle or about to run the task): the idle CPU if there is one;
/// * 3 (a busy CPU: EEVDF chose to queue rather than to move): the shared queue.
/// With no idle CPU, every class goes to the shared queue.
pub fn model_target(class: usize, idle_cpu: i32) -> Target {
    match class {
        0..=2 if idle_cpu >= 0 => Target::Cpu(idle_cpu),
        _ => Target::Any,
    }
}

impl<'m> Learned<'m> {
    /// The learned policy with `models`. `slice_ns` is the unit of the virtual clock's bounds,
    /// `max_slice_ns` the ceiling on the model's slice, `preempt` when to ask for preemption,
    /// and `timer_overhead_ns` what one pair of clock reads costs here (subtracted from each
    /// timing).
    pub fn new(models: &'m Models, slice_ns: u64, max_slice_ns: u64, preempt: PreemptRule, timer_overhead_ns: u64) -> Self {
        let stats = ModelStats {
            slice_class_hist: vec![0; models.slice.classes.len()],
            placement_class_hist: vec![0; models.placement.classes.len()],
            timer_overhead_ns,
            ..Default::default()
        };
        Self { models, clock: VirtualClock::with_max_slice(slice_ns, max_slice_ns),
               tasks: TaskTable::with_capacity(TASK_TABLE_SLOTS), stats, decisions: 0, preempt, order: Order::default() }
    }

    /// The same policy, ordering its tasks by `order`.
    pub fn with_order(self, order: Order) -> Self {
        Self { order, ..self }
    }
}

impl Policy for Learned<'_> {
    const NAME: &'static str = "model";

    fn decide(&mut self, task: &Task, ctx: &Context) -> Decision {
        self.decisions += 1;
        let t0 = (self.decisions % INFERENCE_SAMPLE_EVERY == 1).then(Instant::now);
        let (state, new) = self.tasks.entry(task.pid);
        // A new task's first enqueue counts as a wakeup, as in the traces (see QueuedView::observe).
        let wakeup = state.view.observe(task, ctx.now_ns);
        let x = state.view.vector(task, &ctx.sys);
        let slice_class = self.models.slice.predict(&x);
        let place_class = self.models.placement.predict(&x);
        // The preemption model was trained on wakeups only (a preempted task going back to the
        // queue is not a preemption question).
        let model_preempt = self.preempt == PreemptRule::Model && wakeup && self.models.preempt.predict(&x) == PREEMPT_YES;
        if let Some(t0) = t0 {
            let ns = (t0.elapsed().as_nanos() as u64).saturating_sub(self.stats.timer_overhead_ns);
            self.stats.record_inference(ns);
        }
        // The model imitates the stints EEVDF let tasks run — stints that EEVDF cuts short by
        // wakeup preemption — so without preemption a long slice wrecks latency: the ceiling
        // (--max-slice-us) bounds what the model may give.
        let model_slice_ns = self.models.slice.classes[slice_class].slice_ns;
        let slice_ns = model_slice_ns.min(self.clock.max_slice_ns());
        let target = model_target(place_class, ctx.idle_cpu);
        let s = &mut self.stats;
        s.model_decisions += 1;
        s.slice_capped += u64::from(slice_ns < model_slice_ns);
        s.slice_class_hist[slice_class] += 1;
        s.placement_class_hist[place_class] += 1;
        s.placement_agree += u64::from(target == heuristic::target(ctx.idle_cpu));
        // Critical kernel threads keep jumping the queue (the deadline rule), whatever the model.
        s.safety_overrides += u64::from(is_critical(task));
        // The order: EEVDF's deadline follows the model's slice, so a task given a long slice
        // waits behind short ones (the heuristic's order, by the CPU time since the wakeup, was
        // measured: see Order::Runtime).
        let deadline = match self.order {
            Order::Slice => self.clock.deadline_with_slice(task, &mut state.vtime, new, slice_ns),
            Order::Runtime => self.clock.deadline(task, &mut state.vtime, new),
        };
        let preempt = match self.preempt {
            PreemptRule::Off => false,
            PreemptRule::Deadline => self.clock.wants_preempt(task, &state.vtime),
            PreemptRule::Model => model_preempt,
        };
        s.preempt_yes += u64::from(model_preempt);
        // The verdict stands for the next wakeups (only a wakeup asks the preemption question):
        // under EEVDF's rule always yes, the BPF side comparing the deadlines; under the model's,
        // its verdict at the last wakeup.
        if wakeup {
            state.model_preempt = model_preempt;
        }
        let preempt_prev = match self.preempt {
            PreemptRule::Off => false,
            PreemptRule::Deadline => true,
            PreemptRule::Model => state.model_preempt,
        };
        // The class stands for the task's next wakeups too if, with its previous CPU idle, it
        // would send the task there (every class but "busy": see model_target): then the fast
        // path runs it there with this slice (counted as the model's, `standing_placements`).
        state.idle_prev = model_target(place_class, task.cpu) == Target::Cpu(task.cpu);
        Decision { target, slice_ns, deadline, preempt, idle_prev: state.idle_prev,
                   preempt_prev: state.idle_prev && preempt_prev }
    }

    fn report(&self, c: &mut SchedCounters) {
        c.tasks_tracked = self.tasks.len() as u64;
        c.tasks_evicted = self.tasks.evicted();
        c.model = self.stats.clone();
    }

    fn forget(&mut self, pid: i32) -> bool {
        self.tasks.remove(pid)
    }

    fn observe(&mut self, task: &Task, notice: Notice, now_ns: u64) {
        let (state, new) = self.tasks.entry(task.pid);
        if notice == Notice::Placed {
            // Placed under the model's standing decision (the BPF side needs one); a task the
            // table no longer knows (evicted) is not counted as the model's.
            self.stats.standing_placements += u64::from(state.idle_prev && !new);
        }
        state.view.observe(task, now_ns);
        self.clock.observe(task, &mut state.vtime, new, notice);
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
    use crate::features::{SystemView, FEATURE_NAMES};
    use crate::model::{slice_classes, ClassInfo, FlatTree, FORMAT_NAME, FORMAT_VERSION, PREEMPT_CLASSES};

    /// A one-leaf model that always answers `class`.
    fn stump(kind: ModelKind, classes: Vec<ClassInfo>, class: i32) -> Model {
        let m = Model {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            kind,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            classes,
            tree: FlatTree { feature: vec![0], threshold: vec![0.0], left: vec![0], right: vec![0], leaf: vec![class] },
            meta: serde_json::Value::Null,
        };
        m.validate().unwrap();
        m
    }

    fn preempt_classes() -> Vec<ClassInfo> {
        PREEMPT_CLASSES.iter().map(|n| ClassInfo { name: n.to_string(), slice_ns: 0 }).collect()
    }

    fn placement_classes() -> Vec<ClassInfo> {
        ["prev", "waker", "idle", "busy"].iter().map(|n| ClassInfo { name: n.to_string(), slice_ns: 0 }).collect()
    }

    fn task(pid: i32, cpu: i32) -> Task {
        Task { cpu, flags: 1, ..Task::new(pid, "x") }
    }

    #[test]
    fn the_models_decide_the_slice_under_the_ceiling_and_it_counts_what_it_did() {
        // Always 20 ms (class 9), always "previous CPU" (class 0).
        let models = Models { slice: stump(ModelKind::Slice, slice_classes(), 9),
                              placement: stump(ModelKind::Placement, placement_classes(), 0),
                              preempt: stump(ModelKind::Preempt, preempt_classes(), 0) };
        let mut p = Learned::new(&models, 1_500_000, 1_500_000, PreemptRule::Deadline, 0);
        let ctx = |idle_cpu| Context { idle_cpu, sys: SystemView::default(), now_ns: 1_000 };
        let d = p.decide(&task(1, 1), &ctx(1));
        assert_eq!((d.target, d.slice_ns), (Target::Cpu(1), 1_500_000), "capped at the ceiling, on the idle previous CPU");
        assert_eq!(p.decide(&task(2, 1), &ctx(0)).target, Target::Cpu(0), "previous CPU busy: the idle one");
        assert_eq!(p.decide(&task(3, 1), &ctx(-1)).target, Target::Any, "none idle: the shared queue");
        let mut c = SchedCounters { decisions: 3, ..Default::default() };
        p.report(&mut c);
        assert_eq!((c.model.model_decisions, c.model.slice_capped, c.tasks_tracked), (3, 3, 3));
        assert_eq!(c.model.slice_class_hist[9], 3);
        assert_eq!(c.model.placement_agree, 3, "class previous CPU goes where the heuristic goes");
        assert_eq!(c.model.inference_samples, 1, "the first decision is timed");
        assert_eq!(c.model_share(), 1.0);
        // A higher ceiling lets the model's 20 ms through.
        let mut p = Learned::new(&models, 1_500_000, 20_000_000, PreemptRule::Deadline, 0);
        assert_eq!(p.decide(&task(1, 1), &ctx(1)).slice_ns, 20_000_000);
        assert!(p.forget(1) && !p.forget(1));
    }

    #[test]
    fn the_order_is_eevdfs_from_the_models_slice_by_default_or_the_heuristics() {
        // Always 200 µs (class 2): what the model gives hackbench's tasks.
        let models = Models { slice: stump(ModelKind::Slice, slice_classes(), 2),
                              placement: stump(ModelKind::Placement, placement_classes(), 0),
                              preempt: stump(ModelKind::Preempt, preempt_classes(), 0) };
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 1_000 };
        let mut heuristic = crate::policy::Heuristic::new(1_500_000, PreemptRule::Deadline);
        let mut runtime = Learned::new(&models, 1_500_000, 20_000_000, PreemptRule::Deadline, 0).with_order(Order::Runtime);
        let mut slice = Learned::new(&models, 1_500_000, 20_000_000, PreemptRule::Deadline, 0);
        // A task that woke, then ran 3 ms and went back in line, then another that ran 0.1 ms.
        for (pid, ran) in [(1, 3_000_000), (2, 100_000)] {
            let t = Task { flags: 0, start_ts: 1_000, stop_ts: 1_000 + ran, exec_runtime: ran, ..task(pid, 0) };
            let (h, r, s) = (heuristic.decide(&t, &ctx).deadline, runtime.decide(&t, &ctx).deadline, slice.decide(&t, &ctx).deadline);
            assert_eq!(r, h, "Order::Runtime: the heuristic's deadline (pid {pid})");
            // By default EEVDF's: the same vruntime, plus the model's 200 µs instead of the run
            // since the wakeup.
            assert_eq!(r as i64 - s as i64, ran as i64 - 200_000, "pid {pid}: {r} {s}");
        }
    }

    #[test]
    fn loading_names_the_file_and_checks_the_kind() {
        let dir = std::env::temp_dir().join(format!("mimic-learned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = Models::load(&dir).err().unwrap();
        assert!(e.contains("slice.model"), "{e}");
        std::fs::write(dir.join("slice.model"), stump(ModelKind::Placement, placement_classes(), 0).to_json()).unwrap();
        std::fs::write(dir.join("placement.model"), stump(ModelKind::Placement, placement_classes(), 0).to_json()).unwrap();
        let e = Models::load(&dir).err().unwrap();
        assert!(e.contains("is a Placement model, expected Slice"), "{e}");
        // A preemption model is required, and must have the preempt class.
        std::fs::write(dir.join("slice.model"), stump(ModelKind::Slice, slice_classes(), 0).to_json()).unwrap();
        let e = Models::load(&dir).err().unwrap();
        assert!(e.contains("preempt.model"), "{e}");
        let one = Model { classes: vec![ClassInfo { name: "no".into(), slice_ns: 0 }], ..stump(ModelKind::Preempt, preempt_classes(), 0) };
        std::fs::write(dir.join("preempt.model"), one.to_json()).unwrap();
        let e = Models::load(&dir).err().unwrap();
        assert!(e.contains("preempt.model") && e.contains("needs 2"), "{e}");
        std::fs::write(dir.join("preempt.model"), stump(ModelKind::Preempt, preempt_classes(), 1).to_json()).unwrap();
        assert!(Models::load(&dir).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_preemption_model_decides_at_wakeups_only_and_only_when_asked() {
        let models = |class| Models { slice: stump(ModelKind::Slice, slice_classes(), 2),
                                      placement: stump(ModelKind::Placement, placement_classes(), 0),
                                      preempt: stump(ModelKind::Preempt, preempt_classes(), class) };
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 1_000 };
        let (yes, no) = (models(1), models(0));
        let mut p = Learned::new(&yes, 1_500_000, 20_000_000, PreemptRule::Model, 0);
        assert!(p.decide(&task(1, 0), &ctx).preempt, "a wakeup, and the model says preempt");
        assert!(!p.decide(&Task { flags: 0, start_ts: 500, stop_ts: 900, ..task(2, 0) }, &ctx).preempt, "a requeue (it ran) is not a preemption question");
        assert!(p.decide(&Task { flags: 0, ..task(3, 0) }, &ctx).preempt, "a new task's first enqueue (no wakeup flag, never ran) is a wakeup");
        let mut p = Learned::new(&no, 1_500_000, 20_000_000, PreemptRule::Model, 0);
        assert!(!p.decide(&task(1, 0), &ctx).preempt, "the model says no");
        let mut p = Learned::new(&yes, 1_500_000, 20_000_000, PreemptRule::Off, 0);
        assert!(!p.decide(&task(1, 0), &ctx).preempt, "preemption off: the model is not asked");
        let mut c = SchedCounters::default();
        p.report(&mut c);
        assert_eq!(c.model.preempt_yes, 0);
    }

    #[test]
    fn placement_classes_map_to_safe_targets() {
        assert_eq!(model_target(0, 1), Target::Cpu(1), "previous CPU: the idle one select_cpu found");
        assert_eq!(model_target(0, -1), Target::Any, "nothing idle: never queue on a busy CPU");
        assert_eq!(model_target(2, 0), Target::Cpu(0));
        assert_eq!(model_target(1, -16), Target::Any);
        assert_eq!(model_target(3, 0), Target::Any, "busy: EEVDF queued it rather than move it");
        assert_eq!(model_target(99, 0), Target::Any);
    }

    #[test]
    fn a_class_that_would_take_the_idle_previous_cpu_leaves_a_standing_decision_and_placements_under_it_count() {
        let models = |class| Models { slice: stump(ModelKind::Slice, slice_classes(), 2),
                                      placement: stump(ModelKind::Placement, placement_classes(), class),
                                      preempt: stump(ModelKind::Preempt, preempt_classes(), 0) };
        let (prev, waker, busy) = (models(0), models(1), models(3));
        let ctx = Context { idle_cpu: 0, sys: SystemView::default(), now_ns: 1_000 };
        let mut p = Learned::new(&prev, 1_500_000, 20_000_000, PreemptRule::Deadline, 0);
        assert!(p.decide(&task(1, 0), &ctx).idle_prev);
        p.observe(&task(1, 0), Notice::Placed, 2_000);
        p.observe(&task(1, 0), Notice::Requeued, 3_000);
        // A placement notice for a task we never decided for is not the model's.
        p.observe(&task(2, 0), Notice::Placed, 2_000);
        let mut c = SchedCounters { decisions: 1, dispatched_kernel: 2, ..Default::default() };
        p.report(&mut c);
        assert_eq!(c.model.standing_placements, 1);
        assert_eq!((c.model_share(), c.fresh_model_share()), (2.0 / 3.0, 1.0 / 3.0));
        let mut p = Learned::new(&busy, 1_500_000, 20_000_000, PreemptRule::Deadline, 0);
        assert!(!p.decide(&task(1, 0), &ctx).idle_prev, "class busy: every wakeup comes to us");
        let mut p = Learned::new(&waker, 1_500_000, 20_000_000, PreemptRule::Deadline, 0);
        assert!(p.decide(&task(1, 0), &ctx).idle_prev, "class waker: the idle CPU, the previous one when idle");
    }

    #[test]
    fn the_standing_preemption_is_the_last_wakeup_verdict_and_needs_a_standing_placement() {
        let models = |place, preempt| Models { slice: stump(ModelKind::Slice, slice_classes(), 2),
                                               placement: stump(ModelKind::Placement, placement_classes(), place),
                                               preempt: stump(ModelKind::Preempt, preempt_classes(), preempt) };
        let ctx = Context { idle_cpu: -1, sys: SystemView::default(), now_ns: 1_000 };
        let requeue = |pid| Task { flags: 0, start_ts: 500, stop_ts: 900, ..task(pid, 0) };
        let (prev_yes, prev_no, busy_yes) = (models(0, 1), models(0, 0), models(3, 1));
        let mut p = Learned::new(&prev_yes, 1_500_000, 20_000_000, PreemptRule::Model, 0);
        assert!(p.decide(&task(1, 0), &ctx).preempt_prev, "the model said preempt at the wakeup");
        let d = p.decide(&requeue(1), &ctx);
        assert!(!d.preempt && d.preempt_prev, "a slice end asks nothing, and keeps the wakeup's verdict");
        let mut p = Learned::new(&prev_no, 1_500_000, 20_000_000, PreemptRule::Model, 0);
        assert!(!p.decide(&task(1, 0), &ctx).preempt_prev, "the model said no");
        let mut p = Learned::new(&prev_no, 1_500_000, 20_000_000, PreemptRule::Deadline, 0);
        assert!(p.decide(&task(1, 0), &ctx).preempt_prev, "EEVDF's rule: the BPF side compares the deadlines");
        // A task first seen at a slice end (its table entry evicted, or older than the scheduler)
        // has had no wakeup yet: under EEVDF's rule it stands at once, as the heuristic's does.
        assert!(p.decide(&requeue(2), &ctx).preempt_prev, "EEVDF's rule needs no wakeup verdict");
        let mut p = Learned::new(&prev_yes, 1_500_000, 20_000_000, PreemptRule::Off, 0);
        assert!(!p.decide(&task(1, 0), &ctx).preempt_prev, "preemption off");
        let mut p = Learned::new(&busy_yes, 1_500_000, 20_000_000, PreemptRule::Model, 0);
        assert!(!p.decide(&task(1, 0), &ctx).preempt_prev, "class busy leaves no standing decision at all");
    }
}
