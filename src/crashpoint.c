/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection for the crash tests (see crashpoint.h for the env
 * syntax). The environment is parsed once; passes are counted per
 * incarnation in this process; the PHX_CRASH firing is latched in the
 * region header so the same crash does not repeat in every respawned
 * worker. Compiled in every build (tiny); only CRASHPOINT() calls vanish
 * without PHX_CRASHPOINTS.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashpoint.h"
#include "region.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char cp_name[128];
static unsigned long cp_count = 1;
static int cp_sig = SIGKILL;
static unsigned long cp_passes; /* atomic */
static uint64_t cp_unique, cp_unique2;
static char rc_name[128];	/* PHX_CRASH_RECUR */
static unsigned long rc_max = ~0UL, rc_passes;
static int rc_sig = SIGSEGV;
static int cp_unique_sig = SIGSEGV;
static int cp_unique_set;
static struct region *cp_region;
#define DP_MAX 4 /* PHX_DELAY entries, comma-separated */
static struct {
	char name[64];
	unsigned long us, every, passes;
} dp[DP_MAX];
static char fp_name[128];
static unsigned long fp_count = 1, fp_passes;
static int fp_sig; /* PHX_FAIL takes no signal: parse_point's, unused */

/* The region's crash_fired: bits latch PHX_CRASH and PHX_FAIL, and from
 * bit 8 up it counts the incarnations PHX_CRASH_RECUR crashed. */
#define LATCH_CRASH 1u
#define LATCH_FAIL  2u
#define RECUR_ONE   256u

/* True for the first incarnation to latch bit (or without a region). */
static bool
latch(uint64_t bit)
{
	if (cp_region == NULL)
		return true;
	return (__atomic_fetch_or(&cp_region->hdr->crash_fired, bit,
	    __ATOMIC_SEQ_CST) & bit) == 0;
}

static int
parse_sig(const char *s, int dflt)
{
	if (s == NULL || *s == '\0')
		return dflt;
	if (strcmp(s, "KILL") == 0)
		return SIGKILL;
	if (strcmp(s, "SEGV") == 0)
		return SIGSEGV;
	if (strcmp(s, "ABRT") == 0)
		return SIGABRT;
	if (strcmp(s, "BUS") == 0)
		return SIGBUS;
	return dflt;
}

/* "name[:count][:sig]" into name, *count (if given), *sig (dflt). */
static void
parse_point(const char *e, char *name, size_t size, unsigned long *count,
    int *sig, int dflt)
{
	char buf[192], *c1, *c2;

	if (e == NULL || strlen(e) >= sizeof(buf))
		return;
	strcpy(buf, e);
	c1 = strchr(buf, ':');
	if (c1 != NULL) {
		*c1++ = '\0';
		c2 = strchr(c1, ':');
		if (c2 != NULL)
			*c2++ = '\0';
		if (*c1 != '\0')
			*count = strtoul(c1, NULL, 10);
		*sig = parse_sig(c2, dflt);
	}
	if (strlen(buf) < size)
		strcpy(name, buf);
}

static void
parse(void)
{
	const char *e = getenv("PHX_CRASH");
	char *c1, *c2;

	parse_point(e, cp_name, sizeof(cp_name), &cp_count, &cp_sig, SIGKILL);
	if (cp_count == 0)
		cp_count = 1;
	e = getenv("PHX_DELAY");
	for (unsigned k = 0; e != NULL && *e != '\0' && k < DP_MAX; k++) {
		const char *end = strchrnul(e, ',');

		c1 = memchr(e, ':', (size_t)(end - e));
		if (c1 != NULL && (size_t)(c1 - e) < sizeof(dp[k].name)) {
			memcpy(dp[k].name, e, (size_t)(c1 - e));
			dp[k].us = strtoul(c1 + 1, &c2, 10);
			dp[k].every = 1;
			if (*c2 == ':' && strtoul(c2 + 1, NULL, 10) > 0)
				dp[k].every = strtoul(c2 + 1, NULL, 10);
		}
		e = *end == ',' ? end + 1 : NULL;
	}
	e = getenv("PHX_FAIL");
	parse_point(e, fp_name, sizeof(fp_name), &fp_count, &fp_sig, 0);
	if (fp_count == 0)
		fp_count = 1;
	e = getenv("PHX_CRASH_RECUR");
	parse_point(e, rc_name, sizeof(rc_name), &rc_max, &rc_sig, SIGSEGV);
	e = getenv("PHX_CRASH_UNIQUE");
	if (e != NULL && *e != '\0') {
		char *end;

		cp_unique = strtoull(e, &end, 0);
		cp_unique2 = cp_unique;
		cp_unique_set = 1;
		if (*end == ',')
			cp_unique2 = strtoull(end + 1, &end, 0);
		if (*end == ':')
			cp_unique_sig = parse_sig(end + 1, SIGSEGV);
	}
}

void
crashpoint_init(struct region *r)
{
	cp_region = r;
	pthread_once(&once, parse);
}

void
crashpoint_hit(const char *name)
{
	unsigned long n;

	pthread_once(&once, parse);
	if (rc_name[0] != '\0' && strcmp(name, rc_name) == 0 &&
	    __atomic_add_fetch(&rc_passes, 1, __ATOMIC_RELAXED) == 1 &&
	    (cp_region == NULL || __atomic_fetch_add(
	    &cp_region->hdr->crash_fired, RECUR_ONE, __ATOMIC_SEQ_CST) /
	    RECUR_ONE < rc_max)) {
		raise(rc_sig);
		kill(getpid(), SIGKILL);
	}
	if (cp_name[0] == '\0' || strcmp(name, cp_name) != 0)
		return;
	n = __atomic_add_fetch(&cp_passes, 1, __ATOMIC_RELAXED);
	if (n != cp_count)
		return;
	/* Latch: only the first incarnation to get here fires. */
	if (!latch(LATCH_CRASH))
		return;
	raise(cp_sig);
	if (cp_sig != SIGKILL)
		kill(getpid(), SIGKILL); /* a handler returned: die anyway */
}

void
crashpoint_delay(const char *name)
{
	struct timespec ts;

	pthread_once(&once, parse);
	for (unsigned k = 0; k < DP_MAX && dp[k].us != 0; k++) {
		if (strcmp(name, dp[k].name) != 0)
			continue;
		if (__atomic_add_fetch(&dp[k].passes, 1, __ATOMIC_RELAXED) %
		    dp[k].every)
			return;
		ts.tv_sec = (time_t)(dp[k].us / 1000000);
		ts.tv_nsec = (long)(dp[k].us % 1000000) * 1000;
		nanosleep(&ts, NULL);
		return;
	}
}

bool
crashpoint_fail(const char *name)
{
	pthread_once(&once, parse);
	if (fp_name[0] == '\0' || strcmp(name, fp_name) != 0)
		return false;
	if (__atomic_add_fetch(&fp_passes, 1, __ATOMIC_RELAXED) != fp_count)
		return false;
	return latch(LATCH_FAIL);
}

void
crashpoint_unique(uint64_t unique)
{
	pthread_once(&once, parse);
	if (cp_unique_set && (unique == cp_unique || unique == cp_unique2)) {
		raise(cp_unique_sig);
		kill(getpid(), SIGKILL);
	}
}
