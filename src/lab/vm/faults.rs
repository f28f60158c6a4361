//! The guest side of `make vm-test-faults`: what happens to the system when the scheduler is
//! overloaded, killed, frozen, asked to restart, or fed bad input. Every case is one check with
//! its own entry in `faults.json` and its own line in the summary.
//!
//! The guarantees come from sched_ext itself and from how scx_mimic is written:
//! * a user-space scheduler that dies takes its BPF link with it: the kernel goes back to EEVDF;
//! * one that stops deciding leaves tasks runnable: the sched_ext watchdog ejects it after
//!   `timeout_ms` (5 s, set by scx_rustland_core's BPF side) and EEVDF takes over;
//! * a CPU coming online makes the kernel unload a scheduler without cpu_online/offline
//!   callbacks with "restart" in its exit code; scx_mimic then attaches again (as the upstream
//!   scx schedulers do); a CPU going offline under load may instead end in a stall ejection
//!   (see `hotplug_offline`) — the system survives either way;
//! * bad input is refused before anything is attached or written.

use std::fs;
use std::path::{Path, PathBuf};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use log::{info, warn};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gate::{self, dmesg_lines, nproc, scx_state, wait_for, wait_timeout, Case, GateConfig};
use super::verdict::is_enable_line;
use super::probe::Probe;
use crate::util::{now_rfc3339, run_output, write_atomic};

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
    pub kconfig: Option<PathBuf>,
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

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Signal the scheduler's whole process group: its supervising parent and the process that
/// schedules (it runs in a group of its own, see `Sched::start`).
fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the process group we created for this child.
    unsafe { libc::kill(-(child.id() as i32), sig) };
}

/// Lines of the kernel log from index `from` on that match any of `patterns`.
fn dmesg_since(from: usize, patterns: &[&str]) -> Vec<String> {
    dmesg_lines().into_iter().skip(from).filter(|l| patterns.iter().any(|p| l.contains(p))).collect()
}

/// Kernel log lines saying our scheduler was enabled, from index `from` on.
fn enables_since(from: usize) -> usize {
    dmesg_lines().iter().skip(from).filter(|l| is_enable_line(l, "scx_mimic")).count()
}

struct Sched {
    child: Child,
    log: PathBuf,
    report: PathBuf,
}

impl Sched {
    fn start(cfg: &FaultsConfig, tag: &str) -> Result<Sched> {
        let log = cfg.out.join(format!("sched-{tag}.log"));
        let report = cfg.out.join(format!("sched-{tag}.json"));
        let _ = fs::remove_file(&report);
        let f = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(&cfg.sched)
            .process_group(0)
            .args(["-v", "--stats", "5", "--report"])
            .arg(&report)
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .with_context(|| format!("starting {}", cfg.sched.display()))?;
        info!("{tag}: started scheduler pid {}", child.id());
        Ok(Sched { child, log, report })
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn report(&self) -> Option<serde_json::Value> {
        fs::read(&self.report).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// SIGINT, then wait up to `limit` for the exit code; kill it if it does not go.
    fn stop(&mut self, limit: Duration) -> Option<i32> {
        signal(&self.child, libc::SIGINT);
        match wait_timeout(&mut self.child, limit) {
            Some(st) => st.code(),
            None => {
                gate::kill_and_reap(&mut self.child);
                None
            }
        }
    }
}

/// Start the scheduler and wait until it is in charge: the scheduler and how long attaching
/// took, or the failed check `name` if it never attached.
fn start_attached(cfg: &FaultsConfig, name: &str, tag: &str, started: Instant) -> Result<Result<(Sched, Duration), Check>> {
    let mut s = Sched::start(cfg, tag)?;
    match wait_for(Duration::from_secs(30), || scx_state() == "enabled") {
        Some(d) => Ok(Ok((s, d))),
        None => {
            gate::kill_and_reap(&mut s.child);
            let why = vec![format!("the scheduler never attached; log: {}", s.log.display())];
            Ok(Err(check(name, started, "scheduler did not attach".into(), why, json!({}))))
        }
    }
}

fn stress(args: &[String]) -> Result<Child> {
    Command::new("stress-ng")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting stress-ng")
}

/// `secs` of CPU hogs (2 per CPU) and a fork storm: load that keeps the run queues full.
fn load_args(secs: u32) -> Vec<String> {
    let n = nproc();
    // --temp-path: stress-ng refuses to start in a read-only cwd (the guest's root is read-only).
    ["-t", &format!("{secs}s"), "-c", &(2 * n).to_string(), "-f", &n.to_string(), "--temp-path", "/tmp"]
        .iter().map(|s| s.to_string()).collect()
}

fn wait_workload(w: &mut Child, limit: Duration, reasons: &mut Vec<String>) -> Option<i32> {
    match wait_timeout(w, limit) {
        Some(st) => {
            if st.code() != Some(0) {
                reasons.push(format!("the workload did not complete cleanly (stress-ng exit {:?})", st.code()));
            }
            st.code()
        }
        None => {
            gate::kill_and_reap(w);
            reasons.push(format!("the workload was still running {:.0}s later: the system did not recover", limit.as_secs_f64()));
            None
        }
    }
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 1000.0).round())
}

fn check(name: &str, started: Instant, summary: String, reasons: Vec<String>, metrics: serde_json::Value) -> Check {
    Check { name: name.into(), pass: reasons.is_empty(), summary, reasons, metrics, wall_s: started.elapsed().as_secs_f64() }
}

/// Overload: k× CPU overcommit, fork storm and affinity churn under the scheduler, with the
/// latency probe running; the gate's checks (in charge all along, exit 0, clean kernel log,
/// dispatched tasks) plus a bound on the probe's worst lateness.
fn overload(cfg: &FaultsConfig, name: &str, args: Vec<String>) -> Result<Check> {
    let started = Instant::now();
    let gcfg = GateConfig {
        sched: cfg.sched.clone(),
        out: cfg.out.clone(),
        cases: vec![],
        duration: cfg.overload_s,
        // Under 4× overcommit stress-ng itself takes a while to wind down.
        sched_timeout: cfg.overload_s + 25,
        kconfig: None,
        ops_prefix: "scx_mimic".into(),
        overcommit: 4,
    };
    let r = gate::run_case(&gcfg, &Case { name: name.into(), expect_pass: true, args })?;
    let mut reasons = r.reasons.clone();
    let probe = r.observation.probe.clone().unwrap_or_default();
    if probe.samples == 0 {
        reasons.push("the latency probe took no samples".into());
    } else if probe.max_us > cfg.probe_limit_ms * 1000 {
        reasons.push(format!("the guest was unresponsive: the probe woke up {} ms late (limit {} ms)",
                             probe.max_us / 1000, cfg.probe_limit_ms));
    }
    let o = &r.observation;
    let summary = format!(
        "4x overcommit + forks + affinity churn {}s: in charge {}/{} samples, exit {:?}, probe wakeup lateness p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        cfg.overload_s, o.samples_enabled_ours, o.samples, o.sched_exit_code,
        probe.p50_us as f64 / 1000.0, probe.p99_us as f64 / 1000.0, probe.max_us as f64 / 1000.0);
    let metrics = json!({
        "workload": format!("stress-ng {}", gate::workload_args(cfg.overload_s, nproc(), 4).join(" ")),
        "probe": probe,
        "enable_after_s": o.enable_after_s,
        "samples": o.samples, "samples_enabled_ours": o.samples_enabled_ours,
        "sched_exit_code": o.sched_exit_code,
        "decisions": o.counters.as_ref().map(|c| c.decisions),
        "model_share": o.counters.as_ref().map(|c| c.model_share()),
        "dmesg_bad": o.dmesg_bad,
    });
    Ok(check(name, started, summary, reasons, metrics))
}

/// The same overload with no scx scheduler: what EEVDF gives the probe, for reference.
fn overload_eevdf(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let mut reasons = Vec::new();
    if scx_state() != "disabled" {
        reasons.push(format!("sched_ext state is '{}', expected disabled (EEVDF)", scx_state()));
    }
    let mut w = stress(&gate::workload_args(cfg.overload_s, nproc(), 4))?;
    let probe = Probe::start();
    let code = wait_workload(&mut w, Duration::from_secs(cfg.overload_s as u64 + 60), &mut reasons);
    let p = probe.stop();
    let summary = format!("reference, same overload under EEVDF: workload exit {code:?}, probe p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                          p.p50_us as f64 / 1000.0, p.p99_us as f64 / 1000.0, p.max_us as f64 / 1000.0);
    Ok(check("overload-eevdf", started, summary, reasons, json!({ "probe": p, "workload_exit_code": code })))
}

/// kill -9 mid-load: EEVDF must be back within the watchdog time, the workload completes, and
/// the scheduler loads again in the same boot and stops cleanly.
fn killed(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    let (mut s, enabled) = match start_attached(cfg, "kill-9", "kill9", started)? {
        Ok(x) => x,
        Err(failed) => return Ok(failed),
    };
    let mut w = stress(&load_args(20))?;
    sleep(Duration::from_secs(3));
    let before = scx_state();
    if before != "enabled" {
        reasons.push(format!("state was '{before}' before the kill (scheduler not in charge under load)"));
    }
    // Only the process we started (the supervisor): the scheduling child must go with it.
    signal(&s.child, libc::SIGKILL);
    let back = wait_for(Duration::from_secs(15), || scx_state() == "disabled");
    let _ = s.child.wait();
    match back {
        None => reasons.push("15 s after kill -9 sched_ext was still not disabled".into()),
        Some(d) if d.as_secs_f64() > WATCHDOG_S => {
            reasons.push(format!("EEVDF took {:.2}s to come back, more than the watchdog's {WATCHDOG_S}s", d.as_secs_f64()))
        }
        Some(_) => {}
    }
    let wcode = wait_workload(&mut w, Duration::from_secs(60), &mut reasons);

    // The same boot: the scheduler must load again and stop cleanly.
    let mut again = Sched::start(cfg, "kill9-reload")?;
    let reenabled = wait_for(Duration::from_secs(30), || scx_state() == "enabled");
    let mut reload_code = None;
    if reenabled.is_none() {
        reasons.push("after the kill the scheduler could not be loaded again".into());
        gate::kill_and_reap(&mut again.child);
    } else {
        let mut w2 = stress(&load_args(5))?;
        let _ = wait_workload(&mut w2, Duration::from_secs(60), &mut reasons);
        if scx_state() != "enabled" {
            reasons.push(format!("the reloaded scheduler lost charge under load (state '{}')", scx_state()));
        }
        reload_code = again.stop(Duration::from_secs(20));
        if reload_code != Some(0) {
            reasons.push(format!("the reloaded scheduler exited with {reload_code:?} on SIGINT, expected 0"));
        }
    }
    let bad = dmesg_since(dmesg0, super::verdict::BAD_DMESG_PATTERNS);
    if let Some(first) = bad.first() {
        reasons.push(format!("kernel log has {} bad line(s), first: {first}", bad.len()));
    }
    let summary = format!(
        "kill -9 under load: EEVDF back after {} ms (watchdog {WATCHDOG_S} s), workload exit {wcode:?}; reloaded in {:.1}s, clean stop exit {reload_code:?}",
        ms(back).map_or("never".into(), |v| v.to_string()), reenabled.map_or(f64::NAN, |d| d.as_secs_f64()));
    Ok(check("kill-9", started, summary, reasons, json!({
        "enable_after_s": enabled.as_secs_f64(),
        "disabled_after_kill_ms": ms(back),
        "workload_exit_code": wcode,
        "reload_enable_after_s": reenabled.map(|d| d.as_secs_f64()),
        "reload_exit_code": reload_code,
        "dmesg_bad": bad,
    })))
}

/// kill -STOP for longer than the watchdog: the kernel must eject the scheduler, the system
/// must carry on under EEVDF, and the scheduler, once continued, must exit 1 saying why.
fn stopped(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    let (mut s, enabled) = match start_attached(cfg, "sigstop", "sigstop", started)? {
        Ok(x) => x,
        Err(failed) => return Ok(failed),
    };
    let mut w = stress(&load_args(20))?;
    sleep(Duration::from_secs(3));
    // Freeze the scheduler's processes (its supervising parent and the scheduling child).
    signal_group(&s.child, libc::SIGSTOP);
    let ejected = wait_for(Duration::from_secs(30), || scx_state() != "enabled");
    let disabled = wait_for(Duration::from_secs(30), || scx_state() == "disabled");
    match ejected {
        None => reasons.push("30 s after SIGSTOP the kernel had not ejected the frozen scheduler".into()),
        // The watchdog looks every timeout/2, so ejection comes between 1× and 1.5× the timeout
        // after the oldest task became runnable; allow 2× for an emulated guest.
        Some(d) if d.as_secs_f64() > 2.0 * WATCHDOG_S => reasons.push(format!(
            "ejection took {:.2}s, more than twice the watchdog's {WATCHDOG_S}s", d.as_secs_f64())),
        Some(_) => {}
    }
    if disabled.is_none() {
        reasons.push(format!("sched_ext stuck in state '{}' after the ejection", scx_state()));
    }
    signal_group(&s.child, libc::SIGCONT);
    let code = wait_timeout(&mut s.child, Duration::from_secs(20)).map(|st| st.code());
    let code = match code {
        Some(c) => c,
        None => {
            gate::kill_and_reap(&mut s.child);
            reasons.push("the continued scheduler did not exit by itself within 20 s".into());
            None
        }
    };
    if code != Some(1) {
        reasons.push(format!("the ejected scheduler exited with {code:?}, expected 1"));
    }
    let log = s.log_text();
    if !log.contains("ejected by the kernel") {
        reasons.push(format!("the scheduler did not say it was ejected ({})", s.log.display()));
    }
    let exit_reason = s.report().and_then(|r| r["exit_reason"].as_str().map(String::from));
    let wcode = wait_workload(&mut w, Duration::from_secs(60), &mut reasons);
    // The system survives: a fresh process runs, promptly.
    let t = Instant::now();
    let alive = Command::new("true").status().map(|st| st.success()).unwrap_or(false);
    let fresh_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !alive {
        reasons.push("a fresh process could not run after the ejection".into());
    }
    let crash = dmesg_since(dmesg0, CRASH_PATTERNS);
    if let Some(first) = crash.first() {
        reasons.push(format!("kernel log has {} crash line(s), first: {first}", crash.len()));
    }
    let why = dmesg_since(dmesg0, &["stall", "disabled (error"]);
    let summary = format!(
        "SIGSTOP under load: ejected after {} ms (watchdog {WATCHDOG_S} s), scheduler exit {code:?}, workload exit {wcode:?}, kernel said: {}",
        ms(ejected).map_or("never".into(), |v| v.to_string()),
        why.first().map(|l| l.split("] ").last().unwrap_or(l).to_string()).unwrap_or_else(|| "nothing".into()));
    Ok(check("sigstop", started, summary, reasons, json!({
        "enable_after_s": enabled.as_secs_f64(),
        "eject_after_stop_ms": ms(ejected),
        "disabled_after_stop_ms": ms(disabled),
        "sched_exit_code": code,
        "sched_exit_reason": exit_reason,
        "workload_exit_code": wcode,
        "fresh_process_ms": fresh_ms,
        "kernel_said": why,
        "dmesg_crash": crash,
    })))
}

const CPU1_ONLINE: &str = "/sys/devices/system/cpu/cpu1/online";

/// Write CPU 1's online file on a thread, waiting at most `limit` (a hotplug that never
/// finishes must not hang the whole run). Returns how long the write took.
fn set_cpu1_online(on: bool, limit: Duration) -> Result<Duration, String> {
    let t = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(fs::write(CPU1_ONLINE, if on { "1" } else { "0" }));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(())) => Ok(t.elapsed()),
        Ok(Err(e)) => Err(format!("cannot take CPU 1 {}: {e}", if on { "online" } else { "offline" })),
        Err(_) => Err(format!("taking CPU 1 {} did not finish within {}s", if on { "online" } else { "offline" }, limit.as_secs())),
    }
}

/// A CPU comes online while the scheduler runs: the kernel unloads it with "restart" in the exit
/// code (scx_rustland_core has no cpu_online callback); scx_mimic must attach again by itself,
/// schedule on both CPUs, and still stop cleanly on SIGINT.
fn restart(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let mut reasons = Vec::new();
    if !Path::new(CPU1_ONLINE).exists() {
        reasons.push(format!("{CPU1_ONLINE} missing: the guest needs 2+ vCPUs with CPU hotplug"));
        return Ok(check("restart", started, "no hot-pluggable CPU".into(), reasons, json!({})));
    }
    // CPU 1 goes offline while EEVDF is in charge; the scheduler starts on one CPU.
    if let Err(e) = set_cpu1_online(false, Duration::from_secs(60)) {
        reasons.push(e);
        return Ok(check("restart", started, "could not prepare".into(), reasons, json!({})));
    }
    let mut s = match start_attached(cfg, "restart", "restart", started)? {
        Ok((s, _)) => s,
        Err(failed) => {
            let _ = set_cpu1_online(true, Duration::from_secs(60));
            return Ok(failed);
        }
    };
    let dmesg0 = dmesg_lines().len();
    let online = set_cpu1_online(true, Duration::from_secs(60));
    let mut reattach = None;
    match online {
        Err(e) => reasons.push(e),
        Ok(_) => {
            // A restart shows as a new "enabled" line in the kernel log, with the state enabled.
            let t = Instant::now();
            reattach = wait_for(Duration::from_secs(30), || enables_since(dmesg0) >= 1 && scx_state() == "enabled").map(|_| t.elapsed());
            if reattach.is_none() {
                reasons.push(format!("after CPU 1 came online the scheduler did not attach again within 30 s (state '{}')", scx_state()));
            }
        }
    }
    let mut wcode = None;
    if reattach.is_some() {
        let mut w = stress(&load_args(5))?;
        wcode = wait_workload(&mut w, Duration::from_secs(60), &mut reasons);
        if scx_state() != "enabled" {
            reasons.push(format!("the restarted scheduler lost charge under load (state '{}')", scx_state()));
        }
    }
    let code = s.stop(Duration::from_secs(20));
    if code != Some(0) {
        reasons.push(format!("after the restart SIGINT gave exit {code:?}, expected 0"));
    }
    let restarts = s.report().and_then(|r| r["restarts"].as_u64());
    if restarts != Some(1) {
        reasons.push(format!("the scheduler's report says {restarts:?} restarts, expected 1"));
    }
    let said = dmesg_since(dmesg0, &["going online", "hotplug", "disabled ("]);
    let bad = dmesg_since(dmesg0, super::verdict::BAD_DMESG_PATTERNS);
    if let Some(first) = bad.first() {
        reasons.push(format!("kernel log has {} bad line(s), first: {first}", bad.len()));
    }
    let summary = format!(
        "CPU 1 online under scx_mimic: kernel said {:?}; re-attached after {:.1}s, restarts {restarts:?}, load on 2 CPUs exit {wcode:?}, SIGINT exit {code:?}",
        said.first().map(|l| l.split("] ").last().unwrap_or(l)).unwrap_or("nothing"), reattach.map_or(f64::NAN, |d| d.as_secs_f64()));
    Ok(check("restart", started, summary, reasons, json!({
        "reattach_after_s": reattach.map(|d| d.as_secs_f64()),
        "restarts": restarts,
        "workload_exit_code": wcode,
        "exit_code": code,
        "kernel_said": said,
        "dmesg_bad": bad,
    })))
}

/// A CPU goes offline under load while the scheduler runs. scx_rustland_core keeps a queue per
/// CPU; tasks queued on the departing CPU can be stranded while the kernel's offline path waits
/// for them (synchronize_rcu), so the kernel may eject the scheduler for a stall before its own
/// "restart" exit. Either way the guarantee is the same: the CPU goes offline, the system keeps
/// running (EEVDF or the restarted scheduler), nothing crashes.
fn hotplug_offline(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    if !Path::new(CPU1_ONLINE).exists() {
        reasons.push(format!("{CPU1_ONLINE} missing: the guest needs 2+ vCPUs with CPU hotplug"));
        return Ok(check("hotplug-offline", started, "no hot-pluggable CPU".into(), reasons, json!({})));
    }
    let mut s = match start_attached(cfg, "hotplug-offline", "hotplug-offline", started)? {
        Ok((s, _)) => s,
        Err(failed) => return Ok(failed),
    };
    let mut w = stress(&load_args(20))?;
    sleep(Duration::from_secs(2));
    let offline = set_cpu1_online(false, Duration::from_secs(60));
    if let Err(e) = &offline {
        reasons.push(e.clone());
    }
    // Settle: restarted (a second "enabled" line, state enabled) or ejected for a stall.
    let stalled = || !dmesg_since(dmesg0, &["runnable task stall"]).is_empty();
    let _ = wait_for(Duration::from_secs(20), || (enables_since(dmesg0) >= 2 && scx_state() == "enabled") || (stalled() && scx_state() == "disabled"));
    let outcome = hotplug_outcome(enables_since(dmesg0) >= 2, stalled(), &scx_state());
    if let Err(why) = &outcome {
        reasons.push(why.clone());
    }
    let outcome = outcome.unwrap_or_else(|why| why);
    let wcode = wait_workload(&mut w, Duration::from_secs(90), &mut reasons);
    let t = Instant::now();
    if !Command::new("true").status().map(|st| st.success()).unwrap_or(false) {
        reasons.push("a fresh process could not run after the hotplug".into());
    }
    let fresh_ms = t.elapsed().as_secs_f64() * 1000.0;
    if let Err(e) = set_cpu1_online(true, Duration::from_secs(60)) {
        reasons.push(e);
    }
    // Stop it if it is still running (restarted); an ejected one has exited 1 by itself.
    let code = match s.child.try_wait() {
        Ok(Some(st)) => st.code(),
        _ => s.stop(Duration::from_secs(20)),
    };
    let _ = wait_for(Duration::from_secs(15), || scx_state() == "disabled");
    let crash = dmesg_since(dmesg0, CRASH_PATTERNS);
    if let Some(first) = crash.first() {
        reasons.push(format!("kernel log has {} crash line(s), first: {first}", crash.len()));
    }
    let said = dmesg_since(dmesg0, &["stall", "disabled (", "going offline"]);
    let summary = format!(
        "CPU 1 offline under load: took {}, scheduler {outcome} (kernel said {:?}), exit {code:?}, workload exit {wcode:?}, fresh process in {fresh_ms:.0} ms",
        offline.as_ref().map_or("never".into(), |d| format!("{:.1}s", d.as_secs_f64())),
        said.first().map(|l| l.split("] ").last().unwrap_or(l)).unwrap_or("nothing"));
    Ok(check("hotplug-offline", started, summary, reasons, json!({
        "offline_took_s": offline.ok().map(|d| d.as_secs_f64()),
        "outcome": outcome,
        "sched_exit_code": code,
        "workload_exit_code": wcode,
        "fresh_process_ms": fresh_ms,
        "kernel_said": said,
        "dmesg_crash": crash,
    })))
}

/// What a CPU going offline under load may lead to: the scheduler restarts itself (the kernel
/// asked it to), or the kernel ejects it for a stall and the system carries on under EEVDF
/// (state "disabled"; the caller checks that a fresh process runs and the workload ends). Any
/// other end (still attached without a restart, or disabled without a stall) is a failure.
fn hotplug_outcome(restarted: bool, stalled: bool, state: &str) -> Result<String, String> {
    match (restarted, stalled, state) {
        (true, _, "enabled") => Ok("restarted".into()),
        (false, true, "disabled") => Ok("ejected for a stall, back on EEVDF".into()),
        _ => Err(format!("neither restarted nor ejected for a stall and back on EEVDF: left in state '{state}' \
                          (restart seen: {restarted}, stall seen: {stalled})")),
    }
}

/// One bad-input case: a command that must fail cleanly.
struct BadInput {
    name: &'static str,
    what: String,
    argv: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Substrings the error output must contain (the file, the column, the name).
    expect: Vec<String>,
    /// Paths that must not exist afterwards (nothing half written).
    must_not_exist: Vec<PathBuf>,
    /// A scheduler run: sched_ext must stay disabled.
    scheduler: bool,
}

fn run_bad_input(b: &BadInput) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    let mut cmd = Command::new(&b.argv[0]);
    cmd.args(&b.argv[1..]).envs(b.env.iter().map(|(k, v)| (*k, v.as_str())));
    let (st, text) = run_output(cmd, Duration::from_secs(120)).with_context(|| format!("starting {}", b.argv[0]))?;
    if st.is_none() {
        reasons.push("did not finish within 120 s".into());
    }
    let code = st.and_then(|s| s.code());
    match code {
        Some(0) => reasons.push("exit code 0: the bad input was accepted".into()),
        Some(101) => reasons.push("exit code 101: it panicked".into()),
        None => reasons.push("killed by a signal".into()),
        Some(_) => {}
    }
    if text.contains("panicked") {
        reasons.push("the output says it panicked".into());
    }
    for e in &b.expect {
        if !text.contains(e.as_str()) {
            reasons.push(format!("the message does not mention {e:?}"));
        }
    }
    for p in &b.must_not_exist {
        let left = if p.is_dir() { fs::read_dir(p).map(|d| d.count()).unwrap_or(0) > 0 } else { p.exists() };
        if left {
            reasons.push(format!("{} was written (or left half written)", p.display()));
        }
    }
    if b.scheduler {
        if scx_state() != "disabled" {
            reasons.push(format!("sched_ext state is '{}' after the refused start", scx_state()));
        }
        if enables_since(dmesg0) > 0 {
            reasons.push("the kernel log shows the scheduler attached".into());
        }
    }
    let message = text.lines().rev().find(|l| l.contains("error")).unwrap_or("").trim().to_string();
    let summary = format!("{}: exit {code:?}, said: {}", b.what, if message.is_empty() { "(nothing)".into() } else { message.clone() });
    Ok(check(b.name, started, summary, reasons, json!({ "exit_code": code, "message": message, "argv": b.argv })))
}

/// A valid one-split model of `kind`, as JSON (the bad models are made from it).
fn stump(kind: &str) -> serde_json::Value {
    let classes = if kind == "slice" {
        json!([{"name": "1ms", "slice_ns": 1_000_000}, {"name": "5ms", "slice_ns": 5_000_000}])
    } else {
        json!([{"name": "prev_cpu", "slice_ns": 0}, {"name": "other_busy_cpu", "slice_ns": 0}])
    };
    json!({
        "format": "scx_mimic-model", "version": 1, "kind": kind,
        "features": scx_mimic::features::FEATURE_NAMES, "classes": classes,
        "tree": {"feature": [0, 0, 0], "threshold": [100.0, 0.0, 0.0], "left": [1, 0, 0], "right": [2, 0, 0], "leaf": [-1, 0, 1]},
    })
}

/// A small valid dataset of `n` synthetic rows in `dir` (both tables).
fn write_dataset(dir: &Path, n: usize) -> Result<()> {
    use scx_mimic::replay::{PlacementRow, SliceRow};
    use scx_mimic::task::Task;
    fs::create_dir_all(dir)?;
    let f = |i: usize| [i as f32; scx_mimic::features::N_FEATURES];
    let slices: Vec<SliceRow> = (0..n).map(|i| SliceRow { ts_ns: i as u64, pid: 7, comm: Task::comm_from("t"), features: f(i),
                                                          ran_ns: 1000 * (i as u64 % 50), voluntary: i % 2 == 0 }).collect();
    let places: Vec<PlacementRow> = (0..n).map(|i| PlacementRow { ts_ns: i as u64, pid: 7, comm: Task::comm_from("t"), features: f(i),
                                                                  prev_cpu: 0, waker_cpu: 1, chosen_cpu: (i % 2) as i32,
                                                                  chosen_idle: true, class: (i % 2) as u8 }).collect();
    crate::dataset::write_parquet(&mut crate::dataset::slice_frame("bad", &slices)?, &dir.join(crate::dataset::SLICE_FILE))?;
    crate::dataset::write_parquet(&mut crate::dataset::placement_frame("bad", &places)?, &dir.join(crate::dataset::PLACEMENT_FILE))?;
    Ok(())
}

/// Make the bad inputs (in a scratch folder) and the commands that must refuse them.
fn bad_inputs(cfg: &FaultsConfig) -> Result<Vec<BadInput>> {
    use polars::prelude::*;
    let scratch = std::env::temp_dir().join("mimic-faults");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)?;
    let sched = cfg.sched.display().to_string();
    let mimic = std::env::current_exe()?.display().to_string();
    let s = |p: &Path| p.display().to_string();
    let mut v = Vec::new();

    // Models.
    let model_dir = |tag: &str, slice: &str| -> Result<PathBuf> {
        let d = scratch.join(tag);
        fs::create_dir_all(&d)?;
        fs::write(d.join("slice.model"), slice)?;
        fs::write(d.join("placement.model"), stump("placement").to_string())?;
        Ok(d)
    };
    let none = scratch.join("no-models");
    v.push(BadInput { name: "bad-model-missing", what: "scx_mimic --model on a folder without models".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&none)], env: vec![],
                      expect: vec!["refusing to start".into(), format!("{}/slice.model", s(&none))],
                      must_not_exist: vec![], scheduler: true });
    let good = stump("slice").to_string();
    let d = model_dir("truncated", &good[..good.len() / 2])?;
    v.push(BadInput { name: "bad-model-truncated", what: "a slice.model cut in half".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&d)], env: vec![],
                      expect: vec!["refusing to start".into(), format!("{}/slice.model", s(&d))],
                      must_not_exist: vec![], scheduler: true });
    let mut m = stump("slice");
    m["tree"]["left"][0] = json!(0);
    let d = model_dir("cycle", &m.to_string())?;
    v.push(BadInput { name: "bad-model-hostile", what: "a slice.model whose tree loops back to its root".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&d)], env: vec![],
                      expect: vec!["slice.model".into(), "points back to the root".into()],
                      must_not_exist: vec![], scheduler: true });
    let mut m = stump("slice");
    m["features"][0] = json!("nice");
    let d = model_dir("features", &m.to_string())?;
    v.push(BadInput { name: "bad-model-features", what: "a slice.model trained on other features".into(),
                      argv: vec![sched.clone(), "--model".into(), s(&d)], env: vec![],
                      expect: vec!["slice.model".into(), "feature contract".into()],
                      must_not_exist: vec![], scheduler: true });

    // Datasets: a good one, then one broken way at a time (only slice.parquet is broken).
    let train = |tag: &str, ds: &Path| -> BadInput {
        let out = scratch.join(format!("models-{tag}"));
        BadInput { name: "", what: String::new(),
                   argv: vec![mimic.clone(), "train".into(), s(ds), "--out".into(), s(&out), "--only".into(), "slice".into(), "--no-plots".into()],
                   env: vec![], expect: vec![], must_not_exist: vec![out], scheduler: false }
    };
    let ds = scratch.join("ds-missing-column");
    write_dataset(&ds, 400)?;
    let p = ds.join(crate::dataset::SLICE_FILE);
    let mut df = crate::dataset::read_table(&p, crate::dataset::Table::Slice)?.drop("ran_ns")?;
    crate::dataset::write_parquet(&mut df, &p)?;
    v.push(BadInput { name: "bad-dataset-missing-column", what: "a slice.parquet without its ran_ns column".into(),
                      expect: vec![s(&p), "missing column 'ran_ns'".into()], ..train("missing", &ds) });
    let ds = scratch.join("ds-wrong-type");
    write_dataset(&ds, 400)?;
    let p = ds.join(crate::dataset::SLICE_FILE);
    let mut df = crate::dataset::read_table(&p, crate::dataset::Table::Slice)?;
    let as_text = df.column("pid")?.cast(&DataType::String)?;
    df.with_column(as_text)?;
    crate::dataset::write_parquet(&mut df, &p)?;
    v.push(BadInput { name: "bad-dataset-wrong-type", what: "a slice.parquet whose pid column holds text".into(),
                      expect: vec![s(&p), "column 'pid' has type str".into()], ..train("wrongtype", &ds) });
    let ds = scratch.join("ds-truncated");
    write_dataset(&ds, 400)?;
    let p = ds.join(crate::dataset::SLICE_FILE);
    let bytes = fs::read(&p)?;
    fs::write(&p, &bytes[..bytes.len() / 2])?;
    v.push(BadInput { name: "bad-dataset-truncated", what: "a slice.parquet cut in half".into(),
                      expect: vec![s(&p), "truncated or corrupt".into()], ..train("truncated", &ds) });

    // Names and paths.
    let trace_out = scratch.join("trace-out");
    v.push(BadInput { name: "bad-workload-name", what: "mimic trace --mix with an unknown workload".into(),
                      argv: vec![mimic.clone(), "trace".into(), "--out".into(), s(&trace_out), "--mix".into(), "no-such-mix".into(),
                                 "--workloads".into(), s(&cfg.repo.join("vm/workloads"))],
                      env: vec![], expect: vec!["unknown workload 'no-such-mix'".into(), "known: ".into()],
                      must_not_exist: vec![trace_out], scheduler: false });
    let cache = scratch.join("cache");
    let nokernel = scratch.join("no-such-kernel/bzImage");
    v.push(BadInput { name: "bad-kernel-path", what: "KERNEL= pointing at a file that does not exist".into(),
                      argv: vec!["bash".into(), s(&cfg.repo.join("vm/kernel.sh"))],
                      env: vec![("KERNEL", s(&nokernel)), ("MIMIC_CACHE", s(&cache))],
                      expect: vec![s(&nokernel), "no such file".into()],
                      must_not_exist: vec![cache.join("kernel/current.env")], scheduler: false });
    let noenv = scratch.join("no-such-kernel.env");
    let results = scratch.join("results");
    v.push(BadInput { name: "bad-kernel-env", what: "mimic vm-test --kernel-env naming a missing file".into(),
                      argv: vec![mimic, "vm-test".into(), "--kernel-env".into(), s(&noenv), "--results".into(), s(&results)],
                      env: vec![], expect: vec![s(&noenv)], must_not_exist: vec![results], scheduler: false });
    Ok(v)
}

/// Run every case; write faults.json; Ok(true) if every check passed.
pub fn run(cfg: &FaultsConfig) -> Result<bool> {
    let release = gate::start_guest_job(START_MARKER, &cfg.out, cfg.kconfig.as_deref())?;

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
    if cfg.baseline {
        record(overload_eevdf(cfg), "overload-eevdf");
    }
    record(overload(cfg, "overload-heuristic", vec![]), "overload-heuristic");
    match &cfg.models {
        Some(m) if m.join("slice.model").exists() && m.join("placement.model").exists() => {
            record(overload(cfg, "overload-model", vec!["--model".into(), m.display().to_string()]), "overload-model")
        }
        _ => warn!("no trained models: the model overload case is skipped"),
    }
    record(killed(cfg), "kill-9");
    record(stopped(cfg), "sigstop");
    record(restart(cfg), "restart");
    record(hotplug_offline(cfg), "hotplug-offline");
    match bad_inputs(cfg) {
        Ok(list) => {
            for b in list {
                let name = b.name;
                record(run_bad_input(&b), name);
            }
        }
        Err(e) => record(Err(e.context("preparing the bad inputs")), "bad-inputs"),
    }
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

    #[test]
    fn hotplug_accepts_a_restart_or_a_stall_ejection_back_on_eevdf_and_nothing_else() {
        assert_eq!(hotplug_outcome(true, false, "enabled").unwrap(), "restarted");
        assert!(hotplug_outcome(false, true, "disabled").unwrap().contains("stall"));
        for (r, st, state) in [(false, false, "enabled"), (false, false, "disabled"), (false, true, "enabled"),
                               (true, false, "disabled"), (false, false, "disabling")] {
            let e = hotplug_outcome(r, st, state).unwrap_err();
            assert!(e.contains(&format!("left in state '{state}'")), "{e}");
        }
    }
}
