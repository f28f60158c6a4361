//! Overload: the scheduler under k× CPU overcommit with a wakeup-latency probe, and the same
//! load under EEVDF for reference.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::*;
use crate::guest::system::scx_state;
use crate::guest::gate::{self, Case, GateConfig};
use crate::guest::probe::Probe;

/// Overload: k× CPU overcommit, fork storm and affinity churn under the scheduler, with the
/// latency probe running; the gate's checks (in charge all along, exit 0, clean kernel log,
/// dispatched tasks) plus a bound on the probe's worst lateness.
pub(super) fn overload(cfg: &FaultsConfig, name: &str, args: Vec<String>) -> Result<Check> {
    let started = Instant::now();
    let gcfg = GateConfig {
        sched: cfg.sched.clone(),
        out: cfg.out.clone(),
        cases: vec![],
        duration: cfg.overload_s,
        // A last-resort bound: the case stops the scheduler itself when the workload ends (under
        // 4× overcommit stress-ng takes a while to wind down).
        sched_timeout: 3 * cfg.overload_s + 60,
        kconfig: None,
        ops_prefix: "scx_mimic".into(),
        overcommit: 4,
        min_model_share: crate::guest::verdict::MIN_MODEL_SHARE_OVERLOAD,
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
pub(super) fn overload_eevdf(cfg: &FaultsConfig) -> Result<Check> {
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
