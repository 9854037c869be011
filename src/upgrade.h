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
 *
 * The binary's fd lands in the fd table the worker shares, where a
 * worker's fd sweep could close it and a guest file take its number
 * (issue 9 finding 10). So every receiver learns the identity (device,
 * inode) of the file the operator opened, from the sender's own table,
 * and the keeper checks the fd against it before each exec: a mismatch
 * refuses the upgrade (fail closed) and the fd is left alone.
 */
#ifndef PHX_UPGRADE_H
#define PHX_UPGRADE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The operator's tool: argv after "--upgrade". Returns the exit status. */
int upgrade_tool(int argc, char **argv);
/* --probe-layout: exit status 0 iff this binary accepts the region. */
int upgrade_probe(void);

/* What the operator's binary is: the file behind the fd sent. */
struct upgrade_id {
	uint64_t dev, ino;
};

/* SIGUSR2 with SA_SIGINFO: records (sender pid, fd number) for later. */
void upgrade_install_signal(void);
/*
 * True if an upgrade request may be waiting: a signal taken (sock < 0),
 * or something to read on sock. Never blocks.
 */
bool upgrade_pending(int sock);
/*
 * 1 if a request arrived: takes the fd from the sender and the identity of
 * the sender's file (read in the sender's table, not ours). -errno.
 */
int upgrade_take_signalled(int *ret_fd, struct upgrade_id *ret_id);
/* Launcher: forwards a signalled binary fd and its identity. */
void upgrade_forward(int sock);
/* Keeper: a binary fd sent by the launcher, if any (non-blocking). */
int upgrade_receive(int sock, int *ret_fd, struct upgrade_id *ret_id);
/* 0 iff fd is (still) the regular file id names; -ESTALE otherwise. */
int upgrade_check(int fd, const struct upgrade_id *id);

#endif
