/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The record the tracer streams to user space: one struct for every event kind, shared by
 * tracer.bpf.c and (through bindgen, in build.rs) the Rust side.
 */
#ifndef __MIMIC_TRACER_INTF_H
#define __MIMIC_TRACER_INTF_H

#ifndef __VMLINUX_H__
typedef unsigned char u8;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
#endif

#define MIMIC_COMM_LEN 16
/* CPUs with a ring (events on a CPU beyond are counted as lost). */
#define MIMIC_MAX_CPUS 256

enum mimic_event_kind {
	MIMIC_EV_STOP = 1,       /* a task was switched out */
	MIMIC_EV_WAKEUP = 2,     /* a task woke up and was placed on a CPU */
	MIMIC_EV_WAKEUP_NEW = 3, /* a new task was placed for the first time */
	MIMIC_EV_EXIT = 4,       /* a task exited */
};

struct mimic_event {
	u64 ts_ns;          /* run-queue clock (sched_clock) of the CPU concerned */
	u64 ran_ns;         /* STOP: CPU time of the stint since the task was picked */
	s32 pid;            /* thread id */
	s32 cpu;            /* STOP: CPU it ran on; WAKEUP*: CPU the kernel chose */
	s32 prev_cpu;       /* WAKEUP*: the task's CPU before the wakeup */
	s32 waker_cpu;      /* WAKEUP*: CPU of the waking context */
	s32 static_prio;    /* 120 + nice */
	u32 nr_cpus_allowed;
	s32 next_pid;       /* STOP: the task switched in (0: the idle task) */
	s32 curr_pid;       /* WAKEUP*: the task running on the chosen CPU (0: idle) */
	u8 kind;            /* enum mimic_event_kind */
	u8 voluntary;       /* STOP: the task blocked (1) or was preempted (0) */
	u8 chosen_idle;     /* WAKEUP*: the chosen CPU was idle */
	u8 queued;          /* WAKEUP: still on a run queue when woken (no CPU was chosen) */
	u8 resched;         /* WAKEUP*: the chosen CPU's running task must reschedule (set by the wakeup) */
	char comm[MIMIC_COMM_LEN];
};

/*
 * Transport: one lock-free ring per CPU instead of a BPF ring buffer. Under emulation a ring
 * buffer reservation (a global spinlock with interrupts off) cost more than the rest of an event
 * together; a per-CPU ring needs one atomic add on a CPU-local counter and plain stores.
 *
 * The rings live in one BPF_F_MMAPABLE array of slots (CPU c owns slots [c*n, (c+1)*n), n a power
 * of two); their counters live in .bss. Both are mapped into the tracer process.
 *   BPF:        reserve position `reserved++` (if fewer than n - MIMIC_RING_SLACK slots are
 *               unconsumed; else count a drop), fill the slot, then publish it by setting
 *               slot.seq = position + 1 (an ordered exchange).
 *   user space: read slots from `consumed` on while slot.seq == consumed + 1, copy, then store
 *               the new `consumed`.
 * seq makes a slot visible only once it is complete, also when a program interrupts another on
 * the same CPU between its reserve and its publish.
 */
#define MIMIC_RING_SLACK 8

struct mimic_ring_head {
	u64 reserved;       /* positions handed out on this CPU (BPF) */
	u64 consumed;       /* positions copied out (user space) */
	u64 dropped;        /* events lost because the ring was full */
	u64 pad[5];         /* one cache line per CPU */
};

struct mimic_slot {
	u64 seq;            /* position + 1 once the event is complete */
	struct mimic_event ev;
};

#endif /* __MIMIC_TRACER_INTF_H */
