//! The host side of the VM loop: boot the sched_ext kernel ([`host`], with KVM when [`kvm`]
//! finds it works), run a guest job inside (the gate, the fault checks — see `crate::guest`),
//! and turn what it wrote into a verdict and a result file.

pub mod host;
pub mod kvm;
pub mod opts;

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::util::{now_rfc3339, now_stamp, write_atomic};
use crate::guest::faults;
use crate::guest::gate::{self, Case, GateReport};
use host::{Accel, VmConfig};

/// Everything `mimic vm-test` needs.
pub struct VmTest {
    pub vm: VmConfig,
    pub limits: host::Limits,
    pub sched: PathBuf,
    pub mimic: PathBuf,
    pub results: PathBuf,
    pub cases: Vec<Case>,
    pub duration: u32,
    pub sched_timeout: u32,
    pub requested_accel: Accel,
}

/// A new result folder `RESULTS/KIND-<time>` (absolute), and the VM config that may write it.
pub fn result_dir(results: &std::path::Path, kind: &str, vm: &VmConfig) -> Result<(PathBuf, VmConfig)> {
    let dir = results.join(format!("{kind}-{}", now_stamp()));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let mut vm = vm.clone();
    vm.rw_dirs.push(dir.clone());
    Ok((dir, vm))
}

/// What one guest job produced: how the boot went, the report the job wrote (if readable), the
/// host's facts, and why the run cannot be trusted when it cannot.
pub struct GuestRun<T> {
    pub outcome: host::BootOutcome,
    pub report: Option<T>,
    pub host: serde_json::Value,
    pub reasons: Vec<String>,
}

/// Boot the guest and run the job `argv` (given `--kconfig` when the kernel has a config), whose
/// output folder is `dir` and which prints `marker` first and writes `dir/report_file`.
/// `limits` bound the whole boot (see `host::boot`).
pub fn run_guest<T: serde::de::DeserializeOwned>(vm: &VmConfig, mut argv: Vec<String>, dir: &std::path::Path, marker: &str,
                                                 report_file: &str, job: &str, limits: host::Limits) -> Result<GuestRun<T>> {
    if let Some(cfg) = &vm.kernel.config {
        argv.extend(["--kconfig".into(), cfg.display().to_string()]);
    }
    let cmd = host::guest_command(&host::guest_env(), &argv);
    let host = host::host_info();
    let outcome = host::boot(vm, &cmd, &dir.join("console.log"), marker, limits)?;
    let report: Option<T> = fs::read(dir.join(report_file)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut reasons = Vec::new();
    if let Some(why) = &outcome.hung {
        reasons.push(why.clone());
    } else if !outcome.marker_seen {
        reasons.push(format!("the guest never started {job} (vng rc={}): boot failed, see console.log", outcome.rc));
    } else if report.is_none() {
        reasons.push(format!("{job} wrote no readable {report_file} (guest rc={}): see console.log", outcome.rc));
    }
    Ok(GuestRun { outcome, report, host, reasons })
}

/// Boot, run the gate, write `result.json`, print a summary. Ok(true) when everything passed.
pub fn vm_test(t: &VmTest) -> Result<bool> {
    let (dir, vm) = result_dir(&t.results, "vm-test", &t.vm)?;

    let mut argv = vec![t.mimic.display().to_string(), "guest".into(), "gate".into(), "--sched".into(), t.sched.display().to_string(),
                        "--out".into(), dir.display().to_string(), "--duration".into(), t.duration.to_string(),
                        "--sched-timeout".into(), t.sched_timeout.to_string()];
    for c in &t.cases {
        let spec = format!("{}:{}:{}", c.name, if c.expect_pass { "pass" } else { "fail" }, c.args.join(" "));
        argv.extend(["--case".into(), spec]);
    }
    let GuestRun { outcome, report: gate, host, mut reasons } =
        run_guest::<GateReport>(&vm, argv, &dir, gate::START_MARKER, "gate.json", "the gate", t.limits)?;
    if let Some(g) = &gate {
        for c in g.cases.iter().filter(|c| !c.as_expected) {
            reasons.push(format!("case {}: {}", c.case.name,
                if c.case.expect_pass { c.reasons.join("; ") } else {
                    format!("a broken scheduler was NOT caught: {}", c.reasons.last().map_or("its checks passed", String::as_str))
                }));
        }
    }
    if outcome.rc != 0 && reasons.is_empty() {
        reasons.push(format!("guest command exited {}", outcome.rc));
    }
    let pass = reasons.is_empty();
    let mut result = envelope("vm-test", &vm, t.requested_accel, &outcome, host, &reasons);
    result["gate"] = json!(gate);
    let out = dir.join("result.json");
    write_atomic(&out, &serde_json::to_vec_pretty(&result)?)?;
    print_summary(&result, &out);
    Ok(pass)
}

/// What every VM result file starts with: the verdict, the guest kernel, the VM and the host.
pub fn envelope(kind: &str, vm: &VmConfig, requested: Accel, outcome: &host::BootOutcome, host: serde_json::Value,
            reasons: &[String]) -> serde_json::Value {
    json!({
        "kind": kind,
        "date": now_rfc3339(),
        "pass": reasons.is_empty(),
        "reasons": reasons,
        "guest_kernel": vm.kernel,
        "vm": {
            "accel_requested": requested,
            "accel": outcome.accel,
            "icount": vm.icount_under(outcome.accel),
            "tcg_threads": vm.tcg_threads_under(outcome.accel),
            "cpus": vm.cpus,
            "mem": vm.mem,
            "vng": vm.vng,
            "boot_attempts": outcome.attempts,
            "wall_s": outcome.wall_s,
            "guest_rc": outcome.rc,
            "hung": outcome.hung,
            "notes": outcome.notes,
        },
        "host": host,
    })
}

/// How a TCG run's vCPUs ran, in words, from a result file's `vm` object (runs before the field
/// existed ran single-threaded).
pub fn tcg_threads_words(vm: &serde_json::Value) -> String {
    match (vm["tcg_threads"] == "multi", vm["cpus"].as_u64()) {
        (true, _) => "one host thread per vCPU".into(),
        (false, Some(2)) => "both vCPUs share one host thread".into(),
        (false, Some(n)) => format!("all {n} vCPUs share one host thread"),
        (false, None) => "the vCPUs share one host thread".into(),
    }
}

fn print_vm_lines(r: &serde_json::Value) {
    let k = &r["guest_kernel"];
    let vm = &r["vm"];
    println!("kernel   {} ({} {})", k["release"].as_str().unwrap_or("?"), k["source"].as_str().unwrap_or(""),
             k["pkg_version"].as_str().unwrap_or(""));
    println!("vm       {} x{} vCPU, {}, {:.0}s wall, {} boot attempt(s)", vm["accel"].as_str().unwrap_or("?").to_uppercase(),
             vm["cpus"], vm["mem"].as_str().unwrap_or("?"), vm["wall_s"].as_f64().unwrap_or(0.0), vm["boot_attempts"]);
    if vm["accel"] == "tcg" {
        println!("         (TCG: software emulation; timings are emulated, not native; {})", tcg_threads_words(vm));
    }
    if vm["icount"] == true {
        println!("         (icount: the guest's clock counts instructions, not host time)");
    }
}

/// Everything `mimic vm-test-faults` needs.
pub struct VmFaults {
    pub vm: VmConfig,
    pub limits: host::Limits,
    pub sched: PathBuf,
    pub mimic: PathBuf,
    pub repo: PathBuf,
    pub models: Option<PathBuf>,
    pub results: PathBuf,
    pub overload_s: u32,
    pub baseline: bool,
    pub probe_limit_ms: u64,
    /// How many times hotplug-offline takes CPU 1 offline and back under load.
    pub hotplug_reps: u32,
    pub requested_accel: Accel,
}

/// Boot, run the fault cases, write `result.json` with one entry per check, print one line per
/// check. Ok(true) when every check passed.
pub fn vm_test_faults(t: &VmFaults) -> Result<bool> {
    let (dir, vm) = result_dir(&t.results, "vm-test-faults", &t.vm)?;
    let mut argv = vec![t.mimic.display().to_string(), "guest".into(), "faults".into(), "--sched".into(), t.sched.display().to_string(),
                        "--out".into(), dir.display().to_string(), "--repo".into(), t.repo.display().to_string(),
                        "--overload-s".into(), t.overload_s.to_string(), "--probe-limit-ms".into(), t.probe_limit_ms.to_string(), "--hotplug-reps".into(), t.hotplug_reps.to_string()];
    if let Some(m) = &t.models {
        argv.extend(["--models".into(), m.display().to_string()]);
    }
    if t.baseline {
        argv.push("--baseline".into());
    }
    let GuestRun { outcome, report, host, mut reasons } =
        run_guest::<faults::FaultsReport>(&vm, argv, &dir, faults::START_MARKER, "faults.json", "the fault checks", t.limits)?;
    if let Some(r) = &report {
        reasons.extend(r.checks.iter().filter(|c| !c.pass).map(|c| format!("{}: {}", c.name, c.reasons.join("; "))));
    }
    if outcome.rc != 0 && reasons.is_empty() {
        reasons.push(format!("guest command exited {}", outcome.rc));
    }
    let pass = reasons.is_empty();
    let mut result = envelope("vm-test-faults", &vm, t.requested_accel, &outcome, host, &reasons);
    if let Some(r) = &report {
        result["watchdog_s"] = json!(r.watchdog_s);
        result["overload_s"] = json!(r.overload_s);
        result["checks"] = json!(r.checks);
    }
    let out = dir.join("result.json");
    write_atomic(&out, &serde_json::to_vec_pretty(&result)?)?;

    println!();
    println!("================= scx_mimic vm-test-faults =================");
    print_vm_lines(&result);
    for c in report.iter().flat_map(|r| r.checks.iter()) {
        println!("{:<27} {}  {}", c.name, if c.pass { "PASS" } else { "FAIL" }, c.summary);
        for why in &c.reasons {
            println!("{:<27}       - {why}", "");
        }
    }
    println!("verdict  {}", if pass { "PASS" } else { "FAIL" });
    for why in &reasons {
        println!("         - {why}");
    }
    println!("result   {}", out.display());
    println!("=============================================================");
    Ok(pass)
}

fn print_summary(r: &serde_json::Value, out: &std::path::Path) {
    println!();
    println!("==================== scx_mimic vm-test ====================");
    print_vm_lines(r);
    if let Some(cases) = r["gate"]["cases"].as_array() {
        for c in cases {
            let o = &c["observation"];
            let cn = &o["counters"];
            println!("case     {:<16} expect {:<4}  checks {:<6}  {}", c["case"]["name"].as_str().unwrap_or("?"),
                     if c["case"]["expect_pass"] == true { "pass" } else { "fail" },
                     if c["checks_passed"] == true { "passed" } else { "failed" },
                     if c["as_expected"] == true { "ok" } else { "NOT AS EXPECTED" });
            // A scheduler the gate never saw enabled (the broken one) has no time to show.
            let enabled = o["enable_after_s"].as_f64().map_or("never seen enabled".to_string(), |s| format!("enabled after {s:.1}s"));
            println!("         {enabled}, in charge {}/{} samples, exit {}, workload exit {}",
                     o["samples_enabled_ours"], o["samples"], o["sched_exit_code"], o["workload_exit_code"]);
            if o["probe"].is_object() {
                let p = &o["probe"];
                let msf = |k: &str| p[k].as_f64().unwrap_or(f64::NAN) / 1000.0;
                println!("         latency probe ({} x {} us sleeps): late by p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                         p["samples"], p["period_us"], msf("p50_us"), msf("p99_us"), msf("max_us"));
            }
            if cn.is_object() {
                println!("         decisions {} | user dispatches {} (+{} any-cpu) | kernel {} | congested {} | pf {}/{}",
                         cn["decisions"], cn["dispatched_user"], cn["decisions_any_cpu"], cn["dispatched_kernel"],
                         cn["congested"], cn["minor_faults"], cn["major_faults"]);
                // Not decisions, but to be read beside them: slice ends the BPF side continued by
                // itself (the task kept its CPU, or went back in line with its deadline advanced).
                println!("         slice ends continued by the BPF side: kept {}, re-queued {}", cn["kept"], cn["requeued"]);
            }
            match serde_json::from_value::<scx_mimic::stats::SchedCounters>(cn.clone()) {
                Ok(k) if k.policy == "model" => println!(
                    "         model decided {:.2}% of all {} decisions ({:.2}% when asked, {} by the fast path under its standing \
                     decision; {} by the BPF side in all), slice capped in {:.1}%, \
                     placement = heuristic in {:.1}%, inference mean {:.0} ns, median < {} ns over {} samples \
                     (timer cost {} ns subtracted)",
                    k.model_share() * 100.0, k.all_decisions(), k.fresh_model_share() * 100.0, k.model.standing_placements,
                    k.dispatched_kernel, k.slice_capped_share() * 100.0,
                    k.placement_agree_share() * 100.0,
                    k.model.inference_ns_mean(), k.model.inference_ns_median_bound(), k.model.inference_samples,
                    k.model.timer_overhead_ns),
                _ => {}
            }
            for why in c["reasons"].as_array().into_iter().flatten() {
                println!("         - {}", why.as_str().unwrap_or(""));
            }
        }
    }
    println!("verdict  {}", if r["pass"] == true { "PASS" } else { "FAIL" });
    for why in r["reasons"].as_array().into_iter().flatten() {
        println!("         - {}", why.as_str().unwrap_or(""));
    }
    println!("result   {}", out.display());
    println!("============================================================");
}

#[cfg(test)]
mod tests {
    use super::tcg_threads_words;
    use serde_json::json;

    #[test]
    fn a_result_file_says_how_its_vcpus_ran() {
        assert_eq!(tcg_threads_words(&json!({"tcg_threads": "multi", "cpus": 2})), "one host thread per vCPU");
        assert_eq!(tcg_threads_words(&json!({"tcg_threads": "single", "cpus": 2})), "both vCPUs share one host thread");
        assert_eq!(tcg_threads_words(&json!({"tcg_threads": "single", "cpus": 4})), "all 4 vCPUs share one host thread");
        // Result files from before the field: single-threaded.
        assert_eq!(tcg_threads_words(&json!({"cpus": 2})), "both vCPUs share one host thread");
    }
}
