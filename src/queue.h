/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Queue threads (DESIGN 3): one thread per started and enabled queue
 * (hiprio included) pops requests into the journal, hands them to the FUSE
 * layer (inline, or to --thread-pool-size pool threads), commits each
 * reply with its slot's move to REPLIED, and pushes completions in
 * batches. queue_recover() is DESIGN 4 steps 3-5 for a new worker.
 *
 * Threading: queue_set functions are called by the control thread (or by
 * recovery before any queue thread runs); queue threads touch only their
 * own queue's consumer state, and the producer state under the queue's
 * push lock.
 */
#ifndef PHX_QUEUE_H
#define PHX_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "guestmem.h"
#include "region.h"

struct fuse_session;
struct queue_set;

/* What queue_recover() found, for the caller's log line. */
struct queue_recover_stats {
	unsigned queues;	/* queues recorded started + enabled */
	unsigned settled;	/* publish records rewritten and published */
	unsigned pushed;	/* REPLIED slots pushed */
	unsigned replayed;	/* POPPED slots re-run */
	unsigned executing;	/* EXECUTING slots (resolved or re-run) */
	unsigned dropped;	/* live slots outside the avail window: freed */
	unsigned broken;	/* queues found or made broken */
	unsigned quarantined;	/* poison requests answered EIO */
	unsigned waits;		/* lock waits left live, parked again */
};

/* Heap state for every queue; no thread started. -ENOMEM. */
int queue_set_create(struct queue_set **ret, struct region *r,
    const struct config *cfg, struct guestmem *gm, struct fuse_session *fs);
/* Stops every thread (draining) and frees. NULL is a no-op. */
void queue_set_destroy(struct queue_set *qs);

/*
 * Starts queue q's thread if the region records it started, enabled and
 * not broken, and it is not running. signal_once: signal the call fd once
 * before the first wait (recovery, DESIGN 4 step 8). -EINVAL if the rings
 * do not map, -errno of pthread_create.
 */
int queue_start(struct queue_set *qs, unsigned q, bool signal_once);
/*
 * Stops queue q's thread: sets its stop flag, wakes it, and waits until it
 * has finished and pushed every request it popped (pool requests too),
 * but for lock waits (SETLKW), which go on waiting: a ring stop is also a
 * VM pause, which the guest must not see. Until the queue starts again its
 * rings are detached and completions deferred. Afterwards
 * rec->last_avail_idx is exact (a waiting head counts as popped).
 */
void queue_stop(struct queue_set *qs, unsigned q);
/*
 * Drops queue q's parked lock waits unanswered and waits until the lock
 * wait thread let them go: the ring will not go on (a device reset, a
 * ring started as a new one); their slots stay live, and the new ring
 * epoch frees them. Call after queue_stop().
 */
void queue_end_waits(struct queue_set *qs, unsigned q);
/* queue_stop() and queue_end_waits() for every queue. */
void queue_stop_all(struct queue_set *qs);
bool queue_running(const struct queue_set *qs, unsigned q);
/*
 * Takes / releases queue q's push lock: held by the control thread while
 * it replaces the call fd, so no notification goes to a closed number.
 */
void queue_lock_push(struct queue_set *qs, unsigned q);
void queue_unlock_push(struct queue_set *qs, unsigned q);
/* Wakes every queue thread (after a memory table change). */
void queue_wake_all(struct queue_set *qs);

/*
 * DESIGN 4 steps 3, 4, 5 for every queue recorded started and enabled:
 * settles the publish record, pushes REPLIED slots, recomputes
 * last_avail_idx from the slots, re-runs POPPED (and, until intent
 * resolution exists, EXECUTING) slots in avail order with replay = true.
 * Guest memory must be mapped (guestmem_remap_from_region) and the redo
 * logs rolled forward. A queue whose rings are malformed is marked broken.
 * Runs before any queue thread; does not start them.
 */
int queue_recover(struct queue_set *qs, struct queue_recover_stats *ret);

/*
 * Claims a free region_thread_rec (in_use 0 -> 1) for the calling thread
 * and records its tid. NULL if all REGION_MAX_THREADS are in use.
 */
struct region_thread_rec *queue_thread_claim(struct region *r);
/* Releases a claimed record (its redo log must be done). */
void queue_thread_release(struct region_thread_rec *t);

#endif
