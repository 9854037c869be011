/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What crashtest.c shares with its scenarios (scenario.c): finding and
 * killing the keeper's worker, connecting as the guest.
 */
#ifndef PHX_CRASHTEST_H
#define PHX_CRASHTEST_H

#include <stdbool.h>
#include <sys/types.h>

#include "fusec.h"
#include "vuf.h"

/* The keeper's live child, or 0. */
pid_t ct_find_worker(pid_t keeper);
/* Spin until every task of pid has released its mm (or is gone). */
bool ct_wait_mm_gone(pid_t pid, unsigned timeout_ms);
/* Connects, handshakes and sends INIT; 0 or -errno. */
int ct_connect(const char *sock, unsigned depth, struct vuf_dev **ret_d,
    struct fusec **ret_fc);
/* crashtest scenario NAME (scenario.c); exit status. */
int scenario_main(const char *name, const char *sock, const char *share,
    pid_t keeper, unsigned count);

#endif
