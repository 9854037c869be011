/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table and its (dev, ino) hash index, both in the region
 * (DESIGN 2): a new worker finds them ready, no rebuild. Entries are
 * changed only through the caller's redo transaction while it holds the
 * table lock, which the transaction releases after it is applied; readers
 * of a single entry (inode_get) take no lock. Free entries form a list
 * through hnext; a reused entry gets a new generation, so an old nodeid
 * answers ESTALE instead of reaching another file.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "inode.h"

/* Per incarnation: a fresh worker starts with it unlocked (DESIGN 2). */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fd_budget;

void
inode_set_fd_budget(uint64_t fds)
{
	fd_budget = fds;
}

bool
inode_fd_budget_ok(const struct region *r)
{
	return fd_budget == 0 ||
	    region_load(&r->ihdr->live) + region_load(&r->hhdr->live) <
	    fd_budget;
}

void
inode_lock(void)
{
	pthread_mutex_lock(&table_lock);
}

void
inode_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}

static int
take_lock(struct redo_txn *tx)
{
	int err;

	if (tx->held & REDO_HELD_INODE)
		return 0;
	pthread_mutex_lock(&table_lock);
	err = redo_unlock_after(tx, &table_lock);
	if (err < 0) {
		pthread_mutex_unlock(&table_lock);
		return err;
	}
	tx->held |= REDO_HELD_INODE;
	return 0;
}

static uint64_t
bucket(const struct region *r, uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ULL ^ dev * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 29;
	return h & (r->hdr->ihash_cap - 1);
}

int
inode_init_region(struct region *r, int root_fd, dev_t dev, ino_t ino)
{
	struct inode_rec *root = &r->inodes[0];

	root->dev = dev;
	root->ino = ino;
	root->nlookup = 1;
	root->gen = 0;
	root->fd = root_fd;
	root->used = 1;
	root->mode = S_IFDIR;
	root->hnext = 0;
	r->ihash[bucket(r, dev, ino)] = 1;
	r->ihdr->high = 1;
	r->ihdr->live = 1;
	r->ihdr->free_head = 0;
	return 0;
}

static int
split(const struct region *r, uint64_t nodeid, uint64_t *ret_idx,
    uint64_t *ret_gen)
{
	uint64_t idx = (nodeid & 0xffffffffULL) - 1;

	if ((nodeid & 0xffffffffULL) == 0 || idx >= r->hdr->inode_cap)
		return -EINVAL;
	*ret_idx = idx;
	*ret_gen = nodeid >> 32;
	return 0;
}

int
inode_get(struct region *r, uint64_t nodeid, int *ret_fd, mode_t *ret_mode)
{
	uint64_t idx, gen;
	struct inode_rec *e;
	int err;

	err = split(r, nodeid, &idx, &gen);
	if (err < 0)
		return err;
	if (idx >= __atomic_load_n(&r->ihdr->high, __ATOMIC_ACQUIRE))
		return -ESTALE;
	e = &r->inodes[idx];
	if (region_load(&e->used) != 1 || region_load(&e->gen) != gen)
		return -ESTALE;
	if (e->fd < 0 || (REGION_FD_RESERVED(e->fd) && e->fd != REGION_FD_ROOT))
		return -ESTALE;
	*ret_fd = (int)e->fd;
	if (ret_mode)
		*ret_mode = (mode_t)e->mode;
	return 0;
}

static int64_t
find(struct redo_txn *tx, uint64_t dev, uint64_t ino)
{
	struct region *r = tx->r;
	uint64_t i = redo_get(tx, &r->ihash[bucket(r, dev, ino)]);
	uint64_t steps = 0;

	while (i != 0 && i <= r->hdr->inode_cap && steps++ < r->hdr->inode_cap) {
		struct inode_rec *e = &r->inodes[i - 1];

		if (redo_get(tx, &e->used) == 1 && redo_get(tx, &e->dev) == dev &&
		    redo_get(tx, &e->ino) == ino)
			return (int64_t)(i - 1);
		i = redo_get(tx, &e->hnext);
	}
	return -1;
}

static uint64_t
nodeid_of(struct redo_txn *tx, uint64_t idx)
{
	return redo_get(tx, &tx->r->inodes[idx].gen) << 32 | (idx + 1);
}

int
inode_find(struct redo_txn *tx, dev_t dev, ino_t ino, uint64_t *ret_nodeid)
{
	int64_t idx;
	int err;

	err = take_lock(tx);
	if (err < 0)
		return err;
	idx = find(tx, dev, ino);
	if (idx < 0)
		return -ENOENT;
	*ret_nodeid = nodeid_of(tx, (uint64_t)idx);
	return 0;
}

#define SET(field, v)                                                          \
	do {                                                                   \
		if ((err = redo_set(tx, &(field), (uint64_t)(v))) < 0)         \
			return err;                                            \
	} while (0)

int
inode_ref(struct redo_txn *tx, dev_t dev, ino_t ino, mode_t mode, int fd,
    uint64_t *ret_nodeid)
{
	struct region *r = tx->r;
	struct inode_rec *e;
	uint64_t idx, b, fh;
	int64_t found;
	int err;

	err = take_lock(tx);
	if (err < 0)
		return err;
	found = find(tx, dev, ino);
	if (found >= 0) {
		e = &r->inodes[found];
		if (redo_room(tx) < 1)
			return -ENOSPC;
		SET(e->nlookup, redo_get(tx, &e->nlookup) + 1);
		/* The table has an fd already: this one goes either way. */
		if (fd >= 0 && ((err = redo_close_after(tx, fd)) < 0 ||
		    (err = redo_close_on_abort(tx, fd)) < 0))
			return err;
		*ret_nodeid = nodeid_of(tx, (uint64_t)found);
		return 0;
	}
	if (fd < 0)
		return -EBADF;
	/* On failure the fd stays the caller's: nothing is registered. */
	if (!inode_fd_budget_ok(r))
		return -ENFILE;
	if (redo_room(tx) < 12 || tx->nabort >= REDO_MAX_CLOSE)
		return -ENOSPC;
	fh = redo_get(tx, &r->ihdr->free_head);
	if (fh != 0 && fh <= r->hdr->inode_cap) {
		idx = fh - 1;
		SET(r->ihdr->free_head, redo_get(tx, &r->inodes[idx].hnext));
	} else {
		idx = redo_get(tx, &r->ihdr->high);
		if (idx >= r->hdr->inode_cap)
			return -ENFILE;
		SET(r->ihdr->high, idx + 1);
	}
	(void)redo_close_on_abort(tx, fd); /* room checked above */
	e = &r->inodes[idx];
	b = bucket(r, dev, ino);
	SET(e->dev, dev);
	SET(e->ino, ino);
	SET(e->nlookup, 1);
	SET(e->fd, (int64_t)fd);
	SET(e->mode, mode & S_IFMT);
	SET(e->hnext, redo_get(tx, &r->ihash[b]));
	SET(e->used, 1);
	SET(r->ihash[b], idx + 1);
	SET(r->ihdr->live, redo_get(tx, &r->ihdr->live) + 1);
	*ret_nodeid = nodeid_of(tx, idx);
	return 0;
}

int
inode_forget(struct redo_txn *tx, uint64_t nodeid, uint64_t n)
{
	struct region *r = tx->r;
	struct inode_rec *e;
	uint64_t idx, gen, have, i, *link;
	uint64_t steps = 0;
	int err;

	if (split(r, nodeid, &idx, &gen) < 0 || idx == 0)
		return 0;
	err = take_lock(tx);
	if (err < 0)
		return err;
	e = &r->inodes[idx];
	if (idx >= redo_get(tx, &r->ihdr->high) || redo_get(tx, &e->used) != 1 ||
	    redo_get(tx, &e->gen) != gen)
		return 0;
	have = redo_get(tx, &e->nlookup);
	if (n < have) {
		SET(e->nlookup, have - n);
		return 0;
	}
	if (redo_room(tx) < 8)
		return -ENOSPC;
	/* Unlink from its hash chain. */
	link = &r->ihash[bucket(r, redo_get(tx, &e->dev), redo_get(tx, &e->ino))];
	for (i = redo_get(tx, link); i != 0 && i != idx + 1 &&
	     i <= r->hdr->inode_cap && steps++ < r->hdr->inode_cap;
	     i = redo_get(tx, link))
		link = &r->inodes[i - 1].hnext;
	if (i == idx + 1)
		SET(*link, redo_get(tx, &e->hnext));
	if ((err = redo_close_after(tx, (int)redo_get(tx, &e->fd))) < 0)
		return err;
	SET(e->nlookup, 0);
	SET(e->used, 0);
	SET(e->gen, (gen + 1) & 0xffffffffULL);
	SET(e->fd, -1);
	SET(e->hnext, redo_get(tx, &r->ihdr->free_head));
	SET(r->ihdr->free_head, idx + 1);
	SET(r->ihdr->live, redo_get(tx, &r->ihdr->live) - 1);
	return 0;
}
