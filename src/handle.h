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
 * opened for. -EBADF for an unknown, stale or wrong-kind (dir) handle.
 */
int handle_get(struct region *r, uint64_t fh, bool dir, int *ret_fd,
    uint64_t *ret_nodeid, int *ret_flags);
/* Frees fh; its fd is closed after commit. -EBADF if unknown. */
int handle_release(struct redo_txn *tx, uint64_t fh, bool dir);

#endif
