//! How the scheduler process itself behaves towards signals, its own threads and restarts.
//!
//! Three facts of scx_rustland_core shape this (all found by `make vm-test-faults`):
//! * Attaching installs a seccomp filter that makes anonymous mmap fail with EPERM, for good
//!   (filters survive fork and exec). Attaching a second time needs mmap (libbpf maps the BPF
//!   object's data sections), so the in-process restart loop of the upstream scx schedulers
//!   fails here with "Failed to open BPF program: Operation not permitted". So `supervise`
//!   runs each attach in a child process forked from a parent that never attaches; when the
//!   kernel asks for a restart the child exits with `EXIT_RESTART` and the parent forks a
//!   fresh one. The parent forwards SIGINT/SIGTERM to the child, and the child dies with the
//!   parent (PR_SET_PDEATHSIG), so `kill -9` of the parent still detaches at once.
//! * `BpfScheduler::init` installs a Ctrl-C handler (the ctrlc crate: a signal handler plus a
//!   helper thread) only once per process, bound to the *first* scheduler instance. After a
//!   restart (`should_restart`) SIGINT would set a flag nobody reads any more, and the scheduler
//!   would ignore Ctrl-C. So we install our own SIGINT/SIGTERM handler after every init: it only
//!   sets a process-wide flag that the main loop reads.
//! * The ctrlc helper thread is an ordinary task, so sched_ext hands it to *us* to schedule.
//!   When the process is killed with SIGKILL, that thread must run once more to die, but its
//!   scheduler is the dying main thread: the process cannot finish exiting, its BPF link stays
//!   open, and the kernel keeps our BPF scheduler until the watchdog ejects it for a stall
//!   (seen: 4.2 s, with "runnable task stall"). Putting the helper thread in SCHED_FIFO keeps it
//!   outside sched_ext (which only takes fair-class tasks): a killed scheduler then exits at
//!   once and the kernel is back on EEVDF in milliseconds. The thread sleeps in read(2) for
//!   its whole life, so a real-time policy costs nothing.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use anyhow::{bail, Result};
use log::{debug, info, warn};

/// The exit code of a child that the kernel asked to restart (EX_TEMPFAIL).
pub const EXIT_RESTART: i32 = 75;

static STOP: AtomicBool = AtomicBool::new(false);
/// The supervising parent's pid, and the child it runs now (0: none).
static PARENT: AtomicI32 = AtomicI32::new(0);
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop_signal(sig: libc::c_int) {
    // Only atomics, getpid and kill: all async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
    // In the parent, pass the signal on to the scheduler process.
    // SAFETY: getpid/kill have no memory-safety preconditions.
    unsafe {
        if libc::getpid() == PARENT.load(Ordering::Relaxed) {
            let child = CHILD.load(Ordering::Relaxed);
            if child > 0 {
                libc::kill(child, sig);
            }
        }
    }
}

/// Run `attach_once(restarts)` in a child process, again in a fresh child as long as it exits
/// with `EXIT_RESTART`; return the last child's exit code. Call before anything starts threads.
pub fn supervise(mut attach_once: impl FnMut(u32) -> i32) -> Result<i32> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    PARENT.store(parent, Ordering::Relaxed);
    install_stop_signals();
    let mut restarts = 0;
    loop {
        // SAFETY: the process is single-threaded here (no attach has happened in it).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork failed: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            // The child: die with the parent, then attach.
            // SAFETY: prctl/getppid/_exit have no memory-safety preconditions.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            let code = attach_once(restarts);
            std::process::exit(code);
        }
        CHILD.store(pid, Ordering::Relaxed);
        if stop_requested() {
            // A signal that came before CHILD was set.
            // SAFETY: kill on our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                bail!("waiting for the scheduler process {pid}: {err}");
            }
        }
        CHILD.store(0, Ordering::Relaxed);
        if libc::WIFSIGNALED(status) {
            bail!("the scheduler process {pid} was killed by signal {}", libc::WTERMSIG(status));
        }
        let code = libc::WEXITSTATUS(status);
        if code == EXIT_RESTART {
            if stop_requested() {
                return Ok(0);
            }
            restarts += 1;
            info!("kernel asked for a restart ({restarts}): attaching again from a fresh process");
            continue;
        }
        return Ok(code);
    }
}

/// Route SIGINT and SIGTERM to `stop_requested()` (replacing the ctrlc crate's handler).
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid; the handler
        // only stores to an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                warn!("cannot install the handler for signal {sig}: {}", std::io::Error::last_os_error());
            }
        }
    }
}

/// Whether SIGINT or SIGTERM has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Move every thread of this process except the main one (the one sched_ext knows as the user
/// scheduler) to SCHED_FIFO priority 1, so that none of them waits on us to be scheduled.
pub fn helper_threads_off_sched_ext() {
    // SAFETY: getpid has no preconditions.
    let main = unsafe { libc::getpid() };
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        warn!("cannot list /proc/self/task: helper threads stay on sched_ext");
        return;
    };
    for tid in rd.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok())) {
        if tid == main {
            continue;
        }
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: sched_setscheduler on a thread id of our own process with a valid param.
        if unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param) } == 0 {
            debug!("helper thread {tid} moved to SCHED_FIFO");
        } else {
            warn!("cannot move helper thread {tid} to SCHED_FIFO ({}): a kill -9 may leave the \
                   kernel waiting for the watchdog", std::io::Error::last_os_error());
        }
    }
}
