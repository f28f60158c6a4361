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
//!   was the "one boot in a dozen ends with rc=255" failure. Single-threaded TCG
//!   (`-accel tcg,thread=single`) runs all vCPUs round-robin on one host thread and makes the
//!   race impossible. On a 2-core host it also leaves a core for the host.
//! * If a boot still ends with rc=255 before our command printed its start marker, we retry it
//!   once and say so.

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
    super::gate::kill_and_reap(&mut child);
    true
}

/// Resolve `auto` to what this host can do, logging the choice.
pub fn resolve_accel(requested: Accel) -> Accel {
    match requested {
        Accel::Auto => {
            if kvm_works() {
                info!("KVM works here: guests run with hardware virtualization");
                Accel::Kvm
            } else {
                warn!("KVM is not usable on this host (no /dev/kvm, or QEMU aborts with -cpu host): \
                       falling back to TCG emulation, which is much slower");
                Accel::Tcg
            }
        }
        a => a,
    }
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
}

/// The vng command line for one boot.
pub fn vng_args(cfg: &VmConfig, guest_cmd: &str) -> Vec<String> {
    let mut a = Vec::new();
    if cfg.accel == Accel::Tcg {
        a.push("--disable-kvm".to_string());
        // See the module comment: multi-threaded TCG races with kernel live patching.
        a.push("--qemu-opts=-accel tcg,thread=single".to_string());
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
    /// The guest command's exit code as vng returned it.
    pub rc: i32,
    pub attempts: u32,
    /// Wall time of the last attempt: boot + command + shutdown, s.
    pub wall_s: f64,
    /// Whether the guest printed the start marker (it really ran our command).
    pub marker_seen: bool,
}

/// Boot the guest and run `guest_cmd`, streaming the console to stdout and to `console_log`.
/// `marker` is a line the guest prints when our command starts.
pub fn boot(cfg: &VmConfig, guest_cmd: &str, console_log: &Path, marker: &str) -> Result<BootOutcome> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let args = vng_args(cfg, guest_cmd);
        info!("booting guest ({:?}, {} vCPUs, {}): {} {}", cfg.accel, cfg.cpus, cfg.mem,
              cfg.vng.display(), args.join(" "));
        let t = Instant::now();
        // vng execs virtme-run by name: put its own folder (the venv's bin) first on PATH.
        let mut path = std::env::var_os("PATH").unwrap_or_default();
        if let Some(dir) = cfg.vng.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut dirs = vec![dir.to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            path = std::env::join_paths(dirs).context("PATH")?;
        }
        let mut child = Command::new(&cfg.vng)
            .env("PATH", path)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} (run vm/setup.sh)", cfg.vng.display()))?;
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(console_log)
            .with_context(|| format!("cannot open {}", console_log.display()))?;
        writeln!(log, "### attempt {attempts}: {} {}", cfg.vng.display(), args.join(" "))?;
        // stderr on its own thread so neither pipe can fill up and block the guest.
        let stderr = child.stderr.take().expect("piped");
        let err_log = log.try_clone()?;
        let err_thread = std::thread::spawn(move || {
            let mut err_log = err_log;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if show_line(&line) {
                    eprintln!("{line}");
                }
                let _ = writeln!(err_log, "{line}");
            }
        });
        let mut marker_seen = false;
        let stdout = child.stdout.take().expect("piped");
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            marker_seen |= line.contains(marker);
            if show_line(&line) {
                println!("{line}");
            }
            let _ = writeln!(log, "{line}");
        }
        let _ = err_thread.join();
        let status = child.wait()?;
        let rc = status.code().unwrap_or(-1);
        let wall_s = t.elapsed().as_secs_f64();
        writeln!(log, "### attempt {attempts}: rc={rc} after {wall_s:.1}s")?;
        if rc == 255 && !marker_seen && attempts == 1 {
            warn!("boot attempt 1 ended with rc=255 before our command started \
                   (a known intermittent vng/QEMU failure): retrying once");
            continue;
        }
        return Ok(BootOutcome { rc, attempts, wall_s, marker_seen });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> KernelInfo {
        KernelInfo { image: "/k/vmlinuz".into(), release: "7.3.4+deb13-amd64".into(), ..Default::default() }
    }

    #[test]
    fn tcg_boot_disables_kvm_and_forces_9p() {
        let cfg = VmConfig { vng: "vng".into(), kernel: kernel(), accel: Accel::Tcg, cpus: 2,
                             mem: "2G".into(), rw_dirs: vec!["/r".into()] };
        let a = vng_args(&cfg, "true");
        assert_eq!(a, ["--disable-kvm", "--qemu-opts=-accel tcg,thread=single", "-v", "--force-9p", "-m", "2G", "-p", "2", "-r", "/k/vmlinuz", "--rwdir=/r", "--", "true"]);
        let kvm = VmConfig { accel: Accel::Kvm, ..cfg };
        let a = vng_args(&kvm, "true");
        assert!(!a.iter().any(|x| x.contains("kvm") || x.contains("tcg")), "{a:?}");
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

    #[test]
    fn guest_command_quotes() {
        let c = guest_command(&[("RUST_LOG", "info".into())], &["/bin/x".into(), "a b".into()]);
        assert_eq!(c, "env RUST_LOG=info /bin/x 'a b'");
    }
}
