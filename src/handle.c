/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file-handle table in the region: fh -> (fd, nodeid, flags). Changes
 * go through the caller's redo transaction under the table lock (released
 * after the transaction is applied); handle_get() reads one entry without
 * a lock. A freed entry's generation is bumped, so a released fh answers
 * EBADF and never reaches the file that reuses its slot.
 *
 * handle_get() pins the entry for the calling request (pin.h) until the
 * request's inode_put_temps(); a RELEASE, RELEASEDIR, FLUSH of a lock
 * owner or DESTROY that frees an entry in use leaves its fd open until
 * the last user is done (DESIGN 3 step 4). The guest kernel never
 * releases an fh in use; a hostile guest can, with a thread pool, the
 * slow-request pool or a SETLKW thread serving another request on it.
 */
#include <errno.h>
#include <pthread.h>

#include "fdtab.h"
#include "handle.h"
#include "inode.h"
#include "pin.h"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
/* Requests using each entry (pin.h), ended by inode_put_temps(). */
static struct pin_table pins = PIN_TABLE_INIT;

/*
 * redo_close_fn for a handle's fd, called after the commit that freed
 * entry idx (new generation applied): closes it now, or when the last
 * request that pinned the entry ends (pin_close()).
 */
static void
close_unpinned(int fd, uint64_t idx)
{
	pin_close(&pins, fd, idx);
}

static int
take_lock(struct redo_txn *tx)
{
	int err;

	if (tx->held & REDO_HELD_HANDLE)
		return 0;
	pthread_mutex_lock(&table_lock);
	err = redo_unlock_after(tx, &table_lock);
	if (err < 0) {
		pthread_mutex_unlock(&table_lock);
		return err;
	}
	tx->held |= REDO_HELD_HANDLE;
	return 0;
}

int
handle_init_region(struct region *r)
{
	r->hhdr->free_head = 0;
	r->hhdr->high = 0;
	r->hhdr->live = 0;
	return 0;
}

#define SET(field, v)                                                          \
	do {                                                                   \
		if ((err = redo_set(tx, &(field), (uint64_t)(v))) < 0)         \
			return err;                                            \
	} while (0)

static int
add_kind(struct redo_txn *tx, int fd, uint64_t nodeid, uint64_t flags,
    unsigned kind, uint64_t owner, uint64_t *ret_fh)
{
	struct region *r = tx->r;
	struct handle_rec *h;
	uint64_t idx, fh;
	int err;

	/* On failure the fd stays the caller's: nothing is registered. */
	if ((err = take_lock(tx)) < 0)
		return err;
	if (redo_room(tx) < 10 || tx->nabort >= REDO_MAX_CLOSE)
		return -ENOSPC;
	/* The session's sweep may have passed any free index (region.h). */
	if (region_session_closed(r))
		return -EIO;
	if (!inode_fd_budget_ok(r))
		return -ENFILE;
	fh = redo_get(tx, &r->hhdr->free_head);
	if (fh != 0 && fh <= r->hdr->handle_cap) {
		idx = fh - 1;
		SET(r->hhdr->free_head, redo_get(tx, &r->handles[idx].used) >> 1);
	} else {
		idx = redo_get(tx, &r->hhdr->high);
		if (idx >= r->hdr->handle_cap)
			return -ENFILE;
		SET(r->hhdr->high, idx + 1);
	}
	(void)redo_close_on_abort(tx, fd); /* room checked above */
	h = &r->handles[idx];
	SET(h->fd, (int64_t)fd);
	fdtab_note(fd);
	SET(h->nodeid, nodeid);
	SET(h->flags, flags);
	SET(h->dir, kind);
	if (kind == HANDLE_KIND_LOCK)
		SET(h->lock_owner, owner);
	SET(h->used, 1);
	SET(r->hhdr->live, redo_get(tx, &r->hhdr->live) + 1);
	*ret_fh = redo_get(tx, &h->gen) << 32 | (idx + 1);
	return 0;
}

int
handle_add(struct redo_txn *tx, int fd, uint64_t nodeid, int flags, bool dir,
    uint64_t *ret_fh)
{
	return add_kind(tx, fd, nodeid, (uint64_t)(unsigned)flags,
	    dir ? HANDLE_KIND_DIR : HANDLE_KIND_FILE, 0, ret_fh);
}

int
handle_add_lock(struct redo_txn *tx, int fd, uint64_t nodeid, uint64_t owner,
    uint32_t pid, int flags, uint64_t *ret_fh)
{
	return add_kind(tx, fd, nodeid,
	    (uint64_t)pid << 32 | (uint64_t)(unsigned)flags, HANDLE_KIND_LOCK,
	    owner, ret_fh);
}

static struct handle_rec *
lookup(struct region *r, uint64_t fh, uint64_t high)
{
	uint64_t idx = (fh & 0xffffffffULL) - 1;

	if ((fh & 0xffffffffULL) == 0 || idx >= high ||
	    idx >= r->hdr->handle_cap)
		return NULL;
	return &r->handles[idx];
}

/*
 * Pins live entry h (index idx) of generation gen for the calling
 * request and reads it: 0, or -EBADF (pin dropped) if it is not live and
 * gen, or -ENFILE / -ENOMEM from pin_get(). The pin comes before the
 * checks and the reads are checked again after: the entry may be freed
 * and reused meanwhile, and then its fields belong to another file.
 */
static int
pin_entry(struct region *r, struct handle_rec *h, uint64_t idx, uint64_t gen,
    struct handle_rec *ret)
{
	int err;

	if ((err = pin_get(&pins, r->hdr->handle_cap, idx)) < 0)
		return err;
	if (__atomic_load_n(&h->used, __ATOMIC_SEQ_CST) != 1 ||
	    __atomic_load_n(&h->gen, __ATOMIC_SEQ_CST) != gen)
		goto stale;
	ret->fd = __atomic_load_n(&h->fd, __ATOMIC_ACQUIRE);
	ret->nodeid = __atomic_load_n(&h->nodeid, __ATOMIC_ACQUIRE);
	ret->flags = __atomic_load_n(&h->flags, __ATOMIC_ACQUIRE);
	ret->dir = __atomic_load_n(&h->dir, __ATOMIC_ACQUIRE);
	ret->lock_owner = __atomic_load_n(&h->lock_owner, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&h->gen, __ATOMIC_ACQUIRE) != gen ||
	    __atomic_load_n(&h->used, __ATOMIC_ACQUIRE) != 1 || ret->fd < 0 ||
	    REGION_FD_RESERVED(ret->fd))
		goto stale;
	return 0;
stale:
	pin_undo();
	return -EBADF;
}

int
handle_get(struct region *r, uint64_t fh, bool dir, int *ret_fd,
    uint64_t *ret_nodeid, int *ret_flags)
{
	struct handle_rec *h, e;
	int err;

	h = lookup(r, fh, __atomic_load_n(&r->hhdr->high, __ATOMIC_ACQUIRE));
	if (h == NULL)
		return -EBADF;
	if ((err = pin_entry(r, h, (fh & 0xffffffffULL) - 1, fh >> 32, &e)) < 0)
		return err;
	if (e.dir != (dir ? HANDLE_KIND_DIR : HANDLE_KIND_FILE)) {
		pin_undo();
		return -EBADF;
	}
	*ret_fd = (int)e.fd;
	if (ret_nodeid)
		*ret_nodeid = e.nodeid;
	if (ret_flags)
		*ret_flags = (int)e.flags;
	return 0;
}

static int
release_kind(struct redo_txn *tx, uint64_t fh, unsigned kind)
{
	struct region *r = tx->r;
	struct handle_rec *h;
	int err;

	if ((err = take_lock(tx)) < 0)
		return err;
	h = lookup(r, fh, redo_get(tx, &r->hhdr->high));
	if (h == NULL || redo_get(tx, &h->used) != 1 ||
	    redo_get(tx, &h->gen) != fh >> 32 ||
	    redo_get(tx, &h->dir) != kind)
		return -EBADF;
	if (redo_room(tx) < 6)
		return -ENOSPC;
	if ((err = redo_close_after_fn(tx, (int)redo_get(tx, &h->fd),
	    close_unpinned, (fh & 0xffffffffULL) - 1)) < 0)
		return err;
	/* Free entries: used = next free (index + 1) << 1, so never 1. */
	SET(h->used, redo_get(tx, &r->hhdr->free_head) << 1);
	SET(h->gen, ((fh >> 32) + 1) & 0xffffffffULL);
	SET(h->fd, -1);
	SET(r->hhdr->free_head, (fh & 0xffffffffULL));
	SET(r->hhdr->live, redo_get(tx, &r->hhdr->live) - 1);
	return 0;
}

int
handle_release(struct redo_txn *tx, uint64_t fh, bool dir)
{
	return release_kind(tx, fh, dir ? HANDLE_KIND_DIR : HANDLE_KIND_FILE);
}

int
handle_release_lock(struct redo_txn *tx, uint64_t fh)
{
	return release_kind(tx, fh, HANDLE_KIND_LOCK);
}

int
handle_hold(struct redo_txn *tx)
{
	return take_lock(tx);
}

int
handle_release_at(struct redo_txn *tx, uint64_t idx)
{
	struct region *r = tx->r;
	struct handle_rec *h;
	int err;

	if ((err = take_lock(tx)) < 0)
		return err;
	h = lookup(r, idx + 1, redo_get(tx, &r->hhdr->high));
	if (h == NULL || redo_get(tx, &h->used) != 1)
		return 0;
	return release_kind(tx, redo_get(tx, &h->gen) << 32 | (idx + 1),
	    (unsigned)redo_get(tx, &h->dir));
}

int
handle_lock_entry(struct region *r, uint64_t index, int *ret_fd,
    uint64_t *ret_nodeid, uint64_t *ret_owner, uint32_t *ret_pid,
    uint64_t *ret_fh)
{
	struct handle_rec *h, e;
	uint64_t gen;

	if (index >= __atomic_load_n(&r->hhdr->high, __ATOMIC_ACQUIRE) ||
	    index >= r->hdr->handle_cap)
		return -ENOENT;
	h = &r->handles[index];
	gen = __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);
	if (ret_fd != NULL) {
		if (pin_entry(r, h, index, gen, &e) < 0)
			return -ENOENT;
		if (e.dir != HANDLE_KIND_LOCK) {
			pin_undo();
			return -ENOENT;
		}
		*ret_fd = (int)e.fd;
	} else {
		/* Identity only (a scan): nothing pinned, no fd returned. */
		e.dir = __atomic_load_n(&h->dir, __ATOMIC_ACQUIRE);
		e.nodeid = __atomic_load_n(&h->nodeid, __ATOMIC_ACQUIRE);
		e.flags = __atomic_load_n(&h->flags, __ATOMIC_ACQUIRE);
		e.lock_owner = __atomic_load_n(&h->lock_owner,
		    __ATOMIC_ACQUIRE);
		if (region_load(&h->used) != 1 || e.dir != HANDLE_KIND_LOCK ||
		    region_load(&h->gen) != gen)
			return -ENOENT;
	}
	*ret_nodeid = e.nodeid;
	*ret_owner = e.lock_owner;
	*ret_pid = (uint32_t)(e.flags >> 32);
	*ret_fh = gen << 32 | (index + 1);
	return 0;
}

uint64_t
handle_high(struct region *r)
{
	return __atomic_load_n(&r->hhdr->high, __ATOMIC_ACQUIRE);
}

uint64_t
handle_deferred(void)
{
	return pin_deferred(&pins);
}
