/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Poison accounting (DESIGN 6). Every worker thread publishes what it is
 * doing in its region_thread_rec (fault_begin/fault_end); the fault handler
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, on a per-thread sigaltstack)
 * counts the crash against the dying thread's activity in the region's
 * poison table, then lets the signal kill the worker. Recovery asks
 * fault_crashes() before it replays anything: an activity at N crashes is
 * quarantined instead.
 */
#ifndef PHX_FAULT_H
#define PHX_FAULT_H

#include <stdint.h>

#include "region.h"

/* Installs the handlers for this worker (process-wide). */
void fault_install(struct region *r);
/* Per thread, first thing: its sigaltstack and its activity record. */
int fault_thread_init(struct region_thread_rec *t);
/* Publishes the calling thread's activity (arg per enum region_act). */
void fault_begin(enum region_act act, uint64_t arg);
void fault_end(void);
/*
 * Brackets a host call the guest asked for (fsync, syncfs, a copy, I/O on
 * a slow or network file system): the thread is waiting, not stuck, and
 * the watchdog leaves it (DESIGN 6). The activity's clock restarts after.
 * Encoded in act_start_ns (UINT64_MAX: "in a host call"), which the
 * watchdog already reads as "not started yet".
 */
void fault_host_begin(void);
void fault_host_end(void);
/* The poison key of a request slot, or of another activity. */
uint64_t fault_key_request(unsigned queue, unsigned head, uint32_t gen);
uint64_t fault_key(enum region_act act, uint64_t arg);
/* Crashes counted against key. */
uint64_t fault_crashes(const struct region *r, uint64_t key);
/* Counts one crash against key (keeper, recovery; not signal context). */
void fault_count(struct region *r, uint64_t key);
/* Counts a crash against every activity in progress (watchdog, fatal). */
void fault_count_all_active(struct region *r);
/* Forgets key once its activity is settled (answered or quarantined). */
void fault_clear(struct region *r, uint64_t key);

#endif
