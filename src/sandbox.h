/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mount sandbox (DESIGN 1): built by the keeper before it opens any fd
 * of the shared directory, so every fd of the tables lives in the namespace
 * that serves it. Only keeper.c calls this module; pt.c never does.
 */
#ifndef PHX_SANDBOX_H
#define PHX_SANDBOX_H

#include "config.h"

/*
 * In the launcher, before the keeper is forked: for --sandbox=namespace
 * unshares the PID namespace (the next child is pid 1 of it). -errno.
 */
int sandbox_unshare(const struct config *cfg);
/*
 * In the keeper: unshares the mount and network namespaces and mounts a
 * fresh /proc (namespace mode), opens the proc
 * root at REGION_FD_PROC, then confines the process to the shared
 * directory (pivot_root, chroot, or nothing) and opens the shared
 * directory's root at REGION_FD_ROOT. -errno.
 */
int sandbox_enter(const struct config *cfg);
/*
 * In each worker incarnation, before any guest input and any thread: the
 * worker's capability set (caps.h), no_new_privs and the seccomp filter
 * of --seccomp (filter.h). -errno.
 */
int sandbox_worker(const struct config *cfg);

#endif
