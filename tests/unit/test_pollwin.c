/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pollwin.c: the window grows on sleeps a longer spin would have caught,
 * halves on long sleeps, reaches 0 (no CPU) for an idle guest and never
 * exceeds the maximum; the way chosen is the cheapest measured per
 * request, unmeasured ways are tried, others are re-tried one wait in
 * POLLWIN_EXPLORE, and guest-paced cycles teach nothing; a spin that
 * lost its CPU makes the next waits sleep, longer while it keeps
 * happening, and one spin that keeps its CPU ends that.
 */
#include "../tap.h"
#include "pollwin.h"

/* One cycle: idle at *t, the wait lasts wait ns, then n requests take
 * serve ns in all; returns the way the policy chose. */
static enum pollwin_way
cycle(struct pollwin *p, uint64_t *t, uint64_t wait, bool slept, unsigned n,
    uint64_t serve)
{
	enum pollwin_way w = pollwin_idle(p, *t, false);

	*t += wait;
	pollwin_woke(p, *t, slept ? wait : 0);
	pollwin_served(p, n);
	*t += serve;
	return w;
}

static void
window_rules(void)
{
	struct pollwin p;
	uint64_t t = 1000000;

	pollwin_init(&p, POLLWIN_MAX_NS_DEF);
	is_int((int)pollwin_window(&p), 50000, "first window 50 us");
	cycle(&p, &t, 30000, true, 1, 1000);
	is_int((int)pollwin_window(&p), 100000, "short sleep: doubled");
	cycle(&p, &t, 150000, true, 1, 1000);
	is_int((int)pollwin_window(&p), 200000, "sleep under max: grows to max");
	cycle(&p, &t, 1000, true, 1, 1000);
	is_int((int)pollwin_window(&p), 200000, "never above the maximum");
	cycle(&p, &t, 5000000, true, 1, 1000);
	is_int((int)pollwin_window(&p), 100000, "long sleep: halved");
	for (int i = 0; i < 4; i++)
		cycle(&p, &t, 1000000000, true, 1, 1000);
	is_int((int)pollwin_window(&p), 0, "idle guest: window 0");
	is_int(cycle(&p, &t, 1000, true, 1, 1000), POLLWIN_SLEEP,
	    "window 0: sleeps at once");
	is_int((int)pollwin_window(&p), (int)POLLWIN_MIN_NS,
	    "from 0, a short sleep restarts at the minimum");

	pollwin_init(&p, 0);
	is_int((int)pollwin_window(&p), 0, "max 0: polling off");
	is_int(cycle(&p, &t, 1000, true, 1, 1000), POLLWIN_SLEEP,
	    "max 0: sleeps");
	is_int((int)pollwin_window(&p), 0, "max 0: stays off");
	pollwin_init(&p, 20000);
	is_int((int)pollwin_window(&p), 20000, "small max caps the first window");
	pollwin_init(&p, 5000);
	is_int((int)pollwin_window(&p), 0, "max under the minimum: off");
}

/* Ways cost: sleeping c[0] ns per cycle, yielding c[1], spinning c[2]. */
static unsigned
learn(const uint64_t c[POLLWIN_WAYS], unsigned cycles, unsigned per_cycle,
    bool busy, unsigned *used)
{
	struct pollwin p;
	uint64_t t = 1000000;
	enum pollwin_way w = POLLWIN_SLEEP;

	pollwin_init(&p, POLLWIN_MAX_NS_DEF);
	for (int i = 0; i < POLLWIN_WAYS; i++)
		used[i] = 0;
	for (unsigned i = 0; i < cycles; i++) {
		w = pollwin_idle(&p, t, busy);
		used[w]++;
		t += c[w] * per_cycle / 2;
		pollwin_woke(&p, t, w == POLLWIN_SLEEP ? c[w] * per_cycle / 2 : 0);
		pollwin_served(&p, per_cycle);
		t += c[w] * per_cycle / 2;
	}
	return w;
}

static void
way_rules(void)
{
	static const uint64_t quiet[POLLWIN_WAYS] = { 90000, 20000, 15000 };
	static const uint64_t loaded[POLLWIN_WAYS] = { 12000, 25000, 60000 };
	unsigned used[POLLWIN_WAYS];
	struct pollwin p;
	uint64_t t = 1000000;

	learn(quiet, 10000, 4, false, used);
	ok(used[POLLWIN_SPIN] > 9500, "quiet host, depth 4: spins (%u of 10000)",
	    used[POLLWIN_SPIN]);
	ok(used[POLLWIN_SLEEP] > 10 && used[POLLWIN_YIELD] > 10,
	    "other ways still re-tried (%u, %u)", used[POLLWIN_SLEEP],
	    used[POLLWIN_YIELD]);
	ok(used[POLLWIN_SLEEP] + used[POLLWIN_YIELD] < 10000 / 64,
	    "exploring stays rare");
	learn(loaded, 10000, 4, false, used);
	ok(used[POLLWIN_SLEEP] > 9500, "loaded host: sleeps (%u of 10000)",
	    used[POLLWIN_SLEEP]);
	learn(quiet, 10000, 1, false, used);
	ok(used[POLLWIN_SPIN] == 0 && used[POLLWIN_YIELD] > 9500,
	    "lone requests: a spin yields (%u yield, %u spin)",
	    used[POLLWIN_YIELD], used[POLLWIN_SPIN]);
	learn(quiet, 10000, 4, true, used);
	ok(used[POLLWIN_SPIN] == 0 && used[POLLWIN_YIELD] > 9500,
	    "helpers at work: a spin yields (%u yield, %u spin)",
	    used[POLLWIN_YIELD], used[POLLWIN_SPIN]);

	/* Long waits count as twice the maximum, no more. */
	pollwin_init(&p, POLLWIN_MAX_NS_DEF);
	cycle(&p, &t, 10000, false, 1, 1000);
	is_int((int)p.cost_ns[POLLWIN_SLEEP], 0, "first cycle still open");
	{
		enum pollwin_way w = cycle(&p, &t, 10000000, true, 1, 1000);

		is_int((int)p.cost_ns[POLLWIN_SLEEP], 11000,
		    "sleep way measured once closed");
		cycle(&p, &t, 1000, false, 1, 1000);
		is_int((int)p.cost_ns[w], (int)(2 * POLLWIN_MAX_NS_DEF + 1000),
		    "a 10 ms wait costs as one of twice the maximum");
	}
	/* A cycle that served several requests costs per request. */
	pollwin_init(&p, POLLWIN_MAX_NS_DEF);
	cycle(&p, &t, 4000, false, 16, 60000);
	pollwin_idle(&p, t, false);
	is_int((int)p.cost_ns[POLLWIN_SLEEP], 4000,
	    "cost per request: (4 + 60) us / 16");
}

/*
 * Waits in a row that sleep at once, each a 90 us sleep for one request
 * (dearer than the learned spin: only contention makes them sleep). The
 * first wait that does not sleep is left open: the caller ends it with
 * spin_ends().
 */
static unsigned
sleeps_in_a_row(struct pollwin *p, uint64_t *t)
{
	unsigned n = 0;

	while (n < 2 * POLLWIN_CONTENDED_MAX &&
	    pollwin_idle(p, *t, false) == POLLWIN_SLEEP) {
		*t += 90000;
		pollwin_woke(p, *t, 90000);
		pollwin_served(p, 1);
		n++;
	}
	return n;
}

/* The open spin ends: after losing its CPU for 3 ms, or caught in 5 us. */
static void
spin_ends(struct pollwin *p, uint64_t *t, bool preempted)
{
	if (preempted) {
		pollwin_preempted(p);
		pollwin_preempted(p); /* counted once per wait */
	}
	*t += preempted ? 3000000 : 5000;
	pollwin_woke(p, *t, 0);
	pollwin_served(p, 1);
}

static void
contention_rules(void)
{
	static const uint64_t quiet[POLLWIN_WAYS] = { 90000, 20000, 15000 };
	struct pollwin p;
	uint64_t t = 1000000;
	unsigned n;

	/* A quiet host learns to spin (way_rules). */
	pollwin_init(&p, POLLWIN_MAX_NS_DEF);
	for (int i = 0; i < 64; i++) {
		enum pollwin_way w = pollwin_idle(&p, t, false);

		t += quiet[w] * 2;
		pollwin_woke(&p, t, w == POLLWIN_SLEEP ? quiet[w] * 2 : 0);
		pollwin_served(&p, 4);
		t += quiet[w] * 2;
	}
	is_int(sleeps_in_a_row(&p, &t), 0, "quiet: spins");
	spin_ends(&p, &t, true);
	is_int(sleeps_in_a_row(&p, &t), POLLWIN_CONTENDED,
	    "a spin lost its CPU: the next waits sleep");
	spin_ends(&p, &t, true);
	is_int(sleeps_in_a_row(&p, &t), 2 * POLLWIN_CONTENDED,
	    "the spin after them too: twice as many");
	for (int i = 0; i < 20; i++) {
		spin_ends(&p, &t, true);
		n = sleeps_in_a_row(&p, &t);
	}
	is_int((int)n, POLLWIN_CONTENDED_MAX, "never more than the maximum");
	spin_ends(&p, &t, false);
	is_int(sleeps_in_a_row(&p, &t), 0, "a spin kept its CPU: spins again");
	spin_ends(&p, &t, true);
	is_int(sleeps_in_a_row(&p, &t), POLLWIN_CONTENDED,
	    "and a new contention starts from the first length");
	/* The spin's clock reads tell: 10 us apart no, 60 us apart yes. */
	(void)sleeps_in_a_row(&p, &t);
	spin_ends(&p, &t, false);
	is_int(sleeps_in_a_row(&p, &t), 0, "a clean spin: spins");
	pollwin_tick(&p, t + 10000);
	pollwin_tick(&p, t + 20000);
	spin_ends(&p, &t, false);
	is_int(sleeps_in_a_row(&p, &t), 0, "reads 10 us apart: not preempted");
	pollwin_tick(&p, t + 10000);
	pollwin_tick(&p, t + 10000 + POLLWIN_PREEMPT_NS + 1);
	spin_ends(&p, &t, false);
	is_int(sleeps_in_a_row(&p, &t), POLLWIN_CONTENDED,
	    "reads further apart than POLLWIN_PREEMPT_NS: preempted");
	/* Polling off: a preemption report changes nothing. */
	pollwin_init(&p, 0);
	pollwin_preempted(&p);
	is_int(pollwin_idle(&p, t, false), POLLWIN_SLEEP, "max 0: sleeps");
}

int
main(void)
{
	window_rules();
	way_rules();
	contention_rules();
	return done_testing();
}
