/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adaptive polling window of a queue thread (issue 5), after KVM's halt
 * polling: how long to spin on avail->idx before paying for a sleep on the
 * kick eventfd. A cross-CPU eventfd wakeup costs 20-90 us depending on the
 * host (a vCPU that halted must be woken by its hypervisor), a spin that
 * catches the next request 0.2 us.
 *
 * The window grows (doubling, from POLLWIN_MIN_NS) whenever a sleep ended
 * within the maximum, i.e. a longer spin would have caught the kick; it
 * halves whenever a sleep outlasted the maximum (the guest went quiet), and
 * is 0 below POLLWIN_MIN_NS: an idle guest costs no CPU. Volatile: a new
 * worker starts from the initial window.
 */
#ifndef PHX_POLLWIN_H
#define PHX_POLLWIN_H

#include <stdint.h>

#define POLLWIN_MIN_NS	   10000ULL  /* smallest window worth spinning */
#define POLLWIN_MAX_NS_DEF 200000ULL /* KVM's halt_poll_ns default too */

struct pollwin {
	uint64_t max_ns; /* 0: never poll */
	uint64_t cur_ns; /* the window of the next spin */
};

/* max_ns 0 disables polling; the first window is min(max, 50 us). */
void pollwin_init(struct pollwin *p, uint64_t max_ns);

/* The window of the next spin in ns; 0: sleep at once. */
static inline uint64_t
pollwin_window(const struct pollwin *p)
{
	return p->cur_ns;
}

/* A sleep of slept_ns ended with a kick (after a spin that missed). */
void pollwin_slept(struct pollwin *p, uint64_t slept_ns);

#endif
