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
 *   a change of load or host is noticed. Cycles whose wait outlasted the
 *   maximum are paced by the guest, not by the way, and are not counted.
 *   A spin that does not yield is never used after a cycle of one request
 *   (the front-end we just answered may need our CPU to send the next) nor
 *   while the caller's own helper threads have work (they need it too): a
 *   spin then yields. On a loaded 2-CPU host such a spin cost p99s of
 *   200-600 us at depth 1 (the whole window) against 90 us sleeping.
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

/* n requests served since the wait ended. */
static inline void
pollwin_served(struct pollwin *p, unsigned n)
{
	p->served += n;
}

#endif
