/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection for the crash tests (-Dcrashpoints=true defines
 * PHX_CRASHPOINTS). CRASHPOINT("queue.after_pop") compiles to nothing in a
 * normal build. With crash points, the environment selects one point:
 *
 *   PHX_CRASH=name[:count][:sig]   the count-th pass (default 1) through
 *                                  point name raises sig (KILL default;
 *                                  SEGV, ABRT, BUS also accepted)
 *   PHX_DELAY=name:us[:every][,..] every pass (or every every-th pass)
 *                                  through DELAYPOINT(name) sleeps us
 *                                  microseconds (widens a race window,
 *                                  holds a request; never a crash); up
 *                                  to 4 points, comma-separated
 *   PHX_FAIL=name[:count]          FAILPOINT(name) is true on the
 *                                  count-th pass (default 1), once per
 *                                  daemon: the code there takes its error
 *                                  path or injects a fault (tests only)
 *   PHX_CRASH_UNIQUE=unique[,unique2][:sig]
 *                                  a poison request (or two): every time
 *                                  the request with that FUSE unique is
 *                                  handled, sig (SEGV default) is raised
 *   PHX_CRASH_RECUR=name[:max][:sig] a crash that recurs: the first pass
 *                                  of each incarnation through point name
 *                                  raises sig (SEGV default), in at most
 *                                  max incarnations (default: all); the
 *                                  count is kept in crash_fired
 *
 * Passes are counted per incarnation, and PHX_CRASH (like PHX_FAIL) fires
 * once per daemon:
 * the env is inherited by every worker, so the first firing is recorded in
 * the state region header (crash_fired) and later incarnations skip it.
 * PHX_CRASH_UNIQUE is deliberately not latched (poison tests want it to
 * crash every incarnation until the request is quarantined).
 */
#ifndef PHX_CRASHPOINT_H
#define PHX_CRASHPOINT_H

#include <stdbool.h>
#include <stdint.h>

struct region;

#ifdef PHX_CRASHPOINTS
#define CRASHPOINT(name) crashpoint_hit(name)
#define DELAYPOINT(name) crashpoint_delay(name)
#define FAILPOINT(name) crashpoint_fail(name)
#else
#define CRASHPOINT(name) ((void)0)
#define DELAYPOINT(name) ((void)0)
#define FAILPOINT(name) false
#endif

/* Tells crash points where the region is (for the fired latch). */
void crashpoint_init(struct region *r);
/* Counts a pass through name; may not return. */
void crashpoint_hit(const char *name);
/* Sleeps if name is PHX_DELAY's point. */
void crashpoint_delay(const char *name);
/* True where PHX_FAIL selects name (see above). */
bool crashpoint_fail(const char *name);
/* The poison check: may not return if unique is PHX_CRASH_UNIQUE. */
void crashpoint_unique(uint64_t unique);

#endif
