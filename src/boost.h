/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The recovery boost: the keeper runs BOOST_NICE below the nice it was
 * started with, so that on a busy host the keeper noticing a death and
 * the new worker recovering (both inherit it) win the CPU from the tasks
 * around them, among them the dead worker's page-table teardown. Each
 * worker thread goes back to the operator's nice before it serves
 * (boost_end), so no request and no background work runs boosted.
 */
#ifndef PHX_BOOST_H
#define PHX_BOOST_H

#define BOOST_NICE 10

/*
 * Keeper, once before its first worker (again after an exec: the nice
 * it inherits is already boosted, the base is kept in the environment).
 * Without CAP_SYS_NICE (or at the lowest nice) nothing changes.
 */
void boost_keeper(void);
/* Any worker thread: the calling thread back to the keeper's base nice. */
void boost_end(void);

#endif
