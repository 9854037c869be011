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
/* PHX_DELAY: up to DP_MAX points, "a:us[:every],b:us[:every]". */
#define DP_MAX 4
static struct {
	char name[64];
	unsigned long us, every, passes;
} dp[DP_MAX];
static unsigned ndp;

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

static void
parse(void)
{
	const char *e = getenv("PHX_CRASH");
	char buf[192], *c1, *c2;

	if (e != NULL && strlen(e) < sizeof(buf)) {
		strcpy(buf, e);
		c1 = strchr(buf, ':');
		if (c1 != NULL) {
			*c1++ = '\0';
			c2 = strchr(c1, ':');
			if (c2 != NULL)
				*c2++ = '\0';
			if (*c1 != '\0')
				cp_count = strtoul(c1, NULL, 10);
			cp_sig = parse_sig(c2, SIGKILL);
		}
		if (cp_count == 0)
			cp_count = 1;
		if (strlen(buf) < sizeof(cp_name))
			strcpy(cp_name, buf);
	}
	e = getenv("PHX_DELAY");
	while (e != NULL && *e != '\0' && ndp < DP_MAX) {
		const char *end = strchr(e, ',');
		size_t len = end != NULL ? (size_t)(end - e) : strlen(e);

		c1 = memchr(e, ':', len);
		if (c1 != NULL && (size_t)(c1 - e) < sizeof(dp[0].name)) {
			memcpy(dp[ndp].name, e, (size_t)(c1 - e));
			dp[ndp].us = strtoul(c1 + 1, &c2, 10);
			dp[ndp].every = 1;
			if (*c2 == ':' && strtoul(c2 + 1, NULL, 10) > 0)
				dp[ndp].every = strtoul(c2 + 1, NULL, 10);
			ndp++;
		}
		e = end != NULL ? end + 1 : NULL;
	}
	e = getenv("PHX_CRASH_RECUR");
	if (e != NULL && strlen(e) < sizeof(buf)) {
		strcpy(buf, e);
		c1 = strchr(buf, ':');
		if (c1 != NULL) {
			*c1++ = '\0';
			c2 = strchr(c1, ':');
			if (c2 != NULL)
				*c2++ = '\0';
			if (*c1 != '\0')
				rc_max = strtoul(c1, NULL, 10);
			rc_sig = parse_sig(c2, SIGSEGV);
		}
		if (strlen(buf) < sizeof(rc_name))
			strcpy(rc_name, buf);
	}
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
	    &cp_region->hdr->crash_fired, 1, __ATOMIC_SEQ_CST) < rc_max)) {
		raise(rc_sig);
		kill(getpid(), SIGKILL);
	}
	if (cp_name[0] == '\0' || strcmp(name, cp_name) != 0)
		return;
	n = __atomic_add_fetch(&cp_passes, 1, __ATOMIC_RELAXED);
	if (n != cp_count)
		return;
	if (cp_region != NULL) {
		uint64_t zero = 0;

		/* Latch: only the first incarnation to get here fires. */
		if (!__atomic_compare_exchange_n(&cp_region->hdr->crash_fired,
		    &zero, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return;
	}
	raise(cp_sig);
	if (cp_sig != SIGKILL)
		kill(getpid(), SIGKILL); /* a handler returned: die anyway */
}

void
crashpoint_delay(const char *name)
{
	struct timespec ts;

	pthread_once(&once, parse);
	for (unsigned i = 0; i < ndp; i++) {
		if (dp[i].us == 0 || strcmp(name, dp[i].name) != 0)
			continue;
		if (__atomic_add_fetch(&dp[i].passes, 1, __ATOMIC_RELAXED) %
		    dp[i].every)
			return;
		ts.tv_sec = (time_t)(dp[i].us / 1000000);
		ts.tv_nsec = (long)(dp[i].us % 1000000) * 1000;
		nanosleep(&ts, NULL);
		return;
	}
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
