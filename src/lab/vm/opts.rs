//! The options every command that boots a guest shares: how to boot it, and what the guest run
//! uses from the host.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::host::{self, Accel, TcgThreads, VmConfig};

/// How to boot the guest.
#[derive(Debug, clap::Args)]
pub struct VmOpts {
    /// Env file describing the guest kernel, written by vm/kernel.sh
    /// [default: $MIMIC_CACHE/kernel/current.env].
    #[arg(long, value_name = "FILE")]
    pub kernel_env: Option<PathBuf>,
    /// kvm, tcg, or auto (probe KVM, fall back to TCG emulation).
    #[arg(long, value_enum, env = "VM_ACCEL", default_value = "auto")]
    pub accel: Accel,
    /// Guest vCPUs.
    #[arg(long, env = "VM_CPUS", default_value_t = 2)]
    pub cpus: u32,
    /// Guest memory (QEMU syntax).
    #[arg(long, env = "VM_MEM", default_value = "2G")]
    pub mem: String,
    /// Kill the guest (and say it hung) after SECS [default: twice the job's expected time
    /// under TCG, plus 300 s for the boot].
    #[arg(long, env = "VM_TIME_LIMIT", value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// Kill the guest (and say it hung) when its console is silent for SECS; kernel messages
    /// count as output.
    #[arg(long, env = "VM_SILENCE_LIMIT", value_name = "SECS", default_value_t = 300)]
    pub silence_limit: u64,
    /// Under TCG, let the guest's clock count instructions (QEMU `-icount shift=auto,sleep=on`)
    /// instead of following the host's: timers fire on time (otherwise TCG delivers them
    /// milliseconds late), and a duration measures the instructions run, not the host time their
    /// emulation took. Ignored under KVM.
    #[arg(long, env = "VM_ICOUNT", value_parser = on_off)]
    pub icount: bool,
    /// Under TCG, how the vCPUs run: single (all on one host thread, taking turns; safe with
    /// every QEMU) or multi (one host thread each, side by side as on hardware; QEMU 10.0.2
    /// measured free of the live-patching race that made single the default). QEMU's
    /// instruction-counted clock needs single. Ignored under KVM.
    #[arg(long, value_enum, env = "VM_TCG_THREADS", default_value = "single")]
    pub tcg_threads: TcgThreads,
}

/// A yes/no from the environment: 1/0, true/false, yes/no, on/off (any case); empty is no, as
/// an unset variable.
fn on_off(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" | "n" | "f" => Ok(false),
        "1" | "true" | "yes" | "on" | "y" | "t" => Ok(true),
        other => Err(format!("{other:?} is not yes or no (1/0, true/false, yes/no, on/off)")),
    }
}

/// QEMU refuses its instruction-counted clock with one thread per vCPU ("-icount is not
/// allowed with MTTCG"): say so before booting, naming both settings.
fn check_clock_and_threads(icount: bool, threads: TcgThreads) -> Result<()> {
    if icount && threads == TcgThreads::Multi {
        anyhow::bail!("--icount (VM_ICOUNT) needs --tcg-threads single (VM_TCG_THREADS): QEMU counts instructions \
                       only when the vCPUs share one thread");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yes_no_variable_reads_like_a_shell_user_means_it() {
        for v in ["1", "true", "YES", "on", " y "] {
            assert_eq!(on_off(v), Ok(true), "{v:?}");
        }
        for v in ["", "0", "false", "No", "off"] {
            assert_eq!(on_off(v), Ok(false), "{v:?}");
        }
        for v in ["2", "enable", "icount"] {
            assert!(on_off(v).is_err(), "{v:?} accepted");
        }
    }

    #[test]
    fn the_instruction_counted_clock_is_refused_with_a_thread_per_vcpu() {
        let e = check_clock_and_threads(true, TcgThreads::Multi).unwrap_err().to_string();
        assert!(e.contains("--icount") && e.contains("--tcg-threads single"), "{e}");
        assert!(check_clock_and_threads(true, TcgThreads::Single).is_ok());
        assert!(check_clock_and_threads(false, TcgThreads::Multi).is_ok());
    }
}

impl VmOpts {
    pub fn config(&self) -> Result<VmConfig> {
        check_clock_and_threads(self.icount, self.tcg_threads)?;
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
            icount: self.icount,
            tcg_threads: self.tcg_threads,
        };
        cfg.accel = super::kvm::resolve_accel(self.accel, &cfg, &cache);
        if cfg.icount && !cfg.icount_under(cfg.accel) {
            log::warn!("--icount applies only if the guest runs under TCG (after a KVM error), not under KVM");
        }
        Ok(cfg)
    }

    /// The watchdog's limits for a job expected to take `expected` under TCG.
    pub fn limits(&self, expected: std::time::Duration) -> host::Limits {
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
pub struct RunOpts {
    /// The scheduler binary [default: scx_mimic beside this program].
    #[arg(long)]
    pub sched: Option<PathBuf>,
    /// Folder for result folders.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Folder with trained models (slice.model, placement.model, preempt.model); the model cases are skipped,
    /// with a warning, without them.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
}

impl RunOpts {
    /// The scheduler binary, checked to exist, as an absolute path.
    pub fn sched(&self) -> Result<PathBuf> {
        let sched = self.sched.clone().map(Ok).unwrap_or_else(|| sibling("scx_mimic"))?;
        anyhow::ensure!(sched.exists(), "scheduler {} not found (cargo build --release first)", sched.display());
        Ok(sched.canonicalize()?)
    }

    /// The models folder as an absolute path, if it holds both models.
    pub fn trained_models(&self) -> Result<Option<PathBuf>> {
        if scx_mimic::policy::Models::present(&self.models) {
            Ok(Some(self.models.canonicalize()?))
        } else {
            log::warn!("no trained models in {} (run `make train`): the model cases are skipped", self.models.display());
            Ok(None)
        }
    }
}

pub fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}

pub fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find this program's path")?;
    Ok(me.with_file_name(name))
}

