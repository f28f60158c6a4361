//! What the guest's kernel says: sched_ext's state, the kernel log, the CPUs; and what every
//! guest job does first.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use log::warn;

use crate::child::run_output;

pub const SCX_STATE: &str = "/sys/kernel/sched_ext/state";
pub const SCX_OPS: &str = "/sys/kernel/sched_ext/root/ops";

/// sched_ext's state: "enabled", "disabled", "enabling", "disabling" (or "missing").
pub fn scx_state() -> String {
    read_trim(SCX_STATE)
}

/// Poll `cond` every 20 ms for at most `limit`; how long it took to hold, or None.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    loop {
        if cond() {
            return Some(t.elapsed());
        }
        if t.elapsed() >= limit {
            return None;
        }
        sleep(Duration::from_millis(20));
    }
}

pub fn read_trim(path: &str) -> String {
    fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "missing".into())
}

/// What every guest job (gate, fault checks, benchmarks) does first: print its start marker
/// (the host tells a boot failure from a failed job by it), check that the kernel has sched_ext,
/// create the output folder and expose the kernel config for libbpf. Returns the kernel release.
pub fn start_job(marker: &str, out: &Path, kconfig: Option<&Path>) -> Result<String> {
    println!("{marker}");
    let release = read_trim("/proc/sys/kernel/osrelease");
    if !Path::new(SCX_STATE).exists() {
        bail!("{SCX_STATE} missing: kernel {release} has no sched_ext (CONFIG_SCHED_CLASS_EXT)");
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    provide_kconfig(kconfig, &release)?;
    Ok(release)
}

/// libbpf resolves `__kconfig` externs from /proc/config.gz or /boot/config-$(uname -r); the
/// guest has neither, so put the kernel's config at /boot (on a tmpfs: the root is read-only).
fn provide_kconfig(kconfig: Option<&Path>, release: &str) -> Result<()> {
    let boot_cfg = PathBuf::from(format!("/boot/config-{release}"));
    if Path::new("/proc/config.gz").exists() || boot_cfg.exists() {
        return Ok(());
    }
    let Some(src) = kconfig else {
        warn!("no /proc/config.gz nor {} and no --kconfig: libbpf may fail on Kconfig externs", boot_cfg.display());
        return Ok(());
    };
    let mut mount = Command::new("mount");
    mount.args(["-t", "tmpfs", "tmpfs", "/boot"]);
    match run_output(mount, Duration::from_secs(30)).context("running mount")? {
        (Some(st), _) if st.success() => {}
        (_, out) => bail!("cannot mount a tmpfs on /boot for the kernel config: {}", out.trim()),
    }
    fs::copy(src, &boot_cfg).with_context(|| format!("copying {} to {}", src.display(), boot_cfg.display()))?;
    Ok(())
}

/// The kernel log, a line each.
pub fn dmesg_lines() -> Vec<String> {
    match run_output(Command::new("dmesg"), Duration::from_secs(30)) {
        Ok((Some(st), out)) if st.success() => out.lines().map(String::from).collect(),
        Ok((st, out)) => {
            warn!("dmesg failed ({st:?}): {}", out.trim());
            Vec::new()
        }
        Err(e) => {
            warn!("dmesg: {e}");
            Vec::new()
        }
    }
}

/// Lines of the kernel log from index `from` on that contain any of `patterns`.
pub fn dmesg_since(from: usize, patterns: &[&str]) -> Vec<String> {
    dmesg_lines().into_iter().skip(from).filter(|l| patterns.iter().any(|p| l.contains(p))).collect()
}

pub fn nproc() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
