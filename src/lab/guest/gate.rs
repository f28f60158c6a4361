//! The guest side of `make vm-test`: runs inside the sched_ext kernel booted by virtme-ng.
//!
//! For each case it starts the scheduler under `timeout --preserve-status`, waits for
//! sched_ext to report it enabled, runs a stress-ng mix (CPU hogs, fork storms, affinity churn)
//! while sampling /sys/kernel/sched_ext, then checks the scheduler's exit code, the kernel log
//! and the scheduler's own counters. A case can be expected to fail (a deliberately broken
//! scheduler): the gate then passes only if the checks do catch it.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use log::{info, warn};
use serde::{Deserialize, Serialize};

use super::probe::Probe;
use super::sched::SchedProcess;
use super::system::{dmesg_lines, nproc, read_trim, scx_state, start_job, wait_for, SCX_OPS};
use super::verdict::{bad_dmesg_lines, control_not_caught, is_enable_line, is_stall_ejection, judge, Observation};
use crate::util::{now_rfc3339, write_atomic};

/// Printed first thing in the guest: lets the host tell a boot failure from a gate failure.
pub const START_MARKER: &str = "mimic-gate: start";

/// One gate case: a name, whether it must pass, and extra scheduler arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    pub expect_pass: bool,
    pub args: Vec<String>,
}

impl std::str::FromStr for Case {
    type Err = String;
    /// `NAME:pass|fail[:ARGS…]`, e.g. `heuristic:pass` or `broken:fail:--fault never-dispatch`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut it = s.splitn(3, ':');
        let name = it.next().filter(|n| !n.is_empty()).ok_or("case needs a name: NAME:pass|fail[:ARGS]")?;
        let expect_pass = match it.next() {
            Some("pass") | None => true,
            Some("fail") => false,
            Some(x) => return Err(format!("case '{name}': expectation must be 'pass' or 'fail', not '{x}'")),
        };
        let args = it.next().map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default();
        Ok(Case { name: name.to_string(), expect_pass, args })
    }
}

#[derive(Debug, Clone)]
pub struct GateConfig {
    pub sched: PathBuf,
    pub out: PathBuf,
    pub cases: Vec<Case>,
    /// Workload length, s.
    pub duration: u32,
    /// `timeout --preserve-status` bound on the scheduler, s: a last resort. The gate stops the
    /// scheduler itself (SIGINT) once the workload is over.
    pub sched_timeout: u32,
    /// Kernel config to expose at /boot for libbpf's Kconfig externs.
    pub kconfig: Option<PathBuf>,
    /// The ops name prefix that identifies our scheduler.
    pub ops_prefix: String,
    /// CPU hogs per CPU in the workload (1: the scx CI mix; 4: the overload case of
    /// `vm-test-faults`).
    pub overcommit: usize,
    /// The share of all decisions a model case must make with the models.
    pub min_model_share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub case: Case,
    /// Whether the checks passed (for an expected-fail case, they should not).
    pub checks_passed: bool,
    /// Whether the outcome is what the case expects.
    pub as_expected: bool,
    pub reasons: Vec<String>,
    pub observation: Observation,
    pub wall_s: f64,
    pub sched_log: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateReport {
    pub date: String,
    pub kernel_release: String,
    pub guest_cpus: usize,
    pub duration_s: u32,
    pub sched_timeout_s: u32,
    pub workload: String,
    pub cases: Vec<CaseResult>,
    pub pass: bool,
}

/// The stress mix of the scx CI gate: CPU hogs, fork storms and affinity churn, all aggressive.
/// With `overcommit` k > 1 there are k CPU hogs per CPU and one affinity churner per CPU.
pub fn workload_args(duration: u32, n: usize, overcommit: usize) -> Vec<String> {
    let hogs = (n * overcommit.max(1)).to_string();
    let churn = if overcommit > 1 { n.to_string() } else { "1".to_string() };
    let n = n.to_string();
    // --temp-path: stress-ng refuses to start in a read-only cwd (the guest's root is read-only).
    ["-t", &format!("{duration}s"), "--aggressive", "-M", "-c", &hogs, "-f", &n,
     "--affinity", &churn, "--affinity-delay", "1", "--affinity-pin", "--temp-path", "/tmp"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub fn run_case(cfg: &GateConfig, case: &Case) -> Result<CaseResult> {
    let started = Instant::now();
    let mut obs = Observation {
        state_before: scx_state(),
        expect_model: case.args.iter().any(|a| a == "--model"),
        ..Default::default()
    };
    let dmesg_before = dmesg_lines().len();
    let report = cfg.out.join(format!("sched-{}.json", case.name));
    let log_path = cfg.out.join(format!("sched-{}.log", case.name));

    // The scheduler, bounded by timeout(1) as in the scx CI: SIGTERM at the end, and with
    // --preserve-status its own exit code comes back (0 for a clean stop).
    let mut argv = vec!["timeout".to_string(), "--preserve-status".into(), cfg.sched_timeout.to_string(),
                        cfg.sched.display().to_string(), "-v".into(), "--stats".into(), "5".into(), "--report".into(),
                        report.display().to_string()];
    argv.extend(case.args.iter().cloned());
    let mut sched = SchedProcess::start(&argv, &log_path, Some(&report))?;
    info!("case {}: started {} {}", case.name, cfg.sched.display(), case.args.join(" "));

    // Wait for sched_ext to switch to our scheduler (TCG can make this take several seconds).
    let enable_limit = Duration::from_secs((cfg.sched_timeout / 2).max(5) as u64);
    // Not attaching is not an error here: the checks below say what happened (a control that
    // stalls the system keeps this gate from seeing the state flip at all).
    if sched.wait_attached_or_exit(enable_limit).is_some() {
        obs.enable_after_s = Some(started.elapsed().as_secs_f64());
        obs.ops_seen.push(read_trim(SCX_OPS));
    }

    if obs.enable_after_s.is_some() {
        // The workload gets twice its length and 30 s more to end: a slow emulated guest stretches
        // stress-ng's start and wind-down (measured: 35 s for a 30 s run), and a bound counted
        // from the scheduler's start would count its attach time against the workload.
        let workload_deadline = (Instant::now() + Duration::from_secs(2 * cfg.duration as u64 + 30))
            .min(started + Duration::from_secs(cfg.sched_timeout as u64));
        let mut stress = Command::new("stress-ng")
            .args(workload_args(cfg.duration, nproc(), cfg.overcommit))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting stress-ng")?;
        // Sample twice a second while the workload runs and the scheduler should be in charge;
        // the latency probe measures how late an ordinary sleeper wakes up meanwhile.
        let probe = Probe::start();
        loop {
            if let Ok(Some(st)) = stress.try_wait() {
                obs.workload_exit_code = st.code();
                break;
            }
            if Instant::now() + Duration::from_millis(500) >= workload_deadline {
                warn!("case {}: workload still running at its deadline; stopping it", case.name);
                let _ = stress.kill();
                obs.workload_exit_code = stress.wait().ok().and_then(|s| s.code());
                break;
            }
            let (state, ops) = (scx_state(), read_trim(SCX_OPS));
            obs.samples += 1;
            if state == "enabled" && ops.starts_with(&cfg.ops_prefix) {
                obs.samples_enabled_ours += 1;
            }
            if state == "enabled" && !obs.ops_seen.contains(&ops) {
                obs.ops_seen.push(ops);
            }
            sleep(Duration::from_millis(500));
        }
        obs.probe = Some(probe.stop());
    }

    // The workload is over (or the scheduler never took over): stop the scheduler as a user
    // would (SIGINT: it detaches and exits 0), and give it 30 s to detach before calling it hung.
    obs.sched_exit_code = sched.stop(Duration::from_secs(30));
    let after = dmesg_lines();
    let _ = fs::write(cfg.out.join(format!("dmesg-{}.txt", case.name)), after[dmesg_before.min(after.len())..].join("\n"));
    obs.dmesg_bad = bad_dmesg_lines(after.iter().skip(dmesg_before).map(String::as_str), 20);
    // A scheduler that stalls the system also stalls this gate, which then never sees the state
    // flip; the kernel log still says whether it attached.
    obs.enabled_in_dmesg = after.iter().skip(dmesg_before).any(|l| is_enable_line(l, &cfg.ops_prefix));
    obs.ejected_for_stall = is_stall_ejection(after.iter().skip(dmesg_before).map(String::as_str), &cfg.ops_prefix);

    if let Some(v) = sched.report_json() {
        obs.counters = v.get("counters").and_then(|c| serde_json::from_value(c.clone()).ok());
        obs.sched_exit_reason = v.get("exit_reason").and_then(|r| r.as_str()).map(String::from);
    }
    let mut reasons = judge(&obs, &cfg.ops_prefix, cfg.min_model_share);
    let checks_passed = reasons.is_empty();
    // A control must fail the checks for the right reason: a stall ejection of our scheduler.
    let not_caught = if case.expect_pass { None } else { control_not_caught(&obs) };
    if let Some(why) = &not_caught {
        reasons.push(why.clone());
    }
    // Wait until sched_ext is fully back to the default scheduler before the next case.
    let _ = wait_for(Duration::from_secs(15), || scx_state() == "disabled");
    Ok(CaseResult {
        as_expected: if case.expect_pass { checks_passed } else { !checks_passed && not_caught.is_none() },
        checks_passed,
        reasons,
        observation: obs,
        wall_s: started.elapsed().as_secs_f64(),
        sched_log: log_path.display().to_string(),
        case: case.clone(),
    })
}

/// Run all cases; write `gate.json` into the output folder; Ok(true) if every case went as
/// expected.
pub fn run(cfg: &GateConfig) -> Result<bool> {
    let release = start_job(START_MARKER, &cfg.out, cfg.kconfig.as_deref())?;
    if !cfg.sched.exists() {
        bail!("scheduler binary {} not found", cfg.sched.display());
    }

    let mut results = Vec::new();
    for case in &cfg.cases {
        let r = run_case(cfg, case)?;
        println!(
            "mimic-gate: case {:<16} expect {:<4} -> checks {} ({})",
            case.name,
            if case.expect_pass { "pass" } else { "fail" },
            if r.checks_passed { "passed" } else { "failed" },
            if r.as_expected { "as expected" } else { "NOT as expected" }
        );
        for why in &r.reasons {
            println!("mimic-gate:     - {why}");
        }
        results.push(r);
    }
    let pass = results.iter().all(|r| r.as_expected);
    let report = GateReport {
        date: now_rfc3339(),
        kernel_release: release,
        guest_cpus: nproc(),
        duration_s: cfg.duration,
        sched_timeout_s: cfg.sched_timeout,
        workload: format!("stress-ng {}", workload_args(cfg.duration, nproc(), cfg.overcommit).join(" ")),
        cases: results,
        pass,
    };
    write_atomic(&cfg.out.join("gate.json"), &serde_json::to_vec_pretty(&report)?)?;
    let _ = std::io::stdout().flush();
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_syntax() {
        let c: Case = "heuristic:pass".parse().unwrap();
        assert_eq!(c, Case { name: "heuristic".into(), expect_pass: true, args: vec![] });
        let c: Case = "broken:fail:--fault never-dispatch".parse().unwrap();
        assert!(!c.expect_pass);
        assert_eq!(c.args, vec!["--fault", "never-dispatch"]);
        assert!("x:maybe".parse::<Case>().unwrap_err().contains("'pass' or 'fail'"));
        assert!(":pass".parse::<Case>().is_err());
    }

    #[test]
    fn workload_is_the_scx_ci_mix() {
        let a = workload_args(30, 2, 1).join(" ");
        assert_eq!(a, "-t 30s --aggressive -M -c 2 -f 2 --affinity 1 --affinity-delay 1 --affinity-pin --temp-path /tmp");
        let a = workload_args(60, 2, 4).join(" ");
        assert_eq!(a, "-t 60s --aggressive -M -c 8 -f 2 --affinity 2 --affinity-delay 1 --affinity-pin --temp-path /tmp");
    }
}
