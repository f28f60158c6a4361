//! mimic: the scx_mimic lab tool — this file is its command line; each command's work is in
//! the module named for it.
//!
//! * the VM loop, on the host (`vm`): `vm-test` (the scheduler gate), `vm-test-faults`, `bench`,
//!   `vm-run` (any command in the guest), `vm-check`;
//! * the pipeline: `trace` (in the guest, `trace`), `train` and `inspect` (`train`),
//!   `workload` (`workload`), `trace-overhead`;
//! * what the host runs inside the guest (`guest`): `guest gate`, `guest faults`,
//!   `guest bench` — hidden from `--help`, as nobody runs them by hand.

mod bench;
mod child;
mod dataset;
mod font;
mod guest;
mod parity;
mod trace;
mod train;
mod util;
mod vm;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use guest::gate::{Case, GateConfig};
use vm::host;
use vm::opts::{secs, RunOpts, VmOpts};

/// The scx_mimic lab: trace what the kernel's scheduler (EEVDF) decides, train decision trees to
/// imitate it, and check and benchmark the scx_mimic scheduler in a sched_ext guest (virtme-ng).
///
/// Set-up (apt packages, virtme-ng, the guest kernel) is done by `make vm-test`, or by hand with
/// vm/setup.sh and vm/kernel.sh. Logs go to stderr; set RUST_LOG=debug for more.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Boot the guest and run the scheduler gate in it.
    ///
    /// The gate: a stress-ng mix (CPU hogs, fork storms,
    /// affinity churn) under `timeout --preserve-status 45 scx_mimic -v --stats 5`. Passes only
    /// if sched_ext stayed enabled with our scheduler, it exited 0, the kernel log is clean and
    /// its counters show it dispatched tasks. Writes results/vm-test-*/result.json.
    VmTest {
        #[command(flatten)]
        vm: VmOpts,
        #[command(flatten)]
        run: RunOpts,
        /// Workload seconds per case.
        #[arg(long, default_value_t = 30)]
        duration: u32,
        /// The scheduler runs under `timeout --preserve-status SECS`, a last resort: each case
        /// stops it once its workload is over (the workload gets 2 × --duration + 30 s).
        #[arg(long, default_value_t = 120)]
        sched_timeout: u32,
        /// Gate cases, NAME:pass|fail[:SCHEDULER ARGS]. The default runs the heuristic and, if
        /// --models holds the three model files, the model-driven scheduler (both must
        /// pass), then a deliberately broken scheduler that never dispatches (must be caught).
        #[arg(long = "case")]
        cases: Vec<String>,
    },
    /// Boot the guest and check what happens when things go wrong.
    ///
    /// The checks: 4x CPU overload (heuristic
    /// and model) with a wakeup-latency probe, kill -9 of the scheduler mid-load (EEVDF back
    /// within the watchdog time, then the scheduler loads again), SIGSTOP longer than the
    /// watchdog (time to eject), nice levels and a process named like a kernel thread, CPU
    /// hotplug (the scheduler stays attached while a CPU comes and goes), and bad inputs
    /// (models, datasets, workload names, kernel paths) that must end in a clear error and no
    /// written file. One line per check; writes results/vm-test-faults-*/result.json.
    VmTestFaults {
        #[command(flatten)]
        vm: VmOpts,
        #[command(flatten)]
        run: RunOpts,
        /// Seconds of each overload run.
        #[arg(long, default_value_t = 60)]
        overload_s: u32,
        /// The short form `make test` runs: 15 s overloads and no EEVDF reference run.
        #[arg(long)]
        short: bool,
        /// Fail the overload checks if the probe ever wakes up later than this, ms.
        #[arg(long, default_value_t = 2000)]
        probe_limit_ms: u64,
    },
    /// Benchmark EEVDF, the heuristic, the model and scx_rustland in one boot.
    ///
    /// The benchmarks: perf bench sched messaging and pipe, hackbench (1 and 4 groups),
    /// cyclictest under a CPU hog, and an interactive-vs-build scenario; the schedulers (the
    /// published scx_rustland if built) interleaved after a warm-up round, in the order of a
    /// balanced Latin square. Writes results/bench-*/ (raw.json, results.csv,
    /// summary.md with median, spread and ratio to EEVDF, bars.png, latency_cdf.png).
    Bench {
        #[command(flatten)]
        vm: VmOpts,
        #[command(flatten)]
        run: RunOpts,
        /// The published scx_rustland binary to compare with (skipped, and said so, if missing).
        #[arg(long)]
        rustland: Option<PathBuf>,
        /// Measured repetitions per scheduler (after one warm-up round), rounded up to a multiple
        /// of the scheduler count: the order follows a balanced Latin square, so every scheduler
        /// runs in every position equally often.
        #[arg(long, env = "BENCH_REPS", default_value_t = 4)]
        reps: u32,
        /// Quick mode: 3 repetitions (rounded up as above) and 5 s latency runs.
        #[arg(long, env = "BENCH_QUICK", value_parser = clap::builder::FalseyValueParser::new())]
        quick: bool,
    },
    /// Render a bench run's report again from its raw.json (after the report changed).
    ///
    /// Rewrites summary.md,
    /// results.csv, the plots and result.json's table and goals in DIR (a results/bench-*
    /// folder); the run's envelope (kernel, VM, host) is kept. Prints the summary.
    BenchReport {
        /// A bench run's folder (results/bench-*).
        dir: PathBuf,
    },
    /// Boot the guest and run a shell command in it; exits with the command's exit code.
    VmRun {
        #[command(flatten)]
        vm: VmOpts,
        /// Host folders the guest may write.
        #[arg(long = "rw")]
        rw: Vec<PathBuf>,
        /// The command, run by the guest's shell.
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Check the host set-up: the guest kernel (sched_ext, BTF), vng, and KVM or TCG.
    VmCheck {
        #[command(flatten)]
        vm: VmOpts,
    },
    /// Record EEVDF's decisions with the BPF tracer while a workload runs (in the guest).
    ///
    /// Writes a dataset (slice.parquet, placement.parquet, meta.json) into OUT. Run it in
    /// the guest with no sched_ext scheduler loaded (`make trace` does that). Stops at
    /// --duration, when the workload ends, or on Ctrl-C — and writes what it recorded either way,
    /// but exits non-zero if events were lost (see --accept-loss) or the workload failed.
    Trace(trace::cli::TraceArgs),
    /// Train the slice, placement and preemption models from datasets.
    ///
    /// Writes MODELS/<kind>.model (our
    /// versioned JSON format, validated by reloading), <kind>.report.json (accuracy, per-class
    /// precision/recall, confusion matrix, feature importance, tree size, timing) and PNG plots.
    /// Same datasets and seed give byte-identical model files.
    Train(train::cli::TrainArgs),
    /// Print a model as readable rules, or as Graphviz dot (--dot).
    Inspect(train::cli::InspectArgs),
    /// Replay recorded traces (events.parquet) through the tracer's and the scheduler's feature
    /// paths and report, per feature, the share of decisions where they disagree (> 1% fails).
    Parity(parity::ParityArgs),
    /// Derive datasets' slice, placement and preemption tables again from their recorded events
    /// (events.parquet), after the feature contract changed; meta.json gets the new row counts.
    Rederive(trace::rederive::RederiveArgs),
    /// Measure what tracing costs (in the guest).
    ///
    /// Runs BENCHMARK alternately without and with
    /// `mimic trace` attached, REPS times each, and compare the medians of its reported times.
    TraceOverhead(trace::cli::TraceOverheadArgs),
    /// Run a workload mix (vm/workloads/NAME.toml) in the foreground; exits non-zero if one of
    /// its commands failed.
    Workload {
        /// A name from vm/workloads/ or a path.
        mix: String,
        #[arg(long, default_value = "vm/workloads")]
        workloads: PathBuf,
    },
    /// What the host runs inside the guest (not for use by hand).
    #[command(hide = true, subcommand)]
    Guest(GuestCmd),
}

/// The guest side of vm-test, vm-test-faults and bench: the host boots the guest and runs one of
/// these in it, then reads what it wrote.
#[derive(Debug, Subcommand)]
enum GuestCmd {
    /// Run the scheduler gate; see `mimic vm-test`.
    Gate {
        /// The scheduler binary.
        #[arg(long)]
        sched: PathBuf,
        /// Folder for gate.json and the scheduler logs.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 30)]
        duration: u32,
        #[arg(long, default_value_t = 120)]
        sched_timeout: u32,
        /// Kernel config to expose at /boot/config-$(uname -r) for libbpf.
        #[arg(long)]
        kconfig: Option<PathBuf>,
        /// NAME:pass|fail[:ARGS]; may repeat.
        #[arg(long = "case", required = true)]
        cases: Vec<String>,
    },
    /// Run the fault checks; see `mimic vm-test-faults`.
    Faults {
        #[arg(long)]
        sched: PathBuf,
        /// Folder for faults.json and the scheduler logs.
        #[arg(long)]
        out: PathBuf,
        /// The repository (vm/kernel.sh, vm/workloads).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long)]
        models: Option<PathBuf>,
        #[arg(long, default_value_t = 60)]
        overload_s: u32,
        #[arg(long)]
        baseline: bool,
        #[arg(long, default_value_t = 2000)]
        probe_limit_ms: u64,
        #[arg(long, default_value_t = 20)]
        hotplug_reps: u32,
        #[arg(long)]
        kconfig: Option<PathBuf>,
        /// Run only these checks (comma-separated names as in faults.json, e.g. nice,kill-9;
        /// "bad-inputs" for all of those): to look at one guarantee without the others.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Under the name NAME, print "ready", read a window "FROM UNTIL" (Unix ms) from stdin,
    /// sleep until FROM, burn CPU until UNTIL, then print the CPU time it got in that window (ms):
    /// the hog of the fairness checks.
    Spin {
        #[arg(long, default_value = "spin")]
        name: String,
    },
    /// Run the benchmarks; see `mimic bench`.
    Bench {
        #[arg(long)]
        sched: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        models: Option<PathBuf>,
        #[arg(long)]
        rustland: Option<PathBuf>,
        #[arg(long, default_value = "")]
        rustland_note: String,
        #[arg(long, default_value_t = 5)]
        reps: u32,
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        kconfig: Option<PathBuf>,
    },
}

/// The heuristic, the models (when they are there), and a broken scheduler the gate must catch.
fn default_cases(models: Option<&std::path::Path>) -> Vec<String> {
    let mut cases = vec!["heuristic:pass".to_string()];
    if let Some(m) = models {
        cases.push(format!("model:pass:--model {}", m.display()));
    }
    cases.push("never-dispatch:fail:--fault never-dispatch".into());
    cases
}

fn parse_cases(specs: &[String]) -> Result<Vec<Case>> {
    specs.iter().map(|s| s.parse::<Case>().map_err(anyhow::Error::msg)).collect()
}

fn run(cli: Cli) -> Result<bool> {
    match cli.cmd {
        Cmd::VmTest { vm, run, duration, sched_timeout, cases } => {
            let cases = if cases.is_empty() { default_cases(run.trained_models()?.as_deref()) } else { cases };
            // Measured under TCG: a case takes its scheduler's run plus ~15 s to start and judge.
            let expected = secs(cases.len() as u64 * (u64::from(sched_timeout) + 15));
            let t = vm::VmTest {
                vm: vm.config()?,
                limits: vm.limits(expected),
                sched: run.sched()?,
                mimic: std::env::current_exe()?.canonicalize()?,
                results: run.results,
                cases: parse_cases(&cases)?,
                duration,
                sched_timeout,
                requested_accel: vm.accel,
            };
            vm::vm_test(&t)
        }
        Cmd::VmTestFaults { vm, run, overload_s, short, probe_limit_ms } => {
            // Measured under TCG before the fairness checks and 20 hotplug rounds: the short form
            // ≈ 3.5 min, the full one (60 s overloads) ≈ 6 min; those add ≈ 1 and ≈ 4 min.
            let expected = secs(if short { 300 } else { 4 * u64::from(overload_s) + 420 });
            let t = vm::VmFaults {
                vm: vm.config()?,
                limits: vm.limits(expected),
                sched: run.sched()?,
                mimic: std::env::current_exe()?.canonicalize()?,
                repo: std::env::current_dir()?,
                models: run.trained_models()?,
                results: run.results,
                overload_s: if short { 15 } else { overload_s },
                baseline: !short,
                probe_limit_ms,
                // The bar is 20 in a row without a stall; the short form checks 3.
                hotplug_reps: if short { 3 } else { 20 },
                requested_accel: vm.accel,
            };
            vm::vm_test_faults(&t)
        }
        Cmd::Bench { vm, run, rustland, reps, quick } => {
            let (rustland, rustland_note) = match rustland {
                Some(r) if r.exists() => (Some(r.canonicalize()?), String::new()),
                Some(r) => (None, format!("not built: {} does not exist (`make scx-rustland` failed or was not run; see its log)", r.display())),
                None => (None, "not requested (pass --rustland PATH; `make bench` builds it with `make scx-rustland`)".into()),
            };
            let reps = if quick { reps.min(3) } else { reps };
            // Measured under TCG: one scheduler's block of benchmarks ≈ 48 s (quick: 26 s) before
            // the held-out pmqtest run added one more latency run (≈ 17 s, quick 7 s); a warm-up
            // round, then `reps`, over at most four schedulers.
            let expected = secs(u64::from(bench::guest::balanced_reps(reps, 4) + 1) * 4 * if quick { 40 } else { 70 });
            let t = bench::BenchHost {
                vm: vm.config()?,
                limits: vm.limits(expected),
                sched: run.sched()?,
                mimic: std::env::current_exe()?.canonicalize()?,
                models: run.trained_models()?,
                rustland,
                rustland_note,
                results: run.results,
                reps,
                quick,
                requested_accel: vm.accel,
            };
            bench::run(&t)
        }
        Cmd::BenchReport { dir } => {
            println!("{}", bench::rerender(&dir)?);
            Ok(true)
        }
        Cmd::VmRun { vm, rw, command } => {
            let mut cfg = vm.config()?;
            cfg.rw_dirs = rw.iter().map(|d| d.canonicalize().with_context(|| format!("{}", d.display()))).collect::<Result<_>>()?;
            let log = std::env::temp_dir().join(format!("mimic-vm-run-{}.log", std::process::id()));
            // The command is shell text: appended as is after the quoted environment.
            let cmd = format!("{} {}", host::guest_command(&host::guest_env(), &[]), command.join(" "));
            // Any command: an hour is assumed unless --time-limit says otherwise.
            let out = host::boot(&cfg, &cmd, &log, "", vm.limits(secs(3600)))?;
            if let Some(why) = &out.hung {
                eprintln!("mimic: error: {why} (console: {})", log.display());
                std::process::exit(124);
            }
            std::process::exit(out.rc);
        }
        Cmd::VmCheck { vm } => {
            let cfg = vm.config()?;
            println!("kernel  {} ({}, {})", cfg.kernel.release, cfg.kernel.source, cfg.kernel.image.display());
            if let Some(c) = &cfg.kernel.config {
                let text = std::fs::read_to_string(c).with_context(|| format!("{}", c.display()))?;
                for opt in ["CONFIG_SCHED_CLASS_EXT", "CONFIG_DEBUG_INFO_BTF", "CONFIG_BPF_SYSCALL", "CONFIG_BPF_JIT"] {
                    let on = text.lines().any(|l| l == format!("{opt}=y"));
                    println!("        {opt}: {}", if on { "y" } else { "MISSING" });
                    anyhow::ensure!(on, "{}: {opt} is not set", c.display());
                }
            }
            println!("vng     {}", cfg.vng.display());
            println!("accel   {:?}", cfg.accel);
            println!("icount  {}", cfg.icount_under(cfg.accel));
            if let Some(t) = cfg.tcg_threads_under(cfg.accel) {
                println!("threads {t:?} (TCG)");
            }
            Ok(true)
        }
        Cmd::Trace(args) => args.run(),
        Cmd::Train(args) => args.run(),
        Cmd::Inspect(args) => args.run(),
        Cmd::Parity(args) => args.run(),
        Cmd::Rederive(args) => args.run().map(|()| true),
        Cmd::TraceOverhead(args) => args.run(),
        Cmd::Workload { mix, workloads } => {
            let path = workload::resolve(&mix, &workloads)?;
            let mix = workload::Mix::load(&path)?;
            workload::stop_on_signal()?;
            let failures = workload::run(&mix)?;
            anyhow::ensure!(failures == 0, "{}: {failures} command run(s) failed (see the warnings above)", path.display());
            Ok(true)
        }
        Cmd::Guest(g) => run_guest(g),
    }
}

fn run_guest(cmd: GuestCmd) -> Result<bool> {
    match cmd {
        GuestCmd::Gate { sched, out, duration, sched_timeout, kconfig, cases } => {
            let cfg = GateConfig { sched, out, cases: parse_cases(&cases)?, duration, sched_timeout, kconfig,
                                   ops_prefix: "scx_mimic".into(), overcommit: 1,
                                   min_model_share: guest::verdict::MIN_MODEL_SHARE };
            guest::gate::run(&cfg)
        }
        GuestCmd::Faults { sched, out, repo, models, overload_s, baseline, probe_limit_ms, hotplug_reps, kconfig, only } => {
            guest::faults::run(&guest::faults::FaultsConfig { sched, repo, models, out, overload_s, baseline, probe_limit_ms,
                                                              hotplug_reps, kconfig, only })
        }
        GuestCmd::Spin { name } => {
            guest::faults::share::spin(&name)?;
            Ok(true)
        }
        GuestCmd::Bench { sched, out, models, rustland, rustland_note, reps, quick, kconfig } => {
            bench::guest::run(&bench::guest::GuestConfig { sched, models, rustland, rustland_note, out, reps, quick, kconfig })
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("mimic: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
