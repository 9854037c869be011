/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `phoenixfsd --status [--json] --pid-file PATH | --pid PID`: what an
 * operator reads of a running daemon, taken from its state region read
 * only, from outside the daemon, without a lock, a signal or a message:
 * it answers while the worker is dead, stopped or crash-looping.
 */
#ifndef PHX_STATUS_H
#define PHX_STATUS_H

/* argv after "--status"; returns the exit status (0, 1: no daemon, 2). */
int status_tool(int argc, char **argv);

#endif
