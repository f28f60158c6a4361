/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_mimic tracer: records what the kernel's default scheduler (EEVDF) decided, with the
 * features known at that moment, and streams it to user space through per-CPU rings (bpf/intf.h).
 *
 *   sched_switch      -> STOP for the task switched out (how long it ran, blocked or preempted,
 *                        and which task was switched in); from a task not recorded (idle,
 *                        real-time, the tracer) only who came in, as pid 0
 *   sched_waking      -> remembers prev CPU, waker CPU, and whether the task is still on a run
 *                        queue
 *   sched_wakeup(_new)-> WAKEUP(_NEW) with the CPU the kernel chose, whether it was idle, the task
 *                        running there and whether it was told to reschedule (the tracepoint fires
 *                        after wakeup_preempt(), so that flag is EEVDF's wakeup-preemption
 *                        verdict)
 *   sched_process_exit-> EXIT
 *   sched_migrate_task-> counted only
 *
 * Only fair-class tasks (SCHED_NORMAL/BATCH/IDLE, and EXT while no sched_ext scheduler is loaded;
 * not boosted to RT) are recorded: they are the ones EEVDF places and slices. RT, deadline and
 * stop-class tasks follow other classes' rules.
 *
 * Timestamps are run-queue clocks (sched_clock) the kernel has just updated; events are merged into
 * time order in user space. CO-RE: built against the vmlinux.h shipped with scx_utils, relocated
 * at load time.
 *
 * Cost matters (the tracer must not change what it measures), and sched_switch is the hottest
 * path, so it keeps no state of its own: the length of the stint that just ended is what the
 * kernel itself accounted (se.sum_exec_runtime minus se.prev_sum_exec_runtime, which EEVDF sets
 * when it picks the task). Per-task state is needed only from sched_waking to sched_wakeup and
 * lives in task-local storage (a pointer from the task, no hashing). Task and run-queue fields
 * are read with direct loads through the BTF-typed pointers tp_btf hands us (no probe-read helper
 * calls; CO-RE still relocates the field offsets). No program looks at more than the run queue of
 * the CPU its event is about: the system view (runnable tasks, idle CPUs) is counted by the replay
 * from the switches and wakeups recorded here, so an event costs the same on any number of CPUs.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

const volatile u32 nr_cpus = 1;     /* CPUs with a ring (set by user space) */
const volatile s32 self_tgid = 0;   /* the tracer's own process, not recorded */

const volatile u32 ring_slots = 1; /* slots per CPU ring, a power of two (set by user space) */
/*
 * The thread-info bits that mean "reschedule" (TIF_NEED_RESCHED | TIF_NEED_RESCHED_LAZY): bits
 * 4 and 5 with the generic TIF layout x86 uses since 6.18, 3 and 4 before (set by user space).
 */
const volatile u64 resched_mask = (1ULL << 4) | (1ULL << 5);

/* Counters read by user space. */
u64 nr_migrations;
/* Events lost other than to a full ring (those are counted per ring): */
u64 nr_lost_cpu;            /* on a CPU beyond the rings (>= nr_cpus) */
u64 nr_lost_storage;        /* sched_waking could not get the task's storage */
struct mimic_ring_head rings[MIMIC_MAX_CPUS];

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, u32);
	__type(value, struct mimic_slot);
	__uint(max_entries, 1);     /* nr_cpus * ring_slots, set by user space */
} slots SEC(".maps");

/* Per-task state from sched_waking to sched_wakeup. */
struct task_info {
	s32 prev_cpu;       /* at sched_waking */
	s32 waker_cpu;
	u8 queued;          /* still on a run queue at sched_waking */
	u8 waking;          /* a sched_waking is pending */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_info);
} tinfo SEC(".maps");

extern struct rq runqueues __ksym;

static __always_inline bool cpu_is_idle(s32 cpu)
{
	struct rq *rq = bpf_per_cpu_ptr(&runqueues, cpu);

	if (!rq)
		return false;
	return rq->curr == rq->idle;
}

/* The task's state, created (zeroed) on first use; freed by the kernel with the task. */
static __always_inline struct task_info *task_info(struct task_struct *p)
{
	return bpf_task_storage_get(&tinfo, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/*
 * A CPU's run queue clock (sched_clock, ns): the event timestamp. Each program reads the clock of
 * a run queue the kernel has just updated, so it is fresh, and it is a load from memory, where
 * bpf_ktime_get_ns() reads the clock source (under emulation that read cost as much as the rest
 * of a sched_switch event).
 */
static __always_inline u64 rq_clock(s32 cpu)
{
	struct rq *rq = bpf_per_cpu_ptr(&runqueues, cpu);

	return rq ? rq->clock : 0;
}

/*
 * A slot in this CPU's ring, zeroed and stamped, or NULL (ring full: counted as a drop). @ts is
 * the run queue clock of the CPU the decision was about (see the programs).
 */
static __always_inline struct mimic_slot *reserve(u8 kind, struct task_struct *p, u64 ts, u64 *posp)
{
	u32 cpu = bpf_get_smp_processor_id();
	struct mimic_ring_head *h;
	struct mimic_slot *s;
	u64 pos;
	u32 idx;

	if (cpu >= nr_cpus || cpu >= MIMIC_MAX_CPUS) {
		__sync_fetch_and_add(&nr_lost_cpu, 1);
		return NULL;
	}
	h = &rings[cpu];
	/* The slack leaves room for a program that interrupts this one on the same CPU. */
	if (h->reserved - *(volatile u64 *)&h->consumed >= ring_slots - MIMIC_RING_SLACK) {
		__sync_fetch_and_add(&h->dropped, 1);
		return NULL;
	}
	pos = __sync_fetch_and_add(&h->reserved, 1);
	idx = cpu * ring_slots + (u32)(pos & (ring_slots - 1));
	s = bpf_map_lookup_elem(&slots, &idx);
	if (!s)     /* cannot happen: the map holds nr_cpus * ring_slots slots */
		return NULL;
	*posp = pos;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	s->ev.ts_ns = ts;
	s->ev.kind = kind;
	s->ev.pid = p->pid;
	s->ev.static_prio = p->static_prio;
	s->ev.nr_cpus_allowed = p->nr_cpus_allowed;
	/* Two 8-byte loads, not a probe-read helper call. */
	((u64 *)s->ev.comm)[0] = ((const u64 *)p->comm)[0];
	((u64 *)s->ev.comm)[1] = ((const u64 *)p->comm)[1];
	return s;
}

/* Make the slot at @pos visible to user space: an ordered exchange, after all the stores above. */
static __always_inline void publish(struct mimic_slot *s, u64 pos)
{
	__sync_lock_test_and_set(&s->seq, pos + 1);
}

#define MIMIC_SCHED_NORMAL 0
#define MIMIC_SCHED_BATCH 3
#define MIMIC_SCHED_IDLE 5
#define MIMIC_SCHED_EXT 7       /* in the fair class while no sched_ext scheduler is loaded */
#define MIMIC_MAX_RT_PRIO 100

/* Not recorded: idle tasks, the tracer itself, and tasks EEVDF does not schedule. */
static __always_inline bool ignored(struct task_struct *p)
{
	u32 policy;

	if (p->pid == 0 || p->tgid == self_tgid)
		return true;
	policy = p->policy;
	if (policy != MIMIC_SCHED_NORMAL && policy != MIMIC_SCHED_BATCH &&
	    policy != MIMIC_SCHED_IDLE && policy != MIMIC_SCHED_EXT)
		return true;
	/* Priority-inheritance boosted to RT: the RT class runs it for now. */
	return p->prio < MIMIC_MAX_RT_PRIO;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(mimic_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	s32 cpu = bpf_get_smp_processor_id();
	struct mimic_slot *s;
	u64 pos, ran;

	/*
	 * A task that is not recorded (the idle task, a real-time one, the tracer) leaving a CPU:
	 * only who came in is recorded, as a stop of pid 0, so that a replay knows what every CPU
	 * runs — a task woken onto an idle CPU, or pulled there by the balancer, is otherwise seen
	 * only when it leaves. It decides nothing.
	 */
	if (ignored(prev)) {
		if (prev == next)
			return 0;
		s = reserve(MIMIC_EV_STOP, prev, rq_clock(cpu), &pos);
		if (!s)
			return 0;
		s->ev.pid = 0;
		s->ev.cpu = cpu;
		s->ev.next_pid = next->pid;
		publish(s, pos);
		return 0;
	}
	/* __schedule() has just updated this CPU's clock. */
	s = reserve(MIMIC_EV_STOP, prev, rq_clock(cpu), &pos);
	if (!s)
		return 0;
	s->ev.cpu = cpu;
	/* The stint's CPU time as the kernel accounted it (prev_sum_exec_runtime: set at pick). */
	ran = prev->se.sum_exec_runtime - prev->se.prev_sum_exec_runtime;
	s->ev.ran_ns = (s64)ran > 0 ? ran : 0;
	/* Blocked if it gave up the CPU in a sleeping state; preempted otherwise. */
	s->ev.voluntary = !preempt && prev_state != 0;
	s->ev.next_pid = next->pid;
	publish(s, pos);
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(mimic_waking, struct task_struct *p)
{
	struct task_info *ti;

	if (ignored(p))
		return 0;
	ti = task_info(p);
	if (!ti) {
		/* The wakeup that follows would be recorded without its sched_waking facts. */
		__sync_fetch_and_add(&nr_lost_storage, 1);
		return 0;
	}
	ti->prev_cpu = p->thread_info.cpu;
	ti->waker_cpu = bpf_get_smp_processor_id();
	/* On a run queue still (e.g. EEVDF's delayed dequeue): the wakeup places nothing. */
	ti->queued = p->on_rq != 0;
	ti->waking = 1;
	return 0;
}

static __always_inline int on_wakeup(struct task_struct *p, u8 kind)
{
	s32 chosen = p->thread_info.cpu;
	struct task_info *ti;
	struct rq *rq;
	struct mimic_slot *s;
	u64 pos;

	if (ignored(p))
		return 0;
	/* Created at sched_waking; a new task has none (and needs none). */
	ti = bpf_task_storage_get(&tinfo, p, 0, 0);
	/* The chosen CPU's run queue is locked and its clock just updated for the enqueue. */
	s = reserve(kind, p, rq_clock(chosen), &pos);
	if (!s)
		return 0;
	s->ev.cpu = chosen;
	s->ev.chosen_idle = cpu_is_idle(chosen);
	rq = bpf_per_cpu_ptr(&runqueues, chosen);
	if (rq) {
		struct task_struct *curr = rq->curr;

		if (curr && curr != rq->idle) {
			s->ev.curr_pid = curr->pid;
			s->ev.resched = (curr->thread_info.flags & resched_mask) != 0;
		}
	}
	if (ti && ti->waking) {
		s->ev.queued = ti->queued;
		s->ev.prev_cpu = ti->prev_cpu;
		s->ev.waker_cpu = ti->waker_cpu;
		ti->waking = 0;
	} else {
		/* A new task: it was forked on the parent's CPU, which is the waker's too. */
		s->ev.prev_cpu = bpf_get_smp_processor_id();
		s->ev.waker_cpu = s->ev.prev_cpu;
	}
	publish(s, pos);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(mimic_wakeup, struct task_struct *p)
{
	return on_wakeup(p, MIMIC_EV_WAKEUP);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(mimic_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p, MIMIC_EV_WAKEUP_NEW);
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(mimic_migrate, struct task_struct *p, int dest_cpu)
{
	__sync_fetch_and_add(&nr_migrations, 1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(mimic_exit, struct task_struct *p)
{
	s32 cpu = bpf_get_smp_processor_id();
	struct mimic_slot *s;
	u64 pos;

	if (ignored(p))
		return 0;
	/*
	 * This CPU's clock may be up to a tick old here, but it is never older than the moment the
	 * exiting task was switched in, so it still sorts after the task's earlier events.
	 */
	s = reserve(MIMIC_EV_EXIT, p, rq_clock(cpu), &pos);
	if (s) {
		s->ev.cpu = cpu;
		publish(s, pos);
	}
	return 0;
}
