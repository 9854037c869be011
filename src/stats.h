/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The status counters of the state region (region_stats_rec), written by
 * the daemon: a request's latency into its thread's own histogram (no
 * shared word, no atomic read-modify-write on the hot path), deaths and
 * their cause (keeper), recoveries with their stall, replays and
 * quarantines (worker), and the one rate-limited warn line per crash or
 * recovery. Read by status.c from outside the daemon.
 */
#ifndef PHX_STATS_H
#define PHX_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "region.h"

/* log2 bucket of a duration in ns (0..STATS_BUCKETS-1). */
static inline unsigned
stats_bucket(uint64_t ns)
{
	unsigned b = ns < 2 ? 0 : 63u - (unsigned)__builtin_clzll(ns);

	return b < STATS_BUCKETS ? b : STATS_BUCKETS - 1;
}

/* Worker thread t served a request of opcode in ns. Hot path. */
static inline void
stats_request(struct region *r, const struct region_thread_rec *t,
    uint32_t opcode, uint64_t ns)
{
	uint64_t *p;

	if (t == NULL || r->stats == NULL)
		return;
	p = &r->stats->thread[t - r->threads]
	    .hist[opcode > 0 && opcode < STATS_OP_OTHER ? opcode :
	    STATS_OP_OTHER][stats_bucket(ns)];
	/* One writer per word (the thread owning record t): no lock prefix. */
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELAXED);
}

/* Keeper, before each clone: what the next death is measured against. */
void stats_spawned(struct region *r);
/*
 * Keeper, after a worker died: classifies the cause (oom: the OOM counter
 * moved; wstatus: the reaped status, or -1 if not reaped yet), counts it,
 * records when serving stopped, and logs the crash if that worker never
 * recovered (its recovery line would otherwise say it).
 */
void stats_died(struct region *r, bool oom, int wstatus);
/* Keeper, before stopping the worker for a live upgrade. */
void stats_upgrading(struct region *r);
/* Recovery of the rings re-ran replayed requests, quarantined some. */
void stats_recovery_counts(struct region *r, unsigned replayed,
    unsigned quarantined);
/* Worker, once recovery finished (incarnation > 1): stall + log line. */
void stats_recovered(struct region *r);
/* Recovery quarantined the request in slot s of (queue, head). */
void stats_quarantined(struct region *r, const struct journal_slot_rec *s,
    unsigned queue, unsigned head);
/* Name of a cause for logs and --status ("signal", "watchdog"...). */
const char *stats_cause_name(uint64_t cause);

#endif
