/* SPDX-License-Identifier: GPL-2.0 */
/* Copyright (c) 2026 Tejun Heo <tj@kernel.org> */
#pragma once

/* the definitions moved to the shared scx/const-defs.h, kept for includers */
#include <scx/const-defs.h>
