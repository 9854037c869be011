/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the fd sweep's creation gate (fdtab.c): creators racing
 * repeated sweeps never lose an fd between its creation and its record,
 * a steady load of creators does not starve a sweep, a nested take passes
 * a shut gate, and a holder waiting for a gated thread delays a sweep but
 * does not deadlock it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "clock.h"
#include "fdtab.h"
#include "region.h"

#define LEAK_FD 700

static struct region r;
static int stop;

struct creator {
	pthread_t th;
	unsigned long rounds, lost; /* lost: an fd closed under it */
};

/*
 * Creates an fd inside the bracket and records it (the registry) before
 * leaving; checks it is still open; forgets and closes it inside again.
 */
static void *
creator(void *p)
{
	struct creator *c = p;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		int fd;

		fdtab_req_begin();
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		fdtab_req_begin(); /* nested: passes a shut gate */
		fdtab_req_end();
		if (fd >= 0 && fdtab_register(fd) < 0) {
			close(fd);
			fd = -1;
		}
		fdtab_req_end();
		if (fd < 0)
			continue;
		if (fcntl(fd, F_GETFD) < 0)
			c->lost++;
		fdtab_req_begin();
		fdtab_unregister(fd);
		if (close(fd) < 0)
			c->lost++;
		fdtab_req_end();
		c->rounds++;
	}
	return NULL;
}

static void
test_race(void)
{
	struct creator c[4];
	unsigned long rounds = 0, lost = 0;
	uint64_t worst = 0;
	int leaked_closed = 0, n = 0;

	memset(c, 0, sizeof(c));
	__atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 4; i++)
		pthread_create(&c[i].th, NULL, creator, &c[i]);
	for (uint64_t end = clock_now_ns() + 1500000000ULL;
	     clock_now_ns() < end; n++) {
		/*
		 * A dead worker's leak: open, recorded nowhere, at a number
		 * the creators (lowest free numbers) never reach.
		 */
		int leak = dup2(0, LEAK_FD);
		uint64_t t0 = clock_now_ns();

		if (fdtab_sweep(&r) < 0)
			break;
		if (clock_now_ns() - t0 > worst)
			worst = clock_now_ns() - t0;
		if (leak == LEAK_FD && fcntl(leak, F_GETFD) < 0)
			leaked_closed++;
		else
			close(LEAK_FD);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(c[i].th, NULL);
		rounds += c[i].rounds;
		lost += c[i].lost;
	}
	diag("%d sweeps (worst %.1f ms), %lu creations", n,
	    (double)worst / 1e6, rounds);
	ok(n >= 3 && rounds > 1000, "sweeps and creations both progress");
	ok(lost == 0, "no fd closed between its creation and its record "
	    "(%lu lost)", lost);
	ok(leaked_closed == n, "every sweep closed the leaked fd (%d of %d)",
	    leaked_closed, n);
	ok(worst < 3000000000ULL, "no sweep starved by the creators");
}

/* A holder waiting for a thread that enters while the sweep waits. */
static int entered;

static void *
late_entry(void *p)
{
	(void)p;
	usleep(20000); /* the sweep has shut the gate by now */
	fdtab_req_begin();
	__atomic_store_n(&entered, 1, __ATOMIC_RELEASE);
	fdtab_req_end();
	return NULL;
}

static void *
sweeper(void *p)
{
	*(int *)p = fdtab_sweep(&r);
	return NULL;
}

static void
test_holder_waits(void)
{
	pthread_t sw, late;
	uint64_t t0 = clock_now_ns();
	int res = -1;

	entered = 0;
	fdtab_req_begin();
	pthread_create(&sw, NULL, sweeper, &res);
	usleep(10000);
	pthread_create(&late, NULL, late_entry, NULL);
	/* The holder waits for the gated thread, as a stopping queue does. */
	while (!__atomic_load_n(&entered, __ATOMIC_ACQUIRE) &&
	    clock_now_ns() - t0 < 5000000000ULL)
		usleep(1000);
	ok(__atomic_load_n(&entered, __ATOMIC_ACQUIRE),
	    "a gated thread enters while a holder waits for it (%.0f ms)",
	    (double)(clock_now_ns() - t0) / 1e6);
	fdtab_req_end();
	pthread_join(late, NULL);
	pthread_join(sw, NULL);
	ok(res >= 0, "the sweep finished once the holder left");
	ok(!fdtab_req_inside(), "not inside after a balanced begin/end");
	fdtab_req_end(); /* outside: nothing */
	ok(!fdtab_req_inside(), "an end outside does nothing");
}

int
main(void)
{
	struct region_params p = {.max_inodes = 100, .max_handles = 100};
	struct stat st;

	if (region_create(&r, &p) < 0)
		skip_all("cannot create a region");
	stat("/", &st);
	if (dup2(open("/", O_PATH), REGION_FD_ROOT) < 0)
		skip_all("dup2");
	test_race();
	test_holder_waits();
	return done_testing();
}
