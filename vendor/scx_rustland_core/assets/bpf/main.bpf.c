/* Copyright (c) Andrea Righi <andrea.righi@linux.dev> */
/*
 * scx_rustland_core: BPF backend for schedulers running in user-space.
 *
 * This BPF backend implements the low level sched-ext functionalities for a
 * user-space counterpart, that implements the actual scheduling policy.
 *
 * The BPF part collects total cputime and weight from the tasks that need to
 * run, then it sends all details to the user-space scheduler that decides the
 * best order of execution of the tasks (based on the collected metrics).
 *
 * The user-space scheduler then returns to the BPF component the list of tasks
 * to be dispatched in the proper order.
 *
 * Messages between the BPF component and the user-space scheduler are passed
 * using BPF_MAP_TYPE_RINGBUF / BPF_MAP_TYPE_USER_RINGBUF maps: @queued for
 * the messages sent by the BPF dispatcher to the user-space scheduler and
 * @dispatched for the messages sent by the user-space scheduler to the BPF
 * dispatcher.
 *
 * The BPF dispatcher is completely agnostic of the particular scheduling
 * policy implemented in user-space. For this reason developers that are
 * willing to use this scheduler to experiment scheduling policies should be
 * able to simply modify the Rust component, without having to deal with any
 * internal kernel / BPF details.
 *
 * This software may be used and distributed according to the terms of the
 * GNU General Public License version 2.
 */
#ifdef LSP
#define __bpf__
#include "../../../../scheds/include/scx/common.bpf.h"
#else
#include <scx/common.bpf.h>
#endif

#include <scx/percpu.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

UEI_DEFINE(uei);

/*
 * Introduce a custom DSQ shared across all the CPUs, where we can dispatch
 * tasks that will be executed on the first CPU available.
 *
 * Per-CPU DSQs are also provided, to allow the scheduler to run a task on a
 * specific CPU (see dsq_init()).
 */
#define SHARED_DSQ MAX_CPUS

#ifndef U64_MAX
#define U64_MAX ((u64)-1)
#endif

/*
 * The user-space scheduler itself is dispatched using a separate DSQ, that
 * is consumed after all other DSQs.
 *
 * This ensures to work in bursts: tasks are queued, then the user-space
 * scheduler runs and dispatches them. Once all these tasks exhaust their
 * time slices, the scheduler is invoked again, repeating the cycle.
 */
#define SCHED_DSQ (MAX_CPUS + 1)

/*
 * Scheduler attributes and statistics.
 */
const volatile u32 usersched_pid; /* User-space scheduler PID */
const volatile u32 khugepaged_pid; /* khugepaged PID */
u64 usersched_last_run_at; /* Timestamp of the last user-space scheduler execution */
static u64 nr_cpu_ids; /* Maximum possible CPU number */

/*
 * Default task time slice.
 */
const volatile u64 slice_ns;

/*
 * Number of tasks that are queued for scheduling.
 *
 * This number is incremented by the BPF component when a task is queued to the
 * user-space scheduler and it must be decremented by the user-space scheduler
 * when a task is consumed.
 */
volatile u64 nr_queued;

/*
 * Records that call the scheduler at once — tasks queued for a decision and
 * re-queue notices (see usersched_has_pending_tasks()) — counted by the BPF
 * side, and the number of them
 * user space has taken from the ring, counted by user space
 * (BpfScheduler::dequeue_task()). Each has one writer, so their difference
 * never loses an update (nr_queued above is reset by user space when it finds
 * the ring empty, which can erase an increment made meanwhile). See
 * usersched_has_pending_tasks().
 */
volatile u64 nr_calls_sent, nr_calls_received;

/*
 * Number of tasks that are waiting for scheduling.
 *
 * This number must be updated by the user-space scheduler to keep track if
 * there is still some scheduling work to do.
 */
volatile u64 nr_scheduled;

/*
 * Amount of currently running tasks.
 */
volatile u64 nr_running, nr_online_cpus;

/* Dispatch statistics */
volatile u64 nr_user_dispatches, nr_kernel_dispatches,
	     nr_cancel_dispatches, nr_bounce_dispatches;

/* Failure statistics */
volatile u64 nr_failed_dispatches, nr_sched_congested;

/* Report additional debugging information */
const volatile bool debug;

/* Rely on the in-kernel idle CPU selection policy */
const volatile bool builtin_idle;

/* Enable NUMA-local idle CPU selection */
const volatile bool numa_local;

/* How to act on RL_PREEMPT (RL_PREEMPT_OFF: ignore it) */
const volatile u32 preempt_mode;

/*
 * Make room for the user-space scheduler: when a task is queued to user space,
 * no CPU is idle and the scheduler is not running, preempt a CPU so that the
 * scheduler runs now instead of at the next slice end.
 */
const volatile bool make_room;

/* Tell user space when a task exits (a queued_task_ctx with RL_TASK_EXITED) */
const volatile bool notify_exit;

/*
 * Idle fast path: a waking task whose previous CPU is idle runs there at once,
 * if user space's last decision for it allowed that (RL_IDLE_PREV), and user
 * space is told afterwards (a queued_task_ctx with RL_TASK_PLACED).
 */
const volatile bool prev_idle_fast;

/*
 * Wakeup preemption on the BPF side: a waking task whose previous CPU runs a
 * task with a later deadline preempts it at once, if user space's last
 * decision for it allowed that (RL_IDLE_PREV with RL_PREEMPT_PREV), and user
 * space is told afterwards (as for the idle fast path).
 */
const volatile bool prev_busy_preempt;

/*
 * Queue fast path: a waking task for which no CPU is idle and none may be
 * preempted goes to the shared queue at once, under user space's standing
 * decision (RL_IDLE_PREV, with its slice), and user space is told afterwards
 * (as for the idle fast path). See queue_fast_path().
 */
const volatile bool prev_busy_queue;

/*
 * At a slice end, keep the expiring task on its CPU while its deadline,
 * advanced by what it ran since (scaled by weight), is still the earliest of
 * the queues the CPU serves (see keep_prev()).
 */
const volatile bool keep_earliest;

/*
 * At a slice end where another task's deadline is earlier, put the expiring
 * task back in line on the BPF side, its deadline advanced by what it ran
 * (scaled by weight), and tell user space afterwards (a queued_task_ctx with
 * RL_TASK_REQUEUED) instead of sending it through user space for a new
 * decision (see requeue_task()).
 */
const volatile bool requeue_expired;

/*
 * End a slice on time when a task waits (see slice_timer_fn()): sched_ext
 * otherwise ends slices at the scheduler tick, which at HZ=250 lets a CPU hog
 * run up to 4 ms on a 1.5 ms slice while a woken task waits behind it; EEVDF
 * ends its slices with the high-resolution tick (hrtick).
 */
const volatile bool slice_timer;

/*
 * User space's virtual clock (written by it after each scheduling pass): the
 * deadlines it gives stay within a few slices of it. The deadlines the BPF
 * side sets are bounded around vtime_clock(): the later of this one and the
 * BPF side's own, below.
 */
volatile u64 usersched_vtime_now;

/*
 * The BPF side's virtual clock, moved by the runs it charges at slice ends
 * (keep_prev(), requeue_task(), raise_vtime_clock()): to the charged deadline
 * less the window ahead, the lowest clock under which that deadline needs no
 * bound ahead, but by no more than the run charged. User space reads it after
 * each pass and moves its own clock to it; it does not move its clock by its
 * own charges of the re-queued runs. *Why:* with user space's clock alone the
 * bounds went wrong both ways once the slice timer ended slices every 1.5 ms.
 * It lagged, as it moves only when user space has read the notices, and the
 * bound ahead took back what a task had just run (niced hogs sharing a CPU got
 * 6.9 and 23.1 where EEVDF gives 9.3); and it ran ahead, as user space lifts a
 * task that fell behind and the BPF side does not, until the bound behind
 * lifted both hogs to one floor (4.4-7.3). Never raised to a deadline itself:
 * a first clock of the BPF side's own, raised by the deadlines it handed out,
 * ran seconds ahead (each re-queue lifted it by a window that no run time paid
 * for; re-queued tasks then waited behind every new arrival).
 */
volatile u64 bpf_vtime_now;

/*
 * A re-queued task's deadline is at most 4 base slices of its own run time,
 * scaled by its weight (never by less than 10, so that a nice-19 task does
 * not wait for 66 of everyone else's), ahead of vtime_clock(), as user space
 * bounds the deadlines it gives (scx_mimic: vtime.rs, whose tests compare the
 * values); and at most 64 base slices behind it. User space lets a runnable
 * task fall 16 behind, but a nice-10 task that runs one 4 ms tick moves 36 ms
 * of virtual time at once, and a nice-0 task sharing its CPU, lifted every
 * time it fell further, lost what nice gives it (0:10 measured 3.1 against
 * EEVDF's 9.3). Without a bound behind, re-queued tasks that kept each other
 * busy fell seconds behind the deadlines user space gave, and a task it
 * dispatched waited 5.4 s.
 */
#define REQUEUE_AHEAD_SLICES	4
#define REQUEUE_BEHIND_SLICES	64
#define REQUEUE_MIN_WEIGHT	10

/*
 * How far behind vtime_clock() a fast-path deadline may be
 * (wakeup_deadline()): scx_mimic's WAKE_CREDIT_SLICES.
 */
#define FAST_PATH_CREDIT_SLICES	4

/* Preemption, exit and hotplug statistics */
volatile u64 nr_preempt_requests, nr_preemptions, nr_room_kicks,
	     nr_exit_events, nr_exit_lost, nr_hotplug_events,
	     nr_fast_dispatches, nr_placed_lost, nr_kept, nr_offline_moved,
	     nr_stalled_cpu_rescues, nr_requeued, nr_requeue_lost,
	     nr_fast_preempts, nr_slice_timer_kicks, nr_usersched_holds,
	     nr_fast_queued;

/*
 * Time from queueing a task to user space to its dispatch arriving here:
 * bucket i counts waits of [2^i, 2^(i+1)) ns.
 */
volatile u64 decision_wait_hist[RL_WAIT_BUCKETS];

/* Allow to use bpf_printk() only when @debug is set */
#define dbg_msg(_fmt, ...) do {						\
	if (debug)							\
		bpf_printk(_fmt, ##__VA_ARGS__);			\
} while(0)

/*
 * CPUs in the system have SMT is enabled.
 */
const volatile bool smt_enabled = true;

/*
 * Maximum amount of tasks queued between kernel and user-space at a certain
 * time.
 *
 * The @queued and @dispatched lists are used in a producer/consumer fashion
 * between the BPF part and the user-space part.
 */
#define MAX_ENQUEUED_TASKS 4096

/*
 * Maximum amount of slots reserved to the tasks dispatched via shared queue.
 */
#define MAX_DISPATCH_SLOT (MAX_ENQUEUED_TASKS / 8)

/*
 * Notices waiting in the ring call the scheduler once they take this much of
 * it (a quarter; see usersched_has_pending_tasks()).
 */
#define NOTICE_WAKE_BYTES (MAX_ENQUEUED_TASKS / 4 * sizeof(struct queued_task_ctx))

/*
 * The map containing tasks that are queued to user space from the kernel.
 *
 * This map is drained by the user-space scheduler.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MAX_ENQUEUED_TASKS *
				sizeof(struct queued_task_ctx));
} queued SEC(".maps");

/*
 * The user ring buffer containing pids that are dispatched from user space to
 * the kernel.
 *
 * Drained by the kernel in .dispatch().
 */
struct {
        __uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, MAX_ENQUEUED_TASKS *
				sizeof(struct dispatched_task_ctx));
} dispatched SEC(".maps");

/*
 * Per-task local storage.
 *
 * This contain all the per-task information used internally by the BPF code.
 */
struct task_ctx {
	/*
	 * Timestamp since last time the task ran on a CPU.
	 */
	u64 start_ts;

	/*
	 * p->se.sum_exec_runtime when the task last started running.
	 */
	u64 start_exec;

	/*
	 * Timestamp since last time the task released a CPU.
	 */
	u64 stop_ts;

	/*
	 * Execution time (in nanoseconds) since the last sleep event.
	 */
	u64 exec_runtime;

	/*
	 * p->se.sum_exec_runtime when the task last became runnable.
	 */
	u64 runnable_exec;

	/*
	 * Task generation counter to detect duplicate enqueues.
	 */
	u64 enq_cnt;

	/*
	 * When the task was last queued to user space (decision_wait_hist).
	 */
	u64 queued_at;

	/*
	 * Up to when the task's deadline accounts for its run time (keep_prev()).
	 */
	u64 deadline_at;

	/*
	 * The task's CPU time (sum_exec_runtime) when its deadline was last set,
	 * by user space or by this side: what it ran since is charged to it at
	 * a fast-path wakeup (wakeup_deadline()).
	 */
	u64 deadline_exec;

	/*
	 * The CPU that ran ops.select_cpu() for the pending wakeup (the waker's:
	 * try_to_wake_up() selects on the waking side), -1 when none is pending.
	 */
	s32 waker_cpu;

	/*
	 * Set by ops.dispatch() when the task's slice ended and it did not keep
	 * its CPU: its next enqueue re-queues it with deadline requeue_vtime,
	 * of which requeue_charge is the run just charged.
	 */
	u64 requeue_vtime;
	u64 requeue_charge;
	bool requeue;

	/*
	 * The slice of user space's standing decision for the task's next
	 * wakeups (RL_IDLE_PREV), 0 when there is none.
	 */
	u64 idle_prev_slice;

	/* That standing decision also preempts a later deadline (RL_PREEMPT_PREV) */
	bool preempt_prev;
};

/* Map that contains task-local storage. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctx_stor SEC(".maps");

/*
 * Return a local task context from a generic task or NULL if the context
 * doesn't exist.
 */
struct task_ctx *try_lookup_task_ctx(const struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctx_stor,
						(struct task_struct *)p, 0, 0);
	if (!tctx)
		dbg_msg("warning: failed to get task context for pid=%d (%s)",
			p->pid, p->comm);
	return tctx;
}

/*
 * Heartbeat timer used to periodically trigger the check to run the user-space
 * scheduler.
 *
 * Without this timer we may starve the scheduler if the system is completely
 * idle and hit the watchdog that would auto-kill this scheduler.
 */
struct usersched_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct usersched_timer);
} usersched_timer SEC(".maps");

/*
 * One timer per CPU to end the running task's slice on time (slice_timer).
 */
struct slice_timer {
	struct bpf_timer timer;
	/* When the task it was armed for started running (cpu_run.started_at). */
	u64 started_at;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, struct slice_timer);
} slice_timers SEC(".maps");

/*
 * Time period of the scheduler heartbeat, used to periodically kick the
 * user-space scheduler and check if there is any pending activity.
 */
#define USERSCHED_TIMER_NS	NSEC_PER_SEC

/*
 * Return true if the target task @p is the user-space scheduler.
 */
static inline bool is_usersched_task(const struct task_struct *p)
{
	return p->pid == usersched_pid;
}

/*
 * Return true if the target task @p is a kernel thread.
 */
static inline bool is_kthread(const struct task_struct *p)
{
	return p->flags & PF_KTHREAD;
}

/*
 * Return true if the target task @p is kswapd.
 */
static inline bool is_kswapd(const struct task_struct *p)
{
        return p->flags & (PF_KSWAPD | PF_KCOMPACTD);
}

/*
 * Return true if the target task @p is khugepaged, false otherwise.
 */
static inline bool is_khugepaged(const struct task_struct *p)
{
	return khugepaged_pid && p->pid == khugepaged_pid;
}

/*
 * Return true if @p still wants to run, false otherwise.
 */
static bool is_queued(const struct task_struct *p)
{
	return p->scx.flags & SCX_TASK_QUEUED;
}

/*
 * What each CPU runs, for preemption: the running task's deadline (its
 * dsq_vtime, set by the dispatch that queued it) and whether it may be
 * preempted (never the user-space scheduler, per-CPU kthreads, kswapd or
 * khugepaged). Written only by the CPU itself, read racily by the others: a
 * stale read costs one needless or one missed preemption, nothing more.
 */
struct cpu_run {
	u64 deadline;
	u32 busy;
	u32 preemptible;
	/*
	 * The running task (0: none, or the user-space scheduler), when it was
	 * switched in, and the CPU time it had had since it became runnable
	 * (features of a task queued with this CPU as its previous one).
	 */
	s32 pid;
	u64 started_at;
	u64 exec_before;
};

static struct cpu_run cpu_run[MAX_CPUS];

/* CPUs taken offline (cpu_offline) and not back yet */
static u8 cpu_offline[MAX_CPUS];
static volatile u64 nr_offline_cpus;

/*
 * When a task (other than a per-CPU kthread) last started running on each CPU,
 * and the CPUs whose queue has waited longer than the heartbeat with none
 * starting there: a CPU going
 * offline is made inactive, and takes no more tasks, well before cpu_offline()
 * is called (after an RCU grace period, which a task stranded on its queue,
 * RCU's own kthread for one, can hold up until the watchdog ejects the
 * scheduler). Such a CPU is treated as offline until a task runs on it again.
 */
static u64 cpu_served_at[MAX_CPUS];
static u8 cpu_stalled[MAX_CPUS];

/*
 * The index is checked unsigned and masked (MAX_CPUS is a power of two): the
 * verifier loses the bounds of a signed check.
 */
static struct cpu_run *lookup_cpu_run(s32 cpu)
{
	u32 i = (u32)cpu;

	if (i >= MAX_CPUS)
		return NULL;
	/*
	 * Make clang forget the check above, or it drops the mask and computes
	 * the address before the check (the verifier then sees an unbounded one).
	 */
	barrier_var(i);
	return &cpu_run[i & (MAX_CPUS - 1)];
}

static bool is_cpu_offline(s32 cpu)
{
	u32 i = (u32)cpu;

	if (i >= MAX_CPUS)
		return true;
	return cpu_offline[i & (MAX_CPUS - 1)] || cpu_stalled[i & (MAX_CPUS - 1)];
}

/* The user-space scheduler is on a CPU, and the CPU it last ran on */
static volatile bool usersched_running;
static volatile s32 usersched_cpu;

/* A CPU was preempted to make room for the scheduler, which has not run yet */
static volatile u32 room_kick_pending;

/*
 * Flag used to wake-up the user-space scheduler.
 */
static volatile u32 usersched_needed;

/*
 * Set user-space scheduler wake-up flag (equivalent to an atomic release
 * operation).
 */
static void set_usersched_needed(void)
{
	__sync_fetch_and_or(&usersched_needed, 1);
}

/*
 * Check and clear user-space scheduler wake-up flag (equivalent to an atomic
 * acquire operation).
 */
static bool test_and_clear_usersched_needed(void)
{
	return __sync_fetch_and_and(&usersched_needed, 0) == 1;
}

/*
 * Whether user space owes calls: tasks to decide or re-queue notices queued
 * and not yet taken (see nr_calls_sent).
 */
static bool usersched_owes_calls(void)
{
	return (s64)(nr_calls_sent - nr_calls_received) > 0;
}

/*
 * Return true if there's any pending activity to do for the scheduler, false
 * otherwise.
 *
 * NOTE: a task is sent to the user-space scheduler using the "queued"
 * ringbuffer, then the scheduler drains the queued tasks and adds them to
 * its internal data structures / state; at this point tasks become
 * "scheduled" and the user-space scheduler will take care of updating
 * nr_scheduled accordingly; lastly tasks will be dispatched and the
 * user-space scheduler will update nr_scheduled again.
 *
 * Checking nr_scheduled and the available data in the ringbuffer allows to
 * determine if there is still some pending work to do for the scheduler:
 * new tasks have been queued since last check, or there are still tasks
 * "queued" or "scheduled" since the previous user-space scheduler run.
 *
 * If there's no pending action, it is pointless to wake-up the scheduler
 * (even if a CPU becomes idle), because there is nothing to do.
 *
 * Also keep in mind that we don't need any protection here since this code
 * doesn't run concurrently with the user-space scheduler (that is single
 * threaded), therefore this check is also safe from a concurrency perspective.
 */
static bool usersched_has_pending_tasks(void)
{
	u64 avail;

	if (test_and_clear_usersched_needed())
		return true;

	if (nr_scheduled)
		return true;

	avail = bpf_ringbuf_query(&queued, BPF_RB_AVAIL_DATA);
	if (!avail)
		return false;

	/*
	 * Placement and exit notices alone (bookkeeping, nothing to decide) do
	 * not call the scheduler: each call costs the CPU it takes,
	 * two context switches, and the chance for the next wakeup to find its
	 * previous CPU idle (perf bench sched pipe with the idle fast path ran
	 * the scheduler once per round trip). They wait for the next decision,
	 * the heartbeat, or until they fill a quarter of the ring, so that none
	 * is lost. A scheduler that never asks for notices sees no difference:
	 * then every record is a task to decide. Re-queue notices do call it:
	 * left waiting, user space's clock stood still while two tasks took
	 * turns on a CPU, their re-queued deadlines were clamped to it, and
	 * nice 0:5 measured 2.42 where EEVDF gives 3.06 (before bpf_vtime_now;
	 * whether they still need to call it is not measured).
	 */
	if (usersched_owes_calls())
		return true;
	return avail > NOTICE_WAKE_BYTES;
}

/*
 * Return the DSQ ID associated to a CPU, or SHARED_DSQ if the CPU is not
 * valid.
 */
static u64 cpu_to_dsq(s32 cpu)
{
	if (cpu < 0 || cpu >= MAX_CPUS) {
		scx_bpf_error("Invalid cpu: %d", cpu);
		return SHARED_DSQ;
	}
	return (u64)cpu;
}

/*
 * Return true if @this_cpu and @that_cpu are in the same LLC, false
 * otherwise.
 */
static inline bool cpus_share_cache(s32 this_cpu, s32 that_cpu)
{
        if (this_cpu == that_cpu)
                return true;

	return cpu_llc_id(this_cpu) == cpu_llc_id(that_cpu);
}

/*
 * Return the preferred NUMA node of task @p, or NUMA_NO_NODE if not set.
 */
static inline s32 get_task_numa_node(const struct task_struct *p)
{
	if (bpf_core_field_exists(p->numa_preferred_nid))
		return p->numa_preferred_nid;

	return NUMA_NO_NODE;
}

/*
 * Return true if @this_cpu is faster than @that_cpu, false otherwise.
 */
static inline bool is_cpu_faster(s32 this_cpu, s32 that_cpu)
{
        if (this_cpu == that_cpu)
                return false;

	return cpu_priority(this_cpu) > cpu_priority(that_cpu);
}

/*
 * Return true if @cpu is a fully-idle SMT core, false otherwise.
 */
static inline bool is_smt_idle(s32 cpu)
{
	const struct cpumask *idle_smtmask;
        bool is_idle;

	if (!smt_enabled)
		return true;

	idle_smtmask = scx_bpf_get_idle_smtmask();
        is_idle = bpf_cpumask_test_cpu(cpu, idle_smtmask);
        scx_bpf_put_cpumask(idle_smtmask);

	return is_idle;
}

/*
 * Return true on a wake-up event, false otherwise.
 */
static inline bool is_wakeup(u64 wake_flags)
{
	return wake_flags & SCX_WAKE_TTWU;
}

/*
 * Find an idle CPU in the system for the task.
 *
 * NOTE: the idle CPU selection doesn't need to be formally perfect, it is
 * totally fine to accept racy conditions and potentially make mistakes, by
 * picking CPUs that are not idle or even offline, the logic has been designed
 * to handle these mistakes in favor of a more efficient response and a reduced
 * scheduling overhead.
 */
static s32 pick_idle_cpu(struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	s32 cpu, this_cpu = bpf_get_smp_processor_id();
	bool is_this_cpu_allowed = bpf_cpumask_test_cpu(this_cpu, p->cpus_ptr);

	/*
	 * For tasks that can run only on a single CPU, we can simply verify if
	 * their only allowed CPU is still idle.
	 */
	if (p->nr_cpus_allowed == 1) {
		if (scx_bpf_test_and_clear_cpu_idle(prev_cpu))
			return prev_cpu;

		return -EBUSY;
	}

	/*
	 * On wakeup if the waker's CPU is faster than the wakee's CPU, try
	 * to move the wakee closer to the waker.
	 *
	 * In presence of hybrid cores this helps to naturally migrate
	 * tasks over to the faster cores.
	 */
	if (is_wakeup(wake_flags) &&
	    is_cpu_faster(this_cpu, prev_cpu) && is_this_cpu_allowed) {
		/*
		 * If both the waker's CPU and the wakee's CPU are in the
		 * same LLC and the wakee's CPU is a fully idle SMT core,
		 * don't migrate.
		 */
		if (cpus_share_cache(this_cpu, prev_cpu) &&
		    is_smt_idle(prev_cpu) &&
		    scx_bpf_test_and_clear_cpu_idle(prev_cpu))
			return prev_cpu;

		prev_cpu = this_cpu;
	}

	/*
	 * Prefer a NUMA-local idle CPU if the task has a preferred node and
	 * NUMA-local selection is enabled.
	 */
	if (numa_local && bpf_ksym_exists(scx_bpf_pick_idle_cpu_node)) {
		s32 numa_node = get_task_numa_node(p);
		if (numa_node != NUMA_NO_NODE)
			return scx_bpf_pick_idle_cpu_node(p->cpus_ptr, numa_node,
							  SCX_PICK_IDLE_IN_NODE);
	}

	/*
	 * Fallback to the old API if the kernel doesn't support
	 * scx_bpf_select_cpu_and().
	 *
	 * This is required to support kernels <= 6.16.
	 */
	if (!__COMPAT_HAS_scx_bpf_select_cpu_and) {
		bool is_idle = false;

		if (!wake_flags)
			return -EBUSY;

		cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

		return is_idle ? cpu : -EBUSY;
	}

	/*
	 * Pick any idle CPU usable by the task.
	 */
	return scx_bpf_select_cpu_and(p, prev_cpu, wake_flags, p->cpus_ptr, 0);
}

/*
 * Wake-up a target @cpu for the dispatched task @p. If @cpu can't be used
 * wakeup another valid CPU.
 */
static void kick_task_cpu(const struct task_struct *p, s32 cpu)
{
	if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
		/*
		 * Kick the target CPU anyway, since it may be locked and
		 * needs to go back to idle to reset its state.
		 */
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);

		/*
		 * Pick any other idle CPU that the task can use.
		 */
		cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
		if (cpu < 0)
			return;
	}
	scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

/*
 * End the slice of the task running on @cpu now (see RL_PREEMPT_*).
 */
static void preempt_cpu(s32 cpu)
{
	struct task_struct *curr;

	if (preempt_mode == RL_PREEMPT_SLICE) {
		bpf_rcu_read_lock();
		curr = __COMPAT_scx_bpf_cpu_curr(cpu);
		if (curr && !is_usersched_task(curr))
			scx_bpf_task_set_slice(curr, 0);
		bpf_rcu_read_unlock();
		scx_bpf_kick_cpu(cpu, 0);
	} else {
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	}
	__sync_fetch_and_add(&nr_preemptions, 1);
}

/*
 * A task with deadline @deadline was inserted for @cpu (RL_CPU_ANY: any CPU
 * it may use): preempt the CPU whose running task has the latest deadline, if
 * that is later than @deadline. No preemption when an allowed CPU is idle: the
 * idle CPU takes the task.
 */
static void preempt_for(const struct task_struct *p, s32 cpu, u64 deadline)
{
	struct cpu_run *run;
	s32 i, victim = -1;
	u64 latest = deadline;

	__sync_fetch_and_add(&nr_preempt_requests, 1);

	if (cpu != RL_CPU_ANY) {
		run = lookup_cpu_run(cpu);
		if (run && run->busy && run->preemptible && run->deadline > deadline)
			preempt_cpu(cpu);
		return;
	}

	bpf_for(i, 0, nr_cpu_ids) {
		if (i >= MAX_CPUS)
			break;
		if (cpu_offline[i] || !bpf_cpumask_test_cpu(i, p->cpus_ptr))
			continue;
		run = &cpu_run[i];
		if (!run->busy)
			return;
		if (run->preemptible && run->deadline > latest) {
			latest = run->deadline;
			victim = i;
		}
	}
	if (victim >= 0)
		preempt_cpu(victim);
}

/*
 * A task woke up and was queued to user space: if no CPU is idle and the scheduler is not
 * on a CPU, preempt one (the scheduler's last CPU if it may be preempted) so
 * that the decision is made now, not at the next slice end. One such kick at
 * a time: the next waits until the scheduler has run.
 */
static void make_room_for_usersched(void)
{
	const struct cpumask *idle;
	struct cpu_run *run;
	bool any_idle;
	s32 cpu = usersched_cpu;

	if (usersched_running || room_kick_pending)
		return;

	idle = scx_bpf_get_idle_cpumask();
	any_idle = !bpf_cpumask_empty(idle);
	scx_bpf_put_idle_cpumask(idle);
	if (any_idle)
		return;

	run = lookup_cpu_run(cpu);
	if (!run || !run->preemptible || is_cpu_offline(cpu))
		return;

	if (__sync_lock_test_and_set(&room_kick_pending, 1))
		return;
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	__sync_fetch_and_add(&nr_room_kicks, 1);
}

/*
 * The scheduler process's slice ran out at a tick while tasks still wait for
 * its decisions (or re-queue notices for its books): give it another slice
 * instead of putting it behind the tasks queued to this CPU, where it would
 * wait for their slices to end (a CPU hog's is a tick or more) and every
 * decision it owes with it. It gives the CPU back when it yields after its
 * pass (ops.dispatch then serves the CPU's queues first, as before), so this
 * only keeps it through the pass it is in. Part of make_room.
 */
void BPF_STRUCT_OPS(rustland_tick, struct task_struct *p)
{
	if (!make_room || !is_usersched_task(p) || p->scx.slice ||
	    !usersched_owes_calls())
		return;
	scx_bpf_task_set_slice(p, slice_ns);
	__sync_fetch_and_add(&nr_usersched_holds, 1);
}

/*
 * Count how long @tctx's task waited for its decision.
 */
static void account_decision_wait(struct task_ctx *tctx)
{
	u64 wait = scx_bpf_now() - tctx->queued_at;
	u32 bucket = 0;

	if (!tctx->queued_at)
		return;
	tctx->queued_at = 0;
	while (wait > 1 && bucket < RL_WAIT_BUCKETS - 1) {
		wait >>= 1;
		bucket++;
	}
	__sync_fetch_and_add(&decision_wait_hist[bucket & (RL_WAIT_BUCKETS - 1)], 1);
}

/*
 * Dispatch a task to a target per-CPU DSQ, waking up the corresponding CPU, if
 * needed.
 */
static void dispatch_task(const struct dispatched_task_ctx *task)
{
	struct task_ctx *tctx;
	struct task_struct *p;
	s32 prev_cpu, cpu = task->cpu;

	/* Ignore entry if the task doesn't exist anymore */
	p = bpf_task_from_pid(task->pid);
	if (!p)
		return;
	prev_cpu = scx_bpf_task_cpu(p);

	/* Looked up once: the wait accounting and the cancel check below. */
	tctx = try_lookup_task_ctx(p);
	if (tctx && tctx->enq_cnt == task->enq_cnt) {
		account_decision_wait(tctx);
		tctx->idle_prev_slice = (task->rl_flags & RL_IDLE_PREV) ?
			(task->slice_ns ?: slice_ns) : 0;
		tctx->preempt_prev = tctx->idle_prev_slice &&
			(task->rl_flags & RL_PREEMPT_PREV);
		tctx->deadline_exec = p->se.sum_exec_runtime;
	}

	/*
	 * Dispatch task to the shared DSQ if the user-space scheduler
	 * didn't select any specific target CPU.
	 */
	if (task->cpu == RL_CPU_ANY || is_cpu_offline(task->cpu)) {
		scx_bpf_dsq_insert_vtime(p, SHARED_DSQ,
					 task->slice_ns, task->vtime, task->flags);
		kick_task_cpu(p, prev_cpu);
		if (preempt_mode && (task->rl_flags & RL_PREEMPT))
			preempt_for(p, RL_CPU_ANY, task->vtime);
		goto out_release;
	}

	/*
	 * Dispatch the task to the target CPU selected by the
	 * user-space scheduler.
	 *
	 * However, if the target CPU is not valid (due to affinity
	 * constraints), keep the task on the previously used CPU,
	 * overriding the user-space scheduler decision.
	 */
	if (!bpf_cpumask_test_cpu(task->cpu, p->cpus_ptr)) {
		cpu = prev_cpu;
		__sync_fetch_and_add(&nr_bounce_dispatches, 1);
	} else {
		__sync_fetch_and_add(&nr_user_dispatches, 1);
	}
	scx_bpf_dsq_insert_vtime(p, cpu_to_dsq(cpu),
				 task->slice_ns, task->vtime, task->flags);

	/*
	 * If the task was dequeued while still in the user-space
	 * scheduler, this dispatch can be ignored.
	 *
	 * Another enqueue event for the same task will be received later.
	 */
	if (!tctx || tctx->enq_cnt > task->enq_cnt) {
		scx_bpf_dispatch_cancel();
		__sync_fetch_and_add(&nr_cancel_dispatches, 1);
		goto out_release;
	}

	/*
	 * CPU selected by the user-space scheduler is valid, kick it.
	 */
	scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	if (preempt_mode && (task->rl_flags & RL_PREEMPT))
		preempt_for(p, cpu, task->vtime);

out_release:
	bpf_task_release(p);
}

/*
 * Return true it's safe to dispatch directly on @cpu, false otherwise.
 */
static bool can_direct_dispatch(s32 cpu)
{
	return !scx_bpf_dsq_nr_queued(SHARED_DSQ) &&
	       !scx_bpf_dsq_nr_queued(cpu_to_dsq(cpu));
}

static void notify_placed(struct task_struct *p, s32 cpu);

/*
 * The clock deadlines are bounded around: the later of user space's and the
 * BPF side's (see bpf_vtime_now).
 */
static u64 vtime_clock(void)
{
	return MAX(usersched_vtime_now, bpf_vtime_now);
}

/*
 * How far ahead of the clock a deadline of @p's may be: REQUEUE_AHEAD_SLICES
 * base slices of its own run time, scaled by its weight.
 */
static u64 ahead_window(const struct task_struct *p)
{
	u64 weight = MAX(p->scx.weight, REQUEUE_MIN_WEIGHT);

	return REQUEUE_AHEAD_SLICES * slice_ns * 100 / weight;
}

/*
 * The BPF side charged @charge of @p's run to its deadline, now @deadline:
 * move the clock so that @deadline is within the window ahead of it — but by
 * no more than the charge (and one window): a deadline can be ahead of the
 * task's virtual runtime by more than the window (the model's slices reach
 * 20 ms), and a clock raised to it would move by time nobody ran.
 * Monotonic: a raise that another CPU's larger one beat is dropped.
 */
static void raise_vtime_clock(const struct task_struct *p, u64 deadline,
			      u64 charge)
{
	u64 ahead = ahead_window(p), target, old;
	int i;

	if (deadline <= ahead)
		return;
	target = MIN(deadline - ahead, vtime_clock() + MIN(charge, ahead));
	for (i = 0; i < 4; i++) {
		old = bpf_vtime_now;
		if (target <= old ||
		    __sync_val_compare_and_swap(&bpf_vtime_now, old, target) == old)
			return;
	}
}

/*
 * @deadline kept within the bounds around the clock (vtime_clock()), so that
 * deadlines the BPF side sets and those user space gives stay comparable: at
 * most @behind_slices base slices behind it, at most ahead_window() ahead.
 */
static u64 clock_bounded_deadline(const struct task_struct *p, u64 deadline,
				  u64 behind_slices)
{
	u64 clock = vtime_clock();

	deadline = MIN(deadline, clock + ahead_window(p));
	if (clock > behind_slices * slice_ns)
		deadline = MAX(deadline, clock - behind_slices * slice_ns);
	return deadline;
}

/*
 * The deadline a task placed by a fast path runs with (what the preemption and
 * keep-earliest checks compare): its last one, advanced by the CPU time it
 * used since that was set (scaled by its weight, as a virtual deadline moves),
 * then brought to the present as user space would at a wakeup — at most
 * FAST_PATH_CREDIT_SLICES base slices behind its clock (the credit a sleeper
 * keeps there: scx_mimic's WAKE_CREDIT_SLICES) and at most 4 base slices of
 * its own run time ahead (the re-queue's bound). It does not move the clock:
 * user space charges a placed task's run with the placement notice and moves
 * its own clock by it. *Why:* left as it was, a task
 * that had slept long kept a deadline far in the past, so no waking task could
 * preempt it and it kept its CPU at every slice end (mixed's probe p99 rose to
 * 3.2x EEVDF's); and uncharged, a task that ran for long between short sleeps
 * kept the deadline of its first wakeup, and could preempt the tasks it had
 * already run ahead of.
 */
static u64 wakeup_deadline(const struct task_struct *p,
			   const struct task_ctx *tctx)
{
	u64 weight = p->scx.weight ? p->scx.weight : 1;
	u64 exec = p->se.sum_exec_runtime;
	u64 ran = exec > tctx->deadline_exec ? exec - tctx->deadline_exec : 0;

	return clock_bounded_deadline(p, p->scx.dsq_vtime + ran * 100 / weight,
				      FAST_PATH_CREDIT_SLICES);
}

/*
 * @p's deadline is now @deadline, accounting for its CPU time so far.
 */
static void set_deadline(struct task_struct *p, struct task_ctx *tctx,
			 u64 deadline)
{
	p->scx.dsq_vtime = deadline;
	tctx->deadline_exec = p->se.sum_exec_runtime;
}

static u64 dsq_head_vtime(u64 dsq_id);

/*
 * Whether @p, with deadline @deadline, may preempt what runs on @cpu: the
 * running task may be preempted, its deadline is later (EEVDF's wakeup rule)
 * and it has had at least a base slice of CPU time since it became runnable
 * (EEVDF protects a task's slice, RUN_TO_PARITY); and nothing waits for that
 * CPU with an earlier deadline than @p's (its queue, the shared queue; its
 * local DSQ is empty), so @p jumps only tasks it would come before anyway.
 * *Why* the protection: without it, tasks that wake each other with every CPU
 * busy (hackbench, perf bench sched messaging) preempted each other at every
 * wakeup: hackbench 1 group 2.16x EEVDF's time (heuristic), messaging 1.11x
 * (model), where the round trip through user space had measured 0.8x and 0.7x.
 */
static bool may_preempt_cpu(const struct task_struct *p, s32 cpu, u64 deadline)
{
	struct cpu_run *run = lookup_cpu_run(cpu);
	u64 now = scx_bpf_now();

	if (!run || !run->busy || !run->preemptible || run->pid == p->pid ||
	    run->deadline <= deadline)
		return false;
	if (now < run->started_at ||
	    run->exec_before + (now - run->started_at) < slice_ns)
		return false;
	return dsq_head_vtime(SHARED_DSQ) > deadline &&
	       dsq_head_vtime(cpu_to_dsq(cpu)) > deadline &&
	       !scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL_ON | cpu);
}

/*
 * Whether a CPU @p may use is idle.
 */
static bool idle_cpu_allowed(const struct task_struct *p)
{
	const struct cpumask *idle;
	bool allowed;

	idle = scx_bpf_get_idle_cpumask();
	allowed = bpf_cpumask_intersects(idle, p->cpus_ptr);
	scx_bpf_put_idle_cpumask(idle);
	return allowed;
}

/*
 * The CPU waking task @p, under a standing decision to preempt
 * (tctx->preempt_prev, checked by the caller), should run on at once, ahead of
 * the task running there, or -1. Only when no CPU @p may use is idle, which the
 * caller checks (idle_cpu_allowed(): an idle CPU is EEVDF's
 * choice first, and the idle fast path's). Its previous CPU if @p may preempt
 * it; else, as user space's decision would do (the shared queue and a
 * preemption of the allowed CPU running the latest deadline, preempt_for()),
 * the allowed CPU running the latest deadline, if @p may preempt it.
 */
static s32 fast_preempt_cpu(const struct task_struct *p, s32 prev_cpu,
			    u64 deadline)
{
	struct cpu_run *run;
	u64 latest = deadline;
	s32 i, victim = -1;

	if (may_preempt_cpu(p, prev_cpu, deadline))
		return prev_cpu;

	bpf_for(i, 0, nr_cpu_ids) {
		if (i >= MAX_CPUS)
			break;
		if (i == prev_cpu || is_cpu_offline(i) ||
		    !bpf_cpumask_test_cpu(i, p->cpus_ptr))
			continue;
		run = &cpu_run[i];
		if (run->busy && run->preemptible && run->deadline > latest) {
			latest = run->deadline;
			victim = i;
		}
	}
	return victim >= 0 && may_preempt_cpu(p, victim, deadline) ? victim : -1;
}

/*
 * Queue fast path (prev_busy_queue): @p woke up, no CPU it may use is idle,
 * and user space's last decision for it left a standing decision
 * (RL_IDLE_PREV): put it in the shared queue now, in deadline order, with
 * that decision's slice and its deadline brought to the present as the idle
 * fast path does (wakeup_deadline()), and queue a placement notice — what
 * user space would decide for it (with no CPU idle, both of scx_mimic's
 * policies send every task to the shared queue), without the wait for user
 * space to get a CPU. Only when the task would wait in line anyway: not
 * when a CPU it may use runs a later deadline it may preempt by change 1's
 * rule (fast_preempt_cpu(), whatever the standing decision says of
 * preempting: user space decides those, and the scheduler's own room kick
 * gets such a task a CPU at once — without it, the model, which asks to
 * preempt less often, let cyclictest's thread wait behind CPU hogs: p99
 * 8.9–9.5 ms against 5.1–6.7), and not for kernel threads (user space gives
 * critical ones a deadline far ahead of the others). *Why:* with every CPU busy the
 * decision waits for the scheduler process to get a CPU; tasks that wake
 * each other on a busy machine (hackbench, perf bench sched messaging) waited
 * over 4 ms for 30% of their decisions under TCG (queued while the scheduler
 * ran, after its last look; or with its room kick made and it not yet
 * running), where the decision itself is known. True if @p was queued.
 */
static bool queue_fast_path(struct task_struct *p, s32 prev_cpu, u64 enq_flags)
{
	struct task_ctx *tctx;
	u64 deadline;

	if (!prev_busy_queue || builtin_idle || !(enq_flags & SCX_ENQ_WAKEUP) ||
	    is_kthread(p))
		return false;
	tctx = try_lookup_task_ctx(p);
	if (!tctx || !tctx->idle_prev_slice)
		return false;

	if (idle_cpu_allowed(p))
		return false;

	deadline = wakeup_deadline(p, tctx);
	if (fast_preempt_cpu(p, prev_cpu, deadline) >= 0)
		return false;

	set_deadline(p, tctx, deadline);
	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, tctx->idle_prev_slice, deadline,
				 enq_flags);
	__sync_fetch_and_add(&nr_kernel_dispatches, 1);
	__sync_fetch_and_add(&nr_fast_queued, 1);
	notify_placed(p, prev_cpu);
	return true;
}

s32 BPF_STRUCT_OPS(rustland_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	s32 cpu, this_cpu = bpf_get_smp_processor_id();
	bool is_this_cpu_allowed = bpf_cpumask_test_cpu(this_cpu, p->cpus_ptr);
	struct task_ctx *tctx = try_lookup_task_ctx(p);
	bool standing;

	/* Remember the waker's CPU for the enqueue that follows (get_task_info()). */
	if (tctx)
		tctx->waker_cpu = this_cpu;

	/*
	 * Make sure @prev_cpu is usable, otherwise try to move close to
	 * the waker's CPU. If the waker's CPU is also not usable, then
	 * pick the first usable CPU.
	 */
	if (!bpf_cpumask_test_cpu(prev_cpu, p->cpus_ptr))
		prev_cpu = is_this_cpu_allowed ? this_cpu : bpf_cpumask_first(p->cpus_ptr);

	/*
	 * Scheduler is dispatched directly in .dispatch() when needed, so
	 * we can skip it here.
	 */
	if (is_usersched_task(p))
		return prev_cpu;

	/*
	 * Idle fast path: on a wakeup, if user space left a standing decision
	 * for the task (RL_IDLE_PREV) and its previous CPU is idle, run the
	 * task there now, with that decision's slice, in its local DSQ
	 * (consumed before ops.dispatch(), so the user-space scheduler does not
	 * get the CPU first), and tell user space afterwards.
	 */
	standing = prev_idle_fast && !builtin_idle && is_wakeup(wake_flags) &&
		   tctx && tctx->idle_prev_slice;
	if (standing && can_direct_dispatch(prev_cpu) &&
	    scx_bpf_test_and_clear_cpu_idle(prev_cpu)) {
		set_deadline(p, tctx, wakeup_deadline(p, tctx));
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, tctx->idle_prev_slice, 0);
		__sync_fetch_and_add(&nr_kernel_dispatches, 1);
		__sync_fetch_and_add(&nr_fast_dispatches, 1);
		notify_placed(p, prev_cpu);
		return prev_cpu;
	}

	/*
	 * Wakeup preemption under the same standing decision (with
	 * RL_PREEMPT_PREV): no CPU is idle, and the previous CPU — else the
	 * CPU running the latest deadline — runs a task whose deadline is
	 * later than this task's, brought to the present as above
	 * (fast_preempt_cpu()). Insert it at the head of that CPU's local DSQ
	 * with SCX_ENQ_PREEMPT, which ends the running task's slice in the
	 * same step (a kick before the insertion could let that CPU pick
	 * another task first). *Why:* otherwise every such wakeup waits for
	 * user space to get a CPU, on a busy system by a preemption of its
	 * own (make_room), and then for a second preemption. (What it costs
	 * where tasks wake each other on a busy machine: PATCH.md change 18.)
	 * Off, or not asked for this task: nothing computed here.
	 */
	if (standing && prev_busy_preempt && preempt_mode && tctx->preempt_prev) {
		u64 deadline = wakeup_deadline(p, tctx);

		cpu = idle_cpu_allowed(p) ? -1 :
		      fast_preempt_cpu(p, prev_cpu, deadline);
		if (cpu >= 0) {
			set_deadline(p, tctx, deadline);
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, tctx->idle_prev_slice,
					   SCX_ENQ_HEAD | SCX_ENQ_PREEMPT);
			__sync_fetch_and_add(&nr_kernel_dispatches, 1);
			__sync_fetch_and_add(&nr_fast_preempts, 1);
			notify_placed(p, cpu);
			return cpu;
		}
	}

	/*
	 * If built-in idle CPU policy is not enabled, completely delegate
	 * the idle selection policy to user-space and keep reusing the
	 * same CPU here.
	 */
	if (!builtin_idle)
		return prev_cpu;

	/*
	 * Pick the idle CPU closest to @prev_cpu usable by the task.
	 */
	cpu = pick_idle_cpu(p, prev_cpu, wake_flags);
	if (cpu >= 0) {
		if (can_direct_dispatch(cpu)) {
			scx_bpf_dsq_insert_vtime(p, cpu_to_dsq(cpu),
						 slice_ns, p->scx.dsq_vtime, 0);
			__sync_fetch_and_add(&nr_kernel_dispatches, 1);
		}
		return cpu;
	}

	/*
	 * If we couldn't find an idle CPU, in case of a sync wakeup
	 * prioritize the waker's CPU.
	 */
	return prev_cpu;
}

/*
 * Select and wake-up an idle CPU for a specific task from the user-space
 * scheduler.
 */
SEC("syscall")
int rs_select_cpu(struct task_cpu_arg *input)
{
	struct task_struct *p;
	int cpu = input->cpu;

	p = bpf_task_from_pid(input->pid);
	if (!p)
		return -EINVAL;

	bpf_rcu_read_lock();
	/*
	 * Kernels that don't provide scx_bpf_select_cpu_and() only allow
	 * to use the built-in idle CPU selection policy only from
	 * ops.select_cpu() and opt.enqueue(), return any idle CPU usable
	 * by the task in this case.
	 */
	if (!__COMPAT_HAS_scx_bpf_select_cpu_and) {
		if (!scx_bpf_test_and_clear_cpu_idle(cpu))
			cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	} else {
		/*
		 * Set SCX_WAKE_TTWU, pretending to be a wakeup, to prioritize
		 * faster CPU selection (we probably want to add an option to allow
		 * the user-space scheduler to use this logic or not).
		 */
		cpu = pick_idle_cpu(p, cpu, SCX_WAKE_TTWU);
	}
	bpf_rcu_read_unlock();

	bpf_task_release(p);

	return cpu;
}

/*
 * Fill @task with all the information that need to be sent to the user-space
 * scheduler.
 */
static void get_task_info(struct queued_task_ctx *task,
			  const struct task_struct *p,
			  struct task_ctx *tctx, u64 enq_flags, s32 prev_cpu)
{
	struct cpu_run *run;

	task->pid = p->pid;
	task->cpu = prev_cpu;
	task->nr_cpus_allowed = p->nr_cpus_allowed;
	task->flags = enq_flags;
	task->start_ts = tctx->start_ts;
	task->stop_ts = tctx->stop_ts;
	task->exec_runtime = tctx->exec_runtime;
	task->weight = p->scx.weight;
	task->vtime = p->scx.dsq_vtime;
	task->enq_cnt = ++tctx->enq_cnt;
	task->rl_flags = is_kthread(p) ? RL_TASK_KTHREAD : 0;
	task->enq_ts = scx_bpf_now();
	task->stint_exec = p->se.sum_exec_runtime > tctx->start_exec ?
			   p->se.sum_exec_runtime - tctx->start_exec : 0;
	/*
	 * The waker's CPU belongs to the enqueue right after ops.select_cpu():
	 * a wakeup, or a new task's first enqueue (no SCX_ENQ_WAKEUP, but
	 * selected on the parent's CPU). Used once, so a later enqueue without
	 * a selection (a preempted task) never reports a stale one.
	 */
	task->waker_cpu = tctx->waker_cpu;
	tctx->waker_cpu = -1;

	/*
	 * What runs on the previous CPU: how long it has run, and how much CPU
	 * time it has had since it became runnable (EEVDF weighs how far the
	 * running task has run ahead against a waking one).
	 */
	task->prev_curr_run = 0;
	task->prev_curr_exec = 0;
	run = lookup_cpu_run(prev_cpu);
	if (run && run->pid && run->pid != p->pid && task->enq_ts > run->started_at) {
		task->prev_curr_run = task->enq_ts - run->started_at;
		task->prev_curr_exec = run->exec_before + task->prev_curr_run;
	}

	bpf_core_read_str(&task->comm, sizeof(task->comm), &p->comm);
}

/*
 * Tell user space that @p was placed on @cpu by the idle fast path.
 */
static bool queue_notice(struct task_struct *p, struct task_ctx *tctx,
			 u64 enq_flags, s32 cpu, u64 rl_flag);

static void notify_placed(struct task_struct *p, s32 cpu)
{
	struct task_ctx *tctx;

	tctx = try_lookup_task_ctx(p);
	if (tctx && !queue_notice(p, tctx, 0, cpu, RL_TASK_PLACED))
		__sync_fetch_and_add(&nr_placed_lost, 1);
}

/*
 * Queue to user space a notice of what the BPF side did with @p by itself
 * (@rl_flag: RL_TASK_PLACED, RL_TASK_REQUEUED), for its bookkeeping: the
 * task's information as for a decision, but nothing to dispatch. False if the
 * ring was full.
 */
static bool queue_notice(struct task_struct *p, struct task_ctx *tctx,
			 u64 enq_flags, s32 cpu, u64 rl_flag)
{
	struct queued_task_ctx *task;

	task = bpf_ringbuf_reserve(&queued, sizeof(*task), 0);
	if (!task)
		return false;
	get_task_info(task, p, tctx, enq_flags, cpu);
	task->rl_flags |= rl_flag;
	bpf_ringbuf_submit(task, 0);
	return true;
}

/*
 * User-space scheduler is congested: log that and increment congested counter.
 */
static void sched_congested(struct task_struct *p)
{
	dbg_msg("congested: pid=%d (%s)", p->pid, p->comm);
	__sync_fetch_and_add(&nr_sched_congested, 1);
}

/*
 * Return true if a task has been enqueued as a remote wakeup, false
 * otherwise.
 */
static bool is_queued_wakeup(const struct task_struct *p, u64 enq_flags)
{
	return !__COMPAT_is_enq_cpu_selected(enq_flags) && !scx_bpf_task_running(p);
}

/*
 * Queue a task to the user-space scheduler.
 */
static void queue_task_to_userspace(struct task_struct *p, s32 prev_cpu, u64 enq_flags)
{
	struct queued_task_ctx *task;
	struct task_ctx *tctx;

	tctx = try_lookup_task_ctx(p);
	if (!tctx)
		return;

	/*
	 * Allocate a new entry in the ring buffer.
	 *
	 * If ring buffer is full, the user-space scheduler is congested,
	 * so dispatch the task directly using the shared DSQ (the task
	 * will be consumed by the first CPU available).
	 */
	task = bpf_ringbuf_reserve(&queued, sizeof(*task), 0);
	if (!task) {
		sched_congested(p);
		scx_bpf_dsq_insert_vtime(p, SHARED_DSQ,
					 slice_ns, p->scx.dsq_vtime, enq_flags);
		__sync_fetch_and_add(&nr_kernel_dispatches, 1);
		return;
	}

	/*
	 * Collect task information and store them in the ring buffer that
	 * will be consumed by the user-space scheduler.
	 */
	dbg_msg("enqueue: pid=%d (%s)", p->pid, p->comm);
	get_task_info(task, p, tctx, enq_flags, prev_cpu);
	tctx->queued_at = scx_bpf_now();
	/* Counted before it is visible: user space never sees more than sent. */
	__sync_fetch_and_add(&nr_calls_sent, 1);
	bpf_ringbuf_submit(task, 0);
	__sync_fetch_and_add(&nr_queued, 1);

	/*
	 * Only for wakeups: a task whose slice ended is queued from its own
	 * CPU, which then runs the scheduler anyway.
	 */
	if (make_room && (enq_flags & SCX_ENQ_WAKEUP))
		make_room_for_usersched();
}

/*
 * @p, whose slice ended, is enqueued again after ops.dispatch() gave its CPU
 * to another task (see tctx->requeue): put it back in line here, with its
 * advanced deadline and the base slice, instead of sending it through user
 * space (after a slice end EEVDF's next request is the base slice too; the
 * slice user space chose covers the stint that began at the wakeup). *Why:*
 * while it travels, the task that displaced it runs on, and at that task's own
 * slice end nothing earlier is queued, so its slice is renewed: a nice-10 task sharing a CPU with a nice-0 one got about a tick
 * more per round than its weight allows (ratio 2.3-4.4 where EEVDF gives
 * 8-9). EEVDF keeps a preempted task on its run queue, where it competes at
 * once. It goes to the shared queue, where any CPU it may use can take it (no
 * CPU keeps a backlog while another idles, and a pinned task does not overtake
 * the shared queue from its CPU's own); an idle CPU it may use is woken. User
 * space is told afterwards, to charge the stint. Returns false if @p was not
 * marked.
 */
static bool requeue_task(struct task_struct *p, s32 prev_cpu, u64 enq_flags)
{
	struct task_ctx *tctx;
	u64 deadline;
	s32 cpu;

	tctx = try_lookup_task_ctx(p);
	if (!tctx || !tctx->requeue)
		return false;
	tctx->requeue = 0;
	tctx->deadline_at = scx_bpf_now();
	tctx->deadline_exec = p->se.sum_exec_runtime;

	/*
	 * Within the bounds around the clock (REQUEUE_*_SLICES): its deadline
	 * and those user space gives must be comparable. The clock first moves
	 * with the run just charged, so the bound ahead takes none of it back.
	 */
	raise_vtime_clock(p, tctx->requeue_vtime, tctx->requeue_charge);
	deadline = clock_bounded_deadline(p, tctx->requeue_vtime,
					  REQUEUE_BEHIND_SLICES);

	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, slice_ns, deadline, enq_flags);
	__sync_fetch_and_add(&nr_requeued, 1);
	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);

	/* Counted before it is visible, as a task to decide (nr_calls_sent). */
	__sync_fetch_and_add(&nr_calls_sent, 1);
	if (!queue_notice(p, tctx, enq_flags, prev_cpu, RL_TASK_REQUEUED)) {
		__sync_fetch_and_add(&nr_requeue_lost, 1);
		__sync_fetch_and_sub(&nr_calls_sent, 1);
	}
	return true;
}

/*
 * Task @p becomes ready to run. We can dispatch the task directly here if the
 * user-space scheduler is not required, or enqueue it to be processed by the
 * scheduler.
 */
void BPF_STRUCT_OPS(rustland_enqueue, struct task_struct *p, u64 enq_flags)
{
	s32 prev_cpu = scx_bpf_task_cpu(p), cpu;
	bool is_wakeup = is_queued_wakeup(p, enq_flags);

	/*
	 * Insert the user-space scheduler to its dedicated DSQ, it will be
	 * consumed from ops.dispatch() only when there's any pending
	 * scheduling action to do.
	 */
	if (is_usersched_task(p)) {
		scx_bpf_dsq_insert(p, SCHED_DSQ, slice_ns, enq_flags);
		goto out_kick;
	}

	/*
	 * Always dispatch per-CPU kthreads directly on their target CPU.
	 *
	 * This allows to prioritize critical kernel threads that may
	 * potentially stall the entire system if they are blocked for too long
	 * (i.e., ksoftirqd/N, rcuop/N, etc.).
	 */
	if ((is_kthread(p) && p->nr_cpus_allowed == 1) || is_kswapd(p) || is_khugepaged(p)) {
		scx_bpf_dsq_insert_vtime(p, cpu_to_dsq(prev_cpu),
					 slice_ns, p->scx.dsq_vtime, enq_flags);
		__sync_fetch_and_add(&nr_kernel_dispatches, 1);
		goto out_kick;
	}

	/*
	 * A task whose slice ended, displaced by an earlier deadline, goes back
	 * in line on the BPF side (see requeue_task()).
	 */
	if (requeue_expired && !(enq_flags & SCX_ENQ_WAKEUP) &&
	    requeue_task(p, prev_cpu, enq_flags))
		goto out_kick;

	/*
	 * A waking task that user space would send to the shared queue goes
	 * there now (see queue_fast_path()).
	 */
	if (queue_fast_path(p, prev_cpu, enq_flags))
		goto out_kick;

	/*
	 * If @builtin_idle is enabled, give the task a chance to be
	 * directly dispatched only on a wakeup and only if
	 * ops.select_cpu() was skipped, otherwise the task is always
	 * queued to the user-space scheduler.
	 */
	if (!(builtin_idle && is_wakeup)) {
		queue_task_to_userspace(p, prev_cpu, enq_flags);
		goto out_kick;
	}

	/*
	 * Try to find an idle CPU in the system, if all CPUs are busy
	 * queue the task to the user-space scheduler.
	 */
	cpu = pick_idle_cpu(p, prev_cpu, 0);
	if (cpu < 0) {
		queue_task_to_userspace(p, prev_cpu, enq_flags);
		goto out_kick;
	}

	/*
	 * Always force a CPU wakeup, so that the allocated CPU can be
	 * released and go back idle even if the task isn't directly
	 * dispatched.
	 */
	prev_cpu = cpu;
	is_wakeup = true;

	/*
	 * Bounce the task to the user-space scheduler if we can't directly
	 * dispatch to the selected CPU.
	 */
	if (!can_direct_dispatch(cpu)) {
		queue_task_to_userspace(p, prev_cpu, enq_flags);
		goto out_kick;
	}

	/*
	 * We can race with a dequeue here and the selected idle CPU might
	 * be not valid anymore, if the task affinity has changed.
	 *
	 * In this case just wakeup the picked CPU and ignore the enqueue,
	 * another enqueue event for the same task will be received later.
	 */
	if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
		goto out_kick;

	/*
	 * Directly dispatch the task to selected idle CPU (queued wakeup).
	 */
	scx_bpf_dsq_insert_vtime(p, cpu_to_dsq(cpu),
				 slice_ns, p->scx.dsq_vtime, enq_flags);
	__sync_fetch_and_add(&nr_kernel_dispatches, 1);

out_kick:
	/*
	 * Wakeup the task's CPU if needed.
	 */
	if (is_wakeup)
		scx_bpf_kick_cpu(prev_cpu, SCX_KICK_IDLE);
}

/*
 * Handle a task dispatched from user-space, performing the actual low-level
 * BPF dispatch.
 */
static long handle_dispatched_task(struct bpf_dynptr *dynptr, void *context)
{
	const struct dispatched_task_ctx *task;

	task = bpf_dynptr_data(dynptr, 0, sizeof(*task));
	if (!task)
		return 0;

	dispatch_task(task);

	return !!scx_bpf_dispatch_nr_slots();
}

/*
 * The vtime of the first task in @dsq_id (vtime order), or U64_MAX if empty.
 */
static u64 dsq_head_vtime(u64 dsq_id)
{
	struct task_struct *p;
	u64 vtime = U64_MAX;

	bpf_for_each(scx_dsq, p, dsq_id, 0) {
		vtime = p->scx.dsq_vtime;
		break;
	}
	return vtime;
}

/*
 * @prev's deadline advanced by the time it ran since it was last set (by user
 * space, or by the BPF side below), scaled by its weight, as a virtual
 * deadline moves.
 */
static u64 advanced_deadline(const struct task_struct *prev,
			     const struct task_ctx *tctx, u64 now)
{
	u64 weight = prev->scx.weight ? prev->scx.weight : 1;
	u64 since = MAX(tctx->deadline_at, tctx->start_ts);

	/* deadline_at may be stamped by another CPU's clock, a little later */
	return prev->scx.dsq_vtime +
	       (now > since ? now - since : 0) * 100 / weight;
}

/*
 * @prev's slice ended on @cpu and it still wants to run. EEVDF would pick the
 * earliest eligible deadline, @prev included; ours is about to travel through
 * user space (or, with requeue_expired, back to a queue), and meanwhile the
 * CPU would take the head of its queues: two tasks on one CPU would then
 * strictly alternate whatever their weights (nice would mean nothing). So keep
 * @prev while its advanced deadline is no later than the heads of this CPU's
 * queue and the shared queue. The run time reaches user space with the next
 * enqueue or notice (stop_ts - start_ts covers every kept slice), so its
 * virtual runtime is charged in full.
 */
static bool keep_prev(struct task_struct *prev, struct task_ctx *tctx,
		      s32 cpu, u64 deadline, u64 now)
{
	struct cpu_run *run;
	u64 head;

	head = MIN(dsq_head_vtime(cpu_to_dsq(cpu)), dsq_head_vtime(SHARED_DSQ));
	if (head == U64_MAX)
		return false;	/* nothing else to run: replenished below */
	if (deadline > head)
		return false;

	raise_vtime_clock(prev, deadline, deadline - prev->scx.dsq_vtime);
	scx_bpf_task_set_dsq_vtime(prev, deadline);
	scx_bpf_task_set_slice(prev, slice_ns);
	tctx->deadline_at = now;
	tctx->deadline_exec = prev->se.sum_exec_runtime;
	run = lookup_cpu_run(cpu);
	if (run)
		run->deadline = deadline;
	__sync_fetch_and_add(&nr_kept, 1);
	return true;
}

/*
 * Dispatch tasks that are ready to run.
 *
 * This function is called when a CPU's local DSQ is empty and ready to accept
 * new dispatched tasks.
 *
 * We may dispatch tasks also on other CPUs from here, if the scheduler decided
 * so (usually if other CPUs are idle we may want to send more tasks to their
 * local DSQ to optimize the scheduling pipeline).
 */
void BPF_STRUCT_OPS(rustland_dispatch, s32 cpu, struct task_struct *prev)
{
	/*
	 * Consume all tasks from the @dispatched list and immediately
	 * dispatch them on the target CPU decided by the user-space
	 * scheduler.
	 */
	struct task_ctx *prev_ctx = NULL;
	u64 now = scx_bpf_now(), deadline = 0;
	s32 ret;

	/*
	 * @prev's slice ended and it still wants to run: where it would stand
	 * in line now. With requeue_expired, mark it to be re-queued there by
	 * its next enqueue unless it keeps its CPU below.
	 */
	if (prev && is_queued(prev) && !is_usersched_task(prev) &&
	    (keep_earliest || requeue_expired)) {
		prev_ctx = try_lookup_task_ctx(prev);
		if (prev_ctx) {
			deadline = advanced_deadline(prev, prev_ctx, now);
			prev_ctx->requeue = requeue_expired;
			prev_ctx->requeue_vtime = deadline;
			prev_ctx->requeue_charge = deadline - prev->scx.dsq_vtime;
		}
	}

	ret = bpf_user_ringbuf_drain(&dispatched,
				     handle_dispatched_task, NULL, BPF_RB_NO_WAKEUP);
	if (ret)
		dbg_msg("User ringbuf drain error: %d", ret);

	/*
	 * Dispatch the user-space scheduler if there's any pending action
	 * to do.
	 */
	if (usersched_has_pending_tasks() &&
	    scx_bpf_dsq_move_to_local(SCHED_DSQ, 0))
		return;

	/*
	 * Keep the expiring task if its deadline is still the earliest.
	 */
	if (keep_earliest && prev_ctx &&
	    keep_prev(prev, prev_ctx, cpu, deadline, now)) {
		prev_ctx->requeue = 0;
		return;
	}

	/*
	 * Consume a task from the per-CPU DSQ.
	 */
	if (scx_bpf_dsq_move_to_local(cpu_to_dsq(cpu), 0))
		return;

	/*
	 * Consume a task from the shared DSQ.
	 */
	if (scx_bpf_dsq_move_to_local(SHARED_DSQ, 0))
		return;

	/*
	 * Tasks that reached the queue of an offline or stalled CPU after it
	 * was emptied: any CPU they may use takes them.
	 */
	{
		s32 i;

		bpf_for(i, 0, nr_cpu_ids) {
			if (i >= MAX_CPUS)
				break;
			if ((cpu_offline[i] || cpu_stalled[i]) &&
			    scx_bpf_dsq_move_to_local(cpu_to_dsq(i), 0))
				return;
		}
	}

	/*
	 * If the current task expired its time slice and no other task
	 * wants to run, simply replenish its time slice and let it run for
	 * another round on the same CPU.
	 *
	 * In case of the user-space scheduler task, replenish its time
	 * slice only if there're still pending scheduling actions to do.
	 */
	if (prev && is_queued(prev) &&
	    (!is_usersched_task(prev) || usersched_has_pending_tasks())) {
		scx_bpf_task_set_slice(prev, slice_ns);
		if (prev_ctx)
			prev_ctx->requeue = 0;
	}
}

void BPF_STRUCT_OPS(rustland_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx;

	if (is_usersched_task(p))
		return;

	tctx = try_lookup_task_ctx(p);
	if (!tctx)
		return;

	tctx->exec_runtime = 0;
	tctx->runnable_exec = p->se.sum_exec_runtime;
}

/*
 * The slice of the task that started on CPU *@key has run out: if it still
 * runs and a task waits for a CPU (the shared queue, this CPU's queue, or
 * tasks queued to user space), end the slice now, as the tick would later
 * (the slice end then goes through ops.dispatch: keep_prev() or a re-queue).
 */
static int slice_timer_fn(void *map, int *key, struct bpf_timer *timer)
{
	struct slice_timer *st = (struct slice_timer *)timer;
	s32 cpu = *key;
	struct cpu_run *run = lookup_cpu_run(cpu);

	if (!run || !run->busy || !run->preemptible ||
	    run->started_at != st->started_at)
		return 0;
	if (can_direct_dispatch(cpu) && !usersched_has_pending_tasks())
		return 0;
	__sync_fetch_and_add(&nr_slice_timer_kicks, 1);
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	return 0;
}

/*
 * Arm @cpu's slice timer for the task that started running at @started_at
 * with a slice of @slice ns (an infinite slice arms nothing).
 */
static void arm_slice_timer(s32 cpu, u64 started_at, u64 slice)
{
	u32 key = cpu;
	struct slice_timer *st;

	if (!slice || slice == SCX_SLICE_INF)
		return;
	st = bpf_map_lookup_elem(&slice_timers, &key);
	if (!st)
		return;
	st->started_at = started_at;
	bpf_timer_start(&st->timer, slice, BPF_F_TIMER_CPU_PIN);
}

/*
 * Initialize every CPU's slice timer.
 */
static int slice_timers_init(void)
{
	struct slice_timer *st;
	u32 key;
	s32 i;

	bpf_for(i, 0, nr_cpu_ids) {
		if (i >= MAX_CPUS)
			break;
		key = i;
		st = bpf_map_lookup_elem(&slice_timers, &key);
		if (!st)
			return -ESRCH;
		bpf_timer_init(&st->timer, &slice_timers, CLOCK_MONOTONIC);
		bpf_timer_set_callback(&st->timer, slice_timer_fn);
	}
	return 0;
}

/*
 * Task @p starts on its selected CPU (update CPU ownership map).
 */
void BPF_STRUCT_OPS(rustland_running, struct task_struct *p)
{
	s32 cpu = scx_bpf_task_cpu(p);
	struct task_ctx *tctx;

	struct cpu_run *run = lookup_cpu_run(cpu);

	/*
	 * A task starts on this CPU: its queue is served (see cpu_stalled). Not
	 * a per-CPU kthread: those still run on a CPU going down, which takes
	 * nothing else any more.
	 */
	if ((u32)cpu < MAX_CPUS && !(is_kthread(p) && p->nr_cpus_allowed == 1)) {
		cpu_served_at[(u32)cpu & (MAX_CPUS - 1)] = scx_bpf_now();
		cpu_stalled[(u32)cpu & (MAX_CPUS - 1)] = 0;
	}

	if (run) {
		run->busy = 1;
		run->deadline = p->scx.dsq_vtime;
		run->preemptible = !is_usersched_task(p) &&
			!(is_kthread(p) && p->nr_cpus_allowed == 1) &&
			!is_kswapd(p) && !is_khugepaged(p);
	}

	if (is_usersched_task(p)) {
		usersched_last_run_at = scx_bpf_now();
		usersched_running = true;
		usersched_cpu = cpu;
		room_kick_pending = 0;
		return;
	}

	dbg_msg("start: pid=%d (%s) cpu=%ld", p->pid, p->comm, cpu);

	/*
	 * Mark the CPU as busy by setting the pid as owner (ignoring the
	 * user-space scheduler).
	 */
	__sync_fetch_and_add(&nr_running, 1);

	tctx = try_lookup_task_ctx(p);
	if (!tctx)
		return;
	tctx->requeue = 0;	/* a mark not used by an enqueue is stale */
	tctx->start_ts = scx_bpf_now();
	tctx->start_exec = p->se.sum_exec_runtime;
	if (run) {
		run->started_at = tctx->start_ts;
		run->exec_before = p->se.sum_exec_runtime > tctx->runnable_exec ?
				   p->se.sum_exec_runtime - tctx->runnable_exec : 0;
		run->pid = p->pid;
		/*
		 * Never sooner than a base slice: a shorter slice is a
		 * policy's guess of how soon the task blocks (the model's
		 * budgets go down to 50 us), and ending each on time cost
		 * pipe 2.85x EEVDF's time against the heuristic's 1.58x.
		 */
		if (slice_timer && run->preemptible)
			arm_slice_timer(cpu, tctx->start_ts,
					p->scx.slice > slice_ns ? p->scx.slice : slice_ns);
	}
}

/*
 * Task @p stops running on its associated CPU (update CPU ownership map).
 */
void BPF_STRUCT_OPS(rustland_stopping, struct task_struct *p, bool runnable)
{
	u64 now = scx_bpf_now();
	s32 cpu = scx_bpf_task_cpu(p);
	struct cpu_run *run = lookup_cpu_run(cpu);
	struct task_ctx *tctx;

	if (run) {
		run->busy = 0;
		run->preemptible = 0;
		run->pid = 0;
	}

	if (is_usersched_task(p)) {
		usersched_running = false;
		return;
	}

	dbg_msg("stop: pid=%d (%s) cpu=%ld", p->pid, p->comm, cpu);

	__sync_fetch_and_sub(&nr_running, 1);

	tctx = try_lookup_task_ctx(p);
	if (!tctx)
		return;
	tctx->stop_ts = now;

	/*
	 * Update the partial execution time since last sleep.
	 */
	tctx->exec_runtime += now - tctx->start_ts;
}

/*
 * A task joins the sched_ext scheduler.
 */
void BPF_STRUCT_OPS(rustland_enable, struct task_struct *p)
{
	scx_bpf_task_set_dsq_vtime(p, 0);
	scx_bpf_task_set_slice(p, slice_ns);
}

/*
 * Heartbeat scheduler timer callback.
 *
 * If the system is completely idle the sched-ext watchdog may incorrectly
 * detect that as a stall and automatically disable the scheduler. So, use this
 * timer to periodically wake-up the scheduler and avoid long inactivity.
 *
 * This can also help to prevent real "stalling" conditions in the scheduler.
 */
static void rescue_offline_queues(void);

static int usersched_timer_fn(void *map, int *key, struct bpf_timer *timer)
{
	struct task_struct *p;
	int err = 0;

	/*
	 * Trigger the user-space scheduler if it has been inactive for
	 * more than USERSCHED_TIMER_NS.
	 */
	if (time_delta(scx_bpf_now(), usersched_last_run_at) >= USERSCHED_TIMER_NS) {
		p = bpf_task_from_pid(usersched_pid);
		if (p) {
			set_usersched_needed();
			scx_bpf_kick_cpu(scx_bpf_task_cpu(p), SCX_KICK_IDLE);
			bpf_task_release(p);
		}
	}

	/*
	 * Tasks stranded on the queue of an offline CPU (see cpu_offline()), or
	 * of one where no task has started for a heartbeat (see cpu_stalled).
	 */
	{
		u64 now = scx_bpf_now();
		bool stalled = false;
		s32 i;

		bpf_for(i, 0, nr_cpu_ids) {
			if (i >= MAX_CPUS)
				break;
			if (!cpu_offline[i] && scx_bpf_dsq_nr_queued(cpu_to_dsq(i)) &&
			    time_delta(now, cpu_served_at[i]) >= USERSCHED_TIMER_NS) {
				if (!cpu_stalled[i])
					__sync_fetch_and_add(&nr_stalled_cpu_rescues, 1);
				cpu_stalled[i] = 1;
				stalled = true;
			}
		}
		if (nr_offline_cpus || stalled)
			rescue_offline_queues();
	}

	/* Re-arm the timer */
	err = bpf_timer_start(timer, USERSCHED_TIMER_NS, 0);
	if (err)
		scx_bpf_error("Failed to arm stats timer");

	return 0;
}

/*
 * Initialize the heartbeat scheduler timer.
 */
static int usersched_timer_init(void)
{
	struct bpf_timer *timer;
	u32 key = 0;
	int err;

	timer = bpf_map_lookup_elem(&usersched_timer, &key);
	if (!timer) {
		scx_bpf_error("Failed to lookup scheduler timer");
		return -ESRCH;
	}
	bpf_timer_init(timer, &usersched_timer, CLOCK_BOOTTIME);
	bpf_timer_set_callback(timer, usersched_timer_fn);
	err = bpf_timer_start(timer, USERSCHED_TIMER_NS, 0);
	if (err)
		scx_bpf_error("Failed to arm scheduler timer");

	return err;
}

/*
 * Evaluate the amount of online CPUs.
 */
static s32 get_nr_online_cpus(void)
{
	const struct cpumask *online_cpumask;
	s32 cpus = 0;

	online_cpumask = scx_bpf_get_online_cpumask();
	cpus = bpf_cpumask_weight(online_cpumask);
	scx_bpf_put_cpumask(online_cpumask);

	return cpus;
}

/*
 * Create a DSQ for each CPU available in the system and a global shared DSQ.
 *
 * All the tasks processed by the user-space scheduler can be dispatched either
 * to a specific CPU/DSQ or to the first CPU available (SHARED_DSQ).
 *
 * Custom DSQs are then consumed from the .dispatch() callback, that will
 * transfer all the enqueued tasks to the consuming CPU's local DSQ.
 */
static int dsq_init(void)
{
	int err;
	s32 cpu;

	/* Initialize amount of online CPUs */
	nr_online_cpus = get_nr_online_cpus();

	/* Create per-CPU DSQs */
	bpf_for(cpu, 0, nr_cpu_ids) {
		err = scx_bpf_create_dsq(cpu_to_dsq(cpu), -1);
		if (err) {
			scx_bpf_error("failed to create pcpu DSQ %d: %d",
				      cpu, err);
			return err;
		}
	}

	/* Create the global shared DSQ */
	err = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (err) {
		scx_bpf_error("failed to create shared DSQ: %d", err);
		return err;
	}

	/* Create the scheduler's DSQ */
	err = scx_bpf_create_dsq(SCHED_DSQ, -1);
	if (err) {
		scx_bpf_error("failed to create scheduler DSQ: %d", err);
		return err;
	}

	return 0;
}

/*
 * Task @p exits: tell user space, so that it frees what it kept for the pid
 * now (a reused pid must not inherit the old task's history).
 */
void BPF_STRUCT_OPS(rustland_exit_task, struct task_struct *p,
		    struct scx_exit_task_args *args)
{
	struct queued_task_ctx *task;

	if (!notify_exit || is_usersched_task(p))
		return;

	task = bpf_ringbuf_reserve(&queued, sizeof(*task), 0);
	if (!task) {
		__sync_fetch_and_add(&nr_exit_lost, 1);
		return;
	}
	__builtin_memset(task, 0, sizeof(*task));
	task->pid = p->pid;
	task->cpu = scx_bpf_task_cpu(p);
	task->rl_flags = RL_TASK_EXITED | (is_kthread(p) ? RL_TASK_KTHREAD : 0);
	bpf_core_read_str(&task->comm, sizeof(task->comm), &p->comm);
	bpf_ringbuf_submit(task, 0);
	__sync_fetch_and_add(&nr_exit_events, 1);
}

/*
 * A CPU comes online: count it. Defining the hotplug callbacks tells the
 * kernel that this scheduler copes with hotplug, so it is not restarted.
 */
void BPF_STRUCT_OPS(rustland_cpu_online, s32 cpu)
{
	if ((u32)cpu < MAX_CPUS && cpu_offline[(u32)cpu & (MAX_CPUS - 1)]) {
		cpu_offline[(u32)cpu & (MAX_CPUS - 1)] = 0;
		__sync_fetch_and_sub(&nr_offline_cpus, 1);
	}
	/* Served again once a task runs on it (see cpu_stalled) */
	__sync_fetch_and_add(&nr_online_cpus, 1);
	__sync_fetch_and_add(&nr_hotplug_events, 1);
	set_usersched_needed();
}

/*
 * Move the tasks queued to offline CPUs to the shared DSQ (in deadline order,
 * like everything there) and kick the online CPUs, idle ones first of all.
 * Runs from cpu_offline() and from the heartbeat timer: a task can still reach
 * the queue of a CPU going down (a dispatch racing with the callback), and
 * the timer bounds how long it can wait there.
 */
static void rescue_offline_queues(void)
{
	struct task_struct *p;
	bool stranded = false;
	s32 i;

	bpf_for(i, 0, nr_cpu_ids) {
		if (i >= MAX_CPUS)
			break;
		if (!is_cpu_offline(i) || !scx_bpf_dsq_nr_queued(cpu_to_dsq(i)))
			continue;
		stranded = true;
		bpf_for_each(scx_dsq, p, cpu_to_dsq(i), 0) {
			if (scx_bpf_dsq_move_vtime(BPF_FOR_EACH_ITER, p, SHARED_DSQ, 0))
				__sync_fetch_and_add(&nr_offline_moved, 1);
		}
	}
	if (!stranded)
		return;
	/*
	 * Whatever the move did, wake the online CPUs: ops.dispatch() serves
	 * the queues of offline CPUs as a last resort.
	 */
	bpf_for(i, 0, nr_cpu_ids) {
		if (i >= MAX_CPUS)
			break;
		if (!is_cpu_offline(i))
			scx_bpf_kick_cpu(i, SCX_KICK_IDLE);
	}
}

/*
 * A CPU goes offline: move the tasks queued to it to the shared DSQ and stop
 * sending it tasks.
 */
void BPF_STRUCT_OPS(rustland_cpu_offline, s32 cpu)
{
	if ((u32)cpu < MAX_CPUS && !cpu_offline[(u32)cpu & (MAX_CPUS - 1)]) {
		cpu_offline[(u32)cpu & (MAX_CPUS - 1)] = 1;
		__sync_fetch_and_add(&nr_offline_cpus, 1);
	}
	__sync_fetch_and_sub(&nr_online_cpus, 1);
	__sync_fetch_and_add(&nr_hotplug_events, 1);

	rescue_offline_queues();
	set_usersched_needed();
}

/*
 * A new task @p is being created.
 *
 * Allocate and initialize all the internal structures for the task (this
 * function is allowed to block, so it can be used to preallocate memory).
 */
s32 BPF_STRUCT_OPS(rustland_init_task, struct task_struct *p,
		   struct scx_init_task_args *args)
{
	struct task_ctx *tctx;

	tctx = bpf_task_storage_get(&task_ctx_stor, p, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tctx)
		return -ENOMEM;
	/* Task storage starts zeroed, and 0 is a CPU: no wakeup is pending yet. */
	tctx->waker_cpu = -1;

	return 0;
}

/*
 * Initialize the scheduling class.
 */
s32 BPF_STRUCT_OPS_SLEEPABLE(rustland_init)
{
	int err;

	/* Compile-time checks */
	BUILD_BUG_ON((MAX_CPUS % 2));

	/* Initialize maximum possible CPU number */
	nr_cpu_ids = scx_bpf_nr_cpu_ids();

	/* Initialize rustland core */
	err = dsq_init();
	if (err)
		return err;
	err = usersched_timer_init();
	if (err)
		return err;
	if (slice_timer) {
		err = slice_timers_init();
		if (err) {
			scx_bpf_error("Failed to initialize the slice timers");
			return err;
		}
	}

	return 0;
}

/*
 * Unregister the scheduling class.
 */
void BPF_STRUCT_OPS(rustland_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(uei, ei);
}

/*
 * Scheduling class declaration.
 */
SCX_OPS_DEFINE(rustland,
	       .select_cpu		= (void *)rustland_select_cpu,
	       .enqueue			= (void *)rustland_enqueue,
	       .dispatch		= (void *)rustland_dispatch,
	       .runnable		= (void *)rustland_runnable,
	       .running			= (void *)rustland_running,
	       .stopping		= (void *)rustland_stopping,
	       .tick			= (void *)rustland_tick,
	       .enable			= (void *)rustland_enable,
	       .init_task		= (void *)rustland_init_task,
	       .exit_task		= (void *)rustland_exit_task,
	       .cpu_online		= (void *)rustland_cpu_online,
	       .cpu_offline		= (void *)rustland_cpu_offline,
	       .init			= (void *)rustland_init,
	       .exit			= (void *)rustland_exit,
	       .timeout_ms		= 5000,
	       .dispatch_max_batch	= MAX_DISPATCH_SLOT,
	       .name			= "rustland");
