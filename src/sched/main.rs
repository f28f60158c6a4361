//! scx_mimic: a sched_ext scheduler whose decisions are made in user space, in Rust, on top of
//! scx_rustland_core.
//!
//! The policy, in plain words:
//! * The BPF side (generated from scx_rustland_core's templates by build.rs) queues to us every
//!   task that needs a decision. Per-CPU kernel threads, kswapd and khugepaged it dispatches by
//!   itself: a user-space scheduler must never hold a thread it may be waiting for.
//! * For each queued task we ask the BPF idle picker for an idle CPU near the task's previous
//!   one (it claims the CPU it returns), read what the BPF side counts of the system, and ask
//!   the policy *where* the task runs, *in what order* (a virtual deadline) and *for how long*
//!   (a time slice). The policy is the heuristic, or with `--model` the trained models; both
//!   live in the shared core (`scx_mimic::policy`), unit-tested without the BPF framework.
//! * A task goes to a CPU's own queue only if that CPU is idle; every other task goes to the
//!   shared queue, where the CPUs take tasks in deadline order.
//! * We never drop a task: a dropped task stays runnable forever, and the kernel ejects us.
mod bpf_skel;
mod process;
pub use bpf_skel::*;
pub mod bpf_intf;
#[path = "src/bpf.rs"]
mod bpf;
use bpf::*;

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::{Parser, ValueEnum};
use libbpf_rs::OpenObject;
use log::{info, warn};
use scx_utils::UserExitInfo;

use scx_mimic::bpf_view::BpfCounts;
use scx_mimic::cpuset::CpuSet;
use scx_mimic::policy::{is_critical, may_be_critical, Context, Decision, Heuristic, Learned, Models, Policy, Target};
use scx_mimic::stats::SchedCounters;
use scx_mimic::Task;

const SCHEDULER_NAME: &str = "scx_mimic";

/// scx_mimic: a sched_ext scheduler in user space (scx_rustland_core) that decides time slice,
/// CPU and order for every task.
///
/// With --model DIR it loads DIR/slice.model and DIR/placement.model (trained by `mimic train`)
/// and asks them, for every task, for its time slice and where to run it; the deadline follows
/// EEVDF's rule (vruntime + slice scaled by weight). Without --model it runs a plain heuristic:
/// virtual deadline = vruntime + runtime since the last wakeup (both scaled by the task's
/// weight), an idle CPU from the BPF idle picker when there is one, otherwise the shared queue,
/// and a fixed time slice.
///
/// Needs a kernel with CONFIG_SCHED_CLASS_EXT=y and root. Stop it with Ctrl-C or SIGTERM: it
/// detaches, the kernel goes back to its default scheduler (EEVDF), and it exits with code 0.
/// If the kernel ejects it (for example a task left runnable for 5 s), it prints why and exits 1.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Opts {
    /// Time slice the heuristic gives every task, and the longest slice the models may give, in
    /// microseconds. A user-space scheduler cannot preempt a running task when another wakes up
    /// (EEVDF does), so a waking task waits for up to two slice ends — one for the scheduler
    /// process to get a CPU, one for the task itself — and the slice bounds wakeup latency.
    /// 1500 is EEVDF's base slice on a 2-CPU machine (0.75 ms × (1 + log2 CPUs)).
    #[arg(short = 's', long, default_value_t = 1500, value_parser = clap::value_parser!(u64).range(100..=100_000))]
    slice_us: u64,

    /// Folder with slice.model and placement.model: decide with the trained models. They are
    /// loaded and validated before the scheduler attaches; a missing or invalid model stops it
    /// with an error, unless --fallback heuristic is given.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// What to do if --model cannot be used: fail (the default) or run the heuristic and say why.
    #[arg(long, value_enum, default_value = "fail")]
    fallback: Fallback,

    /// Print the scheduler's counters every SECS seconds (queued and running tasks, dispatches by
    /// user space and by the kernel side, decisions, page faults of the scheduler process).
    #[arg(long, value_name = "SECS")]
    stats: Option<f64>,

    /// On exit, write the final counters and the exit reason as JSON to PATH (via a temp file
    /// and rename).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// Let the BPF side place waking tasks on idle CPUs by itself (fewer round trips to user
    /// space, fewer decisions of ours).
    #[arg(long)]
    builtin_idle: bool,

    /// Only schedule tasks that opt in to SCHED_EXT (sched_setscheduler); all others stay on
    /// the default scheduler.
    #[arg(long)]
    partial: bool,

    /// Bytes of the kernel's debug dump to print when the scheduler is ejected (0: default).
    #[arg(long, default_value_t = 0)]
    exit_dump_len: u32,

    /// Enable the BPF side's debug messages (read them from /sys/kernel/tracing/trace_pipe).
    #[arg(short = 'd', long)]
    debug: bool,

    /// More log output (-v: info with per-interval stats details, -vv: debug). RUST_LOG overrides.
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Deliberately misbehave, to prove that the VM gate catches a broken scheduler.
    #[arg(long, value_enum, hide = true)]
    fault: Option<Fault>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fallback {
    /// Refuse to start.
    Fail,
    /// Start on the heuristic and log why.
    Heuristic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fault {
    /// Dequeue tasks but never dispatch them: the kernel must eject us (runnable task stall).
    NeverDispatch,
}

/// The scheduler: the BPF side, the policy, and what we count.
struct Scheduler<'a, P: Policy> {
    bpf: BpfScheduler<'a>,
    opts: &'a Opts,
    policy: P,
    /// CPUs we may send tasks to directly: those online when we attached.
    cpus: CpuSet,
    counters: SchedCounters,
    started: Instant,
    next_stats: Option<Instant>,
}

impl<'a, P: Policy> Scheduler<'a, P> {
    /// Attach. Everything that allocates a lot (the policy's task table, the models) was done
    /// before: after `BpfScheduler::init` memory is locked, the heap is a fixed 64 MiB arena and
    /// mmap is forbidden.
    fn init(opts: &'a Opts, policy: P, open_object: &'a mut MaybeUninit<OpenObject>) -> Result<Self> {
        let cpus = CpuSet::online().map_err(anyhow::Error::msg).context("reading the online CPUs")?;
        let bpf = BpfScheduler::init(
            open_object,
            None,
            opts.exit_dump_len,
            opts.partial,
            opts.debug,
            opts.builtin_idle,
            false, // numa_local: our guests are single-node
            opts.slice_us * 1000,
            SCHEDULER_NAME,
        )
        .context("cannot attach the sched_ext scheduler (kernel without sched_ext? not root? another scheduler loaded?)")?;
        // See process.rs: our own stop signals (the library's only reach the first instance),
        // and its helper thread off sched_ext (so that a kill -9 detaches us at once).
        process::install_stop_signals();
        process::helper_threads_off_sched_ext();
        info!("{SCHEDULER_NAME} attached: slice {} us, policy {}, {} CPUs online", opts.slice_us, P::NAME, cpus.len());
        let stats_every = opts.stats.map(|s| Duration::from_secs_f64(s.max(0.1)));
        Ok(Self {
            bpf,
            opts,
            policy,
            cpus,
            counters: SchedCounters { policy: P::NAME.into(), ..Default::default() },
            started: Instant::now(),
            next_stats: stats_every.map(|d| Instant::now() + d),
        })
    }

    /// One scheduling pass: take every queued task, decide for it, dispatch it.
    fn schedule(&mut self) {
        while let Some(queued) = self.next_queued() {
            self.counters.decisions += 1;
            if self.opts.fault == Some(Fault::NeverDispatch) {
                continue;
            }
            let task = to_task(&queued);
            let ctx = self.context(&task);
            let decision = self.policy.decide(&task, &ctx);
            self.count(&task, &ctx, &decision);
            self.dispatch(&queued, &decision);
        }
        // Tell the BPF side we are done; it runs us again when tasks are queued. Must be called
        // on every pass, or the BPF side keeps waking us in a busy loop.
        self.bpf.notify_complete(0);
    }

    /// The next task the BPF side queued to us, if any.
    fn next_queued(&mut self) -> Option<QueuedTask> {
        match self.bpf.dequeue_task() {
            Ok(t) => t,
            Err(e) => {
                warn!("dequeue_task failed: {e}");
                None
            }
        }
    }

    /// What we know when we decide: an idle CPU for the task, and the system as the BPF side
    /// counts it.
    fn context(&mut self, task: &Task) -> Context {
        // select_cpu asks the BPF idle picker (it prefers the previous CPU and its cache
        // siblings) and claims the idle CPU it returns.
        let idle_cpu = self.bpf.select_cpu(task.pid, task.cpu, task.flags);
        // Only CPUs that were online when we attached (see scx_mimic::cpuset): a CPU coming
        // online does not consume its queue yet, and the kernel restarts us once it does.
        let idle_cpu = if self.cpus.contains(idle_cpu) { idle_cpu } else { -1 };
        let counts = BpfCounts {
            nr_online_cpus: *self.bpf.nr_online_cpus_mut(),
            nr_running: *self.bpf.nr_running_mut(),
            nr_queued: *self.bpf.nr_queued_mut(),
            nr_scheduled: *self.bpf.nr_scheduled_mut(),
        };
        Context { idle_cpu, sys: counts.system_view(task.cpu, idle_cpu), now_ns: self.started.elapsed().as_nanos() as u64 }
    }

    fn count(&mut self, task: &Task, ctx: &Context, d: &Decision) {
        let c = &mut self.counters;
        c.decisions_idle_cpu += u64::from(ctx.idle_cpu >= 0);
        c.decisions_critical += u64::from(is_critical(task));
        c.decisions_any_cpu += u64::from(d.target == Target::Any);
    }

    /// Submit a dispatch; if the ring to the BPF side is full, let it drain and retry. Never
    /// drop a task: a dropped task would stay runnable forever and stall the system.
    fn dispatch(&mut self, queued: &QueuedTask, decision: &Decision) {
        let mut d = DispatchedTask::new(queued);
        d.cpu = match decision.target {
            Target::Cpu(c) => c,
            Target::Any => RL_CPU_ANY,
        };
        d.slice_ns = decision.slice_ns;
        d.vtime = decision.deadline;
        while let Err(e) = self.bpf.dispatch_task(&d) {
            self.counters.submit_errors += 1;
            if self.counters.submit_errors % 1000 == 1 {
                warn!("dispatch ring full ({e}), retrying");
            }
            self.bpf.notify_complete(1);
            if self.bpf.exited() {
                return;
            }
        }
    }

    fn snapshot(&mut self) -> &SchedCounters {
        let c = &mut self.counters;
        c.uptime_s = self.started.elapsed().as_secs_f64();
        c.nr_cpus = *self.bpf.nr_online_cpus_mut();
        c.nr_queued = *self.bpf.nr_queued_mut();
        c.nr_scheduled = *self.bpf.nr_scheduled_mut();
        c.nr_running = *self.bpf.nr_running_mut();
        c.dispatched_user = *self.bpf.nr_user_dispatches_mut();
        c.dispatched_kernel = *self.bpf.nr_kernel_dispatches_mut();
        c.dispatched_cancel = *self.bpf.nr_cancel_dispatches_mut();
        c.dispatched_bounce = *self.bpf.nr_bounce_dispatches_mut();
        c.dispatched_failed = *self.bpf.nr_failed_dispatches_mut();
        c.congested = *self.bpf.nr_sched_congested_mut();
        let (minor, major) = page_faults();
        c.minor_faults = minor;
        c.major_faults = major;
        self.policy.report(c);
        &self.counters
    }

    fn maybe_print_stats(&mut self) {
        let Some(at) = self.next_stats else { return };
        if Instant::now() < at {
            return;
        }
        let every = Duration::from_secs_f64(self.opts.stats.unwrap_or(1.0).max(0.1));
        self.next_stats = Some(at + every);
        let line = self.snapshot().line();
        println!("[{SCHEDULER_NAME}] {line}");
    }

    /// Run until Ctrl-C/SIGTERM or until the kernel ejects us; returns the exit info.
    fn run(mut self) -> (SchedCounters, Result<UserExitInfo>) {
        while !self.bpf.exited() && !process::stop_requested() {
            self.schedule();
            self.maybe_print_stats();
        }
        let counters = self.snapshot().clone();
        let exit = self.bpf.shutdown_and_report();
        (counters, exit)
    }
}

/// The scheduler-agnostic view of a queued task (the policy never sees libbpf types).
fn to_task(q: &QueuedTask) -> Task {
    let mut comm = [0u8; scx_mimic::task::TASK_COMM_LEN];
    for (dst, src) in comm.iter_mut().zip(q.comm.iter()) {
        *dst = *src as u8;
    }
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    // Priority is never granted on a name (any process can choose it): the kernel is asked
    // whether the task really is a kernel thread, for the names that could be critical only
    // (a /proc read costs more than the decision).
    let kthread = may_be_critical(&comm[..end]) && kernel_says_kthread(q.pid);
    Task {
        pid: q.pid,
        cpu: q.cpu,
        nr_cpus_allowed: q.nr_cpus_allowed,
        flags: q.flags,
        start_ts: q.start_ts,
        stop_ts: q.stop_ts,
        exec_runtime: q.exec_runtime,
        weight: q.weight,
        vtime: q.vtime,
        comm,
        kthread,
    }
}

/// What the kernel says of task `tid`: PF_KTHREAD in its /proc stat line (false if it cannot be
/// read: the task is gone, and an ordinary task is the safe answer).
fn kernel_says_kthread(tid: i32) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(format!("/proc/{tid}/stat")) else { return false };
    let n = f.read(&mut buf).unwrap_or(0);
    std::str::from_utf8(&buf[..n]).ok().and_then(scx_mimic::task::stat_says_kthread).unwrap_or(false)
}

/// The cheapest of 200 back-to-back clock reads: what timing itself adds to a sample (under
/// emulation a clock read can cost more than the inference it measures).
fn timer_overhead_ns() -> u64 {
    (0..200).map(|_| { let t = Instant::now(); t.elapsed().as_nanos() as u64 }).min().unwrap_or(0)
}

/// Minor and major page faults of this process so far.
fn page_faults() -> (u64, u64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0, 0);
    }
    (ru.ru_minflt as u64, ru.ru_majflt as u64)
}

/// Write the final report atomically (temp file + rename).
fn write_report(path: &PathBuf, counters: &SchedCounters, exit: &Result<UserExitInfo>, restarts: u32,
                model_dir: Option<&PathBuf>) -> Result<()> {
    let (clean, reason) = match exit {
        Ok(_) => (true, String::from("clean stop")),
        Err(e) => (false, format!("{e:#}")),
    };
    let doc = serde_json::json!({
        "scheduler": SCHEDULER_NAME,
        "policy": counters.policy,
        "model": model_dir.map(|d| d.display().to_string()),
        "model_share": counters.model_share(),
        "inference_ns_mean": counters.model.inference_ns_mean(),
        "inference_ns_median_bound": counters.model.inference_ns_median_bound(),
        "clean_exit": clean,
        "exit_reason": reason,
        "restarts": restarts,
        "counters": counters,
    });
    scx_mimic::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&doc)?)?;
    Ok(())
}

fn main() -> ExitCode {
    // scx_rustland_core gives this process a fixed 64 MiB heap. Symbolizing a backtrace (what
    // RUST_BACKTRACE=1 makes an error or a panic print) parses our debug info and can exhaust
    // it, and the out-of-memory handler then deadlocks on the backtrace lock: the process hangs
    // instead of exiting. So errors are printed without backtraces, and panics by a hook that
    // prints only the message and where it happened.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{SCHEDULER_NAME}: panic: {info}");
    }));
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{SCHEDULER_NAME}: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<()> {
    let opts = Opts::parse();
    let level = match opts.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();

    // Models are loaded and validated before anything touches BPF: after init the heap is fixed
    // and mmap is forbidden, and a bad model must never get as far as the kernel.
    let models = match &opts.model {
        None => None,
        Some(dir) => match Models::load(dir).map_err(anyhow::Error::msg) {
            Ok(m) => {
                info!("models loaded: slice depth {} ({} nodes), placement depth {} ({} nodes)",
                      m.slice.depth(), m.slice.nodes(), m.placement.depth(), m.placement.nodes());
                Some(m)
            }
            Err(e) if opts.fallback == Fallback::Heuristic => {
                warn!("cannot use the models ({e:#}): running the heuristic instead (--fallback heuristic)");
                None
            }
            Err(e) => return Err(e.context("refusing to start: the model is unusable (use --fallback heuristic to run without it)")),
        },
    };

    // The scheduler runs in a child process, one per attach: scx_rustland_core forbids mmap for
    // good once attached (a seccomp filter), so attaching again after the kernel asks for a
    // restart needs a fresh process (see process.rs).
    let code = process::supervise(|restarts| schedule_once(&opts, models.as_ref(), restarts))?;
    if code == 0 {
        Ok(())
    } else {
        std::process::exit(code)
    }
}

/// Attach, schedule until stopped or ejected, report. Runs in the child process; returns its
/// exit code: 0 after a clean stop, 1 after an ejection or error, `process::EXIT_RESTART` when
/// the kernel asks for a restart.
fn schedule_once(opts: &Opts, models: Option<&Models>, restarts: u32) -> i32 {
    let slice_ns = opts.slice_us * 1000;
    // The policy is built (and its memory allocated) before the scheduler attaches.
    match models {
        Some(m) => schedule_with(opts, Learned::new(m, slice_ns, timer_overhead_ns()), restarts),
        None => schedule_with(opts, Heuristic::new(slice_ns), restarts),
    }
}

fn schedule_with<P: Policy>(opts: &Opts, policy: P, restarts: u32) -> i32 {
    let mut open_object = MaybeUninit::uninit();
    let sched = match Scheduler::init(opts, policy, &mut open_object) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{SCHEDULER_NAME}: error: {e:#}");
            return 1;
        }
    };
    let (counters, exit) = sched.run();
    if opts.stats.is_some() {
        println!("[{SCHEDULER_NAME}] final: {}", counters.line());
    }
    if let Some(path) = &opts.report {
        if let Err(e) = write_report(path, &counters, &exit, restarts, opts.model.as_ref()) {
            warn!("{e:#}");
        }
    }
    match exit {
        // The kernel may ask a scheduler to restart (a CPU came online): do what the upstream
        // scx schedulers do and attach again — from a fresh process.
        Ok(uei) if uei.should_restart() && !process::stop_requested() => process::EXIT_RESTART,
        Ok(_) => {
            info!("{SCHEDULER_NAME} detached cleanly");
            0
        }
        // Ejected by the kernel (stall, BPF error): say why and exit non-zero.
        Err(e) => {
            eprintln!("{SCHEDULER_NAME}: error: {:#}", e.context(format!("{SCHEDULER_NAME} was ejected by the kernel")));
            1
        }
    }
}
