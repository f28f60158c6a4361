//! Fairness on a shared CPU: two CPU hogs pinned to CPU 0, and the ratio of the CPU time each
//! got. Two checks use it, each against EEVDF measured in the same boot:
//! * `nice`: nice 0 against nice 10 and against nice 5 — our ratio must be within 25% of
//!   EEVDF's (nice must mean what it means under the kernel's own scheduler);
//! * `renamed-kworker`: an ordinary hog against a user process that named itself like a kernel
//!   worker — the name must buy nothing: the ratio stays within 10% of 1:1.
//!
//! The hogs are `mimic guest spin` processes started from this process (one session, so no
//! autogroup splits them — with autogroups, hogs in two sessions get 1:1 whatever their nice).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde_json::json;

use super::*;
use crate::child::{kill_and_reap, wait_timeout};

/// One hog: its nice level and the name it gives itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hog {
    pub nice: i32,
    pub name: &'static str,
}

/// How long the hogs wait before the common window opens: starting mimic under emulation takes
/// a second or two, and more on a slow host under a user-space scheduler (with 4 s, a hog once
/// exited with an error — most likely "started late": its stderr was not kept then); a hog that
/// starts alone gets the
/// CPU alone (measured: hogs that each spun 5 s from their own start showed EEVDF's nice 0:10 as
/// 1.5–5.3 instead of ~9).
const SPIN_START_DELAY: Duration = Duration::from_secs(10);

/// Run hogs `a` and `b` pinned to CPU 0 over one common window of `secs`; return the CPU time
/// each got in it (ms).
pub(super) fn cpu_ms(a: Hog, b: Hog, secs: u32) -> Result<(f64, f64)> {
    let exe = std::env::current_exe().context("locating mimic for the spin helper")?;
    let from = unix_ms() + SPIN_START_DELAY.as_millis() as u64;
    let until = from + u64::from(secs) * 1000;
    let spawn = |h: Hog| {
        Command::new("nice")
            .args(["-n", &h.nice.to_string(), "taskset", "-c", "0"])
            .arg(&exe)
            .args(["guest", "spin", "--from-ms", &from.to_string(), "--until-ms", &until.to_string(), "--name", h.name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting a spin hog (nice, taskset)")
    };
    let mut children = vec![spawn(a)?, spawn(b)?];
    let mut got = Vec::new();
    for c in &mut children {
        match wait_timeout(c, Duration::from_secs(u64::from(secs) + 60) + SPIN_START_DELAY) {
            Some(st) if st.success() => {
                let mut out = String::new();
                use std::io::Read;
                c.stdout.take().map(|mut s| s.read_to_string(&mut out));
                let ms: f64 = out.trim().parse().with_context(|| format!("spin printed {out:?}, not CPU milliseconds"))?;
                got.push(ms);
            }
            Some(st) => {
                let mut err = String::new();
                use std::io::Read;
                c.stderr.take().map(|mut s| s.read_to_string(&mut err));
                anyhow::bail!("a spin hog failed ({st}): {}", err.trim());
            }
            None => {
                kill_and_reap(c);
                anyhow::bail!("a spin hog did not end within {} s", secs + 60);
            }
        }
    }
    Ok((got[0], got[1]))
}

/// Now, ms since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The spin helper itself (`mimic guest spin`): name this process `name`, sleep until `from_ms`
/// (Unix ms), burn CPU until `until_ms`, print the CPU time it got in that window, ms.
pub fn spin(from_ms: u64, until_ms: u64, name: &str) -> Result<()> {
    anyhow::ensure!(until_ms > from_ms, "--until-ms {until_ms} is not after --from-ms {from_ms}");
    let cname = std::ffi::CString::new(name.as_bytes().iter().take(15).copied().collect::<Vec<u8>>())
        .context("the name holds a NUL byte")?;
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    if unsafe { libc::prctl(libc::PR_SET_NAME, cname.as_ptr() as libc::c_ulong, 0, 0, 0) } != 0 {
        anyhow::bail!("prctl(PR_SET_NAME, {name:?}) failed: {}", std::io::Error::last_os_error());
    }
    std::thread::sleep(Duration::from_millis(from_ms.saturating_sub(unix_ms())));
    let late = unix_ms().saturating_sub(from_ms);
    anyhow::ensure!(late < 1000, "started {late} ms after the window opened: the pair would not overlap");
    println!("{:.1}", burn(Duration::from_millis(until_ms.saturating_sub(unix_ms())))?);
    Ok(())
}

/// Burn CPU on this thread for `wall` of wall time; return the CPU time the thread got in it, ms.
fn burn(wall: Duration) -> Result<f64> {
    let before = thread_cpu_ms()?;
    let end = Instant::now() + wall;
    let mut x = 0u64;
    while Instant::now() < end {
        for i in 0..20_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    Ok(thread_cpu_ms()? - before)
}

/// The CPU time this thread has had, ms.
fn thread_cpu_ms() -> Result<f64> {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        anyhow::bail!("getrusage failed: {}", std::io::Error::last_os_error());
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Ok(ms(ru.ru_utime) + ms(ru.ru_stime))
}

/// How long each pair of hogs runs (the short form: 5 s).
fn spin_secs(cfg: &FaultsConfig) -> u32 {
    if cfg.baseline { 8 } else { 5 }
}

/// The CPU ratio a:b under whatever scheduler is in charge now.
fn ratio(a: Hog, b: Hog, secs: u32) -> Result<f64> {
    let (ma, mb) = cpu_ms(a, b, secs)?;
    anyhow::ensure!(mb > 0.0, "the second hog got no CPU at all ({ma:.0} ms vs 0)");
    Ok(ma / mb)
}

/// Whether `ours` is within `tolerance` (relative) of `reference`.
pub(super) fn within(ours: f64, reference: f64, tolerance: f64) -> bool {
    reference > 0.0 && ((ours / reference) - 1.0).abs() <= tolerance
}

/// Whether `ours` is within `tolerance` of EEVDF's range in this boot (measured before and after
/// ours: under emulation EEVDF's own ratio moves by 10–15% within a boot).
pub(super) fn within_range(ours: f64, eevdf: (f64, f64), tolerance: f64) -> bool {
    let (lo, hi) = (eevdf.0.min(eevdf.1), eevdf.0.max(eevdf.1));
    lo > 0.0 && ours >= lo * (1.0 - tolerance) && ours <= hi * (1.0 + tolerance)
}

const NICE_PAIRS: [(i32, i32); 2] = [(0, 10), (0, 5)];
const NICE_TOLERANCE: f64 = 0.25;
const RENAME_TOLERANCE: f64 = 0.10;

/// Wait (at most a minute) until no stress-ng of an earlier check is left: a reference measured
/// beside a leftover load means nothing.
fn wait_quiet(reasons: &mut Vec<String>) {
    let busy = || {
        std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.starts_with("stress-ng"))
        })
    };
    if crate::guest::system::wait_for(Duration::from_secs(60), || !busy()).is_none() {
        reasons.push("stress-ng of an earlier check was still running a minute later: ratios measured beside it".into());
    }
}

/// Under each of `policies` in turn: attach scx_mimic with its arguments (its log and report
/// tagged `tag-label`), `measure`, stop it (an exit other than 0 after SIGINT is a reason).
/// Returns (label, measurement, exit code) per policy, or check `name` failed if one did not
/// attach.
fn under_each_policy<T>(cfg: &FaultsConfig, name: &str, tag: &str, policies: &[(&str, Vec<String>)], started: Instant,
                        reasons: &mut Vec<String>, mut measure: impl FnMut() -> Result<T>)
                        -> Result<Result<Vec<(String, T, Option<i32>)>, Check>> {
    let mut out = Vec::new();
    for (label, args) in policies {
        let mut s = match start_attached_with(cfg, name, &format!("{tag}-{label}"), args.clone(), started)? {
            Ok((s, _)) => s,
            Err(failed) => return Ok(Err(failed)),
        };
        let got = measure()?;
        let code = s.stop(Duration::from_secs(20));
        if code != Some(0) {
            reasons.push(format!("{label}: scheduler exit {code:?} after SIGINT, expected 0"));
        }
        out.push((label.to_string(), got, code));
    }
    Ok(Ok(out))
}

/// The CPU ratio of each of NICE_PAIRS under the scheduler in charge now.
fn nice_ratios(secs: u32) -> Result<Vec<f64>> {
    NICE_PAIRS.iter().map(|&(a, b)| ratio(Hog { nice: a, name: "spin" }, Hog { nice: b, name: "spin" }, secs)).collect()
}

/// The nice check: EEVDF's ratios, each of our policies', EEVDF's again.
pub(super) fn nice(cfg: &FaultsConfig, policies: &[(&str, Vec<String>)]) -> Result<Check> {
    let started = Instant::now();
    let secs = spin_secs(cfg);
    let mut reasons = Vec::new();
    wait_quiet(&mut reasons);
    let eevdf = nice_ratios(secs)?;
    let results = match under_each_policy(cfg, "nice", "nice", policies, started, &mut reasons, || nice_ratios(secs))? {
        Ok(r) => r,
        Err(failed) => return Ok(failed),
    };
    let after = nice_ratios(secs)?;
    let mut ours = serde_json::Map::new();
    let mut parts = vec![format!("EEVDF nice 0:10 {:.2} then {:.2}, 0:5 {:.2} then {:.2}", eevdf[0], after[0], eevdf[1], after[1])];
    for (label, got, code) in &results {
        for (i, (a, b)) in NICE_PAIRS.iter().enumerate() {
            if !within_range(got[i], (eevdf[i], after[i]), NICE_TOLERANCE) {
                reasons.push(format!("{label}: nice {a}:{b} ratio {:.2}, EEVDF {:.2}–{:.2} in this boot (allowed ±{:.0}%)",
                                     got[i], eevdf[i].min(after[i]), eevdf[i].max(after[i]), NICE_TOLERANCE * 100.0));
            }
        }
        parts.push(format!("{label} {:.2}, {:.2}", got[0], got[1]));
        ours.insert(label.clone(), json!({ "nice_0_10": got[0], "nice_0_5": got[1], "exit_code": code }));
    }
    Ok(check("nice", started, format!("two hogs on CPU 0, CPU ratio ({secs} s each): {}", parts.join("; ")), reasons,
             json!({ "secs": secs,
                     "eevdf": { "nice_0_10": eevdf[0], "nice_0_5": eevdf[1] },
                     "eevdf_after": { "nice_0_10": after[0], "nice_0_5": after[1] },
                     "ours": ours, "tolerance": NICE_TOLERANCE })))
}

/// The renamed-kworker check: an ordinary hog and one named "kworker/0:1", under each policy.
pub(super) fn renamed_kworker(cfg: &FaultsConfig, policies: &[(&str, Vec<String>)]) -> Result<Check> {
    let started = Instant::now();
    let secs = spin_secs(cfg);
    let mut reasons = Vec::new();
    wait_quiet(&mut reasons);
    let (plain, fake) = (Hog { nice: 0, name: "spin" }, Hog { nice: 0, name: "kworker/0:1" });
    let eevdf = ratio(fake, plain, secs)?;
    let results = match under_each_policy(cfg, "renamed-kworker", "rename", policies, started, &mut reasons, || ratio(fake, plain, secs))? {
        Ok(r) => r,
        Err(failed) => return Ok(failed),
    };
    let mut ours = serde_json::Map::new();
    let mut parts = vec![format!("EEVDF {eevdf:.2}")];
    for (label, r, code) in &results {
        if !within(*r, 1.0, RENAME_TOLERANCE) {
            reasons.push(format!("{label}: the process named kworker/0:1 got {r:.2}× the CPU of an ordinary hog \
                                  (allowed 1 ± {:.0}%)", RENAME_TOLERANCE * 100.0));
        }
        parts.push(format!("{label} {r:.2}"));
        ours.insert(label.clone(), json!({ "ratio": r, "exit_code": code }));
    }
    Ok(check("renamed-kworker", started,
             format!("hog named kworker/0:1 vs an ordinary hog on CPU 0, CPU ratio ({secs} s): {}", parts.join("; ")),
             reasons, json!({ "secs": secs, "eevdf": eevdf, "ours": ours, "tolerance": RENAME_TOLERANCE })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_range_spans_eevdfs_two_measurements_and_its_tolerance() {
        assert!(within_range(4.0, (5.25, 4.59), 0.25), "4.0 ≥ 0.75 × 4.59");
        assert!(within_range(6.5, (5.25, 4.59), 0.25), "6.5 ≤ 1.25 × 5.25");
        assert!(!within_range(3.3, (5.25, 4.59), 0.25));
        assert!(!within_range(6.6, (5.25, 4.59), 0.25));
        assert!(!within_range(1.0, (0.0, 4.0), 0.25), "a zero reference proves nothing");
    }

    #[test]
    fn within_is_relative_and_refuses_a_zero_reference() {
        assert!(within(7.0, 8.0, 0.25));
        assert!(!within(5.9, 8.0, 0.25));
        assert!(!within(10.1, 8.0, 0.25));
        assert!(within(1.09, 1.0, 0.10));
        assert!(!within(1.2, 1.0, 0.10));
        assert!(!within(1.0, 0.0, 0.25));
    }

    #[test]
    fn burn_reports_the_cpu_time_this_thread_got() {
        // On its own thread, so the test harness's other threads do not count.
        let ms = std::thread::spawn(|| burn(Duration::from_millis(500)).unwrap()).join().unwrap();
        assert!(ms > 50.0 && ms < 700.0, "0.5 s of spinning burned {ms} ms of CPU");
    }
}
