/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ringhog: spends the RLIMIT_MEMLOCK budget of its uid with io_uring rings,
 * as ~146 daemons of ~7 rings each do on one host (tests/integ/memlock.sh).
 *
 *   ringhog hold SECONDS   drops CAP_IPC_LOCK (without it a ring's memory is
 *                          charged to the uid's locked_vm, which every
 *                          process of the uid shares), sets up rings until
 *                          io_uring_setup answers ENOMEM, prints "held N
 *                          rings" and keeps topping the budget up
 *                          (a ring another process releases is taken
 *                          again) until SIGTERM, its parent's death or
 *                          SECONDS: the rings go with the process, so the
 *                          budget is never left spent.
 *   ringhog check          drops CAP_IPC_LOCK and sets up one ring like a
 *                          worker thread's (intent.c: 4 SQ, 64 CQ entries);
 *                          exit 0 if it could, 1 on ENOMEM.
 *
 * Large rings first, then smaller ones down to the smallest: few fds.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int
drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].effective &= ~(1u << CAP_IPC_LOCK);
	d[0].permitted &= ~(1u << CAP_IPC_LOCK);
	d[0].inheritable &= ~(1u << CAP_IPC_LOCK);
	return (int)syscall(SYS_capset, &h, d);
}

/* A ring of entries SQ and cq CQ entries: its fd, or -errno. */
static int
ring(unsigned entries, unsigned cq)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	fd = (int)syscall(SYS_io_uring_setup, entries, &p);
	return fd < 0 ? -errno : fd;
}

/*
 * Rings until ENOMEM at every size, down to a worker thread's (4 SQ, 64
 * CQ: two pages, as the smallest ring); -1 on another error.
 */
static int
fill(unsigned *n)
{
	static const unsigned sizes[] = {4096, 512, 64, 4};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned cq = sizes[i] == 4 ? 64 : 2 * sizes[i];
		int fd;

		while ((fd = ring(sizes[i], cq)) >= 0)
			(*n)++;
		if (fd != -ENOMEM) {
			fprintf(stderr, "ringhog: io_uring_setup: %s\n",
			    strerror(-fd));
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	unsigned n = 0;
	time_t end;

	if (argc < 2 || (strcmp(argv[1], "hold") == 0 && argc < 3)) {
		fprintf(stderr, "usage: ringhog hold SECONDS | check\n");
		return 2;
	}
	if (drop_ipc_lock() < 0) {
		perror("ringhog: capset");
		return 2;
	}
	if (strcmp(argv[1], "check") == 0) {
		int fd = ring(4, 64);

		if (fd >= 0)
			return 0;
		fprintf(stderr, "ringhog: check: %s\n", strerror(-fd));
		return 1;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	end = time(NULL) + atoi(argv[2]);
	if (fill(&n) < 0)
		return 1;
	printf("held %u rings\n", n);
	fflush(stdout);
	while (time(NULL) < end) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
		if (fill(&n) < 0)
			return 1;
	}
	return 0;
}
