/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Redo transactions over region words (DESIGN 3 step 4). A transaction is a
 * list of (offset, value) pairs in the calling thread's redo log in the
 * region. redo_commit() writes the list, marks it committed (release store
 * of the log state), applies it, marks it done, and only then closes the
 * fds and releases the locks registered with the transaction: a crash at
 * any point leaves either nothing visible or a committed log that
 * redo_recover() rolls forward. Every value is absolute, so applying twice
 * is harmless.
 *
 * A transaction belongs to one thread; it is not itself locked.
 */
#ifndef PHX_REDO_H
#define PHX_REDO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "region.h"

enum redo_state {
	REDO_EMPTY = 0,		/* nothing to roll forward */
	REDO_COMMITTED = 1,	/* entries + csum valid: apply */
	REDO_DONE = 2,		/* applied */
};

#define REDO_MAX_CLOSE 64
#define REDO_MAX_LOCKS 8

/* Closes fd after a commit on behalf of a table (see redo_close_after_fn). */
typedef void redo_close_fn(int fd, uint64_t key);

struct redo_txn {
	struct region *r;
	struct region_thread_rec *t; /* the thread's log */
	unsigned count;		/* entries written to t->redo */
	unsigned nclose;
	unsigned nlocks;
	unsigned nabort;
	int close_fds[REDO_MAX_CLOSE];
	redo_close_fn *close_fn[REDO_MAX_CLOSE]; /* NULL: plain close() */
	uint64_t close_key[REDO_MAX_CLOSE];
	int abort_fds[REDO_MAX_CLOSE];
	pthread_mutex_t *locks[REDO_MAX_LOCKS];
	uint64_t held;		/* REDO_HELD_* flags of module locks held */
};

/* Lock ownership bits for modules that take a lock once per transaction. */
#define REDO_HELD_INODE	 (1u << 0)
#define REDO_HELD_HANDLE (1u << 1)

/* Starts an empty transaction on thread log t. Never fails. */
void redo_begin(struct redo_txn *tx, struct region *r,
    struct region_thread_rec *t);
/*
 * Records "*field = val" (field: an 8-byte aligned word in the region).
 * The region is not changed until commit. -ENOSPC when the log is full,
 * -EINVAL for a field outside the region.
 */
int redo_set(struct redo_txn *tx, const void *field, uint64_t val);
/* The value field will have after commit: the last redo_set, else memory. */
uint64_t redo_get(const struct redo_txn *tx, const void *field);
/* Room left, in entries. */
unsigned redo_room(const struct redo_txn *tx);
/* Closes fd after the commit (an fd whose last reference it drops). */
int redo_close_after(struct redo_txn *tx, int fd);
/*
 * As redo_close_after, but after the commit calls fn(fd, key) instead of
 * close(fd): the table that owned fd decides when it may close (inode.c
 * defers the close while a request still uses the fd).
 */
int redo_close_after_fn(struct redo_txn *tx, int fd, redo_close_fn *fn,
    uint64_t key);
/* Closes fd at abort only: a commit hands it to the tables. */
int redo_close_on_abort(struct redo_txn *tx, int fd);
/* Unlocks m after commit or abort. m must be locked by the caller. */
int redo_unlock_after(struct redo_txn *tx, pthread_mutex_t *m);
/* Commit, apply, done; then close and unlock. */
void redo_commit(struct redo_txn *tx);
/* Drops the entries (nothing applied), closes the abort fds, unlocks. */
void redo_abort(struct redo_txn *tx);
/*
 * Recovery: rolls forward every thread log that is committed and whose
 * checksum matches; marks every log empty. Returns the number of
 * transactions rolled forward, or -EPROTO if a committed log is corrupt
 * (its entries are then ignored).
 */
int redo_recover(struct region *r);

#endif
