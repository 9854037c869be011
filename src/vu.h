/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user back-end of one worker incarnation (DESIGN 7): the
 * control plane on REGION_FD_CONN (the worker accepts it), the device
 * state in the region (dev->*), guest memory and the queue threads.
 *
 * Lifecycle, from worker.c: vu_dev_create(), then vu_dev_recover() once
 * (it also runs for the first incarnation, where there is nothing to
 * recover), then vu_serve() on the control thread until QEMU closes.
 */
#ifndef PHX_VU_H
#define PHX_VU_H

#include "config.h"
#include "region.h"

struct fuse_session;
struct vu_dev;

/*
 * Heap state for the device: guest memory table (empty), queue set (and
 * --thread-pool-size pool threads). Starts no queue thread. -ENOMEM,
 * -errno of eventfd/pthread_create.
 */
int vu_dev_create(struct vu_dev **ret, struct region *r,
    const struct config *cfg, struct fuse_session *fs);
/*
 * DESIGN 4 steps 2-5 and 8: maps guest memory from the region's table,
 * settles every started queue (queue_recover) and starts the queue
 * threads of started, enabled queues (each signals its call fd once
 * before its first wait). Logs what it did. Runs its work on a thread of
 * its own, so it may be called from the worker's main thread. -errno if
 * guest memory cannot be mapped.
 */
int vu_dev_recover(struct vu_dev *dev);
/*
 * Serves control messages on REGION_FD_CONN until the peer closes it:
 * first settles a message a dead worker was handling (DESIGN 4 step 7:
 * RECEIVED is handled again, HANDLED has its reply sent). Returns 0 when
 * QEMU closed the connection (queue threads stopped), -errno on a local
 * failure (the worker dies and a new one resumes).
 */
int vu_serve(struct vu_dev *dev);

#endif
