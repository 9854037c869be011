/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A worker incarnation: entered in the child of the keeper's
 * clone(CLONE_FILES), on the keeper's copy of the address space with the
 * state region inherited. It restricts itself, recovers from the region
 * (DESIGN 4), and serves until QEMU closes the connection.
 */
#ifndef PHX_WORKER_H
#define PHX_WORKER_H

#include "config.h"
#include "region.h"

/* Returns the exit status: 0 only after the peer closed (conn CLOSED). */
int worker_main(struct region *r, const struct config *cfg);

#endif
