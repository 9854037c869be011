/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Locks (GETLK, SETLK, SETLKW; FLUSH and RELEASE unlocking). POSIX record
 * locks are open-file-description locks (F_OFD_*), because classic POSIX
 * locks vanish when any fd of the file closes and belong to our process,
 * not to the guest's. A FUSE lock owner is a guest process (its files
 * table), and one process's locks on a file span all its fds: so every
 * (nodeid, lock owner) gets its own host OFD, reopened from the handle
 * through /proc/self/fd and registered in the handle table as a
 * HANDLE_KIND_LOCK entry that is committed before the first lock call
 * (DESIGN 5): two owners conflict as two guest processes would, even on
 * one shared fh, and the locks survive a worker crash with the table's
 * fds. FLUSH with a lock owner closes that owner's OFD (POSIX: closing
 * any fd drops the process's locks on the file). flock() locks belong to
 * the guest's open file: they are taken on the handle's own fd.
 *
 * A SETLKW that cannot take its lock at once never waits here: it parks
 * (fuse_req.may_park), and the transport retries it from the top, from
 * one thread for every wait (queue_wait.c), until the lock comes.
 *
 * The (nodeid, owner) -> entry index is a heap hint, rebuilt by a table
 * scan in each incarnation and checked against the table on every use.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fdispatch.h"
#include "handle.h"
#include "pin.h"
#include "pt_int.h"

#define HINT_BUCKETS	  256
#define PT_OFFSET_MAX	  INT64_MAX   /* "to the end" in fuse_file_lock */

struct hint {
	struct hint *next;
	uint64_t nodeid, owner, index;
};

static pthread_mutex_t hint_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hint *hints[HINT_BUCKETS];
static struct region *hint_region; /* the region the hint was built for */

static unsigned
bucket(uint64_t nodeid, uint64_t owner)
{
	uint64_t h = (nodeid ^ (owner * 0x9e3779b97f4a7c15ull));

	return (unsigned)((h >> 32 ^ h) % HINT_BUCKETS);
}

static void
hint_add(uint64_t nodeid, uint64_t owner, uint64_t index)
{
	struct hint *h = malloc(sizeof(*h));
	unsigned b = bucket(nodeid, owner);

	if (h == NULL)
		return; /* a missing hint costs a scan, never correctness */
	h->nodeid = nodeid;
	h->owner = owner;
	h->index = index;
	h->next = hints[b];
	hints[b] = h;
}

static void
hint_del(uint64_t nodeid, uint64_t owner)
{
	struct hint **pp = &hints[bucket(nodeid, owner)];

	while (*pp != NULL) {
		struct hint *h = *pp;

		if (h->nodeid == nodeid && h->owner == owner) {
			*pp = h->next;
			free(h);
		} else {
			pp = &h->next;
		}
	}
}

/* Under hint_lock: (re)builds the hint from the table once per region. */
static void
hint_build(struct region *r)
{
	uint64_t high = handle_high(r);

	if (hint_region == r)
		return;
	for (unsigned b = 0; b < HINT_BUCKETS; b++)
		while (hints[b] != NULL) {
			struct hint *h = hints[b];

			hints[b] = h->next;
			free(h);
		}
	for (uint64_t i = 0; i < high; i++) {
		uint64_t nodeid, owner, fh;
		uint32_t pid;

		/* Identity only: no fd, so no pin (handle.h). */
		if (handle_lock_entry(r, i, NULL, &nodeid, &owner, &pid, &fh) ==
		    0)
			hint_add(nodeid, owner, i);
	}
	hint_region = r;
}

void
pt_lock_hints_drop(void)
{
	pthread_mutex_lock(&hint_lock);
	hint_region = NULL; /* the next use rebuilds (and frees) them all */
	pthread_mutex_unlock(&hint_lock);
}

struct owner_ofd {
	int fd;
	uint64_t fh; /* the lock entry's own fh (for release) */
	uint32_t pid;
};

/* Under hint_lock: the owner's OFD on nodeid. -ENOENT if none. */
static int
owner_find(struct region *r, uint64_t nodeid, uint64_t owner,
    struct owner_ofd *ret)
{
	hint_build(r);
	for (struct hint *h = hints[bucket(nodeid, owner)]; h != NULL;
	     h = h->next) {
		uint64_t n, o;

		if (h->nodeid != nodeid || h->owner != owner)
			continue;
		if (handle_lock_entry(r, h->index, &ret->fd, &n, &o, &ret->pid,
			&ret->fh) == 0 &&
		    n == nodeid && o == owner)
			return 0;
	}
	return -ENOENT;
}

/*
 * The owner's OFD on the handle's file, created and committed (with
 * ctx->tx: nothing else is in it) before any lock call uses it.
 */
static int
owner_get(struct pt *pt, const struct pt_ctx *ctx, int hfd, int hflags,
    uint64_t nodeid, uint64_t owner, uint32_t pid, int *ret_fd)
{
	struct owner_ofd o;
	char pname[16];
	uint64_t lfh;
	int fd, err;

	pthread_mutex_lock(&hint_lock);
	if (owner_find(pt->r, nodeid, owner, &o) == 0) {
		pthread_mutex_unlock(&hint_lock);
		*ret_fd = o.fd;
		return 0;
	}
	if (pt->proc_fd < 0) {
		pthread_mutex_unlock(&hint_lock);
		return -ENOLCK;
	}
	/* Tests: a new owner's OFD held under hint_lock (a DESTROY). */
	DELAYPOINT("pt.owner_new");
	snprintf(pname, sizeof(pname), "%d", hfd);
	/* Read-write where allowed: one owner may lock through any fh. */
	fd = -1;
	if (!pt->cfg->readonly)
		fd = openat(pt->proc_fd, pname, O_RDWR | O_NONBLOCK);
	if (fd < 0)
		fd = openat(pt->proc_fd, pname,
		    (hflags & O_ACCMODE) | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		pthread_mutex_unlock(&hint_lock);
		return err;
	}
	err = handle_add_lock(ctx->tx, fd, nodeid, owner, pid,
	    fcntl(fd, F_GETFL) & O_ACCMODE, &lfh);
	if (err < 0) {
		pt_unregister_abort_fd(ctx->tx, fd);
		close(fd);
		pthread_mutex_unlock(&hint_lock);
		return err == -ENFILE ? -ENOLCK : err;
	}
	/* DESIGN 5: the OFD is committed before the lock call. */
	redo_commit(ctx->tx);
	hint_add(nodeid, owner, (lfh & 0xffffffffull) - 1);
	/*
	 * Pinned for this request, as owner_find() pins: a FLUSH or DESTROY
	 * on another thread may free the entry as soon as the lock drops.
	 */
	if (owner_find(pt->r, nodeid, owner, &o) < 0 || o.fd != fd) {
		pthread_mutex_unlock(&hint_lock);
		return -ENOLCK;
	}
	pthread_mutex_unlock(&hint_lock);
	*ret_fd = fd;
	return 0;
}

/* The request's file handle: fd, flags; it must belong to ctx->nodeid. */
static int
file_handle(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, int *ret_fd,
    int *ret_flags)
{
	uint64_t nodeid;
	int err;

	if ((err = handle_get(pt->r, fh, false, ret_fd, &nodeid, ret_flags)) <
	    0)
		return err;
	return nodeid == ctx->nodeid ? 0 : -EBADF;
}

static int
to_flock(const struct fuse_file_lock *lk, struct flock *fl)
{
	if (lk->type != F_RDLCK && lk->type != F_WRLCK && lk->type != F_UNLCK)
		return -EINVAL;
	if (lk->start > PT_OFFSET_MAX || lk->end < lk->start)
		return -EINVAL;
	memset(fl, 0, sizeof(*fl));
	fl->l_type = (short)lk->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)lk->start;
	fl->l_len = lk->end >= PT_OFFSET_MAX
			? 0
			: (off_t)(lk->end - lk->start + 1);
	return 0;
}

/*
 * The guest pid of the owner holding the conflicting lock fl found:
 * the one owner OFD on nodeid that, asked the same question, does not
 * see that lock (its own locks never conflict with it). 0 if unknown.
 */
static uint32_t
holder_pid(struct pt *pt, uint64_t nodeid, const struct flock *want,
    const struct flock *found)
{
	uint32_t pid = 0;

	pthread_mutex_lock(&hint_lock);
	hint_build(pt->r);
	for (unsigned b = 0; b < HINT_BUCKETS && pid == 0; b++) {
		for (struct hint *h = hints[b]; h != NULL && pid == 0;
		     h = h->next) {
			struct owner_ofd o;
			struct flock q = *want;

			int err;

			if (h->nodeid != nodeid ||
			    owner_find(pt->r, nodeid, h->owner, &o) < 0)
				continue;
			err = fcntl(o.fd, F_OFD_GETLK, &q);
			/*
			 * Its pin, at once (the last one taken; hint_lock
			 * keeps the entry): past PIN_MAX_HELD owners on the
			 * file, owner_find() failed and the pid was 0.
			 */
			pin_undo();
			if (err < 0)
				continue;
			if (q.l_type == F_UNLCK || q.l_start != found->l_start ||
			    q.l_len != found->l_len || q.l_type != found->l_type)
				pid = o.pid;
		}
	}
	pthread_mutex_unlock(&hint_lock);
	return pid;
}

int
pt_getlk(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t owner,
    const struct fuse_file_lock *lk, struct fuse_file_lock *ret_lk)
{
	struct owner_ofd o;
	struct flock fl, want;
	int hfd, hflags, fd, err;

	if ((err = file_handle(pt, ctx, fh, &hfd, &hflags)) < 0)
		return err;
	if ((err = to_flock(lk, &fl)) < 0)
		return err;
	if (fl.l_type == F_UNLCK)
		return -EINVAL;
	want = fl;
	/* The owner's own locks never conflict; without any, the handle's
	 * fd (which holds no OFD locks) asks for everyone. */
	pthread_mutex_lock(&hint_lock);
	fd = owner_find(pt->r, ctx->nodeid, owner, &o) == 0 ? o.fd : hfd;
	pthread_mutex_unlock(&hint_lock);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	memset(ret_lk, 0, sizeof(*ret_lk));
	ret_lk->type = (uint32_t)fl.l_type;
	if (fl.l_type == F_UNLCK)
		return 0;
	ret_lk->start = (uint64_t)fl.l_start;
	ret_lk->end = fl.l_len == 0 ? PT_OFFSET_MAX
				    : (uint64_t)(fl.l_start + fl.l_len - 1);
	ret_lk->pid = holder_pid(pt, ctx->nodeid, &want, &fl);
	return 0;
}

static int
try_posix(int fd, void *arg)
{
	struct flock fl = *(const struct flock *)arg;

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

static int
try_flock(int fd, void *arg)
{
	int op = *(const int *)arg;

	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/*
 * SETLKW that found its lock taken: parks (-EINPROGRESS) where the
 * transport retries it (fuse_req.may_park, queue_wait.c), which it does
 * from the top: the owner's OFD is found again and the same lock call
 * repeated, a no-op once this OFD (or fd, for flock) holds the lock.
 * Never where nothing retries: -EINTR on replay in recovery (which
 * leaves a lock wait to the queue, queue_recover.c), else -ENOLCK.
 * -EINTR for an interrupted wait's last try (fuse_req.wait_end > 0).
 */
static int
wait_lock(const struct pt_ctx *ctx)
{
	/* Interrupted (fuse_req.wait_end): no more waiting. */
	if (ctx->req != NULL && ctx->req->wait_end > 0)
		return -EINTR;
	if (ctx->req != NULL && ctx->req->may_park)
		return -EINPROGRESS;
	return ctx->replay ? -EINTR : -ENOLCK;
}

int
pt_setlk(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t owner,
    const struct fuse_file_lock *lk, uint32_t lk_flags, bool wait)
{
	struct owner_ofd o;
	struct flock fl;
	int hfd, hflags, fd = -1, err, acc;

	if ((err = file_handle(pt, ctx, fh, &hfd, &hflags)) < 0)
		return err;
	if ((err = to_flock(lk, &fl)) < 0)
		return err;
	acc = hflags & O_ACCMODE;
	if (lk_flags & FUSE_LK_FLOCK) {
		int op = fl.l_type == F_RDLCK	? LOCK_SH
			 : fl.l_type == F_WRLCK ? LOCK_EX
						: LOCK_UN;

		err = try_flock(hfd, &op);
		if (err == -EAGAIN && wait)
			err = wait_lock(ctx);
		if (err == 0 && wait)
			CRASHPOINT("pt.lock_taken"); /* tests: before the commit */
		return err;
	}
	if (fl.l_type == F_UNLCK) {
		pthread_mutex_lock(&hint_lock);
		err = owner_find(pt->r, ctx->nodeid, owner, &o);
		pthread_mutex_unlock(&hint_lock);
		if (err < 0)
			return 0; /* no locks: nothing to unlock */
		return fcntl(o.fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
	}
	/* POSIX: the fd the guest locks through must allow the lock. */
	if ((fl.l_type == F_RDLCK && acc == O_WRONLY) ||
	    (fl.l_type == F_WRLCK && acc == O_RDONLY))
		return -EBADF;
	if ((err = owner_get(pt, ctx, hfd, hflags, ctx->nodeid, owner, lk->pid,
		 &fd)) < 0)
		return err;
	err = try_posix(fd, &fl);
	if (err == -EAGAIN && wait)
		err = wait_lock(ctx);
	if (err == 0 && wait)
		CRASHPOINT("pt.lock_taken"); /* tests: before the commit */
	return err;
}

int
pt_lock_flush(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    uint64_t owner)
{
	struct owner_ofd o;
	uint64_t nodeid;
	int hfd, err;

	if (handle_get(pt->r, fh, false, &hfd, &nodeid, NULL) < 0)
		return 0;
	pthread_mutex_lock(&hint_lock);
	if (owner_find(pt->r, nodeid, owner, &o) < 0) {
		pthread_mutex_unlock(&hint_lock);
		return 0;
	}
	/* Closed after the commit: its locks go with it. */
	err = handle_release_lock(ctx->tx, o.fh);
	if (err == 0) {
		/* Commit now, so the hint never names a freed entry. */
		redo_commit(ctx->tx);
		hint_del(nodeid, owner);
	}
	pthread_mutex_unlock(&hint_lock);
	return err;
}

int
pt_flock_release(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh)
{
	int hfd;

	if (handle_get(pt->r, fh, false, &hfd, NULL, NULL) < 0)
		return 0;
	return flock(hfd, LOCK_UN) < 0 ? -errno : 0;
}
