/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the fd sweep (fdtab.c): the fds a snapshot found open and
 * unreferenced are closed by the sweep while creators run, none of the
 * creators' fds ever is, and a creator holding an fd it has not recorded
 * yet (a slow host call) delays the sweep not at all; a snapshot fd that
 * something references by the sweep's time is kept; no snapshot, no close.
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
	unsigned hold_us; /* between creation and record (a slow request) */
	unsigned long rounds, lost; /* lost: an fd closed under it */
};

/*
 * Creates an fd, holds it hold_us unrecorded, records it (the registry),
 * checks it is still open, forgets and closes it.
 */
static void *
creator(void *p)
{
	struct creator *c = p;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (c->hold_us > 0)
			usleep(c->hold_us);
		if (fcntl(fd, F_GETFD) < 0)
			c->lost++;
		if (fdtab_register(fd) < 0) {
			close(fd);
			continue;
		}
		if (fcntl(fd, F_GETFD) < 0)
			c->lost++;
		fdtab_unregister(fd);
		if (close(fd) < 0)
			c->lost++;
		c->rounds++;
	}
	return NULL;
}

static void
start(struct creator *c, unsigned n)
{
	__atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_create(&c[i].th, NULL, creator, &c[i]);
}

static void
finish(struct creator *c, unsigned n, unsigned long *rounds,
    unsigned long *lost)
{
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(c[i].th, NULL);
		*rounds += c[i].rounds;
		*lost += c[i].lost;
		c[i].rounds = c[i].lost = 0;
	}
}

/*
 * Rounds of: a dead worker's leak at a number the creators never reach,
 * the snapshot (no creator running: a recovery, before it creates), then
 * creators (one holding each fd 300 ms unrecorded) racing the sweep.
 */
static void
test_race(void)
{
	struct creator c[5];
	unsigned long rounds = 0, lost = 0;
	uint64_t worst = 0;
	int leaked_closed = 0, n = 0, snap_ok = 0;

	memset(c, 0, sizeof(c));
	c[4].hold_us = 300000;
	for (uint64_t end = clock_now_ns() + 1500000000ULL;
	     clock_now_ns() < end; n++) {
		int leak = dup2(0, LEAK_FD);
		uint64_t t0;

		if (fdtab_snapshot(&r) >= 1)
			snap_ok++;
		start(c, 5);
		usleep(2000); /* the creators hold fds */
		t0 = clock_now_ns();
		if (fdtab_sweep(&r) < 0)
			break;
		if (clock_now_ns() - t0 > worst)
			worst = clock_now_ns() - t0;
		if (leak == LEAK_FD && fcntl(leak, F_GETFD) < 0)
			leaked_closed++;
		else
			close(LEAK_FD);
		usleep(20000);
		finish(c, 5, &rounds, &lost);
	}
	diag("%d sweeps (worst %.3f ms), %lu creations", n,
	    (double)worst / 1e6, rounds);
	ok(n >= 3 && rounds > 1000, "sweeps and creations both progress");
	ok(snap_ok == n, "each snapshot found the leak (%d of %d)", snap_ok,
	    n);
	ok(lost == 0, "no fd closed between its creation and its record "
	    "(%lu lost)", lost);
	ok(leaked_closed == n, "every sweep closed the leaked fd (%d of %d)",
	    leaked_closed, n);
	ok(worst < 50000000ULL, "no sweep waits for a creator holding an "
	    "unrecorded fd 300 ms (worst %.3f ms)", (double)worst / 1e6);
}

/* A snapshot fd referenced by the sweep's time is kept; one sweep each. */
static void
test_kept(void)
{
	int fd = dup2(0, LEAK_FD + 1);

	ok(fdtab_snapshot(&r) >= 1, "the snapshot lists an unreferenced fd");
	ok(fdtab_register(fd) == 0, "then something references it");
	ok(fdtab_sweep(&r) == 0 && fcntl(fd, F_GETFD) >= 0,
	    "the sweep keeps it");
	fdtab_unregister(fd);
	ok(fdtab_sweep(&r) == 0 && fcntl(fd, F_GETFD) >= 0,
	    "a second sweep without a snapshot closes nothing");
	close(fd);
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
	test_kept();
	return done_testing();
}
