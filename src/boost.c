/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The recovery boost (boost.h). Linux's nice is per thread and inherited
 * at thread creation: setpriority(PRIO_PROCESS, 0) changes the caller
 * only. The base is a global the keeper sets, copied into every worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "boost.h"

static int base = 0;
static int boosted;

void
boost_keeper(void)
{
	const char *e = getenv("PHX_KEEPER_BASE_NICE");
	char buf[16];
	int now;

	errno = 0;
	now = getpriority(PRIO_PROCESS, 0);
	if (now == -1 && errno != 0)
		return;
	/* After an exec for an upgrade: our nice is the boosted one. */
	base = e != NULL ? atoi(e) : now;
	if (base < -20 || base > 19)
		base = now;
	boosted = 0;
	if (base - BOOST_NICE >= -20 &&
	    setpriority(PRIO_PROCESS, 0, base - BOOST_NICE) == 0)
		boosted = 1;
	snprintf(buf, sizeof(buf), "%d", base);
	setenv("PHX_KEEPER_BASE_NICE", buf, 1);
}

void
boost_end(void)
{
	if (boosted)
		(void)setpriority(PRIO_PROCESS, 0, base);
}
