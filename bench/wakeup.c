/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/wakeup: the round trip of two threads waking each other through
 * eventfds, unpinned, as a daemon and its front-end do. It tells which
 * regime a benchmark ran in: on a quiet virtualized host an idle vCPU
 * halts and each wakeup costs 40+ us; on a busy one a few us. Prints
 * "wakeup rtt_us=X" (median of 5 rounds of 2000 round trips).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "median.h"

#define ROUNDS 5
#define TRIPS  2000

static int ping, pong;

static void *
peer(void *arg)
{
	uint64_t v;

	(void)arg;
	for (int i = 0; i < ROUNDS * TRIPS; i++)
		if (read(ping, &v, sizeof(v)) != sizeof(v) ||
		    write(pong, &v, sizeof(v)) != sizeof(v))
			exit(1);
	return NULL;
}

int
main(void)
{
	double us[ROUNDS];
	pthread_t th;
	uint64_t v = 1;

	ping = eventfd(0, 0);
	pong = eventfd(0, 0);
	if (ping < 0 || pong < 0 || pthread_create(&th, NULL, peer, NULL))
		return 1;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = clock_now_ns();

		for (int i = 0; i < TRIPS; i++)
			if (write(ping, &v, sizeof(v)) != sizeof(v) ||
			    read(pong, &v, sizeof(v)) != sizeof(v))
				return 1;
		us[r] = (double)(clock_now_ns() - t0) / 1000.0 / TRIPS;
	}
	pthread_join(th, NULL);
	printf("wakeup rtt_us=%.1f\n", median(us, ROUNDS));
	return 0;
}
