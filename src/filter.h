/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's seccomp allowlist (DESIGN 1), built with libseccomp. Only
 * sandbox.c installs it, in each worker incarnation after no_new_privs;
 * the keeper never has a filter (it would survive the upgrade exec).
 */
#ifndef PHX_FILTER_H
#define PHX_FILTER_H

#include "config.h"

/*
 * Installs the allowlist with the default action of mode: kill ends the
 * process with SIGSYS (SCMP_ACT_KILL_PROCESS), log lets the call run and
 * logs it to the audit log / kernel log (SCMP_ACT_LOG), trap raises
 * SIGSYS, whose handler logs the syscall number and fails the call with
 * ENOSYS. Besides the list, close, close_range, dup2/dup3 onto the
 * reserved fds and shutdown of the connection are refused (the reserved
 * fds cannot be repaired, DESIGN 1). CONFIG_SECCOMP_NONE installs nothing.
 * -errno.
 */
int filter_install(enum config_seccomp mode);

/* Number of syscalls in the allowlist (resolved on this architecture). */
unsigned filter_allowed_count(void);

#endif
