/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fd sweep (DESIGN 4 step 9). A worker killed between creating an fd
 * and committing its number to the region leaves that fd open in the
 * shared table, referenced by nothing. After a recovery a background
 * thread closes every fd that neither the region (tables, device state,
 * rings), the keeper's list, nor this incarnation's own registry
 * references. Creators exclude it: every request and control message runs
 * between fdtab_req_begin() and fdtab_req_end(), which cover creation up to
 * the commit that records the number.
 */
#ifndef PHX_FDTAB_H
#define PHX_FDTAB_H

#include <stdbool.h>

#include "region.h"

/* Keeper, before the first worker: records its own fds in r->fdlist. */
int fdtab_keeper_snapshot(struct region *r);
/*
 * Keeper, later: an fd it opens or receives while a worker runs is added
 * before any other use of it (-ENOSPC if the list is full), and deleted
 * once closed. After a live upgrade the list is kept, minus the entries
 * exec closed (never a new snapshot: a running keeper's table holds the
 * worker's fds too); returns the number kept.
 */
int fdtab_keeper_add(struct region *r, int fd);
void fdtab_keeper_del(struct region *r, int fd);
int fdtab_keeper_resume(struct region *r);
/* Registers an fd this incarnation keeps outside the region. */
int fdtab_register(int fd);
void fdtab_unregister(int fd);
/* Notes that a table records fd (inode, handle): the sweep keeps it. */
void fdtab_note(int fd);
/* Brackets fd creation until the commit that records the fd. */
void fdtab_req_begin(void);
void fdtab_req_end(void);
/*
 * A sweep runs or waits for the requests in flight: a queue thread then
 * starts no creation it would leave in flight (queue_async.c), so the
 * bracket it holds for those ends and the sweep goes on.
 */
bool fdtab_sweep_waiting(void);
/* Starts the background sweep (after a recovery). */
int fdtab_start_sweep(struct region *r);
/* One synchronous sweep; returns the number of fds closed (tests). */
int fdtab_sweep(struct region *r);

#endif
