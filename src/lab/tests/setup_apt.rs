//! vm/setup.sh must never remove or downgrade a package of the user's. These tests run the real
//! script against stand-ins for apt-get, apt-cache and dpkg-query that play a host whose
//! installed qemu-utils came from bookworm-backports (the case that once lost a user's package),
//! and read the apt command lines it ran.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fake host: every package installed but qemu-system-x86 and udev. `conflict` is what a dry
/// run of the install prints: "always" a removal of qemu-utils, "plain" only when it installs
/// qemu-system-x86 without bookworm-backports, "none" never; "deps" plays the host of
/// 2026-12-01: apt fails (exit 100) — qemu-utils breaks bookworm's QEMU, and
/// qemu-system-x86/bookworm-backports alone lacks qemu-system-common and seabios from there —
/// unless those come from bookworm-backports too; "broken" fails whatever is asked. With
/// `backports_listed` false, the host's sources no longer list bookworm-backports (apt knows the
/// installed qemu-utils only from dpkg's status).
/// Returns (exit ok, stderr, apt-get calls).
fn run_setup(name: &str, conflict: &str) -> (bool, String, Vec<String>) {
    run_setup_with(name, conflict, true)
}

fn run_setup_with(name: &str, conflict: &str, backports_listed: bool) -> (bool, String, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("mimic-setup-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let bin = dir.join("bin");
    fs::create_dir_all(bin.join("../cache/venv/bin")).unwrap();
    let calls = dir.join("apt-calls");
    script(&bin, "dpkg-query", r#"case "$*" in *qemu-system-x86*|*udev*) exit 1;; *Version*) printf '1:10.0.2+ds-2+deb13u1~bpo12+1';; *) printf 'install ok installed';; esac"#);
    let listed = if backports_listed { "        100 http://deb.debian.org/debian bookworm-backports/main amd64 Packages\n" } else { "" };
    script(&bin, "apt-cache", &format!(r#"[ "$1 $2" = "policy qemu-utils" ] || exit 0
printf 'qemu-utils:\n  Installed: 1:10.0.2+ds-2+deb13u1~bpo12+1\n  Candidate: 1:10.0.2+ds-2+deb13u1~bpo12+1\n  Version table:\n *** 1:10.0.2+ds-2+deb13u1~bpo12+1 100\n{listed}        100 /var/lib/dpkg/status\n     1:7.2+dfsg-7+deb12u18+b3 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n'"#));
    script(&bin, "apt-get", &format!(r#"echo "$*" >> {calls}
case "$*" in
  "-s "*|*" -s "*)
    if [ {conflict} = always ] || {{ [ {conflict} = plain ] && echo "$*" | grep -q qemu-system-x86 && ! echo "$*" | grep -qE '(/| )bookworm-backports( |$)'; }}; then
      echo "Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]"
    fi
    if {{ [ {conflict} = deps ] || [ {conflict} = broken ]; }} && echo "$*" | grep -q qemu-system-x86; then
      if [ {conflict} = broken ] || ! echo "$*" | grep -q bookworm-backports; then
        printf 'The following packages have unmet dependencies:\n qemu-utils : Breaks: qemu-system-common (< 1:8.0+dfsg-5~) but 1:7.2+dfsg-7+deb12u18+b3 is to be installed\nE: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n'
        exit 100
      fi
      if ! echo "$*" | grep -q ' -t ' && ! {{ echo "$*" | grep -q qemu-system-common/bookworm-backports && echo "$*" | grep -q seabios/bookworm-backports; }}; then
        printf 'The following packages have unmet dependencies:\n qemu-system-x86 : Depends: qemu-system-common (= 1:10.0.2+ds-2+deb13u1~bpo12+1) but it is not going to be installed\n                   Depends: seabios (> 1.16.3-1~) but 1.16.2-1 is to be installed\nE: Unable to correct problems, you have held broken packages.\n'
        exit 100
      fi
    fi
    echo "Inst qemu-system-x86 (1:7.2+dfsg-7+deb12u18+b3 Debian:12.12/stable [amd64])";;
esac
exit 0"#, calls = calls.display()));
    script(&bin, "apt-mark", &format!(r#"echo "apt-mark $*" >> {calls}"#, calls = calls.display()));
    script(&bin.join("../cache/venv/bin"), "vng", "echo virtme-ng 1.42");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(repo.join("vm/setup.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("MIMIC_CACHE", dir.join("cache"))
        .env("DEBIAN_KEYRING", bin.join("dpkg-query"))   // any file: only its existence is checked
        .output()
        .unwrap();
    let calls = fs::read_to_string(&calls).unwrap_or_default().lines().map(String::from).collect();
    let _ = fs::remove_dir_all(&dir);
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), calls)
}

/// The script failed and installed nothing.
fn assert_stopped_before_installing(ok: bool, calls: &[String]) {
    assert!(!ok, "must fail: {calls:?}");
    assert!(installs(calls).is_empty(), "nothing may be installed: {calls:?}");
}

/// The real (not dry-run) install commands among the calls.
fn installs(calls: &[String]) -> Vec<&String> {
    calls.iter().filter(|c| c.contains("install") && !c.split(' ').any(|w| w == "-s")).collect()
}

#[test]
fn a_conflict_is_solved_from_the_suite_of_the_threatened_package_and_nothing_is_removed() {
    let (ok, err, calls) = run_setup("plain", "plain");
    assert!(ok, "{err}");
    let real = installs(&calls);
    assert_eq!(real.len(), 1, "{calls:?}");
    assert!(real[0].contains("--no-remove") && real[0].contains("qemu-system-x86/bookworm-backports"), "{}", real[0]);
    assert!(real[0].ends_with(" udev") || real[0].contains(" udev "), "udev stays on the host's release: {}", real[0]);
    assert!(!real[0].contains(" -t "), "not every package from backports: {}", real[0]);
    assert!(err.contains("would remove qemu-utils"), "says why it picks the suite: {err}");
}

#[test]
fn an_unsolvable_conflict_stops_before_installing_and_names_the_package() {
    let (ok, err, calls) = run_setup("always", "always");
    assert_stopped_before_installing(ok, &calls);
    assert!(err.contains("would remove your package(s) qemu-utils") && err.contains("nothing was changed")
            && err.contains("apt-get install -t"), "{err}");
}

#[test]
fn without_a_conflict_the_install_still_refuses_removals() {
    let (ok, err, calls) = run_setup("none", "none");
    assert!(ok, "{err}");
    let real = installs(&calls);
    assert_eq!(real.len(), 1, "{calls:?}");
    assert!(real[0].contains("--no-remove") && !real[0].contains(" -t "), "{}", real[0]);
    assert!(!real[0].contains("allow-downgrades"), "{}", real[0]);
}

#[test]
fn a_threatened_package_from_a_suite_the_host_no_longer_lists_gets_it_through_private_lists() {
    let (ok, err, calls) = run_setup_with("unlisted", "plain", false);
    assert!(ok, "{err}");
    let update = calls.iter().find(|c| c.contains("update") && c.contains("Dir::Etc::SourceParts="))
        .unwrap_or_else(|| panic!("no private update: {calls:?}"));
    assert!(update.contains("Dir::State::Lists=") && update.contains("apt-host-bookworm-backports"), "{update}");
    let real = installs(&calls);
    assert_eq!(real.len(), 1, "{calls:?}");
    assert!(real[0].contains("--no-remove") && real[0].contains("qemu-system-x86/bookworm-backports")
            && real[0].contains("Dir::Etc::SourceParts=") && !real[0].contains("udev/"), "{}", real[0]);
    assert!(err.contains("offering bookworm-backports beside the host's sources"), "{err}");
}

#[test]
fn an_unlisted_suite_that_does_not_solve_the_conflict_still_stops_before_installing() {
    let (ok, err, calls) = run_setup_with("unlisted-always", "always", false);
    assert_stopped_before_installing(ok, &calls);
    assert!(err.contains("would remove your package(s) qemu-utils"), "{err}");
}

#[test]
fn dependencies_apt_needs_from_the_suite_come_from_it_too_and_stay_marked_automatic() {
    for listed in [true, false] {
        let (ok, err, calls) = run_setup_with(&format!("deps-{listed}"), "deps", listed);
        assert!(ok, "{err}");
        let real = installs(&calls);
        assert_eq!(real.len(), 1, "{calls:?}");
        for p in ["qemu-system-x86/bookworm-backports", "qemu-system-common/bookworm-backports", "seabios/bookworm-backports"] {
            assert!(real[0].contains(p), "{p} missing: {}", real[0]);
        }
        assert!(real[0].contains("--no-remove") && !real[0].contains(" -t ") && !real[0].contains("udev/"), "{}", real[0]);
        let mark = calls.iter().find(|c| c.starts_with("apt-mark")).unwrap_or_else(|| panic!("no apt-mark: {calls:?}"));
        assert_eq!(mark, "apt-mark auto qemu-system-common seabios");
        assert!(err.contains("from Debian's suite is blocked by qemu-utils (installed from bookworm-backports)"), "says why it picks the suite: {err}");
    }
}

#[test]
fn an_install_apt_cannot_resolve_stops_with_apts_reason_before_installing() {
    let (ok, err, calls) = run_setup("broken", "broken");
    assert_stopped_before_installing(ok, &calls);
    assert!(err.contains("apt cannot install") && err.contains("(in the way: qemu-utils)")
            && err.contains("E: Error, pkgProblemResolver::Resolve generated breaks") && err.contains("nothing was changed"), "{err}");
}
