/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The queue thread's waiting policy (pollwin.h): the spin window and the
 * cheapest way to wait. Owns nothing but the numbers of struct pollwin. */
#include "compiler.h"
#include "pollwin.h"

void
pollwin_init(struct pollwin *p, uint64_t max_ns)
{
	*p = (struct pollwin){ .max_ns = max_ns };
	p->cur_ns = MIN(max_ns, 5 * POLLWIN_MIN_NS);
	if (p->cur_ns < POLLWIN_MIN_NS)
		p->cur_ns = 0;
}

static void
close_cycle(struct pollwin *p, uint64_t now)
{
	uint64_t c, *cost = &p->cost_ns[p->way];

	if (!p->open || p->served == 0 || now < p->wait_start + p->wait_ns)
		return;
	c = (now - p->wait_start - p->wait_ns +
	    MIN(p->wait_ns, 2 * p->max_ns)) / p->served;
	*cost = *cost == 0 ? c : (*cost * 7 + c) / 8;
	if (*cost == 0)
		*cost = 1;
}

static enum pollwin_way
cheapest(const struct pollwin *p)
{
	enum pollwin_way best = POLLWIN_SLEEP;

	for (int w = 0; w < POLLWIN_WAYS; w++) {
		if (p->cost_ns[w] == 0)
			return (enum pollwin_way)w; /* not measured: try it */
		if (p->cost_ns[w] < p->cost_ns[best])
			best = (enum pollwin_way)w;
	}
	return best;
}

enum pollwin_way
pollwin_idle(struct pollwin *p, uint64_t now, bool helpers_busy)
{
	bool lone = p->served <= 1;
	enum pollwin_way w;

	close_cycle(p, now);
	w = cheapest(p);
	if (++p->waits % POLLWIN_EXPLORE == 0)
		w = (enum pollwin_way)((w + 1 + (p->waits / POLLWIN_EXPLORE) %
		    (POLLWIN_WAYS - 1)) % POLLWIN_WAYS);
	if (w == POLLWIN_SPIN && (lone || helpers_busy))
		w = POLLWIN_YIELD;
	if (p->cur_ns == 0)
		w = POLLWIN_SLEEP;
	if (p->contended > 0) {
		p->contended--;
		w = POLLWIN_SLEEP;
	}
	p->preempted = false;
	p->way = w;
	p->wait_start = now;
	p->tick = now;
	p->served = 0;
	p->open = true;
	return w;
}

void
pollwin_preempted(struct pollwin *p)
{
	if (p->preempted)
		return; /* once per wait */
	p->preempted = true;
	p->backoff = p->backoff == 0 ? POLLWIN_CONTENDED :
	    MIN(p->backoff * 2, POLLWIN_CONTENDED_MAX);
	p->contended = p->backoff;
}

void
pollwin_woke(struct pollwin *p, uint64_t now, uint64_t slept_ns)
{
	p->wait_ns = now >= p->wait_start ? now - p->wait_start : 0;
	/* A spin kept its CPU: contention is over (or never was). */
	if (p->way != POLLWIN_SLEEP && !p->preempted)
		p->backoff = 0;
	if (slept_ns == 0)
		return;
	if (p->max_ns < POLLWIN_MIN_NS) {
		p->cur_ns = 0;
		return;
	}
	if (slept_ns <= p->max_ns) {
		/* A window of slept_ns would have caught it: grow. */
		p->cur_ns = MIN(MAX(p->cur_ns * 2, POLLWIN_MIN_NS), p->max_ns);
		return;
	}
	p->cur_ns /= 2;
	if (p->cur_ns < POLLWIN_MIN_NS)
		p->cur_ns = 0;
}
