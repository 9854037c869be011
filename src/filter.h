/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's seccomp allowlist (DESIGN 1), built with libseccomp. Only
 * sandbox.c installs it, in each worker incarnation after no_new_privs.
 * It stacks on the keeper's deny-list (kfilter.h), which the worker
 * inherits: a call runs only if both allow it.
 */
#ifndef PHX_FILTER_H
#define PHX_FILTER_H

#include <sched.h>

#include "config.h"

/* The one clone a filtered worker may make: glibc's pthread_create. */
#define FILTER_THREAD_CLONE_FLAGS                                              \
	((unsigned long)(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |   \
	    CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |                      \
	    CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID))

/*
 * Installs the allowlist with the default action of mode: kill raises
 * SIGSYS (SCMP_ACT_TRAP) into the worker's fault handler (fault.c), which
 * logs the syscall number, counts the crash against the request in flight
 * and dies of SIGSYS; log lets the call run and logs it to the audit log /
 * kernel log (SCMP_ACT_LOG); trap raises SIGSYS, whose handler logs the
 * syscall number and fails the call with ENOSYS. Besides the list:
 * argument rules (clone flags, ioctl none, prctl, accept4, sendto,
 * tgkill, prlimit64, io_uring_register), clone3 answers ENOSYS, socket
 * (AF_UNIX) and connect EACCES, and close, close_range, dup2/dup3 onto
 * the reserved fds and shutdown of the connection are refused (the
 * reserved fds cannot be repaired, DESIGN 1). Resets SIGSYS to its
 * default first. open_by_handle_at only if handles (--inode-file-handles
 * prefer or mandatory). CONFIG_SECCOMP_NONE installs nothing. -errno.
 */
int filter_install(enum config_seccomp mode, bool handles);

/* The keeper, before it spawns: compile the worker filter once (true:
 * workers of this mode load the copy they inherit). */
bool filter_prepare(enum config_seccomp mode, bool handles);

/* Number of syscalls in the allowlist (resolved on this architecture). */
unsigned filter_allowed_count(void);

/*
 * Async-signal-safe: writes "phoenixfsd: WHO: seccomp: forbidden syscall
 * NR" to stderr (a SIGSYS handler's report).
 */
void filter_report(const char *who, int nr);

/* Async-signal-safe: makes a trapped syscall return -ENOSYS (uc of a
 * SA_SIGINFO handler). */
void filter_fail_call(void *uc);

#endif
