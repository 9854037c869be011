/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fd sweep (DESIGN 4 step 9). A worker killed between creating an fd
 * and committing its number to the region leaves that fd open in the
 * shared table, referenced by nothing. The next incarnation notes which
 * fds those are at one instant of its recovery, before it creates any
 * (fdtab_snapshot), and a background thread closes them after the stall:
 * every fd open then that neither the region (tables, device state, rings,
 * a live slot's recorded op), the keeper's list, nor this incarnation's
 * own registry references. Nothing else ever closes those, so the sweep
 * needs no lock against fd creation (fdtab.c).
 */
#ifndef PHX_FDTAB_H
#define PHX_FDTAB_H

#include <sys/types.h>
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
/*
 * Keeper, around making an fd until it is on the list (or closed), and
 * around closing a listed one until it is off the list: a worker's fd
 * snapshot taken meanwhile is taken again (an fd of the keeper found
 * open then, but never on its list, would be a candidate; closed, its
 * number reused by the worker, the sweep would close the new fd).
 */
void fdtab_keeper_begin(struct region *r);
void fdtab_keeper_end(struct region *r);
int fdtab_keeper_resume(struct region *r);
/* Registers an fd this incarnation keeps outside the region. */
int fdtab_register(int fd);
void fdtab_unregister(int fd);
/*
 * Notes that a table records fd (inode, handle), or drops it (redo's
 * close after the commit; called before the commit): the sweep keeps it.
 */
void fdtab_note(int fd);
/*
 * Recovery, once the region is rolled forward and the dead rings drained,
 * before this incarnation creates an fd: notes the open fds nothing but
 * maybe a table references (the next sweep's candidates; it reads the
 * tables, after the stall). Returns their number. Costs a dup per free
 * number below the highest open fd (a /proc listing of the open fds where
 * those are many, or the kernel does not count open fds), not a read of
 * the tables.
 */
int fdtab_snapshot(struct region *r);
/*
 * A worker: its parent, the keeper, shares its fd table (DESIGN 1), so
 * the snapshot may list the keeper's /proc directory instead of its own.
 */
void fdtab_parent_shares(pid_t keeper);
/*
 * The proc root (REGION_FD_PROC) numbers processes as our PID namespace
 * does: its "self" is our getpid(). sandbox.c refuses a start where it
 * does not (modes chroot and none in a PID namespace without a /proc of
 * its own); the snapshot lists its own directory then.
 */
bool fdtab_proc_ours(void);
/*
 * Tests: true if the last snapshot found the open fds by probing the free
 * numbers (dups), false if it listed /proc.
 */
bool fdtab_last_probed(void);
/* Starts the background sweep (after a recovery). */
int fdtab_start_sweep(struct region *r);
/*
 * Closes the snapshot's fds that no table referenced then and nothing
 * references now, once; returns the number closed (the background sweep;
 * tests).
 */
int fdtab_sweep(struct region *r);

#endif
