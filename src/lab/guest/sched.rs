//! The scheduler under test, as a process in the guest — one implementation for the gate, the
//! fault checks and the benchmarks: start it in a process group of its own (its supervisor and
//! the process that schedules), its output in a log file and its final report in a JSON file;
//! wait until sched_ext says it is in charge; stop it with SIGINT and collect its exit code;
//! kill the whole group when it overstays. Dropping a running one kills it.
//!
//! The scheduler writes its output to a file in the guest's own /tmp (memory), copied to the
//! results folder once it has exited: never to the results folder itself while it schedules.
//! That folder is the host's, over 9p, and a write there can wait for the network filesystem's
//! collection work, which an unbound kernel worker runs — a task the scheduler itself must
//! dispatch. The scheduler then waits for itself until the watchdog ejects it ("watchdog failed
//! to check in", no decision made): seen twice right after attaching, when it logs its first
//! line, on a slow host.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use log::info;

use super::system::{scx_state, wait_for};
use crate::child::{kill_group, signal_group, wait_timeout};

pub struct SchedProcess {
    child: Child,
    /// Where its stdout and stderr end up (copied there once it has exited).
    pub log: PathBuf,
    /// Where it writes them while it runs: the guest's own /tmp.
    local_log: PathBuf,
    /// Its `--report` file, if it was given one.
    pub report: Option<PathBuf>,
    /// Its exit code once collected (None inside: killed by a signal).
    exited: Option<Option<i32>>,
    killed: bool,
}

impl SchedProcess {
    /// Start `argv` (a scheduler, or a wrapper such as `timeout` around one); `report` is the
    /// file its `--report` writes, removed first so that an old one is never read.
    pub fn start(argv: &[String], log: &Path, report: Option<&Path>) -> Result<SchedProcess> {
        anyhow::ensure!(!argv.is_empty(), "no scheduler command");
        if let Some(r) = report {
            let _ = fs::remove_file(r);
        }
        let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sched.log".into());
        let local_log = std::env::temp_dir().join(format!("mimic-{}-{name}", std::process::id()));
        let f = fs::File::create(&local_log).with_context(|| format!("creating {}", local_log.display()))?;
        let mut cmd = Command::new(&argv[0]);
        // It is stopped with SIGINT: it must not inherit an ignored SIGINT (a lab started in the
        // background by a non-interactive shell has one, and a shell cannot trap it then).
        // SAFETY: signal(2) is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        let child = cmd
            .args(&argv[1..])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .with_context(|| format!("starting {}", argv[0]))?;
        info!("started {} (pid {}), log {}", argv.join(" "), child.id(), log.display());
        Ok(SchedProcess { child, log: log.to_path_buf(), local_log, report: report.map(Path::to_path_buf), exited: None, killed: false })
    }

    /// Wait until sched_ext reads "enabled": how long it took. An error says why not — the
    /// process exited first (with its code), or `limit` passed (it is then killed).
    pub fn wait_attached(&mut self, limit: Duration) -> Result<Duration, String> {
        if let Some(d) = self.wait_attached_or_exit(limit) {
            return Ok(d);
        }
        match self.exited {
            Some(code) => Err(format!("the scheduler exited with {code:?} before attaching (log: {})", self.log.display())),
            None => {
                self.kill();
                Err(format!("the scheduler did not attach within {} s (log: {})", limit.as_secs(), self.log.display()))
            }
        }
    }

    /// Wait until sched_ext reads "enabled" (how long it took) or the process exits (None),
    /// for at most `limit` (None), leaving it running either way.
    pub fn wait_attached_or_exit(&mut self, limit: Duration) -> Option<Duration> {
        wait_for(limit, || scx_state() == "enabled" || self.poll_exit().is_some()).filter(|_| self.exited.is_none())
    }

    /// Its exit code if it has exited (Some(None): killed by a signal); does not wait.
    pub fn poll_exit(&mut self) -> Option<Option<i32>> {
        if self.exited.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st.code());
                self.save_log();
            }
        }
        self.exited
    }

    /// Copy the output to `log` (through a temp file and a rename): once it has exited.
    fn save_log(&self) {
        let text = fs::read(&self.local_log).unwrap_or_default();
        if let Err(e) = crate::util::write_atomic(&self.log, &text) {
            log::warn!("cannot save the scheduler's output to {}: {e}", self.log.display());
        }
    }

    /// Wait up to `limit` for it to exit by itself; kill it if it does not. Its exit code (None:
    /// killed).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        if self.exited.is_none() {
            match wait_timeout(&mut self.child, limit) {
                Some(st) => {
                    self.exited = Some(st.code());
                    self.save_log();
                }
                None => self.kill(),
            }
        }
        self.exited.flatten()
    }

    /// SIGINT to its group (the supervisor forwards it), then as `wait_exit`.
    pub fn stop(&mut self, limit: Duration) -> Option<i32> {
        if self.poll_exit().is_none() {
            self.signal_group(libc::SIGINT);
        }
        self.wait_exit(limit)
    }

    /// A signal to the process it started only (e.g. SIGKILL to the supervisor: the scheduling
    /// child must die with it).
    pub fn signal(&self, sig: i32) {
        if self.exited.is_none() {
            crate::child::signal(&self.child, sig);
        }
    }

    /// A signal to its whole group (e.g. SIGSTOP to freeze the supervisor and the scheduler).
    pub fn signal_group(&self, sig: i32) {
        if self.exited.is_none() {
            signal_group(&self.child, sig);
        }
    }

    /// Kill the group and reap it.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            kill_group(&mut self.child);
            self.exited = Some(None);
            self.killed = true;
            self.save_log();
        }
    }

    /// Whether we had to kill it (it did not exit when asked or in time).
    pub fn was_killed(&self) -> bool {
        self.killed
    }

    /// Its output so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.local_log).unwrap_or_default()
    }

    /// Its final report (`--report`), if it wrote a readable one.
    pub fn report_json(&self) -> Option<serde_json::Value> {
        let path = self.report.as_ref()?;
        match fs::read(path).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                log::warn!("{}: {e}", path.display());
                None
            }
            Err(_) => None,
        }
    }
}

impl Drop for SchedProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_file(&self.local_log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn stop_collects_the_exit_code_and_an_overstaying_group_is_killed() {
        let dir = std::env::temp_dir().join(format!("mimic-sched-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // Exits 0 on SIGINT, as scx_mimic does.
        let mut p = SchedProcess::start(&sh("trap 'exit 0' INT; echo up; while :; do sleep 0.05; done"), &dir.join("a.log"), None).unwrap();
        // Its trap is set once it says "up" (a SIGINT before that would kill the shell: on a
        // loaded machine the shell can take longer than any fixed sleep to get there).
        assert!(wait_for(Duration::from_secs(30), || p.log_text().contains("up")).is_some(), "the shell never started");
        assert!(!dir.join("a.log").exists(), "nothing is written to the results folder while it runs");
        assert_eq!(p.stop(Duration::from_secs(5)), Some(0));
        assert!(p.log_text().contains("up"));
        assert_eq!(fs::read_to_string(dir.join("a.log")).unwrap(), "up\n", "saved once it exited");
        // Ignores SIGINT, and has a child of its own: both are killed at the limit.
        let mut q = SchedProcess::start(&sh("trap '' INT; sleep 600 & wait"), &dir.join("b.log"), None).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        assert_eq!(q.stop(Duration::from_millis(500)), None, "killed, no exit code");
        assert!(t.elapsed() < Duration::from_secs(5));
        // A process that exits at once is reported as such by wait_attached (there is no
        // sched_ext on the host: the state file is missing, so only the exit can end the wait).
        let mut r = SchedProcess::start(&sh("exit 2"), &dir.join("c.log"), None).unwrap();
        let e = r.wait_attached(Duration::from_secs(5)).unwrap_err();
        assert!(e.contains("exited with Some(2) before attaching"), "{e}");
        assert!(dir.join("c.log").exists(), "the log the message names is there");
        // Killed at the limit: its output is saved too.
        assert!(dir.join("b.log").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
