/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's capability set (DESIGN 1). The keeper keeps every
 * capability (a dropped one would survive the upgrade exec); each worker
 * incarnation keeps only CAPS_WORKER_DEFAULT, changed by --modcaps, in its
 * effective and permitted sets and its bounding set, and clears its
 * inheritable and ambient sets. Raw capget/capset/prctl: no library (the
 * binary is static and re-executed inside the sandbox).
 */
#ifndef PHX_CAPS_H
#define PHX_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * As virtiofsd: chown, dac_override, fowner, fsetid, setgid, setuid,
 * mknod, setfcap. caps_worker_set() adds dac_read_search, as virtiofsd,
 * only for --inode-file-handles=prefer|mandatory (open_by_handle_at): with
 * it a forged handle opens any inode of the share's file system, the
 * sandbox notwithstanding (the "shocker" escape; tests/integ/sandbox.sh).
 */
uint64_t caps_worker_default(void);

/*
 * Parses --modcaps "+cap:-cap:..." (names as libcap-ng and virtiofsd
 * spell them: "sys_admin", case-insensitive, "cap_" prefix allowed) and
 * applies it to *set. -EINVAL with a one-line message in err for an
 * unknown name.
 */
int caps_modify(const char *modcaps, uint64_t *set, char *err, size_t errlen);

/* The capability number of name, or -1. */
int caps_from_name(const char *name);

/*
 * In a worker incarnation, single-threaded, before no_new_privs: keeps
 * set (intersected with what we have) in the effective and permitted
 * sets, drops the rest from the bounding set, clears inheritable and
 * ambient. -errno.
 */
int caps_apply(uint64_t set);
/*
 * Keeper, before it spawns workers: reads its bounding set once (64
 * prctl calls), so that each worker's caps_apply() only drops (the keeper
 * never changes its own set, DESIGN 1). Without it caps_apply() reads.
 */
void caps_prepare(void);

/*
 * The worker set for cfg (default, dac_read_search with file handles,
 * then --modcaps). -EINVAL, message in err.
 */
int caps_worker_set(const struct config *cfg, uint64_t *ret_set, char *err,
    size_t errlen);

#endif
