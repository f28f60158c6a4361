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

/// How long a hog may take to start and say it is ready: starting mimic under emulation takes a
/// second or two, and on a slow host under a user-space scheduler it took 12 s (a fixed start
/// delay of 4, then 10 s was overrun, and the check failed with "started late").
const SPIN_READY_LIMIT: Duration = Duration::from_secs(120);

/// How long after both hogs are ready the common window opens: enough for each to read it and
/// go to sleep until then (a hog that starts alone gets the CPU alone — measured: hogs that each
/// spun 5 s from their own start showed EEVDF's nice 0:10 as 1.5–5.3 instead of ~9).
const SPIN_WINDOW_LEAD: Duration = Duration::from_secs(2);

/// What a hog prints once it is loaded and named, before it is told its window.
const SPIN_READY: &str = "ready";

/// Run hogs `a` and `b` pinned to CPU 0 over one common window of `secs`; return the CPU time
/// each got in it (ms). Each hog says when it is ready; only then is the window set, so a slow
/// start cannot make the pair miss it.
pub(super) fn cpu_ms(a: Hog, b: Hog, secs: u32) -> Result<(f64, f64)> {
    let exe = std::env::current_exe().context("locating mimic for the spin helper")?;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
    let mut children = Vec::new();
    for (i, h) in [a, b].into_iter().enumerate() {
        let mut c = Command::new("nice")
            .args(["-n", &h.nice.to_string(), "taskset", "-c", "0"])
            .arg(&exe)
            .args(["guest", "spin", "--name", h.name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting a spin hog (nice, taskset)")?;
        let out = c.stdout.take().expect("piped");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
                let _ = tx.send((i, line));
            }
        });
        children.push(c);
    }
    let result = spin_pair(&mut children, &rx, secs);
    for c in &mut children {
        kill_and_reap(c);
    }
    result
}

/// The handshake and the wait of [`cpu_ms`]; `rx` carries each hog's output lines.
fn spin_pair(children: &mut [std::process::Child], rx: &std::sync::mpsc::Receiver<(usize, String)>, secs: u32) -> Result<(f64, f64)> {
    let failed = |children: &mut [std::process::Child], what: String| -> anyhow::Error {
        // Name the hog's own words if it exited with an error.
        for c in children.iter_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                if !st.success() {
                    let mut err = String::new();
                    use std::io::Read;
                    c.stderr.take().map(|mut s| s.read_to_string(&mut err));
                    return anyhow::anyhow!("a spin hog failed ({st}): {}", err.trim());
                }
            }
        }
        anyhow::anyhow!(what)
    };
    // The next line from either hog, or None at the deadline or once a hog has exited with an
    // error (checked every second: a hog that failed to start says nothing).
    let next_line = |children: &mut [std::process::Child], deadline: Instant| -> Option<(usize, String)> {
        while Instant::now() < deadline {
            let step = deadline.saturating_duration_since(Instant::now()).min(Duration::from_secs(1));
            match rx.recv_timeout(step) {
                Ok(got) => return Some(got),
                Err(_) if children.iter_mut().any(|c| matches!(c.try_wait(), Ok(Some(st)) if !st.success())) => return None,
                Err(_) => {}
            }
        }
        None
    };
    let deadline = Instant::now() + SPIN_READY_LIMIT;
    let mut ready = [false; 2];
    while !ready.iter().all(|&r| r) {
        match next_line(children, deadline) {
            Some((i, line)) if line.trim() == SPIN_READY => ready[i] = true,
            Some((_, line)) => return Err(failed(children, format!("a spin hog said {line:?} instead of {SPIN_READY:?}"))),
            None => return Err(failed(children, format!("the spin hogs were not both ready within {} s", SPIN_READY_LIMIT.as_secs()))),
        }
    }
    let from = unix_ms() + SPIN_WINDOW_LEAD.as_millis() as u64;
    let until = from + u64::from(secs) * 1000;
    for c in children.iter_mut() {
        let stdin = c.stdin.as_mut().expect("piped");
        std::io::Write::write_all(stdin, format!("{from} {until}\n").as_bytes()).context("telling a spin hog its window")?;
    }
    let deadline = Instant::now() + SPIN_WINDOW_LEAD + Duration::from_secs(u64::from(secs) + 60);
    let mut got = [None; 2];
    while got.iter().any(Option::is_none) {
        match next_line(children, deadline) {
            Some((i, line)) => {
                let ms: f64 = line.trim().parse().with_context(|| format!("spin printed {line:?}, not CPU milliseconds"))?;
                got[i] = Some(ms);
            }
            None => return Err(failed(children, format!("a spin hog did not report within {} s of its window", secs + 60))),
        }
    }
    for c in children.iter_mut() {
        if let Some(st) = wait_timeout(c, Duration::from_secs(10)).filter(|st| !st.success()) {
            return Err(failed(children, format!("a spin hog exited with {st}")));
        }
    }
    Ok((got[0].unwrap_or(0.0), got[1].unwrap_or(0.0)))
}

/// Now, ms since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The spin helper itself (`mimic guest spin`): name this process `name`, say it is ready, read
/// its window ("FROM UNTIL", Unix ms) from stdin, sleep until FROM, burn CPU until UNTIL, print
/// the CPU time it got in that window, ms.
pub fn spin(name: &str) -> Result<()> {
    let cname = std::ffi::CString::new(name.as_bytes().iter().take(15).copied().collect::<Vec<u8>>())
        .context("the name holds a NUL byte")?;
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    if unsafe { libc::prctl(libc::PR_SET_NAME, cname.as_ptr() as libc::c_ulong, 0, 0, 0) } != 0 {
        anyhow::bail!("prctl(PR_SET_NAME, {name:?}) failed: {}", std::io::Error::last_os_error());
    }
    // Touch the burn loop and the clocks once, so nothing is left to load in the window.
    burn(Duration::ZERO)?;
    println!("{SPIN_READY}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the window from stdin")?;
    let (from_ms, until_ms) = parse_window(&line)?;
    std::thread::sleep(Duration::from_millis(from_ms.saturating_sub(unix_ms())));
    let late = unix_ms().saturating_sub(from_ms);
    anyhow::ensure!(late < 1000, "started {late} ms after the window opened: the pair would not overlap");
    println!("{:.1}", burn(Duration::from_millis(until_ms.saturating_sub(unix_ms())))?);
    Ok(())
}

/// A spin window, "FROM UNTIL" in Unix ms, UNTIL after FROM.
fn parse_window(line: &str) -> Result<(u64, u64)> {
    let mut it = line.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(from)), Some(Ok(until)), None) if until > from => Ok((from, until)),
        _ => anyhow::bail!("expected a window 'FROM UNTIL' (Unix ms, UNTIL after FROM), got {:?}", line.trim()),
    }
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
    fn a_spin_window_must_be_two_increasing_times() {
        assert_eq!(parse_window("1000 9000\n").unwrap(), (1000, 9000));
        for bad in ["", "1000", "9000 1000", "1000 1000", "a b", "1 2 3"] {
            assert!(parse_window(bad).is_err(), "{bad:?} accepted");
        }
    }

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
