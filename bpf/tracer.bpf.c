/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_mimic tracer: records what the kernel's default scheduler (EEVDF) decided, with the
 * features known at that moment, and streams it to user space through a ring buffer.
 *
 *   sched_switch      -> STOP for the task switched out (how long it ran, blocked or preempted)
 *   sched_waking      -> remembers prev CPU, waker CPU and the system view *before* placement
 *   sched_wakeup(_new)-> WAKEUP(_NEW) with the CPU the kernel chose and whether it was idle
 *   sched_process_exit-> EXIT
 *   sched_migrate_task-> counted only
 *
 * CO-RE: built against the vmlinux.h shipped with scx_utils, relocated at load time.
 *
 * Cost matters (the tracer must not change what it measures), so the hot paths use what is
 * cheapest: task-local storage for per-task state (a pointer from the task, no hashing), and
 * direct loads through the BTF-typed pointers tp_btf hands us (no probe-read helper calls; CO-RE
 * still relocates the field offsets).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

const volatile u32 nr_cpus = 1;     /* CPUs to scan (set by user space) */
const volatile s32 self_tgid = 0;   /* the tracer's own process, not recorded */

/* Counters read by user space. */
u64 nr_events;
u64 nr_dropped;
u64 nr_migrations;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} events SEC(".maps");

/* Per-task state between events. */
struct task_info {
	u64 start_ns;       /* when it was last switched in (0: unknown) */
	s32 prev_cpu;       /* at sched_waking */
	s32 waker_cpu;
	u32 nr_runnable;
	u32 idle_cpus;
	u8 prev_cpu_idle;
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

/* Runnable tasks and idle CPUs over the whole system, and whether @prev_cpu is idle. */
static __always_inline void system_view(s32 prev_cpu, u32 *runnable, u32 *idle, u8 *prev_idle)
{
	u32 r = 0, i = 0, c;
	u8 pi = 0;

	for (c = 0; c < MIMIC_MAX_CPUS; c++) {
		struct rq *rq;

		if (c >= nr_cpus)
			break;
		rq = bpf_per_cpu_ptr(&runqueues, c);
		if (!rq)
			continue;
		r += rq->nr_running;
		if (rq->curr == rq->idle) {
			i++;
			if ((s32)c == prev_cpu)
				pi = 1;
		}
	}
	*runnable = r;
	*idle = i;
	*prev_idle = pi;
}

/* The task's state, created (zeroed) on first use; freed by the kernel with the task. */
static __always_inline struct task_info *task_info(struct task_struct *p)
{
	return bpf_task_storage_get(&tinfo, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

static __always_inline struct mimic_event *reserve(u8 kind, struct task_struct *p, u64 now)
{
	struct mimic_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&nr_dropped, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->kind = kind;
	e->pid = p->pid;
	e->static_prio = p->static_prio;
	e->nr_cpus_allowed = p->nr_cpus_allowed;
	bpf_probe_read_kernel(e->comm, sizeof(e->comm), p->comm);
	return e;
}

/*
 * No wakeup per event: user space drains the ring every 50 ms instead. At thousands of events a
 * second, waking the consumer for each one cost the traced workload more than the tracing did.
 */
static __always_inline void submit(struct mimic_event *e)
{
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	__sync_fetch_and_add(&nr_events, 1);
}

static __always_inline bool ignored(struct task_struct *p)
{
	return p->pid == 0 || p->tgid == self_tgid;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(mimic_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	u64 now = bpf_ktime_get_ns();
	s32 cpu = bpf_get_smp_processor_id();
	struct task_info *ti;

	if (!ignored(prev)) {
		ti = bpf_task_storage_get(&tinfo, prev, 0, 0);
		if (ti && ti->start_ns) {
			struct mimic_event *e = reserve(MIMIC_EV_STOP, prev, now);

			if (e) {
				e->cpu = cpu;
				e->ran_ns = now - ti->start_ns;
				/* Blocked if it gave up the CPU in a sleeping state; preempted otherwise. */
				e->voluntary = !preempt && prev_state != 0;
				/*
				 * A preempted task is runnable again at once: the view is its decision's.
				 * A task that blocked decides nothing now (its wakeup will), so the
				 * per-CPU scan is skipped: it is most of the tracer's cost.
				 */
				if (!e->voluntary)
					system_view(cpu, &e->nr_runnable, &e->idle_cpus, &e->prev_cpu_idle);
				submit(e);
			}
			ti->start_ns = 0;
		}
	}
	if (!ignored(next)) {
		ti = task_info(next);
		if (ti)
			ti->start_ns = now;
	}
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(mimic_waking, struct task_struct *p)
{
	struct task_info *ti;

	if (ignored(p))
		return 0;
	ti = task_info(p);
	if (!ti)
		return 0;
	ti->prev_cpu = p->thread_info.cpu;
	ti->waker_cpu = bpf_get_smp_processor_id();
	system_view(ti->prev_cpu, &ti->nr_runnable, &ti->idle_cpus, &ti->prev_cpu_idle);
	ti->waking = 1;
	return 0;
}

static __always_inline int on_wakeup(struct task_struct *p, u8 kind)
{
	u64 now = bpf_ktime_get_ns();
	struct mimic_event *e;
	struct task_info *ti;

	if (ignored(p))
		return 0;
	ti = task_info(p);
	e = reserve(kind, p, now);
	if (!e)
		return 0;
	e->cpu = p->thread_info.cpu;
	e->chosen_idle = cpu_is_idle(e->cpu);
	if (ti && ti->waking) {
		e->prev_cpu = ti->prev_cpu;
		e->waker_cpu = ti->waker_cpu;
		e->nr_runnable = ti->nr_runnable;
		e->idle_cpus = ti->idle_cpus;
		e->prev_cpu_idle = ti->prev_cpu_idle;
		ti->waking = 0;
	} else {
		/* A new task: it was forked on the parent's CPU, which is the waker's too. */
		e->prev_cpu = bpf_get_smp_processor_id();
		e->waker_cpu = e->prev_cpu;
		system_view(e->prev_cpu, &e->nr_runnable, &e->idle_cpus, &e->prev_cpu_idle);
	}
	submit(e);
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
	struct mimic_event *e;

	if (ignored(p))
		return 0;
	e = reserve(MIMIC_EV_EXIT, p, bpf_ktime_get_ns());
	if (e)
		submit(e);
	return 0;
}
