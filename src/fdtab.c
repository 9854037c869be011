/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Closes the fds a dead worker leaked (DESIGN 4 step 9). Which fds are
 * leaked is decided as of one instant of the recovery (fdtab_snapshot),
 * before this incarnation creates any fd: those open then that nothing
 * references. Nothing but the sweep ever closes such an fd: this
 * incarnation closes only fds it created (at numbers that were free, so
 * not these) or found referenced (a table's, a ring's, QEMU's, a live
 * slot's recorded OPENAT result or directory, which its replay takes
 * over), and the keeper only fds on its list. So when the sweep closes
 * one, later and in the background, its number still names the dead
 * worker's file, never an fd a request created and has not yet recorded:
 * the sweep waits for no request (one stuck for ever in a host call, an
 * open() of a FIFO or on a hung mount, delays it not at all), and no
 * request or control message ever waits for the sweep.
 *
 * The stall finds the open fds (probe_open: a few dups into the free
 * numbers where the table is dense; a /proc listing, 15,000 fds 10-17 ms
 * on this host, where it is not) minus the references outside the
 * tables; the keeper's fds off its list make it retake the snapshot
 * (keeper_fd_seq). The tables (1M inodes:
 * 64 MiB, 100-160 ms to read) are read by the sweep, after the stall; a
 * table fd this incarnation dropped meanwhile (its number then free for
 * reuse) is marked by fdtab_note() before the commit that drops it, so
 * the sweep sees either the reference or the mark.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <liburing.h>

#include "clock.h"
#include "compiler.h"
#include "crashpoint.h"
#include "fdtab.h"
#include "intent.h"
#include "journal.h"
#include "log.h"
#include "pin.h"


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

void
fdtab_keeper_begin(struct region *r)
{
	__atomic_fetch_add(&r->hdr->keeper_fd_seq, 1, __ATOMIC_SEQ_CST);
}

void
fdtab_keeper_end(struct region *r)
{
	__atomic_fetch_add(&r->hdr->keeper_fd_seq, 1, __ATOMIC_SEQ_CST);
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
	for (unsigned i = 0; i < region_threads_used(r); i++)
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

/*
 * The snapshot (heap, this incarnation): cand, the fds open at
 * fdtab_snapshot() that nothing outside the tables referenced then; the
 * sweep drops those the tables referenced (or this incarnation touched
 * since) and keeps the rest in leaks, each with the file it names; none
 * once swept.
 */
struct leak {
	int fd;
	bool stat_ok;	/* dev, ino valid (fstat fails on a dead worker's
			 * /proc dir, or not, as it is reaped) */
	dev_t dev;
	ino_t ino;
	char link[48];	/* its /proc link, cut (compared when !stat_ok) */
};
static uint8_t *cand;
static int cand_max; /* the fd bound when taken */

/*
 * The snapshot's fds that only a live slot referenced (an OPENAT result,
 * a directory fd: pt_once.c): once the slot's replay is over (the slot
 * no longer EXECUTING at gen), one it did not take over (fdtab_note: a
 * table recorded it, or it was closed) is a leak too. Without this, one
 * of a quarantined or dropped slot, or a directory fd a replay used,
 * stayed open until the next crash.
 */
struct slot_fd {
	struct leak l;
	unsigned q, h;
	uint32_t gen;
};
static struct slot_fd *slotfds;
static size_t nslotfds;

/*
 * Fds a table recorded or dropped since the snapshot (fdtab_note): the
 * sweep never closes one. A dropped one's number may already name a new
 * fd; a recorded one of the snapshot's means the reasoning at the top
 * failed: kept, and logged.
 */
static uint8_t *recorded;
static int recorded_max;

void
fdtab_note(int fd)
{
	uint8_t *bits = __atomic_load_n(&recorded, __ATOMIC_ACQUIRE);

	if (bits != NULL && fd >= 0 && fd < recorded_max) {
		__atomic_fetch_or(&bits[fd / 8], (uint8_t)(1u << (fd % 8)),
		    __ATOMIC_SEQ_CST);
		/* Before the commit's stores (relaxed) a sweep may read. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
}

static void identify(int fd, struct leak *l);

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

/* Everything but the tables and the slots. */
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
	/*
	 * A dead worker's recvmsg that completed: its fds, which the control
	 * thread takes (vu.c take_fds) or closes, are in the cmsg only.
	 */
	{
		const struct cmsghdr *cm = (const void *)dev->ctrl_cmsg;

		if (cm->cmsg_len > CMSG_LEN(0) &&
		    cm->cmsg_len <= sizeof(dev->ctrl_cmsg) &&
		    cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			const int *fds = (const int *)(const void *)
			    CMSG_DATA(cm);

			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int); i++)
				mark(bits, fds[i], max);
		}
	}
	/*
	 * Only records ever claimed can name a ring (threads_used): the
	 * others' pages, one or more a record, stay untouched (a first touch
	 * in a new worker costs 5-8 us here: 0.3-0.5 ms of the stall).
	 */
	for (unsigned i = 0; i < region_threads_used(r); i++)
		mark(bits, r->threads[i].ring_fd, max);
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nregistry; i++)
		mark(bits, registry[i], max);
	pthread_mutex_unlock(&reg_lock);
	/*
	 * Freed fds whose close waits for a lock wait (pin.c): each was a
	 * table's, so never the snapshot's; kept all the same.
	 */
	{
		struct mark_arg a = {bits, max};

		pin_each_deferred(mark_deferred, &a);
	}
}

/*
 * The tables, read without a lock: a snapshot's fd is never recorded
 * (see the top), so an update racing the scan can only keep one more.
 */
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
 * The fds a live slot's replay may take over (pt_once.c): the result of
 * its OPENAT and the directory fd of its op, both a dead worker's and
 * recorded nowhere else, when the dead ring's completion made them KNOWN
 * (or the op may still complete, SUBMITTED). Only the slots the live
 * index names: the others are FREE, and their pages maybe never touched.
 */
static void
referenced_slots(struct region *r, uint8_t *bits, int max, bool collect)
{
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		const uint8_t *live = region_live(r, q);

		for (unsigned h = 0; h < REGION_MAX_QUEUE_SIZE; h++) {
			struct journal_slot_rec *s;
			uint64_t w, st;
			int64_t fds[2];

			if (live != NULL && __atomic_load_n(&live[h],
			    __ATOMIC_ACQUIRE) == 0)
				continue;
			w = region_slot_word(r, live != NULL ? -1 :
			    REGION_FD_STATE, q, h);
			if (journal_state(w) != JOURNAL_EXECUTING)
				continue;
			s = region_slot(r, q, h);
			st = region_load(&s->intent[INTENT_W_STATE]);
			if (((st & 0xff) != INTENT_KNOWN &&
			    (st & 0xff) != INTENT_SUBMITTED) ||
			    (st >> 8) != journal_gen(w))
				continue;
			fds[0] = (int64_t)region_load(
			    &s->intent[INTENT_W_DIRFD]);
			fds[1] = region_load(&s->intent[INTENT_W_OP]) ==
			    IORING_OP_OPENAT ? (int64_t)region_load(
			    &s->intent[INTENT_W_RESULT]) : -1;
			for (unsigned i = 0; i < 2; i++) {
				/* The snapshot's: each once, if open then. */
				if (collect && slotfds != NULL &&
				    fds[i] >= 3 &&
				    fds[i] < max && !bit(bits, (int)fds[i]) &&
				    !REGION_FD_RESERVED(fds[i]) &&
				    fcntl((int)fds[i], F_GETFD) >= 0) {
					struct slot_fd *f =
					    &slotfds[nslotfds++];

					identify((int)fds[i], &f->l);
					f->q = q;
					f->h = h;
					f->gen = journal_gen(w);
				}
				mark(bits, fds[i], max);
			}
		}
	}
}

/* The keeper, our parent while it lives, shares our fd table; or 0. */
static pid_t sharing_parent;

void
fdtab_parent_shares(pid_t keeper)
{
	sharing_parent = keeper;
}

static int
fd_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return rl.rlim_cur > (1 << 20) ? (1 << 20) : (int)rl.rlim_cur;
}

/*
 * The proc root numbers processes as our PID namespace does (its "self"
 * is our getpid()): not so with --sandbox=chroot|none under a PID
 * namespace of which /proc is not (review rev8b: keeper_pid then names
 * another process there, whose table the snapshot would list).
 */
bool
fdtab_proc_ours(void)
{
	char buf[24];
	ssize_t n;

	n = readlinkat(REGION_FD_PROC, "self", buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strtol(buf, NULL, 10) == (long)getpid();
}

/* How the last snapshot found the open fds (fdtab_last_probed). */
static bool last_probed;

bool
fdtab_last_probed(void)
{
	return last_probed;
}

/* The number of open fds in our table (Linux 6.2 on), or -ENOTSUP. */
static long
open_count(void)
{
	struct stat st;

	if (fstatat(REGION_FD_PROC, "self/fd", &st, 0) < 0)
		return -errno;
	/* Older kernels say 0; at least 0-2 and the reserved fds are open. */
	return st.st_size >= REGION_FD_NEXT - REGION_FD_BASE ? st.st_size :
	    -ENOTSUP;
}

static void
close_holes(const int *holes, long k)
{
	for (long i = 0, j; i < k; i = j) {
		for (j = i + 1; j < k && holes[j] == holes[j - 1] + 1; j++)
			;
		if (j - i == 1)
			close(holes[i]);
		else
			(void)syscall(SYS_close_range, holes[i], holes[j - 1], 0);
	}
}

/*
 * Marks the open fds from 3 up by finding the free numbers below the
 * highest one nothing references, instead of listing every open fd: the
 * count of open fds (st_size of /proc/self/fd), the referenced ones that
 * are open (known: the reserved ones, the keeper's list, QEMU's, the
 * rings'; an inherited fd may sit far above the rest), and a dup into
 * each lowest free number, held until the open numbers below the last
 * dup and the known ones above it account for the count. A table grows
 * densely (the lowest free number each time), so at 15,000 fds this is
 * a few dups, 0.1 ms, where a listing costs 10-17 ms on this host.
 * -E2BIG past an eighth of the count in free numbers (see cap) or half
 * of those free below the limit, -EAGAIN if the count moved meanwhile or
 * a number below the last dup is free again (only the keeper creates or
 * closes fds while this runs; it lists its own), -ENOTSUP on a kernel
 * that does not count, -EMFILE: the caller lists.
 */
static int
probe_open(uint8_t *bits, const uint8_t *ref, int max)
{
	long count = open_count(), k = 0, cap, nknown = 0, above, top;
	int *holes = NULL, *known = NULL, err = 0;

	if (count < 0)
		return (int)count;
	/* A free reserved number would take a dup we may not close. */
	for (int fd = REGION_FD_BASE; fd < REGION_FD_NEXT; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			return -ENOTSUP;
	/*
	 * An eighth of the count: a dup and its close cost ~4.6 times a
	 * listed entry here, so a table whose free numbers pass this (a
	 * guest that FORGETs one inode in three: review rev9) costs at most
	 * ~1.6 listings, not 2.2 with a quarter. And never more than half
	 * the numbers free below our limit (review rev9): killed while it
	 * holds them, the dups stay open until the next sweep, which runs
	 * only after a recovery that needs fds of its own; a table filled
	 * near the limit would otherwise leave it none (DESIGN 1's margin of
	 * 512 is for a dead worker's leaks).
	 */
	cap = count / 8 + 16;
	if (cap > (max - count) / 2)
		cap = (max - count) / 2;
	if (cap < 1)
		return -E2BIG;
	holes = malloc((size_t)cap * sizeof(*holes));
	known = malloc((size_t)count * sizeof(*known));
	if (holes == NULL || known == NULL) {
		err = -ENOMEM;
		goto out;
	}
	/*
	 * Ascending; more than count cannot be open. A byte at a time where
	 * it is 0: max is the worker's soft limit, often 2^20 (the keeper
	 * raises its own to the hard limit), and a test of each bit cost
	 * 0.55 ms here at 2^20, against 0.2 ms for the whole probe.
	 */
	for (int fd = 3; fd < max && nknown < count; fd++) {
		if (ref[fd / 8] == 0) {
			fd |= 7;
			continue;
		}
		if (bit(ref, fd) && fcntl(fd, F_GETFD) >= 0)
			known[nknown++] = fd;
	}
	above = nknown;
	for (;;) {
		int h;

		if (k == cap) {
			err = -E2BIG;
			break;
		}
		h = fcntl(REGION_FD_PROC, F_DUPFD_CLOEXEC, 0);
		if (h < 0) {
			err = -errno;
			break;
		}
		holes[k++] = h;
		DELAYPOINT("fdtab.probe"); /* tests: a keeper's fd meanwhile */
		while (above > 0 && known[nknown - above] < h)
			above--;
		/* 0-2, the open numbers in [3, h), the known ones above h. */
		if (h - (k - 1) + above == count)
			break;
	}
	if (err == 0 && open_count() != count + k)
		err = -EAGAIN;
	top = k > 0 ? holes[k - 1] : 0;
	/*
	 * Every number below the last dup still taken (review rev9): an fd
	 * the keeper opened and closed again meanwhile (a refused upgrade,
	 * its pidfd) leaves the count as it was, but it took the free
	 * number the next dup would have, so the dups went above it and
	 * the count was met one fd early: that number, free now, would be
	 * marked, and an fd above missed. Then the lowest free number is
	 * below the last dup: list.
	 */
	if (err == 0) {
		int h = fcntl(REGION_FD_PROC, F_DUPFD_CLOEXEC, 0);

		if (h >= 0) {
			if (h < top)
				err = -EAGAIN;
			close(h);
		} else if (errno != EMFILE) {
			err = -errno;
		}
	}
	for (long fd = 3, i = 0; err == 0 && fd < top && fd < max; fd++) {
		while (i < k && holes[i] < fd)
			i++;
		if (i < k && holes[i] == fd)
			continue;
		mark(bits, fd, max);
	}
	for (long i = nknown - above; err == 0 && i < nknown; i++)
		mark(bits, known[i], max);
out:
	close_holes(holes, k);
	free(holes);
	free(known);
	return err;
}

/*
 * Marks the open fds from 3 up: probe_open(), else /proc's list, else
 * F_GETFD on each. Not poll() (one call for the whole table, 0.2 ms for
 * 16,000 numbers): it answers POLLNVAL for an O_PATH fd (fdget() skips
 * them), and the inodes' fds, a dead worker's unrecorded ones among
 * them, are O_PATH.
 */
static void
list_open(uint8_t *bits, const uint8_t *ref, int max)
{
	struct dirent *de;
	DIR *d = NULL;
	char path[32];
	int fd, err;

	err = probe_open(bits, ref, max);
	last_probed = err == 0;
	if (err == 0)
		return;
	log_debug("fd sweep snapshot: listing the table (%s)",
	    strerror(-err));
	memset(bits, 0, (size_t)max / 8 + 1);
	/*
	 * The keeper's list when it shares our table: its /proc entries
	 * outlive every worker, so their dentries are made once, not by
	 * each recovery (15,000 fds: 12.5-13 ms against 17-25; a fresh
	 * directory's first listing is what costs). Opened while it is our
	 * parent, the directory is the keeper's (dead, it lists nothing:
	 * fewer candidates, never another table's). Non-dumpable, the
	 * keeper's directory is root's: a worker of another uid lists its
	 * own.
	 */
	fd = -1;
	if (sharing_parent > 0 && getppid() == sharing_parent &&
	    fdtab_proc_ours()) {
		snprintf(path, sizeof(path), "%ld/fd", (long)sharing_parent);
		fd = openat(REGION_FD_PROC, path, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		/* Still our parent after the open: the directory is its. */
		if (fd >= 0 && getppid() != sharing_parent) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		fd = openat(REGION_FD_PROC, "self/fd", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd)) == NULL)
		close(fd);
	if (d == NULL) {
		for (fd = 3; fd < max; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				mark(bits, fd, max);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		long v;

		if (de->d_name[0] == '.')
			continue;
		v = strtol(de->d_name, NULL, 10);
		if (v >= 3 && v != dirfd(d))
			mark(bits, v, max);
	}
	closedir(d);
}

/* What fd names now: l->fd is set. */
static void
identify(int fd, struct leak *l)
{
	char path[32];
	struct stat st;
	ssize_t n;

	l->fd = fd;
	l->stat_ok = fstat(fd, &st) == 0;
	l->dev = l->stat_ok ? st.st_dev : 0;
	l->ino = l->stat_ok ? st.st_ino : 0;
	snprintf(path, sizeof(path), "self/fd/%d", fd);
	n = readlinkat(REGION_FD_PROC, path, l->link, sizeof(l->link) - 1);
	l->link[n > 0 ? n : 0] = '\0';
}

/* Same file, as far as identify() tells. */
static bool
same_file(const struct leak *a, const struct leak *b)
{
	if (a->stat_ok && b->stat_ok)
		return a->dev == b->dev && a->ino == b->ino;
	return a->link[0] != '\0' && strcmp(a->link, b->link) == 0;
}

/* The snapshot's bits, once (fdtab_snapshot): ref_bits, open_bits 0. */
static void
snapshot_once(struct region *r, uint8_t *open_bits, uint8_t *ref_bits,
    int max)
{
	/* Not the tables: the sweep reads them, after the stall. */
	referenced_small(r, ref_bits, max);
	free(slotfds);
	nslotfds = 0;
	/* Two per slot at most: bounded by the requests in flight. */
	slotfds = calloc(2 * REGION_MAX_QUEUES * REGION_MAX_QUEUE_SIZE,
	    sizeof(*slotfds));
	referenced_slots(r, ref_bits, max, true);
	for (int fd = REGION_FD_BASE; fd < REGION_FD_NEXT && fd < max; fd++)
		mark(ref_bits, fd, max);
	list_open(open_bits, ref_bits, max);
	/*
	 * The keeper's list again (review rev9): an fd it received while
	 * this ran (an upgrade request) was found open, but listed only
	 * after the first read; refused, it is closed before the sweep and
	 * its number taken by one of our new fds, which the sweep would
	 * close. The keeper brackets that with keeper_fd_seq (the caller
	 * retakes the snapshot); this also covers an fd listed outside a
	 * bracket (test_fdtab keeper_receiver).
	 */
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++)
		mark(ref_bits, (int64_t)region_load(
		    (const uint64_t *)&r->fdlist[i]), max);
}

/*
 * The keeper's fd sequence once even (it holds no fd off its list), or
 * as it is after 2 ms (odd: the snapshot is taken again, or dropped).
 */
static uint64_t
keeper_quiet(struct region *r)
{
	uint64_t seq = region_load(&r->hdr->keeper_fd_seq);

	for (int i = 0; i < 20 && seq % 2 == 1; i++) {
		usleep(100);
		seq = region_load(&r->hdr->keeper_fd_seq);
	}
	return seq;
}

int
fdtab_snapshot(struct region *r)
{
	uint8_t *open_bits, *ref_bits, *rec;
	int max = fd_max(), n = 0;
	size_t sz;

	if (max < 0)
		return max;
	sz = (size_t)max / 8 + 1;
	open_bits = calloc(1, sz);
	ref_bits = calloc(1, sz);
	rec = recorded != NULL ? recorded : calloc(1, sz);
	if (open_bits == NULL || ref_bits == NULL || rec == NULL) {
		free(open_bits);
		free(ref_bits);
		if (rec != recorded)
			free(rec);
		return -ENOMEM;
	}
	if (recorded == NULL) {
		recorded_max = max;
		__atomic_store_n(&recorded, rec, __ATOMIC_RELEASE);
	} else {
		for (size_t i = 0; i < sz && (int)i * 8 < recorded_max; i++)
			__atomic_store_n(&recorded[i], 0, __ATOMIC_RELEASE);
	}
	/*
	 * Taken again while the keeper made or closed an fd meanwhile
	 * (review rev9: its pidfd for a signalled upgrade is never on its
	 * list; found open, then closed and its number reused by one of our
	 * new fds, it was a candidate). Dropped after 4 tries: no candidate
	 * this time, the leaks wait for the next recovery.
	 */
	for (int tries = 0;; tries++) {
		uint64_t seq = keeper_quiet(r);

		memset(open_bits, 0, sz);
		memset(ref_bits, 0, sz);
		snapshot_once(r, open_bits, ref_bits, max);
		/*
		 * A seqlock reader's barrier (read_seqretry's smp_rmb): the
		 * snapshot's loads, the kernel's on our behalf among them (a
		 * listing reads the table under RCU, no lock the keeper takes
		 * too), are done before the count is read again. A compiler
		 * barrier on x86, which keeps loads in order; not on arm64.
		 */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (seq % 2 == 0 &&
		    region_load(&r->hdr->keeper_fd_seq) == seq)
			break;
		if (tries == 3) {
			log_warnx("fd sweep snapshot: the keeper kept making "
			    "fds, none taken");
			memset(open_bits, 0, sz);
			nslotfds = 0;
			break;
		}
	}
	for (size_t i = 0; i < sz; i++) {
		open_bits[i] &= (uint8_t)~ref_bits[i];
		n += __builtin_popcount(open_bits[i]);
	}
	free(ref_bits);
	free(cand);
	cand = open_bits;
	cand_max = max;
	return n;
}

/*
 * The leaks among the snapshot's candidates: not a table's now, not
 * recorded or dropped by a table since the snapshot (so not a table's
 * then either), each with the file it names. Frees cand; -ENOMEM.
 */
static int
classify(const uint8_t *table_bits, struct leak **ret, size_t *ret_n)
{
	size_t sz = (size_t)cand_max / 8 + 1, n = 0;
	struct leak *l = NULL;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < sz; i++) {
		cand[i] &= (uint8_t)~table_bits[i];
		for (unsigned b = 0; b < 8 && (int)(i * 8 + b) < recorded_max;
		     b++)
			if (bit(recorded, (int)(i * 8 + b)))
				cand[i] &= (uint8_t)~(1u << b);
		n += (size_t)__builtin_popcount(cand[i]);
	}
	if (n > 0 && (l = calloc(n, sizeof(*l))) == NULL)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; l != NULL && i < sz; i++)
		for (unsigned b = 0; cand[i] != 0 && b < 8; b++)
			if (cand[i] & (1u << b))
				identify((int)(i * 8 + b), &l[n++]);
	free(cand);
	cand = NULL;
	*ret = l;
	*ret_n = n;
	return 0;
}

/*
 * The snapshot's slot fds whose replay is over and did not take them
 * over (see slotfds), appended to leaks (room for them reserved).
 */
static size_t
slot_leaks(struct region *r, const uint8_t *table_bits, struct leak *leaks,
    size_t n)
{
	for (size_t i = 0; i < nslotfds; i++) {
		const struct slot_fd *f = &slotfds[i];
		uint64_t w = region_slot_word(r, -1, f->q, f->h);

		/* Its replay may still take it over: kept (a leak, logged). */
		if (journal_state(w) == JOURNAL_EXECUTING &&
		    journal_gen(w) == f->gen) {
			log_debug("fd sweep: fd %d kept for queue %u head %u, "
			    "still executing", f->l.fd, f->q, f->h);
			continue;
		}
		/* Read after the slot's end: a take-over marked it before. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (bit(table_bits, f->l.fd) || (f->l.fd < recorded_max &&
		    bit(recorded, f->l.fd)))
			continue;
		leaks[n++] = f->l;
	}
	free(slotfds);
	slotfds = NULL;
	nslotfds = 0;
	return n;
}

/*
 * Closes the leaks, each only if nothing references it now either and it
 * still names the file it named when classified. Neither check should
 * ever keep one (see the top); they bound what a flaw in that reasoning
 * could cost: the keeper lists an fd it received just before the snapshot
 * right after it, and an fd closed and its number reused meanwhile names
 * another file, most likely. No lock: requests never wait for the sweep.
 */
int
fdtab_sweep(struct region *r)
{
	uint8_t *ref_bits, *table_bits;
	int closed = 0, max = cand_max, err;
	struct leak *leaks;
	size_t nleaks;

	if (cand == NULL)
		return 0;
	table_bits = calloc(1, (size_t)max / 8 + 1);
	if (table_bits == NULL)
		return -ENOMEM;
	referenced_tables(r, table_bits, max);
	/* A drop's mark is read after the table that no longer shows it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	err = classify(table_bits, &leaks, &nleaks);
	if (err == 0 && nslotfds > 0) {
		struct leak *more = realloc(leaks, (nleaks + nslotfds) *
		    sizeof(*leaks));

		if (more != NULL) {
			leaks = more;
			nleaks = slot_leaks(r, table_bits, leaks, nleaks);
		}
	}
	free(table_bits);
	if (err < 0 || nleaks == 0) {
		free(leaks);
		return err;
	}
	DELAYPOINT("fdtab.classified"); /* tests: the identity's window */
	ref_bits = calloc(1, (size_t)max / 8 + 1);
	if (ref_bits == NULL) {
		free(leaks);
		return -ENOMEM;
	}
	/* The tables' new references are marked (fdtab_note). */
	referenced_slots(r, ref_bits, max, false);
	referenced_small(r, ref_bits, max);
	for (size_t i = 0; i < nleaks; i++) {
		const struct leak *l = &leaks[i];
		struct leak now;

		if (bit(ref_bits, l->fd) || (l->fd < recorded_max &&
		    bit(recorded, l->fd))) {
			log_warnx("fd sweep: fd %d, unreferenced at recovery, "
			    "is referenced now: kept", l->fd);
			continue;
		}
		if (fcntl(l->fd, F_GETFD) < 0)
			continue;
		identify(l->fd, &now);
		/* Another file at that number: never closed (see above). */
		if (!same_file(l, &now)) {
			log_warnx("fd sweep: fd %d names another file than at "
			    "recovery: kept", l->fd);
			continue;
		}
		DELAYPOINT("fdtab.before_close"); /* tests: a slow sweep */
		close(l->fd);
		closed++;
	}
	free(leaks);
	free(ref_bits);
	return closed;
}

static void *
sweep_thread(void *p)
{
	struct region *r = p;
	uint64_t t0;
	int n;

	usleep(50000); /* after the stall, not in it */
	DELAYPOINT("fdtab.sweep_start"); /* tests: requests in flight */
	t0 = clock_now_ns();
	n = fdtab_sweep(r);
	if (n > 0)
		log_info("closed %d fds leaked by the previous worker (sweep "
		    "%.1f ms)", n, (double)(clock_now_ns() - t0) / 1e6);
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
