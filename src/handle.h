/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file-handle table (fh -> open fd, nodeid, flags) in the region.
 * fh = gen << 32 | (index + 1), never an fd number or a pointer.
 * Changes go through a redo transaction under the table lock; the fd of a
 * released handle is closed only after the commit that frees it.
 */
#ifndef PHX_HANDLE_H
#define PHX_HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "redo.h"
#include "region.h"

/* handle_rec.dir: what an entry is. */
#define HANDLE_KIND_FILE 0
#define HANDLE_KIND_DIR  1
#define HANDLE_KIND_LOCK 2 /* a lock owner's OFD (pt_lock.c) */

/* Initializes the table of a fresh region. */
int handle_init_region(struct region *r);
/*
 * Registers fd (ownership passes on commit; closed on abort; on failure
 * fd stays the caller's).
 * -ENFILE when the table is full, -ENOSPC when the txn is full.
 */
int handle_add(struct redo_txn *tx, int fd, uint64_t nodeid, int flags,
    bool dir, uint64_t *ret_fh);
/*
 * Resolves a guest fh: the fd (owned by the table) and the nodeid it was
 * opened for. -EBADF for an unknown, stale or wrong-kind (dir) handle,
 * -ENFILE past PIN_MAX_HELD pins in one request, -ENOMEM if the pin
 * table cannot be allocated. The fd stays open until the calling
 * thread's inode_put_temps(), even if a RELEASE, FLUSH or DESTROY on
 * another thread frees the handle meanwhile: the request pins the entry
 * and the freeing commit defers the close to its last user (pin.h).
 * Lock-free; one atomic add on the entry's counter.
 */
int handle_get(struct region *r, uint64_t fh, bool dir, int *ret_fd,
    uint64_t *ret_nodeid, int *ret_flags);
/*
 * Frees fh; its fd is closed after commit, or later by the last request
 * that still uses it (handle_get()). -EBADF if unknown.
 */
int handle_release(struct redo_txn *tx, uint64_t fh, bool dir);

/*
 * DESTROY (one entry of the whole table): frees entry idx whatever its
 * kind; its fd closes after commit. A free or out-of-range idx is
 * ignored (returns 0). -ENOSPC when the transaction is full.
 */
int handle_release_at(struct redo_txn *tx, uint64_t idx);
/*
 * Takes the table lock for tx (released after its commit), so that an
 * entry another transaction added is committed, and counted by
 * handle_high(), before a sweep reads it. 0 or -ENOSPC.
 */
int handle_hold(struct redo_txn *tx);

/*
 * Lock owners (pt_lock.c): registers fd as the OFD holding lock owner
 * owner's POSIX locks on nodeid (pid: the owner's guest pid, reported by
 * GETLK). As handle_add; the entry is never a file or dir handle, so
 * handle_get() refuses its fh.
 */
int handle_add_lock(struct redo_txn *tx, int fd, uint64_t nodeid, uint64_t owner,
    uint32_t pid, int flags, uint64_t *ret_fh);
/* Frees a lock entry; its fd (and so its locks) closes after commit. */
int handle_release_lock(struct redo_txn *tx, uint64_t fh);
/*
 * Reads entry index if it is a live lock entry (lock-free, as
 * handle_get): -ENOENT otherwise. With ret_fd, pins the entry as
 * handle_get() does (the fd stays open until inode_put_temps()); with
 * ret_fd NULL (a scan), only its identity is read and nothing pinned.
 */
int handle_lock_entry(struct region *r, uint64_t index, int *ret_fd,
    uint64_t *ret_nodeid, uint64_t *ret_owner, uint32_t *ret_pid,
    uint64_t *ret_fh);
/* Indices below this were ever used (for scans). */
uint64_t handle_high(struct region *r);
/* Freed handle fds whose close waits for a request still using them. */
uint64_t handle_deferred(void);

#endif
