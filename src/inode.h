/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table (nodeid -> host identity and O_PATH fd, nlookup), kept in
 * the region with its hash index (dev, ino) so that a new worker needs no
 * rebuild. nodeid = gen << 32 | (index + 1); the root is nodeid 1 and is
 * never forgotten. Every change goes through a redo transaction and holds
 * the table lock (a per-incarnation mutex) until that transaction is done.
 * inode_get() is the one checked way from a guest nodeid to a host fd.
 */
#ifndef PHX_INODE_H
#define PHX_INODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "redo.h"
#include "region.h"

#define INODE_ROOT_ID 1ULL

/* Initializes the table in a fresh region with root_fd as the root. */
int inode_init_region(struct region *r, int root_fd, dev_t dev, ino_t ino);

/*
 * Resolves a guest nodeid: checks index, generation and liveness and
 * returns the O_PATH fd (owned by the table, or, for an inode kept as a
 * file handle, opened for this request and closed by inode_put_temps():
 * never close it) and the file type bits. -ESTALE for a dead or reused
 * nodeid, -EINVAL for garbage, -ENFILE past PIN_MAX_HELD (32) pins
 * of inodes and handles in one request, -ENOMEM if the pin table cannot
 * be allocated.
 * The fd stays open until the calling thread's inode_put_temps(), even if
 * a FORGET or DESTROY on another thread frees the inode meanwhile (a
 * hostile guest; the kernel never forgets a nodeid in use): the request
 * pins the entry, and the freeing commit defers the close to its last
 * user. Every caller must therefore call inode_put_temps() on the same
 * thread once its request is committed. Lock-free; one atomic add on
 * the entry's counter (none for the root).
 */
int inode_get(struct region *r, uint64_t nodeid, int *ret_fd,
    mode_t *ret_mode);

/*
 * The inodes a request resolved (nodeid, fd, type), kept with a request
 * that leaves its host op in flight (queue_async.c) together with its
 * pins: its second run resolves them from here, so a FORGET or DESTROY
 * that freed one meanwhile (a hostile guest) cannot turn an op done on
 * the host into ESTALE. The fds stay open while the kept pins are held.
 */
#define INODE_MEMO_MAX 8
struct inode_memo {
	unsigned n;
	struct {
		uint64_t nodeid;
		int fd;
		mode_t mode;
	} e[INODE_MEMO_MAX];
};
/* Moves what the calling thread's request resolved so far into m. */
void inode_memo_detach(struct inode_memo *m);
/*
 * Until the calling thread's inode_put_temps(), inode_get() answers the
 * nodeids of m from m (m must outlive that; its pins must be held).
 */
void inode_memo_attach(const struct inode_memo *m);

/*
 * The (dev, ino) a nodeid named, if its entry was freed once since and
 * not reused (recovery: the directory of a replayed creation that a
 * hostile FORGET freed). -ESTALE otherwise, -EINVAL for garbage.
 */
int inode_freed_identity(struct region *r, uint64_t nodeid,
    uint64_t *ret_dev, uint64_t *ret_ino);

/* The host device of a live nodeid, as inode_get() checks it. */
int inode_dev(struct region *r, uint64_t nodeid, uint64_t *ret_dev);
/*
 * Looks up (dev, ino); if known, adds one lookup and, if fd >= 0, registers
 * it for closing after commit (the table already has one). Otherwise takes
 * a free entry for fd (ownership passes to the table on commit, fd is
 * closed on abort; on failure fd stays the caller's). -ENFILE when the
 * table or the fd budget is full; -ENOSPC when the transaction is full.
 * Takes the table lock until commit.
 */
int inode_ref(struct redo_txn *tx, dev_t dev, ino_t ino, mode_t mode, int fd,
    uint64_t *ret_nodeid);
/* Finds (dev, ino) without taking a reference: 0 and nodeid, or -ENOENT. */
int inode_find(struct redo_txn *tx, dev_t dev, ino_t ino,
    uint64_t *ret_nodeid);
/*
 * Drops n lookups (clamped to what is held). At zero the entry leaves the
 * index, its generation is bumped and its fd closed after commit.
 * Unknown or stale nodeids and the root are ignored (returns 0).
 */
int inode_forget(struct redo_txn *tx, uint64_t nodeid, uint64_t n);

/*
 * DESTROY (one entry of the whole table): drops every lookup of entry
 * idx, as inode_forget with n = all, or resets the root to its initial
 * single lookup. A free or out-of-range idx is ignored (returns 0).
 * -ENOSPC when the transaction is full. Takes the table lock.
 */
int inode_forget_at(struct redo_txn *tx, uint64_t idx);
/* Indices below this were ever used (for scans). */
uint64_t inode_high(struct region *r);

/*
 * Caps the fds the inode and handle tables may hold together, so that
 * table growth answers ENFILE to the guest while the worker keeps the fds
 * it needs itself (eventfds, rings, a new incarnation's start). 0 = none.
 * Inode fds stop at three quarters of it: the rest is for handles.
 */
void inode_set_fd_budget(uint64_t fds);
/* True if one more table fd fits the budget. */
bool inode_fd_budget_ok(const struct region *r);

/*
 * --inode-file-handles: 0 never (every inode holds an O_PATH fd), 1 prefer
 * (a file handle where the file system gives one, else an fd), 2
 * mandatory (lookups fail where it gives none). Set once per incarnation.
 */
void inode_set_file_handles(int mode);
/*
 * Ends the calling thread's use of what inode_get() returned: closes the
 * fds it opened from file handles and drops its pins, of inodes and of
 * handles (pin_put_all(): the last user of a freed inode or handle closes
 * its fd here). Call after the request's commit, on the thread that
 * called inode_get() or handle_get().
 */
void inode_put_temps(void);
/* The calling thread holds fds opened for its request (file handles). */
bool inode_temps_held(void);
/* Freed inode fds whose close waits for a request still using them. */
uint64_t inode_deferred(void);

/* Lock for callers that must serialize with table changes (recovery). */
void inode_lock(void);
void inode_unlock(void);

#endif
