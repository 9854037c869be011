/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Timestamps of the phases of one stall (kill -> first reply of the new
 * worker), CLOCK_MONOTONIC. The keeper marks its phases in its own memory;
 * the worker, cloned without CLONE_VM, starts with a copy of them and adds
 * its own. One debug line per recovery (phase_log), in absolute ns so a
 * benchmark can join it with its kill() times; at debug level also the
 * worker's CPU time at each of its marks (CLOCK_PROCESS_CPUTIME_ID: all
 * its threads, from 0 at its clone). Nothing here survives a crash or
 * matters after one: process-local, figures only.
 */
#ifndef PHX_PHASE_H
#define PHX_PHASE_H

#include <stdint.h>

enum phase_id {
	PHASE_K_NOTICED,	/* keeper: ctid cleared (main thread gone) */
	PHASE_K_MM,		/* keeper: every task released its mm */
	PHASE_K_CLONE,		/* keeper: about to clone */
	PHASE_W_START,		/* worker: first instruction */
	PHASE_W_CAPS,		/* rlimits, signals, id maps, capabilities */
	PHASE_W_SANDBOX,	/* no_new_privs, seccomp loaded */
	PHASE_W_REGION,		/* region validated */
	PHASE_W_REDO,		/* redo rolled forward */
	PHASE_W_RINGS,		/* dead io_uring rings drained */
	PHASE_W_SESSION,	/* FUSE session */
	PHASE_W_DEVICE,		/* device and queue set */
	PHASE_W_RTHREAD,	/* recovery thread running */
	PHASE_W_MEM,		/* guest memory mapped */
	PHASE_W_URING,		/* recovery's io_uring set up */
	PHASE_W_QUEUES,		/* queues recovered */
	PHASE_W_STARTED,	/* queue threads started */
	PHASE_W_PUSH,		/* first used->idx store */
	PHASE_N
};

void phase_mark(enum phase_id id);
void phase_mark_once(enum phase_id id);
void phase_reset(void);
void phase_log(void);
void phase_log_later(void);

#endif
