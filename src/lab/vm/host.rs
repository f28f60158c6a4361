//! The host side: boot the sched_ext guest kernel with virtme-ng and run a command in it.
//!
//! Facts this code is built around (measured on the lab's machines):
//! * `/dev/kvm` may exist and still be unusable (a nested PVM host: QEMU aborts on `-cpu host`),
//!   so KVM is *probed* by starting a paused QEMU with it, and TCG is the fallback.
//! * vng must get stdin from /dev/null and its output through a pipe: its QEMU reopens
//!   /proc/self/fd/1 with O_TRUNC, which would clobber a file we redirected into.
//! * vng returns the guest command's exit code (it needs udev on the host for that).
//! * Under TCG, QEMU's default multi-threaded mode (one host thread per vCPU) lets one vCPU run a
//!   stale translation of kernel text that another vCPU is live-patching (static keys, via int3):
//!   the guest dies with `Oops: int3` in the patched function and `Kernel panic - not syncing`,
//!   vng returns 255. We saw it at boot (`sched_clock: Marking stable` patching
//!   sched_clock_cpu) and when sched_ext attaches or detaches (it flips many static keys) — it
//!   was the "one boot in a dozen ends with rc=255" failure (2026-11-27, before the lab's QEMU
//!   was Debian's 10.0 backport). Single-threaded TCG (`-accel tcg,thread=single`,
//!   [`TcgThreads::Single`], the default) runs all vCPUs round-robin on one host thread and makes
//!   the race impossible. On a 2-core host it also leaves a core for the host. Its price is
//!   turn-taking no hardware has: a vCPU waits while the other has the thread, up to a tick
//!   (measured 2026-12-01: 462 of 466 waits of 2 ms or more in cyclictest under two hogs were
//!   such turns). With QEMU 10.0.2, multi-threaded TCG (`--tcg-threads multi`) ran 11 boots with
//!   66 sched_ext attach/detach cycles under load (2026-12-01) without the Oops, but in the fault
//!   checks new starts of `mimic` died in the dynamic loader (SIGSEGV) after the overload checks:
//!   it is an option to measure with, not the default, and every result file records which ran.
//! * If a boot still ends with rc=255 before our command printed its start marker, we retry it
//!   once and say so.
//! * Under TCG the guest's clock is the host's, and timer interrupts arrive late, in steps of
//!   about a millisecond (round-robin TCG runs one vCPU at a time): measured (2026-11-30,
//!   cyclictest under two CPU hogs), its timers fired 1.7–3.4 ms after the time asked for at the
//!   median (EEVDF 1.7–2.0, scx_mimic 2.5–3.4). `-icount shift=auto,sleep=on`
//!   (`VmConfig::icount`) makes the guest's clock count instructions: timers fire on their
//!   instruction (within the 50-µs timer slack at the median), and a duration is the work done,
//!   not the host time it took to emulate.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use log::{info, warn};
use serde::{Deserialize, Serialize};

use crate::util::shell_quote;

/// How QEMU runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Probe KVM, fall back to TCG.
    Auto,
    /// Hardware virtualization (near-native speed).
    Kvm,
    /// Software emulation (slow, works everywhere).
    Tcg,
}

/// How TCG runs the guest's vCPUs (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TcgThreads {
    /// All vCPUs round-robin on one host thread: no live-patching race, but a vCPU waits for the
    /// other's turn.
    Single,
    /// One host thread per vCPU, as hardware runs CPUs side by side; it needs a QEMU without the
    /// live-patching race (10.0.2 measured) and a host core per vCPU to be fair.
    Multi,
}

impl TcgThreads {
    fn qemu_name(self) -> &'static str {
        match self {
            TcgThreads::Single => "single",
            TcgThreads::Multi => "multi",
        }
    }
}

/// The guest kernel, as described by vm/kernel.sh's env file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KernelInfo {
    pub image: PathBuf,
    pub release: String,
    pub pkg_version: String,
    pub config: Option<PathBuf>,
    pub source: String,
}

/// Parse the `KEY=value` file written by vm/kernel.sh (values may be shell-quoted by printf %q).
pub fn parse_kernel_env(text: &str, origin: &Path) -> Result<KernelInfo> {
    let mut kv = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .with_context(|| format!("{}:{}: expected KEY=value, got {line:?}", origin.display(), n + 1))?;
        let v = v.trim_matches('\'').replace("\\ ", " ");
        kv.insert(k.to_string(), if v == "''" { String::new() } else { v });
    }
    let image = kv
        .get("KERNEL_IMAGE")
        .filter(|v| !v.is_empty())
        .with_context(|| format!("{}: no KERNEL_IMAGE", origin.display()))?;
    Ok(KernelInfo {
        image: PathBuf::from(image),
        release: kv.get("KERNEL_RELEASE").cloned().unwrap_or_default(),
        pkg_version: kv.get("KERNEL_PKG_VERSION").cloned().unwrap_or_default(),
        config: kv.get("KERNEL_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from),
        source: kv.get("KERNEL_SOURCE").cloned().unwrap_or_default(),
    })
}

pub fn load_kernel_env(path: &Path) -> Result<KernelInfo> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (run vm/kernel.sh, or `make kernel`)", path.display()))?;
    let k = parse_kernel_env(&text, path)?;
    if !k.image.exists() {
        bail!("{}: kernel image {} does not exist", path.display(), k.image.display());
    }
    Ok(k)
}

/// Whether KVM really works here: start a paused QEMU with `-accel kvm -cpu host`. On hosts
/// where KVM is broken QEMU aborts at once; where it works it stays up until we stop it.
pub fn kvm_works() -> bool {
    if fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return false;
    }
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "kvm", "-cpu", "host", "-M", "q35", "-m", "64", "-nodefaults",
               "-display", "none", "-monitor", "none", "-serial", "none", "-S"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // exited (aborted) on its own: KVM unusable
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    crate::child::kill_and_reap(&mut child);
    true
}

#[derive(Debug, Clone)]
pub struct VmConfig {
    pub vng: PathBuf,
    pub kernel: KernelInfo,
    pub accel: Accel,
    pub cpus: u32,
    pub mem: String,
    /// Host folders the guest may write (everything else is read-only in the guest).
    pub rw_dirs: Vec<PathBuf>,
    /// Where the KVM verdict is cached (a run that meets a KVM error records it there).
    pub kvm_cache: Option<PathBuf>,
    /// Under TCG, a guest clock that counts instructions (see the module comment); ignored
    /// under KVM.
    pub icount: bool,
    /// Under TCG, one host thread for all vCPUs or one each; ignored under KVM.
    pub tcg_threads: TcgThreads,
}

impl VmConfig {
    /// Whether a guest run under `accel` has the instruction-counted clock: asked for, and TCG
    /// (the run's own accel: a KVM run that meets a KVM error goes on under TCG).
    pub fn icount_under(&self, accel: Accel) -> bool {
        self.icount && accel == Accel::Tcg
    }

    /// How the vCPUs ran under `accel`: None under KVM.
    pub fn tcg_threads_under(&self, accel: Accel) -> Option<TcgThreads> {
        (accel == Accel::Tcg).then_some(self.tcg_threads)
    }
}

/// QEMU's options for TCG: the vCPUs on one thread or one each (see the module comment), and
/// the instruction-counted clock when asked (QEMU allows it with one thread only: the caller
/// checks, see `VmOpts::config`).
fn tcg_qemu_opts(threads: TcgThreads, icount: bool) -> String {
    let accel = format!("-accel tcg,thread={}", threads.qemu_name());
    if icount {
        accel + " -icount shift=auto,sleep=on"
    } else {
        accel
    }
}

/// The vng command line for one boot.
pub fn vng_args(cfg: &VmConfig, guest_cmd: &str) -> Vec<String> {
    let mut a = Vec::new();
    if cfg.accel == Accel::Tcg {
        a.push("--disable-kvm".to_string());
        // See the module comment: multi-threaded TCG raced with kernel live patching once.
        a.push(format!("--qemu-opts={}", tcg_qemu_opts(cfg.tcg_threads, cfg.icount_under(cfg.accel))));
    }
    // Kernel messages on the console: kept in console.log, shown only with VM_VERBOSE.
    a.push("-v".into());
    // 9p everywhere: virtiofs needs virtiofsd, and one code path is easier to trust.
    a.push("--force-9p".into());
    a.extend(["-m".into(), cfg.mem.clone(), "-p".into(), cfg.cpus.to_string()]);
    a.extend(["-r".into(), cfg.kernel.image.display().to_string()]);
    for d in &cfg.rw_dirs {
        a.push(format!("--rwdir={}", d.display()));
    }
    a.push("--".into());
    a.push(guest_cmd.to_string());
    a
}

/// The environment every guest command gets: the host's PATH (the guest shares the host's root
/// file system, so tools from a venv or a Nix profile are found there too) and RUST_LOG (the
/// host's, else info).
pub fn guest_env() -> Vec<(&'static str, String)> {
    vec![
        ("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())),
        ("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into())),
    ]
}

/// Build a guest shell command from argv, with environment variables set.
pub fn guest_command(env: &[(&str, String)], argv: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !env.is_empty() {
        parts.push("env".into());
        parts.extend(env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v))));
    }
    parts.extend(argv.iter().map(|a| shell_quote(a)));
    parts.join(" ")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootOutcome {
    /// The guest command's exit code as vng returned it (-1 when the watchdog ended the run).
    pub rc: i32,
    pub attempts: u32,
    /// Wall time of the last attempt: boot + command + shutdown, s.
    pub wall_s: f64,
    /// Whether the guest printed the start marker (it really ran our command).
    pub marker_seen: bool,
    /// How the last attempt ran (KVM falls back to TCG when the guest hits a KVM error).
    pub accel: Accel,
    /// Set when the watchdog ended the run: why, and the last console lines.
    pub hung: Option<String>,
    /// What happened on the way (retries, the fallback to TCG), one sentence each.
    pub notes: Vec<String>,
}

/// How long one guest run may take, and how long it may stay silent (no console line at all:
/// kernel messages count) before the watchdog kills QEMU and says the guest hung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub total: Duration,
    pub silence: Duration,
}

impl Limits {
    /// What a boot costs beyond the job itself: TCG boots took 20 s on a quiet host and up to
    /// 200 s on a busy one; shutdown and the 9p mounts add little.
    pub const BOOT_MARGIN: Duration = Duration::from_secs(300);
    /// Silence allowed by default: the quietest stretch of our guest jobs is one benchmark or
    /// overload run (≤ 90 s under TCG), and the kernel logs every scheduler attach.
    pub const DEFAULT_SILENCE: Duration = Duration::from_secs(300);

    /// Limits for a job expected to take `expected` (measured under TCG): twice that, plus a
    /// boot, so a slow or loaded host is not mistaken for a hung guest.
    pub fn for_job(expected: Duration) -> Limits {
        Limits { total: expected * 2 + Self::BOOT_MARGIN, silence: Self::DEFAULT_SILENCE }
    }
}

/// A console line QEMU prints when KVM cannot execute the guest; QEMU then stays paused forever.
pub const KVM_ERROR: &str = "KVM internal error";
/// How many console lines a "guest hung" verdict quotes.
const TAIL_LINES: usize = 15;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AttemptEnd {
    /// vng exited with this code.
    Exited(i32),
    /// The watchdog fired: why, with the last console lines.
    Hung(String),
    /// QEMU said "KVM internal error": KVM cannot run this guest here.
    KvmError(String),
}

/// Boot the guest and run `guest_cmd`, streaming the console to stdout and to `console_log`.
/// `marker` is a line the guest prints when our command starts. No run outlives `limits`: a
/// silent or overlong guest is killed (QEMU with it) and reported as hung; a KVM error ends the
/// attempt at once and the guest is booted again under TCG.
pub fn boot(cfg: &VmConfig, guest_cmd: &str, console_log: &Path, marker: &str, limits: Limits) -> Result<BootOutcome> {
    let mut cfg = cfg.clone();
    let mut notes = Vec::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let args = vng_args(&cfg, guest_cmd);
        info!("booting guest ({:?}, {} vCPUs, {}, limits {}s / {}s silent): {} {}", cfg.accel, cfg.cpus, cfg.mem,
              limits.total.as_secs(), limits.silence.as_secs(), cfg.vng.display(), args.join(" "));
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(console_log)
            .with_context(|| format!("cannot open {}", console_log.display()))?;
        writeln!(log, "### attempt {attempts}: {} {}", cfg.vng.display(), args.join(" "))?;
        let t = Instant::now();
        let (end, marker_seen) = attempt(&cfg, &args, &mut log, marker, limits)?;
        let wall_s = t.elapsed().as_secs_f64();
        writeln!(log, "### attempt {attempts}: {end:?} after {wall_s:.1}s")?;
        let outcome = |rc, hung, notes| BootOutcome { rc, attempts, wall_s, marker_seen, accel: cfg.accel, hung, notes };
        match end {
            AttemptEnd::KvmError(line) if cfg.accel == Accel::Kvm => {
                let note = format!("attempt {attempts} under KVM failed ({line}): booting again under TCG");
                warn!("{note}");
                notes.push(note);
                super::kvm::record_failure(&cfg, &line);
                cfg.accel = Accel::Tcg;
            }
            AttemptEnd::KvmError(line) => {
                return Ok(outcome(-1, Some(format!("QEMU reported a KVM error under {:?}: {line}", cfg.accel)), notes))
            }
            AttemptEnd::Hung(why) => {
                warn!("guest hung: {why}");
                return Ok(outcome(-1, Some(why), notes));
            }
            AttemptEnd::Exited(255) if !marker_seen && attempts == 1 => {
                let note = "boot attempt 1 ended with rc=255 before our command started \
                            (a known intermittent vng/QEMU failure): retried once".to_string();
                warn!("{note}");
                notes.push(note);
            }
            AttemptEnd::Exited(rc) => return Ok(outcome(rc, None, notes)),
        }
    }
}

/// Send each line of `pipe` into `tx`, tagged with whether it came from stderr, on a thread of
/// its own (so neither pipe can fill up and block the guest).
fn forward_lines(pipe: impl std::io::Read + Send + 'static, is_err: bool, tx: std::sync::mpsc::Sender<(bool, String)>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send((is_err, line)).is_err() {
                break;
            }
        }
    });
}

/// Run vng once under the watchdog. vng runs in its own process group, so killing the group
/// takes QEMU (its child) with it.
pub(super) fn attempt(cfg: &VmConfig, args: &[String], log: &mut fs::File, marker: &str, limits: Limits) -> Result<(AttemptEnd, bool)> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc::{channel, RecvTimeoutError};
    // vng execs virtme-run by name: put its own folder (the venv's bin) first on PATH.
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = cfg.vng.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).context("PATH")?;
    }
    let started = Instant::now();
    let mut child = Command::new(&cfg.vng)
        .env("PATH", path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {} (run vm/setup.sh)", cfg.vng.display()))?;
    // The two pipes' lines meet in one channel, which the watchdog reads with a timeout.
    let (tx, rx) = channel();
    forward_lines(child.stdout.take().expect("piped"), false, tx.clone());
    forward_lines(child.stderr.take().expect("piped"), true, tx);
    let deadline = started + limits.total;
    let interrupted = stop_signal_flag();
    let mut last_line = Instant::now();
    let mut tail = std::collections::VecDeque::with_capacity(TAIL_LINES);
    let mut marker_seen = false;
    let quoted = |tail: &std::collections::VecDeque<String>| {
        if tail.is_empty() { "no console output at all".to_string() } else { format!("last console lines:\n  {}", tail.iter().cloned().collect::<Vec<_>>().join("\n  ")) }
    };
    let end = loop {
        let now = Instant::now();
        let wait = deadline.min(last_line + limits.silence).saturating_duration_since(now);
        // A stop signal (Ctrl-C, SIGTERM, SIGHUP) to us must not leave QEMU behind: it runs in
        // its own process group, which the terminal's or the caller's signal does not reach.
        if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
            break AttemptEnd::Hung(format!("interrupted by a stop signal: guest stopped; {}", quoted(&tail)));
        }
        match rx.recv_timeout(wait.min(Duration::from_millis(500))) {
            Ok((is_err, line)) => {
                last_line = Instant::now();
                marker_seen |= !marker.is_empty() && line.contains(marker);
                if show_line(&line) {
                    if is_err { eprintln!("{line}") } else { println!("{line}") }
                }
                let _ = writeln!(log, "{line}");
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                if line.contains(KVM_ERROR) {
                    break AttemptEnd::KvmError(line.trim().to_string());
                }
            }
            Err(RecvTimeoutError::Timeout) if Instant::now() < deadline.min(last_line + limits.silence) => continue,
            Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                break AttemptEnd::Hung(format!("guest hung: still running after the {} s limit; {}",
                                               limits.total.as_secs(), quoted(&tail)));
            }
            Err(RecvTimeoutError::Timeout) => {
                break AttemptEnd::Hung(format!("guest hung: no console output for {} s; {}",
                                               limits.silence.as_secs(), quoted(&tail)));
            }
            // Both pipes closed: vng is exiting; wait for it within what is left of the limit.
            Err(RecvTimeoutError::Disconnected) => {
                match crate::child::wait_timeout(&mut child, deadline.saturating_duration_since(Instant::now())) {
                    Some(st) => return Ok((AttemptEnd::Exited(st.code().unwrap_or(-1)), marker_seen)),
                    None => break AttemptEnd::Hung(format!("guest hung: vng closed its output but did not exit within \
                                                            the {} s limit", limits.total.as_secs())),
                }
            }
        }
    };
    // vng and the QEMU it started: the whole group.
    crate::child::kill_group(&mut child);
    Ok((end, marker_seen))
}

/// Set when this process gets SIGINT, SIGTERM or SIGHUP (the handler is installed on first use).
fn stop_signal_flag() -> &'static std::sync::atomic::AtomicBool {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if let Err(e) = ctrlc::set_handler(|| FLAG.store(true, Ordering::Relaxed)) {
            log::warn!("cannot catch stop signals ({e}): a Ctrl-C may leave QEMU running");
        }
    });
    &FLAG
}

/// Kernel console lines ("[    1.234] ...") go to console.log; on screen only with VM_VERBOSE=1,
/// or when they are the kind that explains a failure. Everything else is shown.
fn show_line(line: &str) -> bool {
    // A kernel line starts with its timestamp: "[   12.345678] ...".
    let kernel_line = line.trim_start().strip_prefix('[').and_then(|r| r.split_once(']'))
        .is_some_and(|(ts, _)| ts.trim().parse::<f64>().is_ok());
    let verbose = std::env::var("VM_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    verbose || !kernel_line || ["sched_ext:", "Oops", "Kernel panic", "BUG:", "WARNING:"].iter().any(|p| line.contains(p))
}

/// Find vng: $VNG, then the lab's venv, then PATH.
pub fn find_vng(cache: &Path) -> PathBuf {
    if let Ok(v) = std::env::var("VNG") {
        return PathBuf::from(v);
    }
    let venv = cache.join("venv/bin/vng");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("vng")
}

/// The lab's cache folder ($MIMIC_CACHE, else $XDG_CACHE_HOME/scx_mimic, else ~/.cache/scx_mimic).
pub fn cache_dir() -> PathBuf {
    if let Ok(c) = std::env::var("MIMIC_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache"));
    base.join("scx_mimic")
}

/// Host facts recorded in every result file.
pub fn host_info() -> serde_json::Value {
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    serde_json::json!({
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu_model,
        "loadavg_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

/// Stand-ins for vng in tests (no VM needed).
#[cfg(test)]
pub mod testing {
    use super::*;

    /// A stand-in for vng: a shell script that behaves like a guest that hangs, loops or fails.
    /// Returns the config that boots it and the folder it lives in (removed by the caller).
    pub fn stand_in(name: &str, script: &str) -> (VmConfig, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mimic-host-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let vng = dir.join("vng");
        fs::write(&vng, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&vng, fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = VmConfig { vng, kernel: KernelInfo { image: "/k/vmlinuz".into(), ..Default::default() }, accel: Accel::Kvm, cpus: 2, mem: "2G".into(), rw_dirs: vec![],
                             kvm_cache: None, icount: false, tcg_threads: TcgThreads::Single };
        (cfg, dir)
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::stand_in;

    fn kernel() -> KernelInfo {
        KernelInfo { image: "/k/vmlinuz".into(), release: "7.3.4+deb13-amd64".into(), ..Default::default() }
    }

    #[test]
    fn tcg_boot_disables_kvm_and_forces_9p() {
        let cfg = VmConfig { vng: "vng".into(), kernel: kernel(), accel: Accel::Tcg, cpus: 2,
                             mem: "2G".into(), rw_dirs: vec!["/r".into()], kvm_cache: None, icount: false, tcg_threads: TcgThreads::Single };
        let a = vng_args(&cfg, "true");
        assert_eq!(a, ["--disable-kvm", "--qemu-opts=-accel tcg,thread=single", "-v", "--force-9p", "-m", "2G", "-p", "2", "-r", "/k/vmlinuz", "--rwdir=/r", "--", "true"]);
        let kvm = VmConfig { accel: Accel::Kvm, ..cfg.clone() };
        let a = vng_args(&kvm, "true");
        assert!(!a.iter().any(|x| x.contains("kvm") || x.contains("tcg")), "{a:?}");
        // The instruction-counted clock: under TCG only.
        let icount = VmConfig { icount: true, ..cfg };
        let a = vng_args(&icount, "true");
        assert_eq!(a[1], "--qemu-opts=-accel tcg,thread=single -icount shift=auto,sleep=on");
        let a = vng_args(&VmConfig { accel: Accel::Kvm, ..icount.clone() }, "true");
        assert!(!a.iter().any(|x| x.contains("icount")), "{a:?}");
        // One host thread per vCPU when asked.
        let multi = VmConfig { tcg_threads: TcgThreads::Multi, icount: false, ..icount };
        assert_eq!(vng_args(&multi, "true")[1], "--qemu-opts=-accel tcg,thread=multi");
        assert_eq!(multi.tcg_threads_under(Accel::Tcg), Some(TcgThreads::Multi));
        assert_eq!(multi.tcg_threads_under(Accel::Kvm), None);
    }

    #[test]
    fn kernel_env_round_trip_and_errors() {
        let text = "KERNEL_IMAGE=/x/vmlinuz\nKERNEL_RELEASE=7.3.4+deb13-amd64\nKERNEL_PKG_VERSION=7.3.4-1~bpo13+1\n\
                    KERNEL_CONFIG=/x/config\nKERNEL_SOURCE=debian\\ trixie-backports\n";
        let k = parse_kernel_env(text, Path::new("e")).unwrap();
        assert_eq!(k.release, "7.3.4+deb13-amd64");
        assert_eq!(k.source, "debian trixie-backports");
        assert_eq!(k.config, Some(PathBuf::from("/x/config")));
        let err = parse_kernel_env("KERNEL_RELEASE=1\ngarbage\n", Path::new("f.env")).unwrap_err();
        assert!(format!("{err:#}").contains("f.env:2"), "{err:#}");
        let err = parse_kernel_env("KERNEL_RELEASE=1\n", Path::new("f.env")).unwrap_err();
        assert!(format!("{err:#}").contains("no KERNEL_IMAGE"));
    }

    #[test]
    fn kernel_lines_are_told_from_our_progress_lines() {
        std::env::remove_var("VM_VERBOSE");
        assert!(!show_line("[   12.345678] virtme-ng-init: udev is done"));
        assert!(show_line("[   12.3] sched_ext: BPF scheduler \"x\" enabled"));
        assert!(show_line("[bench    12s] block 1/16: warm-up, scheduler eevdf"));
        assert!(show_line("mimic-gate: start"));
    }

    /// Whether a process is gone (or a zombie waiting for its parent).
    fn gone(pid: &str) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
            Err(_) => true,
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        }
    }

    #[test]
    fn a_silent_guest_is_killed_at_the_silence_limit_with_its_qemu() {
        // The stand-in forks a "QEMU" that sleeps, prints one line and waits for it forever.
        let (cfg, dir) = stand_in("silent", r#"sleep 600 & echo $! > "$(dirname "$0")/qemu.pid"; echo "booting the kernel"; wait"#);
        let limits = Limits { total: Duration::from_secs(60), silence: Duration::from_secs(2) };
        let t = Instant::now();
        let out = boot(&cfg, "true", &dir.join("console.log"), "mimic-x: start", limits).unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
        let why = out.hung.expect("a silent guest is reported as hung");
        assert!(why.starts_with("guest hung: no console output for 2 s"), "{why}");
        assert!(why.contains("booting the kernel"), "the verdict quotes the last console lines: {why}");
        assert_eq!((out.rc, out.attempts, out.marker_seen), (-1, 1, false));
        let qemu = fs::read_to_string(dir.join("qemu.pid")).unwrap();
        let t = Instant::now();
        while !gone(&qemu) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(gone(&qemu), "the stand-in's QEMU (pid {}) outlived the watchdog", qemu.trim());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_chatty_guest_is_killed_at_the_total_limit() {
        let (cfg, dir) = stand_in("chatty", "while :; do echo tick; sleep 0.2; done");
        let limits = Limits { total: Duration::from_secs(3), silence: Duration::from_secs(2) };
        let t = Instant::now();
        let out = boot(&cfg, "true", &dir.join("console.log"), "m", limits).unwrap();
        assert!(t.elapsed() >= Duration::from_secs(3) && t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
        let why = out.hung.expect("hung");
        assert!(why.contains("still running after the 3 s limit") && why.contains("tick"), "{why}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_kvm_internal_error_ends_the_attempt_and_the_guest_boots_under_tcg() {
        // Under KVM the stand-in fails like a half-KVM host (and would hang); with
        // --disable-kvm it runs the command.
        let (cfg, dir) = stand_in("kvm-error", r#"case "$*" in
  *--disable-kvm*) echo "mimic-x: start"; exit 3;;
  *) echo "KVM internal error. Suberror: 1" >&2; echo "emulation failure" >&2; sleep 600;;
esac"#);
        let limits = Limits { total: Duration::from_secs(60), silence: Duration::from_secs(30) };
        let t = Instant::now();
        let out = boot(&cfg, "true", &dir.join("console.log"), "mimic-x: start", limits).unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "the KVM error must end the attempt at once: {:?}", t.elapsed());
        assert_eq!((out.rc, out.attempts, out.accel, out.marker_seen, out.hung), (3, 2, Accel::Tcg, true, None));
        assert!(out.notes[0].contains("KVM internal error") && out.notes[0].contains("TCG"), "{:?}", out.notes);
        let log = fs::read_to_string(dir.join("console.log")).unwrap();
        assert!(log.contains("### attempt 2:") && log.contains("--disable-kvm"), "{log}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_guest_that_exits_is_not_hung() {
        let (cfg, dir) = stand_in("exits", "echo 'mimic-x: start'; exit 0");
        let out = boot(&cfg, "true", &dir.join("console.log"), "mimic-x: start", Limits::for_job(Duration::ZERO)).unwrap();
        assert_eq!((out.rc, out.attempts, out.marker_seen, out.hung, out.accel), (0, 1, true, None, Accel::Kvm));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn guest_command_quotes() {
        let c = guest_command(&[("RUST_LOG", "info".into())], &["/bin/x".into(), "a b".into()]);
        assert_eq!(c, "env RUST_LOG=info /bin/x 'a b'");
    }
}
