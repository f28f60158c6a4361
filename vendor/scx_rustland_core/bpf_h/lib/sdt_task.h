/*
 * SPDX-License-Identifier: GPL-2.0
 * Copyright (c) 2025 Meta Platforms, Inc. and affiliates.
 * Copyright (c) 2025 Tejun Heo <tj@kernel.org>
 * Copyright (c) 2025 Emil Tsalapatis <etsal@meta.com>
 */
#pragma once

#include "sdt_alloc.h"

#ifdef __BPF__

/*
 * scx_task_data() returns @p's arena data and reports a missing association as
 * an error through scx_err_loc(). __scx_task_data() returns NULL quietly, for
 * callers where absence is expected. Both return borrowed pointers: if removal
 * can race, the lookup and every use must be in the same RCU read-side critical
 * section and removal must use scx_task_free_rcu(). ops.exit_task() runs when
 * the task dies, not when its last reference drops, so a task reference does
 * not keep the data alive.
 */
void __arena *__scx_task_data(struct task_struct *p);
void __arena *scx_task_data(struct task_struct *p);
int scx_task_init(__u64 data_size, __u64 align);
void __arena *scx_task_alloc(struct task_struct *p);
void scx_task_free(struct task_struct *p);
void scx_task_free_rcu(struct task_struct *p);

#endif /* __BPF__ */
