/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Closes the fds a dead worker leaked (DESIGN 4 step 9), in the background
 * and in batches: each batch takes the creation lock exclusively, builds
 * the set of referenced fds from the region and this incarnation's
 * registry, and closes the unreferenced open fds of its range. Requests
 * hold the lock shared, so a batch waits for the requests in flight and
 * briefly delays new ones; it never runs in the recovery stall. The lock
 * is writer-preferring (a gate), so a steady load of creators cannot
 * starve the sweep; a thread already holding it takes it again without
 * waiting, and the gate never stays shut longer than GATE_NS, so a holder
 * that waits for a gated thread delays the sweep but never deadlocks it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"
#include "crashpoint.h"
#include "fdtab.h"
#include "log.h"
#include "pin.h"


/*
 * The creation lock (heap, this incarnation only; a dead worker's holders
 * are gone with it). Shared: fdtab_req_begin/end, nestable per thread.
 * Exclusive: the sweep (lock_excl). glibc's rwlock prefers readers: with
 * creators overlapping without a gap (several threads, a steady load) a
 * sweep waited for good and every kill's leaked fds piled up until EMFILE.
 * Here a waiting sweep shuts the gate: a thread not yet holding waits
 * (gate_cv) until the sweep is done or gives up, so the holders drain in
 * the time of the longest request in flight. Nested takes never wait (a
 * writer-preferring rwlock deadlocks on them: the queue thread holds it
 * for its OPENATs in flight while it serves, queue_async.c). A holder may
 * wait for a gated thread (the control thread stopping a queue, a queue
 * thread waiting for an inode exclusion a gated pool thread holds), or be
 * a slow host call (a 1.5 s FSYNC): the sweep then gives up after GATE_NS,
 * opens the gate for GATE_OPEN_MIN_US, doubled after each failed try up
 * to GATE_OPEN_MAX_US (new requests are held at most 0.1 s a try, and
 * less than a tenth of the time once the tries back off), and tries
 * again.
 */
#define GATE_NS (100 * 1000 * 1000ULL)
#define GATE_OPEN_MIN_US 20000
#define GATE_OPEN_MAX_US 1000000

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;  /* readers */
static pthread_cond_t drain_cv = PTHREAD_COND_INITIALIZER; /* the sweep */
/*
 * The fast path takes no mutex: a thread entering adds itself to holders,
 * then reads gate_shut; the sweep sets gate_shut, then reads holders (both
 * seq_cst: at least one sees the other's write). A thread that finds the
 * gate shut takes itself off again and waits under gate_mu; the sweep
 * waits under gate_mu too, so a leaving thread's wakeup is never lost.
 */
static unsigned holders; /* threads holding it shared, or backing off */
static int gate_shut;	 /* a sweep waits or holds; written under gate_mu */
static __thread unsigned depth; /* this thread's nested shared takes */
/* Times a sweep reopened the gate without the lock (log). */
static unsigned long gate_retries;

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
fdtab_keeper_add(struct region *r, int fd)
{
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++) {
		int64_t v = region_load((const uint64_t *)&r->fdlist[i]);

		if (v == fd)
			return 0;
		if (v < 0) {
			region_store((uint64_t *)&r->fdlist[i], (uint64_t)fd);
			return 0;
		}
	}
	return -ENOSPC;
}

void
fdtab_keeper_del(struct region *r, int fd)
{
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++)
		if (r->fdlist[i] == fd)
			region_store((uint64_t *)&r->fdlist[i], (uint64_t)-1);
}

/* True if the region records fd as a table's, QEMU's or a ring's. */
static bool
region_owns(struct region *r, int64_t fd)
{
	struct region_dev_rec *dev = r->dev;

	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		if (dev->mem[i].fd == fd)
			return true;
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++)
		if (dev->queue[q].kick_fd == fd || dev->queue[q].call_fd == fd ||
		    dev->queue[q].err_fd == fd)
			return true;
	for (unsigned i = 0; i < REGION_MAX_FDS; i++)
		if (dev->ctrl_fds[i] == fd)
			return true;
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++)
		if (r->threads[i].ring_fd == fd)
			return true;
	for (uint64_t i = 0; i < r->ihdr->high && i < r->hdr->inode_cap; i++)
		if (r->inodes[i].used == 1 && r->inodes[i].fd == fd)
			return true;
	for (uint64_t i = 0; i < r->hhdr->high && i < r->hdr->handle_cap; i++)
		if (r->handles[i].used == 1 && r->handles[i].fd == fd)
			return true;
	return false;
}

int
fdtab_keeper_resume(struct region *r)
{
	int n = 0;

	/*
	 * Open and not the region's: a list written by an older keeper's
	 * snapshot after an upgrade holds table and QEMU fds too.
	 */
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++) {
		if (r->fdlist[i] < 0)
			continue;
		if (fcntl((int)r->fdlist[i], F_GETFD) < 0 ||
		    region_owns(r, r->fdlist[i]))
			region_store((uint64_t *)&r->fdlist[i], (uint64_t)-1);
		else
			n++;
	}
	return n;
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

/* A sweep wants the creation lock (fdtab_sweep_waiting). */
static int sweep_waiting;

bool
fdtab_sweep_waiting(void)
{
	return __atomic_load_n(&sweep_waiting, __ATOMIC_ACQUIRE) != 0;
}

/* Takes the caller off holders; wakes the sweep if it was the last. */
static void
leave_locked(void)
{
	if (__atomic_sub_fetch(&holders, 1, __ATOMIC_SEQ_CST) == 0)
		pthread_cond_signal(&drain_cv);
}

void
fdtab_req_begin(void)
{
	if (depth++ > 0)
		return;
	for (;;) {
		__atomic_add_fetch(&holders, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&gate_shut, __ATOMIC_SEQ_CST))
			return;
		/* Shut: not a holder after all; wait until it opens. */
		pthread_mutex_lock(&gate_mu);
		leave_locked();
		while (__atomic_load_n(&gate_shut, __ATOMIC_RELAXED))
			pthread_cond_wait(&gate_cv, &gate_mu);
		pthread_mutex_unlock(&gate_mu);
	}
}

void
fdtab_req_end(void)
{
	/* Not inside (a caller outside any request): nothing to end. */
	if (depth == 0)
		return;
	if (--depth > 0)
		return;
	if (__atomic_sub_fetch(&holders, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&gate_shut, __ATOMIC_SEQ_CST)) {
		/* Under gate_mu: the sweep checks holders under it. */
		pthread_mutex_lock(&gate_mu);
		pthread_cond_signal(&drain_cv);
		pthread_mutex_unlock(&gate_mu);
	}
}

bool
fdtab_req_inside(void)
{
	return depth > 0;
}

/*
 * Takes the creation lock exclusively: shuts the gate and waits for the
 * holders to leave; after GATE_NS of waiting it opens the gate again (a
 * holder may be waiting for a gated thread) and retries, backing off.
 */
static void
lock_excl(void)
{
	unsigned open_us = GATE_OPEN_MIN_US;

	pthread_mutex_lock(&gate_mu);
	for (;;) {
		struct timespec ts;
		uint64_t end = clock_now_ns() + GATE_NS;
		int err = 0;

		__atomic_store_n(&gate_shut, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&holders, __ATOMIC_SEQ_CST) > 0 &&
		    err != ETIMEDOUT) {
			ts.tv_sec = (time_t)(end / 1000000000ULL);
			ts.tv_nsec = (long)(end % 1000000000ULL);
			err = pthread_cond_clockwait(&drain_cv, &gate_mu,
			    CLOCK_MONOTONIC, &ts);
		}
		if (__atomic_load_n(&holders, __ATOMIC_SEQ_CST) == 0)
			break;
		__atomic_store_n(&gate_shut, 0, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&gate_retries, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&gate_cv);
		pthread_mutex_unlock(&gate_mu);
		usleep(open_us);
		open_us = MIN(open_us * 2, GATE_OPEN_MAX_US);
		pthread_mutex_lock(&gate_mu);
	}
	pthread_mutex_unlock(&gate_mu);
}

static void
unlock_excl(void)
{
	pthread_mutex_lock(&gate_mu);
	__atomic_store_n(&gate_shut, 0, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/*
 * Fds recorded in the tables since the sweep began (fdtab_note): the
 * unlocked scan may have missed them, so they are never candidates.
 */
static uint8_t *recorded;
static int recorded_max;

void
fdtab_note(int fd)
{
	uint8_t *bits = __atomic_load_n(&recorded, __ATOMIC_ACQUIRE);

	if (bits != NULL && fd >= 0 && fd < recorded_max)
		__atomic_fetch_or(&bits[fd / 8], (uint8_t)(1u << (fd % 8)),
		    __ATOMIC_RELEASE);
}

static bool
bit(const uint8_t *bits, int fd)
{
	return __atomic_load_n(&bits[fd / 8], __ATOMIC_ACQUIRE) &
	    (1u << (fd % 8));
}

static void
mark(uint8_t *bits, int64_t fd, int max)
{
	if (fd >= 0 && fd < max)
		bits[fd / 8] |= (uint8_t)(1u << (fd % 8));
}

struct mark_arg {
	uint8_t *bits;
	int max;
};

static void
mark_deferred(int fd, void *p)
{
	struct mark_arg *a = p;

	mark(a->bits, fd, a->max);
}

/* The small sets: re-checked under the lock, so read twice. */
static void
referenced_small(struct region *r, uint8_t *bits, int max)
{
	struct region_dev_rec *dev = r->dev;

	for (int fd = 0; fd < 3; fd++)
		mark(bits, fd, max);
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++)
		mark(bits, r->fdlist[i], max);
	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		mark(bits, dev->mem[i].fd, max);
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		mark(bits, dev->queue[q].kick_fd, max);
		mark(bits, dev->queue[q].call_fd, max);
		mark(bits, dev->queue[q].err_fd, max);
	}
	for (unsigned i = 0; i < REGION_MAX_FDS; i++)
		mark(bits, dev->ctrl_fds[i], max);
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++)
		mark(bits, r->threads[i].ring_fd, max);
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nregistry; i++)
		mark(bits, registry[i], max);
	pthread_mutex_unlock(&reg_lock);
	/*
	 * Freed fds whose close waits for a lock wait (pin.c): the wait runs
	 * outside the creation lock, so step 4 does not exclude it.
	 */
	{
		struct mark_arg a = {bits, max};

		pin_each_deferred(mark_deferred, &a);
	}
}

/* The tables: scanned once, without the lock (see fdtab_sweep). */
static void
referenced_tables(struct region *r, uint8_t *bits, int max)
{
	uint64_t high = region_load(&r->ihdr->high);

	for (uint64_t i = 0; i < high && i < r->hdr->inode_cap; i++)
		if (region_load(&r->inodes[i].used) == 1)
			mark(bits, (int64_t)region_load(
			    (const uint64_t *)&r->inodes[i].fd), max);
	high = region_load(&r->hhdr->high);
	for (uint64_t i = 0; i < high && i < r->hdr->handle_cap; i++)
		if (region_load(&r->handles[i].used) == 1)
			mark(bits, (int64_t)region_load(
			    (const uint64_t *)&r->handles[i].fd), max);
}

/*
 * 1. start noting fds the tables record from now on, then wait once
 * for the requests in flight (their notes may predate step 1); 2. list
 * the open fds; 3. scan what references fds, all without the lock; 4.
 * under the lock (no request in flight: any fd a request was creating during 2-3 is
 * now committed, hence noted or scanned, or closed), close each fd open in
 * 2, still open, unreferenced in 3, not noted, and not in the small sets
 * read again. Requests wait only for the wait in 1 and for step 4.
 */
int
fdtab_sweep(struct region *r)
{
	uint8_t *open_bits, *ref_bits, *small;
	struct rlimit rl;
	int closed = 0, max;
	size_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	max = rl.rlim_cur > (1 << 20) ? (1 << 20) : (int)rl.rlim_cur;
	n = (size_t)max / 8 + 1;
	open_bits = calloc(1, n);
	ref_bits = calloc(1, n);
	small = calloc(1, n);
	if (recorded == NULL) {
		recorded_max = max;
		__atomic_store_n(&recorded, calloc(1, n), __ATOMIC_RELEASE);
	} else {
		for (size_t i = 0; i < n && (int)i * 8 < recorded_max; i++)
			__atomic_store_n(&recorded[i], 0, __ATOMIC_RELEASE);
	}
	if (open_bits == NULL || ref_bits == NULL || small == NULL ||
	    recorded == NULL) {
		free(open_bits);
		free(ref_bits);
		free(small);
		return -ENOMEM;
	}
	/*
	 * A request that noted its fd before the clear above (or before
	 * `recorded` existed) lost its note, yet may commit only after the
	 * scan below passed its entry: wait for every request in flight now
	 * (each holds the lock shared from before its note to after its
	 * commit), so the scan sees what they committed. Issue 11 defect 1.
	 */
	__atomic_store_n(&sweep_waiting, 1, __ATOMIC_RELEASE);
	lock_excl();
	unlock_excl();
	for (int fd = 3; fd < max; fd++)
		if (!REGION_FD_RESERVED(fd) && fcntl(fd, F_GETFD) >= 0)
			mark(open_bits, fd, max);
	referenced_small(r, ref_bits, max);
	referenced_tables(r, ref_bits, max);

	lock_excl();
	referenced_small(r, small, max);
	for (int fd = 3; fd < max; fd++) {
		if (!bit(open_bits, fd) || bit(ref_bits, fd) ||
		    bit(small, fd) || (fd < recorded_max && bit(recorded, fd)))
			continue;
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		close(fd);
		closed++;
	}
	unlock_excl();
	__atomic_store_n(&sweep_waiting, 0, __ATOMIC_RELEASE);
	free(open_bits);
	free(ref_bits);
	free(small);
	return closed;
}

static void *
sweep_thread(void *p)
{
	struct region *r = p;
	int n;

	uint64_t t0;

	usleep(50000); /* after the stall, not in it */
	DELAYPOINT("fdtab.sweep_start"); /* tests: requests in flight */
	t0 = clock_now_ns();
	n = fdtab_sweep(r);
	if (n > 0)
		log_info("closed %d fds leaked by the previous worker (sweep "
		    "%.1f ms, gate reopened %lu times)", n,
		    (double)(clock_now_ns() - t0) / 1e6,
		    __atomic_load_n(&gate_retries, __ATOMIC_RELAXED));
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
