/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * intent_cost [DIR] [N]: the added cost per non-idempotent operation of
 * the exactly-once path (DESIGN 5): mkdirat+unlinkat pairs run directly,
 * then through phoenixfsd's intent.c (a per-thread io_uring whose
 * completion is recorded in a journal slot of a real state region before
 * it is consumed). Prints machine-readable lines; figures only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdispatch.h"
#include "intent.h"
#include "journal.h"
#include "region.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/dev/shm";
	int n = argc > 2 ? atoi(argv[2]) : 20000;
	struct region_params p = {.max_inodes = 64, .max_handles = 64};
	struct journal_slot_rec *slot;
	struct fuse_req req;
	struct region r;
	char name[64];
	double t0, direct, ring;
	int dfd, err;

	dfd = open(dir, O_PATH | O_DIRECTORY);
	if (dfd < 0 || region_create(&r, &p) < 0)
		return 1;
	if ((err = intent_thread_init(&r, &r.threads[0])) < 0) {
		printf("intent_cost error=no-io_uring (%s)\n", strerror(-err));
		return 1;
	}
	snprintf(name, sizeof(name), "phx-intent-cost-%d", getpid());
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		if (mkdirat(dfd, name, 0755) < 0 || unlinkat(dfd, name,
		    AT_REMOVEDIR) < 0)
			return 1;
	}
	direct = (now_us() - t0) / (2.0 * n);
	slot = region_slot(&r, 1, 0);
	memset(&req, 0, sizeof(req));
	req.slot = slot;
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		/* A new pop for each operation, as queue.c does. */
		slot->word = journal_word(JOURNAL_POPPED, (uint32_t)(2 * i + 1),
		    0, 0);
		if (intent_mkdirat(&req, dfd, name, 0755) < 0)
			return 1;
		slot->word = journal_word(JOURNAL_POPPED, (uint32_t)(2 * i + 2),
		    0, 0);
		if (intent_unlinkat(&req, dfd, name, AT_REMOVEDIR) < 0)
			return 1;
	}
	ring = (now_us() - t0) / (2.0 * n);
	printf("intent_cost dir=%s ops=%d direct_us=%.2f exactly_once_us=%.2f "
	    "added_us=%.2f\n", dir, 2 * n, direct, ring, ring - direct);
	return 0;
}
