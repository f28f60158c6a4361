//! `mimic trace`: record EEVDF's decisions with the BPF tracer (bpf/tracer.bpf.c) while a
//! workload runs, replay them through the feature contract, and write a dataset.
//!
//! Runs inside the guest under the kernel's default scheduler (no scx scheduler loaded). Events
//! go to disk in runs while tracing (`spill`); when it stops (duration reached, workload done, or
//! SIGINT/SIGTERM) they are merged into time order, replayed and written batch by batch, so memory
//! does not grow with the trace: an interrupted trace still writes everything recorded so far.

pub mod cli;
pub mod overhead;
pub mod rederive;
pub mod spill;

mod skel {
    #![allow(clippy::all, dead_code, non_camel_case_types, non_snake_case, non_upper_case_globals, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/tracer_skel.rs"));
}
#[allow(dead_code, non_camel_case_types, non_snake_case, non_upper_case_globals, clippy::all)]
mod intf {
    include!(concat!(env!("OUT_DIR"), "/tracer_intf.rs"));
}

use std::mem::MaybeUninit;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use log::{info, warn};
use serde::Serialize;

use crate::dataset;
use crate::util::{now_rfc3339, write_atomic};
use scx_mimic::replay::{EventKind, TraceEvent};

pub struct TraceOpts {
    pub out: PathBuf,
    /// Stop after this long (None: when the command ends, or on SIGINT).
    pub duration: Option<Duration>,
    /// Workload command run while tracing (through `sh -c`); tracing stops when it ends.
    pub command: Option<String>,
    /// Free-form description recorded in meta.json.
    pub workload: String,
    pub run_id: String,
    /// Measure the tracer's BPF programs (kernel run-time statistics).
    pub bpf_stats: bool,
    /// The workload mix's phase names, in order (empty for a plain command).
    pub phases: Vec<String>,
}

/// What one of the tracer's BPF programs cost (kernel run-time statistics).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ProgStats {
    pub name: String,
    pub runs: u64,
    pub run_time_ns: u64,
}

#[derive(Debug, Serialize)]
pub struct TraceSummary {
    pub run: String,
    pub date: String,
    pub kernel: String,
    pub cpus: usize,
    pub workload: String,
    pub duration_s: f64,
    pub events: u64,
    /// Every way an event can be lost, counted.
    pub lost: Losses,
    pub migrations: u64,
    /// The rows the replay made (their fields, flat in meta.json).
    #[serde(flatten)]
    pub rows: rederive::RowCounts,
    /// The workload mix's phases, in order (rows carry their index, from 1; 0 = before the mix).
    pub phases: Vec<String>,
    /// The thread-info bits read as "must reschedule" on this kernel.
    pub resched_mask: u64,
    pub stopped_by: String,
    pub workload_exit_code: Option<i32>,
    /// With --bpf-stats: calls and time of each BPF program while tracing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bpf_programs: Vec<ProgStats>,
    /// CPU time this process spent while tracing (draining the rings), s.
    pub consumer_cpu_s: f64,
    /// The most memory this process held (resident), MiB: the events are kept until tracing
    /// stops, so it grows with the trace's length.
    pub peak_rss_mib: f64,
}

/// Events the dataset does not hold, by cause. Any of them makes `mimic trace` fail unless told
/// to accept the loss (`--accept-loss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Losses {
    /// A CPU's ring was full.
    pub ring_full: u64,
    /// Recorded on a CPU beyond the rings (more CPUs than MIMIC_MAX_CPUS, or than were possible
    /// when the tracer started).
    pub cpu_beyond_rings: u64,
    /// `sched_waking` could not get the task's storage: its wakeup lacks where it came from.
    pub no_task_storage: u64,
    /// Reserved in a ring but never published (a program that stopped half-way).
    pub unpublished: u64,
    /// Published but not decodable (an unknown event kind).
    pub malformed: u64,
}

impl Losses {
    /// What was lost, one phrase per non-zero cause (empty: nothing).
    pub fn describe(&self) -> Vec<String> {
        [(self.ring_full, "lost to a full ring"),
         (self.cpu_beyond_rings, "on a CPU beyond the rings"),
         (self.no_task_storage, "wakeups without task storage"),
         (self.unpublished, "reserved but never published"),
         (self.malformed, "malformed")]
            .iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect()
    }
}

/// This process's resource usage so far.
fn own_rusage() -> libc::rusage {
    // SAFETY: getrusage fills the struct it is given (RUSAGE_SELF cannot fail).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru
}

/// Peak resident memory of this process so far, MiB (Linux reports ru_maxrss in KiB).
fn peak_rss_mib() -> f64 {
    own_rusage().ru_maxrss as f64 / 1024.0
}

/// CPU time (user + system) of this process so far, s.
fn own_cpu_s() -> f64 {
    let ru = own_rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Turn on the kernel's BPF run-time statistics for as long as the returned descriptor lives.
fn enable_bpf_stats() -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain bpf(2) command; a non-negative return is a descriptor we now own.
    let fd = unsafe { libbpf_rs::libbpf_sys::bpf_enable_stats(libbpf_rs::libbpf_sys::BPF_STATS_RUN_TIME) };
    if fd < 0 {
        bail!("cannot enable BPF run-time statistics: {}", std::io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: see above.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Calls and run time of each of the tracer's programs so far.
fn prog_stats(skel: &skel::TracerSkel<'_>) -> Vec<ProgStats> {
    use std::os::fd::{AsFd, AsRawFd};
    skel.object().progs().filter_map(|p| {
        let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
        let mut len = std::mem::size_of_val(&info) as u32;
        // SAFETY: info is a zeroed bpf_prog_info and len its size (no arrays requested).
        let rc = unsafe {
            libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(p.as_fd().as_raw_fd(), &mut info, &mut len)
        };
        (rc == 0).then(|| ProgStats { name: p.name().to_string_lossy().into_owned(), runs: info.run_cnt, run_time_ns: info.run_time_ns })
    }).collect()
}

/// Decode one ring record.
fn decode(e: &intf::mimic_event) -> Option<TraceEvent> {
    let kind = match e.kind as u32 {
        intf::mimic_event_kind_MIMIC_EV_STOP => EventKind::Stop,
        intf::mimic_event_kind_MIMIC_EV_WAKEUP => EventKind::Wakeup,
        intf::mimic_event_kind_MIMIC_EV_WAKEUP_NEW => EventKind::WakeupNew,
        intf::mimic_event_kind_MIMIC_EV_EXIT => EventKind::Exit,
        _ => return None,
    };
    let mut comm = [0u8; 16];
    for (d, s) in comm.iter_mut().zip(e.comm.iter()) {
        *d = *s as u8;
    }
    Some(TraceEvent {
        ts_ns: e.ts_ns,
        kind,
        pid: e.pid,
        cpu: e.cpu,
        prev_cpu: e.prev_cpu,
        waker_cpu: e.waker_cpu,
        voluntary: e.voluntary != 0,
        ran_ns: e.ran_ns,
        chosen_idle: e.chosen_idle != 0,
        next_pid: e.next_pid,
        curr_pid: e.curr_pid,
        queued: e.queued != 0,
        resched: e.resched != 0,
        nice: e.static_prio - 120,
        nr_cpus_allowed: e.nr_cpus_allowed,
        comm,
    })
}

/// The thread-info bits that mean "reschedule" (TIF_NEED_RESCHED | TIF_NEED_RESCHED_LAZY) on a
/// kernel release: x86 moved to the generic TIF layout in 6.18 (bits 4 and 5; before: 3 and 4).
pub fn resched_mask(release: &str) -> u64 {
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse::<u32>().unwrap_or(0));
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    if (major, minor) >= (6, 18) { (1 << 4) | (1 << 5) } else { (1 << 3) | (1 << 4) }
}

/// Slots per CPU ring: a power of two, about 32 MiB in all, and at least 8192 per CPU. The
/// consumer looks every 50 ms and drains at a quarter full, so even a minimal ring absorbs over
/// 100k events a second per CPU.
pub fn ring_slots(nr_cpus: u32) -> u32 {
    let budget = (32usize << 20) / std::mem::size_of::<intf::mimic_slot>() / nr_cpus.max(1) as usize;
    let floor_pow2 = if budget == 0 { 1 } else { 1usize << (usize::BITS - 1 - budget.leading_zeros()) };
    floor_pow2.max(8192) as u32
}

/// Decode the drained records and write them to disk as the spill's next run; returns how many
/// were malformed (skipped).
fn spill_run(raw: &mut Vec<intf::mimic_event>, spill: &mut spill::Spill) -> Result<u64> {
    let events: Vec<TraceEvent> = raw.iter().filter_map(decode).collect();
    let bad = (raw.len() - events.len()) as u64;
    raw.clear();
    spill.add_run(&events)?;
    Ok(bad)
}

/// Events in time order. At one timestamp, wakeups come first: a wakeup that preempts tells the
/// CPU's next `__schedule()` to skip its clock update (`rq_clock_skip_update()` in
/// `wakeup_preempt()`), so that switch carries the wakeup's very stamp — and the wakeup, written
/// to the waker's ring, may be read after it. Otherwise the order they were read in is kept.
/// (Measured: with read order alone, a task switched in by the wakeup that placed it looked
/// switched in before it woke, and `avg_burst_us` disagreed on 1.3% of server-r2's decisions.)
pub fn sort_by_time(events: &mut [TraceEvent]) {
    events.sort_by_key(replay_key);
}

/// The replay order's key: time, then wakeups before the rest (a stable sort or merge keeps read
/// order among equal keys; see [`sort_by_time`]).
pub fn replay_key(e: &TraceEvent) -> (u64, u8) {
    (e.ts_ns, u8::from(!matches!(e.kind, EventKind::Wakeup | EventKind::WakeupNew)))
}

/// One CPU ring's counters (struct mimic_ring_head).
struct Head<'a> {
    reserved: &'a AtomicU64,
    consumed: &'a AtomicU64,
    dropped: &'a AtomicU64,
}

/// The tracer's per-CPU rings as mapped into this process (the protocol is in bpf/intf.h).
struct Rings {
    /// The slot array (BPF_F_MMAPABLE map), nr_cpus * ring_slots slots.
    slots: *const intf::mimic_slot,
    len: usize,
    /// The counters, in the tracer's .bss (mapped by libbpf).
    bss: *mut skel::types::bss,
    nr_cpus: u32,
    ring_slots: u32,
    /// The slot array is our mmap (unmapped on drop); false in tests, which bring their own.
    mapped: bool,
}

impl Rings {
    fn map(skel: &mut skel::TracerSkel<'_>, nr_cpus: u32, ring_slots: u32) -> Result<Rings> {
        use std::os::fd::{AsFd, AsRawFd};
        let bss: *mut skel::types::bss = skel.maps.bss_data.as_deref_mut().context("tracer has no .bss")?;
        let len = nr_cpus as usize * ring_slots as usize * std::mem::size_of::<intf::mimic_slot>();
        let fd = skel.maps.slots.as_fd().as_raw_fd();
        // SAFETY: maps the BPF array (created BPF_F_MMAPABLE with exactly these slots) read-only;
        // unmapped in Drop.
        // MAP_POPULATE: the page tables are filled now, not by faults while tracing.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED | libc::MAP_POPULATE, fd, 0)
        };
        if p == libc::MAP_FAILED {
            bail!("cannot map the tracer's rings ({len} bytes): {}", std::io::Error::last_os_error());
        }
        Ok(Rings { slots: p as *const intf::mimic_slot, len, bss, nr_cpus, ring_slots, mapped: true })
    }

    /// CPU `cpu`'s counters, as atomics shared with the BPF programs.
    fn head(&self, cpu: u32) -> Head<'_> {
        // SAFETY: cpu < nr_cpus <= MIMIC_MAX_CPUS, the length of `rings`; .bss stays mapped as
        // long as the skeleton, which outlives self.
        let h = unsafe { std::ptr::addr_of_mut!((*self.bss).rings[cpu as usize]) as *mut intf::mimic_ring_head };
        // SAFETY: field projections of that valid head.
        unsafe {
            Head {
                reserved: Self::counter(std::ptr::addr_of_mut!((*h).reserved)),
                consumed: Self::counter(std::ptr::addr_of_mut!((*h).consumed)),
                dropped: Self::counter(std::ptr::addr_of_mut!((*h).dropped)),
            }
        }
    }

    fn counter<'a>(p: *mut u64) -> &'a AtomicU64 {
        // SAFETY: an aligned u64 in shared mapped memory, written concurrently by BPF programs.
        unsafe { AtomicU64::from_ptr(p) }
    }

    /// Copy out every published event as it is, CPU by CPU, and hand the slots back.
    fn drain(&self, out: &mut Vec<intf::mimic_event>) {
        let mask = self.ring_slots as u64 - 1;
        for cpu in 0..self.nr_cpus {
            let consumed = self.head(cpu).consumed;
            let mut pos = consumed.load(Ordering::Relaxed);
            loop {
                let i = cpu as usize * self.ring_slots as usize + (pos & mask) as usize;
                // SAFETY: i < nr_cpus * ring_slots, the mapped length.
                let slot = unsafe { self.slots.add(i) };
                let seq = Self::counter(unsafe { std::ptr::addr_of!((*slot).seq) as *mut u64 });
                if seq.load(Ordering::Acquire) != pos + 1 {
                    break; // not published yet
                }
                // SAFETY: a published slot is not written again until `consumed` passes it.
                out.push(unsafe { std::ptr::read_volatile(std::ptr::addr_of!((*slot).ev)) });
                pos += 1;
            }
            consumed.store(pos, Ordering::Release);
        }
    }

    /// Unconsumed events in the fullest ring.
    fn fullest(&self) -> u64 {
        (0..self.nr_cpus).map(|cpu| {
            let h = self.head(cpu);
            h.reserved.load(Ordering::Relaxed).saturating_sub(h.consumed.load(Ordering::Relaxed))
        }).max().unwrap_or(0)
    }

    /// (events reserved, events dropped) over all CPUs.
    fn counts(&self) -> (u64, u64) {
        (0..self.nr_cpus).fold((0, 0), |(e, d), cpu| {
            let h = self.head(cpu);
            (e + h.reserved.load(Ordering::Relaxed), d + h.dropped.load(Ordering::Relaxed))
        })
    }

    fn migrations(&self) -> u64 {
        // SAFETY: see head().
        Self::counter(unsafe { std::ptr::addr_of_mut!((*self.bss).nr_migrations) }).load(Ordering::Relaxed)
    }

    /// (events on a CPU beyond the rings, sched_waking without task storage).
    fn lost_in_bpf(&self) -> (u64, u64) {
        // SAFETY: see head().
        unsafe {
            (Self::counter(std::ptr::addr_of_mut!((*self.bss).nr_lost_cpu)).load(Ordering::Relaxed),
             Self::counter(std::ptr::addr_of_mut!((*self.bss).nr_lost_storage)).load(Ordering::Relaxed))
        }
    }
}

impl Drop for Rings {
    fn drop(&mut self) {
        if self.mapped {
            // SAFETY: the mapping made in map().
            unsafe { libc::munmap(self.slots as *mut libc::c_void, self.len) };
        }
    }
}

fn possible_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| s.trim().rsplit(['-', ',']).next().and_then(|n| n.parse::<u32>().ok()))
        .map(|n| n + 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1))
}

pub fn run(opts: &TraceOpts) -> Result<TraceSummary> {
    if std::path::Path::new("/sys/kernel/sched_ext/state").exists() {
        let st = std::fs::read_to_string("/sys/kernel/sched_ext/state").unwrap_or_default();
        if st.trim() != "disabled" {
            bail!("a sched_ext scheduler is loaded (state '{}'): tracing records the default scheduler only", st.trim());
        }
    }
    std::fs::create_dir_all(&opts.out).with_context(|| format!("cannot create {}", opts.out.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed)).context("cannot install the SIGINT handler")?;
    }

    let possible = possible_cpus();
    if possible > intf::MIMIC_MAX_CPUS {
        warn!("{possible} possible CPUs: only the first {} are traced (MIMIC_MAX_CPUS in bpf/intf.h)", intf::MIMIC_MAX_CPUS);
    }
    let nr_cpus = possible.min(intf::MIMIC_MAX_CPUS);
    let ring_slots = ring_slots(nr_cpus);
    let mut open_object = MaybeUninit::uninit();
    let builder = skel::TracerSkelBuilder::default();
    let mut open = builder.open(&mut open_object).context("cannot open the BPF tracer")?;
    let rodata = open.maps.rodata_data.as_deref_mut().context("tracer has no rodata")?;
    rodata.nr_cpus = nr_cpus;
    rodata.self_tgid = std::process::id() as i32;
    rodata.ring_slots = ring_slots;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    // The machine's online CPUs (what the scheduler's counters count; not this process's
    // affinity), as meta.json keeps them for a replay later (rederive, parity).
    let cpus = scx_mimic::cpuset::CpuSet::online().map_err(anyhow::Error::msg)?.len();
    if cpus == 0 {
        bail!("/sys/devices/system/cpu/online: no CPU online");
    }
    rodata.resched_mask = resched_mask(&kernel);
    open.maps.slots.set_max_entries(nr_cpus * ring_slots).context("cannot size the tracer's rings")?;
    let mut skel = open.load().context("cannot load the BPF tracer (kernel without BTF? not root?)")?;
    let rings = Rings::map(&mut skel, nr_cpus, ring_slots)?;
    let stats_fd = if opts.bpf_stats { Some(enable_bpf_stats()?) } else { None };
    skel.attach().context("cannot attach the tracer to the sched tracepoints")?;
    info!("tracer attached ({nr_cpus} CPUs, {ring_slots} slots per CPU ring)");

    // While tracing, the consumer copies the events out and, every RUN_EVENTS of them, decodes
    // them and appends them to disk as a run (spill.rs): memory holds one run, not the trace.
    // Sorting them into time order and the replay through the feature contract run after tracing
    // stops: under emulation the tracer's process competes with the workload for the same CPU
    // time, so work done later is work not done during the measurement.
    let mut raw: Vec<intf::mimic_event> = Vec::with_capacity(spill::RUN_EVENTS);
    let mut spill = spill::Spill::create(&opts.out)?;
    let mut malformed = 0u64;
    let mut spill_failed = None;

    let mut child: Option<Child> = match &opts.command {
        Some(cmd) => Some(
            // In a group of its own: stopping the workload stops everything it started.
            Command::new("sh").args(["-c", cmd]).stdin(Stdio::null()).process_group(0).spawn()
                .with_context(|| format!("cannot start the workload: {cmd}"))?,
        ),
        None => None,
    };
    // The workload is started (it keeps SCHED_OTHER); from here on this process is SCHED_BATCH:
    // waking up to drain the rings must not preempt the workload it is recording.
    let batch = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain sched_setscheduler(2) on this thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &batch) } != 0 {
        warn!("cannot switch the tracer to SCHED_BATCH: {}", std::io::Error::last_os_error());
    }
    let started = Instant::now();
    let cpu_at_start = own_cpu_s();
    let pb = match opts.duration {
        Some(d) => ProgressBar::new(d.as_secs()),
        None => ProgressBar::new_spinner(),
    };
    pb.set_style(ProgressStyle::with_template("{spinner} tracing [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar()));
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = (Instant::now(), 0u64);
    let mut last_drain = Instant::now();
    let mut workload_exit_code = None;
    let stopped_by;
    loop {
        // The BPF side never wakes us. Look every 50 ms (two counters per CPU), but copy events
        // out only when a ring is a quarter full, or every 2 s: each drain takes a CPU from the
        // workload for a while, and a ping-pong workload felt 20 drains a second more than the
        // tracing itself (perf bench sched pipe: +50% with them, +24% without).
        std::thread::sleep(Duration::from_millis(50));
        if rings.fullest() >= rings.ring_slots as u64 / 4 || last_drain.elapsed() >= Duration::from_secs(2) {
            rings.drain(&mut raw);
            last_drain = Instant::now();
            if raw.len() >= spill::RUN_EVENTS {
                match spill_run(&mut raw, &mut spill) {
                    Ok(bad) => malformed += bad,
                    Err(e) => {
                        // Stop the workload before giving up (below), as at any other end.
                        spill_failed = Some(e);
                        stopped_by = "error".to_string();
                        break;
                    }
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            stopped_by = "signal".to_string();
            break;
        }
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            stopped_by = "duration".to_string();
            break;
        }
        if let Some(c) = child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                workload_exit_code = st.code();
                stopped_by = "workload finished".to_string();
                child = None;
                break;
            }
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let (events, dropped) = rings.counts();
            let rate = (events - last.1) as f64 / last.0.elapsed().as_secs_f64();
            let msg = format!("{rate:.0} ev/s, {events} events, {dropped} dropped, {} received", spill.events() + malformed + raw.len() as u64);
            pb.set_position(started.elapsed().as_secs());
            pb.set_message(msg.clone());
            if !tty && started.elapsed().as_secs() % 5 == 0 {
                eprintln!("mimic trace: t={:.0}s {msg}", started.elapsed().as_secs_f64());
            }
            last = (Instant::now(), events);
        }
    }
    // Stop recording, then drain what is already in the rings.
    let bpf_programs = if stats_fd.is_some() { prog_stats(&skel) } else { Vec::new() };
    let consumer_cpu_s = own_cpu_s() - cpu_at_start;
    drop(stats_fd);
    skel.links = Default::default();
    rings.drain(&mut raw);
    pb.finish_and_clear();
    if let Some(mut c) = child {
        // Ask the workload to stop (`mimic workload` stops its commands' groups on SIGTERM), and
        // kill whatever of it is left after a grace time.
        let st = crate::child::stop_groups(std::slice::from_mut(&mut c), Duration::from_secs(10));
        workload_exit_code = st[0].and_then(|s| s.code());
    }
    if let Some(e) = spill_failed {
        return Err(e.context(format!("tracing stopped: cannot write its events under {}", opts.out.display())));
    }
    let (events, dropped) = rings.counts();
    let migrations = rings.migrations();
    let (cpu_beyond_rings, no_task_storage) = rings.lost_in_bpf();
    malformed += spill_run(&mut raw, &mut spill)?;
    drop(raw);
    let bad = malformed;
    let lost = events - (spill.events() + bad);
    if bad > 0 || lost > 0 {
        warn!("{bad} malformed and {lost} unpublished ring records skipped");
    }

    // Each CPU's ring is in its own order: merge the runs into time order (run queue clocks, all
    // on the same sched_clock timeline), and replay everything through the feature contract as
    // it comes, writing the tables and the raw events batch by batch.
    let mut merge = spill.merged()?;
    let rows = rederive::derive(std::iter::from_fn(|| merge.next_event().transpose()), cpus as u32, &opts.out, &opts.run_id, true)?;
    drop(merge);
    if let Err(e) = spill.remove() {
        warn!("{e:#}");
    }
    let summary = TraceSummary {
        run: opts.run_id.clone(),
        date: now_rfc3339(),
        kernel: kernel.clone(),
        cpus,
        workload: opts.workload.clone(),
        duration_s: started.elapsed().as_secs_f64(),
        events,
        lost: Losses { ring_full: dropped, cpu_beyond_rings, no_task_storage, unpublished: lost, malformed: bad },
        migrations,
        rows,
        phases: opts.phases.clone(),
        resched_mask: resched_mask(&kernel),
        stopped_by,
        workload_exit_code,
        bpf_programs,
        consumer_cpu_s,
        // After the replay and the writes: the peak of the whole trace.
        peak_rss_mib: peak_rss_mib(),
    };
    write_atomic(&opts.out.join(dataset::META_FILE), &serde_json::to_vec_pretty(&summary)?)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_one_timestamp_the_wakeup_sorts_before_the_switch() {
        let e = |ts, kind, pid| TraceEvent { ts_ns: ts, kind, pid, cpu: 0, prev_cpu: 0, waker_cpu: 0, voluntary: false, ran_ns: 0,
                                             chosen_idle: false, next_pid: 0, curr_pid: 0, queued: false, resched: false, nice: 0,
                                             nr_cpus_allowed: 1, comm: [0; 16] };
        // Read CPU by CPU: the switch on CPU 0 first, the wakeup from CPU 1's ring after it.
        let mut v = vec![e(5, EventKind::Stop, 1), e(7, EventKind::Stop, 2), e(7, EventKind::Exit, 3), e(7, EventKind::Wakeup, 4), e(6, EventKind::WakeupNew, 5)];
        sort_by_time(&mut v);
        let order: Vec<i32> = v.iter().map(|e| e.pid).collect();
        assert_eq!(order, [1, 5, 4, 2, 3], "time first; at 7 the wakeup first, the rest in read order");
    }

    #[test]
    fn every_cause_of_loss_alone_is_reported() {
        assert!(Losses::default().describe().is_empty(), "nothing lost, nothing said");
        let one = [Losses { ring_full: 1, ..Default::default() }, Losses { cpu_beyond_rings: 2, ..Default::default() },
                   Losses { no_task_storage: 3, ..Default::default() }, Losses { unpublished: 4, ..Default::default() },
                   Losses { malformed: 5, ..Default::default() }];
        let said: Vec<String> = one.iter().map(|l| {
            let d = l.describe();
            assert_eq!(d.len(), 1, "{l:?}: {d:?}");
            d[0].clone()
        }).collect();
        assert_eq!(said, ["1 lost to a full ring", "2 on a CPU beyond the rings", "3 wakeups without task storage",
                          "4 reserved but never published", "5 malformed"]);
    }

    #[test]
    fn the_resched_bits_follow_the_kernel_release() {
        assert_eq!(resched_mask("7.3.4+deb13-amd64"), 0x30);
        assert_eq!(resched_mask("6.18.0"), 0x30);
        assert_eq!(resched_mask("6.12.9-amd64"), 0x18);
        assert_eq!(resched_mask("garbage"), 0x18);
    }

    #[test]
    fn ring_layout_and_size() {
        assert_eq!(std::mem::size_of::<intf::mimic_ring_head>(), 64, "one cache line per CPU");
        assert_eq!(std::mem::size_of::<intf::mimic_slot>(), 8 + std::mem::size_of::<intf::mimic_event>());
        for cpus in [1, 2, 8, 64, 256] {
            let n = ring_slots(cpus);
            assert!(n.is_power_of_two() && n >= 8192, "{cpus} CPUs: {n}");
            if n > 8192 {
                assert!(n as usize * cpus as usize * std::mem::size_of::<intf::mimic_slot>() <= 32 << 20);
            }
        }
    }

    /// The consumer half of the ring protocol (bpf/intf.h), against rings written the way the
    /// BPF side writes them: published slots are read in order, an unpublished one stops the
    /// reader (and is read once published), the ring wraps, CPUs are independent.
    #[test]
    fn drain_reads_published_slots_in_order_and_wraps() {
        const SLOTS: u32 = 8;
        const CPUS: u32 = 2;
        // SAFETY: plain old data; all zeroes is a valid (empty) state.
        let mut slots: Vec<intf::mimic_slot> = vec![unsafe { std::mem::zeroed() }; (SLOTS * CPUS) as usize];
        let mut bss: Box<skel::types::bss> = Box::new(unsafe { std::mem::zeroed() });
        let rings = Rings { slots: slots.as_ptr(), len: 0, bss: &mut *bss, nr_cpus: CPUS, ring_slots: SLOTS, mapped: false };
        let slots_ptr = slots.as_mut_ptr();
        let bss_ptr: *mut skel::types::bss = &mut *bss;
        // The BPF side: reserve the next position on `cpu`, fill the slot, publish it (or not).
        let write = |cpu: u32, pid: i32, publish: bool| -> u64 {
            unsafe {
                let h = &mut (*bss_ptr).rings[cpu as usize];
                let pos = h.reserved;
                h.reserved += 1;
                let s = &mut *slots_ptr.add((cpu * SLOTS + (pos as u32 & (SLOTS - 1))) as usize);
                s.ev = std::mem::zeroed();
                s.ev.kind = intf::mimic_event_kind_MIMIC_EV_STOP as u8;
                s.ev.pid = pid;
                s.ev.ts_ns = pid as u64;
                s.ev.static_prio = 120;
                if publish {
                    s.seq = pos + 1;
                }
                pos
            }
        };
        let publish = |cpu: u32, pos: u64| unsafe {
            (*slots_ptr.add((cpu * SLOTS + (pos as u32 & (SLOTS - 1))) as usize)).seq = pos + 1;
        };
        let pids = |v: &[intf::mimic_event]| v.iter().map(|e| e.pid).collect::<Vec<_>>();

        let mut out = Vec::new();
        write(0, 1, true);
        write(0, 2, true);
        let held = write(0, 3, false); // reserved, not yet published
        write(0, 4, true);
        write(1, 100, true);
        assert_eq!(rings.fullest(), 4);
        rings.drain(&mut out);
        assert_eq!(pids(&out), [1, 2, 100], "stops at the unpublished slot");
        assert_eq!(rings.counts(), (5, 0));
        assert_eq!(rings.fullest(), 2, "CPU 0 still holds the unpublished slot and the one after it");
        publish(0, held);
        rings.drain(&mut out);
        assert_eq!(pids(&out), [1, 2, 100, 3, 4]);
        // Two more laps around CPU 0's ring: positions 4..20 land in slots 4..7, 0..7, 0..3.
        for pid in 5..21 {
            write(0, pid, true);
            if pid % 3 == 0 {
                rings.drain(&mut out);
            }
        }
        rings.drain(&mut out);
        let cpu0: Vec<i32> = out.iter().map(|e| e.pid).filter(|&p| p < 100).collect();
        assert_eq!(cpu0, (1..21).collect::<Vec<_>>(), "every event once, in order, across the wrap");
        assert!(out.iter().all(|e| decode(e).is_some()));
        // A slot whose seq is from the previous lap is not read again.
        rings.drain(&mut out);
        assert_eq!(out.len(), 21);
        // Merging the CPUs into time order keeps equal timestamps in read order.
        let mut evs: Vec<TraceEvent> = out.iter().filter_map(decode).collect();
        evs[0].ts_ns = 50;
        sort_by_time(&mut evs);
        assert!(evs.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        drop(rings);
        drop(slots);
    }
}
