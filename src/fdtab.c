/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Closes the fds a dead worker leaked (DESIGN 4 step 9), in the background
 * and in batches: each batch takes the creation lock exclusively, builds
 * the set of referenced fds from the region and this incarnation's
 * registry, and closes the unreferenced open fds of its range. Requests
 * hold the lock shared, so a batch waits for the requests in flight and
 * briefly delays new ones; it never runs in the recovery stall.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdtab.h"
#include "log.h"

#define BATCH 1024

static pthread_rwlock_t create_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static int registry[256];
static unsigned nregistry;

int
fdtab_keeper_snapshot(struct region *r)
{
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;
	int fd;

	fd = openat(REGION_FD_PROC, "self/fd", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		long v;

		if (de->d_name[0] == '.')
			continue;
		v = strtol(de->d_name, NULL, 10);
		if (v == dirfd(d) || REGION_FD_RESERVED(v))
			continue;
		if (n < r->hdr->fdlist_cap)
			r->fdlist[n++] = v;
	}
	closedir(d);
	return (int)n;
}

int
fdtab_register(int fd)
{
	int err = 0;

	pthread_mutex_lock(&reg_lock);
	if (nregistry < sizeof(registry) / sizeof(registry[0]))
		registry[nregistry++] = fd;
	else
		err = -ENOSPC;
	pthread_mutex_unlock(&reg_lock);
	return err;
}

void
fdtab_unregister(int fd)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nregistry; i++) {
		if (registry[i] == fd) {
			registry[i] = registry[--nregistry];
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

void
fdtab_req_begin(void)
{
	pthread_rwlock_rdlock(&create_lock);
}

void
fdtab_req_end(void)
{
	pthread_rwlock_unlock(&create_lock);
}

static void
mark(uint8_t *bits, int64_t fd, int lo, int hi)
{
	if (fd >= lo && fd < hi)
		bits[(fd - lo) / 8] |= (uint8_t)(1u << ((fd - lo) % 8));
}

/* Marks every fd in [lo, hi) the region or the registry references. */
static void
referenced(struct region *r, uint8_t *bits, int lo, int hi)
{
	struct region_dev_rec *dev = r->dev;
	uint64_t high;

	for (int fd = 0; fd < 3; fd++)
		mark(bits, fd, lo, hi);
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++)
		mark(bits, r->fdlist[i], lo, hi);
	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		mark(bits, dev->mem[i].fd, lo, hi);
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		mark(bits, dev->queue[q].kick_fd, lo, hi);
		mark(bits, dev->queue[q].call_fd, lo, hi);
		mark(bits, dev->queue[q].err_fd, lo, hi);
	}
	for (unsigned i = 0; i < REGION_MAX_FDS; i++)
		mark(bits, dev->ctrl_fds[i], lo, hi);
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++)
		mark(bits, r->threads[i].ring_fd, lo, hi);
	high = r->ihdr->high;
	for (uint64_t i = 0; i < high && i < r->hdr->inode_cap; i++)
		if (r->inodes[i].used == 1)
			mark(bits, r->inodes[i].fd, lo, hi);
	high = r->hhdr->high;
	for (uint64_t i = 0; i < high && i < r->hdr->handle_cap; i++)
		if (r->handles[i].used == 1)
			mark(bits, r->handles[i].fd, lo, hi);
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nregistry; i++)
		mark(bits, registry[i], lo, hi);
	pthread_mutex_unlock(&reg_lock);
}

int
fdtab_sweep(struct region *r)
{
	uint8_t bits[BATCH / 8];
	struct rlimit rl;
	int closed = 0, max;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	max = rl.rlim_cur > (1 << 20) ? (1 << 20) : (int)rl.rlim_cur;
	for (int lo = 3; lo < max; lo += BATCH) {
		int hi = MIN(lo + BATCH, max);

		memset(bits, 0, sizeof(bits));
		pthread_rwlock_wrlock(&create_lock);
		referenced(r, bits, lo, hi);
		for (int fd = lo; fd < hi; fd++) {
			if (REGION_FD_RESERVED(fd) ||
			    bits[(fd - lo) / 8] & (1u << ((fd - lo) % 8)))
				continue;
			if (fcntl(fd, F_GETFD) < 0)
				continue;
			close(fd);
			closed++;
		}
		pthread_rwlock_unlock(&create_lock);
	}
	return closed;
}

static void *
sweep_thread(void *p)
{
	struct region *r = p;
	int n;

	usleep(50000); /* after the stall, not in it */
	n = fdtab_sweep(r);
	if (n > 0)
		log_info("closed %d fds leaked by the previous worker", n);
	return NULL;
}

int
fdtab_start_sweep(struct region *r)
{
	pthread_attr_t a;
	pthread_t th;
	int err;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &a, sweep_thread, r);
	pthread_attr_destroy(&a);
	return -err;
}
