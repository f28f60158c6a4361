//! The guest side of `make vm-test-faults`: what happens to the system when the scheduler is
//! overloaded, killed, frozen, asked to restart, or fed bad input. Every case is one check with
//! its own entry in `faults.json` and its own line in the summary.
//!
//! The guarantees come from sched_ext itself and from how scx_mimic is written:
//! * a user-space scheduler that dies takes its BPF link with it: the kernel goes back to EEVDF;
//! * one that stops deciding leaves tasks runnable: the sched_ext watchdog ejects it after
//!   `timeout_ms` (5 s, set by scx_rustland_core's BPF side) and EEVDF takes over;
//! * CPU hotplug: our BPF side has cpu_online/cpu_offline callbacks (vendor/scx_rustland_core),
//!   so the kernel keeps it attached: a CPU coming online must not cost a restart; a CPU going
//!   offline hands its queue to the shared one — the goal is no stall ejection in 20 rounds,
//!   not met yet (see `hotplug::hotplug_offline`), so an ejection with EEVDF carrying on is
//!   accepted and counted;
//! * bad input is refused before anything is attached or written.

mod bad_inputs;
mod hotplug;
mod kill;
mod overload;
pub mod share;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use log::warn;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::sched::SchedProcess;
use super::system::{dmesg_lines, nproc, start_job};
use super::verdict::is_enable_line;
use crate::child::{kill_and_reap, wait_timeout};
use crate::util::{now_rfc3339, write_atomic};

/// Printed first thing in the guest (the host tells a boot failure from a failed check by it).
pub const START_MARKER: &str = "mimic-faults: start";
/// The sched_ext watchdog timeout scx_rustland_core's BPF side asks for (`timeout_ms = 5000`).
pub const WATCHDOG_S: f64 = 5.0;
/// Kernel log lines that mean the kernel itself went wrong (a stall report is *expected* when
/// the scheduler is frozen on purpose, so it is not in this list).
pub const CRASH_PATTERNS: &[&str] = &["BUG:", "WARNING:", "Oops", "panic", "Call Trace"];

#[derive(Debug, Clone)]
pub struct FaultsConfig {
    pub sched: PathBuf,
    /// The repository (vm/kernel.sh and vm/workloads are taken from it).
    pub repo: PathBuf,
    /// Trained models for the model overload case (skipped when absent).
    pub models: Option<PathBuf>,
    pub out: PathBuf,
    /// Length of each overload run, s.
    pub overload_s: u32,
    /// Also run the overload under EEVDF alone, to give the probe's numbers a reference.
    pub baseline: bool,
    /// The probe's worst wakeup lateness allowed under overload, ms.
    pub probe_limit_ms: u64,
    /// How many times hotplug-offline takes CPU 1 offline and back under load.
    pub hotplug_reps: u32,
    pub kconfig: Option<PathBuf>,
    /// Run only the checks named here (empty: all).
    pub only: Vec<String>,
}

impl FaultsConfig {
    /// Whether check `name` (of group `group`, e.g. "bad-inputs") is to run.
    fn wants(&self, name: &str, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name || o == group)
    }
}

/// One check: its verdict, a one-line account of what it measured, why it failed, and numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub summary: String,
    pub reasons: Vec<String>,
    pub metrics: serde_json::Value,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultsReport {
    pub date: String,
    pub kernel_release: String,
    pub guest_cpus: usize,
    pub watchdog_s: f64,
    pub overload_s: u32,
    pub checks: Vec<Check>,
    pub pass: bool,
}

/// Kernel log lines saying our scheduler was enabled, from index `from` on.
pub(super) fn enables_since(from: usize) -> usize {
    dmesg_lines().iter().skip(from).filter(|l| is_enable_line(l, "scx_mimic")).count()
}

pub(super) fn stress(args: &[String]) -> Result<Child> {
    Command::new("stress-ng")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting stress-ng")
}

/// `secs` of CPU hogs (2 per CPU) and a fork storm: load that keeps the run queues full.
pub(super) fn load_args(secs: u32) -> Vec<String> {
    let n = nproc();
    // --temp-path: stress-ng refuses to start in a read-only cwd (the guest's root is read-only).
    ["-t", &format!("{secs}s"), "-c", &(2 * n).to_string(), "-f", &n.to_string(), "--temp-path", "/tmp"]
        .iter().map(|s| s.to_string()).collect()
}

pub(super) fn wait_workload(w: &mut Child, limit: Duration, reasons: &mut Vec<String>) -> Option<i32> {
    match wait_timeout(w, limit) {
        Some(st) => {
            if st.code() != Some(0) {
                reasons.push(format!("the workload did not complete cleanly (stress-ng exit {:?})", st.code()));
            }
            st.code()
        }
        None => {
            kill_and_reap(w);
            reasons.push(format!("the workload was still running {:.0}s later: the system did not recover", limit.as_secs_f64()));
            None
        }
    }
}

pub(super) fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 1000.0).round())
}

pub(super) fn check(name: &str, started: Instant, summary: String, reasons: Vec<String>, metrics: serde_json::Value) -> Check {
    Check { name: name.into(), pass: reasons.is_empty(), summary, reasons, metrics, wall_s: started.elapsed().as_secs_f64() }
}

/// Start the scheduler (`-v --stats 5 --report`, output in `sched-TAG.log`) and wait until it is
/// in charge: the scheduler and how long attaching took, or the failed check `name` if it never
/// attached.
pub(super) fn start_attached(cfg: &FaultsConfig, name: &str, tag: &str, started: Instant)
                             -> Result<Result<(SchedProcess, Duration), Check>> {
    start_attached_with(cfg, name, tag, vec![], started)
}

/// The scheduler attached, then 20 s of load started and 3 s given to fill the run queues: the
/// scene of the kill -9 and SIGSTOP checks.
pub(super) fn attached_under_load(cfg: &FaultsConfig, name: &str, tag: &str, started: Instant)
                                  -> Result<Result<(SchedProcess, Duration, Child), Check>> {
    let (s, enabled) = match start_attached(cfg, name, tag, started)? {
        Ok(x) => x,
        Err(failed) => return Ok(Err(failed)),
    };
    let w = stress(&load_args(20))?;
    std::thread::sleep(Duration::from_secs(3));
    Ok(Ok((s, enabled, w)))
}

/// Start the scheduler without waiting for it.
pub(super) fn start_sched(cfg: &FaultsConfig, tag: &str) -> Result<SchedProcess> {
    start_sched_with(cfg, tag, vec![])
}

/// Start the scheduler with extra arguments, without waiting for it.
pub(super) fn start_sched_with(cfg: &FaultsConfig, tag: &str, args: Vec<String>) -> Result<SchedProcess> {
    let report = cfg.out.join(format!("sched-{tag}.json"));
    let mut argv = vec![cfg.sched.display().to_string(), "-v".into(), "--stats".into(), "5".into(), "--report".into(),
                        report.display().to_string()];
    argv.extend(args);
    SchedProcess::start(&argv, &cfg.out.join(format!("sched-{tag}.log")), Some(&report))
}

/// Start the scheduler with extra arguments and wait until it is attached.
pub(super) fn start_attached_with(cfg: &FaultsConfig, name: &str, tag: &str, args: Vec<String>, started: Instant)
                                  -> Result<Result<(SchedProcess, Duration), Check>> {
    let mut s = start_sched_with(cfg, tag, args)?;
    match s.wait_attached(Duration::from_secs(30)) {
        Ok(d) => Ok(Ok((s, d))),
        Err(why) => Ok(Err(check(name, started, "scheduler did not attach".into(), vec![why], json!({})))),
    }
}

/// Run every case; write faults.json; Ok(true) if every check passed.
pub fn run(cfg: &FaultsConfig) -> Result<bool> {
    let release = start_job(START_MARKER, &cfg.out, cfg.kconfig.as_deref())?;

    let mut checks = Vec::new();
    let mut record = |c: Result<Check>, name: &str| {
        let c = c.unwrap_or_else(|e| Check { name: name.into(), pass: false, summary: format!("could not run: {e:#}"),
                                             reasons: vec![format!("{e:#}")], metrics: json!({}), wall_s: 0.0 });
        println!("mimic-faults: {:<28} {}  {}", c.name, if c.pass { "PASS" } else { "FAIL" }, c.summary);
        for r in &c.reasons {
            println!("mimic-faults:     - {r}");
        }
        checks.push(c);
    };
    // Each check runs only if `--only` names it (or names nothing).
    let mut check_if = |name: &str, run: &dyn Fn() -> Result<Check>| {
        if cfg.wants(name, name) {
            record(run(), name);
        }
    };
    if cfg.baseline {
        check_if("overload-eevdf", &|| overload::overload_eevdf(cfg));
    }
    check_if("overload-heuristic", &|| overload::overload(cfg, "overload-heuristic", vec![]));
    match &cfg.models {
        Some(m) if scx_mimic::policy::Models::present(m) => check_if("overload-model", &|| {
            overload::overload(cfg, "overload-model", vec!["--model".into(), m.display().to_string()])
        }),
        _ => warn!("no trained models: the model overload case is skipped"),
    }
    // Fairness on a shared CPU: nice levels, and a name that must buy nothing. Under each
    // policy, against EEVDF in this boot.
    let mut policies: Vec<(&str, Vec<String>)> = vec![("heuristic", vec![])];
    if let Some(m) = cfg.models.as_ref().filter(|m| scx_mimic::policy::Models::present(m)) {
        policies.push(("model", vec!["--model".into(), m.display().to_string()]));
    }
    check_if("nice", &|| share::nice(cfg, &policies));
    check_if("renamed-kworker", &|| share::renamed_kworker(cfg, &policies));
    check_if("kill-9", &|| kill::killed(cfg));
    check_if("sigstop", &|| kill::stopped(cfg));
    check_if("cpu-online", &|| hotplug::cpu_online(cfg));
    check_if("hotplug-offline", &|| hotplug::hotplug_offline(cfg));
    match bad_inputs::bad_inputs(cfg) {
        Ok(list) => {
            for b in list.into_iter().filter(|b| cfg.wants(b.name, "bad-inputs")) {
                let name = b.name;
                record(bad_inputs::run_bad_input(&b), name);
            }
        }
        Err(e) => record(Err(e.context("preparing the bad inputs")), "bad-inputs"),
    }
    // A filter that matched nothing must not pass as "every check passed".
    anyhow::ensure!(!checks.is_empty(), "--only {:?} named no check (names as in faults.json)", cfg.only);
    let pass = checks.iter().all(|c| c.pass);
    let report = FaultsReport {
        date: now_rfc3339(),
        kernel_release: release,
        guest_cpus: nproc(),
        watchdog_s: WATCHDOG_S,
        overload_s: cfg.overload_s,
        checks,
        pass,
    };
    write_atomic(&cfg.out.join("faults.json"), &serde_json::to_vec_pretty(&report)?)?;
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(only: &[&str]) -> FaultsConfig {
        FaultsConfig { sched: "s".into(), repo: ".".into(), models: None, out: "o".into(), overload_s: 1, baseline: false,
                       probe_limit_ms: 1, hotplug_reps: 1, kconfig: None, only: only.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn only_selects_checks_by_name_or_group() {
        assert!(cfg(&[]).wants("kill-9", "kill-9"), "no filter: every check runs");
        let c = cfg(&["nice", "bad-inputs"]);
        assert!(c.wants("nice", "nice"));
        assert!(!c.wants("kill-9", "kill-9"));
        assert!(!c.wants("renamed-kworker", "renamed-kworker"), "a name is matched whole, not as a prefix");
        assert!(c.wants("bad-model-truncated", "bad-inputs"), "a group selects all of its checks");
        assert!(!cfg(&["bad-model-truncated"]).wants("bad-model-missing", "bad-inputs"));
    }
}
