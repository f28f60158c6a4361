//! mimic: the scx_mimic lab tool.
//!
//! Host side: boots a sched_ext kernel with virtme-ng and runs the scheduler's gate in it
//! (`vm-test`), or any command (`vm-run`); checks the set-up (`vm-check`).
//! Guest side: the gate itself (`gate`).

mod bench;
mod dataset;
mod font;
mod trace;
mod train;
mod util;
mod vm;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use vm::gate::{Case, GateConfig};
use vm::host::{self, Accel, VmConfig};

/// The scx_mimic lab: boot a sched_ext kernel in a VM and check the scheduler in it; later also
/// trace the default scheduler, train models and benchmark.
///
/// Set-up (apt packages, virtme-ng, the guest kernel) is done by `make vm-test`, or by hand with
/// vm/setup.sh and vm/kernel.sh. Logs go to stderr; set RUST_LOG=debug for more.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// How to boot the guest.
#[derive(Debug, clap::Args)]
struct VmOpts {
    /// Env file describing the guest kernel, written by vm/kernel.sh
    /// [default: $MIMIC_CACHE/kernel/current.env].
    #[arg(long, value_name = "FILE")]
    kernel_env: Option<PathBuf>,
    /// kvm, tcg, or auto (probe KVM, fall back to TCG emulation).
    #[arg(long, value_enum, env = "VM_ACCEL", default_value = "auto")]
    accel: Accel,
    /// Guest vCPUs.
    #[arg(long, env = "VM_CPUS", default_value_t = 2)]
    cpus: u32,
    /// Guest memory (QEMU syntax).
    #[arg(long, env = "VM_MEM", default_value = "2G")]
    mem: String,
    /// Kill the guest (and say it hung) after SECS [default: twice the job's expected time
    /// under TCG, plus 300 s for the boot].
    #[arg(long, env = "VM_TIME_LIMIT", value_name = "SECS")]
    time_limit: Option<u64>,
    /// Kill the guest (and say it hung) when its console is silent for SECS; kernel messages
    /// count as output.
    #[arg(long, env = "VM_SILENCE_LIMIT", value_name = "SECS", default_value_t = 300)]
    silence_limit: u64,
}

impl VmOpts {
    fn config(&self) -> Result<VmConfig> {
        let cache = host::cache_dir();
        let env = self.kernel_env.clone().unwrap_or_else(|| cache.join("kernel/current.env"));
        let kernel = host::load_kernel_env(&env)?;
        let mut cfg = VmConfig {
            vng: host::find_vng(&cache),
            kernel,
            accel: self.accel,
            cpus: self.cpus,
            mem: self.mem.clone(),
            rw_dirs: Vec::new(),
            kvm_cache: Some(cache.clone()),
        };
        cfg.accel = vm::kvm::resolve_accel(self.accel, &cfg, &cache);
        Ok(cfg)
    }

    /// The watchdog's limits for a job expected to take `expected` under TCG.
    fn limits(&self, expected: std::time::Duration) -> host::Limits {
        let mut l = host::Limits::for_job(expected);
        if let Some(t) = self.time_limit {
            l.total = std::time::Duration::from_secs(t);
        }
        l.silence = std::time::Duration::from_secs(self.silence_limit);
        l
    }
}

/// What a guest run uses from the host: the scheduler, the models, where results go.
#[derive(Debug, clap::Args)]
struct RunOpts {
    /// The scheduler binary [default: scx_mimic beside this program].
    #[arg(long)]
    sched: Option<PathBuf>,
    /// Folder for result folders.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Folder with trained models (slice.model, placement.model); the model cases are skipped,
    /// with a warning, without them.
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

impl RunOpts {
    /// The scheduler binary, checked to exist, as an absolute path.
    fn sched(&self) -> Result<PathBuf> {
        let sched = self.sched.clone().map(Ok).unwrap_or_else(|| sibling("scx_mimic"))?;
        anyhow::ensure!(sched.exists(), "scheduler {} not found (cargo build --release first)", sched.display());
        Ok(sched.canonicalize()?)
    }

    /// The models folder as an absolute path, if it holds both models.
    fn trained_models(&self) -> Result<Option<PathBuf>> {
        if self.models.join("slice.model").exists() && self.models.join("placement.model").exists() {
            Ok(Some(self.models.canonicalize()?))
        } else {
            log::warn!("no trained models in {} (run `make train`): the model cases are skipped", self.models.display());
            Ok(None)
        }
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Boot the guest and run the scheduler gate in it: a stress-ng mix (CPU hogs, fork storms,
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
        /// The scheduler runs under `timeout --preserve-status SECS`.
        #[arg(long, default_value_t = 45)]
        sched_timeout: u32,
        /// Gate cases, NAME:pass|fail[:SCHEDULER ARGS]. The default runs the heuristic and, if
        /// --models holds slice.model and placement.model, the model-driven scheduler (both must
        /// pass), then a deliberately broken scheduler that never dispatches (must be caught).
        #[arg(long = "case")]
        cases: Vec<String>,
    },
    /// Boot the guest and check what happens when things go wrong: 4x CPU overload (heuristic
    /// and model) with a wakeup-latency probe, kill -9 of the scheduler mid-load (EEVDF back
    /// within the watchdog time, then the scheduler loads again), SIGSTOP longer than the
    /// watchdog (time to eject), CPU hotplug (the scheduler restarts itself), and bad inputs
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
    /// Benchmark EEVDF, the heuristic, the model (and the published scx_rustland if built) in one
    /// boot: perf bench sched messaging and pipe, hackbench (1 and 4 groups), cyclictest under a
    /// CPU hog, and an interactive-vs-build scenario; schedulers interleaved and rotated per
    /// repetition after a warm-up round. Writes results/bench-*/ (raw.json, results.csv,
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
    /// (Inside the guest) run the benchmarks; see bench.
    BenchGuest {
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
    /// Record the default scheduler's (EEVDF's) decisions with the BPF tracer while a workload
    /// runs, and write a dataset (slice.parquet, placement.parquet, meta.json) into OUT. Run it in
    /// the guest with no sched_ext scheduler loaded (`make trace` does that). Stops at
    /// --duration, when the workload ends, or on Ctrl-C — and writes what it recorded either way.
    Trace {
        /// Dataset folder to write.
        #[arg(long)]
        out: PathBuf,
        /// A workload mix: a name from vm/workloads/ or a path to a .toml file.
        #[arg(long, conflicts_with = "command")]
        mix: Option<String>,
        /// Stop after SECS seconds [default: the mix's length; none for a command].
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Folder of named workload mixes.
        #[arg(long, default_value = "vm/workloads")]
        workloads: PathBuf,
        /// Run id stored in every row [default: the dataset folder's name].
        #[arg(long)]
        run_id: Option<String>,
        /// Also measure the tracer's own BPF programs (kernel run-time statistics: calls and time
        /// in each, written to meta.json). The statistics cost two clock reads per call, so leave
        /// them off for real traces.
        #[arg(long)]
        bpf_stats: bool,
        /// Exit 0 even if events were lost (the count is in meta.json either way).
        #[arg(long)]
        accept_loss: bool,
        /// Or: a command to run (through sh -c) while tracing.
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Train the slice and placement models from datasets and write MODELS/<kind>.model (our
    /// versioned JSON format, validated by reloading), <kind>.report.json (accuracy, per-class
    /// precision/recall, confusion matrix, feature importance, tree size, timing) and PNG plots.
    /// Same datasets and seed give byte-identical model files.
    Train {
        /// Dataset folders, or folders of them.
        #[arg(default_values = ["datasets"])]
        datasets: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "models")]
        out: PathBuf,
        /// Maximum tree depth.
        #[arg(long, default_value_t = 12)]
        max_depth: usize,
        /// Minimum rows a node needs before it is split.
        #[arg(long, default_value_t = 2.0)]
        min_samples_split: f32,
        /// Minimum rows in each leaf (20: what a grid search on the shipped data chose).
        #[arg(long, default_value_t = 20.0)]
        min_samples_leaf: f32,
        /// Split on entropy instead of Gini impurity.
        #[arg(long)]
        entropy: bool,
        /// Fraction of each run held out as the test set: that share of its 20 time blocks,
        /// evenly spaced through the run.
        #[arg(long, default_value_t = 0.2)]
        test_frac: f64,
        /// At most this many training rows (a seeded random subset beyond that).
        #[arg(long, default_value_t = 1_000_000)]
        max_train_rows: usize,
        /// Seed for the training-row subset.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Slice rows to learn from: all stints, or only the preempted ones.
        #[arg(long, value_enum, default_value = "all")]
        slice_rows: train::data::SliceRows,
        /// Grid search: try every max depth in DEPTHS × min leaf size in LEAVES on a validation
        /// split, e.g. --grid 6,8,10,12:1,5,20; report each and keep the best.
        #[arg(long, value_name = "DEPTHS:LEAVES")]
        grid: Option<String>,
        /// Only this model.
        #[arg(long, value_enum)]
        only: Option<train::OnlyKind>,
        /// Skip the PNG plots.
        #[arg(long)]
        no_plots: bool,
    },
    /// Print a model as readable rules, or as Graphviz dot (--dot).
    Inspect {
        model: PathBuf,
        #[arg(long)]
        dot: bool,
    },
    /// (In the guest) measure what tracing costs: run BENCHMARK alternately without and with
    /// `mimic trace` attached, REPS times each, and compare the medians of its reported times.
    TraceOverhead {
        /// A benchmark that prints "Time: SECONDS" (hackbench) or "Total time: SECONDS" (perf bench).
        #[arg(long, default_value = "hackbench -g 4 -l 200")]
        benchmark: String,
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Where to write the JSON result.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a workload mix (vm/workloads/NAME.toml) in the foreground.
    Workload {
        /// A name from vm/workloads/ or a path.
        mix: String,
        #[arg(long, default_value = "vm/workloads")]
        workloads: PathBuf,
    },
    /// (Inside the guest) run the fault checks; see vm-test-faults.
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
        #[arg(long)]
        kconfig: Option<PathBuf>,
    },
    /// (Inside the guest) run the scheduler gate; see vm-test.
    Gate {
        /// The scheduler binary.
        #[arg(long)]
        sched: PathBuf,
        /// Folder for gate.json and the scheduler logs.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 30)]
        duration: u32,
        #[arg(long, default_value_t = 45)]
        sched_timeout: u32,
        /// Kernel config to expose at /boot/config-$(uname -r) for libbpf.
        #[arg(long)]
        kconfig: Option<PathBuf>,
        /// NAME:pass|fail[:ARGS]; may repeat.
        #[arg(long = "case", required = true)]
        cases: Vec<String>,
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

fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}

fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find this program's path")?;
    Ok(me.with_file_name(name))
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
            // Measured under TCG: the short form ≈ 3.5 min, the full one (60 s overloads) ≈ 6 min.
            let expected = secs(if short { 240 } else { 4 * u64::from(overload_s) + 180 });
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
            // Measured under TCG: one scheduler's block of benchmarks ≈ 45 s (quick: 26 s); a
            // warm-up round, then `reps`, over at most four schedulers.
            let expected = secs(u64::from(bench::guest::balanced_reps(reps, 4) + 1) * 4 * if quick { 30 } else { 50 });
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
        Cmd::BenchGuest { sched, out, models, rustland, rustland_note, reps, quick, kconfig } => {
            bench::guest::run(&bench::guest::GuestConfig { sched, models, rustland, rustland_note, out, reps, quick, kconfig })
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
            Ok(true)
        }
        Cmd::Trace { out, mix, duration, workloads, run_id, bpf_stats, accept_loss, command } => {
            let run_id = run_id.unwrap_or_else(|| out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into()));
            let (cmd, desc, default_secs) = match &mix {
                Some(m) => {
                    let path = workload::resolve(m, &workloads)?;
                    let mix = workload::Mix::load(&path)?;
                    let me = std::env::current_exe()?;
                    let cmd = format!("{} workload {}", util::shell_quote(&me.display().to_string()),
                                      util::shell_quote(&path.display().to_string()));
                    (Some(cmd), format!("{} ({}): {}", m, path.display(), mix.description.replace('\n', " ")), Some(mix.total_seconds() + 2))
                }
                None if !command.is_empty() => (Some(command.join(" ")), command.join(" "), None),
                None => (None, "none (system as it is)".to_string(), None),
            };
            let opts = trace::TraceOpts {
                out: out.clone(),
                duration: duration.or(default_secs).map(std::time::Duration::from_secs),
                command: cmd,
                workload: desc,
                run_id,
                bpf_stats,
            };
            let s = trace::run(&opts)?;
            println!("mimic trace: {} events in {:.1}s ({} dropped), {} slice rows, {} placement rows -> {}",
                     s.events, s.duration_s, s.dropped, s.slice_rows, s.placement_rows, out.display());
            // The dataset is written either way; a run that lost events or whose workload failed
            // must not pass for a good one.
            let mut failed = Vec::new();
            if s.dropped > 0 && !accept_loss {
                failed.push(format!("{} events were lost (a ring was full): the dataset is incomplete \
                                     (--accept-loss keeps it anyway)", s.dropped));
            }
            if s.stopped_by == "workload finished" && s.workload_exit_code != Some(0) {
                failed.push(format!("the workload failed (exit {:?}): {}", s.workload_exit_code, s.workload));
            }
            anyhow::ensure!(failed.is_empty(), "{}: {}", out.display(), failed.join("; "));
            Ok(true)
        }
        Cmd::Train { datasets, out, max_depth, min_samples_split, min_samples_leaf, entropy, test_frac,
                     max_train_rows, seed, slice_rows, grid, only, no_plots } => {
            anyhow::ensure!((0.0..1.0).contains(&test_frac), "--test-frac must be in [0, 1)");
            let grid = match grid {
                Some(g) => train::parse_grid(&g)?,
                None => Vec::new(),
            };
            let opts = train::TrainOpts {
                datasets: dataset::find_datasets(&datasets)?,
                out,
                params: train::fit::Params { max_depth, min_samples_split, min_samples_leaf, entropy },
                test_frac,
                max_train_rows,
                seed,
                slice_rows,
                grid,
                kinds: match only {
                    None => vec![scx_mimic::model::ModelKind::Slice, scx_mimic::model::ModelKind::Placement],
                    Some(train::OnlyKind::Slice) => vec![scx_mimic::model::ModelKind::Slice],
                    Some(train::OnlyKind::Placement) => vec![scx_mimic::model::ModelKind::Placement],
                },
                plots: !no_plots,
            };
            train::run(&opts)?;
            Ok(true)
        }
        Cmd::Inspect { model, dot } => {
            print!("{}", train::inspect(&model, dot)?);
            Ok(true)
        }
        Cmd::TraceOverhead { benchmark, reps, out } => {
            let o = trace::overhead::run(&benchmark, reps, &out)?;
            println!("trace overhead: {} median {:.3}s plain vs {:.3}s traced ({:+.1}%, 90% CI {:+.1}%..{:+.1}%) over {} interleaved repetitions",
                     o.benchmark, o.plain_median_s, o.traced_median_s, o.overhead_pct, o.ci90_pct[0], o.ci90_pct[1], o.reps);
            if let Some(b) = &o.bpf {
                println!("trace overhead: the tracer's BPF programs ran {:.1} ms in a {:.2} s run on {} CPUs: {:.2}% of the CPU time",
                         b.total_run_time_ns as f64 / 1e6, b.benchmark_s, b.cpus, b.cpu_share_pct);
            }
            Ok(true)
        }
        Cmd::Workload { mix, workloads } => {
            let path = workload::resolve(&mix, &workloads)?;
            let failures = workload::run(&workload::Mix::load(&path)?)?;
            anyhow::ensure!(failures == 0, "{}: {failures} command run(s) failed (see the warnings above)", path.display());
            Ok(true)
        }
        Cmd::Faults { sched, out, repo, models, overload_s, baseline, probe_limit_ms, kconfig } => {
            vm::faults::run(&vm::faults::FaultsConfig { sched, repo, models, out, overload_s, baseline, probe_limit_ms, kconfig })
        }
        Cmd::Gate { sched, out, duration, sched_timeout, kconfig, cases } => {
            let cfg = GateConfig { sched, out, cases: parse_cases(&cases)?, duration, sched_timeout, kconfig,
                                   ops_prefix: "scx_mimic".into(), overcommit: 1 };
            vm::gate::run(&cfg)
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
