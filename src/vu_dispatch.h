/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to vu.c and vu_dispatch.c: the device object and the message
 * handler entry point.
 */
#ifndef PHX_VU_DISPATCH_H
#define PHX_VU_DISPATCH_H

#include <stdint.h>

#include "config.h"
#include "guestmem.h"
#include "queue.h"
#include "region.h"

struct vu_dev {
	struct region *r;
	const struct config *cfg;
	struct fuse_session *fs;
	struct guestmem gm;
	struct queue_set *qs;
	struct region_thread_rec *t; /* the control thread's record */
	unsigned nqueues;	     /* 1 hiprio + request queues */
	unsigned long refused;	     /* unknown requests seen (log once) */
};

/* Virtio and protocol features we offer. */
uint64_t vu_offered_features(void);
uint64_t vu_offered_protocol_features(void);

/*
 * Handles the message recorded in dev->r->dev->ctrl_* (state RECEIVED):
 * applies its effects and moves to HANDLED with the reply (if any) in
 * ctrl_reply, in one redo transaction on dev->t; closes the fds it
 * replaced or did not keep after the commit; then starts queue threads
 * the message enabled. Idempotent until the commit: a message re-handled
 * after a crash finds the region as before. -errno only for a local
 * failure (redo log full).
 */
int vu_dispatch(struct vu_dev *dev);

#endif
