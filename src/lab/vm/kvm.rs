//! Can KVM run *this* guest here? `/dev/kvm` may open, and QEMU may even start paused with
//! `-accel kvm -cpu host`, on a host whose nested virtualisation then fails in the first real
//! instructions ("KVM internal error. Suberror: 1 / emulation failure", QEMU paused forever).
//! So the probe boots the guest kernel itself under KVM, with a short deadline, to a marker.
//!
//! The verdict is cached in `$MIMIC_CACHE/kvm-probe.json`, keyed by what decides it (the host
//! kernel, the QEMU version, the guest kernel image): a host pays for the probe once. A real run
//! that meets a KVM error later records a negative verdict for the same key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{info, warn};
use serde::{Deserialize, Serialize};

use super::host::{self, Accel, Limits, VmConfig};
use crate::util::{now_rfc3339, write_atomic};

/// The probe's limits: a KVM boot to a shell takes a few seconds; a broken one never gets there.
pub const PROBE_LIMITS: Limits = Limits { total: Duration::from_secs(90), silence: Duration::from_secs(30) };
/// What the probe's guest prints. The command computes the number, so the marker never appears
/// in the command line the kernel echoes on the console.
const PROBE_CMD: &str = "echo mimic-kvm-probe-$((6*7))";
const PROBE_MARKER: &str = "mimic-kvm-probe-42";

/// What decides whether KVM can run the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeKey {
    pub host_kernel: String,
    pub qemu: String,
    pub guest_image: PathBuf,
    pub guest_image_bytes: u64,
}

/// A probe's finding, as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub key: ProbeKey,
    pub kvm: bool,
    /// One sentence: why KVM can or cannot be used.
    pub reason: String,
    pub date: String,
}

impl ProbeKey {
    pub fn of(cfg: &VmConfig) -> ProbeKey {
        let qemu = std::process::Command::new("qemu-system-x86_64");
        let qemu = match crate::child::run_output({ let mut c = qemu; c.arg("--version"); c }, Duration::from_secs(10)) {
            Ok((Some(st), out)) if st.success() => out.lines().next().unwrap_or("").trim().to_string(),
            _ => "unknown".to_string(),
        };
        ProbeKey {
            host_kernel: fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
            qemu,
            guest_image: cfg.kernel.image.clone(),
            guest_image_bytes: fs::metadata(&cfg.kernel.image).map(|m| m.len()).unwrap_or(0),
        }
    }
}

/// Where the verdict is cached.
pub fn cache_file(cache: &Path) -> PathBuf {
    cache.join("kvm-probe.json")
}

/// The cached verdict for `key`, if there is one.
pub fn cached(file: &Path, key: &ProbeKey) -> Option<Verdict> {
    let v: Verdict = serde_json::from_slice(&fs::read(file).ok()?).ok()?;
    (v.key == *key).then_some(v)
}

fn store(file: &Path, v: &Verdict) {
    let res = serde_json::to_vec_pretty(v).map_err(anyhow::Error::from).and_then(|b| Ok(write_atomic(file, &b)?));
    if let Err(e) = res {
        warn!("cannot cache the KVM verdict in {}: {e:#}", file.display());
    }
}

/// Boot the guest under KVM once and run a command that prints a marker. Ok when it did and
/// exited 0 in time; Err says what happened instead.
pub fn probe_guest(cfg: &VmConfig, console_log: &Path, limits: Limits) -> Result<(), String> {
    let cfg = VmConfig { accel: Accel::Kvm, rw_dirs: Vec::new(), ..cfg.clone() };
    let args = host::vng_args(&cfg, PROBE_CMD);
    let mut log = fs::OpenOptions::new().create(true).append(true).open(console_log)
        .map_err(|e| format!("cannot open {}: {e}", console_log.display()))?;
    let _ = writeln!(log, "### KVM probe: {} {}", cfg.vng.display(), args.join(" "));
    match host::attempt(&cfg, &args, &mut log, PROBE_MARKER, limits) {
        Ok((host::AttemptEnd::Exited(0), true)) => Ok(()),
        Ok((host::AttemptEnd::Exited(rc), seen)) => Err(format!(
            "a KVM boot exited {rc}{}", if seen { "" } else { " before the probe command ran" })),
        Ok((host::AttemptEnd::KvmError(line), _)) => Err(format!("a KVM boot failed: {line}")),
        Ok((host::AttemptEnd::Hung(why), _)) => Err(format!("a KVM boot {}", why.lines().next().unwrap_or(""))),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The full verdict for this host, the cache first: no usable /dev/kvm; QEMU aborting with
/// `-cpu host`; then a real boot of the guest kernel under KVM.
pub fn verdict(cfg: &VmConfig, cache: &Path) -> Verdict {
    let key = ProbeKey::of(cfg);
    let file = cache_file(cache);
    if let Some(v) = cached(&file, &key) {
        return v;
    }
    let reason = if fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        // Not cached: the device may appear (module loaded, group added) without any key change.
        return Verdict { key, kvm: false, reason: "/dev/kvm cannot be opened for reading and writing".into(),
                         date: now_rfc3339() };
    } else if !host::kvm_works() {
        Err("QEMU aborts at once with -accel kvm -cpu host".to_string())
    } else {
        info!("probing KVM: booting the guest kernel under KVM (at most {} s)", PROBE_LIMITS.total.as_secs());
        let _ = fs::create_dir_all(cache);
        probe_guest(cfg, &cache.join("kvm-probe.console.log"), PROBE_LIMITS)
    };
    let v = match reason {
        Ok(()) => Verdict { key, kvm: true, reason: "the guest kernel booted under KVM and ran a command".into(),
                            date: now_rfc3339() },
        Err(why) => Verdict { key, kvm: false, reason: why, date: now_rfc3339() },
    };
    store(&file, &v);
    v
}

/// Resolve `auto` to what this host can do, with one line saying why.
pub fn resolve_accel(requested: Accel, cfg: &VmConfig, cache: &Path) -> Accel {
    if requested != Accel::Auto {
        return requested;
    }
    let v = verdict(cfg, cache);
    if v.kvm {
        info!("KVM works here ({}, verdict of {}): guests run with hardware virtualization", v.reason, v.date);
        Accel::Kvm
    } else {
        warn!("KVM is not usable here ({}, verdict of {}): using TCG emulation, which is much slower", v.reason, v.date);
        Accel::Tcg
    }
}

/// A run under KVM met a KVM error: remember that for this host, so the next run goes
/// straight to TCG.
pub fn record_failure(cfg: &VmConfig, line: &str) {
    let Some(cache) = &cfg.kvm_cache else { return };
    let v = Verdict { key: ProbeKey::of(cfg), kvm: false, reason: format!("a guest run under KVM failed: {line}"),
                      date: now_rfc3339() };
    store(&cache_file(cache), &v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::host::testing::stand_in;
    use std::time::Instant;

    const QUICK: Limits = Limits { total: Duration::from_secs(20), silence: Duration::from_secs(2) };

    #[test]
    fn the_probe_passes_only_when_the_guest_runs_the_command_under_kvm() {
        // A guest that evaluates the command (as the guest shell would) and exits 0.
        let (cfg, dir) = stand_in("probe-ok", r#"for a; do last=$a; done; sh -c "$last""#);
        assert_eq!(probe_guest(&cfg, &dir.join("c.log"), QUICK), Ok(()));
        let args = std::fs::read_to_string(dir.join("c.log")).unwrap();
        assert!(!args.contains("--disable-kvm"), "the probe must boot under KVM: {args}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_probe_fails_on_a_kvm_error_a_hang_an_echoed_command_or_a_bad_exit() {
        for (name, script, expect) in [
            ("probe-kvm-error", "echo 'KVM internal error. Suberror: 1' >&2; sleep 600", "KVM internal error"),
            ("probe-hang", "echo 'Probing EDD (edd=off to disable)... ok'; sleep 600", "hung: no console output"),
            // The command line echoed (not run) must not count: the marker is computed.
            ("probe-echo", r#"for a; do last=$a; done; echo "cmdline: $last"; exit 0"#, "before the probe command ran"),
            ("probe-rc", r#"for a; do last=$a; done; sh -c "$last"; exit 1"#, "exited 1"),
        ] {
            let (cfg, dir) = stand_in(name, script);
            let t = Instant::now();
            let err = probe_guest(&cfg, &dir.join("c.log"), QUICK).expect_err(name);
            assert!(err.contains(expect), "{name}: {err}");
            assert!(t.elapsed() < Duration::from_secs(10), "{name} took {:?}", t.elapsed());
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn the_cache_answers_only_for_the_same_key_and_a_failed_run_overrides_it() {
        let (mut cfg, dir) = stand_in("cache", "exit 0");
        cfg.kvm_cache = Some(dir.clone());
        let key = ProbeKey { host_kernel: "6.1".into(), qemu: "QEMU 7.2".into(), guest_image: "/k".into(), guest_image_bytes: 1 };
        let file = cache_file(&dir);
        assert_eq!(cached(&file, &key), None);
        let v = Verdict { key: key.clone(), kvm: true, reason: "booted".into(), date: "d".into() };
        store(&file, &v);
        assert_eq!(cached(&file, &key), Some(v));
        let other = ProbeKey { qemu: "QEMU 10.0".into(), ..key.clone() };
        assert_eq!(cached(&file, &other), None, "a new QEMU must be probed again");
        // A run that meets a KVM error stores a negative verdict under this host's real key.
        record_failure(&cfg, "KVM internal error. Suberror: 1");
        let real = ProbeKey::of(&cfg);
        let after = cached(&file, &real).expect("recorded");
        assert!(!after.kvm && after.reason.contains("KVM internal error"), "{after:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
