/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Live upgrade (DESIGN 8). The operator runs `phoenixfsd --upgrade NEWBIN
 * --pid-file P`: the tool opens NEWBIN and signals the launcher (or, without
 * a PID namespace, the keeper) with SIGUSR2 carrying that fd's number; the
 * receiver takes the fd from the tool with pidfd_getfd(). The keeper runs
 * the new binary once in --probe-layout mode against the state region,
 * stops the worker, and re-executes itself with execveat(fd, "",
 * AT_EMPTY_PATH): its pid, fds and region stay, the next worker it spawns
 * recovers as after a crash. A binary that refuses the layout is never
 * exec'ed; a new keeper that refuses it after all re-execs the old binary
 * kept at REGION_FD_BINARY.
 */
#ifndef PHX_UPGRADE_H
#define PHX_UPGRADE_H

#include <stdbool.h>
#include <sys/types.h>

/* The operator's tool: argv after "--upgrade". Returns the exit status. */
int upgrade_tool(int argc, char **argv);
/* --probe-layout: exit status 0 iff this binary accepts the region. */
int upgrade_probe(void);

/* SIGUSR2 with SA_SIGINFO: records (sender pid, fd number) for later. */
void upgrade_install_signal(void);
/* True if a request arrived; takes the fd from the sender. -errno. */
int upgrade_take_signalled(int *ret_fd);
/* Launcher: forwards a signalled binary fd to the keeper's socket. */
void upgrade_forward(int sock);
/* Keeper: a binary fd sent by the launcher, if any (non-blocking). */
int upgrade_receive(int sock, int *ret_fd);

#endif
