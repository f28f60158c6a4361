//! The scheduler killed (kill -9) or frozen (SIGSTOP) under load: EEVDF must take over.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::*;
use crate::guest::system::{dmesg_since, scx_state, wait_for};

/// kill -9 mid-load: EEVDF must be back within the watchdog time, the workload completes, and
/// the scheduler loads again in the same boot and stops cleanly.
pub(super) fn killed(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    let (mut s, enabled, mut w) = match attached_under_load(cfg, "kill-9", "kill9", started)? {
        Ok(x) => x,
        Err(failed) => return Ok(failed),
    };
    let before = scx_state();
    if before != "enabled" {
        reasons.push(format!("state was '{before}' before the kill (scheduler not in charge under load)"));
    }
    // Only the process we started (the supervisor): the scheduling child must go with it.
    s.signal(libc::SIGKILL);
    let back = wait_for(Duration::from_secs(15), || scx_state() == "disabled");
    let _ = s.wait_exit(Duration::from_secs(30));
    match back {
        None => reasons.push("15 s after kill -9 sched_ext was still not disabled".into()),
        Some(d) if d.as_secs_f64() > WATCHDOG_S => {
            reasons.push(format!("EEVDF took {:.2}s to come back, more than the watchdog's {WATCHDOG_S}s", d.as_secs_f64()))
        }
        Some(_) => {}
    }
    let wcode = wait_workload(&mut w, Duration::from_secs(60), &mut reasons);

    // The same boot: the scheduler must load again and stop cleanly.
    let mut again = start_sched(cfg, "kill9-reload")?;
    let reenabled = wait_for(Duration::from_secs(30), || scx_state() == "enabled");
    let mut reload_code = None;
    if reenabled.is_none() {
        reasons.push("after the kill the scheduler could not be loaded again".into());
        again.kill();
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
    let bad = dmesg_since(dmesg0, crate::guest::verdict::BAD_DMESG_PATTERNS);
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
pub(super) fn stopped(cfg: &FaultsConfig) -> Result<Check> {
    let started = Instant::now();
    let dmesg0 = dmesg_lines().len();
    let mut reasons = Vec::new();
    let (mut s, enabled, mut w) = match attached_under_load(cfg, "sigstop", "sigstop", started)? {
        Ok(x) => x,
        Err(failed) => return Ok(failed),
    };
    // Freeze the scheduler's processes (its supervising parent and the scheduling child).
    s.signal_group(libc::SIGSTOP);
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
    s.signal_group(libc::SIGCONT);
    let code = s.wait_exit(Duration::from_secs(20));
    if s.was_killed() {
        reasons.push("the continued scheduler did not exit by itself within 20 s".into());
    }
    if code != Some(1) {
        reasons.push(format!("the ejected scheduler exited with {code:?}, expected 1"));
    }
    let log = s.log_text();
    if !log.contains("ejected by the kernel") {
        reasons.push(format!("the scheduler did not say it was ejected ({})", s.log.display()));
    }
    let exit_reason = s.report_json().and_then(|r| r["exit_reason"].as_str().map(String::from));
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
