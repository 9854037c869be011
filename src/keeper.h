/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The launcher and the keeper (DESIGN 1). The launcher creates the
 * listening socket, unshares the namespaces and forks the keeper as pid 1
 * of the new PID namespace, then waits for it. The keeper builds the
 * sandbox, creates the state region, and runs workers with
 * clone(CLONE_FILES): one at a time, respawned as soon as the dead one has
 * released its memory. It has no FUSE or vhost-user code.
 */
#ifndef PHX_KEEPER_H
#define PHX_KEEPER_H

#include "config.h"

/* Runs the daemon; returns the process exit status. Called by main(). */
int keeper_launch(const struct config *cfg);

#endif
