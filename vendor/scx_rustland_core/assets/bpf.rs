// Copyright (c) Andrea Righi <andrea.righi@linux.dev>

// This software may be used and distributed according to the terms of the
// GNU General Public License version 2.

use std::mem::MaybeUninit;

use crate::bpf_intf;
use crate::bpf_intf::*;
use crate::bpf_skel::*;

use std::ffi::CStr;
use std::ffi::c_int;
use std::ffi::c_ulong;

use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;

use plain::Plain;
use procfs::process::all_processes;

use libbpf_rs::OpenObject;
use libbpf_rs::ProgramInput;
use libbpf_rs::libbpf_sys::bpf_object_open_opts;

use libc::{c_char, pthread_self, pthread_setschedparam, sched_param};

#[cfg(target_env = "musl")]
use libc::timespec;

use scx_utils::Topology;
use scx_utils::UserExitInfo;
use scx_utils::compat;
use scx_utils::scx_ops_attach;
use scx_utils::scx_ops_load;
use scx_utils::scx_ops_open;
use scx_utils::uei_exited;
use scx_utils::uei_report;

use scx_rustland_core::ALLOCATOR;

// Defined in UAPI
const SCHED_EXT: i32 = 7;
const TASK_COMM_LEN: usize = 16;

// Allow to dispatch the task on any CPU.
//
// The task will be dispatched to the global shared DSQ and it will run on the first CPU available.
#[allow(dead_code)]
pub const RL_CPU_ANY: i32 = bpf_intf::RL_CPU_ANY as i32;

/// How the BPF side acts on a dispatched task that asks to preempt (`DispatchedTask::preempt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreemptMode {
    /// Never preempt: the request is ignored.
    #[default]
    Off,
    /// `scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT)`.
    Kick,
    /// Set the running task's slice to zero, then kick the CPU.
    Slice,
}

/// What the BPF side does beyond the published scx_rustland_core (all off by default, so that
/// `BpfScheduler::init` behaves as it always did).
#[derive(Debug, Clone, Copy, Default)]
pub struct Extensions {
    /// How to preempt for a dispatched task that asks to (`DispatchedTask::preempt`).
    pub preempt: PreemptMode,
    /// When a task is queued and no CPU is idle, preempt a CPU so the scheduler runs now.
    pub make_room: bool,
    /// Queue an exit notice (`QueuedTask::exited`) when a task exits.
    pub notify_exit: bool,
    /// Run a waking task on its previous CPU at once if that CPU is idle and the task's last
    /// dispatch allowed it (`DispatchedTask::idle_prev`, with that dispatch's slice), and queue a
    /// placement notice (`QueuedTask::placed`) for user space's bookkeeping.
    pub prev_idle_fast: bool,
    /// With `prev_idle_fast`: when no CPU is idle for a waking task whose last dispatch allowed
    /// it (`DispatchedTask::preempt_prev`), and its previous CPU (else the CPU running the latest
    /// deadline) runs a task with a later deadline that has had a base slice since it became
    /// runnable, run it there at once, ahead of that task (EEVDF's wakeup preemption), and queue
    /// a placement notice. Needs `preempt` (it says nothing of how: the insertion itself
    /// preempts).
    pub prev_busy_preempt: bool,
    /// With `prev_idle_fast`: when no CPU is idle for a waking task whose last dispatch allowed
    /// `idle_prev`, and no CPU it may use runs a later deadline that has had a base slice since
    /// it became runnable (it would wait in line anyway), put it in the shared queue at once
    /// with that dispatch's slice, its deadline brought to the present, and queue a placement
    /// notice. Not for kernel threads.
    pub prev_busy_queue: bool,
    /// At a slice end, keep the expiring task on its CPU while its advanced deadline is still
    /// the earliest of the queues the CPU serves (nice levels then work on a shared CPU).
    pub keep_earliest: bool,
    /// At a slice end where another task's deadline is earlier, put the expiring task back in
    /// line on the BPF side (deadline advanced by its run time, the base slice) and queue a
    /// notice (`QueuedTask::requeued`) instead of sending it through user space. The deadline
    /// is bounded around the later of user space's clock (`set_vtime_now`) and the BPF side's
    /// (`bpf_vtime_now`), which user space should follow.
    pub requeue_expired: bool,
    /// End a slice on time when a task waits (a per-CPU timer armed when a task starts
    /// running), instead of at the next scheduler tick (4 ms at HZ=250).
    pub slice_timer: bool,
}

/// What the extensions did so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtensionCounters {
    /// Dispatched tasks that asked to preempt.
    pub preempt_requests: u64,
    /// CPUs preempted for them.
    pub preemptions: u64,
    /// CPUs preempted to make room for the scheduler.
    pub room_kicks: u64,
    /// Ticks at which the scheduler's slice ran out with decisions owed and it was given
    /// another (make_room).
    pub usersched_holds: u64,
    /// Exit notices queued, and those lost to a full ring.
    pub exit_notices: u64,
    pub exit_notices_lost: u64,
    /// CPUs that went online or offline, and tasks moved off an offline CPU's queue.
    pub hotplug_events: u64,
    pub offline_moved: u64,
    /// Times a CPU's queue waited a heartbeat for it to dispatch and was served by the others.
    pub stalled_cpu_rescues: u64,
    /// Tasks the idle fast path ran, and placement notices lost to a full ring.
    pub fast_dispatches: u64,
    pub placed_notices_lost: u64,
    /// Waking tasks that preempted a running task on the BPF side (prev_busy_preempt).
    pub fast_preempts: u64,
    /// Waking tasks the BPF side put in the shared queue itself (prev_busy_queue).
    pub fast_queued: u64,
    /// Slices the slice timer ended on time because a task waited (slice_timer).
    pub slice_timer_kicks: u64,
    /// Slice ends where the expiring task kept its CPU (keep_earliest).
    pub kept: u64,
    /// Slice ends where the expiring task was put back in line by the BPF side
    /// (requeue_expired), and notices of them lost to a full ring.
    pub requeued: u64,
    pub requeue_notices_lost: u64,
}

/// Log2 buckets of how long a queued task waited for its decision: bucket i holds the waits of
/// [2^i, 2^(i+1)) ns.
pub const RL_WAIT_BUCKETS: usize = bpf_intf::RL_WAIT_BUCKETS as usize;

/// High-level Rust abstraction to interact with a generic sched-ext BPF component.
///
/// Overview
/// ========
///
/// The main BPF interface is provided by the BpfScheduler() struct. When this object is
/// initialized it will take care of registering and initializing the BPF component.
///
/// The scheduler then can use BpfScheduler() instance to receive tasks (in the form of QueuedTask
/// objects) and dispatch tasks (in the form of DispatchedTask objects), using respectively the
/// methods dequeue_task() and dispatch_task().
///
/// BPF counters and statistics can be accessed using the methods nr_*_mut(), in particular
/// nr_queued_mut() and nr_scheduled_mut() can be updated to notify the BPF component if the
/// user-space scheduler has some pending work to do or not.
///
/// Finally the methods exited() and shutdown_and_report() can be used respectively to test
/// whether the BPF component exited, and to shutdown and report the exit message.

// Task queued for scheduling from the BPF component (see bpf_intf::queued_task_ctx).
#[derive(Debug, PartialEq, Eq, PartialOrd, Clone)]
pub struct QueuedTask {
    pub pid: i32,             // pid that uniquely identifies a task
    pub cpu: i32,             // CPU previously used by the task
    pub nr_cpus_allowed: u64, // Number of CPUs that the task can use
    pub flags: u64,           // task's enqueue flags
    pub start_ts: u64,        // Timestamp since last time the task ran on a CPU (in ns)
    pub stop_ts: u64,         // Timestamp since last time the task released a CPU (in ns)
    pub exec_runtime: u64,    // Total cpu time since last sleep (in ns)
    pub weight: u64,          // Task priority in the range [1..10000] (default is 100)
    pub vtime: u64,           // Current task vruntime / deadline (set by the scheduler)
    pub enq_cnt: u64,
    pub rl_flags: u64,                 // RL_TASK_* flags
    pub enq_ts: u64,                   // When the task was queued to user space (same clock as start_ts/stop_ts)
    pub stint_exec: u64,               // CPU time the kernel accounted to the last stint, ns
    pub waker_cpu: i32,                // CPU that selected this enqueue's CPU (the waker's), -1: none
    pub prev_curr_run: u64,            // How long the task running on `cpu` has run since it was switched in, ns (0: none)
    pub prev_curr_exec: u64,           // CPU time that task has had since it became runnable, ns
    pub comm: [c_char; TASK_COMM_LEN], // Task's executable name
}

impl QueuedTask {
    /// Convert the task's comm field (C char array) into a Rust String.
    #[allow(dead_code)]
    pub fn comm_str(&self) -> String {
        // Convert the C char array into a Rust String
        let c_str = unsafe { CStr::from_ptr(self.comm.as_ptr()) };

        // Handle potential invalid UTF-8
        c_str.to_string_lossy().into_owned()
    }

    /// The task is a kernel thread (PF_KTHREAD: the kernel's word, not the task's name).
    pub fn is_kthread(&self) -> bool {
        self.rl_flags & bpf_intf::RL_TASK_KTHREAD as u64 != 0
    }

    /// Not a task to schedule: an exit notice (`Extensions::notify_exit`). Dispatch nothing.
    pub fn exited(&self) -> bool {
        self.rl_flags & bpf_intf::RL_TASK_EXITED as u64 != 0
    }

    /// Not a task to schedule: the BPF side already ran it on its idle previous CPU
    /// (`Extensions::prev_idle_fast`). Dispatch nothing.
    pub fn placed(&self) -> bool {
        self.rl_flags & bpf_intf::RL_TASK_PLACED as u64 != 0
    }

    /// Not a task to schedule: its slice ended and the BPF side put it back in line
    /// (`Extensions::requeue_expired`). Dispatch nothing.
    pub fn requeued(&self) -> bool {
        self.rl_flags & bpf_intf::RL_TASK_REQUEUED as u64 != 0
    }
}

// Task queued for dispatching to the BPF component (see bpf_intf::dispatched_task_ctx).
#[derive(Debug, PartialEq, Eq, PartialOrd, Clone)]
pub struct DispatchedTask {
    pub pid: i32,      // pid that uniquely identifies a task
    pub cpu: i32, // target CPU selected by the scheduler (RL_CPU_ANY = dispatch on the first CPU available)
    pub flags: u64, // task's enqueue flags
    pub slice_ns: u64, // time slice in nanoseconds assigned to the task (0 = use default time slice)
    pub vtime: u64, // this value can be used to send the task's vruntime or deadline directly to the underlying BPF dispatcher
    pub enq_cnt: u64,
    pub preempt: bool, // preempt a CPU running a later deadline than vtime (Extensions::preempt)
    // A standing decision for the task's next wakeups (Extensions::prev_idle_fast): when its
    // previous CPU is idle, the BPF side runs it there at once with slice_ns, until the next
    // dispatch of it says otherwise.
    pub idle_prev: bool,
    // With idle_prev, a standing decision to preempt (Extensions::prev_busy_preempt): when the
    // task wakes and its previous CPU runs a task with a later deadline, the BPF side runs it
    // there at once, ahead of that task.
    pub preempt_prev: bool,
}

impl DispatchedTask {
    // Create a DispatchedTask from a QueuedTask.
    //
    // A dispatched task should be always originated from a QueuedTask (there is no reason to
    // dispatch a task if it wasn't queued to the scheduler earlier).
    pub fn new(task: &QueuedTask) -> Self {
        DispatchedTask {
            pid: task.pid,
            cpu: task.cpu,
            flags: task.flags,
            slice_ns: 0, // use default time slice
            vtime: 0,
            enq_cnt: task.enq_cnt,
            preempt: false,
            idle_prev: false,
            preempt_prev: false,
        }
    }
}

// Helpers used to submit tasks to the BPF user ring buffer.
unsafe impl Plain for bpf_intf::dispatched_task_ctx {}

impl AsMut<bpf_intf::dispatched_task_ctx> for bpf_intf::dispatched_task_ctx {
    fn as_mut(&mut self) -> &mut bpf_intf::dispatched_task_ctx {
        self
    }
}

// Message received from the dispatcher (see bpf_intf::queued_task_ctx for details).
//
// NOTE: eventually libbpf-rs will provide a better abstraction for this.
struct EnqueuedMessage {
    inner: bpf_intf::queued_task_ctx,
}

impl EnqueuedMessage {
    fn from_bytes(bytes: &[u8]) -> Self {
        let queued_task_struct = unsafe { *(bytes.as_ptr() as *const bpf_intf::queued_task_ctx) };
        EnqueuedMessage {
            inner: queued_task_struct,
        }
    }

    fn to_queued_task(&self) -> QueuedTask {
        QueuedTask {
            pid: self.inner.pid,
            cpu: self.inner.cpu,
            nr_cpus_allowed: self.inner.nr_cpus_allowed,
            flags: self.inner.flags,
            start_ts: self.inner.start_ts,
            stop_ts: self.inner.stop_ts,
            exec_runtime: self.inner.exec_runtime,
            weight: self.inner.weight,
            vtime: self.inner.vtime,
            enq_cnt: self.inner.enq_cnt,
            rl_flags: self.inner.rl_flags,
            enq_ts: self.inner.enq_ts,
            stint_exec: self.inner.stint_exec,
            waker_cpu: self.inner.waker_cpu,
            prev_curr_run: self.inner.prev_curr_run,
            prev_curr_exec: self.inner.prev_curr_exec,
            comm: self.inner.comm,
        }
    }
}

pub struct BpfScheduler<'cb> {
    pub skel: BpfSkel<'cb>,                // Low-level BPF connector
    shutdown: Arc<AtomicBool>,             // Determine scheduler shutdown
    queued: libbpf_rs::RingBuffer<'cb>,    // Ring buffer of queued tasks
    dispatched: libbpf_rs::UserRingBuffer, // User Ring buffer of dispatched tasks
    struct_ops: Option<libbpf_rs::Link>,   // Low-level BPF methods
}

// Buffer to store a task read from the ring buffer.
//
// NOTE: make the buffer aligned to 64-bits to prevent misaligned dereferences when accessing the
// buffer using a pointer.
const BUFSIZE: usize = size_of::<queued_task_ctx>();

#[repr(align(8))]
struct AlignedBuffer([u8; BUFSIZE]);

static mut BUF: AlignedBuffer = AlignedBuffer([0; BUFSIZE]);

static SET_HANDLER: Once = Once::new();

fn set_ctrlc_handler(shutdown: Arc<AtomicBool>) -> Result<(), anyhow::Error> {
    SET_HANDLER.call_once(|| {
        let shutdown_clone = shutdown.clone();
        ctrlc::set_handler(move || {
            shutdown_clone.store(true, Ordering::Relaxed);
        })
        .expect("Error setting Ctrl-C handler");
    });
    Ok(())
}

impl<'cb> BpfScheduler<'cb> {
    #[allow(clippy::too_many_arguments, dead_code)]
    pub fn init(
        open_object: &'cb mut MaybeUninit<OpenObject>,
        open_opts: Option<bpf_object_open_opts>,
        exit_dump_len: u32,
        partial: bool,
        debug: bool,
        builtin_idle: bool,
        numa_local: bool,
        slice_ns: u64,
        name: &str,
    ) -> Result<Self> {
        Self::init_with(
            open_object,
            open_opts,
            exit_dump_len,
            partial,
            debug,
            builtin_idle,
            numa_local,
            slice_ns,
            name,
            Extensions::default(),
        )
    }

    /// `init` with the extensions of this patched copy (see PATCH.md).
    #[allow(clippy::too_many_arguments)]
    pub fn init_with(
        open_object: &'cb mut MaybeUninit<OpenObject>,
        open_opts: Option<bpf_object_open_opts>,
        exit_dump_len: u32,
        partial: bool,
        debug: bool,
        builtin_idle: bool,
        numa_local: bool,
        slice_ns: u64,
        name: &str,
        ext: Extensions,
    ) -> Result<Self> {
        let shutdown = Arc::new(AtomicBool::new(false));
        set_ctrlc_handler(shutdown.clone()).context("Error setting Ctrl-C handler")?;

        // Open the BPF prog first for verification.
        let mut skel_builder = BpfSkelBuilder::default();
        skel_builder.obj_builder.debug(debug);
        let mut skel = scx_ops_open!(skel_builder, open_object, rustland, open_opts)?;

        // Copy one item from the ring buffer.
        //
        // # Safety
        //
        // Each invocation of the callback will trigger the copy of exactly one QueuedTask item to
        // BUF. The caller must be synchronize to ensure that multiple invocations of the callback
        // are not happening at the same time, but this is implicitly guaranteed by the fact that
        // the caller is a single-thread process (for now).
        //
        // Use of a `str` whose contents are not valid UTF-8 is undefined behavior.
        fn callback(data: &[u8]) -> i32 {
            unsafe {
                // SAFETY: copying from the BPF ring buffer to BUF is safe, since the size of BUF
                // is exactly the size of QueuedTask and the callback operates in chunks of
                // QueuedTask items. It also copies exactly one QueuedTask at a time, this is
                // guaranteed by the error code returned by this callback (see below). From a
                // thread-safety perspective this is also correct, assuming the caller is a
                // single-thread process (as it is for now).
                (*(&raw mut BUF.0)).copy_from_slice(data);
            }

            // Return 0 to indicate successful completion of the copy.
            0
        }

        // Check host topology to determine if we need to enable SMT capabilities.
        let topo = Topology::new().unwrap();
        skel.maps.rodata_data.as_mut().unwrap().smt_enabled = topo.smt_enabled;

        // Enable scheduler flags.
        skel.struct_ops.rustland_mut().flags =
            *compat::SCX_OPS_ENQ_LAST | *compat::SCX_OPS_ALLOW_QUEUED_WAKEUP;
        if partial {
            skel.struct_ops.rustland_mut().flags |= *compat::SCX_OPS_SWITCH_PARTIAL;
        }
        if numa_local {
            skel.struct_ops.rustland_mut().flags |= *compat::SCX_OPS_BUILTIN_IDLE_PER_NODE;
        }
        skel.struct_ops.rustland_mut().exit_dump_len = exit_dump_len;
        skel.maps.rodata_data.as_mut().unwrap().usersched_pid = std::process::id();
        skel.maps.rodata_data.as_mut().unwrap().khugepaged_pid = Self::khugepaged_pid();
        skel.maps.rodata_data.as_mut().unwrap().builtin_idle = builtin_idle;
        skel.maps.rodata_data.as_mut().unwrap().numa_local = numa_local;
        skel.maps.rodata_data.as_mut().unwrap().slice_ns = slice_ns;
        skel.maps.rodata_data.as_mut().unwrap().debug = debug;
        skel.maps.rodata_data.as_mut().unwrap().preempt_mode = match ext.preempt {
            PreemptMode::Off => bpf_intf::RL_PREEMPT_OFF,
            PreemptMode::Kick => bpf_intf::RL_PREEMPT_KICK,
            PreemptMode::Slice => bpf_intf::RL_PREEMPT_SLICE,
        } as u32;
        skel.maps.rodata_data.as_mut().unwrap().make_room = ext.make_room;
        skel.maps.rodata_data.as_mut().unwrap().notify_exit = ext.notify_exit;
        skel.maps.rodata_data.as_mut().unwrap().prev_idle_fast = ext.prev_idle_fast;
        skel.maps.rodata_data.as_mut().unwrap().prev_busy_preempt = ext.prev_busy_preempt;
        skel.maps.rodata_data.as_mut().unwrap().prev_busy_queue = ext.prev_busy_queue;
        skel.maps.rodata_data.as_mut().unwrap().keep_earliest = ext.keep_earliest;
        skel.maps.rodata_data.as_mut().unwrap().requeue_expired = ext.requeue_expired;
        skel.maps.rodata_data.as_mut().unwrap().slice_timer = ext.slice_timer;
        let _ = Self::set_scx_ops_name(&mut skel.struct_ops.rustland_mut().name, name);

        // Attach BPF scheduler.
        let mut skel = scx_ops_load!(skel, rustland, uei)?;

        // Lock all the memory to prevent page faults that could trigger potential deadlocks during
        // scheduling — before attaching: locking faults in every mapped page, the binary's
        // included, and a page read from disk after attaching waits for I/O that may need a task
        // queued to this very process, which is not running its loop yet (seen: 267 major faults
        // and a 5 s stall ejection before the first decision, when the binary's pages had left
        // the page cache).
        ALLOCATOR.lock_memory();

        let struct_ops = Some(scx_ops_attach!(skel, rustland)?);

        // Build the ring buffer of queued tasks.
        let maps = &skel.maps;
        let queued_ring_buffer = &maps.queued;
        let mut rbb = libbpf_rs::RingBufferBuilder::new();
        rbb.add(queued_ring_buffer, callback)
            .expect("failed to add ringbuf callback");
        let queued = rbb.build().expect("failed to build ringbuf");

        // Build the user ring buffer of dispatched tasks.
        let dispatched = libbpf_rs::UserRingBuffer::new(&maps.dispatched)
            .expect("failed to create user ringbuf");

        ALLOCATOR.disable_mmap().expect("Failed to disable mmap");

        // Make sure to use the SCHED_EXT class at least for the scheduler itself.
        if partial {
            let err = Self::use_sched_ext();
            if err < 0 {
                return Err(anyhow::Error::msg(format!(
                    "sched_setscheduler error: {err}"
                )));
            }
        }

        Ok(Self {
            skel,
            shutdown,
            queued,
            dispatched,
            struct_ops,
        })
    }

    // Set the name of the scx ops.
    fn set_scx_ops_name(name_field: &mut [i8], src: &str) -> Result<()> {
        if !src.is_ascii() {
            bail!("name must be an ASCII string");
        }

        let bytes = src.as_bytes();
        let n = bytes.len().min(name_field.len().saturating_sub(1));

        name_field.fill(0);
        for i in 0..n {
            name_field[i] = bytes[i] as i8;
        }

        let version_suffix = ::scx_utils::build_id::ops_version_suffix(env!("CARGO_PKG_VERSION"));
        let bytes = version_suffix.as_bytes();
        let mut i = 0;
        let mut bytes_idx = 0;
        let mut found_null = false;

        while i < name_field.len() - 1 {
            found_null |= name_field[i] == 0;
            if !found_null {
                i += 1;
                continue;
            }

            if bytes_idx < bytes.len() {
                name_field[i] = bytes[bytes_idx] as i8;
                bytes_idx += 1;
            } else {
                break;
            }
            i += 1;
        }
        name_field[i] = 0;

        Ok(())
    }

    // Return the PID of khugepaged, if present, otherwise return 0.
    fn khugepaged_pid() -> u32 {
        let procs = match all_processes() {
            Ok(p) => p,
            Err(_) => return 0,
        };

        for proc in procs {
            let proc = match proc {
                Ok(p) => p,
                Err(_) => continue,
            };

            if let Ok(stat) = proc.stat() {
                if proc.exe().is_err() && stat.comm == "khugepaged" {
                    return proc.pid() as u32;
                }
            }
        }

        0
    }

    // Notify the BPF component that the user-space scheduler has completed its scheduling cycle,
    // updating the amount tasks that are still pending.
    //
    // NOTE: do not set allow(dead_code) for this method, any scheduler must use this method at
    // some point, otherwise the BPF component will keep waking-up the user-space scheduler in a
    // busy loop, causing unnecessary high CPU consumption.
    pub fn notify_complete(&mut self, nr_pending: u64) {
        self.skel.maps.bss_data.as_mut().unwrap().nr_scheduled = nr_pending;
        std::thread::yield_now();
    }

    // Counter of the online CPUs.
    #[allow(dead_code)]
    pub fn nr_online_cpus_mut(&mut self) -> &mut u64 {
        &mut self.skel.maps.bss_data.as_mut().unwrap().nr_online_cpus
    }

    // Counter of currently running tasks.
    #[allow(dead_code)]
    pub fn nr_running_mut(&mut self) -> &mut u64 {
        &mut self.skel.maps.bss_data.as_mut().unwrap().nr_running
    }

    // Counter of queued tasks.
    #[allow(dead_code)]
    pub fn nr_queued_mut(&mut self) -> &mut u64 {
        &mut self.skel.maps.bss_data.as_mut().unwrap().nr_queued
    }

    // Counter of scheduled tasks.
    #[allow(dead_code)]
    pub fn nr_scheduled_mut(&mut self) -> &mut u64 {
        &mut self.skel.maps.bss_data.as_mut().unwrap().nr_scheduled
    }

    // Counter of user dispatch events.
    #[allow(dead_code)]
    pub fn nr_user_dispatches_mut(&mut self) -> &mut u64 {
        &mut self.skel.maps.bss_data.as_mut().unwrap().nr_user_dispatches
    }

    // Counter of user kernel events.
    #[allow(dead_code)]
    pub fn nr_kernel_dispatches_mut(&mut self) -> &mut u64 {
        &mut self
            .skel
            .maps
            .bss_data
            .as_mut()
            .unwrap()
            .nr_kernel_dispatches
    }

    // Counter of cancel dispatch events.
    #[allow(dead_code)]
    pub fn nr_cancel_dispatches_mut(&mut self) -> &mut u64 {
        &mut self
            .skel
            .maps
            .bss_data
            .as_mut()
            .unwrap()
            .nr_cancel_dispatches
    }

    // Counter of dispatches bounced to the shared DSQ.
    #[allow(dead_code)]
    pub fn nr_bounce_dispatches_mut(&mut self) -> &mut u64 {
        &mut self
            .skel
            .maps
            .bss_data
            .as_mut()
            .unwrap()
            .nr_bounce_dispatches
    }

    // Counter of failed dispatch events.
    #[allow(dead_code)]
    pub fn nr_failed_dispatches_mut(&mut self) -> &mut u64 {
        &mut self
            .skel
            .maps
            .bss_data
            .as_mut()
            .unwrap()
            .nr_failed_dispatches
    }

    // Counter of scheduler congestion events.
    #[allow(dead_code)]
    pub fn nr_sched_congested_mut(&mut self) -> &mut u64 {
        &mut self.skel.maps.bss_data.as_mut().unwrap().nr_sched_congested
    }

    // Set scheduling class for the scheduler itself to SCHED_EXT
    fn use_sched_ext() -> i32 {
        #[cfg(target_env = "gnu")]
        let param: sched_param = sched_param { sched_priority: 0 };
        #[cfg(target_env = "musl")]
        let param: sched_param = sched_param {
            sched_priority: 0,
            sched_ss_low_priority: 0,
            sched_ss_repl_period: timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            sched_ss_init_budget: timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            sched_ss_max_repl: 0,
        };

        unsafe { pthread_setschedparam(pthread_self(), SCHED_EXT, &param as *const sched_param) }
    }

    // Pick an idle CPU for the target PID.
    #[allow(dead_code)]
    pub fn select_cpu(&mut self, pid: i32, cpu: i32, flags: u64) -> i32 {
        let prog = &mut self.skel.progs.rs_select_cpu;
        let mut args = task_cpu_arg {
            pid: pid as c_int,
            cpu: cpu as c_int,
            flags: flags as c_ulong,
        };
        let input = ProgramInput {
            context_in: Some(unsafe {
                std::slice::from_raw_parts_mut(
                    &mut args as *mut _ as *mut u8,
                    std::mem::size_of_val(&args),
                )
            }),
            ..Default::default()
        };
        let out = prog.test_run(input).unwrap();

        out.return_value as i32
    }

    // Receive a task to be scheduled from the BPF dispatcher.
    pub fn dequeue_task(&mut self) -> Result<Option<QueuedTask>, i32> {
        let bss_data = self.skel.maps.bss_data.as_mut().unwrap();

        // Try to consume the first task from the ring buffer.
        match self.queued.consume_raw_n(1) {
            0 => {
                // Ring buffer is empty.
                bss_data.nr_queued = 0;
                Ok(None)
            }
            1 => {
                // A valid task is received, convert data to a proper task struct.
                let task =
                    unsafe { EnqueuedMessage::from_bytes(&*(&raw const BUF.0)).to_queued_task() };
                // Notices were never counted as queued.
                if !task.exited() && !task.placed() && !task.requeued() {
                    bss_data.nr_queued = bss_data.nr_queued.saturating_sub(1);
                }
                // The BPF side calls the scheduler at once for tasks to decide and
                // re-queue notices, for the others in bulk: this tells it how many
                // of the first kind it took.
                if !task.exited() && !task.placed() {
                    bss_data.nr_calls_received += 1;
                }

                Ok(Some(task))
            }
            res if res < 0 => Err(res),
            res => panic!("Unexpected return value from libbpf-rs::consume_raw(): {res}"),
        }
    }

    // Send a task to the dispatcher.
    pub fn dispatch_task(&mut self, task: &DispatchedTask) -> Result<(), libbpf_rs::Error> {
        // Reserve a slot in the user ring buffer.
        let mut urb_sample = self
            .dispatched
            .reserve(std::mem::size_of::<bpf_intf::dispatched_task_ctx>())?;
        let bytes = urb_sample.as_mut();
        let dispatched_task = plain::from_mut_bytes::<bpf_intf::dispatched_task_ctx>(bytes)
            .expect("failed to convert bytes");

        // Convert the dispatched task into the low-level dispatched task context.
        let bpf_intf::dispatched_task_ctx {
            pid,
            cpu,
            flags,
            slice_ns,
            vtime,
            enq_cnt,
            rl_flags,
            ..
        } = dispatched_task;

        *pid = task.pid;
        *cpu = task.cpu;
        *flags = task.flags;
        *slice_ns = task.slice_ns;
        *vtime = task.vtime;
        *enq_cnt = task.enq_cnt;
        *rl_flags = if task.preempt { bpf_intf::RL_PREEMPT as u64 } else { 0 }
            | if task.idle_prev { bpf_intf::RL_IDLE_PREV as u64 } else { 0 }
            | if task.preempt_prev { bpf_intf::RL_PREEMPT_PREV as u64 } else { 0 };

        // Store the task in the user ring buffer.
        //
        // NOTE: submit() only updates the reserved slot in the user ring buffer, so it is not
        // expected to fail.
        self.dispatched
            .submit(urb_sample)
            .expect("failed to submit task");

        Ok(())
    }

    // Counters of the extensions (see Extensions).
    pub fn extension_counters(&mut self) -> ExtensionCounters {
        let b = self.skel.maps.bss_data.as_ref().unwrap();
        ExtensionCounters {
            preempt_requests: b.nr_preempt_requests,
            preemptions: b.nr_preemptions,
            room_kicks: b.nr_room_kicks,
            usersched_holds: b.nr_usersched_holds,
            exit_notices: b.nr_exit_events,
            exit_notices_lost: b.nr_exit_lost,
            hotplug_events: b.nr_hotplug_events,
            offline_moved: b.nr_offline_moved,
            stalled_cpu_rescues: b.nr_stalled_cpu_rescues,
            fast_dispatches: b.nr_fast_dispatches,
            placed_notices_lost: b.nr_placed_lost,
            fast_preempts: b.nr_fast_preempts,
            fast_queued: b.nr_fast_queued,
            slice_timer_kicks: b.nr_slice_timer_kicks,
            kept: b.nr_kept,
            requeued: b.nr_requeued,
            requeue_notices_lost: b.nr_requeue_lost,
        }
    }

    // Tell the BPF side user space's virtual clock: re-queued tasks (Extensions::requeue_expired)
    // get deadlines within bounds around the later of it and bpf_vtime_now().
    pub fn set_vtime_now(&mut self, vtime: u64) {
        self.skel.maps.bss_data.as_mut().unwrap().usersched_vtime_now = vtime;
    }

    // The BPF side's virtual clock, moved by the runs it charges at slice ends (kept and re-queued
    // tasks): user space moves its own clock to it (see bpf_vtime_now in main.bpf.c).
    pub fn bpf_vtime_now(&self) -> u64 {
        self.skel.maps.bss_data.as_ref().unwrap().bpf_vtime_now
    }

    // How long queued tasks waited for their decisions (see RL_WAIT_BUCKETS).
    pub fn decision_wait_hist(&mut self) -> [u64; RL_WAIT_BUCKETS] {
        self.skel.maps.bss_data.as_ref().unwrap().decision_wait_hist
    }

    // Read exit code from the BPF part.
    pub fn exited(&mut self) -> bool {
        self.shutdown.load(Ordering::Relaxed) || uei_exited!(&self.skel, uei)
    }

    // Called on exit to shutdown and report exit message from the BPF part.
    pub fn shutdown_and_report(&mut self) -> Result<UserExitInfo> {
        let _ = self.struct_ops.take();
        uei_report!(&self.skel, uei)
    }
}

// Disconnect the low-level BPF scheduler.
impl Drop for BpfScheduler<'_> {
    fn drop(&mut self) {
        if let Some(struct_ops) = self.struct_ops.take() {
            drop(struct_ops);
        }
        ALLOCATOR.unlock_memory();
    }
}
