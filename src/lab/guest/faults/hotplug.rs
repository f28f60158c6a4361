//! CPU hotplug under the scheduler: a CPU coming online (restart) and going offline.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::*;
use crate::guest::system::{dmesg_since, scx_state, wait_for};
use crate::guest::verdict::is_stall_ejection;

const CPU1_ONLINE: &str = "/sys/devices/system/cpu/cpu1/online";

/// Write CPU 1's online file on a thread, waiting at most `limit` (a hotplug that never
/// finishes must not hang the whole run). Returns how long the write took.
pub(super) fn set_cpu1_online(on: bool, limit: Duration) -> Result<Duration, String> {
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
pub(super) fn restart(cfg: &FaultsConfig) -> Result<Check> {
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
    let restarts = s.report_json().and_then(|r| r["restarts"].as_u64());
    if restarts != Some(1) {
        reasons.push(format!("the scheduler's report says {restarts:?} restarts, expected 1"));
    }
    let said = dmesg_since(dmesg0, &["going online", "hotplug", "disabled ("]);
    let bad = dmesg_since(dmesg0, crate::guest::verdict::BAD_DMESG_PATTERNS);
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
pub(super) fn hotplug_offline(cfg: &FaultsConfig) -> Result<Check> {
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
    // The verdict's own test: the kernel ejected *our* scheduler for a runnable task stall.
    let stalled = || is_stall_ejection(dmesg_lines().iter().skip(dmesg0).map(String::as_str), "scx_mimic");
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
    let code = match s.poll_exit() {
        Some(code) => code,
        None => s.stop(Duration::from_secs(20)),
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
pub(super) fn hotplug_outcome(restarted: bool, stalled: bool, state: &str) -> Result<String, String> {
    match (restarted, stalled, state) {
        (true, _, "enabled") => Ok("restarted".into()),
        (false, true, "disabled") => Ok("ejected for a stall, back on EEVDF".into()),
        _ => Err(format!("neither restarted nor ejected for a stall and back on EEVDF: left in state '{state}' \
                          (restart seen: {restarted}, stall seen: {stalled})")),
    }
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
