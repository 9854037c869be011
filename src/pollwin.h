/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How a queue thread waits for the next request (issue 5). A cross-CPU
 * eventfd wakeup costs 20-90 us depending on the host (a vCPU that halted
 * must be woken by its hypervisor), a spin that catches the next request
 * 0.2 us; but a spin that shares its CPU with the front-end delays it, and
 * on a loaded 2-CPU host sleeping wins by 2-4x. No fixed rule is right on
 * both, so the queue thread measures:
 *
 * - The window: how long a spin may last. After KVM's halt polling, it
 *   grows (doubling, from POLLWIN_MIN_NS) whenever a sleep ended within the
 *   maximum (a longer spin would have caught the kick), halves whenever a
 *   sleep outlasted it, and is 0 below POLLWIN_MIN_NS: an idle guest costs
 *   no CPU.
 * - The way: sleep at once, spin yielding the CPU each round, or spin. A
 *   cycle is one wait plus the requests served after it; the cost of a way
 *   is the average of its cycles' time per request (weight 1/8). The
 *   cheapest way is used; every POLLWIN_EXPLORE-th wait tries another, so
 *   a change of load or host is noticed. A wait that outlasted the
 *   maximum counts as one of twice the maximum: it may be the guest's
 *   pace, the same for every way, or the way's fault (a spin that kept a
 *   CPU busy makes the front-end's wakeup wait behind another task
 *   instead of taking the idle CPU: not counting such waits at all made
 *   the spin look cheapest exactly when it was not).
 *   A spin that does not yield is never used after a cycle of one request
 *   (the front-end we just answered may need our CPU to send the next) nor
 *   while the caller's own helper threads have work (they need it too): a
 *   spin then yields. On a loaded 2-CPU host such a spin cost p99s of
 *   200-600 us at depth 1 (the whole window) against 90 us sleeping.
 * - Contention: a spin that lost its CPU (two of its clock reads more than
 *   POLLWIN_PREEMPT_NS apart: another task ran, or its sched_yield() gave
 *   the CPU away for a time slice) says every CPU is wanted; a spin then
 *   only burns the share the front-end (a guest's vCPU) and the next
 *   request need, and its lost slice is a whole cycle late. The cycle
 *   costs would not show it (such a wait outlasts the maximum and is not
 *   counted), so the next waits sleep at once: POLLWIN_CONTENDED of them,
 *   doubling up to POLLWIN_CONTENDED_MAX while every spin tried between
 *   is preempted again, back to the start after one that is not. KVM
 *   stops its halt polling when another task is runnable for the same
 *   reason (single_task_running()).
 *
 * Volatile: a new worker starts learning afresh.
 */
#ifndef PHX_POLLWIN_H
#define PHX_POLLWIN_H

#include <stdbool.h>
#include <stdint.h>

#define POLLWIN_MIN_NS	   10000ULL  /* smallest window worth spinning */
#define POLLWIN_MAX_NS_DEF 200000ULL /* KVM's halt_poll_ns default too */
#define POLLWIN_EXPLORE	   128	     /* one wait in this many tries a way */
#define POLLWIN_PREEMPT_NS 50000ULL  /* a spin off its CPU this long lost it */
#define POLLWIN_CONTENDED  256	     /* waits that then sleep, at first */
#define POLLWIN_CONTENDED_MAX 65536  /* ... and at most */

enum pollwin_way { POLLWIN_SLEEP, POLLWIN_YIELD, POLLWIN_SPIN, POLLWIN_WAYS };

struct pollwin {
	uint64_t max_ns;		  /* 0: never poll */
	uint64_t cur_ns;		  /* the window of the next spin */
	uint64_t cost_ns[POLLWIN_WAYS]; /* per request; 0: not measured */
	uint64_t waits;
	enum pollwin_way way;		  /* of the current cycle */
	uint64_t wait_start, wait_ns;
	uint64_t served;		  /* requests since the wait ended */
	bool open;			  /* a cycle is being measured */
	bool preempted;			  /* the current cycle's spin lost its CPU */
	uint64_t tick;			  /* the spin's last clock read */
	uint32_t contended;		  /* waits left that sleep at once */
	uint32_t backoff;		  /* the last contended length; 0: none */
};

/* max_ns 0 disables polling; the first window is min(max, 50 us). */
void pollwin_init(struct pollwin *p, uint64_t max_ns);

/*
 * The queue ran dry at now: closes the current cycle and returns how to
 * wait. For a spinning way, spin at most pollwin_window() ns. helpers_busy:
 * threads the caller handed requests to are still at work.
 */
enum pollwin_way pollwin_idle(struct pollwin *p, uint64_t now,
    bool helpers_busy);

/* The window of the next spin in ns; 0: sleep at once. */
static inline uint64_t
pollwin_window(const struct pollwin *p)
{
	return p->cur_ns;
}

/*
 * The wait ended at now; slept_ns > 0 if it ended in a sleep on the kick
 * eventfd of that length (after a spin that missed, or none).
 */
void pollwin_woke(struct pollwin *p, uint64_t now, uint64_t slept_ns);

/* The current wait's spin lost its CPU (see Contention above). */
void pollwin_preempted(struct pollwin *p);

/*
 * A spin read the clock (now): reports the wait preempted if the read
 * before it (or pollwin_idle's) is more than POLLWIN_PREEMPT_NS older.
 * Returns now.
 */
static inline uint64_t
pollwin_tick(struct pollwin *p, uint64_t now)
{
	if (now - p->tick > POLLWIN_PREEMPT_NS)
		pollwin_preempted(p);
	p->tick = now;
	return now;
}

/* n requests served since the wait ended. */
static inline void
pollwin_served(struct pollwin *p, unsigned n)
{
	p->served += n;
}

#endif
