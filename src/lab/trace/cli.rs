//! The command lines of `mimic trace` and `mimic trace-overhead`.

use std::path::PathBuf;

use anyhow::Result;

use crate::{trace, util, workload};

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Dataset folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// A workload mix: a name from vm/workloads/ or a path to a .toml file.
    #[arg(long, conflicts_with = "command")]
    pub mix: Option<String>,
    /// Stop after SECS seconds [default: the mix's length; none for a command].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Folder of named workload mixes.
    #[arg(long, default_value = "vm/workloads")]
    pub workloads: PathBuf,
    /// Run id stored in every row [default: the dataset folder's name].
    #[arg(long)]
    pub run_id: Option<String>,
    /// Also measure the tracer's own BPF programs (kernel run-time statistics: calls and time
    /// in each, written to meta.json). The statistics cost two clock reads per call, so leave
    /// them off for real traces.
    #[arg(long)]
    pub bpf_stats: bool,
    /// Exit 0 even if events were lost (the count is in meta.json either way).
    #[arg(long)]
    pub accept_loss: bool,
    /// Or: a command to run (through sh -c) while tracing.
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

impl TraceArgs {
    pub fn run(self) -> Result<bool> {
        let TraceArgs { out, mix, duration, workloads, run_id, bpf_stats, accept_loss, command } = self;
        let run_id = run_id.unwrap_or_else(|| out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into()));
        let (cmd, desc, default_secs, phases) = match &mix {
            Some(m) => {
                let path = workload::resolve(m, &workloads)?;
                let mix = workload::Mix::load(&path)?;
                let me = std::env::current_exe()?;
                let cmd = format!("{} workload {}", util::shell_quote(&me.display().to_string()),
                                  util::shell_quote(&path.display().to_string()));
                let phases = mix.phases.iter().map(|p| p.name.clone()).collect();
                (Some(cmd), format!("{} ({}): {}", m, path.display(), mix.description.replace('\n', " ")), Some(mix.total_seconds() + 2), phases)
            }
            None if !command.is_empty() => (Some(command.join(" ")), command.join(" "), None, Vec::new()),
            None => (None, "none (system as it is)".to_string(), None, Vec::new()),
        };
        let opts = trace::TraceOpts {
            out: out.clone(),
            duration: duration.or(default_secs).map(std::time::Duration::from_secs),
            command: cmd,
            workload: desc,
            run_id,
            bpf_stats,
            phases,
        };
        let s = trace::run(&opts)?;
        println!("mimic trace: {} events in {:.1}s ({} lost to full rings), {} slice rows, {} placement rows ({} with a choice), \
                  {} preemption rows ({} preempted, {} unresolved), peak RSS {:.0} MiB -> {}",
                 s.events, s.duration_s, s.lost.ring_full, s.rows.slice_rows, s.rows.placement_rows, s.rows.placement_rows_with_choice,
                 s.rows.preempt_rows, s.rows.preempted, s.rows.preempt_unresolved, s.peak_rss_mib, out.display());
        // The dataset is written either way; a run that lost events or whose workload failed
        // must not pass for a good one.
        let mut failed = Vec::new();
        let lost = s.lost.describe();
        if !lost.is_empty() && !accept_loss {
            failed.push(format!("events were lost ({}): the dataset is incomplete (--accept-loss keeps it anyway)",
                                lost.join(", ")));
        }
        if s.stopped_by == "workload finished" && s.workload_exit_code != Some(0) {
            failed.push(format!("the workload failed (exit {:?}): {}", s.workload_exit_code, s.workload));
        }
        anyhow::ensure!(failed.is_empty(), "{}: {}", out.display(), failed.join("; "));
        Ok(true)
    }
}

#[derive(Debug, clap::Args)]
pub struct TraceOverheadArgs {
    /// A benchmark that prints "Time: SECONDS" (hackbench) or "Total time: SECONDS" (perf bench).
    #[arg(long, default_value = "hackbench -g 4 -l 200")]
    pub benchmark: String,
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Where to write the JSON result.
    #[arg(long)]
    pub out: PathBuf,
}

impl TraceOverheadArgs {
    pub fn run(self) -> Result<bool> {
        let TraceOverheadArgs { benchmark, reps, out } = self;
        let o = trace::overhead::run(&benchmark, reps, &out)?;
        println!("trace overhead: {} median {:.3}s plain vs {:.3}s traced ({:+.1}%, 90% CI {:+.1}%..{:+.1}%) over {} interleaved repetitions",
                 o.benchmark, o.plain_median_s, o.traced_median_s, o.overhead_pct, o.ci90_pct[0], o.ci90_pct[1], o.reps);
        if let Some(b) = &o.bpf {
            println!("trace overhead: the tracer's BPF programs ran {:.1} ms in a {:.2} s run on {} CPUs: {:.2}% of the CPU time",
                     b.total_run_time_ns as f64 / 1e6, b.benchmark_s, b.cpus, b.cpu_share_pct);
        }
        Ok(true)
    }
}
