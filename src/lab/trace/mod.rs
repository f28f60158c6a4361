//! `mimic trace`: record EEVDF's decisions with the BPF tracer (bpf/tracer.bpf.c) while a
//! workload runs, replay them through the feature contract, and write a dataset.
//!
//! Runs inside the guest under the kernel's default scheduler (no scx scheduler loaded). Rows are
//! kept in memory while tracing and written when it stops (duration reached, workload done, or
//! SIGINT/SIGTERM): an interrupted trace still writes everything recorded so far.

pub mod overhead;

mod skel {
    #![allow(clippy::all, dead_code, non_camel_case_types, non_snake_case, non_upper_case_globals, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/tracer_skel.rs"));
}
#[allow(dead_code, non_camel_case_types, non_snake_case, non_upper_case_globals, clippy::all)]
mod intf {
    include!(concat!(env!("OUT_DIR"), "/tracer_intf.rs"));
}

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use log::{info, warn};
use serde::Serialize;

use crate::dataset;
use crate::util::{now_rfc3339, write_atomic};
use scx_mimic::features::SystemView;
use scx_mimic::replay::{EventKind, Replayer, TraceEvent};

pub struct TraceOpts {
    pub out: PathBuf,
    /// Stop after this long (None: when the command ends, or on SIGINT).
    pub duration: Option<Duration>,
    /// Workload command run while tracing (through `sh -c`); tracing stops when it ends.
    pub command: Option<String>,
    /// Free-form description recorded in meta.json.
    pub workload: String,
    pub run_id: String,
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
    pub dropped: u64,
    pub migrations: u64,
    pub slice_rows: usize,
    pub placement_rows: usize,
    pub stopped_by: String,
    pub workload_exit_code: Option<i32>,
}

/// Decode one ring-buffer record.
pub fn decode(data: &[u8]) -> Option<TraceEvent> {
    if data.len() < std::mem::size_of::<intf::mimic_event>() {
        return None;
    }
    // SAFETY: the length is checked; the struct is plain old data (bindgen from bpf/intf.h).
    let e: intf::mimic_event = unsafe { std::ptr::read_unaligned(data.as_ptr() as *const intf::mimic_event) };
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
        nice: e.static_prio - 120,
        nr_cpus_allowed: e.nr_cpus_allowed,
        sys: SystemView { nr_runnable: e.nr_runnable, idle_cpus: e.idle_cpus, prev_cpu_idle: e.prev_cpu_idle != 0 },
        comm,
    })
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

    let mut open_object = MaybeUninit::uninit();
    let builder = skel::TracerSkelBuilder::default();
    let mut open = builder.open(&mut open_object).context("cannot open the BPF tracer")?;
    let rodata = open.maps.rodata_data.as_deref_mut().context("tracer has no rodata")?;
    rodata.nr_cpus = possible_cpus();
    rodata.self_tgid = std::process::id() as i32;
    let mut skel = open.load().context("cannot load the BPF tracer (kernel without BTF? not root?)")?;
    skel.attach().context("cannot attach the tracer to the sched tracepoints")?;
    info!("tracer attached ({} CPUs)", possible_cpus());

    // While tracing, the consumer only decodes and keeps the events: the replay through the
    // feature contract runs after tracing stops. Under emulation the tracer's process competes
    // with the workload for the same CPU time, so work done later is work not done during the
    // measurement.
    let recorded: Rc<RefCell<Vec<TraceEvent>>> = Rc::new(RefCell::new(Vec::with_capacity(1 << 20)));
    let bad_records = Rc::new(RefCell::new(0u64));
    let mut rbb = libbpf_rs::RingBufferBuilder::new();
    {
        let recorded = recorded.clone();
        let bad = bad_records.clone();
        rbb.add(&skel.maps.events, move |data: &[u8]| {
            match decode(data) {
                Some(ev) => recorded.borrow_mut().push(ev),
                None => *bad.borrow_mut() += 1,
            }
            0
        })?;
    }
    let rb = rbb.build()?;

    let mut child: Option<Child> = match &opts.command {
        Some(cmd) => Some(
            Command::new("sh").args(["-c", cmd]).stdin(Stdio::null()).spawn()
                .with_context(|| format!("cannot start the workload: {cmd}"))?,
        ),
        None => None,
    };
    let started = Instant::now();
    let pb = match opts.duration {
        Some(d) => ProgressBar::new(d.as_secs()),
        None => ProgressBar::new_spinner(),
    };
    pb.set_style(ProgressStyle::with_template("{spinner} tracing [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar()));
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = (Instant::now(), 0u64);
    let mut workload_exit_code = None;
    let stopped_by;
    loop {
        // The BPF side does not wake us per event (BPF_RB_NO_WAKEUP): drain on a timer. The
        // 32 MiB ring holds over a minute of events at the rates seen, so 50 ms is plenty.
        std::thread::sleep(Duration::from_millis(50));
        if let Err(e) = rb.consume() {
            warn!("ring buffer consume: {e}");
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
            let bss = skel.maps.bss_data.as_deref().context("tracer has no bss")?;
            let (events, dropped) = (bss.nr_events, bss.nr_dropped);
            let rate = (events - last.1) as f64 / last.0.elapsed().as_secs_f64();
            let msg = format!("{rate:.0} ev/s, {events} events, {dropped} dropped, {} received",
                              recorded.borrow().len());
            pb.set_position(started.elapsed().as_secs());
            pb.set_message(msg.clone());
            if !tty && started.elapsed().as_secs() % 5 == 0 {
                eprintln!("mimic trace: t={:.0}s {msg}", started.elapsed().as_secs_f64());
            }
            last = (Instant::now(), events);
        }
    }
    // Stop recording, then drain what is already in the ring buffer.
    skel.links = Default::default();
    let _ = rb.consume();
    pb.finish_and_clear();
    if let Some(mut c) = child {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let st = c.wait().ok();
        workload_exit_code = st.and_then(|s| s.code());
    }
    let bss = skel.maps.bss_data.as_deref().context("tracer has no bss")?;
    let (events, dropped, migrations) = (bss.nr_events, bss.nr_dropped, bss.nr_migrations);
    let bad = *bad_records.borrow();
    if bad > 0 {
        warn!("{bad} malformed ring-buffer records skipped");
    }

    // Now replay everything through the feature contract, in the order recorded.
    let mut r = Replayer::new();
    for ev in recorded.borrow().iter() {
        r.push(ev);
    }
    let summary = TraceSummary {
        run: opts.run_id.clone(),
        date: now_rfc3339(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        workload: opts.workload.clone(),
        duration_s: started.elapsed().as_secs_f64(),
        events,
        dropped,
        migrations,
        slice_rows: r.slices.len(),
        placement_rows: r.placements.len(),
        stopped_by,
        workload_exit_code,
    };
    dataset::write_parquet(&mut dataset::slice_frame(&opts.run_id, &r.slices)?, &opts.out.join(dataset::SLICE_FILE))?;
    dataset::write_parquet(&mut dataset::placement_frame(&opts.run_id, &r.placements)?, &opts.out.join(dataset::PLACEMENT_FILE))?;
    write_atomic(&opts.out.join(dataset::META_FILE), &serde_json::to_vec_pretty(&summary)?)?;
    Ok(summary)
}
