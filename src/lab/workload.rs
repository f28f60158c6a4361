//! Workload mixes: small TOML files in vm/workloads/ that say what runs while we trace.
//!
//! ```toml
//! description = "what this mix is for"
//! [[phase]]
//! name = "cpu-bound"
//! seconds = 10
//! commands = ["stress-ng --cpu {cpus} -t {seconds}s --temp-path /tmp"]
//! ```
//! Phases run one after the other; the commands of a phase run together, each restarted if it
//! ends before the phase does, and all are stopped when the phase ends — each command with
//! everything it started (its own process group): a compiler or compressor still running when
//! its loop is stopped would otherwise go on into the next phase and past the end of a trace.
//! Placeholders: `{seconds}`
//! (the phase length), `{cpus}` (online CPUs), `{perf}` (the perf binary: Debian installs it as
//! perf_<version>).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use log::info;

use crate::child;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    pub description: String,
    #[serde(rename = "phase")]
    pub phases: Vec<Phase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub seconds: u64,
    pub commands: Vec<String>,
}

impl Mix {
    pub fn load(path: &Path) -> Result<Mix> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read workload {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("workload {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Mix> {
        let mix: Mix = toml::from_str(text)?;
        if mix.phases.is_empty() {
            bail!("no [[phase]] entries");
        }
        for p in &mix.phases {
            if p.seconds == 0 || p.commands.is_empty() {
                bail!("phase '{}': needs seconds > 0 and at least one command", p.name);
            }
        }
        Ok(mix)
    }

    pub fn total_seconds(&self) -> u64 {
        self.phases.iter().map(|p| p.seconds).sum()
    }
}

/// Find the workload file for a name (`vm/workloads/NAME.toml`) or a path.
pub fn resolve(name_or_path: &str, dir: &Path) -> Result<std::path::PathBuf> {
    let p = Path::new(name_or_path);
    if p.exists() {
        return Ok(p.to_path_buf());
    }
    let named = dir.join(format!("{name_or_path}.toml"));
    if named.exists() {
        return Ok(named);
    }
    let known: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    bail!("unknown workload '{name_or_path}': no such file, and no {} (known: {})", named.display(),
          if known.is_empty() { "none".into() } else { known.join(", ") })
}

pub fn perf_binary() -> String {
    let mut found: Vec<_> = std::fs::read_dir("/usr/bin")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("perf_")).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().map(|n| format!("/usr/bin/{n}")).unwrap_or_else(|| "perf".into())
}

pub fn expand(cmd: &str, seconds: u64) -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    cmd.replace("{seconds}", &seconds.to_string()).replace("{cpus}", &cpus.to_string()).replace("{perf}", &perf_binary())
}

/// Start a command in a process group of its own, so that stopping it stops what it started.
fn spawn(cmd: &str) -> Result<Child> {
    Command::new("sh").args(["-c", &format!("exec {cmd}")]).stdin(Stdio::null()).stdout(Stdio::null())
        .process_group(0).spawn()
        .with_context(|| format!("cannot start: {cmd}"))
}

/// How long a stopped command's group has to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Stop each command and everything it started: SIGTERM to its group, then SIGKILL to what is
/// left after the grace time (a shell loop's current compiler ignores nothing, but a child that
/// traps SIGTERM must not outlive its phase).
pub fn stop(children: &mut Vec<Child>) {
    child::stop_groups(children, STOP_GRACE);
    children.clear();
}

/// Mark the start of phase `k` for a tracer: a thread named `mimic-phase-K` that exits at once.
/// The tracer records its exit with the thread's name, on the same clock as every scheduling
/// event (see `scx_mimic::replay::phase_marker`) — no clock to translate.
pub fn mark_phase(k: u32) {
    let name = format!("{}{k}", scx_mimic::replay::PHASE_MARKER);
    match std::thread::Builder::new().name(name).spawn(|| ()) {
        Ok(h) => {
            let _ = h.join();
        }
        Err(e) => log::warn!("cannot mark phase {k} for the tracer: {e}"),
    }
}

/// Set when the mix must stop early (SIGINT/SIGTERM to `mimic workload`; see [`stop_on_signal`]).
static STOP: AtomicBool = AtomicBool::new(false);

/// Stop the mix — the running phase's commands and everything they started — on SIGINT or
/// SIGTERM, instead of dying and leaving them running.
pub fn stop_on_signal() -> Result<()> {
    ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed)).context("cannot install the SIGINT/SIGTERM handler")
}

/// Run the whole mix. Returns how many command runs failed (non-zero exit before being stopped).
pub fn run(mix: &Mix) -> Result<u32> {
    let mut failures = 0;
    for (k, p) in mix.phases.iter().enumerate() {
        if STOP.load(Ordering::Relaxed) {
            info!("stopped before phase {}", p.name);
            break;
        }
        info!("phase {} ({} s): {}", p.name, p.seconds, p.commands.join(" | "));
        mark_phase(k as u32 + 1);
        let cmds: Vec<String> = p.commands.iter().map(|c| expand(c, p.seconds)).collect();
        let end = Instant::now() + Duration::from_secs(p.seconds);
        let mut children: Vec<Child> = cmds.iter().map(|c| spawn(c)).collect::<Result<_>>()?;
        while Instant::now() < end && !STOP.load(Ordering::Relaxed) {
            for (i, c) in children.iter_mut().enumerate() {
                if let Ok(Some(st)) = c.try_wait() {
                    if !st.success() {
                        failures += 1;
                        log::warn!("phase {}: '{}' exited with {st}", p.name, cmds[i]);
                    }
                    // Ended early (a short benchmark): run it again until the phase is over.
                    *c = spawn(&cmds[i])?;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        stop(&mut children);
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_a_phase_stops_what_its_commands_started() {
        // A command whose shell loop starts a long job, as the compile and compress phases do:
        // when the phase ends, the job must end with it.
        let dir = std::env::temp_dir().join(format!("mimic-workload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("job.pid");
        let m = Mix::parse(&format!(
            "description = \"d\"\n[[phase]]\nname = \"a\"\nseconds = 1\ncommands = [\"sh -c 'sleep 60 & echo $! > {}; wait'\"]\n",
            pidfile.display())).unwrap();
        let t = Instant::now();
        assert_eq!(run(&m).unwrap(), 0);
        assert!(t.elapsed() < Duration::from_secs(10), "the phase took {:?}", t.elapsed());
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        // Gone, or a zombie waiting for init to reap it: not running either way.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
            .and_then(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()).map(str::to_string));
        assert!(matches!(state.as_deref(), None | Some("Z") | Some("X")), "the job {pid} still runs: {state:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_and_rejects() {
        let m = Mix::parse("description = \"d\"\n[[phase]]\nname = \"a\"\nseconds = 2\ncommands = [\"true\"]\n").unwrap();
        assert_eq!(m.total_seconds(), 2);
        let e = format!("{:#}", Mix::parse("description = \"d\"\n[[phase]]\nname = \"a\"\nsecs = 2\ncommands = []\n").unwrap_err());
        assert!(e.contains("secs"), "{e}");
        assert!(Mix::parse("description = \"d\"\n").is_err());
        assert_eq!(expand("x -t {seconds}s", 7), "x -t 7s");
    }

    #[test]
    fn shipped_workloads_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vm/workloads");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                Mix::load(&p).unwrap();
                n += 1;
            }
        }
        assert!(n >= 1, "no workloads in {}", dir.display());
        let err = resolve("no-such-mix", &dir).unwrap_err().to_string();
        assert!(err.contains("unknown workload 'no-such-mix'"), "{err}");
    }

    #[test]
    fn short_commands_are_restarted_until_the_phase_ends() {
        let m = Mix::parse("description = \"d\"\n[[phase]]\nname = \"a\"\nseconds = 1\ncommands = [\"true\", \"false\"]\n").unwrap();
        let failures = run(&m).unwrap();
        assert!(failures >= 3, "`false` should have run (and failed) many times, got {failures}");
    }
}
