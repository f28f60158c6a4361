// This software may be used and distributed according to the terms of the
// GNU General Public License version 2.

#ifndef __INTF_H
#define __INTF_H

#define MAX(x, y) ((x) > (y) ? (x) : (y))
#define MIN(x, y) ((x) < (y) ? (x) : (y))

#define NSEC_PER_SEC	1000000000L
#define CLOCK_BOOTTIME	7

#include <stdbool.h>
#ifndef __kptr
#ifdef __KERNEL__
#error "__kptr_ref not defined in the kernel"
#endif
#define __kptr
#endif

#ifndef __VMLINUX_H__
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

typedef signed char s8;
typedef signed short s16;
typedef signed int s32;
typedef signed long s64;

typedef int pid_t;
#endif /* __VMLINUX_H__ */

/* Check a condition at build time */
#define BUILD_BUG_ON(expr) \
	do { \
		extern char __build_assert__[(expr) ? -1 : 1] \
			__attribute__((unused)); \
	} while(0)

/*
 * Maximum amount of CPUs supported by this scheduler (this defines the size of
 * cpu_map that is used to store the idle state and CPU ownership).
 */
#define MAX_CPUS 1024

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN	16
#endif

/* Special dispatch flags */
enum {
	/*
	 * Do not assign any specific CPU to the task.
	 *
	 * The task will be dispatched to the global shared DSQ and it will run
	 * on the first CPU available.
	 */
	RL_CPU_ANY = 1 << 20,
};

/* Flags of a task queued to user space (queued_task_ctx.rl_flags) */
enum {
	/* The task is a kernel thread (PF_KTHREAD, which no process can set). */
	RL_TASK_KTHREAD = 1 << 0,
	/*
	 * Not a task to schedule: the task exited (sent only with notify_exit).
	 * User space frees what it kept for the pid, and dispatches nothing.
	 */
	RL_TASK_EXITED = 1 << 1,
	/*
	 * Not a task to schedule: the BPF side already ran the task on its
	 * idle previous CPU (prev_idle_fast). Sent for user space's
	 * bookkeeping; dispatch nothing.
	 */
	RL_TASK_PLACED = 1 << 2,
	/*
	 * Not a task to schedule: its slice ended, another task's deadline was
	 * earlier, and the BPF side put it back in line itself (requeue_expired).
	 * Sent for user space's bookkeeping; dispatch nothing.
	 */
	RL_TASK_REQUEUED = 1 << 3,
};

/* Flags of a task dispatched by user space (dispatched_task_ctx.rl_flags) */
enum {
	/*
	 * Preempt for this task: if the target CPU (for RL_CPU_ANY, the allowed
	 * CPU running the latest deadline) runs a task whose deadline (vtime) is
	 * later than this task's, end that task's slice now (see preempt_mode).
	 */
	RL_PREEMPT = 1 << 0,
	/*
	 * A standing decision for this task's next wakeups (prev_idle_fast):
	 * when its previous CPU is idle, run it there at once with this slice,
	 * until user space decides for it again. Without it the task always
	 * comes to user space.
	 */
	RL_IDLE_PREV = 1 << 1,
	/*
	 * With RL_IDLE_PREV, a standing decision to preempt (prev_busy_preempt):
	 * when the task next wakes and its previous CPU runs a task with a later
	 * deadline, run it there at once, ahead of that task, until user space
	 * decides for it again.
	 */
	RL_PREEMPT_PREV = 1 << 2,
};

/* How the BPF side preempts a CPU (rodata preempt_mode) */
enum {
	RL_PREEMPT_OFF = 0,	 /* ignore RL_PREEMPT */
	RL_PREEMPT_KICK = 1,	 /* scx_bpf_kick_cpu(SCX_KICK_PREEMPT) */
	RL_PREEMPT_SLICE = 2,	 /* zero the running task's slice, then kick */
};

/* Log2 buckets of the time a queued task waits for its decision (ns) */
#define RL_WAIT_BUCKETS 32

/*
 * Specify a target CPU for a specific PID.
 */
struct task_cpu_arg {
	pid_t pid;
	s32 cpu;
	u64 flags;
};

/*
 * Specify a sibling CPU relationship for a specific scheduling domain.
 */
struct domain_arg {
	s32 lvl_id;
	s32 cpu_id;
	s32 sibling_cpu_id;
};

/*
 * Task sent to the user-space scheduler by the BPF dispatcher.
 *
 * All attributes are collected from the kernel by the the BPF component.
 */
struct queued_task_ctx {
	s32 pid;
	s32 cpu; /* CPU where the task is running */
	u64 nr_cpus_allowed; /* Number of CPUs that the task can use */
	u64 flags; /* Task enqueue flags */
	u64 start_ts; /* Timestamp since last time the task ran on a CPU */
	u64 stop_ts; /* Timestamp since last time the task released a CPU */
	u64 exec_runtime; /* Total cpu time since last sleep */
	u64 weight; /* Task static priority */
	u64 vtime; /* Current task's vruntime */
	u64 enq_cnt;
	u64 rl_flags; /* RL_TASK_* */
	u64 enq_ts; /* When the task was queued to user space (scx_bpf_now() clock, like start_ts/stop_ts) */
	u64 stint_exec; /* CPU time the kernel accounted to the last stint (p->se.sum_exec_runtime since ops.running), ns */
	s32 waker_cpu; /* CPU that ran ops.select_cpu() for this enqueue (the waker's), -1: none */
	u64 prev_curr_run; /* how long the task running on @cpu has run since ops.running, ns (0: idle, or the task itself) */
	u64 prev_curr_exec; /* CPU time that task has had since it became runnable, this stint included, ns */
	char comm[TASK_COMM_LEN]; /* Task's executable name */
};

/*
 * Task sent to the BPF dispatcher by the user-space scheduler.
 *
 * This struct can be easily extended to send more information to the
 * dispatcher (i.e., a target CPU, a variable time slice, etc.).
 */
struct dispatched_task_ctx {
	s32 pid;
	s32 cpu; /* CPU where the task should be dispatched */
	u64 flags; /* task enqueue flags */
	u64 slice_ns; /* time slice assigned to the task (0=default) */
	u64 vtime; /* task deadline / vruntime */
	u64 enq_cnt;
	u64 rl_flags; /* RL_PREEMPT */
};

#endif /* __INTF_H */
