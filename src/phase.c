/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stall phase timestamps (phase.h). */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "phase.h"

static uint64_t phase_ns[PHASE_N];
/* At debug level: the worker's CPU time (all threads, us) at its marks. */
static uint64_t phase_cpu[PHASE_N];

static const char *const phase_name[PHASE_N] = {
	[PHASE_K_NOTICED] = "noticed", [PHASE_K_MM] = "mm",
	[PHASE_K_CLONE] = "clone",
	[PHASE_W_START] = "start", [PHASE_W_CAPS] = "caps",
	[PHASE_W_SANDBOX] = "sandbox", [PHASE_W_REGION] = "region",
	[PHASE_W_REDO] = "redo", [PHASE_W_RINGS] = "rings",
	[PHASE_W_SESSION] = "session", [PHASE_W_DEVICE] = "device",
	[PHASE_W_RTHREAD] = "rthread", [PHASE_W_MEM] = "mem",
	[PHASE_W_URING] = "uring", [PHASE_W_QUEUES] = "queues",
	[PHASE_W_STARTED] = "started", [PHASE_W_PUSH] = "push",
};

static void
mark_cpu(enum phase_id id)
{
	struct timespec ts;

	if (id < PHASE_W_START || log_get_level() < LOG_LEVEL_DEBUG ||
	    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return;
	phase_cpu[id] = (uint64_t)ts.tv_sec * 1000000 +
	    (uint64_t)ts.tv_nsec / 1000;
}

void
phase_mark(enum phase_id id)
{
	__atomic_store_n(&phase_ns[id], clock_now_ns(), __ATOMIC_RELAXED);
	mark_cpu(id);
}

/* The first of several threads to get here marks it. */
void
phase_mark_once(enum phase_id id)
{
	uint64_t zero = 0;

	if (__atomic_load_n(&phase_ns[id], __ATOMIC_RELAXED) == 0 &&
	    __atomic_compare_exchange_n(&phase_ns[id], &zero, clock_now_ns(),
	    false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		mark_cpu(id);
}

/* Worker phases only: the keeper's are overwritten at its next death. */
void
phase_reset(void)
{
	for (unsigned i = PHASE_W_START; i < PHASE_N; i++)
		phase_ns[i] = 0;
}

void
phase_log(void)
{
	char buf[2048];
	int n = 0;

	for (unsigned i = 0; i < PHASE_N && n < (int)sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %s=%llu",
		    phase_name[i], (unsigned long long)
		    __atomic_load_n(&phase_ns[i], __ATOMIC_RELAXED));
	/* The worker's own, from its clone (a new process counts from 0). */
	for (unsigned i = PHASE_W_START; i < PHASE_N && n < (int)sizeof(buf);
	    i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, " c_%s=%llu",
		    phase_name[i], (unsigned long long)phase_cpu[i]);
	log_debug("stall phases:%s", buf);
}

static void *
log_thread(void *p)
{
	(void)p;
	for (unsigned i = 0; i < 5000; i++) {
		if (__atomic_load_n(&phase_ns[PHASE_W_PUSH], __ATOMIC_RELAXED))
			break;
		usleep(1000);
	}
	phase_log();
	return NULL;
}

/* At debug level: the line once the first reply is out (a thread of its
 * own, off the stall). */
void
phase_log_later(void)
{
	pthread_t th;

	if (log_get_level() < LOG_LEVEL_DEBUG)
		return;
	if (pthread_create(&th, NULL, log_thread, NULL) == 0)
		pthread_detach(th);
}
