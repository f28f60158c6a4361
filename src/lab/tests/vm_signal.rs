//! A stop signal to `mimic vm-run` must not leave QEMU behind. vng runs in its own process group
//! (so the watchdog can kill it and its QEMU together), which also means a Ctrl-C or a SIGTERM
//! to mimic does not reach it by itself. Stand-in vng: it forks a "QEMU" that sleeps, records its
//! pid, and keeps the console busy.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); read its state instead.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
}

#[test]
fn sigterm_to_vm_run_stops_the_guest_and_its_qemu() {
    let dir = std::env::temp_dir().join(format!("mimic-vm-signal-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let vng = dir.join("vng");
    fs::write(&vng, format!("#!/bin/sh\nsleep 600 & echo $! > {}/qemu.pid\nwhile :; do echo booting; sleep 0.2; done\n", dir.display())).unwrap();
    fs::set_permissions(&vng, fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["vmlinuz", "config"] {
        fs::write(dir.join(f), "x").unwrap();
    }
    let env = dir.join("kernel.env");
    fs::write(&env, format!("KERNEL_IMAGE={0}/vmlinuz\nKERNEL_RELEASE=7.3.4+deb13-amd64\nKERNEL_PKG_VERSION=7.3.4-1\n\
                             KERNEL_CONFIG={0}/config\nKERNEL_SOURCE=test\n", dir.display())).unwrap();
    let mut mimic = Command::new(env!("CARGO_BIN_EXE_mimic"))
        .args(["vm-run", "--kernel-env"]).arg(&env).args(["--time-limit", "120", "--", "true"])
        .env("VNG", &vng)
        .env("VM_ACCEL", "tcg")
        .env("MIMIC_CACHE", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.join("qemu.pid");
    let t = Instant::now();
    while !pid_file.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let qemu: i32 = fs::read_to_string(&pid_file).expect("the stand-in vng never started").trim().parse().unwrap();
    assert!(alive(qemu));
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(mimic.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    let status = loop {
        if let Some(st) = mimic.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "mimic vm-run did not exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "an interrupted run must not report success");
    let t = Instant::now();
    while alive(qemu) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = alive(qemu);
    if left {
        unsafe { libc::kill(qemu, libc::SIGKILL) };
    }
    let _ = fs::remove_dir_all(&dir);
    assert!(!left, "the guest's QEMU (pid {qemu}) outlived mimic vm-run");
}
