//! Child processes with deadlines: every external process the lab starts is waited for with a
//! limit, and killed (and reaped) when it overstays.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Wait at most `limit` for `child` to exit; None if it is still running (or cannot be waited for).
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let t = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if t.elapsed() < limit => sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Kill a child and collect it (no zombie left behind); errors mean it is already gone.
pub fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Send `sig` to the child itself.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Send `sig` to the process group the child leads (it was started with `process_group(0)`):
/// the child and everything it started.
pub fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals the group we created for this child.
    unsafe { libc::kill(-(child.id() as i32), sig) };
}

/// Kill the child's whole process group and reap the child.
pub fn kill_group(child: &mut Child) {
    signal_group(child, libc::SIGKILL);
    kill_and_reap(child);
}

/// Stop children that each lead a process group, and everything they started: SIGTERM to every
/// group, then, once each leader has exited or `grace` has passed, SIGKILL to what is left of
/// its group (the leader may be gone while others in its group are not). Returns each leader's
/// exit status (None: it had to be killed).
pub fn stop_groups(children: &mut [Child], grace: Duration) -> Vec<Option<ExitStatus>> {
    for c in children.iter() {
        signal_group(c, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    children.iter_mut().map(|c| {
        let st = wait_timeout(c, deadline.saturating_duration_since(Instant::now()));
        kill_group(c);
        st
    }).collect()
}

/// Run `cmd` with stdout and stderr captured (each read on its own thread, so a chatty child
/// cannot block on a full pipe), for at most `limit`; a child still running then is killed.
/// Returns its exit status (None: killed at the limit) and its stdout followed by its stderr.
pub fn run_output(mut cmd: Command, limit: Duration) -> std::io::Result<(Option<ExitStatus>, String)> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || { let mut s = String::new(); let _ = out.read_to_string(&mut s); s });
    let t_err = std::thread::spawn(move || { let mut s = String::new(); let _ = err.read_to_string(&mut s); s });
    let st = wait_timeout(&mut child, limit);
    if st.is_none() {
        kill_and_reap(&mut child);
    }
    Ok((st, format!("{}{}", t_out.join().unwrap_or_default(), t_err.join().unwrap_or_default())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_past_its_limit_is_killed_and_one_in_time_is_read() {
        let t = Instant::now();
        let (st, _) = run_output({ let mut c = Command::new("sleep"); c.arg("30"); c }, Duration::from_millis(300)).unwrap();
        assert!(st.is_none() && t.elapsed() < Duration::from_secs(5), "{st:?} after {:?}", t.elapsed());
        let (st, out) = run_output({ let mut c = Command::new("sh"); c.args(["-c", "echo out; echo err >&2; exit 3"]); c },
                                   Duration::from_secs(10)).unwrap();
        assert_eq!((st.and_then(|s| s.code()), out.as_str()), (Some(3), "out\nerr\n"));
    }
}
