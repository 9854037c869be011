/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The keeper's seccomp filter (docs/sandbox.md "The keeper's filter"): a
 * deny-list of what no phoenixfsd process may do once the sandbox is
 * built, installed by the keeper before its first worker and kept for the
 * daemon's life (a filter survives the upgrade exec and every worker
 * inherits it).
 */
#ifndef PHX_KFILTER_H
#define PHX_KFILTER_H

#include "config.h"

/*
 * Installs the deny-list unless this process already runs under a filter
 * (a keeper resumed by a live upgrade keeps the first keeper's, never a
 * stack of one per upgrade), and a SIGSYS handler that reports a refused
 * call: in kill mode it then dies of SIGSYS, in trap mode the call fails
 * with ENOSYS; log mode logs (SCMP_ACT_LOG); none installs nothing.
 * Needs CAP_SYS_ADMIN (the keeper sets no no_new_privs): -EACCES without
 * it. Returns 1 if it installed a filter, 0 if not, -errno.
 */
int kfilter_install(enum config_seccomp mode);

#endif
