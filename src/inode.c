/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table and its (dev, ino) hash index, both in the region
 * (DESIGN 2): a new worker finds them ready, no rebuild. Entries are
 * changed only through the caller's redo transaction while it holds the
 * table lock, which the transaction releases after it is applied; readers
 * of a single entry (inode_get) take no lock. Free entries form a list
 * through hnext; a reused entry gets a new generation, so an old nodeid
 * answers ESTALE instead of reaching another file.
 *
 * Pins (per incarnation, on the heap: after a crash nothing is in use):
 * inode_get() counts the calling request as a user of the entry until
 * inode_put_temps(), and a FORGET or DESTROY that frees an entry in use
 * leaves its fd open until the last user lets go (DESIGN 3 step 4: a
 * number closed under a running request can be reused by any open, and
 * the request would then act on the wrong file). The guest kernel never
 * forgets a nodeid it still uses; a hostile guest can, with a thread pool
 * or a blocked SETLKW thread serving another request on it. The pin
 * counters and the deferred closes are pin.c's, shared with handle.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdtab.h"
#include "inode.h"
#include "pin.h"

/* Per incarnation: a fresh worker starts with it unlocked (DESIGN 2). */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fd_budget;
static int fh_mode;
static int root_mnt_id = -1;
static int mount_fd = -1;	/* open_by_handle_at refuses an O_PATH fd */

/* A file handle as name_to_handle_at() fills it, or why it could not. */
struct inode_fh {
	struct file_handle h;
	uint8_t b[INODE_FH_MAX];
	int err;
};

#define MAX_TEMPS 16
static __thread int temps[MAX_TEMPS];
static __thread unsigned ntemps;

/*
 * What this thread's request resolved (inode_memo_detach), and the memo
 * its second run answers from (inode_memo_attach); until
 * inode_put_temps().
 */
static __thread struct inode_memo seen;
static __thread const struct inode_memo *kept;

/* Requests using each entry (pin.h); the root is never pinned. */
static struct pin_table pins = PIN_TABLE_INIT;

void
inode_set_file_handles(int mode)
{
	struct {
		struct file_handle h;
		uint8_t b[MAX_HANDLE_SZ];
	} fh;
	int mnt;

	fh_mode = mode;
	if (mode != 0 && mount_fd < 0) {
		mount_fd = openat(REGION_FD_ROOT, ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (mount_fd >= 0)
			(void)fdtab_register(mount_fd);
	}
	/*
	 * Handles are used only if the root's decodes: overlayfs without
	 * index=on,nfs_export=on refuses to encode; a file system that
	 * encodes but cannot decode would make every inode ESTALE. Without
	 * them prefer keeps fds and mandatory answers EOPNOTSUPP.
	 */
	fh.h.handle_bytes = MAX_HANDLE_SZ;
	root_mnt_id = -1;
	if (mode != 0 && mount_fd >= 0 && name_to_handle_at(REGION_FD_ROOT, "",
	    &fh.h, &mnt, AT_EMPTY_PATH) == 0) {
		int fd = open_by_handle_at(mount_fd, &fh.h, O_PATH);

		if (fd >= 0) {
			close(fd);
			root_mnt_id = mnt;
		}
	}
}

/*
 * redo_close_fn for an inode's O_PATH fd, called after the commit that
 * freed entry idx (new generation and used = 0 applied): closes it now,
 * or when the last request that pinned the entry ends (pin_close()).
 */
static void
close_unpinned(int fd, uint64_t idx)
{
	pin_close(&pins, fd, idx);
}

void
inode_put_temps(void)
{
	while (ntemps > 0)
		close(temps[--ntemps]);
	seen.n = 0;
	kept = NULL;
	pin_put_all();
}

void
inode_memo_detach(struct inode_memo *m)
{
	*m = seen;
	seen.n = 0;
}

void
inode_memo_attach(const struct inode_memo *m)
{
	kept = m;
}

bool
inode_temps_held(void)
{
	return ntemps > 0;
}

uint64_t
inode_deferred(void)
{
	return pin_deferred(&pins);
}

/* Opens the inode kept as a file handle for the current request. */
static int
open_handle(const struct inode_fh_rec *f)
{
	struct {
		struct file_handle h;
		uint8_t b[INODE_FH_MAX];
	} fh;
	uint64_t hdr = region_load(&f->hdr);
	int fd;

	if (hdr == 0 || (hdr & 0xffffffff) > INODE_FH_MAX || ntemps >= MAX_TEMPS)
		return -ESTALE;
	fh.h.handle_bytes = (unsigned)(hdr & 0xffffffff);
	fh.h.handle_type = (int)(hdr >> 32);
	memcpy(fh.h.f_handle, f->f_handle, fh.h.handle_bytes);
	fd = open_by_handle_at(mount_fd, &fh.h, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return errno == ESTALE || errno == ENOENT ? -ESTALE : -errno;
	temps[ntemps++] = fd;
	return fd;
}

void
inode_set_fd_budget(uint64_t fds)
{
	fd_budget = fds;
}

/* Table fds in use: inodes' O_PATH fds, handles, closes still deferred. */
static uint64_t
fds_in_use(const struct region *r)
{
	return region_load(&r->ihdr->fds) + region_load(&r->hhdr->live) +
	    pin_deferred_all();
}

bool
inode_fd_budget_ok(const struct region *r)
{
	return fd_budget == 0 || fds_in_use(r) < fd_budget;
}

/*
 * A new inode fd may use the budget but its last quarter, kept for open
 * files and directories: a guest whose lookups reached the cap (a find
 * of a big tree, which the guest kernel may keep cached for good) can
 * still open, list and read what it holds.
 */
static bool
inode_fd_ok(const struct region *r)
{
	return fd_budget == 0 || fds_in_use(r) < fd_budget - fd_budget / 4;
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

/*
 * The bucket of (dev, ino) (layout 5). Inode numbers inside one aligned
 * block of ihash_cap numbers keep their order, shifted by a mix of the
 * block and the device: file systems number neighbouring files with
 * neighbouring numbers, so N inodes touch about N * 8 bytes of the index
 * rather than a page each. The index is sized for the capacity (16 MiB
 * for 1M inodes) but costs memory by what is used: 10,000 inodes took
 * 14.3 MiB of it with a full mix of ino (layout 4), about 80 KiB now.
 */
static uint64_t
bucket(const struct region *r, uint64_t dev, uint64_t ino)
{
	uint64_t mask = r->hdr->ihash_cap - 1;
	uint64_t h = (ino & ~mask) * 0x9e3779b97f4a7c15ULL ^
	    dev * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 29;
	return (ino + h) & mask;
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
	r->ihdr->fds = 1;
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

/* The entry a nodeid names (maybe free) and its index and generation. */
static int
entry_of(struct region *r, uint64_t nodeid, struct inode_rec **ret_e,
    uint64_t *ret_idx, uint64_t *ret_gen)
{
	uint64_t idx, gen;
	int err;

	err = split(r, nodeid, &idx, &gen);
	if (err < 0)
		return err;
	if (idx >= __atomic_load_n(&r->ihdr->high, __ATOMIC_ACQUIRE))
		return -ESTALE;
	*ret_e = &r->inodes[idx];
	*ret_idx = idx;
	*ret_gen = gen;
	return 0;
}

/* The live entry of a guest nodeid and its index, or -ESTALE / -EINVAL. */
static int
live_entry(struct region *r, uint64_t nodeid, struct inode_rec **ret_e,
    uint64_t *ret_idx)
{
	struct inode_rec *e;
	uint64_t gen;
	int err;

	if ((err = entry_of(r, nodeid, &e, ret_idx, &gen)) < 0)
		return err;
	if (region_load(&e->used) != 1 || region_load(&e->gen) != gen)
		return -ESTALE;
	*ret_e = e;
	return 0;
}

int
inode_get(struct region *r, uint64_t nodeid, int *ret_fd, mode_t *ret_mode)
{
	uint64_t idx, gen;
	struct inode_rec *e;
	mode_t mode;
	int err, fd;

	for (unsigned i = 0; kept != NULL && i < kept->n; i++) {
		if (kept->e[i].nodeid == nodeid) {
			*ret_fd = kept->e[i].fd;
			if (ret_mode)
				*ret_mode = kept->e[i].mode;
			return 0;
		}
	}
	if ((err = entry_of(r, nodeid, &e, &idx, &gen)) < 0)
		return err;
	/*
	 * Pinned before the checks below (pin.h). The root is never freed:
	 * no pin, no shared counter to bounce.
	 */
	if (idx != 0 && (err = pin_get(&pins, r->hdr->inode_cap, idx)) < 0)
		return err;
	if (__atomic_load_n(&e->used, __ATOMIC_SEQ_CST) != 1 ||
	    __atomic_load_n(&e->gen, __ATOMIC_SEQ_CST) != gen)
		goto stale;
	fd = (int)__atomic_load_n(&e->fd, __ATOMIC_ACQUIRE);
	mode = (mode_t)__atomic_load_n(&e->mode, __ATOMIC_ACQUIRE);
	/* fd and mode belong to gen only if the entry was not reused since. */
	if (__atomic_load_n(&e->gen, __ATOMIC_ACQUIRE) != gen ||
	    __atomic_load_n(&e->used, __ATOMIC_ACQUIRE) != 1)
		goto stale;
	if (fd < 0) {
		fd = open_handle(&r->ifh[idx]);
		if (fd < 0)
			return fd;
		/* The handle was read while the entry stayed gen. */
		if (__atomic_load_n(&e->gen, __ATOMIC_ACQUIRE) != gen)
			return -ESTALE;
	} else if (REGION_FD_RESERVED(fd) && fd != REGION_FD_ROOT) {
		return -ESTALE;
	} else if (idx != 0 && seen.n < INODE_MEMO_MAX) {
		/* A table fd, open while the pin lasts (inode_memo_*). */
		seen.e[seen.n].nodeid = nodeid;
		seen.e[seen.n].fd = fd;
		seen.e[seen.n].mode = mode;
		seen.n++;
	}
	*ret_fd = fd;
	if (ret_mode)
		*ret_mode = mode;
	return 0;
stale:
	if (idx != 0)
		pin_undo();
	return -ESTALE;
}

int
inode_freed_identity(struct region *r, uint64_t nodeid, uint64_t *ret_dev,
    uint64_t *ret_ino)
{
	struct inode_rec *e;
	uint64_t idx, gen;
	int err;

	if ((err = entry_of(r, nodeid, &e, &idx, &gen)) < 0)
		return err;
	/* A free bumps gen; a reuse keeps it and sets used (inode_ref). */
	if (idx == 0 || region_load(&e->used) != 0 ||
	    region_load(&e->gen) != ((gen + 1) & 0xffffffffULL))
		return -ESTALE;
	*ret_dev = region_load(&e->dev);
	*ret_ino = region_load(&e->ino);
	return 0;
}

int
inode_dev(struct region *r, uint64_t nodeid, uint64_t *ret_dev)
{
	struct inode_rec *e;
	uint64_t idx;
	int err;

	if ((err = live_entry(r, nodeid, &e, &idx)) < 0)
		return err;
	*ret_dev = region_load(&e->dev);
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

/* The file handle of fd, if it is on the shared directory's mount. */
static bool
handle_of(int fd, struct inode_fh *fh)
{
	int mnt = -1;

	fh->h.handle_bytes = INODE_FH_MAX;
	if (name_to_handle_at(fd, "", &fh->h, &mnt, AT_EMPTY_PATH) < 0)
		fh->err = errno == EOVERFLOW ? -EOPNOTSUPP : -errno;
	else if (mnt != root_mnt_id)
		fh->err = -EOPNOTSUPP; /* another mount, or none decodes */
	else
		return true;
	return false;
}

/* Entry idx, kept as a file handle, holds exactly fh. */
static bool
same_handle(struct redo_txn *tx, uint64_t idx, const struct inode_fh *fh)
{
	const struct inode_fh_rec *f = &tx->r->ifh[idx];
	uint64_t w[INODE_FH_MAX / 8];

	if (redo_get(tx, &f->hdr) != ((uint64_t)(unsigned)fh->h.handle_type
	    << 32 | fh->h.handle_bytes))
		return false;
	for (unsigned i = 0; i < INODE_FH_MAX / 8; i++)
		w[i] = redo_get(tx, &((const uint64_t *)f->f_handle)[i]);
	return memcmp(w, fh->h.f_handle, fh->h.handle_bytes) == 0;
}

/*
 * Takes entry idx out of the (dev, ino) index without freeing it: its
 * nodeid stays the guest's until FORGET (which then finds it unhashed)
 * and resolves to its own, deleted, file (ESTALE).
 */
static int
unhash(struct redo_txn *tx, uint64_t idx)
{
	struct region *r = tx->r;
	struct inode_rec *e = &r->inodes[idx];
	uint64_t i, *link, steps = 0;
	int err;

	link = &r->ihash[bucket(r, redo_get(tx, &e->dev), redo_get(tx, &e->ino))];
	for (i = redo_get(tx, link); i != 0 && i != idx + 1 &&
	     i <= r->hdr->inode_cap && steps++ < r->hdr->inode_cap;
	     i = redo_get(tx, link))
		link = &r->inodes[i - 1].hnext;
	if (i == idx + 1)
		SET(*link, redo_get(tx, &e->hnext));
	return 0;
}

int
inode_ref(struct redo_txn *tx, dev_t dev, ino_t ino, mode_t mode, int fd,
    uint64_t *ret_nodeid)
{
	struct region *r = tx->r;
	struct inode_rec *e;
	uint64_t idx, b, fh_head;
	struct inode_fh fh;
	bool by_handle = false;
	int64_t found;
	int err;

	err = take_lock(tx);
	if (err < 0)
		return err;
	/* The session's sweep may have passed any entry (region.h). */
	if (region_session_closed(r))
		return -EIO;
	/* Kept as a file handle, the inode needs no fd (--inode-file-handles). */
	if (fh_mode != 0 && fd >= 0) {
		by_handle = handle_of(fd, &fh);
		if (!by_handle && fh_mode == 2)
			return fh.err;
	}
	found = find(tx, dev, ino);
	/*
	 * An entry kept as a file handle pins nothing: its file may be gone
	 * and its inode number reused by another (xfs, ext4 reuse them at
	 * once). Another handle for the same (dev, ino) is another file.
	 */
	if (found >= 0 && by_handle &&
	    redo_get(tx, &r->inodes[found].fd) == (uint64_t)-1 &&
	    !same_handle(tx, (uint64_t)found, &fh)) {
		if (redo_room(tx) < 2)
			return -ENOSPC;
		if ((err = unhash(tx, (uint64_t)found)) < 0)
			return err;
		found = -1;
	}
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
	if (!by_handle && !inode_fd_ok(r))
		return -ENFILE;
	if (redo_room(tx) < 22 || tx->nabort >= REDO_MAX_CLOSE ||
	    tx->nclose >= REDO_MAX_CLOSE)
		return -ENOSPC;
	fh_head = redo_get(tx, &r->ihdr->free_head);
	if (fh_head != 0 && fh_head <= r->hdr->inode_cap) {
		idx = fh_head - 1;
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
	if (by_handle) {
		uint64_t w[INODE_FH_MAX / 8];

		memset(w, 0, sizeof(w));
		memcpy(w, fh.h.f_handle, fh.h.handle_bytes);
		for (unsigned i = 0; i < INODE_FH_MAX / 8; i++)
			SET(((uint64_t *)r->ifh[idx].f_handle)[i], w[i]);
		SET(r->ifh[idx].hdr, (uint64_t)(unsigned)fh.h.handle_type
		    << 32 | fh.h.handle_bytes);
		SET(e->fd, -1);
		/* The table keeps the handle, not the fd. */
		(void)redo_close_after(tx, fd);
	} else {
		SET(e->fd, (int64_t)fd);
		SET(r->ihdr->fds, redo_get(tx, &r->ihdr->fds) + 1);
		fdtab_note(fd);
	}
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
	uint64_t idx, gen, have;
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
	if (redo_room(tx) < 10)
		return -ENOSPC;
	if ((err = unhash(tx, idx)) < 0)
		return err;
	if (redo_get(tx, &e->fd) != (uint64_t)-1) {
		if ((err = redo_close_after_fn(tx, (int)redo_get(tx, &e->fd),
		    close_unpinned, idx)) < 0)
			return err;
		SET(r->ihdr->fds, redo_get(tx, &r->ihdr->fds) - 1);
	} else {
		SET(r->ifh[idx].hdr, 0);
	}
	SET(e->nlookup, 0);
	SET(e->used, 0);
	SET(e->gen, (gen + 1) & 0xffffffffULL);
	SET(e->fd, -1);
	SET(e->hnext, redo_get(tx, &r->ihdr->free_head));
	SET(r->ihdr->free_head, idx + 1);
	SET(r->ihdr->live, redo_get(tx, &r->ihdr->live) - 1);
	return 0;
}

int
inode_forget_at(struct redo_txn *tx, uint64_t idx)
{
	struct region *r = tx->r;
	int err;

	if ((err = take_lock(tx)) < 0)
		return err;
	if (idx >= redo_get(tx, &r->ihdr->high) || idx >= r->hdr->inode_cap ||
	    redo_get(tx, &r->inodes[idx].used) != 1)
		return 0;
	if (idx == 0) {
		SET(r->inodes[0].nlookup, 1);
		return 0;
	}
	return inode_forget(tx, nodeid_of(tx, idx), UINT64_MAX);
}

uint64_t
inode_high(struct region *r)
{
	return __atomic_load_n(&r->ihdr->high, __ATOMIC_ACQUIRE);
}
